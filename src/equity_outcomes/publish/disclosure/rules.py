"""The disclosure rules of ``config/disclosure.yaml``, resolved per metric with the metric catalog.

Also the primary rules themselves (size and event), vectorised over a table of cells.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Generic, Literal, TypeVar

import numpy as np
import pandas as pd
from pydantic import PrivateAttr, ValidationInfo, model_validator

from ...catalog import Items, Number, Positive, Strict, Text, load_yaml, problem, read_yaml
from ...catalog import metrics as catalog_metrics
from ...paths import config_dir


@dataclass(frozen=True)
class MetricRule:
    metric: str
    unit: str
    min_n: int                      # size rule: withheld under this many students
    is_event: bool                  # event rule applies
    kind: str                       # share | mean | opaque
    value_range: tuple[float, float]
    exact_width: float              # value known within this: recovered


Kind = Literal["share", "mean", "opaque"]
Range = tuple[Number, Number]
T = TypeVar("T")


class _Size(Strict):
    min_n: Positive = 10
    min_n_by_unit: dict[str, Positive] = {}


class _Event(Strict):
    min_count: Positive = 6
    metrics: Items = ()


class _ByUnit(Strict, Generic[T]):
    by_unit: dict[str, T] = {}
    by_metric: dict[str, T] = {}


class _Total(Strict):
    dimension: Text
    total: Text
    parts: Items


class _Links(Strict):
    complement: bool = True
    sources: bool = True
    network: bool = True
    totals: tuple[_Total, ...] = ()


class _Width(Strict):
    by_unit: dict[str, Number] = {}


class _Weights(Strict):
    subgroup_all: Number = 20
    network: Number = 50


class _Protection(Strict):
    exact_value_width: _Width = _Width()
    cost_weight: _Weights = _Weights()
    max_rounds: Positive = 50


class _Tolerance(Strict):
    value: Number = 0.5
    n: Number = 0


class Rules(Strict):
    """``config/disclosure.yaml`` as written (docs/disclosure.md explains each key), and the metric catalog it is
    resolved with (``catalog``: metric id -> its entry, kept when read)."""

    size_rule: _Size = _Size()
    event_rule: _Event = _Event()
    value_kinds: _ByUnit[Kind] = _ByUnit()
    value_range: _ByUnit[Range] = _ByUnit()
    linked_sets: _Links = _Links()
    protection: _Protection = _Protection()
    sources_tolerance: _Tolerance = _Tolerance()
    _catalog: dict[str, dict] = PrivateAttr(default_factory=dict)

    @model_validator(mode="after")
    def _known_metrics(self, info: ValidationInfo) -> Rules:
        catalog = (info.context or {})["catalog"]
        for key, ids in ((("event_rule", "metrics"), self.event_rule.metrics),
                         (("value_kinds", "by_metric"), self.value_kinds.by_metric),
                         (("value_range", "by_metric"), self.value_range.by_metric)):
            unknown = sorted(set(ids) - set(catalog))
            if unknown:
                raise problem(f"names metric(s) not in config/metrics.yaml: {', '.join(unknown)}.", key,
                              "use metric ids from config/metrics.yaml.")
        self._catalog = catalog
        return self

    @property
    def catalog(self) -> dict[str, dict]:
        return self._catalog

    def metric(self, metric: str, unit: str | None = None) -> MetricRule:
        """The rule of one metric: the file's by unit and by metric, the catalog's unit and own min_n."""
        cat = self.catalog.get(metric, {})
        unit = unit or cat.get("unit") or "percent"
        min_n = max(int(cat.get("min_n") or 0), self.size_rule.min_n_by_unit.get(unit, self.size_rule.min_n))
        kind = self.value_kinds.by_metric.get(metric) or self.value_kinds.by_unit.get(unit, "share")
        vrange = self.value_range.by_metric.get(metric) or self.value_range.by_unit.get(unit, (0.0, 100.0))
        return MetricRule(metric=metric, unit=unit, min_n=min_n, is_event=metric in self.event_rule.metrics,
                          kind=kind, value_range=vrange,
                          exact_width=self.protection.exact_value_width.by_unit.get(unit, 1.0))


@lru_cache(maxsize=4)
def load_rules(path: Path | None = None) -> Rules:
    """Read ``config/disclosure.yaml``; every metric id it names must be in the metric catalog."""
    path = path or config_dir() / "disclosure.yaml"
    catalog = {m["id"]: m for m in catalog_metrics()}
    return load_yaml(Rules, path, "disclosure rules", "compare with config/disclosure.yaml (docs/disclosure.md).",
                     data=read_yaml(path, "disclosure rules", "restore config/disclosure.yaml") or {}, catalog=catalog)


def floats(col) -> np.ndarray:
    """A column as floats, NaN where it holds no number."""
    return pd.to_numeric(col, errors="coerce").to_numpy(dtype=float, na_value=np.nan)


def min_n_and_event(rules: Rules, metric: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per cell (``metric``: the cells' metric ids): its rule's min_n, and whether the event rule applies."""
    codes, ids = pd.factorize(metric)
    resolved = [rules.metric(m) for m in ids]  # unknown ids get the defaults
    return (np.array([r.min_n for r in resolved], dtype=float)[codes],
            np.array([r.is_event for r in resolved], dtype=bool)[codes])


def primary_reasons(cells: pd.DataFrame, rules: Rules) -> np.ndarray:
    """'' for a publishable cell, else why the primary rules withhold it: 'suppressed' (the source withheld it),
    'no_value', 'size' (n under min_n) or 'event' (1-5 students with or without the event).

    ``cells`` has metric, n, value, is_suppressed and optionally numerator."""
    if not len(cells):
        return np.array([], dtype=object)
    min_n, is_event = min_n_and_event(rules, cells["metric"].astype(str).to_numpy(dtype=object))
    n, v = floats(cells["n"]), floats(cells["value"])
    num = floats(cells["numerator"]) if "numerator" in cells.columns else np.full(len(cells), np.nan)
    sup = cells["is_suppressed"].astype("boolean").fillna(True).to_numpy(dtype=bool) if "is_suppressed" in cells \
        else np.zeros(len(cells), dtype=bool)
    # students with the event: the numerator where known, else value x n (NaN where n is unknown)
    k = np.where(np.isfinite(num), num, np.round(v * n / 100.0))
    lo, hi = 1, rules.event_rule.min_count - 1
    event = is_event & np.isfinite(k) & (((k >= lo) & (k <= hi)) | ((n - k >= lo) & (n - k <= hi)))
    out = np.full(len(cells), "", dtype=object)
    out[event] = "event"
    out[np.isfinite(n) & (n < min_n)] = "size"
    out[~np.isfinite(v)] = "no_value"
    out[sup] = "suppressed"
    return out

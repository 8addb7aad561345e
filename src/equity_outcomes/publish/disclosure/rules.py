"""The disclosure rules of ``config/disclosure.yaml``, resolved per metric with the metric catalog.

Also the primary rules themselves (size and event), vectorised over a table of cells.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Generic, Literal, TypeVar

import numpy as np
import pandas as pd
from pydantic import ValidationInfo, model_validator

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


@dataclass(frozen=True)
class Rules:
    default_min_n: int
    min_n_by_unit: dict[str, int]
    event_min_count: int
    event_metrics: frozenset[str]
    kinds_by_unit: dict[str, str]
    kinds_by_metric: dict[str, str]
    range_by_unit: dict[str, tuple[float, float]]
    range_by_metric: dict[str, tuple[float, float]]
    exact_width: dict[str, float]
    link_complement: bool
    link_sources: bool
    link_network: bool
    totals: tuple[tuple[str, str, tuple[str, ...]], ...]
    cost_subgroup_all: float
    cost_network: float
    max_rounds: int
    tolerance_value: float
    tolerance_n: float
    catalog: dict[str, dict] = field(default_factory=dict)

    def metric(self, metric: str, unit: str | None = None) -> MetricRule:
        return _metric_rule(self, metric, unit)


def _metric_rule(rules: Rules, metric: str, unit: str | None) -> MetricRule:
    cat = rules.catalog.get(metric, {})
    unit = unit or cat.get("unit") or "percent"
    own = int(cat.get("min_n") or 0)
    min_n = max(own, rules.min_n_by_unit.get(unit, rules.default_min_n))
    kind = rules.kinds_by_metric.get(metric) or rules.kinds_by_unit.get(unit, "share")
    vrange = rules.range_by_metric.get(metric) or rules.range_by_unit.get(unit, (0.0, 100.0))
    return MetricRule(metric=metric, unit=unit, min_n=min_n, is_event=metric in rules.event_metrics, kind=kind,
                      value_range=vrange, exact_width=rules.exact_width.get(unit, 1.0))


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


class RulesFile(Strict):
    """``config/disclosure.yaml`` as written (docs/disclosure.md explains each key)."""

    size_rule: _Size = _Size()
    event_rule: _Event = _Event()
    value_kinds: _ByUnit[Kind] = _ByUnit()
    value_range: _ByUnit[Range] = _ByUnit()
    linked_sets: _Links = _Links()
    protection: _Protection = _Protection()
    sources_tolerance: _Tolerance = _Tolerance()

    @model_validator(mode="after")
    def _known_metrics(self, info: ValidationInfo) -> RulesFile:
        catalog = (info.context or {})["catalog"]
        for key, ids in ((("event_rule", "metrics"), self.event_rule.metrics),
                         (("value_kinds", "by_metric"), self.value_kinds.by_metric),
                         (("value_range", "by_metric"), self.value_range.by_metric)):
            unknown = sorted(set(ids) - set(catalog))
            if unknown:
                raise problem(f"names metric(s) not in config/metrics.yaml: {', '.join(unknown)}.", key,
                              "use metric ids from config/metrics.yaml.")
        return self


@lru_cache(maxsize=4)
def load_rules(path: Path | None = None) -> Rules:
    """Read ``config/disclosure.yaml``; every metric id it names must be in the metric catalog."""
    path = path or config_dir() / "disclosure.yaml"
    catalog = {m["id"]: m for m in catalog_metrics()}
    f = load_yaml(RulesFile, path, "disclosure rules", "compare with config/disclosure.yaml (docs/disclosure.md).",
                  data=read_yaml(path, "disclosure rules", "restore config/disclosure.yaml") or {}, catalog=catalog)
    links, prot = f.linked_sets, f.protection
    return Rules(
        default_min_n=f.size_rule.min_n, min_n_by_unit=f.size_rule.min_n_by_unit,
        event_min_count=f.event_rule.min_count, event_metrics=frozenset(f.event_rule.metrics),
        kinds_by_unit=f.value_kinds.by_unit, kinds_by_metric=f.value_kinds.by_metric,
        range_by_unit=f.value_range.by_unit, range_by_metric=f.value_range.by_metric,
        exact_width=prot.exact_value_width.by_unit, link_complement=links.complement, link_sources=links.sources,
        link_network=links.network, totals=tuple((t.dimension, t.total, t.parts) for t in links.totals),
        cost_subgroup_all=prot.cost_weight.subgroup_all, cost_network=prot.cost_weight.network,
        max_rounds=prot.max_rounds, tolerance_value=f.sources_tolerance.value, tolerance_n=f.sources_tolerance.n,
        catalog=catalog,
    )


def metric_table(rules: Rules, metrics: list[str]) -> pd.DataFrame:
    """One row per metric id with its resolved rule (unknown ids get the defaults)."""
    rows = [rules.metric(m).__dict__ for m in dict.fromkeys(metrics)]
    return pd.DataFrame(rows, columns=list(MetricRule.__dataclass_fields__)).set_index("metric", drop=False)


def event_count(value: np.ndarray, n: np.ndarray, numerator: np.ndarray | None = None) -> np.ndarray:
    """Students with the event: the numerator when known, else round(value x n / 100); NaN when n is unknown."""
    k = np.round(value * n / 100.0)
    if numerator is not None:
        k = np.where(np.isfinite(numerator), numerator, k)
    return k


def primary_reasons(cells: pd.DataFrame, rules: Rules) -> np.ndarray:
    """'' for a publishable cell, else why the primary rules withhold it: 'suppressed' (the source withheld it),
    'no_value', 'size' (n under min_n) or 'event' (1-5 students with or without the event).

    ``cells`` has metric, n, value, is_suppressed and optionally numerator."""
    if not len(cells):
        return np.array([], dtype=object)
    mt = metric_table(rules, cells["metric"].astype(str).tolist())
    metric = cells["metric"].astype(str).to_numpy()
    min_n = mt.loc[metric, "min_n"].to_numpy(dtype=float)
    is_event = mt.loc[metric, "is_event"].to_numpy(dtype=bool)
    n = pd.to_numeric(cells["n"], errors="coerce").to_numpy(dtype=float, na_value=np.nan)
    v = pd.to_numeric(cells["value"], errors="coerce").to_numpy(dtype=float, na_value=np.nan)
    num = (pd.to_numeric(cells["numerator"], errors="coerce").to_numpy(dtype=float, na_value=np.nan)
           if "numerator" in cells.columns else None)
    sup = cells["is_suppressed"].astype("boolean").fillna(True).to_numpy(dtype=bool) if "is_suppressed" in cells \
        else np.zeros(len(cells), dtype=bool)
    k = event_count(v, n, num)
    lo, hi = 1, rules.event_min_count - 1
    event = is_event & np.isfinite(k) & (((k >= lo) & (k <= hi)) | ((n - k >= lo) & (n - k <= hi)))
    out = np.full(len(cells), "", dtype=object)
    out[event] = "event"
    out[np.isfinite(n) & (n < min_n)] = "size"
    out[~np.isfinite(v)] = "no_value"
    out[sup] = "suppressed"
    return out

"""The disclosure rules of ``config/disclosure.yaml``, resolved per metric with the metric catalog.

Also the primary rules themselves (size and event), vectorised over a table of cells.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from ...catalog import metrics as catalog_metrics
from ...errors import InputError
from ...paths import config_dir

KINDS = ("share", "mean", "opaque")


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


def _pair(v, where: str, path: Path) -> tuple[float, float]:
    if not (isinstance(v, list | tuple) and len(v) == 2):
        raise InputError(f"{where} must be [low, high]", file=str(path), value=str(v))
    return float(v[0]), float(v[1])


@lru_cache(maxsize=4)
def load_rules(path: Path | None = None) -> Rules:
    """Read ``config/disclosure.yaml``; every metric id it names must be in the metric catalog."""
    path = path or config_dir() / "disclosure.yaml"
    with open(path, encoding="utf-8") as fh:
        doc = yaml.safe_load(fh) or {}
    catalog = {m["id"]: m for m in catalog_metrics()}
    size, event = doc.get("size_rule") or {}, doc.get("event_rule") or {}
    kinds, ranges = doc.get("value_kinds") or {}, doc.get("value_range") or {}
    prot, links = doc.get("protection") or {}, doc.get("linked_sets") or {}
    named = set(event.get("metrics") or []) | set(kinds.get("by_metric") or {}) | set(ranges.get("by_metric") or {})
    unknown = sorted(named - set(catalog))
    if unknown:
        raise InputError(f"disclosure rules name metric(s) not in config/metrics.yaml: {', '.join(unknown)}",
                         file=str(path), fix="use metric ids from config/metrics.yaml")
    for k in [*(kinds.get("by_unit") or {}).values(), *(kinds.get("by_metric") or {}).values()]:
        if k not in KINDS:
            raise InputError(f"value kind must be one of {', '.join(KINDS)}", file=str(path), value=str(k))
    totals = tuple((str(t["dimension"]), str(t["total"]), tuple(str(p) for p in t["parts"]))
                   for t in links.get("totals") or [])
    weights, tol = prot.get("cost_weight") or {}, doc.get("sources_tolerance") or {}
    return Rules(
        default_min_n=int(size.get("min_n", 10)),
        min_n_by_unit={str(k): int(v) for k, v in (size.get("min_n_by_unit") or {}).items()},
        event_min_count=int(event.get("min_count", 6)),
        event_metrics=frozenset(event.get("metrics") or []),
        kinds_by_unit=dict(kinds.get("by_unit") or {}), kinds_by_metric=dict(kinds.get("by_metric") or {}),
        range_by_unit={k: _pair(v, f"value_range.by_unit.{k}", path) for k, v in (ranges.get("by_unit") or {}).items()},
        range_by_metric={k: _pair(v, f"value_range.by_metric.{k}", path)
                         for k, v in (ranges.get("by_metric") or {}).items()},
        exact_width={k: float(v) for k, v in ((prot.get("exact_value_width") or {}).get("by_unit") or {}).items()},
        link_complement=bool(links.get("complement", True)), link_sources=bool(links.get("sources", True)),
        link_network=bool(links.get("network", True)), totals=totals,
        cost_subgroup_all=float(weights.get("subgroup_all", 20)), cost_network=float(weights.get("network", 50)),
        max_rounds=int(prot.get("max_rounds", 50)),
        tolerance_value=float(tol.get("value", 0.5)), tolerance_n=float(tol.get("n", 0)),
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

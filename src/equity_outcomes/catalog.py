"""The metric catalog (``config/metrics.yaml``): declared once, read by SQL, targets, scorecards, docs and tests."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import pandas as pd
import yaml

from .errors import InputError
from .paths import config_dir

REQUIRED_FIELDS = ["id", "label", "definition", "denominator", "population", "unit", "direction", "min_n", "sources"]
UNITS = {"percent", "sgp", "score", "rate"}
DIRECTIONS = {"higher_is_better", "lower_is_better"}
SOURCES = {"student", "dese"}


@lru_cache(maxsize=4)
def _load(path: Path) -> tuple[dict, ...]:
    with open(path, encoding="utf-8") as fh:
        doc = yaml.safe_load(fh)
    metrics = doc.get("metrics") if isinstance(doc, dict) else None
    if not metrics:
        raise InputError("no 'metrics:' list", file=str(path), fix="see the header comment of config/metrics.yaml")
    seen: set[str] = set()
    for i, m in enumerate(metrics):
        where = f"metrics[{i}] ({m.get('id', '?')})"
        for f in REQUIRED_FIELDS:
            if m.get(f) in (None, ""):
                raise InputError(f"{where} has no '{f}'", file=str(path), fix=f"add '{f}:' to the metric")
        if m["id"] in seen:
            raise InputError(f"{where}: duplicate metric id", file=str(path), value=m["id"])
        seen.add(m["id"])
        if m["unit"] not in UNITS or m["direction"] not in DIRECTIONS or not set(m["sources"]) <= SOURCES:
            raise InputError(
                f"{where}: unit must be one of {sorted(UNITS)}, direction one of {sorted(DIRECTIONS)}, "
                f"sources within {sorted(SOURCES)}",
                file=str(path),
            )
    return tuple(metrics)


def metrics(path: Path | None = None) -> list[dict]:
    return list(_load(path or config_dir() / "metrics.yaml"))


def metric(metric_id: str) -> dict:
    for m in metrics():
        if m["id"] == metric_id:
            return m
    raise KeyError(metric_id)


def metrics_frame(path: Path | None = None) -> pd.DataFrame:
    """The catalog as a table (``ref_metrics`` in the warehouse)."""
    rows = []
    for m in metrics(path):
        rows.append(
            {
                "metric": m["id"],
                "label": m["label"],
                "definition": m["definition"],
                "numerator": m.get("numerator") or "",
                "denominator": m["denominator"],
                "population": m["population"],
                "unit": m["unit"],
                "direction": m["direction"],
                "min_n": int(m["min_n"]),
                "min_n_on": m.get("min_n_on", "n_students"),
                "sources": ",".join(m["sources"]),
                "dese_measure": m.get("dese_measure"),
                "dese_numerator_measure": m.get("dese_numerator_measure"),
                "dese_denominator_measure": m.get("dese_denominator_measure"),
                "dese_reference": m.get("dese_reference") or "",
                "reconcile": bool(m.get("reconcile", False)),
            }
        )
    return pd.DataFrame(rows)

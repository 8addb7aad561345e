"""One disclosure control over every published number (docs/disclosure.md).

``control()`` takes the cells the scorecards would publish (metric_values rows in the published scope), the
cells that target rows rest on without being published themselves (single grades behind a growth target), and
the target rows; it returns them with every withheld number blanked, and a summary of what it cost. Pages,
chart data, CSV/XLSX exports and the run summary are written only from its result (``publish/data.py`` builds
the ``Site`` from it; nothing else reads the warehouse). ``audit.audit_publication`` then attacks the written
files with the same linked sets.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ...errors import EquityOutcomesError
from .complementary import control_cells
from .rules import Rules, load_rules, primary_reasons
from .targets import CELL, CellIndex, control_targets


class DisclosureError(EquityOutcomesError):
    """The control could not protect a cell, or the audit of a publication found something: nothing published."""


PRIMARY = ("suppressed", "no_value", "size", "event", "twin")
BLANKED = ["n_students", "n", "value", "numerator", "denominator", "std_dev", "gap_to_state"]


@dataclass
class Controlled:
    cells: pd.DataFrame                 # the published cells; withheld ones have no numbers (column withheld)
    targets: pd.DataFrame               # target rows; column withheld ('' | baseline | current | both)
    summary: dict = field(default_factory=dict)
    history: pd.DataFrame | None = None  # every evaluated year's target rows (evaluated_year), controlled alike
    solved: dict = field(default_factory=dict)  # the attacker's answers by programme, for the audit of the files


def _count(reason: np.ndarray) -> dict:
    r = pd.Series(reason, dtype=object)
    by = r[r != ""].value_counts().to_dict()
    return {"cells": int(len(r)), "published": int((r == "").sum()),
            "primary": int(sum(by.get(k, 0) for k in PRIMARY)),
            "complementary": int(by.get("complementary", 0)), "by_reason": {k: int(v) for k, v in by.items()}}


def control(mv: pd.DataFrame, tr: pd.DataFrame, dependency_cells: pd.DataFrame | None, *,
            complements: dict[str, str], network_codes: set[str], pages: list[str], rules: Rules | None = None,
            rules_by_target: dict[str, str] | None = None, say=None,
            history: pd.DataFrame | None = None, solved: dict | None = None) -> Controlled:
    """``mv``: published-scope cells (read_metric_values: org_code ... source, n_students, value, numerator,
    is_suppressed). Cells of network schools without a page are pooled into the network but not published.
    ``history``: target_results_history rows (the rating history and year selector), checked like ``tr``.
    ``solved``: the attacker's answers of an earlier run by programme (solved.py), reused where a programme is the same."""
    rules = rules or load_rules()
    shown = mv["org_code"].astype(str).isin(set(pages) | {"network"}).to_numpy() if len(mv) else np.zeros(0, bool)
    cells = mv[shown].reset_index(drop=True)
    frame = cells.rename(columns={"n_students": "n"})
    cc = control_cells(frame, rules, complements, set(pages) & set(network_codes), len(network_codes) or None,
                       say=say, solved=solved)
    withheld = cc.withheld
    out = cells.copy()
    for c in BLANKED:
        if c in out.columns:
            out[c] = pd.to_numeric(out[c], errors="coerce").astype(float).where(~withheld)
    out["is_suppressed"] = withheld
    out["withheld"] = withheld
    out["disclosure"] = cc.reason
    deps = [out[[*CELL, "withheld"]]]
    for extra in (mv[~shown], dependency_cells):  # cells not published: withheld by the primary rules alone
        if extra is not None and len(extra):
            e = extra.rename(columns={"n_students": "n"}).copy()
            e["withheld"] = primary_reasons(e, rules) != ""
            deps.append(e[[*CELL, "withheld"]])
    def shown_rows(t: pd.DataFrame) -> pd.DataFrame:
        return t[t["org_code"].astype(str).isin(set(pages)) | (t["org_level"].astype(str) == "network")] \
            if len(t) else t

    dep_cells = CellIndex(pd.concat(deps, ignore_index=True))  # once for the rows and their history
    targets = control_targets(shown_rows(tr), dep_cells, rules_by_target or {}, complements)
    past = None if history is None else control_targets(shown_rows(history), dep_cells, rules_by_target or {},
                                                        complements)
    level = out["org_level"].astype(str).to_numpy() if len(out) else np.array([], dtype=object)
    summary = {
        "school_cells": _count(cc.reason[level == "school"]),
        "network_cells": _count(cc.reason[level == "network"]),
        "target_rows": {"rows": int(len(targets)),
                        "with_a_side_withheld": int((targets["withheld"] != "").sum()) if len(targets) else 0},
        "rounds": cc.rounds, "unresolved": cc.unresolved, "ratings": _ratings(targets, pages),
    }
    if cc.unresolved:
        raise DisclosureError(f"the disclosure control could not protect {len(cc.unresolved)} cell(s), e.g. "
                              + "; ".join(cc.unresolved[:5]) + ": nothing was published")
    return Controlled(cells=out, targets=targets, summary=summary, history=past, solved=cc.solved)


def _ratings(targets: pd.DataFrame, pages: list[str]) -> list[dict]:
    """Published ratings per target (all students, the published schools): what a run summary may show."""
    if not len(targets):
        return []
    t = targets[targets["org_code"].astype(str).isin(set(pages)) & (targets["org_level"] == "school")
                & (targets["subgroup"].fillna("all") == "all")]
    g = t.groupby(["target_id", "status"], dropna=False).size().reset_index(name="n")
    return [{"target_id": r.target_id, "status": r.status, "n": int(r.n)} for r in g.itertuples()]


def summary_lines(summary: dict) -> list[str]:
    """The cost of the control in words, per output (run summary, progress, docs)."""
    lines = []
    for key, name in (("school_cells", "school trends"), ("network_cells", "network trends")):
        s = summary.get(key) or {}
        if s:
            lines.append(f"{name}: {s['cells']:,} cells, {s['published']:,} published, {s['primary']:,} withheld by "
                         f"the primary rules, {s['complementary']:,} more by complementary suppression")
    t = summary.get("target_rows") or {}
    if t:
        lines.append(f"target results: {t['rows']:,} rows, {t['with_a_side_withheld']:,} with a withheld side "
                     "(its value and everything derived from it blank)")
    return lines


__all__ = ["Controlled", "DisclosureError", "control", "load_rules", "summary_lines"]

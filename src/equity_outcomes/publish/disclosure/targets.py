"""Target rows under the control: every number of a target result is derived from cells, and is published only
when every cell it rests on is.

A side (baseline or current) rests on the cells of the row's org, subgroup, metric (``baseline_metric`` for the
baseline), subject, source, each year of its window (``baseline_window`` years ending at the baseline year) and
each grade the row names (``04,05``: both single grades); a gap row measured against the complement or all
students rests on that reference group's cells too. A side that names no cell (a pooled network result without a
year or source) cannot be checked and is withheld, unless it names the schools it pools (``pooled_org_codes``):
the network's pooled side rests on those schools' rows of the same target, subject and subgroup, and is withheld
when any of their sides is, or when one of them is not among the rows (a school without a page). A side whose
cells are withheld (or not found) loses its
value, n and group values; anything computed from a withheld side (change, relative change, target value, progress,
interval, p value, rating) goes too, and the row is shown as insufficient data, withheld to protect a small
group. Free text that could carry a number of students (``status_reason``) and flags about n are replaced.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

SIDES = {"baseline": ("baseline_year", "baseline_value", "n_baseline"),
         "current": ("current_year", "current_value", "n_current")}
SIDE_EXTRA = {"baseline": ["baseline_subgroup_value", "baseline_reference_value", "complement_gap_baseline"],
              "current": ["current_subgroup_value", "current_reference_value", "complement_gap_current"]}
BOTH_SIDES = ["change_abs", "change_rel_pct", "progress_pct", "ci_low", "ci_high", "p_value",
              "complement_gap_change", "is_distinguishable_from_noise"]   # computed from both sides
JUDGEMENT = ["rating", "rating_label", "met_by"]                          # from the sides the rule uses
RULES_WITHOUT_BASELINE = {"share_improved", "level", "level_or_increase"}
RATED = ("met", "moving_toward", "initial_steps", "area_of_concern")
N_FLAGS = {"small_n", "n_changed_over_half"}
WITHHELD_REASON = "withheld to protect a small group"
WITHHELD_FLAG = "suppressed_small_cell"
CELL = ["org_code", "org_level", "subgroup", "metric", "subject", "source", "school_year", "grade"]
MEMBERS = "pooled_org_codes"  # a network row's pooled schools, comma-separated


def _norm_subject(s: pd.Series) -> pd.Series:
    s = s.astype(object)
    return s.where(s.notna() & (s != ""), "")


def _dependencies(tr: pd.DataFrame, side: str, complements: dict[str, str]) -> pd.DataFrame:
    """One row per (target row, cell it rests on) for one side (whole columns at a time: a statewide publication
    has tens of thousands of target rows, each resting on a few cells)."""
    ycol = SIDES[side][0]
    metric = tr["metric"].astype(object)
    if side == "baseline" and "baseline_metric" in tr.columns:
        metric = tr["baseline_metric"].astype(object).where(tr["baseline_metric"].notna(), metric)
    year = pd.to_numeric(tr[ycol], errors="coerce").to_numpy(dtype=float)
    window = pd.to_numeric(tr.get("baseline_window", 1), errors="coerce") if side == "baseline" else 1
    window = pd.Series(window, index=tr.index).fillna(1).clip(lower=1).astype(int).to_numpy()
    window = np.where(np.isfinite(year), window, 0)  # no year: no cell
    grade = tr["grade"].astype(object) if "grade" in tr.columns else pd.Series(None, index=tr.index, dtype=object)
    sg = tr["subgroup"].astype(object).where(tr["subgroup"].notna(), "all")
    ref = tr["reference"].astype(object) if "reference" in tr.columns else pd.Series(None, index=tr.index)
    ref_sg = pd.Series(np.where(ref == "complement", sg.map(complements), np.where(ref == "all", "all", None)),
                       index=tr.index, dtype=object)
    row = np.repeat(np.arange(len(tr)), window)  # one row per year of each window, the window's last year last
    first = np.repeat(np.cumsum(window) - window, window)
    d = pd.DataFrame({
        "row": row, "org_code": tr["org_code"].astype(str).to_numpy()[row],
        "org_level": tr["org_level"].astype(str).to_numpy()[row], "metric": metric.to_numpy()[row],
        "subject": _norm_subject(tr["subject"]).to_numpy()[row], "source": tr["source"].astype(object).to_numpy()[row],
        "school_year": (year[row] - window[row] + 1 + np.arange(len(row)) - first).astype(int),
        "grade": pd.Series([g.split(",") if isinstance(g, str) and g else [None] for g in grade],
                           dtype=object).to_numpy()[row],
        "subgroup": sg.to_numpy()[row],
    }).explode("grade")
    ref_rows = ref_sg.to_numpy()[d["row"].to_numpy()]
    has_ref = pd.notna(ref_rows) & np.array([isinstance(r, str) for r in ref_rows], dtype=bool)
    return pd.concat([d, d[has_ref].assign(subgroup=ref_rows[has_ref])], ignore_index=True)


class CellIndex:
    """Which cells are withheld, by their key as one integer (made once for both sides of the target rows and of
    their history: a statewide publication rests them on half a million cells)."""

    def __init__(self, cells: pd.DataFrame) -> None:
        c = {col: cells[col].astype(object).astype(str).to_numpy() for col in CELL if col not in ("subject",
                                                                                                  "school_year")}
        c["subject"] = _norm_subject(cells["subject"]).to_numpy()
        c["school_year"] = pd.to_numeric(cells["school_year"]).astype(int).to_numpy()
        codes, self.values = {}, {}
        for col in CELL:
            codes[col], uniques = pd.factorize(c[col], use_na_sentinel=False)
            self.values[col] = pd.Index(uniques)
        withheld = cells["withheld"].astype("boolean").fillna(True).to_numpy(dtype=bool)
        self.keys = {}  # key columns -> (the cells' distinct keys sorted, whether a cell of each is withheld)
        for key in (tuple(CELL), tuple(CELL[:-1])):
            known, at = np.unique(self._ravel([codes[col] for col in key], key), return_inverse=True)
            self.keys[key] = known, np.bincount(at, weights=withheld, minlength=len(known)) > 0

    def _ravel(self, codes: list[np.ndarray], key: tuple[str, ...]) -> np.ndarray:
        return np.ravel_multi_index(codes, [len(self.values[col]) for col in key])

    def hidden(self, dep: pd.DataFrame, key: tuple[str, ...]) -> np.ndarray:
        """Per dependency: is a cell of its key withheld, or is there none (a cell the control does not know)?"""
        known, withheld = self.keys[key]
        if not len(known):
            return np.ones(len(dep), dtype=bool)
        codes = [self.values[col].get_indexer(dep[col].to_numpy()) for col in key]
        named = np.logical_and.reduce([cd >= 0 for cd in codes])  # every value of its key is some cell's
        k = self._ravel([np.where(named, cd, 0) for cd in codes], key)
        at = np.minimum(np.searchsorted(known, k), len(known) - 1)
        return ~(named & (known[at] == k)) | withheld[at]


def side_withheld(tr: pd.DataFrame, index: CellIndex, side: str, complements: dict[str, str]) -> np.ndarray:
    """Per target row: does this side rest on a withheld cell, or on none that the control knows?"""
    if not len(tr):
        return np.zeros(0, dtype=bool)
    dep = _dependencies(tr, side, complements)
    for col in ("org_code", "org_level", "subgroup", "metric", "source"):
        dep[col] = dep[col].astype(str)
    graded = dep["grade"].notna().to_numpy()
    dep["grade"] = dep["grade"].astype(str)
    hidden = np.zeros(len(dep), dtype=bool)
    for key, rows in ((tuple(CELL), graded), (tuple(CELL[:-1]), ~graded)):  # no grade: each of its grades
        hidden[rows] = index.hidden(dep[rows], key)
    rows = dep["row"].to_numpy()
    named = np.bincount(rows, minlength=len(tr)) > 0  # a side that names no cell (no year, no source) cannot be
    return ~named | (np.bincount(rows, weights=hidden, minlength=len(tr)) > 0)  # checked


def row_keys(tr: pd.DataFrame) -> pd.Series:
    """target | subject | subgroup of each row: what a pooled network row shares with its schools' rows."""
    sg = tr["subgroup"].astype(object).where(tr["subgroup"].notna() & (tr["subgroup"] != ""), "all")
    return tr["target_id"].astype(str) + "|" + _norm_subject(tr["subject"]).astype(str) + "|" + sg.astype(str)


def org_keys(tr: pd.DataFrame, keys: pd.Series) -> np.ndarray:
    """org | target | subject | subgroup of each row (``keys``: its row_keys; a CSV's org code without its text mark):
    how a pooled network row names the rows of its schools."""
    return (tr["org_code"].astype(str).str.lstrip("'") + "|" + keys).to_numpy()


def pooled_side_withheld(tr: pd.DataFrame, rests: np.ndarray) -> np.ndarray:
    """``rests`` with each pooled network row's side withheld exactly when a school it pools has that side withheld
    (``rests`` of the school's row) or has no row here."""
    members = tr[MEMBERS].astype(object) if MEMBERS in tr.columns else pd.Series(None, index=tr.index)
    pooled = np.flatnonzero((tr["org_level"].astype(str) == "network").to_numpy()
                            & members.notna().to_numpy() & (members.astype(str) != "").to_numpy())
    if not len(pooled):
        return rests
    keys = row_keys(tr)
    school = (tr["org_level"].astype(str) == "school").to_numpy()
    known = pd.Series(rests[school], index=org_keys(tr, keys)[school])
    known = known.groupby(level=0).max().to_dict()
    out = rests.copy()
    for i in pooled:
        out[i] = any(known.get(f"{code}|{keys.iat[i]}", True) for code in str(members.iat[i]).split(","))
    return out


def control_targets(tr: pd.DataFrame, cells: pd.DataFrame | CellIndex, rules_by_target: dict[str, str],
                    complements: dict[str, str]) -> pd.DataFrame:
    """Copy of ``tr`` with withheld sides and what derives from them blanked; adds ``withheld``
    ('' | 'baseline' | 'current' | 'both'). ``cells``: every cell the rows rest on, with ``withheld`` (or their CellIndex)."""
    df = tr.reset_index(drop=True).copy()
    if not len(df):
        df["withheld"] = pd.Series(dtype=object)
        return df
    has = {s: pd.to_numeric(df[SIDES[s][1]], errors="coerce").notna().to_numpy()
           | pd.to_numeric(df[SIDES[s][2]], errors="coerce").notna().to_numpy() for s in SIDES}
    index = cells if isinstance(cells, CellIndex) else CellIndex(cells)
    rests = {s: pooled_side_withheld(df, side_withheld(df, index, s, complements)) for s in SIDES}
    hidden = {s: rests[s] & has[s] for s in SIDES}
    if "peer_percentile" in df.columns:  # the school's own measure among its peers, even where no value is shown
        df["peer_percentile"] = pd.to_numeric(df["peer_percentile"], errors="coerce").astype(float).where(
            ~(rests["baseline"] | rests["current"]))
    for s, mask in hidden.items():
        for col in (SIDES[s][1], SIDES[s][2], *[c for c in SIDE_EXTRA[s] if c in df.columns]):
            df[col] = pd.to_numeric(df[col], errors="coerce").astype(float).where(~mask)
    b, c = hidden["baseline"], hidden["current"]
    rule = df["rule"] if "rule" in df.columns and df["rule"].notna().any() else df["target_id"].map(rules_by_target)
    no_base = rule.isin(RULES_WITHOUT_BASELINE).to_numpy()
    judged = c | (b & ~no_base)
    for cols, mask in ((BOTH_SIDES, b | c), (JUDGEMENT, judged)):
        for col in cols:
            if col in df.columns:
                df[col] = df[col].astype(object).where(~mask, None)
    if "target_value" in df.columns:
        df["target_value"] = pd.to_numeric(df["target_value"], errors="coerce").astype(float).where(
            ~(b & ~no_base))
    df["withheld"] = np.where(b & c, "both", np.where(b, "baseline", np.where(c, "current", "")))
    df.loc[judged & df["status"].isin(RATED).to_numpy(), "status"] = "insufficient_data"
    if "status_reason" in df.columns:
        df["status_reason"] = df["status_reason"].astype(object).where(~(b | c), WITHHELD_REASON)
    flags = df["flags"].astype(object).where(df["flags"].notna(), "") if "flags" in df.columns else \
        pd.Series("", index=df.index)
    df["flags"] = [",".join([f for f in str(fl).split(",") if f and f not in N_FLAGS] + [WITHHELD_FLAG]) if h
                   else fl for fl, h in zip(flags, b | c, strict=True)]
    return df

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
    """One row per (target row, cell it rests on) for one side."""
    ycol = SIDES[side][0]
    metric = tr["metric"].astype(object)
    if side == "baseline" and "baseline_metric" in tr.columns:
        metric = tr["baseline_metric"].astype(object).where(tr["baseline_metric"].notna(), metric)
    year = pd.to_numeric(tr[ycol], errors="coerce")
    window = pd.to_numeric(tr.get("baseline_window", 1), errors="coerce") if side == "baseline" else 1
    window = pd.Series(window, index=tr.index).fillna(1).clip(lower=1).astype(int)
    grade = tr["grade"].astype(object) if "grade" in tr.columns else pd.Series(None, index=tr.index, dtype=object)
    sg = tr["subgroup"].astype(object).where(tr["subgroup"].notna(), "all")
    ref = tr["reference"].astype(object) if "reference" in tr.columns else pd.Series(None, index=tr.index)
    ref_sg = np.where(ref == "complement", sg.map(complements), np.where(ref == "all", "all", None))
    d = pd.DataFrame({
        "row": np.arange(len(tr)), "org_code": tr["org_code"].astype(str).to_numpy(),
        "org_level": tr["org_level"].astype(str).to_numpy(), "metric": metric.to_numpy(),
        "subject": _norm_subject(tr["subject"]).to_numpy(), "source": tr["source"].astype(object).to_numpy(),
        "years": [list(range(int(y) - w + 1, int(y) + 1)) if np.isfinite(y) else []
                  for y, w in zip(year.to_numpy(dtype=float), window.to_numpy(), strict=True)],
        "grades": [str(g).split(",") if isinstance(g, str) and g else [None] for g in grade],
        "subgroups": [[s] + ([r] if isinstance(r, str) else []) for s, r in zip(sg, ref_sg, strict=True)],
    })
    d = d.explode("years").explode("grades").explode("subgroups")
    d = d[d["years"].notna()].rename(columns={"years": "school_year", "grades": "grade", "subgroups": "subgroup"})
    d["school_year"] = d["school_year"].astype(int)
    return d


def side_withheld(tr: pd.DataFrame, cells: pd.DataFrame, side: str, complements: dict[str, str]) -> np.ndarray:
    """Per target row: does this side rest on a withheld cell, or on none that the control knows?"""
    if not len(tr):
        return np.zeros(0, dtype=bool)
    dep = _dependencies(tr, side, complements)
    c = cells[CELL[:-2] + ["school_year", "grade", "withheld"]].copy()
    c["subject"] = _norm_subject(c["subject"])
    for col in ("org_code", "org_level", "subgroup", "metric", "source", "grade"):
        c[col] = c[col].astype(object).astype(str)
    c["school_year"] = pd.to_numeric(c["school_year"]).astype(int)
    for col in ("org_code", "org_level", "subgroup", "metric", "source"):
        dep[col] = dep[col].astype(str)
    graded = dep[dep["grade"].notna()].assign(grade=lambda x: x["grade"].astype(str))
    m1 = graded.merge(c, how="left", on=CELL)
    any_grade = dep[dep["grade"].isna()].drop(columns="grade").merge(c, how="left", on=CELL[:-1])
    m = pd.concat([m1, any_grade], ignore_index=True)
    m["withheld"] = m["withheld"].astype("boolean").fillna(True)  # a cell the control does not know is withheld
    hidden = m.groupby("row")["withheld"].any()
    out = np.ones(len(tr), dtype=bool)  # a side that names no cell (no year, no source) cannot be checked
    out[hidden.index.to_numpy(dtype=int)] = hidden.to_numpy(dtype=bool)
    return out


def row_keys(tr: pd.DataFrame) -> pd.Series:
    """target | subject | subgroup of each row: what a pooled network row shares with its schools' rows."""
    sg = tr["subgroup"].astype(object).where(tr["subgroup"].notna() & (tr["subgroup"] != ""), "all")
    return tr["target_id"].astype(str) + "|" + _norm_subject(tr["subject"]).astype(str) + "|" + sg.astype(str)


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
    known = pd.Series(rests[school], index=(tr["org_code"].astype(str) + "|" + keys)[school].to_numpy())
    known = known.groupby(level=0).max().to_dict()
    out = rests.copy()
    for i in pooled:
        out[i] = any(known.get(f"{code}|{keys.iat[i]}", True) for code in str(members.iat[i]).split(","))
    return out


def control_targets(tr: pd.DataFrame, cells: pd.DataFrame, rules_by_target: dict[str, str],
                    complements: dict[str, str]) -> pd.DataFrame:
    """Copy of ``tr`` with withheld sides and what derives from them blanked; adds ``withheld``
    ('' | 'baseline' | 'current' | 'both'). ``cells``: every cell the rows rest on, with ``withheld``."""
    df = tr.reset_index(drop=True).copy()
    if not len(df):
        df["withheld"] = pd.Series(dtype=object)
        return df
    has = {s: pd.to_numeric(df[SIDES[s][1]], errors="coerce").notna().to_numpy()
           | pd.to_numeric(df[SIDES[s][2]], errors="coerce").notna().to_numpy() for s in SIDES}
    rests = {s: pooled_side_withheld(df, side_withheld(df, cells, s, complements)) for s in SIDES}
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

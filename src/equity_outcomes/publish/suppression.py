"""Small-cell protection for everything the scorecards publish.

Rules (docs/scorecards.md, "Small cells"):

1. Primary: a cell is withheld when the warehouse already suppressed it, when its value is missing, or when its
   n (``n_students``) is below the metric's ``min_n`` (ref_metrics), whatever the source.
2. Complement pairs: within one school x year x metric x subject x grade x source, a subgroup and its complement
   (low_income / non_low_income, el / non_el, ...) are published together or not at all. Otherwise
   ``all - complement`` would give back the withheld group (its n, and with the rates its numerator).
3. Across schools: the network row is the sum of the network schools. When exactly one network school is withheld
   for a year x subgroup x metric x subject x grade x source, the next smallest school's cell is withheld too, so
   ``network - other schools`` cannot give it back.
   Rules 2 and 3 are applied again until nothing changes (a cell withheld by 3 can trigger 2 in its school).
4. A withheld cell publishes nothing but the fact that it is withheld: no value, no n, no numerator, no
   denominator, no standard deviation, no gap.
5. Target results: a side (baseline / current) whose cell is withheld, or whose n is below min_n, loses its value,
   its n, and everything computed from it (change, relative change, progress, interval, p value; the target value
   when it is derived from the baseline).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

CELL_KEY = ["org_code", "org_level", "school_year", "metric", "subject", "grade", "source"]
CROSS_KEY = ["school_year", "subgroup", "metric", "subject", "grade", "source"]
COUNT_COLUMNS = ["numerator", "denominator", "n_students"]
VALUE_COLUMNS = ["value", "std_dev", "gap_to_state"]
DEFAULT_MIN_N = 10


def _gid(df: pd.DataFrame, cols: list[str]) -> np.ndarray:
    return df.groupby(cols, sort=False, dropna=False, observed=True).ngroup().to_numpy()


def protect_metric_values(
    mv: pd.DataFrame,
    min_n: dict[str, int],
    complements: dict[str, str],
    network_schools: set[str] | None = None,
    *,
    max_rounds: int = 20,
) -> pd.DataFrame:
    """Return a copy of ``mv`` with ``is_suppressed`` (final), ``suppression`` ('' | 'small_n' | 'complement' |
    'other_school') and every withheld cell's numbers set to NULL. ``orig_n`` keeps the unpublished n for
    internal matching only (dropped before anything is written)."""
    df = mv.reset_index(drop=True).copy()
    n = len(df)
    if n == 0:
        for c in ("suppression", "orig_n"):
            df[c] = pd.Series(dtype=object if c == "suppression" else float)
        return df
    nn = pd.to_numeric(df["n_students"], errors="coerce").to_numpy(dtype=float, na_value=np.nan)
    mins = df["metric"].astype(object).map(min_n).fillna(DEFAULT_MIN_N).to_numpy(dtype=float)
    val = pd.to_numeric(df["value"], errors="coerce").to_numpy(dtype=float, na_value=np.nan)
    already = df["is_suppressed"].astype("boolean").fillna(True).to_numpy(dtype=bool)
    s = already | ~np.isfinite(val) | (np.isfinite(nn) & (nn < mins))
    reason = np.where(s, "small_n", "").astype(object)

    # rule 2: complement pairs (group ids from SQL when the reader computed them)
    if "_pair_gid" in df.columns:
        pair_gid = df["_pair_gid"].to_numpy(dtype=np.int64)
        in_pair = pair_gid >= 0
    else:
        pair = df["subgroup"].astype(object).map(lambda g: min(g, complements[g]) if g in complements else None)
        in_pair = pair.notna().to_numpy()
        pair_gid = np.full(n, -1, dtype=np.int64)
        if in_pair.any():
            sub = df.loc[in_pair, CELL_KEY].copy()
            sub["_pair"] = pair[in_pair].to_numpy()
            pair_gid[in_pair] = _gid(sub, [*CELL_KEY, "_pair"])

    # rule 3: across network schools, for cells whose network total exists
    cross_rows = np.zeros(n, dtype=bool)
    cross_gid = np.array([], dtype=np.int64)
    if network_schools:
        level = df["org_level"].astype(object).to_numpy()
        school_rows = (level == "school") & df["org_code"].astype(object).isin(network_schools).to_numpy()
        net_rows = level == "network"
        if school_rows.any() and net_rows.any():
            if "_cross_gid" in df.columns:
                all_gid = df["_cross_gid"].to_numpy(dtype=np.int64)
            else:
                all_gid = _gid(df, CROSS_KEY)
            has_total = np.zeros(all_gid.max() + 1, dtype=bool)
            has_total[all_gid[net_rows]] = True
            cross_rows = school_rows & has_total[all_gid]
            if cross_rows.any():
                cross_gid = np.unique(all_gid[cross_rows], return_inverse=True)[1]
    cross_idx = np.flatnonzero(cross_rows)
    # order within each cross group by n (smallest first; unknown n last)
    if len(cross_idx):
        order = np.lexsort((np.nan_to_num(nn[cross_idx], nan=np.inf), cross_gid))
    for _ in range(max_rounds):
        changed = False
        if in_pair.any():
            idx = np.flatnonzero(in_pair)
            g = pair_gid[idx]
            anys = np.bincount(g, weights=s[idx].astype(float), minlength=g.max() + 1) > 0
            new = anys[g] & ~s[idx]
            if new.any():
                s[idx[new]] = True
                reason[idx[new]] = "complement"
                changed = True
        if len(cross_idx):
            sc = s[cross_idx]
            n_sup = np.bincount(cross_gid, weights=sc.astype(float))
            cnt = np.bincount(cross_gid)
            single = (n_sup == 1) & (cnt > 1)
            if single.any():
                cand = single[cross_gid[order]] & ~sc[order]
                gids = cross_gid[order][cand]
                rows = cross_idx[order][cand]
                _, first = np.unique(gids, return_index=True)
                pick = rows[first]
                if len(pick):
                    s[pick] = True
                    reason[pick] = "other_school"
                    changed = True
        if not changed:
            break
    df["orig_n"] = nn
    df["is_suppressed"] = s
    df["suppression"] = reason
    for c in COUNT_COLUMNS + VALUE_COLUMNS:
        if c in df.columns:
            df[c] = pd.to_numeric(df[c], errors="coerce").astype(float).where(~s)
    return df


# --- target results ---------------------------------------------------------------------------------------------
SIDE_COLUMNS = {"baseline": ("baseline_year", "baseline_value", "n_baseline"),
                "current": ("current_year", "current_value", "n_current")}
# engine extras that belong to one side (hidden with it) or to both (hidden with either)
SIDE_EXTRA = {"baseline": ["baseline_subgroup_value", "baseline_reference_value", "complement_gap_baseline"],
              "current": ["current_subgroup_value", "current_reference_value", "complement_gap_current"]}
DERIVED_COLUMNS = ["change_abs", "change_rel_pct", "progress_pct", "ci_low", "ci_high", "p_value",
                   "complement_gap_change"]
RULES_WITHOUT_BASELINE = {"share_improved", "level", "level_or_increase"}
TARGET_KEY = ["org_code", "org_level", "subgroup", "metric", "subject", "source"]


def _side_hidden(tr: pd.DataFrame, safe_mv: pd.DataFrame, year_col: str, n_col: str,
                 metric_col: str = "metric") -> np.ndarray:
    """For each target row: is the metric_values cell behind this side withheld? Cells are matched on the row's
    grade when it names a published grade selection, else on all of them: by n when one cell has the same n, else
    any withheld cell counts."""
    if not len(tr) or not len(safe_mv):
        return np.zeros(len(tr), dtype=bool)
    left = tr[TARGET_KEY].copy()
    if metric_col in tr.columns:
        left["metric"] = tr[metric_col].where(tr[metric_col].notna(), tr["metric"])
    left["_tgrade"] = tr["grade"].astype(object) if "grade" in tr.columns else None
    left["school_year"] = pd.to_numeric(tr[year_col], errors="coerce")
    left["_n"] = pd.to_numeric(tr[n_col], errors="coerce").astype(float)
    left["_row"] = np.arange(len(tr))
    right = safe_mv[[*TARGET_KEY, "school_year", "grade", "orig_n", "is_suppressed"]]
    for c in ("subject",):
        left[c] = left[c].astype(object).where(left[c].notna(), "\x00")
        right = right.assign(**{c: right[c].astype(object).where(right[c].notna(), "\x00")})
    left["school_year"] = left["school_year"].astype("Int64")
    right = right.assign(school_year=right["school_year"].astype("Int64"))
    m = left.merge(right, how="inner", on=[*TARGET_KEY, "school_year"])
    tg = m["_tgrade"]
    graded = tg.notna() & tg.isin(m["grade"].unique())
    m = m[~graded.to_numpy() | (tg == m["grade"]).to_numpy()]
    if not len(m):
        return np.zeros(len(tr), dtype=bool)
    m["_match"] = m["orig_n"].to_numpy() == m["_n"].to_numpy()
    m["_sup_match"] = m["_match"] & m["is_suppressed"].astype(bool)
    agg = m.groupby("_row").agg(has_match=("_match", "any"), sup_match=("_sup_match", "any"),
                                sup_any=("is_suppressed", "any"))
    hidden = np.where(agg["has_match"], agg["sup_match"], agg["sup_any"])
    out = np.zeros(len(tr), dtype=bool)
    out[agg.index.to_numpy()] = hidden
    return out


def protect_target_results(
    tr: pd.DataFrame, safe_mv: pd.DataFrame, min_n: dict[str, int], rules: dict[str, str]
) -> pd.DataFrame:
    """Copy of ``tr`` with withheld sides blanked; adds ``withheld`` ('' | 'baseline' | 'current' | 'both') and the
    flag ``suppressed_small_cell``. A rated row whose current side is below min_n becomes insufficient_data."""
    df = tr.reset_index(drop=True).copy()
    if not len(df):
        df["withheld"] = pd.Series(dtype=object)
        return df
    mins = df["metric"].map(min_n).fillna(DEFAULT_MIN_N).to_numpy(dtype=float)
    hidden = {}
    small = {}
    for side, (ycol, _vcol, ncol) in SIDE_COLUMNS.items():
        nvals = pd.to_numeric(df[ncol], errors="coerce").to_numpy(dtype=float, na_value=np.nan)
        small[side] = np.isfinite(nvals) & (nvals < mins)
        metric_col = "baseline_metric" if side == "baseline" else "metric"
        hidden[side] = small[side] | _side_hidden(df, safe_mv, ycol, ncol, metric_col)
    b, c = hidden["baseline"], hidden["current"]
    no_base_rule = df["target_id"].map(rules).isin(RULES_WITHOUT_BASELINE).to_numpy()
    for side, mask in hidden.items():
        _ycol, vcol, ncol = SIDE_COLUMNS[side]
        for col in (vcol, ncol, *[c for c in SIDE_EXTRA[side] if c in df.columns]):
            df[col] = pd.to_numeric(df[col], errors="coerce").astype(float).where(~mask)
    # change and interval use both sides, except for rules judged on the current year alone
    derived_mask = c | (b & ~no_base_rule)
    for col in DERIVED_COLUMNS:
        if col in df.columns:
            df[col] = pd.to_numeric(df[col], errors="coerce").astype(float).where(~derived_mask)
    if "target_value" in df.columns:
        df["target_value"] = pd.to_numeric(df["target_value"], errors="coerce").astype(float).where(
            ~(b & ~no_base_rule))
    withheld = np.where(b & c, "both", np.where(b, "baseline", np.where(c, "current", "")))
    df["withheld"] = withheld
    any_hidden = b | c
    flags = df["flags"].astype(object).where(df["flags"].notna(), "") if "flags" in df.columns else ""
    df["flags"] = [
        (",".join([f for f in str(fl).split(",") if f] + ["suppressed_small_cell"]) if h else (fl or ""))
        for fl, h in zip(flags if isinstance(flags, pd.Series) else [""] * len(df), any_hidden, strict=True)
    ]
    rated_small = small["current"] & df["status"].isin(["met", "moving_toward", "initial_steps",
                                                         "area_of_concern"]).to_numpy()
    if rated_small.any():
        df.loc[rated_small, "status"] = "insufficient_data"
        df.loc[rated_small, "rating"] = np.nan
        df.loc[rated_small, "rating_label"] = None
    return df

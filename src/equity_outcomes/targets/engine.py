"""Evaluate the Outcomes targets against the warehouse tables and write ``target_results`` / ``target_rollup``.

Reads (never writes) ``metric_values``, ``roster``, ``school_grade_span`` and, when present, ``school_demographics``
from the caller's DuckDB connection; inputs are filtered in SQL and the judging is vectorised pandas (one row per
school x target x subgroup x subject, never per student). See docs/targets.md for the rules.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from .. import stats
from .catalog import STATUSES, Catalog, Target, load_catalog, subgroup_complements
from .rules import apply_rule, measure

REQ = ["org_code", "subgroup", "subject"]
BASE = ["org_code", "org_level", "subgroup", "subject", "metric", "source", "grade"]

FLAG_ORDER = (
    "test_transition",
    "metric_changed",
    "no_2020_assessments",
    "remote_2021",
    "income_definition_change",
    "grade_span_changed",
    "n_changed_over_half",
    "n_unknown",
    "sd_unknown",
    "small_n",
    "baseline_zero",
    "no_baseline_gap",
    "gap_vs_all",
    "state_value_other_source",
    "suppressed",
    "baseline_window_partial",
    "not_distinguishable_from_noise",
)

# name, duckdb type
RESULT_SCHEMA: tuple[tuple[str, str], ...] = (
    ("org_code", "VARCHAR"),
    ("org_level", "VARCHAR"),
    ("school_name", "VARCHAR"),
    ("is_network_school", "BOOLEAN"),
    ("target_id", "VARCHAR"),
    ("target_label", "VARCHAR"),
    ("category", "VARCHAR"),
    ("rule", "VARCHAR"),
    ("direction", "VARCHAR"),
    ("threshold", "DOUBLE"),
    ("subgroup", "VARCHAR"),
    ("subject", "VARCHAR"),
    ("grade", "VARCHAR"),
    ("metric", "VARCHAR"),
    ("baseline_metric", "VARCHAR"),
    ("source", "VARCHAR"),
    ("baseline_year", "INTEGER"),
    ("baseline_window", "INTEGER"),
    ("baseline_value", "DOUBLE"),
    ("current_year", "INTEGER"),
    ("current_value", "DOUBLE"),
    ("change_abs", "DOUBLE"),
    ("change_rel_pct", "DOUBLE"),
    ("target_value", "DOUBLE"),
    ("progress_pct", "DOUBLE"),
    ("rating", "INTEGER"),
    ("rating_label", "VARCHAR"),
    ("status", "VARCHAR"),
    ("status_reason", "VARCHAR"),
    ("ci_low", "DOUBLE"),
    ("ci_high", "DOUBLE"),
    ("ci_units", "VARCHAR"),
    ("p_value", "DOUBLE"),
    ("n_baseline", "DOUBLE"),
    ("n_current", "DOUBLE"),
    ("is_distinguishable_from_noise", "BOOLEAN"),
    ("flags", "VARCHAR"),
    ("met_by", "VARCHAR"),
    ("implementation_year", "INTEGER"),
    ("due_from_implementation_year", "INTEGER"),
    ("reference", "VARCHAR"),
    ("baseline_subgroup_value", "DOUBLE"),
    ("current_subgroup_value", "DOUBLE"),
    ("baseline_reference_value", "DOUBLE"),
    ("current_reference_value", "DOUBLE"),
    ("complement_gap_baseline", "DOUBLE"),
    ("complement_gap_current", "DOUBLE"),
    ("complement_gap_change", "DOUBLE"),
    ("state_change_rel_pct", "DOUBLE"),
    ("state_change_abs", "DOUBLE"),
    ("state_current_value", "DOUBLE"),
    ("state_change_source", "VARCHAR"),
    ("peer_change_rel_pct", "DOUBLE"),
    ("peer_change_abs", "DOUBLE"),
    ("peer_current_value", "DOUBLE"),
    ("n_peers", "INTEGER"),
)
RESULT_COLUMNS = tuple(c for c, _ in RESULT_SCHEMA)

ROLLUP_SCHEMA: tuple[tuple[str, str], ...] = (
    ("target_id", "VARCHAR"),
    ("target_label", "VARCHAR"),
    ("category", "VARCHAR"),
    ("subject", "VARCHAR"),
    ("subgroup", "VARCHAR"),
    ("n_schools", "INTEGER"),
    ("n_rated", "INTEGER"),
    ("n_rating_4", "INTEGER"),
    ("n_rating_3", "INTEGER"),
    ("n_rating_2", "INTEGER"),
    ("n_rating_1", "INTEGER"),
    ("n_met", "INTEGER"),
    ("n_moving_toward", "INTEGER"),
    ("n_initial_steps", "INTEGER"),
    ("n_area_of_concern", "INTEGER"),
    ("n_insufficient_data", "INTEGER"),
    ("n_not_yet_due", "INTEGER"),
    ("n_not_comparable", "INTEGER"),
    ("pooled_metric", "VARCHAR"),
    ("pooled_baseline_metric", "VARCHAR"),
    ("pooled_n_schools", "INTEGER"),
    ("pooled_baseline_value", "DOUBLE"),
    ("pooled_current_value", "DOUBLE"),
    ("pooled_change_abs", "DOUBLE"),
    ("pooled_change_rel_pct", "DOUBLE"),
    ("pooled_target_value", "DOUBLE"),
    ("pooled_progress_pct", "DOUBLE"),
    ("pooled_rating", "INTEGER"),
    ("pooled_rating_label", "VARCHAR"),
    ("pooled_status", "VARCHAR"),
    ("pooled_ci_low", "DOUBLE"),
    ("pooled_ci_high", "DOUBLE"),
    ("pooled_ci_units", "VARCHAR"),
    ("pooled_p_value", "DOUBLE"),
    ("pooled_n_baseline", "DOUBLE"),
    ("pooled_n_current", "DOUBLE"),
)
ROLLUP_COLUMNS = tuple(c for c, _ in ROLLUP_SCHEMA)


# ================================================================================================== inputs


@dataclass
class _Inputs:
    obs: pd.DataFrame
    roster: pd.DataFrame
    spans: pd.DataFrame
    demographics: pd.DataFrame | None
    by_metric: dict[str, np.ndarray] = field(default_factory=dict)  # metric -> row positions in obs


def _table_exists(con, name: str) -> bool:
    row = con.execute(
        "SELECT count(*) FROM information_schema.tables WHERE table_name = ? AND table_schema = current_schema()",
        [name],
    ).fetchone()
    return bool(row and row[0])


def _grade_to_int(x) -> float:
    if x is None or (isinstance(x, float) and np.isnan(x)):
        return np.nan
    s = str(x).strip().upper()
    if s in ("PK", "PRE-K", "P"):
        return -1.0
    if s in ("K", "KG", "KF", "KH"):
        return 0.0
    try:
        return float(int(float(s)))
    except ValueError:
        return np.nan


def _read_inputs(con, catalog: Catalog) -> _Inputs:
    metrics = sorted({m for t in catalog.targets for m in t.metrics})
    complements = subgroup_complements()
    sgs = {"all"}
    for t in catalog.targets:
        sgs.update(t.subgroups)
        if t.rule == "gap_closure" or t.reference:
            sgs.update(c for s in t.subgroups if (c := complements.get(s)))
    obs = con.execute(
        """
        SELECT org_code, org_level, CAST(school_year AS INTEGER) AS school_year, subgroup, metric, subject, grade,
               source, CAST(numerator AS DOUBLE) AS numerator, CAST(denominator AS DOUBLE) AS denominator,
               CAST(value AS DOUBLE) AS value, CAST(std_dev AS DOUBLE) AS std_dev, is_suppressed
        FROM metric_values
        WHERE org_level IN ('school', 'state') AND list_contains(?, metric) AND list_contains(?, subgroup)
        """,
        [metrics, sorted(sgs)],
    ).df()
    obs = _prepare_obs(obs, catalog)

    if _table_exists(con, "roster"):
        roster = con.execute(
            """SELECT CAST(org_code AS VARCHAR) AS org_code, school_name, school_level,
                      CAST(is_network_school AS INTEGER) AS is_network_school,
                      CAST(implementation_start_year AS INTEGER) AS implementation_start_year,
                      CAST(baseline_year AS INTEGER) AS baseline_year
               FROM roster"""
        ).df()
        roster = roster.drop_duplicates("org_code")
    else:
        roster = pd.DataFrame(
            columns=[
                "org_code",
                "school_name",
                "school_level",
                "is_network_school",
                "implementation_start_year",
                "baseline_year",
            ]
        )
    roster["is_network_school"] = (
        pd.to_numeric(roster["is_network_school"], errors="coerce").fillna(0).astype(int)
    )
    for c in ("implementation_start_year", "baseline_year"):
        roster[c] = pd.to_numeric(roster[c], errors="coerce").astype(float)

    if _table_exists(con, "school_grade_span"):
        spans = con.execute(
            "SELECT CAST(org_code AS VARCHAR) AS org_code, CAST(school_year AS INTEGER) AS school_year, "
            "grade_low, grade_high FROM school_grade_span"
        ).df()
        spans["grade_low"] = spans["grade_low"].map(_grade_to_int).astype(float)
        spans["grade_high"] = spans["grade_high"].map(_grade_to_int).astype(float)
        spans = spans.drop_duplicates(["org_code", "school_year"])
    else:
        spans = pd.DataFrame(
            {
                "org_code": pd.Series(dtype=object),
                "school_year": pd.Series(dtype=int),
                "grade_low": pd.Series(dtype=float),
                "grade_high": pd.Series(dtype=float),
            }
        )

    demographics = None
    if _table_exists(con, "school_demographics"):
        demo = con.execute("SELECT * FROM school_demographics").df()
        if "org_code" in demo.columns:
            demo["org_code"] = demo["org_code"].astype(str)
            demographics = demo
    by_metric = {str(m): np.asarray(pos) for m, pos in obs.groupby("metric", sort=False).indices.items()}
    return _Inputs(obs=obs, roster=roster, spans=spans, demographics=demographics, by_metric=by_metric)


def _prepare_obs(obs: pd.DataFrame, catalog: Catalog) -> pd.DataFrame:
    obs = obs.copy()
    obs["org_code"] = obs["org_code"].astype(str)
    obs["subject"] = obs["subject"].astype(object).where(obs["subject"].notna(), "").astype(str)
    obs["grade"] = obs["grade"].astype(object).where(obs["grade"].notna(), "all").astype(str)
    obs["source"] = obs["source"].astype(str)
    obs["is_suppressed"] = (
        obs["is_suppressed"].astype(object).where(obs["is_suppressed"].notna(), False).astype(bool)
    )
    obs["mtype"] = obs["metric"].map(catalog.metric_types).astype(object)
    prop = (obs["mtype"] == "proportion").to_numpy()
    k = obs["numerator"].to_numpy(dtype=float, na_value=np.nan)
    n = obs["denominator"].to_numpy(dtype=float, na_value=np.nan)
    v = obs["value"].to_numpy(dtype=float, na_value=np.nan)
    sd = obs["std_dev"].to_numpy(dtype=float, na_value=np.nan)
    with np.errstate(invalid="ignore", divide="ignore"):
        v = np.where(np.isnan(v) & prop & np.isfinite(k) & (n > 0), 100 * k / n, v)
        k = np.where(np.isnan(k) & prop & np.isfinite(v) & np.isfinite(n), np.round(v * n / 100), k)
        n = np.where(n >= 0, n, np.nan)
        p = v / 100
        se_prop = 100 * np.sqrt(p * (1 - p) / n)
        se_mean = sd / np.sqrt(n)
        mt = obs["mtype"].to_numpy()
        se = np.where(
            prop,
            se_prop,
            np.where(
                mt == "median", stats.MEDIAN_SE_FACTOR * se_mean, np.where(mt == "mean", se_mean, np.nan)
            ),
        )
    se = np.where(np.isfinite(se), se, np.nan)
    obs["k"], obs["n"], obs["value"], obs["se"] = k, n, v, se
    obs["valid"] = np.isfinite(v) & ~obs["is_suppressed"].to_numpy()
    return obs.drop(columns=["numerator", "denominator", "std_dev"])


# =================================================================================================== pooling


def _pool(df: pd.DataFrame, keys: list[str], *, gap: bool = False) -> pd.DataFrame:
    """Combine the rows of each group (the years of a baseline window, or the schools of the network).

    Proportions with counts: 100 * sum(k) / sum(n); other values: n-weighted mean when every n is known, else the
    plain mean. SE: recomputed from a pooled proportion, else sqrt(sum((n se)^2)) / sum(n) (one row: its own SE).
    Gap references (``ref``) and complement values (``comp``) are pooled the same way, weighted by ``ref_w`` /
    ``comp_w``. Returns one row per group with ``cnt`` (valid rows), ``rows`` and ``supp`` (suppressed rows) so
    that a missing value can be told from a suppressed one. Vectorised with numpy.bincount.
    """
    if df.empty:
        out = df[keys].iloc[0:0].reset_index(drop=True)
        for c in (
            "rows",
            "supp",
            "cnt",
            "value",
            "k",
            "n",
            "se",
            "ref",
            "ref_n",
            "ref_se",
            "comp",
            "comp_n",
            "comp_se",
        ):
            out[c] = pd.Series(dtype=float)
        out["ref_alt"] = pd.Series(dtype=bool)
        out["ref_all"] = pd.Series(dtype=bool)
        return out
    codes = df.groupby(keys, sort=False, dropna=False).ngroup().to_numpy()
    n_groups = int(codes.max()) + 1
    _, first = np.unique(codes, return_index=True)
    out = df[keys].iloc[first].reset_index(drop=True)

    def f(col: str) -> np.ndarray:
        if col not in df.columns:
            return np.full(len(df), np.nan)
        return pd.to_numeric(df[col], errors="coerce").to_numpy(dtype=float, na_value=np.nan)

    def bsum(x: np.ndarray, mask: np.ndarray) -> np.ndarray:
        return np.bincount(codes[mask], weights=np.nan_to_num(x[mask]), minlength=n_groups)

    def bcount(mask: np.ndarray) -> np.ndarray:
        return np.bincount(codes[mask], minlength=n_groups).astype(float)

    everything = np.ones(len(df), dtype=bool)
    out["rows"] = bcount(everything)
    out["supp"] = bcount(df["is_suppressed"].to_numpy(dtype=bool))
    val = f("value")
    valid = df["valid"].to_numpy(dtype=bool) & np.isfinite(val)
    ref = f("ref")
    if gap:
        valid &= np.isfinite(ref)
    n, k, se = f("n"), f("k"), f("se")
    prop_rows = (df["mtype"] == "proportion").to_numpy() if "mtype" in df.columns else np.zeros(len(df), bool)
    cnt = bcount(valid)
    n_cnt = bcount(valid & np.isfinite(n))
    k_cnt = bcount(valid & np.isfinite(k))
    se_cnt = bcount(valid & np.isfinite(se))
    n_sum = bsum(n, valid)
    k_sum = bsum(k, valid)
    nv_sum = bsum(n * val, valid)
    v_sum = bsum(val, valid)
    nse2_sum = bsum((n * se) ** 2, valid)
    se_sum = bsum(se, valid)
    prop = bcount(valid & prop_rows) > 0
    n_all = (n_cnt == cnt) & (cnt > 0)
    k_all = (k_cnt == cnt) & (cnt > 0)
    with np.errstate(invalid="ignore", divide="ignore"):
        # one row: its value as published (a count rebuilt from a rounded DESE percent must not alter it)
        value = np.where(
            cnt == 1,
            v_sum,
            np.where(
                prop & n_all & k_all & (n_sum > 0),
                100 * k_sum / n_sum,
                np.where(n_all & (n_sum > 0), nv_sum / n_sum, v_sum / cnt),
            ),
        )
        value = np.where(cnt > 0, value, np.nan)
        p = value / 100
        pooled_se = np.where(
            cnt == 1,
            np.where(se_cnt == 1, se_sum, np.nan),
            np.where(n_all & (se_cnt == cnt) & (n_sum > 0), np.sqrt(nse2_sum) / n_sum, np.nan),
        )
        pooled_se = np.where(
            prop & n_all & (n_sum > 0) & (cnt > 1), 100 * np.sqrt(p * (1 - p) / n_sum), pooled_se
        )
    out["cnt"] = cnt
    out["value"] = value
    out["k"] = np.where(k_all, k_sum, np.nan)
    out["n"] = np.where(n_all, n_sum, np.nan)
    out["se"] = np.where(cnt > 0, pooled_se, np.nan)
    for side in ("ref", "comp"):
        x = f(side)
        w = f(f"{side}_w") if f"{side}_w" in df.columns else n
        xn, xse = f(f"{side}_n"), f(f"{side}_se")
        known = valid & np.isfinite(x)
        c_ = bcount(known)
        wall = (bcount(known & np.isfinite(w)) == c_) & (c_ > 0)
        ws = bsum(w, known)
        with np.errstate(invalid="ignore", divide="ignore"):
            out[side] = np.where(
                wall & (ws > 0), bsum(w * x, known) / ws, np.where(c_ > 0, bsum(x, known) / c_, np.nan)
            )
            sec = bcount(known & np.isfinite(xse))
            out[f"{side}_se"] = np.where(
                c_ == 1,
                np.where(sec == 1, bsum(xse, known), np.nan),
                np.where(wall & (sec == c_) & (ws > 0), np.sqrt(bsum((w * xse) ** 2, known)) / ws, np.nan),
            )
        out[f"{side}_n"] = np.where(
            (bcount(known & np.isfinite(xn)) == c_) & (c_ > 0), bsum(xn, known), np.nan
        )
    for flag in ("ref_alt", "ref_all"):
        out[flag] = (bcount(valid & df[flag].to_numpy(dtype=bool)) > 0) if flag in df.columns else False
    return out


# ============================================================================================= references


def _attach_references(obs_t: pd.DataFrame, obs: pd.DataFrame, target: Target) -> pd.DataFrame:
    """Add the gap reference (state all-students value, or the complement's value) to every row, and for state gaps
    the complement's value as context."""
    complements = subgroup_complements()
    df = obs_t.copy()
    ref_cols = ["value", "n", "se", "k"]
    same = obs[obs["metric"].isin(target.metrics) & obs["valid"]]
    if target.reference == "state":
        st = same[(same["org_level"] == "state") & (same["subgroup"] == "all")]
        keys = ["school_year", "metric", "subject", "grade", "source"]
        st1 = st.drop_duplicates(keys)[keys + ref_cols].rename(columns={c: f"ref_{c}" for c in ref_cols})
        df = df.merge(st1, on=keys, how="left")
        # fallback: a state row from another source (student data rarely has state rows)
        keys2 = ["school_year", "metric", "subject", "grade"]
        st2 = (
            st.assign(_r=st["source"].map({s: i for i, s in enumerate(target.sources)}).fillna(99))
            .sort_values("_r")
            .drop_duplicates(keys2)[keys2 + ref_cols]
            .rename(columns={c: f"alt_{c}" for c in ref_cols})
        )
        df = df.merge(st2, on=keys2, how="left")
        miss = df["ref_value"].isna() & df["alt_value"].notna()
        for c in ref_cols:
            df[f"ref_{c}"] = df[f"ref_{c}"].where(~miss, df[f"alt_{c}"])
        df["ref_alt"] = miss.to_numpy()
        df["ref_all"] = False
        df = df.drop(columns=[f"alt_{c}" for c in ref_cols])
        df["ref_w"] = df["n"]  # state value pooled with the subgroup's weights
    else:
        keys = ["org_code", "org_level", "school_year", "metric", "subject", "grade", "source"]
        cm = same[keys + ["subgroup"] + ref_cols]
        df["_comp"] = df["subgroup"].map(complements).astype(object)
        c1 = cm.rename(columns={"subgroup": "_comp", **{c: f"ref_{c}" for c in ref_cols}}).drop_duplicates(
            keys + ["_comp"]
        )
        df = df.merge(c1, on=keys + ["_comp"], how="left")
        al = (
            cm[cm["subgroup"] == "all"]
            .drop(columns="subgroup")
            .rename(columns={c: f"alt_{c}" for c in ref_cols})
        )
        df = df.merge(al.drop_duplicates(keys), on=keys, how="left")
        miss = df["ref_value"].isna() & df["alt_value"].notna()
        for c in ref_cols:
            df[f"ref_{c}"] = df[f"ref_{c}"].where(~miss, df[f"alt_{c}"])
        df["ref_all"] = miss.to_numpy()
        df["ref_alt"] = False
        df = df.drop(columns=[f"alt_{c}" for c in ref_cols] + ["_comp"])
        df["ref_w"] = df["ref_n"]
    df = df.rename(columns={"ref_value": "ref"})
    df = df.drop(columns=["ref_k"])
    # complement value for context (state gaps: "also report gap_to_complement change")
    if target.reference == "state":
        keys = ["org_code", "org_level", "school_year", "metric", "subject", "grade", "source"]
        cm = same[keys + ["subgroup", "value", "n"]].rename(
            columns={"subgroup": "_comp", "value": "comp", "n": "comp_n"}
        )
        df["_comp"] = df["subgroup"].map(complements).astype(object)
        df = df.merge(cm.drop_duplicates(keys + ["_comp"]), on=keys + ["_comp"], how="left").drop(
            columns="_comp"
        )
        df["comp_w"] = df["comp_n"]
    return df


# ========================================================================================= candidate table


def _candidate_pairs(target: Target) -> list[tuple[str, str, int]]:
    """(baseline metric, current metric, metric rank): same-metric pairs first, then mixed pairs."""
    out = [(m, m, i) for i, m in enumerate(target.metrics)]
    r = len(target.metrics)
    for mb in target.metrics:
        for mc in target.metrics:
            if mb != mc:
                out.append((mb, mc, r))
                r += 1
    return out


def _grade_rank(target: Target, grades: pd.Series) -> np.ndarray:
    if target.unit == "grade":
        return np.zeros(len(grades))
    if target.any_grade:
        g = grades.astype(str)
        return np.where(g == "all", 0, 1 + g.rank(method="dense").to_numpy()).astype(float)
    order = {g: i for i, g in enumerate(target.grades)}
    return grades.map(order).fillna(999).to_numpy(dtype=float)


def _side(df: pd.DataFrame, prefix: str) -> pd.DataFrame:
    cols = {c: f"{prefix}{c}" for c in df.columns if c not in BASE}
    return df.rename(columns=cols)


def _candidates(
    obs_t: pd.DataFrame, pairs: pd.DataFrame, target: Target, metric_types: dict[str, str]
) -> pd.DataFrame:
    """Per year pair (pair_id, by, w, cy) and per school/state row, every candidate (metric_b, metric_c, source,
    grade) with its pooled baseline (``b_*``) and current (``c_*``) sides."""
    gap = target.rule == "gap_closure"
    years = obs_t["school_year"].to_numpy()
    frames = []
    combos = _candidate_pairs(target)
    for pid, by, w, cy in pairs[["pair_id", "by", "w", "cy"]].itertuples(index=False):
        win = obs_t[(years >= by - w + 1) & (years <= by)]
        cur = obs_t[years == cy]
        B = _side(_pool(win, BASE, gap=gap), "b_")
        C = _side(_pool(cur, BASE, gap=gap), "c_")
        parts = []
        for mb, mc, mrank in combos:
            if mb == mc:
                part = B[B["metric"] == mb].merge(C[C["metric"] == mc], on=BASE, how="outer")
                part["metric_b"] = mb
                part["metric_c"] = mc
            else:
                bb = B[(B["metric"] == mb) & (B["b_cnt"] > 0)].drop(columns="metric")
                cc = C[(C["metric"] == mc) & (C["c_cnt"] > 0)].drop(columns="metric")
                keys = [k for k in BASE if k != "metric"]
                part = bb.merge(cc, on=keys, how="inner")
                part["metric_b"] = mb
                part["metric_c"] = mc
                part["metric"] = mc
            part["mrank"] = mrank
            parts.append(part)
        cand = (
            pd.concat([p for p in parts if len(p)], ignore_index=True) if any(len(p) for p in parts) else None
        )
        if cand is None:
            continue
        cand["pair_id"] = pid
        cand["by"] = by
        cand["w"] = w
        cand["cy"] = cy
        frames.append(cand)
    if not frames:
        return pd.DataFrame()
    cand = pd.concat(frames, ignore_index=True)
    for c in ("b_cnt", "c_cnt", "b_rows", "c_rows", "b_supp", "c_supp"):
        cand[c] = cand[c].fillna(0.0)
    for flag in ("ref_alt", "ref_all"):  # a reference flag on either side marks the comparison
        cand[flag] = cand[f"b_{flag}"].astype(object).fillna(False).astype(bool) | cand[f"c_{flag}"].astype(
            object
        ).fillna(False).astype(bool)
        cand = cand.drop(columns=[f"b_{flag}", f"c_{flag}"])
    src_rank = (
        cand["source"].map({s: i for i, s in enumerate(target.sources)}).fillna(99).to_numpy(dtype=float)
    )
    cand["rank"] = (
        cand["mrank"].to_numpy(dtype=float) * 1e6 + src_rank * 1e3 + _grade_rank(target, cand["grade"])
    )
    cand["mtype"] = cand["metric_c"].map(metric_types).astype(object)
    return cand


def _in_keys(left: pd.DataFrame, right: pd.DataFrame, keys: list[str]) -> np.ndarray:
    """For each row of ``left``: does ``right`` have a row with the same keys?"""
    if left.empty or right.empty:
        return np.zeros(len(left), dtype=bool)
    lk = _key_frame(left, keys).reset_index(drop=True)
    rk = _key_frame(right, keys).drop_duplicates()
    rk["_hit"] = True
    return lk.merge(rk, on=keys, how="left")["_hit"].fillna(False).to_numpy(dtype=bool)


def _key_frame(df: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    """Join keys normalised for merging: pair_id as float, everything else as text ('' for missing)."""
    out = pd.DataFrame(index=df.index)
    for k in keys:
        if k == "pair_id":
            out[k] = pd.to_numeric(df[k], errors="coerce").astype(float)
        else:
            out[k] = df[k].astype(object).where(df[k].notna(), "").astype(str)
    return out


# ========================================================================================== grade spans


def _span_lookup(spans: pd.DataFrame, org: pd.Series, year: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    key = pd.DataFrame(
        {"org_code": org.astype(str).to_numpy(), "school_year": pd.to_numeric(year, errors="coerce")}
    )
    key["school_year"] = key["school_year"].astype(float)
    sp = spans.copy()
    sp["school_year"] = sp["school_year"].astype(float)
    m = key.merge(sp, on=["org_code", "school_year"], how="left")
    return m["grade_low"].to_numpy(dtype=float), m["grade_high"].to_numpy(dtype=float)


def _test_transition_by_year(
    df: pd.DataFrame, target: Target, catalog: Catalog, spans: pd.DataFrame
) -> np.ndarray:
    """Year rule: the baseline is before and the current year at/after the first Next-Gen year of the grade band."""
    if target.domain != "assessment" or df.empty:
        return np.zeros(len(df), dtype=bool)
    comp = catalog.comparability
    b_first = (df["by"] - df["w"] + 1).to_numpy(dtype=float)
    cy = df["cy"].to_numpy(dtype=float)
    out = np.zeros(len(df), dtype=bool)
    grade = df["grade"].astype(str).to_numpy()
    subjects = df["subject"].astype(str).to_numpy()
    lo_b, hi_b = _span_lookup(spans, df["org_code"], df["by"])
    lo_c, hi_c = _span_lookup(spans, df["org_code"], df["cy"])
    span_known = np.isfinite(hi_b) | np.isfinite(hi_c)
    serves10 = (np.nan_to_num(hi_b, nan=-9) >= 10) | (np.nan_to_num(hi_c, nan=-9) >= 10)
    serves38 = ~((np.nan_to_num(lo_b, nan=99) > 8) & (np.nan_to_num(lo_c, nan=99) > 8))
    for subj in np.unique(subjects):
        f38 = comp.first_year(subj or None, "grades_03_08")
        f10 = comp.first_year(subj or None, "grade_10")
        sel = subjects == subj
        span38 = (b_first < f38) & (f38 <= cy) if f38 else np.zeros(len(df), dtype=bool)
        span10 = (b_first < f10) & (f10 <= cy) if f10 else np.zeros(len(df), dtype=bool)
        is10 = grade == "10"
        is38 = np.isin(grade, ["03", "04", "05", "06", "07", "08", "03-08"])
        is_all = ~(is10 | is38)
        hit = (
            (is10 & span10)
            | (is38 & span38)
            | (is_all & ((span38 & (serves38 | ~span_known)) | (span10 & (serves10 | ~span_known))))
        )
        out = np.where(sel, hit, out)
    return out.astype(bool)


# ========================================================================================== unit targets


def _aggregate_units(cand: pd.DataFrame, target: Target) -> pd.DataFrame:
    """Growth: average the per-grade comparison over grades with both years and n >= min_n."""
    if cand.empty:
        return cand
    keys = [
        "pair_id",
        "by",
        "w",
        "cy",
        "org_code",
        "org_level",
        "subgroup",
        "subject",
        "metric_b",
        "metric_c",
        "source",
        "mrank",
    ]
    c = cand.copy()
    both = (c["b_cnt"] > 0) & (c["c_cnt"] > 0)
    bn, cn = c["b_n"], c["c_n"]
    n_ok = (bn.isna() | (bn >= target.min_n)) & (cn.isna() | (cn >= target.min_n))
    c["_ok"] = both & n_ok
    c["_both"] = both
    grp = c.groupby(keys, sort=False, dropna=False)
    c["_has_ok"] = grp["_ok"].transform("max").astype(bool)
    c["_use"] = np.where(c["_has_ok"], c["_ok"], c["_both"])
    u = c[c["_use"]].copy()
    u["_bse2"] = u["b_se"] ** 2
    u["_cse2"] = u["c_se"] ** 2
    u["_bse_known"] = u["b_se"].notna().astype(float)
    u["_cse_known"] = u["c_se"].notna().astype(float)
    u["_bn_known"] = u["b_n"].notna().astype(float)
    u["_cn_known"] = u["c_n"].notna().astype(float)
    u["_tt"] = u["_tt"].astype(float)
    ua = u.groupby(keys, sort=False, dropna=False).agg(
        n_units=("_ok", "sum"),
        g_used=("grade", lambda s: ",".join(sorted(s))),
        units_used=("grade", "size"),
        b_value=("b_value", "mean"),
        c_value=("c_value", "mean"),
        b_se2=("_bse2", "sum"),
        c_se2=("_cse2", "sum"),
        b_sek=("_bse_known", "sum"),
        c_sek=("_cse_known", "sum"),
        b_n=("b_n", "sum"),
        c_n=("c_n", "sum"),
        b_nk=("_bn_known", "sum"),
        c_nk=("_cn_known", "sum"),
        _tt=("_tt", "max"),
        b_cnt=("b_cnt", "min"),
        c_cnt=("c_cnt", "min"),
    )
    g = ua["units_used"].to_numpy(dtype=float)
    ua["b_se"] = np.where(ua["b_sek"] == g, np.sqrt(ua["b_se2"]) / g, np.nan)
    ua["c_se"] = np.where(ua["c_sek"] == g, np.sqrt(ua["c_se2"]) / g, np.nan)
    ua["b_n"] = np.where(ua["b_nk"] == g, ua["b_n"], np.nan)
    ua["c_n"] = np.where(ua["c_nk"] == g, ua["c_n"], np.nan)
    ua = ua.drop(columns=["b_se2", "c_se2", "b_sek", "c_sek", "b_nk", "c_nk"])
    summary = grp.agg(
        b_rows=("b_rows", "sum"),
        c_rows=("c_rows", "sum"),
        b_supp=("b_supp", "sum"),
        c_supp=("c_supp", "sum"),
        b_any=("b_cnt", "max"),
        c_any=("c_cnt", "max"),
        n_both=("_both", "sum"),
        rank=("rank", "min"),
        mtype=("mtype", "first"),
    )
    out = summary.join(ua, how="left").reset_index()
    out["n_units"] = out["n_units"].fillna(0.0)
    out["grade"] = out["g_used"].astype(object)
    out["_tt"] = out["_tt"].fillna(0.0) > 0
    # b_cnt / c_cnt: years with a value on each side (over the grades used; any grade when none is usable)
    out["b_cnt"] = out["b_cnt"].where(out["b_cnt"].notna(), out["b_any"]).fillna(0.0)
    out["c_cnt"] = out["c_cnt"].where(out["c_cnt"].notna(), out["c_any"]).fillna(0.0)
    for col in ("b_k", "c_k", "b_ref", "c_ref", "b_ref_se", "c_ref_se", "b_ref_n", "c_ref_n"):
        out[col] = np.nan
    return out.drop(columns=["g_used", "units_used", "b_any", "c_any"])


# ================================================================================================= years


@dataclass
class _Years:
    current: int | None
    run_baseline: int | None


def _org_table(inputs: _Inputs, obs_t: pd.DataFrame) -> pd.DataFrame:
    orgs = pd.DataFrame({"org_code": pd.unique(obs_t.loc[obs_t["org_level"] == "school", "org_code"])})
    orgs = orgs.merge(inputs.roster, on="org_code", how="outer")
    orgs["is_network_school"] = orgs["is_network_school"].fillna(0).astype(int)
    return orgs


def _run_years(
    target: Target,
    obs_t: pd.DataFrame,
    roster: pd.DataFrame,
    baseline_year: int | None,
    current_year: int | None,
) -> _Years:
    valid = obs_t[(obs_t["org_level"] == "school") & obs_t["valid"]]
    cy = (
        current_year
        if current_year is not None
        else (int(valid["school_year"].max()) if len(valid) else None)
    )
    if baseline_year is not None:
        rb = baseline_year
    else:
        net = roster[roster["is_network_school"] == 1]
        b = (
            net["baseline_year"]
            .where(net["baseline_year"].notna(), net["implementation_start_year"] - 1)
            .dropna()
        )
        if len(b):
            counts = b.value_counts()
            rb = int(min(counts.index[counts == counts.max()]))
        elif len(valid):
            rb = int(valid["school_year"].min())
        else:
            rb = None
    return _Years(current=cy, run_baseline=rb)


# ============================================================================================ evaluation


def _status_and_flags(m: pd.DataFrame, target: Target, catalog: Catalog, spans: pd.DataFrame) -> pd.DataFrame:
    """Flags, status and reason for the selected comparisons (``m`` already has the rule outputs)."""
    comp = catalog.comparability
    n = len(m)
    zeros = np.zeros(n, dtype=bool)
    fl: dict[str, np.ndarray] = {}
    has_b = (m["b_cnt"] > 0).to_numpy()
    has_c = (m["c_cnt"] > 0).to_numpy()
    needs_b = target.needs_baseline
    # the comparison uses a baseline: always for change rules; for level_or_increase when the prior year exists
    uses_b = np.full(n, needs_b) | (has_b & (target.rule == "level_or_increase"))
    by = m["by"].to_numpy(dtype=float)
    w = m["w"].to_numpy(dtype=float)
    cy = m["cy"].to_numpy(dtype=float)
    b_first = by - w + 1
    mb = m["metric_b"].astype(object).to_numpy()
    mc = m["metric_c"].astype(object).to_numpy()
    legacy, nextgen = set(comp.legacy_assessment_metrics), set(comp.next_gen_assessment_metrics)
    pair_tt = np.array(
        [
            (a in legacy and b in nextgen) or (a in nextgen and b in legacy)
            for a, b in zip(mb, mc, strict=True)
        ],
        dtype=bool,
    ).reshape(n)
    fl["test_transition"] = uses_b & (pair_tt | m["_tt"].to_numpy(dtype=bool))
    fl["metric_changed"] = uses_b & has_b & has_c & pd.notna(mb) & pd.notna(mc) & (mb != mc)

    def in_years(years: tuple[int, ...]) -> np.ndarray:
        hit = zeros.copy()
        for y in years:
            hit |= (cy == y) | (uses_b & (b_first <= y) & (y <= by))
        return hit

    moved = (
        (m["by_requested"].to_numpy(dtype=float) != m["by"].to_numpy(dtype=float))
        if "by_requested" in m.columns else zeros
    )
    fl["no_2020_assessments"] = (
        (in_years(comp.no_assessment_years) | moved) if target.domain == "assessment" else zeros
    )
    fl["remote_2021"] = (
        in_years(comp.remote_years) if target.domain in ("attendance", "discipline") else zeros
    )
    inc = zeros.copy()
    for y in comp.income_definition_change_years:
        inc |= (b_first < y) & (y <= cy)
    fl["income_definition_change"] = uses_b & inc & m["subgroup"].isin(comp.income_subgroups).to_numpy()
    lo_b, hi_b = _span_lookup(spans, m["org_code"], m["by"])
    lo_c, hi_c = _span_lookup(spans, m["org_code"], m["cy"])
    known = np.isfinite(lo_b) & np.isfinite(hi_b) & np.isfinite(lo_c) & np.isfinite(hi_c)
    fl["grade_span_changed"] = uses_b & known & ((lo_b != lo_c) | (hi_b != hi_c))
    bn, cn = m["b_n"].to_numpy(dtype=float), m["c_n"].to_numpy(dtype=float)
    with np.errstate(invalid="ignore"):
        fl["n_changed_over_half"] = uses_b & (np.abs(cn - bn) > catalog.n_change_ratio * bn)
    meanlike = m["mtype"].isin(["mean", "median"]).to_numpy()
    fl["n_unknown"] = (has_c & np.isnan(cn)) | (uses_b & has_b & np.isnan(bn))
    bse, cse = m["b_se"].to_numpy(dtype=float), m["c_se"].to_numpy(dtype=float)
    fl["sd_unknown"] = (
        meanlike & ((has_c & np.isnan(cse)) | (uses_b & has_b & np.isnan(bse))) & ~fl["n_unknown"]
    )
    min_n = target.min_n
    with np.errstate(invalid="ignore"):
        nmin = np.where(uses_b, np.fmin(bn, cn), cn)
        fl["small_n"] = (nmin < catalog.small_n) & (nmin >= min_n)
    fl["baseline_zero"] = m["baseline_zero_flag"].to_numpy(dtype=bool)
    fl["no_baseline_gap"] = m["no_baseline_gap_flag"].to_numpy(dtype=bool)
    fl["gap_vs_all"] = m["ref_all"].to_numpy(dtype=bool) & has_c
    fl["state_value_other_source"] = m["ref_alt"].to_numpy(dtype=bool) & has_c
    b_supp = (m["b_supp"] > 0).to_numpy() & ~has_b
    c_supp = (m["c_supp"] > 0).to_numpy() & ~has_c
    fl["suppressed"] = c_supp | (needs_b & b_supp)
    fl["baseline_window_partial"] = uses_b & (w > 1) & has_b & (m["b_cnt"].to_numpy() < w)

    # ----- status, in order of precedence: not_yet_due > not_comparable > insufficient_data > rating
    reason = np.full(n, "", dtype=object)
    insufficient = zeros.copy()

    def mark(cond: np.ndarray, text) -> None:
        nonlocal insufficient
        new = cond & ~insufficient
        reason[new] = text if isinstance(text, str) else np.asarray(text, dtype=object)[new]
        insufficient |= cond

    cy_txt = np.array(["" if np.isnan(y) else str(int(y)) for y in cy], dtype=object)
    by_txt = np.array(
        [
            "" if np.isnan(b) else (str(int(b)) if a == b else f"{int(a)}-{int(b)}")
            for a, b in zip(b_first, by, strict=True)
        ],
        dtype=object,
    )
    no_rows = (m["b_rows"] == 0).to_numpy() & (m["c_rows"] == 0).to_numpy()
    mark(np.isnan(cy), "no value for this target in any year")
    mark(np.isnan(by) & needs_b, "no baseline year (roster has no implementation start or baseline year)")
    mark(no_rows, "no data for this school, subgroup and subject in the baseline or current year")
    mark(~has_c & c_supp, "current year " + cy_txt + ": value suppressed")
    mark(~has_c, "current year " + cy_txt + ": no value")
    if needs_b:
        mark(~has_b & b_supp, "baseline " + by_txt + ": value suppressed")
        mark(~has_b, "baseline " + by_txt + ": no value")
    if target.unit == "grade":
        mark(
            m["n_units"].to_numpy() < 1,
            f"no grade with a value in both years and at least {min_n} students in each",
        )
    if target.rule == "gap_closure":
        ref_missing = np.isnan(m["b_ref"].to_numpy(dtype=float)) | np.isnan(m["c_ref"].to_numpy(dtype=float))
        mark(
            ref_missing,
            "no state value to compare with"
            if target.reference == "state"
            else "no complement value to compare with",
        )
    with np.errstate(invalid="ignore"):
        small = (cn < min_n) | (needs_b & (bn < min_n))
        if target.reference == "complement":
            small |= (m["c_ref_n"].to_numpy(dtype=float) < min_n) | (
                m["b_ref_n"].to_numpy(dtype=float) < min_n
            )
    n_txt = np.array(
        [
            f"n below the minimum of {min_n} (baseline n={_fmt_n(a)}, current n={_fmt_n(b)})"
            for a, b in zip(bn, cn, strict=True)
        ],
        dtype=object,
    )
    mark(small, n_txt)
    prob = m["rule_problem"].astype(object).where(m["rule_problem"].notna(), "").to_numpy()
    mark(prob != "", prob)
    rating = m["rule_rating"].to_numpy(dtype=float)
    mark(np.isnan(rating), "the rule could not be applied to these values")

    iy = m["implementation_year"].to_numpy(dtype=float)
    not_due = np.isfinite(iy) & (iy < target.due_from_implementation_year)
    not_comp = zeros.copy()
    nc_reason = np.full(n, "", dtype=object)
    for f in target.not_comparable_on:
        if f not in fl:
            continue
        nc_reason[fl[f] & ~not_comp] = f"baseline and current year are not comparable ({f})"
        not_comp |= fl[f]

    status = np.full(n, None, dtype=object)
    labels = np.full(n, None, dtype=object)
    for lv in catalog.ratings.levels:
        status[rating == lv.rating] = lv.status
        labels[rating == lv.rating] = lv.label
    final_reason = np.where(insufficient, reason, "").astype(object)
    status = np.where(insufficient, "insufficient_data", status)
    status = np.where(not_comp, "not_comparable", status)
    final_reason = np.where(not_comp, nc_reason, final_reason)
    iy_txt = np.array(
        [
            f"implementation year {int(a)} is before year {target.due_from_implementation_year}, when "
            "this target is due"
            if np.isfinite(a)
            else ""
            for a in iy
        ],
        dtype=object,
    )
    status = np.where(not_due, "not_yet_due", status)
    final_reason = np.where(not_due, iy_txt, final_reason)
    rated = ~(insufficient | not_comp | not_due)
    rating = np.where(rated, rating, np.nan)
    labels = np.where(rated, labels, None)
    met_by = m["met_by"].astype(object).where(m["met_by"].notna(), "").to_numpy()
    final_reason = np.where(rated & (met_by != ""), "met by " + met_by.astype(str), final_reason)

    dist = m["is_distinguishable"].to_numpy(dtype=float)
    fl["not_distinguishable_from_noise"] = (status == "met") & (dist == 0)

    flag_str = np.full(n, "", dtype=object)
    for f in FLAG_ORDER:
        arr = fl.get(f)
        if arr is None:
            continue
        flag_str = np.where(arr, np.where(flag_str != "", flag_str + "," + f, f), flag_str)
    return pd.DataFrame(
        {
            "rating": rating,
            "rating_label": labels,
            "status": status,
            "status_reason": final_reason,
            "flags": flag_str,
        },
        index=m.index,
    )


def _fmt_n(x: float) -> str:
    return "unknown" if np.isnan(x) else str(int(x))


def _target_obs(inputs: _Inputs, target: Target) -> pd.DataFrame:
    obs = inputs.obs
    idx = [inputs.by_metric[m] for m in target.metrics if m in inputs.by_metric]
    obs = obs.iloc[np.sort(np.concatenate(idx))] if idx else obs.iloc[0:0]
    sel = obs["source"].isin(target.sources)
    if not target.any_grade:
        sel &= obs["grade"].isin(target.grades)
    if target.subjects is None:
        sel &= obs["subject"] == ""
    elif not target.any_subject:
        sel &= obs["subject"].isin(target.subjects)
    obs_t = obs[sel & obs["subgroup"].isin(target.subgroups)]
    if target.rule == "gap_closure":
        obs_t = _attach_references(obs_t, obs, target)
    return obs_t


def _school_years(
    target: Target, orgs: pd.DataFrame, years: _Years, baseline_year: int | None, baseline_window: int,
    skip_years: tuple[int, ...] = (),
) -> pd.DataFrame:
    orgs = orgs.copy()
    orgs["cy"] = float(years.current) if years.current is not None else np.nan
    own_b = orgs["baseline_year"].where(orgs["baseline_year"].notna(), orgs["implementation_start_year"] - 1)
    if target.compare_to == "prior_year":
        orgs["by"] = orgs["cy"] - 1
        orgs["w"] = 1.0
    else:
        if baseline_year is not None:
            orgs["by"] = float(baseline_year)
        else:
            run_b = np.nan if years.run_baseline is None else float(years.run_baseline)
            orgs["by"] = own_b.where(own_b.notna(), run_b).astype(float)
        orgs["w"] = float(baseline_window)
    # A baseline in a year without tests (spring 2020) falls back to the latest earlier year; the
    # no_2020_assessments flag records it (by_requested keeps the year asked for).
    orgs["by_requested"] = orgs["by"]
    for _ in range(len(skip_years)):
        orgs["by"] = orgs["by"].where(~orgs["by"].isin(skip_years), orgs["by"] - 1)
    orgs["implementation_year"] = orgs["cy"] - orgs["implementation_start_year"] + 1
    return orgs


def _evaluate_target(
    target: Target,
    catalog: Catalog,
    inputs: _Inputs,
    baseline_year: int | None,
    current_year: int | None,
    baseline_window: int,
    peers_k: int,
):
    obs_t = _target_obs(inputs, target)
    years = _run_years(target, obs_t, inputs.roster, baseline_year, current_year)
    skip = catalog.comparability.no_assessment_years if target.domain == "assessment" else ()
    orgs = _school_years(target, _org_table(inputs, obs_t), years, baseline_year, baseline_window, skip)
    pairs = (
        orgs[["by", "w", "cy"]]
        .dropna()
        .drop_duplicates()
        .sort_values(["by", "w", "cy"])
        .reset_index(drop=True)
    )
    pairs["pair_id"] = np.arange(len(pairs), dtype=float)
    orgs = orgs.merge(pairs, on=["by", "w", "cy"], how="left")

    cand = _candidates(obs_t, pairs, target, catalog.metric_types) if len(pairs) else pd.DataFrame()
    units = None
    if len(cand):
        cand["_tt"] = _test_transition_by_year(cand, target, catalog, inputs.spans)
        if target.unit == "grade":
            units = cand
            cand = _aggregate_units(cand, target)
        else:
            cand["n_units"] = np.where((cand["b_cnt"] > 0) & (cand["c_cnt"] > 0), 1.0, 0.0)
        cand = cand.reset_index(drop=True)
        if target.unit == "grade":
            ok = cand["n_units"] > 0
        elif target.needs_baseline:
            ok = (cand["b_cnt"] > 0) & (cand["c_cnt"] > 0)
        else:
            ok = cand["c_cnt"] > 0
        cand["_ok"] = ok.to_numpy()
        cand = pd.concat([cand, measure(cand, target)], axis=1)

    # ---- main rows: each school's own pair; the best valid candidate, else the best candidate with any rows
    expected = _expected_rows(target, orgs, obs_t, inputs.spans)
    if len(cand):
        own = cand[cand["org_level"] == "school"].merge(
            orgs[["org_code", "pair_id"]], on=["org_code", "pair_id"]
        )
        chosen = own[own["_ok"]].sort_values("rank", kind="stable").drop_duplicates(REQ)
        rest = own[own["metric_b"] == own["metric_c"]]
        rest = rest[~_in_keys(rest, chosen, REQ)]
        fallback = rest.sort_values("rank", kind="stable").drop_duplicates(REQ)
        main = pd.concat([chosen, fallback], ignore_index=True)
    else:
        main = pd.DataFrame(columns=REQ)
    if len(expected):
        missing = expected[~_in_keys(expected, main, REQ)]
        main = pd.concat([main, missing], ignore_index=True)
    main = main.drop(columns=[c for c in ("by", "w", "cy", "pair_id") if c in main.columns])
    main = main.merge(
        orgs[
            [
                "org_code",
                "by",
                "by_requested",
                "w",
                "cy",
                "pair_id",
                "implementation_year",
                "is_network_school",
                "school_name",
                "school_level",
            ]
        ],
        on="org_code",
        how="left",
    )
    main = _fill_defaults(main, catalog).reset_index(drop=True)

    # ---- rule, flags, status
    if target.rule == "level_or_increase":
        with np.errstate(invalid="ignore"):
            main["b_ok"] = ((main["b_cnt"] > 0) & ~(main["b_n"] < target.min_n)).to_numpy()
    rule_out = apply_rule(main, target, catalog)
    main = pd.concat(
        [main.drop(columns=[c for c in rule_out.columns if c in main.columns]), rule_out], axis=1
    )
    main = pd.concat([main, _status_and_flags(main, target, catalog, inputs.spans)], axis=1)
    main = _add_context(main, cand, target, inputs, peers_k)
    return _result_frame(main, target), main[main["is_network_school"] == 1], units


def _expected_rows(
    target: Target, orgs: pd.DataFrame, obs_t: pd.DataFrame, spans: pd.DataFrame
) -> pd.DataFrame:
    """Rows every network school must get (never a silent blank): subgroups x subjects, unless the school's grade
    span shows the target does not apply (e.g. MassCore at an elementary school) and it has no data for it."""
    net = orgs[orgs["is_network_school"] == 1][["org_code", "cy"]]
    if net.empty:
        return pd.DataFrame(columns=REQ)
    if target.applies_to_grades is not None and len(spans):
        lo, hi = target.applies_to_grades
        sp = spans.sort_values("school_year")
        cyv = net["cy"].iloc[0]
        cur = sp[sp["school_year"] == cyv] if np.isfinite(cyv) else sp.iloc[0:0]
        latest = sp.drop_duplicates("org_code", keep="last")
        span = pd.concat([cur, latest]).drop_duplicates("org_code", keep="first")
        net = net.merge(span[["org_code", "grade_low", "grade_high"]], on="org_code", how="left")
        applies = (
            net["grade_low"].isna()
            | net["grade_high"].isna()
            | ((net["grade_low"] <= hi) & (net["grade_high"] >= lo))
        )
        has_data = net["org_code"].isin(obs_t["org_code"])
        net = net[(applies | has_data).to_numpy()]
    subjects = [""] if target.subjects is None or target.any_subject else list(target.subjects)
    grid = pd.MultiIndex.from_product(
        [list(pd.unique(net["org_code"])), list(target.subgroups), subjects], names=REQ
    ).to_frame(index=False)
    if target.any_subject and len(grid):
        # 'any' subject: a school's own subjects replace the blank row when it has data
        have = set(map(tuple, obs_t[["org_code", "subgroup"]].drop_duplicates().to_numpy().tolist()))
        grid = grid[[(o, s) not in have for o, s in zip(grid["org_code"], grid["subgroup"], strict=True)]]
    return grid


def _fill_defaults(main: pd.DataFrame, catalog: Catalog) -> pd.DataFrame:
    main = main.copy()
    num_cols = (
        "b_value",
        "c_value",
        "b_k",
        "c_k",
        "b_n",
        "c_n",
        "b_se",
        "c_se",
        "b_ref",
        "c_ref",
        "b_ref_se",
        "c_ref_se",
        "b_ref_n",
        "c_ref_n",
        "b_comp",
        "c_comp",
        "n_units",
        "b_cnt",
        "c_cnt",
        "b_rows",
        "c_rows",
        "b_supp",
        "c_supp",
        "rank",
        "by",
        "w",
        "cy",
        "pair_id",
        "implementation_year",
    )
    for c in num_cols:
        if c not in main.columns:
            main[c] = np.nan
        main[c] = pd.to_numeric(main[c], errors="coerce").astype(float)
    for c in ("n_units", "b_cnt", "c_cnt", "b_rows", "c_rows", "b_supp", "c_supp"):
        main[c] = main[c].fillna(0.0)
    for c in ("metric_b", "metric_c", "source", "grade", "mtype", "org_level", "school_name", "school_level"):
        if c not in main.columns:
            main[c] = None
        main[c] = main[c].astype(object).where(main[c].notna(), None)
    main["org_level"] = main["org_level"].where(main["org_level"].notna(), "school")
    for c in ("_tt", "ref_alt", "ref_all", "_ok"):
        if c not in main.columns:
            main[c] = False
        main[c] = main[c].astype(object).where(main[c].notna(), False).astype(bool)
    main["mtype"] = main["mtype"].where(main["mtype"].notna(), main["metric_c"].map(catalog.metric_types))
    main["is_network_school"] = (
        pd.to_numeric(main["is_network_school"], errors="coerce").fillna(0).astype(int)
    )
    return main


# ================================================================================================= context


def _ctx_keys(target: Target) -> list[str]:
    keys = ["pair_id", "subgroup", "subject", "metric_b", "metric_c", "source"]
    if target.unit != "grade":
        keys.append("grade")
    return keys


def _add_context(
    main: pd.DataFrame, cand: pd.DataFrame, target: Target, inputs: _Inputs, k: int
) -> pd.DataFrame:
    main = main.copy()
    for c in (
        "state_change_rel_pct",
        "state_change_abs",
        "state_current_value",
        "peer_change_rel_pct",
        "peer_change_abs",
        "peer_current_value",
    ):
        main[c] = np.nan
    main["state_change_source"] = None
    main["n_peers"] = 0
    if cand is None or cand.empty or main.empty:
        return main
    keys = _ctx_keys(target)
    vals = ["change_rel_pct", "change_abs", "measure_c"]
    mk = _key_frame(main, keys)
    # -- the state row (same metric, subgroup, subject, grade, source and years)
    st = cand[cand["org_level"] == "state"].sort_values("rank", kind="stable")
    st = pd.concat([_key_frame(st, keys), st[vals]], axis=1).drop_duplicates(keys)
    st = st.rename(columns={"change_rel_pct": "_s_rel", "change_abs": "_s_abs", "measure_c": "_s_cur"})
    j = mk.merge(st, on=keys, how="left")
    # -- else the median over all schools
    sc = cand[cand["org_level"] == "school"]
    sc = sc[sc["_ok"] & _n_ok(sc, target)]
    med = (
        pd.concat([_key_frame(sc, keys), sc[vals]], axis=1)
        .groupby(keys, dropna=False)
        .agg(
            _m_rel=("change_rel_pct", "median"),
            _m_abs=("change_abs", "median"),
            _m_cur=("measure_c", "median"),
        )
        .reset_index()
    )
    j = j.merge(med, on=keys, how="left")
    has_state = (j["_s_cur"].notna() | j["_s_abs"].notna()).to_numpy()
    has_med = (j["_m_cur"].notna() | j["_m_abs"].notna()).to_numpy()
    main["state_change_rel_pct"] = np.where(has_state, j["_s_rel"], j["_m_rel"])
    main["state_change_abs"] = np.where(has_state, j["_s_abs"], j["_m_abs"])
    main["state_current_value"] = np.where(has_state, j["_s_cur"], j["_m_cur"])
    main["state_change_source"] = np.where(
        has_state, "dese_state_row", np.where(has_med, "median_of_schools", None)
    ).astype(object)
    main.loc[~(has_state | has_med), "state_change_source"] = None
    # -- peers: the k most similar schools (same school level, nearest baseline measure, demographics)
    pool = sc.merge(inputs.roster[["org_code", "school_level"]], on="org_code", how="left")
    peers = _peers(main, mk, pool, keys, _demographics_matrix(inputs.demographics), k)
    main["peer_change_rel_pct"] = peers["rel"]
    main["peer_change_abs"] = peers["abs"]
    main["peer_current_value"] = peers["cur"]
    main["n_peers"] = peers["n"]
    return main


def _n_ok(df: pd.DataFrame, target: Target) -> pd.Series:
    """Usable as context: n at or above the target's minimum where known."""
    ok = df["c_n"].isna() | (df["c_n"] >= target.min_n)
    if target.needs_baseline and target.unit != "grade":
        ok &= df["b_n"].isna() | (df["b_n"] >= target.min_n)
    return ok


def _demographics_matrix(demo: pd.DataFrame | None) -> pd.DataFrame | None:
    """Standardised numeric demographics, one row per school (its latest year when the table has several)."""
    if demo is None or demo.empty:
        return None
    d = demo.copy()
    if "school_year" in d.columns:
        d = d.sort_values("school_year").drop_duplicates("org_code", keep="last")
    else:
        d = d.drop_duplicates("org_code", keep="last")
    num = [
        c for c in d.columns if c not in ("org_code", "school_year") and pd.api.types.is_numeric_dtype(d[c])
    ]
    if not num:
        return None
    x = d.set_index("org_code")[num].astype(float)
    sd = x.std(ddof=0).replace(0, np.nan)
    keep = sd.notna()
    if not keep.any():
        return None
    return ((x.loc[:, keep] - x.loc[:, keep].mean()) / sd[keep]).fillna(0.0)


def _peers(
    main: pd.DataFrame,
    mk: pd.DataFrame,
    pool: pd.DataFrame,
    keys: list[str],
    demo: pd.DataFrame | None,
    k: int,
) -> dict[str, np.ndarray]:
    """Median change among each school's k nearest peers: same comparison (metric, source, grade, years), same
    school level when known, other schools only; distance = standardised |baseline difference| (plus standardised
    demographics when available); ties broken by org_code. Vectorised per comparison group (chunked matrices)."""
    n = len(main)
    res = {
        "rel": np.full(n, np.nan),
        "abs": np.full(n, np.nan),
        "cur": np.full(n, np.nan),
        "n": np.zeros(n, dtype=int),
    }
    if pool.empty or n == 0:
        return res
    pool = pool.sort_values("org_code", kind="stable").reset_index(drop=True)
    pool_groups = _key_frame(pool, keys).groupby(keys, dropna=False, sort=False).indices
    main_groups = mk.reset_index(drop=True).groupby(keys, dropna=False, sort=False).indices
    m_org = main["org_code"].astype(str).to_numpy()
    m_lvl = main["school_level"].astype(object).where(main["school_level"].notna(), "").astype(str).to_numpy()
    m_b = main["measure_b"].to_numpy(dtype=float)
    p_org_all = pool["org_code"].astype(str).to_numpy()
    p_lvl_all = (
        pool["school_level"].astype(object).where(pool["school_level"].notna(), "").astype(str).to_numpy()
    )
    p_b_all = pool["measure_b"].to_numpy(dtype=float)
    vals_all = {
        name: pool[col].to_numpy(dtype=float)
        for name, col in (("rel", "change_rel_pct"), ("abs", "change_abs"), ("cur", "measure_c"))
    }
    demo_p = demo.reindex(p_org_all).to_numpy() if demo is not None else None
    demo_m = demo.reindex(m_org).to_numpy() if demo is not None else None
    for key, mpos in main_groups.items():
        ppos = pool_groups.get(key)
        if ppos is None:
            continue
        p_b = p_b_all[ppos]
        finite = np.isfinite(p_b)
        scale = float(np.std(p_b[finite])) if finite.sum() > 1 else 1.0
        scale = scale if scale > 0 else 1.0
        chunk = max(1, 2_000_000 // max(len(ppos), 1))
        for start in range(0, len(mpos), chunk):
            rows = mpos[start : start + chunk]
            mb = m_b[rows][:, None]
            dist = np.where(finite[None, :] & np.isfinite(mb), ((p_b[None, :] - mb) / scale) ** 2, 0.0)
            if demo_p is not None:
                dd = demo_p[ppos][None, :, :] - demo_m[rows][:, None, :]
                dist = dist + np.nansum(dd**2, axis=2)
            allowed = p_org_all[ppos][None, :] != m_org[rows][:, None]
            lvl = m_lvl[rows][:, None]
            allowed &= (lvl == "") | (p_lvl_all[ppos][None, :] == lvl)
            dist = np.where(allowed, dist, np.inf)
            kk = min(k, len(ppos))
            order = np.argsort(dist, axis=1, kind="stable")[:, :kk]
            taken = np.isfinite(np.take_along_axis(dist, order, axis=1))
            res["n"][rows] = taken.sum(axis=1)
            for name, arr in vals_all.items():
                v = np.where(taken, arr[ppos][order], np.nan)
                with np.errstate(all="ignore"), warnings.catch_warnings():
                    warnings.simplefilter("ignore", RuntimeWarning)
                    res[name][rows] = np.nanmedian(v, axis=1)
    return res


# ================================================================================================= output


def _result_frame(m: pd.DataFrame, target: Target) -> pd.DataFrame:
    gap = target.rule == "gap_closure"
    has_b = m["b_cnt"] > 0
    has_c = m["c_cnt"] > 0
    out = pd.DataFrame(index=m.index)
    out["org_code"] = m["org_code"].astype(str)
    out["org_level"] = "school"
    out["school_name"] = m["school_name"]
    out["is_network_school"] = m["is_network_school"] == 1
    out["target_id"] = target.id
    out["target_label"] = target.label
    out["category"] = target.category
    out["rule"] = target.rule
    out["direction"] = target.direction
    out["threshold"] = target.threshold
    out["subgroup"] = m["subgroup"]
    out["subject"] = m["subject"].where(m["subject"] != "", None)
    out["grade"] = m["grade"]
    out["metric"] = m["metric_c"].where(m["metric_c"].notna(), m["metric_b"])
    out["baseline_metric"] = m["metric_b"]
    out["source"] = m["source"]
    out["baseline_year"] = m["by"]
    out["baseline_window"] = m["w"]
    out["baseline_value"] = m["measure_b"].where(has_b)
    out["current_year"] = m["cy"]
    out["current_value"] = m["measure_c"].where(has_c)
    for c in (
        "change_abs",
        "change_rel_pct",
        "target_value",
        "progress_pct",
        "rating",
        "rating_label",
        "status",
        "status_reason",
        "ci_low",
        "ci_high",
        "ci_units",
        "p_value",
        "flags",
        "met_by",
        "implementation_year",
        "state_change_rel_pct",
        "state_change_abs",
        "state_current_value",
        "state_change_source",
        "peer_change_rel_pct",
        "peer_change_abs",
        "peer_current_value",
        "n_peers",
    ):
        out[c] = m[c]
    out["n_baseline"] = m["b_n"].where(has_b)
    out["n_current"] = m["c_n"].where(has_c)
    out["is_distinguishable_from_noise"] = m["is_distinguishable"].map(
        lambda v: None if pd.isna(v) else bool(v)
    )
    out["due_from_implementation_year"] = target.due_from_implementation_year
    out["reference"] = target.reference
    nan = np.full(len(m), np.nan)
    out["baseline_subgroup_value"] = m["b_value"].where(has_b) if gap else nan
    out["current_subgroup_value"] = m["c_value"].where(has_c) if gap else nan
    out["baseline_reference_value"] = m["b_ref"] if gap else nan
    out["current_reference_value"] = m["c_ref"] if gap else nan
    if gap and target.reference == "state":
        cb = m["b_value"] - m["b_comp"]
        cc = m["c_value"] - m["c_comp"]
        out["complement_gap_baseline"], out["complement_gap_current"], out["complement_gap_change"] = (
            cb,
            cc,
            cc - cb,
        )
    else:
        out["complement_gap_baseline"] = out["complement_gap_current"] = out["complement_gap_change"] = nan
    return out


# ================================================================================================== rollup


_STATUS_COUNTS = STATUSES


def _rollup_target(
    target: Target, catalog: Catalog, results: pd.DataFrame, main: pd.DataFrame, units: pd.DataFrame | None
) -> pd.DataFrame:
    """Per subject x subgroup over the network schools: counts of ratings and statuses, and the pooled result."""
    net = results[results["is_network_school"].astype(bool)].copy()
    if net.empty:
        return pd.DataFrame(columns=list(ROLLUP_COLUMNS))
    net["_subject"] = net["subject"].astype(object).where(net["subject"].notna(), "")
    keys = ["_subject", "subgroup"]
    g = net.groupby(keys, sort=False)
    out = g.size().rename("n_schools").to_frame()
    out["n_rated"] = g["rating"].count()
    rating = pd.to_numeric(net["rating"], errors="coerce")
    for v in (4, 3, 2, 1):
        out[f"n_rating_{v}"] = (rating == v).groupby([net[k] for k in keys], sort=False).sum()
    for s in _STATUS_COUNTS:
        out[f"n_{s}"] = (net["status"] == s).groupby([net[k] for k in keys], sort=False).sum()
    out = out.reset_index()
    pooled = _pooled(target, catalog, main, units)
    if len(pooled):
        out = out.merge(pooled, on=keys, how="left")
    out["pooled_n_schools"] = out["pooled_n_schools"].fillna(0) if "pooled_n_schools" in out.columns else 0
    out["target_id"] = target.id
    out["target_label"] = target.label
    out["category"] = target.category
    out["subject"] = out["_subject"].where(out["_subject"] != "", None)
    for c in ROLLUP_COLUMNS:
        if c not in out.columns:
            out[c] = None
    return out[list(ROLLUP_COLUMNS)]


def _pooled(target: Target, catalog: Catalog, m: pd.DataFrame, units: pd.DataFrame | None) -> pd.DataFrame:
    """The network's pooled result per subject x subgroup: each side's counts (or n-weighted values) pooled over
    the network schools, judged with the same rule.

    Left out: schools not yet due or not comparable, schools without the values the rule needs, and schools whose
    (baseline metric, current metric) differs from the most common one. Each school contributes its own baseline
    and current years."""
    keys = ["_subject", "subgroup"]
    use = m[
        ~m["status"].isin(["not_yet_due", "not_comparable"]).to_numpy() & (m["c_cnt"] > 0).to_numpy()
    ].copy()
    if target.needs_baseline:
        use = use[use["b_cnt"] > 0]
    if target.unit == "grade":
        use = use[use["n_units"] > 0]
    if use.empty:
        return pd.DataFrame()
    use["_subject"] = use["subject"].astype(object).where(use["subject"] != "", "")
    counts = use.groupby(keys + ["metric_b", "metric_c"], sort=False).size().rename("_c").reset_index()
    modal = counts.sort_values("_c", ascending=False, kind="stable").drop_duplicates(keys)
    use = use.merge(modal[keys + ["metric_b", "metric_c"]], on=keys + ["metric_b", "metric_c"])
    group_keys = list(keys)
    if target.unit == "grade":
        if units is None or units.empty:
            return pd.DataFrame()
        ukeys = ["org_code", "pair_id", "subgroup", "subject", "metric_b", "metric_c", "source"]
        u = units[_in_keys(units, use, ukeys)].copy()
        both = (u["b_cnt"] > 0) & (u["c_cnt"] > 0)
        n_ok = (u["b_n"].isna() | (u["b_n"] >= target.min_n)) & (u["c_n"].isna() | (u["c_n"] >= target.min_n))
        u = u[(both & n_ok).to_numpy()]
        u["_subject"] = u["subject"].astype(object).where(u["subject"] != "", "")
        group_keys = keys + ["grade"]
        if u.empty:
            return pd.DataFrame()
    else:
        u = use
    gap = target.rule == "gap_closure"
    sides = []
    for s in ("b", "c"):
        names = ("value", "k", "n", "se", "ref", "ref_n", "ref_se", "comp", "comp_n")
        cols = {f"{s}_{c}": c for c in names if f"{s}_{c}" in u.columns}
        d = u[list(cols) + group_keys].rename(columns=cols).reset_index(drop=True)
        d["valid"] = d["value"].notna().to_numpy()
        d["is_suppressed"] = False
        d["mtype"] = u["mtype"].to_numpy()
        if gap:
            d["ref_w"] = d["ref_n"] if target.reference == "complement" else d["n"]
        if "comp" in d.columns:
            d["comp_w"] = d["comp_n"]
        p = _pool(d, group_keys, gap=gap)
        sides.append(p.rename(columns={c: f"{s}_{c}" for c in p.columns if c not in group_keys}))
    pooled = sides[0].merge(sides[1], on=group_keys, how="outer")
    if target.unit == "grade":
        pooled["_bse2"] = pooled["b_se"] ** 2
        pooled["_cse2"] = pooled["c_se"] ** 2
        gg = pooled.groupby(keys, sort=False)
        agg = gg.agg(
            b_value=("b_value", "mean"),
            c_value=("c_value", "mean"),
            n_units=("grade", "size"),
            _bse2=("_bse2", "sum"),
            _cse2=("_cse2", "sum"),
            _bsek=("b_se", "count"),
            _csek=("c_se", "count"),
            b_n=("b_n", "sum"),
            c_n=("c_n", "sum"),
            _bnk=("b_n", "count"),
            _cnk=("c_n", "count"),
        )
        g_ = agg["n_units"].to_numpy(dtype=float)
        agg["b_se"] = np.where(agg["_bsek"] == g_, np.sqrt(agg["_bse2"]) / g_, np.nan)
        agg["c_se"] = np.where(agg["_csek"] == g_, np.sqrt(agg["_cse2"]) / g_, np.nan)
        agg["b_n"] = np.where(agg["_bnk"] == g_, agg["b_n"], np.nan)
        agg["c_n"] = np.where(agg["_cnk"] == g_, agg["c_n"], np.nan)
        pooled = agg.reset_index()
        pooled["b_k"] = np.nan
        pooled["c_k"] = np.nan
        pooled["b_cnt"] = pooled["c_cnt"] = 1.0
    else:
        pooled["n_units"] = 1.0
    pooled = pooled.merge(modal[keys + ["metric_b", "metric_c"]], on=keys, how="left")
    pooled["mtype"] = pooled["metric_c"].map(catalog.metric_types)
    if target.rule == "level_or_increase":
        pooled["b_ok"] = (pooled["b_value"].notna() & ~(pooled["b_n"] < target.min_n)).to_numpy()
    pooled = pooled.reset_index(drop=True)
    r = apply_rule(pooled, target, catalog)
    bn, cn = pooled["b_n"].to_numpy(dtype=float), pooled["c_n"].to_numpy(dtype=float)
    with np.errstate(invalid="ignore"):
        small = (cn < target.min_n) | (target.needs_baseline & (bn < target.min_n))
        if target.needs_baseline:
            small |= np.isnan(pooled["b_value"].to_numpy(dtype=float))
    rating = np.where(small, np.nan, r["rule_rating"].to_numpy(dtype=float))
    status = np.full(len(pooled), "insufficient_data", dtype=object)
    label = np.full(len(pooled), None, dtype=object)
    for lv in catalog.ratings.levels:
        status[rating == lv.rating] = lv.status
        label[rating == lv.rating] = lv.label
    n_sch = use.groupby(keys, sort=False)["org_code"].nunique().rename("pooled_n_schools").reset_index()
    res = pd.DataFrame(
        {
            "_subject": pooled["_subject"],
            "subgroup": pooled["subgroup"],
            "pooled_metric": pooled["metric_c"],
            "pooled_baseline_metric": pooled["metric_b"],
            "pooled_baseline_value": r["measure_b"],
            "pooled_current_value": r["measure_c"],
            "pooled_change_abs": r["change_abs"],
            "pooled_change_rel_pct": r["change_rel_pct"],
            "pooled_target_value": r["target_value"],
            "pooled_progress_pct": r["progress_pct"],
            "pooled_rating": rating,
            "pooled_rating_label": label,
            "pooled_status": status,
            "pooled_ci_low": r["ci_low"],
            "pooled_ci_high": r["ci_high"],
            "pooled_ci_units": r["ci_units"],
            "pooled_p_value": r["p_value"],
            "pooled_n_baseline": bn,
            "pooled_n_current": cn,
        }
    )
    return res.merge(n_sch, on=keys, how="left")


# ================================================================================================ entry point


def evaluate_targets(
    con,
    *,
    baseline_year: int | None = None,
    current_year: int | None = None,
    baseline_window: int = 1,
    targets_file: Path | None = None,
    peers_k: int | None = None,
) -> pd.DataFrame:
    """Judge every school against every target of the catalog and (re)create ``target_results`` and
    ``target_rollup`` in ``con``. Returns target_results (one row per school x target x subgroup x subject).

    ``baseline_year`` / ``current_year`` override every school's years (default: each school's roster baseline,
    implementation_start_year - 1 unless roster.baseline_year is set, and the latest year with data for the
    target). ``baseline_window`` 2 or 3 pools the years ending at the baseline. ``peers_k`` overrides the catalog's
    number of peers. No transaction handling: the caller owns the transaction.
    """
    if baseline_window not in (1, 2, 3):
        raise ValueError(f"baseline_window must be 1, 2 or 3, got {baseline_window!r}")
    if baseline_year is not None and current_year is not None and baseline_year > current_year:
        raise ValueError(f"baseline_year {baseline_year} is after current_year {current_year}")
    catalog = load_catalog(targets_file)
    k = int(peers_k if peers_k is not None else catalog.peers_k)
    inputs = _read_inputs(con, catalog)
    results_parts, rollup_parts = [], []
    for target in catalog.targets:
        res, net_main, units = _evaluate_target(
            target, catalog, inputs, baseline_year, current_year, baseline_window, k
        )
        results_parts.append(res)
        rollup_parts.append(_rollup_target(target, catalog, res, net_main, units))
    results = _typed(_concat(results_parts, RESULT_COLUMNS), RESULT_SCHEMA)
    rollup = _typed(_concat(rollup_parts, ROLLUP_COLUMNS), ROLLUP_SCHEMA)
    _write(con, "target_results", results, RESULT_SCHEMA)
    _write(con, "target_rollup", rollup, ROLLUP_SCHEMA)
    return results


def _concat(parts: list[pd.DataFrame], columns) -> pd.DataFrame:
    parts = [p for p in parts if len(p)]
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=list(columns))


def _typed(df: pd.DataFrame, schema) -> pd.DataFrame:
    df = df.copy()
    for col, typ in schema:
        if col not in df.columns:
            df[col] = None
        if typ == "DOUBLE":
            df[col] = pd.to_numeric(df[col], errors="coerce").astype(float)
        elif typ == "INTEGER":
            df[col] = pd.to_numeric(df[col], errors="coerce").round().astype("Int64")
        elif typ == "BOOLEAN":
            df[col] = pd.array([None if pd.isna(v) else bool(v) for v in df[col]], dtype="boolean")
        else:
            df[col] = df[col].astype(object).where(df[col].notna(), None)
    return df[[c for c, _ in schema]].reset_index(drop=True)


def _write(con, name: str, df: pd.DataFrame, schema) -> None:
    ddl = ", ".join(f'"{c}" {t}' for c, t in schema)
    con.execute(f"CREATE OR REPLACE TABLE {name} ({ddl})")
    if df.empty:
        return
    tmp = f"_eo_{name}_df"
    con.register(tmp, df)
    try:
        cols = ", ".join(f'"{c}"' for c, _ in schema)
        casts = ", ".join(f'CAST("{c}" AS {t}) AS "{c}"' for c, t in schema)
        con.execute(f"INSERT INTO {name} ({cols}) SELECT {casts} FROM {tmp}")
    finally:
        con.unregister(tmp)

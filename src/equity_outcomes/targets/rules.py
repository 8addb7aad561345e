"""Rule evaluation, vectorised over a frame of comparisons (one row = one school x subgroup x subject, or a pooled
network row).

Input columns (``b_`` = baseline side, ``c_`` = current side; percents 0-100, SGP points, scores):
``b_value c_value`` (unit targets: the mean over the units used), ``b_k b_n c_k c_n`` (counts; NaN when unknown),
``b_se c_se`` (standard error of each side's value), ``b_ref c_ref b_ref_se c_ref_se`` (gap reference: the state
value or the complement's value), ``mtype`` (proportion / percent / mean / median), ``n_units`` (>1 for unit
targets), ``b_ok`` (a baseline that may be used).

Output columns: ``measure_b measure_c change_abs change_rel_pct target_value progress_pct ci_low ci_high ci_units
p_value is_distinguishable forced_rating baseline_zero_flag no_baseline_gap_flag met_by rule_problem``.
``rule_problem`` is a reason text when the rule cannot be applied (e.g. a relative increase from 0), else ''.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from .. import stats
from .catalog import Catalog, Target

_EPS_DECIMALS = 6  # progress_pct is rounded before rating, so -20.000000000000004% still counts as -20%


def _f(df: pd.DataFrame, col: str) -> np.ndarray:
    if col not in df.columns:
        return np.full(len(df), np.nan)
    return pd.to_numeric(df[col], errors="coerce").to_numpy(dtype=float, na_value=np.nan)


def measure(df: pd.DataFrame, target: Target) -> pd.DataFrame:
    """The quantity the target is about, per side, and its change. Gap rules measure the gap (value - reference)."""
    b, c = _f(df, "b_value"), _f(df, "c_value")
    if target.rule == "gap_closure":
        mb, mc = b - _f(df, "b_ref"), c - _f(df, "c_ref")
    else:
        mb, mc = b, c
    with np.errstate(invalid="ignore", divide="ignore"):
        change = mc - mb
        if target.rule == "gap_closure":
            rel = np.where(mb != 0, (np.abs(mc) - np.abs(mb)) / np.abs(mb) * 100, np.nan)
        else:
            rel = np.where(mb != 0, (mc - mb) / mb * 100, np.nan)
    return pd.DataFrame(
        {"measure_b": mb, "measure_c": mc, "change_abs": change, "change_rel_pct": rel}, index=df.index
    )


def rate(progress: np.ndarray, forced: np.ndarray, catalog: Catalog) -> np.ndarray:
    """Rating 1-4 from progress_pct with the catalog's levels; ``forced`` (when not NaN) wins."""
    p = np.round(progress, _EPS_DECIMALS)
    out = np.full(len(p), np.nan)
    todo = np.isfinite(p)
    for lv in catalog.ratings.levels:
        if lv.min_progress_pct is None:
            hit = todo
        elif lv.inclusive:
            hit = todo & (p >= lv.min_progress_pct)
        else:
            hit = todo & (p > lv.min_progress_pct)
        out = np.where(hit, lv.rating, out)
        todo = todo & ~hit
    return np.where(np.isfinite(forced), forced, out)


def apply_rule(df: pd.DataFrame, target: Target, catalog: Catalog) -> pd.DataFrame:
    """Apply the target's rule to every row of ``df``; returns the output columns (same index)."""
    n = len(df)
    out = measure(df, target)
    mb, mc = out["measure_b"].to_numpy(), out["measure_c"].to_numpy()
    change, rel = out["change_abs"].to_numpy(), out["change_rel_pct"].to_numpy()
    t = target.threshold
    conf = catalog.confidence
    z = stats.z_value(conf)
    mtype = df["mtype"].astype(object).to_numpy() if "mtype" in df.columns else np.full(n, None, dtype=object)
    prop = mtype == "proportion"
    bk, bn, ck, cn = _f(df, "b_k"), _f(df, "b_n"), _f(df, "c_k"), _f(df, "c_n")
    bse, cse = _f(df, "b_se"), _f(df, "c_se")
    units = _f(df, "n_units")
    multi = np.nan_to_num(units, nan=1.0) > 1
    counts = prop & np.isfinite(bk) & np.isfinite(bn) & np.isfinite(ck) & np.isfinite(cn) & ~multi
    c_counts = prop & np.isfinite(ck) & np.isfinite(cn) & ~multi

    nan = np.full(n, np.nan)
    target_value, progress, lo, hi, p_value = nan.copy(), nan.copy(), nan.copy(), nan.copy(), nan.copy()
    forced = nan.copy()
    ci_units = np.full(n, None, dtype=object)
    dist = nan.copy()  # 1.0 / 0.0 / NaN
    problem = np.full(n, "", dtype=object)
    baseline_zero = np.zeros(n, dtype=bool)
    no_gap = np.zeros(n, dtype=bool)
    met_by = np.full(n, None, dtype=object)

    def change_interval_points() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """CI and p of change_abs (value units): Newcombe + two-proportion test with counts, else normal."""
        d = stats.newcombe_diff_interval(bk, bn, ck, cn, conf)
        p_counts = stats.two_proportion_test(bk, bn, ck, cn)
        se = np.sqrt(bse**2 + cse**2)
        l_ = np.where(counts, np.asarray(d.low) * 100, change - z * se)
        h_ = np.where(counts, np.asarray(d.high) * 100, change + z * se)
        with np.errstate(invalid="ignore", divide="ignore"):
            p_se = np.where(se > 0, 2 * _norm_sf(np.abs(change) / se), np.where(change == 0, 1.0, 0.0))
        p_se = np.where(np.isfinite(se), p_se, np.nan)
        return l_, h_, np.where(counts, p_counts, p_se)

    with np.errstate(invalid="ignore", divide="ignore"):
        if target.rule == "relative_change":
            target_value = mb * (1 + t / 100)
            progress = rel / t * 100
            zero = mb == 0
            baseline_zero = zero & np.isfinite(mc)
            if target.higher_is_better:
                problem = np.where(
                    baseline_zero, "baseline is 0: a relative increase from 0 is undefined", problem
                )
                progress = np.where(zero, np.nan, progress)
            else:
                # "decrease by X%" from 0: 0 cannot decrease; holding 0 meets the target, any rise is worse.
                progress = np.where(zero & (mc == 0), 100.0, np.where(zero, np.nan, progress))
                forced = np.where(zero & (mc > 0), 1.0, forced)
            rc = stats.relative_change_interval(bk, bn, ck, cn, conf)
            rcm = stats.relative_change_interval_means(mb, bse, mc, cse, conf)
            lo = np.where(counts, np.asarray(rc.low) * 100, np.asarray(rcm.low) * 100)
            hi = np.where(counts, np.asarray(rc.high) * 100, np.asarray(rcm.high) * 100)
            p_value = np.where(
                counts, stats.two_proportion_test(bk, bn, ck, cn), stats.mean_diff_test(mb, bse, mc, cse)
            )
            ci_units = np.where(np.isfinite(lo), "relative_pct", None)
            dist = np.where(np.isfinite(lo) & np.isfinite(hi), ((lo > 0) | (hi < 0)).astype(float), np.nan)

        elif target.rule == "absolute_change":
            target_value = mb + t
            progress = change / t * 100
            lo, hi, p_value = change_interval_points()
            ci_units = np.where(np.isfinite(lo), "points", None)
            dist = np.where(np.isfinite(lo) & np.isfinite(hi), ((lo > 0) | (hi < 0)).astype(float), np.nan)

        elif target.rule in ("share_improved", "level"):
            higher = target.higher_is_better
            # progress is measured from the baseline level toward the threshold (a school that stays where it
            # was has made no progress); without a usable baseline below the threshold, from 0.
            b_before = np.isfinite(mb) & ((mb < t) if higher else (mb > t))
            origin = np.where(b_before, mb, 0.0 if higher else 100.0)
            met = (mc >= t) if higher else (mc <= t)
            progress = np.where(
                met, np.maximum((mc - origin) / (t - origin) * 100, 100.0), (mc - origin) / (t - origin) * 100
            )
            # at or past the threshold at baseline and below it now: worse, never partial credit
            b_past = np.isfinite(mb) & ~b_before
            progress = np.where(b_past & ~met, np.minimum(progress, 0.0), progress)
            target_value = np.full(n, float(t))
            alt = "greater" if higher else "less"
            bt = stats.binomial_share_test(
                np.where(c_counts, ck, np.nan),
                np.where(c_counts, cn, np.nan),
                p0=t / 100,
                alternative=alt,
                conf=conf,
                method="wilson",
            )
            lo, hi = np.asarray(bt.ci_low) * 100, np.asarray(bt.ci_high) * 100
            p_value = np.asarray(bt.p_value, dtype=float)
            ci_units = np.where(np.isfinite(lo), "percent", None)
            dist = np.where(np.isfinite(p_value), (p_value < catalog.alpha).astype(float), np.nan)

        elif target.rule == "level_or_increase":
            b_ok = df["b_ok"].to_numpy(dtype=bool) if "b_ok" in df.columns else np.isfinite(mb)
            b_use = b_ok & np.isfinite(mb)
            level_met = mc >= t
            increased = b_use & (mc > mb)
            level_progress = mc / t * 100
            progress = np.where(increased, np.maximum(level_progress, 100.0), level_progress)
            target_value = np.full(n, float(t))
            met_by = np.where(
                level_met & increased,
                "level+increase",
                np.where(level_met, "level", np.where(increased, "increase", None)),
            )
            l_chg, h_chg, p_chg = change_interval_points()
            bt = stats.binomial_share_test(
                np.where(c_counts, ck, np.nan),
                np.where(c_counts, cn, np.nan),
                p0=t / 100,
                alternative="greater",
                conf=conf,
                method="wilson",
            )
            l_lvl, h_lvl = np.asarray(bt.ci_low) * 100, np.asarray(bt.ci_high) * 100
            p_lvl = np.asarray(bt.p_value, dtype=float)
            # judged by the level (met by level, or no usable prior year): interval of the level;
            # otherwise: interval of the change from the prior year.
            use_level = level_met | ~b_use
            lo = np.where(use_level, l_lvl, l_chg)
            hi = np.where(use_level, h_lvl, h_chg)
            p_value = np.where(use_level, p_lvl, p_chg)
            ci_units = np.where(np.isfinite(lo), np.where(use_level, "percent", "points"), None)
            dist_chg = np.where(
                np.isfinite(l_chg) & np.isfinite(h_chg), ((l_chg > 0) | (h_chg < 0)).astype(float), np.nan
            )
            dist_lvl = np.where(np.isfinite(p_lvl), (p_lvl < catalog.alpha).astype(float), np.nan)
            dist = np.where(use_level, dist_lvl, dist_chg)

        elif target.rule == "gap_closure":
            s = 1.0 if target.higher_is_better else -1.0
            short_b, short_c = -s * mb, -s * mc  # shortfall: > 0 when the subgroup is behind the reference
            has_gap = short_b > 0
            no_gap = np.isfinite(short_b) & ~has_gap & np.isfinite(short_c)
            required = t / 100 * short_b
            improvement = short_b - short_c
            progress = np.where(
                has_gap, improvement / required * 100, np.where(no_gap & (short_c <= 0), 100.0, np.nan)
            )
            forced = np.where(no_gap & (short_c > 0), 1.0, forced)  # no gap at baseline, a gap now: worse
            target_value = np.where(has_gap, mb * (1 - t / 100), np.where(np.isfinite(mb), 0.0, np.nan))
            b_ref_se, c_ref_se = _f(df, "b_ref_se"), _f(df, "c_ref_se")
            state_ref = target.reference == "state"
            if state_ref:
                # The state value is a census of ~70,000 students: treated as fixed; the Newcombe interval of the
                # subgroup's change is shifted by the state's change.
                d = stats.newcombe_diff_interval(bk, bn, ck, cn, conf)
                shift = -(_f(df, "c_ref") - _f(df, "b_ref"))  # gap change = subgroup change - state change
                l_cnt = np.asarray(d.low) * 100 + shift
                h_cnt = np.asarray(d.high) * 100 + shift
            else:
                l_cnt = h_cnt = nan
            se = np.sqrt(
                bse**2
                + cse**2
                + np.nan_to_num(b_ref_se) ** 2 * (not state_ref)
                + np.nan_to_num(c_ref_se) ** 2 * (not state_ref)
            )
            if not state_ref:
                se = np.where(np.isfinite(b_ref_se) & np.isfinite(c_ref_se), se, np.nan)
            use_counts = counts & state_ref
            lo = np.where(use_counts, l_cnt, change - z * se)
            hi = np.where(use_counts, h_cnt, change + z * se)
            p_value = np.where(se > 0, 2 * _norm_sf(np.abs(change) / se), np.where(change == 0, 1.0, 0.0))
            p_value = np.where(np.isfinite(se), p_value, np.nan)
            ci_units = np.where(np.isfinite(lo), "points", None)
            dist = np.where(np.isfinite(lo) & np.isfinite(hi), ((lo > 0) | (hi < 0)).astype(float), np.nan)

    rating = rate(np.asarray(progress, dtype=float), forced, catalog)
    rating = np.where(problem != "", np.nan, rating)
    out["target_value"] = target_value
    out["progress_pct"] = np.round(np.asarray(progress, dtype=float), _EPS_DECIMALS) + 0.0  # no -0.0
    out["rule_rating"] = rating
    out["ci_low"] = lo
    out["ci_high"] = hi
    out["ci_units"] = pd.Series(ci_units, index=df.index, dtype=object)
    out["p_value"] = p_value
    out["is_distinguishable"] = dist
    out["baseline_zero_flag"] = baseline_zero
    out["no_baseline_gap_flag"] = no_gap
    out["met_by"] = pd.Series(met_by, index=df.index, dtype=object)
    out["rule_problem"] = pd.Series(problem, index=df.index, dtype=object)
    return out


def _norm_sf(x: np.ndarray) -> np.ndarray:
    from scipy.stats import norm

    return norm.sf(x)

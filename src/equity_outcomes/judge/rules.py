"""What SQL cannot say well about a comparison, vectorised over a frame of comparisons (one row = one school x
subgroup x subject, or a pooled network row, as models/evaluate computed them): the intervals and tests (scipy and
:mod:`equity_outcomes.judge.stats`), and the rating from the catalog's levels.

Input columns (``b_`` = baseline side, ``c_`` = judged year; percents 0-100, SGP points, scores): ``measure_b
measure_c change_abs`` (the rule's measures), ``b_k b_n c_k c_n`` (counts; NaN when unknown), ``b_se c_se``
(standard error of each side's value), ``b_ref c_ref b_ref_se c_ref_se`` (gap reference), ``mtype`` (proportion /
percent / mean / median), ``n_units`` (>1 for per grade targets), ``b_ok`` (a usable prior year).

Output columns of :func:`intervals`: ``ci_low ci_high ci_units ci_method p_value is_distinguishable`` (1.0 /
0.0 / NaN).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.stats import norm

from . import stats
from .catalog import Catalog, Target

_EPS_DECIMALS = 6  # progress_pct is rounded before rating, so -20.000000000000004% still counts as -20%


def _f(df: pd.DataFrame, col: str) -> np.ndarray:
    if col not in df.columns:
        return np.full(len(df), np.nan)
    return pd.to_numeric(df[col], errors="coerce").to_numpy(dtype=float, na_value=np.nan)


def rate(progress: np.ndarray, forced: np.ndarray, catalog: Catalog) -> np.ndarray:
    """Rating 1-4 from progress_pct with the catalog's levels; ``forced`` (when not NaN) wins."""
    p = np.round(progress, _EPS_DECIMALS)
    out = np.full(len(p), np.nan)
    todo = np.isfinite(p)
    for lv in catalog.ratings.levels:
        compare = np.greater_equal if lv.inclusive else np.greater
        hit = todo if lv.min_progress_pct is None else todo & compare(p, lv.min_progress_pct)
        out = np.where(hit, lv.rating, out)
        todo = todo & ~hit
    return np.where(np.isfinite(forced), forced, out)


def _distinguishable(lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """1.0 when the interval excludes no change, 0.0 when it includes it, NaN without an interval."""
    return np.where(np.isfinite(lo) & np.isfinite(hi), ((lo > 0) | (hi < 0)).astype(float), np.nan)


def intervals(df: pd.DataFrame, target: Target, catalog: Catalog) -> pd.DataFrame:
    """The interval, its units, the p-value and whether the result is distinguishable from noise, for every row
    of ``df`` judged on ``target`` (same index)."""
    n = len(df)
    mb, mc, change = _f(df, "measure_b"), _f(df, "measure_c"), _f(df, "change_abs")
    conf, z = catalog.confidence, stats.z_value(catalog.confidence)
    mtype = df["mtype"].astype(object).to_numpy() if "mtype" in df.columns else np.full(n, None, dtype=object)
    prop = mtype == "proportion"
    bk, bn, ck, cn = _f(df, "b_k"), _f(df, "b_n"), _f(df, "c_k"), _f(df, "c_n")
    bse, cse = _f(df, "b_se"), _f(df, "c_se")
    multi = np.nan_to_num(_f(df, "n_units"), nan=1.0) > 1
    counts = prop & np.isfinite(bk) & np.isfinite(bn) & np.isfinite(ck) & np.isfinite(cn) & ~multi
    c_counts = prop & np.isfinite(ck) & np.isfinite(cn) & ~multi

    def change_interval_points() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """CI and p of change_abs (value units): Newcombe + two-proportion test with counts, else normal."""
        d = stats.newcombe_diff_interval(bk, bn, ck, cn, conf)
        se = np.sqrt(bse**2 + cse**2)
        return (np.where(counts, np.asarray(d.low) * 100, change - z * se),
                np.where(counts, np.asarray(d.high) * 100, change + z * se),
                np.where(counts, stats.two_proportion_test(bk, bn, ck, cn), _normal_p(change, se)))

    def level_test(alternative: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Wilson interval of the judged year's share and the exact binomial test against the threshold."""
        bt = stats.binomial_share_test(np.where(c_counts, ck, np.nan), np.where(c_counts, cn, np.nan),
                                       p0=target.threshold / 100, alternative=alternative, conf=conf,
                                       method="wilson")
        return np.asarray(bt.ci_low) * 100, np.asarray(bt.ci_high) * 100, np.asarray(bt.p_value, dtype=float)

    with np.errstate(invalid="ignore", divide="ignore"):
        if target.rule == "relative_change":
            rc = stats.relative_change_interval(bk, bn, ck, cn, conf)
            rcm = stats.relative_change_interval_means(mb, bse, mc, cse, conf)
            lo = np.where(counts, np.asarray(rc.low) * 100, np.asarray(rcm.low) * 100)
            hi = np.where(counts, np.asarray(rc.high) * 100, np.asarray(rcm.high) * 100)
            p_value = np.where(counts, stats.two_proportion_test(bk, bn, ck, cn),
                               stats.mean_diff_test(mb, bse, mc, cse))
            method = np.where(counts, "katz_log_ratio", "delta_log_ratio")
            # a baseline of 0 has no relative change: the change in points (Newcombe) is the evidence
            zero = ~np.isfinite(lo) & (mb == 0)
            l_pts, h_pts, _ = change_interval_points()
            lo, hi = np.where(zero, l_pts, lo), np.where(zero, h_pts, hi)
            units = np.where(zero, "points", "relative_pct")
            method = np.where(zero, np.where(counts, "newcombe_difference", "normal_difference"), method)
            dist = _distinguishable(lo, hi)
        elif target.rule == "absolute_change":
            lo, hi, p_value = change_interval_points()
            units, dist = "points", _distinguishable(lo, hi)
            method = np.where(counts, "newcombe_difference", "normal_difference")
        elif target.rule in ("share_improved", "level"):
            lo, hi, p_value = level_test("greater" if target.higher_is_better else "less")
            units, method = "percent", "wilson_binomial_test"
            dist = np.where(np.isfinite(p_value), (p_value < catalog.alpha).astype(float), np.nan)
        elif target.rule == "level_or_increase":
            # judged by the level (met by level, or no usable prior year): interval of the level;
            # otherwise: interval of the change from the prior year.
            l_chg, h_chg, p_chg = change_interval_points()
            l_lvl, h_lvl, p_lvl = level_test("greater")
            b_ok = df["b_ok"].fillna(False).to_numpy(dtype=bool) if "b_ok" in df.columns else np.isfinite(mb)
            use_level = (mc >= target.threshold) | ~(b_ok & np.isfinite(mb))
            lo, hi, p_value = (np.where(use_level, a, b) for a, b in ((l_lvl, l_chg), (h_lvl, h_chg), (p_lvl, p_chg)))
            units = np.where(use_level, "percent", "points")
            method = np.where(use_level, "wilson_binomial_test", np.where(counts, "newcombe_difference",
                                                                          "normal_difference"))
            dist = np.where(use_level, np.where(np.isfinite(p_lvl), (p_lvl < catalog.alpha).astype(float), np.nan),
                            _distinguishable(l_chg, h_chg))
        else:  # gap_closure
            lo, hi, p_value = _gap_interval(df, target, change, counts, bk, bn, ck, cn, bse, cse, conf, z)
            units, dist = "points", _distinguishable(lo, hi)
            method = np.where(counts & (target.reference == "state"), "newcombe_shifted_by_state",
                              "normal_difference")
    has = np.isfinite(lo) & np.isfinite(hi)
    return pd.DataFrame({"ci_low": lo, "ci_high": hi,
                         "ci_units": pd.Series(np.where(has, units, None), index=df.index, dtype=object),
                         "ci_method": pd.Series(np.where(has, method, None), index=df.index, dtype=object),
                         "p_value": p_value, "is_distinguishable": dist}, index=df.index)


def _gap_interval(df, target, change, counts, bk, bn, ck, cn, bse, cse, conf, z):
    """The gap's change. A state reference is a census of ~70,000 students: fixed, the Newcombe interval of the
    subgroup's change is shifted by the state's change; a complement's SE adds to the subgroup's."""
    state_ref = target.reference == "state"
    b_ref_se, c_ref_se = _f(df, "b_ref_se"), _f(df, "c_ref_se")
    if state_ref:
        d = stats.newcombe_diff_interval(bk, bn, ck, cn, conf)
        shift = -(_f(df, "c_ref") - _f(df, "b_ref"))  # gap change = subgroup change - state change
        l_cnt, h_cnt = np.asarray(d.low) * 100 + shift, np.asarray(d.high) * 100 + shift
        se = np.sqrt(bse**2 + cse**2)
    else:
        l_cnt = h_cnt = np.full(len(df), np.nan)
        se = np.sqrt(bse**2 + cse**2 + np.nan_to_num(b_ref_se) ** 2 + np.nan_to_num(c_ref_se) ** 2)
        se = np.where(np.isfinite(b_ref_se) & np.isfinite(c_ref_se), se, np.nan)
    use_counts = counts & state_ref
    return (np.where(use_counts, l_cnt, change - z * se), np.where(use_counts, h_cnt, change + z * se),
            _normal_p(change, se))


def _normal_p(change: np.ndarray, se: np.ndarray) -> np.ndarray:
    """Two-sided p of a normal change with this SE (an SE of 0: 1 without change, else 0)."""
    with np.errstate(invalid="ignore", divide="ignore"):
        p = np.where(se > 0, 2 * norm.sf(np.abs(change) / se), np.where(change == 0, 1.0, 0.0))
    return np.where(np.isfinite(se), p, np.nan)

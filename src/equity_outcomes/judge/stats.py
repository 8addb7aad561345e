"""Statistics for judging targets: intervals, tests and effect sizes (scipy.stats, numpy).

Every function is pure and vectorised: arguments may be Python numbers or numpy arrays (broadcast together);
scalars in give Python floats out, arrays in give arrays out. Proportions are fractions (0-1), not percents.

Degenerate inputs never raise. The conventions, applied everywhere:

* ``n == 0`` (or a negative/NaN count): the estimate and its interval are NaN, p-values are NaN.
* ``k == 0`` / ``k == n``: score intervals stay well defined (Wilson gives ``[0, u]`` / ``[l, 1]``); Clopper-Pearson
  uses the one-sided limits 0 / 1; the Katz relative-change interval uses the Haldane correction (0.5 added to
  every cell of the 2x2 table) when a cell is 0, and is NaN when the baseline proportion is 0 (a relative change
  from 0 is undefined).
* Sign conventions (read them before using a function): ``newcombe_diff_interval``, ``two_proportion_test``,
  ``relative_change_interval``, ``mean_diff_interval`` and ``bootstrap_median_diff`` describe a change *from group 1
  (baseline) to group 2 (current)*: ``p2 - p1``, ``p2 / p1 - 1``. ``cohens_h`` and
  ``standardized_mean_difference`` follow their textbooks: group 1 minus group 2.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from scipy import stats as _st

# Asymptotic SE of a sample median = 1 / (2 f(median) sqrt(n)). SGPs are percentiles, uniform by construction: a
# uniform with standard deviation sd has density 1 / (sqrt(12) sd), so SE = sqrt(3) sd / sqrt(n) (1.732, not the
# normal's sqrt(pi / 2) = 1.253, which is 1.38x too small: 95% intervals covered ~85% of the time; checked by
# simulation in tests/test_coverage.py). PERCENTILE_SD: the SD of SGPs 1-99 (uniform) when a median or mean SGP is
# published without one (DESE).
MEDIAN_SE_FACTOR = float(np.sqrt(3.0))
PERCENTILE_SD = float(np.sqrt((99**2 - 1) / 12))


class DiffInterval(NamedTuple):
    """An estimate with its two-sided interval (same units as the estimate)."""

    estimate: float | np.ndarray
    low: float | np.ndarray
    high: float | np.ndarray


class BinomialShareResult(NamedTuple):
    estimate: float | np.ndarray  # k / n
    p_value: float | np.ndarray
    ci_low: float | np.ndarray
    ci_high: float | np.ndarray


class SmdResult(NamedTuple):
    g: float | np.ndarray  # Hedges' g (bias-corrected)
    d: float | np.ndarray  # Cohen's d (uncorrected)
    se: float | np.ndarray  # standard error of g
    low: float | np.ndarray
    high: float | np.ndarray


# ----------------------------------------------------------------------------------------------------- helpers


def _arr(x) -> np.ndarray:
    return np.asarray(x, dtype=float)


def _out(x, scalar: bool):
    if scalar:
        return float(np.asarray(x).reshape(-1)[0]) if np.ndim(x) else float(x)
    return x


def _is_scalar(*args) -> bool:
    return all(np.ndim(a) == 0 for a in args)


def z_value(conf: float = 0.95) -> float:
    """Two-sided standard normal quantile for a confidence level (0.95 -> 1.959964)."""
    if not 0 < conf < 1:
        raise ValueError(f"conf must be between 0 and 1, got {conf!r}")
    return float(_st.norm.ppf(1 - (1 - conf) / 2))


def _valid_counts(k: np.ndarray, n: np.ndarray) -> np.ndarray:
    return np.isfinite(k) & np.isfinite(n) & (n > 0) & (k >= 0) & (k <= n)


# ----------------------------------------------------------------------------------------------- proportions


def wilson_interval(k, n, conf: float = 0.95):
    """Wilson score interval (no continuity correction) for the proportion ``k / n``.

    Returns ``(low, high)`` as fractions. ``k = 0`` gives ``low = 0``; ``k = n`` gives ``high = 1``;
    ``n = 0`` or invalid counts (k < 0, k > n, NaN) give ``(nan, nan)``.
    Reference: Wilson (1927); Newcombe (1998a) Stat Med 17:857-872, method 3 (81/263 -> 0.2553 to 0.3662).
    """
    scalar = _is_scalar(k, n)
    k, n = np.broadcast_arrays(_arr(k), _arr(n))
    z = z_value(conf)
    ok = _valid_counts(k, n)
    with np.errstate(invalid="ignore", divide="ignore"):
        p = k / n
        z2 = z * z
        denom = 1 + z2 / n
        centre = (p + z2 / (2 * n)) / denom
        half = z * np.sqrt(p * (1 - p) / n + z2 / (4 * n * n)) / denom
        low = np.where(ok, np.clip(centre - half, 0.0, 1.0), np.nan)
        high = np.where(ok, np.clip(centre + half, 0.0, 1.0), np.nan)
    low = np.where(ok & (k == 0), 0.0, low)
    high = np.where(ok & (k == n), 1.0, high)
    return _out(low, scalar), _out(high, scalar)


def newcombe_diff_interval(k1, n1, k2, n2, conf: float = 0.95) -> DiffInterval:
    """Newcombe's hybrid score interval (Newcombe 1998b, method 10) for the difference ``p2 - p1``.

    Group 1 is the baseline, group 2 the current year: a positive estimate is a rise. Built from the two Wilson
    intervals: ``low = d - sqrt((p2 - l2)^2 + (u1 - p1)^2)``, ``high = d + sqrt((u2 - p2)^2 + (p1 - l1)^2)``.
    NaN when either n is 0. Reference: Newcombe (1998b) Stat Med 17:873-890, Table II: 56/70 vs 48/80 gives
    0.2000 (0.0524, 0.3339), i.e. ``newcombe_diff_interval(48, 80, 56, 70)``.
    """
    scalar = _is_scalar(k1, n1, k2, n2)
    k1, n1, k2, n2 = np.broadcast_arrays(_arr(k1), _arr(n1), _arr(k2), _arr(n2))
    l1, u1 = wilson_interval(k1, n1, conf)
    l2, u2 = wilson_interval(k2, n2, conf)
    l1, u1, l2, u2 = (np.asarray(v, dtype=float) for v in (l1, u1, l2, u2))
    with np.errstate(invalid="ignore", divide="ignore"):
        p1 = np.where(n1 > 0, k1 / n1, np.nan)
        p2 = np.where(n2 > 0, k2 / n2, np.nan)
        d = p2 - p1
        low = d - np.sqrt((p2 - l2) ** 2 + (u1 - p1) ** 2)
        high = d + np.sqrt((u2 - p2) ** 2 + (p1 - l1) ** 2)
    return DiffInterval(_out(d, scalar), _out(low, scalar), _out(high, scalar))


def two_proportion_test(k1, n1, k2, n2):
    """Two-sided p-value of the pooled two-proportion z test (H0: p1 == p2; equals the Pearson chi-square test
    without continuity correction). NaN when either n is 0; 1.0 when both groups are all 0 or all 1
    (pooled SE of 0: no evidence of a difference).
    """
    scalar = _is_scalar(k1, n1, k2, n2)
    k1, n1, k2, n2 = np.broadcast_arrays(_arr(k1), _arr(n1), _arr(k2), _arr(n2))
    ok = _valid_counts(k1, n1) & _valid_counts(k2, n2)
    with np.errstate(invalid="ignore", divide="ignore"):
        p1, p2 = k1 / n1, k2 / n2
        pool = (k1 + k2) / (n1 + n2)
        se = np.sqrt(pool * (1 - pool) * (1 / n1 + 1 / n2))
        z = (p2 - p1) / se
        p = 2 * _st.norm.sf(np.abs(z))
    p = np.where(ok & (se == 0), 1.0, p)
    p = np.where(ok, p, np.nan)
    return _out(p, scalar)


def binomial_share_test(
    k, n, p0: float = 0.5, alternative: str = "greater", conf: float = 0.95, method: str = "clopper-pearson"
) -> BinomialShareResult:
    """Exact binomial test of the share ``k / n`` against ``p0`` with a two-sided interval for the share.

    ``alternative``: 'greater' (H1: share > p0, used for "50% of students improve"), 'less' or 'two-sided'.
    The interval is always two-sided at ``conf``: ``method`` 'clopper-pearson' (exact; limits 0 and 1 at k = 0 and
    k = n) or 'wilson'. ``n = 0`` gives NaN throughout. Greater: ``P(X >= k)``; less: ``P(X <= k)``; two-sided:
    scipy.stats.binomtest (minlike method).
    """
    if alternative not in ("greater", "less", "two-sided"):
        raise ValueError(f"alternative must be 'greater', 'less' or 'two-sided', got {alternative!r}")
    if method not in ("clopper-pearson", "wilson"):
        raise ValueError(f"method must be 'clopper-pearson' or 'wilson', got {method!r}")
    if not 0 <= p0 <= 1:
        raise ValueError(f"p0 must be a proportion between 0 and 1, got {p0!r}")
    scalar = _is_scalar(k, n)
    k, n = np.broadcast_arrays(_arr(k), _arr(n))
    ok = _valid_counts(k, n) & (k == np.round(k))
    ks = np.where(ok, k, 0).astype(np.int64)
    ns = np.where(ok, n, 1).astype(np.int64)
    if alternative == "greater":
        p = _st.binom.sf(ks - 1, ns, p0)
    elif alternative == "less":
        p = _st.binom.cdf(ks, ns, p0)
    else:
        flat = [
            _st.binomtest(int(a), int(b), p0, alternative="two-sided").pvalue if good else np.nan
            for a, b, good in zip(ks.reshape(-1), ns.reshape(-1), ok.reshape(-1), strict=True)
        ]
        p = np.asarray(flat, dtype=float).reshape(ks.shape)
    p = np.where(ok, np.minimum(p, 1.0), np.nan)
    est = np.where(ok, k / np.where(ok, n, 1), np.nan)
    if method == "wilson":
        low, high = wilson_interval(np.where(ok, k, np.nan), np.where(ok, n, np.nan), conf)
        low, high = np.asarray(low, dtype=float), np.asarray(high, dtype=float)
    else:
        a = 1 - conf
        with np.errstate(invalid="ignore", divide="ignore"):
            low = np.where(ks > 0, _st.beta.ppf(a / 2, np.maximum(ks, 1), ns - ks + 1), 0.0)
            high = np.where(ks < ns, _st.beta.ppf(1 - a / 2, ks + 1, np.maximum(ns - ks, 1)), 1.0)
        low = np.where(ok, low, np.nan)
        high = np.where(ok, high, np.nan)
    return BinomialShareResult(_out(est, scalar), _out(p, scalar), _out(low, scalar), _out(high, scalar))


def relative_change_interval(k1, n1, k2, n2, conf: float = 0.95) -> DiffInterval:
    """Relative change ``p2 / p1 - 1`` (fraction; -0.2 = "decreased by 20%") with the Katz log interval.

    ``SE(log RR) = sqrt(1/k2 - 1/n2 + 1/k1 - 1/n1)`` (Katz, Baptista, Azen & Pike 1978, Biometrics 34:469-474);
    interval ``exp(log RR +/- z SE) - 1``. When k1 or k2 is 0 (or equals n) the Haldane correction adds 0.5 to
    every cell (k + 0.5, n + 1) for the SE only. A baseline of 0 (k1 = 0) makes the relative change undefined: all
    NaN. ``k2 = 0`` with ``k1 > 0`` gives the estimate -1 (-100%) with a finite, corrected interval.
    """
    scalar = _is_scalar(k1, n1, k2, n2)
    k1, n1, k2, n2 = np.broadcast_arrays(_arr(k1), _arr(n1), _arr(k2), _arr(n2))
    z = z_value(conf)
    ok = _valid_counts(k1, n1) & _valid_counts(k2, n2) & (k1 > 0)
    zero_cell = (k1 == 0) | (k2 == 0) | (k1 == n1) | (k2 == n2)
    with np.errstate(invalid="ignore", divide="ignore"):
        rr = (k2 / n2) / (k1 / n1)
        a1 = np.where(zero_cell, k1 + 0.5, k1)
        b1 = np.where(zero_cell, n1 + 1.0, n1)
        a2 = np.where(zero_cell, k2 + 0.5, k2)
        b2 = np.where(zero_cell, n2 + 1.0, n2)
        rr_c = np.where(zero_cell, (a2 / b2) / (a1 / b1), rr)
        se = np.sqrt(1 / a2 - 1 / b2 + 1 / a1 - 1 / b1)
        low = rr_c * np.exp(-z * se) - 1
        high = rr_c * np.exp(z * se) - 1
    est = np.where(ok, rr - 1, np.nan)
    low = np.where(ok, low, np.nan)
    high = np.where(ok, high, np.nan)
    return DiffInterval(_out(est, scalar), _out(low, scalar), _out(high, scalar))


def cohens_h(p1, p2):
    """Cohen's h = 2 asin(sqrt(p1)) - 2 asin(sqrt(p2)) (Cohen 1988, ch. 6). NaN outside [0, 1]."""
    scalar = _is_scalar(p1, p2)
    p1, p2 = np.broadcast_arrays(_arr(p1), _arr(p2))
    with np.errstate(invalid="ignore"):
        ok = (p1 >= 0) & (p1 <= 1) & (p2 >= 0) & (p2 <= 1)
        h = 2 * np.arcsin(np.sqrt(np.where(ok, p1, np.nan))) - 2 * np.arcsin(
            np.sqrt(np.where(ok, p2, np.nan))
        )
    return _out(h, scalar)


# --------------------------------------------------------------------------------------- means and medians


def median_se(sd, n):
    """Large-sample standard error of a median of percentiles (SGPs, uniform): ``sqrt(3) * sd / sqrt(n)`` (see
    MEDIAN_SE_FACTOR). NaN when n <= 0 or sd is NaN."""
    scalar = _is_scalar(sd, n)
    sd, n = np.broadcast_arrays(_arr(sd), _arr(n))
    with np.errstate(invalid="ignore", divide="ignore"):
        se = np.where(n > 0, MEDIAN_SE_FACTOR * sd / np.sqrt(np.where(n > 0, n, 1)), np.nan)
    return _out(se, scalar)


def mean_diff_interval(m1, se1, m2, se2, conf: float = 0.95) -> DiffInterval:
    """Normal interval for ``m2 - m1`` from two independent estimates with standard errors ``se1``, ``se2``."""
    scalar = _is_scalar(m1, se1, m2, se2)
    m1, se1, m2, se2 = np.broadcast_arrays(_arr(m1), _arr(se1), _arr(m2), _arr(se2))
    z = z_value(conf)
    d = m2 - m1
    se = np.sqrt(se1**2 + se2**2)
    return DiffInterval(_out(d, scalar), _out(d - z * se, scalar), _out(d + z * se, scalar))


def mean_diff_test(m1, se1, m2, se2):
    """Two-sided z-test p-value for ``m2 - m1 == 0``. NaN when an SE is missing; 1.0 when both SEs are 0 and the
    estimates are equal (0.0 when they differ)."""
    scalar = _is_scalar(m1, se1, m2, se2)
    m1, se1, m2, se2 = np.broadcast_arrays(_arr(m1), _arr(se1), _arr(m2), _arr(se2))
    se = np.sqrt(se1**2 + se2**2)
    with np.errstate(invalid="ignore", divide="ignore"):
        p = 2 * _st.norm.sf(np.abs((m2 - m1) / se))
    p = np.where(se == 0, np.where(m1 == m2, 1.0, 0.0), p)
    return _out(p, scalar)


def relative_change_interval_means(m1, se1, m2, se2, conf: float = 0.95) -> DiffInterval:
    """Relative change ``m2 / m1 - 1`` of two positive means/medians, interval by the delta method on the log
    ratio: ``SE(log R) = sqrt((se1/m1)^2 + (se2/m2)^2)``. NaN when m1 <= 0 or m2 <= 0 (the interval also needs
    m2 > 0; the estimate only needs m1 > 0)."""
    scalar = _is_scalar(m1, se1, m2, se2)
    m1, se1, m2, se2 = np.broadcast_arrays(_arr(m1), _arr(se1), _arr(m2), _arr(se2))
    z = z_value(conf)
    with np.errstate(invalid="ignore", divide="ignore"):
        est = np.where(m1 > 0, m2 / m1 - 1, np.nan)
        se = np.sqrt((se1 / m1) ** 2 + (se2 / m2) ** 2)
        ratio = m2 / m1
        pos = (m1 > 0) & (m2 > 0)
        low = np.where(pos, ratio * np.exp(-z * se) - 1, np.nan)
        high = np.where(pos, ratio * np.exp(z * se) - 1, np.nan)
    return DiffInterval(_out(est, scalar), _out(low, scalar), _out(high, scalar))


def standardized_mean_difference(m1, sd1, n1, m2, sd2, n2, conf: float = 0.95) -> SmdResult:
    """Hedges' g for ``m1 - m2`` with the pooled (within-group) SD, small-sample correction and normal CI.

    ``d = (m1 - m2) / S_within``, ``S_within = sqrt(((n1-1) sd1^2 + (n2-1) sd2^2) / (n1 + n2 - 2))``,
    ``V_d = (n1 + n2) / (n1 n2) + d^2 / (2 (n1 + n2))``, ``J = 1 - 3 / (4 df - 1)`` with ``df = n1 + n2 - 2``,
    ``g = J d``, ``V_g = J^2 V_d``. Reference: Borenstein, Hedges, Higgins & Rothstein (2009), *Introduction to
    Meta-Analysis*, ch. 4 (worked example: 103/5.5/50 vs 100/4.5/50 -> d 0.5970, g 0.5924, V_g 0.0411).
    NaN when df < 1 or the pooled SD is 0.
    """
    scalar = _is_scalar(m1, sd1, n1, m2, sd2, n2)
    m1, sd1, n1, m2, sd2, n2 = np.broadcast_arrays(*(_arr(v) for v in (m1, sd1, n1, m2, sd2, n2)))
    z = z_value(conf)
    df = n1 + n2 - 2
    with np.errstate(invalid="ignore", divide="ignore"):
        ok = (n1 > 0) & (n2 > 0) & (df >= 1)
        s_within = np.sqrt(((n1 - 1) * sd1**2 + (n2 - 1) * sd2**2) / df)
        ok = ok & (s_within > 0)
        d = (m1 - m2) / s_within
        v_d = (n1 + n2) / (n1 * n2) + d**2 / (2 * (n1 + n2))
        j = 1 - 3 / (4 * df - 1)
        g = j * d
        se = np.sqrt(j**2 * v_d)
    g, d, se = (np.where(ok, v, np.nan) for v in (g, d, se))
    return SmdResult(*(_out(v, scalar) for v in (g, d, se, g - z * se, g + z * se)))


def bootstrap_median_diff(a, b, seed: int, n_boot: int = 2000, conf: float = 0.95) -> DiffInterval:
    """Percentile bootstrap interval for ``median(b) - median(a)`` (a = baseline values, b = current values).

    Seeded (``numpy.random.default_rng(seed)``): the same inputs and seed always give the same interval. NaN values
    are dropped; a group of fewer than two values gives NaN. ``scipy.stats.bootstrap`` resamples each group apart,
    in batches that bound memory (the draws of the loop it replaced: the same intervals to 1e-12).
    """
    a, b = (x[np.isfinite(x)] for x in (_arr(a).reshape(-1), _arr(b).reshape(-1)))
    if a.size < 2 or b.size < 2 or n_boot < 1:
        return DiffInterval(float("nan"), float("nan"), float("nan"))
    est = float(np.median(b) - np.median(a))
    res = _st.bootstrap((a, b), lambda x, y, axis=-1: np.median(y, axis=axis) - np.median(x, axis=axis),
                       n_resamples=n_boot, batch=max(1, 2_000_000 // max(a.size, b.size)), confidence_level=conf,
                       method="percentile", rng=np.random.default_rng(seed))
    low, high = res.confidence_interval
    return DiffInterval(est, float(low), float(high))

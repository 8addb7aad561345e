"""Statistics against published or hand-computed values.

Sources:
- Newcombe RG (1998a). Two-sided confidence intervals for the single proportion: comparison of seven methods.
  Statistics in Medicine 17:857-872, Table I (Wilson score method without continuity correction).
- Newcombe RG (1998b). Interval estimation for the difference between independent proportions: comparison of eleven
  methods. Statistics in Medicine 17:873-890, Table II, method 10 (hybrid score, no continuity correction).
- Borenstein M, Hedges LV, Higgins JPT, Rothstein HR (2009). Introduction to Meta-Analysis, ch. 4 (worked example
  of d and Hedges' g from means, SDs and sample sizes).
- Exact binomial tail probabilities and Cohen's h / Katz intervals are computed by hand in the comments.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats as st

from equity_outcomes.judge import stats

# ----------------------------------------------------------------------------------------------- Wilson


@pytest.mark.parametrize(
    ("k", "n", "low", "high"),
    [
        (81, 263, 0.2553, 0.3662),  # Newcombe 1998a, Table I, example (a)
        (15, 148, 0.0624, 0.1605),  # example (b)
        (0, 20, 0.0, 0.1611),  # example (c)
        (1, 29, 0.0061, 0.1718),  # example (d)
    ],
)
def test_wilson_matches_newcombe_1998a(k, n, low, high):
    lo, hi = stats.wilson_interval(k, n)
    assert lo == pytest.approx(low, abs=5e-5)
    assert hi == pytest.approx(high, abs=5e-5)


def test_wilson_edges_do_not_crash():
    assert stats.wilson_interval(0, 10)[0] == 0.0
    assert stats.wilson_interval(10, 10)[1] == 1.0
    lo, hi = stats.wilson_interval(0, 0)
    assert math.isnan(lo) and math.isnan(hi)
    lo, hi = stats.wilson_interval(5, 3)  # k > n: invalid counts
    assert math.isnan(lo) and math.isnan(hi)


def test_wilson_vectorised():
    lo, hi = stats.wilson_interval(np.array([81, 0]), np.array([263, 0]))
    assert lo[0] == pytest.approx(0.2553, abs=5e-5)
    assert np.isnan(lo[1]) and np.isnan(hi[1])


# --------------------------------------------------------------------------------------------- Newcombe


@pytest.mark.parametrize(
    ("k1", "n1", "k2", "n2", "diff", "low", "high"),
    [
        # Newcombe 1998b, Table II, method 10, written as (group 1, group 2) with the difference p1 - p2.
        (56, 70, 48, 80, 0.2000, 0.0524, 0.3339),  # (a)
        (9, 10, 3, 10, 0.6000, 0.1705, 0.8090),  # (b)
        (6, 7, 2, 7, 0.5714, 0.0582, 0.8062),  # (c)
        (5, 56, 0, 29, 0.0893, -0.0381, 0.1926),  # (d)
        (0, 10, 0, 20, 0.0000, -0.1611, 0.2775),  # (e)
        (0, 10, 0, 10, 0.0000, -0.2775, 0.2775),  # (f)
        (10, 10, 0, 20, 1.0000, 0.6791, 1.0000),  # (g)
        (10, 10, 0, 10, 1.0000, 0.6075, 1.0000),  # (h)
    ],
)
def test_newcombe_method_10_matches_newcombe_1998b(k1, n1, k2, n2, diff, low, high):
    # Our function returns p2 - p1 (baseline = group 1, current = group 2): pass Newcombe's groups swapped.
    d = stats.newcombe_diff_interval(k2, n2, k1, n1)
    assert d.estimate == pytest.approx(diff, abs=5e-5)
    assert d.low == pytest.approx(low, abs=5e-5)
    assert d.high == pytest.approx(high, abs=5e-5)


def test_newcombe_zero_n_is_nan():
    d = stats.newcombe_diff_interval(0, 0, 3, 10)
    assert all(math.isnan(x) for x in d)


# -------------------------------------------------------------------------------------- two-proportion test


def test_two_proportion_test_equals_chi_square_without_correction():
    table = np.array([[56, 14], [48, 32]])
    chi2 = st.chi2_contingency(table, correction=False)
    assert stats.two_proportion_test(48, 80, 56, 70) == pytest.approx(chi2.pvalue, rel=1e-10)


def test_two_proportion_test_edges():
    assert stats.two_proportion_test(0, 10, 0, 10) == 1.0  # both 0%: no evidence of a difference
    assert stats.two_proportion_test(10, 10, 5, 5) == 1.0
    assert math.isnan(stats.two_proportion_test(0, 0, 1, 2))


# ------------------------------------------------------------------------------------------ binomial test


def test_binomial_share_test_exact_p_values():
    # P(X >= 8 | n=10, p=0.5) = (C(10,8) + C(10,9) + C(10,10)) / 2^10 = (45 + 10 + 1) / 1024
    r = stats.binomial_share_test(8, 10)
    assert r.p_value == pytest.approx(56 / 1024, abs=1e-12)
    assert r.estimate == 0.8
    # P(X >= 10 | n=10) = 1/1024; P(X <= 2 | n=10) = (1 + 10 + 45) / 1024
    assert stats.binomial_share_test(10, 10).p_value == pytest.approx(1 / 1024)
    assert stats.binomial_share_test(2, 10, alternative="less").p_value == pytest.approx(56 / 1024)
    # two-sided, symmetric null: 2 * 56/1024
    assert stats.binomial_share_test(8, 10, alternative="two-sided").p_value == pytest.approx(112 / 1024)
    # matches scipy's binomtest
    assert stats.binomial_share_test(60, 100).p_value == pytest.approx(
        st.binomtest(60, 100, 0.5, alternative="greater").pvalue
    )


def test_binomial_share_test_intervals():
    # Clopper-Pearson for 8/10: beta quantiles (hand formula) and scipy's exact interval agree
    r = stats.binomial_share_test(8, 10)
    ci = st.binomtest(8, 10).proportion_ci(0.95, method="exact")
    assert (r.ci_low, r.ci_high) == pytest.approx((ci.low, ci.high))
    assert stats.binomial_share_test(0, 10).ci_low == 0.0
    assert stats.binomial_share_test(10, 10).ci_high == 1.0
    w = stats.binomial_share_test(81, 263, method="wilson")
    assert w.ci_low == pytest.approx(0.2553, abs=5e-5)
    empty = stats.binomial_share_test(0, 0)
    assert all(math.isnan(x) for x in empty)


# --------------------------------------------------------------------------------------- relative change


def test_relative_change_katz_hand_computed():
    # 20/100 -> 30/100: RR = 1.5, SE(log RR) = sqrt(1/30 - 1/100 + 1/20 - 1/100) = sqrt(0.0633333) = 0.2516611
    # z * SE = 1.959964 * 0.2516611 = 0.4932468; CI = 1.5 * exp(-/+ 0.4932468) = (0.915961, 2.456437)
    # -> relative change -8.40% to +145.64%
    r = stats.relative_change_interval(20, 100, 30, 100)
    assert r.estimate == pytest.approx(0.5)
    assert r.low == pytest.approx(0.915961 - 1, abs=1e-5)
    assert r.high == pytest.approx(2.456437 - 1, abs=1e-5)


def test_relative_change_zero_cells():
    assert all(math.isnan(x) for x in stats.relative_change_interval(0, 100, 5, 100))  # undefined from 0
    r = stats.relative_change_interval(20, 100, 0, 100)  # -100%, Haldane-corrected interval
    assert r.estimate == -1.0
    assert -1 < r.low < r.high < 0
    assert all(math.isnan(x) for x in stats.relative_change_interval(1, 0, 1, 10))


def test_relative_change_of_means_delta_method():
    # 50 (SE 2) -> 55 (SE 2): SE(log R) = sqrt((2/50)^2 + (2/55)^2) = 0.054054
    r = stats.relative_change_interval_means(50, 2, 55, 2)
    se = math.sqrt((2 / 50) ** 2 + (2 / 55) ** 2)
    z = st.norm.ppf(0.975)
    assert r.estimate == pytest.approx(0.1)
    assert r.low == pytest.approx(1.1 * math.exp(-z * se) - 1)
    assert r.high == pytest.approx(1.1 * math.exp(z * se) - 1)


# ------------------------------------------------------------------------------------ effect sizes, SEs


def test_cohens_h_hand_computed():
    # 2 asin(sqrt(.5)) - 2 asin(sqrt(.25)) = 2 (pi/4) - 2 (pi/6) = pi/6
    assert stats.cohens_h(0.5, 0.25) == pytest.approx(math.pi / 6)
    # 2 asin(1) - 2 asin(0) = pi
    assert stats.cohens_h(1.0, 0.0) == pytest.approx(math.pi)
    assert math.isnan(stats.cohens_h(1.2, 0.5))


def test_hedges_g_borenstein_example():
    # Borenstein et al. (2009) ch. 4: X1 = 103, X2 = 100, S1 = 5.5, S2 = 4.5, n1 = n2 = 50
    # S_within = 5.0249, d = 0.5970, V_d = 0.0418, J = 0.9923, g = 0.5924, V_g = 0.0411, SE_g = 0.2028
    r = stats.standardized_mean_difference(103, 5.5, 50, 100, 4.5, 50)
    assert r.d == pytest.approx(0.5970, abs=5e-5)
    assert r.g == pytest.approx(0.5924, abs=5e-5)
    assert r.se**2 == pytest.approx(0.0411, abs=5e-5)
    assert r.se == pytest.approx(0.2028, abs=5e-5)
    assert r.low == pytest.approx(0.5924 - 1.959964 * 0.2028, abs=5e-4)
    assert all(math.isnan(x) for x in stats.standardized_mean_difference(1, 0, 1, 1, 0, 1))


def test_median_se():
    assert stats.median_se(28, 49) == pytest.approx(3 ** 0.5 * 28 / 7)
    assert math.isnan(stats.median_se(28, 0))


def test_mean_diff_interval_and_test():
    d = stats.mean_diff_interval(50, 3, 56, 4)
    assert d.estimate == 6
    assert d.low == pytest.approx(6 - 1.959964 * 5, abs=1e-5)
    assert stats.mean_diff_test(50, 3, 56, 4) == pytest.approx(2 * st.norm.sf(6 / 5))
    assert stats.mean_diff_test(50, 0, 50, 0) == 1.0


def test_bootstrap_median_diff_is_seeded():
    rng = np.random.default_rng(0)
    a, b = rng.normal(50, 10, 80), rng.normal(55, 10, 90)
    r1 = stats.bootstrap_median_diff(a, b, seed=42, n_boot=500)
    r2 = stats.bootstrap_median_diff(a, b, seed=42, n_boot=500)
    assert r1 == r2
    assert r1.estimate == pytest.approx(np.median(b) - np.median(a))
    assert r1.low < r1.estimate < r1.high
    assert all(math.isnan(x) for x in stats.bootstrap_median_diff([], b, seed=1))

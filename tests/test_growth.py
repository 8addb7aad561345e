"""The SGP engine: solver against HiGHS, B-spline bases, the method on one cohort, the warehouse progressions."""

from __future__ import annotations

import dataclasses

import duckdb
import numpy as np
import pytest

from equity_outcomes.judge.growth import histories as H
from equity_outcomes.judge.growth.quantreg import FitStats, fit_quantiles, frisch_newton
from equity_outcomes.judge.growth.sgp import cohort_sgps, load_settings, prior_order
from equity_outcomes.judge.growth.splines import PriorBasis, prior_basis

TAUS = (np.arange(1, 101) - 0.5) / 100


def highs_quantile_fit(x: np.ndarray, y: np.ndarray, tau: float) -> tuple[np.ndarray, float]:
    """The exact reference: the primal LP min tau 1'u + (1 - tau) 1'v s.t. X b + u - v = y, u, v >= 0, by HiGHS.

    Returns the coefficients and the optimal objective (the sum of check losses)."""
    from scipy.optimize import linprog
    from scipy.sparse import csr_matrix, eye, hstack

    n, p = x.shape
    cost = np.concatenate([np.zeros(p), np.full(n, tau), np.full(n, 1.0 - tau)])
    a_eq = hstack([csr_matrix(x), eye(n), -eye(n)], format="csr")
    bounds = [(None, None)] * p + [(0, None)] * (2 * n)
    out = linprog(cost, A_eq=a_eq, b_eq=y, bounds=bounds, method="highs")
    if out.status != 0:
        raise RuntimeError(f"HiGHS did not solve the quantile regression: {out.message}")
    return out.x[:p], float(out.fun)


def check_loss(x: np.ndarray, y: np.ndarray, coef: np.ndarray, taus: np.ndarray) -> np.ndarray:
    """Sum of check losses per tau (coef is p x m)."""
    r = y[:, None] - x @ coef
    return np.where(r >= 0, taus * r, (taus - 1.0) * r).sum(axis=0)


def _cohort(n: int, seed: int = 7, shift: float = 0.0):
    """Integer scale scores (440-560) with two priors, as MCAS: ties everywhere."""
    rng = np.random.default_rng(seed)
    a = rng.normal(0, 1, n)
    score = lambda k: np.clip(np.round(500 + 20 * (a + 0.3 * rng.normal(size=n) + 0.1 * k)), 440, 560)  # noqa: E731
    prior_2, prior_1 = score(0), score(1)
    current = np.clip(score(2) + np.round(shift), 440, 560)
    return current, np.column_stack([prior_1, prior_2])


def _design(priors: np.ndarray) -> np.ndarray:
    settings = load_settings()
    bases = [prior_basis(priors[:, k], list(settings.knot_percentiles), settings.boundary_extension)
             for k in range(priors.shape[1])]
    return np.hstack([np.ones((len(priors), 1))] + [b.design(priors[:, k]) for k, b in enumerate(bases)])


def test_interior_point_reaches_the_highs_optimum_at_every_tested_quantile():
    current, priors = _cohort(1500)
    x = _design(priors)
    stats = FitStats()
    coef = frisch_newton(x, current, TAUS, stats=stats)
    ours = check_loss(x, current, coef, TAUS)
    for t in (0, 4, 25, 50, 75, 95, 99):
        _, best = highs_quantile_fit(x, current, TAUS[t])
        assert ours[t] == pytest.approx(best, rel=1e-9), TAUS[t]
    assert stats.iterations < 100


def test_preprocessing_gives_the_full_problems_optimum():
    current, priors = _cohort(12_000, seed=3)
    x = _design(priors)
    stats = FitStats()
    taus = TAUS[2::6]  # 17 quantiles, both tails included: the full problem is the slow part
    fast = fit_quantiles(x, current, taus, stats=stats)
    full = frisch_newton(x, current, taus)
    assert 0 < stats.band < len(current) and stats.full_taus < len(taus)  # the reduced problems were used
    np.testing.assert_allclose(check_loss(x, current, fast, taus), check_loss(x, current, full, taus), rtol=1e-9)


def test_bspline_basis_is_a_partition_of_unity_and_continues_the_end_cubic_outside():
    basis = PriorBasis((470.0, 490.0, 510.0, 530.0), (428.0, 572.0))
    x = np.linspace(430, 570, 200)
    m = basis.design(x)
    assert m.shape == (200, 7)
    # bs() drops the first B-spline: it is 1 - the sum of the others, and it vanishes right of the first knot
    first = 1 - m.sum(axis=1)
    assert np.all(first >= -1e-12) and np.allclose(first[x > 470], 0)
    # outside the boundary the end piece's cubic goes on (no clamping): the third difference is constant
    out = basis.design(np.array([580.0, 590.0, 600.0, 610.0, 620.0]))
    assert np.allclose(np.diff(out, n=4, axis=0), 0, atol=1e-9)


def test_knots_at_quantiles_and_boundaries_at_the_widened_range():
    scores = np.arange(440, 561, dtype=float)
    b = prior_basis(scores, [0.2, 0.4, 0.6, 0.8], 0.1)
    assert b.knots == (464.0, 488.0, 512.0, 536.0)
    assert b.boundaries == (428.0, 572.0)
    few = prior_basis(np.array([500.0] * 50 + [510.0] * 50), [0.2, 0.4, 0.6, 0.8], 0.1)
    assert few.knots == (500.0, 510.0)  # repeated knots kept once


def test_sgps_are_integers_1_to_99_uniform_and_use_the_highest_order_available():
    current, priors = _cohort(4000, seed=11)
    priors[:400, 1] = np.nan  # only one prior
    priors[:100, 0] = np.nan  # none (prior 2 alone does not count: priors are consecutive)
    settings = dataclasses.replace(load_settings(), min_cohort_size=(100, 1000, 1500))
    r = cohort_sgps(current, priors, settings)
    assert r.sgp.dtype.kind == "i"
    assert set(np.unique(r.order)) == {0, 1, 2}
    assert (r.order[:100] == 0).all() and (r.sgp[:100] == 0).all()
    assert (r.order[100:400] == 1).all() and (r.order[400:] == 2).all()
    scored = r.sgp[r.sgp > 0]
    assert scored.min() >= 1 and scored.max() <= 99
    deciles = np.histogram(scored, bins=[1, 11, 21, 31, 41, 51, 61, 71, 81, 91, 100])[0] / len(scored)
    assert np.all(np.abs(deciles - 0.1) <= 0.02), deciles
    assert r.cohort_n[400] == 3600 and r.cohort_n[100] == 3900  # order 2 fitted on 3,600, order 1 on 3,900


def test_a_small_norm_group_falls_back_to_the_next_order():
    current, priors = _cohort(600, seed=5)
    settings = dataclasses.replace(load_settings(), min_cohort_size=(100, 1000, 1500))
    r = cohort_sgps(current, priors, settings)
    assert set(np.unique(r.order)) == {1} and (r.cohort_n == 600).all()


def test_same_priors_higher_score_never_lower_sgp_and_fitted_quantiles_never_cross():
    current, priors = _cohort(3000, seed=2)
    settings = load_settings()
    r = cohort_sgps(current, priors, settings)
    model = r.models[2]
    fitted = model.fitted_quantiles(priors[:50], settings.prediction_digits)
    assert np.all(np.diff(fitted, axis=1) >= 0)
    grid = np.arange(440, 561, dtype=float)
    same = np.repeat(priors[:1], len(grid), axis=0)
    sgp = model.percentiles(grid, same, settings)
    assert np.all(np.diff(sgp) >= 0) and sgp[0] == 1 and sgp[-1] == 99


def test_baseline_models_applied_to_a_later_cohort_see_its_growth():
    base_current, base_priors = _cohort(3000, seed=21)
    later_current, later_priors = _cohort(3000, seed=22, shift=6)  # six scale points more growth
    settings = load_settings()
    base = cohort_sgps(base_current, base_priors, settings)
    own = cohort_sgps(later_current, later_priors, settings)
    referenced = cohort_sgps(later_current, later_priors, settings, models=base.models)
    assert abs(np.median(own.sgp) - 50) <= 3  # cohort-referenced: always centred
    assert np.median(referenced.sgp) >= 60  # baseline-referenced: the extra growth shows
    assert (referenced.cohort_n == 3000).all()


def test_prior_order_counts_consecutive_priors_from_the_most_recent():
    p = np.array([[1.0, 2.0, 3.0], [1.0, np.nan, 3.0], [np.nan, 2.0, 3.0]])
    assert prior_order(p, 3).tolist() == [3, 1, 0]
    assert prior_order(p, 2).tolist() == [2, 1, 0]


def test_progressions_skip_untested_grades_and_years():
    con = duckdb.connect()
    con.execute("""CREATE TABLE stg_assessments AS
        SELECT 'S' || s AS student_id, '01' AS org_code, y AS school_year, lpad((g)::VARCHAR, 2, '0') AS grade,
               'math' AS subject, 500.0 + s % 7 AS scaled_score
        FROM range(150) t(s), (VALUES (2018, 8), (2019, 8), (2019, 7), (2020, 9), (2021, 10), (2021, 9),
                                     (2021, 6), (2022, 10)) v(y, g)""")
    # 2020 grade 9 has scores but too few to be a prior step
    con.execute("DELETE FROM stg_assessments WHERE school_year = 2020 AND student_id > 'S5'")
    settings = dataclasses.replace(load_settings(), grades=("06", "10"))
    steps = H.progressions(con, settings, None)
    got = {(r.school_year, r.grade, r.k): (r.prior_year, r.prior_grade_n) for r in steps.itertuples()}
    assert got[(2021, "10", 1)] == (2019, 8)  # grade 9 (2020) too small, so back to grade 8 two years before
    assert (2021, "10", 2) not in got  # 2018 has no grade 7
    assert (2021, "06", 1) not in got  # nothing on grade 6's diagonal
    assert got[(2022, "10", 1)] == (2021, 9)
    hist = H.histories(con, settings, steps, [2021])
    assert set(hist["grade"]) == {"06", "10"} and len(hist) == 300
    g10 = hist[hist["grade"] == "10"]
    assert g10["prior_1"].notna().all() and g10["prior_2"].isna().all()

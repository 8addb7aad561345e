"""equity_outcomes.research: filters, read-only access during a run, gaps, effect sizes and difference in differences."""

from __future__ import annotations

import json
import math
import shutil
import subprocess
import sys
import textwrap

import duckdb
import numpy as np
import pandas as pd
import pytest

from equity_outcomes import research as api
from equity_outcomes.errors import EquityOutcomesError
from equity_outcomes.judge import stats
from equity_outcomes.research import (
    TwfeWarning,
    did_estimate,
    effect_size_for_change,
    gap_to_state,
    open_warehouse,
)


@pytest.fixture(scope="module")
def wh(demo_run):
    warehouse = open_warehouse(demo_run["warehouse"])
    yield warehouse
    warehouse.close()


@pytest.fixture(scope="module")
def con(demo_run):
    """An independent read-only connection for the expected values."""
    connection = duckdb.connect(str(demo_run["warehouse"]), read_only=True)
    yield connection
    connection.close()


def count(con, sql: str, params=None) -> int:
    return con.execute(sql, params or []).fetchall()[0][0]


# ------------------------------------------------------------------------------------------------------ filters


def test_metric_values_filters_match_sql(wh, con):
    df = wh.metric_values(schools=[110505, "00110010"], years=range(2021, 2024), subgroups=["all", "low_income"],
                          metrics="pct_absent_10_plus_days", source="student")
    expected = count(con, """SELECT count(*) FROM metric_values WHERE org_level = 'school' AND source = 'student'
        AND org_code IN ('00110505', '00110010') AND school_year BETWEEN 2021 AND 2023
        AND subgroup IN ('all', 'low_income') AND metric = 'pct_absent_10_plus_days'""")
    assert len(df) == expected == 2 * 3 * 2
    assert set(df["org_code"]) == {"00110505", "00110010"}  # an int code is zero-padded
    assert set(df["school_year"]) == {2021, 2022, 2023}
    assert set(df["source"]) == {"student"} and set(df["org_level"]) == {"school"}


def test_subject_filter_ignores_case_and_none_means_no_filter(wh, con):
    upper = wh.metric_values(schools="00130010", years=2024, metrics="pct_meeting_or_exceeding", subjects="ELA",
                             subgroups="all")
    lower = wh.metric_values(schools="00130010", years=2024, metrics="pct_meeting_or_exceeding", subjects="ela",
                             subgroups="all")
    assert len(upper) == len(lower) > 0 and set(upper["subject"]) == {"ela"}
    every_level = wh.metric_values(metrics="mean_sgp", org_level=None)
    assert set(every_level["org_level"]) == {"school", "network", "state"}
    assert len(every_level) == count(con, "SELECT count(*) FROM metric_values WHERE metric = 'mean_sgp'")
    network = wh.metric_values(metrics="mean_sgp", org_level="network")
    assert set(network["org_code"]) == {"network"}


def test_include_suppressed_false_drops_null_values(wh):
    every = wh.metric_values(metrics="pct_absent_10_plus_days", source="student")
    published = wh.metric_values(metrics="pct_absent_10_plus_days", source="student", include_suppressed=False)
    assert every["is_suppressed"].any()
    assert len(published) == int((~every["is_suppressed"]).sum())
    assert published["value"].notna().all()


def test_filter_values_are_bound_parameters_not_sql(wh):
    hostile = "00110505' OR '1'='1"
    assert wh.metric_values(schools=hostile).empty
    assert wh.metric_values(metrics=["x'); DROP TABLE metric_values; --"]).empty
    assert len(wh.metric_values(metrics="pct_absent_10_plus_days")) > 0  # still there
    assert wh.metric_values(schools=[]).empty  # an empty list selects nothing


def test_bad_choices_are_clear_errors(wh):
    with pytest.raises(EquityOutcomesError, match="org_level"):
        wh.metric_values(org_level="county")
    with pytest.raises(EquityOutcomesError, match="source"):
        wh.metric_values(source="survey")


def test_target_results_reconciliation_readiness_and_roster(wh, con):
    tr = wh.target_results(targets=["absence", "suspension"], subgroups="all", network_only=True)
    assert set(tr["target_id"]) == {"absence", "suspension"} and tr["is_network_school"].all()
    assert len(tr) == count(con, """SELECT count(*) FROM target_results WHERE target_id IN ('absence', 'suspension')
        AND subgroup = 'all' AND is_network_school""")
    met = wh.target_results(statuses="met")
    assert set(met["status"]) == {"met"}

    rec = wh.reconciliation(metrics="pct_chronically_absent", years=[2019, 2024], statuses="match")
    assert len(rec) == count(con, """SELECT count(*) FROM reconciliation WHERE metric = 'pct_chronically_absent'
        AND school_year IN (2019, 2024) AND status = 'match'""") > 0

    summary = wh.readiness(schools="00110010")
    items = wh.readiness(schools="00110010", items=True)
    assert set(summary["org_code"]) == {"00110010"} and "mean_rating" in summary
    assert "item_id" in items and len(items) > len(summary)

    roster = wh.roster()
    assert len(roster) == 12 and roster["org_code"].is_monotonic_increasing
    assert wh.sql("SELECT count(*) AS n FROM roster WHERE is_network_school = ?", [1])["n"][0] == 6


# -------------------------------------------------------------------------------------------- opening / closing


def test_open_warehouse_defaults_to_the_project_warehouse(demo_run, tmp_path, monkeypatch):
    home = tmp_path / "home"
    (home / "data" / "processed").mkdir(parents=True)
    monkeypatch.setenv("EQUITY_OUTCOMES_HOME", str(home))
    with pytest.raises(EquityOutcomesError, match="does not exist"):
        open_warehouse()
    shutil.copyfile(demo_run["warehouse"], home / "data" / "processed" / "warehouse.duckdb")
    with open_warehouse() as w:
        assert w.path == home / "data" / "processed" / "warehouse.duckdb"
        assert len(w.roster()) == 12


def test_context_manager_closes_and_connection_is_read_only(demo_run, tmp_path):
    path = tmp_path / "copy.duckdb"
    shutil.copyfile(demo_run["warehouse"], path)
    with open_warehouse(path) as w, pytest.raises(duckdb.Error, match="read-only"):
        w.sql("CREATE TABLE scratch AS SELECT 1 AS x")
    assert w.con is None
    with pytest.raises(EquityOutcomesError, match="closed"):
        w.roster()
    w.close()  # idempotent


WRITER = textwrap.dedent("""
    import sys
    from equity_outcomes.warehouse import StagedWarehouse

    with StagedWarehouse(sys.argv[1]) as staged:
        con = staged.connect()
        con.execute("CREATE TABLE api_test_marker AS SELECT 42 AS answer")
        con.execute("DELETE FROM metric_values WHERE metric = 'pct_absent_10_plus_days'")
        con.close()
        print("staged", flush=True)
        sys.stdin.readline()          # mid-write: wait here until the reader has read
        staged.commit()
    print("committed", flush=True)
""")


def test_readers_are_safe_while_a_flow_writes(demo_run, tmp_path):
    path = tmp_path / "warehouse.duckdb"
    shutil.copyfile(demo_run["warehouse"], path)
    with open_warehouse(path) as first:
        before = len(first.metric_values(metrics="pct_absent_10_plus_days"))
    proc = subprocess.Popen([sys.executable, "-c", WRITER, str(path)], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "staged", proc.stderr.read()
        assert (tmp_path / "warehouse.duckdb.staging").exists()
        reader = open_warehouse(path)  # the writer holds its lock and the staging copy, not the file
        assert len(reader.metric_values(metrics="pct_absent_10_plus_days")) == before > 0
        assert "api_test_marker" not in reader.tables()
        proc.stdin.write("go\n")
        proc.stdin.flush()
        assert proc.stdout.readline().strip() == "committed", proc.stderr.read()
        assert proc.wait(timeout=60) == 0
        # the open reader still sees the version it opened; a new one sees the committed run
        assert len(reader.metric_values(metrics="pct_absent_10_plus_days")) == before
        reader.close()
        with open_warehouse(path) as after:
            assert "api_test_marker" in after.tables()
            assert after.metric_values(metrics="pct_absent_10_plus_days").empty
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)


# ------------------------------------------------------------------------------------------------ gap to state


@pytest.mark.parametrize(
    ("org_code", "metric", "subgroup", "subject", "source"),
    [
        ("00130010", "pct_meeting_or_exceeding", "low_income", "ela", "student"),
        ("00130010", "pct_meeting_or_exceeding", "latino", "math", "dese"),
        ("00110505", "pct_meeting_or_exceeding", "black", "ela", "student"),   # a high school: grade 10
        ("00110305", "pct_absent_10_plus_days", "swd", None, "student"),
        ("00170005", "mean_sgp", "el", "math", "dese"),
    ],
)
def test_gap_to_state_equals_metric_gaps(wh, con, org_code, metric, subgroup, subject, source):
    ours = gap_to_state(wh, org_code, metric, subgroup, subject=subject, source=source)
    grade = ours.attrs["grade"]
    view = con.execute(
        """SELECT school_year, value, state_value, gap_to_state FROM metric_gaps WHERE org_level = 'school'
           AND org_code = ? AND metric = ? AND subgroup = ? AND subject IS NOT DISTINCT FROM ? AND grade = ?
           AND source = ? ORDER BY school_year""",
        [org_code, metric, subgroup, subject, grade, source],
    ).df()
    assert len(ours) == len(view) >= 5
    assert ours["school_year"].tolist() == view["school_year"].tolist()
    for a, b in [("value", "value"), ("state_value", "state_value"), ("gap", "gap_to_state")]:
        np.testing.assert_allclose(ours[a].astype(float), view[b].astype(float), rtol=0, atol=1e-9)
    assert ours["state_value"].notna().any()
    known = ours.dropna(subset=["gap"])
    np.testing.assert_allclose(known["gap"], known["value"] - known["state_value"], atol=1e-12)


def test_gap_to_state_picks_the_pooled_grade_and_explains_missing_rows(wh):
    elementary = gap_to_state(wh, "00130010", "pct_meeting_or_exceeding", "all", subject="ELA")
    assert elementary.attrs["grade"] == "03-08"
    with pytest.raises(EquityOutcomesError, match="no student rows"):
        gap_to_state(wh, "00130010", "pct_meeting_or_exceeding", "all", subject="history")


# ----------------------------------------------------------------------------------------------- effect sizes


def test_effect_sizes_are_re_exported_from_stats():
    assert api.cohens_h is stats.cohens_h
    assert api.standardized_mean_difference is stats.standardized_mean_difference
    assert api.wilson_interval is stats.wilson_interval
    assert math.isclose(api.cohens_h(0.5, 0.25), 2 * math.asin(math.sqrt(0.5)) - 2 * math.asin(math.sqrt(0.25)))


def test_cohens_h_for_a_change_matches_a_hand_computation(wh, con):
    org, metric = "00110505", "pct_absent_10_plus_days"
    rows = dict(con.execute(
        """SELECT school_year, [value, n_students] FROM metric_values WHERE org_code = ? AND metric = ?
           AND subgroup = 'all' AND source = 'student' AND org_level = 'school' AND school_year IN (2021, 2024)""",
        [org, metric]).fetchall())
    (p1, n1), (p2, n2) = rows[2021], rows[2024]
    h = 2 * math.asin(math.sqrt(p2 / 100)) - 2 * math.asin(math.sqrt(p1 / 100))
    half = 1.959963984540054 * math.sqrt(1 / n1 + 1 / n2)
    es = effect_size_for_change(wh, org, metric, "all", 2021, 2024)
    assert es.kind == "cohens_h"
    assert math.isclose(es.effect, h, abs_tol=1e-12) and h < -0.5  # the absence improver's fall
    assert math.isclose(es.ci_low, h - half, abs_tol=1e-9) and math.isclose(es.ci_high, h + half, abs_tol=1e-9)
    assert es.magnitude == ("medium" if abs(h) < 0.8 else "large")
    assert math.isclose(es.change, p2 - p1) and (es.n_baseline, es.n_current) == (n1, n2)


def test_hedges_g_for_a_change_matches_a_hand_computation(wh, con):
    org, metric = "00130010", "mean_sgp"
    rows = dict(con.execute(
        """SELECT school_year, [value, std_dev, n_students] FROM metric_values WHERE org_code = ? AND metric = ?
           AND subgroup = 'all' AND source = 'student' AND org_level = 'school' AND subject = 'math'
           AND grade = '03-08' AND school_year IN (2019, 2025)""",
        [org, metric]).fetchall())
    (m1, s1, n1), (m2, s2, n2) = rows[2019], rows[2025]
    # Borenstein et al. (2009) ch. 4, current minus baseline
    s_within = math.sqrt(((n2 - 1) * s2**2 + (n1 - 1) * s1**2) / (n1 + n2 - 2))
    d = (m2 - m1) / s_within
    j = 1 - 3 / (4 * (n1 + n2 - 2) - 1)
    se = j * math.sqrt((n1 + n2) / (n1 * n2) + d**2 / (2 * (n1 + n2)))
    es = effect_size_for_change(wh, org, metric, "all", 2019, 2025, subject="MATH")
    assert es.kind == "hedges_g" and es.grade == "03-08"
    assert math.isclose(es.effect, j * d, abs_tol=1e-12) and j * d > 0.2  # the growth improver's rise
    assert math.isclose(es.ci_low, j * d - 1.959963984540054 * se, abs_tol=1e-9)
    assert math.isclose(es.ci_high, j * d + 1.959963984540054 * se, abs_tol=1e-9)


def test_effect_size_refuses_medians_and_suppressed_values(wh):
    with pytest.raises(EquityOutcomesError, match="median"):
        effect_size_for_change(wh, "00130010", "median_sgp", "all", 2019, 2025, subject="math")
    with pytest.raises(EquityOutcomesError, match="no student value"):
        effect_size_for_change(wh, "00130010", "pct_meeting_or_exceeding", "all", 2020, 2025, subject="ela")


# ----------------------------------------------------------------------------------- difference in differences


def _panel(con):
    return con.execute(
        """SELECT m.org_code, m.school_year, m.value, m.denominator AS w,
                  coalesce(r.is_network_school = 1 AND m.school_year >= r.implementation_start_year, FALSE)::INT AS d
           FROM metric_values m LEFT JOIN roster r USING (org_code)
           WHERE m.org_level = 'school' AND m.metric = 'pct_absent_10_plus_days' AND m.subgroup = 'all'
             AND m.source = 'student' AND m.value IS NOT NULL ORDER BY 1, 2""").df()


def test_twfe_equals_a_dummy_variable_regression_with_cluster_robust_se(wh, con):
    panel = _panel(con)
    schools = pd.get_dummies(panel["org_code"], dtype=float).to_numpy()
    years = pd.get_dummies(panel["school_year"], dtype=float).to_numpy()[:, 1:]
    x = np.column_stack([panel["d"].to_numpy(float), years, schools])
    y, w = panel["value"].to_numpy(float), panel["w"].to_numpy(float)
    xtwx = x.T @ (x * w[:, None])
    beta = np.linalg.solve(xtwx, x.T @ (w * y))
    e = y - x @ beta
    bread = np.linalg.inv(xtwx)
    groups = panel["org_code"].to_numpy()
    scores = np.array([(x[groups == g] * (w * e)[groups == g][:, None]).sum(axis=0) for g in np.unique(groups)])
    # pyfixest's (fixest's) default small-sample correction, k_fixef='nonnested': K counts the treatment and every
    # level of the year effects (all 8, no reference dropped); the school effects are nested in the clusters and not
    # counted. (The hand-written TWFE before #20 counted 7 year dummies: a 0.6% smaller SE on the demo.)
    n, g, k = len(y), len(scores), 1 + years.shape[1] + 1
    vcov = g / (g - 1) * (n - 1) / (n - k) * bread @ scores.T @ scores @ bread

    with pytest.warns(TwfeWarning):
        result = did_estimate(wh, method="twfe")
    assert result.method == "twfe" and result.weights == "denominator"
    assert math.isclose(result.estimate_pp, beta[0], abs_tol=1e-9)
    assert math.isclose(result.se, math.sqrt(vcov[0, 0]), rel_tol=1e-8)
    assert result.df == 11 and result.n_obs == n == 96
    assert (result.n_schools_treated, result.n_schools_control) == (6, 6)
    from scipy import stats as st
    half = st.t.ppf(0.975, 11) * result.se
    assert math.isclose(result.ci_low, beta[0] - half, abs_tol=1e-9)
    assert math.isclose(result.p_value, 2 * st.t.sf(abs(beta[0]) / result.se, 11), rel_tol=1e-9)


def test_did_on_the_demo_network_brackets_the_known_effect(wh, demo_run):
    known = json.loads((demo_run["raw"] / "known_effects.json").read_text())["did"]
    with pytest.warns(TwfeWarning):
        twfe = did_estimate(wh, method="twfe")
    imputation = did_estimate(wh, weights=None)
    assert imputation.method == "did2s"
    assert twfe.contains(known["effect_pp_student_weighted"]), twfe.summary()
    assert imputation.contains(known["effect_pp"]), imputation.summary()
    assert imputation.n_treated_obs == known["treated_school_years"]
    assert set(imputation.cells["org_code"]) == set(
        wh.roster().query("is_network_school == 1")["org_code"])


def test_did_arguments_are_checked(wh):
    with pytest.raises(EquityOutcomesError, match="method"):
        did_estimate(wh, method="synthetic_control")
    with pytest.raises(EquityOutcomesError, match="cluster"):
        did_estimate(wh, cluster="district")
    with pytest.raises(EquityOutcomesError, match="no dese"):
        did_estimate(wh, source="dese", metric="pct_suspended")
    with pytest.raises(EquityOutcomesError, match="weights=None"):
        did_estimate(wh, source="dese")  # DESE attendance rows carry no counts
    dese = did_estimate(wh, source="dese", weights=None)
    schools = wh.sql("SELECT count(DISTINCT org_code) AS n FROM metric_values WHERE source = 'dese' AND org_level = "
                     "'school' AND metric = 'pct_absent_10_plus_days' AND subgroup = 'all' AND value IS NOT NULL")
    assert dese.weights is None and dese.n_obs == 8 * int(schools["n"].iloc[0])  # the rest of the state too


@pytest.fixture(scope="module")
def bigger_network(tmp_path_factory):
    """62 schools (31 in the network) over 2018-2025: roster and enrollment only, built in ~15 s."""
    from equity_outcomes import stages
    from equity_outcomes.synth import generate_network
    from equity_outcomes.warehouse import StagedWarehouse

    out = tmp_path_factory.mktemp("did_network")
    raw = out / "raw"
    generate_network(raw, n_students=40_000, dese_exports=False, readiness=False)
    files = [raw / "roster.csv", *sorted((raw / "student").glob("*/enrollment.csv"))]
    warehouse = out / "warehouse.duckdb"
    with StagedWarehouse(warehouse) as staged:
        stages.ingest_stage(staged.work_path, files)
        stages.build_stage(staged.work_path)
        staged.commit()
    return warehouse, json.loads((raw / "known_effects.json").read_text())["did"]


@pytest.mark.slow
def test_did_recovers_the_generators_known_effect(bigger_network):
    warehouse, known = bigger_network
    assert known["metric"] == "pct_absent_10_plus_days" and known["subgroup"] == "all"
    with open_warehouse(warehouse) as w:
        with pytest.warns(TwfeWarning):
            twfe = {weights: did_estimate(w, method="twfe", weights=weights) for weights in ("denominator", None)}
        results = {
            ("twfe", "denominator"): twfe["denominator"],
            ("twfe", None): twfe[None],
            ("did2s", "denominator"): did_estimate(w),
            ("did2s", None): did_estimate(w, weights=None),
            ("callaway_santanna", None): did_estimate(w, method="callaway_santanna", weights=None),
        }
    for (_method, weights), r in results.items():
        # weighted by students the estimand is the student-weighted ATT; unweighted, the mean over school-years
        target = known["effect_pp_student_weighted"] if weights else known["effect_pp"]
        assert r.contains(target), (r.summary(), target)
        assert r.ci_high < 0 and r.p_value < 0.001, r.summary()  # the effect is detected, not just not excluded
        assert r.n_schools_treated >= 25 and r.n_schools_control >= 25
    # the imputation estimator's treated school-years are exactly the generator's
    assert results[("did2s", None)].n_treated_obs == known["treated_school_years"]

"""`equity-outcomes growth` on the demo warehouse: student_sgp, supplied SGPs win, and the growth target judged from
computed SGPs when none were supplied."""

from __future__ import annotations

import shutil

import numpy as np
import pytest

from equity_outcomes.cli import main
from equity_outcomes.warehouse import connect, connect_read_only

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def grown(demo_run, tmp_path_factory):
    """A copy of the demo warehouse after `growth` (supplied SGPs present), and its metric values before."""
    wh = tmp_path_factory.mktemp("growth") / "warehouse.duckdb"
    shutil.copyfile(demo_run["warehouse"], wh)
    con = connect_read_only(wh)
    before = con.execute("SELECT * FROM metric_values WHERE metric IN ('median_sgp', 'mean_sgp') AND source = 'student' "
                         "ORDER BY ALL").df()
    con.close()
    assert main(["growth", "--warehouse", str(wh)]) == 0
    return wh, before


def test_student_sgp_holds_integers_1_to_99_with_even_pooled_deciles(grown):
    con = connect_read_only(grown[0])
    try:
        t = con.execute("SELECT * FROM student_sgp").df()
        cols = [r[0] for r in con.execute("DESCRIBE student_sgp").fetchall()]
    finally:
        con.close()
    assert {"student_id", "org_code", "school_year", "grade", "subject", "sgp", "sgp_order", "cohort_n",
            "norm_group", "source"} <= set(cols)
    assert len(t) > 30_000 and t["sgp"].between(1, 99).all() and (t["sgp"] == t["sgp"].round()).all()
    assert t["student_id"].str.fullmatch("[0-9a-f]{20}").all()  # pseudonymized at ingest, not the S... ids
    deciles = np.histogram(t["sgp"], bins=[1, 11, 21, 31, 41, 51, 61, 71, 81, 91, 100])[0] / len(t)
    assert np.all(np.abs(deciles - 0.10) <= 0.02), deciles
    assert (t["cohort_n"] >= 100).all() and set(t["sgp_order"]) <= {1, 2}


def test_supplied_sgps_win_and_the_difference_is_reported(grown):
    wh, before = grown
    con = connect_read_only(wh)
    try:
        after = con.execute("SELECT * FROM metric_values WHERE metric IN ('median_sgp', 'mean_sgp') "
                            "AND source = 'student' ORDER BY ALL").df()
        comp = con.execute("SELECT sum(n_supplied_used), sum(n_computed_used), sum(n_both), "
                           "avg(correlation) FROM sgp_comparison").fetchall()[0]
    finally:
        con.close()
    assert after.equals(before)  # every demo student with priors has a supplied SGP: nothing changes
    n_supplied, n_computed, n_both, corr = comp
    assert n_supplied > 40_000 and n_computed == 0 and n_both > 30_000
    assert corr > 0.2  # the same growth draws move both (see docs/growth.md for the synthetic model)


def test_growth_target_is_judged_from_computed_sgps_when_none_were_supplied(grown, tmp_path):
    wh = tmp_path / "no_sgp.duckdb"
    shutil.copyfile(grown[0], wh)
    con = connect(wh)
    con.execute("UPDATE raw_student_assessments SET sgp = NULL")  # a district's file without SGPs
    con.execute("DELETE FROM student_sgp")
    con.close()
    assert main(["growth", "--warehouse", str(wh)]) == 0
    assert main(["evaluate", "--warehouse", str(wh)]) == 0
    con = connect_read_only(wh)
    try:
        used = con.execute("SELECT sum(n_supplied_used), sum(n_computed_used) FROM sgp_comparison").fetchall()[0]
        n_metric = con.execute("SELECT count(*) FROM metric_values WHERE metric = 'median_sgp' AND source = 'student' "
                               "AND NOT is_suppressed").fetchall()[0][0]
        status = dict(con.execute(
            "SELECT status, count(*) FROM target_results WHERE target_id = 'growth' AND subgroup = 'all' "
            "AND org_level = 'school' GROUP BY 1").fetchall())
    finally:
        con.close()
    assert used[0] == 0 and used[1] > 30_000
    assert n_metric > 500
    rated = sum(v for k, v in status.items() if k in ("met", "moving_toward", "initial_steps", "area_of_concern"))
    assert rated >= 6, status

"""End to end on the demo network (the flow's warehouse) and on the real DESE files."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from equity_outcomes import stages
from equity_outcomes.warehouse import StagedWarehouse, connect_read_only

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def demo(demo_run):
    con = connect_read_only(demo_run["warehouse"])
    effects = json.loads((demo_run["raw"] / "known_effects.json").read_text())
    yield con, effects
    con.close()


def test_every_overlapping_cell_reconciles_with_the_dese_exports(demo):
    con, _ = demo
    status = dict(con.execute("SELECT status, count(*) FROM reconciliation GROUP BY 1").fetchall())
    assert status.get("match", 0) > 5000
    assert status.get("mismatch", 0) == 0
    # a value DESE publishes is never one the student data suppresses
    assert status.get("suppressed_in_student", 0) == 0
    metrics = {r[0] for r in con.execute("SELECT DISTINCT metric FROM reconciliation WHERE status='match'").fetchall()}
    assert {"pct_absent_10_plus_days", "pct_chronically_absent", "pct_in_school_suspension",
            "pct_meeting_or_exceeding", "mean_sgp", "pct_masscore_complete"} <= metrics


ROLE_TARGETS = {
    "absence_improver": ("absence", [None]),
    "suspension_improver": ("suspension", [None]),
    "proficiency_improver": ("proficiency", ["ela", "math"]),
    "growth_improver": ("growth", ["ela", "math"]),
    "survey_improver": ("perceptions", [None]),
}


def rating(con, org, target, subject, subgroup="all"):
    rows = con.execute(
        "SELECT rating, status FROM target_results WHERE org_code=? AND target_id=? AND subgroup=? "
        "AND subject IS NOT DISTINCT FROM ?",
        [org, target, subgroup, subject],
    ).fetchall()
    assert len(rows) == 1, (org, target, subject, rows)
    return rows[0]


def test_schools_built_to_meet_a_target_are_rated_4(demo):
    """Met, and rated 4 where the change is distinguishable from noise (#20: else 'met, not yet distinguishable from
    noise', rated 3; the calibration in docs/targets.md gives the power by group size); a pandemic baseline is not
    rated, the next valid baseline named."""
    con, effects = demo
    checked = pandemic = fours = 0
    for org, school in effects["schools"].items():
        for role in school["roles"]:
            if role not in ROLE_TARGETS:
                continue
            target, subjects = ROLE_TARGETS[role]
            for subject in subjects:
                got = rating(con, org, target, subject)
                reason = con.execute("SELECT status_reason FROM target_results WHERE org_code=? AND target_id=? AND "
                                     "subgroup='all' AND subject IS NOT DISTINCT FROM ?",
                                     [org, target, subject]).fetchone()[0]
                if reason.startswith("baseline not comparable"):
                    assert got == (None, "not_comparable") and "next valid baseline: 20" in reason, (org, role)
                    pandemic += 1
                else:
                    assert got in ((4, "met"), (3, "met_not_distinguishable")), (org, role, subject, got)
                    checked += 1
                    fours += got[0] == 4
    assert checked >= 6 and pandemic >= 1 and fours >= checked / 2, (checked, fours)


def test_static_schools_are_not_rated_4_on_the_targets_others_were_built_to_meet(demo):
    con, effects = demo
    static = [org for org, s in effects["schools"].items() if "static" in s["roles"]]
    assert len(static) >= 2
    for org in static:
        for target, subjects in ROLE_TARGETS.values():
            for subject in subjects:
                assert rating(con, org, target, subject)[0] != 4, (org, target, subject)


def test_gap_closer_closes_the_low_income_gap_to_the_state(demo):
    con, effects = demo
    closers = [org for org, s in effects["schools"].items() if "gap_closer" in s["roles"]]
    assert closers
    for org in closers:
        for subject in ("ela", "math"):
            assert rating(con, org, "state_gap", subject, "low_income") == (4, "met")


def test_not_yet_due_before_year_three_for_achievement(demo):
    con, _ = demo
    rows = con.execute(
        "SELECT DISTINCT status FROM target_results WHERE target_id='proficiency' AND implementation_year < 3"
    ).fetchall()
    assert {r[0] for r in rows} <= {"not_yet_due"}


def test_known_absence_effect_appears_in_the_metric_values(demo):
    con, effects = demo
    for e in effects["effects"]:
        if e["role"] != "absence_improver":
            continue
        base, cur = con.execute(
            "SELECT max(value) FILTER (WHERE school_year = ?), max(value) FILTER (WHERE school_year = ?) "
            "FROM metric_values WHERE org_code=? AND metric='pct_absent_10_plus_days' AND subgroup='all' "
            "AND source='student'",
            [e["from_year"] - 1, e["from_year"] + 1, e["org_code"]],
        ).fetchall()[0]
        assert (cur - base) / base * 100 <= -20


def test_network_rows_and_state_rows_exist(demo):
    con, _ = demo
    levels = dict(con.execute("SELECT org_level, count(*) FROM metric_values GROUP BY 1").fetchall())
    assert levels.get("network", 0) > 0 and levels.get("state", 0) > 0


def test_issue_20_done_when_on_the_demo(demo, demo_raw):
    """Non-network schools (comparison and DESE-only: no effect by construction) rated 4 on at most 5% of their rated
    rows (18% before #20); every rating has an interval and its method; no rating on a baseline the catalog says is
    not comparable (the pandemic years); no peer drawn from the network."""
    from equity_outcomes.judge import load_catalog

    con, _ = demo
    catalog = load_catalog()
    rows = con.execute("SELECT * FROM target_results").df()
    rated = rows[rows["rating"].notna()]
    others = rated[~rated["is_network_school"].astype(bool) & (rated["org_level"] == "school")]
    assert len(others) >= 400
    assert (others["rating"] == 4).mean() <= 0.05, f"{(others['rating'] == 4).sum()} of {len(others)} rated 4"
    assert not (rated[["ci_low", "ci_high", "ci_method"]].isna().any(axis=1)).any()
    assert (rated["ci_low"] <= rated["ci_high"]).all()
    domain = {t.id: t.domain for t in catalog.targets}
    pandemic = [y in catalog.comparability.not_comparable_baselines.get(domain[t], ())
                for t, y in zip(rows["target_id"], rows["baseline_year"], strict=True)]
    assert any(pandemic) and rows.loc[pandemic, "rating"].isna().all()
    assert (rows.loc[pandemic, "status"] == "not_comparable").all()
    roster = pd.read_csv(demo_raw / "roster.csv", dtype=str)
    network = set(roster.loc[roster["is_network_school"] == "1", "org_code"])
    peers = set(rows["peer_org_codes"].dropna().str.split(",").explode())
    assert len(peers) >= 10 and not peers & network


# ---- the real DESE files -------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def dese_targets(dese_warehouse, tmp_path_factory):
    import shutil

    w = tmp_path_factory.mktemp("dese_eval") / "w.duckdb"
    shutil.copy(dese_warehouse, w)
    with StagedWarehouse(w) as staged:
        stages.evaluate_stage(staged.work_path, baseline_year=2019, current_year=2024)
        staged.commit()
    con = connect_read_only(w)
    yield con
    con.close()


def test_real_dese_absence_and_suspension_rated_for_every_school_with_both_years(dese_targets):
    con = dese_targets
    for target, metric in (("absence", "pct_absent_10_plus_days"), ("suspension", "pct_out_of_school_suspension")):
        both = con.execute(
            "SELECT count(*) FROM (SELECT org_code FROM metric_values WHERE metric=? AND subgroup='all' "
            "AND org_level='school' AND value IS NOT NULL AND school_year IN (2019, 2024) "
            "GROUP BY org_code HAVING count(DISTINCT school_year) = 2)",
            [metric],
        ).fetchall()[0][0]
        rated = con.execute(
            "SELECT count(*) FROM target_results WHERE target_id=? AND subgroup='all' AND org_level='school' "
            "AND baseline_year=2019 AND current_year=2024 AND rating IS NOT NULL",
            [target],
        ).fetchall()[0][0]
        assert both > 500  # DESE blanks discipline percents when 0-5 students were disciplined
        assert rated >= both, (target, rated, both)


# Read by hand from ../shared/data/dese/edcommonwealth__sqm-dashboards/data/admin_data/dese:
#   2C_1_attendance.csv 'Absent 10 or more days': Abby Kelley Foster (04450105) line 10979 (2018-19) 16.0,
#   line 1814 (2023-24) 39.7; Abington High (00010505) line 10982 45.9, line 1815 55.7.
#   2A_1_students_suspended.csv '% Out-of-School Suspension': 04450105 line 11001 2.4, line 1819 0.0;
#   00010505 line 11003 3.5, line 1821 5.1.
@pytest.mark.parametrize(
    "target, org, baseline, current, rating",
    [
        ("absence", "04450105", 16.0, 39.7, 1),
        ("absence", "00010505", 45.9, 55.7, 1),
        ("suspension", "04450105", 2.4, 0.0, 4),
        ("suspension", "00010505", 3.5, 5.1, 1),
    ],
)
def test_real_dese_targets_by_hand(dese_targets, target, org, baseline, current, rating):
    row = dese_targets.execute(
        "SELECT baseline_value, current_value, change_rel_pct, rating, source FROM target_results "
        "WHERE target_id=? AND subgroup='all' AND org_code=?",
        [target, org],
    ).fetchall()
    assert len(row) == 1
    b, c, rel, r, source = row[0]
    assert (b, c, r, source) == (pytest.approx(baseline), pytest.approx(current), rating, "dese")
    assert rel == pytest.approx((current - baseline) / baseline * 100)


def test_a_2020_baseline_falls_back_to_2019_with_its_flag(demo):
    con, effects = demo
    starts_2021 = [o for o, s in effects["schools"].items() if s["implementation_start_year"] == 2021]
    assert starts_2021
    rows = con.execute(
        "SELECT org_code, baseline_year, flags FROM target_results WHERE target_id IN ('proficiency', 'growth') "
        "AND subgroup = 'all' AND org_code IN (SELECT unnest(?))", [starts_2021]
    ).fetchall()
    assert rows and all(b == 2019 and "no_2020_assessments" in f for _, b, f in rows)

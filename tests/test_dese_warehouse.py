"""DESE cells in the warehouse: the real exports of ../shared/data/dese give exactly the metric values the reader
before #18 gave (for the metrics the catalog had then) (tests/data/dese_metric_values_before.parquet, taken with that reader), the dese_more exports load
and their mapped measures reach metric_values with the right year, level and subgroup, and
`equity-outcomes export dese_cells` writes the long table."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

from equity_outcomes import stages
from equity_outcomes.cli import main
from equity_outcomes.paths import shared_data_dir
from equity_outcomes.warehouse import StagedWarehouse

BEFORE = Path(__file__).parent / "data" / "dese_metric_values_before.parquet"
KEYS = ["org_code", "org_level", "school_year", "subgroup", "metric", "subject", "grade"]
MORE = shared_data_dir() / "dese_more"


def test_shared_dese_metric_values_unchanged(dese_warehouse: Path) -> None:
    con = duckdb.connect(str(dese_warehouse), read_only=True)
    try:
        con.execute(f"CREATE TEMP VIEW before AS SELECT * FROM read_parquet('{BEFORE}')")
        con.execute(
            "CREATE TEMP VIEW after AS SELECT org_code, org_level, school_year::SMALLINT AS school_year, subgroup, "
            "metric, subject, grade, numerator, denominator, n_students::INTEGER AS n_students, value, is_suppressed "
            "FROM metric_values WHERE metric IN (SELECT DISTINCT metric FROM before)"
        )
        counts = con.execute("SELECT (SELECT count(*) FROM before), (SELECT count(*) FROM after)").fetchall()[0]
        assert counts == (353_773, 353_773)
        # metrics added to the catalog since (graduation) are the only other rows
        added = {r[0] for r in con.execute("SELECT DISTINCT metric FROM metric_values WHERE metric NOT IN "
                                           "(SELECT DISTINCT metric FROM before)").fetchall()}
        assert added <= {"pct_graduated_4yr", "pct_cohort_dropped_out"}
        keys = ", ".join(KEYS)
        for a, b in (("before", "after"), ("after", "before")):
            missing = con.execute(f"SELECT {keys} FROM {a} EXCEPT SELECT {keys} FROM {b} LIMIT 5").fetchall()
            assert not missing, f"in {a} only: {missing}"
        differ = con.execute(
            "SELECT b.*, a.value AS value_after FROM before b JOIN after a USING (org_code, org_level, school_year, "
            "subgroup, metric, grade) WHERE b.subject IS NOT DISTINCT FROM a.subject AND ("
            " NOT (abs(coalesce(b.value, -1) - coalesce(a.value, -1)) <= 1e-9 AND (b.value IS NULL) = (a.value IS NULL))"
            " OR NOT (abs(coalesce(b.numerator, -1) - coalesce(a.numerator, -1)) <= 1e-9)"
            " OR NOT (abs(coalesce(b.denominator, -1) - coalesce(a.denominator, -1)) <= 1e-9)"
            " OR b.n_students IS DISTINCT FROM a.n_students OR b.is_suppressed IS DISTINCT FROM a.is_suppressed)"
            " LIMIT 5"
        ).fetchall()
        assert not differ, differ
    finally:
        con.close()


@pytest.fixture(scope="module")
def more_warehouse(tmp_path_factory) -> Path:
    if not MORE.is_dir():
        pytest.skip(f"the shared DESE files are not at {MORE}")
    warehouse = tmp_path_factory.mktemp("more") / "more.duckdb"
    with StagedWarehouse(warehouse) as staged:
        summary = stages.ingest_stage(staged.work_path, [MORE])
        stages.build_stage(staged.work_path)
        staged.commit()
    assert summary.totals()["files_loaded"] == 41
    return warehouse


def _one(con: duckdb.DuckDBPyConnection, sql: str, params: list) -> tuple:
    rows = con.execute(sql, params).fetchall()
    assert len(rows) == 1, rows
    return rows[0]


def test_dese_more_measures_reach_metric_values(more_warehouse: Path) -> None:
    con = duckdb.connect(str(more_warehouse), read_only=True)
    try:
        q = ("SELECT value, numerator, denominator FROM metric_values WHERE org_code = ? AND school_year = ? "
             "AND metric = ? AND subgroup = 'all' AND grade = ? AND subject IS NOT DISTINCT FROM ? AND org_level = ?")
        # SSDR re-save (year from the manifest): Abby Kelley Foster district, 2021-22, OSS 2.8 of 1,447 students
        assert _one(con, q, ["04450000", 2022, "pct_out_of_school_suspension", "all", None, "district"]) == (
            2.8, None, 1447.0)
        # MCAS research file: state grade 3 ELA 2015 and 2014 P+A with the counts of the same year
        assert _one(con, q, ["00000000", 2015, "pct_proficient_or_advanced", "03", "ela", "state"]) == (
            60.0, None, 24217.0)
        assert _one(con, q, ["00000000", 2014, "pct_proficient_or_advanced", "03", "ela", "state"]) == (
            57.0, None, 68283.0)
        # legacy MCAS 2007 grade 6 (grade from the manifest)
        assert _one(con, q, ["04450105", 2007, "pct_proficient_or_advanced", "06", "ela", "school"])[0] == 51.0
        # AP per-subject tables (a title option) stay out of the All Subjects metric
        n_ap = con.execute("SELECT count(*) FROM metric_values WHERE metric = 'pct_ap_tests_score_3_5' "
                           "AND source_file LIKE '%ap_performance (32)%'").fetchall()[0][0]
        assert n_ap == 0
        kept = con.execute("SELECT count(*) FROM dese_cells WHERE selection = 'Calculus AB'").fetchall()[0][0]
        assert kept > 0
        unknown = con.execute("SELECT count(*) FROM dese_cells WHERE report LIKE 'unknown:%' "
                              "AND measure IS NULL").fetchall()[0][0]
        assert unknown == con.execute("SELECT count(*) FROM dese_cells WHERE report LIKE 'unknown:%'").fetchall()[0][0]
    finally:
        con.close()


def test_export_dese_cells(more_warehouse: Path, tmp_path: Path, capsys) -> None:
    out = tmp_path / "cells.parquet"
    assert main(["export", "dese_cells", "--warehouse", str(more_warehouse), "--out", str(out)]) in (0, None)
    con = duckdb.connect(str(more_warehouse), read_only=True)
    try:
        n = con.execute("SELECT count(*) FROM raw_dese_cells").fetchall()[0][0]
        exported = con.execute(f"SELECT count(*) FROM read_parquet('{out}')").fetchall()[0][0]
        columns = [r[0] for r in con.execute(f"DESCRIBE SELECT * FROM read_parquet('{out}')").fetchall()]
    finally:
        con.close()
    assert exported == n > 700_000
    assert "load_id" not in columns and {"measure", "value_text", "is_suppressed", "flag"} <= set(columns)
    assert f"{n:,} rows of dese_cells" in capsys.readouterr().out


def test_dese_context_holds_every_mapped_measure(more_warehouse: Path) -> None:
    con = duckdb.connect(str(more_warehouse), read_only=True)
    try:
        q = ("SELECT value, subgroup FROM dese_context WHERE org_code = ? AND school_year = ? AND measure = ? "
             "AND grade = ?")
        assert _one(con, q, ["00000000", 2021, "total_expenditure_per_pupil_usd", "all"]) == (19066.35, None)
        assert _one(con, q, ["04450105", 2012, "n_students", "KG"]) == (111.0, "all")
        assert _one(con, q, ["04450000", 2022, "pct_high_needs", "all"]) == (77.2, "all")
        # the two disagreeing 'State Totals' rows of the retention export stay out (flagged conflicting_repeat)
        assert not con.execute("SELECT * FROM dese_context WHERE report = 'staffing_retention' "
                               "AND org_level = 'state'").fetchall()
        dupes = con.execute("SELECT count(*) FROM (SELECT 1 FROM dese_context GROUP BY org_code, org_level, "
                            "school_year, report, measure, subgroup, subject, grade HAVING count(*) > 1)").fetchall()
        assert dupes == [(0,)]
    finally:
        con.close()


def test_graduation_rates_reach_metric_values(more_warehouse: Path) -> None:
    """SagnikChand gradrates.xlsx, '2021 Graduation Rate (District) All Students 4-Year Graduation Rate': row 3
    Abby Kelley Foster 82 in cohort, 98.8% graduated, 1.2% dropped out; the State Totals row 74,226 / 89.8%."""
    con = duckdb.connect(str(more_warehouse), read_only=True)
    try:
        q = ("SELECT value, denominator FROM metric_values WHERE org_code = ? AND school_year = 2021 AND metric = ? "
             "AND subgroup = 'all' AND org_level = ?")
        assert _one(con, q, ["04450000", "pct_graduated_4yr", "district"]) == (98.8, 82.0)
        assert _one(con, q, ["04450000", "pct_cohort_dropped_out", "district"]) == (1.2, 82.0)
        assert _one(con, q, ["00000000", "pct_graduated_4yr", "state"]) == (89.8, 74226.0)
    finally:
        con.close()

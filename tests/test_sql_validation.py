"""The DuckDB validator for large extracts (rules compiled from the pandera schemas) must agree with pandera:
same quarantined rows, same loaded values, on every table and on the bad-input corpus."""

from __future__ import annotations

from pathlib import Path

import pytest

from equity_outcomes.ingest import load as load_module
from equity_outcomes.ingest.load import ingest_into
from equity_outcomes.warehouse import connect

from .conftest import write_csv
from .test_student_ingest import BAD_ROWS, ENROLL, GOOD_ROW

BAD_OTHER = {
    "assessments.csv": (
        "school_year,student_id,org_code,grade,subject,test_family,scaled_score,achievement_level,sgp",
        ["2024,a1,01000005,07,ELA,nextgen,500,M,50",
         "2024,a2,01000005,07,SCI,nextgen,500,M,50",       # no SGP in science
         "2024,a3,01000005,07,ELA,legacy,250,M,50",        # level does not match the test family
         "2024,a4,01000005,07,ELA,nextgen,500,E,",         # blank SGP is fine
         "2024,a5,01000005,07,ELA,nextgen,500,E,100",      # SGP out of range
         "2024,a6,01000005,09,ELA,nextgen,500,E,10"],      # grade not tested
    ),
    "courses.csv": (
        "school_year,student_id,org_code,course_id,course_type,ap_exam_score",
        ["2024,c1,01000005,AP1,AP,4", "2024,c2,01000005,D1,DUAL,3", "2024,c3,01000005,D1,DUAL,",
         "2024,c3,01000005,D1,DUAL,", "2024,c4,01000005,AP2,AP,6",
         "2024,c5,01000005,,DUAL,", "2024,c5,01000005,,DUAL,"],  # a repeated key with a missing part
    ),
}


def _state(tmp_path: Path, files: list[Path], *, sql: bool, monkeypatch) -> tuple[set, list]:
    monkeypatch.setattr(load_module, "SQL_VALIDATION_MIN_BYTES", 0 if sql else 1 << 60)
    con = connect(tmp_path / f"{'sql' if sql else 'pd'}.duckdb")
    try:
        ingest_into(con, files, max_quarantined=100)  # the corpus is mostly bad rows: compare, do not refuse
        bad = {(Path(f).name, r) for f, r in con.execute(
            "SELECT source_file, source_row FROM quarantine").fetchall()}
        # the raw text quoted for a failed column value (the SQL validator keeps raw text only on bad rows)
        quoted = {(Path(f).name, r, c): v for f, r, c, v in con.execute(
            "SELECT source_file, source_row, column_name, value_text FROM quarantine "
            "WHERE column_name <> '' AND check_name NOT LIKE 'unique%'").fetchall()}
        tables = [t[0] for t in con.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_name LIKE 'raw_student_%'").fetchall()]
        rows = []
        for t in sorted(tables):
            cols = [c[0] for c in con.execute(f"DESCRIBE {t}").fetchall() if c[0] not in ("load_id",)]
            rows += [(t, *r) for r in con.execute(f"SELECT {', '.join(cols)} FROM {t} ORDER BY ALL").fetchall()]
        return bad, rows, quoted
    finally:
        con.close()


def test_sql_and_pandera_validators_agree(tmp_path, monkeypatch):
    raw = tmp_path / "raw" / "student" / "2024"
    files = [write_csv(raw / "enrollment.csv", ENROLL,
                       [GOOD_ROW.replace("s1,", f"g{i},") for i in range(5)] + list(BAD_ROWS.values())
                       + [GOOD_ROW.replace("s1,", "dup,"), GOOD_ROW.replace("s1,", "dup,")]
                       + ["2023,y1,01000005,07,latino,F,1,0,0,0,180,3"])]  # wrong year for the folder
    for name, (header, rows) in BAD_OTHER.items():
        files.append(write_csv(raw / name, header, rows))
    pd_bad, pd_rows, pd_quoted = _state(tmp_path, files, sql=False, monkeypatch=monkeypatch)
    sql_bad, sql_rows, sql_quoted = _state(tmp_path, files, sql=True, monkeypatch=monkeypatch)
    # enrollment: the corpus, a duplicate pair, a wrong year; assessments 4; courses: score on a DUAL course,
    # a duplicate pair, an AP score of 6, a duplicate pair with no course id
    assert len(pd_bad) == len(BAD_ROWS) + 2 + 1 + 4 + 4 + 2
    assert sql_bad == pd_bad
    assert sql_rows == pd_rows
    common = sql_quoted.keys() & pd_quoted.keys()  # pandera also names columns of table-level checks
    assert len(common) >= len(BAD_ROWS)
    assert {k: sql_quoted[k] for k in common} == {k: pd_quoted[k] for k in common}


def test_sql_validator_refuses_a_bad_header(tmp_path, monkeypatch):
    monkeypatch.setattr(load_module, "SQL_VALIDATION_MIN_BYTES", 0)
    f = write_csv(tmp_path / "student" / "2024" / "enrollment.csv", ENROLL.replace("gender", "pronoun"), [GOOD_ROW])
    con = connect(tmp_path / "w.duckdb")
    with pytest.raises(Exception, match="unexpected \\['pronoun'\\]"):
        ingest_into(con, [f])
    con.close()


def test_line_numbers_hold_in_a_file_read_in_parallel(tmp_path, monkeypatch):
    """Line numbers come from the read's insertion order, not a window: bad rows spread over a 45 MB file (large
    enough for DuckDB to read it in parallel chunks) are quarantined at exactly their lines, inside the ingest's
    transaction."""
    n = 850_000
    bad_lines = {2, 400_017, n + 1}  # the first data line, one in the middle, the last
    rows = [f"2024,s{i},01000005,07,latino,F,1,0,0,0,180,{-1 if i + 2 in bad_lines else 3}" for i in range(n)]
    f = write_csv(tmp_path / "raw" / "student" / "2024" / "enrollment.csv", ENROLL, rows)
    assert f.stat().st_size > 40e6
    monkeypatch.setattr(load_module, "SQL_VALIDATION_MIN_BYTES", 0)
    con = connect(tmp_path / "w.duckdb")
    ingest_into(con, [f])
    quarantined = {r for (r,) in con.execute("SELECT source_row FROM quarantine").fetchall()}
    first, last, loaded = con.execute(
        "SELECT min(source_row), max(source_row), count(*) FROM raw_student_enrollment").fetchall()[0]
    con.close()
    assert quarantined == bad_lines
    assert (first, last, loaded) == (3, n, n - 3)

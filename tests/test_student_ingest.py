"""Student extracts through the real loader and DuckDB: quarantine, refusals, idempotence, atomicity, locking."""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from equity_outcomes.errors import InputError, WarehouseBusyError
from equity_outcomes.ingest import load as load_module
from equity_outcomes.ingest.load import IngestError, ingest_into
from equity_outcomes.warehouse import StagedWarehouse, connect

from .conftest import write_csv

ENROLL = ("school_year,student_id,org_code,grade,race_ethnicity,gender,is_low_income,is_el,is_former_el,is_swd,"
          "days_in_membership,days_absent")
GOOD_ROW = "2024,s1,01000005,07,latino,F,1,0,0,0,180,3"


def snapshot(path: Path) -> dict:
    """Every table's full content, for 'nothing else changed' assertions."""
    con = connect(path, read_only=True)
    try:
        tables = [r[0] for r in con.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_type='BASE TABLE' ORDER BY 1").fetchall()]
        out = {}
        for t in tables:
            cols = [r[0] for r in con.execute(f"DESCRIBE {t}").fetchall()]
            keep = [c for c in cols if c not in ("load_id", "loaded_at", "seconds")]
            out[t] = sorted(map(repr, con.execute(f"SELECT {', '.join(keep)} FROM {t}").fetchall()))
        return out
    finally:
        con.close()


def load(warehouse: Path, *paths: Path, max_quarantined: float | None = None):
    with StagedWarehouse(warehouse) as staged:
        con = staged.connect()
        try:
            summary = ingest_into(con, paths, max_quarantined=max_quarantined)
        finally:
            con.close()
        staged.commit()
    return summary


@pytest.fixture
def loaded(tiny_raw: Path, tmp_path: Path) -> Path:
    w = tmp_path / "w.duckdb"
    load(w, tiny_raw)
    return w


def test_clean_network_loads_with_zero_quarantine(tiny_raw, tmp_path):
    summary = load(tmp_path / "w.duckdb", tiny_raw)
    t = summary.totals()
    assert t["rows_quarantined"] == 0 and t["files_loaded"] == 4
    con = connect(tmp_path / "w.duckdb", read_only=True)
    ids = [r[0] for r in con.execute("SELECT DISTINCT student_id FROM raw_student_enrollment").fetchall()]
    con.close()
    assert len(ids) == 22 and not any(i.startswith("s") and len(i) == 3 for i in ids)  # pseudonymized


def test_same_files_twice_is_a_no_op(loaded, tiny_raw):
    before = snapshot(loaded)
    summary = load(loaded, tiny_raw)
    assert not summary.changed and {r.status for r in summary.results} == {"unchanged"}
    after = snapshot(loaded)
    after.pop("load_audit"), before.pop("load_audit")
    assert after == before


def test_corrected_file_replaces_its_rows(loaded, tiny_raw):
    f = tiny_raw / "student" / "2024" / "discipline.csv"
    f.write_text(f.read_text().replace("2024,s21,01000005,i5,OSS,3\n", ""))
    summary = load(loaded, tiny_raw)
    assert [r.status for r in summary.results if r.path == f.resolve()] == ["replaced"]
    con = connect(loaded, read_only=True)
    assert con.execute("SELECT count(*) FROM raw_student_discipline").fetchall()[0][0] == 4
    con.close()


BAD_ROWS = {
    "days absent > membership": "2024,b1,01000005,07,latino,F,1,0,0,0,100,120",
    "negative days": "2024,b2,01000005,07,latino,F,1,0,0,0,-5,0",
    "unknown race code": "2024,b3,01000005,07,martian,F,1,0,0,0,180,1",
    "org code of 7 digits": "2024,b4,1000005,07,latino,F,1,0,0,0,180,1",
    "flag not 0/1": "2024,b5,01000005,07,latino,F,2,0,0,0,180,1",
    "future year": "2099,b6,01000005,07,latino,F,1,0,0,0,180,1",
    "text in a number": "2024,b7,01000005,07,latino,F,1,0,0,0,lots,1",
    "empty student id": "2024,,01000005,07,latino,F,1,0,0,0,180,1",
    "bad grade": "2024,b9,01000005,13,latino,F,1,0,0,0,180,1",
    "el and former el": "2024,b10,01000005,07,latino,F,1,1,1,0,180,1",
}


def test_corrupted_copy_quarantines_exactly_the_corrupted_rows(tmp_path):
    rows = [GOOD_ROW.replace("s1,", f"g{i},") for i in range(30)]
    bad = list(BAD_ROWS.values())
    mixed = rows[:10] + bad + rows[10:]
    f = write_csv(tmp_path / "raw" / "student" / "2024" / "enrollment.csv", ENROLL, mixed)
    summary = load(tmp_path / "w.duckdb", f, max_quarantined=100)  # quarantine mechanics, not the refusal
    r = summary.results[0]
    assert (r.rows_in, r.rows_loaded, r.rows_quarantined) == (40, 30, len(bad))
    con = connect(tmp_path / "w.duckdb", read_only=True)
    q = con.execute("SELECT DISTINCT source_row FROM quarantine ORDER BY 1").fetchall()
    con.close()
    assert [x[0] for x in q] == list(range(12, 12 + len(bad)))  # header is line 1, 10 good rows first


def test_duplicate_keys_quarantine_both_rows(tmp_path):
    f = write_csv(tmp_path / "raw" / "student" / "2024" / "enrollment.csv", ENROLL, [GOOD_ROW, GOOD_ROW.replace(",3", ",4")])
    r = load(tmp_path / "w.duckdb", f, max_quarantined=100).results[0]
    assert (r.rows_loaded, r.rows_quarantined) == (0, 2)


def test_school_year_must_match_its_folder(tmp_path):
    f = write_csv(tmp_path / "raw" / "student" / "2023" / "enrollment.csv", ENROLL, [GOOD_ROW])
    r = load(tmp_path / "w.duckdb", f, max_quarantined=100).results[0]
    assert r.rows_quarantined == 1


STRUCTURAL = {
    "missing column": (ENROLL.replace(",days_absent", ""), [GOOD_ROW[:-2]], "missing ['days_absent']"),
    "semicolon file": (ENROLL.replace(",", ";"), [GOOD_ROW.replace(",", ";")], "not comma-delimited"),
    "header only": (ENROLL, [], "no rows"),
}


@pytest.mark.parametrize("case", sorted(STRUCTURAL))
def test_structural_problems_refuse_the_whole_load_and_change_nothing(loaded, tmp_path, case):
    header, rows, message = STRUCTURAL[case]
    f = write_csv(tmp_path / "bad" / "student" / "2024" / "enrollment.csv", header, rows)
    before = snapshot(loaded)
    with pytest.raises(IngestError, match=re.escape(message)) as err:
        load(loaded, f)
    assert str(f.resolve()) in str(err.value) and "How to fix" in str(err.value)
    assert snapshot(loaded) == before


@pytest.mark.parametrize("in_sql", [False, True], ids=["pandera", "duckdb"])
def test_extra_columns_are_left_out_with_a_warning_and_headers_read_in_any_spelling(tmp_path, monkeypatch, in_sql):
    """An SIS extract with columns the contract lacks (a name, a note) loads without them, and says which; headers
    in another case or with spaces, or named as config/sis_spellings.yaml lists, are read as the contract's columns
    and listed as mappings. Both validators."""
    if in_sql:
        monkeypatch.setattr(load_module, "SQL_VALIDATION_MIN_BYTES", 0)
    header = (ENROLL.replace("school_year", "School Year").replace("student_id", "Student-ID")
              .replace("gender", "Sex").replace("is_swd", "SPED"))
    f = write_csv(tmp_path / "raw" / "student" / "2024" / "enrollment.csv", f"First Name,{header},local_note",
                  [f"Zebediah,{GOOD_ROW},moved in March", f"Quill,{GOOD_ROW.replace('s1', 's2')},"])
    summary = load(tmp_path / "w.duckdb", f)
    r = summary.results[0]
    assert (r.status, r.rows_loaded, r.rows_quarantined) == ("loaded", 2, 0)
    assert "warning: 2 column(s) not in the enrollment contract left out, not loaded: ['First Name', " \
           "'local_note']" in r.message
    assert {(m.column, m.value_from, m.value_to, m.rows) for m in r.mappings if m.column == "header"} == {
        ("header", "School Year", "school_year", 2), ("header", "Student-ID", "student_id", 2),
        ("header", "Sex", "gender", 2), ("header", "SPED", "is_swd", 2)}  # the last two: config/sis_spellings.yaml
    con = connect(tmp_path / "w.duckdb", read_only=True)
    try:
        columns = con.execute("SELECT table_name, column_name FROM information_schema.columns "
                              "WHERE data_type = 'VARCHAR'").fetchall()
        found = [(t, c) for t, c in columns if con.execute(
            f'SELECT count(*) FROM "{t}" WHERE "{c}" ILIKE \'%zebediah%\' OR "{c}" ILIKE \'%moved in%\'')
            .fetchall()[0][0]]
        assert con.execute("SELECT count(*) FROM raw_student_enrollment").fetchall()[0][0] == 2
    finally:
        con.close()
    assert found == []  # neither the name nor the note entered any table


def test_empty_and_utf16_files_are_refused(tmp_path):
    (tmp_path / "a").mkdir()
    empty = tmp_path / "a" / "enrollment.csv"
    empty.write_bytes(b"")
    utf16 = tmp_path / "a" / "discipline.csv"
    utf16.write_bytes("school_year,student_id\n2024,x\n".encode("utf-16"))
    with pytest.raises(IngestError) as err:
        load(tmp_path / "w.duckdb", tmp_path / "a")
    assert "empty" in str(err.value) and "UTF-16" in str(err.value)
    assert len(err.value.errors) == 2  # both files named, not just the first



def test_a_large_csv_duckdb_cannot_read_is_refused_and_ends_the_load(loaded, tmp_path):
    """A file large enough for DuckDB's validation (load.SQL_VALIDATION_MIN_BYTES) whose last line opens a quote it
    never closes: DuckDB's read fails and aborts the load's transaction. The file is refused with DuckDB's line, the
    load stops there (the next file is not read, instead of failing on the aborted transaction), nothing changes."""
    from equity_outcomes.ingest.load import SQL_VALIDATION_MIN_BYTES

    folder = tmp_path / "bad" / "student" / "2024"
    rows = [GOOD_ROW.replace("s1,", f"s{i},") for i in range(SQL_VALIDATION_MIN_BYTES // len(GOOD_ROW) + 1)]
    write_csv(folder / "enrollment.csv", ENROLL, [*rows, '2024,"s0'])
    write_csv(tmp_path / "bad" / "student" / "2025" / "enrollment.csv", ENROLL, [GOOD_ROW.replace("2024", "2025")])
    before = snapshot(loaded)
    with pytest.raises(IngestError) as err:
        load(loaded, tmp_path / "bad")
    assert err.value.errors == [err.value.errors[0]]
    assert re.search(r"2024/enrollment\.csv: the CSV cannot be read: .*CSV Error on Line: \d+ How to fix", str(err.value))
    assert "the files after it were not read" in str(err.value)
    assert snapshot(loaded) == before

def test_unknown_file_name_is_refused(tmp_path):
    f = write_csv(tmp_path / "students_2024.csv", "a,b", ["1,2"])
    with pytest.raises(InputError, match="no org identifier"):
        load(tmp_path / "w.duckdb", f)


def test_missing_key_is_a_clear_error(tmp_path, tiny_raw, monkeypatch):
    monkeypatch.delenv("EQUITY_OUTCOMES_ID_KEY")
    monkeypatch.setenv("HOME", str(tmp_path))
    with pytest.raises(Exception, match="pseudonymization key"):
        load(tmp_path / "w.duckdb", tiny_raw)


def test_second_writer_gets_a_clear_message(loaded):
    with StagedWarehouse(loaded), pytest.raises(WarehouseBusyError, match="in use by another process"):
        StagedWarehouse(loaded).__enter__()


def test_raw_duckdb_lock_is_translated(loaded):
    script = f"import duckdb, time; c = duckdb.connect({str(loaded)!r}); print('ready', flush=True); time.sleep(30)"
    holder = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "ready"
        with pytest.raises(WarehouseBusyError, match="in use by another process"):
            connect(loaded)
    finally:
        holder.kill()
        holder.wait()


def test_kill_9_during_a_large_load_leaves_the_warehouse_unchanged(loaded, tmp_path):
    big = tmp_path / "big" / "student" / "2024" / "enrollment.csv"
    big.parent.mkdir(parents=True)
    with open(big, "w") as fh:
        fh.write(ENROLL + "\n")
        for i in range(400_000):
            fh.write(f"2024,k{i},01000005,07,latino,F,1,0,0,0,180,{i % 20}\n")
    before = snapshot(loaded)
    script = textwrap.dedent(f"""
        import os
        os.environ['EQUITY_OUTCOMES_ID_KEY'] = 'demo'
        from equity_outcomes.warehouse import StagedWarehouse
        from equity_outcomes.ingest.load import ingest_into
        from pathlib import Path
        with StagedWarehouse(Path({str(loaded)!r})) as s:
            con = s.connect()
            print('loading', flush=True)
            ingest_into(con, [Path({str(big)!r})])
            con.close()
            s.commit()
    """)
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "loading"
    time.sleep(1.0)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL
    assert snapshot(loaded) == before
    # ...and usable: the next writer gets the lock and loads
    summary = load(loaded, big.parent.parent.parent / "student")
    assert summary.totals()["rows_loaded"] == 400_000
    shutil.rmtree(big.parent.parent.parent)


def test_an_open_reader_does_not_block_the_next_run(loaded, tmp_path):
    """A researcher's notebook holding the warehouse open read-only: the next load still runs and commits;
    the reader keeps the version it opened."""
    reader = connect(loaded, read_only=True)
    try:
        before = reader.execute("SELECT count(*) FROM raw_student_enrollment").fetchall()[0][0]
        extra = write_csv(tmp_path / "more" / "student" / "2024" / "enrollment.csv", ENROLL, [GOOD_ROW])
        assert load(loaded, extra).totals()["rows_loaded"] == 1
        assert reader.execute("SELECT count(*) FROM raw_student_enrollment").fetchall()[0][0] == before
    finally:
        reader.close()
    fresh = connect(loaded, read_only=True)
    assert fresh.execute("SELECT count(*) FROM raw_student_enrollment").fetchall()[0][0] == before + 1
    fresh.close()


def test_a_load_out_of_room_names_the_file_and_says_to_give_duckdb_memory(demo_raw, tmp_path, monkeypatch, capsys):
    """DuckDB out of memory and not allowed to spill while loading: an error naming the file and the fix, not a
    traceback, and no warehouse written."""
    from equity_outcomes.cli import main

    monkeypatch.setenv("EQUITY_OUTCOMES_DUCKDB_MEMORY", "64MB")
    monkeypatch.setenv("EQUITY_OUTCOMES_DUCKDB_SPILL", "0MB")
    warehouse = tmp_path / "w.duckdb"
    assert main(["ingest", "--quiet", "--no-build", "--warehouse", str(warehouse), str(demo_raw / "student")]) == 2
    err = capsys.readouterr().err
    assert re.search(r"student/\d{4}/\w+\.csv: DuckDB ran out of room loading it \(Out of Memory", err), err
    assert "How to fix: give DuckDB more memory (EQUITY_OUTCOMES_DUCKDB_MEMORY=8GB)" in err
    assert not warehouse.exists()

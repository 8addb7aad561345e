"""A district analyst's first try, through the real command line: a workspace of their own, files spelled the way an
ordinary SIS exports them, ``check`` before ``run``, one judged year, progress, and a run that survives Prefect's
server failing to start."""

from __future__ import annotations

import hashlib
import io
import os
import shutil
import subprocess
import sys
from pathlib import Path

import duckdb
import pandas as pd
import pytest

from equity_outcomes import cli, progress, stages
from equity_outcomes.ingest import load as load_module
from equity_outcomes.ingest.normalize import column_mappers
from equity_outcomes.warehouse import StagedWarehouse
from equity_outcomes.workspace import WORKSPACE_FILE, find_workspace

from .conftest import ROOT, write_csv

DEMO_WAREHOUSE = ROOT / "data" / "processed" / "warehouse.duckdb"
RACE = {"black": "Black", "latino": "Hispanic/Latino", "white": "White", "asian": "Asian",
        "multi_race": "Two or more races"}
FLAGS = {"1": "Y", "0": "N"}
ATTENDANCE_2024 = (
    "2023-24 Student Attendance Report (School) - End of Year - All Students\n"
    "School Name,School Code,Attendance Rate,Average # of Absences,Absent 10 or more days,"
    "Chronically Absent (10% or more),Chronically Absent (20% or more)\n"
    "Alpha Middle,01000005,95.0,8.0,30.0,12.0,2.0\nBeta Middle,01000010,96.0,6.0,20.0,8.0,1.0\n")


def digest(path: Path) -> str | None:
    return hashlib.sha256(path.read_bytes()).hexdigest() if path.exists() else None


def sis_spelled(raw: Path, out: Path) -> Path:
    """A copy of a contract-spelled network the way an SIS exports it: Black, Hispanic/Latino, grade 7, Y/N flags,
    school year 2023-24, Female/Male, org codes that lost their leading zeros."""
    for f in raw.rglob("*.csv"):
        df = pd.read_csv(f, dtype=str, keep_default_na=False)
        if "race_ethnicity" in df:
            df["race_ethnicity"] = df["race_ethnicity"].map(RACE)
        if "grade" in df:
            df["grade"] = df["grade"].map(lambda g: f"Grade {int(g)}" if g.isdigit() else g)
        if "school_year" in df:
            df["school_year"] = df["school_year"].map(lambda y: f"{int(y) - 1}-{y[2:]}")
        if "gender" in df:
            df["gender"] = df["gender"].map({"F": "Female", "M": "Male"})
        for c in ("org_code", "district_code"):
            if c in df:
                df[c] = df[c].str.lstrip("0")
        for c in ("is_low_income", "is_el", "is_former_el", "is_swd", "is_network_school"):
            if c in df:
                df[c] = df[c].map(FLAGS)
        target = out / f.relative_to(raw)
        target.parent.mkdir(parents=True, exist_ok=True)
        df.to_csv(target, index=False)
    return out


def run(capsys, *argv) -> tuple[int, str, str]:
    code = cli.main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def student_rows(warehouse: Path) -> dict[str, list]:
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        tables = [r[0] for r in con.execute("SELECT table_name FROM information_schema.tables "
                                            "WHERE table_name LIKE 'raw_student_%' ORDER BY 1").fetchall()]
        out = {}
        for t in tables:
            cols = [c[0] for c in con.execute(f"DESCRIBE {t}").fetchall() if c[0] not in ("load_id", "source_file")]
            out[t] = con.execute(f"SELECT {', '.join(cols)} FROM {t} ORDER BY ALL").fetchall()
        return out
    finally:
        con.close()


# ---- workspaces ----------------------------------------------------------------------------------------------
def test_init_makes_a_workspace_found_from_any_folder_below_it(tmp_path, capsys, monkeypatch):
    code, out, _ = run(capsys, "init", tmp_path / "ws", "--network", "Harbor Network")
    assert code == 0 and "Harbor Network" in out
    ws_file = tmp_path / "ws" / WORKSPACE_FILE
    assert "network: Harbor Network" in ws_file.read_text()
    for folder in ("raw/student", "raw/dese", "warehouse", "dashboards"):
        assert (tmp_path / "ws" / folder).is_dir()
    ws = find_workspace(tmp_path / "ws" / "raw" / "student")
    assert ws.root == (tmp_path / "ws").resolve() and not ws.is_demo
    assert ws.warehouse == (tmp_path / "ws" / "warehouse" / "warehouse.duckdb").resolve()
    assert find_workspace(ROOT / "src").is_demo  # the project checkout is the demo workspace
    assert find_workspace(ROOT / "src").warehouse == DEMO_WAREHOUSE
    assert find_workspace(tmp_path) is None or find_workspace(tmp_path).root != tmp_path


def test_the_analysts_run_in_a_workspace_maps_every_spelling_and_leaves_the_demo_alone(tiny_raw, tmp_path, capsys,
                                                                                       monkeypatch):
    """Done when: init ws && cd ws && run --raw SRC --no-prefect on SIS spellings: 0 rows quarantined, the mappings
    listed with counts, the warehouse inside ws/, the demo warehouse untouched."""
    src = sis_spelled(tiny_raw, tmp_path / "sis")
    demo_before = digest(DEMO_WAREHOUSE)
    assert run(capsys, "init", tmp_path / "ws")[0] == 0
    monkeypatch.chdir(tmp_path / "ws")
    code, out, err = run(capsys, "run", "--raw", src, "--no-prefect")
    assert code == 0, err
    assert "quarantined 0" in out
    assert "2024/enrollment.csv race_ethnicity: 'Hispanic/Latino' -> 'latino' (10), 'White' -> 'white' (10), " \
           "'Black' -> 'black' (3)" in out
    assert "2024/enrollment.csv grade: 'Grade 7' -> '07' (21), 'Grade 8' -> '08' (2)" in out
    assert "2024/enrollment.csv is_low_income: 'Y' -> '1' (13), 'N' -> '0' (10)" in out
    assert "2024/enrollment.csv school_year: '2023-24' -> '2024' (23)" in out
    assert "2024/discipline.csv org_code: '1000005' -> '01000005' (5)" in out
    assert "roster.csv org_code: '1000005' -> '01000005' (1), '1000010' -> '01000010' (1)" in out
    warehouse = tmp_path / "ws" / "warehouse" / "warehouse.duckdb"
    assert f"warehouse: {warehouse.resolve()}" in out
    assert digest(DEMO_WAREHOUSE) == demo_before
    con = duckdb.connect(str(warehouse), read_only=True)
    assert con.execute("SELECT count(*) FROM quarantine").fetchall()[0][0] == 0
    assert con.execute("SELECT sum(rows) FROM load_mappings WHERE column_name = 'race_ethnicity'"
                       ).fetchall()[0][0] == 23
    con.close()


@pytest.mark.parametrize("sql", [False, True], ids=["pandera", "duckdb"])
def test_sis_spellings_load_exactly_what_the_contract_spelling_loads(tiny_raw, tmp_path, monkeypatch, sql):
    monkeypatch.setattr(load_module, "SQL_VALIDATION_MIN_BYTES", 0 if sql else 1 << 60)
    src = sis_spelled(tiny_raw, tmp_path / "sis")
    for raw, name in ((tiny_raw, "contract"), (src, "sis")):
        with StagedWarehouse(tmp_path / f"{name}.duckdb") as staged:
            summary = stages.ingest_stage(staged.work_path, [raw])
            staged.commit()
        assert summary.totals()["rows_quarantined"] == 0
    assert student_rows(tmp_path / "sis.duckdb") == student_rows(tmp_path / "contract.duckdb")


@pytest.mark.parametrize("column, spellings, expected", [
    ("race_ethnicity", ["Black", "African American", "Black or African American", "BL7", "black "], "black"),
    ("race_ethnicity", ["Hispanic", "Hispanic/Latino", "Latinx", "Hispanic or Latino", "HI7"], "latino"),
    ("race_ethnicity", ["White", "Caucasian", "WH7"], "white"),
    ("race_ethnicity", ["Two or more races", "Multi-Race, Non-Hispanic", "Multiracial", "MU7"], "multi_race"),
    ("is_el", ["Y", "Yes", "TRUE", "true", "1"], "1"),
    ("is_el", ["N", "No", "False", "0"], "0"),
    ("grade", ["3", "03", "Grade 3", "Gr. 3", "3rd"], "03"),
    ("grade", ["K", "KG", "0K", "Kindergarten"], "KG"),
    ("grade", ["PK", "Pre-K", "prek"], "PK"),
    ("school_year", ["2024", "2023-24", "2023-2024", "SY24", "FY2024", "2023/24"], "2024"),
    ("gender", ["F", "Female", "f"], "F"),
])
def test_spellings_map_to_the_contract(column, spellings, expected):
    mapper = column_mappers("enrollment", {"org_code": frozenset()})[column]
    assert {s: (mapper(s) or s) for s in spellings} == dict.fromkeys(spellings, expected)


def test_values_that_cannot_be_mapped_are_left_for_validation():
    m = column_mappers("enrollment", {"org_code": frozenset({"01000005", "10000005"})})
    assert [m["school_year"](v) for v in ("2023-25", "1999", "24-25")] == [None, None, None]
    assert m["grade"]("13") is None and m["race_ethnicity"]("Martian") is None
    assert m["race_ethnicity"]("low income") is None  # a subgroup, but not a race
    assert m["org_code"]("1000005") == "01000005"
    assert m["org_code"]("999") is None  # no roster school has these digits
    roster = column_mappers("roster", None)["org_code"]
    assert roster("1000005") == "01000005" and roster("12") is None


def test_dates_in_iso_and_us_formats():
    from equity_outcomes.ingest.normalize import _date

    assert [_date(v) for v in ("2024-03-05", "2024-3-5", "3/5/2024", "03/05/24", "3-5-2024")] == ["2024-03-05"] * 5
    assert _date("2/30/2024") is None and _date("March 5") is None


# ---- check ---------------------------------------------------------------------------------------------------
def test_check_reports_without_loading(tiny_raw, tmp_path, capsys):
    src = sis_spelled(tiny_raw, tmp_path / "sis")
    write_csv(src / "student" / "2024" / "courses.csv", "school_year,student_id,org_code,course_id,course_type,"
              "ap_exam_score", [f"2023-24,c{i},1000005,AP{i},AP,{i % 5 + 1}" for i in range(30)]
              + ["2023-24,c99,1000005,AP99,AP,6"])  # 1 bad row of 31: 3%, under the 5% refusal
    warehouse = tmp_path / "w.duckdb"
    code, out, _ = run(capsys, "check", src, "--warehouse", warehouse)
    assert code == 0, out
    assert not warehouse.exists()
    assert "ok       " + str((src / "roster.csv").resolve()) + ": student table roster: 2 rows" in out
    assert "maps race_ethnicity: 'Hispanic/Latino' -> 'latino' (10), 'White' -> 'white' (10), 'Black' -> 'black' (3)" \
        in out
    assert "warning  " in out and "31 rows, 1 would be quarantined" in out
    assert "row 32, column 'ap_exam_score', value '6'" in out and "Fix: use a value from 1 to 5" in out
    assert "nothing would be refused" in out
    code, out, _ = run(capsys, "check", src, "--warehouse", warehouse, "--max-quarantined-pct", "1")
    assert code == 1 and "1 would be refused" in out and "more than the 1% allowed" in out


def test_check_names_a_missing_key(tiny_raw, tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("EQUITY_OUTCOMES_ID_KEY")
    monkeypatch.setenv("HOME", str(tmp_path))
    code, out, _ = run(capsys, "check", tiny_raw, "--warehouse", tmp_path / "w.duckdb")
    assert code == 1 and "PROBLEM  no pseudonymization key" in out


# ---- one judged year -----------------------------------------------------------------------------------------
@pytest.fixture
def two_year_raw(tiny_raw: Path) -> Path:
    """Student data for 2024 and 2025, DESE attendance for 2024 only."""
    enrollment = tiny_raw / "student" / "2024" / "enrollment.csv"
    (tiny_raw / "student" / "2025").mkdir()
    (tiny_raw / "student" / "2025" / "enrollment.csv").write_text(
        enrollment.read_text().replace("\n2024,", "\n2025,"))
    (tiny_raw / "dese").mkdir()
    (tiny_raw / "dese" / "attendance_2024.csv").write_text(ATTENDANCE_2024)
    return tiny_raw


def test_every_target_is_judged_on_one_year_and_a_missing_source_says_so(two_year_raw, tmp_path, capsys):
    warehouse = tmp_path / "w.duckdb"
    code, out, err = run(capsys, "run", "--raw", two_year_raw, "--warehouse", warehouse, "--no-prefect",
                         "--no-scorecards")
    assert code == 0, err
    con = duckdb.connect(str(warehouse), read_only=True)
    years = con.execute("SELECT DISTINCT current_year FROM target_results").fetchall()
    con.close()
    assert years == [(2025,)]
    absence = next(line for line in out.splitlines() if line.strip().startswith("absence"))
    assert "judged 2025" in absence and "student" in absence and "(no DESE attendance data for 2025)" in absence
    assert "evaluate: " in err and "judged on 2025" in err
    code, out, err = run(capsys, "evaluate", "--warehouse", warehouse, "--year", "2024")
    assert code == 0 and "judged on 2024" in out
    assert "absence:" not in out  # DESE attendance exists for 2024: nothing missing for absence


# ---- progress ------------------------------------------------------------------------------------------------
def test_one_plain_line_per_stage_and_none_with_quiet(tiny_raw, tmp_path, capsys):
    code, _, err = run(capsys, "run", "--raw", tiny_raw, "--warehouse", tmp_path / "w.duckdb", "--no-prefect",
                       "--dashboards", tmp_path / "d")
    assert code == 0
    stage_lines = [line.split(":")[0] for line in err.splitlines() if line.split(":")[0] in
                   ("ingest", "build", "evaluate", "publish")]
    assert stage_lines == ["ingest", "build", "evaluate", "publish"], err
    assert "ingest: 4 files (4 loaded, 0 unchanged), 50 rows, 0 quarantined (" in err
    code, _, err = run(capsys, "run", "--raw", tiny_raw, "--warehouse", tmp_path / "w.duckdb", "--no-prefect",
                       "--force", "--quiet", "--no-scorecards")
    assert code == 0 and err == ""


def test_live_display_on_a_terminal(tiny_raw, tmp_path):
    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    screen = Terminal()
    display = progress.Display(progress.choose_mode(quiet=False, stream=screen), stream=screen)
    assert display.mode == "live"
    with progress.activated(display), StagedWarehouse(tmp_path / "w.duckdb") as staged:
        stages.ingest_stage(staged.work_path, [tiny_raw])
        stages.build_stage(staged.work_path)
    text = screen.getvalue()
    assert "\x1b[" in text  # drawn with terminal codes
    assert "ingest" in text and "4 files (4 loaded" in text and "models built" in text


# ---- Prefect: its server may not start on a busy machine -----------------------------------------------------
def _cli(args: list, env: dict | None = None, cwd: Path | None = None) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_API")} | (env or {})
    return subprocess.run([sys.executable, "-m", "equity_outcomes.cli", *map(str, args)], env=env, cwd=cwd,
                          capture_output=True, text=True, timeout=600)


@pytest.mark.slow
def test_a_server_that_cannot_start_still_gives_a_finished_run_and_one_warning(tiny_raw, tmp_path):
    warehouse = tmp_path / "w.duckdb"
    r = _cli(["run", "--raw", tiny_raw, "--warehouse", warehouse, "--dashboards", tmp_path / "d"],
             env={"PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "0"})
    assert r.returncode == 0, r.stderr
    warnings = [line for line in r.stderr.splitlines() if line.startswith("warning:")]
    assert len(warnings) == 1 and "Prefect's local server did not start" in warnings[0], r.stderr
    assert "running the same stages without Prefect" in warnings[0]
    assert "Traceback" not in r.stderr
    assert "equity-outcomes run finished" in r.stdout and (tmp_path / "d" / "index.html").exists()
    con = duckdb.connect(str(warehouse), read_only=True)
    assert con.execute("SELECT count(*) FROM target_results").fetchall()[0][0] > 0
    con.close()


@pytest.mark.slow
def test_through_prefect_a_refused_file_is_one_message(tiny_raw, tmp_path):
    bad = tmp_path / "bad"
    shutil.copytree(tiny_raw, bad)
    discipline = bad / "student" / "2024" / "discipline.csv"
    discipline.write_text(discipline.read_text().replace(",OSS,", ",Suspended,").replace(",ISS,", ",Suspended,"))
    r = _cli(["run", "--raw", bad, "--warehouse", tmp_path / "w.duckdb"])
    assert r.returncode == 2, r.stderr
    assert "Traceback" not in r.stderr and r.stderr.count("error:") == 1, r.stderr
    assert "discipline.csv: 4 of 5 rows (80%)" in r.stderr and "Fix: use one of ISS, OSS" in r.stderr
    assert "ingest: failed" in r.stderr  # progress reached the terminal through the flow's tasks
    assert not (tmp_path / "w.duckdb").exists()

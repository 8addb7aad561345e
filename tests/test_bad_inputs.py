"""The bad-input corpus: files and argument sets a district analyst meets on a first try, through the real command
line (``cli.main``) against a real warehouse. Each case must end in one message (exit 2, or 1 for ``check``) that
names the file, row or column, and the fix, prints no traceback, and leaves the warehouse byte for byte unchanged."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from equity_outcomes import cli
from equity_outcomes.ingest import load as load_module
from equity_outcomes.ingest.schemas import ALL_TABLES
from equity_outcomes.warehouse import StagedWarehouse

from .conftest import ROOT

HEADER = {t: ",".join(s.columns) for t, s in ALL_TABLES.items()}
GOOD = {
    "roster": "01000005,Alpha Middle,01000000,Alpha,middle,1,2024,",
    "enrollment": "2024,s1,01000005,07,latino,F,1,0,0,0,180,3",
    "discipline": "2024,s1,01000005,i1,OSS,1",
    "assessments": "2024,s1,01000005,07,ELA,nextgen,500,M,50",
    "courses": "2024,s1,01000005,AP1,AP,4",
    "graduates": "2024,s1,01000005,1,0,1",
    "student_surveys": "2024,s1,01000005,fall,engagement,3.5",
    "teacher_surveys": "2024,t1,01000005,fall,empowerment,3.5",
    "capstone": "2024,s1,01000005,3",
}


def _set(table: str, column: str, value: str, row: str | None = None) -> str:
    """``row`` (default GOOD[table]) with one column replaced."""
    cells = (row or GOOD[table]).split(",")
    cells[list(ALL_TABLES[table].columns).index(column)] = value
    return ",".join(cells)


# ---- rows the contract refuses: (table, row, column, words of the fix). One bad row of one = 100% > 5%: refused.
ROW_CASES = {
    "days absent above days enrolled": ("enrollment", _set("enrollment", "days_absent", "190"), None, "cannot exceed"),
    "negative days absent": ("enrollment", _set("enrollment", "days_absent", "-2"), "days_absent", "from 0 to 200"),
    "days enrolled above 200": ("enrollment", _set("enrollment", "days_in_membership", "250"), "days_in_membership",
                                "from 0 to 200"),
    "days as text": ("enrollment", _set("enrollment", "days_absent", "three"), "days_absent", "number"),
    "unknown race label": ("enrollment", _set("enrollment", "race_ethnicity", "Martian"), "race_ethnicity",
                           "subgroup_crosswalk.csv"),
    "grade 13": ("enrollment", _set("enrollment", "grade", "13"), "grade", "use one of"),
    "unknown gender": ("enrollment", _set("enrollment", "gender", "Q"), "gender", "use one of F, M, N"),
    "flag maybe": ("enrollment", _set("enrollment", "is_el", "maybe"), "is_el", "sis_spellings.yaml"),
    "future school year": ("enrollment", _set("enrollment", "school_year", "2031"), "school_year", "from 2000"),
    "malformed school year": ("enrollment", _set("enrollment", "school_year", "2019-21"), "school_year",
                              "spring year"),
    "school year not the folder's": ("enrollment", _set("enrollment", "school_year", "2023"), "school_year",
                                     "folder of its school year"),
    "unknown school": ("enrollment", _set("enrollment", "org_code", "09999999"), "org_code", "roster.csv"),
    "org code with letters": ("enrollment", _set("enrollment", "org_code", "ABC"), "org_code", "8-digit"),
    "blank student id": ("enrollment", _set("enrollment", "student_id", ""), "student_id", "required"),
    "both el and former el": ("enrollment", "2024,s1,01000005,07,latino,F,1,1,1,0,180,3", None, "not both"),
    "unknown discipline action": ("discipline", _set("discipline", "action", "Suspended"), "action", "OSS"),
    "negative days missed": ("discipline", _set("discipline", "days_missed", "-1"), "days_missed", "from 0"),
    "sgp in science": ("assessments", _set("assessments", "subject", "SCI"), None, "leave sgp blank"),
    "level of another test family": ("assessments", _set("assessments", "achievement_level", "A"), None,
                                     "test_family"),
    "scaled score 900": ("assessments", _set("assessments", "scaled_score", "900"), "scaled_score", "from 200"),
    "untested grade 9": ("assessments", _set("assessments", "grade", "09"), "grade", "use one of"),
    "exam score on a dual course": ("courses", _set("courses", "course_type", "DUAL"), None, "ap_exam_score"),
    "ap score 6": ("courses", _set("courses", "ap_exam_score", "6"), "ap_exam_score", "from 1 to 5"),
    "graduate flag 2": ("graduates", _set("graduates", "masscore_complete", "2"), "masscore_complete", "use one of"),
    "survey score 7": ("student_surveys", _set("student_surveys", "score", "7"), "score", "from 1 to 5"),
    "survey season summer": ("student_surveys", _set("student_surveys", "season", "summer"), "season", "fall"),
    "unknown survey domain": ("student_surveys", _set("student_surveys", "domain", "happiness"), "domain",
                              "use one of"),
    "unknown teacher domain": ("teacher_surveys", _set("teacher_surveys", "domain", "salary"), "domain",
                               "use one of"),
    "capstone score 5": ("capstone", _set("capstone", "capstone_score", "5"), "capstone_score", "from 1 to 4"),
    "roster school level": ("roster", _set("roster", "school_level", "secondary"), "school_level", "use one of"),
    "roster start year as text": ("roster", _set("roster", "implementation_start_year", "next year"),
                                  "implementation_start_year", "spring year"),
    "roster district code with letters": ("roster", _set("roster", "district_code", "ALPHA"), "district_code",
                                          "8-digit"),
}


# ---- files a reader refuses whole: (relative path, bytes or text, words of the message)
def _xlsx_bytes() -> bytes:
    import io

    from openpyxl import Workbook

    wb = Workbook()
    wb.active.append(["School Name", "School Code", "Attendance Rate"])
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def _encrypted_xlsx() -> bytes:
    import io

    from msoffcrypto.format.ooxml import OOXMLFile

    out = io.BytesIO()
    OOXMLFile(io.BytesIO(_xlsx_bytes())).encrypt("secret", out)
    return out.getvalue()


ENROLL_PATH = "student/2024/enrollment.csv"
FILE_CASES = {
    "empty student file": (ENROLL_PATH, b"", "empty"),
    "blank lines only": (ENROLL_PATH, b"\n \n\n", "empty"),
    "header only": (ENROLL_PATH, HEADER["enrollment"] + "\n", "no rows"),
    "utf-16 file": (ENROLL_PATH, (HEADER["enrollment"] + "\n" + GOOD["enrollment"] + "\n").encode("utf-16"),
                    "UTF-8"),
    "binary file": (ENROLL_PATH, bytes(range(256)) * 8, "UTF-8"),
    "semicolon delimited": (ENROLL_PATH, HEADER["enrollment"].replace(",", ";") + "\n"
                            + GOOD["enrollment"].replace(",", ";") + "\n", "comma"),
    "tab delimited": (ENROLL_PATH, HEADER["enrollment"].replace(",", "\t") + "\n"
                      + GOOD["enrollment"].replace(",", "\t") + "\n", "comma"),
    "missing column": (ENROLL_PATH, HEADER["enrollment"].replace(",days_absent", "") + "\n"
                       + GOOD["enrollment"].rsplit(",", 1)[0] + "\n", "missing ['days_absent']"),
    "renamed column": (ENROLL_PATH, HEADER["enrollment"].replace("gender", "pronoun") + "\n" + GOOD["enrollment"]
                       + "\n", "unexpected ['pronoun']"),
    "duplicate column": (ENROLL_PATH, HEADER["enrollment"] + ",grade\n" + GOOD["enrollment"] + ",07\n", "grade"),
    "two names of one column": (ENROLL_PATH, HEADER["enrollment"] + ",Grade Level\n" + GOOD["enrollment"] + ",07\n",
                                "header cells [['grade', 'Grade Level']]"),
    "unbalanced quote": (ENROLL_PATH, HEADER["enrollment"] + '\n2024,"s1,01000005,07,latino,F,1,0,0,0,180,3\n',
                         "quot"),
    "too many fields": (ENROLL_PATH, HEADER["enrollment"] + "\n" + GOOD["enrollment"] + ",1,2\n", "14 fields"),
    "too many fields further down": (ENROLL_PATH, HEADER["enrollment"] + "\n" + GOOD["enrollment"] + "\n"
                                     + _set("enrollment", "student_id", "s2") + ",1\n", "line 3"),
    "duplicate student-year keys": (ENROLL_PATH, HEADER["enrollment"] + "\n" + GOOD["enrollment"] + "\n"
                                    + GOOD["enrollment"][:-1] + "5\n", "repeated rows"),
    "most rows bad": (ENROLL_PATH, HEADER["enrollment"] + "\n" + "".join(
        _set("enrollment", "student_id", f"g{i}") + "\n" for i in range(18))
        + _set("enrollment", "grade", "13", _set("enrollment", "student_id", "b1")) + "\n"
        + _set("enrollment", "grade", "14", _set("enrollment", "student_id", "b2")) + "\n", "2 of 20 rows (10%)"),
    "unknown csv": ("students_2024.csv", "a,b\n1,2\n", "no org identifier"),
    "truncated xlsx": ("dese/attendance.xlsx", _xlsx_bytes()[:300], "truncated or corrupt"),
    "password-protected xlsx": ("dese/attendance.xlsx", _encrypted_xlsx(), "password"),
    "csv renamed xlsx": ("dese/attendance.xlsx", "School Name,School Code\n", "rename it to .csv"),
    "empty xlsx": ("dese/attendance.xlsx", b"", "empty"),
    "old xls": ("dese/attendance.xlsx", bytes.fromhex("D0CF11E0A1B11AE1") + bytes(504), "97-2003"),
    "student id column in a DESE export": (
        "dese/attendance.csv",
        "2023-24 Student Attendance Report (School) - End of Year - All Students\n"
        "SASID,School Name,School Code,Attendance Rate,Average # of Absences,Absent 10 or more days,"
        "Chronically Absent (10% or more),Chronically Absent (20% or more)\n"
        "1234567890,Alpha,01000005,96.3,6.3,21.4,6.6,0.6\n", "student ids"),
}


@pytest.fixture(scope="module")
def base_warehouse(tmp_path_factory) -> Path:
    """The hand-made network of conftest (2 schools, 2024), ingested and built once."""
    from equity_outcomes import stages

    root = tmp_path_factory.mktemp("bad_inputs")
    raw = _tiny(root)
    w = root / "w.duckdb"
    with StagedWarehouse(w) as staged:
        stages.ingest_stage(staged.work_path, [raw])
        stages.build_stage(staged.work_path)
        staged.commit()
    return w


def _tiny(root: Path) -> Path:
    raw = root / "raw"
    (raw / "student" / "2024").mkdir(parents=True)
    (raw / "roster.csv").write_text(HEADER["roster"] + "\n" + GOOD["roster"] + "\n"
                                    + "01000010,Beta Middle,01000000,Alpha,middle,0,,\n")
    rows = [_set("enrollment", "student_id", f"s{i}") for i in range(30)]
    (raw / ENROLL_PATH).write_text(HEADER["enrollment"] + "\n" + "\n".join(rows) + "\n")
    return raw


@pytest.fixture
def warehouse(base_warehouse: Path, tmp_path: Path) -> Path:
    w = tmp_path / "w.duckdb"
    shutil.copyfile(base_warehouse, w)
    return w


def digest(path: Path) -> str | None:
    return hashlib.sha256(path.read_bytes()).hexdigest() if path.exists() else None


def run(capsys, *argv: str) -> tuple[int, str]:
    code = cli.main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out + err


def assert_told(code: int, text: str, expected_code: int, *words: str) -> None:
    assert code == expected_code, text
    assert "Traceback" not in text, text
    assert "fix" in text.lower(), text
    for w in words:
        assert w in text, (w, text)


def _write(root: Path, relative: str, content: str | bytes) -> Path:
    path = root / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content if isinstance(content, bytes) else content.encode("utf-8"))
    return path


@pytest.mark.parametrize("case", sorted(ROW_CASES))
def test_a_bad_row_refuses_its_file_naming_row_column_and_fix(case, warehouse, tmp_path, capsys):
    table, row, column, fix = ROW_CASES[case]
    relative = "roster.csv" if table == "roster" else f"student/2024/{table}.csv"
    f = _write(tmp_path / "in", relative, HEADER[table] + "\n" + row + "\n")
    before = digest(warehouse)
    code, text = run(capsys, "ingest", f, "--warehouse", warehouse)
    where = [str(f.resolve()), "row 2"] + ([f"column {column!r}"] if column else [])
    assert_told(code, text, 2, *where, fix, "refused")
    assert digest(warehouse) == before
    code, text = run(capsys, "check", f, "--warehouse", warehouse)  # the dry run says the same, loads nothing
    assert_told(code, text, 1, *where, fix, "REFUSED")
    assert digest(warehouse) == before


@pytest.mark.parametrize("case", sorted(FILE_CASES))
def test_an_unreadable_file_is_refused_by_name_with_the_fix(case, warehouse, tmp_path, capsys):
    relative, content, words = FILE_CASES[case]
    f = _write(tmp_path / "in", relative, content)
    before = digest(warehouse)
    code, text = run(capsys, "ingest", f, "--warehouse", warehouse)
    assert_told(code, text, 2, f.name, words)
    assert digest(warehouse) == before
    code, text = run(capsys, "check", f, "--warehouse", warehouse)
    assert_told(code, text, 1, f.name, words, "REFUSED")
    assert digest(warehouse) == before


@pytest.mark.parametrize("case", ["unknown race label", "duplicate student-year keys"])
def test_the_duckdb_validator_refuses_the_same_way(case, warehouse, tmp_path, capsys, monkeypatch):
    """Files above 4 MB are validated in SQL: the refusal and its message are the same."""
    monkeypatch.setattr(load_module, "SQL_VALIDATION_MIN_BYTES", 0)
    if case in ROW_CASES:
        table, row, column, fix = ROW_CASES[case]
        f = _write(tmp_path / "in", f"student/2024/{table}.csv", HEADER[table] + "\n" + row + "\n")
        words = ["row 2", f"column {column!r}", fix]
    else:
        relative, content, w = FILE_CASES[case]
        f, words = _write(tmp_path / "in", relative, content), ["row 2", w]
    before = digest(warehouse)
    code, text = run(capsys, "ingest", f, "--warehouse", warehouse)
    assert_told(code, text, 2, str(f.resolve()), *words)
    assert digest(warehouse) == before


# ---- argument sets and set-ups: (argv after the command, words of the message); {w} = the warehouse, {t} = tmp
ARG_CASES = {
    "ingest a missing folder": (["ingest", "{t}/nowhere", "--warehouse", "{w}"], ["nowhere", "check the path"]),
    "run a missing raw folder": (["run", "--raw", "{t}/nowhere", "--warehouse", "{w}", "--no-prefect"],
                                 ["nowhere", "check the path"]),
    "run a year outside the data": (["run", "--raw", "{t}/raw", "--warehouse", "{w}", "--no-prefect", "--force",
                                     "--year", "2031", "--no-scorecards"], ["2031", "--year", "2024"]),
    "evaluate a year before the data": (["evaluate", "--warehouse", "{w}", "--year", "1990"], ["1990", "--year"]),
    "evaluate a baseline after the year": (["evaluate", "--warehouse", "{w}", "--year", "2024", "--baseline-year",
                                            "2025"], ["2025", "--baseline-year"]),
    "evaluate a missing targets file": (["evaluate", "--warehouse", "{w}", "--targets", "{t}/mine.yaml"],
                                        ["mine.yaml", "copy config/targets.yaml"]),
    "evaluate a targets file with a typo": (["evaluate", "--warehouse", "{w}", "--targets", "{t}/typo.yaml"],
                                            ["typo.yaml", "treshold"]),
    "evaluate an unknown metric id": (["evaluate", "--warehouse", "{w}", "--targets", "{t}/metric.yaml"],
                                      ["metric.yaml", "pct_absent_11_plus_days"]),
    "export an unknown table": (["export", "metrics", "--warehouse", "{w}", "--out", "{t}/m.csv"],
                                ["metrics", "metric_values"]),
    "export student rows": (["export", "raw_student_enrollment", "--warehouse", "{w}", "--out", "{t}/e.csv"],
                            ["raw_student_enrollment", "metric_values"]),
    "export to .docx": (["export", "metric_values", "--warehouse", "{w}", "--out", "{t}/m.docx"], [".docx", ".csv"]),
    "synth too few schools": (["synth", "--schools", "4", "--out", "{t}/synth"], ["--schools", "6 or more"]),
    "synth too few students": (["synth", "--students", "10", "--out", "{t}/synth"], ["--students", "100"]),
    "build a missing warehouse": (["build", "--warehouse", "{t}/none.duckdb"], ["none.duckdb", "load files first"]),
    "scorecards of a missing warehouse": (["scorecards", "--warehouse", "{t}/none.duckdb", "--out", "{t}/d"],
                                          ["none.duckdb", "equity-outcomes run"]),
    "workspace key typo": (["ingest", "{t}/raw", "--workspace", "{t}/ws_typo"], ["warehose", "did you mean"]),
    "workspace invalid yaml": (["export", "metric_values", "--workspace", "{t}/ws_yaml", "--out", "{t}/m.csv"],
                               ["equity-outcomes.yaml", "YAML"]),
    "workspace warehouse outside": (["build", "--workspace", "{t}/ws_out"], ["outside the workspace", "warehouse"]),
    "workspace baseline as text": (["evaluate", "--workspace", "{t}/ws_base"], ["baseline_year", "2019"]),
    "workspace folder that is not one": (["build", "--workspace", "{t}"], ["not a workspace", "init"]),
    "init an existing workspace": (["init", "{t}/ws_typo"], ["already a workspace", "equity-outcomes.yaml"]),
    "demo warehouse mixed with other files": (["run", "--raw", "{t}/raw", "--workspace", str(ROOT), "--no-prefect"],
                                              ["synthetic network", "init"]),
    "demo in a workspace of one's own": (["demo", "--workspace", "{t}/ws_base2"], ["demo workspace", "run"]),
    "missing pseudonymization key": (["run", "--raw", "{t}/raw", "--warehouse", "{w}", "--no-prefect"],
                                     ["pseudonymization key", "id_key"]),
    "warehouse in use": (["ingest", "{t}/raw", "--warehouse", "{w}"], ["in use by another process", "Wait"]),
    "duckdb memory setting": (["export", "metric_values", "--warehouse", "{w}", "--out", "{t}/m.csv"],
                              ["EQUITY_OUTCOMES_DUCKDB_MEMORY", "4GB"]),
}


def _workspace(t: Path, name: str, body: str) -> None:
    (t / name).mkdir()
    (t / name / "equity-outcomes.yaml").write_text(body)


def _setup(case: str, t: Path, w: Path, monkeypatch) -> subprocess.Popen | None:
    _tiny(t)
    (t / "typo.yaml").write_text("targets:\n  - id: absence\n    treshold: -20\n")
    metric = (ROOT / "config" / "targets.yaml").read_text().replace("metrics: [pct_absent_10_plus_days]",
                                                                    "metrics: [pct_absent_11_plus_days]", 1)
    (t / "metric.yaml").write_text(metric)
    _workspace(t, "ws_typo", "network: x\nwarehose: w.duckdb\n")
    _workspace(t, "ws_yaml", "network: [x\n")
    _workspace(t, "ws_out", "warehouse: ../elsewhere.duckdb\n")
    _workspace(t, "ws_base", "baseline_year: last year\n")
    _workspace(t, "ws_base2", "baseline_year: 2019\n")
    if case == "missing pseudonymization key":
        monkeypatch.delenv("EQUITY_OUTCOMES_ID_KEY")
        monkeypatch.setenv("HOME", str(t))
    if case == "duckdb memory setting":
        monkeypatch.setenv("EQUITY_OUTCOMES_DUCKDB_MEMORY", "lots")
    if case == "warehouse in use":
        script = ("import sys, time; from equity_outcomes.warehouse import StagedWarehouse; "
                  f"s = StagedWarehouse({str(w)!r}).__enter__(); print('ready', flush=True); time.sleep(60)")
        holder = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True,
                                  env={**os.environ, "EQUITY_OUTCOMES_ID_KEY": "demo"})
        assert holder.stdout.readline().strip() == "ready"
        return holder
    return None


@pytest.mark.parametrize("case", sorted(ARG_CASES))
def test_a_user_error_is_one_message_with_the_fix(case, warehouse, tmp_path, capsys, monkeypatch):
    argv, words = ARG_CASES[case]
    holder = _setup(case, tmp_path, warehouse, monkeypatch)
    before, demo_before = digest(warehouse), digest(ROOT / "data" / "processed" / "warehouse.duckdb")
    try:
        code, text = run(capsys, *[a.replace("{w}", str(warehouse)).replace("{t}", str(tmp_path)) for a in argv])
    finally:
        if holder is not None:
            holder.kill()
            holder.wait()
    assert_told(code, text, 2, *words)
    assert text.count("error:") == 1, text
    assert digest(warehouse) == before
    assert digest(ROOT / "data" / "processed" / "warehouse.duckdb") == demo_before
    assert not (tmp_path / "none.duckdb").exists() and not (tmp_path / "elsewhere.duckdb").exists()


def test_debug_shows_the_traceback(warehouse, tmp_path, capsys):
    code, text = run(capsys, "export", "nope", "--warehouse", warehouse, "--out", tmp_path / "x.csv", "--debug")
    assert code == 2 and "Traceback" in text and "error: no table 'nope'" in text


def test_the_corpus_has_at_least_60_cases():
    assert len(ROW_CASES) + len(FILE_CASES) + len(ARG_CASES) >= 60

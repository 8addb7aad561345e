"""Readiness self-assessment: catalog vs the seed, template round trip, located errors, hand-computed marts,
deterministic synthetic responses."""

from __future__ import annotations

import html
import math
import re
from pathlib import Path

import duckdb
import pandas as pd
import pytest
from openpyxl import load_workbook

from equity_outcomes.errors import InputError
from equity_outcomes.ingest.readiness import (
    DATA_COLUMNS,
    QUARANTINE_COLUMNS,
    build_workbook,
    is_readiness_file,
    items,
    load_readiness_reference,
    raw_frame,
    read_responses,
    save_deterministic,
    scale,
    write_template,
)
from equity_outcomes.synth.readiness import generate_readiness
from equity_outcomes.warehouse import connect

from .conftest import ROOT


def _years(read) -> list[int]:
    """The school years a read's good rows hold."""
    return sorted(int(y) for y in read.data["school_year"].unique())


def _raters(read) -> int:
    """How many raters (school, year, rater) a read's good rows hold."""
    return int(read.data[["org_code", "school_year", "rater_id"]].drop_duplicates().shape[0])


SEED_DIR = ROOT.parent / "shared" / "seeds"
MODELS = ROOT / "src" / "equity_outcomes" / "models"
SQL_FILES = [
    MODELS / "staging" / "stg_readiness.sql",
    MODELS / "marts" / "readiness_items.sql",
    MODELS / "marts" / "readiness_summary.sql",
]
ALPHA, BETA = "01000005", "01000010"
ROSTER = {ALPHA, BETA}
FIRST_ITEM_ROW = 12  # template: header row 11, items from row 12 in catalog order
ORG_CODE_CELL, RATER_CELL, ROLE_CELL = "C4", "C7", "C8"


# ---- catalog -------------------------------------------------------------------------------------------------
def _parse_seed() -> list[tuple[str, int, str, int, str]]:
    """(area_type, area_number, area_name, item_number, item_text) for every numbered row under each
    <b>Condition N: ...</b> / <b>Principle N: ...</b> header of the planning tool."""
    seeds = sorted(SEED_DIR.glob("000_*.txt"))
    if not seeds:
        pytest.skip(f"planning tool seed not found under {SEED_DIR}")
    out, area = [], None
    for line in seeds[0].read_text(encoding="utf-8").splitlines():
        header = re.match(r"<b>(Condition|Principle) (\d+): (.+?)</b>", line)
        if header:
            name = html.unescape(re.sub(r"<[^>]+>", "", header.group(3))).strip()
            area = (header.group(1).lower(), int(header.group(2)), name)
            continue
        if line.startswith("#") or line.startswith("<b>Outcomes"):
            area = None
        row = re.match(r"(\d+)\t([^\t]+)", line)
        if row and area:
            text = html.unescape(re.sub(r"<[^>]+>", "", row.group(2))).strip()
            out.append((*area, int(row.group(1)), text))
    return out


def test_catalog_has_the_planning_tool_counts_and_texts():
    cat = items()
    counts = cat.groupby(["area_type", "area_number"]).size()
    assert counts.loc["condition"].tolist() == [8, 3, 6, 5, 3, 10]
    assert counts.loc["principle"].tolist() == [8, 12, 10, 13, 5]
    assert len(cat) == 83 and cat["item_id"].is_unique

    seed = _parse_seed()
    seed_counts = pd.DataFrame(seed, columns=["t", "n", "name", "i", "text"]).groupby(["t", "n"]).size()
    assert seed_counts.to_dict() == counts.to_dict()
    assert [tuple(r) for r in cat[["area_type", "area_number", "area_name", "item_number", "item_text"]]
            .itertuples(index=False)] == seed
    assert (cat["item_id"] == [f"{t[0].upper()}{n}.{i}" for t, n, _, i, _ in seed]).all()
    # texts keep the CCSSO references and decode entities
    by_id = cat.set_index("item_id")
    assert by_id.at["C1.1", "item_text"].endswith("(CCSSO,II.3.a-d,II.4.a-d)")
    assert by_id.at["C1.1", "area_name"] == "School Leadership & Vision"
    assert by_id.at["C2.1", "area_name"] == "Aligned District and School Autonomies"
    assert not cat["item_text"].str.contains("&amp;|<a ", regex=True).any()


def test_rating_scale_labels():
    s = scale().set_index("value")["label"].to_dict()
    assert s == {"4": "Sustainable", "3": "Moving toward Sustainability", "2": "Initial Steps toward Sustainability",
                 "1": "Area of Concern", "skip": "Skipped"}


# ---- template round trip -----------------------------------------------------------------------------------
def _ratings_cycle() -> dict[str, object]:
    values = [4, 3, 2, 1, "skip", 3]
    return {item_id: values[i % len(values)] for i, item_id in enumerate(items()["item_id"])}


def _fill(path: Path, ratings: dict[str, object], *, rater="Pat Lee", role="principal") -> None:
    """Fill a template the way a person would (openpyxl, ordinary save)."""
    wb = load_workbook(path)
    ws = wb["Readiness"]
    ws[RATER_CELL] = rater
    ws[ROLE_CELL] = role
    ws["C9"] = "2025-05-02"
    for r in range(FIRST_ITEM_ROW, FIRST_ITEM_ROW + 83):
        ws.cell(r, 4, ratings.get(ws.cell(r, 1).value))
    wb.save(path)


def test_template_layout(tmp_path):
    path = write_template(tmp_path / "t.xlsx", org_code="1000005", school_name="Alpha Middle", school_year=2025)
    wb = load_workbook(path)
    assert wb.sheetnames == ["Readiness", "Instructions"]
    ws = wb["Readiness"]
    assert ws[ORG_CODE_CELL].value == ALPHA  # leading zero restored, stored as text
    assert ws["C6"].value == 2025 and ws["C5"].value == "Alpha Middle"
    assert [ws.cell(11, c).value for c in range(1, 6)] == ["item_id", "area", "item_text", "rating", "comment"]
    assert ws.cell(FIRST_ITEM_ROW, 1).value == "C1.1" and ws.cell(FIRST_ITEM_ROW + 82, 1).value == "P5.5"
    assert ws.cell(FIRST_ITEM_ROW, 3).value == items()["item_text"].iloc[0]
    rating_dv = [dv for dv in ws.data_validations.dataValidation if dv.type == "list" and "skip" in dv.formula1]
    assert len(rating_dv) == 1 and rating_dv[0].formula1 == '"1,2,3,4,skip"'
    assert str(rating_dv[0].sqref) == f"D{FIRST_ITEM_ROW}:D{FIRST_ITEM_ROW + 82}"
    assert ws.protection.sheet and ws.cell(FIRST_ITEM_ROW, 3).protection.locked
    assert not ws.cell(FIRST_ITEM_ROW, 4).protection.locked and not ws[ORG_CODE_CELL].protection.locked
    # the blank template is reproducible byte for byte
    again = write_template(tmp_path / "t2.xlsx", org_code="1000005", school_name="Alpha Middle", school_year=2025)
    assert path.read_bytes() == again.read_bytes()


def test_filled_template_reads_back_with_no_quarantine(tmp_path):
    path = write_template(tmp_path / "alpha.xlsx", org_code=ALPHA, school_year=2025)
    ratings = _ratings_cycle()
    _fill(path, ratings)
    read = read_responses(path, ROSTER)
    assert read.quarantine.empty, read.quarantine.to_dict("records")
    assert list(read.data.columns) == DATA_COLUMNS and list(read.quarantine.columns) == QUARANTINE_COLUMNS
    assert len(read.data) == 83 and _raters(read) == 1 and _years(read) == [2025]
    d = read.data.set_index("item_id")
    assert (d["org_code"] == ALPHA).all() and (d["rater_id"] == "Pat Lee").all() and (d["rater_role"] == "principal").all()
    for item_id, value in ratings.items():
        if value == "skip":
            assert d.at[item_id, "is_skipped"] and pd.isna(d.at[item_id, "rating"])
        else:
            assert d.at[item_id, "rating"] == value and not d.at[item_id, "is_skipped"]
    assert d.at["C1.1", "source_sheet"] == "Readiness" and d.at["C1.1", "source_row"] == FIRST_ITEM_ROW


def test_a_five_a_missing_item_and_an_unknown_school_give_three_located_errors(tmp_path):
    path = write_template(tmp_path / "bad.xlsx", school_year=2025)
    ratings = _ratings_cycle()
    ratings["C1.3"] = 5  # row 14
    ratings["P2.4"] = None  # forgotten: row 12 + 35 + 8 + 3 = 58
    _fill(path, ratings)
    wb = load_workbook(path)
    wb["Readiness"][ORG_CODE_CELL] = "09999999"
    wb.save(path)

    read = read_responses(path, ROSTER)
    q = read.quarantine.sort_values("source_row").reset_index(drop=True)
    assert len(q) == 3, q.to_dict("records")
    assert (q["source_file"] == str(path)).all() and (q["source_sheet"] == "Readiness").all()
    got = q[["source_row", "column_name", "value_text", "check_name"]].fillna({"value_text": ""}).to_dict("records")
    assert got == [
        {"source_row": 4, "column_name": "org_code", "value_text": "09999999", "check_name": "org_code_in_roster"},
        {"source_row": 14, "column_name": "rating", "value_text": "5", "check_name": "rating_1_to_4_or_skip"},
        {"source_row": 58, "column_name": "rating", "value_text": "", "check_name": "rating_present"},
    ]
    assert q.at[0, "message"].startswith("sheet 'Readiness', cell C4: the school code is not in the roster")
    assert "cell D14" in q.at[1, "message"] and "item C1.3" in q.at[1, "message"]
    assert "cell D58" in q.at[2, "message"] and "item P2.4" in q.at[2, "message"]
    assert q["message"].str.contains("How to fix: ").all()
    assert read.data.empty  # the unknown school's ratings cannot be kept

    # with a known school the other 81 ratings load
    wb = load_workbook(path)
    wb["Readiness"][ORG_CODE_CELL] = ALPHA
    wb.save(path)
    read = read_responses(path, ROSTER)
    assert len(read.quarantine) == 2 and len(read.data) == 81


def test_deleted_item_row_is_reported_at_the_item_table(tmp_path):
    path = write_template(tmp_path / "short.xlsx", org_code=ALPHA, school_year=2025)
    _fill(path, _ratings_cycle())
    wb = load_workbook(path)
    wb["Readiness"].delete_rows(FIRST_ITEM_ROW + 1)  # C1.2
    wb.save(path)
    read = read_responses(path, ROSTER)
    rec = read.quarantine.to_dict("records")
    assert len(rec) == 1 and len(read.data) == 82
    assert rec[0]["check_name"] == "item_present" and rec[0]["value_text"] == "C1.2"
    assert rec[0]["source_row"] == 11 and rec[0]["column_name"] == "item_id"


def test_several_rater_sheets_and_unused_sheets(tmp_path):
    ratings = _ratings_cycle()
    raters = [
        {"rater_name": "A", "rater_role": "Principal", "ratings": ratings},
        {"rater_name": "B", "rater_role": "teacher", "ratings": {k: 2 for k in ratings}},
        {},  # an extra blank sheet nobody used
        {"ratings": {k: 1 for k in ratings}},  # a rater who forgot their name
    ]
    path = save_deterministic(build_workbook(raters, org_code=ALPHA, school_year="2024-25"), tmp_path / "r.xlsx")
    read = read_responses(path, ROSTER)
    assert read.quarantine.empty
    assert _raters(read) == 3 and _years(read) == [2025] and len(read.data) == 3 * 83
    assert set(read.data["source_sheet"]) == {"Readiness", "Readiness 2", "Readiness 4"}
    assert set(read.data["rater_id"]) == {"A", "B", "r:Readiness 4"}
    assert set(read.data["rater_role"].dropna()) == {"principal", "teacher"}
    assert any("'Readiness 3'" in n and "skipped" in n for n in read.notes)
    assert any("'Readiness 4' has no rater name" in n for n in read.notes)


def test_same_rater_on_two_sheets_is_one_problem(tmp_path):
    ratings = _ratings_cycle()
    raters = [{"rater_name": "A", "ratings": ratings}, {"rater_name": "A", "ratings": ratings}]
    path = save_deterministic(build_workbook(raters, org_code=ALPHA, school_year=2025), tmp_path / "dup.xlsx")
    read = read_responses(path, ROSTER)
    rec = read.quarantine.to_dict("records")
    assert len(rec) == 1 and len(read.data) == 83 and set(read.data["source_sheet"]) == {"Readiness"}
    assert (rec[0]["source_sheet"], rec[0]["source_row"], rec[0]["column_name"], rec[0]["check_name"]) == (
        "Readiness 2", 7, "rater_id", "rater_unique_in_workbook")


def test_lead_hooks_match_the_warehouse_tables(tmp_path):
    from equity_outcomes.ingest.readiness import known_schools, quarantine_frame
    from equity_outcomes.warehouse import BOOKKEEPING_DDL

    path = write_template(tmp_path / "q.xlsx", org_code=ALPHA, school_year=2025)
    ratings = _ratings_cycle()
    ratings["C1.1"] = 7
    _fill(path, ratings)
    read = read_responses(path, ROSTER)
    con = duckdb.connect()
    assert known_schools(con) is None
    con.execute(BOOKKEEPING_DDL)
    load_readiness_reference(con)
    con.register("_q", quarantine_frame(read.quarantine, "L1"))
    con.register("_d", raw_frame(read.data, "L1"))
    con.execute("INSERT INTO quarantine BY NAME SELECT * FROM _q")
    con.execute("INSERT INTO raw_readiness_responses BY NAME SELECT * FROM _d")
    assert con.execute("SELECT source_row, column_name, value_text, table_name FROM quarantine").fetchall() == [
        (FIRST_ITEM_ROW, "rating", "7", "readiness_responses")
    ]
    assert con.execute("SELECT count(*), count(rating), sum(is_skipped::INT) FROM raw_readiness_responses"
                       ).fetchall() == [(82, 68, 14)]  # 14 skips in the 83-item cycle
    con.execute("CREATE TABLE raw_student_roster (org_code VARCHAR)")
    con.execute("INSERT INTO raw_student_roster VALUES (?)", [ALPHA])
    assert known_schools(con) == {ALPHA}
    con.close()


# ---- CSV ------------------------------------------------------------------------------------------------------
def _csv_lines(org, year, rater, overrides=None, role="teacher", default=3, drop=()) -> list[str]:
    overrides = overrides or {}
    return [
        f"{org},{year},{rater},{role},{i},{overrides.get(i, default)}"
        for i in items()["item_id"] if i not in drop
    ]


def _write_csv(path: Path, lines: list[str], header="org_code,school_year,rater_id,rater_role,item_id,rating") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join([header, *lines]) + "\n", encoding="utf-8")
    return path


def test_long_csv_many_raters_and_years_with_located_problems(tmp_path):
    lines = (
        _csv_lines(ALPHA, 2024, "r1", {"C1.1": "Skip", "C1.2": "4.0"})
        + _csv_lines(ALPHA, 2025, "r1", drop=("P5.5",))
        + _csv_lines(BETA, 2025, "r2", {"C3.1": "n/a"})
        + [f"{ALPHA},2024,r1,teacher,C1.3,2", f"{ALPHA},2024,r1,teacher,C9.9,2", f"{BETA},1899,r3,coach,C1.1,2"]
    )
    read = read_responses(_write_csv(tmp_path / "responses.csv", lines), ROSTER)
    q = read.quarantine
    by_check = q.groupby("check_name").size().to_dict()
    assert by_check == {
        "rating_1_to_4_or_skip": 1, "item_present": 1, "one_rating_per_rater_item": 1,
        "item_id_in_catalog": 1, "school_year_sane": 1,
    }
    bad_rating = q[q["check_name"] == "rating_1_to_4_or_skip"].iloc[0]  # C3.1 is the 12th item of block 3
    assert bad_rating["source_row"] == 2 + 83 + 82 + 11 and bad_rating["value_text"] == "n/a"
    assert pd.isna(bad_rating["source_sheet"])
    missing = q[(q["check_name"] == "item_present") & (q["value_text"] == "P5.5")]
    assert len(missing) == 1 and missing["source_row"].isna().all()  # r1 2025 (r3 has a bad year: not checked)
    assert missing["message"].str.startswith("file: item P5.5 is missing").all()
    assert missing["message"].str.contains("school 01000005, year 2025, rater r1", regex=False).any()
    dupe = q[q["check_name"] == "one_rating_per_rater_item"].iloc[0]
    assert dupe["source_row"] == 2 + 83 + 82 + 83  # the second C1.3 row; the first one is kept
    d = read.data.set_index(["school_year", "rater_id", "item_id"])
    assert d.loc[(2024, "r1", "C1.1"), "is_skipped"] and d.loc[(2024, "r1", "C1.2"), "rating"] == 4
    assert d.loc[(2024, "r1", "C1.3"), "rating"] == 3
    assert _years(read) == [2024, 2025] and len(read.data) == 83 + 82 + 82


def test_year_folder_and_leading_zeros(tmp_path):
    lines = _csv_lines("1000005", 2024, "r1")
    read = read_responses(_write_csv(tmp_path / "readiness" / "2025" / "x.csv", lines), ROSTER)
    assert (read.data["org_code"] == ALPHA).all() is not None
    assert set(read.quarantine["check_name"]) == {"school_year_matches_folder"}
    assert any("leading zeros restored" in n for n in read.notes)


def test_csv_cells_are_normalized_and_problems_quote_the_raw_text(tmp_path):
    overrides = {"C1.1": " 4.0 ", "C1.2": "SKIP", "C1.3": "", "C1.4": "Five"}
    lines = [
        line.replace(",C2.1,", ",c2.1,")
        for line in _csv_lines(" 1000005 ", "2024-25", " r1 ", overrides, role=" Teacher ")
    ]
    read = read_responses(_write_csv(tmp_path / "spaces.csv", lines), ROSTER)
    assert read.notes == [
        "school code 1000005 read as 01000005 (leading zeros restored)",
        "2 problem(s) quarantined; 81 of 83 ratings kept",
    ]
    assert read.quarantine["source_row"].tolist() == [4, 5]
    assert read.quarantine["message"].tolist() == [
        "line 4, column rating: no rating for this item (a blank is not a skip) (item C1.3, rater r1), value None. "
        "How to fix: enter 1, 2, 3 or 4, or 'skip' if the rater cannot judge the item",
        "line 5, column rating: the rating must be 1, 2, 3, 4 or 'skip' (item C1.4, rater r1), value 'Five' "
        "(read as 'five'). How to fix: use 4 Sustainable, 3 Moving toward Sustainability, 2 Initial Steps, "
        "1 Area of Concern, or 'skip'",
    ]
    d = read.data.set_index("item_id")
    assert len(d) == 81 and "C2.1" in d.index and d.at["C1.1", "rating"] == 4 and d.at["C1.2", "is_skipped"]
    assert (d["org_code"] == ALPHA).all() and (d["school_year"] == 2025).all()
    assert (d["rater_id"] == "r1").all() and (d["rater_role"] == "teacher").all()
    assert d["source_sheet"].isna().all() and d.at["C1.1", "source_row"] == 2


@pytest.mark.parametrize(
    "name, content, problem",
    [
        ("nothing.csv", "", "empty"),
        ("semi.csv", "org_code;school_year;rater_id;rater_role;item_id;rating\n1;2;3;4;5;6\n", "not comma-delimited"),
        ("norating.csv", "org_code,school_year,rater_id,rater_role,item_id\n01000005,2025,r,t,C1.1\n", "rating"),
        ("header_only.csv", "org_code,school_year,rater_id,rater_role,item_id,rating\n", "no rows"),
        ("corrupt.xlsx", b"PK\x03\x04 definitely not a workbook", "cannot be opened"),
        ("notes.txt", "hello", ".xlsx or .csv"),
    ],
)
def test_structurally_wrong_files_raise_input_error(tmp_path, name, content, problem):
    path = tmp_path / name
    path.write_bytes(content if isinstance(content, bytes) else content.encode())
    with pytest.raises(InputError) as exc:
        read_responses(path, ROSTER)
    assert problem in str(exc.value) and exc.value.file == str(path) and exc.value.fix


def test_workbook_that_is_not_the_template_raises(tmp_path):
    from openpyxl import Workbook

    wb = Workbook()
    wb.active.title = "Sheet1"
    wb.save(tmp_path / "other.xlsx")
    with pytest.raises(InputError, match="no sheet named 'Readiness"):
        read_responses(tmp_path / "other.xlsx")
    path = write_template(tmp_path / "moved.xlsx", org_code=ALPHA, school_year=2025)
    wb = load_workbook(path)
    wb["Readiness"]["A11"] = "id"
    wb.save(path)
    with pytest.raises(InputError, match="no item table"):
        read_responses(path)
    blank = write_template(tmp_path / "blank.xlsx", org_code=ALPHA, school_year=2025)
    with pytest.raises(InputError, match="no ratings"):
        read_responses(blank)


def test_is_readiness_file(tmp_path):
    wb_path = write_template(tmp_path / "anywhere.xlsx")
    csv_path = _write_csv(tmp_path / "long.csv", _csv_lines(ALPHA, 2025, "r1")[:1])
    other = _write_csv(tmp_path / "enrollment.csv", ["1,2"], header="school_year,student_id")
    assert is_readiness_file(wb_path) and is_readiness_file(csv_path)
    assert not is_readiness_file(other)
    assert is_readiness_file(tmp_path / "readiness" / "2025" / "whatever.csv")


# ---- marts: hand-computed fixture -----------------------------------------------------------------------------
def _run_models(con: duckdb.DuckDBPyConnection) -> None:
    from equity_outcomes.models.build import build_models

    build_models(con)


@pytest.fixture
def marts(tmp_path):
    """Alpha 2024 (raters r1, r2), Alpha 2025 (r1, r2), Beta 2024 (r9); every item 3 unless listed.

    Condition 2 (C2.1, C2.2, C2.3):  Alpha 2024 r1 = 1, 2, 3; r2 = 1, 4, skip    Alpha 2025 r1 = 2, 2, 3; r2 = 3, 3, 3
                                     Beta 2024 r9 = 4, 4, 4
    Condition 5: Alpha 2024 C5.1 r1 = 1, r2 = 4 (a single 1 that is not an area of concern).
    """
    lines = (
        _csv_lines(ALPHA, 2024, "r1", {"C2.1": 1, "C2.2": 2, "C2.3": 3, "C5.1": 1}, role="principal")
        + _csv_lines(ALPHA, 2024, "r2", {"C2.1": 1, "C2.2": 4, "C2.3": "skip", "C5.1": 4})
        + _csv_lines(ALPHA, 2025, "r1", {"C2.1": 2, "C2.2": 2, "C2.3": 3}, role="principal")
        + _csv_lines(ALPHA, 2025, "r2", {"C2.1": 3, "C2.2": 3, "C2.3": 3})
        + _csv_lines(BETA, 2024, "r9", {"C2.1": 4, "C2.2": 4, "C2.3": 4})
    )
    read = read_responses(_write_csv(tmp_path / "fixture.csv", lines), ROSTER)
    assert read.quarantine.empty
    con = connect(tmp_path / "marts.duckdb")
    con.register("_raw", raw_frame(read.data, "L1"))
    con.execute("CREATE TABLE raw_readiness_responses AS SELECT * FROM _raw")
    con.unregister("_raw")
    _run_models(con)
    yield con
    con.close()


def _summary(con, org, year, area_type="condition", area_number=2) -> dict:
    rows = con.execute(
        "SELECT * FROM readiness_summary WHERE org_code = ? AND school_year = ? AND area_type = ? AND area_number = ?",
        [org, year, area_type, area_number],
    ).df()
    assert len(rows) == 1
    return rows.iloc[0].to_dict()


def test_raw_table_matches_the_reader_output(marts):
    cols = marts.execute("SELECT column_name, data_type FROM information_schema.columns "
                         "WHERE table_name = 'raw_readiness_responses' ORDER BY ordinal_position").fetchall()
    assert [c for c, _ in cols] == ["load_id", *DATA_COLUMNS]
    assert marts.execute("SELECT count(*) FROM stg_readiness").fetchall()[0][0] == 5 * 83


def test_summary_school_rows_are_hand_computed(marts):
    a24 = _summary(marts, ALPHA, 2024)
    # ratings 1, 2, 3, 1, 4 (one skip): mean 2.2, squared deviations 6.8 / 4
    assert a24["mean_rating"] == pytest.approx(2.2)
    assert a24["sd_rating"] == pytest.approx(math.sqrt(1.7))
    assert (a24["n_items"], a24["n_raters"], a24["n_ratings"], a24["n_skipped"]) == (3, 2, 5, 1)
    assert a24["n_items_rated_1"] == 1  # C2.1: mean 1.0
    assert a24["pct_ratings_4"] == pytest.approx(20.0)
    assert a24["rater_spread"] == pytest.approx(1.0)  # C2.1: 0, C2.2: 2, C2.3 single rater (not counted)
    assert pd.isna(a24["change_from_prior_year"]) and a24["org_level"] == "school"
    assert a24["area_name"] == "Aligned District and School Autonomies"

    a25 = _summary(marts, ALPHA, 2025)
    assert a25["mean_rating"] == pytest.approx(16 / 6)
    assert a25["sd_rating"] == pytest.approx(math.sqrt(4 / 15))
    assert a25["n_items_rated_1"] == 0 and a25["pct_ratings_4"] == 0
    assert a25["rater_spread"] == pytest.approx(2 / 3)
    assert a25["change_from_prior_year"] == pytest.approx(16 / 6 - 2.2)

    b24 = _summary(marts, BETA, 2024)
    assert (b24["mean_rating"], b24["n_raters"], b24["pct_ratings_4"]) == (4.0, 1, 100.0)
    assert pd.isna(b24["rater_spread"]) and pd.isna(b24["sd_rating"]) is False and b24["sd_rating"] == 0

    c5 = _summary(marts, ALPHA, 2024, area_number=5)
    assert c5["mean_rating"] == pytest.approx(17 / 6) and c5["n_items_rated_1"] == 0
    assert c5["rater_spread"] == pytest.approx(1.0)
    c1 = _summary(marts, ALPHA, 2024, area_number=1)
    assert (c1["mean_rating"], c1["sd_rating"], c1["n_items"]) == (3.0, 0.0, 8)
    # 11 areas x (3 school-years + 2 network years)
    assert marts.execute("SELECT count(*) FROM readiness_summary").fetchall()[0][0] == 11 * 5


def test_summary_network_rows_are_means_over_schools(marts):
    n24 = _summary(marts, "network", 2024)
    assert n24["org_level"] == "network" and n24["n_schools"] == 2
    assert n24["mean_rating"] == pytest.approx((2.2 + 4.0) / 2)
    assert n24["sd_rating"] == pytest.approx(math.sqrt(1.7) / 2)
    assert n24["pct_ratings_4"] == pytest.approx(60.0)
    assert n24["rater_spread"] == pytest.approx(1.0)
    assert (n24["n_items"], n24["n_raters"]) == (3, 3)
    assert n24["n_items_rated_1"] == 0  # network item means 2.5, 3.5, 3.5
    assert pd.isna(n24["change_from_prior_year"])
    n25 = _summary(marts, "network", 2025)
    assert n25["n_schools"] == 1 and n25["change_from_prior_year"] == pytest.approx(16 / 6 - 2.2)


def test_items_mart(marts):
    df = marts.execute("SELECT * FROM readiness_items WHERE org_code = ? AND school_year = 2024", [ALPHA]).df()
    d = df.set_index("item_id")
    assert len(d) == 83
    assert d.loc["C2.1", ["mean_rating", "min_rating", "max_rating", "n_raters"]].tolist() == [1.0, 1, 1, 2]
    assert d.at["C2.1", "is_area_of_concern"] and d.at["C2.1", "any_rated_1"]
    assert d.at["C5.1", "mean_rating"] == 2.5 and not d.at["C5.1", "is_area_of_concern"] and d.at["C5.1", "any_rated_1"]
    assert (d.at["C2.3", "n_raters"], d.at["C2.3", "n_skipped"], d.at["C2.3", "mean_rating"]) == (1, 1, 3.0)
    assert d["is_area_of_concern"].sum() == 1


def test_a_resent_copy_does_not_count_a_rater_twice(marts):
    marts.execute("INSERT INTO raw_readiness_responses SELECT * REPLACE ('zz_copy.csv' AS source_file, 1 AS rating) "
                  "FROM raw_readiness_responses WHERE org_code = ?", [BETA]).fetchall()
    _run_models(marts)
    b24 = _summary(marts, BETA, 2024)
    assert b24["n_raters"] == 1 and b24["mean_rating"] == 1.0 and b24["n_items_rated_1"] == 3


def test_the_readiness_marts_build_to_zero_rows_on_an_empty_warehouse(tmp_path):
    con = connect(tmp_path / "empty.duckdb")
    _run_models(con)
    assert con.execute("SELECT count(*) FROM readiness_summary").fetchall()[0][0] == 0
    con.close()


def test_sql_models_state_their_grain_and_run_in_order():
    from equity_outcomes.models.build import model_files

    for sql in SQL_FILES:
        head = sql.read_text(encoding="utf-8").split("{{ config", 1)[0]
        assert "Grain:" in head, sql
    names = [p.name for p in model_files()]
    assert names.index("readiness_items.sql") < names.index("readiness_summary.sql")


# ---- synthetic responses --------------------------------------------------------------------------------------
SYN_ROSTER = pd.DataFrame(
    {
        "org_code": ["01000005", "01000010", "01000015"],
        "school_name": ["Alpha", "Beta", "Gamma"],
        "district_code": ["01000000"] * 3,
        "district_name": ["Alpha"] * 3,
        "school_level": ["middle"] * 3,
        "is_network_school": [1, 1, 0],
        "implementation_start_year": [2022, 2023, None],
        "baseline_year": [None, None, None],
    }
)
SYN_YEARS = [2020, 2021, 2022, 2023, 2024, 2025]


def test_synthetic_responses_are_deterministic(tmp_path):
    small, years = SYN_ROSTER.iloc[[0, 2]], [2021, 2022, 2023]
    a = generate_readiness(small, years, 7, tmp_path / "a")
    b = generate_readiness(small, years, 7, tmp_path / "b")
    c = generate_readiness(small, years, 8, tmp_path / "c")
    rel = [str(p.relative_to(tmp_path / "a")) for p in a]
    # planning year (start - 1) onward, network schools only, one workbook per school and year
    assert rel == [f"readiness/{y}/01000005_readiness_{y}.xlsx" for y in years]
    assert rel == [str(p.relative_to(tmp_path / "b")) for p in b]
    assert all(p.read_bytes() == q.read_bytes() for p, q in zip(a, b, strict=True))
    assert all(p.read_bytes() != q.read_bytes() for p, q in zip(a, c, strict=True))
    read = read_responses(a[0], set(SYN_ROSTER["org_code"]))
    assert read.quarantine.empty and 2 <= _raters(read) <= 4 and _years(read) == [2021]
    csv_a = generate_readiness(SYN_ROSTER, SYN_YEARS, 7, tmp_path / "csv_a", fmt="csv")
    csv_b = generate_readiness(SYN_ROSTER, SYN_YEARS, 7, tmp_path / "csv_b", fmt="csv")
    assert [p.read_bytes() for p in csv_a] == [p.read_bytes() for p in csv_b]
    # a school's responses do not depend on which other schools are generated
    alone = generate_readiness(SYN_ROSTER.iloc[[0]], SYN_YEARS, 7, tmp_path / "csv_alone", fmt="csv")
    one = pd.read_csv(csv_a[-1], dtype=str)
    assert one[one["org_code"] == "01000005"].reset_index(drop=True).equals(pd.read_csv(alone[-1], dtype=str))


@pytest.mark.parametrize("fmt", ["csv", "xlsx"])
def test_synthetic_ratings_rise_over_implementation_years(tmp_path, fmt):
    roster, years = (SYN_ROSTER, SYN_YEARS) if fmt == "csv" else (SYN_ROSTER.iloc[[1]], [2022, 2023, 2024, 2025])
    paths = generate_readiness(roster, years, 7, tmp_path, include_comparison=True, fmt=fmt)
    reads = [read_responses(p, set(SYN_ROSTER["org_code"])) for p in paths]
    assert all(r.quarantine.empty for r in reads)
    data = pd.concat([r.data for r in reads], ignore_index=True)
    raters = data.groupby(["org_code", "school_year"])["rater_id"].nunique()
    assert raters.between(2, 4).all()
    assert data["is_skipped"].any() and data["rating"].dropna().isin([1, 2, 3, 4]).all()
    con = connect(tmp_path / "synthetic.duckdb")
    con.register("_raw", raw_frame(data, "L"))
    con.execute("CREATE TABLE raw_readiness_responses AS SELECT * FROM _raw")
    _run_models(con)
    means = con.execute(
        "SELECT org_code, school_year, avg(mean_rating) AS m FROM readiness_summary WHERE org_level = 'school' "
        "GROUP BY ALL ORDER BY ALL"
    ).df()
    con.close()
    starts = {"01000005": 2022, "01000010": 2023}
    for org in roster["org_code"]:
        m = means[means["org_code"] == org].set_index("school_year")["m"]
        if org in starts:
            assert m.index.min() == starts[org] - 1  # from the planning year
            assert m.is_monotonic_increasing and m.iloc[-1] - m.iloc[0] > 0.6, m.to_dict()
        else:  # comparison school, included on request: flat
            assert len(m) == len(years) and m.max() - m.min() < 0.3, m.to_dict()


def test_quarantined_rows_count_rows_not_problems(tmp_path):
    """A missing item is a problem without a row: 5 rows read, 1 bad rating, 78 items missing -> 1 of 5 rows
    quarantined (it once read "6 of 5 rows (120%)" when every problem without a row counted as one more row)."""
    from equity_outcomes.ingest.load import ingest_into

    first = list(items()["item_id"])[:5]
    lines = [f"{ALPHA},2025,r1,teacher,{item},{7 if i == 0 else 3}" for i, item in enumerate(first)]
    path = _write_csv(tmp_path / "raw" / "readiness" / "few.csv", lines)
    con = connect(tmp_path / "w.duckdb")
    result = ingest_into(con, [path.parent], max_quarantined=100).results[0]
    assert (result.rows_in, result.rows_loaded, result.rows_quarantined) == (5, 4, 1)
    assert con.execute("SELECT count(*) FROM quarantine WHERE check_name = 'item_present'").fetchall()[0][0] == 78
    con.close()

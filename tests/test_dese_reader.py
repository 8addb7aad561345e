"""Tests for equity_outcomes.ingest.dese: every real export in shared_dese_dir() reads, hand-checked cells match,
synthetic-generator exports read, files that cannot be read are refused with a useful InputError, and everything
else loads: unknown columns, labels and values are kept and reported, never refused."""

from __future__ import annotations

import math
import zipfile
from pathlib import Path

import openpyxl
import pandas as pd
import pytest

from equity_outcomes.errors import InputError
from equity_outcomes.ingest import dese
from equity_outcomes.paths import config_dir

from .conftest import check_dese_cell, shared_dese_dir


def looks_like_dese(path: Path) -> bool:
    """An .xlsx/.csv whose first rows hold a header with at least two column names the catalog knows (report
    columns or DESE key columns): what the reader's header search finds in every export it reads."""
    from equity_outcomes.ingest.dese.catalog import known_header, norm
    from equity_outcomes.ingest.dese.header import find_header
    from equity_outcomes.ingest.dese.raw import read_raw

    if path.suffix.lower() not in (".xlsx", ".xls", ".csv") or path.name.lower() == "manifest.csv":
        return False
    try:
        rows, _, _ = read_raw(path)
    except InputError:
        return False
    h = find_header(rows)
    return h is not None and sum(1 for v in rows[h] if v is not None and known_header(norm(v))) >= 2

SHARED = shared_dese_dir()
REAL_FILES = sorted(p for p in SHARED.rglob("*") if p.suffix.lower() in (".xlsx", ".csv")) if SHARED.is_dir() else []
_CACHE: dict[Path, dese.DeseRead] = {}


def real(rel: str) -> dese.DeseRead:
    path = SHARED / rel
    if path not in _CACHE:
        _CACHE[path] = dese.read_dese_file(path)
    return _CACHE[path]


needs_shared = pytest.mark.skipif(
    not REAL_FILES, reason=f"shared DESE exports not found at {SHARED} (set EQUITY_OUTCOMES_SHARED_DESE)"
)


# ----------------------------------------------------------------------------------------------------------------
# Every real file
# ----------------------------------------------------------------------------------------------------------------


@needs_shared
@pytest.mark.parametrize("path", REAL_FILES, ids=[str(p.relative_to(SHARED)) for p in REAL_FILES])
def test_every_real_file_reads(path: Path) -> None:
    read = real(str(path.relative_to(SHARED)))
    assert read.report in dese.REPORTS
    c = read.cells
    assert list(c.columns) == list(dese.CELL_COLUMNS)
    for col, dtype in dese.CELL_COLUMNS.items():
        assert str(c[col].dtype) == dtype, col
    assert len(c) > 0 and read.n_rows > 0
    assert c["org_code"].str.fullmatch(r"\d{8}").all()
    assert set(c["org_level"]) <= {"school", "district", "state"}
    # every column of the files in ../dese is mapped, every group known, no cell flagged
    assert set(c["measure"]) <= set(dese.REPORTS[read.report].measures)
    assert c["subgroup"].notna().all() and c["flag"].isna().all() and not read.warnings
    # suppressed <=> no value; suppressed cells are never 0
    assert (c["is_suppressed"] == c["value"].isna()).all()
    assert (c["source_row"] >= 1).all()
    assert looks_like_dese(path)


@needs_shared
def test_real_folder_totals() -> None:
    assert len(REAL_FILES) >= 75
    reads = [real(str(p.relative_to(SHARED))) for p in REAL_FILES]
    assert sum(len(r.cells) for r in reads) > 2_000_000
    # every file that carries state rows keeps them
    states = sum((r.cells["org_level"] == "state").any() for r in reads)
    assert states >= 60


# ----------------------------------------------------------------------------------------------------------------
# Spot checks: values read by hand from the raw files (csv lines via `sed -n Np`, xlsx rows via openpyxl)
# ----------------------------------------------------------------------------------------------------------------

SQM = "edcommonwealth__sqm-dashboards/data/admin_data/dese/"
EDL = "EdLightPBC__mcas-public/data/sources/"
ZC = "zcollest__Massachusetts_Public_Schools/data/"

SPOT = [
    # attendance: line 2 '5.08,5,a-vale-i1,2024-25,...,04450105,  96.0,   7.1,...'
    (SQM + "2C_1_attendance.csv", 2, "Attendance Rate",
     dict(report="attendance", school_year=2025, org_code="04450105", measure="attendance_rate", value_text="  96.0",
          value=96.0, period="end_of_year", subgroup="all", grade="all", org_level="school")),
    # discipline: line 2 '...,04450105,"   1,437",      76,   3.2,...' (thousands separator)
    (SQM + "2A_1_students_suspended.csv", 2, "Students",
     dict(report="discipline", school_year=2025, measure="n_students", value_text="   1,437", value=1437.0)),
    (SQM + "2A_1_students_suspended.csv", 2, "% In-School Suspension",
     dict(measure="pct_in_school_suspension", value=3.2)),
    # discipline suppressed: line 3 'NA,NA,a-phys-i1,2024-25,Abington - Abington Early Education Program,00010001,      99,       0,"",...'
    (SQM + "2A_1_students_suspended.csv", 3, "% In-School Suspension",
     dict(org_code="00010001", value_text="", is_suppressed=True)),
    # days missed: line 2 '...,"   1,437",      76,   2.4,...'
    (SQM + "2A_1_students_disciplined.csv", 2, "% 1 Day",
     dict(report="discipline_days_missed", measure="pct_days_missed_1", value=2.4)),
    # Next-Gen by subgroup, state row: line 1681 'State;00000000;ELA;      12,885;33;...;      38,596;     491.2;          47.7;      29,581;;2019;ALL;afr.american/black'
    (EDL + "mcas public schools grades 3-8 afr american-black 2019.csv", 1681, "M+E #",
     dict(report="mcas_nextgen", school_year=2019, org_code="00000000", org_level="state", subgroup="black",
          subgroup_label="afr.american/black", subject="ela", grade="03-08", measure="n_meeting_or_exceeding",
          value_text="      12,885", value=12885.0)),
    (EDL + "mcas public schools grades 3-8 afr american-black 2019.csv", 1681, "SGP",
     dict(measure="mean_sgp", value=47.7, org_level="state")),
    # SCI state row has no SGP: line 1683 '...;     485.5;;;;2019;...'
    (EDL + "mcas public schools grades 3-8 afr american-black 2019.csv", 1683, "SGP",
     dict(subject="sci", value_text="", is_suppressed=True)),
    # lost leading zeros + median SGP (2017): line 2 '...,4450105,ELA,307,42,...,724,,496.2,55,587,36,2017'
    (EDL + "mcas public schools grades 3-8 all students 2017.csv", 2, "SGP",
     dict(org_code="04450105", measure="median_sgp", value=55.0, subgroup="all", grade="03-08", school_year=2017)),
    # state row code '0': line 2752 'State,0,ELA,"208,333",49,...'
    (EDL + "mcas public schools grades 3-8 all students 2017.csv", 2752, "M+E #",
     dict(org_code="00000000", org_level="state", value=208333.0)),
    # empty Part. Rate % column in 2017 all-students file
    (EDL + "mcas public schools grades 3-8 all students 2017.csv", 2, "Part. Rate %",
     dict(measure="pct_participation", is_suppressed=True)),
    # 2021 header drift 'Ach_PCTL'
    (EDL + "mcas public schools grades 3-8 all students 2022.csv", 2, "Ach. PCTL",
     dict(measure="achievement_percentile", value=35.0)),
    # legacy MCAS: xlsx row 4748 ('State Totals - State Totals','00000000','SCIENCE AND TECH/ENG',...,'  79.6','N/A','N/A')
    ("Glasiermedic__Massachusetts-Schools/mcas.xlsx", 4748, "Median SGP",
     dict(report="mcas_legacy", school_year=2014, org_level="state", subject="sci", measure="median_sgp",
          value_text="N/A", is_suppressed=True, grade="all")),
    ("Glasiermedic__Massachusetts-Schools/mcas.xlsx", 4748, "CPI", dict(measure="cpi", value=79.6)),
    # legacy xlsx numbers already numeric: row 3 (..., 'ENGLISH LANGUAGE ARTS', 518, 65, ...)
    ("Glasiermedic__Massachusetts-Schools/mcas.xlsx", 3, "P+A #",
     dict(subject="ela", measure="n_proficient_or_advanced", value_text="518", value=518.0, org_level="school")),
    # legacy 2018 'Ave. SGP' -> mean_sgp; row 3 (..., '  99.7', '  66.6', 86)
    ("SCasanova__arxed_ddd_2/raw_data/mcas(2).xlsx", 3, "Ave. SGP",
     dict(measure="mean_sgp", value=66.6, grade="10", org_level="district")),
    # district Next-Gen state row: row 609 ('State','00000000','ELA','      43,264', 61, ...)
    ("SCasanova__arxed_ddd_2/raw_data/NextGenMCAS(1).xlsx", 609, "M+E #",
     dict(org_level="state", value_text="      43,264", value=43264.0, grade="10")),
    ("SCasanova__arxed_ddd_2/raw_data/NextGenMCAS(1).xlsx", 609, "M+E %", dict(value_text="61", value=61.0)),
    # MassCore: line 2 '...,04450105,      76,      76, 100.0'
    (SQM + "3B_1_masscore.csv", 2, "# Graduated",
     dict(report="masscore", measure="n_graduates", value=76.0, school_year=2025)),
    (SQM + "3B_1_masscore.csv", 2, "% Completed MassCore", dict(measure="pct_masscore_complete", value=100.0)),
    # AP performance: apperfall.xlsx row 3 ('Abington','00010000','     146', ..., '  30.8','  69.2')
    (ZC + "apperfall.xlsx", 3, "Tests Taken",
     dict(report="ap_performance", school_year=2018, org_code="00010000", org_level="district",
          measure="n_ap_tests_taken", value=146.0, subgroup="all", subgroup_label="All Students")),
    (ZC + "apperfall.xlsx", 3, "% Score 3-5", dict(measure="pct_ap_tests_score_3_5", value=69.2)),
    # AP participation, small group suppressed: appartblack.xlsx row 3 ('Abington','00010000','       2','',...)
    (ZC + "appartblack.xlsx", 3, "Tests Takers",
     dict(report="ap_participation", school_year=2019, subgroup="black", subgroup_label="Afr. Amer./Black", value=2.0)),
    (ZC + "appartblack.xlsx", 3, "One Test", dict(measure="n_ap_takers_1_test", is_suppressed=True, value_text="")),
    # plans of grads: line 2 '...,2016-17,...,04450105,  21.3,  51.3,   0.0,  22.5,   2.5,"",   2.5,...,      80'
    (SQM + "4D_1_plans_of_grads.csv", 2, "4 Year Private College",
     dict(report="plans_of_grads", school_year=2017, measure="pct_plan_4yr_private_college", value=21.3)),
    (SQM + "4D_1_plans_of_grads.csv", 2, "Apprenticeship", dict(is_suppressed=True)),
    (SQM + "4D_1_plans_of_grads.csv", 2, "Total", dict(measure="n_graduates", value=80.0)),
    # enrollment by race/gender: row 3 ('Abby Kelley ...','04450000','  56.8',...) and state row 402
    ("safarooqi__24Spr_SFarooqi_Capstone/data/enrollmentbyracegender.xlsx", 3, "African American",
     dict(report="enrollment_race_gender", school_year=2024, measure="pct_black", value=56.8, subgroup="all")),
    ("safarooqi__24Spr_SFarooqi_Capstone/data/enrollmentbyracegender.xlsx", 402, "White",
     dict(org_level="state", measure="pct_white", value=53.0)),
    # enrollment by school/grade/race: rows 7 ('K', 0, '***', ...) and 8 ('PK', 78, 4, ...), state row 27397
    ("safarooqi__24Spr_SFarooqi_Capstone/data/school-grade-race.xlsx", 7, "Black",
     dict(report="enrollment_grade_race", school_year=2024, org_code="00010001", grade="KG", value_text="***",
          is_suppressed=True)),
    ("safarooqi__24Spr_SFarooqi_Capstone/data/school-grade-race.xlsx", 8, "School_Total",
     dict(grade="PK", measure="n_students", value=78.0)),
    ("safarooqi__24Spr_SFarooqi_Capstone/data/school-grade-race.xlsx", 27397, "White",
     dict(org_level="state", grade="all", measure="n_white", value=484692.0)),
    # duplicate header with data: selectedpopulations(7).xlsx row 3 (..., 1101, 77.2, '', '')
    ("SCasanova__arxed_ddd_2/raw_data/selectedpopulations(7).xlsx", 3, "High Needs # (2)",
     dict(report="selected_populations", school_year=2022, measure="pct_high_needs", value=77.2)),
    ("SCasanova__arxed_ddd_2/raw_data/selectedpopulations(7).xlsx", 3, "Low Income %",
     dict(measure="pct_low_income", value=68.9, subgroup="all")),
    # sqm advanced coursework duplicate '% All Other Subjects' = DESE 'Ch 74 Secondary Cooperative Program'
    (SQM + "3B_1_advcoursecomprate.csv", 2, "% All Other Subjects (2)",
     dict(report="advanced_coursework", measure="pct_ch74_secondary_coop", value=0.0, grade="11-12")),
    # Economically Disadvantaged title -> low_income, income_definition by year (2017-18 -> 2018)
    (ZC + "df_data/zloweconGradsattendingcollege.xlsx", 3, "Low Income Attending Coll./Univ. (%)",
     dict(report="college_enrollment", school_year=2018, subgroup="low_income",
          subgroup_label="Economically Disadvantaged", income_definition="economically_disadvantaged",
          measure="pct_grads_attending_college", value=86.4)),
    # lost zeros in a district code and the state row: line 3 'Abby Kelley ...,4450000,24,20,83.3', line 290 'State Totals,0,...'
    (ZC + "df_data/zhispanicGradsattendingcollege.csv", 3, "Hisp High School Graduates (#)",
     dict(org_code="04450000", subgroup="latino", measure="n_graduates", value=24.0)),
    (ZC + "df_data/zhispanicGradsattendingcollege.csv", 290, "Hisp Attending Coll./Univ. (%)",
     dict(org_code="00000000", org_level="state", value=55.7)),
    # state graduation trends: row 2 ('All Students', 74226, 89.8, ...) and row 49 (..., 'N/A')
    ("safarooqi__24Spr_SFarooqi_Capstone/data/statetrends.xlsx", 2, "2021 N",
     dict(report="graduation_state_trends", school_year=2021, org_level="state", measure="n_cohort", value=74226.0)),
    ("safarooqi__24Spr_SFarooqi_Capstone/data/statetrends.xlsx", 49, "2006 5yr",
     dict(subgroup="low_income_male", school_year=2006, measure="pct_graduated_5yr", value_text="N/A",
          is_suppressed=True, income_definition="low_income_pre2015")),
    # low-income 2022 file -> new definition
    (EDL + "mcas public schools grades 3-8 low-income 2022.csv", 2, "M+E #",
     dict(subgroup="low_income", income_definition="low_income_2022", value=146.0)),
]


@needs_shared
@pytest.mark.parametrize("rel,row,column,expected", SPOT, ids=[f"{s[0].split('/')[-1]}:{s[1]}:{s[2]}" for s in SPOT])
def test_spot_check(rel: str, row: int, column: str, expected: dict) -> None:
    check_dese_cell(real(rel).cells, row, column, expected)


@needs_shared
def test_attendance_repeats_deduplicated() -> None:
    read = real(SQM + "2C_1_attendance.csv")
    assert read.n_rows == 29_330  # data rows in the file, repeats included
    assert any("14665 exact repeated row(s)" in n for n in read.notes)
    c = read.cells
    # one cell per (year, school, measure): 14,665 rows x 6 columns minus 'Unexcused > 9 days' absent before 2021-22
    assert not c.duplicated(["school_year", "org_code", "measure"]).any()
    assert len(c) == 14_665 * 6 - 7_365
    assert c["period"].eq("end_of_year").all()


@needs_shared
def test_duplicate_empty_header_dropped_with_note() -> None:
    read = real(ZC + "advancedcourseall.xlsx")
    assert any("dropped duplicate column '% Science and Technology'" in n for n in read.notes)
    c = read.cells
    assert "% Science and Technology (2)" not in set(c["source_column"])
    row3 = c[c["source_row"] == 3]
    assert len(row3) == 10  # 13 columns - 2 keys - the empty duplicate
    assert row3.set_index("measure").loc["pct_ch74_secondary_coop", "value"] == 0.0


@needs_shared
def test_footnote_and_manifest_notes() -> None:
    read = real("safarooqi__24Spr_SFarooqi_Capstone/data/school-grade-race.xlsx")
    assert any("footnote row 27399" in n for n in read.notes)
    assert read.cells["source_row"].max() == 27397
    ng = real("safarooqi__24Spr_SFarooqi_Capstone/code/capstone_shiny_app/NextGenMCAS.xlsx")
    assert set(ng.cells["grade"]) == {"unknown"}
    assert any("unknowable" in n for n in ng.notes)


@needs_shared
def test_shared_manifest_paths_exist() -> None:
    for folder, name in dese.SHARED_MANIFESTS.items():
        base = SHARED.parent / folder
        m = dese.Manifest.load(config_dir() / name, base_dir=base)
        for line_no, row in m.rows:
            assert list(base.glob(row["path"])), f"{name} row {line_no} matches no file: {row['path']}"
    assert dese.find_manifest(REAL_FILES[0]).path.name == dese.SHARED_MANIFESTS["dese"]


# ----------------------------------------------------------------------------------------------------------------
# Synthetic profile exports (the generator's format) and crafted inputs
# ----------------------------------------------------------------------------------------------------------------

ATT_TITLE = "2023-24 Student Attendance Report (School) - End of Year - All Students"
ATT_HEADER = ["School Name", "School Code", "Attendance Rate", "Average # of Absences", "Absent 10 or more days",
              "Chronically Absent (10% or more)", "Chronically Absent (20% or more)", "Unexcused > 9 days"]
ATT_ROWS = [["Boston - Alpha", "00350505", "  93.1", "  12.0", "  40.1", "  20.0", "   5.5", "  30.2"],
            ["Boston - Beta", "00350510", 95.0, 8.0, 20.0, 9.0, 1.0, ""],
            ["State Totals", "00000000", "  92.0", "  12.5", "  41.0", "  19.9", "   6.0", "  30.0"]]
NG_TITLE = "2024 Next Generation MCAS Achievement Results"
NG_HEADER = ["School Name", "School Code", "Subject", "M+E #", "M+E %", "E #", "E %", "M #", "M %", "PM #", "PM %",
             "NM #", "NM %", "No. of Students Included", "Part. Rate %", "Avg. Scaled Score", "SGP", "Included In SGP",
             "Ach. PCTL"]
NG_ROWS = [["Boston - Alpha", "00350505", "ELA", "10", 50, "2", 10, "8", 40, "5", 25, "5", 25, "20", 99, "495.0", "45.5",
            "20", 30],
           ["State Totals", "00000000", "ELA", "   1,000", 50, "200", 10, "800", 40, "500", 25, "500", 25, "   2,000", 99,
            "495.0", "50.0", "   1,900", ""]]
SQM_HEADER = "Raw likert calculation,Likert Score,Admin Data Item,Academic Year,School Name,DESE ID,# Graduated,# Completed MassCore,% Completed MassCore"
MANIFEST_HEAD = "path,report,school_year,org_level,student_group,grade,period,selection,note\n"


def xlsx(path: Path, title: str | None, header: list, rows: list[list]) -> Path:
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "Report"
    if title is not None:
        ws.append([title])
    ws.append(header)
    for r in rows:
        ws.append(r)
    wb.save(path)
    return path


def text_file(path: Path, text: str, encoding: str = "utf-8") -> Path:
    path.write_bytes(text.encode(encoding))
    return path


def manifest(folder: Path, *rows: str) -> None:
    (folder / "manifest.csv").write_text(MANIFEST_HEAD + "".join(r + "\n" for r in rows))


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    manifest(tmp_path)  # an empty manifest: the reader never walks up into unrelated folders
    return tmp_path


def test_synthetic_attendance(folder: Path) -> None:
    read = dese.read_dese_file(xlsx(folder / "att.xlsx", ATT_TITLE, ATT_HEADER, ATT_ROWS))
    c = read.cells
    assert read.report == "attendance" and read.school_year == 2024 and read.n_rows == 3
    assert len(c) == 18
    assert set(c["period"]) == {"end_of_year"} and set(c["subgroup"]) == {"all"}
    state = c[c["org_code"] == "00000000"]
    assert set(state["org_level"]) == {"state"} and len(state) == 6
    beta = c[(c["source_row"] == 4)].set_index("measure")
    assert beta.loc["attendance_rate", "value"] == 95.0 and beta.loc["attendance_rate", "value_text"] == "95"  # openpyxl stores 95.0 as 95
    assert bool(beta.loc["pct_unexcused_over_9_days", "is_suppressed"])
    assert c.loc[c["source_row"] == 3, "source_sheet"].iloc[0] == "Report"


def test_synthetic_discipline_group_and_income(folder: Path) -> None:
    header = ["School Name", "School Code", "Students", "Students Disciplined", "% In-School Suspension",
              "% Out-of-School Suspension", "% Expulsion", "% Removed to Alternate Setting", "% Emergency Removal",
              "% Students with a School-Based Arrest", "% Students with a Law Enforcement Referral"]
    rows = [["Boston - Alpha", "00350505", "   1,437", "76", "3.2", "3.1", "0.0", "0.0", "0.1", "0.0", "0.0"],
            ["State Totals", "00000000", "900,000", "20,000", "1.0", "2.0", "0.0", "0.1", "0.2", "0.0", "0.1"]]
    d = dese.read_dese_file(xlsx(folder / "d.xlsx", "2023-24 Student Discipline Data Report (School) - All Offenses - "
                                 "Hispanic/Latino", header, rows)).cells
    assert set(d["subgroup"]) == {"latino"} and set(d["subgroup_label"]) == {"Hispanic/Latino"}
    assert d.set_index(["source_row", "measure"]).loc[(3, "n_students"), "value"] == 1437
    e = dese.read_dese_file(xlsx(folder / "e.xlsx", "2023-24 Student Discipline Data Report (School) - All Offenses - "
                                 "Economically Disadvantaged", header, rows)).cells
    assert set(e["income_definition"]) == {"low_income_2022"}


def test_synthetic_nextgen_with_manifest(folder: Path) -> None:
    manifest(folder, "ng_*.xlsx,mcas_nextgen,,school,Afr. Amer./Black,ALL (03-08),,,generator")
    read = dese.read_dese_file(xlsx(folder / "ng_black.xlsx", NG_TITLE, NG_HEADER, NG_ROWS))
    c = read.cells
    assert read.school_year == 2024
    assert set(c["subgroup"]) == {"black"} and set(c["grade"]) == {"03-08"} and set(c["subject"]) == {"ela"}
    assert c.set_index(["source_row", "measure"]).loc[(4, "n_students_included"), "value"] == 2000
    assert c.set_index(["source_row", "measure"]).loc[(3, "mean_sgp"), "value"] == 45.5
    assert any("manifest" in n for n in read.notes)


def test_synthetic_legacy_and_sgp_by_year(folder: Path) -> None:
    manifest(folder, "old.xlsx,,,,all,10,,,")
    header = NG_HEADER[:-1]
    rows = [r[:-1] for r in NG_ROWS]
    c = dese.read_dese_file(xlsx(folder / "old.xlsx", "2017 Next Generation MCAS Achievement Results ", header, rows)).cells
    assert "median_sgp" in set(c["measure"]) and "mean_sgp" not in set(c["measure"])


def test_exact_repeats_kept_once(folder: Path) -> None:
    lines = [SQM_HEADER,
             "1,1,a-1,2023-24,Boston - Alpha,00350505,      76,      70,  92.1",
             "2,2,a-2,2023-24,Boston - Alpha,00350505,      76,      70,  92.1",
             "1,1,a-1,2022-23,Boston - Alpha,00350505,      70,      60,  85.7"]
    manifest(folder, "mc.csv,masscore,,school,all,,,,")
    read = dese.read_dese_file(text_file(folder / "mc.csv", "\n".join(lines) + "\n"))
    assert read.n_rows == 3 and len(read.cells) == 6 and read.school_year is None
    assert any("1 exact repeated row(s)" in n for n in read.notes)
    assert sorted(read.cells["source_row"].unique()) == [2, 4]


def test_semicolon_bom_crlf_csv_and_filename_metadata(folder: Path) -> None:
    header = ";".join(NG_HEADER[:-1] + ["year", "grade", "student_group"])
    row = "Boston - Alpha;350505;MATH;          10;50;2;10;8;40;5;25;5;25;          20;99;     495.0;   45.5;20;2019;ALL;EL"
    p = folder / "mcas public schools grades 3-8 EL 2019.csv"
    p.write_bytes(b"\xef\xbb\xbf" + (header + "\r\n" + row + "\r\n").encode())
    read = dese.read_dese_file(p)
    c = read.cells
    assert set(c["org_code"]) == {"00350505"} and set(c["subgroup"]) == {"el"} and set(c["grade"]) == {"03-08"}
    assert read.school_year == 2019 and set(c["subgroup_label"]) == {"EL"}


def test_manifest_lookup_and_find(tmp_path: Path) -> None:
    sub = tmp_path / "a" / "b"
    sub.mkdir(parents=True)
    (tmp_path / "manifest.csv").write_text(MANIFEST_HEAD + "a/b/*.xlsx,,2024,school,all,,,,glob\n"
                                           "a/b/x.xlsx,attendance,,,,,end_of_year,,exact\n")
    m = dese.find_manifest(sub / "x.xlsx")
    assert m is not None and m.path == tmp_path / "manifest.csv"
    got = m.lookup(sub / "x.xlsx")
    assert got["school_year"] == "2024" and got["period"] == "end_of_year" and got["report"] == "attendance"
    assert "glob" in got["note"] and "exact" in got["note"]
    assert m.lookup(tmp_path / "elsewhere.csv") == {}


def test_looks_like_dese_negative(folder: Path) -> None:
    assert not looks_like_dese(folder / "manifest.csv")
    assert not looks_like_dese(text_file(folder / "notes.csv", "name,score\nx,1\n"))
    assert not looks_like_dese(text_file(folder / "x.xlsx", "not a workbook"))


# ----------------------------------------------------------------------------------------------------------------
# Refused: only what cannot be read, or has no header, no org identifier or no school year
# ----------------------------------------------------------------------------------------------------------------


def _valid_xlsx_bytes(folder: Path) -> bytes:
    return xlsx(folder / "_ok.xlsx", ATT_TITLE, ATT_HEADER, ATT_ROWS).read_bytes()


def _att(folder: Path, name: str = "bad.xlsx", title: str | None = ATT_TITLE, header=None, rows=None) -> Path:
    return xlsx(folder / name, title, header or ATT_HEADER, rows if rows is not None else ATT_ROWS)


def _rows_with(col: str, value: object, row: int = 0) -> list[list]:
    rows = [list(r) for r in ATT_ROWS]
    rows[row][ATT_HEADER.index(col)] = value
    return rows


def _sqm(folder: Path, body: list[str], name: str = "bad.csv") -> Path:
    manifest(folder, f"{name},masscore,,school,all,,,,")
    return text_file(folder / name, "\n".join([SQM_HEADER, *body]) + "\n")


def case_missing_code_column(f):
    return _att(f, header=[ATT_HEADER[0], *ATT_HEADER[2:]], rows=[[r[0], *r[2:]] for r in ATT_ROWS]), [
        "no org identifier", "'School Code'", "private-school"]


def case_empty_csv(f):
    return text_file(f / "bad.csv", ""), ["file is empty"]


def case_empty_xlsx(f):
    return text_file(f / "bad.xlsx", ""), ["empty"]


def case_truncated_xlsx(f):
    data = _valid_xlsx_bytes(f)
    (f / "bad.xlsx").write_bytes(data[: len(data) // 2])
    return f / "bad.xlsx", ["truncated or corrupt", "download or copy the file again"]


def case_csv_named_xlsx(f):
    return text_file(f / "bad.xlsx", ",".join(ATT_HEADER) + "\n"), ["not an Excel workbook", "rename it to .csv"]


def case_xls_named_xlsx(f):
    (f / "bad.xlsx").write_bytes(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 500)
    return f / "bad.xlsx", ["Excel 97-2003", "save it as .xlsx"]


def case_zip_not_workbook(f):
    with zipfile.ZipFile(f / "bad.xlsx", "w") as z:
        z.writestr("hello.txt", "not a workbook")
    return f / "bad.xlsx", [".xlsx file"]


def case_wrong_delimiter(f):
    return text_file(f / "bad.csv", ":".join(ATT_HEADER) + "\n" + ":".join(map(str, ATT_ROWS[0])) + "\n"), [
        "wrong delimiter", "one column"]


def case_nul_bytes(f):
    (f / "bad.csv").write_bytes(b"School Name,School Code\x00\x00\x00\n")
    return f / "bad.csv", ["wrong text encoding", "NUL bytes"]


def case_year_missing(f):
    body = ",".join(NG_HEADER[:-1]) + "\n" + ",".join(str(v).strip().replace(",", "") for v in NG_ROWS[0][:-1]) + "\n"
    manifest(f, "scores.csv,,,school,all,10,,,")
    return text_file(f / "scores.csv", body), ["no school year", "manifest.csv", "scores.csv,,<year>,,,,,,"]


def case_future_year_is_no_year(f):
    return _att(f, title=ATT_TITLE.replace("2023-24", "2098-99")), ["no school year"]


def case_bad_year_column_is_no_year(f):
    return _sqm(f, ["1,1,a,2023-25,Boston - Alpha,00350505,76,70,92.1"]), ["no school year"]


def case_no_header(f):
    return text_file(f / "bad.csv", "1,2,3\n4,5,6\n"), ["no header row"]


def case_unrecognized_without_codes(f):
    return text_file(f / "bad.csv", "Name,Value,Other\nx,1,2\n"), ["no org identifier"]


def case_manifest_rows_conflict(f):
    manifest(f, "bad.xlsx,,,,all,10,,,", "*.xlsx,,,,all,08,,,")
    return xlsx(f / "bad.xlsx", NG_TITLE, NG_HEADER, NG_ROWS), ["disagree on grade", "'bad.xlsx'", "rows 2 and 3"]


def case_unsupported_suffix(f):
    return text_file(f / "bad.ods", "x"), ["unsupported file type '.ods'"]


def case_html_page_without_table(f):
    return text_file(f / "bad.xls", "<!DOCTYPE html><html><title>2024 Report</title><p>Sorry</p></html>"), [
        "HTML page without a table"]


REFUSED = {name[5:]: fn for name, fn in sorted(globals().items()) if name.startswith("case_")}


@pytest.mark.parametrize("name", sorted(REFUSED))
def test_unreadable_input_refused(name: str, folder: Path) -> None:
    path, fragments = REFUSED[name](folder)
    with pytest.raises(InputError) as info:
        dese.read_dese_file(path)
    msg = str(info.value)
    assert info.value.file and Path(info.value.file).name in (path.name, "manifest.csv")
    for fragment in fragments:
        assert fragment in msg, f"{fragment!r} not in: {msg}"
    assert "How to fix" in msg


# ----------------------------------------------------------------------------------------------------------------
# Kept: what the reader cannot map loads, with a warning or a flag, never a refusal
# ----------------------------------------------------------------------------------------------------------------


def _warned(read: dese.DeseRead, *fragments: str) -> None:
    text = " | ".join(read.warnings)
    for fragment in fragments:
        assert fragment in text, f"{fragment!r} not in warnings: {text}"


def test_unknown_header_kept_with_measure_null(folder: Path) -> None:
    read = dese.read_dese_file(_att(folder, header=ATT_HEADER + ["Tardy Rate", "Attendance Rate"],
                                    rows=[r + ["1.5", "90.0"] for r in ATT_ROWS]))
    c = read.cells
    tardy = c[c["source_column"] == "Tardy Rate"]
    assert len(tardy) == 3 and tardy["measure"].isna().all() and tardy["value"].tolist() == [1.5, 1.5, 1.5]
    assert c.loc[c["source_column"] == "Attendance Rate (2)", "measure"].isna().all()
    _warned(read, "2 column(s) not in the column map of report 'attendance'", "Tardy Rate", "Attendance Rate (2)")
    assert len(read.warnings) == 1


def test_unknown_report_loaded_as_unknown(folder: Path) -> None:
    title = "2023-24 Bus Ridership Report (School) - All Students"
    read = dese.read_dese_file(xlsx(folder / "bus.xlsx", title, ["School Name", "School Code", "Riders", "% Late"],
                                    [["Boston - Alpha", "00350505", "  1,204", "  3.5"]]))
    assert read.report == "unknown:bus_ridership_report" and read.school_year == 2024
    c = read.cells.set_index("source_column")
    assert c.loc["Riders", "value"] == 1204.0 and c["measure"].isna().all() and set(c["subgroup"]) == {"all"}
    _warned(read, "report not in the catalog", "unknown:bus_ridership_report")


def test_unknown_group_subject_grade_and_title_part_kept(folder: Path) -> None:
    manifest(folder, "ng.xlsx,,,,Martians,grade eleventy,,,")
    rows = [list(r) for r in NG_ROWS]
    rows[0][2] = "HISTORY"
    read = dese.read_dese_file(xlsx(folder / "ng.xlsx", NG_TITLE + " - Violent", NG_HEADER, rows))
    c = read.cells
    assert c["subgroup"].isna().all() and set(c["subgroup_label"]) == {"Martians"}
    assert set(c["subject"]) == {"history", "ela"} and set(c["grade"]) == {"grade eleventy"}
    assert set(c["selection"]) == {"Violent"}
    _warned(read, "not in config/subgroup_crosswalk.csv")


def test_values_that_are_not_numbers_or_out_of_range_are_kept_and_flagged(folder: Path) -> None:
    rows = _rows_with("Attendance Rate", "ninety")
    rows[1][ATT_HEADER.index("Chronically Absent (10% or more)")] = "120.5"
    read = dese.read_dese_file(_att(folder, rows=rows))
    c = read.cells.set_index(["source_row", "source_column"])
    text = c.loc[(3, "Attendance Rate")]
    assert text["value_text"] == "ninety" and math.isnan(text["value"]) and not text["is_suppressed"]
    assert c.loc[(4, "Chronically Absent (10% or more)"), "flag"] == "out_of_range"
    _warned(read, "1 value(s) outside their measure's range", "'120.5'")


def test_disagreeing_repeats_and_bad_codes_are_flagged(folder: Path) -> None:
    rows = [list(r) for r in ATT_ROWS] + [["Boston - Gamma", "BOS-0505", "90", "1", "1", "1", "1", "1"],
                                          ["Boston - Delta", "", "90", "1", "1", "1", "1", "1"]]
    rows[1][1] = rows[0][1]
    c = dese.read_dese_file(_att(folder, rows=rows)).cells
    flags = c.groupby("source_row")["flag"].first().to_dict()
    assert flags[3] == flags[4] == "conflicting_repeat" and flags[5] is None
    assert flags[6] == "bad_org_code" and flags[7] == "missing_org_code"
    assert set(c.loc[c["source_row"] == 6, "org_code"]) == {"BOS-0505"}


def test_file_wins_over_a_disagreeing_manifest(folder: Path) -> None:
    manifest(folder, "bad.xlsx,,2022,district,black,,,,")
    read = dese.read_dese_file(_att(folder))
    c = read.cells
    assert read.school_year == 2024 and set(c["org_level"]) == {"school", "state"} and set(c["subgroup"]) == {"all"}
    _warned(read, "school year disagrees", "org level disagrees", "student group disagrees")


def test_missing_group_grade_period_are_recorded_not_refused(folder: Path) -> None:
    read = dese.read_dese_file(_att(folder, title="2023-24 Student Attendance Report (School)"))
    assert set(read.cells["period"]) == {"unknown"} and read.cells["subgroup"].isna().all()
    ng = dese.read_dese_file(xlsx(folder / "ng.xlsx", NG_TITLE, NG_HEADER, NG_ROWS))
    assert ng.cells["subgroup"].isna().all() and set(ng.cells["grade"]) == {"unknown"}
    _warned(ng, "student group not recorded")
    _warned(read, "reporting period not recorded")


def test_header_only_report_loads_empty(folder: Path) -> None:
    read = dese.read_dese_file(_att(folder, rows=[]))
    assert len(read.cells) == 0 and read.n_rows == 0
    assert any("header and no data rows" in n for n in read.notes)


def test_no_title_xlsx_with_manifest_and_leading_zeros(folder: Path) -> None:
    manifest(folder, "re.xlsx,,2024,,all,,end_of_year,,")
    rows = _rows_with("School Code", 350505)
    read = dese.read_dese_file(_att(folder, name="re.xlsx", title=None, rows=rows))
    c = read.cells
    assert read.school_year == 2024 and read.year_source == "manifest"
    assert "00350505" in set(c["org_code"]) and set(c["period"]) == {"end_of_year"}


def test_layouts_encodings_and_number_formats(folder: Path) -> None:
    """Title + blank rows above a 'DISTRICT'/'ORG CODE' header (web-style re-save), Latin-1 bytes, '$', '%',
    ratio, NBSP, decimal commas in a semicolon file, float artefacts, UTF-16."""
    web = folder / "web.xlsx"
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.append(["2016-17 Teacher Data Report (DISTRICT)"])
    ws.append([])
    ws.append([None, None])
    ws.append(["DISTRICT", "ORG CODE", "Total # of Teachers", "Student/Teacher Ratio"])
    ws.append(["Abington", "00010000", 131.00000000000003, "14.7 to 1"])
    wb.save(web)
    c = dese.read_dese_file(web).cells.set_index("source_column")
    assert c.loc["Total # of Teachers", "value"] == 131.0 and c.loc["Student/Teacher Ratio", "value"] == 14.7
    assert set(c["org_level"]) == {"district"} and set(c["source_row"]) == {5}
    money = text_file(folder / "2021 salaries.csv", "District Name;District Code;Average Salary;Share\n"
                      "Bôston;350000;\u00a0$66\u00a0422;12,5 %\nState Totals;;  $86,118;100,0\n", encoding="latin-1")
    read = dese.read_dese_file(money)
    m = read.cells.set_index(["source_row", "source_column"])
    assert m.loc[(2, "Share"), "value"] == 12.5 and m.loc[(3, "Share"), "value"] == 100.0
    assert m.loc[(2, "Average Salary"), "value_text"] == "\u00a0$66\u00a0422"
    assert m.loc[(3, "Average Salary"), "org_code"] == "00000000" and read.school_year == 2021
    assert any("decoded as Windows-1252" in n for n in read.notes)
    u16 = text_file(folder / "2019-20 mobility.csv", "School Name\tSchool Code\t% Churn\nA\t00350505\t4.5\n",
                    encoding="utf-16")
    assert dese.read_dese_file(u16).cells["value"].tolist() == [4.5]


def test_inspect_reports_a_file_and_a_refusal(folder: Path) -> None:
    ok = dese.inspect_dese_file(_att(folder, header=ATT_HEADER + ["Tardy Rate"], rows=[r + [""] for r in ATT_ROWS]))
    assert ok["refused"] is False and ok["report"] == "attendance" and ok["school_year"] == 2024
    assert ok["year_source"] == "title '2023-24'" and ok["org_level"] == "school+state"
    assert ok["unmapped_columns"] == ["Tardy Rate"] and "Attendance Rate" in ok["mapped_columns"]
    assert ok["suppressed_cells"] == 4 and ok["rows"] == 3
    bad = dese.inspect_dese_file(text_file(folder / "x.csv", "Name,Value\nx,1\n"))
    assert bad["refused"] is True and "no org identifier" in bad["reason"]


def test_cells_frame_matches_declared_schema(folder: Path) -> None:
    c = dese.read_dese_file(_att(folder, name="ok.xlsx")).cells
    assert list(c.columns) == list(dese.CELL_COLUMNS)
    assert c["subject"].isna().all() and c["income_definition"].isna().all()
    assert set(c["year_source"]) == {"title '2023-24'"} and c["title"].eq(ATT_TITLE).all()
    assert isinstance(c, pd.DataFrame)


def test_short_attendance_rows_lack_the_20_percent_column_not_the_last_one():
    """2C_1_attendance.csv, line 10979 (Abby Kelley Foster, 2018-19) has 5 values: 97.2, 5.1, 16.0, 2.2, 16.0.
    The 5th is 'Unexcused > 9 days' (see short_rows in config/dese_reports.yaml), never a chronic-20% above the
    chronic-10% figure."""
    path = shared_dese_dir() / "edcommonwealth__sqm-dashboards/data/admin_data/dese/2C_1_attendance.csv"
    if not path.exists():
        pytest.skip("shared DESE files absent")
    cells = dese.read_dese_file(path).cells
    row = cells[(cells.source_row == 10979)].set_index("measure")["value_text"].str.strip().to_dict()
    assert row == {"attendance_rate": "97.2", "avg_days_absent": "5.1", "pct_absent_10_plus_days": "16.0",
                   "pct_chronically_absent": "2.2", "pct_unexcused_over_9_days": "16.0"}
    both = cells[cells.measure.isin(["pct_chronically_absent", "pct_chronically_absent_20"])].pivot_table(
        index=["source_row"], columns="measure", values="value", aggfunc="first").dropna()
    assert (both["pct_chronically_absent_20"] <= both["pct_chronically_absent"]).all()


def test_e2c_download_layout_with_fraction_percentages(folder: Path) -> None:
    """An E2C (educationtocareer.data.mass.gov) attendance download: one row per org x year x group, org type per
    row, percentages as 0-1 fractions (column names as DEFINITIONS.md lists them)."""
    header = ("SY,ATTEND_PERIOD,DIST_CODE,DIST_NAME,ORG_CODE,ORG_NAME,ORG_TYPE,STU_GRP,ATTEND_RATE,CNT_AVG_ABS,"
              "PCT_ABS_10_DAYS,PCT_CHRON_ABS_10,PCT_CHRON_ABS_20,PCT_UNEXC_10_DAYS,DISTRICT_AND_SCHOOL")
    lines = [header,
             "2024,End of Year,00350000,Boston,00350505,Alpha,School,All Students,0.931,12.0,0.401,0.2,0.055,0.302,"
             "Boston - Alpha",
             "2024,End of Year,00350000,Boston,00350505,Alpha,School,Low Income,0.92,13.5,0.45,0.25,0.07,0.33,"
             "Boston - Alpha",
             "2024,End of Year,00350000,Boston,00350000,Boston,District,All Students,0.93,12.2,0.41,0.21,0.06,0.31,"
             "Boston",
             "2023,End of Year,00000000,State,00000000,State,State,All Students,0.92,12.5,,0.2,0.06,0.3,State"]
    read = dese.read_dese_file(text_file(folder / "Student_Attendance_20250101.csv", "\n".join(lines) + "\n"))
    c = read.cells.set_index(["source_row", "measure"])
    assert read.report == "e2c_attendance" and read.school_year is None
    assert c.loc[(2, "attendance_rate"), "value"] == pytest.approx(93.1)
    assert c.loc[(2, "avg_days_absent"), "value"] == 12.0 and c.loc[(2, "attendance_rate"), "value_text"] == "0.931"
    assert c.loc[(3, "pct_absent_10_plus_days"), "subgroup"] == "low_income"
    assert c.loc[(4, "pct_chronically_absent"), "org_level"] == "district"
    assert c.loc[(5, "pct_absent_10_plus_days"), "is_suppressed"] and c.loc[(5, "attendance_rate"), "school_year"] == 2023
    assert set(read.cells["period"]) == {"end_of_year"} and set(read.cells["year_source"]) == {"column 'SY'"}
    assert any("0-1 fractions multiplied by 100" in n for n in read.notes)


def test_older_profiles_export_html_named_xls() -> None:
    """An older 'Export to Excel' file is an HTML page named .xls (tests/data/SOURCES.md): title from <title>,
    'SCHOOL' holds names here, 'Org Code' the codes; 'PK-2 (# )' row 3 (Abby Kelley Foster) is 20.0."""
    path = Path(__file__).parent / "data" / "dese_html_export_cut.xls"
    read = dese.read_dese_file(path, dese.Manifest(path.parent / "manifest.csv", path.parent, []))
    assert read.report == "staffing_grade_subject" and read.school_year == 2012 and read.n_rows == 12
    c = read.cells
    assert set(c["org_level"]) == {"school"} and c["measure"].notna().all()
    check_dese_cell(c, 3, "PK-2 (# )", dict(org_code="04450105", measure="fte_grades_pk_2", value=20.0,
                                            org_name="Abby Kelley Foster Charter Public (District) - Abby Kelley "
                                                     "Foster Charter Public School"))
    check_dese_cell(c, 4, "FTE Count", dict(org_code="00010505", value=38.9))


def test_statewide_enrollment_layout_with_publisher_title(folder: Path) -> None:
    """The statewide 'Enrollment by School/Grade' file (A100 layout): publisher line, report line, 'School Year
    2018-19' line and a note above the header; ORG_CODE is the 4-digit district prefix, SCHOOL the 8-digit code.
    Rows as in the 2018-19 file (fmcpeake/TechTogether school-grade.xlsx): its State Total row."""
    path = folder / "school-grade.xlsx"
    wb = openpyxl.Workbook()
    ws = wb.active
    for line in (" Massachusetts Department of Elementary and Secondary Education ", "Enrollment by School/Grade",
                 "School Year 2018-19", "Enrollment Data as October 1, 2018"):
        ws.append([None] * 7 + [line])
    ws.append([])
    ws.append(["ORG_CODE", "DISTRICT_NAME", "SCHOOL", "SCHOOL_NAME", "COUNTY", "School_Total", "PK", "K", "Gr.1"])
    ws.append(["0000", "State Total", "00000000", "State Total", None, 951631, 30268, 65944, 67590])
    ws.append(["*** Data are not reported for district totals fewer than 6 students"])
    wb.save(path)
    read = dese.read_dese_file(path)
    assert read.report == "enrollment_school_grade" and read.school_year == 2019
    assert read.year_source == "title '2018-19'"
    check_dese_cell(read.cells, 7, "Gr.1", dict(org_code="00000000", org_level="state", grade="01",
                                                measure="n_students", value=67590.0, subgroup="all"))


def test_district_file_with_four_digit_district_codes(folder: Path) -> None:
    """'Enrollment by District/Grade/Race' (statewide file): ORG_CODE is DESE's 4-digit district code, '0001' =
    Abington = 00010000. Rows as in the 2023-24 file (safarooqi/24Spr_SFarooqi_Capstone district-grade-race.xlsx)."""
    path = folder / "district-grade-race.xlsx"
    wb = openpyxl.Workbook()
    ws = wb.active
    for line in (" Massachusetts Department of Elementary and Secondary Education ",
                 "Enrollment by District/Grade/Race", "School Year 2023-2024", "Enrollment Data as October 1, 2023"):
        ws.append([None] * 5 + [line])
    ws.append([])
    ws.append(["ORG_CODE", "District_NAME", "COUNTY", "Grade", "District_Total", "Black", "Asian"])
    ws.append(["0001", "Abington", "Plymouth", "Gr.1", 161, 6, 6])
    ws.append(["0000", "State Totals", None, None, 914959, 88104, 67847])
    wb.save(path)
    read = dese.read_dese_file(path)
    assert read.report == "enrollment_grade_race" and read.school_year == 2024
    check_dese_cell(read.cells, 7, "District_Total", dict(org_code="00010000", org_name="Abington",
                                                          org_level="district", grade="01", value=161.0))
    check_dese_cell(read.cells, 8, "Black", dict(org_code="00000000", org_level="state", grade="all", value=88104.0))


@pytest.mark.parametrize(("text", "year"), [
    ("2023-24", 2024), ("2023-2024", 2024), ("2023/24", 2024), ("2023\u201324", 2024), ("SY24", 2024),
    ("FY 2024", 2024), ("2024", 2024), ("2024.0", 2024), ("2023-25", None), ("24", None), ("20245", None)])
def test_a_dese_year_is_read_by_the_sis_spellings_rule(text: str, year: int | None) -> None:
    """One school-year rule for DESE titles, file names and manifests and for the district's SIS files."""
    from equity_outcomes.ingest.dese.manifest import parse_year

    assert parse_year(text) == year

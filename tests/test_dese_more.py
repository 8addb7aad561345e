"""Every export in ../shared/data/dese_more loads (CONVERTED files, the empty report, year-less files through
config/dese_manifest_shared_more.csv), and for every file a handful of cells match the file as published. The
expected values were read from the raw files (openpyxl rows / csv lines), not from the reader."""

from __future__ import annotations

import math
import re
from pathlib import Path

import pytest

from equity_outcomes.ingest import dese
from equity_outcomes.paths import shared_data_dir

from .conftest import check_dese_cell

MORE = shared_data_dir() / "dese_more"
FILES = sorted(p for p in MORE.rglob("*") if p.suffix.lower() in (".xlsx", ".csv")) if MORE.is_dir() else []
_CACHE: dict[str, dese.DeseRead] = {}

needs_more = pytest.mark.skipif(not FILES, reason=f"shared exports not found at {MORE}")


def more(rel: str) -> dese.DeseRead:
    if rel not in _CACHE:
        _CACHE[rel] = dese.read_dese_file(MORE / rel)
    return _CACHE[rel]


BG = "BostonGlobe__2015-09-23_mcas-districts/data/input/"
SC = "SagnikChand__Expenses-on-Education/"
AS = "adamSales__massachusetts_observational_study/data_processing/mcas_exports/"
DY = "course-fish274-2022__Dylan-MA-PublicSchools/raw_data/"
CA = "csarmstrong123__studious-lamp/"
EN = "ensabai__Trabajo-Fin-Grado/data/"
AP = "mishajirx__AP-Exams-Interactive-Map/"
TD = "t1m0thy__datadad/school/"

# (file, physical row, column, expected). Rows: title row 1 and header row 2 unless noted.
CELLS = [
    # research file, row 2 = State grade 03: e_AandP_15 60, e_AandP_14 57, ELASGP15 ' ' (no SGP in grade 3)
    (BG + "districts.xlsx", 2, "e_AandP_15", dict(measure="pct_proficient_or_advanced", subject="ela", grade="03",
                                                  school_year=2015, org_level="state", value=60.0)),
    (BG + "districts.xlsx", 2, "e_AandP_14", dict(school_year=2014, value=57.0)),
    (BG + "districts.xlsx", 2, "ELASGP15", dict(measure="median_sgp", value_text=" ", is_suppressed=True)),
    (BG + "districts.xlsx", 3, "MATSGP15", dict(subject="math", grade="04", value=49.0)),
    (BG + "schools.xlsx", 2, "etotal_perf_15", dict(org_code="00010003", org_level="school", value=169.0,
                                                    measure="n_students_included")),
    (BG + "schools.xlsx", 2, "echange_type", dict(value_text="Improved", is_suppressed=False, value=math.nan)),
    (BG + "schools.xlsx", 4, "e_AandP_15", dict(grade="all", value=58.0)),
    (SC + "PerPupilExpenditures.xlsx", 3, "In-District Expenditures",
     dict(report="per_pupil_expenditure", school_year=2021, org_code="04450000", org_level="district",
          value_text="          $24,004,095.80", value=24004095.80)),
    (SC + "PerPupilExpenditures.xlsx", 401, "Total Expenditures per Pupil", dict(org_level="state", value=19066.35)),
    (SC + "TeacherSalaries.xlsx", 3, "Average Salary", dict(report="teacher_salaries", school_year=2021,
                                                            value=66422.0, subgroup=None)),
    (SC + "TeacherSalaries.xlsx", 398, "FTE Count", dict(org_level="state", value=75033.2)),
    (SC + "gradrates.xlsx", 3, "% Graduated", dict(report="graduation_4yr", measure="pct_graduated", value=98.8,
                                                   subgroup="all", school_year=2021)),
    (SC + "gradrates.xlsx", 307, "# in Cohort", dict(org_level="state", value=74226.0)),
    (SC + "mobilityrates.xlsx", 3, "Churn/Intake Enroll", dict(report="mobility", value=1437.0, subgroup="all")),
    (SC + "mobilityrates.xlsx", 3, "% Churn", dict(value=3.2)),
    (SC + "sat_performance.xlsx", 3, "Tests Taken", dict(report="sat_performance", value=12.0, school_year=2021)),
    (SC + "sat_performance.xlsx", 3, "Writing", dict(value_text="", is_suppressed=True)),
    (SC + "sat_performance.xlsx", 3, "Math", dict(value=528.0)),
    (SC + "selectedpopulations.xlsx", 3, "High Needs # (2)", dict(measure="pct_high_needs", value=77.2)),
    (SC + "selectedpopulations.xlsx", 3, "Free Lunch #", dict(value_text=" ", is_suppressed=True)),
    (SC + "selectedpopulations.xlsx", 403, "Low Income %", dict(org_level="state", value=43.8, school_year=2022)),
    # CONVERTED author table: line 3 '00010405,182.0,20.7,...' ; '33-40 yrs (#)' = '3.8000000000000003'
    (AS + "csv/mass_doe_data.csv", 3, "33-40 yrs (#)", dict(report="unknown:mass_doe_data", school_year=2013,
                                                            value_text="3.8000000000000003", value=3.8)),
    (AS + "csv/mass_doe_data.csv", 2, "Average Class Size", dict(org_code="00010015", value=31.9, measure=None)),
    (AS + "xlsx/educator-age_2012.xlsx", 3, "<26 yrs (# )", dict(report="staffing_age", school_year=2012,
                                                                 value_text="      18.0", value=18.0)),
    (AS + "xlsx/educator-age_2012.xlsx", 3, "FTE Count", dict(measure="fte_total", value=146.3)),
    (AS + "xlsx/educator-area_2013.xlsx", 3, "Special Education (#)", dict(value_text="17.400000000000002",
                                                                           value=17.4, school_year=2013)),
    (AS + "xlsx/educator-race_2013.xlsx", 3, "White (#)", dict(report="staffing_race_gender", org_level="school",
                                                               value=146.8)),
    (AS + "xlsx/educator-ratios_2013.xlsx", 3, "Student / Teacher Ratio", dict(value_text="  12.2 to 1",
                                                                               value=12.2)),
    (AS + "xlsx/educator-ratios_2013.xlsx", 3, "% of Teachers Licensed in Teaching Assignment", dict(value=92.7)),
    (AS + "xlsx/educator-retention_2013.xlsx", 3, "Teacher % Retained", dict(value=92.1, school_year=2013)),
    # two 'State Totals' rows with different figures: both kept, flagged
    (AS + "xlsx/educator-retention_2013.xlsx", 1812, "Teacher Total", dict(org_level="state", value=74767.0,
                                                                           flag="conflicting_repeat")),
    (AS + "xlsx/educator-retention_2013.xlsx", 1813, "Teacher Total", dict(value=72219.0, flag="conflicting_repeat")),
    (AS + "xlsx/enrollment-gender_2012.xlsx", 3, "Number of Students", dict(value_text="      1,426", value=1426.0)),
    (AS + "xlsx/enrollment-gender_2012.xlsx", 3, "Economically Disadvantaged %", dict(value=60.6)),
    (AS + "xlsx/enrollment-grade_2012.xlsx", 3, "K", dict(report="enrollment_grade", measure="n_students",
                                                          grade="KG", value=111.0)),
    (AS + "xlsx/enrollment-grade_2012.xlsx", 1832, "Total", dict(org_level="state", grade="all", value=953369.0)),
    (AS + "xlsx/enrollment-race_2012.xlsx", 3, "African American %", dict(report="class_size_race",
                                                                          measure="pct_black", value=33.2)),
    (AS + "xlsx/mcas_2007-6.xlsx", 3, "P+A #", dict(report="mcas_legacy", school_year=2007, subject="ela",
                                                    grade="06", subgroup="all", value=61.0)),
    (AS + "xlsx/mcas_2007-6.xlsx", 3, "Median SGP", dict(value_text="", is_suppressed=True)),
    (AS + "xlsx/mcas_2007-6.xlsx", 1134, "CPI", dict(org_level="state", subject="math", value=75.5)),
    (AS + "xlsx/mcas_2010-7.xlsx", 3, "Median SGP", dict(measure="median_sgp", grade="07", value=40.0)),
    (AS + "xlsx/mcas_2014-8.xlsx", 5, "Median SGP", dict(subject="sci", value_text="N/A", is_suppressed=True)),
    (AS + "xlsx/mcas_2014-8.xlsx", 3, "No. of Students Included", dict(measure="n_students_included", value=115.0)),
    (AS + "xlsx/mobility_2013.xlsx", 3, "Churn/Intake Enroll", dict(value_text="    1436", value=1436.0)),
    (AS + "xlsx/mobility_2013.xlsx", 3, "% Stability", dict(value=95.8)),
    # CSV re-saves without title rows: header row 1, data from row 2
    (DY + "ClassSizebyRaceEthnicity.csv", 2, "Total # of Classes", dict(school_year=2021, value=713.0)),
    (DY + "ClassSizebyRaceEthnicity.csv", 402, "Number of Students", dict(org_level="state", value=912474.0)),
    (DY + "StudentDisciplineDataReport.csv", 2, "Students", dict(report="discipline", school_year=2022,
                                                                 value_text="   1,447", value=1447.0)),
    (DY + "StudentDisciplineDataReport.csv", 2, "Students Disciplined", dict(value_text="43.00", value=43.0)),
    (DY + "StudentDisciplineDataReport.csv", 400, "% In-School Suspension", dict(value_text="",
                                                                                  is_suppressed=True)),
    (DY + "artcourse.csv", 2, "K", dict(org_code="04450000", grade="KG", measure="n_students_in_arts",
                                        value=117.0)),
    (DY + "artcourse.csv", 4, "K", dict(value_text="", is_suppressed=True)),
    (DY + "artcourse.csv", 402, "All Grades", dict(org_code="00000000", org_level="state", value=685050.0)),
    (CA + "NextGenMCAS.xlsx", 3, "M+E #", dict(report="mcas_nextgen", value=258.0, subject="ela", grade="03-08",
                                               subgroup="all", school_year=2021)),
    (CA + "NextGenMCAS.xlsx", 5, "SGP", dict(subject="sci", value_text="", is_suppressed=True)),
    (CA + "NextGenMCAS.xlsx", 1062, "Avg. Scaled Score", dict(org_level="state", value=494.8)),
    (CA + "NextGenMCAS_ELA.csv", 2, "M+E #", dict(org_code="04450000", value=258.0, school_year=2021)),
    (CA + "NextGenMCAS_ELA.csv", 356, "M+E #", dict(org_code="00000000", org_level="state", value=182190.0)),
    (CA + "NextGenMCAS_csv.csv", 3, "M+E #", dict(value_text="         258", value=258.0, grade="03-08")),
    (CA + "PerPupilExpenditures.xlsx", 3, "Total Expenditures per Pupil", dict(school_year=2020, value=15396.51)),
    (CA + "TeacherSalaries.xlsx", 3, "Average Salary", dict(org_code="00010000", value=94149.0)),
    # directory export (no title): zip codes stay text
    (EN + "districts.xlsx", 2, "Zip", dict(report="directory", value_text="01606", value=math.nan,
                                           is_suppressed=False, org_code="04450000")),
    (EN + "districts.xlsx", 2, "Address 2", dict(value_text="", is_suppressed=True)),
    (EN + "enrollmentbygrade.xlsx", 3, "PK", dict(grade="PK", value=0.0, school_year=2022)),
    (EN + "enrollmentbygrade.xlsx", 403, "Total", dict(org_level="state", value=911529.0)),
    (EN + "enrollmentbyracegender.xlsx", 3, "Non-Binary", dict(measure="pct_nonbinary", value=0.0)),
    (EN + "enrollmentbyracegender.xlsx", 3, "African American", dict(measure="pct_black", value=54.6)),
    (EN + "staffracegender.xlsx", 3, "African American (%)", dict(measure="pct_staff_black", value=4.5)),
    (EN + "staffracegender.xlsx", 403, "FTE Count", dict(org_level="state", value=140800.7)),
    (AP + "FactsArchive/Facts_raw/ap_performance (0).xlsx", 3, "Tests Taken", dict(value=164.0, selection=None)),
    (AP + "FactsArchive/Facts_raw/ap_performance (0).xlsx", 3, "% Score 3-5", dict(value=45.7, school_year=2023)),
    (AP + "FactsArchive/Facts_raw/ap_performance (1).xlsx", 3, "Score=1", dict(value_text="", is_suppressed=True,
                                                                              selection="Arts")),
    (AP + "FactsArchive/Facts_raw/ap_performance (2).xlsx", 3, "Tests Taken", dict(value=1.0,
                                                                                   selection="2-D Art and Design")),
    (AP + "FactsArchive/Facts_raw/ap_performance (32).xlsx", 299, "% Score 3-5", dict(value_text="    .0", value=0.0)),
    (AP + "FactsArchive/Facts_raw/ap_performance (32).xlsx", 4, "Score=1", dict(value=15.0, selection="Calculus AB")),
    # author-modified: no title, decimal commas
    (AP + "FactsUpd/ap_performance (6).xlsx", 2, "% Score 1-2", dict(value_text="  38,5", value=38.5,
                                                                     school_year=2023)),
    (AP + "FactsUpd/ap_performance (6).xlsx", 3, "% Score 1-2", dict(value_text="    ,9", value=0.9)),
    (AP + "FactsUpd/ap_performance (6).xlsx", 6, "Score=1", dict(value_text="", is_suppressed=True)),
    # 'Sheet1' web-style re-saves: title, blank rows, header 'DISTRICT' / 'ORG CODE'
    (TD + "enrollmentbyracegender.xlsx", 6, "African American", dict(org_code="04450000", school_year=2018,
                                                                     value=49.8)),
    (TD + "teacherdata.xlsx", 4, "Student/Teacher Ratio", dict(value_text="13.4 to 1", value=13.4, school_year=2017)),
    (TD + "teacherdata.xlsx", 4, "Total # of Teachers", dict(measure="fte_teachers", value=107.0)),
]


@needs_more
def test_every_file_loads() -> None:
    assert len(FILES) >= 41
    reads = [more(str(p.relative_to(MORE))) for p in FILES]
    assert all(isinstance(r, dese.DeseRead) for r in reads)
    covered = {rel for rel, *_ in CELLS}
    empty = {str(p.relative_to(MORE)) for p, r in zip(FILES, reads, strict=True) if len(r.cells) == 0}
    assert empty == {AP + "FactsArchive/Facts_raw/ap_performance (12).xlsx"}  # the French Lit report: header only
    assert covered | empty == {str(p.relative_to(MORE)) for p in FILES}, "every file has hand-checked cells"


@needs_more
def test_empty_report_loads_as_empty() -> None:
    read = more(AP + "FactsArchive/Facts_raw/ap_performance (12).xlsx")
    assert read.report == "ap_performance" and read.n_rows == 0
    assert any("header and no data rows" in n for n in read.notes)


@needs_more
@pytest.mark.parametrize("rel,row,column,expected", CELLS,
                         ids=[f"{c[0].split('/')[-1]}:{c[1]}:{c[2]}" for c in CELLS])
def test_cells_as_published(rel: str, row: int, column: str, expected: dict) -> None:
    check_dese_cell(more(rel).cells, row, column, expected)


@needs_more
def test_year_sources_are_recorded() -> None:
    assert more(SC + "PerPupilExpenditures.xlsx").year_source == "title '2021'"
    assert more(DY + "artcourse.csv").year_source == "manifest"
    assert more(BG + "districts.xlsx").year_source == "column 'adminyear'"
    assert set(more(BG + "districts.xlsx").cells["year_source"]) == {"header", "column 'adminyear'"}


@needs_more
def test_inspect_every_file(tmp_path: Path) -> None:
    """What `check` shows per file: report, level, year and its source, mapped / unmapped columns, suppressed."""
    rows = [dese.inspect_dese_file(p) for p in FILES]
    assert not any(r["refused"] for r in rows)
    sat = next(r for r in rows if r["file"].endswith("sat_performance.xlsx"))
    assert sat["report"] == "sat_performance" and sat["org_level"] == "district+state"
    assert sat["suppressed_cells"] > 0 and "Writing" in sat["mapped_columns"]
    mass = next(r for r in rows if r["file"].endswith("mass_doe_data.csv"))
    assert mass["report"].startswith("unknown:") and len(mass["unmapped_columns"]) > 60 and mass["text_cells"] > 0


def _resaved_csv(rows: list[list[object]], path: Path, european: bool, encoding: str) -> Path:
    """Write rows as Excel does when it saves a workbook as CSV: the cell text, quoted when needed; a European
    locale writes ';' and swaps the decimal and thousands marks of numbers."""
    import csv
    import io

    def text(v: object) -> str:
        t = "" if v is None else str(v)
        if european and re.fullmatch(r"[\s$]*[\d,]*\.?\d+\s*(to 1)?", t):
            t = t.replace(",", "\x00").replace(".", ",").replace("\x00", ".")
        return t

    out = io.StringIO()
    writer = csv.writer(out, delimiter=";" if european else ",", lineterminator="\r\n")
    for r in rows:
        writer.writerow([text(v) for v in r])
    path.write_bytes(out.getvalue().encode(encoding))
    return path


RESAVED = [SC + "selectedpopulations.xlsx", SC + "PerPupilExpenditures.xlsx", AS + "xlsx/educator-ratios_2013.xlsx",
           AS + "xlsx/mcas_2014-8.xlsx"]


@needs_more
@pytest.mark.parametrize("rel", RESAVED, ids=[r.split("/")[-1] for r in RESAVED])
@pytest.mark.parametrize("european,encoding", [(False, "utf-8-sig"), (True, "cp1252")], ids=["us-bom", "eu-cp1252"])
def test_csv_resaves_give_the_same_cells(rel: str, european: bool, encoding: str, tmp_path: Path) -> None:
    """A real export re-saved as CSV (US or European locale, BOM or Windows-1252, CRLF) reads to the same cells."""
    from equity_outcomes.ingest.dese.raw import read_raw

    rows, _, _ = read_raw(MORE / rel)
    xlsx_cells = more(rel).cells
    path = _resaved_csv(rows, tmp_path / (Path(rel).stem + ".csv"), european, encoding)
    manifest = dese.Manifest(tmp_path / "manifest.csv", tmp_path, [])
    csv_cells = dese.read_dese_file(path, manifest).cells
    key = ["source_row", "source_column"]
    a = xlsx_cells.set_index(key).sort_index()
    b = csv_cells.set_index(key).sort_index()
    assert a.index.equals(b.index)
    for col in ("org_code", "org_level", "school_year", "report", "measure", "subject", "is_suppressed"):
        assert (a[col].astype(object).fillna("-").astype(str) == b[col].astype(object).fillna("-").astype(str)).all(), col
    assert ((a["value"] - b["value"]).abs().fillna(0) < 1e-9).all() and (a["value"].isna() == b["value"].isna()).all()

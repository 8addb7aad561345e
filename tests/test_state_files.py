"""SIMS, SSDR, SCS and MCAS results files through the real loader and DuckDB: detection by shape, two SIMS handbook
editions, codes quarantined by element, refusals, pseudonymized ids, the history-derived fields, and the round trip
of the synthetic network written in these layouts (metric values equal to the contract CSVs', cell for cell)."""

from __future__ import annotations

import shutil
from pathlib import Path

import duckdb
import pytest

from equity_outcomes.ingest.load import IngestError
from equity_outcomes.ingest.pseudonymize import load_key, pseudonymize_one
from equity_outcomes.ingest.state_files import detect, inspect_state_file, inspect_state_paths
from equity_outcomes.synth import generate_network
from equity_outcomes.synth.state_files import FIRST_NAMES, LAST_NAMES, parse_formats, write_state_layouts
from equity_outcomes.warehouse import connect

from .conftest import write_csv
from .test_student_ingest import load, snapshot

ROSTER = ("org_code,school_name,district_code,district_name,school_level,is_network_school,"
          "implementation_start_year,baseline_year")
SCHOOL = "01000005"


def sims_line(sasid="1000000001", **elements) -> str:
    """One SIMS record (52 positional fields); ``elements`` overrides by element id, e.g. DOE009='N'."""
    fields = {f"DOE{i:03d}": "" for i in range(1, 53)}
    fields.update(DOE001=f"L{sasid}", DOE002=sasid, DOE003="Testfirst", DOE005="Testlast", DOE006="03/04/2011",
                  DOE009="F", DOE010="33", DOE012="01", DOE015=SCHOOL, DOE016="07", DOE017="170", DOE018="180",
                  DOE019="01", DOE025="00", DOE032="00", DOE033="500", DOE034="00", DOE037="00", DOE038="500")
    fields.update(elements)
    return ",".join(fields.values())


def raw_with(tmp_path: Path, year: int, files: dict[str, list[str]]) -> Path:
    raw = tmp_path / "raw"
    write_csv(raw / "roster.csv", ROSTER, [f"{SCHOOL},Alpha Middle,01000000,Alpha,middle,1,{year},"])
    for name, lines in files.items():
        path = raw / "student" / str(year) / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return raw


def rows(warehouse: Path, sql: str) -> list[tuple]:
    con = connect(warehouse, read_only=True)
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


def test_sims_two_handbook_editions_and_codes_by_element(tmp_path: Path) -> None:
    """The 2007 tables (school years to 2015) have no nonbinary gender: 'N' is quarantined naming DOE009 and the fix;
    the FY16+ tables accept it. An unknown race code is quarantined naming DOE010 and its value; the other records
    load, mapped and pseudonymized."""
    lines = [sims_line("1000000001"), sims_line("1000000002", DOE009="N"), sims_line("1000000003", DOE010="99"),
             sims_line("1000000004", DOE016="KF", DOE010="06", DOE034="10", DOE019="00")]
    old = raw_with(tmp_path / "old", 2012, {"sims_eoy_2012.txt": lines})
    w = tmp_path / "old.duckdb"
    load(w, old, max_quarantined=100)
    q = rows(w, "SELECT source_row, column_name, value_text, check_name, message FROM quarantine ORDER BY 1")
    assert [(r[0], r[1], r[2]) for r in q] == [(2, "DOE009", "N"), (3, "DOE010", "99")]
    assert "v2.0" in q[0][3] and "config/state_codes/sims.csv" in q[0][4] and "Gender" in q[0][4]
    key = load_key()
    got = rows(w, "SELECT student_id, grade, race_ethnicity, gender, is_low_income, is_swd, days_absent "
                  "FROM raw_student_enrollment ORDER BY source_row")
    assert got == [(pseudonymize_one("1000000001", key), "07", "latino", "F", 1, 0, 10.0),
                   (pseudonymize_one("1000000004", key), "KG", "multi_race", "F", 0, 1, 10.0)]
    audit = rows(w, "SELECT source_kind, report, school_year, rows_in, rows_quarantined, message FROM load_audit "
                    "WHERE source_kind = 'state'")
    assert audit[0][:5] == ("state", "sims_student", 2012, 4, 2) and "v2.0" in audit[0][5]
    counts = dict(((e, c), n) for e, c, n in rows(w, "SELECT element, code, n_records FROM raw_state_code_counts"))
    assert counts[("DOE016", "KF")] == 1 and counts[("DOE010", "33")] == 1 and ("DOE009", "N") not in counts

    new = raw_with(tmp_path / "new", 2024, {"sims_eoy_2024.txt": lines})
    w2 = tmp_path / "new.duckdb"
    load(w2, new, max_quarantined=100)
    assert rows(w2, "SELECT column_name, value_text FROM quarantine") == [("DOE010", "99")]
    assert rows(w2, "SELECT count(*) FROM raw_student_enrollment WHERE gender = 'N'") == [(1,)]
    assert "v6.0-v31.1" in rows(w2, "SELECT message FROM load_audit WHERE source_kind = 'state'")[0][0]


def test_sims_graduates_and_status_codes(tmp_path: Path) -> None:
    """DOE012 04 also makes a graduates row (MassCore from DOE037, postsecondary plans from DOE033; 09 unknown is
    blank); 40 (special-education services only) makes no enrollment row; 00 MassCore on a graduate is quarantined."""
    lines = [sims_line("1000000001", DOE016="12", DOE012="04", DOE033="02", DOE037="01"),
             sims_line("1000000002", DOE016="12", DOE012="04", DOE033="09", DOE037="02"),
             sims_line("1000000003", DOE016="12", DOE012="04", DOE033="06", DOE037="00"),
             sims_line("1000000004", DOE012="40", DOE018="0", DOE017="0", DOE034="10")]
    w = tmp_path / "w.duckdb"
    load(w, raw_with(tmp_path, 2024, {"sims.txt": lines}), max_quarantined=100)
    assert rows(w, "SELECT masscore_complete, enrolled_postsecondary FROM raw_student_graduates ORDER BY source_row") \
        == [(1, 1), (0, None)]
    assert rows(w, "SELECT count(*) FROM raw_student_enrollment") == [(3,)]
    assert rows(w, "SELECT DISTINCT table_name, column_name, source_row FROM quarantine") == [
        ("graduates", "DOE037 (masscore_complete)", 3)]


def test_refusals_name_file_line_and_fix(tmp_path: Path) -> None:
    bad_count = raw_with(tmp_path / "a", 2024, {"sims.txt": [sims_line(), sims_line("1000000002")[:-3]]})
    with pytest.raises(IngestError) as err:
        load(tmp_path / "a.duckdb", bad_count)
    assert "row 2" in str(err.value) and "52" in str(err.value) and "How to fix" in str(err.value)
    assert not (tmp_path / "a.duckdb").exists() or rows(tmp_path / "a.duckdb", "SELECT count(*) FROM load_audit") == [(0,)]

    two = raw_with(tmp_path / "b", 2024, {"sims_oct.txt": [sims_line()], "sims_eoy.txt": [sims_line()]})
    with pytest.raises(IngestError, match="more than one SIMS file"):
        load(tmp_path / "b.duckdb", two)

    lonely = raw_with(tmp_path / "c", 2024, {"ssdr_discipline.csv": [
        "1,09/15/2023,1000000001,A,B,01/01/2010,1,2,,,,,3,,,,,,,,,,,"]})
    with pytest.raises(IngestError, match="SSDR offense file"):
        load(tmp_path / "c.duckdb", lonely)


def test_failed_load_changes_nothing(tmp_path: Path) -> None:
    good = raw_with(tmp_path / "a", 2024, {"sims.txt": [sims_line()]})
    w = tmp_path / "w.duckdb"
    load(w, good)
    before = snapshot(w)
    bad = tmp_path / "a" / "raw" / "student" / "2025" / "scs.txt"
    bad.parent.mkdir(parents=True)
    bad.write_text(f"L1,1000000001,{SCHOOL},AP-BIO,,,,01,AP,,,,\nL2,1000000002,{SCHOOL},AP-BIO,,,,01\n")
    with pytest.raises(IngestError, match="wrong number of fields"):
        load(w, good)
    assert snapshot(w) == before


def ssdr_files(year: int, dat: str = "2", header: str = "ARREST") -> dict[str, list[str]]:
    off_header = ("OFF ID,OFF DATE,SCH NAME,SCH CODE,OFF IND,DISC IND,OT1,OT2,OT3,OT4,OT5,VS,VSCHP,VNSCHP,VU,OFFES,"
                  "OFFENS,OFFEU,OFF DESC,PHYS INJ,OFF DESC2,OFF DESC3,OFF DESC4,OFF DESC5,INC DESC")
    dis_header = (f"OFF ID,OFF DATE,SASID,FN,LN,DOB,PST,DAT,BI OFF,SD,RD,ERD,DM,AEINC,AE,NAE,{header},APPEAL,AEX,"
                  "SOT1,SOT2,SOT3,SOT4,SOT5")
    fall, spring = f"10/02/{year - 1}", f"03/02/{year}"
    return {"ssdr_offenses.csv": [off_header, f"77,{fall},Alpha,{SCHOOL}" + "," * 21,
                                  f"78,{spring},Alpha,{SCHOOL}" + "," * 21],
            "ssdr_discipline.csv": [dis_header, f"77,{fall},1000000001,Ann,Lee,01/02/2010,1,2,,,,,3" + "," * 11,
                                    f"78,{spring},1000000002,Bo,Ray,02/03/2010,1,{dat},,,,,1" + "," * 11]}


def test_ssdr_offense_and_discipline(tmp_path: Path) -> None:
    """School codes come from the offense file by OFF ID; the header names the edition (ERDX before FY2019);
    an unknown action code is quarantined naming DAT; names and dates of birth are not stored."""
    w = tmp_path / "w.duckdb"
    load(w, raw_with(tmp_path, 2018, ssdr_files(2018, dat="9", header="ERDX")), max_quarantined=100)
    assert rows(w, "SELECT org_code, incident_id, action, days_missed FROM raw_student_discipline") == [
        (SCHOOL, "77", "OSS", 3.0)]
    q = rows(w, "SELECT source_row, column_name, value_text, message FROM quarantine")
    assert q[0][:3] == (3, "DAT", "9") and "Disciplinary action taken" in q[0][3]
    assert rows(w, "SELECT report, message FROM load_audit WHERE report = 'ssdr_discipline'")[0][1].startswith(
        "SSDR edition FY2015-FY2018")
    assert detect(tmp_path / "raw" / "student" / "2018" / "ssdr_offenses.csv").record == "offense"


def test_scs_both_layouts_advanced_courses_only(tmp_path: Path) -> None:
    """13 elements (v4.0-v8.1) and 14 (v9.2, SCS14) are told apart by shape; only advanced, taken courses become
    contract rows; a course reported for two sections is one row; LASIDs go to the crosswalk, pseudonymized."""
    v8 = [f"L1,1000000001,{SCHOOL},AP-BIO,03056,1,01,03,AP,1,1,88,88888",
          f"L1,1000000001,{SCHOOL},AP-BIO,03056,2,01,03,AP,1,1,88,88888",
          f"L1,1000000001,{SCHOOL},ENG9,01001,1,01,03,GN,1,1,88,88888",
          f"L2,1000000002,{SCHOOL},ENG101,01001,1,01,02,CL,1,0,21,21111",
          f"L2,1000000002,{SCHOOL},MAT110,02001,1,01,01,CL,1,0,88,88888"]
    w = tmp_path / "w.duckdb"
    load(w, raw_with(tmp_path / "a", 2019, {"scs.txt": v8}))
    assert rows(w, "SELECT course_id, course_type FROM raw_student_courses ORDER BY 1") == [
        ("AP-BIO", "AP"), ("MAT110", "DUAL")]
    key = load_key()
    assert rows(w, "SELECT student_id, local_student_id FROM raw_state_id_crosswalk ORDER BY 1") == sorted([
        (pseudonymize_one("1000000001", key), pseudonymize_one("L1", key)),
        (pseudonymize_one("1000000002", key), pseudonymize_one("L2", key))])
    w2 = tmp_path / "w2.duckdb"
    load(w2, raw_with(tmp_path / "b", 2024, {"scs.txt": [line + ",01" for line in v8]}))
    assert rows(w2, "SELECT count(*) FROM raw_student_courses") == [(2,)]
    assert "v9.2" in rows(w2, "SELECT message FROM load_audit WHERE source_kind = 'state'")[0][0]


def test_mcas_results_file(tmp_path: Path) -> None:
    """One row per student, subjects in columns: each subject taken is a contract row; legacy 'F' loads as W and is
    counted; an unknown level is quarantined naming its column; names are never read."""
    header = "sasid,lastname,firstname,dob,grade,schcode,adminyear,escaleds,eperf2,esgp,mscaleds,mperf2,msgp,sscaleds,sperf2"
    lines = [header, f"1000000001,Lee,Ann,01/02/2008,10,{SCHOOL},2018,214,F,10,250,P,60,,",
             f"1000000002,Ray,Bo,01/02/2010,8,{SCHOOL},2018,501,M,55,490,PM,40,480,NM",
             f"1000000003,Kim,Cy,01/02/2010,08,{SCHOOL},2018,501,XX,55,,,,,"]
    w = tmp_path / "w.duckdb"
    load(w, raw_with(tmp_path, 2018, {"mcas_2018.csv": lines}), max_quarantined=100)
    got = rows(w, "SELECT grade, subject, test_family, achievement_level, sgp FROM raw_student_assessments "
                  "ORDER BY source_row, subject")
    assert got == [("10", "ELA", "legacy", "W", 10), ("10", "MATH", "legacy", "P", 60),
                   ("08", "ELA", "nextgen", "M", 55), ("08", "MATH", "nextgen", "PM", 40),
                   ("08", "SCI", "nextgen", "NM", None)]
    assert rows(w, "SELECT column_name, value_text FROM quarantine") == [("eperf2", "XX")]
    assert "'F' (Failing, grade 10) level(s) loaded as the contract's W" in rows(
        w, "SELECT message FROM load_audit WHERE source_kind = 'state'")[0][0]


def test_history_derived_former_el_and_dual(tmp_path: Path) -> None:
    """Former EL: not EL now, EL in an earlier SIMS year. Dual enrollment of a graduate: a DUAL course in SCS in
    the graduation year or before. Loading the later year first gives the same result."""
    raw = raw_with(tmp_path, 2023, {"sims.txt": [sims_line("1000000001", DOE025="01", DOE016="11")],
                                    "scs.txt": [f"L1,1000000001,{SCHOOL},ENG101,,,,03,CL,,,,"]})
    (raw / "student" / "2024").mkdir()
    (raw / "student" / "2024" / "sims.txt").write_text(
        sims_line("1000000001", DOE025="00", DOE016="12", DOE012="04", DOE033="01", DOE037="01") + "\n")
    w = tmp_path / "w.duckdb"
    load(w, raw / "student" / "2024")
    assert rows(w, "SELECT is_former_el FROM raw_student_enrollment") == [(0,)]
    assert rows(w, "SELECT completed_dual_enrollment FROM raw_student_graduates") == [(0,)]
    load(w, raw / "student" / "2023")
    assert rows(w, "SELECT school_year, is_el, is_former_el FROM raw_student_enrollment ORDER BY 1") == [
        (2023, 1, 0), (2024, 0, 1)]
    assert rows(w, "SELECT completed_dual_enrollment FROM raw_student_graduates") == [(1,)]
    before = {t: v for t, v in snapshot(w).items() if t != "load_audit"}
    assert {r.status for r in load(w, raw / "student").results} == {"unchanged"}
    assert {t: v for t, v in snapshot(w).items() if t != "load_audit"} == before
    # a corrected 2023 file (the student was never EL) replaces the earlier rows and the derivation follows
    (raw / "student" / "2023" / "sims.txt").write_text(sims_line("1000000001", DOE025="00", DOE016="11") + "\n")
    assert "replaced" in {r.status for r in load(w, raw / "student").results}
    assert rows(w, "SELECT school_year, is_el, is_former_el FROM raw_student_enrollment ORDER BY 1") == [
        (2023, 0, 0), (2024, 0, 0)]


def test_inspect_reports_layout_edition_and_bad_codes(tmp_path: Path) -> None:
    raw = raw_with(tmp_path, 2012, {"sims.txt": [sims_line(), sims_line("1000000002", DOE009="N"),
                                                 sims_line("1000000003", DOE009="N")],
                                    **ssdr_files(2024), "notes.txt": ["not a state file"]})
    reports = {r.path.name: r for r in inspect_state_paths([raw])}
    assert set(reports) == {"sims.txt", "ssdr_offenses.csv", "ssdr_discipline.csv"}
    sims = reports["sims.txt"]
    assert (sims.family, sims.version, sims.rows, sims.rows_quarantined) == ("sims", "v2.0", 3, 2)
    assert sims.problems[0]["element"] == "DOE009" and sims.problems[0]["value"] == "N"
    assert sims.problems[0]["n_records"] == 2 and sims.problems[0]["first_line"] == 2
    text = sims.render()
    assert "SIMS student record" in text and "handbook v2.0" in text and "DOE009 value 'N'" in text
    # offense dates are in 2023-24, not in the folder's 2011-12: reported, not refused
    assert reports["ssdr_offenses.csv"].problems[0]["element"] == "OFF DATE"
    assert "Testlast" not in text and "1000000002" not in "".join(r.render() for r in reports.values())
    assert inspect_state_file(raw / "roster.csv").family == ""


def test_check_reads_each_state_file_once(tmp_path: Path, monkeypatch) -> None:
    """`equity-outcomes check` names a state file's layout and handbook from its dry-run load's own read (it read
    every state file a second time to say so)."""
    from equity_outcomes.ingest import check, load
    from equity_outcomes.ingest.state_files import inspect as state_inspect

    raw = raw_with(tmp_path, 2012, {"sims.txt": [sims_line(), sims_line("1000000002", DOE009="N")]})
    reads = []
    for module in (load, state_inspect):
        real = module.read_state_file
        monkeypatch.setattr(module, "read_state_file", lambda path, key, real=real: reads.append(path) or real(path, key))
    sims = next(f for f in check.check_paths([raw]).files if f.path.name == "sims.txt")
    assert sims.recognised_as.startswith("SIMS student record") and "handbook v2.0" in sims.recognised_as
    assert sims.recognised_as.endswith("school year 2012") and sims.rows_quarantined == 1
    assert [Path(p).name for p in reads] == ["sims.txt"]


def test_parse_formats() -> None:
    assert parse_formats("contract") == set()
    assert parse_formats("state") == {"sims", "ssdr", "scs", "mcas"}
    assert parse_formats("sims, mcas") == {"sims", "mcas"}
    with pytest.raises(ValueError, match="unknown format"):
        parse_formats("sims,xml")


def _metric_differences(contract: Path, state: Path) -> list[tuple]:
    """(metric, subgroup, cells) where metric_values differ (numbers beyond 1e-9 relative, or a missing cell)."""
    con = duckdb.connect()
    con.execute(f"ATTACH '{contract}' AS c (READ_ONLY)")
    con.execute(f"ATTACH '{state}' AS s (READ_ONLY)")
    keys = ["org_code", "org_level", "school_year", "subgroup", "metric", "subject", "grade"]
    on = " AND ".join(f"c.{k} IS NOT DISTINCT FROM s.{k}" for k in keys)
    differ = " OR ".join(
        [f"NOT (c.{v} IS NOT DISTINCT FROM s.{v} OR abs(c.{v} - s.{v}) <= 1e-9 * greatest(1, abs(c.{v})))"
         for v in ("numerator", "denominator", "n_students", "value", "std_dev")]
        + [f"c.{v} IS DISTINCT FROM s.{v}" for v in ("is_suppressed", "source")])
    try:
        return con.execute(f"""
            SELECT coalesce(c.metric, s.metric), coalesce(c.subgroup, s.subgroup), count(*)
            FROM c.metric_values c FULL JOIN s.metric_values s ON {on}
            WHERE c.metric IS NULL OR s.metric IS NULL OR {differ} GROUP BY ALL ORDER BY 1, 2""").fetchall()
    finally:
        con.close()


@pytest.mark.slow
def test_round_trip_synthetic_network_in_state_layouts(tmp_path: Path) -> None:
    """The synthetic network written as SIMS + SSDR + SCS + MCAS (plus the contract CSVs for what they do not
    carry) runs through the yearly flow to the same metric_values as the contract CSVs, cell for cell, except
    where former-EL status enters (high needs): SIMS has no former-EL element, the reader derives it from the SIMS
    history. With the contract's former-EL flags derived the same way, every cell is equal."""
    from equity_outcomes.models.build import build_models
    from equity_outcomes.runner import run_yearly

    contract = tmp_path / "contract"
    generate_network(contract, n_students=1500, dese_exports=False)
    state = tmp_path / "state"
    shutil.copytree(contract, state)
    written = write_state_layouts(state, parse_formats("state"))
    assert {p.name.split("_")[0] for p in written} >= {"sims", "ssdr", "scs", "mcas"}
    assert not (state / "student" / "2024" / "enrollment.csv").exists()
    runs = {}
    for name, raw in (("contract", contract), ("state", state)):
        runs[name] = tmp_path / f"{name}.duckdb"
        run_yearly([raw], runs[name])
    assert rows(runs["state"], "SELECT count(*) FROM quarantine") == [(0,)]
    state_kinds = rows(runs["state"], "SELECT DISTINCT report FROM load_audit WHERE source_kind = 'state' ORDER BY 1")
    assert [r[0] for r in state_kinds] == ["mcas_results", "scs_course", "sims_student", "ssdr_discipline",
                                            "ssdr_offense"]
    differences = _metric_differences(runs["contract"], runs["state"])
    assert differences, "the former-EL gap is expected to show in the high-needs cells"
    assert {sg for _, sg, _ in differences} == {"high_needs", "non_high_needs"}

    # the contract run with former EL derived from its own history, as the SIMS reader does
    derived = tmp_path / "contract_derived.duckdb"
    shutil.copy(runs["contract"], derived)
    con = connect(derived)
    try:
        con.execute("""UPDATE raw_student_enrollment AS e SET is_former_el = CASE WHEN e.is_el = 0 AND EXISTS (
            SELECT 1 FROM raw_student_enrollment p WHERE p.student_id = e.student_id AND p.school_year < e.school_year
            AND p.is_el = 1) THEN 1 ELSE 0 END""")
        build_models(con)
    finally:
        con.close()
    assert _metric_differences(derived, runs["state"]) == []

    # nothing personal is stored: invented names and dates of birth, raw SASIDs and LASIDs appear in no table
    sims = next((state / "student" / "2024").glob("sims_*.txt")).read_text().splitlines()[0].split(",")
    needles = [*FIRST_NAMES, *LAST_NAMES, sims[5], sims[1], sims[0]]
    con = connect(runs["state"], read_only=True)
    try:
        for (table,) in con.execute("SELECT table_name FROM information_schema.tables "
                                    "WHERE table_type = 'BASE TABLE'").fetchall():
            text_cols = [c for c, t in con.execute(f"SELECT column_name, data_type FROM information_schema.columns "
                                                   f"WHERE table_name = '{table}'").fetchall() if t == "VARCHAR"]
            for col in text_cols:
                hits = con.execute(f'SELECT count(*) FROM {table} WHERE list_contains(?, "{col}") '
                                   f'OR contains("{col}", ?)', [needles, sims[1]]).fetchall()[0][0]
                assert hits == 0, (table, col)
    finally:
        con.close()

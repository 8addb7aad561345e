"""Input contracts for district student administrative data: pandera schemas are the single source of truth.

Each table is one CSV per school year under ``<raw_dir>/student/<school_year>/<table>.csv`` (``roster.csv`` sits at
``<raw_dir>/roster.csv``). ``school_year`` is the integer spring year: 2024 means 2023-24. Columns are read as text
and coerced; a value that cannot be coerced or fails a check sends its row to the quarantine table.
``docs/student_data_contract.md`` is generated from these schemas (``equity-outcomes docs``).
"""

from __future__ import annotations

from datetime import date

import pandera.pandas as pa

from ..crosswalk import race_codes

MIN_YEAR = 2000
# A school year more than one year ahead of today is a typo (or a file from the future): quarantined.
MAX_YEAR = date.today().year + 1
GRADES = ["PK", "KG", "01", "02", "03", "04", "05", "06", "07", "08", "09", "10", "11", "12", "SP"]
RACES = race_codes()  # config/subgroups.csv, column race_code
FLAG = pa.Check.isin([0, 1])
ORG_CODE = pa.Check.str_matches(r"^\d{8}$", error="org_code must be 8 digits (keep leading zeros)")
YEAR = pa.Check.in_range(MIN_YEAR, MAX_YEAR)


def allowed_values(column: pa.Column | None) -> list | None:
    """The values the ``isin`` check of a column allows (None: it has none)."""
    for check in getattr(column, "checks", []):
        if check.name == "isin":
            return list(check.statistics["allowed_values"])
    return None


def _year() -> pa.Column:
    return pa.Column(int, YEAR, coerce=True, description="spring year of the school year: 2024 = 2023-24")


def _student_id() -> pa.Column:
    return pa.Column(str, pa.Check.str_length(1, 64), description="district student id (pseudonymized at ingest)")


def _org_code() -> pa.Column:
    return pa.Column(str, ORG_CODE, description="8-digit DESE school code")


def _flag(desc: str) -> pa.Column:
    return pa.Column(int, FLAG, coerce=True, description=f"1 if {desc}, else 0")


def _table(name: str, columns: dict[str, pa.Column], *, unique: list[str], description: str,
           checks: list[pa.Check] | None = None, person: tuple[str, pa.Column] | None = None) -> pa.DataFrameSchema:
    """A table of student data: school_year, the person's id (a student's unless ``person``), org_code, then its
    own columns; no other column is accepted."""
    who, who_column = person or ("student_id", _student_id())
    keys = {"school_year": _year(), who: who_column, "org_code": _org_code()}
    return pa.DataFrameSchema({**keys, **columns}, checks=checks, unique=unique, strict=True, name=name,
                              description=description)


ROSTER = pa.DataFrameSchema(
    {
        "org_code": _org_code(),
        "school_name": pa.Column(str, pa.Check.str_length(1, 200)),
        "district_code": pa.Column(str, ORG_CODE, description="8-digit DESE district code"),
        "district_name": pa.Column(str, pa.Check.str_length(1, 200)),
        "school_level": pa.Column(str, pa.Check.isin(["elementary", "middle", "high", "k8", "k12"])),
        "is_network_school": _flag("the school is a Personalized Learning Network member (0 = comparison school)"),
        "implementation_start_year": pa.Column(
            "Int64", YEAR, nullable=True, coerce=True, description="spring year of implementation year 1 (blank if none)"
        ),
        "baseline_year": pa.Column(
            "Int64", YEAR, nullable=True, coerce=True,
            description="override of the baseline year (default: the year before implementation starts)",
        ),
    },
    unique=["org_code"],
    strict=True,
    name="roster",
    description="One row per school in the network and its comparison schools.",
)

ENROLLMENT = _table("enrollment", {
        "grade": pa.Column(str, pa.Check.isin(GRADES), description="PK, KG, 01-12, SP"),
        "race_ethnicity": pa.Column(str, pa.Check.isin(RACES), description="one of " + ", ".join(RACES)),
        "gender": pa.Column(str, pa.Check.isin(["F", "M", "N"]), description="F, M or N (nonbinary)"),
        "is_low_income": _flag("low income / free or reduced lunch"),
        "is_el": _flag("English learner"),
        "is_former_el": _flag("former English learner"),
        "is_swd": _flag("student with disabilities (IEP)"),
        "days_in_membership": pa.Column(float, pa.Check.in_range(0, 200), coerce=True),
        "days_absent": pa.Column(float, pa.Check.in_range(0, 200), coerce=True),
    },
    checks=[
        pa.Check(
            lambda df: df["days_absent"] <= df["days_in_membership"],
            name="days_absent <= days_in_membership",
            error="days absent cannot exceed days in membership",
        ),
        pa.Check(
            lambda df: ~((df["is_el"] == 1) & (df["is_former_el"] == 1)),
            name="not both el and former el",
        ),
    ],
    unique=["school_year", "student_id", "org_code"],
    description=(
        "One row per student per school per year (a mid-year transfer has two rows), with demographics and "
        "attendance for that enrollment."
    ),
)

DISCIPLINE = _table("discipline", {
        "incident_id": pa.Column(str, pa.Check.str_length(1, 64)),
        "action": pa.Column(
            str, pa.Check.isin(["ISS", "OSS", "EXP", "ALT", "EMR", "OTHER"]),
            description="ISS in-school suspension, OSS out-of-school suspension, EXP expulsion, ALT alternate "
            "setting, EMR emergency removal, OTHER any other disciplinary action",
        ),
        "days_missed": pa.Column(float, pa.Check.in_range(0, 200), coerce=True),
    },
    unique=["school_year", "incident_id", "student_id"],
    description="One row per student per disciplinary incident.",
)

ASSESSMENTS = _table("assessments", {
        "grade": pa.Column(str, pa.Check.isin(["03", "04", "05", "06", "07", "08", "10"])),
        "subject": pa.Column(str, pa.Check.isin(["ELA", "MATH", "SCI"])),
        "test_family": pa.Column(str, pa.Check.isin(["nextgen", "legacy"])),
        "scaled_score": pa.Column(float, pa.Check.in_range(200, 560), coerce=True),
        "achievement_level": pa.Column(
            str, pa.Check.isin(["E", "M", "PM", "NM", "A", "P", "NI", "W"]),
            description="Next-Gen: E, M, PM, NM; legacy: A, P, NI, W",
        ),
        "sgp": pa.Column("Int64", pa.Check.in_range(1, 99), nullable=True, coerce=True),
    },
    checks=[
        pa.Check(
            lambda df: (df["test_family"] == "nextgen") == df["achievement_level"].isin(["E", "M", "PM", "NM"]),
            name="achievement level matches test family",
        ),
        pa.Check(lambda df: ~((df["subject"] == "SCI") & df["sgp"].notna()), name="no SGP in science"),
    ],
    unique=["school_year", "student_id", "subject"],
    description="One row per student per MCAS subject test (spring). No file for 2020 (no spring 2020 tests).",
)

COURSES = _table("courses", {
        "course_id": pa.Column(str, pa.Check.str_length(1, 64)),
        "course_type": pa.Column(str, pa.Check.isin(["AP", "DUAL", "OTHER"])),
        "ap_exam_score": pa.Column("Int64", pa.Check.in_range(1, 5), nullable=True, coerce=True),
    },
    checks=[pa.Check(lambda df: (df["course_type"] == "AP") | df["ap_exam_score"].isna(), name="exam score only on AP")],
    unique=["school_year", "student_id", "course_id"],
    description="One row per student per advanced course (AP, dual enrollment) taken in the year.",
)

GRADUATES = _table("graduates", {
        "masscore_complete": _flag("completed the MassCore program of studies"),
        "completed_dual_enrollment": _flag("completed at least one dual enrollment course before graduating"),
        "enrolled_postsecondary": pa.Column(
            "Int64", FLAG, nullable=True, coerce=True,
            description="1 if enrolled in postsecondary education the fall after graduating, 0 if not, blank if unknown",
        ),
    },
    unique=["school_year", "student_id"],
    description="One row per high school graduate of the year.",
)

STUDENT_SURVEYS = _table("student_surveys", {
        "season": pa.Column(str, pa.Check.isin(["fall", "spring"])),
        "domain": pa.Column(
            str,
            pa.Check.isin(
                ["climate_culture", "engagement", "relationships", "belonging", "academic_mindsets", "perseverance", "agency"]
            ),
        ),
        "score": pa.Column(float, pa.Check.in_range(1, 5), coerce=True, description="mean item score, 1-5 scale"),
    },
    unique=["school_year", "student_id", "season", "domain"],
    description="One row per student per survey administration (fall, spring) per domain.",
)

TEACHER_SURVEYS = _table("teacher_surveys", {
        "season": pa.Column(str, pa.Check.isin(["fall", "spring"])),
        "domain": pa.Column(str, pa.Check.isin(["empowerment", "leader_support", "pl_practice"])),
        "score": pa.Column(float, pa.Check.in_range(1, 5), coerce=True),
    },
    unique=["school_year", "teacher_id", "season", "domain"],
    description="One row per teacher per survey administration per domain.", person=("teacher_id", pa.Column(str, pa.Check.str_length(1, 64))),
)

CAPSTONE = _table("capstone", {
        "capstone_score": pa.Column(float, pa.Check.in_range(1, 4), coerce=True, description="rubric score 1-4"),
    },
    unique=["school_year", "student_id"],
    description="One row per student with a scored school capstone assessment.",
)

# The same table-level rules in SQL, for the DuckDB validator of large files (ingest/sqlvalidate.py compiles the
# column rules from the schemas above; these are the few rules that are Python lambdas there). TRUE = row passes.
# A test checks that both validators quarantine exactly the same rows on the bad-input corpus.
TABLE_CHECK_SQL: dict[str, str] = {
    "days_absent <= days_in_membership": "days_absent <= days_in_membership",
    "not both el and former el": "NOT (is_el = 1 AND is_former_el = 1)",
    "achievement level matches test family":
        "(test_family = 'nextgen') = (achievement_level IN ('E', 'M', 'PM', 'NM'))",
    "no SGP in science": "NOT (subject = 'SCI' AND sgp IS NOT NULL)",
    "exam score only on AP": "course_type = 'AP' OR ap_exam_score IS NULL",
}

STUDENT_TABLES: dict[str, pa.DataFrameSchema] = {schema.name: schema for schema in (
    ENROLLMENT, DISCIPLINE, ASSESSMENTS, COURSES, GRADUATES, STUDENT_SURVEYS, TEACHER_SURVEYS, CAPSTONE)}
ALL_TABLES: dict[str, pa.DataFrameSchema] = {"roster": ROSTER, **STUDENT_TABLES}
# Columns holding a person id, pseudonymized with a keyed hash at ingest.
ID_COLUMNS = {"student_id", "teacher_id"}

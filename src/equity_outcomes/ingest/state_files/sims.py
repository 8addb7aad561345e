"""SIMS student records (DOE001-DOE052, positional, no header) -> the contract's ``enrollment`` and ``graduates``.

One record per student and school: a file as submitted to DESE holds one record per student (the last school, days
cumulative), a per-school extract one per school. DOE017/DOE018 give the days; DOE012 says whether the student was
enrolled (40/41: special-education services only, no enrollment row) or graduated (04: also a ``graduates`` row).
Former-EL status and dual-enrollment completion are not SIMS elements: they are derived after loading from the
SIMS and SCS history in the warehouse (:mod:`.history`), as DESE derives former ELs from earlier collections.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from .catalog import Version, family
from .records import Checks, StateRead, crosswalk, fmt_days, positional, to_contract

FAMILY = "sims"
RECORD = "student"
SOURCES = {"school_year": "folder year", "student_id": "DOE002", "org_code": "DOE015", "grade": "DOE016",
           "race_ethnicity": "DOE010", "gender": "DOE009", "is_low_income": "DOE019", "is_el": "DOE025",
           "is_swd": "DOE032/DOE034", "days_in_membership": "DOE018", "days_absent": "DOE018-DOE017",
           "masscore_complete": "DOE037", "enrolled_postsecondary": "DOE033"}


def _has_header(row: list[str]) -> bool:
    return len(row) > 1 and not row[1].isdigit() and any(ch.isalpha() for ch in row[1])


def _flags(values: pd.Series) -> pd.Series:
    return values.map(lambda v: "" if pd.isna(v) else str(v))


def read(path: Path, school_year: int, version: Version, key: bytes | None) -> StateRead:
    fam = family(FAMILY)
    raw, header = positional(path, fam, RECORD, has_header=_has_header)
    checks = Checks(path, fam, version, "enrollment")
    checks.sasid(raw, "DOE002")
    mapped = {element: checks.codes(raw, element) for element in
              ("DOE009", "DOE010", "DOE012", "DOE016", "DOE019", "DOE025", "DOE032", "DOE034", "DOE038")}
    attended, membership = checks.number(raw, "DOE017"), checks.number(raw, "DOE018")
    graduate = mapped["DOE012"] == "graduate"
    plans = checks.codes(raw, "DOE033", rows=graduate)
    masscore = checks.codes(raw, "DOE037", rows=graduate)
    keep = raw.index.difference(checks.bad)
    enrolled = keep[mapped["DOE012"][keep].isin(["enrolled", "graduate"]).to_numpy()]
    year = str(school_year)
    swd = (mapped["DOE032"] == "1") | (mapped["DOE034"] == "1")
    enrollment = pd.DataFrame({
        "school_year": year, "student_id": raw["DOE002"], "org_code": raw["DOE015"], "grade": mapped["DOE016"],
        "race_ethnicity": mapped["DOE010"], "gender": mapped["DOE009"], "is_low_income": mapped["DOE019"],
        "is_el": mapped["DOE025"], "is_former_el": "0", "is_swd": swd.astype(int).astype(str),
        "days_in_membership": fmt_days(membership), "days_absent": fmt_days(membership - attended),
    }).loc[enrolled]
    grads = enrolled[graduate[enrolled].to_numpy()]
    graduates = pd.DataFrame({
        "school_year": year, "student_id": raw["DOE002"], "org_code": raw["DOE015"],
        "masscore_complete": _flags(masscore), "completed_dual_enrollment": "0",
        "enrolled_postsecondary": _flags(plans),
    }).loc[grads]
    tables, found = {}, []
    for table, frame in (("enrollment", enrollment), ("graduates", graduates)):
        tables[table], q = to_contract(table, frame, path, key, SOURCES)
        found.append(q)
    read = StateRead(path, FAMILY, RECORD, version.id, version.handbook, school_year, len(raw), tables,
                     crosswalk(raw.loc[enrolled], "DOE002", "DOE001", key), checks.quarantine(*found),
                     checks.code_counts())
    not_enrolled = int((mapped["DOE012"][keep] == "not_enrolled").sum())
    read.notes += [f"SIMS handbook {version.id} tables ({version.handbook})"]
    if header:
        read.notes.append("first line is a header row: skipped")
    if not_enrolled:
        read.notes.append(f"{not_enrolled} record(s) with DOE012 40/41 (special-education services only, not "
                          "enrolled): no enrollment row")
    read.notes.append("is_former_el and completed_dual_enrollment are derived from the SIMS/SCS history after loading")
    return read

"""SCS student course records (SCS01-SCS13, or SCS01-SCS14 from handbook v9.2) -> the contract's ``courses``.

SCS reports every course a student takes; the contract keeps advanced courses only (AP, dual enrollment, other
advanced). SCS09 (course level) decides through config/state_codes/scs.csv; a course the student withdrew from or
was excused from (SCS08) is not a course taken. A course reported for several sections or terms is one contract row
(the first record; the others are counted). AP exam scores are not SCS data (the College Board sends them):
``ap_exam_score`` stays blank here; a district adds its scores as contract courses.csv rows.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from .catalog import family
from .records import Checks, StateRead, crosswalk, positional, to_contract

FAMILY = "scs"
RECORD = "course"
SOURCES = {"school_year": "folder year", "student_id": "SCS02", "org_code": "SCS03", "course_id": "SCS04",
           "course_type": "SCS09"}


def _has_header(row: list[str]) -> bool:
    return len(row) > 2 and not row[1].isdigit() and any(ch.isalpha() for ch in row[1])


def read(path: Path, school_year: int, key: bytes | None) -> StateRead:
    fam = family(FAMILY)
    raw, header = positional(path, fam, RECORD, has_header=_has_header)
    n_fields = len(raw.columns)
    version = next(v for v in fam.versions if v.fields == n_fields)
    checks = Checks(path, fam, version, "courses")
    checks.sasid(raw, "SCS02")
    status = checks.codes(raw, "SCS08")
    level = checks.codes(raw, "SCS09")
    keep = raw.index.difference(checks.bad)
    taken = keep[(status[keep] == "taken").to_numpy()]
    advanced = taken[level[taken].notna().to_numpy()]
    frame = pd.DataFrame({"school_year": str(school_year), "student_id": raw["SCS02"], "org_code": raw["SCS03"],
                          "course_id": raw["SCS04"], "course_type": level, "ap_exam_score": ""}).loc[advanced]
    repeated = frame.duplicated(["student_id", "course_id"])
    data, q = to_contract("courses", frame[~repeated.to_numpy()], path, key, SOURCES)
    read = StateRead(path, FAMILY, RECORD, version.id, version.handbook, school_year, len(raw), {"courses": data},
                     crosswalk(raw.loc[advanced], "SCS02", "SCS01", key), checks.quarantine(q),
                     checks.code_counts())
    read.notes += [f"SCS handbook {version.id} layout ({n_fields} elements)",
                   f"{len(taken) - len(advanced)} course record(s) not advanced (SCS09) and "
                   f"{len(keep) - len(taken)} withdrawn/excused (SCS08): not contract rows",
                   f"{int(repeated.sum())} repeated section/term record(s) of the same course merged"]
    if header:
        read.notes.append("first line is a header row: skipped")
    return read

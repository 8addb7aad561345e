"""SSDR offense and discipline records -> the contract's ``discipline`` table.

DESE's SSDR has two files: offenses (one per incident, with the school code) and disciplines (one per student and
offense, with the SASID, the disciplinary action taken and the days missed). A discipline record takes its school
from the offense record with the same OFF ID, so the offense file must sit in the same folder. The upload files
have a header row (DESE 2014-15 Q&A); vendor exports may not: both are read, by position. SSDR collects removals
only (suspensions, expulsions, alternative settings, emergency removals): other disciplinary actions (detentions)
are not in it; a district that tracks them keeps them in the contract's discipline.csv beside these files.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pandas as pd

from ...errors import InputError
from .catalog import Family, Version, family, header_matches
from .catalog import normalized_label as _norm
from .records import Checks, StateRead, positional, to_contract

FAMILY = "ssdr"
SOURCES = {"school_year": "folder year", "student_id": "SASID", "org_code": "SCH CODE (offense file)",
           "incident_id": "OFF ID", "action": "DAT", "days_missed": "DM"}


def version_of(fam: Family, school_year: int, header: list[str] | None) -> Version:
    """The edition from the header (an edition's own column names win), else from the school year."""
    if header:
        cells = {_norm(c) for c in header}
        for v in fam.versions:
            if v.header_alias and all(_norm(a) in cells for a in v.header_alias.values()):
                return v
    return fam.version_for_year(school_year) or fam.versions[-1]


def read_offenses(path: Path, school_year: int) -> tuple[pd.DataFrame, Checks, Version]:
    """The offense records: (OFF ID, SCH CODE, OFF DATE) frame, their checks, the edition."""
    fam = family(FAMILY)
    raw, header = positional(path, fam, "offense", has_header=lambda r: header_matches(r, fam, "offense"))
    version = version_of(fam, school_year, header)
    checks = Checks(path, fam, version, "ssdr_offense")
    checks.rule(raw, "SCH CODE", raw["SCH CODE"].str.fullmatch(r"\d{8}"), "8-digit school code",
                "not an 8-digit DESE school code", "export the school code with its leading zeros")
    checks.rule(raw, "OFF ID", ~raw["OFF ID"].duplicated(keep=False), "one offense record per OFF ID",
                "the OFF ID appears on more than one offense record", "give each offense its own OFF ID")
    dates = pd.to_datetime(raw["OFF DATE"], format="%m/%d/%Y", errors="coerce")
    in_year = dates.between(pd.Timestamp(date(school_year - 1, 7, 1)), pd.Timestamp(date(school_year, 6, 30)))
    checks.rule(raw, "OFF DATE", in_year, "offense date in the school year",
                f"not a date (mm/dd/yyyy) between 07/01/{school_year - 1} and 06/30/{school_year}",
                "put the file in the folder of its school year, or correct the date")
    return raw, checks, version


def read_offense_file(path: Path, school_year: int) -> StateRead:
    raw, checks, version = read_offenses(path, school_year)
    read = StateRead(path, FAMILY, "offense", version.id, version.handbook, school_year, len(raw),
                     quarantine=checks.quarantine(), code_counts=checks.code_counts())
    read.notes.append(f"{len(raw) - len(checks.bad)} offense record(s): school codes for the discipline records "
                      "of the same folder (no contract rows of their own)")
    return read


def find_offense_file(path: Path) -> Path:
    from .detect import detect

    found = [p for p in sorted(path.parent.iterdir()) if p != path and p.is_file()
             and (d := detect(p)) is not None and d.family == FAMILY and d.record == "offense"]
    if len(found) != 1:
        raise InputError(
            f"an SSDR discipline file needs the SSDR offense file of the same collection beside it (found "
            f"{len(found)} in {path.parent})", file=str(path),
            fix="put exactly one SSDR offense file (OFF ID, OFF DATE, SCH NAME, SCH CODE, ...) in the same folder: "
                "the discipline records take their school from it")
    return found[0]


def read(path: Path, school_year: int, key: bytes | None) -> StateRead:
    """The discipline records of ``path`` (schools from the offense file beside it)."""
    fam = family(FAMILY)
    raw, header = positional(path, fam, "discipline", has_header=lambda r: header_matches(r, fam, "discipline"))
    offenses, offense_checks, _ = read_offenses(find_offense_file(path), school_year)
    version = version_of(fam, school_year, header)
    checks = Checks(path, fam, version, "discipline")
    checks.sasid(raw, "SASID")
    action = checks.codes(raw, "DAT")
    checks.codes(raw, "PST")
    days = checks.number(raw, "DM")
    good_offenses = offenses.drop(index=offense_checks.bad)
    school = raw["OFF ID"].map(good_offenses.set_index("OFF ID")["SCH CODE"])
    checks.rule(raw, "OFF ID", school.notna(), "offense record with this OFF ID",
                "no valid offense record with this OFF ID in the offense file beside it",
                "report the offense in the offense file, or correct the OFF ID")
    keep = raw.index.difference(checks.bad)
    frame = pd.DataFrame({"school_year": str(school_year), "student_id": raw["SASID"], "org_code": school,
                          "incident_id": raw["OFF ID"], "action": action,
                          "days_missed": days.map(lambda v: "" if pd.isna(v) else f"{v:g}")}).loc[keep]
    data, q = to_contract("discipline", frame, path, key, SOURCES)
    read = StateRead(path, FAMILY, "discipline", version.id, version.handbook, school_year, len(raw),
                     {"discipline": data}, quarantine=checks.quarantine(q), code_counts=checks.code_counts())
    read.notes.append(f"SSDR edition {version.id} ({version.handbook})" + ("; header row read" if header else ""))
    return read

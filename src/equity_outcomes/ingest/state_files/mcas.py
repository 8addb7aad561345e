"""The MCAS student-level results file (one row per student, every subject in columns) -> ``assessments``.

Columns are found by name (config/state_layouts.yaml ``mcas.columns``, case-insensitive): SASID, school code,
grade, and per subject a scaled score, an achievement level and (ELA, math) an SGP. Each subject a student took
becomes one contract row; a subject with neither score nor level was not taken (counted). The level decides the
test family: E/M/PM/NM Next-Generation, A/P/NI/W legacy (F, the grade-10 'Failing', is the contract's W; counted).
Names, dates of birth and local ids in the file are never read.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from ...errors import InputError
from .catalog import Family, Version, family
from .records import CODE_FIX, Checks, StateRead, frame_of, read_rows, to_contract

FAMILY = "mcas"
RECORD = "results"
REQUIRED = ("sasid", "org_code", "grade")


def columns_of(header: list[str], fam: Family) -> dict[str, str]:
    """role -> the header name found for it."""
    names = {h.strip().lower() for h in header}
    found = {role: next((a.lower() for a in accepted if a.lower() in names), None)
             for role, accepted in fam.columns.items() if role != "drop"}
    return {role: name for role, name in found.items() if name is not None}


def is_results_header(row: list[str]) -> bool:
    fam = family(FAMILY)
    cols = columns_of(row, fam)
    return all(r in cols for r in REQUIRED) and any(f"{s}_level" in cols for s in fam.subjects)


def _levels(fam: Family) -> dict[str, tuple[str, str]]:
    """level code -> (contract level, test family)."""
    families = {"legacy": "legacy", "next-generation": "nextgen"}
    return {c.code: (c.maps_to, families[c.versions[0]]) for c in fam.codes["LEVEL"]}


def _subject(raw: pd.DataFrame, cols: dict[str, str], subject: str, label: str, checks: Checks,
             levels: dict[str, tuple[str, str]], school_year: int) -> pd.DataFrame:
    score_col, level_col = cols.get(f"{subject}_scaled_score"), cols[f"{subject}_level"]
    score = raw[score_col] if score_col else pd.Series("", index=raw.index)
    level = raw[level_col].str.upper()
    taken = (score != "") | (level != "")
    known = level.isin(list(levels))
    for code in sorted(set(level[taken & ~known])):
        checks.rule(raw, level_col, ~(taken & (level == code)), "code in MCAS achievement level table",
                    f"unknown achievement level {code!r}", CODE_FIX.format(family=FAMILY))
    checks.used.append((level_col, level[taken & known], {c: m for c, (m, _) in levels.items()}))
    sgp_col = cols.get(f"{subject}_sgp")
    return pd.DataFrame({
        "school_year": str(school_year), "student_id": raw[cols["sasid"]], "org_code": raw[cols["org_code"]],
        "grade": raw[cols["grade"]].map(lambda g: g.zfill(2) if g.isdigit() else g), "subject": label,
        "test_family": level.map(lambda v: levels.get(v, ("", ""))[1]),
        "scaled_score": score, "achievement_level": level.map(lambda v: levels.get(v, ("", ""))[0]),
        "sgp": raw[sgp_col] if sgp_col else "",
    })[taken.to_numpy()]


def read(path: Path, school_year: int, key: bytes | None) -> StateRead:
    fam = family(FAMILY)
    rows = read_rows(path)
    header = rows[0][1]
    cols = columns_of(header, fam)
    missing = [r for r in REQUIRED if r not in cols]
    if missing:
        raise InputError(f"MCAS results file without the column(s) for {missing}", file=str(path), row=1,
                         fix=f"keep DESE's column names; accepted: {[fam.columns[r] for r in missing]}")
    raw = frame_of(rows[1:], [h.strip().lower() for h in header])
    version = Version(id="+".join(v.id for v in fam.versions), handbook="MCAS student results")
    checks = Checks(path, fam, version, "assessments")
    checks.sasid(raw, cols["sasid"])
    if "school_year" in cols:
        checks.rule(raw, cols["school_year"], raw[cols["school_year"]] == str(school_year),
                    f"equals folder year {school_year}", "the administration year differs from the folder's year",
                    "put the file in the folder of its school year")
    levels = _levels(fam)
    parts = [_subject(raw, cols, s, label, checks, levels, school_year) for s, label in fam.subjects.items()
             if f"{s}_level" in cols]
    keep = raw.index.difference(checks.bad)
    tables, found = [], []
    sources = {"student_id": cols["sasid"], "org_code": cols["org_code"], "grade": cols["grade"]}
    for s, part in zip([s for s in fam.subjects if f"{s}_level" in cols], parts, strict=True):
        sub = {"scaled_score": cols.get(f"{s}_scaled_score", ""), "achievement_level": cols[f"{s}_level"],
               "test_family": cols[f"{s}_level"], "sgp": cols.get(f"{s}_sgp", "")}
        data, q = to_contract("assessments", part.loc[part.index.intersection(keep)], path, key,
                              {**sources, **sub})
        tables.append(data)
        found.append(q)
    data = pd.concat(tables, ignore_index=True).sort_values(["source_row"], kind="stable").reset_index(drop=True)
    counts = checks.code_counts()
    families = sorted({levels[c][1] for c in counts["code"] if c in levels})  # the editions seen
    read = StateRead(path, FAMILY, RECORD, "+".join(families) or "none", "MCAS student results", school_year,
                     len(raw), {"assessments": data}, quarantine=checks.quarantine(*found),
                     code_counts=counts)
    n_cells = sum(len(p) for p in parts)
    read.notes.append(f"{n_cells} subject result(s) from {len(raw)} student record(s); subjects with no score and "
                      "no level were not taken")
    failing = int(counts.loc[counts["code"] == "F", "n_records"].sum())
    if failing:
        read.notes.append(f"{failing} legacy 'F' (Failing, grade 10) level(s) loaded as the contract's W")
    return read

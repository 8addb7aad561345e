"""The synthetic network's student tables written in the state-reporting layouts districts hold: SIMS (enrollment
and graduates), SSDR (discipline), SCS (courses) and the MCAS student results file (assessments), from the contract
CSVs :func:`generate_network` wrote. ``equity-outcomes synth --format sims,ssdr,scs,mcas`` (or ``state``: all four).

Every code comes from config/state_codes (the reverse of the reader's mapping), so reading the files back gives the
contract's rows again. Student ids become 10-digit SASIDs (and local ids LASIDs) in every student file of the folder,
contract CSVs included, so tables still join. What the layouts cannot carry stays in contract CSVs beside them:
disciplinary actions SSDR does not collect (OTHER) in discipline.csv, AP exam scores (the College Board's data) in
courses.csv. Names and dates of birth in the files are invented per student, so tests can prove none is stored.
Former-EL status and completed dual enrollment are not written: the reader derives them from the history.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pandas as pd

from ..ingest.state_files.catalog import Family, family
from ..ingest.state_files.ssdr import version_of

FORMATS: dict[str, tuple[str, ...]] = {"sims": ("enrollment", "graduates"), "ssdr": ("discipline",),
                                       "scs": ("courses",), "mcas": ("assessments",)}
FIRST_NAMES = ["Avery", "Jordan", "Riley", "Quinn", "Rowan", "Sage", "Emerson", "Hayden", "Kendall", "Marlowe"]
LAST_NAMES = ["Ashcombe", "Brightwater", "Coldbrook", "Dunmore", "Everleigh", "Fairhaven", "Greywell", "Holloway"]


def parse_formats(text: str) -> set[str]:
    """'state' or a comma-separated subset of sims, ssdr, scs, mcas ('contract': none)."""
    names = {t.strip().lower() for t in text.split(",") if t.strip()}
    if names <= {"contract"}:
        return set()
    if "state" in names:
        return set(FORMATS)
    unknown = names - set(FORMATS)
    if unknown:
        raise ValueError(f"unknown format(s) {sorted(unknown)}: use contract, state or any of {sorted(FORMATS)}")
    return names


class _Codes:
    """Contract value -> state code, read from the family's code tables (the first code mapping to the value)."""

    def __init__(self, fam: Family) -> None:
        self.fam = fam

    def codes(self, element: str, maps_to: str | None) -> list[str]:
        return [c.code for c in self.fam.codes[element] if c.maps_to == maps_to]

    def code(self, element: str, maps_to: str | None) -> str:
        return self.codes(element, maps_to)[0]

    def mapper(self, element: str) -> dict[str, str]:
        return {c.maps_to: c.code for c in reversed(self.fam.codes[element]) if c.maps_to is not None}


def _sasid(ids: pd.Series) -> pd.Series:
    digits = ids.str.slice(1).astype("int64")
    if (digits >= 10**10).any():
        raise ValueError("synthetic student ids beyond 10 digits cannot become SASIDs")
    return digits.map(lambda n: f"{n:010d}")


def _lasid(ids: pd.Series) -> pd.Series:
    return "L" + ids.str.slice(1)


def _person(ids: pd.Series, school_year: int, grade: pd.Series | None = None) -> pd.DataFrame:
    """Invented first name, last name and date of birth per student (never real, never loaded)."""
    n = ids.str.slice(1).astype("int64")
    age_grade = (grade.map(lambda g: 0 if g in ("KG", "PK", "SP") else int(g)) if grade is not None
                 else pd.Series(5, index=ids.index))
    born = school_year - 6 - age_grade
    return pd.DataFrame({"first": n.map(lambda v: FIRST_NAMES[v % len(FIRST_NAMES)]),
                         "last": n.map(lambda v: LAST_NAMES[(v // 7) % len(LAST_NAMES)]),
                         "dob": [f"{1 + v % 12:02d}/{1 + v % 28:02d}/{b}" for v, b in zip(n, born, strict=True)]})


def _write(frame: pd.DataFrame, path: Path, header: bool = False) -> Path:
    frame.to_csv(path, index=False, header=header, lineterminator="\n")
    return path


def _sims(folder: Path, year: int, tables: dict[str, pd.DataFrame]) -> list[Path]:
    fam = family("sims")
    c = _Codes(fam)
    enr, grads = tables["enrollment"], tables["graduates"]
    g = grads.set_index(["student_id", "org_code"])
    key = pd.MultiIndex.from_frame(enr[["student_id", "org_code"]])
    is_grad = key.isin(g.index)
    gr = g.reindex(key)
    person = _person(enr["student_id"], year, enr["grade"])
    swd = enr["is_swd"] == "1"
    cols = {e.id: pd.Series("", index=enr.index) for e in fam.records["student"].elements}
    plans = gr["enrolled_postsecondary"].fillna("").to_numpy()
    cols.update({
        "DOE001": _lasid(enr["student_id"]), "DOE002": _sasid(enr["student_id"]),
        "DOE003": person["first"].to_numpy(), "DOE004": "NMN", "DOE005": person["last"].to_numpy(),
        "DOE006": person["dob"].to_numpy(), "DOE009": enr["gender"], "DOE010": enr["race_ethnicity"].map(
            c.mapper("DOE010")),
        "DOE012": pd.Series(is_grad, index=enr.index).map({True: c.code("DOE012", "graduate"),
                                                             False: c.code("DOE012", "enrolled")}),
        "DOE015": enr["org_code"], "DOE016": enr["grade"].map(c.mapper("DOE016")),
        "DOE017": (enr["days_in_membership"].astype(float) - enr["days_absent"].astype(float)).map(
            lambda v: f"{v:g}"),
        "DOE018": enr["days_in_membership"], "DOE019": enr["is_low_income"].map(c.mapper("DOE019")),
        "DOE025": enr["is_el"].map(c.mapper("DOE025")), "DOE032": c.code("DOE032", "0"),
        "DOE034": swd.map({True: c.code("DOE034", "1"), False: c.code("DOE034", "0")}),
        "DOE038": swd.map({True: c.codes("DOE038", None)[0], False: c.codes("DOE038", None)[-1]}),
        "DOE033": pd.Series([c.code("DOE033", p or None) if grad else c.codes("DOE033", None)[-1]
                             for p, grad in zip(plans, is_grad, strict=True)], index=enr.index),
        "DOE037": pd.Series([c.code("DOE037", m) if grad else c.code("DOE037", None)
                             for m, grad in zip(gr["masscore_complete"].fillna("").to_numpy(), is_grad, strict=True)],
                            index=enr.index),
    })
    return [_write(pd.DataFrame(cols), folder / f"sims_eoy_{year}.txt")]


def _ssdr(folder: Path, year: int, tables: dict[str, pd.DataFrame], schools: dict[str, str]) -> list[Path]:
    fam = family("ssdr")
    c = _Codes(fam)
    dis = tables["discipline"]
    actions = c.mapper("DAT")
    carried = dis[dis["action"].isin(list(actions))].reset_index(drop=True)
    version = version_of(fam, year, None)
    offenses = carried[["incident_id", "org_code"]].drop_duplicates().reset_index(drop=True)
    dates = offenses.index.map(lambda i: f"{1 + (8 + i % 10) % 12:02d}/{1 + i % 28:02d}/"
                                         f"{year - 1 if (8 + i % 10) % 12 >= 6 else year}")
    offense_date = dict(zip(offenses["incident_id"], dates, strict=True))
    off = {e.id: pd.Series("", index=offenses.index) for e in fam.records["offense"].elements}
    off.update({"OFF ID": offenses["incident_id"], "OFF DATE": pd.Series(dates, index=offenses.index),
                "SCH NAME": offenses["org_code"].map(schools), "SCH CODE": offenses["org_code"]})
    person = _person(carried["student_id"], year)
    disc = {e.id: pd.Series("", index=carried.index) for e in fam.records["discipline"].elements}
    disc.update({"OFF ID": carried["incident_id"], "OFF DATE": carried["incident_id"].map(offense_date),
                 "SASID": _sasid(carried["student_id"]), "FN": person["first"], "LN": person["last"],
                 "DOB": person["dob"], "PST": c.codes("PST", None)[0], "DAT": carried["action"].map(actions),
                 "DM": carried["days_missed"]})
    header = [version.header_alias.get(e.id, e.id) for e in fam.records["discipline"].elements]
    return [_write(pd.DataFrame(off), folder / f"ssdr_offenses_{year}.csv", header=True),
            _write(pd.DataFrame(disc).set_axis(header, axis=1), folder / f"ssdr_discipline_{year}.csv", header=True)]


def _scs(folder: Path, year: int, tables: dict[str, pd.DataFrame]) -> list[Path]:
    fam = family("scs")
    c = _Codes(fam)
    courses = tables["courses"]
    version = next(v for v in fam.versions if v.fields == 13)
    cols = {e.id: pd.Series("", index=courses.index) for e in fam.records["course"].elements[: version.fields]}
    cols.update({"SCS01": _lasid(courses["student_id"]), "SCS02": _sasid(courses["student_id"]),
                 "SCS03": courses["org_code"], "SCS04": courses["course_id"], "SCS08": c.code("SCS08", "taken"),
                 "SCS09": courses["course_type"].map(c.mapper("SCS09"))})
    return [_write(pd.DataFrame(cols), folder / f"scs_{year}.txt")]


def _mcas(folder: Path, year: int, tables: dict[str, pd.DataFrame]) -> list[Path]:
    fam = family("mcas")
    levels = {c.maps_to: c.code for c in fam.codes["LEVEL"]}  # the last code per level: W -> F (grade 10)
    names = {role: accepted[0] for role, accepted in fam.columns.items() if role != "drop"}
    a = tables["assessments"]
    keys = ["student_id", "org_code", "grade"]
    wide = a[keys].drop_duplicates().reset_index(drop=True)
    for subject, label in fam.subjects.items():
        part = a[a["subject"] == label]
        if part.empty:
            continue
        level = part["achievement_level"].where((part["grade"] != "10") | (part["achievement_level"] != "W"),
                                                levels["W"])
        cols = {names[f"{subject}_scaled_score"]: part["scaled_score"], names[f"{subject}_level"]: level}
        if f"{subject}_sgp" in names:
            cols[names[f"{subject}_sgp"]] = part["sgp"]
        wide = wide.merge(part[keys].assign(**cols), on=keys, how="left")
    person = _person(wide["student_id"], year, wide["grade"])
    out = pd.DataFrame({names["sasid"]: _sasid(wide["student_id"]), "lastname": person["last"],
                        "firstname": person["first"], "dob": person["dob"], names["grade"]: wide["grade"],
                        names["org_code"]: wide["org_code"], names["school_year"]: str(year)})
    out = pd.concat([out, wide.drop(columns=keys).fillna("")], axis=1)
    return [_write(out, folder / f"mcas_student_results_{year}.csv", header=True)]


def _keep_uncarried(tables: dict[str, pd.DataFrame], converted: set[str]) -> None:
    """What the layouts do not carry stays a contract CSV (empty ones are removed)."""
    if "discipline" in converted:
        actions = _Codes(family("ssdr")).mapper("DAT")
        tables["discipline"] = tables["discipline"][~tables["discipline"]["action"].isin(list(actions))]
    if "courses" in converted:
        tables["courses"] = tables["courses"][tables["courses"]["ap_exam_score"].fillna("") != ""]
    for table in converted - {"discipline", "courses"}:
        tables.pop(table)


def _convert_year(folder: Path, formats: set[str], schools: dict[str, str]) -> list[Path]:
    year = int(folder.name)
    tables = {p.stem: pd.read_csv(p, dtype=str, keep_default_na=False) for p in sorted(folder.glob("*.csv"))}
    written: list[Path] = []
    converted: set[str] = set()
    writers: dict[str, Callable[[], list[Path]]] = {
        "sims": lambda: _sims(folder, year, tables), "ssdr": lambda: _ssdr(folder, year, tables, schools),
        "scs": lambda: _scs(folder, year, tables), "mcas": lambda: _mcas(folder, year, tables)}
    for fmt in sorted(formats):
        if all(t in tables for t in FORMATS[fmt]):
            written += writers[fmt]()
            converted |= set(FORMATS[fmt])
    _keep_uncarried(tables, converted)
    for p in folder.glob("*.csv"):
        if p.stem in converted or p.stem in tables:
            p.unlink()
    for name, frame in tables.items():
        if len(frame):
            if "student_id" in frame:
                frame = frame.assign(student_id=_sasid(frame["student_id"]))
            written.append(_write(frame, folder / f"{name}.csv", header=True))
    return written


def write_state_layouts(out_dir: Path, formats: set[str], progress: Callable[[str], None] | None = None) -> list[Path]:
    """Convert every year of ``out_dir/student`` to the given layouts; returns the files written."""
    if not formats:
        return []
    roster = pd.read_csv(Path(out_dir) / "roster.csv", dtype=str)
    schools = dict(zip(roster["org_code"], roster["school_name"], strict=True))
    written: list[Path] = []
    for folder in sorted(p for p in (Path(out_dir) / "student").iterdir() if p.is_dir() and p.name.isdigit()):
        written += _convert_year(folder, formats, schools)
    if progress:
        progress(f"state layouts {', '.join(sorted(formats))}: {len(written)} files in {Path(out_dir) / 'student'}")
    return written

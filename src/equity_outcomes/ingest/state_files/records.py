"""What every state-reporting layout shares: reading records by position, codes through the config tables (an
unknown code sends its record to quarantine naming the element, the value and the fix), the contract's pandera
validation, and keyed pseudonymization of SASIDs and LASIDs. Names and dates of birth never leave this module's
caller: only the elements a layout maps are copied out of the raw record frame, and quarantine keeps one value per
failed check, never a name, a date of birth or a student id in clear."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from ...errors import InputError
from ..pseudonymize import pseudonymize
from ..schemas import ALL_TABLES, ID_COLUMNS
from ..student import QUARANTINE_COLUMNS, _read_text, _validate_rows, good_rows
from .catalog import Family, Version

SASID_PATTERN = r"\d{10}"
WITHHELD = "student id withheld: ids are never stored in clear"
Q_COLUMNS = [*QUARANTINE_COLUMNS, "table_name"]  # a state file's quarantine records name their contract table
CODE_FIX = ("correct the record in your student information system and export the file again; if DESE added this "
            "code in a newer handbook, add a row for it to config/state_codes/{family}.csv (element, code, meaning, "
            "maps_to, versions, source)")


@dataclass
class StateRead:
    """One state-reporting file read into the student data contract."""

    path: Path
    family: str  # sims | ssdr | scs | mcas
    record: str  # the record kind: student, offense, discipline, course, results
    version: str
    handbook: str
    school_year: int
    rows_in: int
    tables: dict[str, pd.DataFrame] = field(default_factory=dict)  # contract table -> validated rows (+ source_row)
    crosswalk: pd.DataFrame | None = None  # pseudonymized (student_id, local_student_id)
    quarantine: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=Q_COLUMNS))
    code_counts: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(
        columns=["element", "code", "maps_to", "n_records"]))
    notes: list[str] = field(default_factory=list)

    @property
    def report(self) -> str:
        return f"{self.family}_{self.record}"

    @property
    def rows_quarantined(self) -> int:
        return int(self.quarantine["source_row"].nunique()) if len(self.quarantine) else 0

    @property
    def rows_loaded(self) -> int:
        return int(sum(len(t) for t in self.tables.values()))


def read_rows(path: Path) -> list[tuple[int, list[str]]]:
    """(file line, fields) for every non-blank line of a delimited text file (quotes honoured)."""
    text = _read_text(path)
    reader = csv.reader(io.StringIO(text))
    out = []
    try:
        for fields in reader:
            if any(f.strip() for f in fields):
                out.append((reader.line_num, [f.strip() for f in fields]))
    except csv.Error as exc:
        raise InputError(f"the file cannot be parsed as comma-delimited text: {exc}", file=str(path),
                         row=reader.line_num, fix="export the file again as comma-delimited text") from None
    if not out:
        raise InputError("the file has no records", file=str(path), fix="export the collection again")
    return out


def frame_of(rows: list[tuple[int, list[str]]], columns: list[str]) -> pd.DataFrame:
    """Records as text columns, indexed by file line - 2 (so pandera's ``index + 2`` is the file line)."""
    frame = pd.DataFrame([r[:len(columns)] for _, r in rows], columns=columns, dtype=object)
    frame.index = pd.Index([line - 2 for line, _ in rows])
    return frame.fillna("")


def positional(path: Path, fam: Family, record: str, *, has_header=None) -> tuple[pd.DataFrame, list[str] | None]:
    """The records of a positional layout, one column per element id; (frame, header row or None).
    ``has_header(first_row)`` tells whether the first line is a header (skipped and returned)."""
    rows = read_rows(path)
    header = None
    if has_header is not None and has_header(rows[0][1]):
        header, rows = rows[0][1], rows[1:]
    if not rows:
        raise InputError("the file has a header but no records", file=str(path), fix="export the collection again")
    allowed = fam.records[record].fields
    counts = {len(r) for _, r in rows}
    wrong = [(line, len(r)) for line, r in rows if len(r) not in allowed]
    if wrong or len(counts) > 1:
        line, n = wrong[0] if wrong else next((ln, len(r)) for ln, r in rows if len(r) != len(rows[0][1]))
        raise InputError(
            f"{fam.label}: {len(wrong) or 'some'} record(s) have the wrong number of fields (line {line} has {n}; "
            f"every record of this file must have {' or '.join(map(str, allowed))})",
            file=str(path), row=line,
            fix="export the whole file again from your SIS in the state layout (a field containing a comma must be "
                "quoted)")
    elements = [e.id for e in fam.records[record].elements][: len(rows[0][1])]
    return frame_of(rows, elements), header


class Checks:
    """Record-level checks of one file: codes through the config tables and element rules. Failing records go to
    quarantine (file line, element, value, check, message with the fix) and are left out of every contract table."""

    def __init__(self, path: Path, fam: Family, version: Version, table_name: str) -> None:
        self.path, self.fam, self.version, self.table_name = path, fam, version, table_name
        self.found: list[pd.DataFrame] = []
        self.bad = pd.Index([])
        self.used: list[tuple[str, pd.Series, dict]] = []  # (element, known values in scope, code -> maps_to)

    def _fail(self, frame: pd.DataFrame, mask: pd.Series, element: str, check: str, message: str,
              withhold: bool = False) -> None:
        rows = frame.index[mask.to_numpy()]
        if not len(rows):
            return
        values = None if withhold else frame.loc[rows, element].to_numpy() if element in frame else None
        self.found.append(pd.DataFrame({
            "source_row": rows.to_numpy() + 2, "column_name": element, "value_text": values,
            "check_name": check, "message": message, "table_name": self.table_name}))
        self.bad = self.bad.union(rows)

    def codes(self, frame: pd.DataFrame, element: str, rows: pd.Series | None = None) -> pd.Series:
        """The element's values mapped through its code table (maps_to); unknown codes are quarantined.
        ``rows`` limits the check to some records (the others map to NaN)."""
        table = self.fam.code_table(element, self.version)
        values = frame[element]
        scope = pd.Series(True, index=frame.index) if rows is None else rows
        known = values.isin(list(table))
        name = self.fam.element_name(element, self.version)
        for code in sorted(set(values[scope & ~known])):
            self._fail(frame, scope & (values == code), element, f"code in {element} table ({self.version.id})",
                       f"unknown {element} {name} code {code!r} for {self.fam.label} ({self.version.handbook}); "
                       f"How to fix: {CODE_FIX.format(family=self.fam.id)}")
        mapping = {c: t.maps_to for c, t in table.items()}
        self.used.append((element, values[scope & known], mapping))
        return values.where(scope).map(mapping)

    def rule(self, frame: pd.DataFrame, element: str, ok: pd.Series, check: str, problem: str, fix: str,
             withhold: bool = False) -> None:
        """Quarantine the records where ``ok`` is False."""
        name = self.fam.element_name(element, self.version)
        self._fail(frame, ~ok, element, check, f"{element} {name}: {problem}. How to fix: {fix}", withhold)

    def sasid(self, frame: pd.DataFrame, element: str) -> None:
        ok = frame[element].str.fullmatch(SASID_PATTERN)
        self.rule(frame, element, ok, "SASID is 10 digits", f"the SASID is not 10 digits ({WITHHELD})",
                  "export the record with the student's state-assigned id (SASID)", withhold=True)

    def number(self, frame: pd.DataFrame, element: str) -> pd.Series:
        values = pd.to_numeric(frame[element], errors="coerce")
        self.rule(frame, element, values.notna() & (values >= 0), "a number of days",
                  "not a number of days", "export the element as a whole or decimal number of days")
        return values

    def quarantine(self, *contract: pd.DataFrame) -> pd.DataFrame:
        """The records these checks quarantined, then those of ``contract`` (the contract's validation)."""
        found = [f for f in (*self.found, *contract) if len(f)]
        return pd.concat(found, ignore_index=True)[Q_COLUMNS] if found else pd.DataFrame(columns=Q_COLUMNS)

    def code_counts(self) -> pd.DataFrame:
        """How many records each code mapping was applied to (records that passed every check of this file)."""
        counts = [(element, code, mapping[code], int(n)) for element, values, mapping in self.used
                  for code, n in values.drop(index=self.bad, errors="ignore").value_counts().items()]
        return pd.DataFrame(counts, columns=["element", "code", "maps_to", "n_records"])


def fmt_days(values: pd.Series) -> pd.Series:
    """Days as the contract's text: whole numbers without decimals."""
    return values.map(lambda v: "" if pd.isna(v) else (str(int(v)) if float(v).is_integer() else repr(float(v))))


def to_contract(table: str, frame: pd.DataFrame, path: Path, key: bytes | None, sources: dict[str, str]
                ) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Validate mapped rows (text, contract columns, indexed by file line - 2) against the contract's pandera schema.
    Returns (good rows typed, ids pseudonymized, with source_row; quarantine naming the state element of each
    failed contract column via ``sources``)."""
    schema = ALL_TABLES[table]
    frame = frame[list(schema.columns)].replace("", None)  # blank = missing, as the contract CSV reader reads it
    if frame.empty:
        return frame.assign(source_row=pd.Series(dtype="int64")), pd.DataFrame(columns=Q_COLUMNS)
    # a missing required value is quarantined here: pandera, failing to coerce such a column, would check the
    # other rows' uncoerced text against the column's rules and reject them all
    required = [c for c, col in schema.columns.items() if not col.nullable]
    missing = frame[required].isna()
    gaps = [pd.DataFrame({"source_row": frame.index[missing[c]].to_numpy() + 2, "column_name": c, "value_text": None,
                          "check_name": "not_nullable", "message": f"required value missing in column {c}"})
            for c in required if missing[c].any()]
    frame = frame[~missing.any(axis=1).to_numpy()]
    validated, q = _validate_rows(schema, frame, path, frame)
    q = pd.concat([*gaps, q], ignore_index=True) if gaps else q
    data = good_rows(schema, frame, validated, q, key)
    if len(q):
        ids = q["column_name"].isin(ID_COLUMNS)
        q.loc[ids, "value_text"] = None
        q.loc[ids, "message"] = q.loc[ids, "message"] + f" ({WITHHELD})"
        q["column_name"] = q["column_name"].map(lambda c: f"{sources[c]} ({c})" if c in sources else c)
        q["table_name"] = table
    return data, q


def crosswalk(frame: pd.DataFrame, sasid: str, lasid: str, key: bytes | None) -> pd.DataFrame | None:
    """Distinct (pseudonymized SASID, pseudonymized LASID) pairs of the loaded records, so contract CSVs keyed by
    the local id can be matched later; never the ids in clear."""
    pairs = frame[[sasid, lasid]].drop_duplicates()
    pairs = pairs[pairs[lasid] != ""]
    if key is None or pairs.empty:
        return None
    return pd.DataFrame({"student_id": pseudonymize(pairs[sasid], key).to_numpy(),
                         "local_student_id": pseudonymize(pairs[lasid], key).to_numpy()})

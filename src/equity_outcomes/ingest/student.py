"""Read and validate one district student extract (a CSV named after its table, see ``schemas.py``).

Structural problems (unknown table, missing columns, wrong delimiter, bad encoding, empty file) refuse the file with
an :class:`InputError`. Headers are read in any case, with spaces or hyphens for underscores (``Student ID``), or as
the header names of config/sis_spellings.yaml (``LASID``), and each one so read is reported. Columns the contract
does not have are left out with a warning naming them (the warehouse keeps only the contract's columns: an
extract's names or birth dates never enter it). Row problems never stop the load: every failing row goes to
quarantine with its line number, column, value and the failed check, and the good rows load.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
import pandera.errors
import pandera.pandas as pa

from ..errors import InputError
from .normalize import KnownCodes, Mapping, header_key, header_spellings, normalize_frame
from .pseudonymize import pseudonymize
from .schemas import ALL_TABLES, ID_COLUMNS

QUARANTINE_COLUMNS = ["source_row", "column_name", "value_text", "check_name", "message"]
# A row of a student table whose org_code is not in the roster (checked once a roster is loaded).
UNKNOWN_SCHOOL = "unknown school: not in the roster"


@dataclass
class StudentRead:
    table: str
    school_year: int | None
    rows_in: int
    data: pd.DataFrame  # validated, typed, ids pseudonymized, plus source_row
    quarantine: pd.DataFrame  # QUARANTINE_COLUMNS
    warnings: list[str]  # columns left out (Header.warnings)
    mappings: list[Mapping] = field(default_factory=list)  # spellings mapped to the contract (normalize.py)


def table_for(path: Path) -> str | None:
    """The student table a file holds, from its name (``enrollment.csv``), or None if it is not one."""
    stem = path.stem.lower()
    return stem if path.suffix.lower() == ".csv" and stem in ALL_TABLES else None


def folder_year(path: Path) -> int | None:
    name = path.parent.name
    return int(name) if name.isdigit() and len(name) == 4 else None


def _read_text(path: Path, limit: int | None = None, again: str = "export the table again from your SIS") -> str:
    """The file's text (or its first ``limit`` bytes, cut at a line end); refuses empty and non-UTF-8 files."""
    with open(path, "rb") as fh:
        raw = fh.read(limit) if limit else fh.read()
    if limit and len(raw) == limit:
        raw = raw[: raw.rfind(b"\n") + 1] or raw
    if not raw.strip():
        raise InputError("the file is empty", file=str(path), fix=again)
    for encoding in ("utf-8-sig", "cp1252"):
        try:
            text = raw.decode(encoding)
        except UnicodeDecodeError:
            continue
        if "\x00" in text:
            break
        return text
    raise InputError("the file is not UTF-8 text (it looks like UTF-16 or a binary file)", file=str(path),
                     fix="save it as 'CSV UTF-8 (comma delimited)'")


@dataclass(frozen=True)
class Header:
    """A student extract's header: ``names`` in file order, in the contract's spelling where a cell matches a
    contract column; ``as_written`` (trimmed) beside them; ``left_out``: the cells that are not contract columns."""

    names: list[str]
    as_written: list[str]
    left_out: list[str]

    def renamed(self, rows: int) -> list[Mapping]:
        """The header cells read as a contract column of another spelling, as mappings of ``rows`` values each."""
        return [Mapping("header", w, n, rows) for n, w in zip(self.names, self.as_written, strict=True) if n != w]

    def warnings(self, table: str) -> list[str]:
        if not self.left_out:
            return []
        return [f"warning: {len(self.left_out)} column(s) not in the {table} contract left out, not loaded: "
                f"{self.left_out} (the warehouse keeps only the contract's columns). If one is a contract column "
                "under another name, rename it in the export (docs/student_data_contract.md)"]


def _contract_name(cell: str, expected: list[str]) -> str:
    """The contract column a header cell names (its own name in another spelling, or a header name of
    config/sis_spellings.yaml), else the cell as written."""
    name = header_key(cell)
    name = name if name in expected else header_spellings().get(name)
    return name if name in expected else cell


def check_header(path: Path, table: str, text: str | None = None) -> Header:
    """The header of a student extract, checked against the table's contract (reads only the file's start)."""
    text = text if text is not None else _read_text(path, limit=1 << 20)
    cells = next(csv.reader(io.StringIO(text)))
    expected = list(ALL_TABLES[table].columns)
    if len(cells) == 1 and any(d in cells[0] for d in ";\t|"):
        raise InputError(f"the file has one column, {cells[0][:60]!r}: it is not comma-delimited",
                         file=str(path), row=1,
                         fix="export it as comma-separated values (CSV), or convert the delimiter to ','")
    as_written = [c.strip() for c in cells]
    names = [_contract_name(c, expected) for c in as_written]
    missing = [c for c in expected if c not in names]
    unexpected = [w for w, n in zip(as_written, names, strict=True) if n not in expected]
    if missing:
        raise InputError(
            f"columns do not match the {table} contract: missing {missing}, unexpected {unexpected or 'none'}",
            file=str(path), row=1,
            fix=f"the header must be: {','.join(expected)} (see docs/student_data_contract.md)")
    dupes = sorted({n for n in names if n in expected and names.count(n) > 1})
    if dupes:
        cells_read = [[w for w, n in zip(as_written, names, strict=True) if n == d] for d in dupes]
        raise InputError(f"duplicate columns {dupes}: header cells {cells_read} are each read as one of them",
                         file=str(path), row=1, fix="keep one column of each, remove the others")
    if len(text.strip().splitlines()) < 2:
        raise InputError("the file has a header but no rows", file=str(path), fix="export the table with its rows")
    return Header(names, as_written, unexpected)


def _too_many_fields(path: Path, text: str, n_columns: int) -> None:
    for line, fields in enumerate(csv.reader(io.StringIO(text)), start=1):
        if len(fields) > n_columns:
            raise InputError(f"the row has {len(fields)} fields but the header has {n_columns}", file=str(path),
                             row=line, fix="remove the extra fields, or quote values that contain commas")


def parse_csv(path: Path, text: str, header: list[str], again: str, **options) -> pd.DataFrame:
    """The CSV's rows as text columns named ``header``; refuses a file pandas cannot parse or without rows."""
    try:
        frame = pd.read_csv(io.StringIO(text), dtype=str, keep_default_na=False, **options)
    except pd.errors.ParserError as exc:
        raise InputError(f"the CSV cannot be parsed: {exc}", file=str(path), fix="check quoting and delimiters") from None
    frame.columns = header
    if frame.empty:
        raise InputError("the file has a header but no rows", file=str(path), fix=again)
    return frame


def _read_frame(path: Path, table: str) -> tuple[pd.DataFrame, Header]:
    text = _read_text(path)
    header = check_header(path, table, text)
    frame = parse_csv(path, text, header.names, "export the table with its rows", na_values=[""],
                      skipinitialspace=True)
    if not isinstance(frame.index, pd.RangeIndex):  # pandas took extra fields of the first rows as an index
        _too_many_fields(path, text, len(header.names))
    return frame[list(ALL_TABLES[table].columns)], header


def _failures(schema: pa.DataFrameSchema, frame: pd.DataFrame) -> tuple[pd.DataFrame | None, pd.DataFrame]:
    """(the validated, coerced frame or None if anything failed; pandera's failure cases)."""
    try:
        return schema.validate(frame, lazy=True), pd.DataFrame(columns=["index", "column", "check", "failure_case"])
    except pandera.errors.SchemaErrors as err:
        return None, err.failure_cases


def _quarantine_rows(fc: pd.DataFrame, frame: pd.DataFrame, path: Path) -> pd.DataFrame:
    """Turn pandera failure cases into one quarantine record per (row, failed check); values are quoted from
    ``frame`` (the file as written, before spellings were mapped)."""
    row_level = fc[fc["index"].notna()].copy()
    table_level = fc[fc["index"].isna()]
    for _, f in table_level.iterrows():
        if str(f["check"]).startswith(("column_in_dataframe", "column_in_schema")):
            raise InputError(f"structural problem: {f['check']}", file=str(path), column=str(f["column"]))
    if row_level.empty:
        return pd.DataFrame(columns=QUARANTINE_COLUMNS)
    row_level["index"] = row_level["index"].astype(int)
    cols = row_level["column"].where(row_level["column"].isin(frame.columns), None)
    values = [
        None if c is None else (None if pd.isna(frame.at[i, c]) else str(frame.at[i, c]))
        for i, c in zip(row_level["index"], cols, strict=True)
    ]
    out = pd.DataFrame({"source_row": row_level["index"].to_numpy() + 2,  # header is line 1
                        "column_name": row_level["column"].astype(str), "value_text": values,
                        "check_name": row_level["check"].astype(str)})
    out["message"] = "failed check " + out["check_name"] + " in column " + out["column_name"]
    return out.drop_duplicates().reset_index(drop=True)


def _validate_rows(schema: pa.DataFrameSchema, frame: pd.DataFrame, path: Path, as_written: pd.DataFrame,
                   max_passes: int = 5) -> tuple[pd.DataFrame | None, pd.DataFrame]:
    """(the coerced frame of the rows that passed, or None; quarantine records for every failing row).

    pandera skips a column's checks when its coercion fails, so validation repeats on the remaining rows until
    they pass (a row is quarantined for all its failures found). A clean file is validated exactly once.
    """
    found = []
    remaining = frame
    validated = None
    for _ in range(max_passes):
        validated, fc = _failures(schema, remaining)
        q = _quarantine_rows(fc, as_written.loc[remaining.index], path)
        if q.empty:
            break
        found.append(q)
        remaining = remaining.drop(index=pd.Index(q["source_row"].to_numpy() - 2).unique())
    quarantine = pd.concat(found, ignore_index=True) if found else pd.DataFrame(columns=QUARANTINE_COLUMNS)
    return validated, quarantine


def good_rows(schema: pa.DataFrameSchema, frame: pd.DataFrame, validated: pd.DataFrame | None,
              quarantine: pd.DataFrame, key: bytes | None) -> pd.DataFrame:
    """The rows of ``frame`` not in ``quarantine``, validated and typed (``validated`` when it holds exactly them),
    with ``source_row`` in front and their ids pseudonymized with ``key`` (None: left as they are)."""
    good = frame.drop(index=pd.Index(quarantine["source_row"].to_numpy() - 2).unique(), errors="ignore")
    data = validated if validated is not None and len(validated) == len(good) else (
        schema.validate(good) if len(good) else good)
    data = data.copy()
    data.insert(0, "source_row", good.index.to_numpy() + 2)
    if key is not None:
        for col in ID_COLUMNS & set(data.columns):
            data[col] = pseudonymize(data[col], key)
    return data.reset_index(drop=True)


def _more_failures(quarantine: pd.DataFrame, as_written: pd.DataFrame, failing: pd.Index, column: str, check: str,
                   message: str) -> pd.DataFrame:
    """Quarantine records for the rows in ``failing`` that validation has not quarantined already."""
    failing = failing.difference(quarantine["source_row"].to_numpy() - 2)
    if not len(failing):
        return quarantine
    extra = pd.DataFrame({"source_row": failing.to_numpy() + 2, "column_name": column,
                          "value_text": as_written.loc[failing, column].astype(str).to_numpy(),
                          "check_name": check, "message": message})
    return pd.concat([quarantine, extra], ignore_index=True)


def read_student_file(path: Path, key: bytes, known: KnownCodes | None = None) -> StudentRead:
    """Read, normalise (``known``: the roster's codes, for org codes that lost their leading zeros), validate and
    pseudonymize one extract."""
    path = Path(path)
    table = table_for(path)
    if table is None:
        tables = ", ".join(f"{t}.csv" for t in ALL_TABLES)
        raise InputError("not a known student table", file=str(path),
                         fix=f"name the file after its table: one of {tables}")
    as_written, header = _read_frame(path, table)
    frame, mappings = normalize_frame(as_written, table, known)
    schema = ALL_TABLES[table]
    year = folder_year(path)
    validated, quarantine = _validate_rows(schema, frame, path, as_written)
    if year is not None and "school_year" in frame.columns:
        quarantine = _more_failures(quarantine, as_written, frame.index[frame["school_year"].str.strip() != str(year)],
                                    "school_year", f"equals folder year {year}",
                                    f"school_year differs from the folder the file is in ({path.parent.name})")
    roster = (known or {}).get("org_code")
    if roster and table != "roster" and "org_code" in frame.columns:
        codes = frame["org_code"].str.strip()
        quarantine = _more_failures(quarantine, as_written, frame.index[codes.notna() & ~codes.isin(roster)],
                                    "org_code", UNKNOWN_SCHOOL, "org_code is not a school of the roster")
    data = good_rows(schema, frame, validated, quarantine, key)
    return StudentRead(table, year, len(frame), data, quarantine, header.warnings(table),
                       header.renamed(len(frame)) + mappings)

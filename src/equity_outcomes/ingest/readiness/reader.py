"""Read completed readiness self-assessments: filled-in template workbooks (.xlsx) and long CSVs.

Long CSV, one row per rater x item:  org_code,school_year,rater_id,rater_role,item_id,rating
(one or many schools, raters and years per file; extra columns such as item_text or comment are ignored).

Structural problems (not the template, missing columns, a corrupt or empty file) refuse the file with an
:class:`~equity_outcomes.errors.InputError`. Value problems never stop the read: each one becomes one quarantine
record located to its cell (file, sheet, row, column, value, check, message with the fix) and the good rows load.

Checks (pandera, see :func:`responses_schema`; completeness in :func:`_missing_items`):
  rating 1-4 or 'skip' (a blank is a missing rating), every catalog item present or explicitly skipped for each
  rater, item_id in the catalog, one rating per rater and item, org_code 8 digits and in the roster (when
  ``known_schools`` is given), school_year a sane spring year (and the year of its ``<year>/`` folder, if any).
A problem in a sheet's header cell (school code, year) quarantines every rating of that sheet but is reported once.
"""

from __future__ import annotations

import csv
from contextlib import closing
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
import pandera.errors
import pandera.pandas as pa
from openpyxl import load_workbook

from ...errors import InputError
from ..schemas import MAX_YEAR, MIN_YEAR
from ..student import folder_year
from . import catalog
from .rows import _RATING_TEXT, FIELDS, _read_csv, _read_workbook, _Rows
from .template import WORDS, is_rater_sheet

DATA_COLUMNS = ["source_file", "source_sheet", "source_row", "org_code", "school_year", "rater_id",
                "rater_role", "item_id", "rating", "is_skipped"]
QUARANTINE_COLUMNS = ["source_file", "source_sheet", "source_row", "column_name", "value_text", "check_name",
                      "message"]


@dataclass
class ReadinessRead:
    """What one file held: good rows (``DATA_COLUMNS``, the raw table minus load_id) and quarantine records."""

    path: Path
    rows_in: int  # item rows read (rater x item)
    data: pd.DataFrame
    quarantine: pd.DataFrame
    notes: list[str] = field(default_factory=list)


def responses_schema(known_schools: set[str] | None = None, folder_year: int | None = None) -> pa.DataFrameSchema:
    """The pandera contract of the normalized long frame (all columns text before typing)."""
    ids = set(catalog.item_ids())
    years_ok = pa.Check(
        lambda s: s.str.fullmatch(r"\d{4}") & pd.to_numeric(s, errors="coerce").between(MIN_YEAR, MAX_YEAR),
        name="school_year_sane")
    year_checks = [years_ok]
    if folder_year is not None:
        year_checks.append(pa.Check(lambda s: ~s.str.fullmatch(r"\d{4}") | (s == str(folder_year)),
                                    name="school_year_matches_folder"))
    code_checks = [pa.Check(lambda s: s.str.fullmatch(r"\d{8}"), name="org_code_8_digits")]
    if known_schools is not None:
        known = {str(k) for k in known_schools}
        code_checks.append(pa.Check(lambda s: ~s.str.fullmatch(r"\d{8}") | s.isin(known), name="org_code_in_roster"))
    columns = {
        "org_code": pa.Column(str, code_checks),
        "school_year": pa.Column(str, year_checks),
        "rater_id": pa.Column(str, pa.Check(lambda s: s.str.len() >= 1, name="rater_id_present")),
        "rater_role": pa.Column(str, pa.Check(lambda s: s.str.len() <= 100, name="rater_role_length"),
                                nullable=True),
        "item_id": pa.Column(str, pa.Check(lambda s: s.isin(ids), name="item_id_in_catalog")),
        "rating": pa.Column(str, pa.Check(lambda s: s.isin(_RATING_TEXT), name="rating_1_to_4_or_skip")),
    }
    return pa.DataFrameSchema(columns, unique=["org_code", "school_year", "rater_id", "item_id"],
                              report_duplicates="exclude_first", name="readiness_responses")


# ---- validation -----------------------------------------------------------------------------------------------
def _issue(path: Path, rec: dict, column: str, check: str, value: str | None, *, subject: str = "") -> dict:
    """One quarantine record for the cell of ``column`` in the row ``rec`` came from."""
    known = WORDS.checks.get(check)  # what the check means and how to fix it
    problem, fix = (known.problem, known.fix) if known else (f"failed check {check}", "correct the value")
    shown = repr(value)
    if column in rec and rec[column] not in (None, value):
        shown += f" (read as {rec[column]!r})"
    sheet, row, letter = rec["source_sheet"], rec[f"_row_{column}"], rec[f"_col_{column}"]
    if sheet is not None:
        where = f"sheet {sheet!r}, cell {letter}{row}"
    elif row is not None:
        where = f"line {row}, column {column}"
    else:
        where = "file"
    if not subject and (column == "rating" or check == "one_rating_per_rater_item"):
        subject = f"item {rec['_raw_item_id']}, rater {rec['_raw_rater_id']}"
    message = (f"{where}: {problem.format(value=value, min_year=MIN_YEAR, max_year=MAX_YEAR)}"
               + (f" ({subject})" if subject else "") + ("" if "{value}" in problem else f", value {shown}")
               + f". How to fix: {fix}")
    return {"source_file": str(path), "source_sheet": sheet, "source_row": row, "column_name": column,
            "value_text": value, "check_name": check, "message": message}


def _missing_items(path: Path, rows: _Rows, skip_rows: set[int]) -> list[dict]:
    """Completeness on the grid rater group x catalog item (is the item there: rated, skipped, or with a bad
    value?); one ``item_present`` record per gap.

    A gap in a workbook is located to the item table's header row (the row itself is gone); in a CSV it has no
    line (source_row NULL) and the message names the school, year and rater. Groups whose school, year or rater
    failed a check (``skip_rows``) are not checked: their problem is already reported once, at its cell.
    """
    group_cols = ["source_sheet", "org_code", "school_year", "rater_id"]
    keyed = rows.frame[[*group_cols, "item_id"]].astype(object).fillna("")
    keyed["_first"] = range(len(keyed))
    keyed["_bad_key"] = keyed["_first"].isin(skip_rows)
    groups = keyed.groupby(group_cols, sort=False).agg(_first=("_first", "first"), _bad_key=("_bad_key", "any"))
    groups = groups[~groups["_bad_key"]].drop(columns="_bad_key").reset_index()
    grid = groups.merge(pd.DataFrame({"item_id": catalog.item_ids()}), how="cross")
    present = keyed[[*group_cols, "item_id"]].drop_duplicates().assign(is_present=True)
    grid = grid.merge(present, on=[*group_cols, "item_id"], how="left")
    issues = []
    for g in grid[grid["is_present"].isna()].to_dict("records"):
        rec = dict(rows.record(int(g["_first"])))
        rec["_row_item_id"] = rec["_group_row"]  # workbook: the table header row; CSV: None
        subject = f"school {g['org_code']}, year {g['school_year']}, rater {g['rater_id']}"
        issues.append(_issue(path, rec, "item_id", "item_present", str(g["item_id"]), subject=subject))
    return issues


def _first_sheet(frame: pd.DataFrame) -> pd.Series:
    """Per row: the sheet ('' in a CSV) of the first row with its school, year, rater and item."""
    key = ["org_code", "school_year", "rater_id", "item_id"]
    keyed = frame[key].astype(object).fillna("").assign(_sheet=frame["source_sheet"].fillna(""))
    return keyed.groupby(key, sort=False, dropna=False)["_sheet"].transform("first")


def _validate(path: Path, rows: _Rows, known_schools: set[str] | None) -> tuple[pd.DataFrame, pd.DataFrame]:
    frame = rows.frame
    schema = responses_schema(known_schools, folder_year(path))
    try:
        schema.validate(frame[FIELDS], lazy=True)
        failures = pd.DataFrame(columns=["index", "column", "check"])
    except pandera.errors.SchemaErrors as err:
        failures = err.failure_cases
    issues: list[dict] = []
    bad: set[int] = set()
    bad_key: set[int] = set()
    has_dupes = (failures["check"] == "multiple_fields_uniqueness").any()
    first_sheet = _first_sheet(frame) if has_dupes else None
    for f in failures.itertuples(index=False):
        check, column = str(f.check), str(f.column)
        if check.startswith("dtype("):
            continue  # every column is text; the value checks report what is wrong
        if pd.isna(f.index):
            raise InputError(f"the responses cannot be validated: {check} in column {column}", file=str(path))
        if check == "not_nullable":
            check = f"{column}_present"  # e.g. rating_present (config/readiness_words.yaml)
        i = int(f.index)
        rec = rows.record(i)
        if check == "multiple_fields_uniqueness":
            if rec["source_sheet"] is not None and rec["source_sheet"] != first_sheet.iloc[i]:
                check, column = "rater_unique_in_workbook", "rater_id"  # reported once, at the rater name
            else:
                check, column = "one_rating_per_rater_item", "rating"
        bad.add(i)
        if column in ("org_code", "school_year", "rater_id"):
            bad_key.add(i)
        issues.append(_issue(path, rec, column, check, rec[f"_raw_{column}"]))
    issues.extend(_missing_items(path, rows, bad_key))

    quarantine = pd.DataFrame(issues, columns=QUARANTINE_COLUMNS)
    # a header cell (school code, year, rater) fails once per item row: keep one record per cell and problem
    quarantine = quarantine.drop_duplicates().reset_index(drop=True)
    quarantine["source_row"] = quarantine["source_row"].astype("Int64")
    for col in ("source_file", "source_sheet", "column_name", "value_text", "check_name", "message"):
        quarantine[col] = quarantine[col].astype("str")  # VARCHAR in DuckDB even when every value is missing

    good = frame.drop(index=sorted(bad))
    skipped = good["rating"] == catalog.SKIP
    data = pd.DataFrame({
        "source_file": str(path),
        "source_sheet": good["source_sheet"].astype("str"),
        "source_row": good["source_row"].astype("int64"),
        "org_code": good["org_code"].astype(str),
        "school_year": good["school_year"].astype("int64"),
        "rater_id": good["rater_id"].astype(str),
        "rater_role": good["rater_role"].astype("str"),
        "item_id": good["item_id"].astype(str),
        "rating": pd.to_numeric(good["rating"].where(~skipped), errors="coerce").astype("Int64"),
        "is_skipped": skipped.astype(bool),
    }, columns=DATA_COLUMNS).reset_index(drop=True)
    return data, quarantine


def read_responses(path: Path, known_schools: set[str] | None = None) -> ReadinessRead:
    """Read one completed workbook (.xlsx, one sheet per rater) or long CSV; see the module docstring."""
    path = Path(path)
    if not path.exists():
        raise InputError("no such file", file=str(path), fix="check the path")
    suffix = path.suffix.lower()
    notes: set[str] = set()
    if suffix in (".xlsx", ".xlsm"):
        rows = _read_workbook(path, notes)
    elif suffix == ".csv":
        rows = _read_csv(path, notes)
    else:
        raise InputError(
            f"readiness responses must be .xlsx or .csv, not {suffix or 'a file without extension'}",
            file=str(path), fix="save the workbook as .xlsx, or export the long table as CSV")
    data, quarantine = _validate(path, rows, known_schools)
    rows_in = len(rows.frame)
    out_notes = sorted(notes)
    if len(quarantine):
        out_notes.append(f"{len(quarantine)} problem(s) quarantined; {len(data)} of {rows_in} ratings kept")
    return ReadinessRead(path, rows_in, data, quarantine, out_notes)


def is_readiness_file(path: Path) -> bool:
    """True for files the readiness reader handles: .xlsx/.csv under a folder named ``readiness`` (any depth),
    workbooks with a sheet named 'Readiness...', and CSVs whose header has rater_id, item_id and rating."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in (".xlsx", ".xlsm", ".csv"):
        return False
    if any(part.lower() == "readiness" for part in path.parent.parts):
        return True
    try:
        if suffix == ".csv":
            with open(path, encoding="utf-8-sig", errors="replace") as fh:
                header = {h.strip().lower() for h in next(csv.reader([fh.readline()]), [])}
            return {"rater_id", "item_id", "rating"} <= header
        with closing(load_workbook(path, read_only=True)) as wb:
            return any(is_rater_sheet(t) for t in wb.sheetnames)
    except Exception:  # unreadable files are left to the other readers to report
        return False

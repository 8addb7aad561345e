"""Reading the rows of completed readiness self-assessments, before any check: the rater sheets of filled-in
template workbooks and long CSVs, each cell normalized (school codes, spring years, ratings) and located (sheet,
row, column) for the quarantine messages of :mod:`.reader`."""

from __future__ import annotations

import csv
import io
import re
import zipfile
from collections.abc import Callable
from contextlib import closing
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path

import numpy as np
import pandas as pd
from openpyxl import load_workbook
from openpyxl.utils import get_column_letter
from openpyxl.utils.exceptions import InvalidFileException

from ...errors import InputError
from ..normalize import spring_year
from ..student import _read_text, parse_csv
from . import catalog, template

CSV_COLUMNS = ["org_code", "school_year", "rater_id", "rater_role", "item_id", "rating"]
FIELDS = ["org_code", "school_year", "rater_id", "rater_role", "item_id", "rating"]
_RATING_TEXT = ["1", "2", "3", "4", catalog.SKIP]
_FIELD_KEY = re.compile(r"\((\w+)\)\s*$")


@dataclass
class _Rows:
    """The item rows read: a frame for the checks (``source_sheet``, ``source_row`` and the normalized ``FIELDS``,
    null when blank) and ``record(i)``, row i as a dict with the raw text and cell of each field, for the messages."""

    frame: pd.DataFrame
    record: Callable[[int], dict]

    @classmethod
    def from_records(cls, records: list[dict]) -> _Rows:
        frame = pd.DataFrame.from_records(records)
        frame[FIELDS] = frame[FIELDS].astype(object).where(frame[FIELDS].notna(), None)
        return cls(frame, records.__getitem__)

    @classmethod
    def from_columns(cls, columns: dict[str, np.ndarray | range]) -> _Rows:
        """``columns``: each key of a record with its value in every row; a record is built only when asked for."""
        frame = pd.DataFrame({
            "source_sheet": pd.Series(columns["source_sheet"], dtype=object),
            "source_row": columns["source_row"],
            # the text dtype lets pandera check the column's type without looking at every value
            **{key: pd.Series(columns[key], dtype="str") for key in FIELDS}})
        return cls(frame, lambda i: {key: values[i] for key, values in columns.items()})


# ---- normalizing cell values ---------------------------------------------------------------------------------
def _text(value: object) -> str | None:
    """A cell or CSV value as text; None for blank. Whole floats lose their '.0'."""
    if value is None:
        return None
    if isinstance(value, float):
        if pd.isna(value):
            return None
        return str(int(value)) if value.is_integer() else repr(value)
    if isinstance(value, datetime | date):
        return value.isoformat()
    text = str(value).strip()
    return text or None


def _norm_org_code(raw: str | None, notes: set[str]) -> str | None:
    if raw is None:
        return None
    code = raw.strip()
    if re.fullmatch(r"\d{5,7}", code):
        notes.add(f"school code {code} read as {code.zfill(8)} (leading zeros restored)")
        code = code.zfill(8)
    return code


def _norm_year(raw: str | None) -> str | None:
    """'2024-25', '2024-2025', '2024.0' -> '2025' / '2024' (config/sis_spellings.yaml); other texts as they are."""
    return None if raw is None else spring_year(raw.strip()) or raw.strip()


def _norm_rating(raw: str | None) -> str | None:
    if raw is None:
        return None
    text = raw.strip().lower()
    if re.fullmatch(r"[1-4](\.0+)?", text):
        return text[0]
    return text


# ---- workbooks ------------------------------------------------------------------------------------------------
def _open_workbook(path: Path):
    try:
        return load_workbook(path, data_only=True)
    except (zipfile.BadZipFile, InvalidFileException, KeyError, OSError, ValueError) as exc:
        raise InputError(
            f"the workbook cannot be opened ({type(exc).__name__}): it is corrupt or not an .xlsx file",
            file=str(path),
            fix="save it again from Excel as 'Excel Workbook (.xlsx)', or start from a fresh template "
            "(equity-outcomes readiness-template)") from None


def _sheet_records(path: Path, ws, notes: set[str]) -> list[dict]:
    """One record per item row of a rater sheet: raw texts, normalized values and the cell of each field."""
    header_row = None
    for r in range(1, min(ws.max_row, 60) + 1):
        if (_text(ws.cell(r, 1).value) or "").lower() == "item_id":
            header_row = r
            break
    if header_row is None:
        raise InputError(
            f"sheet {ws.title!r} has no item table (no 'item_id' header in column A): it is not the readiness "
            "template", file=str(path),
            fix="copy the ratings into a fresh template (equity-outcomes readiness-template) and do not move its "
            "header row")
    columns: dict[str, int] = {}
    for c in range(1, ws.max_column + 1):
        name = (_text(ws.cell(header_row, c).value) or "").lower()
        if name and name not in columns:
            columns[name] = c
    missing = [c for c in template.REQUIRED_TABLE_COLUMNS if c not in columns]
    if missing:
        raise InputError(
            f"sheet {ws.title!r}: the item table has no {', '.join(missing)} column", file=str(path),
            row=header_row,
            fix="restore the header row of the template: item_id | area | item_text | rating | comment")
    fields: dict[str, tuple[str | None, int]] = {}
    for r in range(1, header_row):
        m = _FIELD_KEY.search(_text(ws.cell(r, template.FIELD_LABEL_COL).value) or "")
        if m:
            fields[m.group(1).lower()] = (_text(ws.cell(r, template.FIELD_VALUE_COL).value), r)
    missing = [k for k in template.REQUIRED_FIELDS if k not in fields]
    if missing:
        raise InputError(
            f"sheet {ws.title!r} has no {' or '.join(missing)} field above the item table", file=str(path),
            column=get_column_letter(template.FIELD_LABEL_COL),
            fix="use the template: the labels 'School code (org_code)' and 'School year (school_year)' in column A "
            "with their values in column C")
    value_letter = get_column_letter(template.FIELD_VALUE_COL)
    item_col, rating_col = columns["item_id"], columns["rating"]
    cells = ((r, _text(ws.cell(r, item_col).value), _text(ws.cell(r, rating_col).value))
             for r in range(header_row + 1, ws.max_row + 1))
    rows = [(r, item, rating) for r, item, rating in cells if item is not None or rating is not None]
    rater_raw, rater_row = fields.get("rater_name", (None, None))
    if rater_raw is None and all(rating is None for _, _, rating in rows):
        notes.add(f"sheet {ws.title!r} has no rater name and no ratings: skipped as unused")
        return []
    if rater_raw is None:
        rater_raw = f"{path.stem}:{ws.title}"
        notes.add(f"sheet {ws.title!r} has no rater name: rater id {rater_raw!r} used")
    role_raw, role_row = fields.get("rater_role", (None, None))
    code_raw, code_row = fields["org_code"]
    year_raw, year_row = fields["school_year"]
    shared = {
        "org_code": (code_raw, _norm_org_code(code_raw, notes), code_row, value_letter),
        "school_year": (year_raw, _norm_year(year_raw), year_row, value_letter),
        "rater_id": (rater_raw, rater_raw, rater_row, value_letter),
        "rater_role": (role_raw, role_raw.lower() if role_raw else None, role_row, value_letter),
    }
    records = []
    for r, item_raw, rating_raw in rows:
        own = {"item_id": (item_raw, item_raw.upper() if item_raw else None, r, get_column_letter(item_col)),
               "rating": (rating_raw, _norm_rating(rating_raw), r, get_column_letter(rating_col))}
        rec = {"source_sheet": ws.title, "source_row": r, "_group_row": header_row}
        for key, (raw, norm, row, letter) in {**shared, **own}.items():
            rec[key], rec[f"_raw_{key}"], rec[f"_row_{key}"], rec[f"_col_{key}"] = norm, raw, row, letter
        records.append(rec)
    return records


def _read_workbook(path: Path, notes: set[str]) -> _Rows:
    with closing(_open_workbook(path)) as wb:
        sheets = [ws for ws in wb.worksheets if template.is_rater_sheet(ws.title)]
        if not sheets:
            raise InputError(
                f"no sheet named 'Readiness...' (sheets: {', '.join(wb.sheetnames)}): this is not the readiness "
                "template", file=str(path),
                fix="fill in the template from `equity-outcomes readiness-template`; each rater's sheet must be "
                "named 'Readiness', 'Readiness 2', ...")
        records = []
        for ws in sheets:
            records.extend(_sheet_records(path, ws, notes))
    if not records:
        raise InputError(
            "the workbook has no ratings in any 'Readiness' sheet", file=str(path),
            fix="fill in the rating column (1-4 or 'skip') and the rater name before sending the file")
    return _Rows.from_records(records)


# ---- CSVs -----------------------------------------------------------------------------------------------------
def _normalized(cells: pd.Series, norm: Callable[[str | None], str | None]) -> tuple[np.ndarray, np.ndarray]:
    """(raw text, normalized value) of each cell; ``_text`` and ``norm`` run once per distinct cell value."""
    codes, uniques = pd.factorize(cells)  # a missing cell has code -1: the None appended below
    raw = [*map(_text, uniques), None]
    return np.array(raw, dtype=object)[codes], np.array([norm(r) for r in raw], dtype=object)[codes]


def _read_csv(path: Path, notes: set[str]) -> _Rows:
    text = _read_text(path, again="export the responses again")
    header = [h.strip().lower() for h in next(csv.reader(io.StringIO(text)))]
    if len(header) == 1 and any(d in header[0] for d in ";\t|"):
        raise InputError("the file has one column: it is not comma-delimited", file=str(path), row=1,
                         value=header[0][:60], fix="export it as comma-separated values (CSV)")
    missing = [c for c in CSV_COLUMNS if c not in header]
    if missing:
        raise InputError(f"missing column(s) {', '.join(missing)}", file=str(path), row=1,
                         fix=f"the header must include: {','.join(CSV_COLUMNS)} (one row per rater and item)")
    dupes = sorted({h for h in header if header.count(h) > 1 and h in CSV_COLUMNS})
    if dupes:
        raise InputError(f"duplicate column(s) {', '.join(dupes)}", file=str(path), row=1, fix="remove the duplicates")
    extra = [h for h in header if h not in CSV_COLUMNS]
    if extra:
        notes.add(f"ignored column(s): {', '.join(extra)}")
    frame = parse_csv(path, text, header, "export the responses with rows")
    norm = {"org_code": lambda v: _norm_org_code(v, notes), "school_year": _norm_year,
            "rater_id": lambda v: v, "rater_role": lambda v: v.lower() if v else v,
            "item_id": lambda v: v.upper() if v else v, "rating": _norm_rating}
    lines = range(2, len(frame) + 2)  # header is line 1
    nothing = np.full(len(frame), None, dtype=object)
    columns: dict[str, np.ndarray | range] = {"source_sheet": nothing, "source_row": lines, "_group_row": nothing}
    for key in CSV_COLUMNS:
        raw, value = _normalized(frame[key], norm[key])
        columns |= {key: value, f"_raw_{key}": raw, f"_row_{key}": lines, f"_col_{key}": nothing}
    return _Rows.from_columns(columns)



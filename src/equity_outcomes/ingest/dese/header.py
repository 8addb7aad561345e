"""Finding the table in an export: title rows, the header row, its columns (blank, repeated) and the data rows.

Owns: raw rows -> :class:`Layout`. A header is the first row with two known column names, else the first row of at
least two mostly-text cells; title and blank rows above it and footnote rows below are recorded, never read as data.
Imports only the catalog.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field

import numpy as np

from ...errors import InputError
from . import catalog
from .catalog import norm

HEADER_SCAN_ROWS = 30
MISSING = object()  # a field absent from a short CSV row (the column did not exist for that row)
_FOOTNOTE = re.compile(r"^(\*|notes?\b|source\b|data (are|is) not\b)", re.IGNORECASE)
_NUMBERISH = re.compile(r"^[\s$%+\-.,\d\u00a0]+$")


def text_of(value: object) -> str:
    """Cell text as read: xlsx numbers as Python prints them, empty cells as ''."""
    if value is None or value is MISSING:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, (dt.datetime, dt.date)):
        return value.isoformat()
    return str(value)


def _filled(row: list[object]) -> list[str]:
    return [t for t in (norm(text_of(v)) for v in row) if t]


@dataclass
class Layout:
    """Where the table is: title lines, headers (repeats renamed '<h> (2)'), data matrix and physical row numbers."""

    header_row: int  # 1-based physical row of the header
    title_lines: list[str]
    headers: list[str]
    normed: list[str]
    mat: np.ndarray  # object, data rows x columns
    phys: np.ndarray  # int64, 1-based physical row of each data row
    missing: np.ndarray | None  # bool, fields absent from short csv rows
    notes: list[str] = field(default_factory=list)


def find_header(rows: list[list[object]]) -> int | None:
    """0-based index of the header row among the first rows, or None: the first row with two known column names
    that are not numbers, else the first with at least two cells, mostly text."""
    scan = rows[:HEADER_SCAN_ROWS]
    for i, row in enumerate(scan):
        if sum(1 for t in _filled(row) if not _NUMBERISH.match(t) and catalog.known_header(t)) >= 2:
            return i
    for i, row in enumerate(scan):
        texts = _filled(row)
        if len(texts) >= 2 and sum(1 for t in texts if not _NUMBERISH.match(t)) >= 0.6 * len(texts):
            return i
    return None


def _title_lines(rows: list[list[object]]) -> list[str]:
    lines = [" ".join(text_of(v).strip() for v in r if text_of(v).strip()) for r in rows]
    return [re.sub(r"[\s\u00a0]+", " ", t).strip() for t in lines if t.strip()]


def _short_row(r: list[object], normed: list[str], ncol: int, is_xlsx: bool) -> list[object]:
    """A row with fewer fields than the header. xlsx: trailing cells are empty. csv: the fields of columns that did
    not exist for that row are absent; by default the trailing ones, unless ``short_rows`` in the YAML names which
    columns a row of that length lacks (e.g. the 2017-18..2020-21 attendance rows lack 'Chronically Absent (20% or
    more)', not the last column)."""
    if is_xlsx:
        return r + [None] * (ncol - len(r))
    for short in catalog.CONFIG.short_rows:
        if short.fields == len(r) and all(a in normed for a in short.absent):
            it = iter(r)
            return [MISSING if h in short.absent else next(it) for h in normed]
    return r + [MISSING] * (ncol - len(r))


def _body(rows: list[list[object]], h: int, header: list[str], is_xlsx: bool, notes: list[str]):
    ncol = len(header)
    header_key = [norm(x) for x in header]
    data: list[list[object]] = []
    phys: list[int] = []
    blank, repeats, footnotes = 0, 0, []
    for i, r in enumerate(rows[h + 1:]):
        texts = [text_of(v).strip() for v in r]
        filled = [t for t in texts if t]
        row_no = h + 2 + i
        if not filled:
            blank += 1
        elif len(filled) == 1 and (_FOOTNOTE.match(filled[0]) or len(filled[0]) > 60):
            footnotes.append((row_no, filled[0]))
        elif texts and norm(texts[0]) == header_key[0] and [norm(t) for t in texts[:ncol]] == header_key:
            repeats += 1
        else:
            data.append(_short_row(list(r), header_key, ncol, is_xlsx) if len(r) < ncol else list(r))
            phys.append(row_no)
    for row_no, text in footnotes:
        notes.append(f"footnote row {row_no} skipped (not data): {text[:120]!r}")
    if blank:
        notes.append(f"{blank} blank row(s) skipped")
    if repeats:
        notes.append(f"{repeats} repeated header row(s) skipped")
    return data, phys


def _columns(header: list[str], mat: np.ndarray, notes: list[str]) -> tuple[list[int], list[str]]:
    """Columns kept and their names: an unnamed or repeated column empty in every row is dropped; an unnamed one
    with data is named 'column N'; a repeat with data is '<header> (2)'."""
    def empty(j: int) -> bool:
        return all(text_of(v).strip() == "" for v in mat[:, j]) if len(mat) else True

    keep, names, seen = [], [], {}
    for j, hd in enumerate(header):
        if not hd:
            if empty(j):
                if any(header[j + 1:]):
                    notes.append(f"dropped column {j + 1} without a header that is empty in every row")
                continue
            hd = f"column {j + 1}"
            notes.append(f"column {j + 1} has data but no header: kept as {hd!r}")
        key = norm(hd)
        seen[key] = seen.get(key, 0) + 1
        if seen[key] > 1:
            if empty(j):
                notes.append(f"dropped duplicate column {hd!r} (column {j + 1}) that is empty in every row")
                continue
            notes.append(f"duplicate header {hd!r} (column {j + 1}) read as '{hd} ({seen[key]})'")
            hd = f"{hd} ({seen[key]})"
        keep.append(j)
        names.append(hd)
    return keep, names


def read_layout(rows: list[list[object]], file: str, is_xlsx: bool) -> Layout:
    """Split raw rows into title, header and data. Refuses a file with no content or no header row."""
    if not any(any(text_of(v).strip() for v in r) for r in rows):
        raise InputError("file has no content (every cell is empty)", file=file, fix="download the export again")
    h = find_header(rows)
    if h is None:
        raise InputError(
            "no header row: none of the first rows has two or more column names (text cells)", file=file,
            fix="use the export as downloaded (keep its header row with the column names)",
        )
    notes: list[str] = []
    header = [re.sub(r"[\s\u00a0]+", " ", text_of(v)).strip() for v in rows[h]]
    width = max([len(header)] + [len(r) for r in rows[h + 1:]])
    extra = [j for j in range(len(header), width) if any(len(r) > j and text_of(r[j]).strip() for r in rows[h + 1:])]
    if extra:
        notes.append(f"{len(extra)} column(s) beyond the header have data: kept as 'column N'")
    header = header + [""] * (width - len(header))
    data, phys = _body(rows, h, header, is_xlsx, notes)
    mat = np.empty((len(data), width), dtype=object)
    for i, r in enumerate(data):
        mat[i, : min(len(r), width)] = r[:width]
    missing = None
    if not is_xlsx and any(v is MISSING for r in data for v in r):
        missing = np.vectorize(lambda v: v is MISSING, otypes=[bool])(mat)
    keep, names = _columns(header, mat, notes)
    return Layout(header_row=h + 1, title_lines=_title_lines(rows[:h]), headers=names,
                  normed=[norm(x) for x in names], mat=mat[:, keep], phys=np.asarray(phys, dtype=np.int64),
                  missing=missing[:, keep] if missing is not None else None, notes=notes)

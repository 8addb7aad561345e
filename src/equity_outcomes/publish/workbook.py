"""A small, fast XLSX writer (and the matching CSV writer) for the scorecard exports.

Why not openpyxl: publishing writes one workbook per school (1,850 statewide) and openpyxl needs ~10 s per million
cells. Here a whole table (every school's rows) is rendered once, column by column, into the cell XML and CSV field
of each distinct value and a code per row; each school's workbook and CSV then join a slice of rows from them, a
chunk of rows at a time (a statewide table is never held as a string per row).

What a workbook holds: one sheet per table, a bold frozen header row with an autofilter, column widths set from
the content, numbers as numbers, text always as inline strings (never formulas). Text that Excel would read as a
formula when typed (starts with = + - @) gets the ``quotePrefix`` style, so even editing the cell keeps it text;
the CSV writer prefixes such text with an apostrophe. CSVs are UTF-8 with a BOM so Excel reads accents correctly.
"""

from __future__ import annotations

import itertools
import re
import time
import zipfile
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cache
from importlib.resources import files
from pathlib import Path
from typing import BinaryIO
from xml.sax.saxutils import escape

import jinja2
import numpy as np
import pandas as pd
from openpyxl.utils import get_column_letter

_ILLEGAL_XML = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
MAX_WIDTH = 60
ZIP_LEVEL = 1
BOM = "\ufeff"
CHUNK_ROWS = 2_000  # rows joined into one string when a sheet or CSV is written
_BODY = "\x00rows\x00"  # where a sheet's rows go in its rendered head and tail (never in escaped text)


def _col_letter(i: int) -> str:  # 0 -> A
    return get_column_letter(i + 1)


def _xml_text(s: str) -> str:
    return escape(_ILLEGAL_XML.sub("", s))


def _num_text(v: float | int) -> str:
    if isinstance(v, float) and v.is_integer() and abs(v) < 1e15:
        return str(int(v))
    return repr(v) if isinstance(v, float) else str(v)


def csv_value(s: str) -> str:
    """Text as one CSV field: formula-escaped, quoted when needed (blanks and numbers: _unique_cell)."""
    if s.startswith(FORMULA_START):
        s = "'" + s
    if any(ch in s for ch in ',"\n\r') or s != s.strip():
        s = '"' + s.replace('"', '""') + '"'
    return s


def _unique_cell(u: object) -> tuple[str, str, int]:
    """(the end of its <c> element after the reference, its CSV field, its display width) for one distinct value."""
    if isinstance(u, bool | np.bool_):
        t = "TRUE" if u else "FALSE"
        return f'" t="inlineStr"><is><t>{t}</t></is></c>', t, len(t)
    if isinstance(u, int | float | np.integer | np.floating):
        x = u.item() if hasattr(u, "item") else u
        t = _num_text(x)
        return f'"><v>{t}</v></c>', t, len(t)
    s = str(u)
    if not s:
        return '"/>', "", 0  # an empty string is an empty cell
    style = ' s="2"' if s.startswith(FORMULA_START) else ""
    space = ' xml:space="preserve"' if s != s.strip() else ""
    return f'" t="inlineStr"{style}><is><t{space}>{_xml_text(s)}</t></is></c>', csv_value(s), len(s)


@dataclass
class Rendered:
    """A table rendered once into its distinct cells: per column the XML and CSV field of each distinct value and
    each row's code into them, plus column widths (module docstring: rows are joined from them when written).

    A row's XML is its row number joined between pieces: ``<row r="`` N ``"><c r="A`` N ``...</c><c r="B`` N ...
    ``</c></row>``; ``joints`` holds, per column, each distinct cell's end followed by the next cell's start."""

    header: list[str]
    codes: list[np.ndarray]  # per column: each row's index into joints / fields
    joints: list[np.ndarray]  # per column: each distinct value's <c> element after its reference, then what follows
    joint_bytes: list[np.ndarray]  # per column: the UTF-8 bytes of each joint
    fields: list[np.ndarray]  # per column: each distinct value's CSV field
    widths: list[int]
    n_rows: int
    wrapped: dict[tuple[int, int, frozenset[int]], str] = field(default_factory=dict, repr=False)  # _wrapped_rows

    @property
    def _opening(self) -> tuple[str, str]:
        return '<row r="', '">' + ('<c r="A' if self.header else "</row>")

    def sheet(self, name: str, start: int = 0, stop: int | None = None, wrap: set[int] | None = None) -> Sheet:
        """Rows ``start:stop`` as one sheet, numbered from 2."""
        return Sheet(name, self, start, self.n_rows if stop is None else stop, wrap or set())

    def xml_chunks(self, start: int, stop: int) -> Iterator[str]:
        """The ``<row>`` elements of rows ``start:stop`` (numbered from 2), ``CHUNK_ROWS`` rows to a string."""
        opening = self._opening
        for a in range(start, stop, CHUNK_ROWS):
            b = min(stop, a + CHUNK_ROWS)
            cols = [joint[c[a:b]].tolist() for joint, c in zip(self.joints, self.codes, strict=True)]
            numbers = map(str, range(a - start + 2, b - start + 2))
            rows = zip(*cols, strict=True) if cols else itertools.repeat((), b - a)
            yield "".join([n.join((*opening, *row)) for n, row in zip(numbers, rows, strict=True)])

    def xml_bytes(self, start: int, stop: int) -> int:
        """The UTF-8 bytes of ``xml_chunks(start, stop)``, counted without joining them."""
        n = stop - start
        cells = sum(int(jb[c[start:stop]].sum()) for jb, c in zip(self.joint_bytes, self.codes, strict=True))
        return n * len("".join(self._opening)) + (len(self.header) + 1) * _digits(2, n + 2) + cells

    def csv_lines(self, start: int = 0, stop: int | None = None) -> Iterator[str]:
        """The CSV file's text: the header line (after the BOM), then rows ``start:stop``, ``CHUNK_ROWS`` to a string."""
        stop = self.n_rows if stop is None else stop
        yield BOM + ",".join(csv_value(str(h)) for h in self.header) + "\n"
        for a in range(start, stop, CHUNK_ROWS):
            b = min(stop, a + CHUNK_ROWS)
            cols = [field[c[a:b]].tolist() for field, c in zip(self.fields, self.codes, strict=True)]
            yield "".join([",".join(t) + "\n" for t in zip(*cols, strict=True)])


def _digits(lo: int, hi: int) -> int:
    """How many digits the numbers lo..hi-1 (lo >= 1) take written out."""
    total, d = 0, 1
    while 10 ** (d - 1) < hi:
        total += d * max(0, min(hi, 10 ** d) - max(lo, 10 ** (d - 1)))
        d += 1
    return total


@dataclass
class Sheet:
    name: str
    table: Rendered
    start: int
    stop: int
    wrap: set[int]

    @property
    def header(self) -> list[str]:
        return self.table.header

    @property
    def widths(self) -> list[int]:
        return self.table.widths

    @property
    def n_rows(self) -> int:
        return self.stop - self.start


def render(df: pd.DataFrame | Sequence[Sequence[object]], header: Sequence[str]) -> Rendered:
    """Render every row of ``df`` (a frame with the ``header`` columns, or a list of rows) into its distinct cells."""
    header = list(header)
    if not isinstance(df, pd.DataFrame):
        df = pd.DataFrame(list(df), columns=header, dtype=object) if len(df) else pd.DataFrame(columns=header)
    codes_by_col, joints, joint_bytes, fields, widths = [], [], [], [], []
    for j, col in enumerate(header):
        values = df[col]
        if isinstance(values.dtype, pd.CategoricalDtype):
            values = values.astype(object)
        if values.dtype.kind not in "iufb":
            values = values.astype(object)
        codes, uniq = pd.factorize(values, use_na_sentinel=True)
        info = [_unique_cell(u) for u in (uniq.tolist() if hasattr(uniq, "tolist") else list(uniq))]
        then = '<c r="' + _col_letter(j + 1) if j + 1 < len(header) else "</row>"
        joint = np.array([i[0] + then for i in info] + ['"/>' + then], dtype=object)  # blank: an empty cell
        codes_by_col.append(np.where(codes < 0, len(info), codes).astype(np.int32))
        joints.append(joint)
        joint_bytes.append(np.array([len(t.encode("utf-8")) for t in joint], dtype=np.int64))
        fields.append(np.array([i[1] for i in info] + [""], dtype=object))
        w = max([len(str(col)) + 2] + [i[2] + 2 for i in info])
        widths.append(min(MAX_WIDTH, max(8, w)))
    return Rendered(header, codes_by_col, joints, joint_bytes, fields, widths, len(df))


def _last_cell(s: Sheet) -> tuple[str, int]:
    """(column letter, row) of the sheet's last cell, the header's if it has no rows."""
    return _col_letter(max(0, len(s.header) - 1)), max(1, s.n_rows + 1)


def _sheet_xml(s: Sheet) -> tuple[Iterable[str], int]:
    """The sheet's XML in pieces (its rows a chunk at a time, never the whole sheet as one string) and its bytes."""
    head, tail = str(_PARTS.sheet(s, _BODY, "".join(map(str, _last_cell(s))), _col_letter, _xml_text)).split(_BODY)
    if not s.wrap:
        chunks = s.table.xml_chunks(s.start, s.stop)
        return itertools.chain([head], chunks, [tail]), _n_bytes([head, tail]) + s.table.xml_bytes(s.start, s.stop)
    body = _wrapped_rows(s)
    return [head, body, tail], _n_bytes([head, body, tail])


def _wrapped_rows(s: Sheet) -> str:
    """The rows of a sheet with wrapped text columns (long notes, a small sheet): style 3 on their string cells.
    Made once per rows and columns of a table (every school's workbook has the same notes sheet)."""
    key = (s.start, s.stop, frozenset(s.wrap))
    if key not in s.table.wrapped:
        body = "".join(s.table.xml_chunks(s.start, s.stop))
        for j in sorted(s.wrap):
            body = re.sub(rf'(<c r="{_col_letter(j)}\d+" t="inlineStr")>', r'\1 s="3">', body)
        s.table.wrapped[key] = body
    return s.table.wrapped[key]


def _n_bytes(pieces: Sequence[str]) -> int:
    return sum(len(p) if p.isascii() else len(p.encode("utf-8")) for p in pieces)


def _write_member(z: zipfile.ZipFile, name: str, pieces: Iterable[str], n_bytes: int) -> None:
    """One zip member written piece by piece; ZIP64 exactly where ``writestr`` of the whole text would use it (by
    ``n_bytes``, counted beforehand: a wrong count is an error, not a different file)."""
    info = zipfile.ZipInfo(name, date_time=time.localtime(time.time())[:6])  # as writestr sets them
    info.compress_type, info._compresslevel, info.file_size = zipfile.ZIP_DEFLATED, ZIP_LEVEL, n_bytes
    written = 0
    with z.open(info, "w") as member:
        for piece in pieces:
            written += member.write(piece.encode("utf-8"))
    if written != n_bytes:
        raise RuntimeError(f"{name}: {written:,} bytes written, {n_bytes:,} counted beforehand (a bug in workbook.py)")


_TEMPLATES = files(__package__) / "templates"
_STYLES = (_TEMPLATES / "xlsx_styles.xml").read_text(encoding="utf-8")  # bold header, quotePrefix, wrapped text
_RELS = (_TEMPLATES / "xlsx_rels.xml").read_text(encoding="utf-8")
_PARTS = jinja2.Environment(loader=jinja2.PackageLoader(__package__, "templates"), autoescape=False,  # _xml_text
                            undefined=jinja2.StrictUndefined).get_template("xlsx_parts.xml").module


@cache
def _fixed_part(macro: str, n_sheets: int) -> str:
    """A workbook part that depends only on its number of sheets, rendered once per number."""
    return str(getattr(_PARTS, macro)(n_sheets))


def _safe_sheet_name(name: str, used: set[str]) -> str:
    base = re.sub(r"[\[\]:*?/\\]", "_", name).strip("'")[:31] or "sheet"
    cand, k = base, 2
    while cand.lower() in used:
        suffix = f"_{k}"
        cand, k = base[: 31 - len(suffix)] + suffix, k + 1
    used.add(cand.lower())
    return cand


def write_xlsx(path: Path, sheets: Sequence[Sheet], *, title: str = "") -> int:
    """Write sheets (``Rendered.sheet``) as one workbook; returns the file size."""
    norm = list(sheets)
    used: set[str] = set()
    names = [_safe_sheet_name(s.name, used) for s in norm]
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    path = Path(path)
    with _create(path) as f, zipfile.ZipFile(f, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=ZIP_LEVEL) as z:
        z.writestr("[Content_Types].xml", _fixed_part("content_types", len(norm)))
        z.writestr("_rels/.rels", _RELS)
        z.writestr("docProps/core.xml", str(_PARTS.core(_xml_text(title), now)))
        sheets_named = list(zip(names, norm, strict=True))
        z.writestr("xl/workbook.xml", str(_PARTS.workbook(sheets_named, _last_cell, _xml_text)))
        z.writestr("xl/_rels/workbook.xml.rels", _fixed_part("workbook_rels", len(norm)))
        z.writestr("xl/styles.xml", _STYLES)
        for i, s in enumerate(norm, start=1):
            _write_member(z, f"xl/worksheets/sheet{i}.xml", *_sheet_xml(s))
    return path.stat().st_size


def _create(path: Path) -> BinaryIO:
    """``path`` opened for writing, its folders made only when missing (a publication writes ~5 files per school
    into folders that exist: a mkdir per file was 2% of writing them)."""
    try:
        return path.open("wb")
    except FileNotFoundError:
        path.parent.mkdir(parents=True, exist_ok=True)
        return path.open("wb")


def write_text(path: Path, text: str | bytes) -> int:
    """Text (UTF-8) or bytes (a printed report card) to ``path``, folders made; returns the bytes written."""
    data = text.encode("utf-8") if isinstance(text, str) else text
    with _create(Path(path)) as f:
        f.write(data)
    return len(data)


def write_lines(path: Path, pieces: Iterable[str]) -> int:
    """Text (UTF-8) to ``path`` a piece at a time (``Rendered.csv_lines``: a chunk of rows each), folders made;
    returns the bytes written."""
    size = 0
    with _create(Path(path)) as f:
        for piece in pieces:
            size += f.write(piece.encode("utf-8"))
    return size


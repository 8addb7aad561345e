"""A small, fast XLSX writer (and the matching CSV writer) for the scorecard exports.

Why not openpyxl: publishing writes one workbook per school (1,850 statewide) and openpyxl needs ~10 s per million
cells. Here a whole table (every school's rows) is rendered once, column by column with numpy object arrays, into
one SpreadsheetML ``<row>`` string and one CSV line per row; each school's workbook and CSV then take a slice.

What a workbook holds: one sheet per table, a bold frozen header row with an autofilter, column widths set from
the content, numbers as numbers, text always as inline strings (never formulas). Text that Excel would read as a
formula when typed (starts with = + - @) gets the ``quotePrefix`` style, so even editing the cell keeps it text;
the CSV writer prefixes such text with an apostrophe. CSVs are UTF-8 with a BOM so Excel reads accents correctly.
"""

from __future__ import annotations

import itertools
import math
import re
import time
import zipfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib.resources import files
from pathlib import Path
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


def _is_blank(v: object) -> bool:
    return v is None or v is pd.NA or v is pd.NaT or (isinstance(v, float) and math.isnan(v))


def _num_text(v: float | int) -> str:
    if isinstance(v, float) and v.is_integer() and abs(v) < 1e15:
        return str(int(v))
    return repr(v) if isinstance(v, float) else str(v)


def csv_value(v: object) -> str:
    """One CSV field: blank, a number, or text (formula-escaped, quoted when needed)."""
    if _is_blank(v):
        return ""
    if isinstance(v, bool | np.bool_):
        return "TRUE" if v else "FALSE"
    if isinstance(v, int | float | np.integer | np.floating):
        x = v.item() if hasattr(v, "item") else v
        return _num_text(x) if not (isinstance(x, float) and not math.isfinite(x)) else ""
    s = str(v)
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
    """A table rendered once: per data row its <row> XML and its CSV line, plus column widths."""

    header: list[str]
    xml: list[str]
    csv: list[str]
    widths: list[int]

    def sheet(self, name: str, start: int = 0, stop: int | None = None, wrap: set[int] | None = None) -> Sheet:
        stop = len(self.xml) if stop is None else stop
        return Sheet(name, self.header, self.xml[start:stop], stop - start, self.widths, wrap or set())

    def csv_lines(self, start: int = 0, stop: int | None = None) -> list[str]:
        """The CSV file's lines: the header (after the BOM), then rows ``start:stop``."""
        stop = len(self.csv) if stop is None else stop
        return [BOM + ",".join(csv_value(h) for h in self.header) + "\n", *self.csv[start:stop]]


@dataclass
class Sheet:
    name: str
    header: list[str]
    rows: list[str]  # each data row's <row> XML
    n_rows: int
    widths: list[int]
    wrap: set[int]


def render(df: pd.DataFrame | Sequence[Sequence[object]], header: Sequence[str],
           group: np.ndarray | None = None) -> Rendered:
    """Render every row of ``df`` (a frame with the ``header`` columns, or a list of rows). ``group``: one code
    per row, rows of a group contiguous; row numbers restart at 2 in each group (one workbook per group)."""
    header = list(header)
    if not isinstance(df, pd.DataFrame):
        df = pd.DataFrame(list(df), columns=header, dtype=object) if len(df) else pd.DataFrame(columns=header)
    n = len(df)
    if group is None or n == 0:
        rownum = np.arange(2, n + 2)
    else:
        g = np.asarray(group)
        starts = np.r_[0, np.flatnonzero(g[1:] != g[:-1]) + 1]
        first = np.repeat(starts, np.diff(np.r_[starts, n]))
        rownum = np.arange(n) - first + 2
    rn = rownum.astype(str).astype(object)
    cells: list[np.ndarray] = []
    fields: list[np.ndarray] = []
    widths = []
    for j, col in enumerate(header):
        values = df[col]
        if isinstance(values.dtype, pd.CategoricalDtype):
            values = values.astype(object)
        if values.dtype.kind not in "iufb":
            values = values.astype(object)
        codes, uniq = pd.factorize(values, use_na_sentinel=True)
        info = [_unique_cell(u) for u in (uniq.tolist() if hasattr(uniq, "tolist") else list(uniq))]
        tail = np.array([i[0] for i in info] + ['"/>'], dtype=object)  # blank: an empty cell
        field = np.array([i[1] for i in info] + [""], dtype=object)
        codes = np.where(codes < 0, len(info), codes)
        cells.append(('<c r="' + _col_letter(j)) + rn + tail[codes])
        fields.append(field[codes])
        w = max([len(str(col)) + 2] + [i[2] + 2 for i in info])
        widths.append(min(MAX_WIDTH, max(8, w)))
    if n:
        opens = ('<row r="' + rn + '">').tolist()
        xml = ["".join(t) + "</row>" for t in zip(opens, *[c.tolist() for c in cells], strict=True)]
        csv = [",".join(t) + "\n" for t in zip(*[f.tolist() for f in fields], strict=True)]
    else:
        xml, csv = [], []
    return Rendered(header, xml, csv, widths)


def _last_cell(s: Sheet) -> tuple[str, int]:
    """(column letter, row) of the sheet's last cell, the header's if it has no rows."""
    return _col_letter(max(0, len(s.header) - 1)), max(1, s.n_rows + 1)


def _sheet_xml(s: Sheet) -> tuple[Iterable[str], int]:
    """The sheet's XML in pieces (its rows a chunk at a time, never the whole sheet as one string) and its bytes."""
    head, tail = str(_PARTS.sheet(s, _BODY, "".join(map(str, _last_cell(s))), _col_letter, _xml_text)).split(_BODY)
    chunks = ("".join(s.rows[i:i + CHUNK_ROWS]) for i in range(0, len(s.rows), CHUNK_ROWS))
    if not s.wrap:
        return itertools.chain([head], chunks, [tail]), _n_bytes([head, tail]) + _n_bytes(s.rows)
    body = "".join(chunks)  # wrapped text columns (long notes, a small sheet): style 3 on their string cells
    for j in sorted(s.wrap):
        body = re.sub(rf'(<c r="{_col_letter(j)}\d+" t="inlineStr")>', r'\1 s="3">', body)
    return [head, body, tail], _n_bytes([head, body, tail])


def _n_bytes(pieces: Sequence[str]) -> int:
    return sum(len(p) if p.isascii() else len(p.encode("utf-8")) for p in pieces)


def _write_member(z: zipfile.ZipFile, name: str, pieces: Iterable[str], n_bytes: int) -> None:
    """One zip member written piece by piece; ZIP64 exactly where ``writestr`` of the whole text would use it."""
    info = zipfile.ZipInfo(name, date_time=time.localtime(time.time())[:6])  # as writestr sets them
    info.compress_type, info._compresslevel, info.file_size = zipfile.ZIP_DEFLATED, ZIP_LEVEL, n_bytes
    with z.open(info, "w") as member:
        for piece in pieces:
            member.write(piece.encode("utf-8"))


_TEMPLATES = files(__package__) / "templates"
_STYLES = (_TEMPLATES / "xlsx_styles.xml").read_text(encoding="utf-8")  # bold header, quotePrefix, wrapped text
_RELS = (_TEMPLATES / "xlsx_rels.xml").read_text(encoding="utf-8")
_PARTS = jinja2.Environment(loader=jinja2.PackageLoader(__package__, "templates"), autoescape=False,  # _xml_text
                            undefined=jinja2.StrictUndefined).get_template("xlsx_parts.xml").module


def _safe_sheet_name(name: str, used: set[str]) -> str:
    base = re.sub(r"[\[\]:*?/\\]", "_", name).strip("'")[:31] or "sheet"
    cand, k = base, 2
    while cand.lower() in used:
        suffix = f"_{k}"
        cand, k = base[: 31 - len(suffix)] + suffix, k + 1
    used.add(cand.lower())
    return cand


def write_xlsx(path: Path, sheets: Sequence[Sheet | tuple], *, title: str = "",
               wrap: dict[str, set[int]] | None = None) -> int:
    """Write sheets (``Sheet`` or ``(name, header, rows)``) as one workbook; returns the file size."""
    norm: list[Sheet] = []
    for s in sheets:
        if isinstance(s, Sheet):
            norm.append(s)
        else:
            name, header, rows = s
            norm.append(render(rows, header).sheet(name, wrap=(wrap or {}).get(name)))
    used: set[str] = set()
    names = [_safe_sheet_name(s.name, used) for s in norm]
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=ZIP_LEVEL) as z:
        z.writestr("[Content_Types].xml", str(_PARTS.content_types(len(norm))))
        z.writestr("_rels/.rels", _RELS)
        z.writestr("docProps/core.xml", str(_PARTS.core(_xml_text(title), now)))
        sheets_named = list(zip(names, norm, strict=True))
        z.writestr("xl/workbook.xml", str(_PARTS.workbook(sheets_named, _last_cell, _xml_text)))
        z.writestr("xl/_rels/workbook.xml.rels", str(_PARTS.workbook_rels(len(norm))))
        z.writestr("xl/styles.xml", _STYLES)
        for i, s in enumerate(norm, start=1):
            _write_member(z, f"xl/worksheets/sheet{i}.xml", *_sheet_xml(s))
    return path.stat().st_size


def write_text(path: Path, text: str | bytes) -> int:
    """Text (UTF-8) or bytes (a printed report card) to ``path``, folders made; returns the bytes written."""
    data = text.encode("utf-8") if isinstance(text, str) else text
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return len(data)


def write_lines(path: Path, lines: Sequence[str]) -> int:
    """Text lines (UTF-8) to ``path`` a chunk at a time, folders made; returns the bytes written."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    size = 0
    with path.open("wb") as f:
        for i in range(0, len(lines), CHUNK_ROWS):
            size += f.write("".join(lines[i:i + CHUNK_ROWS]).encode("utf-8"))
    return size


def write_csv(path: Path, header: Sequence[str], rows: Sequence[Sequence[object]] | pd.DataFrame) -> int:
    return write_lines(path, render(rows, header).csv_lines())

"""Raw reading of DESE exports: .xlsx (openpyxl) and .csv (encoding and delimiter sniffed) into rows of cells.

Owns: bytes -> list of rows. Refuses only what cannot be read (empty, corrupt, not a table). Imports nothing of the
project but errors.
"""

from __future__ import annotations

import csv
import io
import warnings
import zipfile
from contextlib import closing
from pathlib import Path

from ...errors import InputError
from .html import read_html_table


def _first_filled_sheet(sheets: list) -> tuple[object, list[list[object]]]:
    """The first sheet with any cell filled (an export sometimes opens on an empty 'Sheet1')."""
    first_rows: list[list[object]] | None = None
    for ws in sheets:
        rows = [list(r) for r in ws.iter_rows(values_only=True)]
        if first_rows is None:
            first_rows = rows
        if any(any(v not in (None, "") for v in r) for r in rows):
            return ws, rows
    return sheets[0], first_rows or []


def _is_encrypted_ooxml(path: Path) -> bool:
    """An encrypted .xlsx is an OLE2 container with an 'EncryptionInfo' stream (an old .xls has none)."""
    with open(path, "rb") as fh:
        return "EncryptionInfo".encode("utf-16-le") in fh.read(4 << 20)


def _read_xlsx(path: Path) -> tuple[list[list[object]], str, list[str]]:
    import openpyxl  # local: keeps `import equity_outcomes.ingest.dese` light

    file = str(path)
    with open(path, "rb") as fh:
        head = fh.read(8)
    if not head:
        raise InputError("file is empty (0 bytes)", file=file, fix="download the export again")
    if not head.startswith(b"PK"):
        if head.startswith(b"\xd0\xcf\x11\xe0") and _is_encrypted_ooxml(path):
            what, fix = ("a password-protected (encrypted) workbook",
                         "open it in Excel, remove the password (File > Info > Protect Workbook) and save it again")
        elif head.startswith(b"\xd0\xcf\x11\xe0"):
            what, fix = "an old Excel 97-2003 (.xls) workbook", "open it in Excel and save it as .xlsx"
        else:
            what, fix = "text or another non-Excel format", "if it is a CSV export, rename it to .csv"
        raise InputError(f"not an Excel workbook: expected a zip archive (bytes 'PK'), found {what} "
                         f"(first bytes {head!r})", file=file, fix=fix)
    notes: list[str] = []
    try:
        with warnings.catch_warnings():  # "Unknown extension is not supported": Excel extensions we do not read
            warnings.filterwarnings("ignore", category=UserWarning, module="openpyxl")
            wb = openpyxl.load_workbook(path, read_only=True, data_only=True)
        with closing(wb):
            sheets = wb.worksheets
            if not sheets:
                raise InputError("workbook has no sheets", file=file, fix="download the export again")
            ws, rows = _first_filled_sheet(sheets)
            sheet = ws.title
            for other in sheets:
                if other is not ws and any(any(v not in (None, "") for v in r)
                                           for r in other.iter_rows(values_only=True)):
                    notes.append(f"sheet {other.title!r} was not read (sheet {sheet!r} is the export)")
    except InputError:
        raise
    except (zipfile.BadZipFile, EOFError, KeyError, OSError, ValueError, TypeError, IndexError) as exc:
        raise InputError(
            f"truncated or corrupt .xlsx file: expected a complete Excel workbook, the zip archive could not be read "
            f"({type(exc).__name__}: {exc})",
            file=file, fix="download or copy the file again; open it in Excel to check it is complete",
        ) from exc
    except Exception as exc:  # openpyxl raises assorted errors on damaged workbooks
        raise InputError(f"unreadable .xlsx file ({type(exc).__name__}: {exc})", file=file,
                         fix="open it in Excel and save it again as .xlsx") from exc
    return rows, sheet, notes


def _decode(raw: bytes, file: str) -> tuple[str, list[str]]:
    if not raw.strip():
        raise InputError("file is empty", file=file, fix="download the export again")
    if raw.startswith(b"PK\x03\x04"):
        raise InputError("expected CSV text, found a zip archive (an .xlsx workbook named .csv?)", file=file,
                         fix="rename it to .xlsx")
    if raw.startswith((b"\xff\xfe", b"\xfe\xff")):
        try:
            return raw.decode("utf-16"), ["decoded as UTF-16 (Excel 'Unicode text')"]
        except UnicodeDecodeError as exc:
            raise InputError(f"UTF-16 text with invalid bytes at offset {exc.start}", file=file,
                             fix="save the file as 'CSV UTF-8 (comma delimited)'") from exc
    if b"\x00" in raw[:4096]:
        raise InputError(
            "wrong text encoding: NUL bytes without a UTF-16 byte-order mark (binary data, or UTF-16 without BOM)",
            file=file, fix="save the file as 'CSV UTF-8 (comma delimited)'",
        )
    try:
        return raw.decode("utf-8-sig"), []
    except UnicodeDecodeError:
        pass
    try:
        return raw.decode("cp1252"), ["decoded as Windows-1252 (not valid UTF-8)"]
    except UnicodeDecodeError:
        return raw.decode("latin-1"), ["decoded as Latin-1 (not valid UTF-8 or Windows-1252)"]


def _sniff_delimiter(text: str, file: str) -> str:
    """The delimiter that splits the first lines into the most rows of one width (>= 2 fields): a ';' file with
    decimal commas splits on ',' into ragged rows, so ';' wins."""
    lines = [ln for ln in text.splitlines()[:30] if ln.strip()]
    best, best_score = ",", (0, 0)
    for d in (",", ";", "\t", "|"):
        widths = [len(r) for r in csv.reader(lines, delimiter=d)]
        wide = [w for w in widths if w >= 2]
        if not wide:
            continue
        mode = max(set(wide), key=lambda w: (wide.count(w), w))
        score = (wide.count(mode), mode)
        if score > best_score:
            best, best_score = d, score
    if best_score[1] <= 1:
        raise InputError(
            "wrong delimiter: the CSV parses into one column (expected ',' ';' tab or '|' separated fields)",
            file=file, row=1, value=lines[0][:80] if lines else "",
            fix="save it as comma- or semicolon-delimited CSV",
        )
    return best


def _read_csv(path: Path) -> tuple[list[list[object]], str, list[str]]:
    file = str(path)
    text, notes = _decode(Path(path).read_bytes(), file)
    delim = _sniff_delimiter(text, file)
    if delim != ",":
        notes.append(f"delimiter {delim!r}")
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delim)
    rows: list[list[object]] = []
    try:
        for row in reader:
            rows.append(row)
    except csv.Error as exc:
        raise InputError(f"malformed CSV ({exc})", file=file, row=len(rows) + 1,
                         fix="check quoting on that line; save the file again from Excel") from exc
    return rows, "", notes


def _is_html(path: Path) -> bool:
    with open(path, "rb") as fh:
        head = fh.read(512).lstrip(b"\xef\xbb\xbf\r\n\t ").lower()
    return head.startswith((b"<!doctype html", b"<html", b"<table", b"<?xml"))


def read_raw(path: Path) -> tuple[list[list[object]], str, list[str]]:
    """Rows of cells, the sheet name ('' for csv and html) and notes. Spreadsheet names (.xlsx, .xls) are read by
    their content: a workbook, or an HTML page (older profiles exports are HTML tables named .xls)."""
    suffix = Path(path).suffix.lower()
    if not Path(path).is_file():
        raise InputError("no such file", file=str(path), fix="check the path")
    if suffix in (".xlsx", ".xls") and _is_html(path):
        rows, notes = read_html_table(Path(path).read_bytes(), str(path))
        return rows, "", notes
    if suffix in (".xlsx", ".xls"):
        return _read_xlsx(Path(path))
    if suffix == ".csv":
        return _read_csv(Path(path))
    raise InputError(f"unsupported file type {suffix!r}: expected .xlsx, .xls (HTML export) or .csv", file=str(path),
                     fix="export the report from DESE profiles as Excel (.xlsx) or save it as CSV")

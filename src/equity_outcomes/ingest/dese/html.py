"""Older profiles "Export to Excel" files: an HTML page saved with an .xls name, holding the report title in
``<title>`` and the data in a ``<table>`` grid.

Owns: HTML bytes -> rows (the title first, then the largest table's rows). Written on the standard library's
``html.parser`` because pandas.read_html needs lxml or BeautifulSoup (not dependencies here) and these pages are
plain one-level grids. Imports nothing of the project but errors.
"""

from __future__ import annotations

from html.parser import HTMLParser

from ...errors import InputError


class _Tables(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.title: list[str] = []
        self.tables: list[list[list[str]]] = []
        self._open: list[list[list[str]]] = []  # nested tables being read
        self._cell: list[str] | None = None
        self._colspan = 1
        self._in_title = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "title":
            self._in_title = True
        elif tag == "table":
            self._open.append([])
        elif tag == "tr" and self._open:
            self._open[-1].append([])
        elif tag in ("td", "th") and self._open and self._open[-1]:
            self._cell = []
            span = dict(attrs).get("colspan") or "1"
            self._colspan = int(span) if span.isdigit() else 1
        elif tag == "br" and self._cell is not None:
            self._cell.append(" ")

    def handle_endtag(self, tag: str) -> None:
        if tag == "title":
            self._in_title = False
        elif tag in ("td", "th") and self._cell is not None:
            row = self._open[-1][-1]
            row.append("".join(self._cell).strip())
            row.extend([""] * (self._colspan - 1))
            self._cell = None
        elif tag == "table" and self._open:
            self.tables.append([r for r in self._open.pop() if r])

    def handle_data(self, data: str) -> None:
        if self._in_title:
            self.title.append(data)
        elif self._cell is not None:
            self._cell.append(data)


def read_html_table(raw: bytes, file: str) -> tuple[list[list[object]], list[str]]:
    """(rows, notes): the page title as the first row, then the rows of its largest table."""
    text = raw.decode("utf-8-sig", errors="replace")
    parser = _Tables()
    parser.feed(text)
    parser.close()
    if not parser.tables:
        raise InputError("an HTML page without a table (not an export)", file=file,
                         fix="download the report again with the Excel button, or save it as .xlsx")
    table = max(parser.tables, key=len)
    title = " ".join(" ".join(parser.title).split())
    notes = [f"HTML page saved as a spreadsheet: read its largest table ({len(table)} rows)"
             + (f" and its title {title!r}" if title else "")]
    return ([[title]] if title else []) + [list(r) for r in table], notes

"""Read a publication back the way an outsider would: only its files (CSV, XLSX, the data embedded in the HTML).

Cells come from the trend tables (``exports/<org>/trends.csv``, ``exports/network/network_trends.csv``, the same
sheets in every workbook) and the charts' embedded data (``<script type="application/json">`` with its ``meta``);
target rows from ``exports/network/school_results.csv`` and ``network_results.csv``. A year is withheld when its
row's note names it. Trend values are published to 2 decimals (the writer drops trailing zeros: ``36`` is
36.00 +- 0.005).
"""

from __future__ import annotations

import csv
import json
import re
from dataclasses import dataclass, field
from operator import itemgetter
from pathlib import Path

import numpy as np
import pandas as pd

from ..charts import expand

CELL_COLS = ["org_code", "org_level", "school_year", "subgroup", "metric", "subject", "grade", "source"]
FIGURES = ["n", "value", "withheld", "half_step"]  # what a cell shows (or withholds) of itself
COLS = [*CELL_COLS, *FIGURES, "file"]
YEAR = re.compile(r"\b(?:19|20)\d{2}\b")
CHART = re.compile(r'<script type="application/json" id="[^"]+">(.*?)</script>', re.S)


@dataclass
class Publication:
    root: Path
    cells: pd.DataFrame                       # CELL_COLS + n, value, withheld, half_step, file
    other_files: pd.DataFrame                 # the same cells as found in XLSX sheets and chart data
    targets: pd.DataFrame                     # target rows (CSV text as read)
    network_schools: set[str]
    n_network_schools: int | None
    files: list[str] = field(default_factory=list)


TREND_DECIMALS = 2  # exports.trends_frame rounds every value to 2 decimals; the writer drops trailing zeros


def _half_step(text: str) -> float:
    """Half the last published digit: a trend value is exact to 2 decimals even when printed ``36`` or ``36.4``."""
    text = text.strip()
    dot = text.find(".")
    return 0.5 * 10.0 ** -max(len(text) - dot - 1 if dot >= 0 else 0, TREND_DECIMALS)


def _num(text) -> float:
    try:
        return float(str(text).replace(",", "").lstrip("'"))
    except (TypeError, ValueError):
        return np.nan


def read_csv(path: Path) -> list[dict]:
    with open(path, encoding="utf-8-sig", newline="") as fh:
        return list(csv.DictReader(fh))


def _read_rows(path: Path) -> tuple[list[str], list[list[str]]]:
    """A CSV's header and rows as lists (no dict per row)."""
    with open(path, encoding="utf-8-sig", newline="") as fh:
        rows = list(csv.reader(fh))
    return (rows[0], rows[1:]) if rows else ([], [])


def trend_cells(head: list[str], rows: list[list[str]], files: list[str]) -> dict[str, np.ndarray]:
    """The long cells of wide trend tables of one header (value and n per year; withheld years from the note), a
    column each in COLS order; ``files[i]``: the file of ``rows[i]``. Whole columns, not a step per cell (a statewide
    publication holds millions): text is read through its distinct values, cells in the order of their rows, then
    years. A field a row lacks is empty; of two columns of one name the last counts (as csv.DictReader reads them)."""
    at = {h: i for i, h in enumerate(head)}
    width = len(head)
    years = [(y, int(y), at[y], at.get(f"n_{y}")) for y in at if y and y.isdigit()]
    grid = np.array([r if len(r) == width else (r + [""] * (width - len(r)))[:width] for r in rows],
                    dtype=object).reshape(len(rows), width)
    sg = grid[:, at["subgroup"]] if "subgroup" in at else np.full(len(rows), None, dtype=object)
    shown = sg != "state"
    grid, sg, file = grid[shown], sg[shown], np.asarray(files, dtype=object)[shown]

    def column(i: int | None) -> np.ndarray:  # empty where the tables have no such column
        return grid[:, i] if i is not None else np.full(len(grid), "", dtype=object)

    org = _Distinct(grid[:, at["org_code"]]).of(lambda x: str(x).lstrip("'"))
    notes = _Distinct(column(at.get("note")))
    text_cols = {"org_code": org, "org_level": np.where(org == "network", "network", "school").astype(object),
                 "subgroup": sg, "metric": grid[:, at["metric"]], "subject": column(at.get("subject")),
                 "grade": column(at.get("grade")), "source": grid[:, at["source"]]}
    if not years:
        return {c: np.array([], dtype=NUMERIC.get(c, object)) for c in COLS}
    v, n = (_Distinct(np.stack([column(i) for i in idx], axis=1))
            for idx in ([iv for *_, iv, _n in years], [i_n for *_, i_n in years]))  # rows x years
    has_v, has_n = v.of(lambda x: str.strip(x) != "", bool), n.of(lambda x: str.strip(x) != "", bool)
    withheld = np.stack([notes.of(lambda x, y=y: y in YEAR.findall(x), bool) for y, *_ in years], axis=1)
    keep = has_v | has_n | withheld  # flattened row by row: a row's years in order
    cells = {"school_year": np.broadcast_to(np.array([y for _, y, *_ in years], dtype=np.int64), keep.shape)[keep],
             "n": np.where(has_n, n.of(lambda x: _num(x.strip()), np.float64), np.nan)[keep],
             "value": np.where(has_v, v.of(lambda x: _num(x.strip()), np.float64), np.nan)[keep],
             "withheld": (withheld & ~has_v)[keep],
             "half_step": np.where(has_v, v.of(_half_step, np.float64), np.nan)[keep]}
    row = np.broadcast_to(np.arange(len(grid))[:, None], keep.shape)[keep]  # each cell's row
    cells |= {c: _text(a).take(row) for c, a in {**text_cols, "file": file}.items()}  # a row's text, not a cell's
    return {c: cells[c] for c in COLS}


class _Distinct:
    """An array's distinct values (factorized once), to map a function over them rather than over every value."""

    def __init__(self, values: np.ndarray) -> None:
        codes, uniques = pd.factorize(values.ravel(), use_na_sentinel=False)
        self.codes, self.uniques, self.shape = codes.reshape(values.shape), uniques.tolist(), values.shape

    def of(self, fn, dtype=object) -> np.ndarray:
        return np.array([fn(u) for u in self.uniques], dtype=dtype).reshape(-1)[self.codes] if self.codes.size \
            else np.zeros(self.shape, dtype=dtype)


CHUNK_ROWS = 200_000
NUMERIC = {"school_year": np.int64, "n": np.float64, "value": np.float64, "withheld": np.bool_,
           "half_step": np.float64}


def _frame(rows: list[tuple]) -> pd.DataFrame:
    """The cells of every file at once, a column at a time (what ``from_records`` makes of them, without its
    conversion of every field: a text column is made from its few distinct values; none: object columns)."""
    if not rows:
        return pd.DataFrame.from_records(rows, columns=COLS)
    columns = {c: list(map(itemgetter(i), rows)) for i, c in enumerate(COLS)}  # not zip(*rows): a call per row
    return _columns_frame(columns)


def _columns_frame(columns: dict[str, np.ndarray | list]) -> pd.DataFrame:
    return pd.DataFrame({c: np.array(col, dtype=NUMERIC[c]) if c in NUMERIC else
                         col if isinstance(col, pd.api.extensions.ExtensionArray) else _text(col)
                         for c, col in columns.items()})


class _Cells:
    """Cells read a tuple each (chart data) or a trend table at a time (rows of one header, read as whole columns
    every CHUNK_ROWS rows), made into frames in the order read (a statewide publication's millions of tuples are
    never alive at once), the frames joined at the end."""

    def __init__(self) -> None:
        self.rows: list[tuple] = []
        self.head: list[str] | None = None
        self.table: list[list[str]] = []
        self.files: list[str] = []
        self.frames: list[pd.DataFrame] = []

    def add_table(self, head: list[str], rows: list[list[str]], file: str) -> None:
        if self.head != head:
            self._flush_table()
            self.head = head
        self.table += rows
        self.files += [file] * len(rows)
        if len(self.table) >= CHUNK_ROWS:
            self._flush_table()

    def _flush_table(self) -> None:
        if self.head is not None:
            self.frames.append(_columns_frame(trend_cells(self.head, self.table, self.files)))
        self.head, self.table, self.files = None, [], []

    def flush(self, *, last: bool = False) -> None:
        self._flush_table()
        if len(self.rows) >= CHUNK_ROWS or (last and self.rows):
            self.frames.append(_frame(self.rows))
            self.rows = []

    def frame(self) -> pd.DataFrame:
        self.flush(last=True)
        frames = [f for f in self.frames if len(f)]  # a table of no cells adds none
        if len(frames) > 1:
            return pd.concat(frames, ignore_index=True)
        return frames[0] if frames else _frame([])


def _text(col: list | np.ndarray) -> pd.api.extensions.ExtensionArray | np.ndarray:
    """A text column (None where a table has no such column) from its distinct values."""
    codes, uniques = pd.factorize(np.asarray(col, dtype=object))
    if not len(uniques):
        return np.array(col, dtype=object)
    return pd.Series(np.asarray(uniques, dtype=object)).array.take(codes, allow_fill=True)


def _xlsx_trends(path: Path, out: _Cells) -> None:
    from python_calamine import CalamineWorkbook

    with CalamineWorkbook.from_path(str(path)) as wb:
        for name in wb.sheet_names:
            if name not in ("trends", "network_trends"):
                continue
            rows = wb.get_sheet_by_name(name).to_python(skip_empty_area=False)
            head = [str(h) for h in rows[0]] if rows else []
            text = [["" if v is None else str(v) for v in row[:len(head)]] for row in rows[1:]]
            out.add_table(head, text, f"{path.name}:{name}")


def _chart_cells(page: Path, org_default: str, out: list[tuple]) -> None:
    for raw in CHART.findall(page.read_text(encoding="utf-8")):
        p = json.loads(raw)
        meta = p.get("meta") or {}
        if "metric" not in meta:
            continue
        org = meta.get("org", org_default)
        for row in expand(p.get("data") or {}).get("series", []):
            if row.get("kind") == "state" or "value" not in row:
                continue
            sg = meta.get("subgroup") or (meta.get("groups") or {}).get(row.get("group"))
            grade = meta.get("grade") or (meta.get("grades") or {}).get(row.get("series"))
            if sg is None or grade is None:
                continue
            out.append((org, "network" if org == "network" else "school", int(row["year"]), sg, meta["metric"],
                        meta.get("subject") or "", grade, meta.get("source") or "", _num(row.get("n")),
                        _num(row["value"]), False, 0.005,
                        f"{page.parent.name}/{page.name}" if org != "network" else page.name))


def read_publication(root: Path) -> Publication:
    root = Path(root)
    exports = root / "exports"
    if not exports.is_dir():
        raise FileNotFoundError(f"{root} has no exports/ folder: not a published scorecard folder")
    cells, others, files = _Cells(), _Cells(), []
    for p in sorted(exports.glob("*/trends.csv")) + sorted(exports.glob("network/network_trends.csv")):
        cells.add_table(*_read_rows(p), str(p.relative_to(root)))
        files.append(str(p.relative_to(root)))
    for p in sorted(exports.glob("*.xlsx")):
        _xlsx_trends(p, others)
        files.append(str(p.relative_to(root)))
    for p in sorted((root / "schools").glob("*.html")) + ([root / "index.html"] if (root / "index.html").exists()
                                                            else []):
        _chart_cells(p, "network" if p.name == "index.html" else p.stem, others.rows)
        others.flush()
        files.append(str(p.relative_to(root)))
    targets = []
    for name in ("school_results.csv", "network_results.csv"):
        p = exports / "network" / name
        if p.exists():  # the CSV text as read, every field a string ('' when empty)
            targets.append(pd.read_csv(p, dtype=str, keep_default_na=False, encoding="utf-8-sig"))
            files.append(str(p.relative_to(root)))
    matrix = exports / "network" / "school_matrix.csv"
    # the network schools shown (a publication may show schools the network does not pool: is_network_school 0)
    shown = {r["org_code"].lstrip("'") for r in read_csv(matrix) if r.get("is_network_school") != "0"} \
        if matrix.exists() else set()
    n_net = None
    notes = exports / "network" / "notes.csv"
    if notes.exists():
        for r in read_csv(notes):
            if r.get("item") == "network_schools":
                n_net = int(_num(r.get("text")))
    return Publication(root=root, cells=cells.frame(), other_files=others.frame(),
                       targets=pd.concat(targets, ignore_index=True) if targets else pd.DataFrame(),
                       network_schools=shown, n_network_schools=n_net, files=files)

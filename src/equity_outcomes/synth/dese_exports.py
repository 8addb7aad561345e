"""DESE-style school profile exports aggregated from the synthetic students, by DESE's rules.

Aggregation is streaming-friendly: :class:`DeseAccumulator` keeps additive per school x student group counts and sums
(never student rows), filled district by district; :func:`write_exports` turns them into ``.xlsx`` files laid out
like profiles.doe.mass.edu exports (title row, header row, data rows, state rows last) plus ``dese/manifest.csv``.

Cell text follows the real exports: counts right-aligned with leading spaces and thousands separators, percentages
0-100 with one decimal (``'  25.6'``), Next-Gen MCAS level percentages as integer numbers, legacy MCAS counts as
numbers, suppressed cells ``''`` (legacy MCAS: ``'N/A'``). All rounding is half-up on the exact fraction.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import zipfile
from collections.abc import Callable
from pathlib import Path
from xml.sax.saxutils import escape

import numpy as np
from openpyxl import Workbook
from openpyxl.styles import Alignment
from openpyxl.utils import get_column_letter
from openpyxl.writer.excel import ExcelWriter

from ..catalog import Strict, Text, Word, load_yaml
from ..paths import config_dir
from .effects import accumulate, sgp_median
from .network import Network
from .students import GROUPS, SUBJECTS

STATE_CODE = "00000000"
MANIFEST_COLUMNS = ["path", "report", "school_year", "org_level", "student_group", "grade", "period", "note"]


class _Report(Strict):
    title: str  # kept as written: some of DESE's titles and sheet names end in a space
    header: tuple[Text, ...]
    sheet: str
    period: str = ""
    note: str = ""


class Layouts(Strict):
    """config/synth_dese_exports.yaml: the reports' titles, headers and sheets; the student groups' labels."""

    groups: dict[Word, Text]
    income_2015_2021: Text
    populations: dict[Word, Text]
    legacy_subjects: dict[Word, Text]
    reports: dict[Word, _Report]


LAYOUTS = load_yaml(Layouts, config_dir() / "synth_dese_exports.yaml", "the synthetic DESE exports' layouts",
                    "restore config/synth_dese_exports.yaml from version control")

# minimum sizes (DESE documented or observed; see docs/synthetic_data.md)
MIN_ATTENDANCE = 6  # group row written only with >= 6 students
MIN_DISCIPLINED_FOR_PCT = 6  # percents '' when Students Disciplined is 0-5
MIN_MCAS = 10  # no row when fewer than 10 students included
MIN_SGP = 20  # SGP '' when fewer than 20 students included in SGP
MIN_MASSCORE = 6
MIN_AP_DETAIL = 10
MIN_COLLEGE_PCT = 15


# ----------------------------------------------------------------------- number formatting (exact, half-up)
def tenths_half_up(num: int, den: int, scale: int = 100) -> int:
    """round(scale * num / den, 1) * 10, rounding half up on the exact fraction (num, den >= 0 integers)."""
    return (20 * scale * int(num) + int(den)) // (2 * int(den))


def int_half_up(num: int, den: int, scale: int = 100) -> int:
    return (2 * scale * int(num) + int(den)) // (2 * int(den))


def fmt_tenths(t: int, width: int) -> str:
    return f"{t // 10}.{t % 10}".rjust(width)


def pct_text(num: int, den: int, width: int = 6) -> str:
    """DESE percentage text: 0-100, one decimal, right-aligned (``'  25.6'``)."""
    return fmt_tenths(tenths_half_up(num, den), width)


def mean_text(total: int, n: int, width: int) -> str:
    return fmt_tenths(tenths_half_up(total, n, scale=1), width)


def count_text(n: int, width: int = 8) -> str:
    return f"{int(n):,}".rjust(width)


def year_label(year: int) -> str:
    return f"{year - 1}-{year % 100:02d}"


def group_label(group: str, year: int) -> str:
    low_income = group == "low_income" and 2015 <= year <= 2021
    return LAYOUTS.income_2015_2021 if low_income else LAYOUTS.groups[group]


# --------------------------------------------------------------------------------------------- accumulation
class DeseAccumulator:
    """Additive per school x group statistics, keyed by (report, year, selection)."""

    def __init__(self, n_schools: int) -> None:
        self.n = n_schools
        self.data: dict[tuple[str, int, str], np.ndarray] = {}

    def add(self, report: str, year: int, sel: str, school: np.ndarray, G: np.ndarray, stats: np.ndarray) -> None:
        """Each row's ``stats`` added to its school's cell of every group ``G`` marks it in (school x group sums)."""
        if len(school) == 0:
            return
        stats = np.asarray(stats, dtype=np.float64)
        ng = G.shape[1]
        key = (report, year, sel)
        if key not in self.data:
            self.data[key] = np.zeros((self.n, ng, stats.shape[1]), np.float64)
        rows, groups = np.nonzero(G)
        accumulate(self.data[key].reshape(self.n * ng, -1), school[rows] * ng + groups, stats[rows])

    def get(self, report: str, year: int, sel: str = "") -> np.ndarray | None:
        arr = self.data.get((report, year, sel))
        return None if arr is None else np.rint(arr).astype(np.int64)


# ----------------------------------------------------------------------- xlsx writing (deterministic bytes)
def _rows_xml(rows: list[list], first_row: int, ncols: int) -> bytes:
    """Data rows as sheet XML, written directly (openpyxl's cell writer is too slow for big networks).

    Text cells are inline strings ('' kept as a real empty string, like DESE's exports), numbers are numbers.
    """
    cols = [get_column_letter(i + 1) for i in range(ncols)]
    out = []
    for k, row in enumerate(rows):
        r = first_row + k
        cells = []
        for c, v in zip(cols, row, strict=True):
            if isinstance(v, (int, float)) and not isinstance(v, bool):
                cells.append(f'<c r="{c}{r}" t="n"><v>{v}</v></c>')
            else:
                t = escape(str(v))
                sp = ' xml:space="preserve"' if t != t.strip() else ""
                cells.append(f'<c r="{c}{r}" t="inlineStr"><is><t{sp}>{t}</t></is></c>')
        out.append(f'<row r="{r}">{"".join(cells)}</row>')
    return "".join(out).encode("utf-8")


def write_xlsx(path: Path, title: str, header: list[str], rows: list[list], year: int, sheet: str) -> None:
    """One-sheet workbook like a profiles export: merged centred title row, centred header row, data rows.

    Bytes are deterministic: fixed document timestamps, fixed ZIP entry times, sorted entries.
    """
    wb = Workbook()
    ws = wb.active
    ws.title = sheet[:31]
    ws.append([title])
    ws.append(header)
    ws.merge_cells(start_row=1, start_column=1, end_row=1, end_column=len(header))
    center = Alignment(horizontal="center")
    ws.cell(1, 1).alignment = center
    for c in range(1, len(header) + 1):
        ws.cell(2, c).alignment = center
    ws.column_dimensions["A"].width = 70.24
    ws.column_dimensions["B"].width = 14.11
    stamp = dt.datetime(year, 6, 30, 0, 0, 0)
    wb.properties.created = stamp
    wb.properties.modified = stamp
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        ExcelWriter(wb, zf).write_data()
    last = get_column_letter(len(header))
    path.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(io.BytesIO(buf.getvalue())) as src, zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as dst:
        for name in sorted(src.namelist()):
            info = zipfile.ZipInfo(name, date_time=(year, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            info.create_system = 3
            info.external_attr = 0o600 << 16
            data = src.read(name)
            if name == "xl/worksheets/sheet1.xml":
                data = data.replace(b"</sheetData>", _rows_xml(rows, 3, len(header)) + b"</sheetData>", 1)
                data = data.replace(f'<dimension ref="A1:{last}2"'.encode(),
                                    f'<dimension ref="A1:{last}{len(rows) + 2}"'.encode(), 1)
            dst.writestr(info, data)


# -------------------------------------------------------------------------------------------------- reports
class _Writer:
    def __init__(self, net: Network, acc: DeseAccumulator, out_dir: Path):
        self.net = net
        self.acc = acc
        self.root = out_dir / "dese"
        self.manifest: list[dict[str, str]] = []
        self.files: list[Path] = []
        # DESE's order by name, the rest of the state last (the network's rows are where they are without it)
        self.order = sorted(range(len(net.schools)), key=lambda i: (
            net.schools[i].dese_only, net.dese_name(net.schools[i]).lower(), net.schools[i].org_code))
        # the state's totals: the network and comparison schools only (the rest of the state is the pool of
        # similar schools; the demo's state figures do not move with its size)
        self.counted = np.array([not s.dese_only for s in net.schools])

    def _emit(self, report: str, year: int, group: str, fname: str, rows: list[list], *, grade: str = "",
              header: tuple[str, ...] | None = None, **words: str) -> None:
        """One file of ``report`` (its layout in config/synth_dese_exports.yaml) and its manifest row."""
        if not rows:  # DESE's export of a group with no reportable school (not even the state) has no file
            return
        layout, path = LAYOUTS.reports[report], self.root / str(year) / fname
        words = {"year": year_label(year), "spring": year, "group": group_label(group, year), **words}
        write_xlsx(path, layout.title.format(**words), header or layout.header, rows, year, layout.sheet)
        self.files.append(path)
        self.manifest.append({
            "path": f"{year}/{fname}", "report": report, "school_year": str(year), "org_level": "school",
            "student_group": group_label(group, year), "grade": grade, "period": layout.period,
            "note": layout.note.format(**words),
        })

    def _rows(self, arr: np.ndarray, gi: int | slice, make: Callable[[np.ndarray], list | None],
              state_name: str) -> list:
        """A row a school (DESE's order), then the state's: ``make`` of group ``gi``'s figures (or a slice's)."""
        return self._subject_rows([arr], gi, lambda v, _subject: make(v), state_name)

    def by_group(self, key: str, year: int) -> None:
        """One file ``<report>_<group>.xlsx`` a student group of accumulator ``key`` (REPORTS)."""
        report, make = REPORTS[key]
        arr = self.acc.get(key, year)
        if arr is None:
            return
        for gi, g in enumerate(GROUPS):
            self._emit(report, year, g, f"{report}_{g}.xlsx", self._rows(arr, gi, make, "State Totals"))

    def _subject_rows(self, subj_arrs: list, gi: int | slice, make: Callable, state_name: str) -> list[list]:
        """One row per school and subject (ELA, MATH, SCI order), then the state rows (DESE's layout)."""
        rows = []
        for i in [*self.order, None]:
            name, code = (state_name, STATE_CODE) if i is None else (
                self.net.dese_name(self.net.schools[i]), self.net.schools[i].org_code)
            for a, subj in zip(subj_arrs, SUBJECTS, strict=False):
                r = None if a is None else make(a[self.counted, gi].sum(axis=0) if i is None else a[i, gi], subj)
                if r is not None:
                    rows.append([name, code, *r])
        return rows

    def mcas(self, year: int) -> None:
        legacy = LAYOUTS.reports["mcas_legacy"].header
        legacy = legacy if year >= 2018 else (*legacy[:-2], "Median SGP", "Included In Median SGP")
        for key, sel, report, fname, make, state, words in (
                ("nextgen_mcas", "03-08", "mcas_nextgen", "nextgen_mcas_03-08", _nextgen_row, "State",
                 {"selection": "ALL (03-08)"}),
                ("nextgen_mcas", "10", "mcas_nextgen", "nextgen_mcas_10", _nextgen_row, "State", {"selection": "10"}),
                ("legacy_mcas", "10", "mcas_legacy", "mcas_legacy_10", _legacy_row, "State Totals", {"header": legacy})):
            subj_arrs = [self.acc.get(key, year, f"{sel}|{j}") for j in range(3)]
            if all(a is None for a in subj_arrs):
                continue
            for gi, g in enumerate(GROUPS):
                self._emit(report, year, g, f"{fname}_{g}.xlsx", self._subject_rows(subj_arrs, gi, make, state),
                           grade=sel, **words)

    # enrollment by grade and selected populations (October enrollment; here every enrollment row)
    def enrollment(self, year: int) -> None:
        grades, groups = self.acc.get("enrollment", year), self.acc.get("discipline", year)
        if grades is None or groups is None:
            return
        self._emit("enrollment_grade", year, "all", "enrollment_grade.xlsx",
                   self._rows(grades, 0, lambda v: None if v.sum() < 1 else [count_text(x) for x in (*v, v.sum())],
                              "State Totals"))
        populations = {**LAYOUTS.populations, "low_income": group_label("low_income", year)}
        header = (*LAYOUTS.reports["selected_populations"].header,
                  *[f"{label} {u}" for label in populations.values() for u in ("#", "%")])
        index = [GROUPS.index(g) for g in populations]

        def make(v):  # v: groups x discipline stats; column 0 = students
            n = int(v[0, 0])
            return None if n < 1 else [x for i in index for x in (count_text(v[i, 0]), pct_text(int(v[i, 0]), n))]

        rows = self._rows(groups, slice(None), make, "State Totals")
        self._emit("selected_populations", year, "all", "selected_populations.xlsx", rows, header=header)


# -- the reports of one file a student group: a school's row from its sums (None: no row)
def _attendance_row(v: np.ndarray) -> list | None:
    n, ab, mem, a10, c10, c20 = (int(x) for x in v)
    if n < MIN_ATTENDANCE:
        return None
    return [fmt_tenths(tenths_half_up(mem - ab, mem), 6), mean_text(ab, n, 6), pct_text(a10, n), pct_text(c10, n),
            pct_text(c20, n)]


def _discipline_row(v: np.ndarray) -> list | None:
    n, disc, iss, oss, exp, alt, emr = (int(x) for x in v)
    if n < 1:
        return None
    pcts = [""] * 5 if disc < MIN_DISCIPLINED_FOR_PCT else [pct_text(x, n) for x in (iss, oss, exp, alt, emr)]
    return [count_text(n), count_text(disc), *pcts]


def _masscore_row(v: np.ndarray) -> list | None:
    n, mc = (int(x) for x in v)
    if n < MIN_MASSCORE:
        return None
    return [count_text(n), count_text(mc), pct_text(mc, n)]


def _ap_row(v: np.ndarray) -> list | None:
    n, *sc = (int(x) for x in v)
    if n < 1:
        return None
    if n < MIN_AP_DETAIL:
        return [count_text(n)] + [""] * 7
    return [count_text(n), *[count_text(x) for x in sc], pct_text(sc[0] + sc[1], n), pct_text(sc[2] + sc[3] + sc[4], n)]


def _college_row(v: np.ndarray) -> list | None:
    n, att = (int(x) for x in v)
    if n < 1:
        return None
    if n < MIN_COLLEGE_PCT:
        return [count_text(n), "", ""]
    return [count_text(n), count_text(att), pct_text(att, n)]


# every report, in the order it is written (the manifest's): a report of one file a student group as accumulator
# key -> (report, row maker); None: the _Writer method of that name
REPORTS = {"attendance": ("attendance", _attendance_row), "discipline": ("discipline", _discipline_row), "mcas": None,
           "masscore": ("masscore", _masscore_row), "ap": ("ap_performance", _ap_row),
           "college": ("college_enrollment", _college_row), "enrollment": None}


def _sgp_text(v: np.ndarray, width: int) -> str:
    """Mean SGP (2018 on); through 2017 (a 99-bin histogram follows the sums) the median, as DESE published."""
    if len(v) == 8:
        return mean_text(int(v[7]), int(v[6]), width)
    return fmt_tenths(int(10 * (sgp_median(v[8:]) + 1)), width)  # the histogram's bin 0 is SGP 1


def _sgp_cells(v: np.ndarray, subj: str, blank: str, count: Callable, width: int) -> list:
    """The SGP and its count: blank for science, the SGP blank under MIN_SGP students."""
    n_sgp = int(v[6])
    if subj == "SCI":
        return [blank, blank]
    return [blank if n_sgp < MIN_SGP else _sgp_text(v, width), count(n_sgp)]


def _nextgen_row(v: np.ndarray, subj: str) -> list | None:
    n, e, m, pm, nm, score = (int(x) for x in v[:6])
    if n < MIN_MCAS:
        return None
    return [subj, *[c for x in (e + m, e, m, pm, nm) for c in (count_text(x, 12), int_half_up(x, n))],
            count_text(n, 12), 100, mean_text(score, n, 10), *_sgp_cells(v, subj, "", lambda k: count_text(k, 12), 14)]


def _legacy_row(v: np.ndarray, subj: str) -> list | None:
    n, a, p, ni, w, cpi = (int(x) for x in v[:6])
    if n < MIN_MCAS:
        return None
    return [LAYOUTS.legacy_subjects[subj], *[c for x in (a + p, a, p, ni, w) for c in (x, int_half_up(x, n))], n,
            mean_text(cpi, n, 6), *_sgp_cells(v, subj, "N/A", int, 6)]


def write_exports(net: Network, acc: DeseAccumulator, out_dir: Path,
                  progress: Callable[[str], None] | None = None) -> list[Path]:
    """Write every DESE-style export and ``dese/manifest.csv``; return the paths written."""
    w = _Writer(net, acc, out_dir)
    for year in net.years:
        for key, one_a_group in REPORTS.items():
            if one_a_group:
                w.by_group(key, year)
            else:
                getattr(w, key)(year)
        if progress:
            progress(f"DESE exports {year}: {sum(1 for m in w.manifest if m['school_year'] == str(year))} files")
    manifest = w.root / "manifest.csv"
    manifest.parent.mkdir(parents=True, exist_ok=True)
    with open(manifest, "w", newline="", encoding="utf-8") as fh:
        wr = csv.DictWriter(fh, fieldnames=MANIFEST_COLUMNS, lineterminator="\n")
        wr.writeheader()
        wr.writerows(w.manifest)
    return [*w.files, manifest]

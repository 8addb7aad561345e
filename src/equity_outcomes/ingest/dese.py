"""Reader for DESE school-profile exports (profiles.doe.mass.edu statereport .xlsx / .csv and third-party copies).

``read_dese_file(path)`` turns one export into a long "cell" frame: one row per value cell, each traceable to its
file, sheet, physical row and header. Report definitions and column maps (header text -> measure id, per report
and per year) are data in ``config/dese_reports.yaml``; what a file does not record (grade selection, student group,
org level, year, period) comes from a manifest CSV (``manifest.csv`` next to the files, or
``config/dese_manifest_shared.csv`` for the shared real exports). Anything structurally wrong, ambiguous or
suspect raises :class:`~equity_outcomes.errors.InputError` naming the file, row, column, value and the fix: the
reader never guesses silently. See ``docs/dese_ingest.md``.
"""

from __future__ import annotations

import csv
import datetime as _dt
import fnmatch
import io
import re
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml

from ..crosswalk import to_subgroup
from ..errors import InputError, UnknownSubgroupError
from ..paths import config_dir, shared_dese_dir

REPORTS_FILE = "dese_reports.yaml"
SHARED_MANIFEST = "dese_manifest_shared.csv"
MANIFEST_NAME = "manifest.csv"
MANIFEST_COLUMNS = ("path", "report", "school_year", "org_level", "student_group", "grade", "period", "note")
ORG_LEVELS = ("school", "district", "state")
STATE_CODE = "00000000"
MIN_YEAR = 1990
HEADER_SCAN_ROWS = 20

#: Columns of ``DeseRead.cells`` and their dtypes ('str' = pandas string dtype; 'object' = str or None).
CELL_COLUMNS: dict[str, str] = {
    "source_file": "str",
    "source_sheet": "str",
    "source_row": "int64",
    "source_column": "str",
    "report": "str",
    "school_year": "int64",
    "org_code": "str",
    "org_name": "str",
    "org_level": "str",
    "subgroup": "str",
    "subgroup_label": "str",
    "subject": "object",
    "grade": "str",
    "period": "object",
    "measure": "str",
    "value_text": "str",
    "value": "float64",
    "is_suppressed": "bool",
    "income_definition": "object",
}

_MISSING = object()  # a field absent from a short CSV row (the column did not exist for that row)
_NUMBER = re.compile(r"^[+-]?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d*)?$|^[+-]?\.\d+$")
_SEGMENT_SPLIT = re.compile(r"\s+-\s+")
_LEVEL_IN_TITLE = re.compile(r"\((School|District|State)\)", re.IGNORECASE)


def _norm(text: object) -> str:
    """Header / label matching key: trimmed, inner whitespace collapsed, case-folded."""
    return re.sub(r"\s+", " ", str(text).strip()).casefold()


def _text(value: object) -> str:
    """Cell text as read: xlsx numbers as Python prints them, empty cells as ''."""
    if value is None or value is _MISSING:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, (_dt.datetime, _dt.date)):
        return value.isoformat()
    return str(value)


# --------------------------------------------------------------------------------------------------------------
# Configuration (config/dese_reports.yaml)
# --------------------------------------------------------------------------------------------------------------


def _year_range(spec: object, where: str) -> tuple[int, int]:
    text = str(spec).strip()
    m = re.fullmatch(r"(\d{4})?\s*(\.\.)?\s*(\d{4})?", text)
    if not m or not (m.group(1) or m.group(3)) or (m.group(2) is None and m.group(3) is not None and m.group(1)):
        raise InputError(f"bad year range {text!r} in {where}", fix="write 'YYYY', '..YYYY', 'YYYY..' or 'YYYY..YYYY'")
    lo, dots, hi = m.group(1), m.group(2), m.group(3)
    if dots is None:
        return int(lo), int(lo)
    return (int(lo) if lo else 0, int(hi) if hi else 9999)


@dataclass(frozen=True)
class ReportSpec:
    """One DESE report: how to recognize it and how its headers map to measure ids."""

    id: str
    label: str
    title: re.Pattern[str] | None
    xlsx_title: bool
    grade: str | None
    student_group: str | None
    period_required: bool
    qualifiers: dict[str, dict[str, str]]
    required_keys: tuple[str, ...]
    roles: dict[str, str]  # normalized header -> key role (global key/extra columns + report keys)
    grade_labels: dict[str, str]
    fixed_org: dict[str, str] | None
    columns: dict[str, str]  # normalized header -> measure (base map)
    raw_columns: tuple[str, ...]  # header texts as written in the YAML (base map), for messages
    overrides: tuple[tuple[int, int, dict[str, str]], ...]
    patterns: tuple[tuple[re.Pattern[str], str], ...]

    def known(self, header: str) -> bool:
        """Is this (normalized) header a value column of this report in some year?"""
        if header in self.columns or any(header in o for _, _, o in self.overrides):
            return True
        return any(p.match(header) for p, _ in self.patterns)

    def measure_for(self, header: str, year: int | None) -> tuple[str | None, int | None]:
        """(measure id, year carried by the header or None) for a normalized header in a given spring year."""
        if year is not None:
            for lo, hi, cols in self.overrides:
                if lo <= year <= hi and header in cols:
                    return cols[header], None
        if header in self.columns:
            return self.columns[header], None
        for pattern, measure in self.patterns:
            m = pattern.match(header)
            if m:
                y = m.groupdict().get("year")
                return measure, int(y) if y else None
        return None, None

    @property
    def measures(self) -> list[str]:
        out = dict.fromkeys(self.columns.values())
        for _, _, cols in self.overrides:
            out.update(dict.fromkeys(cols.values()))
        out.update(dict.fromkeys(m for _, m in self.patterns))
        return list(out)


@dataclass(frozen=True)
class DeseConfig:
    path: Path
    markers: frozenset[str]
    subjects: dict[str, str]
    grade_labels: dict[str, str]
    period_labels: dict[str, str]
    state_names: frozenset[str]
    title_year_patterns: tuple[re.Pattern[str], ...]
    filename_patterns: tuple[tuple[re.Pattern[str], tuple[str, ...]], ...]
    checks_measures: dict[str, dict[str, Any]]
    checks_prefixes: tuple[tuple[str, dict[str, Any]], ...]
    income_definitions: tuple[tuple[int, int, str], ...]
    global_roles: dict[str, str]
    extra_headers: frozenset[str]
    reports: dict[str, ReportSpec]
    all_known: frozenset[str] = field(default_factory=frozenset)
    # (number of fields in a short CSV row, normalized headers absent from such rows): see short_rows in the YAML
    short_rows: tuple[tuple[int, tuple[str, ...]], ...] = ()


_ROLES = {"org_name", "school_code", "district_code", "org_code", "subject", "year", "grade", "group", "info", "none"}


def _role_map(mapping: dict | None, where: str, into: dict[str, str]) -> None:
    for header, role in (mapping or {}).items():
        role = str(role)
        if role not in _ROLES:
            raise InputError(f"unknown key-column role {role!r} for {header!r} in {where}",
                             fix=f"use one of {', '.join(sorted(_ROLES))}")
        key = _norm(header)
        if into.get(key, role) != role:
            raise InputError(f"header {header!r} has two roles in {where}", fix="give it one role")
        into[key] = role


def load_config(path: Path | None = None) -> DeseConfig:
    """Parse ``config/dese_reports.yaml`` (or ``path``) into a :class:`DeseConfig`."""
    path = Path(path) if path else config_dir() / REPORTS_FILE
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise InputError("DESE report definitions not found", file=str(path),
                         fix="restore config/dese_reports.yaml from the repository") from exc
    except yaml.YAMLError as exc:
        raise InputError(f"DESE report definitions are not valid YAML: {exc}", file=str(path),
                         fix="fix the YAML syntax (quote headers that contain ' #', ':' or start with '%')") from exc
    where = str(path)
    global_roles: dict[str, str] = {}
    _role_map(raw.get("key_columns"), where, global_roles)
    extras: dict[str, str] = {}
    _role_map(raw.get("extra_columns"), where, extras)
    for k, v in extras.items():
        if global_roles.get(k, v) != v:
            raise InputError(f"extra column {k!r} conflicts with a key column role in {where}", fix="give it one role")
        global_roles[k] = v
    grade_labels = {_norm(k): str(v) for k, v in (raw.get("grade_labels") or {}).items()}
    reports: dict[str, ReportSpec] = {}
    for rid, r in (raw.get("reports") or {}).items():
        rwhere = f"{where} (report {rid})"
        roles = dict(global_roles)
        _role_map(r.get("keys"), rwhere, roles)
        columns: dict[str, str] = {}
        for header, measure in (r.get("columns") or {}).items():
            if not isinstance(header, str) or not isinstance(measure, str) or not measure:
                raise InputError(f"bad column map entry {header!r}: {measure!r} in {rwhere}",
                                 fix="write 'header text: measure_id' (quote the header)")
            columns[_norm(header)] = measure
        overrides = []
        for o in r.get("column_overrides") or []:
            lo, hi = _year_range(o.get("years"), rwhere)
            overrides.append((lo, hi, {_norm(h): str(m) for h, m in (o.get("columns") or {}).items()}))
        patterns = tuple(
            (re.compile(str(p["regex"]), re.IGNORECASE), str(p["measure"])) for p in r.get("column_patterns") or []
        )
        qualifiers = {_norm(k): {kk: str(vv) for kk, vv in (v or {}).items()} for k, v in (r.get("qualifiers") or {}).items()}
        fixed = r.get("fixed_org")
        reports[rid] = ReportSpec(
            id=rid,
            label=str(r.get("label", rid)),
            title=re.compile(r["title"], re.IGNORECASE) if r.get("title") else None,
            xlsx_title=bool(r.get("xlsx_title", True)),
            grade=str(r["grade"]) if r.get("grade") is not None else None,
            student_group=str(r["student_group"]) if r.get("student_group") else None,
            period_required=bool(r.get("period_required", False)),
            qualifiers=qualifiers,
            required_keys=tuple(r.get("required_keys") or ("org_code", "org_name")),
            roles=roles,
            grade_labels={**grade_labels, **{_norm(k): str(v) for k, v in (r.get("grade_labels") or {}).items()}},
            fixed_org={k: str(v) for k, v in fixed.items()} if fixed else None,
            columns=columns,
            raw_columns=tuple(str(h) for h in (r.get("columns") or {})),
            overrides=tuple(overrides),
            patterns=patterns,
        )
    checks = raw.get("checks") or {}
    filename_patterns = tuple(
        (re.compile(str(p["regex"]), re.IGNORECASE), tuple(p.get("reports") or ()))
        for p in raw.get("filename_patterns") or []
    )
    known = set(global_roles)
    for spec in reports.values():
        known.update(spec.columns)
        known.update(spec.roles)
        for _, _, cols in spec.overrides:
            known.update(cols)
    return DeseConfig(
        path=path,
        markers=frozenset(str(m).strip() for m in raw.get("suppression_markers") or [""]),
        subjects={_norm(k): str(v) for k, v in (raw.get("subjects") or {}).items()},
        grade_labels=grade_labels,
        period_labels={_norm(k): str(v) for k, v in (raw.get("period_labels") or {}).items()},
        state_names=frozenset(_norm(s) for s in raw.get("state_names") or []),
        title_year_patterns=tuple(re.compile(p, re.IGNORECASE) for p in raw.get("title_year_patterns") or []),
        filename_patterns=filename_patterns,
        checks_measures={str(k): dict(v) for k, v in (checks.get("measures") or {}).items()},
        checks_prefixes=tuple((str(k), dict(v)) for k, v in (checks.get("prefixes") or {}).items()),
        income_definitions=tuple(
            (*_year_range(d["years"], where), str(d["value"])) for d in raw.get("income_definitions") or []
        ),
        global_roles=global_roles,
        extra_headers=frozenset(str(h).strip() for h in (raw.get("extra_columns") or {})),
        reports=reports,
        all_known=frozenset(known),
        short_rows=tuple(
            (int(e["fields"]), tuple(_norm(h) for h in e["absent"])) for e in (raw.get("short_rows") or [])
        ),
    )


CONFIG: DeseConfig = load_config()
#: Report definitions from ``config/dese_reports.yaml``, keyed by report id.
REPORTS: dict[str, ReportSpec] = CONFIG.reports


def _known_header(header: str) -> bool:
    if header in CONFIG.all_known:
        return True
    return any(p.match(header) for spec in REPORTS.values() for p, _ in spec.patterns)


# --------------------------------------------------------------------------------------------------------------
# Manifest
# --------------------------------------------------------------------------------------------------------------


def _parse_year(text: str) -> int | None:
    """'2023-24' / '2023-2024' -> 2024 (spring year); '2024' -> 2024; anything else -> None."""
    t = str(text).strip()
    m = re.fullmatch(r"(\d{4})(?:\.0+)?", t)
    if m:
        return int(m.group(1))
    m = re.fullmatch(r"(\d{4})\s*[-/]\s*(\d{2}|\d{4})", t)
    if m:
        first, second = int(m.group(1)), m.group(2)
        spring = first + 1
        if (len(second) == 2 and int(second) != spring % 100) or (len(second) == 4 and int(second) != spring):
            return None
        return spring
    return None


class Manifest:
    """Per-file facts that exports do not record. CSV columns: path (relative to ``base_dir``, fnmatch globs
    allowed), report, school_year, org_level, student_group, grade, period, note (all but path optional)."""

    def __init__(self, path: Path, base_dir: Path, rows: list[tuple[int, dict[str, str]]]) -> None:
        self.path = Path(path)
        self.base_dir = Path(base_dir)
        self.rows = rows
        self.ignored_columns: list[str] = []

    @classmethod
    def load(cls, manifest_csv: Path, base_dir: Path | None = None) -> Manifest:
        """Read a manifest; paths in it are relative to the manifest's folder (or ``base_dir`` if given)."""
        manifest_csv = Path(manifest_csv)
        file = str(manifest_csv)
        try:
            text = manifest_csv.read_bytes().decode("utf-8-sig")
        except FileNotFoundError as exc:
            raise InputError("manifest not found", file=file, fix="check the path") from exc
        except UnicodeDecodeError as exc:
            raise InputError("manifest is not UTF-8 text", file=file, fix="save it as UTF-8 CSV") from exc
        reader = csv.DictReader(io.StringIO(text, newline=""))
        header = [h.strip() for h in reader.fieldnames or []]
        if "path" not in header:
            raise InputError("manifest has no 'path' column", file=file, row=1, value=",".join(header),
                             fix=f"the first line must name the columns: {','.join(MANIFEST_COLUMNS)}")
        ignored = [h for h in header if h not in MANIFEST_COLUMNS]  # reported in each read's notes
        rows: list[tuple[int, dict[str, str]]] = []
        for line_no, raw in enumerate(reader, start=2):
            row = {k.strip(): (v or "").strip() for k, v in raw.items() if k is not None and k.strip() in MANIFEST_COLUMNS}
            if not any(row.values()):
                continue
            if not row.get("path"):
                raise InputError("manifest row has no path", file=file, row=line_no, column="path",
                                 fix="give the data file's path relative to the manifest's folder")
            cls._validate(row, file, line_no)
            rows.append((line_no, row))
        out = cls(manifest_csv, Path(base_dir) if base_dir else manifest_csv.parent, rows)
        out.ignored_columns = ignored
        return out

    @staticmethod
    def _validate(row: dict[str, str], file: str, line_no: int) -> None:
        if row.get("report") and row["report"] not in REPORTS:
            raise InputError("unknown report id in manifest", file=file, row=line_no, column="report",
                             value=row["report"], fix=f"use one of {', '.join(REPORTS)}")
        if row.get("org_level") and row["org_level"] not in ORG_LEVELS:
            raise InputError("unknown org_level in manifest", file=file, row=line_no, column="org_level",
                             value=row["org_level"], fix=f"use one of {', '.join(ORG_LEVELS)}")
        if row.get("school_year") and _parse_year(row["school_year"]) is None:
            raise InputError("school_year in manifest is not a year", file=file, row=line_no, column="school_year",
                             value=row["school_year"], fix="write the spring year (2024) or the school year (2023-24)")

    def _relative(self, path: Path) -> str | None:
        p = Path(path)
        for cand, base in ((p, self.base_dir), (p.resolve(), self.base_dir.resolve())):
            try:
                return cand.relative_to(base).as_posix()
            except ValueError:
                continue
        return None

    def lookup(self, path: Path) -> dict[str, str]:
        """The manifest's non-empty fields for ``path`` ({} if no row matches). Rows matching exactly and by glob
        are merged; two matching rows that disagree on a field are an error."""
        rel = self._relative(path)
        if rel is None:
            return {}
        out: dict[str, str] = {}
        origin: dict[str, int] = {}
        exact = [(n, r) for n, r in self.rows if r["path"] == rel]
        globbed = [(n, r) for n, r in self.rows if r["path"] != rel and fnmatch.fnmatchcase(rel, r["path"])]
        for line_no, row in exact + globbed:
            for k, v in row.items():
                if k == "path" or not v:
                    continue
                if k == "note":
                    out["note"] = f"{out['note']}; {v}" if "note" in out else v
                    continue
                if k in out and out[k] != v:
                    raise InputError(
                        f"manifest rows {origin[k]} and {line_no} both match {rel!r} but disagree on {k} "
                        f"({out[k]!r} vs {v!r})",
                        file=str(self.path), row=line_no, column=k, value=v,
                        fix="make the rows agree or make the glob patterns not overlap",
                    )
                out[k] = v
                origin[k] = line_no
        return out


def _under(path: Path, folder: Path) -> bool:
    try:
        Path(path).resolve().relative_to(folder.resolve())
        return True
    except (ValueError, OSError):
        return False


def _manifest_target(path: Path) -> Path:
    """Where a manifest row for ``path`` belongs (for error messages)."""
    if _under(path, shared_dese_dir()):
        return config_dir() / SHARED_MANIFEST
    return Path(path).parent / MANIFEST_NAME


def find_manifest(path: Path) -> Manifest | None:
    """The manifest that describes ``path``: ``config/dese_manifest_shared.csv`` for files under
    ``shared_dese_dir()``, else the nearest ``manifest.csv`` in the file's folder or its parents."""
    path = Path(path)
    shared = shared_dese_dir()
    if _under(path, shared):
        m = config_dir() / SHARED_MANIFEST
        return Manifest.load(m, base_dir=shared) if m.is_file() else None
    for folder in path.resolve().parents:
        m = folder / MANIFEST_NAME
        if m.is_file():
            return Manifest.load(m)
    return None


# --------------------------------------------------------------------------------------------------------------
# Raw reading
# --------------------------------------------------------------------------------------------------------------


def _is_encrypted_ooxml(path: Path) -> bool:
    """An encrypted .xlsx is an OLE2 container with an 'EncryptionInfo' stream (an old .xls has none)."""
    with open(path, "rb") as fh:
        return "EncryptionInfo".encode("utf-16-le") in fh.read(4 << 20)


def _read_xlsx(path: Path, max_rows: int | None = None) -> tuple[list[list[object]], str, list[str]]:
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
        elif head.lstrip(b"\xef\xbb\xbf\xff\xfe").lstrip()[:1] in (b"<",):
            what, fix = "an HTML/XML page", "download the export again with the Excel button, or save it as .xlsx"
        else:
            what, fix = "text or another non-xlsx format", "if it is a CSV export, rename it to .csv"
        raise InputError(f"not an .xlsx file: expected a zip archive (bytes 'PK'), found {what} (first bytes {head!r})",
                         file=file, fix=fix)
    notes: list[str] = []
    try:
        wb = openpyxl.load_workbook(path, read_only=True, data_only=True)
        try:
            sheets = wb.worksheets
            if not sheets:
                raise InputError("workbook has no sheets", file=file, fix="download the export again")
            ws = sheets[0]
            rows = [list(r) for r in ws.iter_rows(values_only=True, max_row=max_rows)]
            sheet = ws.title
            for other in sheets[1:]:
                if max_rows is None and any(any(v not in (None, "") for v in r) for r in other.iter_rows(values_only=True)):
                    notes.append(f"sheet {other.title!r} was not read (only the first sheet {sheet!r} is the export)")
        finally:
            wb.close()
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
    if raw.startswith((b"\xff\xfe", b"\xfe\xff")) or b"\x00" in raw[:4096]:
        raise InputError(
            "wrong text encoding: expected UTF-8 (with or without BOM) or Windows-1252 text, found UTF-16 or "
            "binary bytes (NUL bytes present)",
            file=file, fix="save the file as 'CSV UTF-8 (comma delimited)'",
        )
    if raw.startswith(b"PK\x03\x04"):
        raise InputError("expected CSV text, found a zip archive (an .xlsx workbook named .csv?)", file=file,
                         fix="rename it to .xlsx")
    try:
        return raw.decode("utf-8-sig"), []
    except UnicodeDecodeError:
        pass
    try:
        return raw.decode("cp1252"), ["decoded as Windows-1252 (not valid UTF-8)"]
    except UnicodeDecodeError as exc:
        raise InputError(
            f"wrong text encoding: not UTF-8, UTF-8 with BOM or Windows-1252 (byte {raw[exc.start:exc.start + 1]!r} "
            f"at offset {exc.start})",
            file=file, fix="save the file as 'CSV UTF-8 (comma delimited)'",
        ) from exc


def _sniff_delimiter(text: str, file: str) -> str:
    lines = [ln for ln in text.splitlines()[:12] if ln.strip()]
    best, width = ",", 0
    for d in (",", ";", "\t", "|"):
        w = max((len(r) for r in csv.reader(lines, delimiter=d)), default=0)
        if w > width:
            best, width = d, w
    if width <= 1:
        raise InputError(
            "wrong delimiter: the CSV parses into one column (expected ',' or ';' separated fields)",
            file=file, row=1, value=lines[0][:80] if lines else "",
            fix="save it as comma- or semicolon-delimited CSV",
        )
    return best


def _read_csv(path: Path, max_rows: int | None = None) -> tuple[list[list[object]], str, list[str]]:
    file = str(path)
    if max_rows is None:
        raw = Path(path).read_bytes()
    else:
        with open(path, "rb") as fh:
            raw = fh.read(1 << 16)
    if max_rows is None or len(raw) < (1 << 16):
        text, notes = _decode(raw, file)
    else:  # sniffing a prefix: a multi-byte character may be cut at the end
        text, notes = _decode(raw[: raw.rfind(b"\n") + 1] or raw, file)
    delim = _sniff_delimiter(text, file)
    if delim != ",":
        notes.append(f"delimiter {delim!r}")
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delim)
    rows: list[list[object]] = []
    try:
        for row in reader:
            rows.append(row)
            if max_rows is not None and len(rows) >= max_rows:
                break
    except csv.Error as exc:
        raise InputError(f"malformed CSV ({exc})", file=file, row=len(rows) + 1,
                         fix="check quoting on that line; save the file again from Excel") from exc
    return rows, "", notes


def _read_raw(path: Path, max_rows: int | None = None) -> tuple[list[list[object]], str, list[str]]:
    suffix = Path(path).suffix.lower()
    if not Path(path).is_file():
        raise InputError("no such file", file=str(path), fix="check the path")
    if suffix == ".xlsx":
        return _read_xlsx(Path(path), max_rows)
    if suffix == ".csv":
        return _read_csv(Path(path), max_rows)
    raise InputError(f"unsupported file type {suffix!r}: expected .xlsx or .csv", file=str(path),
                     fix="export the report from DESE profiles as Excel (.xlsx) or save it as CSV")


# --------------------------------------------------------------------------------------------------------------
# Report detection
# --------------------------------------------------------------------------------------------------------------


def _find_header(rows: list[list[object]]) -> int | None:
    for i, row in enumerate(rows[:HEADER_SCAN_ROWS]):
        hits = sum(1 for v in row if _text(v).strip() and _known_header(_norm(_text(v))))
        if hits >= 2:
            return i
    return None


def _closest(headers: list[str], title_lines: list[str]) -> tuple[ReportSpec, list[str], list[str]]:
    """Closest report to a header set: (report, its headers missing from the file, file headers it does not know)."""
    normed = [_norm(h) for h in headers if h.strip()]
    best: tuple[int, ReportSpec] | None = None
    for spec in REPORTS.values():
        score = sum(1 for h in normed if spec.known(h) or h in spec.roles)
        if spec.title and any(spec.title.search(t) for t in title_lines):
            score += 2
        if best is None or score > best[0]:
            best = (score, spec)
    assert best is not None
    spec = best[1]
    missing = [h for h in spec.raw_columns if _norm(h) not in normed and not h.endswith("(2)")]
    unexpected = [h for h in headers if h.strip() and not (spec.known(_norm(h)) or _norm(h) in spec.roles)]
    return spec, missing, unexpected


def _unrecognized(file: str, headers: list[str], title_lines: list[str], why: str) -> InputError:
    spec, missing, unexpected = _closest(headers, title_lines)
    return InputError(
        f"not a known DESE profile export ({why}); closest report: {spec.id!r} ({spec.label}); "
        f"headers it expects but the file lacks: {missing[:12]}; headers in the file it does not know: {unexpected[:12]}",
        file=file,
        fix=f"check this is a DESE profiles export; if it is a new report or new header, add it to "
            f"{CONFIG.path} (see docs/dese_ingest.md)",
    )


def _detect(file: str, headers: list[str], title_lines: list[str], forced: str | None) -> ReportSpec:
    normed = [_norm(h) for h in headers]
    values = [(h, n) for h, n in zip(headers, normed, strict=True) if n not in CONFIG.global_roles]
    if forced:
        candidates = [REPORTS[forced]]
    else:
        by_title = [s for s in REPORTS.values() if s.title and any(s.title.search(t) for t in title_lines)]
        candidates = by_title or list(REPORTS.values())
    scored = []
    for spec in candidates:
        unknown = [h for h, n in values if not spec.known(n) and n not in spec.roles]
        scored.append((len(unknown), -(len(values) - len(unknown)), spec, unknown))
    scored.sort(key=lambda t: (t[0], t[1]))
    n_unknown, neg_matched, spec, unknown = scored[0]
    matched = -neg_matched
    if matched == 0:
        raise _unrecognized(file, headers, title_lines, "no header matches a known report")
    if unknown:
        identified = forced is not None or len(candidates) < len(REPORTS)
        if identified or matched >= len(unknown):
            raise InputError(
                f"header {unknown[0]!r} is not in the column map of report {spec.id!r}"
                + (f" (other unknown headers: {unknown[1:]})" if len(unknown) > 1 else ""),
                file=file, column=unknown[0],
                fix=f"add it to {CONFIG.path} under reports: {spec.id}: columns: (\"{unknown[0]}: <measure id>\"), "
                    f"or under extra_columns if it is not DESE data",
            )
        raise _unrecognized(file, headers, title_lines, f"{n_unknown} header(s) unknown to every report")
    return spec


# --------------------------------------------------------------------------------------------------------------
# Reading one file
# --------------------------------------------------------------------------------------------------------------


@dataclass
class DeseRead:
    """The cells of one DESE export and what the reader did to get them."""

    path: Path
    report: str
    school_year: int | None  # the year if every cell has the same one; None for multi-year files
    n_rows: int  # data rows read from the file (exact repeats included; title, header, footnote, blank rows not)
    cells: pd.DataFrame
    notes: list[str] = field(default_factory=list)
    sheet: str = ""
    manifest: dict[str, str] = field(default_factory=dict)  # the manifest fields that applied to this file


@dataclass
class _Source:
    """One place that records an attribute: a scalar or one value per data row."""

    where: str
    value: Any  # scalar or np.ndarray (object) of per-row values
    rows: np.ndarray | None = None  # physical row numbers (for per-row values)


def _agree(file: str, what: str, sources: list[_Source], manifest_value: Any, manifest_path: str) -> Any:
    """Combine the places that record ``what``: they must agree with each other and with the manifest.
    Returns a scalar, a per-row array, or None (recorded nowhere)."""
    scalars = [s for s in sources if not isinstance(s.value, np.ndarray) and s.value is not None]
    arrays = [s for s in sources if isinstance(s.value, np.ndarray)]
    for s in scalars[1:]:
        if s.value != scalars[0].value:
            raise InputError(f"{what} disagrees: {scalars[0].where} says {scalars[0].value!r}, {s.where} says {s.value!r}",
                             file=file, fix=f"correct the file or its name so both say the same {what}")
    ref: Any = scalars[0] if scalars else None
    for a in arrays:
        if ref is not None:
            ref_val = ref.value
            bad = np.flatnonzero(a.value != ref_val)
            if len(bad):
                i = bad[0]
                other = ref_val[i] if isinstance(ref_val, np.ndarray) else ref_val
                raise InputError(f"{what} disagrees: {a.where} says {a.value[i]!r}, {ref.where} says {other!r}",
                                 file=file, row=int(a.rows[i]) if a.rows is not None else None,
                                 fix=f"correct the file so every place records the same {what}")
        else:
            ref = a
    if manifest_value is not None:
        if ref is None:
            return manifest_value
        vals = ref.value if isinstance(ref.value, np.ndarray) else np.array([ref.value], dtype=object)
        bad = np.flatnonzero(vals != manifest_value)
        if len(bad):
            i = bad[0]
            row = int(ref.rows[i]) if isinstance(ref.value, np.ndarray) and ref.rows is not None else None
            raise InputError(
                f"manifest disagrees with the file on {what}: {ref.where} says {vals[i]!r}, "
                f"the manifest says {manifest_value!r}",
                file=file, row=row,
                fix=f"correct the manifest row in {manifest_path} (the value in the file wins only if they agree)",
            )
    return None if ref is None else ref.value


def _parse_title(lines: list[str], spec: ReportSpec, file: str) -> dict[str, Any]:
    out: dict[str, Any] = {"year": None, "level": None, "group": None, "period": None, "year_text": None}
    years: list[tuple[int, str]] = []
    for line in lines:
        for pattern in CONFIG.title_year_patterns:
            m = pattern.search(line)
            if m:
                y = _parse_year(m.group("year"))
                if y is None:
                    raise InputError(f"title year {m.group('year')!r} is not a valid school year", file=file,
                                     value=line, fix="the title must start with 'YYYY' or 'YYYY-YY' (e.g. 2023-24)")
                years.append((y, line))
                break
    if years:
        if len({y for y, _ in years}) > 1:
            raise InputError(f"title rows give different years: {[line for _, line in years]}", file=file,
                             fix="keep the export's own title rows")
        out["year"], out["year_text"] = years[0]
    main = next((ln for ln in lines if spec.title and spec.title.search(ln)), lines[0] if lines else "")
    if not main:
        return out
    m = _LEVEL_IN_TITLE.search(main)
    if m:
        out["level"] = m.group(1).lower()
    segments = [s.strip() for s in _SEGMENT_SPLIT.split(main.strip())[1:] if s.strip()]
    others = []
    for seg in segments:
        q = spec.qualifiers.get(_norm(seg))
        if q is not None:
            if "period" in q:
                out["period"] = q["period"]
        else:
            others.append(seg)
    if len(others) > 1:
        raise InputError(
            f"title parts {others} not understood: expected at most one student group besides the report options "
            f"{sorted(spec.qualifiers) or '(none)'}",
            file=file, row=1, value=main,
            fix=f"if a part is a report option, add it under reports: {spec.id}: qualifiers: in {CONFIG.path}",
        )
    if others:
        out["group"] = others[0]
    return out


def _grade_id(text: str, spec: ReportSpec) -> str | None:
    t = str(text).strip()
    if not t:
        return None
    key = _norm(t)
    if key in spec.grade_labels:
        return spec.grade_labels[key]
    m = re.fullmatch(r"(?:gr(?:ade)?\.?\s*)?(\d{1,2})(?:\.0)?", key)
    if m and 1 <= int(m.group(1)) <= 12:
        return f"{int(m.group(1)):02d}"
    m = re.fullmatch(r"(?:grades?\s*)?(\d{1,2})\s*-\s*(\d{1,2})", key)
    if m:
        return f"{int(m.group(1)):02d}-{int(m.group(2)):02d}"
    raise ValueError(t)


def _map_unique(values: np.ndarray, func) -> np.ndarray:
    codes, uniques = pd.factorize(pd.Series(values, dtype=object), use_na_sentinel=False)
    _, first = np.unique(codes, return_index=True)  # codes are 0..k-1: first[i] = first row with value i
    mapped = np.empty(len(uniques), dtype=object)
    for i, u in enumerate(uniques):
        mapped[i] = func(u, int(first[i]))
    return mapped[codes]


def _income_definition(year: int) -> str | None:
    for lo, hi, value in CONFIG.income_definitions:
        if lo <= year <= hi:
            return value
    return None


def _check_rule(measure: str) -> dict[str, Any] | None:
    if measure in CONFIG.checks_measures:
        return CONFIG.checks_measures[measure]
    for prefix, rule in CONFIG.checks_prefixes:
        if measure.startswith(prefix):
            return rule
    return None


def _pad_short_row(r: list[object], header: list[str], ncol: int, sheet: str) -> list[object]:
    """A row with fewer fields than the header. xlsx: trailing cells are empty. csv: the fields of columns that did
    not exist for that row are absent; by default the trailing ones, unless ``short_rows`` in the YAML names which
    columns a row of that length lacks (checked against the data: e.g. the 2017-18..2020-21 attendance rows lack
    'Chronically Absent (20% or more)', not the last column)."""
    if sheet:
        return r + [None] * (ncol - len(r))
    normed = [_norm(h) for h in header]
    for n_fields, absent in CONFIG.short_rows:
        if n_fields == len(r) and all(a in normed for a in absent):
            it = iter(r)
            return [_MISSING if h in absent else next(it) for h in normed]
    return r + [_MISSING] * (ncol - len(r))


def read_dese_file(path: Path, manifest: Manifest | None = None) -> DeseRead:
    """Read one DESE profile export (.xlsx or .csv) into long cells. Raises InputError on structural problems."""
    path = Path(path)
    file = str(path)
    if manifest is None:
        manifest = find_manifest(path)
    mfields = manifest.lookup(path) if manifest is not None else {}
    manifest_path = str(manifest.path) if manifest is not None else str(_manifest_target(path))
    rows, sheet, notes = _read_raw(path)
    notes = list(notes)
    if mfields:
        notes.append(f"manifest {manifest_path}: " + ", ".join(f"{k}={v}" for k, v in mfields.items()))
        if manifest is not None and manifest.ignored_columns:
            notes.append(f"manifest columns ignored (not {', '.join(MANIFEST_COLUMNS)}): {manifest.ignored_columns}")

    # ---- header and title rows ------------------------------------------------------------------------------
    if not any(any(_text(v).strip() for v in r) for r in rows):
        raise InputError("file has no content (every cell is empty)", file=file, fix="download the export again")
    h = _find_header(rows)
    title_rows = rows[: h if h is not None else 0]
    title_lines = [" ".join(_text(v).strip() for v in r if _text(v).strip()) for r in title_rows]
    title_lines = [t for t in title_lines if t]
    if h is None:
        widest = max(rows[:HEADER_SCAN_ROWS], key=lambda r: sum(1 for v in r if _text(v).strip()))
        raise _unrecognized(file, [_text(v) for v in widest], title_lines, "no header row with known column names")
    header_raw = [_text(v).strip() for v in rows[h]]
    body = rows[h + 1:]
    ncol = len(header_raw)
    for r in body:
        if len(r) > ncol and any(_text(v).strip() for v in r[ncol:]):
            raise InputError(f"row has {len(r)} fields but the header has {ncol}", file=file,
                             row=h + 2 + body.index(r), value=_text(r[ncol])[:60],
                             fix="check the delimiter and quoting of that row")

    # ---- data rows: skip blank and footnote rows ------------------------------------------------------------
    data: list[list[object]] = []
    phys: list[int] = []
    blank, footnotes = 0, []
    for i, r in enumerate(body):
        texts = [_text(v).strip() for v in r[:ncol]]
        filled = [t for t in texts if t]
        if not filled:
            blank += 1
            continue
        if len(filled) == 1 and re.match(r"^(\*|notes?\b|source\b)", filled[0], re.IGNORECASE):
            footnotes.append((h + 2 + i, filled[0]))
            continue
        if len(r) < ncol:  # csv: the fields are absent; xlsx: trailing cells are simply empty
            data.append(_pad_short_row(list(r), header_raw, ncol, sheet))
        else:
            data.append(list(r[:ncol]))
        phys.append(h + 2 + i)
    for row_no, text in footnotes:
        notes.append(f"footnote row {row_no} skipped (not data): {text!r}")
    if blank:
        notes.append(f"{blank} blank row(s) skipped")
    if not data:
        raise InputError("no data rows: the file has a header but no rows below it", file=file, row=h + 1,
                         fix="export the report again with at least one school or district selected")
    mat = np.empty((len(data), ncol), dtype=object)
    mat[:] = data
    phys_arr = np.asarray(phys, dtype=np.int64)
    missing = np.vectorize(lambda v: v is _MISSING, otypes=[bool])(mat) if not sheet and any(len(r) < ncol for r in body) else None

    # ---- columns: empty headers, duplicates ------------------------------------------------------------------
    def col_empty(j: int) -> bool:
        return all(_text(v).strip() == "" for v in mat[:, j])

    keep: list[int] = []
    headers: list[str] = []
    seen: dict[str, int] = {}
    for j, hd in enumerate(header_raw):
        if not hd:
            if col_empty(j):
                if j < ncol - 1 and any(header_raw[j + 1:]):
                    notes.append(f"dropped column {j + 1} without a header that is empty in every row")
                continue
            raise InputError(f"column {j + 1} has data but no header", file=file, row=h + 1,
                             fix="restore the header text of that column")
        key = _norm(hd)
        seen[key] = seen.get(key, 0) + 1
        if seen[key] > 1:
            name = f"{hd} ({seen[key]})"
            if col_empty(j):
                notes.append(f"dropped duplicate column {hd!r} (column {j + 1}) that is empty in every row")
                continue
            notes.append(f"duplicate header {hd!r} (column {j + 1}) read as {name!r}")
            hd = name
        keep.append(j)
        headers.append(hd)
    mat = mat[:, keep]
    if missing is not None:
        missing = missing[:, keep]
    normed = [_norm(x) for x in headers]

    # ---- report -------------------------------------------------------------------------------------------------
    forced = mfields.get("report")
    spec = _detect(file, headers, title_lines, forced)
    if path.suffix.lower() == ".xlsx" and spec.xlsx_title and not title_lines:
        raise InputError(
            f"expected a title row before the header (DESE {spec.label} exports start with a row like "
            f"'<year> {spec.label}'), found the header in row {h + 1}",
            file=file, row=h + 1,
            fix="use the export as downloaded from DESE profiles (do not delete its title row)",
        )
    title = _parse_title(title_lines, spec, file)

    roles: dict[str, list[int]] = {}
    value_cols: list[int] = []
    for j, n in enumerate(normed):
        role = spec.roles.get(n)
        if role is None:
            value_cols.append(j)
        else:
            roles.setdefault(role, []).append(j)
    extra_used = [hd for hd in headers if hd in CONFIG.extra_headers]
    if extra_used:
        notes.append(f"non-DESE columns used for metadata only (no cells): {extra_used}")
    code_role = next((r for r in ("school_code", "org_code", "district_code") if r in roles), None)
    for req in spec.required_keys:
        ok = code_role is not None if req == "org_code" else req in roles
        if req == "org_code" and spec.fixed_org:
            ok = True
        if not ok:
            expected = {
                "org_code": "'School Code', 'District Code' or 'DESE ID'",
                "org_name": "'School Name' or 'District Name'",
                "subject": "'Subject'",
                "grade": "'Grade'",
                "group": "'Group'",
            }.get(req, req)
            raise InputError(
                f"missing required key column: report {spec.id!r} needs {expected}; found headers {headers}",
                file=file, row=h + 1, fix="use the export as downloaded (keep its identifier columns)",
            )
    if not value_cols:
        raise InputError(f"no value columns: every header is an identifier ({headers})", file=file, row=h + 1,
                         fix="export the report with its data columns")
    nrow = mat.shape[0]

    def col_text(j: int) -> np.ndarray:
        return np.array([_text(v).strip() for v in mat[:, j]], dtype=object)

    # ---- org code, name, level -------------------------------------------------------------------------------
    if spec.fixed_org and code_role is None:
        codes = np.full(nrow, spec.fixed_org["code"], dtype=object)
        names = np.full(nrow, spec.fixed_org["name"], dtype=object)
        base_level: str | None = spec.fixed_org.get("level")
    else:
        cj = roles[code_role][0]
        raw_codes = col_text(cj)

        def norm_code(t: str, i: int) -> str:
            t2 = re.sub(r"\.0+$", "", t)
            if not t2:
                raise InputError("missing org code", file=file, row=int(phys_arr[i]), column=headers[cj],
                                 fix="every data row needs its 8-digit DESE code")
            if not t2.isdigit():
                raise InputError("org code is not numeric", file=file, row=int(phys_arr[i]), column=headers[cj],
                                 value=t, fix="DESE codes are 8 digits, e.g. 00350000")
            if len(t2) > 8:
                raise InputError("org code longer than 8 digits", file=file, row=int(phys_arr[i]), column=headers[cj],
                                 value=t, fix="DESE codes are 8 digits, e.g. 00350000")
            return t2.zfill(8)

        codes = _map_unique(raw_codes, norm_code)
        n_padded = int(sum(1 for t in raw_codes if len(re.sub(r"\.0+$", "", t)) < 8))
        if n_padded:
            notes.append(f"{n_padded} org code(s) with lost leading zeros left-padded to 8 digits")
        names = col_text(roles["org_name"][0]) if "org_name" in roles else np.full(nrow, "", dtype=object)
        base_level = {"school_code": "school", "district_code": "district", "org_code": None}[code_role]
        if len(roles.get("school_code", [])) + len(roles.get("district_code", [])) + len(roles.get("org_code", [])) > 1:
            notes.append("several code columns: the most specific one is used "
                         f"({headers[cj]!r}); the others are identifiers only")
    is_state = (codes == STATE_CODE) | np.array([_norm(n) in CONFIG.state_names for n in names], dtype=bool)

    level_sources = []
    if base_level:
        level_sources.append(_Source(f"header {headers[roles[code_role][0]]!r}" if code_role else "report definition",
                                     base_level))
    if title["level"] and title["level"] != "state":
        level_sources.append(_Source("the title", title["level"]))
    level = _agree(file, "org level", level_sources, mfields.get("org_level"), manifest_path)
    if level is None and not is_state.all():
        raise InputError(
            f"org level is not recorded in {file} (header {headers[roles[code_role][0]]!r} does not say school or district)",
            file=file,
            fix=f"add a row to {manifest_path} with path={_rel_hint(path, manifest)} and org_level=school (or district)",
        )
    org_level = np.where(is_state, "state", level if level is not None else "state").astype(object)

    # ---- year ----------------------------------------------------------------------------------------------------
    fn = _parse_filename(path, spec)
    year_sources: list[_Source] = []
    if title["year"] is not None:
        year_sources.append(_Source(f"title {title['year_text']!r}", title["year"]))
    if fn.get("year") is not None:
        year_sources.append(_Source(f"file name {path.name!r}", int(fn["year"])))
    for j in roles.get("year", []):
        texts = col_text(j)

        def parse_row_year(t: str, i: int, j: int = j) -> int:
            y = _parse_year(t)
            if y is None:
                raise InputError("school year not understood", file=file, row=int(phys_arr[i]), column=headers[j],
                                 value=t, fix="write 'YYYY-YY' (2023-24) or the spring year (2024)")
            return y

        year_sources.append(_Source(f"column {headers[j]!r}", _map_unique(texts, parse_row_year), phys_arr))
    col_years: dict[int, int] = {}
    for j in value_cols:
        _, y = spec.measure_for(normed[j], None)
        if y is not None:
            col_years[j] = y
    m_year = _parse_year(mfields["school_year"]) if mfields.get("school_year") else None
    year = _agree(file, "school year", year_sources, m_year, manifest_path)
    if col_years:
        if year is not None:
            raise InputError("school year recorded both per column (header) and per file/row", file=file,
                             fix="remove the school_year from the manifest for this file")
    elif year is None:
        raise InputError(
            f"school year is not recorded in {file} (no year in a title row, a year column or the file name)",
            file=file,
            fix=f"add a row to {manifest_path} with path={_rel_hint(path, manifest)} and "
                f"school_year=<spring year, e.g. 2024 for 2023-24>",
        )
    this_year = _dt.date.today().year
    all_years = set(col_years.values()) | (set(np.unique(year).tolist()) if isinstance(year, np.ndarray) else
                                            ({year} if year is not None else set()))
    for y in sorted(all_years):
        if y > this_year + 1 or y < MIN_YEAR:
            where_row = None
            if isinstance(year, np.ndarray):
                where_row = int(phys_arr[np.flatnonzero(year == y)[0]])
            raise InputError(
                f"implausible school year {y}: expected {MIN_YEAR}..{this_year + 1} (a future year makes the file suspect)",
                file=file, row=where_row, value=y, fix="check the year in the title, year column or manifest",
            )

    # ---- student group -------------------------------------------------------------------------------------
    def sub_id(label: str, where: str, row: int | None = None, column: str | None = None) -> str:
        try:
            return to_subgroup(label, file=file, row=row, column=column)
        except UnknownSubgroupError as exc:
            exc.problem = f"unknown student-group label (from {where})"
            if where == "the title":
                exc.fix = (exc.fix or "") + (f"; if it is a report option instead, add it under reports: {spec.id}: "
                                             f"qualifiers: in {CONFIG.path}")
            exc.args = (exc.render(),)
            raise

    group_sources: list[_Source] = []
    labels_by_precedence: list[Any] = []
    for j in roles.get("group", []):
        texts = col_text(j)

        def row_group(t: str, i: int, j: int = j) -> str:
            if not t:
                raise InputError("missing student group", file=file, row=int(phys_arr[i]), column=headers[j],
                                 fix="fill in the student group")
            return sub_id(t, f"column {headers[j]!r}", int(phys_arr[i]), headers[j])

        group_sources.append(_Source(f"column {headers[j]!r}", _map_unique(texts, row_group), phys_arr))
        labels_by_precedence.append(texts)
    if title["group"]:
        group_sources.append(_Source(f"title group {title['group']!r}", sub_id(title["group"], "the title", 1)))
        labels_by_precedence.append(title["group"])
    if fn.get("group"):
        group_sources.append(_Source(f"file name group {fn['group']!r}", sub_id(fn["group"], "the file name")))
        labels_by_precedence.append(fn["group"])
    if spec.student_group:
        group_sources.append(_Source(f"report {spec.id!r} (groups are columns)", sub_id(spec.student_group, "config")))
        labels_by_precedence.append(spec.student_group)
    m_group = sub_id(mfields["student_group"], f"manifest {manifest_path}") if mfields.get("student_group") else None
    subgroup = _agree(file, "student group", group_sources, m_group, manifest_path)
    if subgroup is None:
        raise InputError(
            f"student group is not recorded in {file} (no group in a title row, a group column or the file name)",
            file=file,
            fix=f"add a row to {manifest_path} with path={_rel_hint(path, manifest)} and student_group=<label or id, "
                f"e.g. all>",
        )
    subgroup_label = labels_by_precedence[0] if labels_by_precedence else mfields["student_group"]

    # ---- grade -----------------------------------------------------------------------------------------------
    def grade_of(t: str, where: str, row: int | None = None, column: str | None = None) -> str | None:
        try:
            return _grade_id(t, spec)
        except ValueError:
            raise InputError(f"unknown grade label (from {where})", file=file, row=row, column=column, value=t,
                             fix=f"use 03..12, KG, PK, SP, 03-08, hs_sci, all or unknown, or add the label under "
                                 f"grade_labels in {CONFIG.path}") from None

    grade_sources: list[_Source] = []
    for j in roles.get("grade", []):
        texts = col_text(j)

        def row_grade(t: str, i: int, j: int = j) -> str:
            g = grade_of(t, f"column {headers[j]!r}", int(phys_arr[i]), headers[j])
            if g is None:
                if is_state[i]:
                    return "all"
                raise InputError("missing grade", file=file, row=int(phys_arr[i]), column=headers[j],
                                 fix="fill in the grade")
            return g

        grade_sources.append(_Source(f"column {headers[j]!r}", _map_unique(texts, row_grade), phys_arr))
    if fn.get("grade"):
        grade_sources.append(_Source(f"file name {path.name!r}", grade_of(fn["grade"], "the file name")))
    if spec.grade and not roles.get("grade"):
        grade_sources.append(_Source(f"report {spec.id!r}", grade_of(spec.grade, "config")))
    m_grade = grade_of(mfields["grade"], f"manifest {manifest_path}") if mfields.get("grade") else None
    grade = _agree(file, "grade", grade_sources, m_grade, manifest_path)
    if grade is None:
        raise InputError(
            f"grade selection is not recorded in {file}",
            file=file,
            fix=f"add a row to {manifest_path} with path={_rel_hint(path, manifest)} and grade=<03..08, 10, 03-08, "
                f"hs_sci, or unknown with a note>",
        )

    # ---- period --------------------------------------------------------------------------------------------
    period_sources = [_Source("the title", title["period"])] if title["period"] else []
    m_period = None
    if mfields.get("period"):
        m_period = CONFIG.period_labels.get(_norm(mfields["period"]), mfields["period"])
    period = _agree(file, "reporting period", period_sources, m_period, manifest_path)
    if period is None and spec.period_required:
        raise InputError(
            f"reporting period is not recorded in {file} (report {spec.id!r} has End of Year and March tables)",
            file=file,
            fix=f"add a row to {manifest_path} with path={_rel_hint(path, manifest)} and period=end_of_year (or march)",
        )

    # ---- subject ---------------------------------------------------------------------------------------------
    subject: Any = None
    if "subject" in roles:
        sj = roles["subject"][0]

        def subj(t: str, i: int) -> str:
            s = CONFIG.subjects.get(_norm(t))
            if s is None:
                raise InputError("unknown subject", file=file, row=int(phys_arr[i]), column=headers[sj], value=t,
                                 fix=f"add it under subjects in {CONFIG.path}")
            return s

        subject = _map_unique(col_text(sj), subj)

    # ---- exact repeats / disagreeing repeats -------------------------------------------------------------------
    def per_row(v: Any) -> np.ndarray:
        if isinstance(v, np.ndarray):
            return v
        return np.full(nrow, "" if v is None else v, dtype=object)

    key_df = pd.DataFrame({
        "year": per_row(year), "code": codes, "subject": per_row(subject), "grade": per_row(grade),
        "subgroup": per_row(subgroup),
    }).astype(str)
    dup = key_df.duplicated(keep=False).to_numpy()
    keep_rows = np.ones(nrow, dtype=bool)
    if dup.any():
        vals_joined = np.array(["\x1f".join(_text(v) for v in mat[i, value_cols]) for i in range(nrow)], dtype=object)
        sub = key_df[dup].assign(_v=vals_joined[dup], _i=np.flatnonzero(dup))
        nun = sub.groupby(list(key_df.columns), sort=False)["_v"].nunique()
        if (nun > 1).any():
            bad_key = nun[nun > 1].index[0]
            grp = sub[(sub[list(key_df.columns)] == pd.Series(bad_key, index=key_df.columns)).all(axis=1)]
            i1 = int(grp["_i"].iloc[0])
            i2 = int(grp.loc[grp["_v"] != grp["_v"].iloc[0], "_i"].iloc[0])
            jdiff = next(j for j in value_cols if _text(mat[i1, j]) != _text(mat[i2, j]))
            raise InputError(
                f"repeated rows disagree: rows {phys_arr[i1]} and {phys_arr[i2]} are both org {codes[i1]} "
                f"(year {key_df['year'].iloc[i1]}, subject {key_df['subject'].iloc[i1] or '-'}, "
                f"grade {key_df['grade'].iloc[i1]}, group {key_df['subgroup'].iloc[i1]}) but column {headers[jdiff]!r} "
                f"is {_text(mat[i1, jdiff])!r} vs {_text(mat[i2, jdiff])!r}",
                file=file, row=int(phys_arr[i2]), column=headers[jdiff], value=_text(mat[i2, jdiff]),
                fix="keep one correct row per org (check whether one of them belongs to another year or group)",
            )
        drop = sub.duplicated(subset=[*key_df.columns, "_v"], keep="first").to_numpy()
        keep_rows[sub["_i"].to_numpy()[drop]] = False
        n_drop = int(drop.sum())
        extra = f" (they differ only in the non-DESE columns {extra_used})" if extra_used else ""
        notes.append(f"{n_drop} exact repeated row(s) (same year, org and DESE values) kept once{extra}")

    # ---- melt ------------------------------------------------------------------------------------------------
    ri = np.flatnonzero(keep_rows)
    vc = np.asarray(value_cols, dtype=np.int64)
    C = len(vc)
    rows_idx = np.repeat(ri, C)
    cols_idx = np.tile(np.arange(C), len(ri))
    cell_raw = mat[rows_idx, vc[cols_idx]]
    if missing is not None:
        present = ~missing[rows_idx, vc[cols_idx]]
        n_absent = int((~present).sum())
        if n_absent:
            short = sorted({headers[vc[c]] for c in cols_idx[~present]})
            notes.append(f"{n_absent} field(s) absent from short rows (the column did not exist for those rows, "
                         f"e.g. earlier years) produce no cells: {short}")
        rows_idx, cols_idx, cell_raw = rows_idx[present], cols_idx[present], cell_raw[present]
    n_cells = len(rows_idx)

    # years and measures
    if col_years:
        cell_year = np.array([col_years[vc[c]] for c in range(C)], dtype=np.int64)[cols_idx]
    else:
        cell_year = per_row(year).astype(np.int64)[rows_idx]
    uniq_years = np.unique(cell_year)
    measure_table = np.empty((len(uniq_years), C), dtype=object)
    for yi, y in enumerate(uniq_years):
        for c in range(C):
            m, _ = spec.measure_for(normed[vc[c]], int(y))
            if m is None:
                raise InputError(f"header {headers[vc[c]]!r} has no measure for {y} in report {spec.id!r}",
                                 file=file, column=headers[vc[c]],
                                 fix=f"add it to {CONFIG.path} under reports: {spec.id}: columns")
            measure_table[yi, c] = m
    cell_measure = measure_table[np.searchsorted(uniq_years, cell_year), cols_idx]

    # values
    texts = np.array([_text(v) for v in cell_raw], dtype=object)
    codes_v, uniq_t = pd.factorize(pd.Series(texts, dtype=object), use_na_sentinel=False)
    u_val = np.full(len(uniq_t), np.nan)
    u_sup = np.zeros(len(uniq_t), dtype=bool)
    u_bad = np.zeros(len(uniq_t), dtype=bool)
    for k, t in enumerate(uniq_t):
        s = t.strip()
        if s in CONFIG.markers:
            u_sup[k] = True
        elif _NUMBER.match(s):
            u_val[k] = float(s.replace(",", ""))
        else:
            u_bad[k] = True
    if u_bad.any():
        first = int(np.flatnonzero(u_bad[codes_v])[0])
        raise InputError(
            "non-numeric text in a numeric column (expected a number or a suppression marker "
            f"{sorted(CONFIG.markers)})",
            file=file, row=int(phys_arr[rows_idx[first]]), column=headers[vc[cols_idx[first]]], value=texts[first],
            fix="correct the cell; if it is a DESE suppression marker, add it to suppression_markers in "
                f"{CONFIG.path}",
        )
    value = u_val[codes_v]
    is_sup = u_sup[codes_v]

    # value checks
    m_codes, m_uniq = pd.factorize(pd.Series(cell_measure, dtype=object))
    for k, m in enumerate(m_uniq):
        rule = _check_rule(m)
        if not rule:
            continue
        sel = np.flatnonzero(m_codes == k)
        v = value[sel]
        bad = np.zeros(len(sel), dtype=bool)
        if "min" in rule:
            bad |= v < rule["min"]
        if "max" in rule:
            bad |= v > rule["max"]
        if rule.get("integer"):
            bad |= ~np.isnan(v) & (v != np.round(v))
        if bad.any():
            i = sel[np.flatnonzero(bad)[0]]
            expect = " and ".join(
                x for x in (
                    f">= {rule['min']}" if "min" in rule else "",
                    f"<= {rule['max']}" if "max" in rule else "",
                    "a whole number" if rule.get("integer") else "",
                ) if x
            )
            kind = ("negative count" if m.startswith("n_") and value[i] < 0 else
                    "percentage above 100" if m.startswith("pct_") and value[i] > 100 else "value out of range")
            raise InputError(
                f"{kind}: {m} must be {expect} (the whole file is suspect)",
                file=file, row=int(phys_arr[rows_idx[i]]), column=headers[vc[cols_idx[i]]], value=texts[i],
                fix="check the export; DESE percentages are 0-100 and counts are whole numbers >= 0",
            )

    # subgroup / income definition per cell
    cell_sub = per_row(subgroup)[rows_idx]
    lab = labels_by_precedence[0] if labels_by_precedence else subgroup_label
    cell_label = (lab[rows_idx] if isinstance(lab, np.ndarray) else np.full(n_cells, lab, dtype=object))
    income = np.full(n_cells, None, dtype=object)
    low = np.array([s == "low_income" or s.startswith("low_income_") for s in cell_sub], dtype=bool)
    if low.any():
        for y in np.unique(cell_year[low]):
            income[low & (cell_year == y)] = _income_definition(int(y))

    def take(v: Any) -> np.ndarray:
        return per_row(v)[rows_idx] if isinstance(v, np.ndarray) else np.full(n_cells, v, dtype=object)

    cells = pd.DataFrame({
        "source_file": pd.Series(np.full(n_cells, file, dtype=object), dtype="str"),
        "source_sheet": pd.Series(np.full(n_cells, sheet, dtype=object), dtype="str"),
        "source_row": phys_arr[rows_idx],
        "source_column": pd.Series(np.array(headers, dtype=object)[vc[cols_idx]], dtype="str"),
        "report": pd.Series(np.full(n_cells, spec.id, dtype=object), dtype="str"),
        "school_year": cell_year,
        "org_code": pd.Series(codes[rows_idx], dtype="str"),
        "org_name": pd.Series(names[rows_idx], dtype="str"),
        "org_level": pd.Series(org_level[rows_idx], dtype="str"),
        "subgroup": pd.Series(cell_sub, dtype="str"),
        "subgroup_label": pd.Series(cell_label, dtype="str"),
        "subject": pd.Series(take(subject), dtype=object),
        "grade": pd.Series(take(grade), dtype="str"),
        "period": pd.Series(take(period), dtype=object),
        "measure": pd.Series(cell_measure, dtype="str"),
        "value_text": pd.Series(texts, dtype="str"),
        "value": value.astype(np.float64),
        "is_suppressed": is_sup,
        "income_definition": pd.Series(income, dtype=object),
    })
    years_present = np.unique(cell_year)
    return DeseRead(
        path=path,
        report=spec.id,
        school_year=int(years_present[0]) if len(years_present) == 1 else None,
        n_rows=nrow,
        cells=cells,
        notes=notes,
        sheet=sheet,
        manifest=mfields,
    )


def _rel_hint(path: Path, manifest: Manifest | None) -> str:
    if manifest is not None:
        rel = manifest._relative(path)
        if rel:
            return rel
    if _under(path, shared_dese_dir()):
        return Path(path).resolve().relative_to(shared_dese_dir().resolve()).as_posix()
    return Path(path).name


def _parse_filename(path: Path, spec: ReportSpec) -> dict[str, str]:
    stem = path.stem.strip()
    for pattern, reports in CONFIG.filename_patterns:
        if reports and spec.id not in reports:
            continue
        m = pattern.match(stem)
        if m:
            return {k: v for k, v in m.groupdict().items() if v}
    return {}


def is_dese_file(path: Path) -> bool:
    """Cheap sniff: an .xlsx/.csv whose first rows hold a header that matches a known report."""
    path = Path(path)
    if path.suffix.lower() not in (".xlsx", ".csv") or path.name.lower() == MANIFEST_NAME:
        return False
    try:
        rows, _, _ = _read_raw(path, max_rows=HEADER_SCAN_ROWS + 2)
        h = _find_header(rows)
        if h is None:
            return False
        title_lines = [" ".join(_text(v).strip() for v in r if _text(v).strip()) for r in rows[:h]]
        headers = [_text(v).strip() for v in rows[h]]
        seen: dict[str, int] = {}
        named = []
        for hd in headers:
            if not hd:
                continue
            k = _norm(hd)
            seen[k] = seen.get(k, 0) + 1
            if seen[k] == 1:
                named.append(hd)
        _detect(str(path), named, [t for t in title_lines if t], None)
        return True
    except InputError:
        return False

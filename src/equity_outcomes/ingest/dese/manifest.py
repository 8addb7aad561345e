"""Manifests: per-file facts an export does not record (year, level, group, grade, period, report).

Owns: reading ``manifest.csv`` files and the shipped manifests of the shared real exports, finding the manifest of a
file, and writing the exact manifest line a refused file needs. Imports only config and the catalog.
"""

from __future__ import annotations

import csv
import fnmatch
import io
import re
from pathlib import Path

from ...errors import InputError
from ...paths import config_dir, shared_data_dir
from ..normalize import spring_year
from . import catalog

MANIFEST_NAME = "manifest.csv"
MANIFEST_COLUMNS = ("path", "report", "school_year", "org_level", "student_group", "grade", "period", "selection",
                    "note")
ORG_LEVELS = ("school", "district", "state")
#: Shared folders of real exports (under ``../shared/data``) -> the manifest shipped for them in ``config/``.
SHARED_MANIFESTS = {"dese": "dese_manifest_shared.csv", "dese_more": "dese_manifest_shared_more.csv"}


def parse_year(text: object) -> int | None:
    """The spring year a school-year text names, by the SIS spellings' rule (config/sis_spellings.yaml: '2023-24',
    '2023-2024', '2023/24', 'SY24', 'FY2024', '2024.0' -> 2024) or a bare year ('2024'); anything else -> None."""
    t = str(text).strip()
    year = t if re.fullmatch(r"\d{4}", t) else spring_year(t)
    return int(year) if year else None


class Manifest:
    """Per-file facts that exports do not record. CSV columns: path (relative to ``base_dir``, fnmatch globs
    allowed), report, school_year, org_level, student_group, grade, period, note (all but path optional)."""

    def __init__(self, path: Path, base_dir: Path, rows: list[tuple[int, dict[str, str]]],
                 ignored_columns: list[str] | None = None) -> None:
        self.path = Path(path)
        self.base_dir = Path(base_dir)
        self.rows = rows
        self.ignored_columns = ignored_columns or []  # reported in each read's notes

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
        ignored = [h for h in header if h not in MANIFEST_COLUMNS]
        return cls(manifest_csv, Path(base_dir) if base_dir else manifest_csv.parent, rows, ignored)

    @staticmethod
    def _validate(row: dict[str, str], file: str, line_no: int) -> None:
        if row.get("report") and row["report"] not in catalog.REPORTS:
            raise InputError("unknown report id in manifest", file=file, row=line_no, column="report",
                             value=row["report"], fix=f"use one of {', '.join(catalog.REPORTS)}")
        if row.get("org_level") and row["org_level"] not in ORG_LEVELS:
            raise InputError("unknown org_level in manifest", file=file, row=line_no, column="org_level",
                             value=row["org_level"], fix=f"use one of {', '.join(ORG_LEVELS)}")
        if row.get("school_year") and parse_year(row["school_year"]) is None:
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


def _shared_folder(path: Path) -> tuple[Path, str] | None:
    for name, manifest in SHARED_MANIFESTS.items():
        folder = shared_data_dir() / name
        if Path(path).resolve().is_relative_to(folder.resolve()):
            return folder, manifest
    return None


def manifest_target(path: Path) -> Path:
    """Where a manifest row for ``path`` belongs (for messages)."""
    shared = _shared_folder(path)
    if shared:
        return config_dir() / shared[1]
    return Path(path).parent / MANIFEST_NAME


def find_manifest(path: Path) -> Manifest | None:
    """The manifest that describes ``path``: the shipped ``config/dese_manifest_shared*.csv`` for the shared real
    exports, else the nearest ``manifest.csv`` in the file's folder or its parents."""
    path = Path(path)
    shared = _shared_folder(path)
    if shared:
        m = config_dir() / shared[1]
        return Manifest.load(m, base_dir=shared[0]) if m.is_file() else None
    for folder in path.resolve().parents:
        m = folder / MANIFEST_NAME
        if m.is_file():
            return Manifest.load(m)
    return None


def relative_hint(path: Path, manifest: Manifest | None) -> str:
    if manifest is not None:
        rel = manifest._relative(path)
        if rel:
            return rel
    shared = _shared_folder(path)
    if shared:
        return Path(path).resolve().relative_to(shared[0].resolve()).as_posix()
    return Path(path).name


def manifest_line(path: Path, manifest: Manifest | None, **fields: str) -> str:
    """The exact manifest line (CSV) that records ``fields`` for ``path``."""
    row = {"path": relative_hint(path, manifest), **fields}
    out = io.StringIO()
    csv.writer(out, lineterminator="").writerow([row.get(c, "") for c in MANIFEST_COLUMNS])
    return out.getvalue()

"""``equity-outcomes check``: what a load would do to each file, without loading (``dbt debug`` plus a dry run).

Each file goes through the very reader, normaliser and validator a run uses (``load.load_file``), into a scratch
in-memory DuckDB database that is thrown away: the warehouse is only read (for the roster's codes). A
:class:`FileReport` per file says what the file was recognised as, its rows, the spellings mapped (with counts),
the first rows that would be quarantined (row, column, value, fix) and whether the file would be refused. A new
kind of file plugs in through ``load.KINDS`` / ``load.load_file``; :func:`_recognised_as` names it.
"""

from __future__ import annotations

import secrets
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import duckdb

from ..errors import EquityOutcomesError, InputError
from . import load
from .normalize import Mapping
from .pseudonymize import load_key


@dataclass
class FileReport:
    path: Path
    kind: str  # student | state | readiness | dese (load.KINDS)
    recognised_as: str = ""  # with the student table, DESE report or layout, and the school year
    level: str | None = None  # DESE: the org levels of the file (school, district, state)
    rows: int = 0
    rows_quarantined: int = 0
    mappings: list[Mapping] = field(default_factory=list)
    examples: list[dict] = field(default_factory=list)  # row, column, value, check, fix
    refused: bool = False
    reason: str = ""
    notes: list[str] = field(default_factory=list)
    dese: dict | None = None  # DESE: year source, mapped / unmapped columns, cells, suppressed cells


@dataclass
class CheckReport:
    files: list[FileReport]
    problems: list[str]  # about the set-up rather than one file (the pseudonymization key)
    roster_source: str

    @property
    def ok(self) -> bool:
        return not self.problems and not any(f.refused for f in self.files)


def _recognised_as(kind: str, report: str, year: int | None, layout: str = "") -> str:
    """``layout``: a state-reporting file's layout line, as its reader recognised it (the load's read)."""
    what = {"student": f"student table {report}", "state": f"state-reporting file {report}",
            "readiness": "readiness self-assessment", "dese": f"DESE export, report {report}"}.get(kind, kind)
    return (layout or what) + (f", school year {year}" if year else "")


def _copy_roster(con: duckdb.DuckDBPyConnection, warehouse: Path | None) -> str:
    """The warehouse's roster into the scratch database (org codes are checked against it); where it came from."""
    if warehouse is None or not Path(warehouse).exists():
        return "no warehouse yet: org codes are checked against a roster.csv among the files checked"
    try:
        con.execute("ATTACH ? AS wh (READ_ONLY)", [str(warehouse)])
    except duckdb.Error as exc:
        return f"warehouse {warehouse} could not be read ({str(exc).splitlines()[0]}): roster not used"
    try:
        has = con.execute("SELECT count(*) FROM duckdb_tables() WHERE database_name = 'wh' "
                          "AND table_name = 'raw_student_roster'").fetchall()[0][0]
        if has:
            con.execute("INSERT INTO raw_student_roster BY NAME SELECT * FROM wh.raw_student_roster")
    finally:
        con.execute("DETACH wh")
    return f"roster of {warehouse}" + ("" if has else " (none loaded yet)") + " and any roster.csv checked"


def _key_problem(files: list[Path]) -> tuple[bytes, list[str]]:
    """The key a run would use (a throwaway one for the dry run when it is missing, reported as a problem)."""
    if not any(load.kind_of(p) in ("student", "state") for p in files):
        return secrets.token_bytes(32), []
    try:
        return load_key(), []
    except EquityOutcomesError as exc:
        return secrets.token_bytes(32), [str(exc)]


def inspect_file(con: duckdb.DuckDBPyConnection, path: Path, key: bytes, limit_pct: float) -> FileReport:
    """Everything a load would do to ``path``, done in the scratch database ``con``."""
    kind = load.kind_of(path)
    load_id = uuid.uuid4().hex[:12]
    report = FileReport(path, kind)
    try:
        result = load.load_file(con, path, kind, load_id, lambda: key)
    except InputError as exc:
        report.recognised_as = _recognised_as(kind, "?", None) if kind != "dese" else "not readable as any input"
        report.refused, report.reason = True, str(exc)
        return report
    report.recognised_as = _recognised_as(kind, result.report, result.school_year, result.layout)
    report.rows, report.rows_quarantined = result.rows_in, result.rows_quarantined
    report.mappings = result.mappings
    report.notes = [n for n in result.message.split("; ") if n]
    report.examples = load.bad_row_examples(con, load_id, path)
    report.reason = load.refusal(con, result, load_id, limit_pct) or ""
    report.refused = bool(report.reason)
    if kind == "dese":
        report.dese = _dese_details(con, load_id)
        report.level = ", ".join(report.dese.pop("levels"))
    return report


def _dese_details(con: duckdb.DuckDBPyConnection, load_id: str) -> dict:
    """What the cells of one DESE file in the scratch database say: levels, where the year came from, columns mapped
    to a measure and columns kept unmapped, cells and suppressed cells."""
    row = con.execute(
        "SELECT list(DISTINCT org_level ORDER BY org_level) FILTER (org_level IS NOT NULL), "
        "list(DISTINCT year_source ORDER BY year_source) FILTER (year_source IS NOT NULL), "
        "list(DISTINCT source_column ORDER BY source_column) FILTER (measure IS NOT NULL), "
        "list(DISTINCT source_column ORDER BY source_column) FILTER (measure IS NULL), "
        "count(*), count(*) FILTER (is_suppressed) FROM raw_dese_cells WHERE load_id = ?", [load_id]).fetchall()[0]
    keys = ("levels", "year_source", "mapped_columns", "unmapped_columns", "cells", "suppressed_cells")
    return {k: (v if v is not None else []) for k, v in zip(keys, row, strict=True)}


def check_paths(paths: list[Path], *, warehouse: Path | None = None,
                max_quarantined: float | None = None) -> CheckReport:
    """A :class:`FileReport` for every file under ``paths`` (roster first, as a load reads them)."""
    files = load.discover(paths)
    limit = load.max_quarantined_pct(max_quarantined)
    key, problems = _key_problem(files)
    with duckdb.connect(":memory:") as con:
        load.prepare(con)
        roster_source = _copy_roster(con, warehouse)
        reports = [inspect_file(con, path, key, limit) for path in files]
    return CheckReport(reports, problems, roster_source)


def _describe(f: FileReport) -> list[str]:
    head = f"{f.path}: {f.recognised_as}" + (f" ({f.level})" if f.level else "")
    if f.refused and not f.rows:
        return [f"REFUSED  {head}", *[f"    {line.strip()}" for line in f.reason.splitlines()]]
    verdict = "REFUSED " if f.refused else ("ok      " if not f.rows_quarantined else "warning ")
    lines = [f"{verdict} {head}: {f.rows:,} rows, {f.rows_quarantined:,} would be quarantined"]
    by_column: dict[str, list[Mapping]] = {}
    for m in f.mappings:
        by_column.setdefault(m.column, []).append(m)
    for column, maps in by_column.items():
        lines.append(f"    maps {column}: " + ", ".join(f"{m.value_from!r} -> {m.value_to!r} ({m.rows:,})" for m in maps))
    if f.dese:
        d = f.dese
        lines.append(f"    year from {', '.join(d['year_source']) or '?'}; {d['cells']:,} cells "
                     f"({d['suppressed_cells']:,} suppressed); {len(d['mapped_columns'])} column(s) mapped")
        if d["unmapped_columns"]:
            lines.append(f"    kept unmapped (measure NULL): {', '.join(map(str, d['unmapped_columns'][:12]))}"
                         + (f" and {len(d['unmapped_columns']) - 12} more" if len(d["unmapped_columns"]) > 12 else ""))
    lines += [f"    {n.strip()}" for n in f.notes if n.strip().startswith("warning:")]
    if f.refused:
        lines.append(f"    {f.reason.splitlines()[0].strip()}")
    lines += [f"    {load.describe_bad_row(e)}" for e in f.examples]
    if f.refused:
        lines.append(f"    {f.reason.splitlines()[-1].strip()}")
    return lines


def render(report: CheckReport) -> str:
    """The report as text: one block per file, then the verdict."""
    lines = [f"equity-outcomes check: {len(report.files)} file(s); org codes checked against: {report.roster_source}"]
    for f in report.files:
        lines += _describe(f)
    lines += [f"PROBLEM  {p}" for p in report.problems]
    refused = [f for f in report.files if f.refused]
    mapped = sum(m.rows for f in report.files for m in f.mappings)
    quarantined = sum(f.rows_quarantined for f in report.files if not f.refused)
    lines.append(f"result: {len(report.files) - len(refused)} of {len(report.files)} file(s) would load "
                 f"({mapped:,} values mapped, {quarantined:,} rows quarantined); "
                 + (f"{len(refused)} would be refused, so a run would load nothing" if refused
                    else "nothing would be refused") + ("; see PROBLEM above" if report.problems else ""))
    return "\n".join(lines)

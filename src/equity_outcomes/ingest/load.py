"""Load files into the warehouse: discover, read, validate, quarantine, audit. One call = one transaction.

Every file is recorded in ``load_audit`` with its SHA-256: the same bytes loaded again are a no-op ("unchanged"),
the same path with new bytes replaces the earlier rows ("replaced"), and identical bytes under a second name are
skipped as a "duplicate" so nothing is counted twice. Any structurally bad file refuses the whole load with one
error that lists every refused file; the caller (``StagedWarehouse``) then leaves the warehouse as it was.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import duckdb
import pandas as pd

from ..build import ensure_raw_tables
from ..errors import InputError
from ..readiness import is_readiness_file, load_readiness_reference
from ..warehouse import BOOKKEEPING_DDL, table_exists
from .pseudonymize import load_key
from .sqlvalidate import validate_and_load
from .student import check_header, folder_year, read_student_file, table_for

# Extracts this large are validated inside DuckDB (same rules, compiled from the pandera schemas) instead of pandas.
SQL_VALIDATION_MIN_BYTES = 4 * 1024 * 1024

IGNORED_NAMES = {"manifest.csv"}
DATA_SUFFIXES = {".csv", ".xlsx", ".xls"}  # .xls: older DESE exports (HTML tables)


@dataclass
class FileResult:
    path: Path
    kind: str
    report: str
    school_year: int | None
    status: str
    rows_in: int = 0
    rows_loaded: int = 0
    rows_quarantined: int = 0
    message: str = ""
    seconds: float = 0.0


@dataclass
class LoadSummary:
    load_id: str
    results: list[FileResult] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        return any(r.status in ("loaded", "replaced") for r in self.results)

    def totals(self) -> dict[str, int]:
        return {
            "files": len(self.results),
            "files_loaded": sum(r.status in ("loaded", "replaced") for r in self.results),
            "files_unchanged": sum(r.status in ("unchanged", "duplicate") for r in self.results),
            "rows_loaded": sum(r.rows_loaded for r in self.results),
            "rows_quarantined": sum(r.rows_quarantined for r in self.results),
        }

    def frame(self) -> pd.DataFrame:
        return pd.DataFrame([{**r.__dict__, "path": str(r.path)} for r in self.results])


class IngestError(InputError):
    """One or more files were refused; nothing from this load was kept."""

    def __init__(self, errors: list[str]) -> None:
        self.errors = errors
        Exception.__init__(self, self.render())

    def render(self) -> str:
        head = f"{len(self.errors)} file(s) refused; nothing from this load was written to the warehouse:"
        return "\n  - ".join([head, *self.errors])


def discover(paths: Iterable[Path | str]) -> list[Path]:
    """Every data file under the given files/folders, sorted, manifests and documentation excluded."""
    found: list[Path] = []
    for p in map(Path, paths):
        if not p.exists():
            raise InputError("no such file or folder", file=str(p), fix="check the path")
        if p.is_dir():
            found.extend(
                f for f in p.rglob("*")
                if f.is_file() and f.suffix.lower() in DATA_SUFFIXES and f.name.lower() not in IGNORED_NAMES
            )
        else:
            found.append(p)
    # the roster first: readiness and other files are checked against the schools it lists
    return sorted({f.resolve() for f in found}, key=lambda f: (f.name.lower() != "roster.csv", str(f)))


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _previous(con: duckdb.DuckDBPyConnection, path: str, digest: str) -> tuple[str | None, str | None]:
    """(status-relevant earlier load of this path: its hash; another path already loaded with these bytes)."""
    same_path = con.execute(
        "SELECT file_hash FROM load_audit WHERE source_file = ? AND status IN ('loaded','replaced','unchanged') "
        "ORDER BY loaded_at DESC LIMIT 1",
        [path],
    ).fetchall()
    same_bytes = con.execute(
        "SELECT source_file FROM load_audit WHERE file_hash = ? AND source_file <> ? "
        "AND status IN ('loaded','replaced') LIMIT 1",
        [digest, path],
    ).fetchall()
    # fetchall, never fetchone: DuckDB 2.0 refuses further work on a connection with an unfinished result
    return (same_path[0][0] if same_path else None, same_bytes[0][0] if same_bytes else None)


def _append(con: duckdb.DuckDBPyConnection, table: str, frame: pd.DataFrame) -> None:
    con.register("_incoming", frame)
    try:
        if not table_exists(con, table):
            con.execute(f"CREATE TABLE {table} AS SELECT * FROM _incoming LIMIT 0")
        con.execute(f"INSERT INTO {table} BY NAME SELECT * FROM _incoming")
    finally:
        with contextlib.suppress(duckdb.Error):  # the transaction may already be aborted
            con.unregister("_incoming")


def _forget(con: duckdb.DuckDBPyConnection, path: str) -> None:
    """Remove every row an earlier version of this file put in the warehouse."""
    raw_tables = [
        r[0]
        for r in con.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_name LIKE 'raw_%' AND table_type = 'BASE TABLE'"
        ).fetchall()
    ]
    for t in raw_tables:
        con.execute(f"DELETE FROM {t} WHERE source_file = ?", [path]).fetchall()
    con.execute("DELETE FROM quarantine WHERE source_file = ?", [path]).fetchall()


def _load_student(con, path: Path, key: bytes, load_id: str) -> FileResult:
    if path.stat().st_size >= SQL_VALIDATION_MIN_BYTES:
        table = table_for(path)
        check_header(path, table)
        year = folder_year(path)
        rows_in, loaded, bad = validate_and_load(con, str(path), table, key=key, load_id=load_id, folder_year=year)
        return FileResult(path, "student", table, year, "loaded", rows_in, loaded, bad,
                          "validated in DuckDB (rules compiled from the pandera schema)")
    read = read_student_file(path, key)
    data = read.data
    data.insert(0, "source_file", str(path))
    data.insert(0, "load_id", load_id)
    if len(data):
        _append(con, f"raw_student_{read.table}", data)
    q = read.quarantine.copy()
    if len(q):
        q.insert(0, "table_name", read.table)
        q.insert(0, "source_file", str(path))
        q.insert(0, "load_id", load_id)
        _append(con, "quarantine", q)
    year = read.school_year
    return FileResult(path, "student", read.table, year, "loaded", read.rows_in, len(data), q["source_row"].nunique() if len(q) else 0)


def _load_readiness(con, path: Path, load_id: str) -> FileResult:
    from .. import readiness

    read = readiness.read_responses(path, readiness.known_schools(con))
    if len(read.data):
        _append(con, "raw_readiness_responses", readiness.raw_frame(read.data, load_id))
    n_bad = 0
    if len(read.quarantine):
        q = readiness.quarantine_frame(read.quarantine, load_id)
        _append(con, "quarantine", q)
        n_bad = q[["source_row"]].drop_duplicates().shape[0]
    return FileResult(path, "readiness", "readiness_responses", None, "loaded", read.rows_in, len(read.data), n_bad,
                      "; ".join(read.notes))


def read_dese(path: Path):
    """Read one DESE export with its manifest (runs in a worker process when many files are read)."""
    from . import dese  # imported on first use: its column maps load from config

    return dese.read_dese_file(path, dese.find_manifest(path))


class _DesePrefetch:
    """DESE exports read ahead in worker processes (openpyxl is pure Python: threads would not help) while the
    main process validates and inserts; results are taken in file order. Few files are read in-process."""

    MIN_FILES = 16

    def __init__(self, paths: list[Path]) -> None:
        self.pool = None
        self.futures: dict[Path, object] = {}
        workers = min(len(paths) // self.MIN_FILES, os.cpu_count() or 1, 4)
        if workers >= 2:
            import multiprocessing
            from concurrent.futures import ProcessPoolExecutor

            self.pool = ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn"))
            self.futures = {p: self.pool.submit(read_dese, p) for p in paths}

    def get(self, path: Path):
        future = self.futures.pop(path, None)
        return future.result() if future is not None else read_dese(path)

    def close(self) -> None:
        if self.pool is not None:
            self.pool.shutdown(wait=True, cancel_futures=True)


def _load_dese(con, path: Path, load_id: str, prefetch: _DesePrefetch | None = None) -> FileResult:
    read = prefetch.get(path) if prefetch is not None else read_dese(path)
    cells = read.cells.copy()
    cells["source_file"] = str(path)
    cells.insert(0, "load_id", load_id)
    if len(cells):
        _append(con, "raw_dese_cells", cells)
    warnings = read.warnings
    message = "; ".join(read.notes)
    return FileResult(path, "dese", read.report, read.school_year, "loaded", read.n_rows, read.n_rows, 0,
                      f"{len(warnings)} warning(s): {message}" if warnings else message)


def ingest_into(
    con: duckdb.DuckDBPyConnection,
    paths: Iterable[Path | str],
    *,
    progress: Callable[[str], None] | None = None,
) -> LoadSummary:
    """Load every file under ``paths`` into ``con`` inside one transaction; raise :class:`IngestError` if any is refused."""
    files = discover(paths)
    summary = LoadSummary(load_id=uuid.uuid4().hex[:12])
    errors: list[str] = []
    key: bytes | None = None
    con.execute("BEGIN TRANSACTION")
    prefetch: _DesePrefetch | None = None
    try:
        con.execute(BOOKKEEPING_DDL)
        ensure_raw_tables(con)
        load_readiness_reference(con)
        plan = _plan(con, files)
        prefetch = _DesePrefetch([p for p, kind, _, previous, dup in plan if kind == "dese" and not dup
                                  and previous != _digest_of(plan, p)])
        for i, (path, kind, digest, previous_hash, duplicate_of) in enumerate(plan, start=1):
            started = time.perf_counter()
            name = str(path)
            if previous_hash == digest:
                result = FileResult(path, kind, "", None, "unchanged",
                                    message="same bytes already loaded")
            elif duplicate_of is not None:
                result = FileResult(path, kind, "", None, "duplicate",
                                    message=f"identical bytes already loaded from {duplicate_of}")
            else:
                try:
                    if previous_hash is not None:
                        _forget(con, name)
                    if kind == "student":
                        key = key or load_key()
                        result = _load_student(con, path, key, summary.load_id)
                    elif kind == "readiness":
                        result = _load_readiness(con, path, summary.load_id)
                    else:
                        result = _load_dese(con, path, summary.load_id, prefetch)
                    if previous_hash is not None:
                        result.status = "replaced"
                except InputError as exc:
                    errors.append(str(exc))
                    continue
            result.seconds = time.perf_counter() - started
            summary.results.append(result)
            con.execute(
                "INSERT INTO load_audit VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
                [summary.load_id, datetime.now(), name, digest, result.kind, result.report, result.school_year,
                 result.rows_in, result.rows_loaded, result.rows_quarantined, result.status, result.message,
                 result.seconds],
            )
            if progress:
                progress(f"[{i}/{len(files)}] {result.status:9s} {path.name} ({result.rows_loaded:,} rows"
                         f"{f', {result.rows_quarantined:,} quarantined' if result.rows_quarantined else ''})")
                for warning in _warnings(result):
                    progress(f"    {warning}")
        if errors:
            raise IngestError(errors)
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise
    finally:
        if prefetch is not None:
            prefetch.close()
    return summary


def _warnings(result: FileResult) -> list[str]:
    """The warnings a DESE read recorded (kept columns, unknown report, missing group...), one line each."""
    if result.kind != "dese" or "warning:" not in result.message:
        return []
    return [n.strip() for n in result.message.split("; ") if n.strip().startswith("warning:")]


def _plan(con: duckdb.DuckDBPyConnection, files: list[Path]) -> list[tuple[Path, str, str, str | None, str | None]]:
    """(path, kind, sha256, hash of this path's earlier load, path already holding these bytes) per file, in load
    order. Identical bytes twice in one batch: the second is a duplicate of the first."""
    plan = []
    first_with: dict[str, str] = {}
    for path in files:
        digest = _sha256(path)
        previous_hash, duplicate_of = _previous(con, str(path), digest)
        if duplicate_of is None and previous_hash != digest and digest in first_with:
            duplicate_of = first_with[digest]
        first_with.setdefault(digest, str(path))
        kind = "student" if table_for(path) is not None else ("readiness" if is_readiness_file(path) else "dese")
        plan.append((path, kind, digest, previous_hash, duplicate_of))
    return plan


def _digest_of(plan: list, path: Path) -> str:
    return next(d for p, _, d, _, _ in plan if p == path)

"""Load files into the warehouse: discover, read, validate, quarantine, audit. One call = one transaction.

Every file is recorded in ``load_audit`` with its SHA-256: the same bytes loaded again are a no-op ("unchanged"),
the same path with new bytes replaces the earlier rows ("replaced"), and identical bytes under a second name are
skipped as a "duplicate" so nothing is counted twice. Any structurally bad file refuses the whole load with one
error that lists every refused file; the caller (``StagedWarehouse``) then leaves the warehouse as it was.
"""

from __future__ import annotations

import functools
import hashlib
import os
import time
import uuid
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import duckdb
import pandas as pd
import yaml

from .. import progress as progress_display
from ..errors import InputError
from ..paths import config_dir
from ..warehouse import BOOKKEEPING_DDL, ROOM_FIX, out_of_room, registered, room_for_python, table_exists
from . import readiness
from .fixes import fix_for, is_row_rule
from .normalize import KnownCodes, Mapping, known_codes
from .pseudonymize import load_key
from .sqlvalidate import forget_id_hashes, validate_and_load
from .state_files import derive_history, is_state_file, read_state_file
from .state_files.catalog import layout_line
from .state_files.detect import SUFFIXES as STATE_SUFFIXES
from .student import check_header, folder_year, read_student_file, table_for
from .tables import ensure_raw_tables

# Extracts this large are validated inside DuckDB (same rules, compiled from the pandera schemas) instead of pandas.
SQL_VALIDATION_MIN_BYTES = 4 * 1024 * 1024

IGNORED_NAMES = {"manifest.csv"}
DATA_SUFFIXES = {".csv", ".xlsx", ".xls"}  # .xls: older DESE exports (HTML tables)
EXAMPLES = 5  # bad rows shown (a refused file's message, `check`)

# What a file is, in order: the first kind that recognises a file reads it (DESE exports take the rest). A new
# kind of file adds its test here and its reader to load_file (below).
KINDS: list[tuple[str, Callable[[Path], bool]]] = [
    ("student", lambda p: table_for(p) is not None),
    ("state", is_state_file),
    ("readiness", readiness.is_readiness_file),
    ("dese", lambda p: True),
]


def kind_of(path: Path) -> str:
    return next(kind for kind, recognises in KINDS if recognises(path))


def max_quarantined_pct(override: float | None = None) -> float:
    """The share of a file's rows (percent) above which the file is refused: ``override``, else config/ingest.yaml."""
    return float(override) if override is not None else float(_ingest_config()["max_quarantined_pct"])


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
    mappings: list[Mapping] = field(default_factory=list)  # spellings mapped to the contract at the edge
    layout: str = ""  # a state-reporting file's layout, record kind and handbook, as its reader recognised them


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
                if f.is_file() and f.name.lower() not in IGNORED_NAMES and (
                    f.suffix.lower() in DATA_SUFFIXES or (f.suffix.lower() in STATE_SUFFIXES and is_state_file(f)))
            )
        else:
            found.append(p)
    # the roster first: readiness and other files are checked against the schools it lists
    return sorted({f.resolve() for f in found}, key=lambda f: (f.name.lower() != "roster.csv", str(f)))


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
    with registered(con, "_incoming", frame):
        if not table_exists(con, table):
            con.execute(f"CREATE TABLE {table} AS SELECT * FROM _incoming LIMIT 0")
        con.execute(f"INSERT INTO {table} BY NAME SELECT * FROM _incoming")


def _stamped(frame: pd.DataFrame, path: Path, load_id: str) -> pd.DataFrame:
    """A copy of ``frame`` with the load's id and the file's path in front (``load_id``, ``source_file``: the DESE
    reader's own ``source_file`` replaced)."""
    out = frame.drop(columns="source_file", errors="ignore")
    out.insert(0, "source_file", str(path))
    out.insert(0, "load_id", load_id)
    return out


def _forget(con: duckdb.DuckDBPyConnection, path: str) -> None:
    """Remove every row an earlier version of this file put in the warehouse."""
    for (table,) in con.execute("SELECT table_name FROM information_schema.tables WHERE table_name LIKE 'raw_%' "
                                "AND table_type = 'BASE TABLE'").fetchall():
        con.execute(f"DELETE FROM {table} WHERE source_file = ?", [path]).fetchall()
    con.execute("DELETE FROM quarantine WHERE source_file = ?", [path]).fetchall()
    con.execute("DELETE FROM load_mappings WHERE source_file = ?", [path]).fetchall()


def _load_student(con, path: Path, key: bytes, load_id: str, known: KnownCodes) -> FileResult:
    if path.stat().st_size >= SQL_VALIDATION_MIN_BYTES:
        table = table_for(path)
        header = check_header(path, table)
        year = folder_year(path)
        rows_in, loaded, bad, maps = validate_and_load(con, str(path), table, key=key, load_id=load_id,
                                                       folder_year=year, known=known, header=header)
        return FileResult(path, "student", table, year, "loaded", rows_in, loaded, bad,
                          "; ".join(["validated in DuckDB (rules compiled from the pandera schema)",
                                     *header.warnings(table)]), mappings=header.renamed(rows_in) + maps)
    read = read_student_file(path, key, known)
    if len(read.data):
        _append(con, f"raw_student_{read.table}", _stamped(read.data, path, load_id))
    q = read.quarantine
    if len(q):
        _append(con, "quarantine", _stamped(q.assign(table_name=read.table), path, load_id))
    return FileResult(path, "student", read.table, read.school_year, "loaded", read.rows_in, len(read.data),
                      q["source_row"].nunique() if len(q) else 0,
                      "; ".join(read.warnings), mappings=read.mappings)


def _load_state(con, path: Path, key: bytes, load_id: str) -> FileResult:
    """A SIMS, SSDR, SCS or MCAS results file mapped into contract tables (see ingest/state_files)."""
    read = read_state_file(path, key)
    frames = {f"raw_student_{t}": d for t, d in read.tables.items()}
    frames |= {"raw_state_id_crosswalk": read.crosswalk, "raw_state_code_counts": read.code_counts,
               "quarantine": read.quarantine}
    for table, frame in frames.items():
        if frame is not None and len(frame):
            _append(con, table, _stamped(frame, path, load_id))
    return FileResult(path, "state", read.report, read.school_year, "loaded", read.rows_in, read.rows_loaded,
                      read.rows_quarantined, "; ".join(read.notes),
                      layout=layout_line(read.family, read.record, read.version, read.handbook))


def _load_readiness(con, path: Path, load_id: str) -> FileResult:
    read = readiness.read_responses(path, readiness.known_schools(con))
    if len(read.data):
        _append(con, "raw_readiness_responses", readiness.raw_frame(read.data, load_id))
    if len(read.quarantine):
        _append(con, "quarantine", readiness.quarantine_frame(read.quarantine, load_id))
    # rows quarantined: the item rows read and not kept (a missing item is a problem recorded, not a row)
    return FileResult(path, "readiness", "readiness_responses", None, "loaded", read.rows_in, len(read.data),
                      read.rows_in - len(read.data), "; ".join(read.notes))


def _ingest_config() -> dict:
    with open(config_dir() / "ingest.yaml", encoding="utf-8") as fh:
        return yaml.safe_load(fh)


def read_dese(path: Path):
    """Read one DESE export with its manifest (runs in a worker process when many files are read). A column of
    student ids refuses the file: DESE profile exports are aggregates, and the reader keeps every column it cannot
    map, so an id column would otherwise be stored as published cells."""
    from . import dese  # imported on first use: its column maps load from config

    read = dese.read_dese_file(path, dese.find_manifest(path))
    ids = {h.lower() for h in _ingest_config()["student_id_headers"]}
    columns = read.cells["source_column"].dropna().unique() if len(read.cells) else []
    found = next((c for c in columns if " ".join(str(c).lower().split()) in ids), None)
    if found is not None:
        raise InputError(
            "a column of student ids: DESE profile exports hold no student-level rows, so this file is not one "
            "(and student ids must not be loaded as DESE data)", file=str(path), column=found,
            fix="a student-level extract belongs in student/<school year>/<table>.csv with the data contract's "
                "header (docs/student_data_contract.md); otherwise remove the column")
    return read


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
    if len(read.cells):
        _append(con, "raw_dese_cells", _stamped(read.cells, path, load_id))
    warnings = read.warnings
    message = "; ".join(read.notes)
    return FileResult(path, "dese", read.report, read.school_year, "loaded", read.n_rows, read.n_rows, 0,
                      f"{len(warnings)} warning(s): {message}" if warnings else message)


def prepare(con: duckdb.DuckDBPyConnection) -> None:
    """The bookkeeping and raw tables and reference data every load needs."""
    con.execute(BOOKKEEPING_DDL)
    ensure_raw_tables(con)
    readiness.load_readiness_reference(con)


def load_file(con: duckdb.DuckDBPyConnection, path: Path, kind: str, load_id: str, key: Callable[[], bytes],
              prefetch: _DesePrefetch | None = None) -> FileResult:
    """Read, normalise, validate and insert one file; an :class:`InputError` refuses it."""
    if kind == "student":
        return _load_student(con, path, key(), load_id, known_codes(con))
    if kind == "state":
        return _load_state(con, path, key(), load_id)
    if kind == "readiness":
        return _load_readiness(con, path, load_id)
    return _load_dese(con, path, load_id, prefetch)


def bad_row_examples(con: duckdb.DuckDBPyConnection, load_id: str, path: Path) -> list[dict]:
    """The first quarantined rows of a file in this load: row, column, value, check and the fix (one per row and
    check; a rule over several columns of the row names no column)."""
    rows = con.execute(
        "SELECT source_row, table_name, column_name, value_text, check_name, message FROM quarantine "
        "WHERE load_id = ? AND source_file = ? ORDER BY source_row, check_name, column_name LIMIT ?",
        [load_id, str(path), 50 * EXAMPLES],
    ).fetchall()
    out, seen = [], set()
    for r, t, c, v, chk, message in rows:
        if (r, chk) in seen:
            continue
        seen.add((r, chk))
        whole_row = is_row_rule(chk)
        out.append({"row": r, "column": None if whole_row else (c or None), "value": None if whole_row else v,
                    "check": chk, "fix": _fix_in(message) or fix_for(t, c, chk)})
    return out[:EXAMPLES]


def _fix_in(message: str | None) -> str | None:
    """The fix a reader wrote into its quarantine message ('... How to fix: ...'): the state-reporting layouts name
    their element's fix themselves."""
    if not message or "How to fix:" not in message:
        return None
    return message.split("How to fix:", 1)[1].strip().rstrip(".")


def describe_bad_row(e: dict) -> str:
    """'row 12, column 'grade', value '13': failed isin(...). Fix: ...' for one of :func:`bad_row_examples`."""
    where = f"row {e['row']}" + (f", column {e['column']!r}, value {e['value']!r}" if e["column"] else "")
    return f"{where}: failed {e['check']}. Fix: {e['fix']}."


def refusal(con: duckdb.DuckDBPyConnection, result: FileResult, load_id: str, limit_pct: float) -> str | None:
    """The message refusing ``result``'s file when more than ``limit_pct`` percent of its rows were quarantined."""
    if not result.rows_in or result.rows_quarantined * 100 <= limit_pct * result.rows_in:
        return None
    share = 100 * result.rows_quarantined / result.rows_in
    lines = [f"file {result.path}: {result.rows_quarantined:,} of {result.rows_in:,} rows ({share:.0f}%) failed "
             f"validation, more than the {limit_pct:g}% allowed, so the file is refused. First bad rows:"]
    lines += [f"    {describe_bad_row(e)}" for e in bad_row_examples(con, load_id, result.path)]
    lines.append("    How to fix: correct these rows in the export (or map your spellings in config/sis_spellings.yaml) "
                 "and run again; to load the good rows and quarantine the rest, raise max_quarantined_pct in the "
                 "workspace file or pass --max-quarantined-pct.")
    return "\n".join(lines)


def _audit(con: duckdb.DuckDBPyConnection, load_id: str, result: FileResult, digest: str) -> None:
    con.execute(
        "INSERT INTO load_audit VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
        [load_id, datetime.now(), str(result.path), digest, result.kind, result.report, result.school_year,
         result.rows_in, result.rows_loaded, result.rows_quarantined, result.status, result.message, result.seconds],
    )
    if result.mappings:
        con.executemany("INSERT INTO load_mappings VALUES (?,?,?,?,?,?)",
                        [[load_id, str(result.path), m.column, m.value_from, m.value_to, m.rows]
                         for m in result.mappings])


def _aborted(con: duckdb.DuckDBPyConnection) -> bool:
    """Whether a failed DuckDB statement aborted the load's transaction (then only a rollback may follow)."""
    try:
        con.execute("SELECT 1").fetchall()
    except duckdb.TransactionException:
        return True
    return False


def ingest_into(con: duckdb.DuckDBPyConnection, paths: Iterable[Path | str], *,
                progress: Callable[[str], None] | None = None,
                max_quarantined: float | None = None) -> LoadSummary:
    """Load every file under ``paths`` into ``con`` inside one transaction; raise :class:`IngestError` if any is
    refused: unreadable, or more than ``max_quarantined`` percent of its rows quarantined (default: config)."""
    files = discover(paths)
    limit = max_quarantined_pct(max_quarantined)
    summary = LoadSummary(load_id=uuid.uuid4().hex[:12])
    errors: list[str] = []
    key = functools.cache(load_key)  # the pseudonymization key, read when the first student file needs it
    con.execute("BEGIN TRANSACTION")
    prefetch: _DesePrefetch | None = None
    with room_for_python(con):  # DuckDB's share of the cap while pandas frames and readers hold the rest
        try:
            prepare(con)
            plan = _plan(con, files)
            prefetch = _DesePrefetch([p for p, kind, digest, previous, dup in plan if kind == "dese" and not dup
                                      and previous != digest])
            rows = 0
            for i, (path, kind, digest, previous_hash, duplicate_of) in enumerate(plan, start=1):
                started = time.perf_counter()
                if previous_hash == digest:
                    result = FileResult(path, kind, "", None, "unchanged", message="same bytes already loaded")
                elif duplicate_of is not None:
                    result = FileResult(path, kind, "", None, "duplicate",
                                        message=f"identical bytes already loaded from {duplicate_of}")
                else:
                    try:
                        if previous_hash is not None:
                            _forget(con, str(path))
                        result = load_file(con, path, kind, summary.load_id, key, prefetch)
                        if previous_hash is not None:
                            result.status = "replaced"
                    except InputError as exc:
                        if not _aborted(con):
                            errors.append(str(exc))
                            continue
                        errors.append(f"{exc} (DuckDB's error ended the load there: the files after it were not read; "
                                      "they are checked when it runs again)")
                        break
                    except duckdb.Error as exc:  # out of room: the load stops; raised after the loop, where no
                        # reference to DuckDB's error keeps its connection alive (nanobind warns at exit)
                        if not out_of_room(str(exc)):
                            raise
                        errors.append(f"{path}: DuckDB ran out of room loading it ({str(exc).splitlines()[0]}). "
                                      f"How to fix: {ROOM_FIX}, and run it again")
                        break
                    refused = refusal(con, result, summary.load_id, limit)
                    if refused:
                        errors.append(refused)
                result.seconds = time.perf_counter() - started
                summary.results.append(result)
                _audit(con, summary.load_id, result, digest)
                rows += result.rows_loaded
                progress_display.step(progress, i, len(files), f"{result.status} {path.name}: {rows:,} rows so far"
                                      + (f", {result.rows_quarantined:,} quarantined" if result.rows_quarantined else ""))
                for warning in _warnings(result):
                    progress_display.warn(progress, warning)
            if errors:
                raise IngestError(errors)
            derive_history(con)
            forget_id_hashes(con)
            con.execute("COMMIT")
        except BaseException:
            con.execute("ROLLBACK")
            raise
        finally:
            if prefetch is not None:
                prefetch.close()
    return summary


def _warnings(result: FileResult) -> list[str]:
    """The warnings a read recorded in its message (a DESE export's kept columns, unknown report, missing group...;
    a student extract's columns left out), one line each."""
    if "warning:" not in result.message:
        return []
    return [n.strip().removeprefix("warning:").strip() for n in result.message.split("; ")
            if n.strip().startswith("warning:")]


def _sha256(path: Path) -> str:
    with open(path, "rb") as fh:
        return hashlib.file_digest(fh, "sha256").hexdigest()


def _plan(con: duckdb.DuckDBPyConnection, files: list[Path]) -> list[tuple[Path, str, str, str | None, str | None]]:
    """(path, kind, sha256, hash of this path's earlier load, path already holding these bytes) per file, in load
    order. Identical bytes twice in one batch: the second is a duplicate of the first. The files are hashed on every
    core (hashlib lets go of the GIL): a yearly run reads the bytes of every year's files to find the new ones
    (4.2 GB of CSV at 1M students x 6 years, in the page cache: 3.1 s on one core, 1.6 s on two; #22)."""
    plan = []
    first_with: dict[str, str] = {}
    with ThreadPoolExecutor(max_workers=os.cpu_count() or 1) as pool:
        digests = list(pool.map(_sha256, files))
    for path, digest in zip(files, digests, strict=True):
        previous_hash, duplicate_of = _previous(con, str(path), digest)
        if duplicate_of is None and previous_hash != digest and digest in first_with:
            duplicate_of = first_with[digest]
        first_with.setdefault(digest, str(path))
        plan.append((path, kind_of(path), digest, previous_hash, duplicate_of))
    return plan

"""The DuckDB warehouse: safe writing (one writer, all-or-nothing), read-only access, and its bookkeeping tables.

Writing goes through :class:`StagedWarehouse`: it takes an exclusive lock next to the warehouse file, works on a
copy, and replaces the real file only when every stage succeeded. A failed, interrupted or killed run leaves the
warehouse exactly as it was, and researchers can keep reading the old file while a run is writing.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from importlib.resources import files
from pathlib import Path

import duckdb

from .errors import EquityOutcomesError, WarehouseBusyError

# the bookkeeping tables every load writes: load_audit, quarantine, load_mappings
BOOKKEEPING_DDL = (files(__package__) / "bookkeeping.sql").read_text(encoding="utf-8")


def _busy(path: Path, detail: str = "") -> WarehouseBusyError:
    return WarehouseBusyError(
        f"warehouse {path} is in use by another process{detail}. How to fix: Wait for that run to finish (or stop "
        "it), or pass a different --warehouse."
    )


@contextmanager
def _exclusive_lock(path: Path) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    lock_file = path.with_name(path.name + ".lock")
    fh = open(lock_file, "a+")  # noqa: SIM115  (held open for the lock's lifetime, closed in finally)
    try:
        try:
            fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            fh.seek(0)
            holder = fh.read().strip()
            raise _busy(path, f" (pid {holder})" if holder else "") from None
        fh.seek(0)
        fh.truncate()
        fh.write(str(os.getpid()))
        fh.flush()
        yield
    finally:
        fh.close()


DEFAULT_MEMORY_LIMIT = "4GB"
# What DuckDB may spill into the folder beside the warehouse (<warehouse>.tmp). Its own default, 90% of the free disk,
# let a 1M-student build whose median() had too little memory fill the disk (#22); such a build spills up to ~4 GB.
DEFAULT_SPILL_LIMIT = "20GB"
# (DuckDB setting, environment variable, default, examples of a size)
_LIMITS = (("memory_limit", "EQUITY_OUTCOMES_DUCKDB_MEMORY", DEFAULT_MEMORY_LIMIT, "4GB or 500MB"),
           ("max_temp_directory_size", "EQUITY_OUTCOMES_DUCKDB_SPILL", DEFAULT_SPILL_LIMIT, "20GB or 100GB"))


def _cap_memory(con: duckdb.DuckDBPyConnection) -> duckdb.DuckDBPyConnection:
    """Cap DuckDB's memory (default 4 GB, or EQUITY_OUTCOMES_DUCKDB_MEMORY) so large loads and builds spill to disk
    instead of growing to DuckDB's default of 80% of RAM, and what it spills (default 20 GB, or
    EQUITY_OUTCOMES_DUCKDB_SPILL), so a query past that fails instead of filling the disk. Set with SET after
    connecting, not as a connect-time config: DuckDB refuses a second connection to the same file with a different
    config, so a researcher's plain ``duckdb.connect(path, read_only=True)`` next to ours in one process would fail."""
    for setting, variable, default, examples in _LIMITS:
        limit = os.environ.get(variable, default)
        try:
            con.execute(f"SET {setting} = '{limit.replace(chr(39), '')}'")
        except duckdb.Error as exc:
            con.close()
            raise EquityOutcomesError(
                f"{variable}={limit!r} is not a DuckDB size ({str(exc).splitlines()[0]}). How to fix: use a size "
                f"such as {examples}, or unset it for the {default} default."
            ) from None
    return con


# DuckDB's words when a statement needed more room than it had: memory, or disk for what it spills
OUT_OF_ROOM = ("No space left on device", "Out of Memory Error", "failed to offload", "max_temp_directory_size")
ROOM_FIX = ("give DuckDB more memory (EQUITY_OUTCOMES_DUCKDB_MEMORY=8GB) or, with the disk space for it, more room to "
            "spill (EQUITY_OUTCOMES_DUCKDB_SPILL=50GB: the folder beside the warehouse, <warehouse>.tmp)")


def out_of_room(message: str) -> bool:
    return any(words in message for words in OUT_OF_ROOM)


# DuckDB's share of the memory cap while Python holds memory beside it: pandas frames and DESE readers during a load
# (200,000 students: 3.9 GB peak with 4 GB to DuckDB, 3.1 GB with 3 GB, no slower), dbt during a build
DUCKDB_SHARE_BESIDE_PYTHON = 0.75


@contextmanager
def room_for_python(con: duckdb.DuckDBPyConnection) -> Iterator[None]:
    """Lower DuckDB's memory limit to :data:`DUCKDB_SHARE_BESIDE_PYTHON` of itself for the block, so the process
    as a whole stays within the cap; the limit it had ('3.7 GiB') is restored after."""
    limit = con.execute("SELECT current_setting('memory_limit')").fetchall()[0][0]
    number, unit = limit.split()  # 'KiB' .. 'PiB', else 'bytes'
    mib = float(number) * 1024 ** ("KMGTP".find(unit[0]) - 1) * DUCKDB_SHARE_BESIDE_PYTHON
    con.execute(f"SET memory_limit = '{max(int(mib), 64)}MiB'")
    try:
        yield
    finally:
        con.execute(f"SET memory_limit = '{limit}'")


def connect(path: Path | str, *, read_only: bool = False) -> duckdb.DuckDBPyConnection:
    """Open the warehouse; a lock held by another process becomes a clear :class:`WarehouseBusyError`."""
    path = Path(path)
    if read_only and not path.exists():
        raise EquityOutcomesError(
            f"warehouse {path} does not exist. How to fix: build it first with equity-outcomes run (the demo: "
            "make demo)."
        )
    try:
        con = duckdb.connect(str(path), read_only=read_only)
    except duckdb.IOException as exc:
        if "lock" in str(exc).lower():
            raise _busy(path) from None
        raise EquityOutcomesError(f"cannot open warehouse {path}: {str(exc).splitlines()[0]}. How to fix: check "
                                  "the path, or move the damaged file away and run again") from None
    return _cap_memory(con)


def connect_read_only(path: Path | str) -> duckdb.DuckDBPyConnection:
    return connect(path, read_only=True)


class StagedWarehouse:
    """Exclusive, all-or-nothing write access to a warehouse file.

    >>> with StagedWarehouse(path) as staged:      # doctest: +SKIP
    ...     con = staged.connect(); ...; con.close()
    ...     staged.commit()                        # only now does ``path`` change

    Leaving the block without :meth:`commit` (an exception, a kill) discards the work copy.
    """

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path).resolve()
        self.work_path = self.path.with_name(self.path.name + ".staging")
        self._lock_cm = None
        self.committed = False

    def __enter__(self) -> StagedWarehouse:
        self._lock_cm = _exclusive_lock(self.path)
        self._lock_cm.__enter__()
        try:
            self._discard_work()
            if self.path.exists():
                wal = self.path.with_name(self.path.name + ".wal")
                if wal.exists():
                    # left by a writer outside this tool: fold it in first (needs DuckDB's write lock)
                    with connect(self.path) as probe:
                        probe.execute("CHECKPOINT")
                # Our writers only ever replace the file whole, so a reader that holds it open (a notebook)
                # does not stop the copy; the reader keeps the version it opened.
                shutil.copyfile(self.path, self.work_path)
            with self.connect() as con:
                con.execute(BOOKKEEPING_DDL)
        except BaseException:
            self._lock_cm.__exit__(None, None, None)
            raise
        return self

    def connect(self) -> duckdb.DuckDBPyConnection:
        return connect(self.work_path)

    def commit(self) -> None:
        with self.connect() as con:
            con.execute("CHECKPOINT")
        # checkpoint folds the WAL in; a leftover would be stale
        self.work_path.with_name(self.work_path.name + ".wal").unlink(missing_ok=True)
        os.replace(self.work_path, self.path)
        self.path.with_name(self.path.name + ".wal").unlink(missing_ok=True)
        dir_fd = os.open(self.path.parent, os.O_DIRECTORY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
        self.committed = True

    def _discard_work(self) -> None:
        for p in (self.work_path, self.work_path.with_name(self.work_path.name + ".wal")):
            p.unlink(missing_ok=True)

    def __exit__(self, exc_type, exc, tb) -> None:
        try:
            if not self.committed:
                self._discard_work()
        finally:
            self._lock_cm.__exit__(exc_type, exc, tb)


def object_kind(con: duckdb.DuckDBPyConnection, name: str) -> str | None:
    """'TABLE', 'VIEW' or None for an object of the main schema."""
    rows = con.execute(
        "SELECT table_type FROM information_schema.tables WHERE table_schema = 'main' AND table_name = ?", [name]
    ).fetchall()
    return None if not rows else ("VIEW" if rows[0][0] == "VIEW" else "TABLE")


@contextmanager
def registered(con: duckdb.DuckDBPyConnection, name: str, frame) -> Iterator[None]:
    """``frame`` (pandas) queryable as the view ``name`` for the length of the block."""
    con.register(name, frame)
    try:
        yield
    finally:
        with contextlib.suppress(duckdb.Error):  # a failed statement may have aborted the transaction
            con.unregister(name)


def table_exists(con: duckdb.DuckDBPyConnection, name: str) -> bool:
    """True for a table or a view of the main schema."""
    return object_kind(con, name) is not None


def table_names(con: duckdb.DuckDBPyConnection) -> list[str]:
    return [
        r[0]
        for r in con.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = 'main' ORDER BY 1"
        ).fetchall()
    ]

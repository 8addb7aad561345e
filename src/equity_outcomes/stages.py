"""The stages of the yearly run as plain functions on a warehouse file. Prefect flows and the CLI wire these."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TypeVar

import duckdb

from .build import BuildSummary, build_models
from .errors import EquityOutcomesError
from .ingest.load import LoadSummary, ingest_into
from .warehouse import connect, table_exists

Progress = Callable[[str], None] | None
T = TypeVar("T")


def with_connection(work_path: Path, work: Callable[[duckdb.DuckDBPyConnection], T]) -> T:
    """Run ``work`` on a connection that is closed afterwards. A user-facing error is re-raised without the
    frames that held the connection, so orchestrators that keep failed states (Prefect) keep no DuckDB object."""
    con = connect(work_path)
    error: EquityOutcomesError | None = None
    try:
        return work(con)
    except EquityOutcomesError as exc:
        error = exc
    finally:
        con.close()
    del con
    raise error.with_traceback(None)


def ingest_stage(work_path: Path, sources: Iterable[Path], progress: Progress = None) -> LoadSummary:
    return with_connection(work_path, lambda con: ingest_into(con, sources, progress=progress))


def build_stage(work_path: Path, progress: Progress = None, *, skip_unchanged: bool = False) -> BuildSummary:
    return with_connection(work_path, lambda con: build_models(con, progress=progress, skip_unchanged=skip_unchanged))


def marts_are_built(work_path: Path) -> bool:
    con = connect(work_path)
    try:
        return table_exists(con, "metric_values")
    finally:
        con.close()


def post_build_stages(
    work_path: Path, *, school_year: int | None = None, baseline_year: int | None = None, progress: Progress = None
) -> dict:
    """Stages after the marts: target evaluation (when the targets module is installed)."""
    return {"targets": evaluate_stage(work_path, current_year=school_year, baseline_year=baseline_year,
                                      progress=progress)}


def evaluate_stage(
    work_path: Path, *, current_year: int | None = None, baseline_year: int | None = None,
    targets_file: Path | None = None, baseline_window: int = 1, progress: Progress = None,
) -> dict:
    from .targets import evaluate_targets

    def evaluate(con: duckdb.DuckDBPyConnection):
        con.execute("BEGIN TRANSACTION")
        try:
            out = evaluate_targets(con, baseline_year=baseline_year, current_year=current_year,
                                   targets_file=targets_file, baseline_window=baseline_window)
            _keep_history(con, current_year)
            con.execute("COMMIT")
            return out
        except BaseException:
            con.execute("ROLLBACK")
            raise

    results = with_connection(work_path, evaluate)
    counts = results["status"].value_counts().to_dict() if len(results) else {}
    if progress:
        progress(f"evaluated {len(results):,} target results: " + ", ".join(f"{k} {v}" for k, v in sorted(counts.items())))
    return {"n_results": len(results), "by_status": counts}


def _keep_history(con: duckdb.DuckDBPyConnection, requested_year: int | None) -> None:
    """target_results holds the latest evaluation; target_results_history keeps one evaluation per year judged
    (``evaluated_year``: the requested year, or the latest year in the results), so a backfill keeps every year."""
    year = requested_year or con.execute("SELECT max(current_year) FROM target_results").fetchall()[0][0]
    if year is None:
        return
    con.execute("CREATE TABLE IF NOT EXISTS target_results_history AS "
                "SELECT CAST(NULL AS INTEGER) AS evaluated_year, * FROM target_results LIMIT 0").fetchall()
    con.execute("DELETE FROM target_results_history WHERE evaluated_year = ?", [year]).fetchall()
    con.execute("INSERT INTO target_results_history BY NAME SELECT ? AS evaluated_year, * FROM target_results",
                [year]).fetchall()


def publish_stage(warehouse: Path, out_dir: Path, progress: Progress = None) -> dict:
    from .publish import publish_scorecards

    summary = publish_scorecards(warehouse, out_dir, progress=progress)
    return {"scorecards": summary}

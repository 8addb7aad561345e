"""The stages of the yearly run as plain functions on a warehouse file. Prefect flows and the CLI wire these."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path

from .build import BuildSummary, build_models
from .ingest.load import LoadSummary, ingest_into
from .warehouse import connect, table_exists

Progress = Callable[[str], None] | None


def ingest_stage(work_path: Path, sources: Iterable[Path], progress: Progress = None) -> LoadSummary:
    con = connect(work_path)
    try:
        return ingest_into(con, sources, progress=progress)
    finally:
        con.close()


def build_stage(work_path: Path, progress: Progress = None) -> BuildSummary:
    con = connect(work_path)
    try:
        return build_models(con, progress=progress)
    finally:
        con.close()


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
    targets_file: Path | None = None, progress: Progress = None,
) -> dict:
    from .targets import evaluate_targets

    con = connect(work_path)
    try:
        con.execute("BEGIN TRANSACTION")
        try:
            results = evaluate_targets(
                con, baseline_year=baseline_year, current_year=current_year, targets_file=targets_file
            )
            con.execute("COMMIT")
        except BaseException:
            con.execute("ROLLBACK")
            raise
    finally:
        con.close()
    counts = results["status"].value_counts().to_dict() if len(results) else {}
    if progress:
        progress(f"evaluated {len(results):,} target results: " + ", ".join(f"{k} {v}" for k, v in sorted(counts.items())))
    return {"n_results": len(results), "by_status": counts}


def publish_stage(warehouse: Path, out_dir: Path, progress: Progress = None) -> dict:
    from .publish import publish_scorecards

    summary = publish_scorecards(warehouse, out_dir, progress=progress)
    return {"scorecards": summary}

"""The stages of the yearly run as plain functions on a warehouse file. Prefect flows and the CLI wire these."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

import duckdb

from . import progress as progress_display
from .errors import EquityOutcomesError
from .models.build import BuildSummary, build_models, is_current
from .warehouse import connect, table_exists

if TYPE_CHECKING:  # ingest's validation (pandas, pandera: ~0.6 s) is imported by the ingest stage only (#22)
    from .ingest.load import LoadSummary

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


def ingest_stage(work_path: Path, sources: Iterable[Path], progress: Progress = None,
                 max_quarantined: float | None = None) -> LoadSummary:
    """Load ``sources``; ``max_quarantined``: refuse a file with more quarantined rows than this percent."""
    from .ingest.load import ingest_into

    with progress_display.stage("ingest") as shown:
        progress = progress_display.tee(progress)
        load = with_connection(work_path, lambda con: ingest_into(con, sources, progress=progress,
                                                                  max_quarantined=max_quarantined))
        if shown:
            t = load.totals()
            shown.done(f"{t['files']:,} files ({t['files_loaded']:,} loaded, {t['files_unchanged']:,} unchanged), "
                       f"{t['rows_loaded']:,} rows, {t['rows_quarantined']:,} quarantined")
    return load


def build_stage(work_path: Path, progress: Progress = None, *, skip_unchanged: bool = False,
                full_refresh: bool = False, engine: str = "duckdb") -> BuildSummary:
    """Build the SQL models (``build_models``: by changed school year unless ``full_refresh``; ``skip_unchanged``;
    ``engine``: ``duckdb`` or ``spark``, the same models on Apache Spark, docs/spark.md)."""
    with progress_display.stage("build") as shown:
        progress = progress_display.tee(progress)
        summary = with_connection(work_path, lambda con: build_models(
            con, progress=progress, skip_unchanged=skip_unchanged, full_refresh=full_refresh, engine=engine))
        if shown:
            shown.done("nothing changed: not rebuilt" if summary.skipped else f"{len(summary.models)} models built")
    return summary


EVALUATED_WITH = "evaluation_settings"  # the judged and baseline years and targets file of the last evaluation


def _evaluation_settings(school_year: int | None, baseline_year: int | None, targets_file: Path | None) -> str:
    path = Path(targets_file) if targets_file else None  # a missing file: not up to date; evaluate says why
    targets = (hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else f"no file {path}") if path else None
    return json.dumps({"school_year": school_year, "baseline_year": baseline_year, "targets_file": targets})


def is_up_to_date(work_path: Path, engine: str = "duckdb", *, school_year: int | None = None,
                  baseline_year: int | None = None, targets_file: Path | None = None) -> bool:
    """The marts were built by this code from these catalogs and inputs, and evaluated with these settings: a run
    over unchanged files is a no-op (after an upgrade of the package, an edit of a catalog or other settings the
    run redoes what they change)."""
    with connect(work_path) as con:
        return is_current(con, engine) and table_exists(con, EVALUATED_WITH) and con.execute(
            f"SELECT settings FROM {EVALUATED_WITH}").fetchall() == [
            (_evaluation_settings(school_year, baseline_year, targets_file),)]


def marts_are_built(work_path: Path) -> bool:
    with connect(work_path) as con:
        return table_exists(con, "metric_values")


def post_build_stages(
    work_path: Path, *, school_year: int | None = None, baseline_year: int | None = None, progress: Progress = None,
    targets_file: Path | None = None,
) -> dict:
    """Stages after the marts: target evaluation, its settings recorded for :func:`is_up_to_date`."""
    out = {"targets": evaluate_stage(work_path, current_year=school_year, baseline_year=baseline_year,
                                     targets_file=targets_file, progress=progress)}
    with_connection(work_path, lambda con: con.execute(
        f"CREATE OR REPLACE TABLE {EVALUATED_WITH} AS SELECT ? AS settings",
        [_evaluation_settings(school_year, baseline_year, targets_file)]))
    return out


def evaluate_stage(
    work_path: Path, *, current_year: int | None = None, baseline_year: int | None = None,
    targets_file: Path | None = None, baseline_window: int = 1, progress: Progress = None,
) -> dict:
    """Judge every target on one year: ``current_year``, else the latest year with student data
    (judge/judged_year.py); the result says per target which sources have no data for that year."""
    from .judge import evaluate_targets
    from .judge.judged_year import choose_judged_year, coverage

    def evaluate(con: duckdb.DuckDBPyConnection):
        year = choose_judged_year(con, current_year)
        if baseline_year is not None and year is not None and baseline_year > year:
            raise EquityOutcomesError(f"the baseline year {baseline_year} is after the judged year {year}. "
                                      "How to fix: pass a --baseline-year before --year.")
        # no transaction around it: the SQL runs on dbt's connection; the caller's staged copy keeps it atomic
        out = evaluate_targets(con, baseline_year=baseline_year, current_year=year, targets_file=targets_file,
                               baseline_window=baseline_window)
        _keep_history(con, year)
        return out, year, (coverage(con, year, targets_file) if year is not None else [])

    with progress_display.stage("evaluate") as shown:
        results, year, years = with_connection(work_path, evaluate)
        counts = results["status"].value_counts().to_dict() if len(results) else {}
        message = (f"{len(results):,} target results judged on {year}: "
                   + ", ".join(f"{k} {v}" for k, v in sorted(counts.items())))
        if progress:
            progress(message)
        if shown:
            shown.done(message)
    return {"n_results": len(results), "by_status": counts, "judged_year": year,
            "coverage": {t.target_id: t.note() for t in years}}


def _keep_history(con: duckdb.DuckDBPyConnection, requested_year: int | None) -> None:
    """target_results holds the latest evaluation; target_results_history keeps one evaluation per year judged
    (``evaluated_year``: the requested year, or the latest year in the results), so a backfill keeps every year."""
    year = requested_year or con.execute("SELECT max(current_year) FROM target_results").fetchall()[0][0]
    if year is None:
        return
    con.execute("CREATE TABLE IF NOT EXISTS target_results_history AS "
                "SELECT CAST(NULL AS INTEGER) AS evaluated_year, * FROM target_results LIMIT 0").fetchall()
    have = {r[0] for r in con.execute("SELECT column_name FROM information_schema.columns "
                                      "WHERE table_name = 'target_results_history'").fetchall()}
    for name, kind in con.execute("SELECT column_name, data_type FROM information_schema.columns "
                                  "WHERE table_name = 'target_results' ORDER BY ordinal_position").fetchall():
        if name not in have:  # a column target_results gained since the history began (older rows: NULL)
            con.execute(f'ALTER TABLE target_results_history ADD COLUMN "{name}" {kind}').fetchall()
    con.execute("DELETE FROM target_results_history WHERE evaluated_year = ?", [year]).fetchall()
    con.execute("INSERT INTO target_results_history BY NAME SELECT ? AS evaluated_year, * FROM target_results",
                [year]).fetchall()


def publish_stage(warehouse: Path, out_dir: Path, progress: Progress = None, rules_file: Path | None = None,
                  pdf: bool = False) -> dict:
    """Scorecards and exports under the disclosure control (``rules_file``: the workspace's rules, else
    config/disclosure.yaml), audited before they replace the last publication."""
    from .publish import publish_scorecards

    with progress_display.stage("publish") as shown:
        summary = publish_scorecards(warehouse, out_dir, progress=progress_display.tee(progress),
                                     rules_file=rules_file, pdf=pdf)
        if shown:
            shown.done(f"{summary['n_pages']:,} pages -> {summary['index']}")
    return {"scorecards": summary}


def growth_stage(work_path: Path, *, years: list[int] | None = None, baseline_year: int | None = None,
                 max_order: int | None = None, progress: Progress = None):
    """SGPs from score histories into ``student_sgp`` (``equity-outcomes growth``); rebuild the models after it."""
    import dataclasses

    from .judge.growth import compute_growth, load_settings

    settings = load_settings()
    if max_order is not None:
        settings = dataclasses.replace(settings, max_order=max_order)
    with progress_display.stage("growth") as shown:
        progress = progress_display.tee(progress)
        summary = with_connection(work_path, lambda con: compute_growth(
            con, years=years, baseline_year=baseline_year, settings=settings, progress=progress))
        if shown:
            shown.done(f"{summary.students_scored:,} SGPs in {summary.cohorts} cohorts")
    return summary

"""The yearly outcomes flow: ingest -> validate -> build marts -> evaluate targets -> publish scorecards.

Thin Prefect wiring over ``equity_outcomes.stages``. All writing happens on a staged copy of the warehouse that
replaces the real file only when every stage succeeded (``StagedWarehouse``), so a failed stage leaves the
warehouse as it was. Run it with ``equity-outcomes run`` (ephemeral) or serve it with ``equity-outcomes serve``.
"""

from __future__ import annotations

from pathlib import Path

from prefect import flow, get_run_logger, task
from prefect.artifacts import create_markdown_artifact, create_table_artifact
from prefect.cache_policies import NO_CACHE

from equity_outcomes import stages
from equity_outcomes.reporting import quarantine_rows, run_summary_markdown
from equity_outcomes.warehouse import StagedWarehouse
from equity_outcomes.workspace import default_demo_raw, default_warehouse

DEFAULT_RAW = default_demo_raw()
DEFAULT_WAREHOUSE = default_warehouse()


def _retry_on_filesystem_error(task, task_run, state) -> bool:
    """Retry only transient file-system errors; bad data never gets better by retrying."""
    try:
        state.result()
    except (BlockingIOError, TimeoutError, InterruptedError):
        return True
    except Exception:
        return False
    return False


@task(name="ingest-sources", cache_policy=NO_CACHE, retries=2, retry_delay_seconds=2,
      retry_condition_fn=_retry_on_filesystem_error)
def ingest_sources(work_path: Path, sources: list[Path], max_quarantined: float | None = None):
    log = get_run_logger()
    return stages.ingest_stage(work_path, sources, progress=log.info, max_quarantined=max_quarantined)


@task(name="build-marts", cache_policy=NO_CACHE)
def build_marts(work_path: Path, engine: str = "duckdb"):
    return stages.build_stage(work_path, progress=get_run_logger().info, engine=engine)


@task(name="evaluate-targets", cache_policy=NO_CACHE)
def evaluate_targets(work_path: Path, school_year: int | None, baseline_year: int | None,
                     targets_file: Path | None = None) -> dict:
    return stages.post_build_stages(work_path, school_year=school_year, baseline_year=baseline_year,
                                    progress=get_run_logger().info, targets_file=targets_file)


@task(name="publish-scorecards", cache_policy=NO_CACHE)
def publish_scorecards(warehouse: Path, out_dir: Path, rules_file: Path | None = None, pdf: bool = False) -> dict:
    return stages.publish_stage(warehouse, out_dir, progress=get_run_logger().info, rules_file=rules_file, pdf=pdf)


@flow(name="yearly-outcomes", log_prints=True)
def yearly_outcomes(
    school_year: int | None = None,
    raw_dir: Path = DEFAULT_RAW,
    warehouse: Path = DEFAULT_WAREHOUSE,
    baseline_year: int | None = None,
    dashboards: Path | None = None,
    extra_sources: list[Path] | None = None,
    force: bool = False,
    max_quarantined: float | None = None,
    targets_file: Path | None = None,
    engine: str = "duckdb",
    disclosure_rules: Path | None = None,
    pdf: bool = False,
) -> dict:
    """Load ``raw_dir`` (and ``extra_sources``) into ``warehouse``, rebuild, evaluate and publish.

    school_year: the year judged (spring year, 2024 = 2023-24); default the latest year in the data.
    baseline_year: judge every school against this year instead of its roster baseline.
    A second run over unchanged files, by the same code with the same catalogs and settings, changes nothing and
    says so.
    max_quarantined: refuse a file with more quarantined rows than this percent (default: config/ingest.yaml).
    targets_file: a copy of config/targets.yaml with other thresholds.
    pdf: also print PDF report cards (one per school and the network) into ``dashboards/reports/``.
    engine: where the SQL models run, ``duckdb`` or ``spark`` (docs/spark.md).
    """
    sources = [Path(raw_dir), *[Path(p) for p in (extra_sources or [])]]
    with StagedWarehouse(warehouse) as staged:
        load = ingest_sources(staged.work_path, sources, max_quarantined)
        if not load.changed and not force and stages.is_up_to_date(
                staged.work_path, engine, school_year=school_year, baseline_year=baseline_year,
                targets_file=targets_file):
            summary = {"no_op": True, "load": load.totals(), "load_id": load.load_id}
            create_markdown_artifact(
                key="yearly-outcomes-summary",
                markdown=run_summary_markdown(staged.work_path, load, None, None, no_op=True),
                description="Yearly outcomes run summary",
            )
            print("No input, catalog or code changed since the last run: the warehouse is unchanged (no-op).")
            return summary
        build = build_marts(staged.work_path, engine)
        extra = evaluate_targets(staged.work_path, school_year, baseline_year, targets_file)
        quarantined = quarantine_rows(staged.work_path, load.load_id)
        staged.commit()
    if dashboards is not None:  # a failed disclosure audit fails here and leaves the previous publication
        extra.update(publish_scorecards(Path(warehouse), Path(dashboards), disclosure_rules, pdf))
    # ratings in the summary come from the published (disclosure-controlled) rows when scorecards were published
    markdown = run_summary_markdown(Path(warehouse), load, build, extra)
    create_markdown_artifact(key="yearly-outcomes-summary", markdown=markdown,
                             description="Yearly outcomes run summary")
    create_table_artifact(key="quarantined-rows", table=quarantined or [{"note": "no rows quarantined"}],
                          description="Rows refused by validation in this run")
    return {"no_op": False, "load": load.totals(), "load_id": load.load_id, "build_seconds": build.seconds, **extra}


@flow(name="backfill-outcomes")
def backfill(first_year: int, last_year: int, raw_dir: Path = DEFAULT_RAW,
             warehouse: Path = DEFAULT_WAREHOUSE, dashboards: Path | None = None, pdf: bool = False) -> list[dict]:
    """Evaluate each year from first_year to last_year in turn (one sub-flow run per year); the last year
    publishes (with ``pdf``, the report cards too), its pages carrying every year's ratings."""
    if first_year > last_year:
        raise ValueError(f"first_year {first_year} is after last_year {last_year}")
    results = []
    for year in range(first_year, last_year + 1):
        results.append(yearly_outcomes(school_year=year, raw_dir=raw_dir, warehouse=warehouse,
                                       dashboards=dashboards if year == last_year else None, force=True,
                                       pdf=pdf))
    return results

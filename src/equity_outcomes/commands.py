"""Subcommands of the ``equity-outcomes`` CLI. Each parses arguments and calls library functions."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from . import paths
from .cli import command
from .errors import EquityOutcomesError


def say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _warehouse_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument("--warehouse", type=Path, default=paths.default_warehouse(),
                   help="DuckDB warehouse file (default: data/processed/warehouse.duckdb)")


@command("synth", "Generate the synthetic network (student extracts, DESE-style exports, roster, known effects).")
def _synth(p: argparse.ArgumentParser) -> None:
    p.add_argument("--out", type=Path, default=paths.default_demo_raw())
    p.add_argument("--seed", type=int, default=20240601)
    p.add_argument("--students", type=int, default=8000)
    p.add_argument("--schools", type=int, default=None)
    p.add_argument("--first-year", type=int, default=2018)
    p.add_argument("--last-year", type=int, default=2025)
    p.add_argument("--no-dese", action="store_true", help="skip the DESE-style xlsx exports (large runs)")

    def handler(a):
        from .synth import generate_network

        s = generate_network(a.out, seed=a.seed, n_students=a.students, n_schools=a.schools,
                             first_year=a.first_year, last_year=a.last_year, dese_exports=not a.no_dese,
                             progress=say)
        print(f"synthetic network: {s.n_schools} schools, {s.n_students:,} students, years {s.years[0]}-{s.years[-1]}, "
              f"{len(s.files)} files in {s.out_dir} ({s.seconds:.1f} s)")

    p.set_defaults(handler=handler)


@command("ingest", "Load DESE exports and student extracts (files or folders) into the warehouse.")
def _ingest(p: argparse.ArgumentParser) -> None:
    p.add_argument("paths", nargs="+", type=Path)
    _warehouse_arg(p)
    p.add_argument("--no-build", action="store_true", help="load only; do not rebuild the marts")

    def handler(a):
        from . import stages
        from .warehouse import StagedWarehouse

        with StagedWarehouse(a.warehouse) as staged:
            load = stages.ingest_stage(staged.work_path, a.paths, progress=say)
            if not a.no_build and load.changed:
                stages.build_stage(staged.work_path, progress=say)
            staged.commit()
        t = load.totals()
        print(f"{t['files']} files: {t['files_loaded']} loaded, {t['files_unchanged']} unchanged; "
              f"{t['rows_loaded']:,} rows loaded, {t['rows_quarantined']:,} quarantined -> {a.warehouse}")

    p.set_defaults(handler=handler)


@command("build", "(Re)build every SQL model (staging -> intermediate -> marts) from what has been ingested.")
def _build(p: argparse.ArgumentParser) -> None:
    _warehouse_arg(p)
    p.add_argument("--force", action="store_true", help="rebuild even when no model, catalog or input changed")
    p.add_argument("--test", action="store_true", help="then run the models' tests (grains, values; docs/architecture.md)")

    def handler(a):
        from . import stages
        from .warehouse import StagedWarehouse

        if not Path(a.warehouse).exists():
            raise EquityOutcomesError(f"warehouse {a.warehouse} does not exist: ingest files first")
        with StagedWarehouse(a.warehouse) as staged:
            s = stages.build_stage(staged.work_path, progress=say, skip_unchanged=not a.force)
            if a.test:  # on the staged copy: a failing test leaves the warehouse as it was
                from .build import check_model_tests

                check_model_tests(staged.work_path, say)
            if not s.skipped:
                staged.commit()
        print(("nothing changed since the last build: no-op" if s.skipped else f"built {len(s.models)} models")
              + f" in {s.seconds:.1f} s -> {a.warehouse}")

    p.set_defaults(handler=handler)


@command("evaluate", "Evaluate every Outcomes target against its baseline; writes table target_results.")
def _evaluate(p: argparse.ArgumentParser) -> None:
    _warehouse_arg(p)
    p.add_argument("--baseline-year", type=int, default=None, help="baseline for every school (default: roster)")
    p.add_argument("--year", type=int, default=None, help="year judged (default: latest with data)")
    p.add_argument("--targets", type=Path, default=None, help="a copy of config/targets.yaml with your thresholds")
    p.add_argument("--baseline-window", type=int, choices=[1, 2, 3], default=1,
                   help="pool the 1-3 years ending at the baseline year (default 1)")

    def handler(a):
        from . import stages
        from .warehouse import StagedWarehouse

        with StagedWarehouse(a.warehouse) as staged:
            if not stages.marts_are_built(staged.work_path):
                stages.build_stage(staged.work_path, progress=say)
            r = stages.evaluate_stage(staged.work_path, current_year=a.year, baseline_year=a.baseline_year,
                                      targets_file=a.targets, baseline_window=a.baseline_window, progress=say)
            staged.commit()
        print(f"{r['n_results']:,} target results -> table target_results in {a.warehouse}")

    p.set_defaults(handler=handler)


@command("export", "Write a warehouse table as it is to CSV, Parquet or XLSX.")
def _export(p: argparse.ArgumentParser) -> None:
    p.add_argument("table", help="e.g. metric_values, target_results, reconciliation, quarantine, load_audit")
    _warehouse_arg(p)
    p.add_argument("--out", type=Path, required=True, help="FILE.csv, FILE.parquet or FILE.xlsx")

    def handler(a):
        from .exports import export_table

        n = export_table(a.warehouse, a.table, a.out)
        print(f"{n:,} rows of {a.table} -> {a.out}")

    p.set_defaults(handler=handler)


def _add_run_args(p: argparse.ArgumentParser) -> None:
    _warehouse_arg(p)
    p.add_argument("--raw", type=Path, default=paths.default_demo_raw(), help="folder of raw files (default: data/raw/demo)")
    p.add_argument("--also", type=Path, action="append", default=[], help="more files/folders to load (repeatable)")
    p.add_argument("--year", type=int, default=None, help="school year judged (spring year; default latest)")
    p.add_argument("--baseline-year", type=int, default=None)
    p.add_argument("--dashboards", type=Path, default=paths.project_root() / "dashboards")
    p.add_argument("--no-scorecards", action="store_true")
    p.add_argument("--force", action="store_true", help="rebuild even when no input changed")
    p.add_argument("--no-prefect", action="store_true", help="call the library directly, without Prefect")


def _run(a) -> dict:
    dashboards = None if a.no_scorecards else a.dashboards
    if a.no_prefect:
        from .runner import run_yearly

        r = run_yearly([a.raw, *a.also], a.warehouse, school_year=a.year, baseline_year=a.baseline_year,
                       dashboards=dashboards, force=a.force, progress=say)
        return {"no_op": r.no_op, "load": r.load.totals(), **r.extra}
    sys.path.insert(0, str(paths.project_root()))
    from pipelines.yearly_outcomes import yearly_outcomes

    return yearly_outcomes(school_year=a.year, raw_dir=a.raw, warehouse=a.warehouse, baseline_year=a.baseline_year,
                           dashboards=dashboards, extra_sources=a.also, force=a.force)


@command("run", "Run the yearly flow once (Prefect, ephemeral): ingest, build, evaluate, publish.")
def _run_cmd(p: argparse.ArgumentParser) -> None:
    _add_run_args(p)

    def handler(a):
        started = time.perf_counter()
        result = _run(a)
        print_run_summary(a.warehouse, result, time.perf_counter() - started)

    p.set_defaults(handler=handler)


@command("demo", "Generate the synthetic network (if missing) and run the yearly flow on it end to end.")
def _demo(p: argparse.ArgumentParser) -> None:
    _add_run_args(p)
    p.add_argument("--fresh", action="store_true", help="regenerate the synthetic data and the warehouse")

    def handler(a):
        import os
        import shutil

        os.environ.setdefault("EQUITY_OUTCOMES_ID_KEY", "demo")  # synthetic data only: the published demo key
        started = time.perf_counter()
        if a.fresh:
            shutil.rmtree(a.raw, ignore_errors=True)
            Path(a.warehouse).unlink(missing_ok=True)
        if not (Path(a.raw) / "roster.csv").exists():
            from .synth import generate_network

            say(f"generating the synthetic network into {a.raw} ...")
            s = generate_network(a.raw, progress=say)
            say(f"  {s.n_schools} schools, {s.n_students:,} students, {len(s.files)} files ({s.seconds:.1f} s)")
        result = _run(a)
        print_run_summary(a.warehouse, result, time.perf_counter() - started, dashboards=a.dashboards)

    p.set_defaults(handler=handler)


def print_run_summary(warehouse: Path, result: dict, seconds: float, dashboards: Path | None = None) -> None:
    from .warehouse import connect_read_only

    load = result.get("load", {})
    print(f"\nequity-outcomes run finished in {seconds:.1f} s" + (" (no input changed: no-op)" if result.get("no_op") else ""))
    print(f"  files: {load.get('files', 0)} ({load.get('files_loaded', 0)} loaded, "
          f"{load.get('files_unchanged', 0)} unchanged); rows loaded {load.get('rows_loaded', 0):,}, "
          f"quarantined {load.get('rows_quarantined', 0):,}")
    con = connect_read_only(warehouse)
    try:
        tables = {r[0] for r in con.execute("SELECT table_name FROM information_schema.tables").fetchall()}
        if "metric_values" in tables:
            n, schools = con.execute(
                "SELECT count(*), count(DISTINCT org_code) FILTER (WHERE org_level='school') FROM metric_values"
            ).fetchall()[0]
            print(f"  metric_values: {n:,} rows for {schools:,} schools")
        if "reconciliation" in tables:
            rec = dict(con.execute("SELECT status, count(*) FROM reconciliation GROUP BY 1").fetchall())
            print("  reconciliation with DESE: " + (", ".join(f"{k} {v:,}" for k, v in sorted(rec.items())) or "nothing to compare"))
        if "target_results" in tables:
            rows = con.execute(
                "SELECT status, count(*) FROM target_results WHERE subgroup='all' AND org_level='school' GROUP BY 1 ORDER BY 2 DESC"
            ).fetchall()
            print("  targets (all students, schools): " + ", ".join(f"{s} {n}" for s, n in rows))
    finally:
        con.close()
    print(f"  warehouse: {Path(warehouse).resolve()}")
    if dashboards is not None and (Path(dashboards) / "index.html").exists():
        print(f"  scorecards: {(Path(dashboards) / 'index.html').resolve()}")


@command("docs", "Regenerate the documents derived from the catalogs and schemas (data contract, metric dictionary).")
def _docs(p: argparse.ArgumentParser) -> None:
    def handler(a):
        from .docgen import write_docs

        for path in write_docs():
            print(f"wrote {path}")

    p.set_defaults(handler=handler)


@command("readiness-template", "Write a fill-in readiness self-assessment workbook (one row per item, ratings 1-4).")
def _readiness_template(p: argparse.ArgumentParser) -> None:
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--school", default=None, help="8-digit org code to pre-fill")
    p.add_argument("--year", type=int, default=None, help="school year (spring year) to pre-fill")
    _warehouse_arg(p)

    def handler(a):
        from .readiness import write_template

        code = a.school.zfill(8) if a.school else None
        name = None
        if code and Path(a.warehouse).exists():
            from .warehouse import connect_read_only

            con = connect_read_only(a.warehouse)
            try:
                rows = con.execute("SELECT school_name FROM roster WHERE org_code = ?", [code]).fetchall()
                name = rows[0][0] if rows else None
            except Exception:  # no roster yet: the template is still useful
                name = None
            finally:
                con.close()
        out = write_template(a.out, org_code=code, school_name=name, school_year=a.year)
        print(f"readiness template -> {out}")

    p.set_defaults(handler=handler)


DEFAULT_CRON = "0 6 15 10 *"  # 06:00 on 15 October: after DESE's autumn release of the prior year's profiles


@command("serve", "Serve the yearly flow as a Prefect deployment with a yearly cron schedule and a manual trigger.")
def _serve(p: argparse.ArgumentParser) -> None:
    p.add_argument("--name", default="yearly", help="deployment name (default: yearly)")
    p.add_argument("--cron", default=DEFAULT_CRON, help=f"cron schedule, server time zone (default: '{DEFAULT_CRON}')")
    p.add_argument("--raw", type=Path, default=paths.default_demo_raw())
    p.add_argument("--also", type=Path, action="append", default=[])
    _warehouse_arg(p)
    p.add_argument("--dashboards", type=Path, default=paths.project_root() / "dashboards")

    def handler(a):
        import os

        if not os.environ.get("PREFECT_API_URL"):
            from prefect.settings import PREFECT_API_URL

            if not PREFECT_API_URL.value():
                raise EquityOutcomesError(
                    "serve needs a long-running Prefect server (schedules only fire there). Start one in another "
                    "terminal: `prefect server start` (offline; UI at http://127.0.0.1:4200), then "
                    "`export PREFECT_API_URL=http://127.0.0.1:4200/api` and run `equity-outcomes serve` again."
                )
        sys.path.insert(0, str(paths.project_root()))
        from prefect import serve

        from pipelines.yearly_outcomes import yearly_outcomes

        deployment = yearly_outcomes.to_deployment(
            name=a.name,
            cron=a.cron,
            parameters={"raw_dir": str(a.raw.resolve()), "warehouse": str(Path(a.warehouse).resolve()),
                        "dashboards": str(a.dashboards.resolve()),
                        "extra_sources": [str(x.resolve()) for x in a.also]},
            description="Yearly outcomes: ingest, build marts, evaluate targets, publish scorecards",
            tags=["equity-outcomes"],
        )
        say(f"serving deployment yearly-outcomes/{a.name} (cron '{a.cron}'); trigger a run now with: "
            f"prefect deployment run 'yearly-outcomes/{a.name}'. Ctrl-C stops.")
        serve(deployment, print_starting_message=False)

    p.set_defaults(handler=handler)


@command("scorecards", "Publish offline HTML scorecards for every network school and the network, plus CSV/XLSX exports.")
def _scorecards(p: argparse.ArgumentParser) -> None:
    from .publish.scorecards import add_cli

    _warehouse_arg(p)
    add_cli(p)

"""The handlers of the ``equity-outcomes`` commands: each takes the parsed arguments (config/cli.yaml) and calls
library functions."""

from __future__ import annotations

import argparse
import contextlib
import sys
import time
from collections.abc import Callable
from pathlib import Path

from . import paths, progress
from .errors import EquityOutcomesError, InputError
from .workspace import Workspace, default_demo_raw, find_workspace, resolve_workspace

HANDLERS: dict[str, Callable[[argparse.Namespace], int | None]] = {}  # command -> its handler


def command(*names: str):
    """Register the decorated function as the handler of the commands ``names`` (their arguments: config/cli.yaml)."""
    def register(func):
        HANDLERS.update(dict.fromkeys(names, func))
        return func

    return register


def say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def use_workspace(a, *, demo: bool = False) -> Workspace | None:
    """The command's workspace (``--workspace``, else the one holding the current folder; the demo workspace for
    ``demo``), and ``a.warehouse`` set from it unless given. With ``--warehouse`` outside any workspace: None."""
    if getattr(a, "warehouse", None) is not None and a.workspace is None and not demo:
        return find_workspace()
    ws = resolve_workspace(a.workspace, demo=demo)
    if getattr(a, "warehouse", None) is None:
        a.warehouse = ws.warehouse
    return ws


def use_existing_warehouse(a) -> Workspace | None:
    """:func:`use_workspace` for commands that read what was loaded: the warehouse must exist."""
    ws = use_workspace(a)
    if not Path(a.warehouse).exists():
        raise EquityOutcomesError(f"warehouse {a.warehouse} does not exist. How to fix: load files first "
                                  "(equity-outcomes run, or ingest PATH)")
    return ws


def _max_quarantined(a, ws: Workspace | None) -> float | None:
    if a.max_quarantined_pct is not None:
        return a.max_quarantined_pct
    return ws.max_quarantined_pct if ws is not None else None


def state_formats(text: str) -> set[str]:
    from .synth.state_files import parse_formats

    try:
        return parse_formats(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


@command("synth")
def _synth(a) -> int | None:
    from .synth import generate_network
    from .synth.state_files import write_state_layouts

    a.out = a.out or default_demo_raw()
    with progress.stage("synth") as shown:
        s = generate_network(a.out, seed=a.seed, n_students=a.students, n_schools=a.schools,
                             first_year=a.first_year, last_year=a.last_year, dese_exports=not a.no_dese,
                             progress=progress.tee(None))
        write_state_layouts(a.out, a.format, progress=progress.tee(None))
        if shown:
            shown.done(f"{len(s.files)} files")
    print(f"synthetic network: {s.n_schools} schools, {s.n_students:,} students, years {s.years[0]}-{s.years[-1]}, "
          f"{len(s.files)} files in {s.out_dir} ({s.seconds:.1f} s)")


@command("ingest")
def _ingest(a) -> int | None:
    from . import stages
    from .warehouse import StagedWarehouse

    ws = use_workspace(a)
    with StagedWarehouse(a.warehouse) as staged:
        load = stages.ingest_stage(staged.work_path, a.paths, max_quarantined=_max_quarantined(a, ws))
        if not a.no_build and load.changed:
            stages.build_stage(staged.work_path)
        staged.commit()
    t = load.totals()
    print(f"{t['files']} files: {t['files_loaded']} loaded, {t['files_unchanged']} unchanged; "
          f"{t['rows_loaded']:,} rows loaded, {t['rows_quarantined']:,} quarantined -> {a.warehouse}")


@command("build")
def _build(a) -> int | None:
    from . import stages
    from .warehouse import StagedWarehouse

    use_existing_warehouse(a)
    with StagedWarehouse(a.warehouse) as staged:
        s = stages.build_stage(staged.work_path, skip_unchanged=not a.force, full_refresh=a.force,
                               engine=a.engine)
        if a.test:  # on the staged copy: a failing test leaves the warehouse as it was
            from .models.build import check_model_tests

            with progress.stage("test") as shown:
                passed = check_model_tests(staged.work_path)
                if shown:
                    shown.done(f"{passed} model tests passed")
        if not s.skipped:
            staged.commit()
    print(("nothing changed since the last build: no-op" if s.skipped else f"built {len(s.models)} models")
          + f" in {s.seconds:.1f} s -> {a.warehouse}")


@command("growth")
def _growth(a) -> int | None:
    from . import stages
    from .warehouse import StagedWarehouse

    use_existing_warehouse(a)
    with StagedWarehouse(a.warehouse) as staged:
        if not stages.marts_are_built(staged.work_path):
            stages.build_stage(staged.work_path)
        s = stages.growth_stage(staged.work_path, years=a.year, baseline_year=a.baseline_year,
                                max_order=a.max_order)
        if not a.no_build:
            stages.build_stage(staged.work_path)
        staged.commit()
    print(f"student_sgp: {s.students_scored:,} SGPs in {s.cohorts} cohorts, years {s.years[0]}-{s.years[-1]} "
          f"({s.seconds:.1f} s) -> {a.warehouse}")
    print("  by order of priors: " + ", ".join(f"{k}: {v:,}" for k, v in sorted(s.by_order.items())))
    print(f"  not scored: {s.students_without_prior:,} without a prior score, {s.students_in_small_cohorts:,} in "
          f"norm groups under min_cohort_size" + (f", {s.students_without_baseline_model:,} without a baseline "
                                                  "model" if a.baseline_year else ""))
    print("  pooled deciles (% of SGPs in 1-10 ... 91-99): " + " ".join(f"{v:.1f}" for v in s.decile_shares))
    if not a.no_build:
        _print_sgp_comparison(a.warehouse)


def _print_sgp_comparison(warehouse: Path) -> None:
    from .warehouse import connect_read_only

    with connect_read_only(warehouse) as con:
        n_sup, n_comp, n_both, diff, mad, r = con.execute(
            "SELECT sum(n_supplied_used), sum(n_computed_used), sum(n_both), "
            "sum(mean_difference * n_both) / nullif(sum(n_both), 0), "
            "sum(mean_abs_difference * n_both) / nullif(sum(n_both), 0), "
            "sum(correlation * n_both) / nullif(sum(n_both), 0) FROM sgp_comparison").fetchall()[0]
    print(f"  SGP metrics use {int(n_sup or 0):,} supplied and {int(n_comp or 0):,} computed SGPs (supplied win)")
    if n_both:
        print(f"  where both exist ({int(n_both):,} students): computed - supplied {diff:+.1f} points on average, "
              f"mean |difference| {mad:.1f}, correlation {r:.2f} (table sgp_comparison)")


def _or_workspace(value, ws: Workspace | None, key: str):
    return value if value is not None or ws is None else getattr(ws, key)


@command("evaluate")
def _evaluate(a) -> int | None:
    from . import stages
    from .warehouse import StagedWarehouse

    ws = use_existing_warehouse(a)
    with StagedWarehouse(a.warehouse) as staged:
        if not stages.marts_are_built(staged.work_path):
            stages.build_stage(staged.work_path)
        r = stages.evaluate_stage(staged.work_path, current_year=a.year,
                                  baseline_year=_or_workspace(a.baseline_year, ws, "baseline_year"),
                                  targets_file=_or_workspace(a.targets, ws, "targets"),
                                  baseline_window=a.baseline_window)
        staged.commit()
    print(f"{r['n_results']:,} target results judged on {r['judged_year']} -> table target_results in "
          f"{a.warehouse}")
    for target, note in sorted(r["coverage"].items()):
        if note:
            print(f"  {target}: {note}")


@command("calibrate")
def _calibrate(a) -> int | None:
    from .calibration import report, simulate

    cal = simulate(a.networks, students=a.students, schools=a.schools, seed=a.seed, progress=say)
    if a.rows is not None:
        cal.rows.to_csv(a.rows, index=False)
    print(report(cal))


@command("export")
def _export(a) -> int | None:
    from .research.export import export_table

    use_workspace(a)
    n = export_table(a.warehouse, a.table, a.out)
    print(f"{n:,} rows of {a.table} -> {a.out}")


def _resolve_run(a, ws: Workspace | None) -> None:
    """Fill the run's paths from the workspace; refuse loading other files into the demo warehouse. A warehouse
    named with --warehouse (outside the workspace's) gets its scorecards beside it unless --dashboards says."""
    if ws is None and not a.raw:
        raise InputError("no files to load: the current folder is not inside a workspace", column="--raw",
                         fix="pass --raw FOLDER, or run inside a workspace (equity-outcomes init DIR)")
    own = ws is not None and Path(a.warehouse).resolve() == ws.warehouse
    if a.raw and own and ws.is_demo and {Path(r).resolve() for r in a.raw} != {r.resolve() for r in ws.raw}:
        raise InputError(
            "the demo workspace's warehouse holds the synthetic network: your files would mix with its schools",
            file=str(a.raw[0]),
            fix="make a workspace of your own: `equity-outcomes init my-network`, put your files in my-network/raw, "
                "then run `equity-outcomes run` inside my-network (or pass --warehouse FILE)")
    a.raw = a.raw or list(ws.raw)
    a.dashboards = a.dashboards or (ws.dashboards if own else Path(a.warehouse).resolve().parent / "dashboards")
    a.baseline_year = _or_workspace(a.baseline_year, ws, "baseline_year")
    a.targets = _or_workspace(a.targets, ws, "targets")
    a.disclosure = ws.disclosure if ws is not None else None
    a.max_quarantined_pct = _max_quarantined(a, ws)


def _preflight(sources: list[Path]) -> None:
    """Problems a run would meet at once, reported before any orchestration starts: a missing file or folder,
    a missing pseudonymization key when there are student files."""
    from .ingest.load import discover, kind_of
    from .ingest.pseudonymize import load_key

    if any(kind_of(f) == "student" for f in discover(sources)):
        load_key()


def _run(a) -> dict:
    sources = [*a.raw, *a.also]
    _preflight(sources)
    dashboards = None if a.no_scorecards else a.dashboards
    if not a.no_prefect:
        sys.path.insert(0, str(paths.project_root()))
        from pipelines.server import api_ready, errors_told_by_caller

        ready, why = api_ready()
        if ready:
            from pipelines.yearly_outcomes import yearly_outcomes

            with errors_told_by_caller(not a.debug):
                return yearly_outcomes(school_year=a.year, raw_dir=a.raw[0], warehouse=a.warehouse,
                                       baseline_year=a.baseline_year, dashboards=dashboards,
                                       extra_sources=[*a.raw[1:], *a.also], force=a.force,
                                       max_quarantined=a.max_quarantined_pct, targets_file=a.targets,
                                       engine=a.engine, disclosure_rules=a.disclosure, pdf=getattr(a, "pdf", False))
        progress.warn(progress.active() or say,
                      f"{why}; running the same stages without Prefect (no flow-run record or artifacts for this run).")
    from .runner import run_yearly

    r = run_yearly(sources, a.warehouse, school_year=a.year, baseline_year=a.baseline_year, dashboards=dashboards,
                   force=a.force, max_quarantined=a.max_quarantined_pct, targets_file=a.targets,
                   disclosure_rules=a.disclosure, engine=a.engine, pdf=getattr(a, "pdf", False))
    return {"no_op": r.no_op, "load": r.load.totals(), "load_id": r.load.load_id, **r.extra}


@command("run")
def _run_cmd(a) -> int | None:
    from .reporting import run_summary_text

    _resolve_run(a, use_workspace(a))
    started = time.perf_counter()
    result = _run(a)
    print(run_summary_text(a.warehouse, result, time.perf_counter() - started, dashboards=a.dashboards))


@command("demo")
def _demo(a) -> int | None:
    import os
    import shutil

    from .reporting import run_summary_text

    ws = use_workspace(a, demo=True)
    if not ws.is_demo:
        raise InputError("demo writes the synthetic network, so it runs only in the demo workspace",
                         file=str(ws.file), fix="run `equity-outcomes demo` without --workspace (or from the "
                                                "project checkout); in your workspace use `equity-outcomes run`")
    os.environ.setdefault("EQUITY_OUTCOMES_ID_KEY", "demo")  # synthetic data only: the published demo key
    _resolve_run(a, ws)
    started = time.perf_counter()
    if a.fresh:
        shutil.rmtree(a.raw[0], ignore_errors=True)
        Path(a.warehouse).unlink(missing_ok=True)
    if not (Path(a.raw[0]) / "roster.csv").exists():
        from .synth import generate_network

        say(f"generating the synthetic network into {a.raw[0]} ...")
        with progress.stage("synth") as shown:
            s = generate_network(a.raw[0], progress=progress.tee(None))
            if shown:
                shown.done(f"{s.n_schools} schools, {s.n_students:,} students, {len(s.files)} files")
    result = _run(a)
    print(run_summary_text(a.warehouse, result, time.perf_counter() - started, dashboards=a.dashboards))


@command("init")
def _init(a) -> int | None:
    from .workspace import init_workspace

    ws = init_workspace(a.folder, network=a.network)
    print(f"workspace {ws.root} for network {ws.network!r}:\n"
          f"  config      {ws.file}\n  raw files   {', '.join(str(r) for r in ws.raw)} "
          f"(roster.csv, student/<school year>/<table>.csv, dese/)\n"
          f"  warehouse   {ws.warehouse}\n  dashboards  {ws.dashboards}\n"
          f"next: put your files in {ws.raw[0]}, then `cd {a.folder}`, `equity-outcomes check`, "
          "`equity-outcomes run`.")


@command("check")
def _check(a) -> int | None:
    from .ingest.check import check_paths, render

    # files named: the workspace (if any) lends its warehouse's roster; none named: the workspace's raw folders
    ws = resolve_workspace(a.workspace) if a.workspace is not None or not a.paths else _optional_workspace(a)
    if a.warehouse is None and ws is not None:
        a.warehouse = ws.warehouse
    paths_to_check = a.paths or list(ws.raw)
    with progress.stage("check") as shown:
        report = check_paths(paths_to_check, warehouse=a.warehouse, max_quarantined=_max_quarantined(a, ws))
        if shown:
            shown.done(f"{len(report.files)} files")
    print(render(report))
    return 0 if report.ok else 1


def _optional_workspace(a) -> Workspace | None:
    """The workspace if there is one (its roster and warehouse help a check); a check runs outside one too."""
    ws = find_workspace()
    if ws is not None and a.warehouse is None:
        a.warehouse = ws.warehouse
    return ws


@command("docs")
def _docs(a) -> int | None:
    from .docgen import write_docs

    for path in write_docs():
        print(f"wrote {path}")


@command("readiness-template")
def _readiness_template(a) -> int | None:
    from .ingest.readiness import write_template

    code = a.school.zfill(8) if a.school else None
    name = None
    _optional_workspace(a)
    if code and a.warehouse is not None and Path(a.warehouse).exists():
        from .warehouse import connect_read_only

        with connect_read_only(a.warehouse) as con, contextlib.suppress(Exception):  # no roster: still useful
            rows = con.execute("SELECT school_name FROM roster WHERE org_code = ?", [code]).fetchall()
            name = rows[0][0] if rows else None
    out = write_template(a.out, org_code=code, school_name=name, school_year=a.year)
    print(f"readiness template -> {out}")


@command("serve")
def _serve(a) -> int | None:
    import os

    ws = use_workspace(a)
    if ws is None and not (a.raw and a.dashboards):
        raise EquityOutcomesError("serve with --warehouse outside a workspace needs --raw and --dashboards too. "
                                  "How to fix: pass them, or run inside a workspace (equity-outcomes init DIR)")
    a.raw = a.raw or list(ws.raw)
    a.dashboards = a.dashboards or ws.dashboards

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
        parameters={"raw_dir": str(a.raw[0].resolve()), "warehouse": str(Path(a.warehouse).resolve()),
                    "dashboards": str(a.dashboards.resolve()),
                    "extra_sources": [str(x.resolve()) for x in [*a.raw[1:], *a.also]],
                    "baseline_year": ws.baseline_year, "max_quarantined": ws.max_quarantined_pct,
                    "targets_file": str(ws.targets) if ws.targets else None,
                    "disclosure_rules": str(ws.disclosure) if ws.disclosure else None},
        description="Yearly outcomes: ingest, build marts, evaluate targets, publish scorecards",
        tags=["equity-outcomes"],
    )
    say(f"serving deployment yearly-outcomes/{a.name} (cron '{a.cron}'); trigger a run now with: "
        f"prefect deployment run 'yearly-outcomes/{a.name}'. Ctrl-C stops.")
    serve(deployment, print_starting_message=False)


@command("scorecards", "publish")
def _publish(a) -> int | None:
    ws = use_workspace(a)
    if ws is not None:  # else --warehouse outside a workspace: dashboards/ and config/disclosure.yaml
        a.out = a.out or ws.dashboards
        if a.audit == "":  # --audit without a folder: the workspace's publication
            a.audit = ws.dashboards
        a.disclosure = ws.disclosure
    from .publish.cli import publish_command

    return publish_command(a)

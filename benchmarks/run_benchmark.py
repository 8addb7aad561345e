"""Statewide-scale benchmark of the yearly flow: can one small machine run Massachusetts (~920,000 students, ~1,850
schools) end to end, and how does the cost grow with the number of students?

    python benchmarks/run_benchmark.py [--sizes 100000,300000,1000000] [--years 5] [--out benchmarks/out/results.md]
                                       [--keep] [--skip-references] [--regenerate] [--scratch /tmp/eo_bench]
                                       [--profile-size 300000 | --no-profile] [--students-per-school 497]

For each size N (students enrolled per year) it
  1. generates a synthetic network of N students x ``--years`` years ending in 2025 (DESE exports off, readiness
     self-assessments on) into ``<scratch>/<N>/raw``, reusing it when ``<scratch>/<N>/bench_manifest.json`` matches
     the settings (``--regenerate`` forces a new one). Generation is timed but is not part of the flow;
  2. runs every stage of the yearly flow on a fresh warehouse, each stage in a fresh subprocess so that its peak RSS
     is its own: ingest+validate, build marts, evaluate targets, scorecards for every school of the roster
     (``publish_scorecards``, reported as not available when the module cannot be imported), then the staging copy +
     commit that ``StagedWarehouse`` adds when a warehouse already exists;
  3. runs two references on the same files, computing the same metrics: the floor, one bare DuckDB query over the
     raw CSVs (``reference_bare_duckdb.sql``), and the pandas groupby an analyst writes today
     (``reference_pandas.py``); checks that the warehouse and both references agree (max abs difference).
After all sizes it profiles (cProfile) the slowest stage at ``--profile-size`` and writes every table and the
hotspots into ``--out`` (markdown) and the same path with ``.csv`` (one row per size x stage). Rows of sizes not run
this time are kept in the csv (and the tables), so sizes can be measured in separate invocations.

The generated networks stay in the scratch folder for reuse; without ``--keep`` the warehouses and dashboards are
deleted after each size. ``--keep`` keeps them (``<scratch>/<N>/warehouse.duckdb``, ``<scratch>/<N>/dashboards``).
Logs of every subprocess: ``<scratch>/<N>/logs/``.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import importlib.util
import json
import os
import platform
import resource
import shutil
import subprocess
import sys
import threading
import time
from datetime import datetime
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
FIRST_STAGES = ["ingest", "build", "evaluate", "publish"]
FLOW_STAGES = FIRST_STAGES  # the full flow = these four
SUBGROUPS = ["all", "low_income", "black", "latino", "el", "swd"]
METRICS = ["pct_absent_10_plus_days", "pct_chronically_absent", "attendance_rate", "pct_suspended",
           "pct_in_school_suspension", "pct_out_of_school_suspension", "pct_meeting_or_exceeding", "median_sgp",
           "mean_sgp"]
REFERENCE_TABLES = ("enrollment", "discipline", "assessments")
SNAPSHOT_SRC: str | None = None  # set by --snapshot
RETRY_SUFFIX = "+memlimit"
MA_STUDENTS_PER_SCHOOL = 497  # ~920,000 students / ~1,850 schools
CSV_COLUMNS = ["size", "stage", "students", "schools", "status", "seconds", "wall_seconds", "peak_rss_mb",
               "rows_in", "rows_per_s", "warehouse_mb", "dashboards_mb", "load_before", "load_after", "notes",
               "run_at"]
GOALS = {"flow_seconds_1m": 60.0, "flow_rss_gb_1m": 4.0, "floor_ratio": 2.0, "pandas_speedup": 5.0,
         "publish_seconds": 60.0}


# ----------------------------------------------------------------------------------------------------------------
# worker side: one stage in this (fresh) process; the result goes to a json file
# ----------------------------------------------------------------------------------------------------------------

def _maxrss_mb() -> tuple[float, float]:
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # kB on Linux
    kids = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    return own, kids


def _file_mb(path: Path) -> float:
    total = 0
    for p in (path, path.with_name(path.name + ".wal")):
        if p.exists():
            total += p.stat().st_size
    return total / 1e6


def _tree_mb(path: Path) -> float:
    if not path.exists():
        return 0.0
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file()) / 1e6


def _count(con, sql: str) -> int:
    return int(con.execute(sql).fetchall()[0][0])


def w_generate(spec: dict) -> dict:
    from equity_outcomes.synth import generate_network

    raw = Path(spec["raw"])
    t0 = time.perf_counter()
    s = generate_network(raw, seed=spec["seed"], n_students=spec["n_students"], n_schools=spec["n_schools"],
                         first_year=spec["first_year"], last_year=spec["last_year"], dese_exports=False,
                         readiness=True)
    seconds = time.perf_counter() - t0
    rows = sum(s.rows_by_table.values())
    return {"seconds": seconds, "rows_in": rows, "details": {
        "n_schools": s.n_schools, "distinct_students": s.n_students, "rows_by_table": s.rows_by_table,
        "files": len(s.files), "raw_mb": _tree_mb(raw)}}


def w_ingest(spec: dict) -> dict:
    from equity_outcomes import stages

    wh = Path(spec["warehouse"])
    for p in (wh, wh.with_name(wh.name + ".wal")):
        if p.exists():
            p.unlink()
    t0 = time.perf_counter()
    summary = stages.ingest_stage(wh, [Path(spec["raw"])])
    seconds = time.perf_counter() - t0
    frame = summary.frame()
    by_table = {}
    for report, g in frame.groupby("report"):
        by_table[str(report)] = {"files": len(g), "rows_in": int(g["rows_in"].sum()),
                                 "seconds": float(g["seconds"].sum())}
    tot = summary.totals()
    return {"seconds": seconds, "rows_in": int(frame["rows_in"].sum()), "warehouse_mb": _file_mb(wh),
            "details": {"by_table": by_table, "rows_loaded": tot["rows_loaded"],
                        "rows_quarantined": tot["rows_quarantined"], "files": tot["files"]}}


def w_build(spec: dict) -> dict:
    from equity_outcomes import stages
    from equity_outcomes.warehouse import connect

    wh = Path(spec["warehouse"])
    con = connect(wh)
    try:
        raw_tables = [r[0] for r in con.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_name LIKE 'raw_%' "
            "AND table_type = 'BASE TABLE'").fetchall()]
        rows_in = sum(_count(con, f"SELECT count(*) FROM {t}") for t in raw_tables)
    finally:
        con.close()
    overrides = spec.get("sql_overrides") or {}
    t0 = time.perf_counter()
    if overrides:  # experiment: build with some model files replaced (a copy of the SQL project; the tree is untouched)
        import tempfile

        from equity_outcomes.models.build import build_models
        from equity_outcomes.paths import models_dir

        root = Path(tempfile.mkdtemp(prefix="eo_bench_sql_")) / "models"
        shutil.copytree(models_dir(), root)
        for rel, src in overrides.items():
            shutil.copyfile(src, root / rel)
        t0 = time.perf_counter()
        summary = stages.with_connection(wh, lambda con: build_models(con, project=root))
        shutil.rmtree(root.parent, ignore_errors=True)
    else:
        summary = stages.build_stage(wh)
    seconds = time.perf_counter() - t0
    return {"seconds": seconds, "rows_in": rows_in, "warehouse_mb": _file_mb(wh),
            "details": {"models": [[m, s, r] for m, s, r in summary.models]}}


def _walk_operators(node: dict, out: list) -> None:
    out.append(node)
    for child in node.get("children") or []:
        _walk_operators(child, out)


def _operator_label(node: dict) -> str:
    info = node.get("extra_info") or {}
    bits = []
    for key in ("Table", "Join Type", "Conditions", "Groups", "Aggregates", "Function", "Filters"):
        if key in info:
            v = info[key]
            v = ", ".join(map(str, v)) if isinstance(v, list) else str(v)
            bits.append(f"{key}: {v}")
    return "; ".join(bits)[:160]


def w_explain_build(spec: dict) -> dict:
    """Build every model (dbt, on a copy of the warehouse), then run the compiled SQL of the models named in
    spec['models'] again with DuckDB's profiler on (into ``<model>__explain``, rolled back): per model total seconds,
    peak buffer memory, spill, and the operators that took the time."""
    from equity_outcomes.models.build import build_models, dbt_target_dir
    from equity_outcomes.warehouse import connect

    wh = Path(spec["warehouse"])
    out_dir = Path(spec["profile_dir"])
    out_dir.mkdir(parents=True, exist_ok=True)
    con = connect(wh)
    models = {}
    t0 = time.perf_counter()
    try:
        build_models(con)
        compiled = dbt_target_dir() / "compiled" / "equity_outcomes"
        con.execute("BEGIN TRANSACTION")
        for name in spec["models"]:  # 'layer/model'
            sql = (compiled / f"{name}.sql").read_text(encoding="utf-8")
            prof = out_dir / f"duckdb_profile_{Path(name).name}.json"
            con.execute("SET enable_profiling = 'json'")
            con.execute(f"SET profiling_output = '{prof}'")
            t = time.perf_counter()
            con.execute(f"CREATE OR REPLACE TABLE {Path(name).name}__explain AS {sql}")
            seconds = time.perf_counter() - t
            con.execute("PRAGMA disable_profiling")
            data = json.loads(prof.read_text())
            nodes: list = []
            for root in data.get("operator") or []:
                _walk_operators(root, nodes)
            total = sum(float(n.get("timing") or 0) for n in nodes) or 1e-9
            top = sorted(nodes, key=lambda n: -float(n.get("timing") or 0))[:8]
            system = data.get("system") or {}
            models[name] = {
                "seconds": seconds, "profile": str(prof),
                "peak_buffer_mb": (system.get("peak_buffer_memory") or 0) / 1e6,
                "peak_temp_dir_mb": (system.get("peak_temp_dir_size") or 0) / 1e6,
                "operators": [{"type": n.get("type"), "seconds": float(n.get("timing") or 0),
                               "share": float(n.get("timing") or 0) / total, "rows": n.get("intermediate_rows"),
                               "detail": _operator_label(n)} for n in top],
            }
        con.execute("ROLLBACK")
    finally:
        con.close()
    return {"seconds": time.perf_counter() - t0, "rows_in": None, "details": {"models": models}}


def _metric_values_rows(wh: Path) -> int:
    from equity_outcomes.warehouse import connect_read_only

    con = connect_read_only(wh)
    try:
        return _count(con, "SELECT count(*) FROM metric_values")
    finally:
        con.close()


def w_evaluate(spec: dict) -> dict:
    from equity_outcomes import stages

    wh = Path(spec["warehouse"])
    rows_in = _metric_values_rows(wh)
    t0 = time.perf_counter()
    out = stages.evaluate_stage(wh)
    seconds = time.perf_counter() - t0
    return {"seconds": seconds, "rows_in": rows_in, "warehouse_mb": _file_mb(wh), "details": out}


def w_publish(spec: dict) -> dict:
    wh = Path(spec["warehouse"])
    try:
        from equity_outcomes.publish import publish_scorecards
    except Exception as exc:  # the module is still being written by another engineer
        return {"status": "not available", "seconds": None, "notes": f"publish_scorecards not importable: {exc!r}"}
    from equity_outcomes.warehouse import connect_read_only

    con = connect_read_only(wh)
    try:
        schools = [r[0] for r in con.execute("SELECT org_code FROM roster ORDER BY org_code").fetchall()]
    finally:
        con.close()
    rows_in = _metric_values_rows(wh)
    out = Path(spec["dashboards"])
    shutil.rmtree(out, ignore_errors=True)
    t0 = time.perf_counter()
    summary = publish_scorecards(wh, out, schools=schools,  # its steps, timed, into the worker's log
                                 progress=lambda m: print(f"[{time.perf_counter() - t0:6.1f} s] {m}", flush=True))
    seconds = time.perf_counter() - t0
    return {"seconds": seconds, "rows_in": rows_in, "dashboards_mb": _tree_mb(out),
            "details": {"n_pages": summary.get("n_pages"), "bytes": summary.get("bytes"), "schools": len(schools),
                        "answers": summary.get("answers")}}


def w_commit(spec: dict) -> dict:
    """What StagedWarehouse adds to a re-run on an existing warehouse: checkpoint + copy to .staging, then
    checkpoint + atomic replace + fsync at commit."""
    from equity_outcomes.warehouse import StagedWarehouse

    wh = Path(spec["warehouse"])
    t0 = time.perf_counter()
    with StagedWarehouse(wh) as staged:
        t_copy = time.perf_counter() - t0
        staged.commit()
    seconds = time.perf_counter() - t0
    return {"seconds": seconds, "rows_in": None, "warehouse_mb": _file_mb(wh),
            "details": {"copy_seconds": t_copy, "commit_seconds": seconds - t_copy}}


def w_ref_duckdb(spec: dict) -> dict:
    import duckdb

    sql = (HERE / "reference_bare_duckdb.sql").read_text(encoding="utf-8")
    os.chdir(spec["raw"])  # the script's globs are relative to the network folder
    con = duckdb.connect()
    t0 = time.perf_counter()
    con.execute(sql)
    seconds = time.perf_counter() - t0
    n = _count(con, "SELECT count(*) FROM bench_reference")
    con.execute(f"COPY bench_reference TO '{spec['result']}' (FORMAT parquet)")
    con.close()
    return {"seconds": seconds, "rows_in": spec.get("rows_in"), "details": {"values": n}}


def w_ref_pandas(spec: dict) -> dict:
    import duckdb

    mod_spec = importlib.util.spec_from_file_location("reference_pandas", HERE / "reference_pandas.py")
    mod = importlib.util.module_from_spec(mod_spec)
    mod_spec.loader.exec_module(mod)
    t0 = time.perf_counter()
    out = mod.compute(Path(spec["raw"]))
    seconds = time.perf_counter() - t0
    con = duckdb.connect()
    con.register("out", out)
    con.execute(f"COPY (SELECT school_year::INTEGER AS school_year, org_code::VARCHAR AS org_code, subgroup, metric, "
                f"subject::VARCHAR AS subject, grade::VARCHAR AS grade, value::DOUBLE AS value, n::BIGINT AS n "
                f"FROM out) TO '{spec['result']}' (FORMAT parquet)")
    con.close()
    return {"seconds": seconds, "rows_in": spec.get("rows_in"), "details": {"values": len(out)}}


WORKERS = {"explain_build": w_explain_build, "generate": w_generate, "ingest": w_ingest, "build": w_build, "evaluate": w_evaluate,
           "publish": w_publish, "commit": w_commit, "ref_duckdb": w_ref_duckdb, "ref_pandas": w_ref_pandas}


def _limit_duckdb(limit: str) -> None:
    """Give every DuckDB connection this stage opens a memory_limit (DuckDB's default is 80% of RAM): an experiment
    run by the benchmark only, the flow itself is unchanged. The warehouse's own connections read the cap from
    EQUITY_OUTCOMES_DUCKDB_MEMORY (they SET it after connecting), so that is set too."""
    import duckdb

    os.environ["EQUITY_OUTCOMES_DUCKDB_MEMORY"] = limit

    real = duckdb.connect

    def connect(database=":memory:", read_only=False, config=None, **kw):
        return real(database, read_only=read_only, config={"memory_limit": limit, **(config or {})}, **kw)

    duckdb.connect = connect


def worker_main(spec_path: str) -> None:
    spec = json.loads(Path(spec_path).read_text())
    started = time.perf_counter()
    if spec.get("duckdb_memory_limit") and spec["stage"] != "generate":
        _limit_duckdb(spec["duckdb_memory_limit"])
    os.environ.setdefault("EQUITY_OUTCOMES_ID_KEY", "demo")  # the published demo key: synthetic students only
    load_before = os.getloadavg()[0]
    fn = WORKERS[spec["stage"]]
    result: dict = {"status": "ok"}
    if spec.get("profile"):
        import cProfile

        prof = cProfile.Profile()
        prof.enable()
        try:
            result.update(fn(spec))
        finally:
            prof.disable()
            prof.dump_stats(spec["profile"])
    else:
        result.update(fn(spec))
    import equity_outcomes

    result["package"] = equity_outcomes.__file__
    own, kids = _maxrss_mb()
    result.update({"maxrss_mb": own, "maxrss_children_mb": kids, "load_before": load_before,
                   "load_after": os.getloadavg()[0], "process_seconds": time.perf_counter() - started})
    Path(spec["result_json"]).write_text(json.dumps(result, default=str))


# ----------------------------------------------------------------------------------------------------------------
# parent side
# ----------------------------------------------------------------------------------------------------------------

def say(msg: str) -> None:
    print(f"[{datetime.now():%H:%M:%S} load {os.getloadavg()[0]:.2f}] {msg}", flush=True)


def _tree_rss(proc) -> int:
    import psutil

    total = 0
    try:
        procs = [proc, *proc.children(recursive=True)]
    except psutil.Error:
        return 0
    for p in procs:
        with contextlib.suppress(psutil.Error):
            total += p.memory_info().rss
    return total


def run_worker(stage: str, spec: dict, logs: Path, *, max_rss_gb: float, timeout: float,
               script: Path | None = None) -> dict:
    """Run one stage in a fresh interpreter; poll its RSS (process tree) every 0.1 s as a cross-check of ru_maxrss
    and kill it if it would take the shared machine down. ``script``: the benchmark whose ``--worker`` runs the
    stage (default this one; floor_vs_flow.py adds its own workers)."""
    import psutil

    logs.mkdir(parents=True, exist_ok=True)
    tag = spec.get("tag", stage)
    spec = {**spec, "stage": stage, "result_json": str(logs / f"{tag}.result.json")}
    spec_path = logs / f"{tag}.spec.json"
    spec_path.write_text(json.dumps(spec, default=str))
    Path(spec["result_json"]).unlink(missing_ok=True)
    env = {**os.environ, "EQUITY_OUTCOMES_ID_KEY": os.environ.get("EQUITY_OUTCOMES_ID_KEY", "demo"),
           "PREFECT_LOGGING_LEVEL": "WARNING", "DO_NOT_TRACK": "1"}
    if SNAPSHOT_SRC:  # a frozen copy of the package (see --snapshot) goes before the editable install
        env["PYTHONPATH"] = os.pathsep.join([SNAPSHOT_SRC, *filter(None, [env.get("PYTHONPATH")])])
    peak = [0]
    killed = [""]
    t0 = time.perf_counter()
    with open(logs / f"{tag}.log", "w") as log:
        proc = subprocess.Popen([sys.executable, str(script or Path(__file__).resolve()), "--worker", str(spec_path)],
                                stdout=log, stderr=subprocess.STDOUT, env=env, cwd=str(ROOT))
        ps = psutil.Process(proc.pid)
        done = threading.Event()

        def poll() -> None:
            while not done.is_set():
                rss = _tree_rss(ps)
                peak[0] = max(peak[0], rss)
                if rss > max_rss_gb * 1e9 and not killed[0]:
                    killed[0] = f"killed at {rss / 1e9:.1f} GB RSS (limit --max-rss-gb {max_rss_gb})"
                    proc.kill()
                if time.perf_counter() - t0 > timeout and not killed[0]:
                    killed[0] = f"killed after {timeout:.0f} s (--stage-timeout)"
                    proc.kill()
                done.wait(0.1)

        th = threading.Thread(target=poll, daemon=True)
        th.start()
        rc = proc.wait()
        done.set()
        th.join()
    wall = time.perf_counter() - t0
    res_path = Path(spec["result_json"])
    if rc != 0 or not res_path.exists():
        tail = (logs / f"{tag}.log").read_text(errors="replace").strip().splitlines()[-15:]
        return {"status": "failed", "seconds": None, "wall_seconds": wall, "peak_rss_mb": peak[0] / 1e6,
                "notes": killed[0] or f"exit {rc}: " + " | ".join(tail[-3:]), "log_tail": tail}
    res = json.loads(res_path.read_text())
    res["wall_seconds"] = wall
    # ru_maxrss is in MiB here; the poll is a sampled lower bound in MB; keep the larger, both in MB (1e6 bytes)
    res["peak_rss_mb"] = max(res.get("maxrss_mb", 0) * 1.048576, res.get("maxrss_children_mb", 0) * 1.048576,
                             peak[0] / 1e6)
    return res


def _overrides(args) -> dict[str, str]:
    out = {}
    for item in args.sql_override or []:
        rel, _, path = item.partition("=")
        if not path or not Path(path).is_file():
            raise SystemExit(f"--sql-override {item!r}: expected MODEL=FILE, e.g. marts/metric_values.sql=my.sql")
        out[rel] = str(Path(path).resolve())
    return out


def _short_error(res: dict) -> str:
    """The one line that says why a worker failed (DuckDB's out-of-memory message, the kill reason)."""
    for line in reversed(res.get("log_tail") or []):
        if "Error" in line:
            return line.split("failed: ")[-1][:160]
    return (res.get("notes") or "")[:160]


def _manifest_spec(args, n: int) -> dict:
    from equity_outcomes.synth import params

    last_year = 2025
    return {"seed": args.seed, "n_students": n, "n_schools": max(12, round(n / args.students_per_school)),
            "first_year": last_year - args.years + 1, "last_year": last_year, "dese_exports": False,
            "readiness": True, "generator_version": params.GENERATOR_VERSION}


def ensure_network(args, n: int, base: Path) -> dict:
    """Generate (or reuse) the network for size n; returns the generation row."""
    spec = _manifest_spec(args, n)
    manifest = base / "bench_manifest.json"
    raw = base / "raw"
    if manifest.exists() and raw.exists() and not args.regenerate:
        old = json.loads(manifest.read_text())
        if old.get("spec") == spec:
            say(f"N={n:,}: reusing the network in {raw} (generated {old['generated_at']})")
            return {**old["result"], "notes": f"cached: generated {old['generated_at']}", "cached": True}
    manifest.unlink(missing_ok=True)
    shutil.rmtree(raw, ignore_errors=True)
    say(f"N={n:,}: generating {spec['n_schools']:,} schools x {args.years} years into {raw} ...")
    res = run_worker("generate", {**spec, "raw": str(raw)}, base / "logs", max_rss_gb=args.max_rss_gb,
                     timeout=args.stage_timeout)
    if res["status"] != "ok":
        raise SystemExit(f"generation failed for N={n}: {res.get('notes')}")
    res["notes"] = "dese_exports=False, readiness=True"
    manifest.write_text(json.dumps({"spec": spec, "generated_at": f"{datetime.now():%Y-%m-%d %H:%M}",
                                    "result": res}, indent=2, default=str))
    return res


def _row(size: int, stage: str, schools: int, res: dict, run_at: str) -> dict:
    seconds = res.get("seconds")
    rows_in = res.get("rows_in")
    rps = rows_in / seconds if rows_in and seconds else None
    return {
        "size": size, "stage": stage, "students": size, "schools": schools, "status": res.get("status", "ok"),
        "seconds": None if seconds is None else round(seconds, 2),
        "wall_seconds": None if res.get("wall_seconds") is None else round(res["wall_seconds"], 2),
        "peak_rss_mb": None if res.get("peak_rss_mb") is None else round(res["peak_rss_mb"]),
        "rows_in": rows_in, "rows_per_s": None if rps is None else round(rps),
        "warehouse_mb": None if res.get("warehouse_mb") is None else round(res["warehouse_mb"], 1),
        "dashboards_mb": None if res.get("dashboards_mb") is None else round(res["dashboards_mb"], 1),
        "load_before": None if res.get("load_before") is None else round(res["load_before"], 2),
        "load_after": None if res.get("load_after") is None else round(res["load_after"], 2),
        "notes": res.get("notes", ""), "run_at": run_at,
    }


def compare(wh: Path, duck: Path | None, pdf: Path | None) -> dict:
    """Agreement of the warehouse's metric_values with both references on every (school, year, subgroup, metric,
    subject, grade) cell they compute: max abs difference of values (where the warehouse does not suppress) and of
    n (all cells), and cells present on one side only."""
    import duckdb

    con = duckdb.connect()
    con.execute(f"ATTACH '{wh}' AS wh (READ_ONLY)")
    subs = ", ".join(f"'{s}'" for s in SUBGROUPS)
    mets = ", ".join(f"'{m}'" for m in METRICS)
    con.execute(f"""CREATE TABLE ours AS SELECT school_year::INTEGER AS school_year, org_code, subgroup, metric,
        coalesce(subject, '') AS subject, grade, value, n_students AS n FROM wh.metric_values
        WHERE source = 'student' AND org_level = 'school' AND subgroup IN ({subs}) AND metric IN ({mets})""")
    sides = {"ours": "ours"}
    for name, path in (("duckdb", duck), ("pandas", pdf)):
        if path is not None and path.exists():
            con.execute(f"""CREATE TABLE {name} AS SELECT school_year::INTEGER AS school_year, org_code, subgroup,
                metric, coalesce(subject, '') AS subject, grade, value, n FROM '{path}'""")
            sides[name] = name
    out: dict = {"cells": {k: _count(con, f"SELECT count(*) FROM {k}") for k in sides}}
    keys = "school_year, org_code, subgroup, metric, subject, grade"
    pairs = [(a, b) for a, b in (("ours", "duckdb"), ("ours", "pandas"), ("duckdb", "pandas")) if a in sides and b in sides]
    for a, b in pairs:
        r = con.execute(f"""SELECT count(*) FILTER (WHERE x.n IS NOT NULL AND y.n IS NOT NULL),
                count(*) FILTER (WHERE y.n IS NULL), count(*) FILTER (WHERE x.n IS NULL),
                max(abs(x.value - y.value)), max(abs(x.n - y.n)),
                count(*) FILTER (WHERE x.value IS NOT NULL AND y.value IS NOT NULL)
            FROM {a} x FULL JOIN {b} y USING ({keys})""").fetchall()[0]
        out[f"{a}_vs_{b}"] = {"matched": r[0], f"only_{a}": r[1], f"only_{b}": r[2], "max_abs_diff_value": r[3],
                              "max_abs_diff_n": r[4], "values_compared": r[5]}
    if "duckdb" in sides:
        sample = con.execute(f"""SELECT o.school_year, o.org_code, o.subgroup, o.metric, o.subject, o.grade,
                o.value AS ours, d.value AS duckdb, {'p.value' if 'pandas' in sides else 'NULL'} AS pandas
            FROM ours o JOIN duckdb d USING ({keys})
            {'JOIN pandas p USING (' + keys + ')' if 'pandas' in sides else ''}
            WHERE o.value IS NOT NULL AND o.subgroup <> 'all'
            ORDER BY hash(o.org_code || o.metric || o.subgroup || o.school_year || o.subject || o.grade) LIMIT 6""").fetchall()
        out["sample"] = [list(r) for r in sample]
    con.close()
    return out


def profile_stage(args, n: int, base: Path, stage: str, wh: Path, memory_limit: str | None) -> dict:
    """Re-run one stage under cProfile on a copy (the stages are idempotent on a copy of the warehouse)."""
    import pstats

    out_dir = Path(args.out).parent
    prof = out_dir / f"profile_{stage}_{n}.prof"
    pwh = base / "warehouse.profile.duckdb"
    for p in (pwh, pwh.with_name(pwh.name + ".wal")):
        p.unlink(missing_ok=True)
    if stage != "ingest":
        shutil.copyfile(wh, pwh)
    if stage == "build":
        # the build is SQL: cProfile would only show execute(); DuckDB's own profiler shows the operators
        models = [m for m, _s, _r in sorted(extras_models(args, n), key=lambda m: -m[1])[:3]]
        say(f"N={n:,}: profiling build with DuckDB's profiler ({', '.join(models)})")
        res = run_worker("explain_build", {"tag": "profile_build", "warehouse": str(pwh), "models": models,
                                           "profile_dir": str(out_dir / f"build_{n}"),
                                           "duckdb_memory_limit": memory_limit},
                         base / "logs", max_rss_gb=args.max_rss_gb, timeout=args.stage_timeout)
        for p in (pwh, pwh.with_name(pwh.name + ".wal")):
            p.unlink(missing_ok=True)
        if res["status"] != "ok":
            return {"stage": stage, "size": n, "error": res.get("notes")}
        return {"stage": stage, "size": n, "kind": "duckdb", "models": res["details"]["models"],
                "memory_limit": memory_limit}
    say(f"N={n:,}: profiling {stage} with cProfile -> {prof}")
    res = run_worker(stage, {"tag": f"profile_{stage}", "raw": str(base / "raw"), "warehouse": str(pwh),
                             "dashboards": str(base / "dashboards.profile"), "profile": str(prof),
                             "duckdb_memory_limit": memory_limit},
                     base / "logs", max_rss_gb=args.max_rss_gb, timeout=args.stage_timeout)
    for p in (pwh, pwh.with_name(pwh.name + ".wal")):
        p.unlink(missing_ok=True)
    shutil.rmtree(base / "dashboards.profile", ignore_errors=True)
    if res["status"] != "ok" or not prof.exists():
        return {"stage": stage, "size": n, "error": res.get("notes")}
    st = pstats.Stats(str(prof))
    total = max(st.total_tt, 1e-9)
    rows = []
    for (file, line, func), (_cc, nc, tt, ct, _callers) in st.stats.items():
        rows.append({"function": f"{_short(file)}:{line}({func})", "ncalls": nc, "tottime": tt, "cumtime": ct})
    by_tt = sorted(rows, key=lambda r: -r["tottime"])[:20]
    by_ct = [r for r in sorted(rows, key=lambda r: -r["cumtime"]) if _interesting(r["function"])][:25]
    return {"stage": stage, "size": n, "seconds_profiled": res.get("seconds"), "total_tt": total,
            "memory_limit": memory_limit,
            "by_tottime": by_tt, "by_cumtime": by_ct, "prof": str(prof)}


EXTRAS: dict = {}


def extras_models(args, n: int) -> list:
    return EXTRAS.get("breakdown", {}).get(str(n), {}).get("build", [])


def _short(file: str) -> str:
    for marker in ("site-packages/", "src/", "lib/python3.11/"):
        if marker in file:
            return file.split(marker, 1)[1]
    return file


def _interesting(fn: str) -> bool:
    return not (fn.startswith(("~:0(<built-in method builtins.exec", "<string>")) or "run_benchmark.py" in fn)


# ----------------------------------------------------------------------------------------------------------------
# report
# ----------------------------------------------------------------------------------------------------------------

def _f(v, nd=1, unit=""):
    if v is None or v == "":
        return "-"
    try:
        v = float(v)
    except (TypeError, ValueError):
        return str(v)
    return f"{v:,.{nd}f}{unit}"


def _load_rows(csv_path: Path) -> list[dict]:
    if not csv_path.exists():
        return []
    with open(csv_path, newline="") as fh:
        rows = list(csv.DictReader(fh))
    for r in rows:
        for k in ("size", "students", "schools", "rows_in", "rows_per_s"):
            r[k] = int(float(r[k])) if r.get(k) not in (None, "") else None
        for k in ("seconds", "wall_seconds", "peak_rss_mb", "warehouse_mb", "dashboards_mb", "load_before",
                  "load_after"):
            r[k] = float(r[k]) if r.get(k) not in (None, "") else None
    return rows


def _get(rows, size, stage):
    for r in rows:
        if r["size"] == size and r["stage"] == stage:
            return r
    return None


def _eff(rows, size, stage):
    """The stage's row, or its retry with a DuckDB memory_limit when the run as shipped was killed."""
    r = _get(rows, size, stage)
    if r is not None and r["status"] != "ok":
        retry = _get(rows, size, stage + RETRY_SUFFIX)
        if retry is not None and retry["status"] == "ok":
            return retry
    return r


def _sum(rows, size, stages) -> float | None:
    vals = [_eff(rows, size, s) for s in stages]
    if any(v is None or v["seconds"] is None for v in vals):
        return None
    return sum(v["seconds"] for v in vals)


def _max_rss(rows, size, stages) -> float | None:
    vals = [_eff(rows, size, s) for s in stages]
    vals = [v["peak_rss_mb"] for v in vals if v and v["peak_rss_mb"] is not None]
    return max(vals) if vals else None


def write_report(args, rows: list[dict], extras: dict, out_md: Path) -> str:
    sizes = sorted({r["size"] for r in rows})
    L: list[str] = []
    env = extras.get("env", {})
    L.append("# Statewide-scale benchmark of the yearly flow\n")
    L.append(f"Written {datetime.now():%Y-%m-%d %H:%M} by `benchmarks/run_benchmark.py` "
             f"({' '.join(extras.get('argv', []))}).\n")
    L.append(f"Machine: {env.get('cpu', '?')}, {env.get('cores', '?')} cores, {env.get('ram_gb', '?')} GB RAM; "
             f"Python {env.get('python')}, duckdb {env.get('duckdb')}, pandas {env.get('pandas')}, "
             f"pandera {env.get('pandera')}; commit {env.get('commit', '?')}{' (+ uncommitted changes)' if env.get('dirty') else ''}"
             f"{' (frozen copy: ' + env['snapshot'] + ')' if env.get('snapshot') else ''}. "
             "The machine is shared with other engineers running tests: `load` is the 1-minute load average "
             "(2 cores) before/after each step, so timings with load > 1 include contention.\n")
    L.append(f"Data: synthetic network (`generate_network`, seed {args.seed}), N students enrolled per year x "
             f"{args.years} years (2021-2025), one school per {args.students_per_school} students (Massachusetts: "
             "~920,000 students, ~1,850 schools), **`dese_exports=False`** (the flow's DESE ingest is not measured), "
             "readiness self-assessments on (CSV per year at this scale). Each stage runs in a fresh subprocess; "
             "`seconds` is the stage call inside it (`wall` adds interpreter start and imports); `peak RSS` is "
             "the subprocess's ru_maxrss (cross-checked by 0.1 s psutil polling of the process tree).\n")

    if args.sql_override:
        L.append(f"**Experiment: built with model files replaced: {', '.join(args.sql_override)}** (the tree's "
                 "the SQL project in the tree is untouched).\n")
    if args.duckdb_memory_limit:
        L.append(f"**Experiment: every DuckDB connection ran with memory_limit={args.duckdb_memory_limit}** "
                 "(DuckDB's default is 80% of RAM).\n")
    L.append(f"A stage whose process tree exceeds {args.max_rss_gb:g} GB RSS is killed (shared machine) and, if "
             f"`--retry-memory-limit` is set ({args.retry_memory_limit or 'off'}), run again with that DuckDB "
             f"memory_limit as the row `<stage>{RETRY_SUFFIX}`; totals then use the retry.\n")
    L.append("## Stages x size\n")
    L.append("| N students | schools | stage | status | seconds | wall s | peak RSS MB | rows in | rows/s | "
             "warehouse MB | dashboards MB | load before/after | notes |")
    L.append("|---:|---:|---|---|---:|---:|---:|---:|---:|---:|---:|---|---|")
    order = (["generate"] + [x for s in FLOW_STAGES for x in (s, s + RETRY_SUFFIX)]
             + ["commit", "ref_duckdb", "ref_pandas"])
    for n in sizes:
        for st in order:
            r = _get(rows, n, st)
            if r is None:
                continue
            L.append(f"| {n:,} | {r['schools'] or '-'} | {st} | {r['status']} | {_f(r['seconds'])} | "
                     f"{_f(r['wall_seconds'])} | {_f(r['peak_rss_mb'], 0)} | {_f(r['rows_in'], 0)} | "
                     f"{_f(r['rows_per_s'], 0)} | {_f(r['warehouse_mb'])} | {_f(r['dashboards_mb'])} | "
                     f"{_f(r['load_before'], 2)}/{_f(r['load_after'], 2)} | {r['notes'] or ''} |")
    L.append("")
    L.append("`generate` is not part of the flow. `commit` is what `StagedWarehouse` adds on a re-run when a warehouse "
             "already exists (checkpoint, copy to `.staging`, checkpoint, atomic replace); a first run on an empty "
             "warehouse pays only the commit. `ref_duckdb`/`ref_pandas` read only enrollment, discipline and "
             "assessments; `rows in` for them counts those three tables.\n")

    L.append("## Totals, goals and ratios\n")
    L.append("| N students | ingest+build s | full flow s (ingest+build+evaluate+publish) | max stage peak RSS MB | "
             "floor (bare DuckDB) s | pandas s | (ingest+build)/floor | flow/floor | pandas/(ingest+build) | "
             "pandas/flow | like-for-like: ingest of the 3 reference tables + build s |")
    L.append("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for n in sizes:
        ib = _sum(rows, n, ["ingest", "build"])
        flow = _sum(rows, n, FLOW_STAGES)
        if flow is None:
            flow = _sum(rows, n, ["ingest", "build", "evaluate"])
            flow_note = " (publish n/a)"
        else:
            flow_note = ""
        rss = _max_rss(rows, n, FLOW_STAGES)
        fl = _get(rows, n, "ref_duckdb")
        pd_ = _get(rows, n, "ref_pandas")
        fl_s = fl["seconds"] if fl else None
        pd_s = pd_["seconds"] if pd_ else None
        lfl = extras.get("like_for_like", {}).get(str(n))

        def ratio(a, b):
            return f"{a / b:.2f}x" if a and b else "-"
        L.append(f"| {n:,} | {_f(ib)} | {_f(flow)}{flow_note} | {_f(rss, 0)} | {_f(fl_s)} | {_f(pd_s)} | "
                 f"{ratio(ib, fl_s)} | {ratio(flow, fl_s)} | {ratio(pd_s, ib)} | {ratio(pd_s, flow)} | {_f(lfl)} |")
    L.append("")
    L.append("Ratios: `(ingest+build)/floor` and `flow/floor` are how many times slower than the floor we are (goal "
             "<= 2x); `pandas/...` is how many times faster than pandas we are (goal >= 5x; < 1 means pandas is "
             "faster). The like-for-like column sums the ingest seconds of roster, enrollment, discipline and "
             "assessments (from `load_audit`) and the build: our flow also loads surveys, courses, graduates, "
             "capstone and readiness and builds every metric, subgroup and the network level, which the references "
             "do not.\n")

    # goals
    big = max(sizes) if sizes else None
    L.append("### Goals\n")
    L.append("| goal | target | measured | met? |")
    L.append("|---|---|---|---|")
    if big is not None:
        flow = _sum(rows, big, FLOW_STAGES) or _sum(rows, big, ["ingest", "build", "evaluate"])
        rss = _max_rss(rows, big, FLOW_STAGES)
        scale = f" (at N={big:,}" + (")" if big >= 1_000_000 else "; 1M not measured, linear extrapolation x"
                                      f"{1_000_000 / big:.1f})")
        ext = flow * 1_000_000 / big if flow else None
        killed = [f"{r['stage']}: {r['notes']}" for r in rows
                  if r["size"] == big and r["status"] == "failed" and "killed at" in (r["notes"] or "")]
        killed_note = ("; as shipped " + "; ".join(killed) + ", the totals use the retry") if killed else ""
        L.append(f"| 1M students x 5 years full flow | <= {GOALS['flow_seconds_1m']:.0f} s | {_f(ext)} s{scale} | "
                 f"{'yes' if ext and ext <= GOALS['flow_seconds_1m'] else 'NO'} |")
        L.append(f"| peak RSS of any stage at 1M | <= {GOALS['flow_rss_gb_1m']:.0f} GB | {_f(rss and rss / 1000, 2)} GB"
                 f"{scale}{killed_note} | "
                 f"{'yes' if rss and rss <= GOALS['flow_rss_gb_1m'] * 1000 and not killed else 'NO'} |")
        for n in sizes:
            ib = _sum(rows, n, ["ingest", "build"])
            fl = _get(rows, n, "ref_duckdb")
            pd_ = _get(rows, n, "ref_pandas")
            if ib and fl and fl["seconds"]:
                L.append(f"| within 2x of bare DuckDB (ingest+build), N={n:,} | <= {GOALS['floor_ratio']:.0f}x | "
                         f"{ib / fl['seconds']:.1f}x | {'yes' if ib / fl['seconds'] <= GOALS['floor_ratio'] else 'NO'} |")
            if ib and pd_ and pd_["seconds"]:
                L.append(f"| >= 5x faster than pandas (ingest+build), N={n:,} | >= {GOALS['pandas_speedup']:.0f}x | "
                         f"{pd_['seconds'] / ib:.2f}x | {'yes' if pd_['seconds'] / ib >= GOALS['pandas_speedup'] else 'NO'} |")
        small = min(sizes)
        f_small, f_big = _sum(rows, small, FLOW_STAGES), _sum(rows, big, FLOW_STAGES)
        if f_small and f_big and big > small:
            g = (f_big / big) / (f_small / small)
            L.append(f"| linear growth {small:,} -> {big:,} (flow seconds per student, largest/smallest) | about 1 "
                     f"(<= 1.2) | {g:.2f} ({f_small / small * 1000:.3f} -> {f_big / big * 1000:.3f} s per 1,000 "
                     f"students) | {'yes' if g <= 1.2 else 'NO'} |")
        for n in sizes:
            pub = _get(rows, n, "publish")
            if pub and pub["seconds"] is not None:
                L.append(f"| scorecards for every school ({pub['schools']:,} schools), N={n:,} | <= "
                         f"{GOALS['publish_seconds']:.0f} s | {_f(pub['seconds'])} s, {_f(pub['dashboards_mb'])} MB | "
                         f"{'yes' if pub['seconds'] <= GOALS['publish_seconds'] else 'NO'} |")
            elif pub:
                L.append(f"| scorecards for every school, N={n:,} | <= 60 s | {pub['status']}: {pub['notes']} | - |")
    L.append("")

    # growth
    L.append("## Growth per student\n")
    L.append("Seconds per 1,000 students enrolled per year (x 5 years of files), per stage; linear growth means a "
             "constant row. The last column is the ratio of the largest to the smallest size's cost per student.\n")
    L.append("| stage | " + " | ".join(f"N={n:,}" for n in sizes) + " | largest/smallest |")
    L.append("|---|" + "---:|" * (len(sizes) + 1))
    for st in ["generate", *FLOW_STAGES, "flow", "commit", "ref_duckdb", "ref_pandas"]:
        vals = []
        for n in sizes:
            s = _sum(rows, n, FLOW_STAGES) if st == "flow" else (_eff(rows, n, st) or {}).get("seconds")
            vals.append(None if s is None else s / n * 1000)
        ok = [v for v in vals if v is not None]
        if not ok:
            continue
        growth = f"{vals[-1] / vals[0]:.2f}" if len(ok) == len(vals) and len(vals) > 1 and vals[0] else "-"
        L.append(f"| {st} | " + " | ".join(_f(v, 3) for v in vals) + f" | {growth} |")
    L.append("")
    L.append("Peak RSS (MB) per stage:\n")
    L.append("| stage | " + " | ".join(f"N={n:,}" for n in sizes) + " |")
    L.append("|---|" + "---:|" * len(sizes))
    for st in ["generate", *FLOW_STAGES, "commit", "ref_duckdb", "ref_pandas"]:
        if all((_eff(rows, n, st) or {}).get("peak_rss_mb") is None for n in sizes):
            continue
        L.append(f"| {st} | " + " | ".join(_f((_eff(rows, n, st) or {}).get("peak_rss_mb"), 0) for n in sizes) + " |")
    L.append("")

    # agreement
    agree = extras.get("agreement", {})
    if agree:
        L.append("## Agreement of the warehouse with both references\n")
        L.append("Every (school, year, subgroup, metric, subject, grade) cell the references compute, for the 9 metrics "
                 "and 6 subgroups; values compared where the warehouse does not suppress (min n), n on every cell.\n")
        L.append("| N | pair | cells matched | only left | only right | values compared | max abs diff value | "
                 "max abs diff n |")
        L.append("|---:|---|---:|---:|---:|---:|---:|---:|")
        for n in sorted(agree, key=int):
            a = agree[n]
            for pair in ("ours_vs_duckdb", "ours_vs_pandas", "duckdb_vs_pandas"):
                if pair in a:
                    d = a[pair]
                    left, right = pair.split("_vs_")
                    L.append(f"| {int(n):,} | {pair} | {d['matched']:,} | {d['only_' + left]:,} | "
                             f"{d['only_' + right]:,} | {d['values_compared']:,} | {d['max_abs_diff_value']} | "
                             f"{d['max_abs_diff_n']} |")
        last = agree[max(agree, key=int)]
        if last.get("sample"):
            L.append("\nA sample (largest size): year, school, subgroup, metric, subject, grade -> ours, duckdb, pandas\n")
            for s in last["sample"]:
                L.append(f"- {s[0]} {s[1]} {s[2]} {s[3]} {s[4] or '-'} {s[5]}: {s[6]:.6f}, {s[7]:.6f}, "
                         f"{'-' if s[8] is None else f'{s[8]:.6f}'}")
        L.append("")

    # breakdowns
    bd = extras.get("breakdown", {})
    if bd:
        L.append("## Where the time goes inside the stages\n")
        L.append("### Ingest by table (from load_audit: seconds per file, summed)\n")
        tables = sorted({t for n in bd for t in bd[n].get("ingest", {})})
        L.append("| table | " + " | ".join(f"N={int(n):,} rows | s | rows/s" for n in sorted(bd, key=int)) + " |")
        L.append("|---|" + "---:|---:|---:|" * len(bd))
        for t in tables:
            cells = []
            for n in sorted(bd, key=int):
                d = bd[n].get("ingest", {}).get(t)
                if d:
                    cells.append(f"{d['rows_in']:,} | {d['seconds']:.1f} | {d['rows_in'] / max(d['seconds'], 1e-9):,.0f}")
                else:
                    cells.append("- | - | -")
            L.append(f"| {t} | " + " | ".join(cells) + " |")
        L.append("")
        L.append("### Build by model (seconds, rows)\n")
        models = []
        for n in sorted(bd, key=int):
            for m, _s, _r in bd[n].get("build", []):
                if m not in models:
                    models.append(m)
        L.append("| model | " + " | ".join(f"N={int(n):,} s | rows" for n in sorted(bd, key=int)) + " |")
        L.append("|---|" + "---:|---:|" * len(bd))
        for m in models:
            cells = []
            for n in sorted(bd, key=int):
                d = {x[0]: x for x in bd[n].get("build", [])}.get(m)
                cells.append(f"{d[1]:.2f} | {_f(d[2], 0)}" if d else "- | -")
            L.append(f"| {m} | " + " | ".join(cells) + " |")
        L.append("")

    profiles = extras.get("profiles") or []
    if profiles:
        L.append("## Hotspots\n")
    for prof in profiles:
        L.append(f"### {prof.get('stage')} at N={prof.get('size', 0):,}"
                 f"{' (slowest stage)' if prof.get('slowest') else ''}"
                 f"{', DuckDB memory_limit ' + prof['memory_limit'] if prof.get('memory_limit') else ''}\n")
        if prof.get("error"):
            L.append(f"Profiling failed: {prof['error']}\n")
        elif prof.get("kind") == "duckdb":
            L.append("The build is SQL, so DuckDB's own profiler (`enable_profiling = 'json'`) is used on the slowest "
                     "models (a rerun on a copy of the warehouse); the operators that took the time:\n")
            for model, d in prof["models"].items():
                L.append(f"**{model}**: {d['seconds']:.1f} s, peak buffer memory {d['peak_buffer_mb']:,.0f} MB, "
                         f"spilled {d['peak_temp_dir_mb']:,.0f} MB (profile `{d['profile']}`)\n")
                L.append("| operator | s | share | rows out | detail |")
                L.append("|---|---:|---:|---:|---|")
                for o in d["operators"]:
                    detail = o["detail"].replace("|", "/")
                    L.append(f"| {o['type']} | {o['seconds']:.2f} | {100 * o['share']:.0f}% | {_f(o['rows'], 0)} | "
                             f"{detail} |")
                L.append("")
        else:
            L.append(f"Stage took {_f(prof.get('seconds_profiled'))} s under the profiler (profile: `{prof['prof']}`, "
                     "open with `python -m pstats` or snakeviz). DuckDB work shows up as the `execute`/`df` calls "
                     "that run it (cProfile cannot see inside DuckDB; the build table above splits it by model).\n")
            L.append("Top by cumulative time (project and library functions):\n")
            L.append("| function | calls | cumulative s | own s |")
            L.append("|---|---:|---:|---:|")
            for r in prof["by_cumtime"]:
                L.append(f"| `{r['function']}` | {r['ncalls']:,} | {r['cumtime']:.2f} | {r['tottime']:.2f} |")
            L.append("\nTop by own time:\n")
            L.append("| function | calls | own s | cumulative s |")
            L.append("|---|---:|---:|---:|")
            for r in prof["by_tottime"]:
                L.append(f"| `{r['function']}` | {r['ncalls']:,} | {r['tottime']:.2f} | {r['cumtime']:.2f} |")
        L.append("")
    if extras.get("profiles"):
        L.append("")
    if getattr(args, "notes", None) and Path(args.notes).exists():
        L.append(Path(args.notes).read_text(encoding="utf-8"))
    text = "\n".join(L) + "\n"
    out_md.parent.mkdir(parents=True, exist_ok=True)
    out_md.write_text(text, encoding="utf-8")
    return text


def make_snapshot(scratch: Path, rev: str = "HEAD") -> tuple[str, Path]:
    """A frozen copy of the committed tree (``git archive HEAD``, read-only for the repository) so that edits made
    by others while the benchmark runs do not mix code versions between sizes or stages."""
    commit = subprocess.run(["git", "rev-parse", "--short", rev], cwd=ROOT, capture_output=True, text=True,
                            check=True).stdout.strip()
    dest = scratch / f"code_{commit}"
    if not (dest / "src" / "equity_outcomes").is_dir():
        tmp = scratch / f".code_{commit}.partial"
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        archive = subprocess.run(["git", "archive", "--format=tar", commit], cwd=ROOT, capture_output=True,
                                 check=True).stdout
        subprocess.run(["tar", "-x", "-C", str(tmp)], input=archive, check=True)
        shutil.rmtree(dest, ignore_errors=True)
        tmp.rename(dest)
    return commit, dest


def _env() -> dict:
    import duckdb
    import pandas
    import pandera
    import psutil

    cpu = "?"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    commit, dirty = "?", False
    try:  # read-only git queries
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True,
                                check=False).stdout.strip() or "?"
        dirty = bool(subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=ROOT,
                                    capture_output=True, text=True, check=False).stdout.strip())
    except OSError:
        pass
    return {"cpu": cpu, "cores": os.cpu_count(), "ram_gb": round(psutil.virtual_memory().total / 2**30),
            "python": platform.python_version(), "duckdb": duckdb.__version__, "pandas": pandas.__version__,
            "pandera": pandera.__version__, "commit": commit, "dirty": dirty}


def run_size(args, n: int, run_at: str, extras: dict) -> list[dict]:
    base = Path(args.scratch) / str(n)
    base.mkdir(parents=True, exist_ok=True)
    logs = base / "logs"
    raw = base / "raw"
    wh = base / "warehouse.duckdb"
    dash = base / "dashboards"
    gen = ensure_network(args, n, base)
    schools = gen.get("details", {}).get("n_schools")
    rows_by_table = gen.get("details", {}).get("rows_by_table", {})
    out = [_row(n, "generate", schools, {**gen, "load_before": gen.get("load_before"),
                                          "warehouse_mb": None}, run_at)]
    out[-1]["notes"] = (gen.get("notes", "") + f"; raw {gen.get('details', {}).get('raw_mb', 0):,.0f} MB, "
                        f"{gen.get('details', {}).get('distinct_students', 0):,} distinct students").strip("; ")
    for p in (wh, wh.with_name(wh.name + ".wal")):
        p.unlink(missing_ok=True)
    shutil.rmtree(dash, ignore_errors=True)
    spec = {"raw": str(raw), "warehouse": str(wh), "dashboards": str(dash),
            "duckdb_memory_limit": args.duckdb_memory_limit, "sql_overrides": _overrides(args)}
    bd = extras.setdefault("breakdown", {}).setdefault(str(n), {})
    ok = True
    for stage in [*FLOW_STAGES, "commit"]:
        if not ok:
            out.append(_row(n, stage, schools, {"status": "skipped", "notes": "an earlier stage failed"}, run_at))
            continue
        say(f"N={n:,}: {stage} ...")
        res = run_worker(stage, {**spec, "tag": stage}, logs, max_rss_gb=args.max_rss_gb, timeout=args.stage_timeout)
        if res["status"] == "failed" and res.get("notes", "").startswith("killed at") and args.retry_memory_limit:
            first = _row(n, stage, schools, res, run_at)
            out.append(first)
            stage_name = stage + RETRY_SUFFIX
            failed_limits = []
            for limit in args.retry_memory_limit.split(","):
                say(f"N={n:,}: {stage}: {first['notes']}; retrying with DuckDB memory_limit={limit}")
                res = run_worker(stage, {**spec, "tag": f"{stage_name}_{limit}", "duckdb_memory_limit": limit},
                                 logs, max_rss_gb=args.max_rss_gb, timeout=args.stage_timeout)
                if res["status"] == "ok":
                    break
                failed_limits.append(f"memory_limit={limit}: {_short_error(res)}")
                say(f"N={n:,}: {stage} with memory_limit={limit} failed: {_short_error(res)}")
            row = _row(n, stage_name, schools, res, run_at)
            row_extra = f"retry with DuckDB memory_limit={limit}" + (
                f" (before: {'; '.join(failed_limits)})" if failed_limits else "")
        else:
            row = _row(n, stage, schools, res, run_at)
            row_extra = ""
        det = res.get("details") or {}
        if stage == "ingest" and det and row["stage"] in ("ingest", "ingest" + RETRY_SUFFIX):
            bd["ingest"] = det.get("by_table", {})
            row["notes"] = (f"{det.get('files')} files, {det.get('rows_loaded', 0):,} rows loaded, "
                            f"{det.get('rows_quarantined', 0):,} quarantined")
        elif stage == "build" and det:
            bd["build"] = det.get("models", [])
            slow = sorted(det.get("models", []), key=lambda m: -m[1])[:2]
            row["notes"] = "slowest: " + ", ".join(f"{m} {s:.1f} s" for m, s, _ in slow)
        elif stage == "evaluate" and det:
            row["notes"] = f"{det.get('n_results', 0):,} target results"
        elif stage == "publish" and det:
            row["notes"] = f"{det.get('n_pages', 0):,} pages for {det.get('schools', 0):,} schools"
        elif stage == "commit" and det:
            row["notes"] = f"copy {det.get('copy_seconds', 0):.1f} s + commit {det.get('commit_seconds', 0):.1f} s"
        if row_extra:
            row["notes"] = f"{row_extra}; {row['notes']}"
        out.append(row)
        say(f"N={n:,}: {row['stage']}: {row['status']} {_f(row['seconds'])} s, peak RSS {_f(row['peak_rss_mb'], 0)} MB "
            f"{row['notes']}")
        if res["status"] == "failed" and stage in ("ingest", "build"):
            ok = False
    ingest_bd = bd.get("ingest", {})
    build_row = _eff(out, n, "build")
    if ingest_bd and build_row and build_row["seconds"] is not None:
        like = sum(ingest_bd.get(t, {}).get("seconds", 0) for t in ("roster", *REFERENCE_TABLES))
        extras.setdefault("like_for_like", {})[str(n)] = like + build_row["seconds"]

    if not args.skip_references:
        ref_rows = sum(rows_by_table.get(t, 0) for t in REFERENCE_TABLES) or None
        results = {}
        for stage in ("ref_duckdb", "ref_pandas"):
            say(f"N={n:,}: {stage} ...")
            result = base / f"{stage}.parquet"
            result.unlink(missing_ok=True)
            res = run_worker(stage, {"raw": str(raw), "result": str(result), "rows_in": ref_rows,
                                     "duckdb_memory_limit": args.duckdb_memory_limit}, logs,
                             max_rss_gb=args.max_rss_gb, timeout=args.stage_timeout)
            row = _row(n, stage, schools, res, run_at)
            if res.get("details"):
                row["notes"] = f"{res['details'].get('values', 0):,} values"
            out.append(row)
            results[stage] = result if res["status"] == "ok" else None
            say(f"N={n:,}: {stage}: {row['status']} {_f(row['seconds'])} s, peak RSS {_f(row['peak_rss_mb'], 0)} MB")
        if wh.exists() and build_row is not None and build_row["status"] == "ok":
            agree = compare(wh, results.get("ref_duckdb"), results.get("ref_pandas"))
            extras.setdefault("agreement", {})[str(n)] = agree
            for pair in ("ours_vs_duckdb", "ours_vs_pandas", "duckdb_vs_pandas"):
                if pair in agree:
                    d = agree[pair]
                    say(f"N={n:,}: agreement {pair}: {d['matched']:,} cells, max abs diff value "
                        f"{d['max_abs_diff_value']}, n {d['max_abs_diff_n']}; one-sided "
                        f"{[v for k, v in d.items() if k.startswith('only_')]}")
    return out


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    p.add_argument("--sizes", default="100000,300000,1000000", help="students enrolled per year, comma-separated")
    p.add_argument("--years", type=int, default=5, help="school years ending in 2025 (default 5: 2021-2025)")
    p.add_argument("--out", type=Path, default=HERE / "out" / "results.md")
    p.add_argument("--keep", action="store_true", help="keep warehouses and dashboards in the scratch folder")
    p.add_argument("--skip-references", action="store_true", help="do not run the bare-DuckDB and pandas references")
    p.add_argument("--regenerate", action="store_true", help="generate the networks again even if cached")
    p.add_argument("--scratch", type=Path, default=Path("/tmp/eo_bench"))
    p.add_argument("--seed", type=int, default=20240601)
    p.add_argument("--students-per-school", type=int, default=MA_STUDENTS_PER_SCHOOL)
    p.add_argument("--profile-size", type=int, default=300000,
                   help="profile the slowest stage at this size (if it is measured in this run)")
    p.add_argument("--no-profile", action="store_true")
    p.add_argument("--profile-stages", default="",
                   help="comma-separated stages to profile at --profile-size (default: the slowest)")
    p.add_argument("--profile-only", action="store_true",
                   help="only profile, on the warehouse kept (--keep) by an earlier run, and rewrite the results")
    p.add_argument("--fresh", action="store_true", help="forget rows of earlier runs in the csv")
    p.add_argument("--max-rss-gb", type=float, default=12.0,
                   help="kill a stage whose process tree goes above this RSS (the machine is shared; default 12)")
    p.add_argument("--retry-memory-limit", default="4GB,10GB",
                   help="when a stage is killed for RSS, run it again with these DuckDB memory_limits in turn "
                        "(row '<stage>+memlimit') so the later stages can still be measured; '' to disable")
    p.add_argument("--duckdb-memory-limit", default=None,
                   help="experiment: give every DuckDB connection of the stages and references this memory_limit")
    p.add_argument("--sql-override", action="append", metavar="MODEL=FILE",
                   help="experiment: build with the SQL project file MODEL (e.g. marts/metric_values.sql) replaced by FILE (repeatable), e.g. "
                        "marts/metric_values.sql=benchmarks/out/proposed/metric_values.sql")
    p.add_argument("--notes", type=Path, default=None, help="markdown file appended to the results (analysis)")
    p.add_argument("--stage-timeout", type=float, default=3600.0, help="kill a stage after this many seconds")
    p.add_argument("--snapshot", nargs="?", const="HEAD", default=None, metavar="REV",
                   help="measure a frozen copy of a commit (default HEAD; git archive into the scratch folder), not "
                        "the working tree, so that concurrent edits cannot mix code versions")
    p.add_argument("--worker", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.worker:
        worker_main(args.worker)
        return
    if not 1 <= args.years <= 2025 - 2001:
        p.error("--years out of range")
    sizes = [int(s.replace("_", "")) for s in args.sizes.split(",") if s.strip()]
    out_md = Path(args.out)
    out_csv = out_md.with_suffix(".csv")
    extras_path = out_md.with_suffix(".json")
    run_at = f"{datetime.now():%Y-%m-%d %H:%M}"
    rows = [] if args.fresh else [r for r in _load_rows(out_csv) if r["size"] not in sizes]
    extras = {} if args.fresh or not extras_path.exists() else json.loads(extras_path.read_text())
    for key in ("breakdown", "agreement", "like_for_like"):
        extras.setdefault(key, {})
        for n in sizes if not args.profile_only else []:
            extras[key].pop(str(n), None)
    extras.pop("profile", None)  # older format
    if not args.profile_only:
        extras["profiles"] = [pr for pr in extras.get("profiles", []) if pr.get("size") not in sizes]
    global EXTRAS
    EXTRAS = extras
    this_argv = ["benchmarks/run_benchmark.py", *(argv if argv is not None else sys.argv[1:])]
    settings = ("seed", "years", "students_per_school", "max_rss_gb", "retry_memory_limit", "duckdb_memory_limit",
                "sql_override")
    if args.profile_only and extras.get("env"):  # the tables stay those of the measuring run, and its settings
        extras["profile_argv"] = this_argv
        for k, v in (extras.get("settings") or {}).items():
            setattr(args, k, v)
    else:
        extras["argv"] = this_argv
        extras["env"] = _env()
        extras["settings"] = {k: getattr(args, k) for k in settings}
    args.scratch.mkdir(parents=True, exist_ok=True)
    if args.snapshot:
        global SNAPSHOT_SRC
        commit, dest = make_snapshot(args.scratch, args.snapshot)
        SNAPSHOT_SRC = str(dest / "src")
        if not args.profile_only:
            extras["env"].update({"commit": commit, "dirty": False, "snapshot": str(dest)})
        say(f"measuring a frozen copy of commit {commit} in {dest} (--snapshot)")
    say(f"benchmark: sizes {sizes}, {args.years} years, scratch {args.scratch}, results {out_md}")

    def save() -> None:
        out_csv.parent.mkdir(parents=True, exist_ok=True)
        with open(out_csv, "w", newline="") as fh:
            w = csv.DictWriter(fh, fieldnames=CSV_COLUMNS)
            w.writeheader()
            for r in sorted(rows, key=lambda r: (r["size"], r["stage"])):
                w.writerow({k: r.get(k) for k in CSV_COLUMNS})
        extras_path.write_text(json.dumps(extras, indent=1, default=str))
        write_report(args, rows, extras, out_md)

    if args.profile_only:
        rows = _load_rows(out_csv)
    for n in sizes:
        if not args.profile_only:
            rows.extend(run_size(args, n, run_at, extras))
            save()
        if n == args.profile_size and not args.no_profile:
            flow = [_eff(rows, n, st) for st in FLOW_STAGES]
            flow = [r for r in flow if r is not None and r["seconds"] is not None]
            wanted = [x for x in (args.profile_stages or "").split(",") if x]
            slowest = max(flow, key=lambda r: r["seconds"])["stage"] if flow else None
            for st in wanted or ([slowest.removesuffix(RETRY_SUFFIX)] if slowest else []):
                eff = _eff(rows, n, st)
                stage_name = eff["stage"] if eff else st
                limit = (args.retry_memory_limit.split(",")[-1] if stage_name.endswith(RETRY_SUFFIX)
                         else args.duckdb_memory_limit)
                prof = profile_stage(args, n, Path(args.scratch) / str(n), st,
                                     Path(args.scratch) / str(n) / "warehouse.duckdb", limit)
                prof["slowest"] = slowest is not None and stage_name == slowest
                extras["profiles"] = [pr for pr in extras.get("profiles", [])
                                      if not (pr.get("size") == n and pr.get("stage") == st)] + [prof]
                save()
        if not args.keep:
            base = Path(args.scratch) / str(n)
            for pth in (base / "warehouse.duckdb", base / "warehouse.duckdb.wal", base / "warehouse.duckdb.lock"):
                pth.unlink(missing_ok=True)
            shutil.rmtree(base / "dashboards", ignore_errors=True)
            for ref in ("ref_duckdb.parquet", "ref_pandas.parquet"):
                (base / ref).unlink(missing_ok=True)
    save()
    print()
    print(out_md.read_text(encoding="utf-8"))


if __name__ == "__main__":
    main()

"""The evaluate stage alone on built warehouses: seconds, peak RSS and every evaluate model's seconds and peak (#22).

    python benchmarks/evaluate_scale.py WAREHOUSE [WAREHOUSE ...] [--scratch /tmp/eo_bench_eval] [--snapshot [REV]]
                                        [--keep] [--out FILE.md]
    python benchmarks/evaluate_scale.py --compare A.duckdb B.duckdb   # tables of two evaluations, row for row

Each warehouse (built by ingest + build, e.g. a floor_vs_flow.py run's ``<scratch>/<N>/warehouse.duckdb``) is copied
to ``--scratch`` and the evaluate stage (``stages.evaluate_stage``, what ``equity-outcomes evaluate`` runs) runs on
the copy in a fresh process with the flow's DuckDB memory limit (run_benchmark.py's runner: peak RSS of the process
tree). The process also samples its own RSS every 0.05 s, so each dbt model of the evaluate layer gets its seconds
(dbt's run_results.json) and the peak RSS while it ran. ``--compare`` says how many rows of ``target_results``,
``target_rollup`` and every evaluate table differ between two warehouses: EXCEPT ALL both ways, and with floats
compared to 1e-9 (warehouse_diff.py; sums of the same values in another row order differ in the last bits, and
DuckDB's parallel sums take any order: ``--threads 1`` runs the stage on one thread, which fixes the order for a
given plan).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import threading
import time
from datetime import datetime
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import run_benchmark as rb  # noqa: E402  (the RSS-polling runner, the snapshot)
import warehouse_diff  # noqa: E402  (floats compared to 1e-9: sums in another order differ in the last bits)

COMPARED = ["target_results", "target_rollup"]  # then every table of the evaluate models (eval_*, target_*)


def w_evaluate_models(spec: dict) -> dict:
    """The evaluate stage, with per-model seconds and peak RSS (own RSS sampled every 0.05 s)."""
    import duckdb
    import psutil

    from equity_outcomes import stages
    from equity_outcomes.models.build import dbt_target_dir

    if spec.get("threads"):  # every DuckDB connection of the stage (dbt's too) on this many threads
        real = duckdb.connect
        duckdb.connect = lambda database=":memory:", read_only=False, config=None, **kw: real(
            database, read_only=read_only, config={**(config or {}), "threads": spec["threads"]}, **kw)
    samples: list[tuple[float, int]] = []
    done = threading.Event()

    def sample() -> None:
        me = psutil.Process()
        while not done.is_set():
            samples.append((time.time(), me.memory_info().rss))
            done.wait(0.05)

    thread = threading.Thread(target=sample, daemon=True)
    thread.start()
    os.environ["DBT_WRITE_JSON"] = "true"  # run_results.json, read below (run_dbt leaves dbt's artifacts off)
    t0 = time.perf_counter()
    out = stages.evaluate_stage(Path(spec["warehouse"]))
    seconds = time.perf_counter() - t0
    done.set()
    thread.join()
    run = json.loads((dbt_target_dir() / "run_results.json").read_text())
    con = duckdb.connect(spec["warehouse"], read_only=True)
    models = []
    for r in run["results"]:
        spans = {t["name"]: t for t in r.get("timing", [])}
        ex = spans.get("execute") or {}
        lo, hi = (datetime.fromisoformat(ex[k].replace("Z", "+00:00")).timestamp()
                  for k in ("started_at", "completed_at")) if ex else (0, 0)
        peak = max((rss for t, rss in samples if lo <= t <= hi), default=0)
        name = r["unique_id"].rsplit(".", 1)[-1]
        models.append({"model": name, "seconds": r["execution_time"], "peak_rss_mb": peak / 1e6,
                       "rows": con.execute(f"SELECT count(*) FROM {r['relation_name']}").fetchone()[0]
                       if r.get("relation_name") else None})
    con.close()
    return {"seconds": seconds, "details": {"n_results": out["n_results"], "models": models}}


def measure(args, source: Path) -> dict:
    base = args.scratch / source.parent.name
    base.mkdir(parents=True, exist_ok=True)
    wh = base / "warehouse.duckdb"
    rb.say(f"copying {source} to {wh}")
    shutil.copyfile(source, wh)
    Path(f"{wh}.wal").unlink(missing_ok=True)
    res = rb.run_worker("evaluate_models", {"warehouse": str(wh), "tag": f"evaluate_{source.parent.name}",
                                            "duckdb_memory_limit": args.memory_limit, "threads": args.threads},
                        base / "logs", max_rss_gb=args.max_rss_gb, timeout=args.stage_timeout,
                        script=Path(__file__).resolve())
    if not args.keep:
        wh.unlink(missing_ok=True)
    row = {"warehouse": str(source), "status": res["status"], "seconds": res["seconds"],
           "wall_seconds": res["wall_seconds"], "peak_rss_mb": res["peak_rss_mb"],
           "load_before": res.get("load_before"), "load_after": res.get("load_after"),
           "details": res.get("details") or res.get("notes")}
    rb.say(f"{source}: {row['status']} {row['seconds']} s, peak RSS {row['peak_rss_mb']:,.0f} MB, "
           f"load {row['load_before']} -> {row['load_after']}")
    return row


def table(args, rows: list[dict], commit: str) -> list[str]:
    lines = [f"evaluate stage ({commit}; {datetime.now():%Y-%m-%d %H:%M}; DuckDB memory limit {args.memory_limit}"
             f"{f', {args.threads} thread(s)' if args.threads else ''})", "",
             "| warehouse | status | seconds | wall s | peak RSS MB | load before / after |", "|---|---|---:|---:|---:|---|"]
    for r in rows:
        secs = f"{r['seconds']:.1f}" if r["seconds"] is not None else "-"
        load = (f"{r['load_before']:.2f} / {r['load_after']:.2f}" if r["load_before"] is not None else "-")
        lines.append(f"| {r['warehouse']} | {r['status']} | {secs} | {r['wall_seconds']:.1f} | "
                     f"{r['peak_rss_mb']:,.0f} | {load} |")
    for r in rows:
        models = (r["details"] or {}).get("models") if isinstance(r["details"], dict) else None
        if not models:
            continue
        lines += ["", f"{r['warehouse']}: the evaluate models, slowest first", "",
                  "| model | seconds | peak RSS MB while it ran | rows |", "|---|---:|---:|---:|"]
        for m in sorted(models, key=lambda m: -m["seconds"]):
            rows = "" if m["rows"] is None else f"{m['rows']:,}"
            lines.append(f"| {m['model']} | {m['seconds']:.2f} | {m['peak_rss_mb']:,.0f} | {rows} |")
    return lines


def compare(a: Path, b: Path) -> list[str]:
    """Rows of each evaluate table that are in one warehouse and not the other (EXCEPT ALL both ways)."""
    import duckdb

    con = duckdb.connect()
    con.execute(f"ATTACH '{a}' AS a (READ_ONLY)")
    con.execute(f"ATTACH '{b}' AS b (READ_ONLY)")
    lines = [f"{a} vs {b}", "", "| table | rows a | rows b | a EXCEPT ALL b | b EXCEPT ALL a | differing, floats to 1e-9 |",
             "|---|---:|---:|---:|---:|---:|"]
    models = [r[0] for r in con.execute(
        "SELECT table_name FROM duckdb_tables() WHERE database_name = 'a' AND regexp_matches(table_name, "
        "'^(eval|target)_') AND table_name NOT IN ('eval_settings', 'eval_targets', 'eval_target_items', "
        "'eval_catalog_items', 'target_results_history') ORDER BY table_name").fetchall()]
    for name in [*COMPARED, *(m for m in models if m not in COMPARED)]:
        try:
            cols = [c[0] for c in con.execute(f"DESCRIBE a.{name}").fetchall()]
            cols_b = {c[0] for c in con.execute(f"DESCRIBE b.{name}").fetchall()}
        except duckdb.Error:
            continue
        shared = ", ".join(f'"{c}"' for c in cols if c in cols_b)
        n_a, n_b = (con.execute(f"SELECT count(*) FROM {s}.{name}").fetchone()[0] for s in ("a", "b"))
        ab, ba = (con.execute(f"SELECT count(*) FROM (SELECT {shared} FROM {x}.{name} EXCEPT ALL "
                              f"SELECT {shared} FROM {y}.{name})").fetchone()[0] for x, y in (("a", "b"), ("b", "a")))
        extra = "" if len(cols_b) == len(cols) == len(shared.split(", ")) else " (shared columns only)"
        close = warehouse_diff.differing_rows(con, name, "a", "b") if ab or ba else 0
        lines.append(f"| {name}{extra} | {n_a:,} | {n_b:,} | {ab:,} | {ba:,} | {close:,} |")
    return lines


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("warehouses", nargs="*", type=Path)
    p.add_argument("--scratch", type=Path, default=Path("/tmp/eo_bench_eval"))
    p.add_argument("--memory-limit", default=os.environ.get("EQUITY_OUTCOMES_DUCKDB_MEMORY", "4GB"))
    p.add_argument("--max-rss-gb", type=float, default=12.0)
    p.add_argument("--stage-timeout", type=float, default=1800.0)
    p.add_argument("--threads", type=int, help="DuckDB threads (1: float sums in a fixed order, for --compare)")
    p.add_argument("--keep", action="store_true", help="keep the evaluated copies (for --compare)")
    p.add_argument("--snapshot", nargs="?", const="HEAD", default=None, metavar="REV")
    p.add_argument("--compare", nargs=2, type=Path, metavar=("A", "B"))
    p.add_argument("--out", type=Path, help="append the tables to this markdown file")
    p.add_argument("--worker", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.worker:
        rb.WORKERS["evaluate_models"] = w_evaluate_models
        rb.worker_main(args.worker)
        return
    lines = compare(*args.compare) if args.compare else []
    if args.warehouses:
        commit = "working tree"
        if args.snapshot:
            commit, dest = rb.make_snapshot(args.scratch, args.snapshot)
            rb.SNAPSHOT_SRC = str(dest / "src")  # its package; this script's worker (older commits have none)
        rows = [measure(args, wh) for wh in args.warehouses]
        lines += table(args, rows, commit)
        (args.scratch / "evaluate_scale.json").write_text(json.dumps(rows, indent=1, default=str))
    print("\n".join(lines))
    if args.out:
        with args.out.open("a", encoding="utf-8") as fh:
            fh.write("\n".join(lines) + "\n\n")


if __name__ == "__main__":
    main()

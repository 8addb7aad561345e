"""The SQL build on local Spark beside DuckDB, on the same ingested warehouse (issue #25; docs/spark.md).

    python benchmarks/spark_vs_duckdb.py --raw /tmp/i25_bench/raw [--scratch /tmp/eo_spark_bench]
                                         [--spark-memory 8g] [--skip-ingest]

1. ingests ``--raw`` once into ``<scratch>/ingested.duckdb`` (timed; ``--skip-ingest`` reuses it);
2. copies it twice and builds every model on each copy, each build in a fresh Python process (its own peak RSS):
   ``build_models(engine="duckdb")`` and ``build_models(engine="spark")`` (local mode, ``local[*]``);
3. checks that ``metric_values`` of the two builds agree (rows; floats to 1e-9 relative, the rest exactly) and
   prints both builds' seconds, the Python process's CPU seconds and peak RSS (not the Spark JVM's: it is still
   running when they are taken) and the 1-minute load average before and after each.

Generate a network first, e.g. 1,000,000 students x 3 years:
``equity-outcomes synth --out /tmp/i25_bench/raw --students 1000000 --schools 2012 --first-year 2023
--last-year 2025 --no-dese``.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

COMPARE = """
SELECT count(*) AS rows_compared,
       count(*) FILTER (WHERE NOT (d.value IS NOT DISTINCT FROM s.value
                                   OR abs(d.value - s.value) <= 1e-9 * greatest(abs(d.value), 1))) AS values_differ,
       count(*) FILTER (WHERE d.value IS DISTINCT FROM s.value) AS values_not_bit_identical,
       count(*) FILTER (WHERE d.n_students IS DISTINCT FROM s.n_students
                           OR d.is_suppressed IS DISTINCT FROM s.is_suppressed) AS counts_differ
FROM d.metric_values d
FULL JOIN s.metric_values s
  ON d.org_code = s.org_code AND d.org_level = s.org_level AND d.school_year = s.school_year
 AND d.subgroup = s.subgroup AND d.metric = s.metric AND d.subject IS NOT DISTINCT FROM s.subject
 AND d.grade = s.grade AND d.source = s.source
"""


def one_build(engine: str, warehouse: str) -> None:
    """Child process: one build, its figures as JSON on the last line of stdout."""
    from equity_outcomes.models.build import build_models
    from equity_outcomes.warehouse import connect

    load_before = os.getloadavg()[0]
    started = time.perf_counter()
    con = connect(Path(warehouse))
    summary = build_models(con, engine=engine, progress=lambda m: print(f"  {m}", flush=True))
    rows = con.execute("SELECT count(*) FROM metric_values").fetchone()[0]
    con.close()
    usage = resource.getrusage(resource.RUSAGE_SELF)  # Python's only: the Spark JVM still runs at this point
    print(json.dumps({"engine": engine, "seconds": round(time.perf_counter() - started, 1),
                      "models": len(summary.models), "metric_values_rows": rows,
                      "cpu_seconds_python": round(usage.ru_utime + usage.ru_stime, 1),
                      "peak_rss_mb_python": round(usage.ru_maxrss / 1024), "load_before": load_before,
                      "load_after": os.getloadavg()[0]}))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--raw", type=Path, help="the generated network to ingest")
    p.add_argument("--scratch", type=Path, default=Path("/tmp/eo_spark_bench"))
    p.add_argument("--spark-memory", default="8g", help="driver memory of local Spark (EQUITY_OUTCOMES_SPARK_MEMORY)")
    p.add_argument("--skip-ingest", action="store_true", help="reuse <scratch>/ingested.duckdb")
    p.add_argument("--one", nargs=2, metavar=("ENGINE", "WAREHOUSE"), help=argparse.SUPPRESS)
    a = p.parse_args()
    if a.one:
        return one_build(*a.one)
    os.environ.setdefault("EQUITY_OUTCOMES_ID_KEY", "demo")
    os.environ["EQUITY_OUTCOMES_SPARK_MEMORY"] = a.spark_memory
    a.scratch.mkdir(parents=True, exist_ok=True)
    ingested = a.scratch / "ingested.duckdb"
    if not a.skip_ingest:
        from equity_outcomes import stages

        ingested.unlink(missing_ok=True)
        load, started = os.getloadavg()[0], time.perf_counter()
        stages.ingest_stage(ingested, [a.raw])
        print(f"ingest: {time.perf_counter() - started:.1f} s (load {load:.2f} -> {os.getloadavg()[0]:.2f})")
    figures = {}
    for engine in ("duckdb", "spark"):
        warehouse = a.scratch / f"{engine}.duckdb"
        shutil.rmtree(a.scratch / f"{engine}.duckdb.spark", ignore_errors=True)
        shutil.copyfile(ingested, warehouse)
        print(f"{engine} build ...", flush=True)
        out = subprocess.run([sys.executable, __file__, "--one", engine, str(warehouse)], capture_output=True,
                             text=True)
        if out.returncode:
            sys.exit(f"{engine} build failed:\n{out.stderr[-3000:]}")
        *progress, last = out.stdout.strip().splitlines()
        print("\n".join(line.strip() for line in progress if "spark:" in line or "metric_values" in line))
        figures[engine] = json.loads(last)
        print(json.dumps(figures[engine]))
    import duckdb

    con = duckdb.connect()
    con.execute(f"ATTACH '{a.scratch / 'duckdb.duckdb'}' AS d (READ_ONLY)")
    con.execute(f"ATTACH '{a.scratch / 'spark.duckdb'}' AS s (READ_ONLY)")
    rows, differ, not_identical, counts = con.execute(COMPARE).fetchone()
    print(f"metric_values: {rows:,} rows compared, {differ} values differ beyond 1e-9, {not_identical} not "
          f"bit-identical, {counts} counts or suppression flags differ")
    d, s = figures["duckdb"], figures["spark"]
    print(f"build seconds: duckdb {d['seconds']} (load {d['load_before']:.2f} -> {d['load_after']:.2f}), "
          f"spark {s['seconds']} (load {s['load_before']:.2f} -> {s['load_after']:.2f}); spark/duckdb "
          f"{s['seconds'] / d['seconds']:.1f}x")


if __name__ == "__main__":
    main()

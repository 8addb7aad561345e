"""The flow against its full-fidelity floor (#22), and the incremental yearly run.

    python benchmarks/floor_vs_flow.py [--sizes 200000] [--repeat 2] [--memory-limit 4GB] [--incremental]
                                       [--pandas] [--scratch /tmp/eo_bench] [--out benchmarks/results]

For each size N (students enrolled per year, ``--years`` years ending in 2025, one school per 497 students; the
network of run_benchmark.py, generated once into ``<scratch>/<N>/raw`` and reused), ``--repeat`` times, back to back:

  1. **the floor**: ``floor_full.sql``, one bare DuckDB script over the same raw files (all 8 student tables and the
     roster) computing every student cell of ``metric_values`` (every metric, school x year x subgroup with the
     complements, the pooled network rows, counts, values, suppression) with the same DuckDB memory limit;
  2. **the flow**, each stage in a fresh process on a fresh warehouse: ingest, build, evaluate, publish (scorecards
     for every school of the roster);
  3. every student cell of the warehouse's ``metric_values`` compared with the floor's (the floor must be the same
     work, not less);
  4. with ``--pandas``: ``reference_pandas_full.py``, the same cells in plain pandas, in a fresh process after the
     floor, every cell compared with the floor's the same way.

With ``--incremental`` it then measures the yearly run: a network of ``--years + 1`` years, a warehouse that holds
the first ``--years`` (ingest + build + evaluate), then one more school year's files added and the flow run again
(ingest of the new files only, incremental build of that year, evaluate, publish), against a full run of all years
(which judges the year before the new one first, not counted: the rating history a yearly warehouse holds).

Per stage it prints seconds (the stage call), peak RSS of the process tree, the ratio to the floor and the 1-minute
load average before and after (the machine may be shared), and writes the tables to ``--out``
(``floor_vs_flow_<N>.md`` and ``.json``).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import sys
import time
from datetime import datetime
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import run_benchmark as rb  # noqa: E402  (the generator, the stage workers and the RSS-polling runner)

FLOW = ["ingest", "build", "evaluate", "publish"]
WORKER_SCRIPT = Path(__file__).resolve()  # --snapshot: the frozen copy's
KEY = ["org_code", "org_level", "school_year", "subgroup", "metric", "subject", "grade"]
COMPARED = ["n_students", "numerator", "denominator", "value", "std_dev"]


# ---------------------------------------------------------------------------------------------------------------
# workers (each in a fresh process, see rb.run_worker)
# ---------------------------------------------------------------------------------------------------------------

def w_floor(spec: dict) -> dict:
    """floor_full.sql on the raw folder, with the flow's DuckDB memory limit; its cells to a parquet file."""
    import duckdb

    from equity_outcomes.catalog import metrics_frame

    sql = (HERE / "floor_full.sql").read_text(encoding="utf-8")
    con = duckdb.connect(config={"memory_limit": spec["memory_limit"], "temp_directory": spec["spill"]})
    con.register("_m", metrics_frame()[["metric", "min_n", "min_n_on"]])
    con.execute("CREATE TEMP TABLE floor_metrics AS SELECT * FROM _m")
    os.chdir(spec["raw"])  # the script's paths are relative to the network folder
    t0 = time.perf_counter()
    con.execute(sql)
    seconds = time.perf_counter() - t0
    n = con.execute("SELECT count(*) FROM floor_values").fetchone()[0]
    con.execute(f"COPY floor_values TO '{spec['result']}' (FORMAT parquet)")
    con.close()
    return {"seconds": seconds, "details": {"cells": n}}


def w_ingest_more(spec: dict) -> dict:
    """The ingest stage on an existing warehouse (files already loaded are skipped by their bytes)."""
    from equity_outcomes import stages

    t0 = time.perf_counter()
    summary = stages.ingest_stage(Path(spec["warehouse"]), [Path(spec["raw"])])
    t = summary.totals()
    return {"seconds": time.perf_counter() - t0, "details": {k: t[k] for k in ("files", "files_loaded", "rows_loaded")}}


def w_pandas_full(spec: dict) -> dict:
    """reference_pandas_full.py on the raw folder (reading + computing timed); its cells to a parquet file."""
    import duckdb
    import reference_pandas_full

    from equity_outcomes.catalog import metrics_frame

    thresholds = metrics_frame()[["metric", "min_n", "min_n_on"]]
    t0 = time.perf_counter()
    out = reference_pandas_full.compute(Path(spec["raw"]), thresholds)
    seconds = time.perf_counter() - t0
    con = duckdb.connect()
    con.register("out", out)
    con.execute(f"COPY out TO '{spec['result']}' (FORMAT parquet)")
    con.close()
    return {"seconds": seconds, "details": {"cells": len(out)}}


def w_judge_year(spec: dict) -> dict:
    """The evaluate stage on one given year (a full rebuild's copy of last year's judgement: the rating history)."""
    from equity_outcomes import stages

    t0 = time.perf_counter()
    out = stages.evaluate_stage(Path(spec["warehouse"]), current_year=int(spec["year"]))
    return {"seconds": time.perf_counter() - t0, "details": {"judged_year": out["judged_year"]}}


WORKERS = {"floor": w_floor, "ingest_more": w_ingest_more, "pandas_full": w_pandas_full, "judge_year": w_judge_year}


# ---------------------------------------------------------------------------------------------------------------
# parent side
# ---------------------------------------------------------------------------------------------------------------

def run(stage: str, spec: dict, logs: Path, args, tag: str) -> dict:
    rb.say(f"{tag}: {stage} ...")
    name = re.sub(r"[^\w+-]+", "_", f"{tag}_{stage}")  # the worker's log, spec and result files
    res = rb.run_worker(stage, {**spec, "tag": name, "duckdb_memory_limit": args.memory_limit}, logs,
                        max_rss_gb=args.max_rss_gb, timeout=args.stage_timeout, script=WORKER_SCRIPT)
    if res["status"] != "ok" and "--stage-timeout" not in str(res.get("notes")):
        raise SystemExit(f"{tag}: {stage} failed: {res.get('notes')}\n" + "\n".join(res.get("log_tail") or []))
    load = os.getloadavg()[0]  # a stage stopped by --stage-timeout is recorded (seconds None) and the run goes on
    row = {"stage": stage, "seconds": res["seconds"], "wall_seconds": res["wall_seconds"],
           "peak_rss_mb": res["peak_rss_mb"], "load_before": res.get("load_before", load),
           "load_after": res.get("load_after", load), "details": res.get("details") or res.get("notes")}
    rb.say(f"{tag}: {stage} {_seconds(row)} s (wall {row['wall_seconds']:.1f} s), peak RSS "
           f"{row['peak_rss_mb']:,.0f} MB, load {row['load_before']:.2f} -> {row['load_after']:.2f}")
    return row


def _seconds(row: dict) -> str:
    return f"{row['seconds']:.1f}" if row["seconds"] is not None else f"> {row['wall_seconds']:.0f} (stopped)"


def _sum(rows: list[dict]) -> tuple[float, str]:
    """The stages' seconds added up, and how to print it ('> ' when a stage was stopped)."""
    total = sum(r["seconds"] or r["wall_seconds"] for r in rows)
    return total, ("> " if any(r["seconds"] is None for r in rows) else "") + f"{total:.1f}"


def fresh(wh: Path) -> None:
    """No warehouse, and no answers of its last publication (a full run solves every programme)."""
    for p in (wh, wh.with_name(wh.name + ".wal"), wh.with_name(wh.name + ".solved.parquet")):
        p.unlink(missing_ok=True)


def compare_cells(wh: Path, floor: Path) -> dict:
    """Every student cell of metric_values against the floor's: keys on one side only, and the largest
    difference of each compared column (suppression must agree too)."""
    import duckdb

    con = duckdb.connect()
    con.execute(f"ATTACH '{wh}' AS w (READ_ONLY)")
    out = agreement(con, floor, "(SELECT * FROM w.metric_values WHERE source = 'student')", "flow")
    con.close()
    return out


def agreement(con, floor: Path, other: str, side: str) -> dict:
    """The floor's cells (a parquet file) against ``other`` (a table expression with the same columns)."""
    on = " AND ".join(f"f.{k} IS NOT DISTINCT FROM m.{k}" for k in KEY)
    diffs = ", ".join(f"max(abs(f.{c} - m.{c})) AS {c}" for c in COMPARED)
    row = con.execute(f"""
        SELECT count(*) FILTER (WHERE f.metric IS NOT NULL AND m.metric IS NOT NULL) AS matched,
               count(*) FILTER (WHERE m.metric IS NULL) AS only_floor,
               count(*) FILTER (WHERE f.metric IS NULL) AS only_other,
               count(*) FILTER (WHERE f.is_suppressed <> m.is_suppressed) AS suppression_differs,
               count(*) FILTER (WHERE (f.value IS NULL) <> (m.value IS NULL)) AS null_value_differs, {diffs}
        FROM read_parquet('{floor}') f
        FULL JOIN {other} m ON {on}""").fetchone()
    names = ["matched", "only_floor", f"only_{side}", "suppression_differs", "null_value_differs",
             *(f"max_abs_diff_{c}" for c in COMPARED)]
    return dict(zip(names, row, strict=True))


def flow_rows(spec: dict, logs: Path, args, tag: str) -> list[dict]:
    fresh(Path(spec["warehouse"]))
    shutil.rmtree(spec["dashboards"], ignore_errors=True)
    return [run(stage, spec, logs, args, f"{tag} flow") for stage in flow_stages(args)]


def flow_stages(args) -> list[str]:
    return [s for s in FLOW if s != "publish" or not args.no_publish]


def one_round(args, n: int, base: Path, raw: Path, i: int) -> dict:
    logs = base / "logs"
    wh = base / "warehouse.duckdb"
    floor_out = base / "floor_values.parquet"
    tag = f"N={n:,} round {i}"
    spill = base / "spill"
    spill.mkdir(exist_ok=True)
    floor = run("floor", {"raw": str(raw), "result": str(floor_out), "memory_limit": args.memory_limit,
                          "spill": str(spill)}, logs, args, f"{tag} floor")
    spec = {"raw": str(raw), "warehouse": str(wh), "dashboards": str(base / "dashboards")}
    pandas = pandas_reference(args, base, raw, floor_out, tag) if args.pandas else None
    stages = flow_rows(spec, logs, args, tag)
    cells = compare_cells(wh, floor_out)
    rb.say(f"{tag}: floor vs metric_values: {cells}")
    out = {"round": i, "floor": floor, "stages": stages, "agreement": cells}
    if pandas:
        out["pandas"] = pandas
    return out


def pandas_reference(args, base: Path, raw: Path, floor_out: Path, tag: str) -> dict:
    """reference_pandas_full.py right after the floor (the same cells in plain pandas), compared cell by cell."""
    import duckdb

    result = base / "pandas_full.parquet"
    row = run("pandas_full", {"raw": str(raw), "result": str(result)}, base / "logs", args, f"{tag} pandas")
    con = duckdb.connect()
    row["agreement"] = agreement(con, floor_out, f"read_parquet('{result}')", "pandas")
    con.close()
    rb.say(f"{tag}: floor vs pandas: {row['agreement']}")
    return row


def hardlink_tree(src: Path, dest: Path, skip_year: str | None = None) -> None:
    """A copy of a network folder made of hard links (no bytes copied), without one year's folder."""
    for path in sorted(src.rglob("*")):
        rel = path.relative_to(src)
        if skip_year and skip_year in rel.parts[:2]:
            continue
        target = dest / rel
        if path.is_dir():
            target.mkdir(parents=True, exist_ok=True)
        elif not target.exists():
            target.parent.mkdir(parents=True, exist_ok=True)
            os.link(path, target)


def incremental(args, n: int, scratch: Path) -> dict:
    """A warehouse holding ``--years`` years, one more year added and run incrementally, vs a full run of all."""
    years = args.years + 1
    base = scratch / f"{n}_{years}y"
    base.mkdir(parents=True, exist_ok=True)
    net_args = argparse.Namespace(**{**vars(args), "years": years, "students_per_school": rb.MA_STUDENTS_PER_SCHOOL,
                                     "regenerate": False, "seed": args.seed})
    rb.ensure_network(net_args, n, base)
    raw, logs, tag = base / "raw", base / "logs", f"N={n:,} +1 year"
    new_year = "2025"
    inc_raw = base / "raw_incremental"
    shutil.rmtree(inc_raw, ignore_errors=True)
    hardlink_tree(raw, inc_raw, skip_year=new_year)
    inc = {"raw": str(inc_raw), "warehouse": str(base / "incremental.duckdb"), "dashboards": str(base / "dash_inc")}
    full = {"raw": str(raw), "warehouse": str(base / "full.duckdb"), "dashboards": str(base / "dash_full")}
    fresh(Path(inc["warehouse"]))
    shutil.rmtree(inc["dashboards"], ignore_errors=True)
    before = [run(s, inc, logs, args, f"{tag} (first {args.years} years)") for s in flow_stages(args)]
    hardlink_tree(raw, inc_raw)  # the new year's files arrive
    added = [run("ingest_more", inc, logs, args, f"{tag} incremental")]
    added += [run(s, inc, logs, args, f"{tag} incremental") for s in flow_stages(args)[1:]]
    # the yearly warehouse keeps last year's judgement (target_results_history: the rating history the pages show);
    # a full rebuild judges that year too before the new one, not counted in its seconds
    fresh(Path(full["warehouse"]))
    shutil.rmtree(full["dashboards"], ignore_errors=True)
    rebuilt, history = [], None
    for stage in flow_stages(args):
        if stage == "evaluate":
            history = run("judge_year", {**full, "year": int(new_year) - 1}, logs, args,
                          f"{tag} full rebuild, last year's judgement (not counted)")
        rebuilt.append(run(stage, full, logs, args, f"{tag} full rebuild flow"))
    same = same_tables(Path(inc["warehouse"]), Path(full["warehouse"]))
    rb.say(f"{tag}: incremental vs full rebuild: {same}")
    site = None if args.no_publish else same_site(Path(inc["dashboards"]), Path(full["dashboards"]))
    rb.say(f"{tag}: published files, incremental vs full rebuild: {site}")
    return {"years": years, "before": before, "incremental": added, "full": rebuilt, "identical": same,
            "published": site, "full_history": history}


STAMP = re.compile(rb"\d{4}-\d{2}-\d{2}[ T]\d{2}:\d{2}(?::\d{2})?(?:Z| UTC)?")  # built_at, workbook properties


def _contents(path: Path) -> list[bytes]:
    """A file's bytes without timestamps (a workbook: each member's, in order, without the zip's dates)."""
    import zipfile

    if path.suffix == ".xlsx":
        with zipfile.ZipFile(path) as z:
            return [n.encode() + b"\0" + STAMP.sub(b"", z.read(n)) for n in z.namelist()]
    return [STAMP.sub(b"", path.read_bytes())]


def same_site(a: Path, b: Path) -> dict:
    """Two publications file by file (only timestamps may differ) and their withheld cells as read back."""
    from equity_outcomes.publish.disclosure.read import CELL_COLS, read_publication

    fa, fb = ({str(p.relative_to(d)) for p in d.rglob("*") if p.is_file()} for d in (a, b))
    differing = sorted(f for f in fa & fb if _contents(a / f) != _contents(b / f))
    withheld = [{tuple(r) for r in pub.cells.loc[pub.cells["withheld"], CELL_COLS].astype(str).to_numpy()}
                for pub in (read_publication(a), read_publication(b))]
    return {"files": len(fa | fb), "only_one_side": len(fa ^ fb), "differing": len(differing),
            "differing_examples": differing[:5], "withheld_cells": len(withheld[0]),
            "withheld_differing": len(withheld[0] ^ withheld[1])}


def same_tables(a: Path, b: Path) -> dict:
    """Rows that differ between two warehouses, per mart and judged table (warehouse_diff: floats to 1e-9)."""
    import duckdb
    from warehouse_diff import differing_rows

    con = duckdb.connect()
    con.execute(f"ATTACH '{a}' AS a (READ_ONLY)")
    con.execute(f"ATTACH '{b}' AS b (READ_ONLY)")
    out = {t: {"rows": con.execute(f"SELECT count(*) FROM a.{t}").fetchone()[0],
               "rows_differing": differing_rows(con, t, "a", "b")}
           for t in ("metric_values", "metric_gaps", "int_outcome_profiles", "int_sgp_histogram", "int_sgp_medians",
                     "reconciliation", "target_results", "target_results_history", "readiness_summary")}
    con.close()
    return out


# ---------------------------------------------------------------------------------------------------------------
# report
# ---------------------------------------------------------------------------------------------------------------

def _ratio(x: float | None, floor: float) -> str:
    return f"{x / floor:.2f}x" if x is not None and floor else "-"


def round_table(r: dict) -> list[str]:
    floor = r["floor"]["seconds"]
    lines = ["| stage | seconds | wall s | peak RSS MB | ratio to floor | load before / after |",
             "|---|---:|---:|---:|---:|---|"]

    def line(name: str, s: dict) -> str:
        return (f"| {name} | {_seconds(s)} | {s['wall_seconds']:.1f} | {s['peak_rss_mb']:,.0f} | "
                f"{_ratio(s['seconds'], floor)} | {s['load_before']:.2f} / {s['load_after']:.2f} |")

    lines.append(line("floor (floor_full.sql)", r["floor"]))
    for s in r["stages"]:
        lines.append(line(s["stage"], s))
    by = {s["stage"]: s for s in r["stages"]}
    ib = by["ingest"]["seconds"] + by["build"]["seconds"]
    total, shown = _sum(r["stages"])
    peak = max(s["peak_rss_mb"] for s in r["stages"])
    lines.append(f"| **ingest + build** | {ib:.1f} | | | **{_ratio(ib, floor)}** (goal <= 1.2x) | |")
    lines.append(f"| **whole flow** | {shown} | | {peak:,.0f} | **{_ratio(total, floor)}** (goal <= 1.5x) | |")
    if "pandas" in r:
        lines += pandas_lines(r["pandas"], floor, ib, total)
    a = r["agreement"]
    lines.append("")
    lines.append(f"Floor vs the warehouse's student cells: {a['matched']:,} matched, {a['only_floor']:,} only in the "
                 f"floor, {a['only_flow']:,} only in metric_values, suppression differs in "
                 f"{a['suppression_differs']:,}; largest differences: "
                 + ", ".join(f"{c} {a['max_abs_diff_' + c]}" for c in COMPARED) + ".")
    return lines


def pandas_lines(p: dict, floor: float, ingest_build: float, flow: float) -> list[str]:
    """The pandas reference's row, its ratios to the flow (goal: the flow >= 5x faster) and its agreement."""
    a = p["agreement"]
    return [f"| pandas reference (reference_pandas_full.py) | {p['seconds']:.1f} | {p['wall_seconds']:.1f} | "
            f"{p['peak_rss_mb']:,.0f} | {_ratio(p['seconds'], floor)} | "
            f"{p['load_before']:.2f} / {p['load_after']:.2f} |",
            f"| **pandas / (ingest + build)** | | | | **{_ratio(p['seconds'], ingest_build)}** (goal >= 5x) | |",
            f"| **pandas / whole flow** | | | | **{_ratio(p['seconds'], flow)}** (goal >= 5x) | |",
            "",
            f"Floor vs pandas: {a['matched']:,} matched, {a['only_floor']:,} only in the floor, "
            f"{a['only_pandas']:,} only in pandas, suppression differs in {a['suppression_differs']:,}; largest "
            "differences: " + ", ".join(f"{c} {a['max_abs_diff_' + c]}" for c in COMPARED) + "."]


def incremental_table(inc: dict) -> list[str]:
    (full, full_shown), (added, added_shown) = _sum(inc["full"]), _sum(inc["incremental"])
    lines = ["| stage | incremental s | full rebuild s | load before / after (incremental; full) |",
             "|---|---:|---:|---|"]
    for a, f in zip(inc["incremental"], inc["full"], strict=True):
        lines.append(f"| {f['stage']} | {_seconds(a)} | {_seconds(f)} | {a['load_before']:.2f} / "
                     f"{a['load_after']:.2f}; {f['load_before']:.2f} / {f['load_after']:.2f} |")
    lines.append(f"| **whole flow** | {added_shown} | {full_shown} | **{added / full:.0%} of a full run** (goal <= 25%) |")
    (full_np, _), (added_np, _) = (_sum([s for s in rows if s["stage"] != "publish"])
                                   for rows in (inc["full"], inc["incremental"]))
    lines.append(f"| without publish | {added_np:.1f} | {full_np:.1f} | {added_np / full_np:.0%} of a full run | |")
    if inc.get("full_history"):
        lines.append(f"| (full rebuild: last year's judgement first, not counted) | | "
                     f"{_seconds(inc['full_history'])} | |")
    lines.append("")
    lines.append("Incremental warehouse vs full rebuild, rows differing per table: "
                 + ", ".join(f"{t} {d['rows_differing']} of {d['rows']:,}" for t, d in inc["identical"].items()))
    if inc.get("published"):
        p = inc["published"]
        lines += ["", f"Published files, incremental vs full rebuild (timestamps masked): {p['files']:,} files, "
                  f"{p['only_one_side']} on one side only, {p['differing']} differing "
                  f"{p['differing_examples'] or ''}; withheld cells {p['withheld_cells']:,}, "
                  f"{p['withheld_differing']} withheld on one side only."]
    return lines


def write(args, n: int, rounds: list[dict], inc: dict | None) -> Path:
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    lines = [f"# Flow vs full-fidelity floor: {n:,} students x {args.years} years",
             "", f"Run {datetime.now():%Y-%m-%d %H:%M}, commit {args.measured_commit or rb._env()['commit']}, DuckDB memory limit "
             f"{args.memory_limit} (floor and flow), {os.cpu_count()} cores shared (load average beside each figure).",
             ""]
    for r in rounds:
        lines += [f"## Round {r['round']}", "", *round_table(r), ""]
    if inc:
        lines += [f"## Incremental yearly run ({inc['years'] - 1} years in the warehouse, +1)", "",
                  *incremental_table(inc), ""]
    md = out / f"floor_vs_flow_{n}.md"
    md.write_text("\n".join(lines) + "\n", encoding="utf-8")
    md.with_suffix(".json").write_text(json.dumps({"rounds": rounds, "incremental": inc}, indent=1, default=str))
    print("\n".join(lines))
    return md


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--sizes", default="200000")
    p.add_argument("--repeat", type=int, default=2, help="floor + flow rounds, back to back (default 2)")
    p.add_argument("--years", type=int, default=5)
    p.add_argument("--memory-limit", default=os.environ.get("EQUITY_OUTCOMES_DUCKDB_MEMORY", "4GB"))
    p.add_argument("--incremental", action="store_true", help="also measure adding one year (+1 year network)")
    p.add_argument("--only-incremental", action="store_true", help="measure the +1 year run only")
    p.add_argument("--pandas", action="store_true", help="also run reference_pandas_full.py (the same cells in pandas)")
    p.add_argument("--no-publish", action="store_true", help="leave the publish stage out (the 'whole flow' then too)")
    p.add_argument("--scratch", type=Path, default=Path("/tmp/eo_bench"))
    p.add_argument("--out", type=Path, default=HERE / "results")
    p.add_argument("--seed", type=int, default=20240601)
    p.add_argument("--max-rss-gb", type=float, default=12.0)
    p.add_argument("--stage-timeout", type=float, default=3600.0)
    p.add_argument("--snapshot", nargs="?", const="HEAD", default=None, metavar="REV",
                   help="measure a frozen copy of a commit (git archive), so edits made meanwhile do not mix in")
    p.add_argument("--worker", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    args.measured_commit = None  # the snapshot's commit when --snapshot (the checkout's HEAD may be later)
    if args.worker:
        rb.WORKERS.update(WORKERS)
        rb.worker_main(args.worker)
        return
    if args.snapshot:
        global WORKER_SCRIPT
        args.measured_commit, dest = rb.make_snapshot(args.scratch, args.snapshot)
        commit = args.measured_commit
        rb.SNAPSHOT_SRC, WORKER_SCRIPT = str(dest / "src"), dest / "benchmarks" / "floor_vs_flow.py"
        rb.say(f"measuring the frozen copy of {commit} in {dest}")
    os.environ.setdefault("EQUITY_OUTCOMES_ID_KEY", "demo")  # the published demo key: synthetic students only
    for n in (int(s) for s in args.sizes.split(",")):
        base = args.scratch / str(n)
        base.mkdir(parents=True, exist_ok=True)
        net_args = argparse.Namespace(**{**vars(args), "students_per_school": rb.MA_STUDENTS_PER_SCHOOL,
                                         "regenerate": False})
        rb.ensure_network(net_args, n, base)
        rounds = []
        for i in range(1, 0 if args.only_incremental else args.repeat + 1):
            rounds.append(one_round(args, n, base, base / "raw", i))
            write(args, n, rounds, None)  # what is measured so far, in case a later round is stopped
        inc = incremental(args, n, args.scratch) if args.incremental or args.only_incremental else None
        write(args, n, rounds, inc)


if __name__ == "__main__":
    main()

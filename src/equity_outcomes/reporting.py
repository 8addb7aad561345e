"""Human-readable summaries of a run: the CLI prints them, the Prefect flow publishes them as artifacts."""

from __future__ import annotations

from pathlib import Path

from tabulate import tabulate

from .ingest.load import LoadSummary
from .models.build import BuildSummary
from .warehouse import connect, connect_read_only, table_exists

MAX_QUARANTINE_ROWS = 500


def _md_table(rows: list[dict]) -> str:
    return tabulate(rows, headers="keys", tablefmt="github", disable_numparse=True) + "\n" if rows else "_none_\n"


def quarantine_rows(warehouse: Path, load_id: str) -> list[dict]:
    with connect(warehouse) as con:
        if not table_exists(con, "quarantine"):
            return []
        df = con.execute(
            "SELECT source_file, source_row, table_name, column_name, value_text, check_name FROM quarantine "
            "WHERE load_id = ? ORDER BY source_file, source_row LIMIT ?",
            [load_id, MAX_QUARANTINE_ROWS],
        ).df()
    df["source_file"] = df["source_file"].map(lambda p: Path(p).name)
    return df.astype(str).to_dict("records")


def mappings_of_load(con, load_id: str | None) -> list[tuple[str, str, list[tuple[str, str, int]]]]:
    """(file name, column, [(from, to, rows)]) for every spelling mapped in a load, file by file."""
    if not load_id or not table_exists(con, "load_mappings"):
        return []
    rows = con.execute(
        "SELECT source_file, column_name, list((value_from, value_to, rows) ORDER BY rows DESC, value_from) "
        "FROM load_mappings WHERE load_id = ? GROUP BY ALL ORDER BY 1, 2", [load_id]
    ).fetchall()
    return [(f"{Path(f).parent.name}/{Path(f).name}", c, [tuple(x) for x in m]) for f, c, m in rows]


def mapping_lines(con, load_id: str | None) -> list[str]:
    """'  enrollment.csv race_ethnicity: 'Black' -> 'black' (1,020), ...' per file and column."""
    return [f"{name} {column}: " + ", ".join(f"{a!r} -> {b!r} ({n:,})" for a, b, n in maps)
            for name, column, maps in mappings_of_load(con, load_id)]


def target_year_rows(con, notes: dict[str, str] | None = None) -> list[dict]:
    """Per target of the latest evaluation: the network schools' baseline years, the judged year, the sources
    used, and what is missing for the judged year (``notes`` from the evaluation, else judge/judged_year.py)."""
    from .judge.judged_year import coverage

    if not table_exists(con, "target_results"):
        return []
    rows = con.execute(
        "SELECT target_id, min(baseline_year), max(baseline_year), max(current_year), "
        "list(DISTINCT source ORDER BY source) FILTER (WHERE current_value IS NOT NULL) FROM target_results "
        "WHERE org_level = 'school' AND is_network_school GROUP BY 1"
    ).fetchall()
    judged = {r[3] for r in rows if r[3] is not None}
    if notes is None:
        notes = {t.target_id: t.note() for t in coverage(con, judged.pop())} if len(judged) == 1 else {}
    out = []
    for target_id, b_min, b_max, year, sources in sorted(rows):
        baseline = "-" if b_min is None else (str(b_min) if b_min == b_max else f"{b_min}-{b_max}")
        out.append({"target": target_id, "baseline_year": baseline, "judged_year": year,
                    "sources_used": ", ".join(sources or []) or "none", "missing": notes.get(target_id, "")})
    return out


def disclosure_markdown(published: dict | None) -> str:
    """The publication's section of the run summary: what the disclosure control withheld, per output, and the
    audit; ratings counted over the published (controlled) target rows only."""
    sc = (published or {}).get("scorecards") or {}
    if not sc.get("disclosure"):
        return ""
    from .publish.disclosure import summary_lines

    d = sc["disclosure"]
    parts = ["## Disclosure control\n" + "".join(f"- {line}\n" for line in summary_lines(d))]
    audit = sc.get("audit")
    if audit:
        parts.append("Audit of the published files: nothing recovered.\n" + "".join(f"- {t}\n" for t in audit["tried"]))
    if d.get("ratings"):
        parts.append("## Published ratings (all students, schools)\n" + _md_table(d["ratings"]))
    return "\n".join(parts)


def run_summary_markdown(
    warehouse: Path, load: LoadSummary, build: BuildSummary | None, extra: dict | None, *, no_op: bool = False
) -> str:
    t = load.totals()
    parts = ["# Yearly outcomes run\n"]
    if no_op:
        parts.append("**No input, catalog or code changed since the last run: nothing was rebuilt (no-op).**\n")
    parts.append(
        f"- files: {t['files']} ({t['files_loaded']} loaded, {t['files_unchanged']} unchanged)\n"
        f"- rows loaded: {t['rows_loaded']:,}\n- rows quarantined: {t['rows_quarantined']:,}\n"
    )
    per_file = [
        {"file": r.path.name, "kind": r.kind, "report": r.report, "status": r.status, "rows": r.rows_loaded,
         "quarantined": r.rows_quarantined}
        for r in load.results if r.status in ("loaded", "replaced") or r.rows_quarantined
    ]
    parts.append("## Files loaded\n" + _md_table(per_file[:200]))
    if build is not None:
        parts.append(f"## Marts\nbuilt {len(build.models)} models in {build.seconds:.1f} s\n")
    with connect(warehouse) as con:
        if table_exists(con, "target_results") and not (extra or {}).get("scorecards"):
            ratings = con.execute(
                "SELECT target_id, status, count(*) AS n FROM target_results WHERE subgroup = 'all' "
                "AND org_level = 'school' GROUP BY ALL ORDER BY 1, 2"
            ).df()
            parts.append("## Targets by rating (all students, schools)\n" + _md_table(ratings.to_dict("records")))
            notes = (extra or {}).get("targets", {}).get("coverage")
            parts.append("## Baseline and judged year per target\n" + _md_table(target_year_rows(con, notes)))
        maps = mapping_lines(con, load.load_id)
        if maps:
            parts.append("## Spellings mapped to the data contract\n" + "\n".join(f"- {m}" for m in maps) + "\n")
        if table_exists(con, "reconciliation"):
            rec = con.execute("SELECT status, count(*) AS n FROM reconciliation GROUP BY 1 ORDER BY 1").df()
            parts.append("## Reconciliation (student data vs DESE)\n" + _md_table(rec.to_dict("records")))
    parts.append(disclosure_markdown(extra))
    return "\n".join(p for p in parts if p)


def run_summary_text(warehouse: Path, result: dict, seconds: float, dashboards: Path | None = None) -> str:
    """What the command line prints after a run: loads, spellings mapped, marts, baseline and judged year per
    target, where the warehouse and scorecards are."""
    load = result.get("load", {})
    lines = [f"\nequity-outcomes run finished in {seconds:.1f} s" + (" (no input changed: no-op)" if result.get("no_op") else ""),
             f"  files: {load.get('files', 0)} ({load.get('files_loaded', 0)} loaded, "
             f"{load.get('files_unchanged', 0)} unchanged); rows loaded {load.get('rows_loaded', 0):,}, "
             f"quarantined {load.get('rows_quarantined', 0):,}"]
    with connect_read_only(warehouse) as con:
        maps = mapping_lines(con, result.get("load_id"))
        if maps:
            lines.append("  spellings mapped to the data contract (file column: from -> to (rows)):")
            lines += [f"    {m}" for m in maps]
        lines += _marts_lines(con)
        years = target_year_rows(con, result.get("targets", {}).get("coverage"))
        if years:
            lines.append("  targets (network schools): baseline year(s), the judged year, the source(s) judged")
            lines += [f"    {r['target']:<17} baseline {r['baseline_year']:<9} judged {r['judged_year']}  "
                      f"{r['sources_used']}" + (f"  ({r['missing']})" if r["missing"] else "") for r in years]
    disclosure = (result.get("scorecards") or {}).get("disclosure")
    if disclosure:
        from .publish.disclosure import summary_lines

        lines.append("  disclosure control (cells withheld by the primary rules, then complementary):")
        lines += [f"    {line}" for line in summary_lines(disclosure)]
    lines.append(f"  warehouse: {Path(warehouse).resolve()}")
    if dashboards is not None and (Path(dashboards) / "index.html").exists():
        lines.append(f"  scorecards: {(Path(dashboards) / 'index.html').resolve()}")
    return "\n".join(lines)


def _marts_lines(con) -> list[str]:
    lines = []
    if table_exists(con, "metric_values"):
        n, schools = con.execute(
            "SELECT count(*), count(DISTINCT org_code) FILTER (WHERE org_level='school') FROM metric_values"
        ).fetchall()[0]
        lines.append(f"  metric_values: {n:,} rows for {schools:,} schools")
    if table_exists(con, "reconciliation"):
        rec = dict(con.execute("SELECT status, count(*) FROM reconciliation GROUP BY 1").fetchall())
        lines.append("  reconciliation with DESE: "
                     + (", ".join(f"{k} {v:,}" for k, v in sorted(rec.items())) or "nothing to compare"))
    if table_exists(con, "target_results"):
        rows = con.execute(
            "SELECT status, count(*) FROM target_results WHERE subgroup='all' AND org_level='school' "
            "GROUP BY 1 ORDER BY 2 DESC"
        ).fetchall()
        lines.append("  targets (all students, schools): " + ", ".join(f"{s} {n}" for s, n in rows))
    return lines

"""Human-readable summaries of a run: the CLI prints them, the Prefect flow publishes them as artifacts."""

from __future__ import annotations

from pathlib import Path

from .build import BuildSummary
from .ingest.load import LoadSummary
from .warehouse import connect, table_exists

MAX_QUARANTINE_ROWS = 500


def _md_table(rows: list[dict]) -> str:
    if not rows:
        return "_none_\n"
    cols = list(rows[0])
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    lines += ["| " + " | ".join(str(r[c]) for c in cols) + " |" for r in rows]
    return "\n".join(lines) + "\n"


def quarantine_rows(warehouse: Path, load_id: str) -> list[dict]:
    con = connect(warehouse)
    try:
        if not table_exists(con, "quarantine"):
            return []
        df = con.execute(
            "SELECT source_file, source_row, table_name, column_name, value_text, check_name FROM quarantine "
            "WHERE load_id = ? ORDER BY source_file, source_row LIMIT ?",
            [load_id, MAX_QUARANTINE_ROWS],
        ).df()
    finally:
        con.close()
    df["source_file"] = df["source_file"].map(lambda p: Path(p).name)
    return df.astype(str).to_dict("records")


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
        parts.append("**No input changed since the last run: nothing was rebuilt (no-op).**\n")
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
    con = connect(warehouse)
    try:
        if table_exists(con, "target_results") and not (extra or {}).get("scorecards"):
            ratings = con.execute(
                "SELECT target_id, status, count(*) AS n FROM target_results WHERE subgroup = 'all' "
                "AND org_level = 'school' GROUP BY ALL ORDER BY 1, 2"
            ).df()
            parts.append("## Targets by rating (all students, schools)\n" + _md_table(ratings.to_dict("records")))
        if table_exists(con, "reconciliation"):
            rec = con.execute("SELECT status, count(*) AS n FROM reconciliation GROUP BY 1 ORDER BY 1").df()
            parts.append("## Reconciliation (student data vs DESE)\n" + _md_table(rec.to_dict("records")))
    finally:
        con.close()
    parts.append(disclosure_markdown(extra))
    return "\n".join(p for p in parts if p)

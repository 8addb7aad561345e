"""(Re)build every SQL model under ``sql/`` (staging -> intermediate -> marts) from what has been ingested."""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import pandas as pd

from . import catalog, crosswalk
from .errors import EquityOutcomesError
from .growth.histories import ensure_tables as ensure_growth_tables
from .paths import sql_dir
from .progress import step
from .readiness import load_readiness_reference
from .schemas import ALL_TABLES
from .warehouse import object_kind, table_exists

LAYERS = ["staging", "intermediate", "marts"]

# Every DESE cell as loaded (equity_outcomes.ingest.dese.CELL_COLUMNS plus load_id); ``dese_cells`` is the same
# table without load_id, the long table users export (docs/dese_ingest.md).
DESE_CELL_COLUMNS = {
    "load_id": "VARCHAR", "source_file": "VARCHAR", "source_sheet": "VARCHAR", "source_row": "BIGINT",
    "source_column": "VARCHAR", "report": "VARCHAR", "title": "VARCHAR", "school_year": "BIGINT",
    "year_source": "VARCHAR", "org_code": "VARCHAR", "org_name": "VARCHAR", "org_level": "VARCHAR",
    "subgroup": "VARCHAR", "subgroup_label": "VARCHAR", "subject": "VARCHAR", "grade": "VARCHAR", "period": "VARCHAR",
    "selection": "VARCHAR", "measure": "VARCHAR", "value_text": "VARCHAR", "value": "DOUBLE",
    "is_suppressed": "BOOLEAN", "flag": "VARCHAR", "income_definition": "VARCHAR",
}

_SQL_TYPES = {"int64": "BIGINT", "Int64": "BIGINT", "float64": "DOUBLE", "str": "VARCHAR", "string": "VARCHAR"}


@dataclass
class BuildSummary:
    models: list[tuple[str, float, int | None]] = field(default_factory=list)  # (model, seconds, rows)
    seconds: float = 0.0


def model_files(root: Path | None = None) -> list[Path]:
    """Model files in run order: layer by layer, and within the marts after the models they reference.

    A model named ``x.sql`` creates the table or view ``x`` (staging models ``stg_*`` may create the name they
    document, e.g. ``stg_roster`` creates ``roster``); a reference is the name appearing as a word in the SQL,
    outside ``--`` comments.
    """
    root = root or sql_dir()
    ordered: list[Path] = []
    for layer in LAYERS:
        pending = sorted((root / layer).glob("*.sql"))
        texts = {p: re.sub(r"--[^\n]*", "", p.read_text(encoding="utf-8")) for p in pending}
        while pending:
            names = {p.stem for p in pending}
            ready = [
                p for p in pending
                if not any(n != p.stem and re.search(rf"\b{n}\b", texts[p]) for n in names)
            ]
            if not ready:
                raise EquityOutcomesError(f"SQL models in sql/{layer} reference each other in a cycle: {sorted(names)}")
            ordered.extend(ready)
            pending = [p for p in pending if p not in ready]
    return ordered


def ensure_raw_tables(con: duckdb.DuckDBPyConnection) -> None:
    """Empty, typed raw tables for sources not loaded yet, so every model builds (to zero rows)."""
    _ensure_dese_cells(con)
    ensure_growth_tables(con)  # student_sgp: SGPs computed by `equity-outcomes growth`
    for table, schema in ALL_TABLES.items():
        name = f"raw_student_{table}"
        if table_exists(con, name):
            continue
        cols = ["load_id VARCHAR", "source_file VARCHAR", "source_row BIGINT"]
        for col, spec in schema.columns.items():
            cols.append(f"{col} {_SQL_TYPES.get(str(spec.dtype), 'VARCHAR')}")
        con.execute(f"CREATE TABLE {name} ({', '.join(cols)})")


def _ensure_dese_cells(con: duckdb.DuckDBPyConnection) -> None:
    """raw_dese_cells with every column of DESE_CELL_COLUMNS (columns added since a warehouse was made are added
    to it, NULL for the rows already there), and the view dese_cells."""
    if not table_exists(con, "raw_dese_cells"):
        cols = ", ".join(f"{c} {t}" for c, t in DESE_CELL_COLUMNS.items())
        con.execute(f"CREATE TABLE raw_dese_cells ({cols})")
    have = {r[0] for r in con.execute(
        "SELECT column_name FROM information_schema.columns WHERE table_name = 'raw_dese_cells'").fetchall()}
    for c, t in DESE_CELL_COLUMNS.items():
        if c not in have:
            con.execute(f"ALTER TABLE raw_dese_cells ADD COLUMN {c} {t}")
    select = ", ".join(c for c in DESE_CELL_COLUMNS if c != "load_id")
    con.execute(f"CREATE OR REPLACE VIEW dese_cells AS SELECT {select} FROM raw_dese_cells")


def load_reference_tables(con: duckdb.DuckDBPyConnection) -> None:
    ref_metrics = catalog.metrics_frame()
    ref_subgroups = pd.DataFrame(
        [{"subgroup": k, **{c: v for c, v in row.items() if c != "subgroup"}} for k, row in crosswalk.subgroups().items()]
    )
    for name, frame in (("ref_metrics", ref_metrics), ("ref_subgroups", ref_subgroups)):
        con.register("_ref", frame)
        con.execute(f"CREATE OR REPLACE TABLE {name} AS SELECT * FROM _ref")
        con.unregister("_ref")


def _drop_if_kind_changed(con: duckdb.DuckDBPyConnection, name: str, sql: str) -> None:
    """A model that turned from a table into a view (or back) replaces the old object: CREATE OR REPLACE cannot."""
    created = re.search(rf"CREATE\s+OR\s+REPLACE\s+(TABLE|VIEW)\s+{re.escape(name)}\b", sql, re.IGNORECASE)
    existing = object_kind(con, name)
    if created and existing and existing != created.group(1).upper():
        con.execute(f"DROP {existing} {name}")


def build_models(
    con: duckdb.DuckDBPyConnection, *, progress: Callable[[str], None] | None = None, root: Path | None = None
) -> BuildSummary:
    """Run every model in one transaction; a failing model names its file and leaves the warehouse unchanged."""
    summary = BuildSummary()
    started = time.perf_counter()
    con.execute("BEGIN TRANSACTION")
    try:
        ensure_raw_tables(con)
        load_reference_tables(con)
        load_readiness_reference(con)
        files = model_files(root)
        for path in files:
            t0 = time.perf_counter()
            sql = path.read_text(encoding="utf-8")
            try:
                _drop_if_kind_changed(con, path.stem, sql)
                con.execute(sql)
            except duckdb.Error as exc:
                raise EquityOutcomesError(
                    f"SQL model {path.relative_to(path.parents[1])} failed: {exc}. Nothing was changed. "
                    "How to fix: correct the model (or the config it reads) and run build again."
                ) from None
            name = path.stem
            seconds = time.perf_counter() - t0
            rows = con.execute(f"SELECT count(*) FROM {name}").fetchall()[0][0] if object_kind(con, name) == "TABLE" else None
            summary.models.append((f"{path.parent.name}/{name}", seconds, rows))
            step(progress, len(summary.models), len(files),
                 f"built {path.parent.name}/{name}" + (f" ({rows:,} rows" if rows is not None else " (")
                 + f"{', ' if rows is not None else ''}{seconds:.1f} s)")
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise
    summary.seconds = time.perf_counter() - started
    return summary

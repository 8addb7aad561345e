"""The raw tables the ingest writes and the SQL models read (sources ``raw`` of models/staging/schema.yml): created
empty and typed before anything is loaded, so every model builds (to zero rows)."""

from __future__ import annotations

import duckdb

from ..warehouse import table_exists
from .dese.cells import CELL_COLUMNS
from .schemas import ALL_TABLES

SQL_TYPES = {"int64": "BIGINT", "Int64": "BIGINT", "float64": "DOUBLE", "bool": "BOOLEAN", "str": "VARCHAR",
              "string": "VARCHAR", "object": "VARCHAR"}
# Every DESE cell as loaded (the reader's columns plus load_id); ``dese_cells`` is the same table without load_id,
# the long table users export (docs/dese_ingest.md).
DESE_CELL_COLUMNS = {"load_id": "VARCHAR", **{c: SQL_TYPES[t] for c, t in CELL_COLUMNS.items()}}


def ensure_raw_tables(con: duckdb.DuckDBPyConnection) -> None:
    """Empty, typed raw tables for sources not loaded yet, so every model builds (to zero rows)."""
    _ensure_dese_cells(con)
    for table, schema in ALL_TABLES.items():
        name = f"raw_student_{table}"
        if table_exists(con, name):
            continue
        cols = ["load_id VARCHAR", "source_file VARCHAR", "source_row BIGINT"]
        cols += [f"{col} {SQL_TYPES.get(str(spec.dtype), 'VARCHAR')}" for col, spec in schema.columns.items()]
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

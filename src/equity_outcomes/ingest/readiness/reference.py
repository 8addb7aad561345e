"""Warehouse hooks: the catalog as ``ref_readiness_items`` / ``ref_readiness_scale`` and the typed raw table
(their DDL: tables.sql)."""

from __future__ import annotations

from importlib.resources import files

import duckdb
import pandas as pd

from ...warehouse import registered, table_exists
from . import catalog

# raw_readiness_responses and the ref_ tables
TABLES_SQL = (files(__package__) / "tables.sql").read_text(encoding="utf-8")


def raw_frame(data: pd.DataFrame, load_id: str) -> pd.DataFrame:
    """A reader's ``data`` with the load_id in front: ready to INSERT BY NAME into ``raw_readiness_responses``."""
    out = data.copy()
    out.insert(0, "load_id", load_id)
    return out


def load_readiness_reference(con: duckdb.DuckDBPyConnection) -> None:
    """(Re)create ``ref_readiness_items`` and ``ref_readiness_scale`` from config, and create an empty typed
    ``raw_readiness_responses`` if it is missing. Call before the SQL models run."""
    scale = catalog.scale()
    scale = scale[scale["value"] != catalog.SKIP].assign(rating=lambda d: d["value"].astype(int))
    con.execute(TABLES_SQL)
    frames = {"ref_readiness_items": catalog.items()[catalog.CATALOG_COLUMNS],
              "ref_readiness_scale": scale[["rating", "label", "description"]]}
    for table, frame in frames.items():
        with registered(con, "_readiness_ref", frame):
            con.execute(f"INSERT INTO {table} BY NAME SELECT * FROM _readiness_ref")


def quarantine_frame(quarantine: pd.DataFrame, load_id: str, table_name: str = "readiness_responses") -> pd.DataFrame:
    """A reader's quarantine in the warehouse ``quarantine`` table's columns (load_id, source_file, source_row,
    table_name, column_name, value_text, check_name, message). The sheet is kept in the message, which starts with
    "sheet 'Readiness 2', cell D14: ..."."""
    out = quarantine.drop(columns=["source_sheet"]).copy()
    out.insert(0, "load_id", load_id)
    out.insert(3, "table_name", table_name)
    return out


def known_schools(con: duckdb.DuckDBPyConnection) -> set[str] | None:
    """The roster's org codes already in the warehouse (``raw_student_roster``), or None when no roster is loaded
    (then only the 8-digit format of org_code is checked)."""
    if not table_exists(con, "raw_student_roster"):
        return None
    codes = {r[0] for r in con.execute("SELECT DISTINCT org_code FROM raw_student_roster").fetchall() if r[0]}
    return codes or None

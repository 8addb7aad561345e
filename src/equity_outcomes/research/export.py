"""Export warehouse tables as they are (CSV, Parquet, XLSX)."""

from __future__ import annotations

from pathlib import Path

from ..errors import EquityOutcomesError
from ..warehouse import connect_read_only, table_names

# Tables that hold student-level rows never leave the warehouse through export.
STUDENT_LEVEL_PREFIXES = ("raw_student_", "stg_", "int_")
XLSX_MAX_ROWS = 1_048_575
COPY_OPTIONS = {".csv": "HEADER, DELIMITER ','", ".parquet": "FORMAT parquet"}  # DuckDB's COPY by suffix


def export_table(warehouse: Path, table: str, out: Path) -> int:
    with connect_read_only(warehouse) as con:
        known = table_names(con)  # tables and views
        if table not in known:
            raise EquityOutcomesError(
                f"no table {table!r} in {warehouse}. How to fix: name one of "
                f"{', '.join(sorted(t for t in known if not t.startswith(STUDENT_LEVEL_PREFIXES)))}"
            )
        if table.startswith(STUDENT_LEVEL_PREFIXES):
            raise EquityOutcomesError(
                f"{table} holds student-level rows, which never leave the warehouse. How to fix: export an "
                "aggregate table such as metric_values or target_results."
            )
        out = Path(out)
        out.parent.mkdir(parents=True, exist_ok=True)
        n = con.execute(f"SELECT count(*) FROM {table}").fetchall()[0][0]
        suffix = out.suffix.lower()
        if suffix in COPY_OPTIONS:
            con.execute(f"COPY (SELECT * FROM {table}) TO '{out}' ({COPY_OPTIONS[suffix]})")
        elif suffix == ".xlsx":
            if n > XLSX_MAX_ROWS:
                raise EquityOutcomesError(f"{table} has {n:,} rows, more than Excel holds. How to fix: export .csv "
                                          "or .parquet")
            con.execute(f"SELECT * FROM {table}").df().to_excel(out, index=False, sheet_name=table[:31])
        else:
            raise EquityOutcomesError(f"unknown export format {suffix!r} ({out}). How to fix: name the file .csv, "
                                      ".parquet or .xlsx")
        return n

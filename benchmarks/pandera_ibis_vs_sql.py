"""Is pandera's own in-database backend (``pandera.ibis`` on DuckDB) a replacement for ``ingest/sqlvalidate.py``
(our compiler of the same pandera schemas to one DuckDB statement)?

    python benchmarks/pandera_ibis_vs_sql.py --raw /tmp/eo_bench/200000/raw --rows 1000000 [--bad 200]

Makes one enrollment file of ``--rows`` rows from the years of a synthetic network (``equity-outcomes synth``),
spoils ``--bad`` cells (a letter in a number, an unknown race, a 7-digit org code), then times on the same file:
  1. ``sqlvalidate.validate_and_load`` (validate, quarantine with line numbers, hash ids, insert the good rows);
  2. ``pandera.ibis``: the same schema rebuilt for the ibis backend (same checks, same coercion), validated lazily
     on a DuckDB table read from the file (validation only: no quarantine rows, no insert).
and prints seconds, the load average, and what each reports about the bad rows (does it say which line?).
Needs ``ibis-framework[duckdb]`` (not a dependency of the project: install it beside, e.g. with ``--target``).
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import duckdb


def make_file(raw: Path, rows: int, bad: int, out: Path) -> int:
    con = duckdb.connect()
    files = sorted(str(p) for p in raw.glob("student/*/enrollment.csv"))
    con.execute(f"CREATE TABLE e AS SELECT * FROM read_csv({files}, all_varchar = true) LIMIT {rows}")
    n = con.execute("SELECT count(*) FROM e").fetchone()[0]
    step = max(n // max(bad, 1), 1)
    con.execute(f"""UPDATE e SET
        days_absent = CASE WHEN rowid % (3 * {step}) = 0 THEN 'x' || days_absent ELSE days_absent END,
        race_ethnicity = CASE WHEN rowid % (3 * {step}) = {step} THEN 'martian' ELSE race_ethnicity END,
        org_code = CASE WHEN rowid % (3 * {step}) = {2 * step} THEN substr(org_code, 2) ELSE org_code END""")
    con.execute(f"COPY e TO '{out}' (HEADER)")
    con.close()
    return n


def run_sql(path: Path) -> tuple[float, int, str]:
    from equity_outcomes.ingest.sqlvalidate import validate_and_load
    from equity_outcomes.ingest.tables import ensure_raw_tables
    from equity_outcomes.warehouse import BOOKKEEPING_DDL

    with tempfile.TemporaryDirectory() as tmp:
        con = duckdb.connect(str(Path(tmp) / "w.duckdb"))
        con.execute(BOOKKEEPING_DDL)
        ensure_raw_tables(con)
        t = time.perf_counter()
        _, _, bad_rows, _ = validate_and_load(con, str(path), "enrollment", key=b"demo", load_id="L",
                                              folder_year=None)
        seconds = time.perf_counter() - t
        example = con.execute("SELECT source_row, column_name, value_text, check_name FROM quarantine "
                              "ORDER BY source_row LIMIT 1").fetchone()
        by_check = dict(con.execute("SELECT column_name || ' ' || check_name, count(*) FROM quarantine "
                                    "GROUP BY ALL ORDER BY ALL").fetchall())
        con.close()
    return seconds, bad_rows, (f"by (column, check) {by_check}; first: line {example[0]}, column {example[1]}, "
                               f"value {example[2]!r}, check {example[3]}")


def ibis_schema():
    """schemas.ENROLLMENT rebuilt for pandera.ibis: the same dtypes, nullability, checks and coercion."""
    import ibis.expr.datatypes as dt
    import pandera.ibis as pi

    from equity_outcomes.ingest.schemas import ALL_TABLES

    source = ALL_TABLES["enrollment"]
    types = {"int64": dt.int64, "Int64": dt.int64, "float64": dt.float64}
    columns = {
        name: pi.Column(types.get(str(col.dtype), dt.string), checks=list(col.checks), nullable=col.nullable,
                        coerce=True)
        for name, col in source.columns.items()
    }
    return pi.DataFrameSchema(columns, unique=source.unique, coerce=True)


def run_ibis(path: Path) -> tuple[float, int, str]:
    import ibis
    from pandera.errors import SchemaErrors

    con = ibis.duckdb.connect()
    table = con.read_csv(str(path), all_varchar=True)
    schema = ibis_schema()
    t = time.perf_counter()
    try:
        schema.validate(table, lazy=True)
        cases = None
    except SchemaErrors as exc:
        cases = exc.failure_cases
    seconds = time.perf_counter() - t
    if cases is None:
        return seconds, 0, "no failure reported"
    cases = cases.to_pandas() if hasattr(cases, "to_pandas") else cases
    first = cases.iloc[0].to_dict()
    by_check = cases.groupby(["column", "check"], dropna=False).size().to_dict()
    return seconds, len(cases), (f"{len(cases)} failure cases by (column, check) {by_check}; "
                                 f"columns {list(cases.columns)}; first: {first}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--raw", type=Path, required=True)
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--bad", type=int, default=200)
    a = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "enrollment.csv"
        n = make_file(a.raw, a.rows, a.bad, path)
        print(f"file: {n:,} rows, {path.stat().st_size / 1e6:.0f} MB")
        for name, run in (("sqlvalidate (ours)", run_sql), ("pandera.ibis", run_ibis)):
            load = os.getloadavg()[0]
            seconds, bad, detail = run(path)
            print(f"{name}: {seconds:.1f} s (load {load:.2f} before, {os.getloadavg()[0]:.2f} after); "
                  f"{bad:,} reported; {detail}")


if __name__ == "__main__":
    main()

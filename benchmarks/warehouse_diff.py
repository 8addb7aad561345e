"""Cell-for-cell comparison of one table in two attached warehouses (the incremental run against a full rebuild:
tests/test_incremental.py and floor_vs_flow.py). Floating-point columns are compared to 1e-9 (relative, absolute
under 1): DuckDB sums in parallel, so two builds of the same data can differ in the last bits of a sum."""

from __future__ import annotations

FLOAT_TYPES = ("DOUBLE", "FLOAT")
TOLERANCE = 1e-9


def differing_rows(con, table: str, a: str, b: str) -> int:
    """Rows of ``a.table`` without an equal row in ``b.table`` plus the reverse (databases attached as a, b)."""
    exact = "SELECT count(*) FROM (SELECT * FROM {0}.{2} EXCEPT ALL SELECT * FROM {1}.{2})"
    if not sum(con.execute(exact.format(x, y, table)).fetchone()[0] for x, y in ((a, b), (b, a))):
        return 0
    cols = con.execute(f"DESCRIBE {a}.{table}").fetchall()
    same = [f'x."{c}" IS NOT DISTINCT FROM y."{c}"' for c, t, *_ in cols if t not in FLOAT_TYPES]
    same += [f'(x."{c}" IS NULL AND y."{c}" IS NULL OR abs(x."{c}" - y."{c}") <= {TOLERANCE} * '
             f'greatest(1, abs(y."{c}")))' for c, t, *_ in cols if t in FLOAT_TYPES]
    unmatched = ("SELECT count(*) FROM {0}.{2} x WHERE NOT EXISTS (SELECT 1 FROM {1}.{2} y WHERE "
                 + " AND ".join(same) + ")")
    return sum(con.execute(unmatched.format(x, y, table)).fetchone()[0] for x, y in ((a, b), (b, a)))

"""Validate and load a large student extract inside DuckDB, with rules compiled from the pandera schemas.

pandera stays the single source of truth: every column rule (type, nullability, isin, in_range, str_matches,
str_length) and the uniqueness keys are read from ``schemas.py`` and compiled to SQL; the few table-level rules
written as Python lambdas have their SQL twin in ``schemas.TABLE_CHECK_SQL``. Files above
``ingest.load.SQL_VALIDATION_MIN_BYTES`` take this path (pandas + pandera is kept for ordinary files); a test runs both
validators on the bad-input corpus and requires the same quarantined rows.

Output matches :mod:`student`: quarantine records (line, column, value, check) and the good rows, typed, with
person ids replaced by the keyed hash (HMAC-SHA256 spelled out in SQL), inserted into ``raw_student_<table>``.
Two passes over the CSV: the distinct values of the columns with spellings to map (one GROUPING SETS), then the
file straight into one typed temp table that the uniqueness check, the quarantine and the insert read.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from contextlib import contextmanager

import duckdb
import pandera.pandas as pa

from ..errors import InputError
from .normalize import KnownCodes, Mapper, Mapping, column_mappers, plan, sql_case
from .pseudonymize import ID_LENGTH, _pads
from .schemas import ALL_TABLES, ID_COLUMNS, TABLE_CHECK_SQL
from .student import UNKNOWN_SCHOOL

# The CSV as text (parameter $path), the contract's columns by their header names.
_CSV = ("read_csv($path, header = true, all_varchar = true, delim = ',', quote = '\"', escape = '\"', "
        "normalize_names = false)")
ID_HASHES = "_id_hashes_"  # prefix of the temp table of hashed ids kept for one load
_TYPES = {"int64": "BIGINT", "Int64": "BIGINT", "float64": "DOUBLE"}


def _sql_type(col: pa.Column) -> str | None:
    return _TYPES.get(str(col.dtype))  # None: text


def _literal(v: object) -> str:
    return str(v) if isinstance(v, int | float) else "'" + str(v).replace("'", "''") + "'"


def _column_rules(name: str, col: pa.Column) -> list[tuple[str, str]]:
    """(check name as pandera reports it, SQL that is TRUE when the typed value passes) for one column."""
    t = _sql_type(col)
    raw, typed = f'"_raw_{name}"', f'"{name}"'
    rules = []
    if t:
        rules.append((f"coerce_dtype('{col.dtype}')", f"{raw} IS NULL OR {typed} IS NOT NULL"))
    if not col.nullable:
        rules.append(("not_nullable", f"{raw} IS NOT NULL"))
    for check in col.checks:
        st = check.statistics or {}
        if check.name == "isin":
            expr = f"{typed} IN ({', '.join(_literal(v) for v in st['allowed_values'])})"
        elif check.name == "in_range":
            expr = f"{typed} BETWEEN {st['min_value']} AND {st['max_value']}"
        elif check.name == "str_matches":
            expr = f"regexp_full_match({typed}, {_literal(st['pattern'].lstrip('^').rstrip('$'))})"
        elif check.name == "str_length":
            expr = f"length({typed}) BETWEEN {st['min_value']} AND {st['max_value']}"
        else:
            raise InputError(f"no SQL for the pandera check {check.name!r} on column {name!r}",
                             fix="add its translation to ingest/sqlvalidate.py")
        stats = ", ".join(f"{v}" for v in st.values() if v is not None)
        rules.append((f"{check.name}({stats})", f"{typed} IS NULL OR {expr}"))
    return rules


def _rules(schema: pa.DataFrameSchema, folder_year: int | None,
           roster_sql: str | None = None) -> list[tuple[str | None, str, str]]:
    """(column or None, check name as pandera reports it, SQL that is TRUE when the row passes) for every rule;
    ``roster_sql``: TRUE when a row's non-NULL org_code is the roster's (:func:`_roster_rule`)."""
    rules = [(name, check, sql) for name, col in schema.columns.items() for check, sql in _column_rules(name, col)]
    for check in schema.checks:
        if check.name not in TABLE_CHECK_SQL:
            raise InputError(f"table rule {check.name!r} has no SQL twin", fix="add it to schemas.TABLE_CHECK_SQL")
        rules.append((None, check.name, f"coalesce({TABLE_CHECK_SQL[check.name]}, TRUE)"))
    if schema.unique:  # worked out by _find_bad
        rules.append((None, f"unique({', '.join(schema.unique)})", "TRUE"))
    if folder_year is not None:
        rules.append(("school_year", f"equals folder year {folder_year}",
                      f'"school_year" IS NULL OR "school_year" = {folder_year}'))
    if roster_sql is not None and "org_code" in schema.columns:
        rules.append(("org_code", UNKNOWN_SCHOOL, f'"org_code" IS NULL OR {roster_sql}'))
    return rules


def _on_csv(con: duckdb.DuckDBPyConnection, sql: str, path: str) -> list:
    """Run ``sql``, which reads the CSV ``$path`` as text through ``_CSV``; a file DuckDB cannot read is refused."""
    try:
        return con.execute(sql, {"path": path}).fetchall()
    except duckdb.Error as exc:
        raise InputError(f"the CSV cannot be read: {str(exc).splitlines()[0]}", file=path,
                         fix="save it as UTF-8 comma-separated values with the contract's header") from None


def _value_counts(con: duckdb.DuckDBPyConnection, path: str, columns: list[str]) -> dict[str, dict[str, int]]:
    """Each column's distinct non-NULL raw values and their rows, for every column in one pass over the CSV."""
    if not columns:
        return {}
    cols = [f'"{c}"' for c in columns]
    rows = _on_csv(con, f"SELECT {', '.join(cols)}, count(*) FROM {_CSV} GROUP BY GROUPING SETS "
                        f"({', '.join(f'({c})' for c in cols)})", path)
    return {c: {r[i]: r[-1] for r in rows if r[i] is not None} for i, c in enumerate(columns)}


def _mappings(counts: dict[str, dict[str, int]], mappers: dict[str, Mapper]) -> dict[str, list[Mapping]]:
    """The spellings to map to the contract, per column, from each column's distinct raw values (``counts``)."""
    out = {}
    for column, mapper in mappers.items():
        maps = plan(mapper, column, counts.get(column, {}))
        if maps:
            out[column] = maps
    return out


def _typed_value(name: str, col: pa.Column, mapped: dict[str, list[Mapping]]) -> str:
    """SQL for a column's typed value from its raw text ``"_raw_<name>"``, spellings mapped."""
    t = _sql_type(col)
    value = sql_case(f'"_raw_{name}"', mapped.get(name, []))
    return f"TRY_CAST(trim({value}) AS {t})" if t else f"ltrim({value})"


def _roster_rule(con: duckdb.DuckDBPyConnection, col: pa.Column, raw_codes: list[str], roster: frozenset[str],
                 mapped: dict[str, list[Mapping]]) -> str:
    """SQL that is TRUE when a row's org_code is the roster's, for a file whose raw codes are ``raw_codes``: a test
    against the file's few codes, the unknown ones (or the known ones, whichever are fewer), so that checking a row
    needs no join (a join would not keep the rows in file order, which the line numbers come from)."""
    typed = con.execute(f'SELECT DISTINCT {_typed_value("org_code", col, mapped)} FROM '
                        f'(SELECT unnest($codes::VARCHAR[]) AS "_raw_org_code")', {"codes": raw_codes}).fetchall()
    codes = {c for (c,) in typed if c is not None}
    unknown, known = sorted(codes - roster), sorted(codes & roster)
    values = ", ".join(_literal(c) for c in min(unknown, known, key=len))
    test = f'list_contains([{values}]::VARCHAR[], "org_code")'
    return f"NOT {test}" if len(unknown) <= len(known) else test


def _check(con: duckdb.DuckDBPyConnection, path: str, schema: pa.DataFrameSchema, rules: list,
           mapped: dict[str, list[Mapping]]) -> None:
    """The CSV straight into the temp table ``_typed`` in file order (DuckDB keeps insertion order through a scan
    and projections; no join: see :func:`_roster_rule`, :func:`_in_lists_in_place`), so a row's line number follows
    from its rowid (:func:`_numbered`): typed values (spellings mapped), ``_ok`` (passes every rule but uniqueness)
    and the raw text of the rows that fail a rule (NULL for the others; the quarantine quotes it). No column per
    rule (:func:`_find_bad` does that)."""
    raw = [f'"_raw_{c}"' for c in schema.columns]
    read = ", ".join(f'"{c}" AS {r}' for c, r in zip(schema.columns, raw, strict=True))
    typed = ", ".join(f'{_typed_value(name, col, mapped)} AS "{name}"' for name, col in schema.columns.items())
    passes = " AND ".join(f"coalesce({sql}, FALSE)" for _, _, sql in rules)
    with _in_lists_in_place(con):
        _on_csv(con, f"""CREATE OR REPLACE TEMP TABLE _typed AS
            SELECT * EXCLUDE ({", ".join(raw)}), {", ".join(f"CASE WHEN NOT _ok THEN {r} END AS {r}" for r in raw)}
            FROM (SELECT *, {passes} AS _ok FROM (SELECT {read}, {typed} FROM {_CSV}))""", path)


@contextmanager
def _in_lists_in_place(con: duckdb.DuckDBPyConnection) -> Iterator[None]:
    """DuckDB's optimizer turns ``x IN (<5 or more values>)`` into a join, and a join does not keep the rows in file
    order: for the statement, its ``in_clause`` rewrite is switched off (the values are compared in place)."""
    before = con.execute("SELECT current_setting('disabled_optimizers')").fetchall()[0][0]
    con.execute("SET disabled_optimizers = " + _literal(",".join(filter(None, [before, "in_clause"]))))
    try:
        yield
    finally:
        con.execute(f"SET disabled_optimizers = {_literal(before)}")


def _numbered(con: duckdb.DuckDBPyConnection) -> str:
    """SQL for ``_typed`` with ``_rid`` (its rowid) and ``source_row``, the file line of a row (the header is line
    1). Rows inserted in an open transaction get rowids from a high base, one after another; if they are not one
    after another, rank the rowids instead."""
    first, last, n = con.execute("SELECT min(rowid), max(rowid), count(*) FROM _typed").fetchall()[0]
    line = f"rowid - {first or 0} + 2" if n == 0 or last - first + 1 == n else "row_number() OVER (ORDER BY rowid) + 1"
    return f"(SELECT rowid AS _rid, {line} AS source_row, * FROM _typed)"


def _repeated_keys(con: duckdb.DuckDBPyConnection, keys: list[str]) -> bool:
    """Keys of ``_typed`` occurring more than once (NULLs equal, as pandera counts them) into ``_repeated``: first
    whether the 64-bit hashes of the key are all distinct (a clean file: done; a count of distinct values costs
    about 0.8x a GROUP BY), then the repeated hashes, then their rows grouped on the key itself."""
    cols = ", ".join(f'"{k}"' for k in keys)
    if con.execute(f"SELECT count(DISTINCT hash({cols})) = count(*) FROM _typed").fetchall()[0][0]:
        return False
    con.execute(f"""CREATE OR REPLACE TEMP TABLE _repeated AS
        SELECT hash({cols}) AS h FROM _typed GROUP BY 1 HAVING count(*) > 1""").fetchall()
    if con.execute("SELECT count(*) FROM _repeated").fetchall()[0][0]:
        con.execute(f"""CREATE OR REPLACE TEMP TABLE _repeated AS
            SELECT {cols} FROM _typed WHERE hash({cols}) IN (SELECT h FROM _repeated)
            GROUP BY ALL HAVING count(*) > 1""").fetchall()
    return bool(con.execute("SELECT count(*) FROM _repeated").fetchall()[0][0])


def _find_bad(con: duckdb.DuckDBPyConnection, schema: pa.DataFrameSchema, rules: list, numbered: str) -> None:
    """The rows that fail a rule (or repeat a key) into the temp table ``_bad``: rowid, line number, raw text and,
    per rule i, ``f<i>`` = the check's name when the row fails it (NULL = passed). A row that passes every rule
    but repeats a key has no raw text in ``_typed``; it fails only the uniqueness rule."""
    unique = schema.unique and _repeated_keys(con, schema.unique)
    repeated = ("EXISTS (SELECT 1 FROM _repeated AS r WHERE "
                + " AND ".join(f't."{k}" IS NOT DISTINCT FROM r."{k}"' for k in schema.unique) + ")"
                if unique else "FALSE")
    fails = ", ".join(
        f"CASE WHEN {'_dup' if check.startswith('unique(') and col is None else f'NOT _ok AND NOT coalesce({sql}, FALSE)'} "
        f"THEN {_literal(check)} END AS f{i}"
        for i, (col, check, sql) in enumerate(rules)
    )
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE _bad AS
        SELECT _rid, source_row, {", ".join(f'"_raw_{c}"' for c in schema.columns)}, {fails}
        FROM (SELECT t.*, {repeated} AS _dup FROM {numbered} AS t WHERE NOT t._ok OR {repeated}) AS t"""
    ).fetchall()
    con.execute("DROP TABLE IF EXISTS _repeated")


def _quarantine_failures(con: duckdb.DuckDBPyConnection, rules: list, path: str, table: str, load_id: str) -> None:
    """One quarantine record per failing row and rule."""
    union = " UNION ALL ".join(
        f"SELECT source_row, {_literal(col or '')} AS column_name, "
        f"{f'CAST(_raw_{col} AS VARCHAR)' if col else 'NULL'} AS value_text, f{i} AS check_name "
        f"FROM _bad WHERE f{i} IS NOT NULL"
        for i, (col, _, _) in enumerate(rules)
    )
    con.execute(
        f"""INSERT INTO quarantine BY NAME
        SELECT ? AS load_id, ? AS source_file, source_row, ? AS table_name, column_name, value_text, check_name,
               'failed check ' || check_name || ' in column ' || column_name AS message
        FROM ({union})""",
        [load_id, path, table],
    ).fetchall()


def _id_hashes(con: duckdb.DuckDBPyConnection, id_cols: list[str], key: bytes) -> str:
    """The temp table (id, h) holding the keyed hash of every id of ``_typed``'s good rows. It lives for the load
    (:func:`forget_id_hashes`) and is named by the key, so each id is hashed once per load: a student recurs in
    every table and year."""
    ipad, opad = _pads(key)
    table = f"{ID_HASHES}{hashlib.sha256(ipad + opad).hexdigest()[:16]}"
    con.execute(f"CREATE TEMP TABLE IF NOT EXISTS {table} (id VARCHAR, h VARCHAR)")
    new_ids = " UNION ".join(f'SELECT "{c}" AS id FROM _typed WHERE _ok' for c in id_cols)
    con.execute(
        f"""INSERT INTO {table}
        SELECT id, left(sha256($opad::BLOB || unhex(sha256($ipad::BLOB || encode(id)))), {ID_LENGTH})
        FROM (SELECT DISTINCT id FROM ({new_ids})) AS n WHERE id IS NOT NULL AND NOT EXISTS (SELECT 1 FROM {table} AS c WHERE c.id = n.id)""",
        {"ipad": ipad, "opad": opad},
    ).fetchall()
    return table


def forget_id_hashes(con: duckdb.DuckDBPyConnection) -> None:
    """Drop the id hashes the load kept (:func:`_id_hashes`)."""
    for (table,) in con.execute("SELECT table_name FROM duckdb_tables() WHERE temporary AND starts_with(table_name, ?)",
                                [ID_HASHES]).fetchall():
        con.execute(f"DROP TABLE {table}")


def _insert_good(con: duckdb.DuckDBPyConnection, cols: list[str], path: str, table: str, numbered: str, *,
                 key: bytes, load_id: str) -> None:
    """The rows that passed into ``raw_student_<table>``, person ids replaced by their keyed hash."""
    id_cols = [c for c in cols if c in ID_COLUMNS]
    hashes = _id_hashes(con, id_cols, key) if id_cols else ""  # the roster has no ids
    hashed = " ".join(f'JOIN {hashes} AS h_{c} ON h_{c}.id = t."{c}"' for c in id_cols)
    select = [f'h_{c}.h AS "{c}"' if c in ID_COLUMNS else f't."{c}"' for c in cols]
    con.execute(
        f"""INSERT INTO raw_student_{table} BY NAME
        SELECT $load_id AS load_id, $path AS source_file, t.source_row, {", ".join(select)}
        FROM {numbered} AS t {hashed}
        WHERE t._ok AND NOT EXISTS (SELECT 1 FROM _bad AS b WHERE b._rid = t._rid)""",
        {"load_id": load_id, "path": path},
    ).fetchall()


def validate_and_load(
    con: duckdb.DuckDBPyConnection, path: str, table: str, *, key: bytes, load_id: str, folder_year: int | None,
    known: KnownCodes | None = None,
) -> tuple[int, int, int, list[Mapping]]:
    """Load ``path`` into ``raw_student_<table>`` and its failures into ``quarantine``: (rows_in, loaded, bad rows,
    spellings mapped). ``known``: the roster's codes, for org codes that lost their leading zeros."""
    schema = ALL_TABLES[table]
    mappers = column_mappers(table, known)
    counts = _value_counts(con, path, list(mappers))
    mapped = _mappings(counts, mappers)
    roster = (known or {}).get("org_code") if table != "roster" else None
    roster_sql = _roster_rule(con, schema.columns["org_code"], list(counts.get("org_code", {})), roster, mapped) \
        if roster and "org_code" in schema.columns else None
    rules = _rules(schema, folder_year, roster_sql)
    _check(con, path, schema, rules, mapped)
    numbered = _numbered(con)
    _find_bad(con, schema, rules, numbered)
    _quarantine_failures(con, rules, path, table, load_id)
    _insert_good(con, list(schema.columns), path, table, numbered, key=key, load_id=load_id)
    rows_in, bad = con.execute("SELECT (SELECT count(*) FROM _typed), (SELECT count(*) FROM _bad)").fetchall()[0]
    con.execute("DROP TABLE _typed; DROP TABLE _bad")
    return rows_in, rows_in - bad, bad, [m for maps in mapped.values() for m in maps]

"""Validate and load a large student extract inside DuckDB, with rules compiled from the pandera schemas.

pandera stays the single source of truth: every column rule (type, nullability, isin, in_range, str_matches,
str_length) and the uniqueness keys are read from ``schemas.py`` and compiled to SQL; the few table-level rules
over several columns have their SQL in ``config/student_tables.yaml``. Files above
``ingest.load.SQL_VALIDATION_MIN_BYTES`` take this path (pandas + pandera is kept for ordinary files); a test runs both
validators on the bad-input corpus and requires the same quarantined rows.

Output matches :mod:`student`: quarantine records (line, column, value, check) and the good rows, typed, with
person ids replaced by the keyed hash (HMAC-SHA256 spelled out in SQL), inserted into ``raw_student_<table>``.
"""

from __future__ import annotations

import hashlib

import duckdb
import pandera.pandas as pa

from ..errors import InputError
from ..warehouse import out_of_room
from .normalize import KnownCodes, Mapping, column_mappers, plan, sql_case, sql_literal
from .pseudonymize import HMAC_SQL, _pads
from .schemas import ALL_TABLES, ID_COLUMNS, ROW_RULES
from .student import UNKNOWN_SCHOOL, Header
from .tables import SQL_TYPES

ID_HASHES = "_id_hashes_"  # prefix of the temp table of hashed ids kept for one load


def _sql_type(col: pa.Column) -> str | None:
    t = SQL_TYPES.get(str(col.dtype), "VARCHAR")
    return None if t == "VARCHAR" else t  # None: text


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
            expr = f"{typed} IN ({', '.join(sql_literal(v) for v in st['allowed_values'])})"
        elif check.name == "in_range":
            expr = f"{typed} BETWEEN {st['min_value']} AND {st['max_value']}"
        elif check.name == "str_matches":
            expr = f"regexp_full_match({typed}, {sql_literal(st['pattern'].lstrip('^').rstrip('$'))})"
        elif check.name == "str_length":
            expr = f"length({typed}) BETWEEN {st['min_value']} AND {st['max_value']}"
        else:
            raise InputError(f"no SQL for the pandera check {check.name!r} on column {name!r}",
                             fix="add its translation to ingest/sqlvalidate.py")
        stats = ", ".join(f"{v}" for v in st.values() if v is not None)
        rules.append((f"{check.name}({stats})", f"{typed} IS NULL OR {expr}"))
    return rules


def _rules(schema: pa.DataFrameSchema, folder_year: int | None, roster: bool = False) -> list[tuple[str | None, str, str]]:
    """(column or None, check name as pandera reports it, SQL that is TRUE when the row passes) for every rule."""
    rules = [(name, check, sql) for name, col in schema.columns.items() for check, sql in _column_rules(name, col)]
    for check in schema.checks:
        rules.append((None, check.name, f"coalesce({ROW_RULES[check.name].sql}, TRUE)"))
    if schema.unique:  # worked out by _find_bad
        rules.append((None, f"unique({', '.join(schema.unique)})", "TRUE"))
    if folder_year is not None:
        rules.append(("school_year", f"equals folder year {folder_year}",
                      f'"school_year" IS NULL OR "school_year" = {folder_year}'))
    if roster and "org_code" in schema.columns:  # the temp table _roster_codes holds the roster's codes
        rules.append(("org_code", UNKNOWN_SCHOOL, '"org_code" IS NULL OR "org_code" IN (SELECT code FROM _roster_codes)'))
    return rules


def _read(con: duckdb.DuckDBPyConnection, path: str, columns: list[str], header: Header | None = None) -> None:
    """The CSV as text into the temp table ``_in``, in file order (DuckDB preserves insertion order), so a row's
    line number follows from its rowid (see :func:`_line_number`) without a row_number() window over the read,
    which would read the file on one thread. ``header``: the file's header cells for the contract's columns."""
    written = dict(zip(header.names, header.as_written, strict=True)) if header is not None else {}
    raw_cols = ", ".join('"{}" AS "_raw_{}"'.format(written.get(c, c).replace('"', '""'), c) for c in columns)
    try:
        con.execute(
            f"""CREATE OR REPLACE TEMP TABLE _in AS
            SELECT {raw_cols}
            FROM read_csv(?, header = true, all_varchar = true, delim = ',', quote = '"', escape = '"',
                          normalize_names = false)""",
            [path],
        ).fetchall()
    except duckdb.Error as exc:
        if out_of_room(str(exc)):  # the machine, not the file (ingest_into says so)
            raise
        raise InputError(f"the CSV cannot be read: {str(exc).splitlines()[0]}", file=path,
                         fix="save it as UTF-8 comma-separated values with the contract's header") from None


def _line_number(con: duckdb.DuckDBPyConnection) -> str:
    """SQL for the file line of a row of ``_in`` (the header is line 1). Rows inserted in an open transaction get
    rowids from a high base, one after another; if they are not one after another, rank the rowids instead."""
    first, last, n = con.execute("SELECT min(rowid), max(rowid), count(*) FROM _in").fetchall()[0]
    if n == 0 or last - first + 1 == n:
        return f"rowid - {first or 0} + 2"
    return "row_number() OVER (ORDER BY rowid) + 1"


def _mappings(con: duckdb.DuckDBPyConnection, table: str, known: KnownCodes | None) -> dict[str, list[Mapping]]:
    """The spellings of ``_in`` to map to the contract, per column, from each column's distinct values."""
    out = {}
    for column, mapper in column_mappers(table, known).items():
        counts = dict(con.execute(
            f'SELECT "_raw_{column}", count(*) FROM _in WHERE "_raw_{column}" IS NOT NULL GROUP BY 1').fetchall())
        maps = plan(mapper, column, counts)
        if maps:
            out[column] = maps
    return out


def _check(con: duckdb.DuckDBPyConnection, schema: pa.DataFrameSchema, rules: list,
           mapped: dict[str, list[Mapping]]) -> None:
    """``_in`` into the narrow temp table ``_typed``: ``_in``'s rowid, line number, typed values (spellings mapped),
    ``_ok`` (passes every rule but uniqueness); no column per rule (:func:`_find_bad` does that for the bad rows)."""
    typed_cols = []
    for name, col in schema.columns.items():
        t = _sql_type(col)
        value = sql_case(f'"_raw_{name}"', mapped.get(name, []))
        typed_cols.append(f'TRY_CAST(trim({value}) AS {t}) AS "{name}"' if t else f'ltrim({value}) AS "{name}"')
    passes = " AND ".join(f"coalesce({sql}, FALSE)" for _, _, sql in rules)
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE _typed AS
        SELECT * EXCLUDE ({", ".join(f'"_raw_{c}"' for c in schema.columns)}), {passes} AS _ok
        FROM (SELECT rowid AS _rid, {_line_number(con)} AS source_row, *, {", ".join(typed_cols)} FROM _in)"""
    ).fetchall()


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


def _find_bad(con: duckdb.DuckDBPyConnection, schema: pa.DataFrameSchema, rules: list) -> None:
    """The rows that fail a rule (or repeat a key) into the temp table ``_bad``: line number, raw text and, per rule
    i, ``f<i>`` = the check's name when the row fails it (NULL = passed)."""
    unique = schema.unique and _repeated_keys(con, schema.unique)
    repeated = ("EXISTS (SELECT 1 FROM _repeated AS r WHERE "
                + " AND ".join(f't."{k}" IS NOT DISTINCT FROM r."{k}"' for k in schema.unique) + ")"
                if unique else "FALSE")
    fails = ", ".join(
        f"CASE WHEN {'_dup' if check.startswith('unique(') and col is None else f'NOT coalesce({sql}, FALSE)'} "
        f"THEN {sql_literal(check)} END AS f{i}"
        for i, (col, check, sql) in enumerate(rules)
    )
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE _bad AS
        SELECT source_row, {", ".join(f'"_raw_{c}"' for c in schema.columns)}, {fails}
        FROM (SELECT t.*, {repeated} AS _dup FROM _typed AS t WHERE NOT t._ok OR {repeated}) AS t
        JOIN _in ON _in.rowid = t._rid"""
    ).fetchall()
    con.execute("DROP TABLE IF EXISTS _repeated")


def _quarantine_failures(con: duckdb.DuckDBPyConnection, rules: list, path: str, table: str, load_id: str) -> None:
    """One quarantine record per failing row and rule."""
    union = " UNION ALL ".join(
        f"SELECT source_row, {sql_literal(col or '')} AS column_name, "
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
        SELECT id, {HMAC_SQL}
        FROM (SELECT DISTINCT id FROM ({new_ids})) AS n WHERE id IS NOT NULL AND NOT EXISTS (SELECT 1 FROM {table} AS c WHERE c.id = n.id)""",
        {"ipad": ipad, "opad": opad},
    ).fetchall()
    return table


def forget_id_hashes(con: duckdb.DuckDBPyConnection) -> None:
    """Drop the id hashes the load kept (:func:`_id_hashes`)."""
    for (table,) in con.execute("SELECT table_name FROM duckdb_tables() WHERE temporary AND starts_with(table_name, ?)",
                                [ID_HASHES]).fetchall():
        con.execute(f"DROP TABLE {table}")


def _insert_good(con: duckdb.DuckDBPyConnection, cols: list[str], path: str, table: str, *, key: bytes,
                 load_id: str) -> None:
    """The rows that passed into ``raw_student_<table>``, person ids replaced by their keyed hash."""
    id_cols = [c for c in cols if c in ID_COLUMNS]
    hashes = _id_hashes(con, id_cols, key) if id_cols else ""  # the roster has no ids
    hashed = " ".join(f'JOIN {hashes} AS h_{c} ON h_{c}.id = t."{c}"' for c in id_cols)
    select = [f'h_{c}.h AS "{c}"' if c in ID_COLUMNS else f't."{c}"' for c in cols]
    con.execute(
        f"""INSERT INTO raw_student_{table} BY NAME
        SELECT $load_id AS load_id, $path AS source_file, t.source_row, {", ".join(select)}
        FROM _typed AS t {hashed}
        WHERE t._ok AND NOT EXISTS (SELECT 1 FROM _bad AS b WHERE b.source_row = t.source_row)""",
        {"load_id": load_id, "path": path},
    ).fetchall()


def validate_and_load(
    con: duckdb.DuckDBPyConnection, path: str, table: str, *, key: bytes, load_id: str, folder_year: int | None,
    known: KnownCodes | None = None, header: Header | None = None,
) -> tuple[int, int, int, list[Mapping]]:
    """Load ``path`` into ``raw_student_<table>`` and its failures into ``quarantine``: (rows_in, loaded, bad rows,
    spellings mapped). ``known``: the roster's codes, for org codes that lost their leading zeros; ``header``: the
    file's header as :func:`.student.check_header` read it (None: spelled as the contract)."""
    schema = ALL_TABLES[table]
    roster = sorted((known or {}).get("org_code") or ()) if table != "roster" else []
    if roster:
        con.execute("CREATE OR REPLACE TEMP TABLE _roster_codes AS SELECT unnest(?::VARCHAR[]) AS code", [roster])
    rules = _rules(schema, folder_year, bool(roster))
    _read(con, path, list(schema.columns), header)
    mapped = _mappings(con, table, known)
    _check(con, schema, rules, mapped)
    _find_bad(con, schema, rules)
    con.execute("DROP TABLE _in")
    _quarantine_failures(con, rules, path, table, load_id)
    _insert_good(con, list(schema.columns), path, table, key=key, load_id=load_id)
    rows_in, bad = con.execute("SELECT (SELECT count(*) FROM _typed), (SELECT count(*) FROM _bad)").fetchall()[0]
    con.execute("DROP TABLE _typed; DROP TABLE _bad")
    if roster:
        con.execute("DROP TABLE _roster_codes")
    return rows_in, rows_in - bad, bad, [m for maps in mapped.values() for m in maps]

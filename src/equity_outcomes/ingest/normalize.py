"""Normalise at the edge: map the spellings SIS exports use to the data contract, before validation, and say so.

The rules are data (``config/sis_spellings.yaml``; race/ethnicity labels through ``config/subgroup_crosswalk.csv``).
Each rule maps one *distinct* value, so the work is per distinct value, never per row: the pandas validator
replaces the values of a column in one vectorised call, the DuckDB validator in the SQL that types the column.
Every mapping applied is returned as a :class:`Mapping` (column, from -> to, rows) for the run summary, ``check``
and the ``load_mappings`` table. A value no rule maps is left as it is, for validation to quarantine.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from collections.abc import Mapping as MappingABC
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Any

import pandas as pd
from pydantic import BeforeValidator

from .. import crosswalk
from ..catalog import Positive, Regex, Strict, load_yaml
from ..paths import config_dir
from .schemas import ALL_TABLES, allowed_values

SPELLINGS_FILE = "sis_spellings.yaml"
Mapper = Callable[[str], str | None]
KnownCodes = MappingABC[str, frozenset[str]]  # column (org_code, district_code) -> the roster's codes


@dataclass(frozen=True)
class Mapping:
    """One spelling mapped to the contract: ``rows`` rows of ``column`` read ``value_from`` and now ``value_to``."""

    column: str
    value_from: str
    value_to: str
    rows: int


def _by_spelling(table: Any) -> Any:
    """kind -> contract value -> its spellings, as written, read as kind -> lower-case spelling -> contract value."""
    return {kind: {str(s).strip().lower(): str(to) for to, spellings in t.items() for s in spellings}
            if isinstance(t, dict) else t for kind, t in table.items()} if isinstance(table, dict) else table


class _OrgCode(Strict):
    digits: Positive
    roster_min_digits: Positive


class _Spellings(Strict):
    """``config/sis_spellings.yaml`` (its header comment explains each key)."""

    columns: dict[str, str]  # contract column -> kind
    headers: dict[str, list[str]] = {}  # contract column -> header names
    values: Annotated[dict[str, dict[str, str]], BeforeValidator(_by_spelling)]
    patterns: dict[str, tuple[Regex, ...]]
    examples: dict[str, str] = {}
    org_code: _OrgCode


@lru_cache(maxsize=2)
def _load(path: Path) -> _Spellings:
    return load_yaml(_Spellings, path, "SIS spellings", "compare with config/sis_spellings.yaml.")


def spellings() -> _Spellings:
    return _load(config_dir() / SPELLINGS_FILE)


def header_key(cell: str) -> str:
    """A header cell as the contract spells column names: trimmed, lower case, spaces and hyphens as underscores."""
    return re.sub(r"[\s-]+", "_", cell.strip()).lower()


@lru_cache(maxsize=1)
def header_spellings() -> dict[str, str]:
    """:func:`header_key` of each header name of ``headers:`` -> its contract column."""
    return {header_key(h): column for column, names in spellings().headers.items() for h in names}


def _full_match(kind: str, value: str) -> re.Match | None:
    for pattern in spellings().patterns.get(kind, ()):
        m = pattern.fullmatch(value)
        if m:
            return m
    return None


def spring_year(value: str) -> str | None:
    """The spring year a school-year spelling names (2023-24 -> 2024), None when it names none."""
    m = _full_match("school_year", value)
    if m is None:
        return None
    spring, fall = m.group("spring"), m.groupdict().get("fall")
    if fall is None:
        return spring if len(spring) == 4 else str(2000 + int(spring))
    year = int(fall) + 1
    return str(year) if int(spring) == (year if len(spring) == 4 else year % 100) else None


def _grade(value: str) -> str | None:
    m = _full_match("grade", value)
    return f"{int(m.group('n')):02d}" if m else None


def _date(value: str) -> str | None:
    m = _full_match("date", value)
    if m is None:
        return None
    y, mo, d = m.group("y"), int(m.group("m")), int(m.group("d"))
    year = int(y) if len(y) == 4 else 2000 + int(y)
    try:
        return pd.Timestamp(year=year, month=mo, day=d).strftime("%Y-%m-%d")
    except ValueError:  # 2/30/2024
        return None


_PATTERN_KINDS: dict[str, Mapper] = {"school_year": spring_year, "grade": _grade, "date": _date}


def _org_code_mapper(codes: frozenset[str] | None) -> Mapper:
    """Pad a code that lost its leading zeros: when exactly one roster code has the same digits (``codes``), or,
    in the roster itself (``codes`` None), when it has 5-7 digits."""
    s = spellings()
    by_digits: dict[str, list[str]] = {}
    for c in codes or ():
        by_digits.setdefault(c.lstrip("0"), []).append(c)

    def pad(value: str) -> str | None:
        if not value.isdigit() or len(value) == s.org_code.digits:
            return None
        if codes is None:
            return value.zfill(s.org_code.digits) if s.org_code.roster_min_digits <= len(value) < s.org_code.digits else None
        found = by_digits.get(value.lstrip("0"), [])
        return found[0] if len(found) == 1 else None

    return pad


def _mapper(kind: str, allowed: list | None, codes: frozenset[str] | None) -> Mapper:
    s = spellings()
    exact = {str(a).lower(): str(a) for a in allowed or ()}
    table = s.values.get(kind, {})
    special = _PATTERN_KINDS.get(kind)
    org = _org_code_mapper(codes) if kind == "org_code" else None

    def rule(v: str) -> str | None:
        if kind == "race_ethnicity":
            found = crosswalk.lookup(v)
            return found if found in exact else None
        if special is not None:
            return special(v)
        return org(v) if org is not None else None

    def map_value(raw: str) -> str | None:
        v = raw.strip()
        found = exact.get(v.lower()) or table.get(v.lower()) or rule(v)
        return v if found is None and v != raw else found

    return map_value


def column_mappers(table: str, known: KnownCodes | None) -> dict[str, Mapper]:
    """The mapper of every column of ``table`` that has a rule: named in the spellings file, a 0/1 flag, or a
    column with a list of allowed values (case)."""
    s = spellings()
    out: dict[str, Mapper] = {}
    for name, col in ALL_TABLES[table].columns.items():
        allowed = allowed_values(col)
        kind = s.columns.get(name) or ("flag" if allowed is not None and sorted(allowed) == [0, 1] else None)
        if kind is None and allowed is None:
            continue
        codes = None if table == "roster" or known is None else known.get(name, frozenset())
        out[name] = _mapper(kind or "", allowed, codes)
    return out


def plan(mapper: Mapper, column: str, counts: MappingABC[str, int]) -> list[Mapping]:
    """The mappings ``mapper`` makes of a column's distinct values (value -> rows); unchanged values left out."""
    out = []
    for value, rows in counts.items():
        if value is None or (isinstance(value, float) and pd.isna(value)):
            continue
        to = mapper(str(value))
        if to is not None and to != value:
            out.append(Mapping(column, str(value), to, int(rows)))
    return sorted(out, key=lambda m: (-m.rows, m.value_from))


def normalize_frame(frame: pd.DataFrame, table: str, known: KnownCodes | None) -> tuple[pd.DataFrame, list[Mapping]]:
    """A copy of ``frame`` (text columns) with every spelling mapped to the contract, and the mappings made."""
    out = frame.copy()
    made: list[Mapping] = []
    for column, mapper in column_mappers(table, known).items():
        maps = plan(mapper, column, frame[column].value_counts(dropna=True).to_dict())
        if maps:
            out[column] = frame[column].replace({m.value_from: m.value_to for m in maps})
            made += maps
    return out, made


def sql_literal(v: object) -> str:
    """A number as it is, anything else as a quoted SQL string."""
    return str(v) if isinstance(v, int | float) else "'" + str(v).replace("'", "''") + "'"


def sql_case(column_sql: str, maps: list[Mapping]) -> str:
    """SQL for a column's mapped value: a CASE over the mapped spellings (few: one per distinct value mapped)."""
    if not maps:
        return column_sql
    whens = " ".join(f"WHEN {sql_literal(m.value_from)} THEN {sql_literal(m.value_to)}" for m in maps)
    return f"(CASE {column_sql} {whens} ELSE {column_sql} END)"


def known_codes(con) -> KnownCodes:
    """The roster's school and district codes already in the warehouse (an earlier load or this one)."""
    rows = con.execute(
        "SELECT list(DISTINCT org_code), list(DISTINCT district_code) FROM raw_student_roster"
    ).fetchall()[0]
    return {"org_code": frozenset(rows[0] or ()), "district_code": frozenset(rows[1] or ())}

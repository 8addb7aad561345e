"""Input contracts for district student administrative data: pandera schemas built from the contract's catalog,
``config/student_tables.yaml`` (the tables, their columns and checks, and the rules over several columns of a row).

Each table is one CSV per school year under ``<raw_dir>/student/<school_year>/<table>.csv`` (``roster.csv`` sits at
``<raw_dir>/roster.csv``). ``school_year`` is the integer spring year: 2024 means 2023-24. Columns are read as text
and coerced; a value that cannot be coerced or fails a check sends its row to the quarantine table.
``docs/student_data_contract.md`` is generated from these schemas (``equity-outcomes docs``).
"""

from __future__ import annotations

from datetime import date
from typing import Literal

import pandera.pandas as pa
from pydantic import model_validator

from ..catalog import Strict, Text, load_yaml, problem
from ..crosswalk import race_codes
from ..paths import config_dir

MIN_YEAR = 2000
# A school year more than one year ahead of today is a typo (or a file from the future): quarantined.
MAX_YEAR = date.today().year + 1
RACES = race_codes()  # config/subgroups.csv, column race_code
_DTYPES = {"str": str, "int": int, "float": float, "Int64": "Int64"}

# pandera's form of each rule over several columns of a row; the DuckDB validator of large files uses the rule's SQL
# in config/student_tables.yaml. A test checks that both validators quarantine exactly the same rows.
_ROW_CHECKS = {
    "days_absent <= days_in_membership": lambda df: df["days_absent"] <= df["days_in_membership"],
    "not both el and former el": lambda df: ~((df["is_el"] == 1) & (df["is_former_el"] == 1)),
    "achievement level matches test family":
        lambda df: (df["test_family"] == "nextgen") == df["achievement_level"].isin(["E", "M", "PM", "NM"]),
    "no SGP in science": lambda df: ~((df["subject"] == "SCI") & df["sgp"].notna()),
    "exam score only on AP": lambda df: (df["course_type"] == "AP") | df["ap_exam_score"].isna(),
}


class _Column(Strict):
    type: Literal["str", "int", "float", "Int64"] = "str"
    nullable: bool = False
    isin: tuple[str | int, ...] | str | None = None  # a text: the name of a list under `values` (or races)
    range: tuple[int | float, int | float] | Literal["year"] | None = None
    matches: str | None = None
    error: Text | None = None
    length: tuple[int, int] | None = None
    flag: Text | None = None
    description: Text | None = None

    @model_validator(mode="after")
    def _one_check(self) -> _Column:
        if sum(v is not None for v in (self.isin, self.range, self.matches, self.length, self.flag)) != 1:
            raise problem("a column has exactly one check.", fix="give it one of isin, range, matches, length, flag.")
        return self


class RowRule(Strict):
    sql: Text  # TRUE when the row passes (NULL passes too)
    fix: Text
    error: Text | None = None  # what pandera reports instead of the rule's name


class _Table(Strict):
    description: Text
    keys: tuple[str, ...]
    columns: dict[str, _Column]
    unique: tuple[str, ...]
    row_rules: tuple[str, ...] = ()


class _Contract(Strict):
    values: dict[str, tuple[str, ...]]
    keys: dict[str, _Column]
    row_rules: dict[str, RowRule]
    tables: dict[str, _Table]

    @model_validator(mode="after")
    def _known_names(self) -> _Contract:
        for name, table in self.tables.items():
            for field, known in (("keys", self.keys), ("row_rules", _ROW_CHECKS.keys() & self.row_rules.keys())):
                for i, key in enumerate(getattr(table, field)):
                    if key not in known:
                        raise problem(f"{key!r} is not one of {', '.join(known)}.", ("tables", name, field, i),
                                      f"define it under {field} (a row rule in schemas.py too), or correct it.")
        return self


CONTRACT = load_yaml(_Contract, config_dir() / "student_tables.yaml", "the student data contract",
                     "restore config/student_tables.yaml from version control")
ROW_RULES: dict[str, RowRule] = CONTRACT.row_rules


def allowed_values(column: pa.Column | None) -> list | None:
    """The values the ``isin`` check of a column allows (None: it has none)."""
    for check in getattr(column, "checks", []):
        if check.name == "isin":
            return list(check.statistics["allowed_values"])
    return None


def _column(spec: _Column) -> pa.Column:
    """One column of the contract as pandera's; numbers are coerced from text."""
    if spec.flag is not None:
        return pa.Column(int, pa.Check.isin([0, 1]), coerce=True, description=f"1 if {spec.flag}, else 0")
    values = {**CONTRACT.values, "races": RACES}
    allowed = list(values[spec.isin] if isinstance(spec.isin, str) else spec.isin or ())
    check = (pa.Check.isin(allowed) if allowed
             else pa.Check.in_range(MIN_YEAR, MAX_YEAR) if spec.range == "year"
             else pa.Check.in_range(*spec.range) if spec.range
             else pa.Check.str_matches(spec.matches, error=spec.error) if spec.matches
             else pa.Check.str_length(*spec.length))
    description = spec.description and spec.description.replace("{values}", ", ".join(map(str, allowed)))
    return pa.Column(_DTYPES[spec.type], check, nullable=spec.nullable, coerce=spec.type != "str",
                     description=description)


def _schema(name: str, table: _Table) -> pa.DataFrameSchema:
    """A table of the contract: its key columns, then its own; no other column is accepted."""
    columns = {key: _column(CONTRACT.keys[key]) for key in table.keys}
    columns.update((column, _column(spec)) for column, spec in table.columns.items())
    checks = [pa.Check(_ROW_CHECKS[rule], name=rule, error=ROW_RULES[rule].error) for rule in table.row_rules]
    return pa.DataFrameSchema(columns, checks=checks, unique=list(table.unique), strict=True, name=name,
                              description=table.description)


ALL_TABLES: dict[str, pa.DataFrameSchema] = {name: _schema(name, t) for name, t in CONTRACT.tables.items()}
ROSTER = ALL_TABLES["roster"]
STUDENT_TABLES: dict[str, pa.DataFrameSchema] = {name: s for name, s in ALL_TABLES.items() if s is not ROSTER}
# Columns holding a person id, pseudonymized with a keyed hash at ingest.
ID_COLUMNS = {"student_id", "teacher_id"}

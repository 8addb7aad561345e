"""The fix for a quarantined value: what to write instead, from the failed check and the contract (schemas.py,
config/student_tables.yaml).

Used wherever a bad row is shown to a person: a refused file's message, ``equity-outcomes check``, the run summary.
"""

from __future__ import annotations

import re

from .schemas import ALL_TABLES, ROW_RULES, allowed_values

CROSSWALK = "config/subgroup_crosswalk.csv"
SPELLINGS = "config/sis_spellings.yaml"
CONTRACT = "docs/student_data_contract.md"


# Rules over several columns of a row (config/student_tables.yaml), by the name either validator reports.
ROW_RULE_FIXES = {key: rule.fix for name, rule in ROW_RULES.items() for key in (name, rule.error) if key}


def is_row_rule(check: str) -> bool:
    """A rule over several columns of a row (no single column or value to quote)."""
    return check in ROW_RULE_FIXES or check.startswith("unique") or "uniqueness" in check


def _allowed(table: str, column: str) -> list[str]:
    schema = ALL_TABLES.get(table)
    return [str(v) for v in allowed_values(schema.columns.get(column) if schema is not None else None) or []]


def fix_for(table: str, column: str | None, check: str) -> str:
    """One sentence: how to correct a value of ``column`` in ``table`` that failed ``check``."""
    column = column or ""
    lo, hi = (re.findall(r"-?\d+(?:\.\d+)?", check) + ["?", "?"])[:2]  # the bounds of a range or length check
    if check in ROW_RULE_FIXES:
        return ROW_RULE_FIXES[check]
    if check.startswith("isin"):
        allowed = ", ".join(_allowed(table, column)) or "the contract's values"
        where = f"a row '<your label>,<id>' to {CROSSWALK}" if column == "race_ethnicity" else f"your spelling to {SPELLINGS}"
        return f"use one of {allowed} (or add {where})"
    if check.startswith("coerce_dtype"):
        if column in ("school_year", "implementation_start_year", "baseline_year"):
            return "write the spring year, e.g. 2024 (2023-24, 2023-2024, SY24 and FY2024 are understood)"
        return "write a number"
    if check == "not_nullable":
        return f"fill in {column}: it is required (see {CONTRACT})"
    if check.startswith("in_range"):
        return f"use a value from {lo} to {hi}"
    if (check.startswith("str_matches") or "8 digits" in check) and "code" in column:  # pandera reports the error
        return ("write the 8-digit DESE code with its leading zeros, e.g. 01000005 (a code that lost them is padded "
                "only when the roster lists the school)")
    if check.startswith("str_length"):
        return f"write {lo} to {hi} characters"
    if check.startswith("unique") or "uniqueness" in check:  # SQL validator: unique(...); pandera: *_uniqueness
        keys = ", ".join(ALL_TABLES[table].unique or [column]) if table in ALL_TABLES else column
        return f"keep one row per ({keys}): remove or merge the repeated rows"
    if check.startswith("equals folder year"):
        return "move the file to the folder of its school year, or correct school_year"
    if check.startswith("unknown school"):
        return "add the school to roster.csv, or correct org_code"
    return f"correct the row so that the rule '{check}' holds (see {CONTRACT})"

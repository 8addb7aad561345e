"""Cells -> the long table ``dese_cells``: one row per published value cell, with what it measures, where it came
from, its value as a number (or NULL), its text as published and whether DESE suppressed it.

Owns: exact repeated rows (kept once), disagreeing repeats (kept, flagged), measure mapping per year, value checks
(a value outside its measure's range is kept and flagged, never used for metrics). Imports catalog and values.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from .attributes import Attributes
from .catalog import CONFIG, CheckRule, ColumnMeaning, ReportSpec
from .header import Layout, text_of
from .keys import Orgs
from .values import parse_cells

#: Columns of ``DeseRead.cells`` / the warehouse table ``dese_cells`` and their pandas dtypes ('str' never null;
#: 'object' str or None).
CELL_COLUMNS: dict[str, str] = {
    "source_file": "str",
    "source_sheet": "str",
    "source_row": "int64",
    "source_column": "str",
    "report": "str",
    "title": "object",
    "school_year": "Int64",
    "year_source": "str",
    "org_code": "str",
    "org_name": "str",
    "org_level": "str",
    "subgroup": "object",
    "subgroup_label": "object",
    "subject": "object",
    "grade": "str",
    "period": "object",
    "selection": "object",
    "measure": "object",
    "value_text": "str",
    "value": "float64",
    "is_suppressed": "bool",
    "flag": "object",
    "income_definition": "object",
}


def per_row(v: Any, n: int) -> np.ndarray:
    """A per-row value as it is; a scalar (a file's year, grade, group...) repeated for the n rows."""
    return v if isinstance(v, np.ndarray) else np.full(n, v, dtype=object)


@dataclass
class Rows:
    """Per data row: identity and attributes, after repeats are resolved."""

    keep: np.ndarray  # bool
    flags: np.ndarray  # object


def resolve_repeats(layout: Layout, orgs: Orgs, attrs: Attributes, value_cols: list[int], notes: list[str]) -> Rows:
    """Rows with the same year, org, subject, grade, group, period and selection: identical values are kept once;
    different values are all kept and flagged ``conflicting_repeat``."""
    n = layout.mat.shape[0]
    key = pd.DataFrame({k: per_row(v, n) for k, v in (("y", attrs.year), ("c", orgs.codes), ("s", attrs.subject),
                                                      ("g", attrs.grade), ("u", attrs.subgroup),
                                                      ("p", attrs.period), ("x", attrs.selection))})
    key = key.astype(object).fillna("").astype(str)  # None groups with None (groupby drops missing keys)
    flags = orgs.row_flags.copy()
    keep = np.ones(n, dtype=bool)
    dup = key.duplicated(keep=False).to_numpy()
    if not dup.any():
        return Rows(keep, flags)
    vals = pd.Series(["\x1f".join(text_of(v) for v in layout.mat[i, value_cols]) for i in range(n)])
    sub = key[dup].assign(_v=vals[dup].to_numpy())
    exact = sub.duplicated(keep="first").to_numpy()
    keep[np.flatnonzero(dup)[exact]] = False
    if exact.any():
        notes.append(f"{int(exact.sum())} exact repeated row(s) (same year, org and values) kept once")
    nun = sub[~exact].groupby(list(key.columns), sort=False)["_v"].transform("nunique").to_numpy()
    conflict = np.flatnonzero(dup)[~exact][nun > 1]
    if len(conflict):
        flags[conflict] = "conflicting_repeat"
        rows = ", ".join(str(r) for r in layout.phys[conflict][:6])
        notes.append(f"warning: {len(conflict)} rows repeat an org (same year, subject, grade, group) with different "
                     f"values (rows {rows}...): all kept, flagged conflicting_repeat, not used for metrics")
    return Rows(keep, flags)


def _meanings(spec: ReportSpec, layout: Layout, vc: np.ndarray, years: np.ndarray) -> dict[tuple, Any]:
    table: dict[tuple, ColumnMeaning | None] = {}
    for y in pd.unique(years):
        for c, j in enumerate(vc):
            table[(y, c)] = spec.meaning(layout.normed[j], None if y is None or pd.isna(y) else int(y))
    return table


def _check(measure: str | None) -> CheckRule | None:
    if not measure:
        return None
    if measure in CONFIG.checks.measures:
        return CONFIG.checks.measures[measure]
    return next((rule for prefix, rule in CONFIG.checks.prefixes.items() if measure.startswith(prefix)), None)


def _out_of_range(measures: np.ndarray, value: np.ndarray) -> np.ndarray:
    bad = np.zeros(len(value), dtype=bool)
    for m in pd.unique(measures):
        rule = _check(m)
        if not rule:
            continue
        sel = measures == m
        v = value[sel]
        b = np.zeros(len(v), dtype=bool)
        if rule.min is not None:
            b |= v < rule.min
        if rule.max is not None:
            b |= v > rule.max
        if rule.integer:
            b |= ~np.isnan(v) & (v != np.round(v))
        bad[sel] = b
    return bad


def income_definition(subgroups: np.ndarray, years: np.ndarray) -> np.ndarray:
    """The low-income definition DESE used in each cell's year, for the income subgroup (config/dese_reports.yaml
    income_subgroup) and its intersections."""
    out = np.full(len(subgroups), None, dtype=object)
    sub = pd.Series(subgroups, dtype=object).fillna("")
    income = CONFIG.income_subgroup
    low = (sub.eq(income) | sub.str.startswith(f"{income}_")).to_numpy() & pd.notna(years)
    for y in pd.unique(years[low]):
        value = next((d.value for d in CONFIG.income_definitions if d.years[0] <= int(y) <= d.years[1]), None)
        out[low & (years == y)] = value
    return out


def _fractions_to_percent(spec: ReportSpec, measure: np.ndarray, value: np.ndarray, notes: list[str]) -> np.ndarray:
    """E2C-style percentages written as 0-1 fractions: a percentage measure whose values in this file are all
    within 0..1 (and not all 0 or 1) is multiplied by 100."""
    if not spec.fraction_percentages:
        return value
    out = value.copy()
    scaled = []
    for m in pd.unique(measure[pd.notna(measure)]):
        if not getattr(_check(str(m)), "percent", False):  # a percentage measure (config/dese_reports.yaml checks)
            continue
        v = value[measure == m]
        v = v[~np.isnan(v)]
        if len(v) and v.max() <= 1.0 and ((v > 0) & (v < 1)).any():
            out[measure == m] *= 100.0
            scaled.append(str(m))
    if scaled:
        notes.append(f"percentages written as 0-1 fractions multiplied by 100: {scaled}")
    return out


def melt(file: str, sheet: str, layout: Layout, spec: ReportSpec, title_line: str, orgs: Orgs, attrs: Attributes,
         value_cols: list[int], rows: Rows, notes: list[str]) -> pd.DataFrame:
    """The long frame: one row per (kept data row x value column), absent short-row fields excluded."""
    n = layout.mat.shape[0]
    ri = np.flatnonzero(rows.keep)
    vc = np.asarray(value_cols, dtype=np.int64)
    rows_idx = np.repeat(ri, len(vc))
    cols_idx = np.tile(np.arange(len(vc)), len(ri))
    if layout.missing is not None:
        present = ~layout.missing[rows_idx, vc[cols_idx]]
        if (~present).any():
            short = sorted({layout.headers[vc[c]] for c in cols_idx[~present]})
            notes.append(f"{int((~present).sum())} field(s) absent from short rows (the column did not exist for "
                         f"those rows, e.g. earlier years) produce no cells: {short}")
        rows_idx, cols_idx = rows_idx[present], cols_idx[present]
    raw = layout.mat[rows_idx, vc[cols_idx]]
    texts = np.array([text_of(v) for v in raw], dtype=object)
    row_years = per_row(attrs.year, n)[rows_idx]
    base = [spec.meaning(layout.normed[j], None) for j in vc]
    header_year = np.array([b.year if b else None for b in base], dtype=object)[cols_idx]
    years = np.where(pd.notna(header_year), header_year, row_years)
    table = _meanings(spec, layout, vc, years)
    meaning = [table[(y, c)] for y, c in zip(years, cols_idx, strict=True)]
    measure = np.array([m.measure if m else None for m in meaning], dtype=object)
    parsed = parse_cells(texts, spec.text_values)
    if parsed.decimal_comma:
        notes.append("numbers written with decimal commas ('38,5' = 38.5)")
    parsed.value = _fractions_to_percent(spec, measure, parsed.value, notes)
    flags = rows.flags[rows_idx].copy()
    bad = _out_of_range(measure, parsed.value)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        flags[bad & pd.isna(flags)] = "out_of_range"
        notes.append(f"warning: {int(bad.sum())} value(s) outside their measure's range kept and flagged out_of_range "
                     f"(e.g. row {layout.phys[rows_idx[i]]}, column {layout.headers[vc[cols_idx[i]]]!r}: "
                     f"{texts[i]!r} for {measure[i]})")
    grade = per_row(attrs.grade, n)[rows_idx]
    col_grade = np.array([m.grade if m else None for m in meaning], dtype=object)
    subject = per_row(attrs.subject, n)[rows_idx]
    col_subject = np.array([m.subject if m else None for m in meaning], dtype=object)
    subgroup = per_row(attrs.subgroup, n)[rows_idx]
    return pd.DataFrame({
        "source_file": pd.Series(np.full(len(texts), file, dtype=object), dtype="str"),
        "source_sheet": pd.Series(np.full(len(texts), sheet, dtype=object), dtype="str"),
        "source_row": layout.phys[rows_idx],
        "source_column": pd.Series(np.array(layout.headers, dtype=object)[vc[cols_idx]], dtype="str"),
        "report": pd.Series(np.full(len(texts), spec.id, dtype=object), dtype="str"),
        "title": pd.Series(np.full(len(texts), title_line or None, dtype=object), dtype=object),
        "school_year": pd.array([None if y is None or pd.isna(y) else int(y) for y in years], dtype="Int64"),
        "year_source": pd.Series(np.where(pd.notna(header_year), "header", attrs.year_source), dtype="str"),
        "org_code": pd.Series(orgs.codes[rows_idx], dtype="str"),
        "org_name": pd.Series(orgs.names[rows_idx], dtype="str"),
        "org_level": pd.Series(orgs.levels[rows_idx], dtype="str"),
        "subgroup": pd.Series(subgroup, dtype=object),
        "subgroup_label": pd.Series(per_row(attrs.subgroup_label, n)[rows_idx], dtype=object),
        "subject": pd.Series(np.where(pd.notna(col_subject), col_subject, subject), dtype=object),
        "grade": pd.Series(np.where(pd.notna(col_grade), col_grade, grade), dtype="str"),
        "period": pd.Series(per_row(attrs.period, n)[rows_idx], dtype=object),
        "selection": pd.Series(per_row(attrs.selection, n)[rows_idx], dtype=object),
        "measure": pd.Series(measure, dtype=object),
        "value_text": pd.Series(texts, dtype="str"),
        "value": parsed.value.astype(np.float64),
        "is_suppressed": parsed.is_suppressed,
        "flag": pd.Series(flags, dtype=object),
        "income_definition": pd.Series(income_definition(subgroup, years), dtype=object),
    })

"""The DESE report catalog (``config/dese_reports.yaml``): which report a file is, and what its headers mean.

Owns: reading and checking the YAML into :class:`ReportSpec` / :class:`DeseConfig` (pydantic models), header normalisation, report detection from
title and header set (an unrecognised file becomes ``unknown:<normalised title>``). Imports only config.
"""

from __future__ import annotations

import re
from functools import cached_property
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BeforeValidator, model_validator

from ...catalog import Number, Positive, Regex, Strict, Text, load_yaml, problem, read_yaml
from ...paths import config_dir

REPORTS_FILE = "dese_reports.yaml"
_WS = re.compile(r"[\s\u00a0\u2007\u202f]+")


def norm(text: object) -> str:
    """Header / label matching key: NBSP as space, trimmed, inner whitespace collapsed, case-folded."""
    return _WS.sub(" ", str(text)).strip().casefold()


def _year_range(spec: object) -> tuple[int, int]:
    """'YYYY', '..YYYY', 'YYYY..' or 'YYYY..YYYY' -> inclusive (low, high)."""
    m = re.fullmatch(r"(\d{4})?\s*(\.\.)?\s*(\d{4})?", str(spec).strip())
    if not m or not (m.group(1) or m.group(3)) or (m.group(2) is None and m.group(3) is not None and m.group(1)):
        raise problem("not a year range.", fix="write 'YYYY', '..YYYY', 'YYYY..' or 'YYYY..YYYY'.")
    lo, dots, hi = m.group(1), m.group(2), m.group(3)
    return (int(lo), int(lo)) if dots is None else (int(lo) if lo else 0, int(hi) if hi else 9999)


def _normed(value: Any) -> Any:
    """Headers and labels as matched: dict keys or list items through :func:`norm`, values as text."""
    if isinstance(value, dict):
        return {norm(k): v if isinstance(v, str | dict | None) else str(v) for k, v in value.items()}
    return [norm(v) for v in value] if isinstance(value, list) else value


Role = Literal["org_name", "school_code", "district_code", "org_code", "org_type", "subject", "year", "grade",
               "group", "period", "selection", "info", "none", "value"]
NormMap = Annotated[dict[str, str], BeforeValidator(_normed)]
NormSet = Annotated[frozenset[str], BeforeValidator(_normed)]
Roles = Annotated[dict[str, Role], BeforeValidator(_normed)]
RolePatterns = Annotated[tuple[tuple[Regex, Role], ...], BeforeValidator(lambda d: list(d.items()) if isinstance(
    d, dict) else d)]
YearRange = Annotated[tuple[int, int], BeforeValidator(_year_range)]
AsText = Annotated[str, BeforeValidator(lambda v: str(v) if isinstance(v, int) else v)]


class ColumnMeaning(Strict):
    """What one value column holds: the measure and, where the header says it, the grade / subject / year."""

    measure: Text
    grade: AsText | None = None
    subject: str | None = None
    year: int | None = None

    @model_validator(mode="before")
    @classmethod
    def _measure_alone(cls, data: Any) -> Any:  # 'header text: measure_id'
        return {"measure": data} if isinstance(data, str) else data


Columns = Annotated[dict[str, ColumnMeaning], BeforeValidator(_normed)]


class Override(Strict):
    years: YearRange  # spring years
    columns: Columns


class ColumnPattern(ColumnMeaning):
    regex: Regex  # named groups 'year', 'subject' and 'grade' give the cell's year, subject and grade


class ReportSpec(Strict):
    """One DESE report: how to recognise it and how its headers map to measures (config/dese_reports.yaml explains
    every key)."""

    id: str = ""
    label: str = ""
    title: Regex | None = None
    grade: AsText | None = None
    student_group: str | None = None  # fixed group; 'none' = not about students (staff, money, directory)
    period_required: bool = False
    values: Literal["text"] | None = None  # text: every value column is text (directory exports)
    fraction_percentages: Literal["detect"] | None = None  # may be 0-1 fractions: x100 when a column is all 0..1
    qualifiers: Annotated[dict[str, dict[str, AsText]], BeforeValidator(_normed)] = {}
    keys: Roles = {}  # normalised header -> key role (with the catalog's key_columns and extra_columns)
    key_patterns: RolePatterns = ()
    grade_labels: NormMap = {}
    fixed_org: dict[str, AsText] | None = None
    columns: Columns = {}
    column_overrides: tuple[Override, ...] = ()
    column_patterns: tuple[ColumnPattern, ...] = ()

    @property
    def is_unknown(self) -> bool:
        return self.id.startswith("unknown:")

    @property
    def text_values(self) -> bool:
        return self.values == "text"

    def role_of(self, header: str) -> str | None:
        """Key role of a normalised header (None: a value column)."""
        role = self.keys.get(header)
        if role is None:
            role = next((r for p, r in self.key_patterns if p.match(header)), None)
        return None if role == "value" else role

    def known(self, header: str) -> bool:
        """Is this normalised header a value column of this report in some year?"""
        if header in self.columns or any(header in o.columns for o in self.column_overrides):
            return True
        return any(p.regex.match(header) for p in self.column_patterns)

    def meaning(self, header: str, year: int | None) -> ColumnMeaning | None:
        """What a normalised header means in a given spring year (None: not mapped)."""
        if year is not None:
            for o in self.column_overrides:
                if o.years[0] <= year <= o.years[1] and header in o.columns:
                    return o.columns[header]
        if header in self.columns:
            return self.columns[header]
        for base in self.column_patterns:
            m = base.regex.match(header)
            if m:
                return _from_match(base, m.groupdict(), self)
        return None

    @property
    def measures(self) -> list[str]:
        overrides = [c for o in self.column_overrides for c in o.columns.values()]
        columns = [*self.columns.values(), *overrides, *self.column_patterns]
        return list(dict.fromkeys(c.measure for c in columns))


def _from_match(base: ColumnMeaning, groups: dict[str, str | None], spec: ReportSpec) -> ColumnMeaning:
    year = base.year
    if groups.get("year"):
        y = int(groups["year"])
        year = 2000 + y if y < 100 else y
    subject = base.subject
    if groups.get("subject"):
        subject = CONFIG.subject_codes.get(norm(groups["subject"])) or CONFIG.subjects.get(norm(groups["subject"]))
    grade = base.grade
    if groups.get("grade"):
        grade = spec.grade_labels.get(norm(groups["grade"]), groups["grade"])
    return ColumnMeaning(measure=base.measure, grade=grade, subject=subject, year=year)


class CheckRule(Strict):
    min: Number | None = None
    max: Number | None = None
    percent: bool = False
    integer: bool = False


class Checks(Strict):
    measures: dict[str, CheckRule] = {}  # by measure id, else the first matching prefix
    prefixes: dict[str, CheckRule] = {}


class FilenamePattern(Strict):
    regex: Regex
    reports: tuple[str, ...] = ()


class IncomeDefinition(Strict):
    years: YearRange
    value: Text


class ShortRow(Strict):
    fields: Positive
    absent: NormSet


class DeseConfig(Strict):
    path: Path
    suppression_markers: NormSet = frozenset({""})
    key_columns: Roles = {}
    key_patterns: RolePatterns = ()
    extra_columns: Roles = {}  # added by third parties to DESE exports: metadata where useful, never cells
    subjects: NormMap = {}
    subject_codes: NormMap = {}
    org_types: NormMap = {}
    grade_labels: NormMap = {}
    period_labels: NormMap = {}
    state_names: NormSet = frozenset()
    title_skip: NormSet = frozenset()
    filename_patterns: tuple[FilenamePattern, ...] = ()
    checks: Checks = Checks()
    income_subgroup: str = ""
    income_definitions: tuple[IncomeDefinition, ...] = ()
    short_rows: tuple[ShortRow, ...] = ()
    reports: dict[str, ReportSpec] = {}

    @model_validator(mode="after")
    def _with_common_keys(self) -> DeseConfig:
        """Each report with its id and label, the catalog's key columns, key patterns and grade labels."""
        for rid, r in self.reports.items():
            self.reports[rid] = r.model_copy(update={
                "id": rid, "label": r.label or rid, "keys": {**self.global_roles, **r.keys},
                "key_patterns": r.key_patterns + self.key_patterns,
                "grade_labels": {**self.grade_labels, **r.grade_labels}})
        return self

    @cached_property
    def global_roles(self) -> dict[str, str]:
        return {**self.key_columns, **self.extra_columns}

    @cached_property
    def all_known(self) -> frozenset[str]:
        known = set(self.global_roles)
        for spec in self.reports.values():
            known.update(spec.columns, spec.keys, *(o.columns for o in spec.column_overrides))
        return frozenset(known)


def load_config(path: Path | None = None) -> DeseConfig:
    """Parse ``config/dese_reports.yaml`` (or ``path``) into a :class:`DeseConfig`."""
    path = Path(path) if path else config_dir() / REPORTS_FILE
    fix = "compare with config/dese_reports.yaml (docs/dese_ingest.md explains every key)."
    data = read_yaml(path, "DESE report definitions", "restore config/dese_reports.yaml from the repository.")
    return load_yaml(DeseConfig, path, "DESE report definitions", fix,
                     data={**data, "path": path} if isinstance(data, dict) else data)


CONFIG: DeseConfig = load_config()
#: Report definitions from ``config/dese_reports.yaml``, keyed by report id.
REPORTS: dict[str, ReportSpec] = CONFIG.reports


def known_header(header: str) -> bool:
    """A normalised header that some report (or the key columns) knows."""
    if header in CONFIG.all_known:
        return True
    if any(p.match(header) for p, _ in CONFIG.key_patterns):
        return True
    return any(p.regex.match(header) for spec in REPORTS.values() for p in spec.column_patterns)


def unknown_report(title_core: str, fallback: str) -> ReportSpec:
    """The catalog entry of a report it does not know: every cell kept, no measure mapped."""
    slug = re.sub(r"[^a-z0-9]+", "_", norm(title_core or fallback)).strip("_") or "untitled"
    return ReportSpec(id=f"unknown:{slug}", label=title_core or fallback, keys=CONFIG.global_roles,
                      key_patterns=CONFIG.key_patterns, grade_labels=CONFIG.grade_labels)


def _coverage(spec: ReportSpec, normed: list[str]) -> tuple[int, int]:
    """(value headers the report maps, value headers it does not) for a file's normalised headers."""
    values = [h for h in normed if spec.role_of(h) is None and h not in CONFIG.global_roles]
    mapped = sum(1 for h in values if spec.known(h))
    return mapped, len(values) - mapped


def detect(normed: list[str], title_lines: list[str], forced: str | None) -> ReportSpec | None:
    """The catalog report of a file: the manifest's choice, else the best title match, else the best header
    match (at least two mapped headers and more mapped than not). None: the catalog does not know it."""
    if forced:
        return REPORTS[forced]
    by_title = [s for s in REPORTS.values() if s.title and any(s.title.search(t) for t in title_lines)]
    candidates = by_title or list(REPORTS.values())
    scored = sorted(((*_coverage(s, normed), s) for s in candidates), key=lambda t: (-t[0], t[1]))
    mapped, unmapped, best = scored[0]
    if by_title or (mapped >= 2 and mapped > unmapped):
        return best
    return None

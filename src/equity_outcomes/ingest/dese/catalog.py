"""The DESE report catalog (``config/dese_reports.yaml``): which report a file is, and what its headers mean.

Owns: parsing the YAML into :class:`ReportSpec` / :class:`DeseConfig`, header normalisation, report detection from
title and header set (an unrecognised file becomes ``unknown:<normalised title>``). Imports only config.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from ...errors import InputError
from ...paths import config_dir

REPORTS_FILE = "dese_reports.yaml"
ROLES = {"org_name", "school_code", "district_code", "org_code", "org_type", "subject", "year", "grade", "group",
         "period", "selection", "info", "none", "value"}
_WS = re.compile(r"[\s\u00a0\u2007\u202f]+")


def norm(text: object) -> str:
    """Header / label matching key: NBSP as space, trimmed, inner whitespace collapsed, case-folded."""
    return _WS.sub(" ", str(text)).strip().casefold()


def year_range(spec: object, where: str) -> tuple[int, int]:
    """'YYYY', '..YYYY', 'YYYY..' or 'YYYY..YYYY' -> inclusive (low, high)."""
    text = str(spec).strip()
    m = re.fullmatch(r"(\d{4})?\s*(\.\.)?\s*(\d{4})?", text)
    if not m or not (m.group(1) or m.group(3)) or (m.group(2) is None and m.group(3) is not None and m.group(1)):
        raise InputError(f"bad year range {text!r} in {where}", fix="write 'YYYY', '..YYYY', 'YYYY..' or 'YYYY..YYYY'")
    lo, dots, hi = m.group(1), m.group(2), m.group(3)
    if dots is None:
        return int(lo), int(lo)
    return (int(lo) if lo else 0, int(hi) if hi else 9999)


@dataclass(frozen=True)
class ColumnMeaning:
    """What one value column holds: the measure and, where the header says it, the grade / subject / year."""

    measure: str
    grade: str | None = None
    subject: str | None = None
    year: int | None = None


@dataclass(frozen=True)
class ReportSpec:
    """One DESE report: how to recognise it and how its headers map to measures."""

    id: str
    label: str
    title: re.Pattern[str] | None = None
    grade: str | None = None
    student_group: str | None = None  # fixed group; 'none' = not about students (staff, money, directory)
    period_required: bool = False
    text_values: bool = False  # every value column is text (directory exports)
    fraction_percentages: bool = False  # percentages may be 0-1 fractions: x100 when a file's column is all 0..1
    qualifiers: dict[str, dict[str, str]] = field(default_factory=dict)
    roles: dict[str, str] = field(default_factory=dict)  # normalised header -> key role
    role_patterns: tuple[tuple[re.Pattern[str], str], ...] = ()
    grade_labels: dict[str, str] = field(default_factory=dict)
    fixed_org: dict[str, str] | None = None
    columns: dict[str, ColumnMeaning] = field(default_factory=dict)
    overrides: tuple[tuple[int, int, dict[str, ColumnMeaning]], ...] = ()
    patterns: tuple[tuple[re.Pattern[str], ColumnMeaning], ...] = ()

    @property
    def is_unknown(self) -> bool:
        return self.id.startswith("unknown:")

    def role_of(self, header: str) -> str | None:
        """Key role of a normalised header (None: a value column)."""
        role = self.roles.get(header)
        if role is None:
            role = next((r for p, r in self.role_patterns if p.match(header)), None)
        return None if role == "value" else role

    def known(self, header: str) -> bool:
        """Is this normalised header a value column of this report in some year?"""
        if header in self.columns or any(header in o for _, _, o in self.overrides):
            return True
        return any(p.match(header) for p, _ in self.patterns)

    def meaning(self, header: str, year: int | None) -> ColumnMeaning | None:
        """What a normalised header means in a given spring year (None: not mapped)."""
        if year is not None:
            for lo, hi, cols in self.overrides:
                if lo <= year <= hi and header in cols:
                    return cols[header]
        if header in self.columns:
            return self.columns[header]
        for pattern, base in self.patterns:
            m = pattern.match(header)
            if m:
                return _from_match(base, m.groupdict(), self)
        return None

    @property
    def measures(self) -> list[str]:
        out = dict.fromkeys(c.measure for c in self.columns.values())
        for _, _, cols in self.overrides:
            out.update(dict.fromkeys(c.measure for c in cols.values()))
        out.update(dict.fromkeys(c.measure for _, c in self.patterns))
        return list(out)


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
    return ColumnMeaning(base.measure, grade, subject, year)


@dataclass(frozen=True)
class DeseConfig:
    path: Path
    markers: frozenset[str]
    subjects: dict[str, str]
    subject_codes: dict[str, str]
    grade_labels: dict[str, str]
    period_labels: dict[str, str]
    org_types: dict[str, str]
    state_names: frozenset[str]
    title_skip: frozenset[str]
    filename_patterns: tuple[tuple[re.Pattern[str], tuple[str, ...]], ...]
    checks_measures: dict[str, dict[str, Any]]
    checks_prefixes: tuple[tuple[str, dict[str, Any]], ...]
    income_subgroup: str
    income_definitions: tuple[tuple[int, int, str], ...]
    global_roles: dict[str, str]
    role_patterns: tuple[tuple[re.Pattern[str], str], ...]
    extra_headers: frozenset[str]
    reports: dict[str, ReportSpec]
    short_rows: tuple[tuple[int, tuple[str, ...]], ...] = ()
    all_known: frozenset[str] = frozenset()


def _role_map(mapping: dict | None, where: str, into: dict[str, str]) -> None:
    for header, role in (mapping or {}).items():
        role = str(role)
        if role not in ROLES:
            raise InputError(f"unknown key-column role {role!r} for {header!r} in {where}",
                             fix=f"use one of {', '.join(sorted(ROLES))}")
        into[norm(header)] = role


def _meaning(value: Any, where: str) -> ColumnMeaning:
    if isinstance(value, str) and value:
        return ColumnMeaning(value)
    if isinstance(value, dict) and value.get("measure"):
        grade = value.get("grade")
        return ColumnMeaning(str(value["measure"]), str(grade) if grade is not None else None,
                             value.get("subject"), int(value["year"]) if value.get("year") else None)
    raise InputError(f"bad column map entry {value!r} in {where}",
                     fix="write 'header text: measure_id' or 'header: {measure: id, grade: 03}'")


def _columns(mapping: dict | None, where: str) -> dict[str, ColumnMeaning]:
    return {norm(h): _meaning(v, where) for h, v in (mapping or {}).items()}


def _report(rid: str, r: dict, raw: dict, global_roles: dict[str, str], where: str) -> ReportSpec:
    rwhere = f"{where} (report {rid})"
    roles = dict(global_roles)
    _role_map(r.get("keys"), rwhere, roles)
    overrides = tuple((*year_range(o.get("years"), rwhere), _columns(o.get("columns"), rwhere))
                      for o in r.get("column_overrides") or [])
    patterns = tuple((re.compile(str(p["regex"]), re.IGNORECASE), _meaning(p.get("measure") and
                      {k: v for k, v in p.items() if k != "regex"}, rwhere)) for p in r.get("column_patterns") or [])
    grade_labels = {norm(k): str(v) for k, v in (raw.get("grade_labels") or {}).items()}
    grade_labels.update({norm(k): str(v) for k, v in (r.get("grade_labels") or {}).items()})
    fixed = r.get("fixed_org")
    return ReportSpec(
        id=rid,
        label=str(r.get("label", rid)),
        title=re.compile(r["title"], re.IGNORECASE) if r.get("title") else None,
        grade=str(r["grade"]) if r.get("grade") is not None else None,
        student_group=str(r["student_group"]) if r.get("student_group") else None,
        period_required=bool(r.get("period_required", False)),
        text_values=r.get("values") == "text",
        fraction_percentages=r.get("fraction_percentages") == "detect",
        qualifiers={norm(k): {kk: str(vv) for kk, vv in (v or {}).items()} for k, v in (r.get("qualifiers") or {}).items()},
        roles=roles,
        role_patterns=_role_patterns(r.get("key_patterns")) + _role_patterns(raw.get("key_patterns")),
        grade_labels=grade_labels,
        fixed_org={k: str(v) for k, v in fixed.items()} if fixed else None,
        columns=_columns(r.get("columns"), rwhere),
        overrides=overrides,
        patterns=patterns,
    )


def _role_patterns(mapping: dict | None) -> tuple[tuple[re.Pattern[str], str], ...]:
    return tuple((re.compile(str(p), re.IGNORECASE), str(role)) for p, role in (mapping or {}).items())


def load_config(path: Path | None = None) -> DeseConfig:
    """Parse ``config/dese_reports.yaml`` (or ``path``) into a :class:`DeseConfig`."""
    path = Path(path) if path else config_dir() / REPORTS_FILE
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise InputError("DESE report definitions not found", file=str(path),
                         fix="restore config/dese_reports.yaml from the repository") from exc
    except yaml.YAMLError as exc:
        raise InputError(f"DESE report definitions are not valid YAML: {exc}", file=str(path),
                         fix="fix the YAML syntax (quote headers that contain ' #', ':' or start with '%')") from exc
    where = str(path)
    global_roles: dict[str, str] = {}
    _role_map(raw.get("key_columns"), where, global_roles)
    _role_map(raw.get("extra_columns"), where, global_roles)
    reports = {rid: _report(rid, r, raw, global_roles, where) for rid, r in (raw.get("reports") or {}).items()}
    checks = raw.get("checks") or {}
    known = set(global_roles)
    for spec in reports.values():
        known.update(spec.columns)
        known.update(spec.roles)
        for _, _, cols in spec.overrides:
            known.update(cols)
    return DeseConfig(
        path=path,
        markers=frozenset(norm(m) for m in raw.get("suppression_markers") or [""]),
        subjects={norm(k): str(v) for k, v in (raw.get("subjects") or {}).items()},
        subject_codes={norm(k): str(v) for k, v in (raw.get("subject_codes") or {}).items()},
        grade_labels={norm(k): str(v) for k, v in (raw.get("grade_labels") or {}).items()},
        period_labels={norm(k): str(v) for k, v in (raw.get("period_labels") or {}).items()},
        org_types={norm(k): str(v) for k, v in (raw.get("org_types") or {}).items()},
        state_names=frozenset(norm(s) for s in raw.get("state_names") or []),
        title_skip=frozenset(norm(s) for s in raw.get("title_skip") or []),
        filename_patterns=tuple((re.compile(str(p["regex"]), re.IGNORECASE), tuple(p.get("reports") or ()))
                                for p in raw.get("filename_patterns") or []),
        checks_measures={str(k): dict(v) for k, v in (checks.get("measures") or {}).items()},
        checks_prefixes=tuple((str(k), dict(v)) for k, v in (checks.get("prefixes") or {}).items()),
        income_subgroup=str(raw.get("income_subgroup") or ""),
        income_definitions=tuple((*year_range(d["years"], where), str(d["value"]))
                                 for d in raw.get("income_definitions") or []),
        global_roles=global_roles,
        role_patterns=_role_patterns(raw.get("key_patterns")),
        extra_headers=frozenset(norm(h) for h in (raw.get("extra_columns") or {})),
        reports=reports,
        short_rows=tuple((int(e["fields"]), tuple(norm(h) for h in e["absent"])) for e in raw.get("short_rows") or []),
        all_known=frozenset(known),
    )


CONFIG: DeseConfig = load_config()
#: Report definitions from ``config/dese_reports.yaml``, keyed by report id.
REPORTS: dict[str, ReportSpec] = CONFIG.reports


def known_header(header: str) -> bool:
    """A normalised header that some report (or the key columns) knows."""
    if header in CONFIG.all_known:
        return True
    if any(p.match(header) for p, _ in CONFIG.role_patterns):
        return True
    return any(p.match(header) for spec in REPORTS.values() for p, _ in spec.patterns)


def unknown_report(title_core: str, fallback: str) -> ReportSpec:
    """The catalog entry of a report it does not know: every cell kept, no measure mapped."""
    slug = re.sub(r"[^a-z0-9]+", "_", norm(title_core or fallback)).strip("_") or "untitled"
    return ReportSpec(id=f"unknown:{slug}", label=title_core or fallback, roles=dict(CONFIG.global_roles),
                      role_patterns=CONFIG.role_patterns, grade_labels=dict(CONFIG.grade_labels))


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

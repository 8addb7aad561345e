"""What each data row is about besides the org: school year (and where it came from), student group, grade,
subject, reporting period and report options.

Owns: combining the places that record an attribute, in order (title, identifier column, file name, report
definition, manifest); the first that records it wins, a later one that disagrees is a warning. Only the year is
required: a file with none is refused with the exact manifest line to add. Imports catalog, titles, manifest.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ...crosswalk import lookup
from ...errors import InputError
from .catalog import CONFIG, ReportSpec, norm
from .header import Layout
from .keys import Roles, column_texts
from .manifest import MANIFEST_COLUMNS, Manifest, manifest_line, manifest_target, parse_year
from .titles import Title

MIN_YEAR = 1990


@dataclass
class Source:
    """One place that records an attribute: a scalar, or one value per data row (None where a row has none)."""

    where: str
    value: Any


@dataclass
class Attributes:
    year: Any  # int or per-row array (None where unknown: only with header years)
    year_source: str
    subgroup: Any
    subgroup_label: Any
    grade: Any
    subject: Any
    period: Any
    selection: Any
    notes: list[str] = field(default_factory=list)


def choose(what: str, sources: list[Source], notes: list[str]) -> Source | None:
    """The first source that records ``what``; later sources that disagree are warnings."""
    present = [s for s in sources if s.value is not None]
    if not present:
        return None
    chosen = present[0]
    for s in present[1:]:
        a = np.asarray(chosen.value, dtype=object)
        b = np.asarray(s.value, dtype=object)
        a, b = np.broadcast_arrays(a, b)
        both = np.array([x is not None and y is not None for x, y in zip(a.ravel(), b.ravel(), strict=True)])
        differ = both & (a.ravel() != b.ravel())
        if differ.any():
            i = int(np.flatnonzero(differ)[0])
            notes.append(f"warning: {what} disagrees: {chosen.where} says {a.ravel()[i]!r}, {s.where} says "
                         f"{b.ravel()[i]!r}; {chosen.where} is used")
    return chosen


def _map_unique(values: np.ndarray, func) -> np.ndarray:
    uniq = {v: func(v) for v in dict.fromkeys(values.tolist())}
    return np.array([uniq[v] for v in values.tolist()], dtype=object)


def _plausible(y: int | None) -> int | None:
    return y if y is not None and MIN_YEAR <= y <= dt.date.today().year + 1 else None


def _filename_fields(path: Path, spec: ReportSpec) -> dict[str, str]:
    stem = path.stem.strip()
    for pattern in CONFIG.filename_patterns:
        if pattern.reports and spec.id not in pattern.reports:
            continue
        m = pattern.regex.match(stem)
        if m:
            return {k: v for k, v in m.groupdict().items() if v}
    return {}


def _year(layout: Layout, roles: Roles, title: Title, fn: dict[str, str], mfields: dict[str, str],
          notes: list[str]) -> Source | None:
    sources = []
    if title.year is not None:
        y = _plausible(title.year)
        if y is None:
            notes.append(f"warning: title year {title.year_text!r} is not a plausible school year: ignored")
        sources.append(Source(f"title {title.year_text!r}", y))
    for j in roles.by_role.get("year", []):
        texts = column_texts(layout, j)
        years = _map_unique(texts, lambda t: _plausible(parse_year(t)))
        bad = [t for t, y in zip(texts, years, strict=True) if t and y is None]
        if bad:
            notes.append(f"warning: {len(bad)} value(s) of column {layout.headers[j]!r} are not school years "
                         f"(e.g. {bad[0]!r}): those rows take the year from elsewhere")
        sources.append(Source(f"column {layout.headers[j]!r}", years if any(y is not None for y in years) else None))
    if fn.get("year"):
        sources.append(Source("file name", _plausible(int(fn["year"]))))
    if mfields.get("school_year"):
        sources.append(Source("manifest", _plausible(parse_year(mfields["school_year"]))))
    chosen = choose("school year", sources, notes)
    if chosen is not None and isinstance(chosen.value, np.ndarray):
        rest = [s for s in sources if s is not chosen and s.value is not None and not isinstance(s.value, np.ndarray)]
        gaps = np.array([v is None for v in chosen.value])
        if gaps.any() and rest:
            chosen.value = np.where(gaps, rest[0].value, chosen.value)
    return chosen


def file_name_year(path: Path) -> int | None:
    """A school year in a file name: 'educator-age_2012' -> 2012, 'sat_2020-21' -> 2021 (None when absent or
    ambiguous)."""
    found = {parse_year(m.group(0).replace("_", "-"))
             for m in re.finditer(r"(?<!\d)(?:19|20)\d{2}(?:[-_](?:\d{2}|\d{4}))?(?!\d)", path.stem)}
    plausible = {y for y in found if _plausible(y)}
    return plausible.pop() if len(plausible) == 1 else None


def _group(layout: Layout, roles: Roles, spec: ReportSpec, title: Title, fn: dict[str, str],
           mfields: dict[str, str], notes: list[str]) -> tuple[Any, Any]:
    if spec.student_group == "none":
        return None, None
    label_sources = [Source(f"column {layout.headers[j]!r}", column_texts(layout, j))
                     for j in roles.by_role.get("group", [])]
    label_sources += [Source("the title", title.group_label), Source("the file name", fn.get("group")),
                      Source(f"report {spec.id!r}", spec.student_group),
                      Source("the manifest", mfields.get("student_group"))]
    def to_id(label: object) -> str | None:  # an unknown label stays visible as '?<label>' until chosen
        return (lookup(str(label)) or f"?{label}") if label else None

    ids = [Source(s.where, _map_unique(s.value, to_id) if isinstance(s.value, np.ndarray) else to_id(s.value))
           for s in label_sources]
    chosen = choose("student group", ids, notes)
    if chosen is None:
        notes.append("warning: student group not recorded (no group column, title group, file name or manifest): "
                     "cells kept with subgroup NULL and not used for metrics; add student_group to the manifest")
        return None, ""
    label = next(s.value for s in label_sources if s.where == chosen.where)
    unknown = sorted({str(i)[1:] for i in np.atleast_1d(chosen.value) if i and str(i).startswith("?")})
    if unknown:
        notes.append(f"warning: student-group label(s) {unknown[:5]} not in config/subgroup_crosswalk.csv: cells kept "
                     "with subgroup NULL; add a crosswalk row to use them")
    value = chosen.value
    if isinstance(value, np.ndarray):
        value = np.array([None if v is None or str(v).startswith("?") else v for v in value], dtype=object)
    elif value is not None and value.startswith("?"):
        value = None
    return value, label


def _grade_id(text: str, spec: ReportSpec) -> str | None:
    key = norm(text)
    if not key:
        return None
    if key in spec.grade_labels:
        return spec.grade_labels[key]
    m = re.fullmatch(r"(?:gr(?:ade)?\.?\s*)?(\d{1,2})(?:\.0)?", key)
    if m and 1 <= int(m.group(1)) <= 12:
        return f"{int(m.group(1)):02d}"
    m = re.fullmatch(r"(?:grades?\s*)?(\d{1,2})\s*-\s*(\d{1,2})", key)
    if m:
        return f"{int(m.group(1)):02d}-{int(m.group(2)):02d}"
    return key


def _grade(layout: Layout, roles: Roles, spec: ReportSpec, fn: dict[str, str], mfields: dict[str, str],
           notes: list[str], levels: np.ndarray) -> Any:
    sources = []
    for j in roles.by_role.get("grade", []):
        g = _map_unique(column_texts(layout, j), lambda t: _grade_id(t, spec))
        g = np.where((g == None) & (levels == "state"), "all", g)  # noqa: E711 (elementwise)
        sources.append(Source(f"column {layout.headers[j]!r}", g))
    sources += [Source("the file name", _grade_id(fn["grade"], spec) if fn.get("grade") else None),
                Source(f"report {spec.id!r}", spec.grade if not roles.by_role.get("grade") else None),
                Source("the manifest", _grade_id(mfields["grade"], spec) if mfields.get("grade") else None)]
    chosen = choose("grade", sources, notes)
    return chosen.value if chosen is not None else "unknown"


def _period(layout: Layout, roles: Roles, spec: ReportSpec, title: Title, mfields: dict[str, str],
            notes: list[str]) -> Any:
    def label(t: str | None) -> str | None:
        return CONFIG.period_labels.get(norm(t), norm(t)) if t else None

    sources = [Source(f"column {layout.headers[j]!r}", _map_unique(column_texts(layout, j), label))
               for j in roles.by_role.get("period", [])]
    sources += [Source("the title", title.period), Source("the manifest", label(mfields.get("period")))]
    chosen = choose("reporting period", sources, notes)
    if chosen is None and spec.period_required:
        notes.append(f"warning: reporting period not recorded (report {spec.id!r} has End of Year and March tables): "
                     "period 'unknown', not used for metrics; add period to the manifest")
        return "unknown"
    return chosen.value if chosen else None


def _subject(layout: Layout, roles: Roles, notes: list[str]) -> Any:
    j = roles.first("subject")
    if j is None:
        return None
    texts = column_texts(layout, j)
    unknown = sorted({t for t in texts if t and norm(t) not in CONFIG.subjects})
    if unknown:
        notes.append(f"subject(s) {unknown[:5]} not under subjects in the catalog: kept as written (lower case)")
    return _map_unique(texts, lambda t: CONFIG.subjects.get(norm(t), norm(t) or None))


def _selection(layout: Layout, roles: Roles, title: Title, mfields: dict[str, str]) -> Any:
    cols = roles.by_role.get("selection", [])
    base = " - ".join(title.selections) or mfields.get("selection") or None
    if not cols:
        return base
    texts = column_texts(layout, cols[0])
    return np.array([" - ".join(x for x in (base, t) if x) or None for t in texts], dtype=object)


def resolve(path: Path, layout: Layout, roles: Roles, spec: ReportSpec, title: Title, mfields: dict[str, str],
            manifest: Manifest | None, levels: np.ndarray, header_years: bool) -> Attributes:
    notes: list[str] = []
    fn = _filename_fields(path, spec)
    if "year" not in fn and file_name_year(path) is not None:
        fn["year"] = str(file_name_year(path))
    year = _year(layout, roles, title, fn, mfields, notes)
    if year is None and not header_years:
        line = manifest_line(path, manifest, school_year="<year>")
        target = manifest.path if manifest is not None else manifest_target(path)
        raise InputError(
            "no school year: not in a title row, a year column, the file name or a manifest",
            file=str(path),
            fix=f"add this line to {target}, with <year> the spring year (2024 for 2023-24), creating the file with "
                f"the header line '{','.join(MANIFEST_COLUMNS)}' if it does not exist: {line}",
        )
    subgroup, label = _group(layout, roles, spec, title, fn, mfields, notes)
    return Attributes(
        year=year.value if year else None, year_source=year.where if year else "header",
        subgroup=subgroup, subgroup_label=label,
        grade=_grade(layout, roles, spec, fn, mfields, notes, levels),
        subject=_subject(layout, roles, notes), period=_period(layout, roles, spec, title, mfields, notes),
        selection=_selection(layout, roles, title, mfields), notes=notes,
    )

"""Reading an export's title rows: school year, org level, student group, reporting period and the report options.

'2022-23 Advanced Placement Performance -     Calculus AB - All Students' -> year 2023, group all, selection
'Calculus AB'; '2021 Graduation Rate (District) All Students 4-Year Graduation Rate' -> year 2021, level district,
group all, option '4-Year Graduation Rate'. A title part that is neither a known option, a level nor a group label is
kept as a ``selection`` (never refused). Imports only the catalog and the crosswalk.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from ...crosswalk import known_labels, lookup
from .catalog import CONFIG, ReportSpec, norm
from .manifest import parse_year

_LEADING_YEAR = re.compile(r"^\s*(?:FY\s*)?(\d{4}(?:\s*-\s*\d{2}(?:\d{2})?)?)(?!\d)", re.IGNORECASE)
_SCHOOL_YEAR = re.compile(r"(?:school year|fiscal year|FY)\s*(\d{4}(?:\s*-\s*\d{2}(?:\d{2})?)?)(?!\d)", re.IGNORECASE)
_ANY_YEAR = re.compile(r"(?<![\d-])((?:19|20)\d{2}(?:-\d{2}(?:\d{2})?)?)(?![\d-])")
_LEVEL = re.compile(r"\((School|District|State)\)", re.IGNORECASE)
_SEGMENTS = re.compile(r"\s+-\s+")
LEVEL_WORDS = {"school": "school", "district": "district", "state": "state", "schools": "school",
               "districts": "district"}


@dataclass
class Title:
    """What the title rows record."""

    line: str = ""  # the title line of the report (spaces normalised), '' when the file has none
    core: str = ""  # report name without year, level and options: 'Advanced Placement Performance'
    year: int | None = None
    year_text: str | None = None
    level: str | None = None
    group_label: str | None = None
    period: str | None = None
    selections: list[str] = field(default_factory=list)  # title parts not understood as an option, level or group


def _year(lines: list[str]) -> tuple[int | None, str | None]:
    for pattern in (_LEADING_YEAR, _SCHOOL_YEAR, _ANY_YEAR):
        for line in lines:
            m = pattern.search(line)
            if m:
                y = parse_year(re.sub(r"\s+", "", m.group(1)))
                if y is not None:
                    return y, m.group(1)
    return None, None


def _group_prefix(text: str) -> tuple[str, str] | None:
    """(group label, rest) when ``text`` starts with a crosswalk label followed by more words."""
    key = norm(text)
    best = max((label for label in known_labels() if key.startswith(label + " ")), key=len, default=None)
    if best is None:
        return None
    return text[: len(best)].strip(), text[len(best):].strip()


def _segment(seg: str, spec: ReportSpec, out: Title) -> None:
    key = norm(seg)
    if not key:
        return
    q = spec.qualifiers.get(key)
    if q is not None:
        out.period = q.get("period", out.period)
    elif key in LEVEL_WORDS:
        out.level = LEVEL_WORDS[key]
    elif key in CONFIG.period_labels:
        out.period = CONFIG.period_labels[key]
    elif lookup(seg) is not None and out.group_label is None:
        out.group_label = seg.strip()
    else:
        split = _group_prefix(seg) if out.group_label is None else None
        if split:
            out.group_label = split[0]
            _segment(split[1], spec, out)
        else:
            out.selections.append(seg.strip())


def parse_title(lines: list[str], spec: ReportSpec) -> Title:
    out = Title()
    out.year, out.year_text = _year(lines)
    if not lines:
        return out
    named = [ln for ln in lines if norm(ln) not in CONFIG.title_skip] or lines
    main = next((ln for ln in named if spec.title and spec.title.search(ln)), named[0])
    out.line = main
    body = _LEADING_YEAR.sub("", main, count=1).strip()
    m = _LEVEL.search(body)
    rest = ""
    if m:
        out.level = m.group(1).lower()
        body, rest = body[: m.start()].strip(), re.sub(r"^[\s\-\u2013]+", "", body[m.end():])
    parts = [s for s in _SEGMENTS.split(body) if s.strip()]
    out.core = parts[0].strip() if parts else ""
    for seg in ([rest] if rest else []) + parts[1:]:
        for s in _SEGMENTS.split(seg):
            _segment(s, spec, out)
    return out

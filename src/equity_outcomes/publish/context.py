"""School, district and state side by side, as DESE's own profiles show them: every measure of a school's scorecard
in its judged year beside the district's figure (DESE's district rows in metric_values, primary rules applied:
``data.read_district_cells``; blank beside a blank school figure, since a one-school district's is the school's), the state's (``metric_gaps``, the one state rule) and the similar schools' change
(``honest.peer_context``: a median over at least ``min_peers`` schools, else "no peer comparison")."""

from __future__ import annotations

from . import honest, labels
from .data import Site, num, text
from .html import (
    DASH,
    GRADE_PREFERENCE,
    SOURCE_LABEL,
    cell,
    fmt_n,
    fmt_value,
    row_sort_key,
    subject_label,
    unit_of,
)


def _district_index(site: Site, district: str) -> dict[tuple, tuple]:
    d = site.district_safe
    if d is None or not len(d) or not district:
        return {}
    d = d[d["org_code"].astype(str) == district]
    return {(r.metric, text(r.subject), text(r.grade), int(r.school_year)): (num(r.value), num(r.n), bool(r.withheld))
            for r in d.itertuples()}


def _district_cell(idx: dict, metric: str, subject: str, grade: str, year: int | None, unit: str,
                   school_withheld: bool) -> dict | None:
    if not idx:  # no district rows at all: one sentence under the table, not one per row
        return None
    if year is None:
        return cell(DASH, cls="")
    if school_withheld:  # a one-school district's figure is the school's own: never beside a withheld school cell
        return cell(DASH, honest.WITHHELD, why=True)
    for g in (grade, *GRADE_PREFERENCE):
        hit = idx.get((metric, subject, g, year))
        if hit is not None:
            v, n, withheld = hit
            if withheld or v is None:
                return cell(DASH, honest.WITHHELD, why=True)
            return cell(fmt_value(v, unit), fmt_n(n))
    return cell(DASH, "no district figure in the DESE exports loaded", why=True)


def context_section(site: Site, code: str, rows: list[dict], series: dict) -> dict | None:
    """The rows of the school/district/state table (school.html), None when the school has no measure."""
    district_code = text(site.roster.get(code, {}).get("district_code"))
    district_name = text(site.roster.get(code, {}).get("district_name")) or "District"
    idx = _district_index(site, district_code)
    trs, seen = [], set()
    for r in sorted(rows, key=lambda r: row_sort_key(site, r)):
        t = labels.target_info(site.targets, r["target_id"])
        key = (text(r.get("metric")), text(r.get("subject")), text(r.get("source")))
        if t.is_gap or (r.get("subgroup") or "all") != "all" or not key[0] or key in seen:
            continue
        seen.add(key)
        metric, subject, source = key
        unit, year = unit_of(site, r), num(r.get("current_year"))
        year = int(year) if year is not None else None
        grade = text(r.get("grade"))
        pts = next((series[k] for g in (grade, *GRADE_PREFERENCE)
                    if (k := ("all", metric, subject or None, source, g)) in series), [])
        state = next((sv for y, _v, _n, sv, _g, _w in pts if y == year), None)
        cur = num(r.get("current_value"))
        school = cell(fmt_value(cur, unit), fmt_n(r.get("n_current"))) if cur is not None else cell(
            DASH, honest.missing_reason(text(r.get("withheld")) in ("current", "both"), year), why=True)
        m_label = site.metrics.get(metric, {}).get("label", metric)
        trs.append({"metric": metric, "subject": subject, "year": year, "school": school,
                    "measure": f"{t.short}: {m_label}" + (" · " + subject_label(subject) if subject else ""),
                    "source": SOURCE_LABEL.get(source, source), "peer": honest.peer_context(r),
                    "district": _district_cell(idx, metric, subject, grade, year, unit, cur is None),
                    "state": cell(fmt_value(state, unit), None if state is not None else
                                  "no state figure for this measure", why=True)})
    return {"district": district_name, "has_district": bool(idx), "rows": trs} if trs else None

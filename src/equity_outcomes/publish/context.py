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
    esc,
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
                   school_withheld: bool) -> str:
    if not idx:  # no district rows at all: one sentence under the table, not one per row
        return ""
    if year is None:
        return f"<td>{DASH}</td>"
    if school_withheld:  # a one-school district's figure is the school's own: never beside a withheld school cell
        return f'<td class="num">{DASH}<span class="n why">{esc(honest.WITHHELD)}</span></td>'
    for g in (grade, *GRADE_PREFERENCE):
        hit = idx.get((metric, subject, g, year))
        if hit is not None:
            v, n, withheld = hit
            if withheld or v is None:
                return f'<td class="num">{DASH}<span class="n why">{esc(honest.WITHHELD)}</span></td>'
            return f'<td class="num">{esc(fmt_value(v, unit))}<span class="n">{esc(fmt_n(n))}</span></td>'
    return f'<td class="num">{DASH}<span class="n why">no district figure in the DESE exports loaded</span></td>'


def context_section(site: Site, code: str, rows: list[dict], series: dict) -> str:
    district_code = text(site.roster.get(code, {}).get("district_code"))
    district_name = text(site.roster.get(code, {}).get("district_name")) or "District"
    idx = _district_index(site, district_code)
    trs, seen = [], set()
    no_state = '<span class="n why">no state figure for this measure</span>'
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
        school = (f'{esc(fmt_value(cur, unit))}<span class="n">{esc(fmt_n(r.get("n_current")))}</span>'
                  if cur is not None else f'{DASH}<span class="n why">'
                  f'{esc(honest.missing_reason(text(r.get("withheld")) in ("current", "both"), year))}</span>')
        m_label = site.metrics.get(metric, {}).get("label", metric)
        trs.append(
            f'<tr data-metric="{esc(metric)}" data-subject="{esc(subject)}"><th scope="row">{esc(t.short)}: '
            f'{esc(m_label)}{esc(" · " + subject_label(subject) if subject else "")}<span class="n">'
            f'{esc(SOURCE_LABEL.get(source, source))}</span></th><td class="num">{year or DASH}</td>'
            f'<td class="num">{school}</td>{_district_cell(idx, metric, subject, grade, year, unit, cur is None)}'
            f'<td class="num">{esc(fmt_value(state, unit))}{"" if state is not None else no_state}</td>'
            f'<td>{esc(honest.peer_context(r))}</td></tr>')
    if not trs:
        return ""
    district_th = f'<th scope="col" class="num">District: {esc(district_name)}</th>' if idx else ""
    note = "" if idx else (f'<p class="note">No district figures for {esc(district_name)} in the DESE exports '
                           "loaded (add DESE's district-level profile exports to show them).</p>")
    return (f'<section id="context"><h2>School, district and state</h2><p class="lead">Each measure of the '
            f"scorecard in its judged year: this school beside {esc(district_name)} and the state (district figures "
            "as DESE publishes them in the exports loaded), and how similar schools changed.</p>"
            f'<div class="matrix-wrap"><table class="context"><caption>All students, judged year</caption><thead><tr>'
            f'<th scope="col">Measure</th><th scope="col" class="num">Year</th><th scope="col" class="num">This '
            f'school</th>{district_th}<th scope="col" '
            f'class="num">State</th><th scope="col">Similar schools (change)</th></tr></thead>'
            f'<tbody>{"".join(trs)}</tbody></table></div>{note}</section>')

"""publish_scorecards: the offline site (network page, one page per school, shared assets) and its exports.

Layout of ``out_dir``::

    index.html                    the network: schools x targets matrix, rating counts, pooled trends, readiness
    schools/<org_code>.html       one scorecard per school
    assets/vega-bundle.js         ONE local copy of vega + vega-lite + vega-embed (vl_convert.javascript_bundle)
    assets/chart-templates.js     the Altair-built chart specs every page fills with its own rows
    assets/scorecards.{css,js}, assets/diagnostics.js
    exports/network.xlsx          + exports/network/<table>.csv
    exports/<org_code>.xlsx       + exports/<org_code>/<table>.csv
    exports/metric_definitions.csv

The site is built in a sibling folder and moved into place at the end, so a failed run leaves the previous site.
"""

from __future__ import annotations

import os
import shutil
import time
from collections import defaultdict
from collections.abc import Callable
from datetime import UTC, datetime
from importlib.resources import files
from pathlib import Path

from ..errors import EquityOutcomesError
from ..warehouse import connect_read_only
from . import history, honest, labels
from .charts import templates_js, vega_bundle
from .context import context_section
from .data import Site, latest_readiness, load_site, num, series_index, text
from .disclosure import load_rules
from .disclosure.rules import Rules
from .exports import Exports
from .html import (
    DASH,
    GRADE_PREFERENCE,
    SOURCE_LABEL,
    Charts,
    change_text,
    counts_chips,
    esc,
    flags_html,
    fmt_n,
    fmt_pct,
    fmt_value,
    legend_html,
    lowest,
    noise_text,
    page,
    rating_cell,
    rating_counts,
    records,
    row_sort_key,
    safe_name,
    school_label,
    subgroup_label,
    subject_label,
    target_line,
    target_text,
    trend_table,
    unit_of,
)
from .network import network_page
from .pdf import cards_for_site, chromium_path, print_report_cards
from .workbook import write_text

Progress = Callable[[str], None] | None
MANAGED = ("index.html", "schools", "exports", "assets", "reports")
# written to <out>/assets/ next to the Vega bundle: the stylesheet, the page-diagnostics script (records errors and
# every loaded resource into hidden elements, which the browser tests read) and the page script (merges chart
# templates with each chart's rows and renders them with vega-embed; filters the school matrix)
STATIC_ASSETS = ("scorecards.css", "diagnostics.js", "scorecards.js")
SUBJECT_ORDER_KEY = {"ela": 0, "math": 1, "sci": 2}


def _choose_grade(series: dict, subgroup: str, metric: str, subject, source: str, match: list[tuple[int, float]]):
    grades = [g for g in GRADE_PREFERENCE if (subgroup, metric, subject, source, g) in series]
    if not grades:
        return None
    for g in grades:
        pts = {y: v for y, v, *_ in series[(subgroup, metric, subject, source, g)]}
        if match and all(y in pts and pts[y] is not None and abs(pts[y] - v) < 1e-6 for y, v in match):
            return g
    return grades[0]


def _years_cell(field: str, year, value, n, unit: str, *, gap: bool, withheld: bool) -> str:
    y = text(year).split(".")[0] if num(year) is not None else ""
    v = fmt_value(value, unit, gap=gap)
    dv = num(value)
    why = f'<span class="n why">{esc(honest.missing_reason(withheld, year))}</span>' if dv is None else ""
    data_value = f' data-value="{dv!r}"' if dv is not None else ""
    title = f' title="{honest.WITHHELD}"' if withheld else ""
    return (f'<td class="num" data-field="{field}"{data_value}{title}>'
            f'{esc(y + ": " if y else "")}{esc(v)}<span class="n">{esc(fmt_n(n))}</span>{why}</td>')


# --- school page -------------------------------------------------------------------------------------------------
def _score_row(site: Site, r: dict, first: str) -> str:
    t = labels.target_info(site.targets, r["target_id"])
    unit = unit_of(site, r)
    subj = subject_label(r.get("subject")) if text(r.get("subject")) else ""
    m_label = site.metrics.get(text(r.get("metric")), {}).get("label", text(r.get("metric")))
    sg = r.get("subgroup") or "all"
    who = "" if sg == "all" else subgroup_label(site, sg) + " · "
    withheld = text(r.get("withheld"))
    main, ci = change_text(site, r)
    noise = noise_text(r)
    prog = num(r.get("progress_pct"))
    flags = labels.split_flags(r.get("flags"))
    context = (f'<span data-field="state_change_rel_pct">{esc(honest.state_context(r))}</span>'
               f'<span class="ctx" data-field="peer_change_rel_pct">{esc(honest.peer_context(r))}</span>')
    return (
        f'<tr data-target="{esc(r["target_id"])}" data-subject="{esc(text(r.get("subject")))}" '
        f'data-subgroup="{esc(sg)}" data-source="{esc(text(r.get("source")))}">'
        + first
        + f'<th scope="row" class="measure">{esc(who)}{esc(subj or m_label)}'
        + f'<span class="n">{esc((m_label + ", ") if subj else "")}{esc(SOURCE_LABEL.get(text(r.get("source")), ""))}'
        + "</span></th>"
        + _years_cell("baseline_value", r.get("baseline_year"), r.get("baseline_value"), r.get("n_baseline"), unit,
                      gap=t.is_gap, withheld=withheld in ("baseline", "both"))
        + _years_cell("current_value", r.get("current_year"), r.get("current_value"), r.get("n_current"), unit,
                      gap=t.is_gap, withheld=withheld in ("current", "both"))
        + f'<td class="num" data-field="target_value">{esc(target_text(site, r))}</td>'
        + f'<td class="num" data-field="progress_pct">{esc(fmt_pct(prog, signed=False))}</td>'
        + rating_cell(r, attrs=' data-field="rating"')
        + f'<td data-field="change">{esc(main)}'
        + (f'<span class="ci">{esc(ci)}</span>' if ci else "")
        + (f'<span class="ci">{esc(noise)}</span>' if noise else "") + "</td>"
        + f'<td class="context">{context}</td>'
        + f'<td data-field="flags">{flags_html(flags)}</td></tr>'
    )


def _state_ref(site: Site, target_id: str) -> bool:
    """A gap target measured against the state average (else against the rest of the school)."""
    return labels.target_info(site.targets, target_id).reference == "state"


def _gap_summary_row(site: Site, tid: str, subject, rows: list[dict], first: str) -> str:
    low = lowest(rows)
    subj = subject_label(subject) if text(subject) else ""
    rated = sum(1 for r in rows if text(r.get("status")) in labels.RATED)
    ref = "the state average" if _state_ref(site, tid) else "the rest of the school"
    return (
        f'<tr data-target="{esc(tid)}" data-subject="{esc(text(subject))}" data-subgroup="lowest">' + first
        + f'<th scope="row" class="measure">{esc(subj or "All groups")}<span class="n">lowest of {len(rows)} '
          "groups</span></th>"
        + f'<td colspan="4" class="note">Gap of each group to {ref}: {rated} of {len(rows)} groups rated; see '
          '<a href="#groups">Student groups</a>.</td>'
        + rating_cell(low, attrs=' data-field="rating"')
        + '<td colspan="2" class="note">The rating shown is the lowest group\'s.</td>'
        + f'<td data-field="flags">{flags_html(sorted({f for r in rows for f in labels.split_flags(r.get("flags"))}))}</td></tr>'
    )


HEAD = (files(__package__) / "templates" / "scorecard_head.html").read_text(encoding="utf-8")  # columns, header


def _scorecard_table(site: Site, rows: list[dict]) -> tuple[str, list[dict], set[str]]:
    """Main table: all-students rows of every target; gap targets one 'lowest of the groups' row per subject."""
    by_target: dict[str, list] = defaultdict(list)
    gap_groups: dict[tuple, list] = defaultdict(list)
    has_all = {r["target_id"] for r in rows if (r.get("subgroup") or "all") == "all"}
    for r in sorted(rows, key=lambda r: row_sort_key(site, r)):
        t = labels.target_info(site.targets, r["target_id"])
        if t.is_gap or r["target_id"] not in has_all:
            if r.get("subgroup") in labels.REQUIRED_SUBGROUPS:
                gap_groups[(r["target_id"], text(r.get("subject")))].append(r)
        elif (r.get("subgroup") or "all") == "all":
            by_target[r["target_id"]].append(r)
    ids = sorted({*by_target, *(k[0] for k in gap_groups)},
                 key=lambda i: row_sort_key(site, {"target_id": i, "subject": None, "subgroup": "all"}))
    body, flags_seen, summary_rows = [], set(), []
    current_cat = None
    for tid in ids:
        t = labels.target_info(site.targets, tid)
        if t.category != current_cat:
            current_cat = t.category
            body.append(f'<tbody class="cat"><tr class="cat"><th colspan="10" scope="rowgroup">{esc(t.category)}'
                        "</th></tr></tbody>")
        items: list[tuple[str, object]] = [("row", r) for r in by_target.get(tid, [])]
        for (gid, subj), grp in sorted(gap_groups.items(), key=lambda kv: labels.SUBJECT_LABEL.get(kv[0][1], "")):
            if gid == tid:
                items.append(("gap", (subj, grp)))
        words = esc(t.label) + (f'<span class="n">{esc("; ".join(t.areas))}</span>' if t.areas else "")
        first = f'<th scope="rowgroup" rowspan="{len(items)}" class="target-words"><b>{esc(t.short)}</b>{words}</th>'
        trs = []
        for i, (kind, item) in enumerate(items):
            lead = first if i == 0 else ""
            if kind == "row":
                trs.append(_score_row(site, item, lead))
                summary_rows.append(item)
                flags_seen.update(labels.split_flags(item.get("flags")))
            else:
                subj, grp = item
                trs.append(_gap_summary_row(site, tid, subj or None, grp, lead))
                low = lowest(grp)
                if low is not None:
                    summary_rows.append(low)
                for g in grp:
                    flags_seen.update(labels.split_flags(g.get("flags")))
        body.append(f'<tbody>{"".join(trs)}</tbody>')
    if not ids:
        return '<p class="note">No target results for this school yet.</p>', [], set()
    table = (f'<div class="matrix-wrap"><table class="scorecard"><caption>Outcomes targets, all students '
             f'(baseline year &rarr; current year)</caption>{HEAD}{"".join(body)}</table></div>')
    return table, summary_rows, flags_seen


def _flags_dl(flags: set[str]) -> str:
    if not flags:
        return ""
    items = "".join(f"<dt>{esc(labels.FLAG_SHORT.get(f, f))}</dt><dd>{esc(labels.flag_text(f))}</dd>"
                    for f in sorted(flags))
    return f'<h3>What the notes mean</h3><dl class="flags">{items}</dl>'


def _trend_figures(site: Site, charts: Charts, series: dict, rows: list[dict], who: str) -> str:
    figs, seen = [], set()
    for r in sorted(rows, key=lambda r: row_sort_key(site, r)):
        t = labels.target_info(site.targets, r["target_id"])
        if t.is_gap or (r.get("subgroup") or "all") != "all":
            continue
        metric, subject, source = r["metric"], r.get("subject") or None, text(r.get("source"))
        if not metric or (metric, subject, source) in seen:
            continue
        seen.add((metric, subject, source))
        match = [(int(num(r[y])), num(r[v])) for y, v in (("baseline_year", "baseline_value"),
                                                           ("current_year", "current_value"))
                 if num(r.get(y)) is not None and num(r.get(v)) is not None]
        grade = text(r.get("grade"))
        if ("all", metric, subject, source, grade) not in series:
            grade = _choose_grade(series, "all", metric, subject, source, match)
        if grade is None:
            continue
        pts = series[("all", metric, subject, source, grade)]
        unit = site.metrics.get(metric, {}).get("unit", "percent")
        m_label = site.metrics.get(metric, {}).get("label", metric)
        data = [{"year": y, "value": round(v, 2), "n": n, "series": who, "kind": "school", "order": 0}
                for y, v, n, _s, _g, _w in pts if v is not None]
        if not data:
            continue
        has_state = any(s is not None for _y, _v, _n, s, _g, _w in pts)
        data += [{"year": y, "value": round(s, 2), "n": None, "series": "State (all students)", "kind": "state",
                  "order": 1} for y, _v, _n, s, _g, _w in pts if s is not None]
        by = num(r.get("baseline_year"))
        baseline = [{"year": int(by), "label": f"Baseline {int(by)}"}] if by is not None else []
        base_val = next((v for y, v, *_ in pts if by is not None and y == int(by)), None)
        tline = target_line(t, base_val, r.get("target_value")) if by is not None or t.rule in (
            "share_improved", "level", "level_or_increase") else None
        target = [{"value": round(tline, 2), "label": f"Target {fmt_value(tline, unit)}"}] if tline is not None else []
        title = m_label + (f" — {subject_label(subject)}" if subject else "")
        subtitle = (f"{t.short}: {labels.grade_label(grade)}, {SOURCE_LABEL.get(source, source)}"
                    + ("; dashed: state average" if has_state else ""))
        figs.append(charts.figure(
            f"trend_{unit}" if f"trend_{unit}" in ("trend_percent", "trend_sgp", "trend_score", "trend_rate")
            else "trend_percent",
            title, subtitle, {"series": data, "baseline": baseline, "target": target},
            caption=esc(f"Dotted line: baseline year {int(by)}. " if by is not None else "")
            + (esc(f"Green dashed line: target ({fmt_value(tline, unit)}). ") if tline is not None else "")
            + "Missing points: no data or withheld (small group).",
            table=trend_table(pts, unit, has_state),
            meta={"metric": metric, "subject": subject, "grade": grade, "source": source, "subgroup": "all"}))
    if not figs:
        return '<p class="note">No published values to chart yet.</p>'
    return f'<div class="grid">{"".join(figs)}</div>'


def _groups_section(site: Site, charts: Charts, series: dict, rows: list[dict]) -> str:
    groups = ["all", *labels.REQUIRED_SUBGROUPS]
    cells: dict[tuple, dict] = {}
    keys = []
    for r in sorted(rows, key=lambda r: row_sort_key(site, r)):
        k = (r["target_id"], text(r.get("subject")))
        if k not in keys:
            keys.append(k)
        cells[(*k, r.get("subgroup") or "all")] = r
    out = ['<section id="groups"><h2>Student groups</h2>',
           '<p class="lead">Each required group beside all students. Gap targets compare a group with the state '
           'average (state assessments) or with the rest of the school (capstone).</p>']
    if keys:
        head = "".join(f'<th scope="col">{esc(subgroup_label(site, g))}</th>' for g in groups)
        trs = []
        for tid, subj in keys:
            t = labels.target_info(site.targets, tid)
            name = t.short + (f" · {subject_label(subj)}" if subj else "")
            tds = []
            for g in groups:
                r = cells.get((tid, subj, g))
                if r is None:
                    tds.append('<td class="rating s-none">&nbsp;</td>')
                    continue
                unit = unit_of(site, r)
                cur = fmt_value(r.get("current_value"), unit, gap=t.is_gap)
                sub = num(r.get("current_subgroup_value"))
                if t.is_gap and sub is not None:
                    cur += f" ({fmt_value(sub, unit)})"
                cls = labels.rating_css(r.get("rating"), text(r.get("status")) or None)
                txt = labels.rating_text(r.get("rating"), text(r.get("rating_label")) or None,
                                         text(r.get("status")) or None)
                dv = num(r.get("current_value"))
                tds.append(
                    f'<td class="rating {cls}" data-target="{esc(tid)}" data-subject="{esc(subj)}" '
                    f'data-subgroup="{esc(g)}" data-status="{esc(text(r.get("status")))}"'
                    + (f' data-value="{dv!r}"' if dv is not None else "")
                    + (f' title="{esc(text(r.get("status_reason")))}"' if text(r.get("status_reason")) else "")
                    + f'>{esc(txt)}'
                    f'<span class="n">{esc(cur)} {esc(fmt_n(r.get("n_current")))}</span></td>')
            trs.append(f'<tr><th scope="row">{esc(name)}</th>{"".join(tds)}</tr>')
        out.append(f'<div class="matrix-wrap"><table class="groups"><caption>Ratings by student group (current '
                   f'value and n below each rating)</caption><thead><tr><th scope="col">Target</th>{head}</tr>'
                   f'</thead><tbody>{"".join(trs)}</tbody></table></div>')
    # charts: subgroup values with the state average, and gaps to the state, for the gap targets' measures
    combos = []
    gap_grade: dict[tuple, str] = {}
    for r in rows:
        t = labels.target_info(site.targets, r["target_id"])
        if t.is_gap:
            c = (r["metric"], r.get("subject") or None, text(r.get("source")), r["target_id"])
            if c not in combos:
                combos.append(c)
                gap_grade.setdefault(c, text(r.get("grade")))
    state_gap = next((t for t in site.targets.values() if t.reference == "state" and t.metrics), None)
    if not combos and state_gap is not None:  # no gap rows: the state gap target's measure, for every subgroup
        for (g, metric, subject, source, _grade) in series:
            c = (metric, subject, source, state_gap.id)
            if g == "all" and metric == state_gap.metrics[0] and c not in combos:
                combos.append(c)
    combos.sort(key=lambda c: (not _state_ref(site, c[3]), c[3], SUBJECT_ORDER_KEY.get(c[1] or "", 9)))
    figs = []
    for metric, subject, source, tid in combos:
        grade = gap_grade.get((metric, subject, source, tid))
        if grade not in GRADE_PREFERENCE or not any((sg, metric, subject, source, grade) in series for sg in groups):
            grade = next((g for g in GRADE_PREFERENCE if ("all", metric, subject, source, g) in series), None)
        if grade is None:
            grade = next((g for g in GRADE_PREFERENCE if any((sg, metric, subject, source, g) in series
                                                            for sg in labels.REQUIRED_SUBGROUPS)), None)
        if grade is None:
            continue
        unit = site.metrics.get(metric, {}).get("unit", "percent")
        m_label = site.metrics.get(metric, {}).get("label", metric)
        subj_txt = f" — {subject_label(subject)}" if subject else ""
        vals, gaps, table_rows = [], [], []
        state_pts = {}
        years = set()
        for g in groups:
            pts = series.get((g, metric, subject, source, grade), [])
            label = subgroup_label(site, g)
            for y, v, n, sv, gp, _w in pts:
                years.add(y)
                if v is not None:
                    vals.append({"year": y, "value": round(v, 2), "n": n, "group": label, "kind": "school"})
                if gp is not None and g != "all":
                    gaps.append({"year": y, "gap": round(gp, 2), "group": label})
                if g == "all" and sv is not None:
                    state_pts[y] = sv
            table_rows.append((label, {y: (v, gp) for y, v, _n, _sv, gp, _w in pts}))
        if not vals:
            continue
        state_ok = _state_ref(site, tid) and bool(state_pts)
        if state_ok:
            vals += [{"year": y, "value": round(s, 2), "n": None, "group": "State (all students)", "kind": "state"}
                     for y, s in sorted(state_pts.items())]
        ys = sorted(years)
        thead = "".join(f'<th scope="col" class="num">{y}</th>' for y in ys)
        tb = "".join(
            f'<tr><th scope="row">{esc(lbl)}</th>'
            + "".join(f"<td>{fmt_value(d.get(y, (None, None))[0], unit)}"
                      + (f'<span class="n">gap {fmt_value(d.get(y, (None, None))[1], unit, gap=True)}</span>'
                         if state_ok and lbl != "All students" else "") + "</td>" for y in ys) + "</tr>"
            for lbl, d in table_rows)
        if state_ok:
            tb += ('<tr><th scope="row">State (all students)</th>'
                   + "".join(f"<td>{fmt_value(state_pts.get(y), unit)}</td>" for y in ys) + "</tr>")
        table = f'<table><thead><tr><th scope="col">Group</th>{thead}</tr></thead><tbody>{tb}</tbody></table>'
        tpl = "subgroups_percent" if unit == "percent" else "subgroups_score"
        figs.append(charts.figure(
            tpl, f"{m_label}{subj_txt} by group",
            f"{labels.grade_label(grade)}, {SOURCE_LABEL.get(source, source)}"
            + ("; dashed: state average (all students)" if state_ok else ""),
            {"series": vals}, caption="Groups under the minimum size are not shown.", table=table,
            meta={"metric": metric, "subject": subject, "grade": grade, "source": source,
                  "groups": {subgroup_label(site, g): g for g in groups}}))
        if state_ok and gaps:
            figs.append(charts.figure(
                "gaps", f"Gap to the state average{subj_txt}",
                f"{m_label}: group minus state, in points",
                {"series": gaps}, caption="Above 0: the group is above the state average.",
                meta={"metric": metric, "subject": subject, "grade": grade, "source": source,
                      "groups": {subgroup_label(site, g): g for g in groups}}))
    if figs:
        out.append(f'<div class="grid">{"".join(figs)}</div>')
    out.append("</section>")
    return "".join(out)


def _readiness_section(site: Site, charts: Charts, code: str, recs: list[dict] | None) -> str:
    if not recs:
        return ""
    year = int(num(recs[0]["school_year"]))
    data, trs = [], []
    for i, r in enumerate(recs):
        typ = "Condition" if text(r.get("area_type")) == "condition" else "Principle"
        name = text(r.get("area_name"))
        mean = num(r.get("mean_rating"))
        if mean is not None:
            data.append({"area": f"{typ[0]}{text(r.get('area_number')).split('.')[0]}. {name}", "type": typ,
                         "mean": round(mean, 2), "raters": num(r.get("n_raters")), "order": i})
        chg = num(r.get("change_from_prior_year"))
        trs.append(
            f'<tr><th scope="row">{esc(typ)} {esc(text(r.get("area_number")).split(".")[0])}: {esc(name)}</th>'
            f'<td class="num">{esc(f"{mean:.2f}" if mean is not None else DASH)}</td>'
            f'<td class="num">{esc(f"{chg:+.2f}" if chg is not None else DASH)}</td>'
            f'<td class="num">{esc(text(r.get("n_raters")).split(".")[0] or DASH)}</td>'
            f'<td class="num">{esc(text(r.get("n_items_rated_1")).split(".")[0] or DASH)}</td></tr>')
    fig = charts.figure("readiness", f"Readiness self-assessment, {year}",
                        "Mean rating per area (1 Area of concern to 4 Sustainable)", {"series": data}) if data else ""
    return (f'<section id="readiness"><h2>Readiness for personalized learning ({year})</h2>'
            f'<p class="lead">Staff ratings of the School Planning Tool\'s conditions and principles.</p>'
            f'<div class="readiness">{fig}<div><table><caption>Mean rating by area</caption><thead><tr>'
            f'<th scope="col">Area</th><th scope="col" class="num">Mean rating</th>'
            f'<th scope="col" class="num">Change from prior year</th><th scope="col" class="num">Raters</th>'
            f'<th scope="col" class="num">Items rated 1</th></tr></thead><tbody>{"".join(trs)}</tbody></table>'
            "</div></div></section>")


def _year_panel(site: Site, rows: list[dict]) -> str:
    """One evaluated year: its rating counts, its scorecard and what its notes mean."""
    table, summary_rows, flags_seen = _scorecard_table(site, rows)
    return f'<div>{counts_chips(rating_counts(summary_rows))}</div>{table}{_flags_dl(flags_seen)}'


def school_page(site: Site, code: str, rows: list[dict], series: dict, rd: list[dict] | None,
                years: dict[int, list[dict]] | None = None) -> str:
    name, district = school_label(site, code)
    r = site.roster.get(code, {})
    charts = Charts()
    start = num(r.get("implementation_start_year"))
    base = num(r.get("baseline_year"))
    meta = [district, text(r.get("school_level")).title(), f"org code {code}"]
    if start is not None:
        meta.append(f"personalized learning since {int(start) - 1}-{str(int(start))[-2:]}"
                    + (f" (year {site.vintage - int(start) + 1} in {site.vintage})" if site.vintage else ""))
    if base is not None:
        meta.append(f"baseline year {int(base)}")
    years = years or ({site.judged_year: rows} if site.judged_year else {})
    all_years = [s[0] for pts in series.values() for s in pts]
    latest = max(all_years) if all_years else None
    body = (
        f'<header class="page"><nav class="crumbs"><a href="../index.html">&larr; Network scorecards</a></nav>'
        f"<h1>{esc(name)}</h1><p class=\"meta\">{esc(' · '.join(m for m in meta if m))}</p></header><main>"
        f'<section id="summary"><h2>At a glance</h2>{history.plain_summary(site, name, site.judged_year, rows)}'
        f'<p class="lead">Each Outcomes target is rated 1-4 against the '
        f"school's baseline year; targets not yet due, without enough data, or not comparable are shown as such."
        f"</p>{legend_html()}</section>"
        f'<section id="scorecard"><h2>Scorecard</h2>'
        f"{history.year_selector(years, lambda _y, rs: _year_panel(site, rs))}</section>"
        f"{context_section(site, code, rows, series)}{history.history_section(site, charts, years)}"
        f'<section id="trends"><h2>Trends</h2>'
        f"{_trend_figures(site, charts, series, rows, 'This school')}</section>"
        f"{_groups_section(site, charts, series, rows)}"
        f"{_readiness_section(site, charts, code, rd)}</main>"
    )
    fn = safe_name(code)
    footer = (f"<p><strong>This school's latest data:</strong> {latest if latest else DASH}. "
              f'Download: <a href="../exports/{fn}.xlsx">Excel workbook</a> · CSV: '
              f'<a href="../exports/{fn}/scorecard.csv">scorecard</a>, '
              f'<a href="../exports/{fn}/trends.csv">trends</a>'
              + (f', <a href="../exports/{fn}/readiness.csv">readiness</a>' if rd else "")
              + '. Metric definitions: <a href="../exports/metric_definitions.csv">metric_definitions.csv</a>.</p>')
    return page(f"{name} — Outcomes scorecard", body, prefix="../", site=site, footer_extra=footer)


# --- network page --------------------------------------------------------------------------------------------------
def publish_scorecards(
    warehouse: Path,
    out_dir: Path,
    *,
    progress: Progress = None,
    schools: list[str] | None = None,
    audit_files: bool = True,
    rules_file: Path | None = None,
    pdf: bool = False,
) -> dict:
    """Write the offline scorecard site for ``warehouse`` into ``out_dir``; returns n_pages, bytes, seconds, index,
    disclosure (what the control withheld) and audit (the attack on the written files). The site is built in a
    staging folder and audited there: a failed audit raises DisclosureError and leaves the previous site."""
    t0 = time.perf_counter()
    say = progress or (lambda _m: None)
    rules = load_rules(rules_file)
    if pdf and chromium_path() is None:
        raise EquityOutcomesError("publish --pdf needs Chromium to print the report cards: apt-get install chromium "
                                  "(or publish without --pdf)")
    out_dir = Path(out_dir).resolve()
    built_at = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    con = connect_read_only(warehouse)  # not `with`: tests/test_publish_safety.py spies on this connection
    try:
        site = load_site(con, schools=schools, built_at=built_at, say=say, rules=rules)
    finally:
        con.close()
    for w in site.warnings:
        say(f"scorecards: warning: {w}")
    t_load = time.perf_counter()

    tr = site.targets_safe
    tr_recs = records(tr) if len(tr) else []
    by_org: dict[str, list[dict]] = defaultdict(list)
    network_rows: list[dict] = []
    for r in tr_recs:
        r["subgroup"] = r.get("subgroup") or "all"
        if r.get("org_level") == "network":
            network_rows.append(r)
        else:
            by_org[str(r["org_code"])].append(r)
    site.targets_by_org = {c: by_org.get(c, []) for c in site.pages}
    series = series_index(site.mv_safe, {"all", *labels.REQUIRED_SUBGROUPS})
    years = history.by_year(site, by_org, network_rows)
    readiness_by = latest_readiness(site)

    out_dir.parent.mkdir(parents=True, exist_ok=True)
    stage = out_dir.parent / f".{out_dir.name}.publishing-{os.getpid()}"
    shutil.rmtree(stage, ignore_errors=True)
    (stage / "schools").mkdir(parents=True)
    (stage / "assets").mkdir()
    (stage / "exports").mkdir()
    try:
        total = 0
        assets = {"vega-bundle.js": vega_bundle(), "chart-templates.js": templates_js(),
                  **{name: (files(__package__) / "assets" / name).read_text(encoding="utf-8") for name in STATIC_ASSETS}}
        for fname, content in assets.items():
            total += write_text(stage / "assets" / fname, content)
        total += write_text(stage / "index.html", network_page(site, by_org, series.get("network", {}), network_rows,
                                                              years))
        exports = Exports(site, stage / "exports", by_org)
        total += exports.network()
        t_net = time.perf_counter()
        say(f"scorecards: network page and exports written ({t_net - t_load:.1f} s)")
        for i, code in enumerate(site.pages, start=1):
            fn = safe_name(code)
            html = school_page(site, code, by_org.get(code, []), series.get(code, {}), readiness_by.get(code),
                               years.get(code))
            total += write_text(stage / "schools" / f"{fn}.html", html)
            total += exports.school(code, fn)
            if i % 250 == 0:
                say(f"scorecards: {i:,} of {len(site.pages):,} schools written")
        audit = _audit(stage, say, rules, site.solved) if audit_files else None
        printed = print_report_cards(cards_for_site(site, stage), built_at, say) if pdf else None
        # move into place
        out_dir.mkdir(parents=True, exist_ok=True)
        for name in MANAGED:
            dst = out_dir / name
            if dst.is_dir():
                shutil.rmtree(dst)
            elif dst.exists():
                dst.unlink()
            if (stage / name).exists():  # reports/ only with --pdf: no stale report cards beside a new site
                os.replace(stage / name, dst)
    finally:
        shutil.rmtree(stage, ignore_errors=True)
    seconds = time.perf_counter() - t0
    n_pages = len(site.pages) + 1
    say(f"scorecards: {n_pages:,} pages, {total / 1e6:.1f} MB in {seconds:.1f} s (data {t_load - t0:.1f} s) "
        f"-> {out_dir / 'index.html'}")
    return {"n_pages": n_pages, "bytes": total, "seconds": round(seconds, 2), "index": out_dir / "index.html",
            "disclosure": site.disclosure, "audit": audit, "pdf": printed}


def _audit(stage: Path, say, rules: Rules, solved: dict) -> dict:
    """Attack the staged files; refuse to publish them when anything is recovered. ``solved``: the control's
    answers by programme, used where the files give the very same programme."""
    from .disclosure import DisclosureError
    from .disclosure.audit import audit_publication

    t0 = time.perf_counter()
    report = audit_publication(stage, rules=rules, solved=solved)
    say(f"scorecards: disclosure audit of the written files ({time.perf_counter() - t0:.1f} s): "
        + ("nothing recovered" if report.ok else "FAILED"))
    if not report.ok:
        raise DisclosureError("the disclosure audit of the new publication failed; the previous one is left in "
                              "place.\n" + report.text())
    return {"ok": True, "tried": report.tried, "withheld_cells": report.withheld_cells,
            "published_cells": report.published_cells}

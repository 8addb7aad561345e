"""The network page (``index.html``, template ``network.html``): the schools x targets matrix, rating counts, the
network's pooled trends and the readiness overview. This module picks the rows and words them; the template lays
them out."""

from __future__ import annotations

from collections import defaultdict
from itertools import groupby

import pandas as pd

from . import history, labels
from .data import Site, num, page_readiness, text
from .html import (
    CHART_CATEGORIES,
    DASH,
    GRADE_PREFERENCE,
    SHORT,
    SOURCE_LABEL,
    Charts,
    fmt_value,
    lowest,
    page,
    rating,
    rating_class,
    rating_words,
    row_sort_key,
    rule_lines,
    safe_name,
    school_label,
    subject_label,
    trend_rows,
    trend_table,
    trend_template,
    unit_of,
)

HEATMAP_MAX_SCHOOLS = 120


def matrix_columns(site: Site, by_org: dict[str, list[dict]]) -> list[tuple[str, str]]:
    """The matrix's (target, subject) columns over the published schools' rows, in the scorecards' order."""
    seen: dict[tuple[str, str], tuple] = {}
    for r in (r for c in site.pages for r in by_org.get(c, [])):
        t = labels.target_info(site.targets, r["target_id"])
        if t.is_gap or (r.get("subgroup") or "all") == "all":
            k = (r["target_id"], text(r.get("subject")))
            seen.setdefault(k, row_sort_key(site, {"target_id": k[0], "subject": k[1], "subgroup": "all"}))
    return sorted(seen, key=lambda k: seen[k])


def matrix_row(site: Site, rows: list[dict], cols: list[tuple[str, str]]) -> list[tuple[dict | None, int]]:
    """A school's result per matrix column, and of how many groups: its all-students row, or a gap target's
    lowest-rated required group (page and export alike)."""
    idx: dict[tuple, list] = defaultdict(list)
    for r in rows:
        idx[(r["target_id"], text(r.get("subject")))].append(r)
    out = []
    for k in cols:
        grp = idx.get(k, [])
        if labels.target_info(site.targets, k[0]).is_gap:
            grp = [r for r in grp if r.get("subgroup") in labels.REQUIRED_SUBGROUPS]
            out.append((lowest(grp), len(grp)))
        else:
            out.append((next((r for r in grp if (r.get("subgroup") or "all") == "all"), None), 0))
    return out


def _matrix_cell(r: dict | None, n_groups: int = 0) -> dict | None:
    if r is None:
        return None
    cls, full = rating_class(r), rating_words(r) + (f" (lowest of {n_groups} groups)" if n_groups else "")
    return {"cls": cls, "full": full, "target": r["target_id"], "subject": text(r.get("subject")),
            "status": text(r.get("status")), "short": SHORT.get(cls, cls[1:] if cls.startswith("r") else "")}


def _matrix_and_counts(site: Site, by_org: dict[str, list[dict]], network_rows: list[dict]) -> dict:
    """One evaluated year: rating counts, the schools x targets matrix and the ratings per target."""
    cols = matrix_columns(site, by_org)
    # header rows: categories (each over its run of columns), then targets
    cats = [[c, len(list(run))] for c, run in groupby(labels.target_info(site.targets, t).category for t, _s in cols)]
    heads = [(labels.target_info(site.targets, t).short, subject_label(s) if s else "",
              labels.target_info(site.targets, t).is_gap) for t, s in cols]
    col_counts: dict[tuple, dict] = {k: defaultdict(int) for k in cols}
    total = defaultdict(int)  # counts over the network's own schools, as the summary (history.network_pages)
    network = set(history.network_pages(site))
    body = []
    for code in site.pages:
        name, district = school_label(site, code)
        if code not in network:
            district = ", ".join(p for p in (district, "comparison school") if p)
        tds = []
        for k, (r, n_groups) in zip(cols, matrix_row(site, by_org.get(code, []), cols), strict=True):
            cell = _matrix_cell(r, n_groups)
            tds.append(cell)
            cls = cell["cls"] if cell else "s-none"
            col_counts[k][cls] += code in network
            total[cls] += code in network
        body.append({"code": code, "file": safe_name(code), "name": name, "district": district, "cells": tds})
    # rating counts per column + the network's pooled result
    net_idx = {(r["target_id"], text(r.get("subject"))): r for r in network_rows
               if (r.get("subgroup") or "all") == "all"}
    counts = []
    for k in cols:
        t = labels.target_info(site.targets, k[0])
        nr = net_idx.get(k)
        counts.append({"target": k[0], "subject": k[1], "name": t.short + (" " + subject_label(k[1]) if k[1] else ""),
                       "counts": col_counts[k], "pooled": rating(nr) if nr else None,
                       "current": fmt_value(nr.get("current_value"), unit_of(site, nr), gap=t.is_gap) if nr else DASH})
    return {"total": total, "categories": cats, "heads": heads, "schools": body, "counts": counts}


def network_page(site: Site, by_org: dict[str, list[dict]], series: dict, network_rows: list[dict],
                 years: dict[str, dict[int, list]] | None = None) -> str:
    charts = Charts()
    years = years or {}
    evaluated = sorted({y for code in [*site.pages, "network"] for y in years.get(code, {})})
    if not evaluated:
        evaluated = [site.judged_year or 0]
        years = {c: {evaluated[0]: by_org.get(c, [])} for c in site.pages} | {"network": {evaluated[0]: network_rows}}
    panels = history.year_panels({y: [] for y in evaluated}, lambda y, _r: _matrix_and_counts(
        site, {c: years.get(c, {}).get(y, []) for c in site.pages}, years.get("network", {}).get(y, [])))
    latest = {c: years.get(c, {}).get(evaluated[-1], []) for c in site.pages}
    # the charts are numbered in this order (trends, readiness, history), not in their order on the page
    trends = _network_trends(site, charts, series, network_rows)
    readiness = _network_readiness(site, charts)
    return page("network.html", site, prefix="", n_schools=len(site.pages), panels=panels, trends=trends,
                summary=history.network_summary(site, evaluated[-1], latest), readiness=readiness,
                history=history.network_history_section(site, charts, years))


def _network_trends(site: Site, charts: Charts, series: dict, network_rows: list[dict]) -> list[dict]:
    combos: list[tuple] = []
    net_by = {(r["metric"], r.get("subject") or None): r for r in network_rows if (r.get("subgroup") or "all") == "all"}
    all_rows = sorted((r for rows in site.targets_by_org.values() for r in rows), key=lambda r: row_sort_key(site, r))
    for r in [*sorted(network_rows, key=lambda r: row_sort_key(site, r)), *all_rows]:
        t = labels.target_info(site.targets, r["target_id"])
        if t.category not in CHART_CATEGORIES or t.is_gap:
            continue
        c = (r["metric"], r.get("subject") or None, r["target_id"])
        if c not in combos:
            combos.append(c)
    figs = []
    for metric, subject, tid in combos:
        t = labels.target_info(site.targets, tid)
        unit = site.metrics.get(metric, {}).get("unit", "percent")
        avail = [(src, g) for src in ("student", "dese") for g in GRADE_PREFERENCE
                 if ("all", metric, subject, src, g) in series]
        if not avail:
            continue
        src = avail[0][0]
        grades = [g for s, g in avail if s == src]
        names = {g: "Network" + (f", {labels.grade_label(g)}" if len(grades) > 1 else "") for g in grades}
        data, has_state, tables = [], False, []
        for gi, g in enumerate(grades):
            pts = series[("all", metric, subject, src, g)]
            own, st = trend_rows(pts, names[g], "State" + (f", {labels.grade_label(g)}" if len(grades) > 1
                                                      else " (all students)"), 2 * gi)
            has_state = has_state or bool(st)
            data += own + st
            tables.append(trend_table(pts, unit, bool(st)))
        if not data:
            continue
        nr = net_by.get((metric, subject))
        baseline, target, _line = rule_lines(t, nr, series[("all", metric, subject, src, grades[0])], unit) \
            if nr is not None and num(nr.get("baseline_year")) is not None and len(grades) == 1 else ([], [], None)
        m_label = site.metrics.get(metric, {}).get("label", metric)
        figs.append(charts.figure(
            trend_template(unit), m_label + (f" — {subject_label(subject)}" if subject else ""),
            f"{t.short}: {SOURCE_LABEL.get(src, src)}, network schools pooled"
            + ("; dashed: state average" if has_state else ""),
            {"series": data, "baseline": baseline, "target": target},
            caption="Pooled over all network schools (all students).", tables=tables,
            meta={"metric": metric, "subject": subject, "source": src, "subgroup": "all", "org": "network",
                  "grades": {name: g for g, name in names.items()}}))
    return figs


def _network_readiness(site: Site, charts: Charts) -> dict | None:
    latest = page_readiness(site, latest=True)
    if latest is None:
        return None
    areas = latest[["area_type", "area_number", "area_name"]].drop_duplicates().sort_values(
        ["area_type", "area_number"])
    order = {(a.area_type, a.area_number): i for i, a in enumerate(areas.itertuples())}
    name_of = {c: school_label(site, c)[0] for c in latest["org_code"].unique()}

    def area_label(a) -> str:
        return f"{'C' if a.area_type == 'condition' else 'P'}{str(a.area_number).split('.')[0]}. {a.area_name}"

    n_schools = latest["org_code"].nunique()
    if n_schools <= HEATMAP_MAX_SCHOOLS:
        data = [{"school": f"{name_of[a.org_code]} ({a.org_code})", "area": area_label(a), "mean": round(float(a.mean_rating), 2),
                 "order": order[(a.area_type, a.area_number)]}
                for a in latest.itertuples() if num(a.mean_rating) is not None]
        fig = charts.figure("heatmap", "Readiness self-assessment: mean rating by area and school",
                            "Latest year per school; 1 Area of concern (orange) to 4 Sustainable (blue)",
                            {"series": data})
    else:
        lat = latest.assign(band=pd.cut(pd.to_numeric(latest["mean_rating"]), [0.99, 1.5, 2.0, 2.5, 3.0, 3.5, 4.0],
                                        labels=["1.0-1.5", "1.5-2.0", "2.0-2.5", "2.5-3.0", "3.0-3.5", "3.5-4.0"]))
        g = lat.groupby(["area_type", "area_number", "area_name", "band"], observed=True).size().reset_index(
            name="schools")
        data = [{"area": area_label(a), "band": str(a.band), "schools": int(a.schools),
                 "order": order[(a.area_type, a.area_number)]} for a in g.itertuples()]
        fig = charts.figure("distribution", "Readiness self-assessment: schools per mean-rating band",
                            f"{n_schools:,} schools, latest year each (a per-school heatmap is shown up to "
                            f"{HEATMAP_MAX_SCHOOLS} schools)", {"series": data})
    return {"n_schools": n_schools, "figure": fig}

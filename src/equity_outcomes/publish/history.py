"""Every evaluated year on one page: the rating history of each target (a chart and a table, from
``target_results_history`` after the disclosure control), the year selector (every evaluated year's scorecard
embedded in the page, switched in the browser, offline) and the plain-language summary at the top."""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Callable

import numpy as np
import pandas as pd

from . import honest, labels
from .data import Site, text
from .html import (
    CSS_NAME,
    SHORT,
    Charts,
    fmt_change,
    fmt_ci,
    lowest,
    rating_class,
    rating_words,
    records,
    row_sort_key,
    subject_label,
    unit_of,
)


def by_year(site: Site, current: dict[str, list[dict]], network_rows: list[dict]) -> dict[str, dict[int, list]]:
    """org_code ('network' for the pooled rows) -> evaluated year -> its published rows; the judged year is the
    current target_results (the history holds the same evaluation)."""
    out: dict[str, dict[int, list]] = defaultdict(lambda: defaultdict(list))
    h = site.history_safe
    if h is not None and len(h) and site.judged_year is not None:  # rows replaced below: not made into dicts
        code = np.where(h["org_level"].astype(str) == "network", "network", h["org_code"].astype(str))
        replaced = set(site.pages) | ({"network"} if network_rows else set())
        mine = pd.Series(code).isin(replaced).to_numpy()  # hashed (np.isin compares object arrays by sorting: 5.6 s at 1M)
        h = h[~((pd.to_numeric(h["evaluated_year"]) == site.judged_year).to_numpy() & mine)]
    if h is not None and len(h):
        for r in records(h):
            r["subgroup"] = r.get("subgroup") or "all"
            code = "network" if r.get("org_level") == "network" else str(r["org_code"])
            out[code][int(r["evaluated_year"])].append(r)
    if site.judged_year is not None:
        for code in site.pages:
            out[code][site.judged_year] = current.get(code, [])
        if network_rows:
            out["network"][site.judged_year] = network_rows
    return out


def headline_rows(site: Site, rows: list[dict]) -> list[tuple[str, dict]]:
    """(label, row) per target and subject for all students; a gap target's lowest-rated group."""
    groups: dict[tuple, list] = defaultdict(list)
    for r in sorted(rows, key=lambda r: row_sort_key(site, r)):
        t = labels.target_info(site.targets, r["target_id"])
        sg = r.get("subgroup") or "all"
        if (t.is_gap and sg in labels.REQUIRED_SUBGROUPS) or (not t.is_gap and sg == "all"):
            groups[(r["target_id"], text(r.get("subject")))].append(r)
    return [(labels.target_info(site.targets, tid).short + (f" · {subject_label(subj)}" if subj else ""),
             lowest(grp)) for (tid, subj), grp in groups.items()]


def history_section(site: Site, charts: Charts, years: dict[int, list[dict]]) -> dict | None:
    """Each target's rating in every evaluated year, with the change and its 95% interval (school.html)."""
    ys = sorted(years)
    if not ys:
        return None
    cells: dict[str, dict[int, dict]] = defaultdict(dict)
    order: dict[str, int] = {}
    for y in ys:
        for name, r in headline_rows(site, years[y]):
            cells[name][y] = r
            order.setdefault(name, len(order))
    data, rows = [], []
    for name in sorted(cells, key=order.get):
        tds = []
        for y in ys:
            r = cells[name].get(y)
            if r is None:
                tds.append(None)
                continue
            cls, ci = rating_class(r), fmt_ci(site, r)
            if honest.small_baseline(site, r):  # its interval is relative: the change in points instead
                ci = f"change {fmt_change(r.get('change_abs'), unit_of(site, r))}; {honest.small_baseline_note()}"
            data.append({"year": y, "target": name, "rating": CSS_NAME.get(cls, "Insufficient data"),
                         "short": SHORT.get(cls, cls[1:]), "interval": ci or "no interval", "order": order[name]})
            tds.append({"cls": cls, "year": y, "interval": ci or "no interval", "word": rating_words(r)})
        rows.append((name, tds))
    fig = charts.figure("history", "Rating history", f"Each year judged, {ys[0]} to {ys[-1]}",
                        {"series": data}, caption="4 Sustainable, 3 Moving toward, 2 Initial steps, 1 Area of "
                        "concern; grey: not due, no data or not comparable.") if data else None
    return {"years": ys, "figure": fig, "rows": rows}


def network_history_section(site: Site, charts: Charts, by_org: dict[str, dict[int, list]]) -> dict | None:
    """How many school x target results got each rating, per evaluated year (network.html)."""
    counts: dict[int, Counter] = defaultdict(Counter)
    network = network_pages(site)
    for code in network:
        for y, rows in by_org.get(code, {}).items():
            counts[y].update(rating_class(r) for _n, r in headline_rows(site, rows))
    if not counts:
        return None
    ys = sorted(counts)
    data = [{"year": y, "rating": name, "cells": counts[y].get(c, 0), "order": i}
            for y in ys for i, (c, name) in enumerate(CSS_NAME.items()) if counts[y].get(c)]
    fig = charts.figure("history_counts", "Ratings per year judged", f"{len(network):,} network schools, "
                        "all students (gap targets: the lowest-rated group)", {"series": data})
    return {"years": ys, "figure": fig, "counts": [counts[y] for y in ys]}


def year_panels(years: dict[int, list[dict]], view: Callable[[int, list[dict]], object]) -> list[tuple]:
    """Every evaluated year's panel, the latest first (macros.html ``year_selector``); [(None, panel)] when no
    year was evaluated."""
    return [(y, view(y, years[y])) for y in sorted(years, reverse=True)] or [(None, view(0, []))]


def _counted(heads: list[tuple[str, dict]]) -> tuple[int, str]:
    """How many of ``heads`` are rated, and the count of each rating in words."""
    c = Counter(rating_class(r) for _n, r in heads)
    rated = sum(c[k] for k in ("r4", "r3", "r2", "r1"))
    parts = [f"{c[k]:,} {w}" for k, w in (("r4", "met (4 Sustainable)"), ("r3", "moving toward (3)"),
                                        ("r2", "at initial steps (2)"), ("r1", "an area of concern (1)")) if c[k]]
    unrated = len(heads) - rated
    return rated, ((", ".join(parts) if parts else "none") + "."
                      + (f" {unrated:,} could not be rated yet (not yet due, too little data or not comparable)."
                         if unrated else ""))


def _paragraph(s: str) -> str:
    return f"{s} Ratings compare each target with its baseline year; the tables below give the figures and their " \
        "uncertainty."


def plain_summary(site: Site, who: str, year: int | None, rows: list[dict]) -> str:
    """One paragraph in plain words: how many targets at each rating, which were met, which need attention."""
    if not rows:
        return f"{who} has no judged targets yet."
    heads = headline_rows(site, rows)
    rated, counted = _counted(heads)
    met = [n for n, r in heads if rating_class(r) == "r4"][:3]
    concern = [n for n, r in heads if rating_class(r) == "r1"][:3]
    return _paragraph(f"In {year}, {who} was judged on {len(heads)} Outcomes targets. Of the {rated} that could "
                      f"be rated, {counted}" + (f" Met: {', '.join(met)}." if met else "")
                      + (f" Needs attention: {', '.join(concern)}." if concern else ""))


def network_pages(site: Site) -> list[str]:
    """The published schools the network's counts are over: its own (other schools are shown for comparison)."""
    return [c for c in site.pages if c in site.network_codes] or list(site.pages)


def network_summary(site: Site, year: int | None, by_org: dict[str, list[dict]]) -> str:
    """The network's paragraph: school x target results at each rating, over the network's published schools (other
    schools shown for comparison are said, not counted)."""
    network = network_pages(site)
    heads = [h for code in network for h in headline_rows(site, by_org.get(code, []))]
    if not heads:
        return "No school has judged targets yet."
    rated, counted = _counted(heads)
    others = len(site.pages) - len(network)
    shown = (f" ({others:,} other school{'s are' if others > 1 else ' is'} shown for comparison, not counted here)"
             if others else "")
    return _paragraph(f"In {year}, {len(network):,} network schools were judged{shown}: {len(heads):,} school x target "
                      f"results. Of the {rated:,} that could be rated, {counted}")

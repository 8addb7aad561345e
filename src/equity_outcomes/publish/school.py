"""A school's page (``schools/<org_code>.html``, template ``school.html``): the scorecard of every evaluated year,
school/district/state, the rating history, trends, student groups and readiness. This module picks the rows and
words them; the template lays them out."""

from __future__ import annotations

import dataclasses
import os
import pickle
import sys
import tempfile
import threading
import traceback
from collections import defaultdict
from pathlib import Path

from ..errors import EquityOutcomesError
from . import child as _child
from . import history, honest, labels
from .context import context_section
from .data import Site, num, text
from .html import (
    GRADE_PREFERENCE,
    SOURCE_LABEL,
    SUBJECT_ORDER,
    Charts,
    change_text,
    fmt_n,
    fmt_pct,
    fmt_value,
    lowest,
    noise_text,
    page,
    rating,
    rating_counts,
    row_sort_key,
    rule_lines,
    safe_name,
    school_label,
    subgroup_label,
    subject_label,
    target_text,
    trend_rows,
    trend_table,
    trend_template,
    unit_of,
)
from .workbook import write_text

NOT_APPLICABLE = "n/a"  # a cell that has no meaning for the row (not a withheld figure: that is the dash)


def _choose_grade(series: dict, metric: str, subject, source: str, match: list[tuple[int, float]]):
    """The all-students grade whose points have the ``match`` (year, value)s, else the first there is."""
    grades = [g for g in GRADE_PREFERENCE if ("all", metric, subject, source, g) in series]
    for g in grades:
        pts = {y: v for y, v, *_ in series[("all", metric, subject, source, g)]}
        if match and all(y in pts and pts[y] is not None and abs(pts[y] - v) < 1e-6 for y, v in match):
            return g
    return grades[0] if grades else None


def _years_cell(field: str, year, value, n, unit: str, *, gap: bool, withheld: bool) -> dict:
    y = text(year).split(".")[0] if num(year) is not None else ""
    dv = num(value)
    return {"field": field, "value": dv, "withheld": withheld, "n": fmt_n(n),
            "text": (y + ": " if y else "") + fmt_value(value, unit, gap=gap),
            "why": honest.missing_reason(withheld, year) if dv is None else None}


# --- the scorecard -------------------------------------------------------------------------------------------------
def _score_row(site: Site, r: dict) -> dict:
    t = labels.target_info(site.targets, r["target_id"])
    unit = unit_of(site, r)
    subj = subject_label(r.get("subject")) if text(r.get("subject")) else ""
    m_label = site.metrics.get(text(r.get("metric")), {}).get("label", text(r.get("metric")))
    sg = r.get("subgroup") or "all"
    withheld = text(r.get("withheld"))
    main, ci = change_text(site, r)
    return {
        "kind": "row", "target": r["target_id"], "subject": text(r.get("subject")), "subgroup": sg,
        "source": text(r.get("source")),
        "measure": ("" if sg == "all" else subgroup_label(site, sg) + " · ") + (subj or m_label),
        "about": ", ".join(p for p in ((m_label if subj else ""), SOURCE_LABEL.get(text(r.get("source")), "")) if p),
        "baseline": _years_cell("baseline_value", r.get("baseline_year"), r.get("baseline_value"),
                                r.get("n_baseline"), unit, gap=t.is_gap, withheld=withheld in ("baseline", "both")),
        "current": _years_cell("current_value", r.get("current_year"), r.get("current_value"), r.get("n_current"),
                               unit, gap=t.is_gap, withheld=withheld in ("current", "both")),
        **_target_cells(site, r),
        "rating": rating(r), "change": main, "ci": ci, "noise": noise_text(r), "state": honest.state_context(r),
        "peer": honest.peer_context(r), "flags": labels.split_flags(r.get("flags"))}


def _target_cells(site: Site, r: dict) -> dict:
    """The target and the progress toward it; neither when the comparison is not comparable (a target set from a
    pandemic baseline, or across a change of test: the exports keep the computed figures beside the status)."""
    if text(r.get("status")) == "not_comparable":
        return {"target_text": NOT_APPLICABLE, "progress": NOT_APPLICABLE}
    return {"target_text": target_text(site, r), "progress": fmt_pct(num(r.get("progress_pct")), signed=False)}


def _state_ref(site: Site, target_id: str) -> bool:
    """A gap target measured against the state average (else against the rest of the school)."""
    return labels.target_info(site.targets, target_id).reference == "state"


def _gap_summary_row(site: Site, tid: str, subject, rows: list[dict]) -> dict:
    return {"kind": "gap", "target": tid, "subject": text(subject), "n_groups": len(rows),
            "measure": (subject_label(subject) if text(subject) else "") or "All groups",
            "reference": "the state average" if _state_ref(site, tid) else "the rest of the school",
            "rated": sum(1 for r in rows if text(r.get("status")) in labels.RATED), "rating": rating(lowest(rows)),
            "flags": sorted({f for r in rows for f in labels.split_flags(r.get("flags"))})}


def _year_panel(site: Site, rows: list[dict]) -> dict:
    """One evaluated year: its rating counts, its scorecard (all-students rows of every target; gap targets one
    'lowest of the groups' row per subject, by category) and what its notes mean."""
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
    targets, flags_seen, summary_rows = [], set(), []
    current_cat = None
    for tid in ids:
        t = labels.target_info(site.targets, tid)
        trs = []
        for r in by_target.get(tid, []):
            trs.append(_score_row(site, r))
            summary_rows.append(r)
            flags_seen.update(labels.split_flags(r.get("flags")))
        for (gid, subj), grp in sorted(gap_groups.items(), key=lambda kv: labels.SUBJECT_LABEL.get(kv[0][1], "")):
            if gid == tid:
                trs.append(_gap_summary_row(site, tid, subj or None, grp))
                summary_rows += [low] if (low := lowest(grp)) is not None else []
                flags_seen.update(f for g in grp for f in labels.split_flags(g.get("flags")))
        targets.append({"category": t.category if t.category != current_cat else None, "short": t.short,
                        "label": t.label, "areas": t.areas, "rows": trs})
        current_cat = t.category
    return {"counts": rating_counts(summary_rows), "targets": targets, "flags": sorted(flags_seen)}


# --- charts --------------------------------------------------------------------------------------------------------
def _trend_figures(site: Site, charts: Charts, series: dict, rows: list[dict], who: str) -> list[dict]:
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
            grade = _choose_grade(series, metric, subject, source, match)
        if grade is None:
            continue
        pts = series[("all", metric, subject, source, grade)]
        unit = site.metrics.get(metric, {}).get("unit", "percent")
        m_label = site.metrics.get(metric, {}).get("label", metric)
        data, state = trend_rows(pts, who, "State (all students)")
        if not data:
            continue
        has_state, by = bool(state), num(r.get("baseline_year"))
        baseline, target, tline = rule_lines(t, r, pts, unit, without_baseline=t.rule in (
            "share_improved", "level", "level_or_increase"))
        figs.append(charts.figure(
            trend_template(unit), m_label + (f" — {subject_label(subject)}" if subject else ""),
            f"{t.short}: {labels.grade_label(grade)}, {SOURCE_LABEL.get(source, source)}"
            + ("; dashed: state average" if has_state else ""),
            {"series": data + state, "baseline": baseline, "target": target},
            caption=(f"Dotted line: baseline year {int(by)}. " if by is not None else "")
            + (f"Green dashed line: target ({fmt_value(tline, unit)}). " if tline is not None else "")
            + "Missing points: no data or withheld (small group).",
            tables=[trend_table(pts, unit, has_state)],
            meta={"metric": metric, "subject": subject, "grade": grade, "source": source, "subgroup": "all"}))
    return figs


def _groups_table(site: Site, rows: list[dict], groups: list[str]) -> list[tuple[str, list]]:
    """Each target x subject: its rating for all students and every required group (None: no result)."""
    cells: dict[tuple, dict] = {}
    keys = []
    for r in sorted(rows, key=lambda r: row_sort_key(site, r)):
        k = (r["target_id"], text(r.get("subject")))
        if k not in keys:
            keys.append(k)
        cells[(*k, r.get("subgroup") or "all")] = r
    out = []
    for tid, subj in keys:
        t = labels.target_info(site.targets, tid)
        tds = []
        for g in groups:
            r = cells.get((tid, subj, g))
            if r is None:
                tds.append(None)
                continue
            unit = unit_of(site, r)
            cur = fmt_value(r.get("current_value"), unit, gap=t.is_gap)
            sub = num(r.get("current_subgroup_value"))
            if t.is_gap and sub is not None:
                cur += f" ({fmt_value(sub, unit)})"
            tds.append({"r": rating(r), "target": tid, "subject": subj, "subgroup": g, "current": cur,
                        "value": num(r.get("current_value")), "n": fmt_n(r.get("n_current"))})
        out.append((t.short + (f" · {subject_label(subj)}" if subj else ""), tds))
    return out


def _gap_combos(site: Site, series: dict, rows: list[dict]) -> tuple[list[tuple], dict[tuple, str]]:
    """The gap targets' measures (metric, subject, source, target) and the grade each was judged on."""
    gap_grade: dict[tuple, str] = {}  # each measure's first row's grade
    for r in rows:
        if labels.target_info(site.targets, r["target_id"]).is_gap:
            c = (r["metric"], r.get("subject") or None, text(r.get("source")), r["target_id"])
            gap_grade.setdefault(c, text(r.get("grade")))
    combos = list(gap_grade)
    state_gap = next((t for t in site.targets.values() if t.reference == "state" and t.metrics), None)
    if not combos and state_gap is not None:  # no gap rows: the state gap target's measure, for every subgroup
        for (g, metric, subject, source, _grade) in series:
            c = (metric, subject, source, state_gap.id)
            if g == "all" and metric == state_gap.metrics[0] and c not in combos:
                combos.append(c)
    # subjects in their order; a measure without a subject after them (unlike the tables, where it comes first)
    combos.sort(key=lambda c: (not _state_ref(site, c[3]), c[3], SUBJECT_ORDER.get(c[1], 9) if c[1] else 9))
    return combos, gap_grade


def _group_figures(site: Site, charts: Charts, series: dict, rows: list[dict], groups: list[str]) -> list[dict]:
    """Subgroup values with the state average, and gaps to the state, for the gap targets' measures."""
    combos, gap_grade = _gap_combos(site, series, rows)
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
        vals, gaps, table_rows, state_pts = [], [], [], {}
        for g in groups:
            pts = series.get((g, metric, subject, source, grade), [])
            label = subgroup_label(site, g)
            for y, v, n, sv, gp, _w in pts:
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
        ys = sorted({y for _label, d in table_rows for y in d})
        table = [(lbl, [fmt_value(d.get(y, (None, None))[0], unit) for y in ys],
                  [f"gap {fmt_value(d.get(y, (None, None))[1], unit, gap=True)}" for y in ys]
                  if state_ok and lbl != "All students" else ()) for lbl, d in table_rows]
        if state_ok:
            table.append(("State (all students)", [fmt_value(state_pts.get(y), unit) for y in ys], ()))
        meta = {"metric": metric, "subject": subject, "grade": grade, "source": source,
                "groups": {subgroup_label(site, g): g for g in groups}}
        figs.append(charts.figure(
            "subgroups_percent" if unit == "percent" else "subgroups_score", f"{m_label}{subj_txt} by group",
            f"{labels.grade_label(grade)}, {SOURCE_LABEL.get(source, source)}"
            + ("; dashed: state average (all students)" if state_ok else ""),
            {"series": vals}, caption="Groups under the minimum size are not shown.",
            tables=[{"head": ["Group", *ys], "rows": table}], meta=meta))
        if state_ok and gaps:
            figs.append(charts.figure("gaps", f"Gap to the state average{subj_txt}",
                                      f"{m_label}: group minus state, in points", {"series": gaps},
                                      caption="Above 0: the group is above the state average.", meta=meta))
    return figs


def _readiness(charts: Charts, recs: list[dict] | None) -> dict | None:
    if not recs:
        return None
    data, rows = [], []
    for i, r in enumerate(recs):
        typ = "Condition" if text(r.get("area_type")) == "condition" else "Principle"
        name, number = text(r.get("area_name")), text(r.get("area_number")).split(".")[0]
        mean, chg = num(r.get("mean_rating")), num(r.get("change_from_prior_year"))
        if mean is not None:
            data.append({"area": f"{typ[0]}{number}. {name}", "type": typ, "mean": round(mean, 2),
                         "raters": num(r.get("n_raters")), "order": i})
        rows.append((f"{typ} {number}: {name}", [f"{mean:.2f}" if mean is not None else None,
                                                 f"{chg:+.2f}" if chg is not None else None,
                                                 text(r.get("n_raters")).split(".")[0] or None,
                                                 text(r.get("n_items_rated_1")).split(".")[0] or None]))
    year = int(num(recs[0]["school_year"]))
    fig = charts.figure("readiness", f"Readiness self-assessment, {year}",
                        "Mean rating per area (1 Area of concern to 4 Sustainable)", {"series": data}) if data else None
    return {"year": year, "figure": fig, "rows": rows}


# --- the page ------------------------------------------------------------------------------------------------------
def _meta(site: Site, code: str) -> str:
    """The line under the school's name: district, level, org code, implementation start, baseline year."""
    name, district = school_label(site, code)
    r = site.roster.get(code, {})
    start, base = num(r.get("implementation_start_year")), num(r.get("baseline_year"))
    meta = [district, text(r.get("school_level")).title(), f"org code {code}"]
    if start is not None:
        meta.append(f"personalized learning since {int(start) - 1}-{str(int(start))[-2:]}"
                    + (f" (year {site.vintage - int(start) + 1} in {site.vintage})" if site.vintage else ""))
    if base is not None:
        meta.append(f"baseline year {int(base)}")
    return " · ".join(m for m in meta if m)


def school_page(site: Site, code: str, rows: list[dict], series: dict, rd: list[dict] | None,
                years: dict[int, list[dict]] | None = None) -> str:
    name = school_label(site, code)[0]
    charts = Charts()
    years = years or ({site.judged_year: rows} if site.judged_year else {})
    all_years = [s[0] for pts in series.values() for s in pts]
    groups = ["all", *labels.REQUIRED_SUBGROUPS]
    return page(  # keyword order = the order the charts are numbered in (their order on the page)
        "school.html", site, prefix="../", name=name, meta=_meta(site, code), file=safe_name(code),
        summary=history.plain_summary(site, name, site.judged_year, rows),
        panels=history.year_panels(years, lambda _y, rs: _year_panel(site, rs)),
        context=context_section(site, code, rows, series), history=history.history_section(site, charts, years),
        trends=_trend_figures(site, charts, series, rows, "This school"),
        group_head=[subgroup_label(site, g) for g in groups], group_rows=_groups_table(site, rows, groups),
        group_figures=_group_figures(site, charts, series, rows, groups),
        readiness=_readiness(charts, rd), latest=max(all_years) if all_years else None)


# --- the pages written beside the exports ---------------------------------------------------------------------------
PROCESSES_ENV = "EQUITY_OUTCOMES_PAGE_PROCESSES"
_SERVE = "from equity_outcomes.publish.school import serve_pages; serve_pages()"


def page_processes() -> int:
    """Processes writing school pages: ``EQUITY_OUTCOMES_PAGE_PROCESSES`` (1: this one alone), else 2 when the
    machine has 2 cores or more (a child writes the pages while this process writes the exports)."""
    text_ = os.environ.get(PROCESSES_ENV, "").strip()
    if not text_:
        return min(os.cpu_count() or 1, 2)
    if text_ not in ("1", "2"):
        raise EquityOutcomesError(f"{PROCESSES_ENV}={text_!r} is not 1 or 2. How to fix: 1 writes every page in the "
                                  "publishing process, 2 in a child beside it; unset it for 2 on 2 cores or more.")
    return int(text_)


class SchoolPages:
    """School pages written by a child process while this one writes the network page and the exports
    (``page_processes() == 2``), else here. A thread of this process gives the child the site without its statewide
    frames (a page reads only its school's rows, given with it) and then every page's arguments; a page is a
    function of what it is given, so its bytes do not depend on the process or the order. A failed page raises
    EquityOutcomesError naming its school."""

    def __init__(self) -> None:
        self.child, self.last, self.err = None, None, None
        self.site, self.pages, self.feeder, self.feed_error = None, [], None, None
        if page_processes() > 1:
            self.err = tempfile.TemporaryFile()  # noqa: SIM115 - the child's stderr while it lives: close()
            self.child = _child.start(_SERVE, stdin=True, stderr=self.err)

    def start(self, site: Site, pages: list[tuple[Path, str, tuple]]) -> None:
        """The pages to write: (path, school code, school_page's arguments after the code). The child gets them
        from now on, from a thread (the pipe blocks while the child is busy; this process goes on meanwhile);
        without a child, ``write_here`` writes each."""
        self.site, self.pages = site, pages
        if self.child is not None:
            slim = dataclasses.replace(site, targets_safe=site.targets_safe.iloc[:0], mv_safe=site.mv_safe.iloc[:0],
                                       readiness=None, history_safe=None, targets_by_org={}, solved={},
                                       disclosure={}, warnings=[])
            self.feeder = threading.Thread(target=self._feed, args=(slim,), name="school-pages", daemon=True)
            self.feeder.start()

    def write_here(self, i: int) -> int:
        """Page ``i`` of ``start``'s written by this process: its bytes; 0 when the child writes it (counted by
        ``finish``)."""
        if self.child is not None:
            return 0
        path, code, args = self.pages[i]
        return write_text(path, school_page(self.site, code, *args))

    def finish(self) -> int:
        """Wait for the child's pages; the bytes it wrote. The pages' arguments are let go (freed before the audit)."""
        if self.feeder is not None:
            self.feeder.join()
        self.site, self.pages = None, []
        if self.child is None:
            return 0
        written = self._answer()  # the child's own error first
        if self.feed_error is not None:
            raise EquityOutcomesError(f"school page {self.last}: not given to the child process writing the school "
                                      f"pages ({self.feed_error!r}). How to fix: {PROCESSES_ENV}=1 writes them in the "
                                      "publishing process.") from self.feed_error
        return written

    def _feed(self, slim: Site) -> None:
        """The thread: the site, then each page's arguments."""
        try:
            self._put(slim)
            for path, code, args in self.pages:
                self.last = code
                self._put((str(path), code, args))
        except Exception as exc:  # noqa: BLE001 - the child stopped (or close stopped it), or a page's arguments
            self.feed_error = exc  # would not pickle: finish raises it

    def _put(self, item) -> None:
        """One item to the child. The pipe's write lets the interpreter lock go while the child is busy; what is
        sent (the site, the rows of each school) is not changed by this process while it writes the exports."""
        self.child.stdin.write(pickle.dumps(item, protocol=pickle.HIGHEST_PROTOCOL))
        self.child.stdin.flush()

    def _answer(self) -> int:
        out = _child.answer(self.child)
        answer = pickle.loads(out) if out else ("died", self.last, "")
        if answer[0] == "ok" and self.child.returncode == 0:
            return answer[1]
        school, why = (answer[1], answer[2]) if answer[0] == "error" else (self.last, "")
        self.err.seek(0)
        raise EquityOutcomesError(
            f"school page {school}: not written (the child process writing the school pages stopped, exit "
            f"{self.child.returncode}):\n"
            f"{why or self.err.read().decode('utf-8', 'replace')[-4000:]}How to fix: see the error above; "
            f"{PROCESSES_ENV}=1 writes the pages in the publishing process.")

    def close(self) -> None:
        _child.stop(self.child)
        if self.feeder is not None:
            self.feeder.join()
        if self.err is not None:
            self.err.close()


def serve_pages() -> None:
    """The child of SchoolPages: the site, then (path, code, school_page arguments) until the input ends; answers
    ("ok", bytes written) or ("error", the school, the traceback)."""
    src, out = sys.stdin.buffer, sys.stdout.buffer
    sys.stdout = sys.stderr  # the answer alone on stdout, whatever a page's code prints
    total, code = 0, None
    try:
        site = pickle.load(src)
        while True:
            try:
                path, code, page_args = pickle.load(src)
            except EOFError:
                break
            total += write_text(Path(path), school_page(site, code, *page_args))
    except Exception:
        out.write(pickle.dumps(("error", code, traceback.format_exc())))
        return
    out.write(pickle.dumps(("ok", total)))

"""The pages' words and numbers, and the Jinja2 templates that lay them out (``publish/templates/``, package data).
Python chooses the rows and formats the numbers (every one already through the disclosure control) and hands the
templates plain dicts, lists and strings; the templates hold all the markup. Autoescape is on for every template,
so text from the warehouse is escaped where it is written (names, labels, reasons); chart data go in with Jinja's
``tojson`` (``<``, ``>``, ``&`` and ``'`` as ``\\u`` escapes)."""

from __future__ import annotations

import re
from collections import Counter

import jinja2
import numpy as np
import pandas as pd

from . import honest, labels
from .charts import RATING_NAMES, chart_payload
from .data import PUBLISHED_GRADES, Site, num, text

DASH = "—"
SOURCE_LABEL = {"dese": "DESE school profile", "student": "student data"}
SUBJECT_ORDER = {"ela": 0, "math": 1, "sci": 2, "": -1}


# --- formatting ------------------------------------------------------------------------------------------------
# a value, and a change, per unit (other units: one decimal); a gap is a change in points
VALUE_FORMAT = {"percent": "{:.1f}%", "score": "{:.2f}"}
CHANGE_FORMAT = {"percent": "{:+.1f} pts", "points": "{:+.1f} pts", "score": "{:+.2f}"}


def _fmt(v, form: str) -> str:
    v = num(v)
    return DASH if v is None else form.format(v)


def fmt_value(v, unit: str, *, gap: bool = False) -> str:
    return _fmt(v, CHANGE_FORMAT["points"] if gap else VALUE_FORMAT.get(unit, "{:.1f}"))


def fmt_change(v, unit: str) -> str:
    return _fmt(v, CHANGE_FORMAT.get(unit, "{:+.1f}"))


def fmt_pct(v, signed: bool = True) -> str:
    return _fmt(v, "{:+.1f}%" if signed else "{:.0f}%")


def fmt_n(v) -> str:
    v = num(v)
    return "" if v is None else f"n={int(v):,}"


def school_label(site: Site, code: str) -> tuple[str, str]:
    r = site.roster.get(code, {})
    return text(r.get("school_name")) or code, text(r.get("district_name"))


def subject_label(subj) -> str:
    return labels.SUBJECT_LABEL.get(text(subj), text(subj).upper())


def subgroup_label(site: Site, g: str) -> str:
    return site.subgroups.get(g, (g, ""))[0]


def row_sort_key(site: Site, r: dict) -> tuple:
    t = labels.target_info(site.targets, r["target_id"])
    cat = labels.CATEGORY_ORDER.index(t.category) if t.category in labels.CATEGORY_ORDER else 99
    sg = r.get("subgroup") or "all"
    sg_i = 0 if sg == "all" else (1 + labels.REQUIRED_SUBGROUPS.index(sg) if sg in labels.REQUIRED_SUBGROUPS else 50)
    return (cat, t.order, SUBJECT_ORDER.get(text(r.get("subject")), 9), sg_i)


def rating_class(r: dict) -> str:
    """A row's rating cell class: r1..r4 for ratings, s-<status> for the unrated statuses."""
    rated, status = num(r.get("rating")), text(r.get("status")) or None
    if status in labels.RATED:
        return f"r{labels.RATED[status]}"
    if rated is not None and 1 <= rated <= 4 and status not in labels.STATUS_SHORT:
        return f"r{int(rated)}"
    return f"s-{status or 'insufficient_data'}".replace("_", "-")


def rating_words(r: dict) -> str:
    """A row's rating in words, e.g. '3 Moving toward'."""
    rated, status = num(r.get("rating")), text(r.get("status")) or None
    if status in labels.STATUS_SHORT:
        return labels.STATUS_SHORT[status]
    if rated is not None and 1 <= rated <= 4:
        return f"{int(rated)} {text(r.get('rating_label')) or labels.RATING_LABEL[int(rated)]}"
    if status in labels.RATED:
        return f"{labels.RATED[status]} {labels.RATING_LABEL[labels.RATED[status]]}"
    return labels.STATUS_SHORT.get(status or "", "Insufficient data")


def rating(r: dict | None) -> dict | None:
    """A rating cell's class, words and reason (macros.html ``rating_cell``); None: no result."""
    if r is None:
        return None
    status, reason = text(r.get("status")), text(r.get("status_reason"))
    return {"cls": rating_class(r), "status": status, "reason": reason, "rating": text(r.get("rating")).split(".")[0],
            "why": reason or labels.STATUS_EXPLAIN.get(status, ""), "text": rating_words(r)}


def cell(value: str, note: str | None = None, *, why: bool = False, cls: str = "num") -> dict:
    """A table cell for macros.html ``cell``: the value, a note under it (None: no note), ``why``: the note says
    why the value is missing."""
    return {"text": value, "note": note, "why": why, "cls": cls}


def unit_of(site: Site, r: dict) -> str:
    return site.metrics.get(text(r.get("metric")), {}).get("unit", "percent")


def ci_units(site: Site, r: dict) -> str:
    u = text(r.get("ci_units"))
    if u:
        return u
    rule = labels.target_info(site.targets, r["target_id"]).rule
    return {"relative_change": "relative_pct", "absolute_change": "points", "gap_closure": "points",
            "share_improved": "percent", "level": "percent", "level_or_increase": "percent"}.get(rule, "points")


def fmt_ci(site: Site, r: dict) -> str:
    lo, hi = num(r.get("ci_low")), num(r.get("ci_high"))
    if lo is None or hi is None:
        return ""
    u = ci_units(site, r)
    if u == "relative_pct":
        s = f"{lo:+.1f}% to {hi:+.1f}%"
    elif u == "percent":
        s = f"{lo:.1f}% to {hi:.1f}%"
    else:
        s = f"{lo:+.1f} to {hi:+.1f}" + (" pts" if unit_of(site, r) == "percent" else "")
    return f"95% interval {s}"


def target_text(site: Site, r: dict) -> str:
    t = labels.target_info(site.targets, r["target_id"])
    v = num(r.get("target_value"))
    if v is None:
        return DASH
    unit = unit_of(site, r)
    if t.is_gap:
        return ("gap " + ("≥ " if t.direction == "higher_is_better" else "≤ ") + fmt_value(v, unit, gap=True))
    if t.rule == "level_or_increase":
        return f"≥ {fmt_value(v, unit)} or any increase"
    return ("≤ " if t.direction == "lower_is_better" else "≥ ") + fmt_value(v, unit)


def change_text(site: Site, r: dict) -> tuple[str, str]:
    """(main change text, interval text)."""
    t = labels.target_info(site.targets, r["target_id"])
    unit = unit_of(site, r)
    ci = fmt_ci(site, r)
    if t.rule == "relative_change" and honest.small_baseline(site, r):  # a tiny baseline: points, never a %
        return fmt_change(r.get("change_abs"), unit), honest.small_baseline_note()  # its interval is relative too
    if t.rule == "relative_change":
        main = fmt_pct(r.get("change_rel_pct"))
        ca = num(r.get("change_abs"))
        if ca is not None:
            main += f" ({fmt_change(ca, unit)})"
    elif t.rule in ("share_improved", "level"):
        main = "level " + fmt_value(r.get("current_value"), unit) if num(r.get("current_value")) is not None else DASH
    else:
        main = fmt_change(r.get("change_abs"), "points" if (unit == "percent" or t.is_gap) else unit)
    return main, ci


def noise_text(r: dict) -> str:
    d = r.get("is_distinguishable_from_noise")
    if text(d) == "":  # None, NaN, NA
        return ""
    return "beyond noise" if bool(d) and text(d).lower() not in ("false", "0", "nan") else "within noise"


# --- templates ---------------------------------------------------------------------------------------------------
class _Environment(jinja2.Environment):
    def getattr(self, obj, attribute: str):
        """``row.value`` on the plain dicts the pages get: the key first (Jinja tries the attribute first, and a
        dict's failed attribute lookup is most of a page's rendering time); methods (``counts.get``) as usual."""
        if type(obj) is dict and attribute in obj:
            return obj[attribute]
        return super().getattr(obj, attribute)


ENV = _Environment(loader=jinja2.PackageLoader(__package__, "templates"), autoescape=jinja2.select_autoescape(),
                   undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True,
                   auto_reload=False)  # the package's templates do not change while it runs: no stat per page
ENV.policies["json.dumps_kwargs"] = {"separators": (",", ":"), "ensure_ascii": False, "allow_nan": False}
CSS_NAME = dict(zip(["r4", "r3", "r2", "r1", "s-not-yet-due", "s-insufficient-data", "s-not-comparable"],
                    RATING_NAMES, strict=True))
SHORT = {"s-not-yet-due": "not due", "s-insufficient-data": "no data", "s-not-comparable": "not comp."}
ENV.globals.update(DASH=DASH, RATINGS=CSS_NAME, WITHHELD=honest.WITHHELD, flag_text=labels.flag_text,
                   flag_short=lambda f: labels.FLAG_SHORT.get(f, f))


def page(template: str, site: Site, **context) -> str:
    """A whole page: ``template`` (extends page.html) with the data vintage and build time of the footer."""
    vintage = f"school year {site.vintage - 1}-{str(site.vintage)[-2:]} (spring {site.vintage})" if site.vintage \
        else "no data"
    return ENV.get_template(template).render(vintage=vintage, built_at=site.built_at, **context)


class Charts:
    """Numbers the charts of one page (chart-1, chart-2, ...) in the order they are made; each is a dict for
    macros.html ``figure`` (a <figure> with its rows as JSON beside it and the numbers as tables)."""

    def __init__(self) -> None:
        self.n = 0

    def figure(self, template: str, title: str, subtitle: str, datasets: dict, caption: str = "",
               tables: list[dict] | None = None, meta: dict | None = None) -> dict:
        self.n += 1
        return {"id": f"chart-{self.n}", "title": title, "caption": caption, "tables": tables or [],
                "payload": chart_payload(template, title, subtitle, datasets, meta)}


def rating_counts(rows: list[dict]) -> Counter:
    return Counter(rating_class(r) for r in rows)


def lowest(rows: list[dict]) -> dict | None:
    """The lowest rating among rows (gap targets: one per subgroup); unrated statuses when none is rated. Ties go
    by status and subgroup, not by the rows' order (which the warehouse does not fix: a +1 year run and a full
    rebuild listed the same rows in another order and published another status)."""
    def tie(r: dict) -> tuple[str, str]:
        return text(r.get("status")), text(r.get("subgroup"))

    rated = [r for r in rows if num(r.get("rating")) is not None and text(r.get("status")) not in labels.STATUS_SHORT]
    if rated:
        return min(rated, key=lambda r: (num(r.get("rating")), *tie(r)))
    if not rows:
        return None
    order = {s: i for i, s in enumerate(["not_comparable", "insufficient_data", "not_yet_due"])}
    return min(rows, key=lambda r: (order.get(text(r.get("status")), 9), *tie(r)))


# --- shared by the school and network pages ----------------------------------------------------------------------
GRADE_PREFERENCE = PUBLISHED_GRADES  # the most pooled first
CHART_CATEGORIES = ("Engagement", "Achievement")


def safe_name(code: str) -> str:
    return re.sub(r"[^A-Za-z0-9_-]", "_", str(code)) or "_"


def records(df: pd.DataFrame) -> list[dict]:
    """``df.to_dict("records")`` with NaN and NA as None, built column by column (the same Python values, half
    the time: 0.9 -> 0.4 s for the 32,000 target rows of a 200k-student network)."""
    cols = [_column_values(df.iloc[:, k]) for k in range(df.shape[1])]
    if not cols:
        return [{} for _ in range(len(df))]
    names = df.columns.tolist()
    return [dict(zip(names, row, strict=True)) for row in zip(*cols, strict=True)]


def _column_values(s: pd.Series) -> list:
    """One column's values as ``to_dict`` gives them: NumPy numbers as Python numbers (in object columns too),
    missing values None."""
    if isinstance(s.dtype, np.dtype) and s.dtype.kind in "iub":
        return s.to_numpy().tolist()
    if isinstance(s.dtype, np.dtype) and s.dtype.kind == "f":
        return [None if v != v else v for v in s.to_numpy().tolist()]
    objects = s.to_numpy(dtype=object)
    if pd.api.types.infer_dtype(objects, skipna=True) in ("string", "empty"):  # text and blanks: no loop per value
        values = objects.tolist()
        for i in np.flatnonzero(pd.isna(objects)).tolist():
            values[i] = None
        return values
    values = [v.item() if isinstance(v, np.number | np.bool_) else v for v in objects.tolist()]
    return [None if v is pd.NA or (isinstance(v, float) and v != v) else v for v in values]


def trend_template(unit: str) -> str:
    return f"trend_{unit}" if unit in labels.Y_TITLE else "trend_percent"


def trend_rows(points: list[tuple], name: str, state_name: str, order: int = 0) -> tuple[list[dict], list[dict]]:
    """A trend chart's rows (template trend_*): the series ``name``, and its state line."""
    return ([{"year": y, "value": round(v, 2), "n": n, "series": name, "kind": "school", "order": order}
             for y, v, n, _s, _g, _w in points if v is not None],
            [{"year": y, "value": round(s, 2), "n": None, "kind": "state", "order": order + 1, "series": state_name}
             for y, _v, _n, s, _g, _w in points if s is not None])


def rule_lines(t: labels.TargetInfo, r: dict, points: list[tuple], unit: str, *,
               without_baseline: bool = False) -> tuple[list[dict], list[dict], float | None]:
    """A trend chart's baseline year and target lines (datasets baseline and target) for target row ``r``, and
    the target's value; without a baseline year, a target line only when ``without_baseline``."""
    by = num(r.get("baseline_year"))
    base = next((v for y, v, *_ in points if by is not None and y == int(by)), None)
    line = target_line(t, base, r.get("target_value")) if by is not None or without_baseline else None
    return ([{"year": int(by), "label": f"Baseline {int(by)}"}] if by is not None else [],
            [{"value": round(line, 2), "label": f"Target {fmt_value(line, unit)}"}] if line is not None else [], line)


def target_line(t: labels.TargetInfo, base_value, fallback) -> float | None:
    thr = t.threshold
    b = num(base_value)
    if thr is not None:
        if t.rule in ("share_improved", "level", "level_or_increase"):
            return thr
        if b is not None and t.rule == "relative_change":
            return b * (1 + thr / 100)
        if b is not None and t.rule == "absolute_change":
            return b + thr
    return num(fallback)


def trend_table(points: list[tuple], unit: str, state: bool) -> dict:
    """A chart's data table (macros.html ``data_table``): year, value, n and the state's value."""
    rows = [(y, [fmt_value(v, unit) if v is not None or not w else "withheld", "" if n is None else n]
             + ([fmt_value(sv, unit)] if state else []), ()) for y, v, n, sv, _g, w in points]
    return {"head": ["Year", "Value", "n", *(["State"] if state else [])], "rows": rows}

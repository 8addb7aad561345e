"""HTML pages as plain string templates. Every piece of text from the warehouse goes through ``esc`` (html.escape);
chart data go through ``charts.json_for_html``."""

from __future__ import annotations

import html as _html
import re
from collections import Counter
from collections.abc import Iterable
from importlib.resources import files

import pandas as pd

from . import honest, labels
from .charts import chart_payload, json_for_html
from .data import Site, num, text

esc = _html.escape
DASH = "—"
PAGE = (files(__package__) / "templates" / "page.html").read_text(encoding="utf-8")  # str.format fields
SOURCE_LABEL = {"dese": "DESE school profile", "student": "student data"}
SUBJECT_ORDER = {"ela": 0, "math": 1, "sci": 2, "": -1}


# --- formatting ------------------------------------------------------------------------------------------------
def fmt_value(v, unit: str, *, gap: bool = False) -> str:
    v = num(v)
    if v is None:
        return DASH
    if gap:
        return f"{v:+.1f} pts"
    if unit == "percent":
        return f"{v:.1f}%"
    if unit == "score":
        return f"{v:.2f}"
    return f"{v:.1f}"


def fmt_change(v, unit: str) -> str:
    v = num(v)
    if v is None:
        return DASH
    if unit == "percent" or unit == "points":
        return f"{v:+.1f} pts"
    if unit == "score":
        return f"{v:+.2f}"
    return f"{v:+.1f}"


def fmt_pct(v, signed: bool = True) -> str:
    v = num(v)
    if v is None:
        return DASH
    return f"{v:+.1f}%" if signed else f"{v:.0f}%"


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


def rating_cell(r: dict | None, *, tag: str = "td", extra: str = "", attrs: str = "", reason: bool = True) -> str:
    if r is None:
        return f'<{tag} class="rating s-none{extra}"{attrs}>no result</{tag}>'
    status = text(r.get("status")) or None
    cls = labels.rating_css(r.get("rating"), status)
    txt = labels.rating_text(r.get("rating"), text(r.get("rating_label")) or None, status)
    why = text(r.get("status_reason")) or labels.STATUS_EXPLAIN.get(status or "", "")
    rating = text(r.get("rating")).split(".")[0]
    return (f'<{tag} class="rating {cls}{extra}" data-status="{esc(status or "")}" data-rating="{esc(rating)}"'
            f'{attrs}' + (f' title="{esc(why)}"' if why else "") + f'>{esc(txt)}'
            + (f'<span class="n why">{esc(why)}</span>' if reason and why and text(r.get("status_reason")) else "")
            + f"</{tag}>")


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
    if d is None or text(d) == "":
        return ""
    try:
        yes = bool(d) and text(d).lower() not in ("false", "0", "nan")
    except TypeError:
        return ""
    return "beyond noise" if yes else "within noise"


def flags_html(flags: Iterable[str]) -> str:
    return "".join(f'<span class="flag" title="{esc(labels.flag_text(f))}">{esc(labels.FLAG_SHORT.get(f, f))}</span>'
                   for f in flags)


# --- page frame --------------------------------------------------------------------------------------------------
def page(title: str, body: str, *, prefix: str, site: Site, footer_extra: str = "") -> str:
    vintage = f"school year {site.vintage - 1}-{str(site.vintage)[-2:]} (spring {site.vintage})" if site.vintage \
        else "no data"
    return PAGE.format(title=esc(title), prefix=prefix, body=body, vintage=esc(vintage), built_at=esc(site.built_at),
                       dash=DASH, footer_extra=footer_extra)


class Charts:
    """Collects chart payloads of one page; each becomes a <figure> with a JSON <script> beside it."""

    def __init__(self) -> None:
        self.n = 0

    def figure(self, template: str, title: str, subtitle: str, datasets: dict, caption: str = "",
               table: str = "", meta: dict | None = None) -> str:
        self.n += 1
        cid = f"chart-{self.n}"
        payload = json_for_html(chart_payload(template, title, subtitle, datasets, meta))
        return (f'<figure class="chart" aria-label="{esc(title)}">'
                f'<div class="vis" id="{cid}" data-chart="{cid}-data" role="img" aria-label="{esc(title)}"></div>'
                f'<p class="fallback">Chart: {esc(title)} (needs the assets folder next to this page; the numbers '
                f'are in the data table).</p>'
                f'<script type="application/json" id="{cid}-data">{payload}</script>'
                + (f"<figcaption>{caption}</figcaption>" if caption else "")
                + (f"<details><summary>Data table</summary>{table}</details>" if table else "")
                + "</figure>")


def legend_html() -> str:
    chips = "".join(
        f'<span class="chip {c}">{esc(t)}</span>' for c, t in [
            ("r4", "4 Sustainable (target met)"), ("r3", "3 Moving toward (at least half way)"),
            ("r2", "2 Initial steps (improved, less than half way)"), ("r1", "1 Area of concern (no improvement)"),
            ("s-not-yet-due", "Not yet due"), ("s-insufficient-data", "Insufficient data"),
            ("s-not-comparable", "Not comparable")])
    return f'<div class="legend" aria-label="Rating legend">Legend: {chips}</div>'


def rating_counts(rows: list[dict]) -> Counter:
    c: Counter = Counter()
    for r in rows:
        status = text(r.get("status"))
        c[labels.rating_css(r.get("rating"), status or None)] += 1
    return c


def counts_chips(c: Counter) -> str:
    order = [("r4", "4 Sustainable"), ("r3", "3 Moving toward"), ("r2", "2 Initial steps"), ("r1", "1 Area of concern"),
             ("s-not-yet-due", "Not yet due"), ("s-insufficient-data", "Insufficient data"),
             ("s-not-comparable", "Not comparable")]
    return "".join(f'<span class="chip {k}" data-count="{k}">{esc(t)}: {c.get(k, 0)}</span>' for k, t in order)


def lowest(rows: list[dict]) -> dict | None:
    """The lowest rating among rows (gap targets: one per subgroup); unrated statuses when none is rated."""
    rated = [r for r in rows if num(r.get("rating")) is not None and text(r.get("status")) not in labels.STATUS_SHORT]
    if rated:
        return min(rated, key=lambda r: num(r.get("rating")))
    if not rows:
        return None
    order = {s: i for i, s in enumerate(["not_comparable", "insufficient_data", "not_yet_due"])}
    return min(rows, key=lambda r: order.get(text(r.get("status")), 9))


# --- shared by the school and network pages ----------------------------------------------------------------------
GRADE_PREFERENCE = ("all", "03-08", "10")
CHART_CATEGORIES = ("Engagement", "Achievement")


def safe_name(code: str) -> str:
    return re.sub(r"[^A-Za-z0-9_-]", "_", str(code)) or "_"


def records(df: pd.DataFrame) -> list[dict]:
    recs = df.to_dict("records")
    for r in recs:
        for k, v in r.items():
            if v is pd.NA or (isinstance(v, float) and v != v):
                r[k] = None
    return recs


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


def trend_table(points: list[tuple], unit: str, state: bool) -> str:
    rows = "".join(
        f'<tr><th scope="row">{y}</th><td>{fmt_value(v, unit) if v is not None or not w else "withheld"}</td>'
        f'<td>{"" if n is None else n}</td>' + (f"<td>{fmt_value(sv, unit)}</td>" if state else "") + "</tr>"
        for y, v, n, sv, _g, w in points)
    return ('<table><thead><tr><th scope="col">Year</th><th scope="col" class="num">Value</th>'
            '<th scope="col" class="num">n</th>' + ('<th scope="col" class="num">State</th>' if state else "")
            + f"</tr></thead><tbody>{rows}</tbody></table>")

"""Chart templates built once with Altair, filled per chart with small named datasets.

Each kind of chart (a trend with baseline and target rules, subgroups vs the state, gaps to the state, readiness
bars, the network heatmap) is an Altair spec whose data are *named* sources (``{"name": "series"}``). The specs are
written once per site to ``assets/chart-templates.js``; each page embeds per chart only its title and its rows
(``{"t": template, "title": ..., "datasets": {...}}``), which the page script merges into a full Vega-Lite spec
and renders with vega-embed from the shared local bundle. Data are aggregated in DuckDB before they get here:
a chart holds a few dozen rows, far below Vega-Lite's 5,000-row guard.
"""

from __future__ import annotations

import json
from functools import cache

import altair as alt

from . import child as _child
from .labels import Y_TITLE

SUBGROUP_ORDER = ["All students", "Low income / FRL", "Black / African American", "Hispanic / Latino",
                  "English learners", "Students with disabilities", "State (all students)"]
SUBGROUP_COLORS = ["#000000", "#E69F00", "#0072B2", "#009E73", "#CC79A7", "#D55E00", "#7f7f7f"]
# trend series are ordered school/network first, then its state line, then a second grade selection and its state
TREND_COLORS = ["#0072B2", "#7f7f7f", "#E69F00", "#3f3f3f", "#009E73", "#b0b0b0"]
WIDTH, HEIGHT = 430, 210


def _placeholder_title() -> alt.TitleParams:
    return alt.TitleParams("chart", subtitle="", anchor="start", fontSize=14, subtitleColor="#444")


def _x():
    return alt.X("year:Q", title="School year (spring)", scale=alt.Scale(zero=False, nice=False),
                 axis=alt.Axis(format="d", tickMinStep=1, labelAngle=0))


def _rows(name: str = "series") -> alt.Chart:
    """A chart of the named dataset ``name`` (the page fills it with the chart's rows)."""
    return alt.Chart(alt.Data(name=name))


def _tips(*fields: tuple[str, ...]) -> list[alt.Tooltip]:
    """Tooltips of (field, title[, format]) each."""
    return [alt.Tooltip(f, title=title, **({"format": fmt[0]} if fmt else {})) for f, title, *fmt in fields]


def _sized(chart, **props) -> dict:
    """The template: the chart at the pages' size, with a title the page fills in."""
    return chart.properties(width=WIDTH, height=HEIGHT, title=_placeholder_title(), **props).to_dict()


def _dash() -> alt.StrokeDash:
    """School lines solid, state lines dashed."""
    return alt.StrokeDash("kind:N", scale=alt.Scale(domain=["school", "state"], range=[[1, 0], [5, 3]]), legend=None)


YEAR_TIP = ("year:Q", "Year", "d")


def _trend(y_title: str, *, value_format: str) -> dict:
    series = _rows().mark_line(point=alt.OverlayMarkDef(size=45), strokeWidth=2.5).encode(
        x=_x(),
        y=alt.Y("value:Q", title=y_title, scale=alt.Scale(zero=False)),
        color=alt.Color("series:N", title=None, sort=alt.EncodingSortField("order", op="min"),
                        scale=alt.Scale(range=TREND_COLORS), legend=alt.Legend(orient="bottom", labelLimit=260)),
        strokeDash=_dash(), tooltip=_tips(("series:N", "Series"), YEAR_TIP, ("value:Q", "Value", value_format),
                                          ("n:Q", "n")),
    )
    base_rule = _rows("baseline").mark_rule(color="#444", strokeDash=[2, 2], size=1.5).encode(x=alt.X("year:Q"))
    base_text = _rows("baseline").mark_text(
        align="left", baseline="top", dx=4, dy=2, fontSize=11, color="#333").encode(
        x=alt.X("year:Q"), y=alt.value(0), text="label:N")
    target_rule = _rows("target").mark_rule(color="#009E73", strokeDash=[8, 4], size=2).encode(y=alt.Y("value:Q"))
    target_text = _rows("target").mark_text(
        align="left", baseline="bottom", dx=3, dy=-3, fontSize=11, color="#00664a", fontWeight="bold").encode(
        y=alt.Y("value:Q"), x=alt.value(0), text="label:N")
    return _sized(alt.layer(series, base_rule, base_text, target_rule, target_text))


def _group_lines(y: alt.Y, groups: slice, *tips: tuple[str, ...], **channels) -> alt.Chart:
    """A line per student group, in the groups' colours (``SUBGROUP_ORDER[groups]``)."""
    return _rows().mark_line(point=alt.OverlayMarkDef(size=35), strokeWidth=2).encode(
        x=_x(), y=y, tooltip=_tips(("group:N", "Group"), YEAR_TIP, *tips), **channels,
        color=alt.Color("group:N", title=None,
                        scale=alt.Scale(domain=SUBGROUP_ORDER[groups], range=SUBGROUP_COLORS[groups]),
                        legend=alt.Legend(orient="bottom", columns=3, labelLimit=220)))


def _subgroups(y_title: str, *, state: bool = True) -> dict:
    return _sized(_group_lines(alt.Y("value:Q", title=y_title, scale=alt.Scale(zero=False)),
                               slice(None if state else -1), ("value:Q", "Value", ".1f"), ("n:Q", "n"),
                               strokeDash=_dash()))


def _gaps() -> dict:
    lines = _group_lines(alt.Y("gap:Q", title="Gap to state average (points)"), slice(1, -1),
                         ("gap:Q", "Gap (points)", "+.1f"))
    zero = _rows().mark_rule(color="#7f7f7f", strokeDash=[5, 3]).encode(y=alt.datum(0))
    return _sized(alt.layer(lines, zero))


def _readiness() -> dict:
    bars = _rows().mark_bar(height=14).encode(
        x=alt.X("mean:Q", title="Mean rating (1 Area of concern - 4 Sustainable)",
                scale=alt.Scale(domain=[1, 4], clamp=True), axis=alt.Axis(tickCount=4, format="d")),
        y=alt.Y("area:N", title=None, sort=alt.EncodingSortField("order", order="ascending"),
                axis=alt.Axis(labelLimit=260)),
        color=alt.Color("type:N", title=None, scale=alt.Scale(domain=["Condition", "Principle"],
                                                               range=["#0072B2", "#E69F00"]),
                        legend=alt.Legend(orient="bottom")),
        tooltip=_tips(("area:N", "Area"), ("mean:Q", "Mean rating", ".2f"), ("raters:Q", "Raters")),
    )
    return bars.properties(width=300, title=_placeholder_title()).to_dict()


def _heatmap() -> dict:
    base = _rows().encode(
        x=alt.X("area:N", title="Readiness area", sort=alt.EncodingSortField("order", order="ascending"),
                axis=alt.Axis(labelAngle=-35, labelLimit=240, orient="top")),
        y=alt.Y("school:N", title=None, axis=alt.Axis(labelLimit=260)),
    )
    rect = base.mark_rect(stroke="white", strokeWidth=1).encode(
        color=alt.Color("mean:Q", title="Mean rating",
                        scale=alt.Scale(scheme="blueorange", reverse=True, domain=[1, 4]),
                        legend=alt.Legend(orient="right", tickCount=4)),
        tooltip=_tips(("school:N", "School"), ("area:N", "Area"), ("mean:Q", "Mean rating", ".2f")),
    )
    text = base.mark_text(fontSize=10).encode(
        text=alt.Text("mean:Q", format=".1f"),
        color=alt.condition("datum.mean >= 3.4 || datum.mean <= 1.6", alt.value("white"), alt.value("black")),
    )
    return alt.layer(rect, text).properties(width=alt.Step(46), height=alt.Step(22),
                                            title=_placeholder_title()).to_dict()


def _distribution() -> dict:
    """Readiness for many schools: how many schools fall in each mean-rating band, per area."""
    return _rows().mark_rect(stroke="white").encode(
        x=alt.X("area:N", title="Readiness area", sort=alt.EncodingSortField("order", order="ascending"),
                axis=alt.Axis(labelAngle=-40, labelLimit=200)),
        y=alt.Y("band:O", title="Mean rating band", sort="descending"),
        color=alt.Color("schools:Q", title="Schools", scale=alt.Scale(scheme="blues")),
        tooltip=[alt.Tooltip("area:N"), alt.Tooltip("band:O"), alt.Tooltip("schools:Q")],
    ).properties(title=_placeholder_title()).to_dict()


RATING_NAMES = ["4 Sustainable", "3 Moving toward", "2 Initial steps", "1 Area of concern", "Not yet due",
                "Insufficient data", "Not comparable"]
RATING_COLORS = ["#2166ac", "#92c5de", "#fdb863", "#b35806", "#f7f7f7", "#cccccc", "#e3e3e3"]  # as scorecards.css


def _history() -> dict:
    """Rating history: one row per target, one column per evaluated year, the rating written in each cell."""
    base = _rows().encode(
        x=alt.X("year:O", title="Year judged (spring)", axis=alt.Axis(labelAngle=0, orient="top")),
        y=alt.Y("target:N", title=None, sort=alt.EncodingSortField("order", op="min"), axis=alt.Axis(labelLimit=260)))
    rect = base.mark_rect(stroke="white", strokeWidth=2).encode(
        color=alt.Color("rating:N", title=None, scale=alt.Scale(domain=RATING_NAMES, range=RATING_COLORS),
                        legend=None),
        tooltip=_tips(("target:N", "Target"), ("year:O", "Year judged"), ("rating:N", "Rating"),
                      ("interval:N", "Change, 95% interval")))
    text = base.mark_text(fontSize=11).encode(
        text="short:N", color=alt.condition("datum.short == '4' || datum.short == '1'", alt.value("white"),
                                             alt.value("black")))
    return alt.layer(rect, text).properties(width=alt.Step(70), height=alt.Step(22),
                                            title=_placeholder_title()).to_dict()


def _history_counts() -> dict:
    """The network's rating history: how many school x target cells got each rating, per evaluated year."""
    return _sized(_rows().mark_bar().encode(
        x=alt.X("year:O", title="Year judged (spring)", axis=alt.Axis(labelAngle=0)),
        y=alt.Y("cells:Q", title="School x target results", stack="zero"),
        color=alt.Color("rating:N", title=None, scale=alt.Scale(domain=RATING_NAMES, range=RATING_COLORS),
                        legend=alt.Legend(orient="bottom", columns=4)),
        order=alt.Order("order:Q"),
        tooltip=_tips(("year:O", "Year judged"), ("rating:N", "Rating"), ("cells:Q", "Results")),
    ))


@cache
def templates() -> dict[str, dict]:
    trends = {f"trend_{unit}": _trend(title, value_format=".1f" if unit != "score" else ".2f")
              for unit, title in Y_TITLE.items()}
    return {**trends, "trend_gap": _trend("Gap (points)", value_format="+.1f"),
            "subgroups_percent": _subgroups(Y_TITLE["percent"]),
            "subgroups_score": _subgroups(Y_TITLE["score"], state=False), "gaps": _gaps(),
            "readiness": _readiness(), "heatmap": _heatmap(), "distribution": _distribution(),
            "history": _history(), "history_counts": _history_counts()}


def templates_js() -> str:
    body = json.dumps(templates(), separators=(",", ":"), sort_keys=True)
    return f"/* equity-outcomes chart templates (Vega-Lite, built with Altair {alt.__version__}) */\n" \
           f"window.EO_TEMPLATES = {body};\n"


def columnar(rows: list[dict]) -> dict:
    """Rows as {"f": fields, "v": [[...], ...]} (half the size of repeated keys); the page script expands them."""
    fields = list(dict.fromkeys(k for r in rows for k in r))
    return {"f": fields, "v": [[r.get(k) for k in fields] for r in rows]}


def expand(data: dict) -> dict[str, list[dict]]:
    """The inverse of ``columnar`` for every dataset of a payload (used by tests)."""
    return {name: [dict(zip(d["f"], v, strict=True)) for v in d["v"]] for name, d in data.items()}


def series_colors(rows: list[dict]) -> dict:
    """Colours for a trend chart's series: each school/network series a colour of its own (blue, orange, green),
    each state series a grey; in the order the rows give them."""
    own = ["#0072B2", "#E69F00", "#009E73", "#CC79A7"]
    greys = ["#7f7f7f", "#3f3f3f", "#b0b0b0", "#5f5f5f"]
    domain, rng = [], []
    for r in sorted(rows, key=lambda r: r.get("order", 0)):
        name = r.get("series")
        if name in domain:
            continue
        pool = greys if r.get("kind") == "state" else own
        used = sum((k in greys) == (pool is greys) for k in rng)
        domain.append(name)
        rng.append(pool[used % len(pool)])
    return {"domain": domain, "range": rng}


def chart_payload(template: str, title: str, subtitle: str, datasets: dict[str, list[dict]],
                  meta: dict | None = None) -> dict:
    """``meta`` (metric, subject, grade, source, org) says which warehouse cells the rows come from; the page
    script ignores it, the safety tests check every charted value against it."""
    if template not in templates():
        raise KeyError(template)
    out = {"t": template, "title": {"text": title, "subtitle": subtitle},
           "data": {name: columnar(rows) for name, rows in datasets.items()}}
    if template.startswith("trend_") and datasets.get("series"):
        out["colors"] = series_colors(datasets["series"])
    if meta:
        out["meta"] = meta
    return out


@cache
def vega_bundle() -> str:
    """vega + vega-lite + vega-embed as one script (window.vegaEmbed/vega/vegaLite), from vl-convert: no CDN."""
    import vl_convert

    try:
        return vl_convert.javascript_bundle(vl_version=_vl_version())
    except Exception:  # an Altair newer than this vl-convert: its latest Vega-Lite
        return vl_convert.javascript_bundle()


def _vl_version() -> str:
    return ".".join(alt.SCHEMA_VERSION.lstrip("v").split(".")[:2])


_BUNDLE_SCRIPT = "import sys, vl_convert; sys.stdout.buffer.write(vl_convert.javascript_bundle(vl_version=sys.argv[1])" \
    ".encode('utf-8'))"


class BundleLater:
    """``vega_bundle()`` made in a child process: vl-convert holds the GIL for its ~2 s, so a publication starts it
    before the disclosure control, which runs meanwhile on the other core. Calling it gives the bundle (the same
    text; made here if the child failed); ``close()`` stops a child whose bundle is no longer wanted."""

    def __init__(self) -> None:
        self.child = None if vega_bundle.cache_info().currsize else _child.start(_BUNDLE_SCRIPT, _vl_version())

    def __call__(self) -> str:
        if self.child is None:
            return vega_bundle()
        out = _child.answer(self.child)
        return out.decode("utf-8") if self.child.returncode == 0 else vega_bundle()

    def close(self) -> None:
        _child.stop(self.child)


# --- helpers over the safe data ---------------------------------------------------------------------------------

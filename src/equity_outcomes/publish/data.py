"""Read what the scorecards need from the warehouse, once per table (never per school), and make it safe.

Everything here is aggregate: metric_values / metric_gaps / target_results / readiness_summary. Student-level tables
are never queried. Rows are limited to what is published: the rubric's metrics (those in target_results), the
subgroups all + required + their complements, the pooled grade selections ('all', '03-08', '10'), school rows of
the published and network schools, and the network's pooled rows.
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
from collections import defaultdict
from dataclasses import dataclass, field

import duckdb
import numpy as np
import pandas as pd

from ..catalog import metrics_frame
from ..judge import ROLLUP_COLUMNS
from ..warehouse import registered, table_names
from . import labels
from .disclosure import control, load_rules, summary_lines
from .disclosure.rules import Rules, primary_reasons
from .disclosure.targets import MEMBERS
from .labels import num

PUBLISHED_GRADES = ("all", "03-08", "10")
TARGET_COLUMNS = [
    "org_code", "org_level", "subgroup", "target_id", "subject", "metric", "source", "baseline_year",
    "baseline_value", "current_year", "current_value", "change_abs", "change_rel_pct", "target_value",
    "progress_pct", "rating", "rating_label", "status", "ci_low", "ci_high", "p_value", "n_baseline", "n_current",
    "is_distinguishable_from_noise", "flags", "implementation_year", "state_change_rel_pct", "state_change_source",
    "peer_change_rel_pct", "n_peers",
]
HONEST_COLUMNS = ["n_state_schools"]  # counts behind the context figures (#21); shown only when present
# written by the targets engine beyond the contract; used when present
OPTIONAL_TARGET_COLUMNS = ["grade", "baseline_metric", "ci_units", "met_by", "status_reason", "rule", "threshold",
                           "direction", "target_label", "category", "baseline_window", "baseline_subgroup_value",
                           "current_subgroup_value", "baseline_reference_value", "current_reference_value",
                           "complement_gap_baseline", "complement_gap_current", "complement_gap_change",
                           "peer_measure", "peer_low", "peer_high", "peer_percentile"]  # peers from DESE (#20)
# target_rollup's pooled_<column>: the network's row of target_results (its school count aside); the schools
# pooled keep their name (MEMBERS: what the disclosure control checks the pooled sides against)
ROLLUP_POOLED = {c: c if c == MEMBERS else c.removeprefix("pooled_") for c in ROLLUP_COLUMNS
                 if c.startswith("pooled_") and c != "pooled_n_schools"}


def text(x) -> str:
    if x is None or x is pd.NA or (isinstance(x, float) and math.isnan(x)):
        return ""
    return str(x)


@dataclass
class Site:
    built_at: str
    targets: dict[str, labels.TargetInfo]
    metrics: dict[str, dict]
    metric_notes: pd.DataFrame
    subgroups: dict[str, tuple[str, str]]
    roster: dict[str, dict]
    pages: list[str]
    network_codes: set[str]
    targets_safe: pd.DataFrame          # target rows after the disclosure control (the only ones published)
    mv_safe: pd.DataFrame               # cells after the disclosure control (the only ones published)
    readiness: pd.DataFrame | None
    vintage: int | None
    has_roster: bool
    warnings: list[str] = field(default_factory=list)
    targets_by_org: dict[str, list[dict]] = field(default_factory=dict)
    disclosure: dict = field(default_factory=dict)   # what the control withheld, per output
    history_safe: pd.DataFrame | None = None           # every evaluated year's rows (evaluated_year), controlled
    judged_year: int | None = None                     # the latest evaluated year (target_results' current year)
    district_safe: pd.DataFrame | None = None          # DESE's district rows beside the schools, primary rules applied
    solved: dict = field(default_factory=dict)         # the control's attacker's answers by programme (the audit's)


def _columns(con: duckdb.DuckDBPyConnection, table: str) -> list[str]:
    return [r[0] for r in con.execute(
        "SELECT column_name FROM information_schema.columns WHERE table_name = ? ORDER BY ordinal_position",
        [table]).fetchall()]


METRIC_WORDS = {"definition": "", "unit": "percent", "direction": "higher_is_better", "dese_reference": "",
                "denominator": ""}  # what the pages say of a metric, and the word when the catalog has none


def _metrics(con, objects: set[str], rules: Rules) -> tuple[dict[str, dict], pd.DataFrame]:
    cat = metrics_frame()
    if "ref_metrics" in objects:
        ref = con.execute("SELECT * FROM ref_metrics").df()
        extra = cat[~cat["metric"].isin(ref["metric"])]
        ref = pd.concat([ref, extra], ignore_index=True) if len(extra) else ref
    else:
        ref = cat
    ref = ref.assign(min_n=[rules.metric(str(m), text(u) or None).min_n for m, u in zip(
        ref["metric"], ref["unit"] if "unit" in ref.columns else [None] * len(ref), strict=True)])
    out = {str(r["metric"]): {**{k: text(r.get(k)) or blank for k, blank in METRIC_WORDS.items()},
                              "label": text(r.get("label")) or str(r["metric"]),
                              "min_n": int(mn) if (mn := num(r.get("min_n"))) is not None else 10}
           for r in ref.to_dict("records")}
    notes = ref[[c for c in ["metric", "label", "definition", "numerator", "denominator", "population", "unit",
                             "direction", "min_n", "sources", "dese_reference"] if c in ref.columns]].copy()
    return out, notes


def load_site(con: duckdb.DuckDBPyConnection, *, schools: list[str] | None, built_at: str, say,
              rules: Rules | None = None, solved: dict | None = None) -> Site:
    objects = set(table_names(con))  # tables and views
    warnings: list[str] = []
    targets = labels.load_targets()
    subgroups = labels.load_subgroups()
    comps = labels.complements(subgroups)
    rules = rules or load_rules()
    metrics, metric_notes = _metrics(con, objects, rules)

    roster = {str(r["org_code"]): r for r in con.execute("SELECT * FROM roster").df().to_dict("records")} \
        if "roster" in objects else {}
    has_roster = bool(roster)
    network_codes = {c for c, r in roster.items() if num(r.get("is_network_school")) == 1}

    # target results (all of them, one query), and every evaluated year's (the rating history)
    tr = _read_targets(con, "target_results", objects, warnings)
    history = _read_targets(con, "target_results_history", objects, None)
    if not (tr["org_level"] == "network").any() and "target_rollup" in objects:
        pooled = _pooled_from_rollup(con)
        if len(pooled):
            tr = pd.concat([tr, pooled], ignore_index=True)
    targets = _targets_from_rows(targets, tr)

    # which pages
    school_codes = set(tr.loc[tr["org_level"] == "school", "org_code"])
    default_pages = sorted(network_codes or roster or school_codes)
    if schools is not None:
        known = set(roster) | school_codes  # default_pages are some of these
        unknown = [s for s in schools if s not in known]
        if unknown:
            warnings.append(f"no such school(s) in the warehouse: {', '.join(unknown[:10])}")
        pages = [s for s in dict.fromkeys(str(s) for s in schools) if s in known]
    else:
        pages = default_pages
    if not network_codes and not roster:
        network_codes = set(default_pages)

    # metric values with state averages and group keys, one query
    metric_ids = set() if len(tr) else {m for t in targets.values() for m in t.metrics}
    for frame in (tr, history):
        for col in ("metric", "baseline_metric"):
            if frame is not None and col in frame.columns:
                metric_ids |= set(frame[col].dropna().astype(str))
    metric_ids = sorted(metric_ids)
    published_subgroups = ["all", *labels.REQUIRED_SUBGROUPS] + [comps[g] for g in labels.REQUIRED_SUBGROUPS
                                                                  if g in comps]
    orgs = sorted(set(pages) | network_codes | {"network"})
    mv = pd.DataFrame()
    if "metric_values" in objects and metric_ids:
        mv = read_metric_values(con, orgs, metric_ids, published_subgroups,
                                with_state="metric_state_reference" in objects)
        if "metric_state_reference" not in objects:
            warnings.append("the warehouse has no metric_state_reference view: no state averages beside the trends")
    else:
        warnings.append("the warehouse has no metric_values table: no trend charts")
    say(f"scorecards: read {len(tr):,} target results and {len(mv):,} metric values")

    rules_by_target = {t.id: t.rule for t in targets.values()}
    deps = read_dependency_cells(con, tr, orgs, published_subgroups) if "metric_values" in objects else None
    controlled = control(mv if len(mv) else _empty_mv(), tr, deps, complements=comps, network_codes=network_codes,
                         pages=pages, rules=rules, rules_by_target=rules_by_target, say=say, history=history,
                         solved=solved)
    mv_safe, tr_safe = controlled.cells, controlled.targets
    for line in summary_lines(controlled.summary):
        say(f"disclosure: {line}")

    readiness = None
    if "readiness_summary" in objects:
        readiness = con.execute("SELECT * FROM readiness_summary").df()
        readiness["org_code"] = readiness["org_code"].astype(str)
        if not len(readiness):
            readiness = None

    judged_year = _judged_year(tr)
    vintage = int(pd.to_numeric(mv["school_year"]).max()) if len(mv) else judged_year
    return Site(built_at=built_at, targets=targets, metrics=metrics, metric_notes=metric_notes,
                subgroups=subgroups, roster=roster, pages=pages, network_codes=network_codes,
                targets_safe=tr_safe, mv_safe=mv_safe, readiness=readiness, vintage=vintage,
                has_roster=has_roster, warnings=warnings, disclosure=controlled.summary,
                history_safe=controlled.history, judged_year=judged_year, solved=controlled.solved,
                district_safe=read_district_cells(con, roster, pages, metric_ids, rules)
                if "metric_values" in objects else None)


def _read_targets(con, table: str, objects: set[str], warnings: list[str] | None) -> pd.DataFrame | None:
    """School and network rows of target_results (or its history: ``evaluated_year`` too) in the published
    columns; None for a missing history, an empty frame (with a warning) for missing target_results."""
    if table not in objects:
        if warnings is None:
            return None
        warnings.append("the warehouse has no target_results table: scorecards show trends only")
        return pd.DataFrame(columns=TARGET_COLUMNS)
    have = set(_columns(con, table))
    missing = [c for c in TARGET_COLUMNS if c not in have]
    if missing and warnings is not None:
        warnings.append(f"target_results has no column(s) {', '.join(missing)}: shown as blank")
    sel = ", ".join(["evaluated_year"] * ("evaluated_year" in have)
                    + [f'"{c}"' if c in have else f'NULL AS "{c}"' for c in TARGET_COLUMNS]
                    + [f'"{c}"' for c in OPTIONAL_TARGET_COLUMNS + HONEST_COLUMNS if c in have])
    # ORDER BY ALL: one row order every run (ties in the pages' "lowest rating" fall the same way)
    df = con.execute(f"SELECT {sel} FROM {table} WHERE org_level IN ('school', 'network') ORDER BY ALL").df()
    df["org_code"] = df["org_code"].astype(str)
    return df


def read_district_cells(con, roster: dict[str, dict], pages: list[str], metrics: list[str],
                        rules: Rules) -> pd.DataFrame | None:
    """All students' rows of the published schools' districts as DESE published them (metric_values, org_level
    'district'), through the control's primary rules: a district cell of fewer than min_n students, an event rate
    on 1 to 5 students or one DESE withheld is blank. District figures sum over schools this publication does not
    show, so they close no linked set of the published cells."""
    codes = sorted({text(roster.get(c, {}).get("district_code")) for c in pages} - {""})
    if not codes or not metrics:
        return None
    df = con.execute(
        "SELECT org_code, school_year::INTEGER AS school_year, metric, subject, grade, source, "
        "n_students::DOUBLE AS n, value::DOUBLE AS value, numerator::DOUBLE AS numerator, is_suppressed "
        f"FROM metric_values WHERE org_level = 'district' AND subgroup = 'all' "
        f"AND org_code IN ({', '.join('?' * len(codes))}) AND metric IN ({', '.join('?' * len(metrics))})",
        [*codes, *metrics]).df()
    withheld = primary_reasons(df, rules) != ""
    for c in ("n", "value", "numerator"):
        df[c] = df[c].where(~withheld)
    return df.assign(withheld=withheld)


def _judged_year(tr: pd.DataFrame) -> int | None:
    v = num(pd.to_numeric(tr["current_year"], errors="coerce").max()) if len(tr) else None
    return int(v) if v is not None else None


def _pooled_from_rollup(con: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    """The engine keeps the network's pooled result in target_rollup (pooled_*): as target_results-like rows."""
    have = set(_columns(con, "target_rollup"))
    if not {"target_id", "subgroup", "pooled_status"} <= have:
        return pd.DataFrame()
    cols = ["target_id", "subject", "subgroup", *[c for c in ROLLUP_POOLED if c in have]]
    df = con.execute(f"SELECT {', '.join(cols)} FROM target_rollup WHERE pooled_status IS NOT NULL").df()
    df = df.rename(columns=ROLLUP_POOLED)
    df["org_code"] = "network"
    df["org_level"] = "network"
    for c in TARGET_COLUMNS:
        if c not in df.columns:
            df[c] = None
    return df


def _targets_from_rows(targets: dict[str, labels.TargetInfo], tr: pd.DataFrame) -> dict[str, labels.TargetInfo]:
    """The rule, threshold and direction the engine actually used (a custom --targets file) win over the
    default catalog; labels and categories come from the rows for targets the catalog does not know."""
    if not len(tr) or "rule" not in tr.columns:
        return targets
    out = dict(targets)
    first = tr.dropna(subset=["rule"]).drop_duplicates("target_id")
    for r in first.to_dict("records"):
        tid = str(r["target_id"])
        base, thr = labels.target_info(out, tid), num(r.get("threshold"))
        out[tid] = dataclasses.replace(  # an unknown target's base: its id in words, category "Other"
            base, label=base.label if tid in targets else (text(r.get("target_label")) or base.label),
            category=base.category if tid in targets else (text(r.get("category")) or base.category),
            rule=text(r.get("rule")) or base.rule, direction=text(r.get("direction")) or base.direction,
            threshold=thr if thr is not None else base.threshold,
            reference=text(r.get("reference")) or base.reference)
    return out


def read_metric_values(con: duckdb.DuckDBPyConnection, orgs: list[str], metrics: list[str], subgroups: list[str],
                       *, with_state: bool = True) -> pd.DataFrame:
    """Published-scope rows of metric_values with the state average beside each (read from metric_state_reference,
    where the state-gap rule is defined once: models/marts/metric_state_reference.sql; not metric_gaps, whose
    complement self-join over all of metric_values took 370 MB more at 300,000 students). Keys come back as integer
    codes; strings are rebuilt as categoricals."""
    subjects, sources = ([r[0] for r in con.execute(f"SELECT DISTINCT {c} FROM metric_values WHERE {c} IS NOT NULL "
                                                    f"ORDER BY {c}").fetchall()]  # one order every run: rows, cells
                         for c in ("subject", "source"))
    dicts = {f"eo_pub_{name}s": pd.DataFrame({col: list(values), "i": range(len(values))}) for name, col, values in (
        ("org", "org_code", orgs), ("metric", "metric", metrics), ("subgroup", "subgroup", subgroups),
        ("subject", "subject", subjects), ("grade", "grade", PUBLISHED_GRADES), ("source", "source", sources))}
    with contextlib.ExitStack() as stack:
        for name, frame in dicts.items():
            stack.enter_context(registered(con, name, frame))
        df = con.execute(f"""
            SELECT o.i AS org_i, (m.org_level = 'network')::INTEGER AS lvl_i,
                   m.school_year::INTEGER AS school_year, sg.i AS sg_i, mt.i AS metric_i,
                   coalesce(sj.i, -1) AS subj_i, gr.i AS grade_i, so.i AS source_i,
                   m.n_students::DOUBLE AS n_students, m.value::DOUBLE AS value, m.is_suppressed,
                   m.numerator::DOUBLE AS numerator, m.state_value
            FROM {"metric_state_reference" if with_state else "(SELECT *, NULL::DOUBLE AS state_value FROM metric_values)"} m
            JOIN eo_pub_orgs o ON o.org_code = m.org_code
            JOIN eo_pub_metrics mt ON mt.metric = m.metric
            JOIN eo_pub_subgroups sg ON sg.subgroup = m.subgroup
            JOIN eo_pub_grades gr ON gr.grade = m.grade
            JOIN eo_pub_sources so ON so.source = m.source
            LEFT JOIN eo_pub_subjects sj ON sj.subject = m.subject
            WHERE (m.org_level = 'school' AND m.org_code <> 'network')
               OR (m.org_level = 'network' AND m.org_code = 'network')
            ORDER BY org_i, sg_i, metric_i, subj_i, source_i, grade_i, school_year
        """).df()

    def cat(codes, values) -> pd.Categorical:
        return pd.Categorical.from_codes(np.asarray(codes, dtype=int), categories=list(values))

    out = pd.DataFrame({
        "org_code": cat(df["org_i"], orgs),
        "org_level": cat(df["lvl_i"], ["school", "network"]),
        "school_year": df["school_year"].to_numpy(dtype=int),
        "subgroup": cat(df["sg_i"], subgroups),
        "metric": cat(df["metric_i"], metrics),
        "subject": cat(df["subj_i"], subjects) if subjects else pd.Categorical([None] * len(df)),
        "grade": cat(df["grade_i"], PUBLISHED_GRADES),
        "source": cat(df["source_i"], sources),
        **{c: df[c].to_numpy(dtype=float, na_value=np.nan) for c in ("n_students", "value", "numerator")},
        "is_suppressed": df["is_suppressed"].astype("boolean").fillna(True).to_numpy(dtype=bool),
        "state_value": df["state_value"].to_numpy(dtype=float, na_value=np.nan),
    })
    out["gap_to_state"] = out["value"] - out["state_value"]
    return out


def _empty_mv() -> pd.DataFrame:
    cols = {"org_code": object, "org_level": object, "school_year": int, "subgroup": object, "metric": object,
            "subject": object, "grade": object, "source": object, "n_students": float, "value": float,
            "numerator": float, "is_suppressed": bool, "state_value": float, "gap_to_state": float}
    return pd.DataFrame({c: pd.Series(dtype=t) for c, t in cols.items()})


def read_dependency_cells(con: duckdb.DuckDBPyConnection, tr: pd.DataFrame, orgs: list[str],
                          subgroups: list[str]) -> pd.DataFrame | None:
    """Cells that target rows rest on without being published (the single grades of a growth target)."""
    if not len(tr) or "grade" not in tr.columns:
        return None
    grades = sorted({g for v in tr["grade"].dropna().astype(str) for g in v.split(",")} - set(PUBLISHED_GRADES))
    metrics = sorted(set(tr["metric"].dropna().astype(str)) | (set(tr["baseline_metric"].dropna().astype(str))
                                                              if "baseline_metric" in tr.columns else set()))
    if not grades or not metrics:
        return None
    q = ", ".join("?" * len(grades)), ", ".join("?" * len(metrics)), ", ".join("?" * len(orgs)), \
        ", ".join("?" * len(subgroups))
    return con.execute(
        "SELECT org_code, org_level, school_year::INTEGER AS school_year, subgroup, metric, subject, grade, source, "
        "n_students::DOUBLE AS n_students, value::DOUBLE AS value, numerator::DOUBLE AS numerator, is_suppressed "
        f"FROM metric_values WHERE grade IN ({q[0]}) AND metric IN ({q[1]}) AND org_code IN ({q[2]}) "
        f"AND subgroup IN ({q[3]}) AND org_level IN ('school', 'network')",
        [*grades, *metrics, *orgs, *subgroups]).df()


def run_starts(df: pd.DataFrame, key_cols) -> np.ndarray:
    """True on each row (of a non-empty frame) whose ``key_cols`` differ from the row before: where a run of rows
    with the same keys starts."""
    change = np.zeros(len(df), dtype=bool)
    change[0] = True
    for c in key_cols:
        codes = df[c].cat.codes.to_numpy() if isinstance(df[c].dtype, pd.CategoricalDtype) \
            else pd.factorize(df[c].astype(object))[0]
        change[1:] |= codes[1:] != codes[:-1]
    return change


def series_index(mv_safe: pd.DataFrame, subgroups: set[str]) -> dict[str, dict[tuple, list[tuple]]]:
    """org_code -> (subgroup, metric, subject, source, grade) -> [(year, value, n, state_value, gap, withheld)]
    sorted by year. The safe frame is sorted by those keys then year, so each key is one contiguous slice."""
    out: dict[str, dict[tuple, list[tuple]]] = {}
    if not len(mv_safe):
        return out
    df = mv_safe[mv_safe["subgroup"].astype(object).isin(subgroups).to_numpy()]
    if not len(df):
        return out
    key_cols = ("org_code", "subgroup", "metric", "subject", "source", "grade")
    years = pd.to_numeric(df["school_year"]).to_numpy(dtype=int)
    change = run_starts(df, key_cols)
    change[1:] |= years[1:] <= years[:-1]  # unsorted input: start a new slice (merged below)
    starts = np.flatnonzero(change)
    ends = np.r_[starts[1:], len(df)]

    def clean(c: str) -> list:
        a = pd.to_numeric(df[c], errors="coerce").to_numpy(dtype=float, na_value=np.nan)
        return [None if x != x else x for x in a.tolist()]

    vals, ns, svs, gps = clean("value"), clean("n_students"), clean("state_value"), clean("gap_to_state")
    ns = [None if x is None else int(x) for x in ns]
    sup = df["is_suppressed"].to_numpy(dtype=bool).tolist()
    yl = years.tolist()
    keys = {c: df[c].astype(object).to_numpy()[starts].tolist() for c in key_cols}
    for i, (s, e) in enumerate(zip(starts.tolist(), ends.tolist(), strict=True)):
        subj = keys["subject"][i]
        subj = subj if isinstance(subj, str) else None
        key = (keys["subgroup"][i], keys["metric"][i], subj, keys["source"][i], keys["grade"][i])
        pts = list(zip(yl[s:e], vals[s:e], ns[s:e], svs[s:e], gps[s:e], sup[s:e], strict=True))
        d = out.setdefault(str(keys["org_code"][i]), {})
        d[key] = sorted(d[key] + pts) if key in d else pts
    return out


def page_readiness(site: Site, *, latest: bool = False) -> pd.DataFrame | None:
    """The published schools' readiness rows (``latest``: each school's latest year only); None when there are none."""
    rd = site.readiness
    if rd is None:
        return None
    rd = rd[rd["org_code"].isin(set(site.pages))]
    if latest and len(rd):
        yrs = pd.to_numeric(rd["school_year"])
        rd = rd[(yrs == yrs.groupby(rd["org_code"]).transform("max")).to_numpy()]
    return rd if len(rd) else None


def latest_readiness(site: Site) -> dict[str, list[dict]]:
    """org_code -> the latest year's readiness rows (areas in order), computed once for all schools."""
    latest = page_readiness(site, latest=True)
    if latest is None:
        return {}
    latest = latest.sort_values(["org_code", "area_type", "area_number"], kind="stable")
    out: dict[str, list[dict]] = defaultdict(list)
    for r in latest.to_dict("records"):
        out[str(r["org_code"])].append(r)
    return out

"""CSV/XLSX exports of what the pages show, built once for the whole network and sliced per school.

Per school: ``exports/<org_code>.xlsx`` (sheets scorecard, trends, readiness when present, notes) and the same tables
as ``exports/<org_code>/<table>.csv``. Network: ``exports/network.xlsx`` (school_matrix, rating_counts,
network_results, school_results, network_trends, readiness, notes) and ``exports/network/<table>.csv``;
``exports/metric_definitions.csv``.

trends is one row per group x measure (subgroup, metric, subject, grade, source) with the value and the n of every
year side by side (``2019``, ``n_2019``, ...), a ``State (all students)`` row per measure, and a note naming the
withheld years. Only values that passed the disclosure control are here (see disclosure/): a withheld year is blank
in both columns, and the note does not say why (a primary cell and its complementary cells look alike).
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

import numpy as np
import pandas as pd

from . import history, labels
from .data import Site, page_readiness, run_starts, text
from .disclosure.targets import MEMBERS
from .html import SUBJECT_ORDER, rating_words, school_label, subgroup_label, subject_label
from .network import matrix_columns, matrix_row  # shared with the network page
from .workbook import Rendered, Sheet, render, write_lines, write_xlsx

SCORECARD_EXPORT = [
    "org_code", "school_name", "target_id", "target", "category", "subject", "subgroup", "subgroup_label", "metric",
    "metric_label", "source", "baseline_year", "baseline_value", "n_baseline", "current_year", "current_value",
    "n_current", "change_abs", "change_rel_pct", "target_value", "progress_pct", "rating", "rating_label", "status",
    "status_reason", "ci_low", "ci_high", "ci_units", "p_value", "is_distinguishable_from_noise", "flags",
    "flag_notes", "implementation_year", "state_change_rel_pct", "state_change_source", "peer_change_rel_pct",
    "n_peers", "peer_measure", "peer_low", "peer_high", "peer_percentile", "n_state_schools", "withheld", "grade",
    "baseline_metric", "baseline_window", "reference",
]
NETWORK_EXPORT = [*SCORECARD_EXPORT, MEMBERS]  # the schools a pooled row pools (docs/disclosure.md)
READINESS_EXPORT = ["org_code", "school_name", "school_year", "area_type", "area_number", "area_name",
                    "mean_rating", "sd_rating", "n_items", "n_raters", "n_items_rated_1", "change_from_prior_year"]
WITHHELD_NOTE = "withheld to protect small groups"
TREND_KEYS = ["org_code", "subgroup", "subgroup_label", "metric", "metric_label", "subject", "grade", "source"]


def scorecard_frame(site: Site, tr: pd.DataFrame, page_rank: dict[str, int],
                    columns: list[str] = SCORECARD_EXPORT) -> pd.DataFrame:
    """target_results rows (already protected) with the rubric's words, labels and plain-language flag notes."""
    if not len(tr):
        return pd.DataFrame(columns=columns)
    df = tr.copy()
    info = {tid: labels.target_info(site.targets, tid) for tid in df["target_id"].astype(str).unique()}
    tid = df["target_id"].astype(str)
    df["target"] = tid.map({k: v.label for k, v in info.items()})
    df["category"] = tid.map({k: v.category for k, v in info.items()})
    sg = df["subgroup"].astype(object).where(df["subgroup"].notna(), "all")
    df["subgroup"] = sg
    df["subgroup_label"] = sg.map(lambda g: subgroup_label(site, g))
    df["metric_label"] = df["metric"].astype(object).map(lambda m: site.metrics.get(text(m), {}).get("label", text(m)))
    df["school_name"] = df["org_code"].map(lambda c: text(site.roster.get(c, {}).get("school_name")) or
                                           ("Network (pooled)" if c == "network" else c))
    flags = df["flags"].astype(object).where(df["flags"].notna(), "")  # flags and noise: data.TARGET_COLUMNS
    uniq = {f: (",".join(labels.split_flags(f)), " | ".join(labels.flag_text(x) for x in labels.split_flags(f)))
            for f in pd.unique(flags)}
    df["flags"] = flags.map(lambda f: uniq[f][0])
    df["flag_notes"] = flags.map(lambda f: uniq[f][1])
    d = df["is_distinguishable_from_noise"]
    df["is_distinguishable_from_noise"] = d.astype(object).where(d.notna(), None).map(
        lambda v: None if v is None else bool(v))
    for c in columns:
        if c not in df.columns:
            df[c] = None
    for c in ("baseline_value", "current_value", "change_abs", "change_rel_pct", "target_value", "progress_pct",
              "ci_low", "ci_high", "p_value", "state_change_rel_pct", "peer_change_rel_pct", "peer_low", "peer_high",
              "peer_percentile"):
        df[c] = pd.to_numeric(df[c], errors="coerce").astype(float).round(4)
    for c in ("baseline_year", "current_year", "n_baseline", "n_current", "rating", "implementation_year", "n_peers",
              "n_state_schools"):
        df[c] = pd.to_numeric(df[c], errors="coerce").astype(float)
    cat_rank = {c: i for i, c in enumerate(labels.CATEGORY_ORDER)}
    sg_rank = {g: i + 1 for i, g in enumerate(labels.REQUIRED_SUBGROUPS)} | {"all": 0}
    df["_k0"] = df["org_code"].map(page_rank).fillna(len(page_rank))
    df["_k1"] = df["category"].map(cat_rank).fillna(99)
    df["_k2"] = tid.map({k: v.order for k, v in info.items()})
    df["_k3"] = df["subject"].astype(object).map(SUBJECT_ORDER).fillna(-1)
    df["_k4"] = sg.map(sg_rank).fillna(50)
    df = df.sort_values(["_k0", "_k1", "_k2", "_k3", "_k4"], kind="stable")
    return df[columns].reset_index(drop=True)


def trends_frame(site: Site, orgs: set[str]) -> pd.DataFrame:
    """Wide trend table per org (rows of one org contiguous, in the safe frame's order)."""
    mv = site.mv_safe
    years = sorted(int(y) for y in pd.unique(mv["school_year"])) if len(mv) else []
    cols = TREND_KEYS + [c for y in years for c in (str(y), f"n_{y}")] + ["note"]
    if not len(mv):
        return pd.DataFrame(columns=cols)
    m = mv[mv["org_code"].astype(object).isin(orgs).to_numpy()]
    if not len(m):
        return pd.DataFrame(columns=cols)
    key_cols = ["org_code", "subgroup", "metric", "subject", "grade", "source"]
    change = run_starts(m, key_cols)
    kid = np.cumsum(change) - 1
    nk = int(kid[-1]) + 1
    yi = np.searchsorted(years, m["school_year"].to_numpy())

    def grid(col: str, blank=np.nan, dtype=float) -> np.ndarray:  # one key a row, one year a column
        out = np.full((nk, len(years)), blank, dtype=dtype)
        out[kid, yi] = m[col].to_numpy(dtype=dtype)
        return out

    V, N, S, R = grid("value"), grid("n_students"), grid("state_value"), grid("withheld", False, bool)
    first = np.flatnonzero(change)
    head = m.iloc[first][key_cols].reset_index(drop=True)
    for c in key_cols:
        head[c] = head[c].astype(object)

    def build(h: pd.DataFrame, vals: np.ndarray, ns: np.ndarray | None, rs: np.ndarray | None) -> pd.DataFrame:
        out = {c: h[c].to_numpy(dtype=object) for c in key_cols}
        out["subgroup_label"] = np.array([("State (all students)" if g == "state" else subgroup_label(site, g))
                                          for g in out["subgroup"]], dtype=object)
        out["metric_label"] = np.array([site.metrics.get(x, {}).get("label", x) for x in out["metric"]],
                                       dtype=object)
        for j, y in enumerate(years):
            out[str(y)] = np.round(vals[:, j], 2)
            out[f"n_{y}"] = ns[:, j] if ns is not None else np.full(len(h), np.nan)
        notes = np.full(len(h), "", dtype=object)
        if rs is not None:
            for i in np.flatnonzero(rs.any(axis=1)):
                notes[i] = f"{WITHHELD_NOTE}: {', '.join(str(years[j]) for j in np.flatnonzero(rs[i]))}"
        out["note"] = notes
        return pd.DataFrame(out)

    main = build(head, V, N, R)
    main["_o"] = np.arange(len(main)) * 2
    is_all = (head["subgroup"] == "all").to_numpy()
    if is_all.any() and np.isfinite(S[is_all]).any():
        sh = head[is_all].copy()
        sh["subgroup"] = "state"
        state = build(sh.reset_index(drop=True), S[is_all], None, None)
        state["_o"] = np.flatnonzero(is_all) * 2 + 1
        state = state[np.isfinite(S[is_all]).any(axis=1)]
        main = pd.concat([main, state], ignore_index=True)
    main = main.sort_values("_o", kind="stable").drop(columns="_o").reset_index(drop=True)
    return main[cols]


def readiness_frame(site: Site) -> pd.DataFrame | None:
    rd = page_readiness(site)
    if rd is None:
        return None
    rd = rd.copy()
    rd["school_name"] = rd["org_code"].map(lambda c: school_label(site, c)[0])
    for c in READINESS_EXPORT:
        if c not in rd.columns:
            rd[c] = None
    rd = rd.sort_values(["org_code", "school_year", "area_type", "area_number"], kind="stable")
    return rd[READINESS_EXPORT].reset_index(drop=True)


def notes_rows(site: Site) -> list[list]:
    fixed = {item: [item, *words] for item, words in labels.WORDS["notes"].items()}
    rows = [["data_vintage", "latest school year (spring)", site.vintage],
            ["built_at", "when these files were written (UTC)", site.built_at], fixed["small_cells"],
            ["network_schools", "schools pooled in the network's figures", len(site.network_codes)],
            fixed["student_records"], fixed["trends"]]
    rows += [[f"flag:{f}", labels.FLAG_SHORT.get(f, f), s] for f, s in labels.FLAG_TEXT.items()]
    rows += [[f"status:{st}", s, labels.STATUS_EXPLAIN.get(st, "")] for st, s in labels.STATUS_TEXT.items()]
    return rows + [[f"metric:{m['metric']}", text(m.get("label")),
                    f"{text(m.get('definition'))} Denominator: {text(m.get('denominator'))}. Unit: "
                    f"{text(m.get('unit'))}; {text(m.get('direction')).replace('_', ' ')}; minimum n "
                    f"{text(m.get('min_n')).split('.')[0]}. {text(m.get('dese_reference'))}".strip()]
                   for m in site.metric_notes.to_dict("records")]


def _bounds_of(table: pd.DataFrame) -> dict[str, tuple[int, int]]:
    """Each org's rows (contiguous): org_code -> (start, stop)."""
    if not len(table):
        return {}
    starts, codes = np.flatnonzero(run_starts(table, ["org_code"])).tolist(), table["org_code"].to_numpy(dtype=object)
    return {str(codes[s]): (s, e) for s, e in zip(starts, [*starts[1:], len(table)], strict=True)}


def _rendered(table: pd.DataFrame | None) -> tuple[Rendered | None, dict[str, tuple[int, int]]]:
    return (None, {}) if table is None else (render(table, list(table.columns)), _bounds_of(table))


class Exports:
    """Renders every table once; ``school(code)`` and ``network()`` write the files and return bytes written."""

    def __init__(self, site: Site, base: Path, by_org: dict[str, list[dict]]) -> None:
        self.site, self.base, self.by_org = site, base, by_org
        rank = {c: i for i, c in enumerate(site.pages)}
        tr = site.targets_safe
        school_tr = tr[(tr["org_level"] == "school") & tr["org_code"].isin(set(site.pages))] if len(tr) else tr
        self.network_results = scorecard_frame(site, tr[tr["org_level"] == "network"] if len(tr) else tr, {},
                                               NETWORK_EXPORT)
        self.r_notes = render(notes_rows(site), ["item", "label", "text"])
        self.notes = self.r_notes.sheet("notes", wrap={2})
        # every school's tables, kept rendered (a code per cell) with each school's rows, not as frames;
        # school_results is r_scorecards whole
        self.r_scorecards, self.b_scorecards = _rendered(scorecard_frame(site, school_tr, rank))
        self.r_trends, self.b_trends = _rendered(trends_frame(site, set(site.pages)))
        self.r_readiness, self.b_readiness = _rendered(readiness_frame(site))

    def school(self, code: str, fn: str) -> int:
        parts: list[tuple[str, Rendered, tuple[int, int]]] = [
            ("scorecard", self.r_scorecards, self.b_scorecards.get(code, (0, 0))),
            ("trends", self.r_trends, self.b_trends.get(code, (0, 0))),
        ]
        if self.r_readiness is not None and code in self.b_readiness:
            parts.append(("readiness", self.r_readiness, self.b_readiness[code]))
        sheets: list[Sheet] = [r.sheet(name, s, e) for name, r, (s, e) in parts]
        size = write_xlsx(self.base / f"{fn}.xlsx", [*sheets, self.notes],
                          title=f"{school_label(self.site, code)[0]} scorecard")
        for tname, r, (s, e) in parts:
            size += write_lines(self.base / fn / f"{tname}.csv", r.csv_lines(s, e))
        return size

    def network(self) -> int:
        site = self.site
        defs = site.metric_notes
        size = write_lines(self.base / "metric_definitions.csv", render(defs, list(defs.columns)).csv_lines())
        matrix_header, matrix, counts_header, counts = self._matrix()
        tables: list[tuple[str, Rendered]] = [
            ("school_matrix", render(matrix, matrix_header)),
            ("rating_counts", render(counts, counts_header)),
            ("network_results", render(self.network_results, NETWORK_EXPORT)),
            ("school_results", self.r_scorecards),
            ("network_trends", render(trends_frame(site, {"network"}), self.r_trends.header)),
        ]
        if self.r_readiness is not None:
            tables.append(("readiness", self.r_readiness))
        size += write_xlsx(self.base / "network.xlsx", [r.sheet(n) for n, r in tables] + [self.notes],
                           title="Network scorecards")
        for n, r in [*tables, ("notes", self.r_notes)]:
            size += write_lines(self.base / "network" / f"{n}.csv", r.csv_lines())
        return size

    def _matrix(self):
        site = self.site

        cols = matrix_columns(site, self.by_org)
        names = [f"{labels.target_info(site.targets, t).short}{' ' + subject_label(s) if s else ''}" for t, s in cols]
        matrix, tally = [], {k: defaultdict(int) for k in cols}  # tally: the network's own schools, as the page
        network = set(history.network_pages(site))
        for code in site.pages:
            cells = []
            for k, (r, _n) in zip(cols, matrix_row(site, self.by_org.get(code, []), cols), strict=True):
                cells.append(rating_words(r) if r else None)
                tally[k][text(r.get("status")) if r else "no_result"] += code in network
            ro = site.roster.get(code, {})
            matrix.append([code, text(ro.get("school_name")) or code, text(ro.get("district_name")),
                           int(code in site.network_codes), *cells])
        statuses = ["met", "moving_toward", "initial_steps", "area_of_concern", "not_yet_due", "insufficient_data",
                    "not_comparable", "no_result"]
        counts = [[t, s or None, n, *[tally[(t, s)].get(k, 0) for k in statuses]]
                  for (t, s), n in zip(cols, names, strict=True)]
        return (["org_code", "school_name", "district_name", "is_network_school", *names], matrix,
                ["target_id", "subject", "column", *statuses], counts)

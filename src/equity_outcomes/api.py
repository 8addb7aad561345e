"""A small, read-only API over the warehouse for notebooks and ad-hoc analysis.

>>> from equity_outcomes.api import open_warehouse, gap_to_state, did_estimate   # doctest: +SKIP
>>> with open_warehouse() as wh:                                                  # doctest: +SKIP
...     mv = wh.metric_values(schools="00110505", metrics="pct_absent_10_plus_days", subgroups="all")
...     gaps = gap_to_state(wh, "00130010", "pct_meeting_or_exceeding", "low_income", subject="ela")
...     did = did_estimate(wh)              # PL network vs comparison schools, % absent 10+ days

Everything here only reads: :func:`open_warehouse` opens the DuckDB file read-only, so it is safe while a flow runs
(flows write a staged copy, ``<file>.staging``, and replace the file atomically at the end; an open reader keeps
seeing the version it opened). Every filter is passed to DuckDB as a bound parameter, never formatted into SQL.

Conventions (as in the warehouse): ``school_year`` is the spring year (2024 = 2023-24); ``org_code`` is DESE's
8-digit code as text (integers are zero-padded for you); percent metrics are on a 0-100 scale; suppressed values are
NULL with ``is_suppressed`` true. Subjects are stored in lower case (``ela``, ``math``, ``sci``); filters accept any
case. The statistics are those of :mod:`equity_outcomes.judge.stats` (re-exported here); see ``docs/api.md`` for the
difference-in-differences method and its assumptions.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import pandas as pd
from scipy import stats as _st

from . import catalog, paths
from .errors import EquityOutcomesError
from .judge.stats import (
    cohens_h,
    newcombe_diff_interval,
    relative_change_interval,
    standardized_mean_difference,
    wilson_interval,
    z_value,
)
from .warehouse import connect_read_only, table_names

__all__ = [
    "DidResult",
    "EffectSize",
    "Warehouse",
    "cohens_h",
    "did_estimate",
    "effect_size_for_change",
    "gap_to_state",
    "newcombe_diff_interval",
    "open_warehouse",
    "relative_change_interval",
    "standardized_mean_difference",
    "wilson_interval",
]

ORG_LEVELS = ("school", "network", "district", "state")
SOURCES = ("student", "dese")
#: grades tried, in order, when a helper is not told which grade to use (the pooled rows first)
POOLED_GRADES = ("all", "03-08")


# ------------------------------------------------------------------------------------------ filter building


def _as_list(value: Any) -> list | None:
    """None -> None (no filter); a scalar -> [scalar]; any other iterable (list, tuple, set, range) -> list."""
    if value is None:
        return None
    if isinstance(value, (str, bytes, int, np.integer)):
        return [value]
    if isinstance(value, Iterable):
        return list(value)
    return [value]


def _org_code(value: Any) -> str:
    """DESE org codes are 8-digit text: ``110505`` or ``'110505'`` -> ``'00110505'``; other codes unchanged."""
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        return f"{int(value):08d}"
    text = str(value).strip()
    if text.isdigit() and len(text) < 8:
        return text.zfill(8)
    return text


class _Where:
    """Collects ``column IN (?, ?, ...)`` clauses and their parameters (values are always bound, never inlined)."""

    def __init__(self) -> None:
        self.clauses: list[str] = []
        self.params: list[Any] = []

    def add_in(self, column: str, values: Sequence | None, *, lower: bool = False) -> None:
        if values is None:
            return
        if len(values) == 0:
            self.clauses.append("FALSE")
            return
        marks = ", ".join("?" for _ in values)
        expr = f"lower({column})" if lower else column
        self.clauses.append(f"{expr} IN ({marks})")
        self.params.extend(str(v).lower() if lower else v for v in values)

    def add(self, clause: str, *params: Any) -> None:
        self.clauses.append(clause)
        self.params.extend(params)

    def sql(self) -> str:
        return (" WHERE " + " AND ".join(self.clauses)) if self.clauses else ""


def _check_choice(name: str, values: list | None, allowed: Sequence[str]) -> None:
    for v in values or []:
        if v not in allowed:
            raise EquityOutcomesError(f"{name} must be one of {', '.join(allowed)} (or None for all), got {v!r}")


# ------------------------------------------------------------------------------------------------ warehouse


class Warehouse:
    """A read-only connection to a warehouse file with a few documented queries. Use :func:`open_warehouse`."""

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        self.con = connect_read_only(self.path)

    # context manager ------------------------------------------------------------------------------------
    def __enter__(self) -> Warehouse:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        self.close()

    def close(self) -> None:
        """Close the connection (idempotent)."""
        if self.con is not None:
            self.con.close()
            self.con = None

    def __repr__(self) -> str:
        state = "open" if self.con is not None else "closed"
        return f"<Warehouse {self.path} ({state})>"

    # generic -------------------------------------------------------------------------------------------------
    def _connection(self):
        if self.con is None:
            raise EquityOutcomesError(f"the warehouse {self.path} is closed; open it again with open_warehouse()")
        return self.con

    def sql(self, query: str, params: Sequence | dict | None = None) -> pd.DataFrame:
        """Run any (read-only) SQL with bound parameters (``?`` or ``$name``) and return a DataFrame."""
        con = self._connection()
        if params is None:
            return con.execute(query).df()
        return con.execute(query, params).df()

    def tables(self) -> list[str]:
        """Names of the tables and views in the warehouse."""
        return table_names(self._connection())

    def has_table(self, name: str) -> bool:
        return name in self.tables()

    def _require(self, name: str) -> None:
        if not self.has_table(name):
            raise EquityOutcomesError(
                f"the warehouse {self.path} has no table {name!r}. Build it first: equity-outcomes run "
                "(or equity-outcomes build / evaluate)."
            )

    def _select(self, table: str, where: _Where, order_by: str) -> pd.DataFrame:
        self._require(table)
        return self.sql(f"SELECT * FROM {table}{where.sql()} ORDER BY {order_by}", where.params)

    # tables ----------------------------------------------------------------------------------------------------
    def metric_values(
        self,
        schools=None,
        years=None,
        subgroups=None,
        metrics=None,
        subjects=None,
        source=None,
        org_level: str | Sequence[str] | None = "school",
        grades=None,
        include_suppressed: bool = True,
    ) -> pd.DataFrame:
        """Rows of ``metric_values``. Every argument is a value, a list of values, or None for no filter.

        ``schools`` are org codes (ints are zero-padded to 8 digits); ``years`` spring years (``range`` works);
        ``subjects`` any case ('ELA' = 'ela'); ``source`` 'student' | 'dese'; ``org_level`` 'school' (default) |
        'network' | 'district' | 'state' or None for every level. ``include_suppressed=False`` drops suppressed
        rows (value NULL).
        """
        return self._fact(
            "metric_values", schools, years, subgroups, metrics, subjects, source, org_level, grades,
            include_suppressed,
        )

    def metric_gaps(
        self,
        schools=None,
        years=None,
        subgroups=None,
        metrics=None,
        subjects=None,
        source=None,
        org_level: str | Sequence[str] | None = "school",
        grades=None,
        include_suppressed: bool = True,
    ) -> pd.DataFrame:
        """Rows of the ``metric_gaps`` view (each subgroup's gap to the state and to its complement); filters as
        :meth:`metric_values`."""
        return self._fact(
            "metric_gaps", schools, years, subgroups, metrics, subjects, source, org_level, grades,
            include_suppressed,
        )

    def _fact(self, table, schools, years, subgroups, metrics, subjects, source, org_level, grades,
              include_suppressed) -> pd.DataFrame:
        levels = _as_list(org_level)
        sources = _as_list(source)
        _check_choice("org_level", levels, ORG_LEVELS)
        _check_choice("source", sources, SOURCES)
        w = _Where()
        school_list = _as_list(schools)
        w.add_in("org_code", None if school_list is None else [_org_code(s) for s in school_list])
        year_list = _as_list(years)
        w.add_in("school_year", None if year_list is None else [int(y) for y in year_list])
        w.add_in("subgroup", _as_list(subgroups))
        w.add_in("metric", _as_list(metrics))
        w.add_in("subject", _as_list(subjects), lower=True)
        w.add_in("source", sources)
        w.add_in("org_level", levels)
        w.add_in("grade", _as_list(grades))
        if not include_suppressed:
            w.add("value IS NOT NULL")
        return self._select(
            table, w, "metric, subgroup, subject NULLS FIRST, grade, source, org_level, org_code, school_year"
        )

    def target_results(
        self,
        schools=None,
        targets=None,
        subgroups=None,
        subjects=None,
        statuses=None,
        network_only: bool = False,
    ) -> pd.DataFrame:
        """Rows of ``target_results`` (one per school x target x subgroup x subject): ``targets`` are target ids
        ('absence', 'suspension', ...), ``statuses`` 'met' | 'moving_toward' | 'initial_steps' |
        'area_of_concern' | 'insufficient_data' | 'not_yet_due' | 'not_comparable'."""
        w = _Where()
        school_list = _as_list(schools)
        w.add_in("org_code", None if school_list is None else [_org_code(s) for s in school_list])
        w.add_in("target_id", _as_list(targets))
        w.add_in("subgroup", _as_list(subgroups))
        w.add_in("subject", _as_list(subjects), lower=True)
        w.add_in("status", _as_list(statuses))
        if network_only:
            w.add("is_network_school")
        return self._select("target_results", w, "org_code, target_id, subgroup, subject NULLS FIRST")

    def target_rollup(self, targets=None, subgroups=None) -> pd.DataFrame:
        """Rows of ``target_rollup`` (network counts by rating and the pooled network judgement)."""
        w = _Where()
        w.add_in("target_id", _as_list(targets))
        w.add_in("subgroup", _as_list(subgroups))
        return self._select("target_rollup", w, "target_id, subgroup, subject NULLS FIRST")

    def reconciliation(self, schools=None, years=None, metrics=None, subgroups=None, statuses=None) -> pd.DataFrame:
        """Rows of ``reconciliation``: student-derived vs DESE-published values of the same cell
        (``student_value``, ``dese_value``, ``difference``, ``tolerance``, ``status`` match | mismatch |
        suppressed_in_student | suppressed_in_dese | both_suppressed)."""
        w = _Where()
        school_list = _as_list(schools)
        w.add_in("org_code", None if school_list is None else [_org_code(s) for s in school_list])
        year_list = _as_list(years)
        w.add_in("school_year", None if year_list is None else [int(y) for y in year_list])
        w.add_in("metric", _as_list(metrics))
        w.add_in("subgroup", _as_list(subgroups))
        w.add_in("status", _as_list(statuses))
        return self._select(
            "reconciliation", w, "metric, subgroup, subject NULLS FIRST, grade, org_code, school_year"
        )

    def readiness(self, schools=None, years=None, items: bool = False) -> pd.DataFrame:
        """Readiness self-assessment results: ``readiness_summary`` (per area), or ``readiness_items`` with
        ``items=True`` (per item)."""
        table = "readiness_items" if items else "readiness_summary"
        w = _Where()
        school_list = _as_list(schools)
        w.add_in("org_code", None if school_list is None else [_org_code(s) for s in school_list])
        year_list = _as_list(years)
        w.add_in("school_year", None if year_list is None else [int(y) for y in year_list])
        order = "org_code, school_year, area_type, area_number" + (", item_number" if items else "")
        return self._select(table, w, order)

    def roster(self) -> pd.DataFrame:
        """The network roster: org_code, school_name, district, school_level, is_network_school (0/1),
        implementation_start_year, baseline_year. Empty when no roster was loaded (e.g. DESE files only)."""
        return self._select("roster", _Where(), "org_code")


def open_warehouse(path: Path | str | None = None) -> Warehouse:
    """Open a warehouse read-only (default: ``data/processed/warehouse.duckdb`` of the project,
    :func:`equity_outcomes.paths.default_warehouse`). Use it as a context manager or call ``.close()``.

    Safe while a flow is running: writers work on ``<file>.staging`` and swap it in atomically. A missing file is
    a clear :class:`~equity_outcomes.errors.EquityOutcomesError` telling how to build it.
    """
    return Warehouse(paths.default_warehouse() if path is None else path)


# ------------------------------------------------------------------------------------------------- helpers


def _pick_grade(wh: Warehouse, org_code: str, metric: str, subgroup: str, subject: str | None, source: str) -> str:
    rows = wh.sql(
        "SELECT DISTINCT grade FROM metric_values WHERE org_level = 'school' AND org_code = ? AND metric = ? "
        "AND subgroup = ? AND lower(subject) IS NOT DISTINCT FROM ? AND source = ? ORDER BY grade",
        [org_code, metric, subgroup, None if subject is None else subject.lower(), source],
    )["grade"].tolist()
    if not rows:
        raise EquityOutcomesError(
            f"no {source} rows for school {org_code}, metric {metric!r}, subgroup {subgroup!r}, subject {subject!r}"
        )
    for g in POOLED_GRADES:
        if g in rows:
            return g
    if len(rows) == 1:
        return rows[0]
    raise EquityOutcomesError(f"several grades for {metric!r} ({', '.join(rows)}): pass grade=...")


def gap_to_state(
    wh: Warehouse,
    org_code: str | int,
    metric: str,
    subgroup: str,
    subject: str | None = None,
    grade: str | None = None,
    source: str = "student",
    years=None,
) -> pd.DataFrame:
    """A school subgroup's gap to the state all-students value, over years.

    Returns one row per school year: ``school_year, value, state_value, state_source, gap, n_students,
    is_suppressed`` with ``gap = value - state_value`` (percentage points for percents; positive = above the
    state). The state value is the state all-students row of the same metric, year, subject and grade from the same
    source when that source has state rows, else DESE's published state row (``state_source`` says which), exactly
    as the ``metric_gaps`` view defines it. ``grade=None`` uses the pooled grade ('all', else '03-08').
    Computed here from ``metric_values`` (not read from the view) so the two can check each other.
    """
    code = _org_code(org_code)
    if source not in SOURCES:
        raise EquityOutcomesError(f"source must be one of {', '.join(SOURCES)}, got {source!r}")
    subj = None if subject is None else subject.lower()
    if grade is None:
        grade = _pick_grade(wh, code, metric, subgroup, subj, source)
    w = _Where()
    w.add("m.org_level = 'school'")
    w.add("m.org_code = ?", code)
    w.add("m.metric = ?", metric)
    w.add("m.subgroup = ?", subgroup)
    w.add("m.subject IS NOT DISTINCT FROM ?", subj)
    w.add("m.grade = ?", grade)
    w.add("m.source = ?", source)
    year_list = _as_list(years)
    w.add_in("m.school_year", None if year_list is None else [int(y) for y in year_list])
    query = f"""
        WITH state AS (
            SELECT school_year, source, value AS state_value
            FROM metric_values
            WHERE org_level = 'state' AND subgroup = 'all' AND value IS NOT NULL
              AND metric = ? AND subject IS NOT DISTINCT FROM ? AND grade = ?
        )
        SELECT m.school_year, m.value,
               coalesce(s_same.state_value, s_dese.state_value) AS state_value,
               CASE WHEN s_same.state_value IS NOT NULL THEN m.source
                    WHEN s_dese.state_value IS NOT NULL THEN 'dese' END AS state_source,
               m.value - coalesce(s_same.state_value, s_dese.state_value) AS gap,
               m.n_students, m.is_suppressed
        FROM metric_values m
        LEFT JOIN state s_same ON s_same.school_year = m.school_year AND s_same.source = m.source
        LEFT JOIN state s_dese ON s_dese.school_year = m.school_year AND s_dese.source = 'dese'
        {w.sql()}
        ORDER BY m.school_year
    """
    out = wh.sql(query, [metric, subj, grade, *w.params])
    out.attrs.update(org_code=code, metric=metric, subgroup=subgroup, subject=subj, grade=grade, source=source)
    return out


class EffectSize(NamedTuple):
    """The size of a change between two years of one school-subgroup figure.

    ``kind`` is 'cohens_h' for percent metrics (h = 2 asin sqrt(p_current) - 2 asin sqrt(p_baseline), positive =
    a rise) or 'hedges_g' for means/scores with a standard deviation (g of current minus baseline, pooled SD).
    ``ci_low``/``ci_high``: h +/- z sqrt(1/n1 + 1/n2), or Hedges' normal interval; both treat the two years as
    independent samples (they are overlapping cohorts, so read the interval as approximate).
    ``magnitude``: Cohen's labels on |effect|: negligible < 0.2 <= small < 0.5 <= medium < 0.8 <= large.
    """

    org_code: str
    metric: str
    subgroup: str
    subject: str | None
    grade: str
    source: str
    baseline_year: int
    current_year: int
    baseline_value: float
    current_value: float
    change: float
    n_baseline: float
    n_current: float
    kind: str
    effect: float
    ci_low: float
    ci_high: float
    magnitude: str


def _magnitude(effect: float) -> str:
    if not math.isfinite(effect):
        return "undefined"
    a = abs(effect)
    if a < 0.2:
        return "negligible"
    if a < 0.5:
        return "small"
    if a < 0.8:
        return "medium"
    return "large"


def effect_size_for_change(
    wh: Warehouse,
    org_code: str | int,
    metric: str,
    subgroup: str,
    baseline_year: int,
    current_year: int,
    subject: str | None = None,
    grade: str | None = None,
    source: str = "student",
    conf: float = 0.95,
) -> EffectSize:
    """Effect size of a school subgroup's change from ``baseline_year`` to ``current_year`` (see :class:`EffectSize`).

    Percent metrics (unit 'percent' in ``ref_metrics``) give Cohen's h on the two proportions; metrics with a
    student-level standard deviation (mean SGP, scaled score, capstone score: ``std_dev`` in metric_values, student
    source) give Hedges' g. Medians have no SD-based effect size: a median metric raises an error naming the mean.
    """
    code = _org_code(org_code)
    subj = None if subject is None else subject.lower()
    if grade is None:
        grade = _pick_grade(wh, code, metric, subgroup, subj, source)
    unit = "percent" if metric.startswith("pct_") else None
    if wh.has_table("ref_metrics"):
        units = wh.sql("SELECT unit FROM ref_metrics WHERE metric = ?", [metric])["unit"]
        unit = units.iloc[0] if len(units) else unit
    rows = wh.sql(
        "SELECT school_year, value, std_dev, numerator, denominator, n_students, is_suppressed FROM metric_values "
        "WHERE org_level = 'school' AND org_code = ? AND metric = ? AND subgroup = ? "
        "AND subject IS NOT DISTINCT FROM ? AND grade = ? AND source = ? AND school_year IN (?, ?)",
        [code, metric, subgroup, subj, grade, source, int(baseline_year), int(current_year)],
    ).set_index("school_year")
    for year in (baseline_year, current_year):
        if year not in rows.index:
            raise EquityOutcomesError(f"no {source} value for {code} {metric} {subgroup} {subj} {grade} in {year}")
        if pd.isna(rows.loc[year, "value"]):
            raise EquityOutcomesError(f"the {year} value of {code} {metric} {subgroup} is suppressed")
    b, c = rows.loc[baseline_year], rows.loc[current_year]
    n1 = float(b["n_students"]) if pd.notna(b["n_students"]) else math.nan
    n2 = float(c["n_students"]) if pd.notna(c["n_students"]) else math.nan
    z = z_value(conf)
    if unit == "percent":
        h = cohens_h(float(c["value"]) / 100, float(b["value"]) / 100)
        se = math.sqrt(1 / n1 + 1 / n2) if n1 > 0 and n2 > 0 else math.nan
        kind, effect, low, high = "cohens_h", h, h - z * se, h + z * se
    elif "median" in metric:
        raise EquityOutcomesError(
            f"{metric!r} is a median: there is no standardized effect size for a change in a median; "
            "use the mean's (e.g. 'mean_sgp') or a bootstrap of the student values"
        )
    else:
        if pd.isna(b["std_dev"]) or pd.isna(c["std_dev"]):
            raise EquityOutcomesError(
                f"{metric!r} ({source}) has no standard deviation in metric_values: Hedges' g needs one"
            )
        res = standardized_mean_difference(
            float(c["value"]), float(c["std_dev"]), n2, float(b["value"]), float(b["std_dev"]), n1, conf=conf
        )
        kind, effect, low, high = "hedges_g", res.g, res.low, res.high
    return EffectSize(
        org_code=code, metric=metric, subgroup=subgroup, subject=subj, grade=grade, source=source,
        baseline_year=int(baseline_year), current_year=int(current_year),
        baseline_value=float(b["value"]), current_value=float(c["value"]),
        change=float(c["value"]) - float(b["value"]), n_baseline=n1, n_current=n2,
        kind=kind, effect=float(effect), ci_low=float(low), ci_high=float(high), magnitude=_magnitude(effect),
    )


# ------------------------------------------------------------------------------------ difference in differences

DID_METHODS = ("twfe", "imputation", "callaway_santanna")


@dataclass(frozen=True)
class DidResult:
    """A difference-in-differences estimate of the PL network's effect on one metric (see :func:`did_estimate`).

    ``estimate_pp`` is in the metric's units (percentage points for percents; negative = the metric fell
    relative to the comparison schools). ``ci_low``/``ci_high`` is the ``conf`` interval from a t distribution
    with ``df`` = clusters - 1; ``se`` its standard error; ``p_value`` two-sided for "no effect".
    ``cells`` (method imputation/callaway_santanna) has the treated school-years with their estimated effect;
    ``notes`` lists schools or rows dropped and why.
    """

    estimate_pp: float
    ci_low: float
    ci_high: float
    se: float
    p_value: float
    n_schools_treated: int
    n_schools_control: int
    n_obs: int
    method: str
    df: int = 0
    conf: float = 0.95
    weights: str | None = "denominator"
    metric: str = ""
    subgroup: str = ""
    source: str = ""
    subject: str | None = None
    grade: str = ""
    n_treated_obs: int = 0
    cohorts: dict = field(default_factory=dict)
    notes: tuple = ()
    cells: pd.DataFrame | None = field(default=None, repr=False, compare=False)

    def contains(self, value: float) -> bool:
        """Whether ``value`` lies inside the interval."""
        return bool(self.ci_low <= value <= self.ci_high)

    def summary(self) -> str:
        unit = "pp" if self.metric.startswith("pct_") else "points"
        return (
            f"{self.method}: {self.estimate_pp:+.2f} {unit} ({self.conf:.0%} CI {self.ci_low:+.2f} to "
            f"{self.ci_high:+.2f}; SE {self.se:.2f}, p = {self.p_value:.3g}, t df {self.df}); "
            f"{self.n_schools_treated} PL schools vs {self.n_schools_control} comparison schools, "
            f"{self.n_obs} school-years ({self.n_treated_obs} treated)"
        )


def _did_panel(
    wh: Warehouse, metric: str, subgroup: str, source: str, subject: str | None, grade: str | None,
    years, weights: str | None,
) -> tuple[pd.DataFrame, str, list[str]]:
    """The school x year panel with treatment timing, weights and the grade used."""
    notes: list[str] = []
    subj = None if subject is None else subject.lower()
    base = _Where()
    base.add("org_level = 'school'")
    base.add("metric = ?", metric)
    base.add("subgroup = ?", subgroup)
    base.add("source = ?", source)
    base.add("subject IS NOT DISTINCT FROM ?", subj)
    if grade is None:
        grades = wh.sql(f"SELECT DISTINCT grade FROM metric_values{base.sql()} ORDER BY 1", base.params)["grade"]
        grades = grades.tolist()
        if not grades:
            raise EquityOutcomesError(f"no {source} school rows for {metric!r}, subgroup {subgroup!r}, subject {subj!r}")
        grade = next((g for g in POOLED_GRADES if g in grades), grades[0] if len(grades) == 1 else None)
        if grade is None:
            raise EquityOutcomesError(f"several grades for {metric!r} ({', '.join(grades)}): pass grade=...")
    base.add("grade = ?", grade)
    year_list = _as_list(years)
    base.add_in("school_year", None if year_list is None else [int(y) for y in year_list])
    panel = wh.sql(
        "SELECT org_code, school_year, value, denominator, n_students, is_suppressed "
        f"FROM metric_values{base.sql()} ORDER BY org_code, school_year",
        base.params,
    )
    n_all = len(panel)
    panel = panel[panel["value"].notna()].copy()
    if len(panel) < n_all:
        notes.append(f"{n_all - len(panel)} suppressed school-years dropped")
    if panel.duplicated(["org_code", "school_year"]).any():
        raise EquityOutcomesError("metric_values has duplicate school-years for this cell; cannot build a panel")
    roster = wh.roster() if wh.has_table("roster") else pd.DataFrame(
        columns=["org_code", "is_network_school", "implementation_start_year"])
    roster = roster[["org_code", "is_network_school", "implementation_start_year"]]
    panel = panel.merge(roster, on="org_code", how="left")
    network = panel["is_network_school"].fillna(0).astype(int) == 1
    no_start = network & panel["implementation_start_year"].isna()
    if no_start.any():
        notes.append(
            f"{panel.loc[no_start, 'org_code'].nunique()} network schools without implementation_start_year dropped"
        )
    panel = panel[~no_start].copy()
    panel["treated_school"] = (panel["is_network_school"].fillna(0).astype(int) == 1)
    panel["cohort"] = panel["implementation_start_year"].where(panel["treated_school"]).astype("Float64")
    panel["treated_post"] = (panel["treated_school"] & (panel["school_year"] >= panel["cohort"])).fillna(
        False).astype(float)
    if weights is None:
        panel["w"] = 1.0
    elif weights in ("denominator", "n_students"):
        other = "n_students" if weights == "denominator" else "denominator"
        w = panel[weights].astype("Float64").fillna(panel[other].astype("Float64"))
        missing = w.isna() | (w <= 0)
        if missing.all():
            raise EquityOutcomesError(
                f"{source} {metric!r} rows have no {weights} (DESE often publishes percentages only): "
                "use weights=None"
            )
        if missing.any():
            notes.append(f"{int(missing.sum())} school-years without a {weights} dropped (weights)")
        panel = panel[~missing.to_numpy()].copy()
        panel["w"] = w[~missing].astype(float).to_numpy()
    else:
        raise EquityOutcomesError(f"weights must be 'denominator', 'n_students' or None, got {weights!r}")
    panel["value"] = panel["value"].astype(float)
    panel["school_year"] = panel["school_year"].astype(int)
    return panel.reset_index(drop=True), grade, notes


def _demean_by(group: np.ndarray, w: np.ndarray, *cols: np.ndarray) -> list[np.ndarray]:
    """Weighted within-group demeaning of each column (exact, one pass)."""
    _, inv = np.unique(group, return_inverse=True)
    sw = np.bincount(inv, weights=w)
    out = []
    for c in cols:
        if c.ndim == 1:
            means = np.bincount(inv, weights=w * c) / sw
            out.append(c - means[inv])
        else:
            res = np.empty_like(c)
            for j in range(c.shape[1]):
                means = np.bincount(inv, weights=w * c[:, j]) / sw
                res[:, j] = c[:, j] - means[inv]
            out.append(res)
    return out


def _year_dummies(years: np.ndarray) -> np.ndarray:
    levels = np.unique(years)
    return (years[:, None] == levels[None, 1:]).astype(float)  # first year is the reference


def _two_way_fe_fit(y, x, school, year, w):
    """WLS of y on x with school and year fixed effects (school FE by within-transform, year FE as dummies).

    Returns (coefficients on [x, year dummies], design after demeaning, residuals)."""
    dummies = _year_dummies(year)
    design = np.column_stack([x, dummies]) if x is not None else dummies
    y_t, design_t = _demean_by(school, w, y, design)
    sw = np.sqrt(w)
    beta, *_ = np.linalg.lstsq(design_t * sw[:, None], y_t * sw, rcond=None)
    resid = y_t - design_t @ beta
    return beta, design_t, resid


def _twfe(panel: pd.DataFrame) -> dict:
    y = panel["value"].to_numpy(float)
    d = panel["treated_post"].to_numpy(float)
    w = panel["w"].to_numpy(float)
    school = panel["org_code"].to_numpy()
    year = panel["school_year"].to_numpy()
    beta, x_t, e = _two_way_fe_fit(y, d, school, year, w)
    n, k = x_t.shape
    xw = x_t * w[:, None]
    bread = np.linalg.pinv(x_t.T @ xw)
    _, inv = np.unique(school, return_inverse=True)
    g = inv.max() + 1
    scores = np.zeros((g, k))
    np.add.at(scores, inv, xw * e[:, None])
    meat = scores.T @ scores
    # CR1: G/(G-1) * (N-1)/(N-K); the school fixed effects are nested in the clusters and not counted in K
    c = g / (g - 1) * (n - 1) / max(n - k, 1)
    vcov = c * bread @ meat @ bread
    se = float(math.sqrt(max(vcov[0, 0], 0.0)))
    return {"estimate": float(beta[0]), "se": se, "df": g - 1, "cells": None}


def _imputation_att(panel: pd.DataFrame) -> tuple[float, pd.DataFrame]:
    """Borusyak-Jaravel-Spiess imputation: fit school + year effects on untreated school-years (never-treated
    schools and PL schools before their start), impute Y(0) for treated school-years, average Y - Y(0)."""
    untreated = panel[panel["treated_post"] == 0]
    y = untreated["value"].to_numpy(float)
    w = untreated["w"].to_numpy(float)
    school = untreated["org_code"].to_numpy()
    year = untreated["school_year"].to_numpy()
    years = np.unique(year)
    beta, _, _ = _two_way_fe_fit(y, None, school, year, w)
    lam = dict(zip(years, np.concatenate([[0.0], beta]), strict=True))
    resid = y - np.array([lam[t] for t in year])
    alpha = (pd.DataFrame({"s": school, "r": resid * w, "w": w}).groupby("s").sum().eval("r / w")).to_dict()
    treated = panel[panel["treated_post"] == 1].copy()
    treated["y0_hat"] = [
        alpha.get(s, np.nan) + lam.get(t, np.nan)
        for s, t in zip(treated["org_code"], treated["school_year"], strict=True)
    ]
    treated = treated[treated["y0_hat"].notna()]
    treated["effect"] = treated["value"] - treated["y0_hat"]
    att = float(np.average(treated["effect"], weights=treated["w"])) if len(treated) else math.nan
    return att, treated


def _cs_att(panel: pd.DataFrame) -> tuple[float, pd.DataFrame]:
    """Callaway-Sant'Anna with never-treated controls and base period g-1 (the year before the start):
    ATT(g, t) = [Y(g, t) - Y(g, g-1)] - [Y(C, t) - Y(C, g-1)] over schools observed in both years, aggregated
    over (g, t >= g) by the weight of the treated school-years in each cell."""
    wide = panel.pivot(index="org_code", columns="school_year", values="value")
    wts = panel.pivot(index="org_code", columns="school_year", values="w").reindex_like(wide)
    info = panel.drop_duplicates("org_code").set_index("org_code").reindex(wide.index)
    values, weights = wide.to_numpy(float), wts.to_numpy(float)
    year_list = list(wide.columns)
    is_control = ~info["treated_school"].to_numpy(bool)
    cohort = info["cohort"].astype(float).to_numpy()
    frames = []
    for g in np.unique(cohort[~is_control]):
        base = int(g) - 1
        if base not in year_list:
            continue
        b = year_list.index(base)
        members = cohort == g
        for j, t in enumerate(year_list):
            if t < g:
                continue
            diff = values[:, j] - values[:, b]
            ok = np.isfinite(diff)
            co = is_control & ok
            tr = members & ok
            if not co.any() or not tr.any():
                continue
            dc = np.average(diff[co], weights=weights[co, j])
            frames.append(pd.DataFrame({
                "org_code": wide.index[tr], "school_year": int(t), "cohort": int(g), "w": weights[tr, j],
                "value": values[tr, j], "effect": diff[tr] - dc,
            }))
    if not frames:
        return math.nan, pd.DataFrame(columns=["org_code", "school_year", "cohort", "w", "value", "effect"])
    cells = pd.concat(frames, ignore_index=True)
    # the weighted mean of school effects within a (g, t) cell is ATT(g, t); weighting the cells by their treated
    # weight makes the aggregate the weighted mean over treated school-years
    return float(np.average(cells["effect"], weights=cells["w"])), cells


def _jackknife(panel: pd.DataFrame, estimator) -> tuple[float, int]:
    """Delete-one-school (cluster) jackknife standard error: sqrt((G-1)/G * sum (theta_-g - mean)^2)."""
    schools = panel["org_code"].unique()
    thetas = []
    for s in schools:
        theta, _ = estimator(panel[panel["org_code"] != s])
        if math.isfinite(theta):
            thetas.append(theta)
    g = len(thetas)
    if g < 2:
        return math.nan, max(g - 1, 0)
    arr = np.asarray(thetas)
    return float(math.sqrt((g - 1) / g * np.sum((arr - arr.mean()) ** 2))), g - 1


def did_estimate(
    wh: Warehouse,
    metric: str | None = None,
    subgroup: str = "all",
    source: str = "student",
    cluster: str = "school",
    *,
    method: str = "twfe",
    weights: str | None = "denominator",
    subject: str | None = None,
    grade: str | None = None,
    years=None,
    conf: float = 0.95,
) -> DidResult:
    """Difference in differences: the PL network's effect on ``metric`` (default: the metric catalog's first,
    % absent 10 or more days) against non-network schools.

    The panel is every school-year of ``metric_values`` (org_level 'school', the given subgroup, source, subject
    and grade; suppressed values dropped). PL schools are roster schools with ``is_network_school = 1``, treated
    from their ``implementation_start_year`` on (staggered adoption); every other school is a never-treated
    comparison school. Network schools without a start year are dropped.

    ``method``:

    * ``'twfe'`` (default): two-way fixed effects WLS ``value ~ treated_post + school FE + year FE`` with
      ``weights`` (default the denominator: students), cluster-robust (CR1, by school) standard error and a
      t distribution with G-1 degrees of freedom (G = schools).
    * ``'imputation'``: Borusyak, Jaravel & Spiess (2024): school and year effects fitted on untreated
      school-years only, Y(0) imputed for each treated school-year, the effect = the (weighted) mean of
      Y - Y(0) over treated school-years. Standard error by delete-one-school jackknife, t with G-1 df.
    * ``'callaway_santanna'``: Callaway & Sant'Anna (2021) group-time effects with never-treated controls and the
      year before the start as base period, aggregated over treated school-years; jackknife SE as above.

    The estimand is the average effect on the treated (ATT) over PL school-years from their start year, under
    parallel trends (without the network, PL and comparison schools would have moved alike) and no anticipation.
    With staggered starts and effects that differ between schools or grow over time, the TWFE coefficient is a
    weighted average with weights that can be far from the school-years' shares (even negative: already-treated
    schools serve as controls for later starters; Goodman-Bacon 2021, de Chaisemartin & D'Haultfoeuille 2020).
    The imputation and Callaway-Sant'Anna estimators avoid that. ``weights=None`` gives every school-year the same
    weight (the ATT per school-year); the default weights by students. ``cluster`` must be 'school'.
    """
    if method not in DID_METHODS:
        raise EquityOutcomesError(f"method must be one of {', '.join(DID_METHODS)}, got {method!r}")
    if cluster != "school":
        raise EquityOutcomesError(f"only cluster='school' is supported, got {cluster!r}")
    if source not in SOURCES:
        raise EquityOutcomesError(f"source must be one of {', '.join(SOURCES)}, got {source!r}")
    metric = metric or catalog.metrics()[0]["id"]
    panel, grade_used, notes = _did_panel(wh, metric, subgroup, source, subject, grade, years, weights)
    counts = panel.groupby("org_code").size()
    singletons = counts.index[counts < 2]
    if len(singletons):
        notes.append(f"{len(singletons)} schools with a single school-year dropped")
        panel = panel[~panel["org_code"].isin(singletons)].reset_index(drop=True)
    if method != "twfe":
        # schools first observed after their start have no untreated year to anchor them
        first = panel.groupby("org_code")["school_year"].min()
        info = panel.drop_duplicates("org_code").set_index("org_code")
        no_pre = info.index[info["treated_school"] & (first.reindex(info.index) >= info["cohort"]).fillna(False)]
        if len(no_pre):
            notes.append(f"{len(no_pre)} PL schools without a year before their start dropped")
            panel = panel[~panel["org_code"].isin(no_pre)].reset_index(drop=True)
    treated_schools = panel.loc[panel["treated_school"], "org_code"].unique()
    control_schools = panel.loc[~panel["treated_school"], "org_code"].unique()
    if len(treated_schools) == 0 or not (panel["treated_post"] == 1).any():
        raise EquityOutcomesError(
            f"no PL school-years from an implementation start year in the {metric!r} panel: check the roster "
            "(is_network_school, implementation_start_year)"
        )
    if len(control_schools) == 0:
        raise EquityOutcomesError(f"no comparison (non-network) schools with {metric!r}: nothing to compare with")
    if method == "twfe":
        fit = _twfe(panel)
        estimate, se, df, cells = fit["estimate"], fit["se"], fit["df"], None
        n_treated_obs = int((panel["treated_post"] == 1).sum())
    else:
        estimator = _imputation_att if method == "imputation" else _cs_att
        estimate, cells = estimator(panel)
        se, df = _jackknife(panel, estimator)
        n_treated_obs = len(cells)
        if cells is not None and len(cells) < int((panel["treated_post"] == 1).sum()):
            notes.append(
                f"{int((panel['treated_post'] == 1).sum()) - len(cells)} treated school-years without a "
                "comparison (no base year or no untreated school that year) left out"
            )
    if df >= 1 and se > 0 and math.isfinite(se):
        tcrit = float(_st.t.ppf(1 - (1 - conf) / 2, df))
        p = float(2 * _st.t.sf(abs(estimate / se), df))
    else:
        tcrit, p = math.nan, math.nan
    cohorts = (
        panel[panel["treated_school"]].drop_duplicates("org_code")["cohort"].astype(int).value_counts()
        .sort_index().to_dict()
    )
    return DidResult(
        estimate_pp=float(estimate),
        ci_low=float(estimate - tcrit * se),
        ci_high=float(estimate + tcrit * se),
        se=float(se),
        p_value=p,
        n_schools_treated=len(treated_schools),
        n_schools_control=len(control_schools),
        n_obs=len(panel),
        method=method,
        df=int(df),
        conf=conf,
        weights=weights,
        metric=metric,
        subgroup=subgroup,
        source=source,
        subject=None if subject is None else subject.lower(),
        grade=grade_used,
        n_treated_obs=n_treated_obs,
        cohorts={int(k): int(v) for k, v in cohorts.items()},
        notes=tuple(notes),
        cells=cells,
    )

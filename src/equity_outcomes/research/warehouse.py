"""Read-only access to the warehouse for notebooks: :class:`Warehouse` (filtered reads of the marts),
:func:`gap_to_state` and :func:`effect_size_for_change`. See the package docstring and docs/api.md.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import pandas as pd

from ..errors import EquityOutcomesError
from ..judge.stats import cohens_h, standardized_mean_difference, z_value
from ..warehouse import connect_read_only, table_names
from ..workspace import default_warehouse

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
    return text.zfill(8) if text.isdigit() else text


# a reader's filters: argument -> (column, how a value is written as the column holds it, the values allowed);
# subjects in any case
_FILTERS = {
    "schools": ("org_code", _org_code, None), "years": ("school_year", int, None),
    "subgroups": ("subgroup", None, None), "metrics": ("metric", None, None),
    "subjects": ("lower(subject)", lambda v: str(v).lower(), None), "org_level": ("org_level", None, ORG_LEVELS),
    "source": ("source", None, SOURCES), "grades": ("grade", None, None), "targets": ("target_id", None, None),
    "statuses": ("status", None, None),
}


class _Where:
    """Collects ``column IN (?, ?, ...)`` clauses and their parameters (values are always bound, never inlined)."""

    def __init__(self, **filters: Any) -> None:
        self.clauses: list[str] = []
        self.params: list[Any] = []
        self.add_filters(**filters)

    def add_filters(self, **filters: Any) -> None:
        """``column IN`` the values of each filter of :data:`_FILTERS` (a value, a list, or None for no filter)."""
        for name, given in filters.items():
            values, (column, convert, allowed) = _as_list(given), _FILTERS[name]
            if values is None:
                continue
            if allowed and (wrong := [v for v in values if v not in allowed]):
                raise EquityOutcomesError(f"{name} must be one of {', '.join(allowed)} (or None for all), "
                                          f"got {wrong[0]!r}")
            self.clauses.append(f"{column} IN ({', '.join('?' for _ in values)})" if values else "FALSE")
            self.params.extend(map(convert, values) if convert else values)

    def add(self, clause: str, *params: Any) -> None:
        self.clauses.append(clause)
        self.params.extend(params)

    def sql(self) -> str:
        return (" WHERE " + " AND ".join(self.clauses)) if self.clauses else ""


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

    def publishable(self, schools: Sequence[str] | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
        """(cells, target rows) exactly as the scorecards would publish them, after the disclosure control
        (docs/disclosure.md): the figures to share outside the warehouse. Withheld cells have no numbers."""
        from ..publish.data import load_site

        site = load_site(self._connection(), schools=[_org_code(s) for s in schools] if schools else None, built_at="",
                         say=lambda _m: None)
        keep = ["org_code", "org_level", "school_year", "subgroup", "metric", "subject", "grade", "source",
                "n_students", "value", "withheld"]
        cells = site.mv_safe[keep].astype({c: object for c in keep[:8] if c != "school_year"})
        return cells.reset_index(drop=True), site.targets_safe.reset_index(drop=True)

    def sql(self, query: str, params: Sequence | dict | None = None) -> pd.DataFrame:
        """Run any (read-only) SQL with bound parameters (``?`` or ``$name``) and return a DataFrame."""
        return self._connection().execute(query, params).df()

    def tables(self) -> list[str]:
        """Names of the tables and views in the warehouse."""
        return table_names(self._connection())

    def has_table(self, name: str) -> bool:
        return name in self.tables()

    def _select(self, table: str, where: _Where, order_by: str) -> pd.DataFrame:
        if not self.has_table(table):
            raise EquityOutcomesError(
                f"the warehouse {self.path} has no table {table!r}. Build it first: equity-outcomes run "
                "(or equity-outcomes build / evaluate)."
            )
        return self.sql(f"SELECT * FROM {table}{where.sql()} ORDER BY {order_by}", where.params)

    # tables ----------------------------------------------------------------------------------------------------
    def metric_values(self, schools=None, years=None, subgroups=None, metrics=None, subjects=None, source=None,
                      org_level: str | Sequence[str] | None = "school", grades=None,
                      include_suppressed: bool = True) -> pd.DataFrame:
        """Rows of ``metric_values``. Every argument is a value, a list of values, or None for no filter.

        ``schools`` are org codes (ints are zero-padded to 8 digits); ``years`` spring years (``range`` works);
        ``subjects`` any case ('ELA' = 'ela'); ``source`` 'student' | 'dese'; ``org_level`` 'school' (default) |
        'network' | 'district' | 'state' or None for every level. ``include_suppressed=False`` drops suppressed
        rows (value NULL).
        """
        return self._fact("metric_values", schools, years, subgroups, metrics, subjects, source, org_level, grades,
                          include_suppressed)

    def metric_gaps(self, schools=None, years=None, subgroups=None, metrics=None, subjects=None, source=None,
                    org_level: str | Sequence[str] | None = "school", grades=None,
                    include_suppressed: bool = True) -> pd.DataFrame:
        """Rows of the ``metric_gaps`` view (each subgroup's gap to the state and to its complement); filters as
        :meth:`metric_values`."""
        return self._fact("metric_gaps", schools, years, subgroups, metrics, subjects, source, org_level, grades,
                          include_suppressed)

    def _fact(self, table, schools, years, subgroups, metrics, subjects, source, org_level, grades,
              include_suppressed) -> pd.DataFrame:
        w = _Where(schools=schools, years=years, subgroups=subgroups, metrics=metrics, subjects=subjects,
                   org_level=org_level, source=source, grades=grades)
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
        w = _Where(schools=schools, targets=targets, subgroups=subgroups, subjects=subjects, statuses=statuses)
        if network_only:
            w.add("is_network_school")
        return self._select("target_results", w, "org_code, target_id, subgroup, subject NULLS FIRST")

    def target_rollup(self, targets=None, subgroups=None) -> pd.DataFrame:
        """Rows of ``target_rollup`` (network counts by rating and the pooled network judgement)."""
        return self._select("target_rollup", _Where(targets=targets, subgroups=subgroups),
                            "target_id, subgroup, subject NULLS FIRST")

    def reconciliation(self, schools=None, years=None, metrics=None, subgroups=None, statuses=None) -> pd.DataFrame:
        """Rows of ``reconciliation``: student-derived vs DESE-published values of the same cell
        (``student_value``, ``dese_value``, ``difference``, ``tolerance``, ``status`` match | mismatch |
        suppressed_in_student | suppressed_in_dese | both_suppressed)."""
        w = _Where(schools=schools, years=years, metrics=metrics, subgroups=subgroups, statuses=statuses)
        return self._select(
            "reconciliation", w, "metric, subgroup, subject NULLS FIRST, grade, org_code, school_year"
        )

    def readiness(self, schools=None, years=None, items: bool = False) -> pd.DataFrame:
        """Readiness self-assessment results: ``readiness_summary`` (per area), or ``readiness_items`` with
        ``items=True`` (per item)."""
        table = "readiness_items" if items else "readiness_summary"
        w = _Where(schools=schools, years=years)
        order = "org_code, school_year, area_type, area_number" + (", item_number" if items else "")
        return self._select(table, w, order)

    def roster(self) -> pd.DataFrame:
        """The network roster: org_code, school_name, district, school_level, is_network_school (0/1),
        implementation_start_year, baseline_year. Empty when no roster was loaded (e.g. DESE files only)."""
        return self._select("roster", _Where(), "org_code")


def open_warehouse(path: Path | str | None = None) -> Warehouse:
    """Open a warehouse read-only (default: ``data/processed/warehouse.duckdb`` of the project,
    :func:`equity_outcomes.workspace.default_warehouse`). Use it as a context manager or call ``.close()``.

    Safe while a flow is running: writers work on ``<file>.staging`` and swap it in atomically. A missing file is
    a clear :class:`~equity_outcomes.errors.EquityOutcomesError` telling how to build it.
    """
    return Warehouse(default_warehouse() if path is None else path)


# ------------------------------------------------------------------------------------------------- helpers


def pick_grade(wh: Warehouse, rows: _Where, metric: str, missing: str) -> str:
    """The grade of the metric_values ``rows``: the pooled one ('all', else '03-08'), else their only grade."""
    grades = wh.sql(f"SELECT DISTINCT grade FROM metric_values{rows.sql()} ORDER BY 1", rows.params)["grade"]
    grades = grades.tolist()
    if not grades:
        raise EquityOutcomesError(f"no {missing}")
    grade = next((g for g in POOLED_GRADES if g in grades), grades[0] if len(grades) == 1 else None)
    if grade is None:
        raise EquityOutcomesError(f"several grades for {metric!r} ({', '.join(grades)}): pass grade=...")
    return grade


def _school_cell(wh: Warehouse, org_code, metric: str, subgroup: str, subject: str | None, grade: str | None,
                 source: str, years) -> tuple[str | None, str | None, str, _Where]:
    """(org code, subject, grade, the school rows of ``years``) of one cell, of one school (every school when
    ``org_code`` is None); ``grade=None``: :func:`pick_grade`."""
    code = None if org_code is None else _org_code(org_code)
    if source not in SOURCES:
        raise EquityOutcomesError(f"source must be one of {', '.join(SOURCES)}, got {source!r}")
    subj = None if subject is None else subject.lower()
    w = _Where()
    w.add("org_level = 'school'")
    if code is not None:
        w.add("org_code = ?", code)
    w.add("metric = ?", metric)
    w.add("subgroup = ?", subgroup)
    w.add("source = ?", source)
    w.add("subject IS NOT DISTINCT FROM ?", subj)
    if grade is None:
        grade = pick_grade(wh, w, metric, f"{source} rows for {'school ' + code if code else 'any school'}, metric "
                                          f"{metric!r}, subgroup {subgroup!r}, subject {subj!r}")
    w.add("grade = ?", grade)
    w.add_filters(years=years)
    return code, subj, grade, w


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
    as the ``metric_gaps`` view defines it (read from the view: one state-gap rule). ``grade=None`` uses the pooled
    grade ('all', else '03-08').
    """
    code, subj, grade, w = _school_cell(wh, org_code, metric, subgroup, subject, grade, source, years)
    out = wh.sql("SELECT school_year, value, state_value, state_source, gap_to_state AS gap, n_students, "
                 f"is_suppressed FROM metric_gaps{w.sql()} ORDER BY school_year", w.params)
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


def _magnitude(effect: float) -> str:  # Cohen's labels (EffectSize.magnitude)
    if not math.isfinite(effect):
        return "undefined"
    return ("negligible", "small", "medium", "large")[bisect.bisect_right((0.2, 0.5, 0.8), abs(effect))]


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
    code, subj, grade, w = _school_cell(wh, org_code, metric, subgroup, subject, grade, source,
                                        [baseline_year, current_year])
    unit = "percent" if metric.startswith("pct_") else None
    if wh.has_table("ref_metrics"):
        units = wh.sql("SELECT unit FROM ref_metrics WHERE metric = ?", [metric])["unit"]
        unit = units.iloc[0] if len(units) else unit
    rows = wh.sql("SELECT school_year, value, std_dev, numerator, denominator, n_students, is_suppressed "
                  f"FROM metric_values{w.sql()}", w.params).set_index("school_year")
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

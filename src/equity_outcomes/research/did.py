"""Difference in differences for the PL network: did the network move a metric more than comparison schools?
Two-way fixed effects, the imputation estimator and Callaway-Sant'Anna over the warehouse's metric_values, with
jackknife standard errors by school. See docs/api.md for the method and its assumptions.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import stats as _st

from .. import catalog
from ..errors import EquityOutcomesError
from .warehouse import POOLED_GRADES, SOURCES, Warehouse, _as_list, _Where

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

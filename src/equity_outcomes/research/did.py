"""Difference in differences for the PL network: did the network move a metric more than comparison schools?
Gardner's two-stage estimator (did2s, the default), Callaway-Sant'Anna and two-way fixed effects (with a warning)
over the warehouse's metric_values; event studies in :mod:`.event_study`. See docs/api.md for the methods and their
assumptions.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import stats as _st

from .. import catalog
from ..errors import EquityOutcomesError
from .warehouse import Warehouse, _school_cell

DID_METHODS = ("did2s", "callaway_santanna", "twfe")


class TwfeWarning(UserWarning):
    """Two-way fixed effects was asked for: biased under staggered adoption with effects that change over time."""


@dataclass(frozen=True)
class DidResult:
    """A difference-in-differences estimate of the PL network's effect on one metric (see :func:`did_estimate`).

    ``estimate_pp`` is in the metric's units (percentage points for percents; negative = the metric fell
    relative to the comparison schools). ``ci_low``/``ci_high`` is the ``conf`` interval from a t distribution
    with ``df`` = clusters - 1; ``se`` its standard error; ``p_value`` two-sided for "no effect".
    ``cells`` (did2s, callaway_santanna) has the treated school-years with their estimated effect;
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


def did_panel(
    wh: Warehouse, metric: str, subgroup: str, source: str, subject: str | None, grade: str | None,
    years, weights: str | None, *, anchored: bool = True,
) -> tuple[pd.DataFrame, str, list[str]]:
    """The school x year panel with treatment timing, weights and the grade used, ready to estimate: schools with
    a single year dropped; ``anchored``: PL schools without a year before their start too (nothing to impute
    their untreated outcome from). Raises when there is nothing to compare."""
    panel, grade, notes = _raw_panel(wh, metric, subgroup, source, subject, grade, years, weights)
    counts = panel.groupby("org_code").size()
    singletons = counts.index[counts < 2]
    if len(singletons):
        notes.append(f"{len(singletons)} schools with a single school-year dropped")
        panel = panel[~panel["org_code"].isin(singletons)].reset_index(drop=True)
    if anchored:
        first = panel.groupby("org_code")["school_year"].min()
        info = panel.drop_duplicates("org_code").set_index("org_code")
        no_pre = info.index[info["treated_school"] & (first.reindex(info.index) >= info["cohort"]).fillna(False)]
        if len(no_pre):
            notes.append(f"{len(no_pre)} PL schools without a year before their start dropped")
            panel = panel[~panel["org_code"].isin(no_pre)].reset_index(drop=True)
    if not panel["treated_school"].any() or not (panel["treated_post"] == 1).any():
        raise EquityOutcomesError(
            f"no PL school-years from an implementation start year in the {metric!r} panel: check the roster "
            "(is_network_school, implementation_start_year)"
        )
    if panel["treated_school"].all():
        raise EquityOutcomesError(f"no comparison (non-network) schools with {metric!r}: nothing to compare with")
    return panel, grade, notes


def _raw_panel(
    wh: Warehouse, metric: str, subgroup: str, source: str, subject: str | None, grade: str | None,
    years, weights: str | None,
) -> tuple[pd.DataFrame, str, list[str]]:
    """Every school-year of the metric with its treatment timing and weight."""
    notes: list[str] = []
    _, _, grade, base = _school_cell(wh, None, metric, subgroup, subject, grade, source, years)
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
    columns = ["org_code", "is_network_school", "implementation_start_year"]
    roster = wh.roster()[columns] if wh.has_table("roster") else pd.DataFrame(columns=columns)
    panel = panel.merge(roster, on="org_code", how="left")
    network = panel["is_network_school"].fillna(0).astype(int) == 1
    no_start = network & panel["implementation_start_year"].isna()
    if no_start.any():
        notes.append(
            f"{panel.loc[no_start, 'org_code'].nunique()} network schools without implementation_start_year dropped"
        )
    panel = panel[~no_start].copy()
    panel["treated_school"] = network[~no_start]
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


def _fixest(panel: pd.DataFrame) -> pd.DataFrame:
    """The panel as pyfixest reads it (treatment as 0/1, no missing weights)."""
    return pd.DataFrame({"org_code": panel["org_code"].astype(str), "school_year": panel["school_year"].astype(int),
                         "value": panel["value"].astype(float), "w": panel["w"].astype(float),
                         "treated_post": panel["treated_post"].astype(int)})


def _twfe(panel: pd.DataFrame) -> tuple[float, float, None]:
    """pyfixest: WLS of value on treated_post with school and year effects, CR1 standard errors by school (the
    school effects are nested in the clusters and not counted in K)."""
    import pyfixest as pf

    with warnings.catch_warnings():  # pyfixest's notices (beta features, dropped dummies) are not the user's
        warnings.simplefilter("ignore")
        fit = pf.feols("value ~ treated_post | org_code + school_year", _fixest(panel), weights="w",
                       vcov={"CRV1": "org_code"})
    return float(fit.coef()["treated_post"]), float(fit.se()["treated_post"]), None


def _did2s(panel: pd.DataFrame) -> tuple[float, float, pd.DataFrame]:
    """Gardner's two-stage DiD (pyfixest ``did2s``; the point estimate is Borusyak-Jaravel-Spiess' imputation):
    school and year effects fitted on the untreated school-years, the treated school-years' outcomes net of them
    regressed on the treatment, with the GMM-corrected cluster standard error by school. ``cells``: each treated
    school-year's effect, Y - Y(0) imputed from the first stage."""
    import pyfixest as pf

    data = _fixest(panel)
    untreated, treated = data[data["treated_post"] == 0], data[data["treated_post"] == 1].copy()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fit = pf.did2s(data, yname="value", first_stage="~ 0 | org_code + school_year", second_stage="~ treated_post",
                       treatment="treated_post", cluster="org_code", weights="w")
        first = pf.feols("value ~ 1 | org_code + school_year", untreated, weights="w")
        treated["y0_hat"] = first.predict(newdata=treated)
    treated = treated[np.isfinite(treated["y0_hat"])]
    treated["effect"] = treated["value"] - treated["y0_hat"]
    return float(fit.coef()["treated_post"]), float(fit.se()["treated_post"]), treated.reset_index(drop=True)


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
    thetas = [estimator(panel[panel["org_code"] != s])[0] for s in panel["org_code"].unique()]
    thetas = [theta for theta in thetas if math.isfinite(theta)]
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
    method: str = "did2s",
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

    * ``'did2s'`` (default): Gardner's two-stage estimator (pyfixest ``did2s``; its point estimate is Borusyak,
      Jaravel & Spiess' imputation estimator): school and year effects fitted on the untreated school-years only,
      the treated school-years' outcomes net of them averaged (weighted); GMM-corrected cluster-robust standard
      error by school, t with G-1 df (G = schools). Robust to staggered adoption with effects that differ
      between schools or change over time.
    * ``'callaway_santanna'``: Callaway & Sant'Anna (2021) group-time effects with never-treated controls and the
      year before the start as base period, aggregated over treated school-years; delete-one-school jackknife SE.
    * ``'twfe'``: two-way fixed effects WLS ``value ~ treated_post + school FE + year FE`` (pyfixest, CR1 by
      school), with a :class:`TwfeWarning`: with staggered starts and effects that grow or differ, its weights can
      be far from the school-years' shares, even negative (already-treated schools serve as controls for later
      starters; Goodman-Bacon 2021, de Chaisemartin & D'Haultfoeuille 2020).

    The estimand is the average effect on the treated (ATT) over PL school-years from their start year, under
    parallel trends (without the network, PL and comparison schools would have moved alike) and no anticipation
    (check both with :func:`event_study`). ``weights=None`` gives every school-year the same weight (the ATT per
    school-year); the default weights by students. ``cluster`` must be 'school'.
    """
    if method not in DID_METHODS:
        raise EquityOutcomesError(f"method must be one of {', '.join(DID_METHODS)}, got {method!r}")
    if cluster != "school":
        raise EquityOutcomesError(f"only cluster='school' is supported, got {cluster!r}")
    metric = metric or catalog.metrics()[0]["id"]
    panel, grade_used, notes = did_panel(wh, metric, subgroup, source, subject, grade, years, weights,
                                         anchored=method != "twfe")
    if method == "twfe":
        warnings.warn("two-way fixed effects is biased when schools adopt in different years and effects change "
                      "over time (Goodman-Bacon 2021): use method='did2s' (the default) or 'callaway_santanna'",
                      TwfeWarning, stacklevel=2)
    if method == "callaway_santanna":
        estimate, cells = _cs_att(panel)
        se, df = _jackknife(panel, _cs_att)
    else:
        estimate, se, cells = _twfe(panel) if method == "twfe" else _did2s(panel)
        df = panel["org_code"].nunique() - 1
    n_post = int((panel["treated_post"] == 1).sum())
    n_treated_obs = n_post if cells is None else len(cells)
    if cells is not None and len(cells) < n_post:
        notes.append(f"{n_post - len(cells)} treated school-years without a comparison (no base year or no "
                     "untreated school that year) left out")
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
        n_schools_treated=panel.loc[panel["treated_school"], "org_code"].nunique(),
        n_schools_control=panel.loc[~panel["treated_school"], "org_code"].nunique(),
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

"""Event study of the PL network's effect: leads and lags around each school's start year, with a pre-trend test
and a plot. Gardner's two-stage estimator (pyfixest ``did2s``), robust to staggered adoption: school and year
effects are fitted on the untreated school-years, then the outcomes net of them are regressed on relative-year
dummies (the year before the start is the reference; comparison schools sit in it). Leads (relative years <= -2)
estimate what changed before the start: jointly 0 under parallel trends and no anticipation (Wald test).
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import stats as _st

from .. import catalog
from .did import _fixest, did_panel
from .warehouse import Warehouse

REFERENCE_YEAR = -1  # the year before the start


@dataclass(frozen=True)
class EventStudy:
    """Per relative year (school_year - implementation start): the effect with its interval; ``pretrend_p`` the
    Wald test that every lead is 0 (NaN without leads)."""

    coefficients: pd.DataFrame = field(repr=False)  # rel_year, estimate, se, ci_low, ci_high, n_treated_obs
    pretrend_stat: float
    pretrend_df: int
    pretrend_p: float
    metric: str
    subgroup: str
    source: str
    conf: float = 0.95
    notes: tuple = ()

    def summary(self) -> str:
        lags = self.coefficients[self.coefficients["rel_year"] >= 0]
        text = ", ".join(f"{int(r.rel_year):+d}: {r.estimate:+.2f}" for r in lags.itertuples())
        return (f"event study of {self.metric} ({self.subgroup}, {self.source}): effects by year since the start "
                f"{text}; pre-trend test (leads = 0) p = {self.pretrend_p:.3g} on {self.pretrend_df} leads")

    def plot(self):
        """An Altair chart: estimates with their intervals by relative year, 0 line, the start marked."""
        import altair as alt

        data = self.coefficients.assign(period=np.where(self.coefficients["rel_year"] < 0, "before", "after"))
        base = alt.Chart(data).encode(x=alt.X("rel_year:Q", title="years since the start (0 = first year)"))
        bars = base.mark_rule().encode(y=alt.Y("ci_low:Q", title=f"effect on {self.metric}"), y2="ci_high:Q",
                                       color="period:N")
        points = base.mark_point(filled=True).encode(y="estimate:Q", color="period:N",
                                                     tooltip=["rel_year", "estimate", "ci_low", "ci_high"])
        zero = alt.Chart(pd.DataFrame({"y": [0.0]})).mark_rule(strokeDash=[4, 4]).encode(y="y:Q")
        start = alt.Chart(pd.DataFrame({"x": [-0.5]})).mark_rule(color="gray").encode(x="x:Q")
        title = f"{self.metric}: event study (did2s), pre-trend p = {self.pretrend_p:.3g}"
        return (bars + points + zero + start).properties(title=title, width=480, height=280)


def event_study(
    wh: Warehouse, metric: str | None = None, subgroup: str = "all", source: str = "student", *,
    weights: str | None = "denominator", subject: str | None = None, grade: str | None = None, years=None,
    conf: float = 0.95,
) -> EventStudy:
    """Leads and lags of the network's effect on ``metric`` (the panel of :func:`did_estimate`), by Gardner's
    two-stage estimator, with cluster-robust (school) intervals from t(G-1) and the pre-trend Wald test."""
    import pyfixest as pf

    metric = metric or catalog.metrics()[0]["id"]
    panel, _, notes = did_panel(wh, metric, subgroup, source, subject, grade, years, weights)
    rel = np.where(panel["treated_school"], panel["school_year"] - panel["cohort"].astype(float), REFERENCE_YEAR)
    data = _fixest(panel).assign(rel_year=rel.astype(float))
    with warnings.catch_warnings():  # pyfixest's notices (dropped dummies) are not the user's
        warnings.simplefilter("ignore")
        fit = pf.did2s(data, yname="value", first_stage="~ 0 | org_code + school_year",
                       second_stage=f"~ i(rel_year, ref={float(REFERENCE_YEAR)})", treatment="treated_post",
                       cluster="org_code", weights="w")
    rel_years = [float(str(n).split("::")[1]) for n in fit._coefnames]
    df = panel["org_code"].nunique() - 1
    tcrit = float(_st.t.ppf(1 - (1 - conf) / 2, df))
    est, se = fit.coef().to_numpy(float), fit.se().to_numpy(float)
    n_by_rel = data[panel["treated_school"].to_numpy()].groupby("rel_year").size()
    coefficients = pd.DataFrame({"rel_year": np.asarray(rel_years, dtype=int), "estimate": est, "se": se,
                                 "ci_low": est - tcrit * se, "ci_high": est + tcrit * se,
                                 "n_treated_obs": [int(n_by_rel.get(r, 0)) for r in rel_years]})
    stat, p, k = _pretrend(est, fit._vcov, np.asarray(rel_years), df)
    return EventStudy(coefficients=coefficients.sort_values("rel_year").reset_index(drop=True), pretrend_stat=stat,
                      pretrend_df=k, pretrend_p=p, metric=metric, subgroup=subgroup, source=source, conf=conf,
                      notes=tuple(notes))


def _pretrend(est: np.ndarray, vcov: np.ndarray, rel_years: np.ndarray, df: int) -> tuple[float, float, int]:
    """Wald test that every lead (relative year <= -2) is 0: F = b' V^-1 b / k against F(k, G-1)."""
    leads = np.flatnonzero(rel_years <= REFERENCE_YEAR - 1)
    if len(leads) == 0 or df < 1:
        return math.nan, math.nan, 0
    b, v = est[leads], np.asarray(vcov)[np.ix_(leads, leads)]
    stat = float(b @ np.linalg.pinv(v) @ b) / len(leads)
    return stat, float(_st.f.sf(stat, len(leads), df)), len(leads)

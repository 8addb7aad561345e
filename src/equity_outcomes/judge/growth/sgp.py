"""The SGP method on one cohort: fit conditional quantiles of the current score given prior scores, count.

This is ``studentGrowthPercentiles`` of the SGP package for one norm group (subject x grade x year): for each order
k = 1 .. max_order, quantile regressions of the current score on ``cbind(1, bs(prior_1), ..., bs(prior_k))`` at
tau = (1..100 - 0.5) / 100, fitted on every student with at least k priors; each student is scored with the
highest order their history allows. The fitted quantiles of a student are rounded to 5 decimals and sorted (the
package's ``isotonize``: quantiles never cross); the SGP is how many lie below the score, with 0 -> 1 and
100 -> 99. A fitted model (:class:`QuantileModel`, the package's coefficient matrix with its knots and boundaries)
can score another year's cohort: baseline-referenced SGPs.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Annotated

import numpy as np
import pydantic

from ...catalog import load_yaml
from ...paths import config_dir
from .quantreg import FitStats, fit_quantiles
from .splines import PriorBasis, prior_basis


@pydantic.dataclasses.dataclass(frozen=True, config=pydantic.ConfigDict(extra="forbid"))
class GrowthSettings:
    """``config/growth.yaml`` (its header comment explains each key)."""

    subjects: tuple[str, ...]
    grades: tuple[str, ...]
    max_order: Annotated[int, pydantic.Field(ge=1, le=3, description="2 (two priors, DESE's choice) or 3")]
    quantiles: int
    knot_percentiles: tuple[float, ...]
    boundary_extension: float
    prediction_digits: int
    min_cohort_size: tuple[int, ...]  # by order
    sgp_min: int
    sgp_max: int

    def min_norm_group(self, order: int) -> int:
        sizes = self.min_cohort_size
        return int(sizes[min(order, len(sizes)) - 1])

    @property
    def taus(self) -> np.ndarray:
        return (np.arange(1, self.quantiles + 1) - 0.5) / self.quantiles


@lru_cache(maxsize=4)
def load_settings(path: Path | None = None) -> GrowthSettings:
    path = path or config_dir() / "growth.yaml"
    return load_yaml(GrowthSettings, path, "growth settings", "see the header comment of config/growth.yaml.")


@dataclass
class QuantileModel:
    """The coefficient matrix of one norm group and order: its priors' bases and p x quantiles coefficients."""

    bases: tuple[PriorBasis, ...]  # most recent prior first
    coef: np.ndarray
    n: int  # students it was fitted on

    @property
    def order(self) -> int:
        return len(self.bases)

    def design(self, priors: np.ndarray) -> np.ndarray:
        cols = [np.ones((len(priors), 1))] + [b.design(priors[:, k]) for k, b in enumerate(self.bases)]
        return np.hstack(cols)

    def fitted_quantiles(self, priors: np.ndarray, digits: int) -> np.ndarray:
        """n x quantiles, rounded and sorted per student (non-crossing)."""
        return np.sort(np.round(self.design(priors) @ self.coef, digits), axis=1)

    def percentiles(self, current: np.ndarray, priors: np.ndarray, settings: GrowthSettings) -> np.ndarray:
        fitted = self.fitted_quantiles(priors, settings.prediction_digits)
        below = (fitted < np.asarray(current, float)[:, None]).sum(axis=1)
        return np.clip(below, settings.sgp_min, settings.sgp_max).astype(np.int16)


def fit_model(current: np.ndarray, priors: np.ndarray, settings: GrowthSettings, *, seed: int = 0,
              stats: FitStats | None = None) -> QuantileModel:
    """Fit the quantile model of ``current`` on the k priors (columns of ``priors``, most recent first)."""
    bases = tuple(prior_basis(priors[:, k], list(settings.knot_percentiles), settings.boundary_extension)
                  for k in range(priors.shape[1]))
    model = QuantileModel(bases, np.empty(0), len(current))
    model.coef = fit_quantiles(model.design(priors), np.asarray(current, float), settings.taus, seed=seed,
                               stats=stats)
    return model


def prior_order(priors: np.ndarray, max_order: int) -> np.ndarray:
    """How many consecutive priors, from the most recent, each student has (0 = none), capped at max_order."""
    have = ~np.isnan(priors[:, :max_order])
    return np.cumprod(have, axis=1).sum(axis=1) if have.size else np.zeros(len(priors), np.int64)


@dataclass
class CohortResult:
    sgp: np.ndarray  # int16, 0 where no SGP
    order: np.ndarray  # priors used (0 = no SGP); below the student's history where a norm group was too small
    cohort_n: np.ndarray  # students the model used was fitted on
    models: dict[int, QuantileModel]


def cohort_sgps(current: np.ndarray, priors: np.ndarray, settings: GrowthSettings, *,
                models: dict[int, QuantileModel] | None = None, seed: int = 0,
                stats: FitStats | None = None) -> CohortResult:
    """SGPs of one cohort. ``priors`` is n x max_order (NaN = missing). With ``models`` (baseline-referenced),
    those are applied instead of fitting; orders without a model (or too few students to fit) get no SGP."""
    n = len(current)
    order = prior_order(priors, settings.max_order)
    sgp = np.zeros(n, np.int16)
    cohort_n = np.zeros(n, np.int64)
    used = np.zeros(n, np.int64)
    fitted: dict[int, QuantileModel] = {}
    for k in range(settings.max_order, 0, -1):
        scored = (order >= k) & (sgp == 0)  # students not yet scored by a higher order
        if not scored.any():
            continue
        model = (models or {}).get(k)
        if models is None:
            norm_group = order >= k  # every student with k priors belongs to the order-k norm group
            if norm_group.sum() < settings.min_norm_group(k):
                continue
            model = fit_model(current[norm_group], priors[norm_group, :k], settings, seed=seed, stats=stats)
        if model is None:
            continue
        fitted[k] = model
        sgp[scored] = model.percentiles(current[scored], priors[scored, :k], settings)
        cohort_n[scored] = model.n
        used[scored] = k
    return CohortResult(sgp, used, cohort_n, fitted)

"""Cubic B-spline bases of prior scores, as the SGP package builds them.

The package (``createKnotsBoundaries``) puts the interior knots of each prior at quantiles of that prior's scores
(R's ``quantile`` type 7, rounded to 3 decimals) and the boundary knots at its range widened by 10% of the range on
each side (``extendrange(f = 0.1)``); the regression uses ``splines::bs(prior, knots, Boundary.knots)``: degree 3,
no intercept column. The basis here is scipy's ``BSpline.design_matrix`` on the same knot sequence, without its
first column, which is exactly ``bs``; outside the boundaries both continue the end polynomials (``bs`` by a Taylor
expansion at the boundary, scipy by extrapolating the end piece: the same cubic).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.interpolate import BSpline

DEGREE = 3


@dataclass(frozen=True)
class PriorBasis:
    """Knots and boundary knots of one prior score's B-spline basis."""

    knots: tuple[float, ...]
    boundaries: tuple[float, float]

    def design(self, scores: np.ndarray) -> np.ndarray:
        """The ``bs(scores, knots, Boundary.knots)`` matrix: n x (len(knots) + 3)."""
        lo, hi = self.boundaries
        t = np.concatenate([[lo] * (DEGREE + 1), self.knots, [hi] * (DEGREE + 1)])
        basis = BSpline.design_matrix(np.asarray(scores, float), t, DEGREE, extrapolate=True).toarray()
        return basis[:, 1:]


def prior_basis(scores: np.ndarray, knot_percentiles: list[float], boundary_extension: float) -> PriorBasis:
    """Knots at the prior's quantiles, boundaries at its range widened by ``boundary_extension`` of the range.

    Repeated knots (a prior with few distinct scores) are kept once, so the basis stays of full rank."""
    scores = np.asarray(scores, float)
    knots = np.unique(np.round(np.quantile(scores, knot_percentiles), 3))
    lo, hi = float(scores.min()), float(scores.max())
    pad = boundary_extension * (hi - lo)
    lo_b, hi_b = round(lo - pad, 3), round(hi + pad, 3)
    knots = knots[(knots > lo_b) & (knots < hi_b)]
    return PriorBasis(tuple(float(k) for k in knots), (lo_b, hi_b))

"""Linear quantile regression at many quantiles at once: exact solutions for large n and small p.

The solver is the Frisch-Newton primal-dual interior point of R's quantreg (``rq(..., method = "fn")``, Koenker
and Portnoy 1997; the Fortran ``rqfnb``: Mehrotra predictor-corrector on the dual LP
``max y'a  s.t.  X'a = (1 - tau) X'1,  0 <= a <= 1``), vectorised over the quantiles: every array carries one
column per tau, so the p x p normal equations of all taus are one matrix product and one batched Cholesky.

For large n it adds quantreg's preprocessing (``method = "pfn"``, Portnoy and Koenker 1997): a fit on a random
subsample predicts which observations lie clearly above or below each quantile plane; those are replaced by two
summed pseudo-observations and only a band of ~``band`` observations around the plane is solved. The answer is
then checked against every observation: if none lies on the wrong side of the plane the reduced problem's optimum is
the full problem's optimum (its objective bounds the full one from below and touches it there); otherwise the
misplaced observations go back into the band and the taus concerned are solved again. So the result is the exact
optimum, to the interior point's tolerance, at a fraction of the cost.

``tests/test_growth.py`` compares it with the slow exact reference, scipy's HiGHS linear programming.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

BETA = 0.99995  # step-length damping, as quantreg's rq.fit.fnb
MAX_ITERATIONS = 100
GAP_TOLERANCE = 1e-11  # duality gap relative to the sum of |y| (quantreg stops at an absolute 1e-6)


@dataclass
class FitStats:
    """How a fit went: interior-point iterations, reduced-problem sizes, fix-ups and full solves."""

    iterations: int = 0
    band: int = 0  # widest band: observations per tau in the reduced problems
    full_taus: int = 0  # taus whose band missed too much: solved on all observations
    repaired_taus: int = 0  # reduced problems solved again with misplaced observations moved into the band

    def add(self, other: FitStats) -> None:
        self.iterations += other.iterations
        self.band = max(self.band, other.band)
        self.full_taus += other.full_taus
        self.repaired_taus += other.repaired_taus


def _step_length(v: np.ndarray, dv: np.ndarray) -> np.ndarray:
    """Per row (tau): the largest step keeping v + step * dv >= 0, damped by BETA and capped at 1."""
    ratio = np.divide(-v, dv, out=np.full(v.shape, np.inf), where=dv < 0)
    return np.minimum(BETA * ratio.min(axis=1), 1.0)[:, None]


def _sum(u: np.ndarray, v: np.ndarray) -> np.ndarray:
    return np.einsum("mn,mn->m", u, v)[:, None]


def _cholesky(ada: np.ndarray) -> np.ndarray:
    """Cholesky factors; near the optimum X'DX can lose definiteness to rounding: then a ridge of 1e-12 of its
    diagonal is added (the step direction changes by about as much, the optimum not at all)."""
    try:
        return np.linalg.cholesky(ada)
    except np.linalg.LinAlgError:
        ridge = 1e-12 * np.einsum("mii->m", ada)[:, None, None] * np.eye(ada.shape[1])
        return np.linalg.cholesky(ada + ridge)


class _Design:
    """The design of every tau: one shared n x p matrix, or m x n x p (each tau its own rows), and the products
    the iterations need. A shared design forms all taus' normal equations in one matrix product over the
    pairwise column products."""

    def __init__(self, x: np.ndarray, pairs: np.ndarray | None = None) -> None:
        self.x = x
        self.shared = x.ndim == 2
        p = x.shape[-1]
        self.iu = np.triu_indices(p)
        if self.shared:
            self.pairs = x[:, self.iu[0]] * x[:, self.iu[1]] if pairs is None else pairs
        else:
            self.xt = np.swapaxes(x, 1, 2)

    def take(self, keep: np.ndarray) -> _Design:
        return self if self.shared else _Design(self.x[keep])

    def normal_cholesky(self, d: np.ndarray) -> np.ndarray:
        """Cholesky factors of X' diag(d_t) X for every tau."""
        if not self.shared:
            return _cholesky(self.xt @ (self.x * d[:, :, None]))
        flat = d @ self.pairs  # (m, p(p+1)/2)
        p = self.x.shape[1]
        ada = np.empty((d.shape[0], p, p))
        ada[:, self.iu[0], self.iu[1]] = flat
        ada[:, self.iu[1], self.iu[0]] = flat
        return _cholesky(ada)

    @staticmethod
    def solve(chol: np.ndarray, rhs: np.ndarray) -> np.ndarray:
        return np.linalg.solve(np.swapaxes(chol, 1, 2), np.linalg.solve(chol, rhs[:, :, None]))[:, :, 0]

    def xv(self, v: np.ndarray) -> np.ndarray:  # X v per tau -> (m, n)
        return v @ self.x.T if self.shared else (self.x @ v[:, :, None])[:, :, 0]

    def xtv(self, v: np.ndarray) -> np.ndarray:  # X' v per tau -> (m, p)
        return v @ self.x if self.shared else (self.xt @ v[:, :, None])[:, :, 0]


def frisch_newton(x: np.ndarray, y: np.ndarray, taus: np.ndarray, *, upper: np.ndarray | None = None,
                  scale: np.ndarray | None = None,
                  max_iterations: int = MAX_ITERATIONS, tolerance: float = GAP_TOLERANCE,
                  stats: FitStats | None = None) -> np.ndarray:
    """Coefficients (p x m) of the quantile regressions of ``y`` on ``x`` at each of the m ``taus``.

    ``x`` is n x p (one design for every tau) or m x n x p (each tau its own rows, as the reduced problems of
    the preprocessing); ``y`` is n or m x n. ``upper`` (default 1) is each row's weight: the bound of its dual
    variable, so a row of weight k is k copies of it. The iteration stops per tau when the duality gap is at most
    ``tolerance * scale`` (default scale: 1 + sum |y|).
    """
    taus = np.asarray(taus, float)
    m = len(taus)
    n, p = x.shape[-2:]
    y = np.broadcast_to(np.asarray(y, float), (m, n))
    design = _Design(x)
    c = -y  # the dual LP's costs
    upper = np.ones((m, n)) if upper is None else np.broadcast_to(np.asarray(upper, float), (m, n))
    a = (1.0 - taus)[:, None] * upper  # dual variables, start inside the box [0, upper]
    b = design.xtv(a)  # (1 - tau) X'1
    # start from the least-squares dual (d = 1), as rqfnb
    y_dual = design.solve(design.normal_cholesky(np.ones((m, n))), design.xtv(c))
    res = c - design.xv(y_dual)
    tiny = np.abs(res) < 1e-9
    z = np.maximum(res, 0.0) + tiny * 1e-9
    w = np.maximum(-res, 0.0) + tiny * 1e-9
    s = upper - a
    scale = (1.0 + np.abs(y).sum(axis=1)) if scale is None else np.broadcast_to(scale, (m,)).astype(float)
    coef = np.empty((m, p))
    active = np.arange(m)
    it = 0
    while True:
        done = (_sum(z, a) + _sum(w, s))[:, 0] <= tolerance * scale
        if it >= max_iterations:
            done[:] = True
        if done.any():
            coef[active[done]] = -y_dual[done]
            keep = ~done
            if not keep.any():
                break
            design = design.take(keep)
            active, c, a, b, s, z, w, y_dual, scale = (v[keep] for v in (active, c, a, b, s, z, w, y_dual, scale))
        it += 1
        a, s, z, w, y_dual = _iterate(design, c, b, a, s, z, w, y_dual)
    if stats is not None:
        stats.iterations += it
    return coef.T


def _iterate(design: _Design, c, b, a, s, z, w, y_dual):
    """One predictor-corrector step of rqfnb (Lustig, Marsten and Shanno; Mehrotra's mu) for every active tau."""
    n = a.shape[1]
    d = 1.0 / (z / a + w / s)
    rhs = b - design.xtv(a) + design.xtv(d * (z - w))
    chol = design.normal_cholesky(d)
    dy = design.solve(chol, rhs)
    dx = d * (design.xv(dy) - (z - w))
    ds = -dx
    dz = -z * (dx / a + 1.0)
    dw = -w * (ds / s + 1.0)
    dp = np.minimum(_step_length(a, dx), _step_length(s, ds))
    dd = np.minimum(_step_length(z, dz), _step_length(w, dw))
    corr = np.minimum(dp, dd) < 1.0
    if corr.any():
        mu = _sum(a, z) + _sum(s, w)
        g = (mu + dp * _sum(dx, z) + dd * _sum(dz, a) + dp * dd * _sum(dz, dx) + dp * _sum(ds, w)
             + dd * _sum(dw, s) + dp * dd * _sum(ds, dw))
        mu = mu * (g / mu) ** 3 / (2 * n)
        dr = d * (mu * (1.0 / s - 1.0 / a) + dx * dz / a - ds * dw / s)
        dy2 = design.solve(chol, rhs + design.xtv(dr))
        dx2 = d * (design.xv(dy2) - z + w) - dr
        ds2 = -dx2
        dz2 = -z + (mu - z * dx2 - dx * dz) / a
        dw2 = -w + (mu - w * ds2 - ds * dw) / s
        dp2 = np.minimum(_step_length(a, dx2), _step_length(s, ds2))
        dd2 = np.minimum(_step_length(z, dz2), _step_length(w, dw2))
        dx, ds, dz, dw, dy = (np.where(corr, v2, v1) for v1, v2 in
                              ((dx, dx2), (ds, ds2), (dz, dz2), (dw, dw2), (dy, dy2)))
        dp, dd = np.where(corr, dp2, dp), np.where(corr, dd2, dd)
    return a + dp * dx, s + dp * ds, z + dd * dz, w + dd * dw, y_dual + dd * dy


PREPROCESS_FROM_N = 8000  # below this many observations the full problem is solved directly
BAND_FACTOR = 1.0  # band = BAND_FACTOR * sqrt(p) * n^(2/3) observations per tau (Portnoy and Koenker's m)
SUBSAMPLE_FACTOR = 4  # the preliminary fit's random subsample: this many bands
ANCHOR_STEP = 5  # every 5th tau (and both ends) is solved first; the others start between their anchors


def fit_quantiles(x: np.ndarray, y: np.ndarray, taus: np.ndarray, *, seed: int = 0,
                  stats: FitStats | None = None) -> np.ndarray:
    """Exact quantile regression coefficients (p x m) of y on x at every tau (ascending); large n via
    preprocessing in two passes: the anchor taus from a subsample's fit, then the taus between anchors from the
    anchors' exact planes (interpolated in tau, so close that half the band is plenty)."""
    taus = np.asarray(taus, float)
    y = np.asarray(y, float)
    n, p = x.shape
    stats = stats if stats is not None else FitStats()
    if n < PREPROCESS_FROM_N:
        return frisch_newton(x, y, taus, stats=stats)
    band = int(min(n, BAND_FACTOR * np.sqrt(p) * n ** (2 / 3)))
    stats.band = max(stats.band, band)
    rng = np.random.default_rng(seed)
    sample = rng.choice(n, size=min(n, SUBSAMPLE_FACTOR * band), replace=False)
    # how far the subsample's plane may be off at each observation, up to a common factor: the leverage of x_i
    # against the subsample (large where data are sparse: the splines' edges)
    spread = np.sqrt(np.einsum("ij,jk,ik->i", x, np.linalg.inv(x[sample].T @ x[sample]), x))
    anchors = np.unique(np.r_[np.arange(0, len(taus), ANCHOR_STEP), len(taus) - 1])
    coef = np.empty((p, len(taus)))
    prelim = frisch_newton(x[sample], y[sample], taus[anchors], tolerance=1e-8, stats=stats)
    coef[:, anchors] = _exact_from(x, y, taus[anchors], prelim, spread, band, stats)
    rest = np.setdiff1d(np.arange(len(taus)), anchors)
    if len(rest):
        between = np.stack([np.interp(taus[rest], taus[anchors], c) for c in coef[:, anchors]])
        coef[:, rest] = _exact_from(x, y, taus[rest], between, None, max(band // 2, p * 20), stats)
    return coef


def _exact_from(x, y, taus, prelim, spread, band, stats) -> np.ndarray:
    """Exact solutions from preliminary planes: reduced problems on bands around them, PK's fix-ups, and the full
    problem for a tau whose band missed too much. ``spread`` (None: raw residuals only) adds the scaled band."""
    resid = y[:, None] - x @ prelim
    side = _partition(resid, taus, band)
    if spread is not None:
        # a second band per tau: nearest the plane in residuals per unit of spread (right where data are sparse,
        # where the raw band, right where they are dense, misses); summed into a side only where both agree
        scaled = _partition(resid / spread[:, None], taus, band)
        side = np.where(side == scaled, side, 0).astype(np.int8)
        del scaled
    del resid
    coef = prelim.copy()
    fixing, hard = np.arange(len(taus)), []
    while len(fixing):  # PK's fix-up: a few misplaced observations join the band until none is left
        new, wrong = _reduced_fit(x, y, taus[fixing], side[:, fixing], stats)
        coef[:, fixing] = new
        misplaced = wrong.sum(axis=0)
        hard.extend(fixing[misplaced > band // 4])
        few = (misplaced > 0) & (misplaced <= band // 4)
        stats.repaired_taus += int(few.sum())
        sub = side[:, fixing]
        sub[wrong & few[None, :]] = 0
        side[:, fixing] = sub
        fixing = fixing[few]
    if hard:
        hard = np.array(sorted(hard), dtype=np.int64)
        stats.full_taus += len(hard)
        coef[:, hard] = frisch_newton(x, y, taus[hard], stats=stats)
    return coef


def _partition(resid: np.ndarray, taus: np.ndarray, band: int) -> np.ndarray:
    """Per observation and tau: -1 below, 0 inside, +1 above a band of ``band`` residual ranks around tau * n."""
    n, m = resid.shape
    lo = np.clip(np.floor(taus * n - band / 2), 0, n - band).astype(np.int64)
    side = np.zeros((n, m), np.int8)
    for t in range(m):
        order = np.argpartition(resid[:, t], (lo[t], lo[t] + band - 1))
        side[order[:lo[t]], t] = -1
        side[order[lo[t] + band:], t] = 1
    return side


def _reduced_fit(x, y, taus, side, stats):
    """Solve each tau on its band (side == 0) plus one row for all observations below and one for all above
    (their mean, weighted by their count, moved far enough out to stay on its side); return the coefficients
    and which observations the solution puts on the other side of the plane than their row assumed."""
    n, p = x.shape
    m = len(taus)
    width = int((side == 0).sum(axis=0).max())
    rows = np.zeros((m, width + 2, p))
    ys = np.zeros((m, width + 2))
    upper = np.ones((m, width + 2))
    margin = float(y.max() - y.min()) + 1.0  # a plane inside the data's range leaves each summed row on its side
    for t in range(m):  # bands differ in width after fix-ups: pad with neutral rows (x = 0, y = 0)
        idx = np.flatnonzero(side[:, t] == 0)
        rows[t, :len(idx)], ys[t, :len(idx)] = x[idx], y[idx]
        for j, s in ((width, -1), (width + 1, 1)):
            mask = side[:, t] == s
            k = int(mask.sum())
            if k:
                rows[t, j], ys[t, j], upper[t, j] = x[mask].mean(axis=0), y[mask].mean() + s * margin, k
    scale = np.full(m, 1.0 + np.abs(y).sum())  # the full problem's scale: the summed rows stand for everyone
    new = frisch_newton(rows, ys, taus, upper=upper, scale=scale, stats=stats)
    r = y[:, None] - x @ new
    tol = 1e-7 * (1.0 + np.abs(y).max())
    return new, ((side == -1) & (r > tol)) | ((side == 1) & (r < -tol))

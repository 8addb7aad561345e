"""One linear programme of the attacker (attack.py): columns, bounds and rows compiled once into a HiGHS model whose
objective changes per question (warm-started solves); min and max of a linear form, a vertex or an interior point,
and the range of a ratio of two columns by the Charnes-Cooper transformation."""

from __future__ import annotations

import os
import threading

import highspy
import numpy as np
from scipy.sparse import coo_matrix

from .inner import EPS

N_MAX = 1e6
INF = highspy.kHighsInf
SIMPLEX_DUAL, SIMPLEX_PRIMAL = 1, 4  # HiGHS's simplex_strategy values (1, the dual, is its default)
# Questions that change only the objective go to the primal simplex (warm-started from the last answer's basis) on
# programmes above these numbers of columns; the dual stays for the many small programmes and for probes (bounds
# changed). Measured on the control at 1M students (one thread, benchmarks/README.md "The control's largest
# programmes"): min/max on the 3,000-14,000-column components 43.2 -> 2.4 s; the first vertices of those components
# too: control 136.9 -> 112.4 s CPU. At 200k (components of ~2,800 columns) primal vertices left 4x more cells to
# the exact programmes: vertices keep the dual below 5,000 columns.
PRIMAL_MINMAX_COLUMNS, PRIMAL_VERTEX_COLUMNS = 1000, 5000


def _without_stdout(make):
    """``make()`` with the process's stdout pointed at /dev/null."""
    fd, null = os.dup(1), os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(null, 1)
        return make()
    finally:
        os.dup2(fd, 1)
        os.close(fd)
        os.close(null)


def _highs():
    """A silent HiGHS instance (its banner is printed on stdout by the first instance of a process; the lock: only
    one thread makes that one)."""
    global _BANNER_DONE
    with _BANNER_LOCK:
        h = highspy.Highs() if _BANNER_DONE else _without_stdout(highspy.Highs)
        _BANNER_DONE = True
    h.silent()
    h.setOptionValue("presolve", "off")  # small models, many objectives: warm-started simplex is faster
    return h


_BANNER_DONE = False
_BANNER_LOCK = threading.Lock()


class _Lp:
    """Columns, bounds and homogeneous constraints of one component (rows: ``A x <= b`` and ``E x = 0``),
    compiled once into a HiGHS model whose objective changes per question (warm-started solves)."""

    def __init__(self) -> None:
        self.lb: list[float] = []
        self.ub: list[float] = []
        self.rows: list[tuple[dict[int, float], float]] = []
        self.eqs: list[dict[int, float]] = []
        self._h = None
        self._cc = None
        self.ratio_bound = False  # a value constraint on a cell of unknown size: ratios need their own LP
        self.held: dict[int, float] = {}  # columns held at a value: constants in the rows of the model

    def col(self, lo: float, hi: float) -> int:
        self.lb.append(lo)
        self.ub.append(hi)
        return len(self.lb) - 1

    def held_col(self, value: float) -> int:
        c = self.col(value, value)
        self.held[c] = value
        return c

    def le(self, coefs: dict[int, float], rhs: float = 0.0) -> None:
        self.rows.append((coefs, rhs))

    def eq(self, coefs: dict[int, float]) -> None:
        self.eqs.append(coefs)

    @staticmethod
    def _pass(rows: list[dict[int, float]], lo: list[float], hi: list[float], col_lo: list[float],
              col_hi: list[float]):
        ncol = len(col_lo)
        r = [i for i, row in enumerate(rows) for _ in row]
        c = [j for row in rows for j in row]
        a = coo_matrix(([x for row in rows for x in row.values()], (r, c)), shape=(len(rows), ncol)).tocsc()
        lp = highspy.HighsLp()
        lp.num_col_, lp.num_row_ = ncol, len(rows)
        lp.col_cost_ = np.zeros(ncol)
        lp.col_lower_, lp.col_upper_ = np.array(col_lo, dtype=float), np.array(col_hi, dtype=float)
        lp.row_lower_, lp.row_upper_ = np.array(lo, dtype=float), np.array(hi, dtype=float)
        lp.a_matrix_.format_ = highspy.MatrixFormat.kColwise
        lp.a_matrix_.start_, lp.a_matrix_.index_, lp.a_matrix_.value_ = a.indptr, a.indices, a.data
        h = _highs()
        h.passModel(lp)
        return h

    def _model(self):
        """The HiGHS model, compiled at the first question. Held columns are not in it: their share of a row moves
        into the row's bounds (a group's programme in split.py holds thousands of cells of a network sum: as fixed
        columns they were priced in every simplex iteration)."""
        if self._h is None:
            n = len(self.lb)
            self._value = np.zeros(n)
            self._value[list(self.held)] = list(self.held.values())
            self._keep = np.ones(n, dtype=bool)
            self._keep[list(self.held)] = False
            self._at = np.full(n, -1, dtype=np.int64)
            self._at[self._keep] = np.arange(int(self._keep.sum()))
            le, eq = [self._compact(c) for c, _ in self.rows], [self._compact(c) for c in self.eqs]
            rows = [r for r, _ in le + eq]
            lo = [-INF] * len(le) + [-k for _, k in eq]
            hi = [b - k for (_, b), (_, k) in zip(self.rows, le, strict=True)] + [-k for _, k in eq]
            self._bounds = (np.array(self.lb), np.array(self.ub))  # no column is added once compiled
            self._h = self._pass(rows, lo, hi, self._bounds[0][self._keep], self._bounds[1][self._keep])
        return self._h

    def _compact(self, coefs: dict[int, float]) -> tuple[dict[int, float], float]:
        """(the row on the model's columns, the held columns' constant part)."""
        at = self._at
        return ({int(at[j]): x for j, x in coefs.items() if j not in self.held},
                sum(x * self.held[j] for j, x in coefs.items() if j in self.held))

    def _columns(self) -> int:
        """Columns of the compiled model (held ones are constants)."""
        return len(self._value) - len(self.held)

    @staticmethod
    def _run(h, primal: bool = False) -> bool:
        """Solve; whether an optimum was found. ``primal``: by the primal simplex (then back to the dual)."""
        if primal:
            h.setOptionValue("simplex_strategy", SIMPLEX_PRIMAL)
        try:
            h.run()
        finally:
            if primal:
                h.setOptionValue("simplex_strategy", SIMPLEX_DUAL)
        return h.getModelStatus() == highspy.HighsModelStatus.kOptimal

    def _full(self, x) -> np.ndarray:
        """A point of the model as a value per column, held columns at their values."""
        out = self._value.copy()
        out[self._keep] = np.asarray(x)
        return out

    @staticmethod
    def _solve(h, coefs: dict[int, float], primal: bool = False) -> tuple[float | None, float | None]:
        idx = np.array(list(coefs), dtype=np.int32)
        h.changeColsCost(len(idx), idx, np.array(list(coefs.values()), dtype=float))
        out = []
        for sense in (highspy.ObjSense.kMinimize, highspy.ObjSense.kMaximize):
            h.changeObjectiveSense(sense)
            ok = _Lp._run(h, primal)
            out.append(h.getInfo().objective_function_value if ok else None)
        h.changeColsCost(len(idx), idx, np.zeros(len(idx)))
        return out[0], out[1]

    def minmax(self, coefs: dict[int, float]) -> tuple[float | None, float | None]:
        """min and max of sum(coef x); None when infeasible."""
        h = self._model()
        row, const = self._compact(coefs)
        lo, hi = self._solve(h, row, primal=self._columns() > PRIMAL_MINMAX_COLUMNS)
        return (None if lo is None else lo + const), (None if hi is None else hi + const)

    def vertex(self, idx: np.ndarray, cost: np.ndarray, lower: np.ndarray | None = None,
               upper: np.ndarray | None = None) -> np.ndarray | None:
        """A feasible point (a vertex) maximising sum(cost x[idx]), with lower <= x[idx] <= upper when given (a
        probe: the bounds are restored after); None when infeasible."""
        h = self._model()
        lb, ub = self._bounds[0][idx], self._bounds[1][idx]
        live = self._at[idx] >= 0  # a held column's bounds are its value: a probe past it is infeasible below
        at = self._at[idx][live].astype(np.int32)
        if lower is not None:
            lo, hi = np.maximum(lb, lower), np.minimum(ub, upper)
            if (lo > hi + EPS).any():
                return None
            h.changeColsBounds(len(at), at, lo[live], np.maximum(lo, hi)[live])
        h.changeColsCost(len(at), at, cost[live])
        h.changeObjectiveSense(highspy.ObjSense.kMaximize)
        ok = self._run(h, primal=lower is None and self._columns() > PRIMAL_VERTEX_COLUMNS)
        h.changeColsCost(len(at), at, np.zeros(len(at)))
        if lower is not None:
            h.changeColsBounds(len(at), at, lb[live], ub[live])
        return self._full(h.getSolution().col_value) if ok else None

    def centre(self) -> np.ndarray | None:
        """A feasible point inside the polytope, away from its vertices (interior point method, no crossover: with
        no objective it stops near the analytic centre); None when infeasible."""
        h = self._model()
        h.setOptionValue("solver", "ipm")
        h.setOptionValue("run_crossover", "off")
        try:
            return self._full(h.getSolution().col_value) if self._run(h) else None
        finally:
            h.setOptionValue("solver", "simplex")
            h.setOptionValue("run_crossover", "on")

    def ratio(self, num: int, den: int) -> tuple[float | None, float | None]:
        """min and max of x[num] / x[den] (x[den] > 0) by Charnes-Cooper: y = x t, y[den] = 1."""
        n = len(self.lb)
        if self._cc is None:
            t = n
            rows = [{**coefs, t: -b} if b else dict(coefs) for coefs, b in self.rows]  # A y - b t <= 0
            rows += self.eqs  # E y = 0
            for j in range(n):  # lb t <= y <= ub t
                if self.lb[j] != 0:
                    rows.append({j: -1.0, t: self.lb[j]})
                rows.append({j: 1.0, t: -self.ub[j]})
            self._sel = len(rows)
            rows.append({})  # the selector row: y[den] = 1, its column set per question
            n_le, n_eq = len(self.rows), len(self.eqs)
            lo = [-INF] * n_le + [0.0] * n_eq + [-INF] * (self._sel - n_le - n_eq) + [1.0]
            hi = [0.0] * self._sel + [1.0]
            col_lo = [0.0 if self.lb[j] >= 0 else -INF for j in range(n)] + [0.0]
            self._cc = self._pass(rows, lo, hi, col_lo, [INF] * (n + 1))
            self._den = None
        h = self._cc
        if self._den is not None:
            h.changeCoeff(self._sel, self._den, 0.0)
        h.changeCoeff(self._sel, den, 1.0)
        self._den = den
        return self._solve(h, {num: 1.0})

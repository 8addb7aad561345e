"""Protection shown by feasible points, before the exact programmes of attack.py (docs/disclosure.md, section 3).

Every feasible point of a component's programme is a publication the attacker cannot rule out: the values a cell
takes over a few points span an inner bound of its exact interval. ``wide`` says when that already proves the cell
protected whatever its exact intervals; those cells skip their exact programmes, the others get them, so the
verdicts are the exact attack's. An outer bound (a relaxation) is used for one thing only: a share whose
total is published at 0% (or 100%) forces its parts to 0 (or all) students, a fact the exact programme would
find too, after which ``verdict`` asks nothing of the cell but n over min_n integers (``wide_forced``).

The points: vertices for objectives over the n and k (or value) of the cells not yet proved (all down, all up, then
random signs); then probes, a batch of cells pushed at once past the width they lack by bounds on their columns,
the batch halved while infeasible (a network sum shares a few students with an event among hundreds of cells: one
vertex shows only a few of them high).
"""

from __future__ import annotations

import math
from collections import deque

import numpy as np
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from .rules import MetricRule, Rules

EPS = 1e-6
VERTEX_SOLVES, VERTEX_STALL = 12, 2
PROBE_BATCH, PROBE_ROUNDS = 64, 3


def integers(lo: float, hi: float) -> int:
    """How many integers fit in [lo, hi] (math, not numpy: called per cell and bound, numpy scalars cost ~3x)."""
    return max(0, math.floor(hi + EPS) - math.ceil(lo - EPS) + 1)


def connected(n_cells: int, groups: list[list[int]]) -> np.ndarray:
    """A component label per cell 0..n_cells-1, the cells of each group joined (scipy's connected components)."""
    a = [g[0] for g in groups for _ in g[1:]]
    b = [j for g in groups for j in g[1:]]
    return connected_components(coo_matrix((np.ones(len(a)), (a, b)), shape=(n_cells, n_cells)), directed=False)[1]


def wide(lo: np.ndarray, hi: np.ndarray, mr: MetricRule, rules: Rules) -> bool:
    """Do these inner bounds (rows n, k, n - k, value) prove the cell protected? Not recovered (value wider than
    its exact width, n over more than one integer), not narrowed (n over min_n integers or more; for event rates
    the students with and without the event over the event rule's count or more), and shown not forced to 0% or
    100% (a forced count is exempt in ``verdict``: points must show it is not). The other exemption, a cell proved
    to have min_n students or more, needs the exact lower bound of n and is not used."""
    if integers(lo[0], hi[0]) < max(mr.min_n, 2) or hi[3] - lo[3] <= mr.exact_width + EPS:
        return False
    if mr.kind != "share":
        return True
    if hi[1] < 1 or hi[2] < 1 or lo[3] >= mr.value_range[1] - EPS:
        return False
    return not mr.is_event or (min(integers(lo[1], hi[1]), integers(lo[2], hi[2]))
                               >= rules.event_rule.min_count)


def wide_forced(lo: np.ndarray, hi: np.ndarray, mr: MetricRule) -> bool:
    """The same for a cell whose students with (or without) the event an outer bound forces to 0: ``verdict``
    exempts it from every test but the size rule's, so n over min_n integers or more proves it protected."""
    return integers(lo[0], hi[0]) >= max(mr.min_n, 2)


class _Points:
    def __init__(self, lp, cols: list[tuple[int, int]], mrs: list[MetricRule], rules: Rules,
                 forced: np.ndarray) -> None:
        """``forced``: cells an outer bound shows forced to 0% or 100% (``Attack.forced_by_totals``)."""
        self.lp, self.mrs, self.rules = lp, mrs, rules
        self.nc, self.ac = (np.array([c[j] for c in cols], dtype=np.int32) for j in (0, 1))
        self.scale = np.array([100.0 if m.kind == "share" else 1.0 for m in mrs])
        self.opaque = np.array([m.kind == "opaque" for m in mrs])
        self.forced = forced
        self.lo, self.hi = np.full((4, len(cols)), np.inf), np.full((4, len(cols)), -np.inf)
        self.todo, self.dead = np.ones(len(cols), dtype=bool), set()

    def add(self, x: np.ndarray) -> bool:
        """Widen the bounds by one point; whether it proved a cell more."""
        n, a = x[self.nc], x[self.ac]
        point = np.vstack([n, a, n - a, np.where(self.opaque, a, a / np.maximum(n, EPS) * self.scale)])
        self.lo, self.hi = np.minimum(self.lo, point), np.maximum(self.hi, point)
        return self.mark()

    def mark(self) -> bool:
        """Take the cells the bounds prove protected off the list; whether there were any."""
        shown = [j for j in np.flatnonzero(self.todo)
                 if (wide_forced(self.lo[:, j], self.hi[:, j], self.mrs[j]) if self.forced[j]
                     else wide(self.lo[:, j], self.hi[:, j], self.mrs[j], self.rules))]
        self.todo[shown] = False
        return bool(shown)

    def vertices(self, rng: np.random.Generator) -> bool:
        stall = 0
        for k in range(VERTEX_SOLVES):
            m = int(self.todo.sum())
            sign = np.full((2, m), 1.0 if k else -1.0) if k < 2 else rng.choice((-1.0, 1.0), size=(2, m))
            x = self.lp.vertex(np.concatenate([self.nc[self.todo], self.ac[self.todo]]), sign.ravel())
            if x is None:
                return False
            stall = 0 if self.add(x) else stall + 1
            if not self.todo.any() or stall >= VERTEX_STALL:
                break
        return True

    def _probe(self, j: int) -> tuple[int, list[int], list[float], list[float]] | None:
        """(cell, columns, lower and upper bounds) that would show the cell's missing width: n, k, n - k (k kept at
        its lowest seen, n pushed up) or the value (n kept at its lowest seen, k or the value pushed up)."""
        mr, lo, hi, nc, ac = self.mrs[j], self.lo[:, j], self.hi[:, j], int(self.nc[j]), int(self.ac[j])
        need_n, inf = max(mr.min_n, 2), np.inf
        if integers(lo[0], hi[0]) < need_n:
            return j, [nc], [float(np.ceil(lo[0] - EPS) + need_n - 1)], [inf]
        if self.forced[j]:
            return None
        count = self.rules.event_rule.min_count if mr.is_event else 1
        if mr.kind == "share" and (hi[1] < 1 or integers(lo[1], hi[1]) < count):
            return j, [ac], [float(max(1.0, np.ceil(lo[1] - EPS) + count - 1))], [inf]
        if mr.kind == "share" and (hi[2] < 1 or integers(lo[2], hi[2]) < count):
            return j, [nc, ac], [float(lo[1] + max(1.0, np.ceil(lo[2] - EPS) + count - 1)), -inf], [inf, lo[1]]
        if hi[3] - lo[3] <= mr.exact_width + EPS:
            v = lo[3] + 2 * mr.exact_width
            return (j, [ac], [v], [inf]) if mr.kind == "opaque" else \
                (j, [nc, ac], [-inf, v / self.scale[j] * lo[0]], [lo[0], inf])
        return None

    def probes(self) -> None:
        for _ in range(PROBE_ROUNDS):
            queue = deque(p for j in np.flatnonzero(self.todo) if j not in self.dead and (p := self._probe(j)))
            size = PROBE_BATCH
            while queue:
                batch = [p for p in (queue.popleft() for _ in range(min(size, len(queue)))) if self.todo[p[0]]]
                if not batch:
                    continue
                idx = np.array([c for p in batch for c in p[1]], dtype=np.int32)
                x = self.lp.vertex(idx, np.zeros(len(idx)), np.array([b for p in batch for b in p[2]]),
                                   np.array([b for p in batch for b in p[3]]))
                if x is not None:
                    self.add(x)  # each probe met: a cell still open needs another kind of width (next round)
                    size = min(2 * size, PROBE_BATCH)
                elif len(batch) == 1:
                    self.dead.add(batch[0][0])
                else:
                    size = len(batch) // 2
                    queue.extendleft(reversed(batch))


def shown_wide(lp, cols: list[tuple[int, int]], targets: list[int], rule, rules: Rules,
               forced: np.ndarray) -> dict[int, dict] | None:
    """Cells of ``targets`` (their n and k-or-value columns ``cols``) that feasible points prove protected, with
    the inner bounds the points span; None when the programme is infeasible."""
    if len(targets) < 2:
        return {}
    pts = _Points(lp, cols, [rule(i) for i in targets], rules, forced)
    if not pts.vertices(np.random.default_rng(len(targets))):
        return None
    if pts.todo.any():
        pts.probes()
    return proved(pts, targets)


def proved(pts: _Points, targets: list[int]) -> dict[int, dict]:
    """The inner bounds of the cells the points proved protected."""
    keys = ("n", "a", "e", "v")
    return {int(i): {**{f"{c}_lo": float(pts.lo[r, j]) for r, c in enumerate(keys)},
                     **{f"{c}_hi": float(pts.hi[r, j]) for r, c in enumerate(keys)}}
            for j, i in enumerate(targets) if not pts.todo[j]}

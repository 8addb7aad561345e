"""The proof by points (inner.py) for one large component, group by group (docs/disclosure.md, section 3).

A network sum ties every school's withheld cells of one metric and year into one component, so its programme
grows with the network, and so does the number of probes: on the whole component the proof took time in the
square of the network. Here the component's free cells are cut into groups of whole blocks (cells tied by small
relations: a school's complements, its grade totals, its two sources), one feasible point of the whole programme
is taken as the centre (interior point method), and each group gets a programme of its own: the relations of
its cells, with every cell they share with relations outside the group held at its value in the centre. A point
of that programme, completed by the centre elsewhere, satisfies every relation of the component: it is a feasible
point of the whole, so the bounds it shows are inner bounds, as in inner.py. Each group's programme is small, so
the proof grows with the network. The cells it leaves unproved get their exact programmes on the whole component.
"""

from __future__ import annotations

import numpy as np

from .inner import _Points, connected, proved

GROUP_CELLS = 200       # withheld cells per group (whole blocks): enough schools to trade students within a sum
SMALL_RELATION = 4      # relations of at most this many cells tie their free cells into one block


def blocks(members: list[list[int]], rel_ids: list[int], free: np.ndarray) -> list[list[int]]:
    """The component's free cells in blocks: cells tied by a small relation (its own or through others)."""
    frees = [[i for i in members[r] if free[i]] for r in rel_ids]
    label = connected(len(free), [fr for r, fr in zip(rel_ids, frees, strict=True) if len(members[r]) <= SMALL_RELATION])
    out: dict[int, list[int]] = {}
    for i in sorted({i for fr in frees for i in fr}):
        out.setdefault(int(label[i]), []).append(i)
    return list(out.values())


def pack(parts: list[list[int]], withheld: np.ndarray) -> list[list[int]]:
    """Whole blocks in groups of about GROUP_CELLS withheld cells."""
    out: list[list[int]] = [[]]
    size = 0
    for cells in parts:
        if size >= GROUP_CELLS:
            out.append([])
            size = 0
        out[-1] += cells
        size += int(withheld[cells].sum())
    return [g for g in out if g]


def _relations(members: list[list[int]], rel_ids: list[int], group_of: dict[int, int],
               n_groups: int) -> list[list[int]]:
    """Per group, the relations holding one of its free cells."""
    out: list[list[int]] = [[] for _ in range(n_groups)]
    for r in rel_ids:
        for g in sorted({group_of[i] for i in members[r] if i in group_of}):
            out[g].append(r)
    return out


def shown_wide_split(attack, lp, cols: dict, rel_ids: list[int], targets: list[int],
                     forced: np.ndarray) -> dict[int, dict] | None:
    """``inner.shown_wide`` for one large component of ``attack`` (its relations ``rel_ids``, its programme
    ``lp`` with columns ``cols``): the cells of ``targets`` that points prove protected, with their inner bounds;
    None when the whole programme is infeasible."""
    mrs = [attack.rule(i) for i in targets]
    whole = _Points(lp, [cols[i] for i in targets], mrs, attack.rules, forced)
    centre = lp.centre()
    if centre is None:
        return None
    whole.add(centre)
    for sign in (-1.0, 1.0):
        x = lp.vertex(np.concatenate([whole.nc, whole.ac]), np.full(2 * len(targets), sign))
        if x is None:
            return None
        whole.add(x)
    members, free = attack.members, attack.withheld | ~np.isfinite(attack.n)
    of_cell: dict[int, list[int]] = {}
    for r in rel_ids:
        for i in members[r]:
            of_cell.setdefault(i, []).append(r)
    pos = {i: j for j, i in enumerate(targets)}
    rng = np.random.default_rng(len(targets))

    def prove(cut: list[list[int]]) -> None:
        group_of = {i: g for g, cells in enumerate(cut) for i in cells}
        for g, rels in enumerate(_relations(members, rel_ids, group_of, len(cut))):
            js = np.array([pos[i] for i in cut[g] if i in pos], dtype=np.int64)
            if not len(js) or not whole.todo[js].any():
                continue
            inside = set(rels)
            held = {i for r in rels for i in members[r] if any(q not in inside for q in of_cell[i])}
            sub, sub_cols = attack.model(rels, with_twins=True,
                                         held={i: (centre[cols[i][0]], centre[cols[i][1]]) for i in held})
            part = _Points(sub, [sub_cols[targets[j]] for j in js], [mrs[j] for j in js], attack.rules, forced[js])
            part.lo, part.hi = whole.lo[:, js].copy(), whole.hi[:, js].copy()
            part.mark()
            if part.todo.any() and part.vertices(rng) and part.todo.any():
                part.probes()
            whole.lo[:, js], whole.hi[:, js], whole.todo[js] = part.lo, part.hi, part.todo

    parts = blocks(members, rel_ids, free)
    prove(pack(parts, attack.withheld))
    # the cells left: their blocks together, so that the few free cells of a sum (a school's withheld all students
    # cell among hundreds of published ones) can trade students with each other
    left = {targets[j] for j in np.flatnonzero(whole.todo)}
    if left:
        prove([[i for b in parts if left.intersection(b) for i in b]])
    if whole.todo.any():  # the few left: probes on the whole programme (a sum's students all in one cell)
        whole.probes()
    return proved(whole, targets)

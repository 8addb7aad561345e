"""The disclosure control over published cells: primary rules, then complementary suppression across the linked
sets until the attacker (attack.py) can neither recover nor narrow any withheld cell.

1. Primary (rules.py): the source withheld it, no value, n under the size rule, or 1-5 students with (or
   without) an event. Applied per cell, not per source: when one source's copy fails, every source's copy of the
   cell is withheld.
2. Singletons: a sum relation (complement, network, totals) with exactly one withheld member gives it back, so the
   cheapest other member is withheld too (cost: n x weight; parts before totals), repeated until none is left.
3. Attack: the linear programmes of attack.py on the cells as they would be published. For every withheld cell
   still recovered or narrowed, the cheapest published cell of a relation it is in is withheld; back to 2.
   Each round withholds at least one more cell, so this ends (at worst with the whole linked set withheld).
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from .attack import Attack, Tolerance
from .linked import Links, build_links, cell_ids, twin_groups
from .read import TREND_DECIMALS
from .rules import Rules, floats, min_n_and_event, primary_reasons

HALF_STEP = 0.005  # trend values are published to 2 decimals: the attacker of the files (audit.py) sees the same


@dataclass
class CellControl:
    reason: np.ndarray            # '' published | suppressed | no_value | size | event | twin | complementary
    rounds: int = 0
    unresolved: list[str] = field(default_factory=list)
    solved: dict = field(default_factory=dict)  # the attacker's answers by programme (Attack.run's cache)

    @property
    def withheld(self) -> np.ndarray:
        return self.reason != ""


def tolerance_from_pairs(view: pd.DataFrame, links: Links, rules: Rules) -> Tolerance:
    """How far two sources of one cell differ where both are published (the attacker can see that too)."""
    n, v = floats(view["n"]), floats(view["value"])
    h = pd.to_numeric(view["half_step"], errors="coerce").fillna(0).to_numpy(dtype=float)
    w = view["withheld"].to_numpy(dtype=bool)
    a, b = np.array(links.twins, dtype=np.int64).reshape(-1, 2).T
    both = ~w[a] & ~w[b]
    dn = np.abs(n[a] - n[b])[both & np.isfinite(n[a]) & np.isfinite(n[b])]
    dv = (np.abs(v[a] - v[b]) + h[a] + h[b])[both & np.isfinite(v[a]) & np.isfinite(v[b])]
    return Tolerance(n=dn.max() if len(dn) else rules.sources_tolerance.n,
                     value=dv.max() if len(dv) else rules.sources_tolerance.value)


def published_view(cells: pd.DataFrame, withheld: np.ndarray) -> pd.DataFrame:
    """What the attacker sees: n and value of published cells (values to the published decimals), nothing of
    withheld ones."""
    view = cells[["metric"]].copy()
    view["n"] = np.where(withheld, np.nan, floats(cells["n"]))
    view["value"] = np.where(withheld, np.nan, np.round(floats(cells["value"]), TREND_DECIMALS))
    view["withheld"] = withheld
    view["half_step"] = HALF_STEP
    return view


class _Grouped:
    """Values by key as two arrays (``self[key]``: the key's values in their order, a list), where a dict of lists
    would hold a list and boxed integers per key."""

    def __init__(self, keys: np.ndarray, values: np.ndarray, n_keys: int) -> None:
        self.values = values[np.argsort(keys, kind="stable")].astype(np.int64)
        self.starts = np.zeros(n_keys + 1, dtype=np.int64)
        np.cumsum(np.bincount(keys, minlength=n_keys), out=self.starts[1:])

    def __getitem__(self, key: int) -> list[int]:
        return self.values[self.starts[key]:self.starts[key + 1]].tolist()


def _memberships(members: list[list[int]]) -> tuple[np.ndarray, np.ndarray]:
    """(cell, relation) of every place a cell holds in a relation, relations in order."""
    sizes = np.fromiter((len(m) for m in members), dtype=np.int64, count=len(members))
    cells = np.fromiter((i for m in members for i in m), dtype=np.int64, count=int(sizes.sum()))
    return cells, np.repeat(np.arange(len(members), dtype=np.int64), sizes)


class _Suppressor:
    def __init__(self, cells: pd.DataFrame, rules: Rules, links: Links) -> None:
        self.cells, self.rules, self.links = cells, rules, links
        self.twin = twin_groups(cells) if rules.linked_sets.sources else np.arange(len(cells))
        n = floats(cells["n"])
        twin_n = pd.Series(n).groupby(self.twin).transform("max").to_numpy()
        n = np.where(np.isfinite(n), n, np.where(np.isfinite(twin_n), twin_n, 1000.0))
        weight = np.ones(len(cells))
        weight[cells["subgroup"].astype(str).to_numpy() == "all"] = rules.protection.cost_weight.subgroup_all
        weight[cells["org_level"].astype(str).to_numpy() == "network"] = rules.protection.cost_weight.network
        self.cost = n * weight
        # a candidate that is itself far from the rules' thresholds protects at once and needs no protection of
        # its own; the smallest cells would (a cascade), so they come after
        min_n, event = min_n_and_event(rules, cells["metric"].astype(str).to_numpy(dtype=object))
        k = floats(cells["numerator"]) if "numerator" in cells.columns else np.full(len(cells), np.nan)
        far = 2 * rules.event_rule.min_count
        self.weak = (n < 2 * min_n) | (event & ~((k >= far) & (n - k >= far)))
        # cells by twin group and relations by cell as index arrays, not a dict of lists per cell (a statewide
        # network has millions of cells)
        self.same_cell = _Grouped(self.twin, np.arange(len(cells)), len(cells))
        self.members = links.members()
        self.member_of = _Grouped(*_memberships(self.members), len(cells))

    def share_fate(self, reason: np.ndarray) -> None:
        """Every source's copy of a withheld cell is withheld ('twin' when the first copy failed a primary rule)."""
        w = reason != ""
        if not w.any():
            return
        hit = np.zeros(self.twin.max() + 1, dtype=bool)
        hit[self.twin[w]] = True
        new = hit[self.twin] & ~w
        prim = np.zeros_like(hit)
        prim[self.twin[w & (reason != "complementary")]] = True
        reason[new] = np.where(prim[self.twin[new]], "twin", "complementary")

    def cheapest(self, members: list[int], w: np.ndarray, total: int | None = None) -> int | None:
        cand = [i for i in members if not w[i] and i != total] or [i for i in members if not w[i]]
        return min(cand, key=lambda i: (self.weak[i], self.cost[i])) if cand else None

    def singletons(self, reason: np.ndarray) -> None:
        """Work list over the sums: a sum with exactly one withheld member gets its cheapest other member withheld.
        Within-school complements are settled before each network or total sum is looked at, so a network sum
        picks among cells whose pairs are already decided (fewer cells withheld than sum by sum in order)."""
        sums = self.links.sums
        of_cell = _Grouped(*_memberships([[s.total, *s.parts] for s in sums]), len(self.cost))
        pairs = deque(k for k, s in enumerate(sums) if s.kind == "complement")
        others = deque(k for k, s in enumerate(sums) if s.kind != "complement")
        queued = set(range(len(sums)))
        w = reason != ""
        while pairs or others:
            k = pairs.popleft() if pairs else others.popleft()
            queued.discard(k)
            s = sums[k]
            mem = [s.total, *s.parts]
            if s.others or len(mem) < 2 or sum(bool(w[i]) for i in mem) != 1:
                continue
            pick = self.cheapest(mem, w, s.total)
            if pick is None:
                continue
            new = [j for j in self.same_cell[self.twin[pick]] if not w[j]]  # every source's copy of it
            for i in new:
                reason[i] = "complementary"
                w[i] = True
                for j in of_cell[int(i)]:
                    if j not in queued:
                        queued.add(j)
                        (pairs if sums[j].kind == "complement" else others).append(j)

    def repair(self, reason: np.ndarray, bad_rows: list[int]) -> list[int]:
        """Withhold the cheapest published cell of the relations of each failing cell; when all of those are
        withheld already, of the relations one step further (through withheld cells): what pins the cell is
        there. Returns the cells for which nothing is left to withhold."""
        w = reason != ""
        stuck = []
        for i in bad_rows:
            pick = self._nearest_published(i, w)
            if pick is None:
                stuck.append(i)
                continue
            reason[pick] = "complementary"
            w[pick] = True
        self.share_fate(reason)
        return stuck

    def _nearest_published(self, start: int, w: np.ndarray) -> int | None:
        seen, layer = {start}, [start]
        while layer:
            cand = {j for i in layer for r in self.member_of[i] for j in self.members[r] if not w[j]}
            if cand:
                return min(cand, key=lambda j: (self.weak[j], self.cost[j]))
            nxt = {j for i in layer for r in self.member_of[i] for j in self.members[r]} - seen
            seen |= nxt
            layer = list(nxt)
        return None


def control_cells(cells: pd.DataFrame, rules: Rules, complements: dict[str, str], network_shown: set[str],
                  n_network_schools: int | None = None, *, say=None, solved: dict | None = None) -> CellControl:
    """Decide which of ``cells`` (columns of linked.KEY, n, value, is_suppressed, numerator) are published.
    ``solved``: answers by programme to start from (solved.py: an earlier run's), added to as programmes are solved."""
    reason = primary_reasons(cells, rules)
    links = build_links(cells, rules, complements, network_shown, n_network_schools)
    sup = _Suppressor(cells, rules, links)
    sup.share_fate(reason)
    rounds, unresolved, cache, ident = 0, [], ({} if solved is None else solved), cell_ids(cells)
    for rounds in range(1, rules.protection.max_rounds + 1):  # noqa: B007 (rounds is reported)
        sup.singletons(reason)
        view = published_view(cells, reason != "")
        verdicts = Attack(view, links, rules, tolerance_from_pairs(view, links, rules), ident=ident).run(cache)
        bad = verdicts[verdicts["verdict"] != "protected"]["row"].astype(int).tolist()
        if say:
            say(f"disclosure: round {rounds}: {int((reason != '').sum()):,} cells withheld, {len(bad):,} not yet "
                "protected")
        if not bad:
            break
        stuck = sup.repair(reason, bad)
        if len(stuck) == len(bad):
            unresolved = [_describe(cells, i) for i in stuck]
            break
    return CellControl(reason=reason, rounds=rounds, unresolved=unresolved, solved=cache)


def _describe(cells: pd.DataFrame, i: int) -> str:
    r = cells.iloc[i]
    return " ".join(str(r[c]) for c in ("org_code", "school_year", "subgroup", "metric", "subject", "grade", "source"))

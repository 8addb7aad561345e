"""Linked sets: the linear relations between published cells that an attacker knows from what the cells mean.

A cell is one (org_code, org_level, school_year, subgroup, metric, subject, grade, source). Relations:

* complement: ``all = subgroup + complement`` (counts of students n, and of students with the outcome k or the
  sum of scores s), per org x year x metric x subject x grade x source;
* network: ``network = sum of the network schools`` per year x subgroup x metric x subject x grade x source (with
  an unknown remainder when the publication does not show every network school);
* totals: a total grade (or subject) beside its parts (config ``linked_sets.totals``);
* sources: the same org x year x subgroup x metric x subject x grade from student data and from the DESE profile
  (equal within a tolerance, not a sum).

The same builder serves the control (on the cells it is about to publish) and the audit (on the cells it read
back from the published files), so both reason about exactly the same relations.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from .rules import Rules

KEY = ["org_code", "org_level", "school_year", "subgroup", "metric", "subject", "grade", "source"]


@dataclass
class Sum:
    kind: str                     # complement | network | total
    total: int                    # row index of the total cell
    parts: list[int]              # row indices of the parts present
    others: bool = False          # parts not in the publication add an unknown non-negative remainder


@dataclass
class Links:
    sums: list[Sum] = field(default_factory=list)
    twins: list[tuple[int, int]] = field(default_factory=list)

    def members(self) -> list[list[int]]:
        """Every relation as the list of its cells (sums: total first)."""
        return [[s.total, *s.parts] for s in self.sums] + [[a, b] for a, b in self.twins]


def _norm(cells: pd.DataFrame) -> pd.DataFrame:
    df = pd.DataFrame({c: cells[c].astype(object) for c in KEY})
    df["subject"] = df["subject"].where(df["subject"].notna() & (df["subject"] != ""), "")
    df["school_year"] = pd.to_numeric(df["school_year"]).astype(int)
    df["row_i"] = np.arange(len(df))
    return df


def _grouped(df: pd.DataFrame, cols: list[str]) -> list[list[tuple[str, int]]]:
    """Rows of ``df`` by the values of ``cols``, groups in order of first appearance, rows in frame order:
    [(the row's other key value, row_i), ...] per group (one pass; no frame per group)."""
    df = df.dropna(subset=cols)  # as groupby drops them
    gid = df.groupby(cols, sort=False).ngroup().to_numpy()
    out: list[list[tuple[str, int]]] = [[] for _ in range(int(gid.max()) + 1)] if len(gid) else []
    for g, v, i in zip(gid.tolist(), df["_dim"].tolist(), df["row_i"].tolist(), strict=True):
        out[g].append((v, i))
    return out


def complement_sums(df: pd.DataFrame, complements: dict[str, str]) -> list[Sum]:
    """``all = subgroup + complement`` wherever a cell holds all three (``complements``: symmetric): groups (the
    other keys) in order of first appearance, within one the pairs in order of their first member, that member
    first; a subgroup met twice in a group counts at its first place with its last row (whole columns at a time)."""
    sub = df[df["subgroup"].isin(complements.keys()) | (df["subgroup"] == "all")]
    sub = sub.dropna(subset=[c for c in KEY if c != "subgroup"])  # as groupby drops them
    if not len(sub):
        return []
    gid = sub.groupby([c for c in KEY if c != "subgroup"], sort=False).ngroup().to_numpy().astype(np.int64)
    sg_code, names = pd.factorize(sub["subgroup"].to_numpy(dtype=object))
    names = list(names)
    width = len(names) + 1
    key = gid * width + sg_code  # (group, subgroup)
    order = np.argsort(key, kind="stable")
    ks = key[order]
    start = np.r_[True, ks[1:] != ks[:-1]]
    stop = np.r_[ks[1:] != ks[:-1], True]
    keys, first, row = ks[start], order[start], sub["row_i"].to_numpy()[order[stop]]

    def find(k: np.ndarray) -> np.ndarray:  # position in keys, -1 when the group lacks that subgroup
        at = np.minimum(np.searchsorted(keys, k), len(keys) - 1)
        return np.where(keys[at] == k, at, -1)

    comp = np.array([names.index(complements[n]) if complements.get(n) in names else -1 for n in names] + [-1])
    code, g = keys % width, keys // width
    total = find(g * width + (names.index("all") if "all" in names else len(names)))
    other = np.where(comp[code] >= 0, find(g * width + comp[code]), -1)
    ok = (total >= 0) & (other >= 0) & (first < np.where(other >= 0, first[other], -1))  # at its first member
    ok &= np.array([n != "all" for n in names], dtype=bool)[code]
    pick = np.flatnonzero(ok)
    pick = pick[np.lexsort((first[pick], g[pick]))]  # groups in order, pairs as met
    return [Sum("complement", int(t), [int(a), int(b)]) for t, a, b in zip(
        row[total[pick]].tolist(), row[pick].tolist(), row[other[pick]].tolist(), strict=True)]


def network_sums(df: pd.DataFrame, network_schools: set[str], n_network_schools: int | None) -> list[Sum]:
    """``network_schools``: the network schools shown; ``n_network_schools``: how many the network pools."""
    out: list[Sum] = []
    net = df[df["org_level"] == "network"]
    schools = df[(df["org_level"] == "school") & df["org_code"].isin(network_schools)]
    if not len(net):
        return out
    others = n_network_schools is not None and n_network_schools > len(network_schools)
    cols = ["school_year", "subgroup", "metric", "subject", "grade", "source"]
    parts = {k: g["row_i"].tolist() for k, g in schools.groupby(cols, sort=False)}
    for row in net.itertuples(index=False):
        k = tuple(getattr(row, c) for c in cols)
        out.append(Sum("network", int(row.row_i), [int(i) for i in parts.get(k, [])], others))
    return out


def _with_total_and_part(sub: pd.DataFrame, dim: str, total: str) -> pd.DataFrame:
    """The rows of ``sub`` (totals and parts of ``dim``) whose other keys hold both a total and a part: a statewide
    publication has hundreds of thousands of totals alone, not walked one by one."""
    sub = sub.dropna(subset=[c for c in KEY if c != dim])  # as groupby drops them
    gid = sub.groupby([c for c in KEY if c != dim], sort=False).ngroup().to_numpy()
    is_total = (sub[dim] == total).to_numpy()
    n_groups = int(gid.max()) + 1 if len(gid) else 0
    both = (np.bincount(gid[is_total], minlength=n_groups) > 0) & (np.bincount(gid[~is_total], minlength=n_groups) > 0)
    return sub[both[gid]]


def total_sums(df: pd.DataFrame, totals) -> list[Sum]:
    """A total (grade or subject) beside its parts, per ``totals`` (the rules' linked_sets.totals)."""
    out: list[Sum] = []
    for dim, total, parts in ((t.dimension, t.total, t.parts) for t in totals):
        sub = df[df[dim].isin([total, *parts])]
        if not (sub[dim] == total).any() or not sub[dim].isin(parts).any():
            continue
        sub = _with_total_and_part(sub, dim, total)
        for group in _grouped(sub.assign(_dim=sub[dim]), [c for c in KEY if c != dim]):
            by = dict(group)  # a total and at least one part (_with_total_and_part)
            out.append(Sum("total", int(by[total]), [int(by[p]) for p in parts if p in by]))
    return out


def source_twins(df: pd.DataFrame) -> list[tuple[int, int]]:
    """(first row, other row) of every cell published from more than one source: cells in order of first
    appearance, rows in frame order (as groups would be walked one by one, without a frame per group)."""
    cols = [c for c in KEY if c != "source"]
    dup = df[df.duplicated(cols, keep=False)].dropna(subset=cols)  # as groupby drops them
    if not len(dup):
        return []
    gid = dup.groupby(cols, sort=False).ngroup().to_numpy()
    order = np.argsort(gid, kind="stable")
    gid, rows = gid[order], dup["row_i"].to_numpy()[order]
    first = np.r_[True, gid[1:] != gid[:-1]]
    head = rows[first][np.cumsum(first) - 1]
    return list(zip(head[~first].tolist(), rows[~first].tolist(), strict=True))


def build_links(cells: pd.DataFrame, rules: Rules, complements: dict[str, str], network_schools: set[str],
                n_network_schools: int | None = None) -> Links:
    """Every relation among ``cells`` (row positions) that the rules switch on."""
    if not len(cells):
        return Links()
    df = _norm(cells)
    links = Links()
    if rules.linked_sets.complement:
        links.sums += complement_sums(df, complements)
    if rules.linked_sets.network and network_schools:
        links.sums += network_sums(df, network_schools, n_network_schools)
    links.sums += total_sums(df, rules.linked_sets.totals)
    if rules.linked_sets.sources:
        links.twins = source_twins(df)
    return links


def source_links(cells: pd.DataFrame, rules: Rules) -> Links:
    """The two-source pairs of ``cells`` alone, as ``build_links`` finds them (what the tolerance between sources is
    estimated from)."""
    return Links(twins=source_twins(_norm(cells))) if rules.linked_sets.sources and len(cells) else Links()


def cell_ids(cells: pd.DataFrame) -> np.ndarray:
    """What each row is, as one string (KEY), the same for the control's frame and the cells read back."""
    if not len(cells):
        return np.array([], dtype=object)
    df = _norm(cells)
    return np.array(["|".join(map(str, t)) for t in zip(*(df[c].tolist() for c in KEY), strict=True)], dtype=object)


def twin_groups(cells: pd.DataFrame) -> np.ndarray:
    """Group id per row: rows of the same cell from different sources share one."""
    if not len(cells):
        return np.array([], dtype=np.int64)
    df = _norm(cells)
    return df.groupby([c for c in KEY if c != "source"], sort=False).ngroup().to_numpy()

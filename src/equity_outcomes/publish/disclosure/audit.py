"""The audit: attack a publication using only its files, and say what it could recover.

It tries, in order:

1. the primary rules on what is published (an n under the size rule; an event rate whose n x rate gives 1 to 5
   students with or without the event);
2. every other file: a cell withheld in the CSV but shown in a workbook or a chart's embedded data;
3. the other source: a cell withheld in one source and published in the other;
4. target rows: a withheld cell's value or n in a target row, a change, relative change, target, progress,
   interval or rating computed from it, a number of students in the status text;
5. the linear programmes of attack.py over every linked set (complements, network pools, totals, sources, rate x
   n of every published cell): each withheld cell recovered exactly or narrowed below its rule's threshold.

``audit_publication(dir)`` returns an AuditReport; ``ok`` is false when anything was found.
"""

from __future__ import annotations

import contextlib
import ctypes
import gc
import hashlib
import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from ..labels import complements as complements_of
from ..labels import load_subgroups, load_targets
from .attack import Attack, Tolerance, rules_key
from .complementary import tolerance_from_pairs
from .linked import build_links, cell_ids, source_links
from .read import CELL_COLS, FIGURES, Publication, _num, read_publication
from .rules import Rules, load_rules, primary_reasons
from .solved import AUDITED, solver_version
from .targets import MEMBERS, RULES_WITHOUT_BASELINE, SIDES, org_keys, row_keys

MAX_EXAMPLES = 5
N_IN_TEXT = re.compile(r"\bn\s*=\s*\d")
DERIVED_FIELDS = ["change_abs", "change_rel_pct", "target_value", "progress_pct", "ci_low", "ci_high", "p_value",
                  "rating", "peer_percentile"]


@dataclass
class Finding:
    check: str
    cell: str
    detail: str


@dataclass
class AuditReport:
    root: Path
    tried: list[str] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)
    withheld_cells: int = 0
    published_cells: int = 0

    @property
    def ok(self) -> bool:
        return not self.findings

    def counts(self) -> dict[str, int]:
        return dict(Counter(f.check for f in self.findings))

    def text(self) -> str:
        lines = [f"disclosure audit of {self.root}: {self.published_cells:,} published cells, "
                 f"{self.withheld_cells:,} withheld", "tried:"]
        lines += [f"  - {t}" for t in self.tried]
        if self.ok:
            lines.append("result: no withheld cell recovered or narrowed; nothing published against the rules")
            return "\n".join(lines)
        lines.append("found:")
        for check, n in self.counts().items():
            lines.append(f"  {check}: {n:,}")
            for f in [f for f in self.findings if f.check == check][:MAX_EXAMPLES]:
                lines.append(f"    e.g. {f.cell}: {f.detail}")
        return "\n".join(lines)


def _label(r) -> str:
    subj = f" {r['subject']}" if r["subject"] else ""
    return (f"{r['org_code']} {r['school_year']} {r['subgroup']} {r['metric']}{subj} grade {r['grade']} "
            f"({r['source']})")


def check_primary(pub: Publication, rules: Rules, report: AuditReport) -> None:
    cells = pub.cells[~pub.cells["withheld"]].assign(is_suppressed=False)
    reasons = primary_reasons(cells, rules)
    bad = (reasons == "size") | (reasons == "event")
    for (_, r), why in zip(cells[bad].iterrows(), reasons[bad], strict=True):
        k = round(r["value"] * r["n"] / 100) if why == "event" else None
        detail = (f"n = {r['n']:.0f} under {rules.metric(r['metric']).min_n}" if why == "size" else
                  f"rate {r['value']:g} x n {r['n']:.0f} = {k} students with the event, {r['n'] - k:.0f} without")
        report.findings.append(Finding("published against the primary rules", _label(r), detail))
    report.tried.append(f"primary rules on {len(cells):,} published cells (n under min n; n x rate = 1 to 5 "
                        "students with or without an event)")


def check_other_files(pub: Publication, report: AuditReport) -> None:
    if not len(pub.other_files):
        report.tried.append("other files: no workbook or chart data found")
        return
    base = pub.cells.drop_duplicates(CELL_COLS).set_index(CELL_COLS)
    other = pub.other_files[pub.other_files["value"].notna()]
    m = other.join(base[["value", "withheld"]], on=CELL_COLS, rsuffix="_csv")
    bad = m[m["withheld_csv"].fillna(False).astype(bool)]
    for _, r in bad.iterrows():
        report.findings.append(Finding("withheld in the CSV, shown in another file", _label(r),
                                       f"{r['file']} shows {r['value']:g}"))
    report.tried.append(f"{len(other):,} values in workbooks and chart data compared with the CSV trend tables")


def check_sources(pub: Publication, report: AuditReport) -> None:
    c = pub.cells
    cols = [k for k in CELL_COLS if k != "source"]
    groups = c[c.duplicated(cols, keep=False)].groupby(cols, sort=False)
    for _k, g in groups:
        if g["withheld"].any() and (~g["withheld"] & g["value"].notna()).any():
            w = g[g["withheld"]].iloc[0]
            p = g[~g["withheld"] & g["value"].notna()].iloc[0]
            report.findings.append(Finding("withheld in one source, published in the other", _label(w),
                                           f"{p['source']} publishes {p['value']:g} (n {p['n']:g})"))
    report.tried.append(f"{groups.ngroups:,} cells published from two sources (student data and the DESE "
                        "profile)")


CELL_KEY = ["org_code", "school_year", "subgroup", "metric", "subject", "source"]


def _positions(cells: pd.DataFrame, key: list[str]) -> dict[tuple, list[int]]:
    """Row positions of ``cells`` by the values of ``key``, ascending. Nearly every key is one cell's: a dict built
    from the columns' values (1.3 s for 1.36M cells with the collector off, as in the audit, where pandas' group
    indices, six text columns factorized first, took 5.1 s)."""
    out: dict[tuple, list[int]] = {}
    for i, k in enumerate(zip(*(cells[col].tolist() for col in key), strict=True)):
        out.setdefault(k, []).append(i)
    return out


def _side_cells(cells: dict[str, list], t: dict, side: str, index: dict) -> list[bool]:
    """Whether each cell of a target row's side is withheld (``index``: positions by CELL_KEY, no scan per row;
    a few cells each: lists, not arrays)."""
    year = _num(t.get(SIDES[side][0]))
    metric = t.get("baseline_metric") if side == "baseline" and t.get("baseline_metric") else t["metric"]
    at = index.get((t["org_code"].lstrip("'"), int(year) if np.isfinite(year) else None, t.get("subgroup") or "all",
                    metric, t.get("subject") or "", t.get("source")), [])
    grade = (t.get("grade") or "").strip()
    if grade:  # a grade the trend tables do not publish (single grades of growth): the row's own cell
        at = [i for i in at if cells["grade"][i] == grade]
    n = _num(t.get(SIDES[side][2]))
    if len(at) > 1 and np.isfinite(n) and any(cells["n"][i] == n for i in at):
        at = [i for i in at if cells["n"][i] == n]
    return [cells["withheld"][i] for i in at]


def check_targets(pub: Publication, rules: Rules, report: AuditReport) -> None:
    tr = pub.targets
    if not len(tr):
        report.tried.append("target rows: none published")
        return
    cells = {c: pub.cells[c].tolist() for c in ("grade", "n", "withheld")}
    min_n = {m: rules.metric(m).min_n for m in set(tr["metric"].tolist())}
    target_rules = {k: v.rule for k, v in load_targets().items()}
    index = _positions(pub.cells, CELL_KEY)
    keys = row_keys(tr)
    schools = _pooled_schools(tr, keys)
    for t, key in zip(_records(tr), keys, strict=True):
        where = (f"{t['org_code'].lstrip(chr(39))} {t['target_id']} {t.get('subject') or ''} "
                 f"{t.get('subgroup') or 'all'} ({t.get('source')})")
        members = t.get(MEMBERS) if isinstance(t.get(MEMBERS), str) else ""
        hidden = False
        for side, (ycol, vcol, ncol) in SIDES.items():
            shown = [c for c in (vcol, ncol) if (t.get(c) or "").strip()]
            if members:  # a pooled network side: published only where every school it pools publishes its side
                why = _pooled_withheld(members, key, side, schools, cells, index)
                withheld = [why is not None]
            else:
                why, withheld = None, _side_cells(cells, t, side, index)
            untraceable = not (t.get(ycol) or "").strip() or not (t.get("source") or "").strip()
            if not withheld and untraceable:
                if shown:
                    report.findings.append(Finding("target row not traceable to a published cell", where,
                                                   f"{side} ({t.get(ycol) or 'no year'}): "
                                                   + ", ".join(f"{c} {t[c]}" for c in shown)))
                continue
            if not withheld or not all(withheld):  # published, or its own cell (a grade trends do not show)
                n = _num(t.get(ncol))
                if np.isfinite(n) and n < min_n[t["metric"]]:
                    report.findings.append(Finding("published against the primary rules", where,
                                                   f"{side} n = {n:.0f} in the target row"))
                continue
            hidden = True
            if shown:
                report.findings.append(Finding("target row publishes a withheld cell", where,
                                               f"{side} {why or t[ycol]}: "
                                               f"{', '.join(f'{c} {t[c]}' for c in shown)}"))
            derived = [c for c in DERIVED_FIELDS if (t.get(c) or "").strip()
                       and side in _depends_on(c, target_rules.get(t.get("target_id"), ""))]
            if derived:
                report.findings.append(Finding("derived from a withheld cell", where,
                                               f"{side} {t[ycol]} withheld but {', '.join(derived)} published"
                                               + _recovered_example(t, side)))
        if hidden and N_IN_TEXT.search(t.get("status_reason") or ""):
            report.findings.append(Finding("number of students in the text", where, t["status_reason"]))
    report.tried.append(f"{len(tr):,} target rows: withheld cells shown in them, numbers derived from withheld "
                        "cells (change, relative change, target, progress, interval, rating), n in the text")


def _pooled_schools(tr: pd.DataFrame, keys: pd.Series) -> dict[str, dict]:
    """The school rows that pooled network rows rest on, by org|target|subject|subgroup (only those as dicts)."""
    members = tr[MEMBERS].to_numpy(dtype=object) if MEMBERS in tr.columns else np.array([], dtype=object)
    wanted = {f"{code}|{k}" for m, k in zip(members, keys.to_numpy(), strict=False) if isinstance(m, str) and m
              for code in m.split(",")}
    full = org_keys(tr, keys)
    keep = np.array([f in wanted for f in full], dtype=bool)
    return dict(zip(full[keep], _records(tr[keep]), strict=True)) if keep.any() else {}


def _pooled_withheld(members: str, key: str, side: str, schools: dict[str, dict], cells: dict[str, list],
                     index: dict) -> str | None:
    """Why a pooled network side may not be published (a school it pools withholds that side or publishes no
    row), or None."""
    for code in members.split(","):
        row = schools.get(f"{code}|{key}")
        if row is None:
            return f"pools school {code}, whose row is not published"
        own = _side_cells(cells, row, side, index)
        if (row.get("withheld") or "") in (side, "both") or (own and all(own)):
            return f"pools school {code}, whose {side} is withheld"
    return None


def _records(df: pd.DataFrame, chunk_rows: int = 10_000):
    """The rows of ``df`` as dicts (the values ``to_dict("records")`` gives a frame of text), a chunk at a time
    (not all of a statewide table's at once), from object arrays (not an extension array walked value by value)."""
    names = df.columns.tolist()
    for start in range(0, len(df), chunk_rows):
        part = df.iloc[start:start + chunk_rows]
        columns = [part.iloc[:, k].to_numpy(dtype=object) for k in range(part.shape[1])]
        yield from (dict(zip(names, row, strict=True)) for row in zip(*columns, strict=True))


def _depends_on(field_name: str, rule: str) -> tuple[str, ...]:
    """Which sides a published field is computed from (the rubric's rules are public: config/targets.yaml)."""
    level = rule in RULES_WITHOUT_BASELINE
    if field_name == "target_value":
        return () if level else ("baseline",)
    if level and field_name not in ("change_abs", "change_rel_pct"):
        return ("current",)  # judged on the current year alone: progress to the level, its interval, the test
    return ("baseline", "current")


def _recovered_example(t: dict, side: str) -> str:
    other = "current" if side == "baseline" else "baseline"
    ov, ch = _num(t.get(f"{other}_value")), _num(t.get("change_abs"))
    if np.isfinite(ov) and np.isfinite(ch):
        v = ov - ch if side == "baseline" else ov + ch
        return f" (so {side} = {v:.2f})"
    return ""


def check_linear(pub: Publication, rules: Rules, complements: dict[str, str], report: AuditReport,
                 solved: dict | None = None) -> None:
    """The linear programmes over every linked set. ``solved``: answers by programme (Attack.run's cache), and the
    verdicts of school years whose linked sets an earlier audit attacked cell for cell as they are (_year_keys):
    such a year is not attacked again; a year is kept only when its attack recovered and narrowed nothing (with the
    cells it could not bound, said again when it is not attacked)."""
    cells = pub.cells.drop_duplicates(CELL_COLS).reset_index(drop=True)
    tol = tolerance_from_pairs(cells, source_links(cells, rules), rules)
    keys = _year_keys(cells, _context(pub, rules, complements, tol)) if solved is not None else {}
    stored = {y: solved[k][0] for y, k in keys.items() if k in solved and solved[k].get(0, {}).get("verdict") == "kept"}
    kept = sorted(stored)
    attacked = cells[~cells["school_year"].isin(kept)].reset_index(drop=True)
    links = build_links(attacked, rules, complements, pub.network_schools, pub.n_network_schools)
    attack = Attack(attacked, links, rules, tol, ident=cell_ids(attacked))
    res = attack.run(solved)
    kinds = Counter(s.kind for s in links.sums)
    report.tried.append(
        "linear programmes (HiGHS) for n, students with the outcome and the value of every withheld cell, under "
        + ", ".join(f"{v:,} {k} sums" for k, v in sorted(kinds.items()))
        + f", {len(links.twins):,} two-source pairs (tolerance n {tol.n:g}, value {tol.value:g}) and rate x n of "
        f"every published cell"
        + (f"; {attack.reused:,} of their {attack.components:,} components hold exactly the figures and relations of a programme the "
           "control (or an earlier publication) solved (its answers reused), the others solved here"
           if solved is not None else "")
        + (f"; school years {', '.join(map(str, kept))} ({len(cells) - len(attacked):,} cells): every cell, figure "
           "and relation as an earlier audit attacked them, which found nothing there (not attacked again)"
           if kept else ""))
    for r in res[res["verdict"] != "protected"].itertuples():
        report.findings.append(Finding(f"withheld cell {r.verdict}", _label(attacked.iloc[r.row]), r.why))
    year_of = attacked["school_year"].to_numpy()
    unbounded: dict[int, list[str]] = {y: list(stored[y]["unbounded"]) for y in kept}
    for i in res.loc[res["inconsistent"], "row"].to_numpy(dtype=int).tolist():
        unbounded.setdefault(int(year_of[i]), []).append(_label(attacked.iloc[i]))
    labels = [label for y in sorted(unbounded) for label in unbounded[y]]
    if labels:  # said, not hidden: their verdict rests on natural bounds only
        report.tried.append(
            f"{len(labels):,} withheld cells could not be bounded: the published figures around them contradict "
            "the relations the audit knows (no feasible programme), so their verdict rests on natural bounds; e.g. "
            + "; ".join(labels[:3]))
    found = set(year_of[res.loc[res["verdict"] != "protected", "row"].to_numpy(dtype=int)].tolist())
    for year, key in keys.items():
        if year not in found:  # nothing recovered or narrowed: kept for the next publication, with its unbounded cells
            solved[key] = {0: {"verdict": "kept", "unbounded": unbounded.get(year, [])}}


def _context(pub: Publication, rules: Rules, complements: dict[str, str], tol: Tolerance) -> str:
    """What a year's programmes are made of besides its cells: the solver's code, the rules, the tolerance between
    sources (estimated from every year), the complements and the network's schools."""
    return "\n".join([solver_version(), rules_key(rules), repr(tol.n), repr(tol.value), repr(sorted(complements.items())),
                      repr(sorted(pub.network_schools)), repr(pub.n_network_schools)])


def _year_keys(cells: pd.DataFrame, context: str) -> dict[int, str]:
    """The key of each school year's linked sets: every cell of that year in the order read (identity, published n
    and value, withheld, half step) and ``context``. No relation joins two years (complement, network and total sums
    and the two sources of a cell each hold one year), so an equal key is the very same programmes."""
    years = cells["school_year"].to_numpy()
    out = {}
    for year in np.unique(years).tolist():
        part = cells[years == year]
        h = hashlib.sha256(context.encode())
        for c in CELL_COLS:
            codes, uniques = pd.factorize(part[c].to_numpy(dtype=object), use_na_sentinel=False)
            h.update(codes.astype(np.int64).tobytes() + "\x1f".join(map(repr, uniques)).encode() + b"\x1e")
        for c in FIGURES:
            h.update(part[c].to_numpy(dtype=float).tobytes())
        out[int(year)] = AUDITED + h.hexdigest()
    return out


def audit_publication(root: Path, *, rules: Rules | None = None, complements: dict[str, str] | None = None,
                      progress=None, solved: dict | None = None) -> AuditReport:
    """Attack the publication in ``root`` (a scorecards folder) with its files alone. ``solved``: answers by
    programme (``Attack.run``'s cache) of the control that wrote it: a component of the files that is the very same
    programme (every cell, figure and relation) takes its answer, any other is solved (and added to it)."""
    rules = rules or load_rules()
    complements = complements if complements is not None else complements_of(load_subgroups())
    # the heap's free pages back to the system (glibc's malloc_trim; nothing elsewhere): the rendering before
    # the audit frees a statewide site's rows of text, which the allocator keeps otherwise (at 300,000
    # students 250 MB that the audit's peak no longer stands on)
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    # the cycle collector off while the audit runs (as it was after): its millions of rows, index entries and
    # records are freed by reference counts, and each full pass of the collector walked all of them (a third
    # of check_targets' time at 200,000 students)
    was = gc.isenabled()
    gc.disable()
    try:
        pub = read_publication(root)
        report = AuditReport(root=Path(root), withheld_cells=int(pub.cells["withheld"].sum()),
                             published_cells=int((~pub.cells["withheld"]).sum()))
        report.tried.append(f"read {len(pub.files):,} files: {len(pub.cells):,} trend cells, "
                            f"{len(pub.other_files):,} chart and workbook values, "
                            f"{len(pub.targets):,} target rows")
        check_primary(pub, rules, report)
        check_other_files(pub, report)
        check_sources(pub, report)
        check_targets(pub, rules, report)
        check_linear(pub, rules, complements, report, solved)
        if progress:
            progress(report.text())
        return report
    finally:
        if was:
            gc.enable()

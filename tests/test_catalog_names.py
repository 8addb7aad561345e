"""Catalogs are the only place a name lives: no metric, target or subgroup id is spelled as a string literal in the
Python of ``src/`` or ``pipelines/`` outside the code that loads the catalogs.

``all`` is not counted: the same word is also the grade and subject sentinel ("every grade"). ``KNOWN`` and
``SIMULATION`` below list what is left, and why."""

from __future__ import annotations

import ast
from collections import Counter

from equity_outcomes import catalog, crosswalk
from equity_outcomes.judge.catalog import load_catalog

from .conftest import ROOT

LOADERS = {  # the code that reads the catalogs may name their keys
    "src/equity_outcomes/catalog.py",
    "src/equity_outcomes/crosswalk.py",
    "src/equity_outcomes/judge/catalog.py",
}
SENTINELS = {"all"}
# Words that are a catalog id and something else in these files: counted per file, each with its reason.
HOMONYMS = {
    "src/equity_outcomes/commands.py": {"growth": "the `growth` command (SGPs), not the target"},
    "src/equity_outcomes/stages.py": {"growth": "the `growth` stage on the progress display"},
    "src/equity_outcomes/publish/charts.py": {"white": "a CSS colour", "black": "a CSS colour"},
}
# Files that still spell ids, with how many: a new literal anywhere fails, and so does a file that improved
# without lowering its number here (so the list only shrinks).
# The synthetic network is a model of Massachusetts, not a reader of the warehouse: a demographic share, a model
# coefficient or a known effect has to say which group, metric or target it is about (params.py, effects.py), and
# the simulation draws the contract's columns by name. What it writes is read back through the catalogs
# (test_synth: every file validates against the contract; the demo's marts equal the snapshot).
KNOWN = {
    "src/equity_outcomes/synth/demographics.py": 9,
    "src/equity_outcomes/synth/dese_exports.py": 6,  # the groups' labels moved to config/synth_dese_exports.yaml
    "src/equity_outcomes/synth/effects.py": 18,
    "src/equity_outcomes/synth/generate.py": 9,  # the demographic counter names each share once (issue-50)
    "src/equity_outcomes/synth/params.py": 38,
    "src/equity_outcomes/synth/students.py": 46,
}


def catalog_ids() -> set[str]:
    metrics = {m["id"] for m in catalog.metrics()}
    targets = {t.id for t in load_catalog().targets}
    subgroups = set(crosswalk.subgroups())
    return (metrics | targets | subgroups) - SENTINELS


def spelled_ids(ids: set[str]) -> Counter:
    found: Counter = Counter()
    for path in sorted([*ROOT.glob("src/**/*.py"), *ROOT.glob("pipelines/**/*.py")]):
        rel = path.relative_to(ROOT).as_posix()
        if rel in LOADERS or "/models/" in rel:  # models/: dbt's Python models read the catalog loaders
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value in ids \
                    and node.value not in HOMONYMS.get(rel, {}):
                found[rel] += 1
    return found


def test_no_catalog_id_is_spelled_outside_the_catalog_loaders():
    found = spelled_ids(catalog_ids())
    new = {f: n for f, n in found.items() if n > KNOWN.get(f, 0)}
    assert not new, f"catalog ids spelled as literals (ask the catalogs instead): {new}"
    improved = {f: (KNOWN[f], found.get(f, 0)) for f in KNOWN if found.get(f, 0) < KNOWN[f]}
    assert not improved, f"fewer literals than KNOWN says (lower the numbers): {improved}"


def test_the_check_sees_a_spelled_id(tmp_path, monkeypatch):
    ids = catalog_ids()
    assert {"pct_absent_10_plus_days", "state_gap", "low_income"} <= ids
    sample = tmp_path / "src" / "equity_outcomes" / "sample.py"
    sample.parent.mkdir(parents=True)
    sample.write_text('METRIC = "pct_absent_10_plus_days"\nLABEL = "all"\n', encoding="utf-8")
    monkeypatch.setattr(f"{__name__}.ROOT", tmp_path)
    assert spelled_ids(ids) == Counter({"src/equity_outcomes/sample.py": 1})


def test_the_package_reads_the_catalogs_of_the_checkout():
    """src/equity_outcomes/config links to config/: one copy of every catalog, shipped in the wheel."""
    assert (ROOT / "src" / "equity_outcomes" / "config").resolve() == (ROOT / "config").resolve()

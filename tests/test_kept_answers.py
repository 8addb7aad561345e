"""The disclosure programmes' answers kept beside the warehouse (publish/disclosure/solved.py, #22): a second
publication reuses them and writes the very same files and withheld cells; a changed value is a new programme,
solved again; an answer that fails its check is never used. Real DuckDB warehouse, the real control and audit."""

from __future__ import annotations

import csv
import json
import os
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import duckdb
import pytest

from equity_outcomes.publish import publish_scorecards
from equity_outcomes.publish.disclosure import audit
from equity_outcomes.publish.disclosure.attack import Attack
from equity_outcomes.publish.disclosure.linked import build_links
from equity_outcomes.publish.disclosure.read import CELL_COLS, read_publication
from equity_outcomes.publish.disclosure.rules import load_rules
from equity_outcomes.publish.disclosure.solved import Solved, load, solved_path
from equity_outcomes.publish.labels import complements as complements_of
from equity_outcomes.publish.labels import load_subgroups

from .publish_fixture import build_fixture_warehouse

STAMP = re.compile(rb"\d{4}-\d{2}-\d{2}[ T]\d{2}:\d{2}(?::\d{2})?(?:Z| UTC)?")  # built_at, workbook properties


def _files(root: Path) -> dict[str, list[bytes]]:
    """Every file of a publication without its timestamps (a workbook: its members' contents)."""
    out = {}
    for p in sorted(root.rglob("*")):
        if p.is_file():
            if p.suffix == ".xlsx":
                with zipfile.ZipFile(p) as z:
                    out[str(p.relative_to(root))] = [STAMP.sub(b"", z.read(n)) for n in z.namelist()]
            else:
                out[str(p.relative_to(root))] = [STAMP.sub(b"", p.read_bytes())]
    return out


def _withheld(root: Path) -> set[tuple]:
    cells = read_publication(root).cells
    return {tuple(r) for r in cells.loc[cells["withheld"], CELL_COLS].astype(str).to_numpy()}


def _same(a: Path, b: Path) -> None:
    fa, fb = _files(a), _files(b)
    assert fa.keys() == fb.keys()
    assert [f for f in fa if fa[f] != fb[f]] == []
    assert _withheld(a) == _withheld(b) and _withheld(a)


def _keys(wh: Path) -> set[str]:
    return {r[0] for r in duckdb.sql(f"SELECT key FROM read_parquet('{solved_path(wh)}')").fetchall()}


def _publish_elsewhere(wh: Path, out: Path, hash_seed: int) -> dict:
    """publish_scorecards in a process of its own (another run: its own string hashes); its answers summary."""
    code = ("import json, sys; from pathlib import Path; from equity_outcomes.publish import publish_scorecards; "
            "s = publish_scorecards(Path(sys.argv[1]), Path(sys.argv[2])); print(json.dumps(s['answers']))")
    env = {**os.environ, "PYTHONHASHSEED": str(hash_seed)}
    done = subprocess.run([sys.executable, "-c", code, str(wh), str(out)], env=env, capture_output=True, text=True,
                          check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def first(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("kept")
    info = build_fixture_warehouse(tmp / "wh.duckdb", 3, seed=3, readiness=False)
    return {**info, "tmp": tmp, "answers": _publish_elsewhere(info["path"], tmp / "first", hash_seed=1)}


def test_a_second_publication_reuses_the_answers_and_writes_the_same_files(first):
    """The next run (another process) takes every answer of the last one and writes the very same files."""
    wh, tmp = first["path"], first["tmp"]
    kept = first["answers"]
    assert kept["reused"] == 0 and kept["kept"] > 0 and solved_path(wh).exists()
    again = _publish_elsewhere(wh, tmp / "again", hash_seed=2)
    years = len(set(read_publication(tmp / "first").cells["school_year"].tolist()))
    assert again == {"reused": kept["kept"] - years, "reused_years": years, "rejected": 0, "kept": kept["kept"]}
    _same(tmp / "first", tmp / "again")
    _same(tmp / "first", Path(publish_scorecards(wh, tmp / "unkept", keep_answers=False)["index"]).parent)


def test_a_changed_value_is_solved_again(first, tmp_path):
    wh = tmp_path / "wh.duckdb"
    wh.write_bytes(first["path"].read_bytes())
    solved_path(wh).write_bytes(solved_path(first["path"]).read_bytes())
    before = _keys(wh)
    con = duckdb.connect(str(wh))
    school, year = con.execute("SELECT org_code, max(school_year) FROM metric_values WHERE org_level = 'school' "
                               "GROUP BY org_code ORDER BY org_code LIMIT 1").fetchone()
    changed = con.execute("UPDATE metric_values SET value = value * 0.99 WHERE org_code = ? AND school_year = ? "
                          "AND value > 1", [school, year]).fetchone()[0]
    con.close()
    assert changed > 0
    summary = publish_scorecards(wh, tmp_path / "kept")
    after = _keys(wh)
    assert after - before, "the changed figures must make new programmes, solved afresh"
    assert 0 < summary["answers"]["reused"] < len(before) and summary["answers"]["rejected"] == 0
    _same(tmp_path / "kept", Path(publish_scorecards(wh, tmp_path / "unkept", keep_answers=False)["index"]).parent)


def test_an_answer_that_fails_its_check_is_never_used(first, tmp_path):
    """Every stored answer rewritten to claim nothing can be learnt (the widest intervals), checksums left as they
    were: each is rejected, every programme solved again, and the files are those of a publication without them."""
    wh = tmp_path / "wh.duckdb"
    wh.write_bytes(first["path"].read_bytes())
    rows = duckdb.sql(f"SELECT key, answer, checksum FROM read_parquet('{solved_path(first['path'])}')").fetchall()
    wide = {"n_lo": 1.0, "n_hi": 1e9, "a_lo": 0.0, "a_hi": 1e9, "e_lo": 0.0, "e_hi": 1e9, "v_lo": 0.0, "v_hi": 100.0}
    forged = [(k, json.dumps({p: wide for p in json.loads(a)}), c) for k, a, c in rows]
    con = duckdb.connect()
    con.execute("CREATE TABLE s (key VARCHAR, answer VARCHAR, checksum VARCHAR)")
    con.executemany("INSERT INTO s VALUES (?, ?, ?)", forged)
    con.execute(f"COPY s TO '{solved_path(wh)}' (FORMAT parquet)")
    con.close()
    summary = publish_scorecards(wh, tmp_path / "forged")
    assert summary["answers"]["reused"] == 0 and summary["answers"]["rejected"] == len(rows)
    _same(tmp_path / "forged", first["tmp"] / "first")
    solved_path(wh).write_bytes(b"not a parquet file")
    assert publish_scorecards(wh, tmp_path / "corrupt")["answers"]["reused"] == 0
    _same(tmp_path / "corrupt", first["tmp"] / "first")


class _Spy(Attack):
    """The real attack, noting the school years of the cells it is given."""
    years: list[set[int]] = []

    def __init__(self, view, *args, **kwargs) -> None:
        _Spy.years.append(set(view["school_year"].tolist()))
        super().__init__(view, *args, **kwargs)


def _audit_years(root: Path, solved, monkeypatch) -> tuple[set[int], object]:
    """The years the audit's linear programmes attack, and its report."""
    _Spy.years = []
    monkeypatch.setattr(audit, "Attack", _Spy)
    report = audit.audit_publication(root, solved=solved)
    monkeypatch.undo()
    return set().union(*_Spy.years), report


def test_the_audit_keeps_a_verdict_only_for_a_year_whose_linked_sets_are_the_same(first, tmp_path, monkeypatch):
    """The files of the first publication, audited with the answers it kept: no year is attacked again. A value
    changed in one year's trend table (one file): that year alone is attacked again, and found it."""
    root, wh = first["tmp"] / "first", first["path"]
    years = set(read_publication(root).cells["school_year"].tolist())
    attacked, report = _audit_years(root, load(wh), monkeypatch)
    assert report.ok and attacked == set() and len(years) > 1
    assert f"school years {', '.join(map(str, sorted(years)))}" in " ".join(report.tried)
    unbounded = [t.split(" withheld cells could not be bounded")[0] for t in report.tried if "could not be bounded" in t]
    assert unbounded == [t.split(" withheld cells could not be bounded")[0]  # said again for the years kept
                         for t in audit.audit_publication(root).tried if "could not be bounded" in t]
    changed = tmp_path / "changed"
    shutil.copytree(root, changed)
    trends = sorted((changed / "exports").glob("*/trends.csv"))[0]
    head, *rows = list(csv.reader(trends.open(encoding="utf-8-sig", newline="")))
    year = max(int(h) for h in head if h.isdigit())
    at = head.index(str(year))
    row = next(r for r in rows if r[at].strip())
    row[at] = f"{float(row[at]) + 1:g}"
    with trends.open("w", encoding="utf-8", newline="") as fh:
        csv.writer(fh).writerows([head, *rows])
    attacked, report = _audit_years(changed, load(wh), monkeypatch)
    assert attacked == {year}
    assert report.tried[-1].endswith("(not attacked again)") and str(year) not in report.tried[-1].split(";")[-1]


def test_an_attack_that_finds_something_is_never_kept(monkeypatch):
    """The leaky publication (tests/fixtures): the years whose programmes recover or narrow a withheld cell are
    attacked again on every audit with the same store, and found again; only the others are kept."""
    leaky = Path(__file__).parent / "fixtures" / "leaky_publication"
    store = Solved()
    attacked, report = _audit_years(leaky, store, monkeypatch)
    found = {f.cell for f in report.findings if f.check.startswith("withheld cell ")}
    found_years = {int(c.split()[1]) for c in found}
    assert found and found_years < attacked
    again, second = _audit_years(leaky, store, monkeypatch)
    assert again == found_years
    assert {f.cell for f in second.findings if f.check.startswith("withheld cell ")} == found
    kept = {k for k in store if k.startswith(audit.AUDITED)}
    assert len(kept) == len(attacked - found_years)


def test_no_linked_set_joins_two_school_years(first):
    """The audit keeps its verdicts per school year (audit._year_keys), which is sound only while no relation of
    linked.py holds cells of two years: on the first publication's cells, every relation holds one year."""
    pub = read_publication(first["tmp"] / "first")
    cells = pub.cells.drop_duplicates(CELL_COLS).reset_index(drop=True)
    links = build_links(cells, load_rules(), complements_of(load_subgroups()), pub.network_schools,
                        pub.n_network_schools)
    years = cells["school_year"].to_numpy()
    kinds = {s.kind for s in links.sums}
    assert {"complement", "network"} <= kinds and links.twins
    assert all(len(set(years[m].tolist())) == 1 for m in links.members())


def test_a_new_tolerance_between_sources_solves_again_only_the_programmes_with_a_two_source_pair(first):
    """The tolerance enters a programme only through its two-source pairs: with another tolerance (a new year moved
    it), the programmes without such a pair keep their answers, the others are solved again, and every answer is the
    verdict a fresh attack with the new tolerance gives (a protected cell's bounds are those of the feasible points
    that proved it, which depend on the programmes solved beside it, so they are not compared)."""
    from equity_outcomes.publish.disclosure.attack import Tolerance, _components
    from equity_outcomes.publish.disclosure.linked import cell_ids

    pub = read_publication(first["tmp"] / "first")
    cells = pub.cells.drop_duplicates(CELL_COLS).reset_index(drop=True)
    rules = load_rules()
    links = build_links(cells, rules, complements_of(load_subgroups()), pub.network_schools, pub.n_network_schools)
    assert links.twins, "the fixture publishes cells from two sources"

    def attack(tol: Tolerance, cache: dict) -> tuple[Attack, object]:
        a = Attack(cells, links, rules, tol, ident=cell_ids(cells))
        return a, a.run(cache)

    cache: dict = {}
    first_attack, _ = attack(Tolerance(n=3.0, value=0.5), cache)
    again, res = attack(Tolerance(n=4.0, value=0.6), cache)
    fresh, want = attack(Tolerance(n=4.0, value=0.6), {})
    n_sums = len(links.sums)
    comps = _components(len(cells), cells["withheld"].to_numpy(dtype=bool) | cells["n"].isna().to_numpy(), links)
    with_pair = sum(any(r >= n_sums for r in rels) for rels in comps.values())
    assert 0 < with_pair < len(comps) == first_attack.components
    assert again.reused == len(comps) - with_pair
    verdicts = ["row", "verdict", "why", "inconsistent"]
    assert res[verdicts].equals(want[verdicts]) and len(res)

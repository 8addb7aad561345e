"""The disclosure control and its audit: the leaks of the publication before the control are caught, random
linked tables and networks come out protected, every output format is attacked, and nothing writes around it."""

from __future__ import annotations

import csv
import json
import re
import shutil
from pathlib import Path

import numpy as np
import openpyxl
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from equity_outcomes.cli import main
from equity_outcomes.publish import publish_scorecards
from equity_outcomes.publish.disclosure import DisclosureError
from equity_outcomes.publish.disclosure.attack import Attack, Tolerance
from equity_outcomes.publish.disclosure.audit import audit_publication
from equity_outcomes.publish.disclosure.complementary import control_cells, published_view
from equity_outcomes.publish.disclosure.linked import build_links
from equity_outcomes.publish.disclosure.rules import load_rules
from equity_outcomes.publish.disclosure.targets import pooled_side_withheld

from .publish_fixture import build_fixture_warehouse

LEAKY = Path(__file__).parent / "fixtures" / "leaky_publication"
PUBLISH = Path(__file__).parents[1] / "src" / "equity_outcomes" / "publish"
PAIRS = {"low_income": "non_low_income", "black": "non_black", "el": "non_el", "swd": "non_swd"}
COMPS = {**PAIRS, **{v: k for k, v in PAIRS.items()}}


# --- the publication before the control (tests/fixtures/leaky_publication: the demo's files, trimmed) -----------
def test_audit_catches_the_leaks_of_the_old_publication():
    report = audit_publication(LEAKY)
    assert not report.ok
    found = report.counts()
    event = [f for f in report.findings if f.check == "published against the primary rules" and "event" in f.detail]
    assert len(event) >= 194 and all("pct_suspended" in f.cell for f in event[:194])
    sources = [f for f in report.findings if f.check == "withheld in one source, published in the other"]
    assert len(sources) == 7
    assert any("00110010 2019 black pct_meeting_or_exceeding sci" in f.cell for f in sources)
    # the linear programmes give back small groups exactly through complements and network sums
    recovered = [f for f in report.findings if f.check == "withheld cell recovered"]
    assert any("00110010 2023 black pct_meeting_or_exceeding sci" in f.cell and f.detail == "n = 5, k = 4"
               for f in recovered)
    assert len(recovered) >= 3 and found.get("withheld cell narrowed", 0) >= 1
    assert found.get("derived from a withheld cell", 0) >= 1


def _records_frame(rows: list[tuple]) -> pd.DataFrame:
    """What pandas makes of every cell's tuple at once: what the column-at-a-time frame must give."""
    from equity_outcomes.publish.disclosure import read

    return pd.DataFrame.from_records(rows, columns=read.COLS)


def _trend_cells_row_by_row(head: list[str], rows: list[list[str]], files: list[str]) -> dict[str, list]:
    """The cells of wide trend tables a row and a year at a time, a tuple each (what reading whole columns must
    give): a field a row lacks is empty, of two columns of one name the last counts, state rows are not cells."""
    from equity_outcomes.publish.disclosure import read

    at = {h: i for i, h in enumerate(head)}
    years = [(y, int(y), at[y], at.get(f"n_{y}")) for y in at if y and y.isdigit()]

    def get(r: list[str], name: str) -> str | None:
        return r[at[name]] if name in at else None

    out = []
    for r, file in zip(rows, files, strict=True):
        r = r + [""] * (len(head) - len(r))
        if get(r, "subgroup") == "state":
            continue
        withheld = set(read.YEAR.findall(get(r, "note"))) if "note" in at else set()
        org = str(get(r, "org_code")).lstrip("'")
        for y, year, iv, i_n in years:
            v, n = r[iv].strip(), (r[i_n].strip() if i_n is not None else "")
            if v or n or y in withheld:
                out.append((org, "network" if org == "network" else "school", year, get(r, "subgroup"),
                            get(r, "metric"), get(r, "subject") or "", get(r, "grade") or "", get(r, "source"),
                            read._num(n) if n else np.nan, read._num(v) if v else np.nan, y in withheld and not v,
                            read._half_step(v) if v else np.nan, file))
    return {c: [t[i] for t in out] for i, c in enumerate(read.COLS)}


@pytest.mark.parametrize("root", ["leaky", "controlled"])
def test_the_audit_reads_a_column_at_a_time_what_one_frame_of_every_row_gives(root, small, monkeypatch):
    """The audit makes frames of the files' cells a column at a time (text columns from their distinct values; the
    trend tables' cells from whole columns of a chunk of files each), and walks target rows a chunk at a time, so a
    statewide publication is never a dict per cell: the frames, dtypes and findings are those of ``from_records``
    over every row, of trend cells read a row and a year at a time, and of one chunk."""
    from equity_outcomes.publish.disclosure import audit, read

    where = LEAKY if root == "leaky" else small["out"]
    monkeypatch.setattr(read, "CHUNK_ROWS", 97)  # several frames of a chunk of files each, joined
    by_column, by_column_report = read.read_publication(where), audit_publication(where)
    monkeypatch.setattr(read, "CHUNK_ROWS", 10**9)
    monkeypatch.setattr(read, "_frame", _records_frame)
    monkeypatch.setattr(read, "trend_cells", _trend_cells_row_by_row)
    monkeypatch.setattr(audit, "_records", lambda df, chunk_rows=None: df.to_dict("records"))
    whole, whole_report = read.read_publication(where), audit_publication(where)
    assert len(by_column.cells) > 100 and by_column.cells["withheld"].any() and len(by_column.targets) > 10
    assert len(by_column.other_files) > 100 or root == "leaky"  # the trimmed old publication has no workbook or chart
    for f in ("cells", "other_files", "targets"):
        pd.testing.assert_frame_equal(getattr(by_column, f), getattr(whole, f))
    assert by_column.cells["n"].dtype == float and by_column.cells["school_year"].dtype == np.int64
    assert [(x.check, x.cell, x.detail) for x in by_column_report.findings] == \
        [(x.check, x.cell, x.detail) for x in whole_report.findings]
    assert by_column_report.tried == whole_report.tried


def test_cell_positions_by_key_are_the_dict_of_lists_built_row_by_row():
    """check_targets finds a target row's cells through positions by key: every key, its rows in frame order,
    missing text one key (as pandas' group indices gave them), as a dict of lists built row by row."""
    from equity_outcomes.publish.disclosure import read
    from equity_outcomes.publish.disclosure.audit import _positions

    rng = np.random.default_rng(11)
    rows = [(str(rng.integers(3)), "school", int(rng.integers(2019, 2022)), rng.choice(["all", "black", None]),
             "m", "", "all", "student", 1.0, 2.0, False, 0.005, "f") for _ in range(200)]
    cells = read._frame(rows)
    key = ["org_code", "school_year", "subgroup"]
    by_row: dict[tuple, list[int]] = {}
    for i, k in enumerate(zip(*(cells[c].tolist() for c in key), strict=True)):
        by_row.setdefault(tuple("none" if isinstance(v, float) else v for v in k), []).append(i)
    got = {tuple("none" if isinstance(v, float) else v for v in k): v for k, v in _positions(cells, key).items()}
    assert got == by_row and len(got) > 10 and _positions(cells.iloc[:0], key) == {}


def test_target_rows_walked_in_chunks_are_every_row_once():
    from equity_outcomes.publish.disclosure.audit import _records

    df = pd.DataFrame({"a": range(23), "b": [str(i) for i in range(23)]})
    for size in (1, 5, 23, 100):
        assert list(_records(df, size)) == df.to_dict("records")


def test_relations_by_cell_as_index_arrays_are_the_dict_of_lists_they_replace():
    """The control keeps a statewide network's cells by twin group and relations by cell as two arrays each
    (complementary._Grouped): every key's values, in their order, as a dict of lists built row by row gives them."""
    from equity_outcomes.publish.disclosure.complementary import _Grouped, _memberships

    rng = np.random.default_rng(7)
    members = [rng.choice(40, size=int(rng.integers(1, 6)), replace=False).tolist() for _ in range(60)]
    members.append([5, 5])  # a cell twice in one relation: listed twice, as before
    by_cell: dict[int, list[int]] = {}
    for r, mem in enumerate(members):
        for i in mem:
            by_cell.setdefault(i, []).append(r)
    grouped = _Grouped(*_memberships(members), 45)
    assert [grouped[i] for i in range(45)] == [by_cell.get(i, []) for i in range(45)]
    twin = rng.integers(0, 12, size=50)
    same: dict[int, list[int]] = {}
    for i, g in enumerate(twin.tolist()):
        same.setdefault(g, []).append(i)
    by_twin = _Grouped(twin, np.arange(50), 50)
    assert all(by_twin[g] == same.get(g, []) for g in range(50)) and by_twin[np.int64(twin[0])] == same[twin[0]]


def test_publish_audit_command_exit_codes(capsys, tmp_path):
    assert main(["publish", "--audit", str(LEAKY)]) == 1
    out = capsys.readouterr().out
    assert "withheld in one source, published in the other: 7" in out and "tried:" in out
    assert main(["publish", "--audit", str(tmp_path)]) == 2  # not a publication: one clear message


def test_publish_audit_with_a_warehouse_outside_a_workspace(capsys, tmp_path, monkeypatch):
    """--warehouse outside any workspace (the benchmark's way): the audit runs, no traceback."""
    monkeypatch.chdir(tmp_path)
    assert main(["publish", "--warehouse", str(tmp_path / "wh.duckdb"), "--audit", str(LEAKY)]) == 1
    assert "tried:" in capsys.readouterr().out


# --- random linked tables ------------------------------------------------------------------------------------------
@st.composite
def networks(draw):
    """A random network: 1-4 schools, 1-3 groups with their complements, one or two sources, 1-2 metrics (one an
    event rate), 1-2 years; counts consistent (complements and the network pool add up exactly)."""
    n_schools = draw(st.integers(1, 4))
    groups = draw(st.lists(st.sampled_from(sorted(PAIRS)), min_size=1, max_size=3, unique=True))
    two_sources = draw(st.booleans())
    metrics = draw(st.lists(st.sampled_from(["pct_meeting_or_exceeding", "pct_suspended"]), min_size=1,
                            max_size=2, unique=True))
    years = draw(st.lists(st.sampled_from([2023, 2024]), min_size=1, max_size=2, unique=True))
    rows = []
    for year in years:
        for metric in metrics:
            net: dict[str, list[int]] = {}
            for s in range(n_schools):
                n_all = draw(st.integers(5, 80))
                k_all = draw(st.integers(0, n_all))
                parts = {"all": (n_all, k_all)}
                for g in groups:
                    n_g = draw(st.integers(1, n_all - 1)) if n_all > 1 else 1
                    k_g = draw(st.integers(max(0, k_all - (n_all - n_g)), min(k_all, n_g)))
                    parts[g], parts[COMPS[g]] = (n_g, k_g), (n_all - n_g, k_all - k_g)
                for sg, (n, k) in parts.items():
                    net.setdefault(sg, [0, 0])
                    net[sg][0] += n
                    net[sg][1] += k
                    rows.append((f"S{s}", "school", year, sg, metric, n, k))
            rows += [("network", "network", year, sg, metric, n, k) for sg, (n, k) in net.items()]
    cells = []
    for org, lvl, year, sg, metric, n, k in rows:
        for source in (["student", "dese"] if two_sources else ["student"]):
            cells.append({"org_code": org, "org_level": lvl, "school_year": year, "subgroup": sg, "metric": metric,
                          "subject": "", "grade": "all", "source": source, "n": float(n) if n else np.nan,
                          "value": 100.0 * k / n if n else np.nan, "numerator": float(k), "is_suppressed": n == 0})
    return pd.DataFrame(cells), {f"S{s}" for s in range(n_schools)}


def _determined_by_sums(cells: pd.DataFrame, withheld: np.ndarray, links) -> list[int]:
    """Independent of the LP: withheld cells whose n is fixed by the sum equations alone (linear algebra: the
    cell's unit vector lies in the row space of the equations restricted to the unknowns)."""
    unknown = np.flatnonzero(withheld)
    pos = {int(i): j for j, i in enumerate(unknown)}
    rows = []
    for s in links.sums:
        if s.others:
            continue
        row = np.zeros(len(unknown))
        for i, coef in [(s.total, -1.0), *((p, 1.0) for p in s.parts)]:
            if i in pos:
                row[pos[i]] += coef
        if row.any():
            rows.append(row)
    if not rows:
        return []
    a = np.array(rows)
    rank = np.linalg.matrix_rank(a)
    out = []
    for i, j in pos.items():
        e = np.zeros(len(unknown))
        e[j] = 1.0
        if np.linalg.matrix_rank(np.vstack([a, e])) == rank:
            out.append(i)
    return out


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(networks())
def test_random_networks_come_out_protected(net):
    cells, schools = net
    rules = load_rules()
    cc = control_cells(cells, rules, COMPS, schools, len(schools))
    w = cc.withheld
    assert not cc.unresolved
    # every primary cell is withheld, in every source
    n, k = cells["n"].to_numpy(), cells["numerator"].to_numpy()
    event = cells["metric"].eq("pct_suspended").to_numpy() & (((k >= 1) & (k <= 5)) | ((n - k >= 1) & (n - k <= 5)))
    assert w[(n < 10) | event].all()
    key = ["org_code", "school_year", "subgroup", "metric"]
    assert (pd.Series(w).groupby([cells[c] for c in key]).nunique() == 1).all(), "sources disagree"
    # no sum leaves a withheld cell alone, and linear algebra cannot pin the n of a cell the rules protect (a
    # complementary cell may be pinned only where that shows it is big enough to publish anyway)
    links = build_links(cells, rules, COMPS, schools, len(schools))
    for s in links.sums:
        assert sum(w[i] for i in (s.total, *s.parts)) != 1
    from equity_outcomes.publish.disclosure.rules import primary_reasons

    primary = primary_reasons(cells, rules) != ""
    pinned = _determined_by_sums(cells, w, links)
    assert not [i for i in pinned if primary[i]]
    assert all(n[i] >= 10 for i in pinned)
    # and the attacker (fresh, not the control's cached run) finds nothing
    view = published_view(cells, w)
    res = Attack(view, links, rules, Tolerance(n=0.0, value=0.0001)).run()
    assert (res["verdict"] == "protected").all(), res[res["verdict"] != "protected"]
    exact = Attack(view, links, rules, Tolerance(n=0.0, value=0.0001), exhaustive=True).run()
    assert res["verdict"].tolist() == exact["verdict"].tolist()  # the proof by points (inner.py) changes none


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(networks())
def test_primary_suppression_alone_is_caught(net):
    """Without complementary suppression, every cell that a sum gives back is found by the attacker."""
    cells, schools = net
    rules = load_rules()
    from equity_outcomes.publish.disclosure.rules import primary_reasons

    w = primary_reasons(cells, rules) != ""
    links = build_links(cells, rules, COMPS, schools, len(schools))
    exposed = set(_determined_by_sums(cells, w, links))
    res = Attack(published_view(cells, w), links, rules, Tolerance(n=0.0, value=0.0001)).run()
    flagged = set(res.loc[res["verdict"] != "protected", "row"].astype(int))
    assert exposed <= flagged
    exact = Attack(published_view(cells, w), links, rules, Tolerance(n=0.0, value=0.0001), exhaustive=True).run()
    assert res["verdict"].tolist() == exact["verdict"].tolist()


# --- synthetic networks of other sizes, every output format ---------------------------------------------------------
_SITES: dict[int, dict] = {}


def _published(n_schools: int, tmp_path_factory) -> dict:
    if n_schools not in _SITES:
        tmp = tmp_path_factory.mktemp(f"disclosure{n_schools}")
        info = build_fixture_warehouse(tmp / "wh.duckdb", n_schools, seed=n_schools, readiness=False)
        summary = publish_scorecards(info["path"], tmp / "site")
        _SITES[n_schools] = {**info, "out": tmp / "site", "summary": summary}
    return _SITES[n_schools]


@pytest.fixture(scope="module", params=[3, 6])
def published(request, tmp_path_factory):
    return _published(request.param, tmp_path_factory)


@pytest.fixture(scope="module")
def small(tmp_path_factory):
    return _published(3, tmp_path_factory)


def test_controlled_publication_passes_the_audit(published):
    s = published["summary"]
    assert s["audit"]["ok"]
    d = s["disclosure"]["school_cells"]
    assert d["primary"] > 0 and d["published"] > 0
    report = audit_publication(published["out"])
    assert report.ok, report.text()
    assert report.withheld_cells > 0


def test_a_school_outside_the_network_is_shown_but_not_summed_into_the_network(tmp_path):
    """A publication of every roster school (the 6-school fixture has one outside the network): the matrix says which
    schools the network pools, so the audit's network sums hold only those and every programme is feasible (with
    the outside school summed in, the network's figures contradicted their parts and nothing could be bounded)."""
    info = build_fixture_warehouse(tmp_path / "wh.duckdb", 6, seed=6, readiness=False)
    assert len(info["network_codes"]) == 5
    out = tmp_path / "site"
    summary = publish_scorecards(info["path"], out, schools=sorted(info["org_codes"]))
    assert summary["audit"]["ok"]
    report = audit_publication(out)
    pub_matrix = pd.read_csv(out / "exports" / "network" / "school_matrix.csv", dtype=str, encoding="utf-8-sig")
    assert (pub_matrix["is_network_school"] == "0").sum() == 1 and len(pub_matrix) == 6
    headline = (out / "index.html").read_text(encoding="utf-8")
    assert "5 network schools were judged (1 other school is shown for comparison, not counted here)" in headline
    outside = pub_matrix.loc[pub_matrix["is_network_school"] == "0", "org_code"].item()
    rows = dict(re.findall(r'<tr data-org="([^"]+)"><th scope="row">(.*?)</th>', headline))
    assert "comparison school" in rows[outside] and not any("comparison school" in rows[c] for c in info["network_codes"])
    assert report.ok, report.text()
    network_only = audit_publication(publish_fixture_site(info, tmp_path / "network_only"))
    assert _unbounded(report) == _unbounded(network_only), report.text()  # the outside school adds no contradiction


def _network_csv(out: Path, name: str) -> pd.DataFrame:
    return pd.read_csv(out / "exports" / "network" / name, dtype=str, keep_default_na=False, encoding="utf-8-sig")


def test_a_pooled_network_side_is_shown_only_where_every_school_it_pools_shows_its_own(published):
    """The network's pooled rows name the schools they pool; a side is published only when each of those schools
    publishes its row with that side (docs/disclosure.md, derived numbers)."""
    net, schools = (_network_csv(published["out"], n) for n in ("network_results.csv", "school_results.csv"))
    withheld = {(r.org_code.lstrip("'"), r.target_id, r.subject, r.subgroup): r.withheld for r in schools.itertuples()}
    shown = 0
    for r in net.itertuples():
        assert r.pooled_org_codes, r
        for side in ("baseline", "current"):
            if getattr(r, f"{side}_value"):
                shown += 1
                for code in r.pooled_org_codes.split(","):
                    assert withheld.get((code, r.target_id, r.subject, r.subgroup), "both") not in (side, "both"), r
    assert shown > 0 and (net["withheld"] != "").any()


def test_a_pooled_side_follows_its_schools_sides_and_is_withheld_when_one_has_no_row():
    tr = pd.DataFrame({"org_code": ["a", "b", "network"], "org_level": ["school", "school", "network"],
                       "target_id": "absence", "subject": None, "subgroup": ["all", "all", None],
                       "pooled_org_codes": [None, None, "a,b"]})
    unknown = np.array([False, False, True])  # a network row without years: side_withheld cannot trace it
    assert pooled_side_withheld(tr, unknown).tolist() == [False, False, False]
    assert pooled_side_withheld(tr, np.array([False, True, True])).tolist() == [False, True, True]
    no_page = tr.iloc[[0, 2]].reset_index(drop=True)  # school b pooled but not published
    assert pooled_side_withheld(no_page, unknown[[0, 2]]).tolist() == [False, True]


def test_the_audit_catches_a_pooled_side_shown_over_a_school_that_withholds_it(small, tmp_path):
    site = tmp_path / "site"
    shutil.copytree(small["out"], site)
    net = _network_csv(site, "network_results.csv")
    row = net[net["current_value"] != ""].iloc[0]
    schools = _network_csv(site, "school_results.csv")
    code = row["pooled_org_codes"].split(",")[-1]
    mine = ((schools["org_code"].str.lstrip("'") == code) & (schools["target_id"] == row["target_id"])
            & (schools["subject"] == row["subject"]) & (schools["subgroup"] == row["subgroup"]))
    assert mine.sum() == 1
    schools.loc[mine, ["current_value", "n_current"]] = ""
    schools.loc[mine, "withheld"] = "current"
    schools.to_csv(site / "exports" / "network" / "school_results.csv", index=False, encoding="utf-8-sig")
    report = audit_publication(site)
    assert not report.ok
    assert any(f.check == "target row publishes a withheld cell" and f.cell.startswith("network ")
               and f"pools school {code}, whose current is withheld" in f.detail for f in report.findings), \
        report.text()


def publish_fixture_site(info: dict, out: Path) -> Path:
    publish_scorecards(info["path"], out)
    return out


def _unbounded(report) -> int:
    """How many withheld cells the audit's programmes could not bound (0 when it says nothing of them)."""
    said = [t for t in report.tried if "could not be bounded" in t]
    return int(said[0].split()[0].replace(",", "")) if said else 0


def _withheld_trend_cell(out: Path) -> tuple[Path, dict, str]:
    for p in sorted((out / "exports").glob("*/trends.csv")):
        with open(p, encoding="utf-8-sig", newline="") as fh:
            rows = list(csv.DictReader(fh))
        for r in rows:
            years = re.findall(r"\d{4}", r["note"])
            if years and r["subgroup"] != "state":
                return p, r, years[0]
    raise AssertionError("no withheld cell")


@pytest.mark.parametrize("where", ["csv", "xlsx", "html"])
def test_a_withheld_value_in_any_format_is_caught(small, tmp_path, where):
    site = tmp_path / "site"
    shutil.copytree(small["out"], site)
    p, row, year = _withheld_trend_cell(site)
    code = p.parent.name
    if where == "csv":
        text = p.read_text(encoding="utf-8-sig")
        lines = text.splitlines()
        head = next(csv.reader([lines[0]]))
        for i, line in enumerate(lines[1:], 1):
            vals = next(csv.reader([line]))
            d = dict(zip(head, vals, strict=True))
            if d["subgroup"] == row["subgroup"] and d["metric"] == row["metric"] and d["source"] == row["source"] \
                    and d["grade"] == row["grade"] and d["subject"] == row["subject"]:
                d[year], d["note"] = "12.34", ""
                buf = [",".join(f'"{v}"' if "," in v else v for v in d.values())]
                lines[i] = buf[0]
        p.write_text("\ufeff" + "\n".join(lines) + "\n", encoding="utf-8")
    elif where == "xlsx":
        wb = openpyxl.load_workbook(site / "exports" / f"{code}.xlsx")
        ws = wb["trends"]
        head = [c.value for c in ws[1]]
        for r in ws.iter_rows(min_row=2):
            d = {h: c for h, c in zip(head, r, strict=False)}
            if d["subgroup"].value == row["subgroup"] and d["metric"].value == row["metric"] \
                    and d["source"].value == row["source"] and str(d["grade"].value) == row["grade"]:
                d[year].value = 12.34
        wb.save(site / "exports" / f"{code}.xlsx")
    else:
        page = site / "schools" / f"{code}.html"
        html = page.read_text(encoding="utf-8")
        payload = {"t": "trend_percent", "title": {"text": "x", "subtitle": ""},
                   "data": {"series": {"f": ["year", "value", "n", "series", "kind", "order"],
                                       "v": [[int(year), 12.34, None, "x", "school", 0]]}},
                   "meta": {"metric": row["metric"], "subject": row["subject"] or None, "grade": row["grade"],
                            "source": row["source"], "subgroup": row["subgroup"]}}
        html = html.replace("</main>", '<script type="application/json" id="tamper-data">'
                            + json.dumps(payload).replace("<", "\\u003c") + "</script></main>")
        page.write_text(html, encoding="utf-8")
    report = audit_publication(site)
    assert not report.ok
    checks = report.counts()
    if where == "csv":
        assert any(k.startswith("withheld cell") or k.startswith("published against") or "source" in k
                   for k in checks), checks
    else:
        assert checks.get("withheld in the CSV, shown in another file", 0) >= 1, checks


def test_failed_audit_leaves_the_previous_publication(published, tmp_path, monkeypatch):
    """Networks of 3 and 6 schools published with the primary rules alone (no complementary suppression, as
    before the control): the audit finds what sums give back, and the previous site stays."""
    site = tmp_path / "site"
    shutil.copytree(published["out"], site)
    before = {p: p.read_bytes() for p in site.rglob("*") if p.is_file()}
    import equity_outcomes.publish.disclosure as disclosure

    real = disclosure.control_cells

    def primary_only(cells, rules, *a, **k):
        cc = real(cells, rules, *a, **k)
        from equity_outcomes.publish.disclosure.rules import primary_reasons

        cc.reason = primary_reasons(cells, rules)  # what a per-table rule without complements would publish
        return cc

    monkeypatch.setattr(disclosure, "control_cells", primary_only)
    with pytest.raises(DisclosureError, match="previous one is left in place") as err:
        publish_scorecards(published["path"], site)
    assert "withheld cell recovered" in str(err.value) or "withheld cell narrowed" in str(err.value)
    after = {p: p.read_bytes() for p in site.rglob("*") if p.is_file()}
    assert after == before
    assert not list(tmp_path.glob(".site.publishing-*"))


# --- nothing is published around the control ---------------------------------------------------------------------
WRITERS = re.compile(r"\.to_csv\(|\.to_excel\(|\.to_parquet\(|\.write_text\(|\.write_bytes\(|open\([^)]*['\"][wa]b?['\"]"
                     r"|ZipFile\([^)]*['\"]w['\"]|shutil\.copy")
READS = re.compile(r"FROM\s+(metric_values|target_results|target_rollup|metric_gaps)\b", re.I)


def test_no_writer_or_reader_bypasses_the_control():
    """Files are written only by publish/workbook.py (CSV, XLSX, text); the warehouse is read only by
    publish/data.py, whose cells and target rows go through disclosure.control before anything else sees them."""
    writers, readers = [], []
    for p in sorted(PUBLISH.rglob("*.py")):
        rel = p.relative_to(PUBLISH).as_posix()
        text = p.read_text(encoding="utf-8")
        if rel not in ("workbook.py", "fixture.py") and WRITERS.search(text):
            writers.append(rel)
        if rel not in ("data.py", "fixture.py") and READS.search(text):
            readers.append(rel)
    assert writers == [] and readers == []
    data = (PUBLISH / "data.py").read_text(encoding="utf-8")
    assert "controlled = control(" in data and "mv_safe, tr_safe = controlled.cells, controlled.targets" in data


def test_a_workspace_rules_file_is_the_rule_published_and_audited(small, tmp_path, capsys):
    """A workspace's own rules (the `disclosure` key of equity-outcomes.yaml) replace config/disclosure.yaml for
    publishing and for `publish --audit`: a size rule of 30 withholds more cells than the default 10."""
    import yaml

    from equity_outcomes.cli import main
    from equity_outcomes.paths import config_dir

    rules = yaml.safe_load((config_dir() / "disclosure.yaml").read_text(encoding="utf-8"))
    rules["size_rule"]["min_n"] = 30
    strict = tmp_path / "strict.yaml"
    strict.write_text(yaml.safe_dump(rules), encoding="utf-8")
    summary = publish_scorecards(small["path"], tmp_path / "site", rules_file=strict)
    default_primary = small["summary"]["disclosure"]["school_cells"]["primary"]
    assert summary["disclosure"]["school_cells"]["primary"] > default_primary
    assert summary["audit"]["ok"]

    ws = tmp_path / "ws"
    assert main(["init", str(ws), "--quiet"]) == 0
    text = (ws / "equity-outcomes.yaml").read_text(encoding="utf-8")
    (ws / "equity-outcomes.yaml").write_text(text.replace("disclosure: null", f"disclosure: {strict}"),
                                             encoding="utf-8")
    capsys.readouterr()
    # the workspace's audit judges by its own rules: the strict publication passes, the default one does not
    assert main(["publish", "--workspace", str(ws), "--audit", str(tmp_path / "site")]) == 0
    assert main(["publish", "--workspace", str(ws), "--audit", str(small["out"])]) == 1
    assert "under 30" in capsys.readouterr().out


# --- the proof by feasible points (disclosure/inner.py) against the exact programmes of every cell ---------------
def _wide_network(n_schools: int, seed: int) -> tuple[pd.DataFrame, set[str]]:
    """A network of ``n_schools`` schools whose small cells all fall into a few large components (every group's
    cells are tied together through the network sums): event rates, shares and an opaque median, two sources."""
    rng = np.random.default_rng(seed)
    rows = []
    for metric in ("pct_suspended", "pct_meeting_or_exceeding", "median_sgp"):
        net: dict[str, list[float]] = {}
        for s in range(n_schools):
            n_all = int(rng.integers(20, 400))
            rate = 0.02 if metric == "pct_suspended" else 0.4
            parts = {"all": (n_all, int(rng.binomial(n_all, rate)))}
            for g in ("black", "swd"):
                n_g = int(rng.integers(1, max(2, n_all // 4)))
                k_g = int(rng.integers(max(0, parts["all"][1] - (n_all - n_g)), min(parts["all"][1], n_g) + 1))
                parts[g], parts[COMPS[g]] = (n_g, k_g), (n_all - n_g, parts["all"][1] - k_g)
            for sg, (n, k) in parts.items():
                net.setdefault(sg, [0, 0])
                net[sg][0] += n
                net[sg][1] += k
                rows.append((f"S{s}", "school", sg, metric, n, k))
        rows += [("network", "network", sg, metric, n, k) for sg, (n, k) in net.items()]
    cells = []
    for org, lvl, sg, metric, n, k in rows:
        for source in ("student", "dese"):
            value = float(rng.integers(20, 80)) if metric == "median_sgp" else 100.0 * k / n
            cells.append({"org_code": org, "org_level": lvl, "school_year": 2024, "subgroup": sg, "metric": metric,
                          "subject": "", "grade": "all", "source": source, "n": float(n), "value": value,
                          "numerator": np.nan if metric == "median_sgp" else float(k), "is_suppressed": False})
    return pd.DataFrame(cells), {f"S{s}" for s in range(n_schools)}


def _verdicts_both_ways(cells: pd.DataFrame, withheld: np.ndarray, links, rules, monkeypatch) -> tuple:
    from equity_outcomes.publish.disclosure import attack

    exact_calls = []
    real = attack.Attack._intervals
    monkeypatch.setattr(attack.Attack, "_intervals", lambda self, *a: exact_calls.append(1) or real(self, *a))
    view = published_view(cells, withheld)
    tol = Tolerance(n=0.0, value=0.0001)
    fast = Attack(view, links, rules, tol).run()
    n_fast = len(exact_calls)
    exact = Attack(view, links, rules, tol, exhaustive=True).run()
    return fast, exact, n_fast, len(exact_calls) - n_fast


def test_the_proof_by_points_gives_the_verdicts_of_the_exact_programmes(monkeypatch):
    """Before and after complementary suppression, on a 24-school network with network sums, complements, two
    sources and an event rate: the same verdict for every withheld cell as the exact programmes of every cell, while
    most cells skip them (if the shortcut called a cell protected that the exact attack recovers or narrows, the
    verdicts would differ)."""
    from equity_outcomes.publish.disclosure.rules import primary_reasons

    cells, schools = _wide_network(24, seed=7)
    rules = load_rules()
    links = build_links(cells, rules, COMPS, schools, len(schools))
    primary = primary_reasons(cells, rules) != ""
    key = ["org_code", "school_year", "subgroup", "metric"]
    primary = pd.Series(primary).groupby([cells[c] for c in key]).transform("max").to_numpy()  # per cell
    controlled = control_cells(cells, rules, COMPS, schools, len(schools)).withheld
    verdicts = []
    for withheld in (primary, controlled):
        fast, exact, n_fast, n_exact = _verdicts_both_ways(cells, withheld, links, rules, monkeypatch)
        assert fast["row"].tolist() == exact["row"].tolist()
        assert fast["verdict"].tolist() == exact["verdict"].tolist()
        assert n_fast < n_exact / 2  # most cells were proved by points (78 of 198 and 8 of 288 went exact)
        verdicts.append(set(exact["verdict"]))
    assert verdicts[0] > {"protected"} and verdicts[1] == {"protected"}  # both kinds of verdict were compared


@pytest.mark.parametrize("primal_above", [None, 0])
def test_the_proof_group_by_group_gives_the_verdicts_of_the_exact_programmes(monkeypatch, primal_above):
    """The same with every component proved group by group (disclosure/split.py: groups of 6 withheld cells, the
    rest held at an interior point; cells forced to 0 by a zero total proved by an outer bound): still the exact
    programmes' verdict for every withheld cell, and fewer exact programmes than cells. ``primal_above=0``: every
    objective-only question by the primal simplex (lp.py does so on a large network's largest programmes)."""
    from equity_outcomes.publish.disclosure import attack, lp, split
    from equity_outcomes.publish.disclosure.rules import primary_reasons

    if primal_above is not None:
        monkeypatch.setattr(lp, "PRIMAL_MINMAX_COLUMNS", primal_above)
        monkeypatch.setattr(lp, "PRIMAL_VERTEX_COLUMNS", primal_above)
    monkeypatch.setattr(attack, "BATCH_CELLS", 8)
    monkeypatch.setattr(split, "GROUP_CELLS", 6)
    calls = []
    real = split.shown_wide_split
    monkeypatch.setattr(attack, "shown_wide_split", lambda *a: calls.append(1) or real(*a))
    cells, schools = _wide_network(24, seed=11)
    rules = load_rules()
    links = build_links(cells, rules, COMPS, schools, len(schools))
    primary = primary_reasons(cells, rules) != ""
    key = ["org_code", "school_year", "subgroup", "metric"]
    primary = pd.Series(primary).groupby([cells[c] for c in key]).transform("max").to_numpy()
    fast, exact, n_fast, n_exact = _verdicts_both_ways(cells, primary, links, rules, monkeypatch)
    assert calls  # the split ran
    assert fast["row"].tolist() == exact["row"].tolist()
    assert fast["verdict"].tolist() == exact["verdict"].tolist()
    assert set(exact["verdict"]) > {"protected"}
    assert n_fast < n_exact / 2


def test_the_controls_answers_serve_only_the_very_same_programme():
    """The audit of a new publication takes the control's answer for a component only when the files give the very
    same programme: the same cells read back in another order take every answer (and the same verdicts); one
    published value off by 0.01 makes its component a new programme, solved afresh."""
    from equity_outcomes.publish.disclosure.attack import _components
    from equity_outcomes.publish.disclosure.complementary import tolerance_from_pairs
    from equity_outcomes.publish.disclosure.linked import cell_ids

    cells, schools = _wide_network(8, seed=5)
    rules = load_rules()
    cc = control_cells(cells, rules, COMPS, schools, len(schools))
    assert cc.solved

    def attack(frame: pd.DataFrame, withheld: np.ndarray) -> tuple[Attack, pd.DataFrame, int]:
        links = build_links(frame, rules, COMPS, schools, len(schools))
        view = published_view(frame, withheld)
        a = Attack(view, links, rules, tolerance_from_pairs(view, links, rules), ident=cell_ids(frame))
        free = view["withheld"].to_numpy() | ~np.isfinite(view["n"].to_numpy(dtype=float))
        return a, a.run(dict(cc.solved)), len(_components(len(view), free, links))

    order = np.random.default_rng(1).permutation(len(cells))
    shuffled = cells.iloc[order].reset_index(drop=True)
    a, res, n_comps = attack(shuffled, cc.withheld[order])
    assert a.reused == n_comps > 1
    first = pd.Series(res["verdict"].to_numpy(), index=order[res["row"].to_numpy()]).sort_index()
    assert (first == "protected").all() and len(first) == int(cc.withheld.sum())

    off = cells.copy()
    i = int(np.flatnonzero(~cc.withheld & (off["subgroup"] == "all").to_numpy())[0])
    off.loc[i, "value"] = off.loc[i, "value"] + 0.01
    a2, _, n2 = attack(off, cc.withheld)
    assert n2 == n_comps and a2.reused == n_comps - 1


def test_the_attack_on_two_threads_answers_as_on_one(monkeypatch):
    """Batches solved side by side (EQUITY_OUTCOMES_LP_THREADS=2: HiGHS releases the GIL while it solves) give every
    interval and verdict that one thread gives, and the same answers by programme, though both threads solved some;
    a setting that is not a number of threads is refused with the fix."""
    import threading

    from equity_outcomes.errors import EquityOutcomesError
    from equity_outcomes.publish.disclosure import attack
    from equity_outcomes.publish.disclosure.complementary import tolerance_from_pairs
    from equity_outcomes.publish.disclosure.linked import cell_ids
    from equity_outcomes.publish.disclosure.rules import primary_reasons

    monkeypatch.setattr(attack, "BATCH_CELLS", 8)  # many batches, some proved group by group
    cells, schools = _wide_network(24, seed=7)
    rules = load_rules()
    links = build_links(cells, rules, COMPS, schools, len(schools))
    view = published_view(cells, primary_reasons(cells, rules) != "")
    tol = tolerance_from_pairs(view, links, rules)
    solved_on: list[str] = []
    real = attack.Attack._solve
    monkeypatch.setattr(attack.Attack, "_solve",
                        lambda self, comps: solved_on.append(threading.current_thread().name) or real(self, comps))
    out = {}
    for threads in ("1", "2"):
        monkeypatch.setenv(attack.THREADS_ENV, threads)
        cache: dict = {}
        res = Attack(view, links, rules, tol, ident=cell_ids(cells)).run(cache)
        out[threads] = (res, json.dumps(cache, sort_keys=True, default=str))
    pd.testing.assert_frame_equal(out["1"][0], out["2"][0])
    assert out["1"][1] == out["2"][1]
    assert set(out["1"][0]["verdict"]) > {"protected"}
    on_one, on_two = solved_on[:len(solved_on) // 2], solved_on[len(solved_on) // 2:]
    assert set(on_one) == {"MainThread"} and len(set(on_two)) == 2 and "MainThread" not in on_two
    monkeypatch.setenv(attack.THREADS_ENV, "two")
    with pytest.raises(EquityOutcomesError, match="EQUITY_OUTCOMES_LP_THREADS='two'.*How to fix"):
        Attack(view, links, rules, tol).run()


def test_grade_totals_and_two_sources_are_linked_row_by_row():
    """A grade total is summed with its parts where both are published (not where either is alone), every cell of
    two sources is a twin pair (first row, other row), a cell with no grade is neither, and cell ids spell the key."""
    from equity_outcomes.publish.disclosure.linked import Sum, cell_ids

    rows = [("S1", "all", "student"), ("S1", "03-08", "student"), ("S2", "all", "student"), ("S1", "10", "student"),
            ("S3", "10", "student"), ("S1", "all", "dese"), ("S1", "03-08", "dese"), ("S1", "10", "dese"),
            ("S4", np.nan, "student"), ("S4", np.nan, "dese")]
    cells = pd.DataFrame([{"org_code": org, "org_level": "school", "school_year": 2024, "subgroup": "all",
                           "metric": "pct_meeting_or_exceeding", "subject": "ela", "grade": grade, "source": source,
                           "n": 40.0, "value": 50.0} for org, grade, source in rows])
    links = build_links(cells, load_rules(), COMPS, set())
    assert links.sums == [Sum("total", 0, [1, 3]), Sum("total", 5, [6, 7])]
    assert links.twins == [(0, 5), (1, 6), (3, 7)]
    ids = cell_ids(cells)
    assert ids[0] == "S1|school|2024|all|pct_meeting_or_exceeding|ela|all|student"
    assert ids[9] == "S4|school|2024|all|pct_meeting_or_exceeding|ela|nan|dese"

"""Scorecards: files, figures equal to target_results, escaping, suppression, exports, edge cases."""

from __future__ import annotations

import csv
import hashlib
import json
import os
import re
import zipfile
from html.parser import HTMLParser
from pathlib import Path

import duckdb
import numpy as np
import openpyxl
import pandas as pd
import pytest

from equity_outcomes.publish import publish_scorecards
from equity_outcomes.publish.disclosure.complementary import control_cells
from equity_outcomes.publish.disclosure.rules import load_rules
from equity_outcomes.publish.disclosure.targets import control_targets
from equity_outcomes.publish.workbook import render, write_lines, write_xlsx

from .publish_fixture import HOSTILE_DISTRICT, HOSTILE_NAME, build_fixture_warehouse

FORMULA_NAME = "=HYPERLINK(\"http://x\")+1 Academy"


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("scorecards")
    info = build_fixture_warehouse(tmp / "wh.duckdb", 7)
    con = duckdb.connect(str(info["path"]))
    con.execute("UPDATE roster SET school_name = ? WHERE org_code = ?", [FORMULA_NAME, info["network_codes"][3]])
    con.close()
    digest = hashlib.sha256(info["path"].read_bytes()).hexdigest()
    messages: list[str] = []
    summary = publish_scorecards(info["path"], tmp / "site", progress=messages.append)
    return {**info, "out": tmp / "site", "summary": summary, "messages": messages, "digest": digest}


def _tr(info, where: str = "TRUE") -> pd.DataFrame:
    con = duckdb.connect(str(info["path"]), read_only=True)
    try:
        return con.execute(f"SELECT * FROM target_results WHERE {where}").df()
    finally:
        con.close()


class Rows(HTMLParser):
    """Collect scorecard rows: data-* attributes of <tr> and of its cells with data-field, and their text."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.rows: list[dict] = []
        self.row: dict | None = None
        self.field: str | None = None
        self.depth = 0
        self.in_scorecard = False
        self.scripts: list[str] = []
        self._script: list[str] | None = None
        self.attrs_all: list[tuple[str, str]] = []

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        for k in ("src", "href"):
            if k in a:
                self.attrs_all.append((k, a[k]))
        if tag == "table":
            self.in_scorecard = "scorecard" in (a.get("class") or "")
        if tag == "script" and a.get("type") == "application/json":
            self._script = []
        if self.in_scorecard and tag == "tr" and "data-target" in a:
            self.row = {"attrs": a, "cells": {}}
            self.rows.append(self.row)
        if self.row is not None and "data-field" in a and self.field is None:
            self.field = a["data-field"]
            self.row["cells"][self.field] = {"attrs": a, "text": ""}
            self.depth = 0
        elif self.field is not None:
            self.depth += 1

    def handle_endtag(self, tag):
        if tag == "script" and self._script is not None:
            self.scripts.append("".join(self._script))
            self._script = None
        if self.field is not None and tag not in ("br",):
            if self.depth == 0:
                self.field = None
            else:
                self.depth -= 1
        if tag == "tr":
            self.row = None
        if tag == "table":
            self.in_scorecard = False

    def handle_data(self, data):
        if self._script is not None:
            self._script.append(data)
        if self.row is not None and self.field is not None:
            self.row["cells"][self.field]["text"] += data


def parse(path: Path) -> Rows:
    p = Rows()
    p.feed(path.read_text(encoding="utf-8"))
    return p


def test_files_and_summary(site):
    out, s = site["out"], site["summary"]
    assert s["index"] == out / "index.html" and s["index"].exists()
    assert s["n_pages"] == len(site["network_codes"]) + 1
    assert s["bytes"] > 0 and s["seconds"] > 0
    for code in site["network_codes"]:
        page = (out / "schools" / f"{code}.html").read_text(encoding="utf-8")
        assert 'class="n">,' not in page and ", </span>" not in page  # a measure's note joins only what it has
        assert (out / "exports" / f"{code}.xlsx").exists()
        for t in ("scorecard", "trends"):
            assert (out / "exports" / code / f"{t}.csv").exists()
    outside = set(site["org_codes"]) - set(site["network_codes"])
    assert outside and not any((out / "schools" / f"{c}.html").exists() for c in outside)
    assert (out / "exports" / "network.xlsx").exists()
    assert (out / "exports" / "network" / "school_results.csv").exists()
    assert (out / "assets" / "vega-bundle.js").stat().st_size > 500_000
    assert "window.vegaEmbed" in (out / "assets" / "vega-bundle.js").read_text(encoding="utf-8")[-3000:]
    # the warehouse was only read
    assert hashlib.sha256(site["path"].read_bytes()).hexdigest() == site["digest"]
    assert any("pages" in m for m in site["messages"])


def test_one_shared_local_bundle_and_no_remote_references(site):
    out = site["out"]
    pages = [out / "index.html", *sorted((out / "schools").glob("*.html"))]
    for page in pages:
        p = parse(page)
        prefix = "" if page.name == "index.html" else "../"
        scripts = [v for k, v in p.attrs_all if k == "src"]
        assert scripts.count(f"{prefix}assets/vega-bundle.js") == 1
        for _k, v in p.attrs_all:
            assert not re.match(r"^(https?:)?//", v), (page, v)
            assert not v.startswith("/"), (page, v)
        assert "cdn" not in page.read_text(encoding="utf-8").lower()


def test_key_figures_equal_target_results(site):
    tr = _tr(site, "org_level = 'school'")
    checked = not_comparable = 0
    for code in site["network_codes"]:
        rows = parse(site["out"] / "schools" / f"{code}.html").rows
        shown = {(r["attrs"]["data-target"], r["attrs"]["data-subject"]): r for r in rows
                 if r["attrs"]["data-subgroup"] == "all"}
        mine = tr[(tr["org_code"] == code) & (tr["subgroup"] == "all")]
        assert len(shown) == len(mine), code
        for t in mine.to_dict("records"):
            subj = t["subject"] if isinstance(t["subject"], str) else ""
            r = shown[(t["target_id"], subj)]
            rating = r["cells"]["rating"]
            withheld = any("withheld" in r["cells"][f"{s}_value"]["attrs"].get("title", "") for s in ("baseline",
                                                                                                   "current"))
            if withheld:  # judged on a withheld cell: the page says insufficient data, not the engine's rating
                assert rating["attrs"]["data-status"] in (t["status"], "insufficient_data")
                continue
            assert rating["attrs"]["data-status"] == t["status"]
            if t["status"] in ("met", "moving_toward", "initial_steps", "area_of_concern"):
                assert rating["text"].startswith(f"{int(t['rating'])} {t['rating_label']}")
            elif t["status"] == "not_yet_due":
                assert rating["text"].startswith("Not yet due")
            for side in ("baseline", "current"):
                cell = r["cells"][f"{side}_value"]
                v, n = t[f"{side}_value"], t[f"n_{side}"]
                if pd.notna(v) and pd.notna(n) and n >= site["min_n"][t["metric"]]:
                    assert float(cell["attrs"]["data-value"]) == pytest.approx(v)
                    shown_v = float(re.search(r":\s*(-?\d+(?:\.\d+)?)", cell["text"]).group(1))
                    assert shown_v == pytest.approx(v, abs=0.051)
                    assert f"n={int(n):,}" in cell["text"]
                    assert cell["text"].startswith(str(int(t[f"{side}_year"])))
                    checked += 1
            if t["status"] == "not_comparable":  # no target set from a baseline that is not comparable
                assert r["cells"]["progress_pct"]["text"] == r["cells"]["target_value"]["text"] == "n/a"
                not_comparable += 1
            elif pd.notna(t["progress_pct"]) and pd.notna(t["current_value"]) and pd.notna(t["baseline_value"]):
                assert r["cells"]["progress_pct"]["text"] == f"{t['progress_pct']:.0f}%"
    assert checked > 20 and not_comparable > 0


def test_network_page_matrix_and_counts(site):
    html = (site["out"] / "index.html").read_text(encoding="utf-8")
    for code in site["network_codes"]:
        assert f'href="schools/{code}.html"' in html
    # counted over the published (disclosure-controlled) rows, which the export holds
    with open(site["out"] / "exports" / "network" / "school_results.csv", encoding="utf-8-sig", newline="") as fh:
        tr = pd.DataFrame([r for r in csv.DictReader(fh) if r["subgroup"] == "all" and r["target_id"] == "absence"
                           and r["org_code"] in site["network_codes"]])  # counted over the network's own schools
    counts = tr["status"].value_counts()
    m = re.search(r'<tr data-target="absence" data-subject="">(.*?)</tr>', html, re.S)
    assert m
    got = dict(re.findall(r'data-count="([^"]+)">(\d+)<', m.group(1)))
    assert int(got["r4"]) == counts.get("met", 0)
    assert int(got["r1"]) == counts.get("area_of_concern", 0)
    assert int(got["s-not-yet-due"]) == counts.get("not_yet_due", 0)
    # unrated statuses are distinct classes with their own text
    assert 's-not-yet-due' in html and "not due" in html and "Insufficient data" in html


def test_names_are_escaped(site):
    out = site["out"]
    hostile = site["network_codes"][1]
    for page in [out / "index.html", *(out / "schools").glob("*.html")]:
        text = page.read_text(encoding="utf-8")
        assert HOSTILE_NAME not in text, page
        assert "<script>alert" not in text
        for script in parse(page).scripts:
            assert "<" not in script and ">" not in script
            json.loads(script)
    page = (out / "schools" / f"{hostile}.html").read_text(encoding="utf-8")
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "O&#39;Neil &amp; Sons" in page  # MarkupSafe's spelling of the apostrophe (Jinja2 autoescape)
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in (out / "index.html").read_text(encoding="utf-8")
    # the heatmap/labels inside chart JSON carry the name only as escaped JSON text
    assert "\\u003cscript\\u003e" in (out / "index.html").read_text(encoding="utf-8")
    assert HOSTILE_DISTRICT == "O'Neil & Sons"


def test_suppression_shown_on_pages_and_exports(site):
    out = site["out"]
    small_el = site["network_codes"][2]  # the fixture gives this school a handful of English learners
    page = (out / "schools" / f"{small_el}.html").read_text(encoding="utf-8")
    cells = re.findall(r'data-subgroup="el" data-status="([^"]*)"[^>]*>(.*?)</td>', page, re.S)
    assert cells and all(s in ("insufficient_data", "not_yet_due") for s, _ in cells)
    assert all("n=" not in c and "%" not in c and "pts" not in c for _s, c in cells)
    with open(out / "exports" / small_el / "trends.csv", encoding="utf-8-sig", newline="") as fh:
        rows = list(csv.DictReader(fh))
    years = [c for c in rows[0] if c.isdigit()]
    el = [r for r in rows if r["subgroup"] == "el"]
    non_el = {(r["metric"], r["subject"], r["grade"], r["source"]): r for r in rows if r["subgroup"] == "non_el"}
    assert el and all(r[y] == "" and r[f"n_{y}"] == "" for r in el for y in years)
    assert all(r["note"].startswith("withheld to protect small groups") for r in el)
    for r in el:
        c = non_el.get((r["metric"], r["subject"], r["grade"], r["source"]))
        if c is not None:
            withheld = [y for y in years if r[f"n_{y}"] == ""]
            assert all(c[y] == "" and c[f"n_{y}"] == "" for y in withheld), c
            assert "withheld to protect small groups" in c["note"]
    assert not any("numerator" in k or "denominator" in k for k in rows[0])
    assert any(r["subgroup"] == "state" for r in rows)


def test_xlsx_opens_cleanly(site):
    out = site["out"]
    code = site["network_codes"][0]
    wb = openpyxl.load_workbook(out / "exports" / f"{code}.xlsx")
    assert wb.sheetnames[:2] == ["scorecard", "trends"] and wb.sheetnames[-1] == "notes"
    ws = wb["scorecard"]
    assert ws.freeze_panes == "A2"
    assert ws["A1"].font.b and ws["A1"].value == "org_code" and ws["C1"].value == "target_id"
    assert ws.column_dimensions["D"].width > 20
    notes = {r[0].value: r[2].value for r in wb["notes"].iter_rows(min_row=2)}
    assert "metric:pct_absent_10_plus_days" in notes and "absent 10 or more days" in notes[
        "metric:pct_absent_10_plus_days"].lower()
    assert notes["data_vintage"] == 2024
    for sheet in wb.worksheets:
        for row in sheet.iter_rows():
            for c in row:
                assert c.data_type != "f", (sheet.title, c.coordinate, c.value)
    # a school name that looks like a formula stays text, in Excel and in CSV
    net = openpyxl.load_workbook(out / "exports" / "network.xlsx")
    names = [c.value for c in net["school_matrix"]["B"]]
    assert FORMULA_NAME in names
    cell = net["school_matrix"][f"B{names.index(FORMULA_NAME) + 1}"]
    assert cell.data_type == "s" and cell.quotePrefix
    text = (out / "exports" / "network" / "school_matrix.csv").read_text(encoding="utf-8-sig")
    assert "'" + FORMULA_NAME.replace('"', '""') in text
    assert set(net.sheetnames) >= {"school_matrix", "rating_counts", "network_results", "school_results",
                                   "network_trends", "readiness", "notes"}


def test_republish_replaces_and_subset(site, tmp_path):
    out = tmp_path / "dash"
    out.mkdir()
    (out / ".gitkeep").write_text("")
    publish_scorecards(site["path"], out)
    first = site["network_codes"][0]
    r = publish_scorecards(site["path"], out, schools=[first, "99999999"])
    assert r["n_pages"] == 2
    assert sorted(p.name for p in (out / "schools").iterdir()) == [f"{first}.html"]
    assert (out / ".gitkeep").exists()
    assert not list(tmp_path.glob(".dash.publishing-*"))


def test_engine_shaped_tables_and_missing_optional_tables(tmp_path):
    """target_results as the evaluation writes it (school rows only, extra columns) with the network's pooled
    result in target_rollup; no roster, no metric_gaps, no readiness_summary."""
    info = build_fixture_warehouse(tmp_path / "wh.duckdb", 4, readiness=False)
    con = duckdb.connect(str(info["path"]))
    con.execute("DELETE FROM target_results WHERE org_level = 'network'")
    con.execute("UPDATE target_results SET status_reason = 'n below the minimum' WHERE status = 'insufficient_data'")
    con.execute("""CREATE OR REPLACE TABLE target_rollup AS
        SELECT target_id, subject, subgroup, 'pct_x' AS pooled_metric, 41.5 AS pooled_current_value,
               30.0 AS pooled_baseline_value, 'moving_toward' AS pooled_status, 3 AS pooled_rating,
               'Moving toward' AS pooled_rating_label, 5000.0 AS pooled_n_current, 4800.0 AS pooled_n_baseline
        FROM target_results GROUP BY ALL""")
    con.execute("DROP TABLE roster")
    con.execute("DROP VIEW metric_gaps")
    con.close()
    r = publish_scorecards(info["path"], tmp_path / "site")
    codes = sorted(_tr(info, "org_level = 'school'")["org_code"].unique())
    assert r["n_pages"] == len(codes) + 1
    html = (tmp_path / "site" / "index.html").read_text(encoding="utf-8")
    counts = html.split('<table class="counts">')[1].split("</table>")[0]
    row = re.search(r'<tr data-target="absence" data-subject="">(.*?)</tr>', counts, re.S).group(1)
    # a pooled result without years or a source cannot be traced to cells: the control withholds it
    assert "withheld to protect a small group" in row and "41.5%" not in row
    page = (tmp_path / "site" / "schools" / f"{codes[0]}.html").read_text(encoding="utf-8")
    assert "n below the minimum" in page


def test_empty_warehouse_tables(tmp_path):
    wh = tmp_path / "empty.duckdb"
    con = duckdb.connect(str(wh))
    con.execute("CREATE TABLE roster (org_code VARCHAR, school_name VARCHAR, district_code VARCHAR, "
                "district_name VARCHAR, school_level VARCHAR, is_network_school INTEGER, "
                "implementation_start_year INTEGER, baseline_year INTEGER)")
    con.execute("INSERT INTO roster VALUES ('01000005', 'Alpha', '01000000', 'Alpha', 'middle', 1, 2023, 2022)")
    con.close()
    r = publish_scorecards(wh, tmp_path / "site")
    assert r["n_pages"] == 2
    page = (tmp_path / "site" / "schools" / "01000005.html").read_text(encoding="utf-8")
    assert "No target results for this school yet" in page


# --- units -------------------------------------------------------------------------------------------------------
def _cells(rows):
    cols = ["org_code", "org_level", "school_year", "subgroup", "metric", "subject", "grade", "source",
            "numerator", "denominator", "n_students", "value", "std_dev", "is_suppressed"]
    return pd.DataFrame([dict(zip(cols, r, strict=True)) for r in rows])


COMPS = {"el": "non_el", "non_el": "el", "low_income": "non_low_income", "non_low_income": "low_income"}


def _reasons(df, network=frozenset(), n_network=None):
    cells = df.rename(columns={"n_students": "n"})
    cc = control_cells(cells, load_rules(), COMPS, set(network), n_network)
    return pd.Series(cc.reason, index=pd.MultiIndex.from_frame(df[["org_code", "subgroup"]]))


def test_complement_pair_rule():
    m = "pct_meeting_or_exceeding"
    df = _cells([
        ("A", "school", 2024, "all", m, "ela", "03-08", "student", 20, 100, 100, 20.0, None, False),
        ("A", "school", 2024, "el", m, "ela", "03-08", "student", 1, 4, 4, None, None, True),
        ("A", "school", 2024, "non_el", m, "ela", "03-08", "student", 19, 96, 96, 19.79, None, False),
        ("A", "school", 2024, "low_income", m, "ela", "03-08", "student", 10, 50, 50, 20.0, None, False),
        ("A", "school", 2024, "non_low_income", m, "ela", "03-08", "student", 10, 50, 50, 20.0, None, False),
    ])
    got = _reasons(df)
    assert got[("A", "el")] == "suppressed" and got[("A", "non_el")] == "complementary"
    assert got[("A", "low_income")] == "" and got[("A", "all")] == ""
    # a cell just at the size rule's 10 is published; at 9 it is withheld even when the warehouse kept it
    df2 = df.copy()
    df2.loc[df2.subgroup == "el", ["numerator", "n_students", "value", "is_suppressed"]] = [2, 10, 20.0, False]
    df2.loc[df2.subgroup == "non_el", ["numerator", "n_students", "value"]] = [18, 90, 20.0]
    assert (_reasons(df2) == "").all()
    df2.loc[df2.subgroup == "el", ["n_students", "value"]] = [9, 22.22]
    assert _reasons(df2)[("A", "el")] == "size"


def test_cross_school_rule_then_pair_rule():
    m = "pct_meeting_or_exceeding"
    rows = []
    for code, n_el, n_all in (("A", 4, 100), ("B", 12, 80), ("C", 30, 90)):
        rows += [(code, "school", 2024, "all", m, "ela", "03-08", "student", n_all / 2, n_all, n_all, 50.0, None,
                  False),
                 (code, "school", 2024, "el", m, "ela", "03-08", "student", n_el / 4, n_el, n_el, 25.0, None,
                  n_el < 10),
                 (code, "school", 2024, "non_el", m, "ela", "03-08", "student", n_all / 2 - n_el / 4, n_all - n_el,
                  n_all - n_el, 100 * (n_all / 2 - n_el / 4) / (n_all - n_el), None, False)]
    rows += [("network", "network", 2024, "el", m, "ela", "03-08", "student", 11.5, 46, 46, 25.0, None, False),
             ("network", "network", 2024, "non_el", m, "ela", "03-08", "student", 123.5, 224, 224, 55.13, None,
              False),
             ("network", "network", 2024, "all", m, "ela", "03-08", "student", 135, 270, 270, 50.0, None, False)]
    df = _cells(rows)
    df.loc[df["is_suppressed"], "value"] = np.nan
    got = _reasons(df, {"A", "B", "C"}, 3)
    assert got[("A", "el")] == "suppressed"
    # a second EL group goes so that network - the others cannot give A back: C's 30 rather than B's 12, which
    # would itself be narrowed to a handful of students beside A's (candidates far from the threshold first)
    assert got[("C", "el")] == "complementary" and got[("B", "el")] == ""
    assert got[("A", "non_el")] == "complementary" and got[("C", "non_el")] == "complementary"
    assert got[("B", "non_el")] == "" and got[("network", "el")] == ""


def test_target_rows_hide_small_sides():
    tr = pd.DataFrame([{
        "org_code": "A", "org_level": "school", "subgroup": "el", "target_id": "state_gap", "subject": "ela",
        "metric": "pct_meeting_or_exceeding", "source": "student", "baseline_year": 2019, "baseline_value": -20.0,
        "current_year": 2024, "current_value": -10.0, "change_abs": 10.0, "change_rel_pct": -50.0,
        "target_value": -16.0, "progress_pct": 250.0, "rating": 4, "rating_label": "Sustainable", "status": "met",
        "ci_low": 2.0, "ci_high": 18.0, "p_value": 0.01, "n_baseline": 12, "n_current": 7, "flags": "small_n",
        "grade": "03-08", "status_reason": "n below the minimum of 10 (baseline n=12, current n=7)",
        "peer_low": -25.0, "peer_high": 5.0, "peer_percentile": 90.0,
    }])
    cells = pd.DataFrame([
        {"org_code": "A", "org_level": "school", "subgroup": "el", "metric": "pct_meeting_or_exceeding",
         "subject": "ela", "source": "student", "school_year": y, "grade": "03-08", "withheld": w}
        for y, w in ((2019, False), (2024, True))])
    r = control_targets(tr, cells, {"state_gap": "gap_closure"}, COMPS).iloc[0]
    assert pd.isna(r["current_value"]) and pd.isna(r["n_current"]) and r["change_abs"] is None
    assert r["ci_low"] is None and r["progress_pct"] is None
    assert pd.isna(r["peer_percentile"]) and r["peer_low"] == -25.0  # the peers' own (public DESE) range stays
    assert r["baseline_value"] == -20.0 and r["n_baseline"] == 12 and r["target_value"] == -16.0
    assert r["status"] == "insufficient_data" and r["rating"] is None
    assert r["withheld"] == "current" and "suppressed_small_cell" in r["flags"] and "small_n" not in r["flags"]
    assert "n=" not in r["status_reason"]


def test_workbook_writer_roundtrip(tmp_path):
    rows = [["=SUM(A1)", 1, 2.5, None, True, "a < b & c", " lead", "+1", "-x", "@y", "ok\x01"],
            ["plain", -3, float("nan"), "", False, "é ü 中", "x", "", "", "", ""]]
    header = ["a", "b", "c", "d", "e", "f", "g", "h", "i", "j", "k"]
    write_xlsx(tmp_path / "t.xlsx", [render(rows, header).sheet("data"), render([], ["x"]).sheet("second/sheet:1")],
               title="T & <t>")
    wb = openpyxl.load_workbook(tmp_path / "t.xlsx")
    ws = wb["data"]
    assert [c.value for c in ws[1]] == header
    assert ws["A2"].value == "=SUM(A1)" and ws["A2"].data_type == "s" and ws["A2"].quotePrefix
    assert ws["B2"].value == 1 and ws["C2"].value == 2.5 and ws["D2"].value is None and ws["E2"].value == "TRUE"
    assert ws["D3"].value is None
    assert ws["F2"].value == "a < b & c" and ws["G2"].value == " lead" and ws["K2"].value == "ok"
    assert ws["F3"].value == "é ü 中" and ws["C3"].value is None
    assert wb.sheetnames == ["data", "second_sheet_1"]
    write_lines(tmp_path / "t.csv", render(rows, header).csv_lines())
    with open(tmp_path / "t.csv", encoding="utf-8-sig", newline="") as fh:
        got = list(csv.reader(fh))
    assert got[1][0] == "'=SUM(A1)" and got[1][7] == "'+1" and got[1][8] == "'-x" and got[1][9] == "'@y"
    assert got[2][1] == "-3"


def test_workbook_and_csv_written_in_chunks_equal_one_piece(tmp_path, monkeypatch):
    """Sheets and CSVs are written a chunk of rows at a time (a statewide network sheet held whole took GBs);
    every chunk size gives the same bytes: zip members (compressed), CSV lines, a wrapped column's styles."""
    from equity_outcomes.publish import workbook

    rng = np.random.default_rng(7)
    rows = [[f"school {i} é" if i % 3 else f"=x{i}", int(rng.integers(0, 99)), float(rng.random()), "note " * (i % 5)]
            for i in range(53)]
    header = ["name", "n", "value", "note"]

    def written(chunk: int, folder: Path) -> dict[str, tuple]:
        monkeypatch.setattr(workbook, "CHUNK_ROWS", chunk)
        workbook.write_xlsx(folder / "t.xlsx", [render(rows, header).sheet("data"),
                                                render(rows[:9], header).sheet("notes", wrap={3})])
        write_lines(folder / "t.csv", render(rows, header).csv_lines())
        with zipfile.ZipFile(folder / "t.xlsx") as z:  # the compressed bytes of each member, as stored
            members = {i.filename: (i.compress_size, i.CRC, z.read(i)) for i in z.infolist()
                       if i.filename != "docProps/core.xml"}
        return {**members, "csv": (folder / "t.csv").read_bytes()}

    one = written(10**6, tmp_path / "one")
    assert b's="3"' in one["xl/worksheets/sheet2.xml"][2]  # the wrapped notes column is styled
    for chunk in (1, 7, 53):
        assert written(chunk, tmp_path / str(chunk)) == one
    wb = openpyxl.load_workbook(tmp_path / "7" / "t.xlsx")
    assert [c.value for c in wb["data"]["A"]][1:4] == ["=x0", "school 1 é", "school 2 é"]
    assert wb["data"].max_row == 54


def test_a_slice_of_a_rendered_table_is_its_rows_rendered_alone(monkeypatch):
    """A school's sheet and CSV are a slice of the network's table, rendered once: the same text as its rows rendered
    alone (numbered from 2), and the bytes counted beforehand (ZIP64) are the bytes joined."""
    from equity_outcomes.publish import workbook

    monkeypatch.setattr(workbook, "CHUNK_ROWS", 7)
    header = ["org", "n", "text", "value"]
    rows = [[f"s{i // 9}", i * 37, "é" * (i % 4) or None, 1.5 if i % 5 == 0 else float("nan")] for i in range(40)]
    whole = workbook.render(rows, header)
    for start, stop in [(0, 40), (3, 17), (9, 18), (39, 40), (5, 5)]:
        alone = workbook.render(rows[start:stop], header)
        xml = "".join(whole.xml_chunks(start, stop))
        assert xml == "".join(alone.xml_chunks(0, stop - start))
        assert whole.xml_bytes(start, stop) == len(xml.encode("utf-8"))
        assert list(whole.csv_lines(start, stop))[1:] == list(alone.csv_lines())[1:]
        assert xml.startswith('<row r="2"><c r="A2"') or start == stop
    assert "".join(workbook.render([], []).xml_chunks(0, 0)) == ""


def _published_text(out: Path) -> dict[str, str]:
    """Every page and CSV of a publication, its build time blanked."""
    stamp = re.compile(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2} UTC")
    return {str(p.relative_to(out)): stamp.sub("", p.read_text(encoding="utf-8"))
            for p in sorted(out.rglob("*")) if p.suffix in (".html", ".csv")}


def test_row_order_of_target_results_changes_no_published_file(site, tmp_path):
    """The same results stored in the reverse order publish the same files (a tie between two subgroups' lowest
    ratings fell to whichever row the warehouse returned first)."""
    path = tmp_path / "reversed.duckdb"
    path.write_bytes(site["path"].read_bytes())
    con = duckdb.connect(str(path))
    con.execute("CREATE OR REPLACE TABLE target_results AS SELECT * FROM target_results ORDER BY rowid DESC")
    con.close()
    publish_scorecards(path, tmp_path / "reversed")
    assert _published_text(tmp_path / "reversed") == _published_text(site["out"])


def test_lowest_rating_ties_do_not_follow_the_rows_order():
    """Gap targets show the lowest rating of their subgroups; between equal ratings the pick must not depend on the
    order the warehouse lists the rows in (a +1 year run and a full rebuild list the same rows differently)."""
    from equity_outcomes.publish.html import lowest

    rows = [{"subgroup": "el", "rating": None, "status": "insufficient_data"},
            {"subgroup": "latino", "rating": 3, "status": "met_not_distinguishable"},
            {"subgroup": "swd", "rating": 3, "status": "met_not_distinguishable"},
            {"subgroup": "low_income", "rating": 3, "status": "moving_toward"}]
    picks = {(lowest(o)["subgroup"], lowest(o)["status"]) for o in (rows, rows[::-1], rows[2:] + rows[:2])}
    assert picks == {("latino", "met_not_distinguishable")}
    unrated = [{"subgroup": g, "rating": None, "status": "insufficient_data"} for g in ("swd", "el", "black")]
    assert {lowest(o)["subgroup"] for o in (unrated, unrated[::-1])} == {"black"}


def test_records_are_to_dict_with_missing_as_none():
    """html.records builds rows column by column: the same values and types as DataFrame.to_dict, NaN/NA None."""
    from equity_outcomes.publish.html import records

    df = pd.DataFrame({
        "i": np.array([1, 2, 3], dtype=np.int32), "f": [1.5, np.nan, 2.0], "b": [True, False, True],
        "I": pd.array([1, None, 3], dtype="Int64"), "B": pd.array([True, None, False], dtype="boolean"),
        "o": ["x", None, np.float64(2.5)], "n": [np.int64(7), np.nan, pd.NA], "c": pd.Categorical(["a", None, "a"]),
        "d": pd.to_datetime(["2024-01-01", None, "2025-01-01"]), "s": pd.array(["p", None, "q"], dtype="string"),
        "t": ["x", np.nan, pd.NA], "e": [None, np.nan, None],  # text and blanks only: records' path without a loop
    })
    want = [{k: None if v is pd.NA or (isinstance(v, float) and v != v) else v for k, v in r.items()}
            for r in df.to_dict("records")]
    got = records(df)
    assert got == want
    assert [[type(v) for v in r.values()] for r in got] == [[type(v) for v in r.values()] for r in want]
    assert [r["t"] for r in got] == ["x", None, None] and [r["e"] for r in got] == [None, None, None]
    assert got[1]["o"] is None and got[1]["I"] is None and got[0]["o"] == "x" and type(got[2]["o"]) is float
    empty = records(pd.DataFrame(index=range(2)))
    assert empty == [{}, {}] and empty[0] is not empty[1]


def test_vega_bundle_made_in_a_child_process_is_the_same():
    from equity_outcomes.publish.charts import BundleLater, vega_bundle

    vega_bundle.cache_clear()
    later = BundleLater()  # nothing cached here: a child process makes it
    assert later.child is not None
    assert later() == vega_bundle()
    later.close()  # after the bundle was taken: nothing to stop
    assert later.child.returncode == 0
    assert BundleLater().child is None  # made once per process


def test_a_failed_publication_stops_its_bundle_child(tmp_path):
    from equity_outcomes.publish.charts import vega_bundle

    vega_bundle.cache_clear()  # so that publish starts a child
    broken = tmp_path / "broken.duckdb"
    with duckdb.connect(str(broken)) as con:
        con.execute("CREATE TABLE metric_values (x INTEGER)")  # none of its columns: reading it fails
    before = _live_children()
    with pytest.raises(duckdb.Error):
        publish_scorecards(broken, tmp_path / "site")
    assert _live_children() <= before  # not left blocked on its 900 KB of output until this process ends
    assert not (tmp_path / "site").exists()


def _live_children() -> set[int]:
    """This process's children that are not zombies, from /proc."""
    live = set()
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            state, ppid = stat.read_text().rsplit(")", 1)[1].split()[:2]
        except (OSError, IndexError):
            continue
        if int(ppid) == os.getpid() and state != "Z":
            live.add(int(stat.parent.name))
    return live


def test_school_pages_written_by_a_child_process_are_those_written_here(site, tmp_path, monkeypatch):
    """A child writes the school pages beside the exports (2 processes) or the publishing process writes them
    (EQUITY_OUTCOMES_PAGE_PROCESSES=1): every published file the same bytes (build times blanked, workbooks by
    their sheets), every byte written counted."""
    from equity_outcomes.publish.school import PROCESSES_ENV, SchoolPages

    summaries = {}
    for n in ("1", "2"):
        monkeypatch.setenv(PROCESSES_ENV, n)
        pages = SchoolPages()
        assert (pages.child is not None) == (n == "2")
        pages.close()
        summaries[n] = publish_scorecards(site["path"], tmp_path / n)
    for n, summary in summaries.items():  # the child's pages counted
        assert summary["bytes"] == sum(p.stat().st_size for p in (tmp_path / n).rglob("*") if p.is_file())
    one, two = _published_text(tmp_path / "1"), _published_text(tmp_path / "2")
    assert len([f for f in one if f.startswith("schools/")]) == site["summary"]["n_pages"] - 1 and one == two
    for book in sorted((tmp_path / "1" / "exports").glob("*.xlsx")):
        assert _sheets(book) == _sheets(tmp_path / "2" / "exports" / book.name)


def _sheets(book: Path) -> list[list[tuple]]:
    """A workbook's cells, the build time (notes sheet, row built_at) blanked as in _published_text."""
    wb = openpyxl.load_workbook(book, read_only=True)
    try:
        return [[row if row[:1] != ("built_at",) else row[:2] for row in ws.values] for ws in wb]
    finally:
        wb.close()


def test_a_school_page_failing_in_the_child_names_its_school(site, tmp_path, monkeypatch):
    from equity_outcomes.errors import EquityOutcomesError
    from equity_outcomes.publish.data import load_site
    from equity_outcomes.publish.school import PROCESSES_ENV, SchoolPages, page_processes
    from equity_outcomes.warehouse import connect_read_only

    con = connect_read_only(site["path"])
    try:
        data = load_site(con, schools=None, built_at="now", say=lambda _m: None)
    finally:
        con.close()
    monkeypatch.setenv(PROCESSES_ENV, "2")
    pages = SchoolPages()
    try:
        code = data.pages[0]
        pages.start(data, [(tmp_path / "fine.html", code, (data.targets_by_org.get(code, []), {}, None, None)),
                           (tmp_path / "bad.html", "BROKEN01", ([{"no target_id": 1}], {}, None, None))])
        with pytest.raises(EquityOutcomesError, match=r"(?s)school page BROKEN01: .*KeyError: 'target_id'"):
            pages.finish()
    finally:
        pages.close()
    assert (tmp_path / "fine.html").stat().st_size > 1000 and not (tmp_path / "bad.html").exists()
    pages = SchoolPages()  # a page whose arguments cannot be sent: named, not left out
    try:
        pages.start(data, [(tmp_path / "odd.html", "ODD00001", ([{"target_id": lambda: 1}], {}, None, None))])
        with pytest.raises(EquityOutcomesError, match=r"school page ODD00001: not given to the child .*pickle"):
            pages.finish()
    finally:
        pages.close()
    monkeypatch.setenv(PROCESSES_ENV, "3")
    with pytest.raises(EquityOutcomesError, match="is not 1 or 2"):
        page_processes()

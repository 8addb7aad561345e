"""Everything published is safe: no student ids, no cell under its metric's minimum n, no withheld cell that can be
recovered from a complement or from a total. Scans every file in the site (HTML, JSON inside HTML, JS, CSV, XLSX)."""

from __future__ import annotations

import csv
import json
import re
import zipfile
from collections import defaultdict
from pathlib import Path

import duckdb
import openpyxl
import pytest

from equity_outcomes.publish import publish_scorecards
from equity_outcomes.publish.charts import expand

from .publish_fixture import build_fixture_warehouse

COMPLEMENT = {"low_income": "non_low_income", "black": "non_black", "latino": "non_latino", "el": "non_el",
              "swd": "non_swd"}
COMPLEMENT.update({v: k for k, v in COMPLEMENT.items()})


@pytest.fixture(scope="module")
def published(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("safety")
    info = build_fixture_warehouse(tmp / "wh.duckdb", 9, seed=11)
    out = tmp / "site"
    publish_scorecards(info["path"], out)
    con = duckdb.connect(str(info["path"]), read_only=True)
    mv = con.execute("SELECT * FROM metric_values").df()
    con.close()
    truth = {}
    for r in mv.to_dict("records"):
        key = (r["org_code"], int(r["school_year"]), r["subgroup"], r["metric"],
               r["subject"] if isinstance(r["subject"], str) else None, r["grade"], r["source"])
        truth[key] = r
    return {**info, "out": out, "truth": truth}


def _files(out: Path) -> list[Path]:
    return sorted(p for p in out.rglob("*") if p.is_file())


def _xlsx_cells(path: Path):
    wb = openpyxl.load_workbook(path, read_only=True)
    for ws in wb.worksheets:
        rows = ws.iter_rows(values_only=True)
        header = next(rows, None)
        for row in rows:
            yield ws.title, dict(zip(header, row, strict=False))


def _csv_rows(path: Path):
    with open(path, encoding="utf-8-sig", newline="") as fh:
        yield from csv.DictReader(fh)


def test_no_student_ids_anywhere(published):
    ids = published["student_ids"]
    assert len(ids) >= 100
    pattern = re.compile("|".join(re.escape(i) for i in ids))
    files = _files(published["out"])
    assert any(p.suffix == ".xlsx" for p in files) and any(p.suffix == ".csv" for p in files)
    for p in files:
        if p.suffix == ".xlsx":
            with zipfile.ZipFile(p) as z:
                for name in z.namelist():
                    assert not pattern.search(z.read(name).decode("utf-8", "replace")), (p, name)
            for _sheet, row in _xlsx_cells(p):
                assert not any(isinstance(v, str) and pattern.search(v) for v in row.values()), (p, row)
        else:
            text = p.read_text(encoding="utf-8", errors="replace")
            assert not pattern.search(text), p
    # nothing that looks like a student-level column either
    for p in files:
        if p.suffix == ".csv":
            with open(p, encoding="utf-8-sig") as fh:
                header = next(csv.reader(fh), [])
            assert "student_id" not in header, p


def _check_cell(truth, min_n, org, year, subgroup, metric, subject, grade, source, value, n, where):
    cell = truth.get((org, int(year), subgroup, metric, subject or None, grade, source))
    assert cell is not None, (where, org, year, subgroup, metric, subject, grade, source)
    assert cell["n_students"] >= min_n[metric], ("published a small cell", where, cell)
    assert not cell["is_suppressed"], where
    if n not in (None, ""):
        assert int(float(n)) == cell["n_students"], where
    assert float(value) == pytest.approx(cell["value"], abs=0.01), where


def _trend_cells(rows, years):
    """Long cells (year, value, n) of wide trend rows."""
    for r in rows:
        if r["subgroup"] == "state":
            continue
        for y in years:
            yield r, y, r[str(y)], r[f"n_{y}"]


def test_no_published_cell_below_min_n(published):
    out, truth, min_n = published["out"], published["truth"], published["min_n"]
    checked = 0
    # trend exports (CSV and the same table in each workbook)
    for code in published["network_codes"]:
        rows = list(_csv_rows(out / "exports" / code / "trends.csv"))
        years = [c for c in rows[0] if c.isdigit()]
        for r, y, v, n in _trend_cells(rows, years):
            if v != "":
                _check_cell(truth, min_n, code, y, r["subgroup"], r["metric"], r["subject"], r["grade"],
                            r["source"], v, n, f"{code}/trends.csv")
                checked += 1
            else:
                assert n == "", r
        for sheet, r in _xlsx_cells(out / "exports" / f"{code}.xlsx"):
            if sheet == "trends" and r["subgroup"] != "state":
                for y in years:
                    if r[y] is not None:
                        _check_cell(truth, min_n, code, y, r["subgroup"], r["metric"], r["subject"], r["grade"],
                                    r["source"], r[y], r[f"n_{y}"], f"{code}.xlsx")
            if sheet == "scorecard":
                for side in ("baseline", "current"):
                    if r[f"n_{side}"] is not None:
                        assert r[f"n_{side}"] >= min_n[r["metric"]], (code, r)
    rows = list(_csv_rows(out / "exports" / "network" / "network_trends.csv"))
    years = [c for c in rows[0] if c.isdigit()]
    for r, y, v, n in _trend_cells(rows, years):
        if v != "":
            _check_cell(truth, min_n, "network", y, r["subgroup"], r["metric"], r["subject"], r["grade"],
                        r["source"], v, n, "network_trends.csv")
    for r in _csv_rows(out / "exports" / "network" / "school_results.csv"):
        for side in ("baseline", "current"):
            if r[f"n_{side}"] != "":
                assert float(r[f"n_{side}"]) >= min_n[r["metric"]], r
            if r[f"n_{side}"] == "" and r["withheld"] in (side, "both"):
                assert r[f"{side}_value"] == "", r
    # every value drawn in a chart is a published cell of the warehouse
    for page in [out / "index.html", *sorted((out / "schools").glob("*.html"))]:
        org_default = "network" if page.name == "index.html" else page.stem
        for raw in re.findall(r'<script type="application/json" id="[^"]+">(.*?)</script>', page.read_text("utf-8")):
            p = json.loads(raw)
            meta = p.get("meta")
            if not meta:
                continue
            org = meta.get("org", org_default)
            data = expand(p["data"])
            for row in data.get("series", []):
                if row.get("kind") == "state" or "value" not in row:
                    continue
                sg = meta.get("subgroup") or meta["groups"][row["group"]]
                grade = meta.get("grade") or meta["grades"][row["series"]]
                _check_cell(truth, min_n, org, row["year"], sg, meta["metric"], meta["subject"], grade,
                            meta["source"], row["value"], row.get("n"), f"chart in {page.name}")
                checked += 1
            for row in data.get("series", []):
                if "gap" in row:  # gap charts: the group's own cell must be published
                    sg = meta["groups"][row["group"]]
                    cell = truth[(org, int(row["year"]), sg, meta["metric"], meta["subject"], meta["grade"],
                                  meta["source"])]
                    assert cell["n_students"] >= min_n[meta["metric"]] and not cell["is_suppressed"]
    # the n printed next to values on pages
    for page in sorted((out / "schools").glob("*.html")):
        for n in re.findall(r"n=([\d,]+)", page.read_text("utf-8")):
            assert int(n.replace(",", "")) >= min(min_n.values()), page
    assert checked > 500


def test_withheld_cells_cannot_be_recovered(published):
    """For every school x year x metric x subject x grade x source: when a subgroup is withheld, its complement
    publishes neither value nor n (else all - complement = the withheld group); across the network: a published
    network cell never has exactly one withheld network school (else network - the others = that school)."""
    out = published["out"]
    per_cell: dict[tuple, dict] = defaultdict(dict)
    for code in published["network_codes"]:
        rows = list(_csv_rows(out / "exports" / code / "trends.csv"))
        years = [c for c in rows[0] if c.isdigit()]
        for r, y, v, n in _trend_cells(rows, years):
            if v == "" and n == "" and "withheld" not in r["note"]:
                continue  # no data that year
            per_cell[(code, y, r["metric"], r["subject"], r["grade"], r["source"])][r["subgroup"]] = (v, n)
    pairs_checked = withheld_seen = 0
    for cell in per_cell.values():
        for sg, (v, n) in cell.items():
            if v == "":
                withheld_seen += 1
                assert n == ""
                comp = COMPLEMENT.get(sg)
                if comp in cell:
                    pairs_checked += 1
                    cv, cn = cell[comp]
                    all_row = cell.get("all")
                    if all_row is not None and all_row[1] != "":
                        assert cv == "" and cn == "", ("complement recovers", sg, cell)
    assert withheld_seen > 50 and pairs_checked > 20
    # across schools
    rows = list(_csv_rows(out / "exports" / "network" / "network_trends.csv"))
    years = [c for c in rows[0] if c.isdigit()]
    net = {(y, r["subgroup"], r["metric"], r["subject"], r["grade"], r["source"]): v
           for r, y, v, _n in _trend_cells(rows, years)}
    withheld_by_key: dict[tuple, int] = defaultdict(int)
    present_by_key: dict[tuple, int] = defaultdict(int)
    for (_code, year, metric, subject, grade, source), cell in per_cell.items():
        for sg, (v, _n) in cell.items():
            k = (year, sg, metric, subject, grade, source)
            present_by_key[k] += 1
            withheld_by_key[k] += v == ""
    singles = [k for k, w in withheld_by_key.items() if w == 1 and present_by_key[k] > 1 and net.get(k, "") != ""]
    assert singles == []
    # target rows: a withheld side shows no value and nothing derived from it
    for r in _csv_rows(out / "exports" / "network" / "school_results.csv"):
        if r["withheld"] in ("current", "both"):
            assert r["current_value"] == r["n_current"] == r["change_abs"] == r["ci_low"] == "", r
        if r["withheld"] in ("baseline", "both") and r["target_id"] not in ("perceptions", "competencies",
                                                                             "teacher_efficacy", "dual_enrollment"):
            assert r["baseline_value"] == r["target_value"] == r["change_rel_pct"] == "", r


def test_only_aggregate_tables_are_read(published, monkeypatch, tmp_path):
    """The publisher never queries a student-level table (the decoy int_student_outcomes)."""
    seen: list[str] = []
    real = duckdb.DuckDBPyConnection.execute

    class Spy:
        def __init__(self, con):
            self._con = con

        def execute(self, sql, *a, **k):
            seen.append(sql)
            return self._con.execute(sql, *a, **k)

        def __getattr__(self, name):
            return getattr(self._con, name)

    import equity_outcomes.publish.scorecards as sc

    orig = sc.connect_read_only
    monkeypatch.setattr(sc, "connect_read_only", lambda p: Spy(orig(p)))
    publish_scorecards(published["path"], tmp_path / "site")
    assert seen and not any("int_student" in s or "stg_" in s or "raw_student" in s for s in seen)
    assert real is duckdb.DuckDBPyConnection.execute

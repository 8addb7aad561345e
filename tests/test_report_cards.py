"""Report cards (#21): PDF per school and network, rating history, the offline year selector, honest labels.

The fixture warehouse is judged three times (2022, 2023, 2024) by the real evaluation, each kept in
target_results_history by the flow's own history writer, then published with ``pdf=True``: the PDFs are rendered
back to images with pdftoppm (not blank) and read with pdftotext (key texts); headless Chromium switches the
year selector on a school page and on the network page. Screenshots go to tests/_output/screenshots/.
"""

from __future__ import annotations

import re
import shutil
import subprocess

import duckdb
import pytest

from equity_outcomes.publish import honest
from equity_outcomes.publish.pdf import chromium_path, page_count, pdf_settings
from equity_outcomes.warehouse import connect

from .test_browser import SHOTS, Browser, serve

YEARS = (2022, 2023, 2024)
HAS_CHROMIUM = chromium_path() is not None
HAS_POPPLER = shutil.which("pdftoppm") is not None and shutil.which("pdftotext") is not None


def _judge_years(path) -> None:
    from equity_outcomes.judge import evaluate_targets
    from equity_outcomes.stages import _keep_history

    for year in YEARS:  # the backfill's order: each year judged, then kept (the last one stays in target_results)
        con = connect(path)
        try:
            evaluate_targets(con, current_year=year)
            _keep_history(con, year)
        finally:
            con.close()


def _add_district_rows(path) -> None:
    """DESE's district rows as the exports carry them (org_level 'district'): the schools' DESE rows pooled per
    district, one of them under the size rule."""
    con = connect(path)
    try:
        con.execute("""
            INSERT INTO metric_values BY NAME
            SELECT r.district_code AS org_code, 'district' AS org_level, m.school_year, m.subgroup, m.metric,
                   m.subject, m.grade, sum(m.n_students) AS n_students,
                   round(sum(m.value * m.n_students) / sum(m.n_students), 1) AS value, false AS is_suppressed,
                   m.source
            FROM metric_values m JOIN roster r USING (org_code)
            WHERE m.org_level = 'school' AND m.subgroup = 'all' AND m.value IS NOT NULL AND m.n_students > 0
            GROUP BY ALL""")
        con.execute("UPDATE metric_values SET n_students = 4 WHERE org_level = 'district' AND metric = ("
                    "SELECT min(metric) FROM metric_values WHERE org_level = 'district')")
    finally:
        con.close()


@pytest.fixture(scope="module")
def published(tmp_path_factory):
    from equity_outcomes.publish import publish_scorecards

    from .publish_fixture import build_fixture_warehouse

    tmp = tmp_path_factory.mktemp("report_cards")
    info = build_fixture_warehouse(tmp / "wh.duckdb", 6)
    _judge_years(info["path"])
    _add_district_rows(info["path"])
    out = tmp / "site"
    messages: list[str] = []
    summary = publish_scorecards(info["path"], out, progress=messages.append, pdf=HAS_CHROMIUM)
    return {**info, "out": out, "summary": summary, "messages": messages}


# --- honest labels ---------------------------------------------------------------------------------------------------
def test_state_and_peer_labels_name_their_count_and_refuse_small_comparisons():
    least_peers = honest.settings()["min_peers"]
    least_schools = honest.settings()["min_schools_for_median"]
    median = {"state_change_rel_pct": 25.1, "state_change_source": "median_of_schools"}
    assert honest.state_context({**median, "n_state_schools": 1712}) == "State +25.1% (median of 1,712 schools in MA)"
    assert honest.state_context({**median, "n_state_schools": least_schools - 1}).startswith("no state comparison")
    assert "not recorded" in honest.state_context(median)  # no count, no aggregate
    dese = honest.state_context({"state_change_rel_pct": -3.0, "state_change_source": "dese_state_row"})
    assert dese == "State -3.0% (DESE state figure, all MA students)"
    assert honest.peer_context({"peer_change_rel_pct": 4.0, "n_peers": 2}) == \
        f"no peer comparison (2 schools similar; at least {least_peers} needed)"
    assert honest.peer_context({"peer_change_rel_pct": 4.0, "n_peers": least_peers}) == \
        f"Similar schools +4.0% (median of {least_peers} schools)"
    assert honest.peer_context({"peer_change_rel_pct": None, "n_peers": 0}) == "no peer comparison"
    peers = {"peer_change_rel_pct": 4.0, "n_peers": least_peers, "peer_measure": "change_abs", "peer_low": -2.5,
             "peer_high": 6.0, "peer_percentile": 83.3}
    assert honest.peer_context(peers) == (f"Similar schools +4.0% (median of {least_peers} schools); peers' changes "
                                          "-2.5 pts to 6.0 pts; this school: 83rd percentile")


def test_relative_change_from_a_tiny_baseline_is_shown_in_points(published):
    from equity_outcomes.publish.data import Site
    from equity_outcomes.publish.html import change_text
    from equity_outcomes.publish.labels import load_targets

    targets = load_targets()
    rel = next(t for t in targets.values() if t.rule == "relative_change")
    site = Site(built_at="", targets=targets, metrics={}, metric_notes=None, subgroups={}, roster={}, pages=[],
                network_codes=set(), targets_safe=None, mv_safe=None, readiness=None, vintage=None, has_roster=False)
    floor = honest.settings()["relative_change_floor"]
    row = {"target_id": rel.id, "metric": rel.metrics[0], "baseline_value": floor / 4, "change_abs": -0.2,
           "change_rel_pct": -57.1, "ci_low": None, "ci_high": None}
    main, note = change_text(site, row)
    assert main == "-0.2 pts" and "%" not in main and "too small for a relative target" in note and "%" not in note
    main, _note = change_text(site, {**row, "baseline_value": floor * 4})
    assert main.startswith("-57.1%")


def test_pages_show_no_aggregate_without_its_count(published):
    least = honest.settings()["min_peers"]
    pages = [published["out"] / "index.html", *sorted((published["out"] / "schools").glob("*.html"))]
    seen_state = 0
    for p in pages:
        html = p.read_text(encoding="utf-8")
        assert "median of MA schools" not in html and not re.search(r"Similar schools [+-][\d.]+%</span>", html)
        for n in re.findall(r"Similar schools [+-][\d.]+% \(median of (\d+) schools\)", html):
            assert int(n) >= least, p.name
        for ctx in re.findall(r'data-field="state_change_rel_pct">([^<]*)<', html):
            seen_state += 1
            assert ctx.startswith("no state comparison") or re.search(r"\((median of [\d,]+ schools in MA|DESE "
                                                                      r"state figure, all MA students)\)", ctx), ctx
    assert seen_state > 0


def test_missing_figures_say_why(published):
    html = "".join(p.read_text(encoding="utf-8") for p in (published["out"] / "schools").glob("*.html"))
    assert html.count('class="n why">withheld to protect a small group') > 0


def test_school_district_and_state_side_by_side(published):
    con = duckdb.connect(str(published["path"]), read_only=True)
    code = published["network_codes"][0]
    district, = con.execute("SELECT district_code FROM roster WHERE org_code = ?", [code]).fetchone()
    small = con.execute("SELECT DISTINCT metric FROM metric_values WHERE org_level = 'district' AND n_students = 4"
                        ).fetchall()
    html = (published["out"] / "schools" / f"{code}.html").read_text(encoding="utf-8")
    section = html.split('<section id="context">')[1].split("</section>")[0]
    assert "District: " in section and "<th scope=\"col\" class=\"num\">State</th>" in section
    checked = 0
    for metric, subject, year, value in re.findall(
            r'<tr data-metric="([^"]+)" data-subject="([^"]*)">.*?<td class="num">(\d{4})</td><td class="num">.*?'
            r'</td><td class="num">([^<]*)<', section):
        want = con.execute(  # the grade the school's own target row is judged on (MCAS: 03-08 or 10)
            "SELECT value FROM metric_values WHERE org_level = 'district' AND org_code = ? AND metric = ? AND "
            "coalesce(subject, '') = ? AND school_year = ? AND n_students >= 10 AND grade = coalesce(("
            "  SELECT min(grade) FROM target_results WHERE org_code = ? AND metric = ? AND coalesce(subject, '') = ?"
            "  AND subgroup = 'all'), 'all') LIMIT 1",
            [district, metric, subject, int(year), code, metric, subject]).fetchall()
        if want and value != "\u2014":
            assert abs(float(value.rstrip("%")) - want[0][0]) <= 0.051, (metric, subject, value, want)
            checked += 1
        if (metric,) in small:
            assert value == "\u2014"  # the district cell under the size rule is withheld
    con.close()
    assert checked >= 3


# --- rating history and the year selector --------------------------------------------------------------------------
def test_history_went_through_the_disclosure_control_and_is_on_every_page(published):
    out = published["out"]
    con = duckdb.connect(str(published["path"]), read_only=True)
    years = [r[0] for r in con.execute("SELECT DISTINCT evaluated_year FROM target_results_history ORDER BY 1"
                                       ).fetchall()]
    con.close()
    assert years == list(YEARS)
    for p in [out / "index.html", *(out / "schools").glob("*.html")]:
        html = p.read_text(encoding="utf-8")
        assert '<select id="year-select">' in html, p.name
        assert sorted(int(y) for y in re.findall(r'<div class="year-panel" data-year="(\d+)"', html)) == years
        assert 'id="history"' in html and '"t":"history' in html, p.name
        assert re.search(r'<div class="year-panel" data-year="2024">', html)  # the latest shown, others hidden
        assert len(re.findall(r'<div class="year-panel" data-year="\d+" hidden>', html)) == len(years) - 1
    # a past year's row resting on a withheld cell is blank there too (the same control as the current rows)
    from equity_outcomes.publish.data import load_site
    from equity_outcomes.warehouse import connect_read_only

    con = connect_read_only(published["path"])
    try:
        site = load_site(con, schools=None, built_at="", say=lambda _m: None)
    finally:
        con.close()
    h = site.history_safe
    assert set(h["evaluated_year"]) == set(YEARS) and "withheld" in h.columns
    past = h[(h["evaluated_year"] < max(YEARS)) & (h["withheld"].isin(["current", "both"]))]
    assert len(past) and past["current_value"].isna().all() and past["change_abs"].isna().all()


@pytest.mark.browser
def test_year_selector_switches_years_offline_in_chromium(published):
    if not HAS_CHROMIUM:
        pytest.skip("chromium is not installed (apt-get install chromium; `make test` installs it as root)")
    out = published["out"]
    code = published["network_codes"][2]
    httpd, base = serve(out)
    browser = Browser()
    switch = """(() => { const s = document.getElementById('year-select'); s.value = '%s';
        s.dispatchEvent(new Event('change'));
        const shown = [...document.querySelectorAll('.year-panel')].filter(p => !p.hidden);
        const hist = document.querySelector('#history [data-chart]');
        return {shown: shown.map(p => p.dataset.year), text: shown.map(p => p.innerText).join(''),
                history: hist && hist.getAttribute('data-rendered'),
                marks: hist ? hist.querySelectorAll('svg path, svg rect').length : 0}; })()"""
    try:
        for name, rel in [("report_school", f"schools/{code}.html"), ("report_network", "index.html")]:
            browser.open(f"{base}/{rel}")
            assert browser.problems() == [], (name, browser.problems())
            assert all(u.startswith(base + "/") for u in browser.requests())
            latest = browser.evaluate(switch % max(YEARS))
            assert latest["shown"] == [str(max(YEARS))] and latest["history"] == "true" and latest["marks"] > 0
            browser.screenshot(SHOTS / f"{name}.png", segment=2000)
            first = browser.evaluate(switch % min(YEARS))
            assert first["shown"] == [str(min(YEARS))] and first["text"] != latest["text"], name
            browser.screenshot(SHOTS / f"{name}_{min(YEARS)}.png")
            assert browser.problems() == [], (name, browser.problems())
    finally:
        browser.close()
        httpd.shutdown()


# --- PDF report cards ----------------------------------------------------------------------------------------------
def _not_blank(png_pgm: bytes) -> float:
    """Share of non-white pixels of a binary PGM (pdftoppm -gray)."""
    m = re.match(rb"P5\s+(\d+)\s+(\d+)\s+(\d+)\s", png_pgm)
    assert m, "not a PGM"
    pixels = png_pgm[m.end():]
    return sum(1 for b in pixels[::7] if b < 200) / len(pixels[::7])


@pytest.mark.browser
def test_publish_pdf_writes_a_report_card_per_school_and_the_network(published, tmp_path):
    if not HAS_CHROMIUM:
        pytest.skip("chromium is not installed (apt-get install chromium; `make test` installs it as root)")
    if not HAS_POPPLER:
        pytest.skip("pdftoppm/pdftotext are not installed (apt-get install poppler-utils; `make test` does as root)")
    reports = published["out"] / "reports"
    expected = {"network.pdf", *(f"{c}.pdf" for c in published["network_codes"])}
    assert {p.name for p in reports.glob("*.pdf")} == expected
    assert published["summary"]["pdf"]["files"] == len(expected)
    for name in ("network.pdf", f"{published['network_codes'][1]}.pdf"):
        pdf = reports / name
        data = pdf.read_bytes()
        assert data.startswith(b"%PDF") and 1 <= page_count(data) <= int(pdf_settings()["max_pages"]) + 2, name
        pgm = subprocess.run(["pdftoppm", "-r", "40", "-gray", "-f", "1", "-l", "1", str(pdf)],
                             capture_output=True, check=True).stdout
        assert _not_blank(pgm) > 0.02, f"{name}: page 1 is blank"
        png = tmp_path / name.replace(".pdf", "")
        subprocess.run(["pdftoppm", "-r", "60", "-png", "-f", "1", "-l", "1", str(pdf), str(png)], check=True)
        SHOTS.mkdir(parents=True, exist_ok=True)
        for f in tmp_path.glob(f"{png.name}*.png"):
            shutil.copy(f, SHOTS / f"pdf_{f.name}")
        text = subprocess.run(["pdftotext", "-layout", str(pdf), "-"], capture_output=True, check=True,
                              text=True).stdout
        keys = ("Schools and targets",) if name == "network.pdf" else ("Scorecard", "School, district and state")
        for key in ("At a glance", "Rating history", "Page 1 of", "printed", "judged 2024", *keys):
            assert key in text, (name, key)
        assert re.search(r"In 2024, .* judged", text), name
        fonts = subprocess.run(["pdffonts", str(pdf)], capture_output=True, text=True).stdout.splitlines()[2:]
        assert fonts and all(" yes " in f for f in fonts), fonts  # every font embedded
    school = subprocess.run(["pdftotext", str(reports / f"{published['network_codes'][1]}.pdf"), "-"],
                            capture_output=True, text=True).stdout
    assert "<script>alert(1)</script>" in school  # the hostile name printed as text

"""The incremental yearly run (#22): a warehouse holding five school years gets a sixth; the build redoes that year
only, and every model then equals a full rebuild of all six years cell for cell (floats to 1e-9)."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest

from equity_outcomes.ingest.load import ingest_into
from equity_outcomes.models.build import LAYERS, build_models, model_files
from equity_outcomes.warehouse import connect, object_kind

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
from warehouse_diff import differing_rows  # noqa: E402  (shared with benchmarks/floor_vs_flow.py)

NEW_YEAR = 2025


@pytest.fixture(scope="module")
def network(tmp_path_factory) -> Path:
    """A small network of six years (DESE exports and readiness on), its last year's student files set aside."""
    from equity_outcomes.synth import generate_network

    root = tmp_path_factory.mktemp("incremental")
    generate_network(root / "raw", n_students=1200, n_schools=6, first_year=NEW_YEAR - 5, last_year=NEW_YEAR)
    for kind in ("student", "readiness"):  # a new year brings its readiness self-assessments too
        shutil.move(root / "raw" / kind / str(NEW_YEAR), root / f"new_{kind}")
    return root


def _models(con) -> list[str]:
    names = [p.stem for p in model_files() if p.parent.name != LAYERS[-1]]  # the evaluate layer is not a build's
    names = ["roster" if n == "stg_roster" else n for n in names]
    return [n for n in names if object_kind(con, n) is not None] + ["ref_metrics", "ref_subgroups"]


def test_adding_a_year_rebuilds_that_year_only_and_equals_a_full_rebuild(network: Path):
    raw = network / "raw"
    inc = connect(network / "incremental.duckdb")
    ingest_into(inc, [raw])
    first = build_models(inc)
    assert first.school_years is None  # a first build is a full one
    for kind in ("student", "readiness"):
        shutil.copytree(network / f"new_{kind}", raw / kind / str(NEW_YEAR))
    load = ingest_into(inc, [raw])
    assert {r.school_year for r in load.results if r.status == "loaded" and r.kind == "student"} == {NEW_YEAR}
    added = build_models(inc)
    assert added.school_years == [NEW_YEAR]
    assert inc.execute(f"SELECT count(*) FROM metric_values WHERE school_year = {NEW_YEAR} "
                       "AND source = 'student'").fetchone()[0] > 0
    models = _models(inc)
    inc.close()
    shutil.copyfile(network / "incremental.duckdb", network / "full.duckdb")
    full = connect(network / "full.duckdb")  # the same ingested data, every model rebuilt from scratch
    assert build_models(full, full_refresh=True).school_years is None
    full.close()

    con = connect(network / "compare.duckdb")
    con.execute(f"ATTACH '{network / 'incremental.duckdb'}' AS inc (READ_ONLY)")
    con.execute(f"ATTACH '{network / 'full.duckdb'}' AS fb (READ_ONLY)")
    assert {"metric_values", "int_outcome_profiles", "int_sgp_histogram", "int_sgp_medians"} <= set(models)
    differing = {t: n for t in models if (n := differing_rows(con, t, "inc", "fb"))}
    rows = {t: con.execute(f"SELECT count(*) FROM fb.{t}").fetchone()[0] for t in models}
    con.close()
    assert not differing, differing
    assert rows["metric_values"] > 0 and rows["int_outcome_profiles"] > 0 and rows["reconciliation"] > 0


def _built(summary) -> set[str]:
    return {m.split("/")[-1] for m, _, _ in summary.models}


def test_a_changed_catalog_or_roster_rebuilds_every_year(network: Path):
    """Only student files of some years make an incremental build of those years (readiness files alone: of no
    year); anything else is a full one. The incremental build leaves the models of inputs that are not a year's as
    they were, and the readiness models while no readiness file changed."""
    path = network / "incremental.duckdb"
    if not path.exists():
        pytest.skip("needs the warehouse of the test above")
    kept = {"readiness_items", "readiness_summary", "dese_context", "stg_roster"}
    con = connect(path)
    try:
        con.execute("DELETE FROM raw_student_roster WHERE rowid = (SELECT max(rowid) FROM raw_student_roster)")
        full = build_models(con)
        assert full.school_years is None and kept <= _built(full)
        con.execute(f"DELETE FROM raw_student_enrollment WHERE school_year = {NEW_YEAR - 2} AND rowid = "
                    f"(SELECT min(rowid) FROM raw_student_enrollment WHERE school_year = {NEW_YEAR - 2})")
        one_year = build_models(con)
        assert one_year.school_years == [NEW_YEAR - 2]
        assert {"metric_values", "school_grade_span", "reconciliation"} <= _built(one_year)
        assert not kept & _built(one_year)
        con.execute("DELETE FROM raw_readiness_responses WHERE rowid = (SELECT max(rowid) FROM raw_readiness_responses)")
        readiness = build_models(con)
        assert readiness.school_years == [] and {"readiness_items", "readiness_summary"} <= _built(readiness)
    finally:
        con.close()

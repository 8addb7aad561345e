"""The SQL project on dbt: every declared test (grains, not null, accepted values, relationships to the catalogs)
passes on the demo warehouse and fails on a broken one; a build that nothing changed is a no-op; a failing model
is named by its file."""

from __future__ import annotations

import re
import shutil
import time
from pathlib import Path

import pytest

from equity_outcomes.errors import EquityOutcomesError
from equity_outcomes.ingest.load import ingest_into
from equity_outcomes.models.build import build_models, check_model_tests, run_model_tests
from equity_outcomes.paths import models_dir
from equity_outcomes.warehouse import connect


@pytest.fixture
def demo_copy(demo_run, tmp_path) -> Path:
    """A copy of the demo warehouse (dbt opens it read-write; the original stays shared read-only)."""
    copy = tmp_path / "demo.duckdb"
    shutil.copyfile(demo_run["warehouse"], copy)
    return copy


@pytest.fixture
def tiny_built(tiny_raw: Path, tmp_path: Path):
    con = connect(tmp_path / "tiny.duckdb")
    ingest_into(con, [tiny_raw])
    build_models(con)
    yield con
    con.close()


def test_every_model_declares_its_grain_and_is_tested():
    schemas = "\n".join(p.read_text(encoding="utf-8") for p in models_dir().rglob("schema.yml"))
    models = [p.stem for layer in ("staging", "intermediate", "marts", "evaluate")
              for p in (models_dir() / layer).glob("*.sql")]
    assert len(models) >= 35
    for model in models:
        block = schemas.split(f"- name: {model}\n", 1)
        assert len(block) == 2, f"{model} is not declared in a schema.yml"
        assert "unique_combination" in block[1].split("- name:", 1)[0], f"{model} declares no grain test"


@pytest.mark.slow
def test_the_demo_warehouse_passes_every_model_test(demo_copy):
    """The flow built and evaluated it: the tests of the evaluate models (targets) run too."""
    results = run_model_tests(demo_copy, evaluated=True)
    assert len(results) >= 60
    assert any(name.startswith("unique_combination_target_comparisons") for name, _, _ in results)
    failed = [r for r in results if r[1] != "pass"]
    assert not failed, failed
    assert check_model_tests(demo_copy, evaluated=True) == len(results)


@pytest.mark.slow
def test_a_repeated_grain_key_fails_the_grain_test(demo_copy):
    con = connect(demo_copy)
    con.execute("INSERT INTO metric_values SELECT * FROM metric_values WHERE org_level = 'school' LIMIT 1")
    con.close()
    failing = {name for name, status, _ in run_model_tests(demo_copy) if status != "pass"}
    assert any(name.startswith("unique_combination_metric_values") for name in failing), failing
    with pytest.raises(EquityOutcomesError, match="model tests failed"):
        check_model_tests(demo_copy)


def test_an_unknown_subgroup_fails_the_catalog_relationship(tiny_built, tmp_path):
    changed = tiny_built.execute("UPDATE metric_values SET subgroup = 'left_handed' "
                                 "WHERE rowid = (SELECT min(rowid) FROM metric_values)").fetchone()[0]
    assert changed == 1
    failing = {name for name, status, _ in run_model_tests(tmp_path / "tiny.duckdb") if status != "pass"}
    assert any(name.startswith("relationships_metric_values_subgroup") for name in failing), failing


def test_a_build_that_nothing_changed_is_a_no_op(tiny_built):
    started = time.perf_counter()
    again = build_models(tiny_built, skip_unchanged=True)
    assert again.skipped and not again.models
    assert time.perf_counter() - started < 10
    tiny_built.execute("DELETE FROM raw_student_enrollment WHERE student_id = "
                       "(SELECT min(student_id) FROM raw_student_enrollment)")
    changed = build_models(tiny_built, skip_unchanged=True)
    assert not changed.skipped and changed.models


def test_an_upgrade_of_the_code_is_not_current(tiny_built, tmp_path, monkeypatch):
    """After a new version of the package (here: one Python file of a copy of it edited) the marts are not
    current, so a run over unchanged files rebuilds, evaluates and publishes instead of a no-op."""
    from equity_outcomes.models import build
    from equity_outcomes.paths import PACKAGE_DIR

    assert build.is_current(tiny_built) and not build.is_current(tiny_built, engine="spark")
    package = tmp_path / "package"
    shutil.copytree(PACKAGE_DIR, package, ignore=shutil.ignore_patterns("__pycache__", "config"))
    if (PACKAGE_DIR / "config").is_symlink():  # a checkout: config/ is beside the package, hashed on its own
        (package / "config").symlink_to((PACKAGE_DIR / "config").resolve())
    else:
        shutil.copytree(PACKAGE_DIR / "config", package / "config")
    monkeypatch.setattr(build, "PACKAGE_DIR", package)
    assert build.is_current(tiny_built)  # the same files elsewhere
    (package / "judge" / "evaluate.py").write_text((package / "judge" / "evaluate.py").read_text() + "# v2\n")
    assert not build.is_current(tiny_built)


def test_a_run_is_a_no_op_only_with_the_same_evaluation_settings(tiny_built, tmp_path):
    from equity_outcomes import stages
    from equity_outcomes.paths import config_dir

    path = tmp_path / "tiny.duckdb"
    assert not stages.is_up_to_date(path)  # built, never evaluated
    stages.post_build_stages(path)
    assert stages.is_up_to_date(path)
    assert not stages.is_up_to_date(path, baseline_year=2021)
    mine = tmp_path / "targets.yaml"
    mine.write_text((config_dir() / "targets.yaml").read_text(encoding="utf-8") + "# my copy\n", encoding="utf-8")
    assert not stages.is_up_to_date(path, targets_file=mine)
    assert not stages.is_up_to_date(path, targets_file=tmp_path / "missing.yaml")  # the evaluation will say why
    stages.post_build_stages(path, targets_file=mine)
    assert stages.is_up_to_date(path, targets_file=mine) and not stages.is_up_to_date(path)


def test_a_failing_model_is_named_by_its_file(tiny_built):
    tiny_built.execute("ALTER TABLE raw_student_enrollment DROP COLUMN days_absent")
    with pytest.raises(EquityOutcomesError, match=r"staging/stg_enrollment\.sql|intermediate/int_student_outcomes"):
        build_models(tiny_built)


def test_after_a_build_another_process_can_open_the_warehouse(tiny_raw, tmp_path):
    """dbt-duckdb keeps its connection for the next command; the build closes it, so a notebook or the API in
    another process can read the file once our own connection is closed."""
    import subprocess
    import sys

    path = tmp_path / "w.duckdb"
    con = connect(path)
    ingest_into(con, [tiny_raw])
    build_models(con)
    con.close()
    probe = ("import duckdb, sys; c = duckdb.connect(sys.argv[1], read_only=True); "
             "print(c.execute('SELECT count(*) FROM metric_values').fetchone()[0])")
    out = subprocess.run([sys.executable, "-c", probe, str(path)], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert int(out.stdout) > 0


def test_a_warehouse_built_before_a_catalog_gained_a_column_builds(tiny_built):
    """Seeds are recreated every build: last build's ref_subgroups (one column fewer) does not stop this one."""
    tiny_built.execute("ALTER TABLE ref_subgroups DROP COLUMN race_code")
    build_models(tiny_built)
    assert "race_code" in {r[0] for r in tiny_built.execute("DESCRIBE ref_subgroups").fetchall()}


def test_the_raw_dese_source_declares_the_ingest_columns():
    """The source's column list in staging/schema.yml is the one the ingest creates (ingest.tables)."""
    import yaml

    from equity_outcomes.ingest.tables import DESE_CELL_COLUMNS

    doc = yaml.safe_load((models_dir() / "staging" / "schema.yml").read_text(encoding="utf-8"))
    table = next(t for s in doc["sources"] for t in s["tables"] if t["name"] == "raw_dese_cells")
    assert [c["name"] for c in table["columns"]] == list(DESE_CELL_COLUMNS)


def test_a_model_out_of_room_says_to_give_duckdb_memory_or_room_to_spill(demo_copy):
    con = connect(demo_copy)
    con.execute("SET max_temp_directory_size = '0KiB'")  # nothing may spill: the demo's build runs out of room
    con.execute("SET memory_limit = '64MiB'")
    try:
        with pytest.raises(EquityOutcomesError, match=r"(?s)failed: .*(Out of Memory|offload).*How to fix: give DuckDB more memory"):
            build_models(con, full_refresh=True)
    finally:
        con.close()


def test_a_stage_query_out_of_room_is_one_error_with_the_fix(demo_copy, monkeypatch, capsys):
    """growth's own queries (not dbt's) out of memory with no spill allowed: exit 2 and the fix, not a traceback."""
    from equity_outcomes.cli import main

    monkeypatch.setenv("EQUITY_OUTCOMES_DUCKDB_MEMORY", "16MB")
    monkeypatch.setenv("EQUITY_OUTCOMES_DUCKDB_SPILL", "0MB")
    assert main(["growth", "--quiet", "--warehouse", str(demo_copy)]) == 2
    err = capsys.readouterr().err
    assert re.match(r"error: growth: DuckDB ran out of room \(Out of Memory.*How to fix: give DuckDB more memory "
                    r"\(EQUITY_OUTCOMES_DUCKDB_MEMORY=8GB\).*and run growth again\.", err), err


def test_kept_parse_states_survive_a_build_beside_that_prunes_them(tmp_path, monkeypatch):
    """Two builds on one machine share the kept parse states; one may remove a state the other has just listed (a
    link left dangling is such a file: listed, gone). The build keeps its own state and the newest others."""
    import os

    from equity_outcomes.models import build as b

    monkeypatch.setenv("EQUITY_OUTCOMES_CACHE", str(tmp_path / "cache"))
    project = tmp_path / "project"
    kept = b.dbt_work_dir(project) / "parse_states"
    kept.mkdir(parents=True)
    for i in range(b.PARSE_STATES_KEPT + 2):
        (kept / f"old{i}.msgpack").write_bytes(b"state")
        os.utime(kept / f"old{i}.msgpack", (1_000_000 + i, 1_000_000 + i))
    (kept / "gone.msgpack").symlink_to(tmp_path / "removed-meanwhile")
    with b._partial_parse_of(tmp_path / "w.duckdb", project):  # dbt writes its state there
        b.dbt_target_dir(project).mkdir(parents=True, exist_ok=True)
        (b.dbt_target_dir(project) / "partial_parse.msgpack").write_bytes(b"this build's state")
    states = sorted(p.name for p in kept.glob("*.msgpack") if p.exists())
    assert len(states) == b.PARSE_STATES_KEPT
    assert b"this build's state" in {p.read_bytes() for p in kept.glob("*.msgpack") if p.exists()}
    assert "old0.msgpack" not in states and f"old{b.PARSE_STATES_KEPT + 1}.msgpack" in states

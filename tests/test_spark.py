"""The same SQL models on Apache Spark (``--engine spark``, docs/spark.md) give the DuckDB build's answers.

``equity-outcomes run --raw <demo> --no-prefect --no-scorecards --engine spark`` runs once, in one process: one local
Spark session for the whole file (measured 289 s on the shared 2-core machine at a load average of 5-12; the file
took 436 s alone, 131 s of it the DuckDB flow that the suite shares through ``demo_run``); its warehouse is
compared with that DuckDB flow's, table by table: floats to 1e-9, everything else exactly (the snapshot test's
comparison)."""

from __future__ import annotations

import importlib.util
import shutil
import subprocess
import sys

import duckdb
import pytest

from equity_outcomes.warehouse import connect_read_only

from .test_snapshot import _differences

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(shutil.which("java") is None, reason="local Spark needs Java 17 (make test installs it "
                       "as root: apt-get install openjdk-17-jre-headless)"),
    pytest.mark.skipif(importlib.util.find_spec("pyspark") is None or importlib.util.find_spec("dbt.adapters.spark")
                       is None, reason="the spark extra is not installed (pip install -e '.[spark]')"),
]

# What the evaluation reads (target inputs), the marts every reader uses, the intermediate sums, and the
# evaluation's own results judged on the Spark-built tables.
TABLES = ("metric_values", "metric_gaps", "school_grade_span", "roster", "ref_subgroups", "ref_subgroup_crosswalk",
          "ref_metrics", "int_outcome_profiles", "int_sgp_histogram", "int_sgp_medians", "dese_context",
          "reconciliation", "readiness_items", "readiness_summary", "sgp_comparison", "target_results", "target_rollup")


@pytest.fixture(scope="module")
def spark_run(demo_raw, tmp_path_factory):
    out = tmp_path_factory.mktemp("spark")
    warehouse = out / "warehouse.duckdb"
    r = subprocess.run([sys.executable, "-m", "equity_outcomes.cli", "run", "--raw", str(demo_raw), "--no-prefect",
                        "--no-scorecards", "--engine", "spark", "--warehouse", str(warehouse)],
                       capture_output=True, text=True, timeout=1200)
    assert r.returncode == 0, r.stderr[-3000:]
    return {"warehouse": warehouse, "stdout": r.stdout, "folder": out / "warehouse.duckdb.spark"}


@pytest.fixture(scope="module")
def both(spark_run, demo_run):
    duck, spark = connect_read_only(demo_run["warehouse"]), connect_read_only(spark_run["warehouse"])
    yield duck, spark
    duck.close()
    spark.close()


def test_the_spark_run_finishes_and_judges_the_targets(spark_run):
    assert "metric_values:" in spark_run["stdout"] and "targets (all students, schools)" in spark_run["stdout"]


@pytest.mark.parametrize("table", TABLES)
def test_spark_equals_duckdb_cell_for_cell(both, table):
    duck, spark = both
    before, after = duck.execute(f"SELECT * FROM {table}").df(), spark.execute(f"SELECT * FROM {table}").df()
    assert len(before) > 0, f"{table} is empty: the comparison would prove nothing"
    problems = _differences(before, after)
    assert not problems, f"{table} from Spark differs from DuckDB's:\n" + "\n".join(problems)


def test_the_same_column_types_as_a_duckdb_build(both):
    duck, spark = both
    query = ("SELECT table_name, column_name, data_type FROM information_schema.columns WHERE table_name IN ({}) "
             "ORDER BY ALL").format(", ".join(f"'{t}'" for t in TABLES))
    assert spark.execute(query).fetchall() == duck.execute(query).fetchall()


def test_codes_stay_text_on_spark(spark_run):
    """Spark reads the raw tables with their declared types: org codes are text with their leading zeros, in the
    Parquet inputs and in the Parquet results Spark wrote."""
    con = duckdb.connect()
    inputs = spark_run["folder"] / "inputs" / "raw_student_enrollment.parquet"
    assert con.execute("SELECT type FROM parquet_schema(?) WHERE name = 'org_code'", [str(inputs)]).fetchall() == [
        ("BYTE_ARRAY",)]
    results = [code for (code,) in con.execute("SELECT org_code FROM read_parquet(?)",
                                               [str(spark_run["folder"] / "results" / "roster" / "*.parquet")]
                                               ).fetchall()]
    assert results and all(len(code) == 8 for code in results) and any(code.startswith("0") for code in results)

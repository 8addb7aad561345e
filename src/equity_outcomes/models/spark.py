"""The SQL models on Apache Spark (``build --engine spark``; docs/spark.md): the same dbt project, run by
dbt-spark's in-process ``session`` method (``build.build_models`` runs dbt; this module hands the data over).

1. inputs: the raw tables the ingest wrote (validated, pseudonymised, with their declared types: ``org_code`` stays
   text) and the metric catalog (``ref_metrics``, a dbt Python model dbt-spark runs only on Databricks) are written
   by DuckDB as Parquet under ``<folder>/inputs`` and declared as Spark tables;
2. dbt-spark writes every table model as Parquet under ``<folder>/results/<table>`` (``location_root``);
3. :func:`import_results` reads them into the DuckDB warehouse under their usual names; dbt-duckdb then creates
   the view models there from the same files, so every reader sees the warehouse as after a DuckDB build.

``<folder>``: ``EQUITY_OUTCOMES_SPARK_DIR``, else ``<warehouse>.spark`` beside the warehouse file.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import shutil
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import duckdb

from ..catalog import metrics_frame
from ..errors import EquityOutcomesError
from ..warehouse import table_exists

RESULTS_ENV = "EQUITY_OUTCOMES_SPARK_RESULTS"  # read by dbt_project.yml (location_root of every table)
PREBUILT = "ref_metrics"  # handed over as an input, left out of the Spark run
LOCAL_SETTINGS = {  # local mode only; spark-submit and Databricks keep their own (docs/spark.md)
    "spark.ui.enabled": "false", "spark.ui.showConsoleProgress": "false", "spark.sql.session.timeZone": "UTC",
    "spark.sql.catalogImplementation": "in-memory",  # no Hive metastore folder in the current directory
}
LOG_SETTINGS = Path(__file__).with_name("spark-log4j2.properties")  # local Spark: errors only


def spark_folder(warehouse: Path) -> Path:
    """Where a Spark build writes its inputs and results (a staged copy's folder is its warehouse's)."""
    env = os.environ.get("EQUITY_OUTCOMES_SPARK_DIR")
    return Path(env) if env else Path(str(warehouse).removesuffix(".staging") + ".spark")


@contextlib.contextmanager
def timed(progress: Callable[[str], None] | None, what: str) -> Iterator[None]:
    started = time.perf_counter()
    yield
    if progress:
        progress(f"spark: {what} ({time.perf_counter() - started:.1f} s)")


def spark_session(scratch: Path):
    """The session spark-submit or Databricks started, else a local one: ``EQUITY_OUTCOMES_SPARK_MASTER``
    (``local[*]``), driver memory ``EQUITY_OUTCOMES_SPARK_MEMORY`` (4g), shuffle partitions
    ``EQUITY_OUTCOMES_SPARK_PARTITIONS`` (8)."""
    try:
        from pyspark.sql import SparkSession
    except ImportError as exc:
        raise EquityOutcomesError("--engine spark needs pyspark and dbt-spark. How to fix: pip install "
                                  "'equity-outcomes[spark]'") from exc
    if SparkSession.getActiveSession() is not None or os.environ.get("PYSPARK_GATEWAY_PORT"):
        return SparkSession.builder.getOrCreate()  # their master, memory and catalog
    if shutil.which("java") is None and not os.environ.get("JAVA_HOME"):
        raise EquityOutcomesError("--engine spark runs Spark locally, which needs Java 17. How to fix: apt-get "
                                  "install openjdk-17-jre-headless (or set JAVA_HOME), or run on a cluster.")
    scratch.mkdir(parents=True, exist_ok=True)
    builder = SparkSession.builder.master(os.environ.get("EQUITY_OUTCOMES_SPARK_MASTER", "local[*]"))
    for key, value in {**LOCAL_SETTINGS, "spark.sql.warehouse.dir": str(scratch),
                       "spark.driver.extraJavaOptions": f"-Dlog4j2.configurationFile={LOG_SETTINGS}",
                       "spark.driver.memory": os.environ.get("EQUITY_OUTCOMES_SPARK_MEMORY", "4g"),
                       "spark.sql.shuffle.partitions": os.environ.get("EQUITY_OUTCOMES_SPARK_PARTITIONS", "8")}.items():
        builder = builder.config(key, value)
    session = builder.appName("equity-outcomes").getOrCreate()
    atexit.register(session.stop)  # before the interpreter tears down (else DuckDB's bindings report leaks)
    return session


def export_inputs(con: duckdb.DuckDBPyConnection, tables: list[str], folder: Path) -> dict[str, Path]:
    """Each raw table and the metric catalog as one Parquet file, with the warehouse's declared column types."""
    folder.mkdir(parents=True, exist_ok=True)
    with con.cursor() as cur:  # ref_metrics as the dbt model returns it
        cur.register("metric_catalog", metrics_frame())
        cur.execute(f"CREATE OR REPLACE TABLE {PREBUILT} AS SELECT * FROM metric_catalog").fetchall()
    out = {table: folder / f"{table}.parquet" for table in [*tables, PREBUILT] if table_exists(con, table)}
    for table, path in out.items():
        con.execute(f"COPY {table} TO '{path}' (FORMAT parquet)").fetchall()
    return out


def hand_over(con: duckdb.DuckDBPyConnection, warehouse: Path, tables: list[str], scratch: Path,
              progress: Callable[[str], None] | None = None) -> Path:
    """Write the inputs and declare them in the Spark schema (``EQUITY_OUTCOMES_SPARK_SCHEMA``, the profile's) as
    external tables; returns the folder of the run."""
    folder = spark_folder(warehouse)
    shutil.rmtree(folder, ignore_errors=True)
    with timed(progress, "input tables written as Parquet"):
        inputs = export_inputs(con, tables, folder / "inputs")
    with timed(progress, "session ready, inputs declared"):
        session, schema = spark_session(scratch), os.environ.get("EQUITY_OUTCOMES_SPARK_SCHEMA", "equity_outcomes")
        session.sql(f"CREATE DATABASE IF NOT EXISTS {schema}")
        for table, path in inputs.items():
            session.sql(f"DROP TABLE IF EXISTS {schema}.{table}")
            session.sql(f"CREATE TABLE {schema}.{table} USING parquet LOCATION '{path.resolve().as_uri()}'")
    return folder


def import_results(con: duckdb.DuckDBPyConnection, tables: list[str], folder: Path) -> None:
    """Spark's Parquet tables into the DuckDB warehouse, under the names a DuckDB build gives them."""
    for table in tables:
        files = sorted((folder / "results" / table).glob("*.parquet"))
        if not files:
            raise EquityOutcomesError(f"the Spark build wrote no Parquet file for {table} under {folder}. How to "
                                      "fix: check that the folder is writable and run build again.")
        paths = ", ".join(f"'{p}'" for p in files)
        con.execute(f"CREATE OR REPLACE TABLE {table} AS SELECT * FROM read_parquet([{paths}])").fetchall()
    con.execute("CHECKPOINT").fetchall()

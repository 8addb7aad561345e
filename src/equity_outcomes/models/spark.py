"""Build the SQL models on Apache Spark (``equity-outcomes build --engine spark``; docs/spark.md).

The same dbt project as the DuckDB build, run by dbt-spark's in-process ``session`` method: the model files are
the same, the few spellings that differ are dispatch macros (``models/macros/dialect.sql``). The steps:

1. **inputs**: the raw tables the ingest wrote (validated, quarantined, pseudonymised, with their declared types:
   ``org_code`` stays text) and the metric catalog (``ref_metrics``, a dbt Python model that dbt-spark can only run
   on Databricks) are written by DuckDB as Parquet under ``<folder>/inputs`` and declared as Spark tables;
2. **models**: ``dbt build --target spark`` (seeds and models, not the evaluate layer) writes every table model as
   Parquet under ``<folder>/results/<table>``;
3. **back into the warehouse**: each table is read into the DuckDB warehouse (``CREATE TABLE ... FROM
   read_parquet``) and the view models are created there by dbt-duckdb from the same files, so evaluation,
   publishing, the API and notebooks read the warehouse as after a DuckDB build.

``<folder>`` is ``EQUITY_OUTCOMES_SPARK_DIR``, else ``<warehouse>.spark`` beside the warehouse file.
"""

from __future__ import annotations

import atexit
import os
import shutil
import time
from collections.abc import Callable
from pathlib import Path

import duckdb

from ..catalog import metrics_frame
from ..errors import EquityOutcomesError
from ..warehouse import table_exists

ENGINES = ("duckdb", "spark")
RESULTS_ENV = "EQUITY_OUTCOMES_SPARK_RESULTS"  # read by dbt_project.yml (location_root of every table)
PREBUILT = "ref_metrics"  # a dbt Python model: written by DuckDB as an input, excluded from the Spark run
LOCAL_SETTINGS = {  # local mode only; spark-submit and Databricks keep their own (docs/spark.md)
    "spark.ui.enabled": "false",
    "spark.ui.showConsoleProgress": "false",
    "spark.sql.catalogImplementation": "in-memory",  # no Hive metastore folder in the current directory
    "spark.sql.session.timeZone": "UTC",
}
# Local Spark's own log: errors only, and not the failing query's plan (dbt's message names the model and error)
LOG_SETTINGS = """rootLogger.level = error
rootLogger.appenderRef.stderr.ref = stderr
appender.stderr.type = Console
appender.stderr.name = stderr
appender.stderr.target = SYSTEM_ERR
appender.stderr.layout.type = PatternLayout
appender.stderr.layout.pattern = spark %p %c{1}: %m%n
logger.query.name = SQLQueryContextLogger
logger.query.level = off
"""


def spark_folder(warehouse: Path) -> Path:
    """Where a Spark build writes its inputs and results (the staged copy's folder is the warehouse's)."""
    env = os.environ.get("EQUITY_OUTCOMES_SPARK_DIR")
    return Path(env) if env else Path(str(warehouse).removesuffix(".staging") + ".spark")


def spark_schema() -> str:
    return os.environ.get("EQUITY_OUTCOMES_SPARK_SCHEMA", "equity_outcomes")


def spark_session(scratch: Path):
    """The SparkSession the models run on: the one spark-submit or Databricks started, else a local one (master
    ``EQUITY_OUTCOMES_SPARK_MASTER``, default ``local[*]``; driver memory ``EQUITY_OUTCOMES_SPARK_MEMORY``,
    default 4g; ``spark.sql.shuffle.partitions`` ``EQUITY_OUTCOMES_SPARK_PARTITIONS``, default 8)."""
    try:
        from pyspark.sql import SparkSession
    except ImportError as exc:
        raise EquityOutcomesError("--engine spark needs pyspark and dbt-spark. How to fix: pip install "
                                  "'equity-outcomes[spark]' (and Java 17: apt-get install openjdk-17-jre-headless)"
                                  ) from exc
    if SparkSession.getActiveSession() is not None or os.environ.get("PYSPARK_GATEWAY_PORT"):
        return SparkSession.builder.getOrCreate()  # spark-submit / Databricks: their master, memory, catalog
    if shutil.which("java") is None and not os.environ.get("JAVA_HOME"):
        raise EquityOutcomesError("--engine spark runs Spark locally, which needs Java 17. How to fix: apt-get "
                                  "install openjdk-17-jre-headless (or set JAVA_HOME), or run on a cluster.")
    builder = SparkSession.builder.master(os.environ.get("EQUITY_OUTCOMES_SPARK_MASTER", "local[*]"))
    scratch.mkdir(parents=True, exist_ok=True)
    (scratch / "log4j2.properties").write_text(LOG_SETTINGS, encoding="utf-8")
    settings = {**LOCAL_SETTINGS, "spark.sql.warehouse.dir": str(scratch),
                "spark.driver.extraJavaOptions": f"-Dlog4j2.configurationFile={scratch / 'log4j2.properties'}",
                "spark.driver.memory": os.environ.get("EQUITY_OUTCOMES_SPARK_MEMORY", "4g"),
                "spark.sql.shuffle.partitions": os.environ.get("EQUITY_OUTCOMES_SPARK_PARTITIONS", "8")}
    for key, value in settings.items():
        builder = builder.config(key, value)
    session = builder.appName("equity-outcomes").getOrCreate()
    atexit.register(session.stop)  # before the interpreter tears down (else DuckDB's bindings report leaks)
    return session


def export_inputs(con: duckdb.DuckDBPyConnection, tables: list[str], folder: Path) -> dict[str, Path]:
    """Each raw table (and the metric catalog) as one Parquet file with the warehouse's declared column types."""
    folder.mkdir(parents=True, exist_ok=True)
    with con.cursor() as cur:  # what the model returns
        cur.register("metric_catalog", metrics_frame())
        cur.execute(f"CREATE OR REPLACE TABLE {PREBUILT} AS SELECT * FROM metric_catalog").fetchall()
    out = {}
    for table in [*(t for t in tables if table_exists(con, t)), PREBUILT]:
        out[table] = folder / f"{table}.parquet"
        con.execute(f"COPY {table} TO '{out[table]}' (FORMAT parquet)").fetchall()
    return out


def declare_inputs(session, inputs: dict[str, Path]) -> None:
    """The Parquet inputs as tables of the Spark schema (external: dropping one leaves its file)."""
    schema = spark_schema()
    session.sql(f"CREATE DATABASE IF NOT EXISTS {schema}")
    for table, path in inputs.items():
        session.sql(f"DROP TABLE IF EXISTS {schema}.{table}")
        session.sql(f"CREATE TABLE {schema}.{table} USING parquet LOCATION '{path.resolve().as_uri()}'")


def import_results(con: duckdb.DuckDBPyConnection, tables: list[str], results: Path) -> None:
    """Spark's Parquet tables into the DuckDB warehouse, under the names a DuckDB build gives them."""
    for table in tables:
        files = sorted((results / table).glob("*.parquet"))
        if not files:
            raise EquityOutcomesError(f"the Spark build wrote no Parquet file for {table} under {results}. How to "
                                      "fix: check that the folder is writable and run build again.")
        paths = ", ".join(f"'{p}'" for p in files)
        con.execute(f"CREATE OR REPLACE TABLE {table} AS SELECT * FROM read_parquet([{paths}])").fetchall()


def build_on_spark(con: duckdb.DuckDBPyConnection, warehouse: Path, *, tables: list[str], exclude: str,
                   callbacks: list, progress: Callable[[str], None] | None = None, project: Path | None = None):
    """Run the models on Spark and bring their tables into ``warehouse`` (see the module), saying each step's
    seconds to ``progress``. Returns dbt's result of the Spark run; raises an :class:`EquityOutcomesError` naming
    the failing model."""
    from .build import dbt_failure, dbt_work_dir, environment, run_dbt

    say = progress or (lambda _message: None)
    folder, started = spark_folder(warehouse), time.perf_counter()
    shutil.rmtree(folder, ignore_errors=True)
    inputs = export_inputs(con, tables, folder / "inputs")
    say(f"spark: {len(inputs)} input tables written as Parquet ({time.perf_counter() - started:.1f} s)")
    started = time.perf_counter()
    session = spark_session(dbt_work_dir(project) / "spark-warehouse")
    declare_inputs(session, inputs)
    say(f"spark: session ready, master {session.sparkContext.master} ({time.perf_counter() - started:.1f} s)")
    started = time.perf_counter()
    with environment(RESULTS_ENV, (folder / "results").resolve().as_uri()):
        result = run_dbt(warehouse, "build", "--target", "spark", "--exclude-resource-type", "test",
                         "--exclude", exclude, PREBUILT, project=project, callbacks=callbacks)
    if not result.success:
        raise dbt_failure(result, "SQL build on Spark")
    say(f"spark: models built, tables written as Parquet ({time.perf_counter() - started:.1f} s)")
    started = time.perf_counter()
    built = [r.node.alias or r.node.name for r in result.result.results
             if r.node.resource_type == "seed" or r.node.config.materialized == "table"]
    import_results(con, built, folder / "results")
    con.execute("CHECKPOINT").fetchall()
    views = run_dbt(warehouse, "run", "--select", "config.materialized:view", "--exclude", exclude,
                    project=project)
    if not views.success:
        raise dbt_failure(views, "SQL views after the Spark build")
    say(f"spark: {len(built)} tables read into the warehouse, views created ({time.perf_counter() - started:.1f} s)")
    return result

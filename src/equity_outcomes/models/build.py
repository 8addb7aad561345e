"""(Re)build the SQL models from what has been ingested: the dbt project shipped in ``equity_outcomes/models``
(staging -> intermediate -> marts, seeds from the CSV catalogs) run by dbt-core with the duckdb adapter.

The library owns the run: it creates the typed raw tables the models read, points dbt's profile at the caller's
warehouse file, keeps dbt's target folder and logs in a cache folder (the package may be read-only) and turns
dbt's results into a :class:`BuildSummary` or one :class:`EquityOutcomesError` naming the failing model's file.
``run_model_tests`` runs the grain and value tests declared in each layer's ``schema.yml``.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib.resources import files
from pathlib import Path
from unittest import mock

import duckdb
import yaml

from ..errors import EquityOutcomesError
from ..paths import PACKAGE_DIR, cache_dir, config_dir, models_dir
from ..progress import step
from ..warehouse import ROOM_FIX, object_kind, out_of_room, room_for_python, table_exists

LAYERS = ["staging", "intermediate", "marts", "evaluate"]
EVALUATE_MODELS = "path:evaluate"  # run by the evaluate stage (targets.evaluate), not by a build
BUILD_ARGS = ("build", "--exclude-resource-type", "test", "--exclude")  # + what a build leaves out
# What an incremental build leaves as the last build made it: nodes made from the code, the catalogs and the inputs
# that are not one school year's (views, the seeds, ref_metrics, tag:no_yearly_inputs: the roster, the DESE cells),
# equal by then (an incremental build runs only when none of them changed: changed_inputs); and the readiness models
# when no readiness file changed either (READINESS_MODELS)
KEPT_BY_INCREMENTAL = ("config.materialized:view", "resource_type:seed", "path:reference", "tag:no_yearly_inputs")
READINESS_MODELS = "tag:readiness"
WAREHOUSE_ENV = "EQUITY_OUTCOMES_DBT_WAREHOUSE"  # read by models/profiles.yml
YEARS_ENV = "EQUITY_OUTCOMES_SCHOOL_YEARS"  # the years an incremental build redoes (macros/yearly.sql)
PARSE_STATES_KEPT = 8  # dbt's partial-parse state of the last warehouse files built (see _partial_parse_of)
STATE_TABLE = "build_state"
# What dbt does by default for every command that the library does not read (#22): the JSON artifacts (manifest.json,
# written twice, run_results.json, graph.gpickle) and a debug-level log file. The environment wins (a benchmark that
# reads run_results.json sets DBT_WRITE_JSON=true); compiled SQL and the partial-parse state are written either way.
DBT_ENV_DEFAULTS = {"DBT_WRITE_JSON": "false", "DBT_LOG_LEVEL_FILE": "warn"}

# student_sgp, created empty so every model builds (written by judge.growth, read by int_student_sgp)
STUDENT_SGP_DDL = (files(__package__) / "student_sgp.sql").read_text(encoding="utf-8")


@dataclass
class BuildSummary:
    models: list[tuple[str, float, int | None]] = field(default_factory=list)  # (layer/model, seconds, rows)
    seconds: float = 0.0
    skipped: bool = False  # nothing changed since the last build (skip_unchanged)
    school_years: list[int] | None = None  # the years an incremental build redid (None: a full build)


def model_files(root: Path | None = None) -> list[Path]:
    """The SQL model files, layer by layer (dbt orders the runs by their ``ref()``s)."""
    root = root or models_dir()
    return [p for layer in LAYERS for p in sorted((root / layer).glob("*.sql"))]


def database_path(con: duckdb.DuckDBPyConnection) -> Path:
    """The file behind the connection's current database."""
    row = con.execute("SELECT path FROM duckdb_databases() WHERE database_name = current_database()").fetchone()
    if not row or not row[0]:
        raise EquityOutcomesError("the SQL models build into a warehouse file, not an in-memory database")
    return Path(row[0])


def dbt_work_dir(project: Path | None = None) -> Path:
    """dbt's scratch for one SQL project (checkouts and installs on one machine do not share it)."""
    project = (project or models_dir()).resolve()
    return cache_dir() / "dbt" / hashlib.sha256(str(project).encode()).hexdigest()[:12]


def dbt_target_dir(project: Path | None = None) -> Path:
    """dbt's target folder (manifest, compiled SQL ``compiled/equity_outcomes/<layer>/<model>.sql``)."""
    return dbt_work_dir(project) / "target"


def run_dbt(warehouse: Path, *args: str, project: Path | None = None, callbacks: list | None = None,
            env: dict[str, str] | None = None):
    """One dbt command on ``warehouse`` (in this process); returns dbt's ``dbtRunnerResult``. ``project`` replaces
    the shipped SQL project (a copy with a model changed, for experiments); ``callbacks`` receive dbt's events;
    ``env``: more environment variables for the models (the years of an incremental build)."""
    from dbt.cli.main import dbtRunner

    project = project or models_dir()
    defaults = {k: os.environ.get(k, v) for k, v in DBT_ENV_DEFAULTS.items()}
    with mock.patch.dict(os.environ, {**defaults, WAREHOUSE_ENV: str(warehouse), **(env or {})}), \
            _partial_parse_of(warehouse, project):
        try:
            return dbtRunner(callbacks=callbacks or []).invoke([
                *args, "--project-dir", str(project), "--profiles-dir", str(project),
                "--target-path", str(dbt_target_dir(project)), "--log-path", str(dbt_work_dir(project) / "logs"),
                "--quiet", "--no-use-colors", "--no-send-anonymous-usage-stats",
            ])
        finally:
            _release_warehouse()


@contextlib.contextmanager
def _partial_parse_of(warehouse: Path, project: Path):
    """dbt's partial-parse state, kept per warehouse file (the last :data:`PARSE_STATES_KEPT`): dbt parses the whole
    project again (~5 s) when its profile, which holds the warehouse's path, changed since the state was written."""
    state, kept = dbt_target_dir(project) / "partial_parse.msgpack", dbt_work_dir(project) / "parse_states"
    mine = kept / (hashlib.sha256(str(Path(warehouse).resolve()).encode()).hexdigest()[:16] + ".msgpack")
    state.parent.mkdir(parents=True, exist_ok=True)
    with contextlib.suppress(FileNotFoundError):  # none yet, or another build (another warehouse) pruned it
        shutil.copyfile(mine, state)
    try:
        yield
    finally:
        kept.mkdir(parents=True, exist_ok=True)
        with contextlib.suppress(FileNotFoundError):
            shutil.copyfile(state, part := mine.with_name(f".{mine.name}.{os.getpid()}"))
            os.replace(part, mine)  # whole: a build beside this one never reads half of it
        for old in _oldest_first(kept)[:-PARSE_STATES_KEPT]:
            old.unlink(missing_ok=True)


def _oldest_first(folder: Path) -> list[Path]:
    """The kept parse states, oldest first; one that a build beside this one removes meanwhile is left out."""
    aged = []
    for path in folder.glob("*.msgpack"):
        with contextlib.suppress(FileNotFoundError):
            aged.append((path.stat().st_mtime, path))
    return [path for _, path in sorted(aged)]


def _progress_events(progress: Callable[[str], None] | None) -> list:
    """A dbt event callback that reports each seed and model as dbt finishes it (``progress.step``)."""
    if progress is None:
        return []
    layers = {p.stem: p.parent.name for p in model_files()}

    def on_event(msg) -> None:
        if msg.info.name in ("LogModelResult", "LogSeedResult"):
            d = msg.data
            layer = layers.get(d.node_info.node_name, "seeds" if msg.info.name == "LogSeedResult" else "reference")
            step(progress, d.index, d.total, f"built {layer}/{d.node_info.node_name} ({d.execution_time:.1f} s)")

    return [on_event]


def _release_warehouse() -> None:
    """dbt-duckdb keeps its DuckDB connection for the next command of the process; close it, so the file is not
    held open (another process could not open it, not even read-only)."""
    from dbt.adapters.duckdb.connections import DuckDBConnectionManager

    with DuckDBConnectionManager._LOCK:
        env = DuckDBConnectionManager._ENV
        if env is not None:
            env.close()
        DuckDBConnectionManager.close_all_connections()


def _node_results(result) -> list:
    return list(getattr(result.result, "results", None) or [])


def fix_for(message: str) -> str:
    """What to do about a model that failed with ``message``: room for DuckDB, else the model."""
    if out_of_room(message):
        return f"{ROOM_FIX}, and run build again"
    return "correct the model (or the config it reads) and run build again"


def dbt_failure(result, what: str) -> EquityOutcomesError:
    for r in _node_results(result):
        if str(r.status) in ("error", "fail"):
            node = r.node
            return EquityOutcomesError(
                f"{what}: {node.resource_type} {node.original_file_path} failed: {r.message}. The warehouse is left "
                f"as it was (commands build on a staged copy). How to fix: {fix_for(str(r.message))}."
            )
    return EquityOutcomesError(f"{what} failed: {result.exception}. How to fix: see the message and run build again.")


def source_tables(project: Path | None = None) -> list[str]:
    """The tables other stages write and the models read (the ``raw`` sources of the project's schema.yml)."""
    return [t["name"] for path in sorted((project or models_dir()).rglob("schema.yml"))
            for source in (yaml.safe_load(path.read_text(encoding="utf-8")) or {}).get("sources") or []
            if source.get("name") == "raw" for t in source.get("tables") or []]


def inputs_fingerprint(con: duckdb.DuckDBPyConnection) -> tuple[str, dict[str, str]]:
    """What a build depends on: (the package's code, SQL project and templates, the catalogs, SGP runs and every
    input that is not one year's; per school year, the yearly student files' load_audit rows and rows, plus
    'readiness' for its files). An upgrade of the code rebuilds everything: its results may differ."""
    digest, years = hashlib.sha256(), {}
    for root in (PACKAGE_DIR, config_dir()):  # rglob does not enter the checkout's config/ (a symlink)
        for path in sorted(p for p in root.rglob("*") if p.is_file() and "__pycache__" not in p.parts):
            digest.update(str(path.relative_to(root)).encode() + b"\0" + path.read_bytes())
    for table in filter(lambda t: table_exists(con, t), source_tables()):  # readiness: read by no yearly model
        key = ("school_year::VARCHAR" if table.startswith("raw_student_") and table != "raw_student_roster"
               else "'readiness'" if "readiness" in table else "NULL")
        for year, n in con.execute(f"SELECT {key}, count(*) FROM {table} GROUP BY 1 ORDER BY 1").fetchall():
            (years.setdefault(year, hashlib.sha256()) if year else digest).update(f"{table}:{n}".encode())
    audits = ["SELECT CASE WHEN source_kind = 'student' AND school_year IS NOT NULL AND report <> 'roster' THEN "
              "school_year::VARCHAR WHEN source_kind = 'readiness' THEN 'readiness' END, source_file, file_hash FROM "
              "load_audit WHERE status IN ('loaded', 'replaced') QUALIFY row_number() OVER (PARTITION BY "
              "source_file ORDER BY loaded_at DESC) = 1", "SELECT NULL, * FROM growth_runs"]
    for table, sql in zip(("load_audit", "growth_runs"), audits, strict=True):
        for year, *row in (con.execute(sql + " ORDER BY ALL").fetchall() if table_exists(con, table) else []):
            (years.setdefault(year, hashlib.sha256()) if year else digest).update(repr(row).encode())
    return digest.hexdigest(), {year: h.hexdigest() for year, h in years.items()}


def _last_state(con: duckdb.DuckDBPyConnection) -> tuple[str | None, dict | None]:
    """The last build's fingerprints (a warehouse built before #22 has no yearly ones)."""
    row = con.execute(f"SELECT * FROM {STATE_TABLE}").fetchone() if table_exists(con, STATE_TABLE) else None
    return (row[0], json.loads(row[2]) if len(row) > 2 and row[2] else None) if row else (None, None)


def _fingerprint(con: duckdb.DuckDBPyConnection, engine: str) -> tuple[str, dict[str, str]]:
    fingerprint, years = inputs_fingerprint(con)
    return fingerprint + ("" if engine == "duckdb" else f" {engine}"), years


def is_current(con: duckdb.DuckDBPyConnection, engine: str = "duckdb",
               state: tuple[str, dict[str, str]] | None = None) -> bool:
    """The marts were built by this code from these catalogs and inputs (nothing for a build to do); ``state``:
    :func:`_fingerprint`'s answer when the caller has it."""
    return table_exists(con, "metric_values") and (state or _fingerprint(con, engine)) == _last_state(con)


def changed_inputs(con: duckdb.DuckDBPyConnection, fingerprint: str, years: dict[str, str]) -> list[str] | None:
    """The keys of :func:`inputs_fingerprint`'s yearly part (school years, 'readiness') whose fingerprint changed
    since the last build: an incremental build redoes those years; None: a full build (first build, code, catalogs
    or non-yearly inputs changed, a year disappeared, nothing changed)."""
    last, before = _last_state(con)
    if last != fingerprint or before is None or set(before) - set(years) or not table_exists(con, "metric_values"):
        return None
    return [y for y, h in years.items() if before.get(y) != h] or None


def _summary(con: duckdb.DuckDBPyConnection, result) -> BuildSummary:
    summary = BuildSummary()
    for node, seconds in ((r.node, r.execution_time) for r in _node_results(result) if r.node.resource_type == "model"):
        table = object_kind(con, name := node.alias or node.name) == "TABLE"
        rows = con.execute(f"SELECT count(*) FROM {name}").fetchone()[0] if table else None
        summary.models.append((f"{Path(node.original_file_path).parts[0]}/{node.name}", float(seconds), rows))
    return summary


def build_models(
    con: duckdb.DuckDBPyConnection, *, progress: Callable[[str], None] | None = None, skip_unchanged: bool = False,
    project: Path | None = None, full_refresh: bool = False, engine: str = "duckdb",
) -> BuildSummary:
    """Build the seeds and every model into the connection's warehouse file (tests are :func:`run_model_tests`).

    The connection must not hold an open transaction: dbt works on its own connection to the same file. A failing
    model raises an :class:`EquityOutcomesError` naming its file; callers that must leave the warehouse unchanged
    build on a staged copy (``StagedWarehouse``), as every command and the flow do. ``skip_unchanged`` returns at
    once (``skipped``) when :func:`inputs_fingerprint` equals the last build's. When only some years' student files
    changed (:func:`changed_inputs`), the yearly models (macros/yearly.sql) redo those years only; else, or with
    ``full_refresh``, every model is rebuilt. ``project``: see :func:`run_dbt`.
    ``engine``: ``duckdb`` (in the warehouse), or ``spark`` (the same models on Spark, their tables brought back into
    the warehouse: :mod:`equity_outcomes.models.spark`).
    """
    # here, not at the top: ingest's validation (pandas, pandera: ~0.5 s) is no import of run_dbt's users (evaluate)
    from ..ingest.readiness import load_readiness_reference
    from ..ingest.tables import ensure_raw_tables

    started = time.perf_counter()
    ensure_raw_tables(con)
    load_readiness_reference(con)
    con.execute(STUDENT_SGP_DDL)
    fingerprint, years = state = _fingerprint(con, engine)
    if skip_unchanged and is_current(con, engine, state):
        if progress:
            progress("no model, catalog or input changed since the last build: nothing to do")
        return BuildSummary(seconds=time.perf_counter() - started, skipped=True)
    con.execute("CHECKPOINT").fetchall()
    if engine == "spark":
        redo, result = None, _build_on_spark(con, project, progress)  # Spark's yearly models are plain tables
    else:
        changed = None if full_refresh else changed_inputs(con, fingerprint, years)
        if changed is None:
            redo, kept = None, ("--full-refresh",)
        else:  # the years that changed ([]: only the readiness files), the readiness models only if their files did
            redo = sorted(int(y) for y in changed if y.isdigit())
            kept = KEPT_BY_INCREMENTAL + (() if "readiness" in changed else (READINESS_MODELS,))
        with room_for_python(con):  # dbt's connection shares this database instance and its memory limit
            result = run_dbt(database_path(con), *BUILD_ARGS, EVALUATE_MODELS, *kept, project=project,
                             callbacks=_progress_events(progress),
                             env={YEARS_ENV: ",".join(map(str, redo))} if redo is not None else None)
        if not result.success:
            raise dbt_failure(result, "SQL build")
    summary = _summary(con, result)
    con.execute(f"CREATE OR REPLACE TABLE {STATE_TABLE} AS SELECT ? AS fingerprint, current_timestamp AS built_at, "
                "? AS year_fingerprints", [fingerprint, json.dumps(years)])
    summary.seconds, summary.school_years = time.perf_counter() - started, redo
    return summary


def _build_on_spark(con: duckdb.DuckDBPyConnection, project: Path | None, progress: Callable[[str], None] | None):
    """The models on Spark (the data handed over and back by :mod:`.spark`), then the view models in the warehouse
    from the same files. Returns dbt's result of the Spark run."""
    from . import spark

    warehouse = database_path(con)
    folder = spark.hand_over(con, warehouse, source_tables(project), dbt_work_dir(project) / "spark", progress)
    with mock.patch.dict(os.environ, {spark.RESULTS_ENV: (folder / "results").resolve().as_uri()}), \
            spark.timed(progress, "models built, tables written as Parquet"):
        result = run_dbt(warehouse, *BUILD_ARGS, EVALUATE_MODELS, spark.PREBUILT, "--target", "spark",
                         project=project, callbacks=_progress_events(progress))
    if not result.success:
        raise dbt_failure(result, "SQL build on Spark")
    with spark.timed(progress, "tables read into the warehouse, views created"):
        spark.import_results(con, [r.node.alias or r.node.name for r in _node_results(result)
                                   if r.node.resource_type == "seed" or r.node.config.materialized == "table"], folder)
        views = run_dbt(warehouse, "run", "--select", "config.materialized:view", "--exclude", EVALUATE_MODELS,
                        project=project)
    if not views.success:
        raise dbt_failure(views, "SQL views after the Spark build")
    return result


def run_model_tests(warehouse: Path, *, evaluated: bool = False) -> list[tuple[str, str, str]]:
    """Run every declared test (grains, not null, accepted values, relationships) on a built warehouse file; those
    of the evaluate models too when ``evaluated`` (targets were evaluated on it). Returns (test, status, message)
    per test; raises nothing for failing tests, only when dbt itself fails."""
    result = run_dbt(Path(warehouse), "test", *(() if evaluated else ("--exclude", EVALUATE_MODELS)))
    rows = [(r.node.name, str(r.status), r.message or "") for r in _node_results(result)
            if r.node.resource_type == "test"]
    if not rows and not result.success:
        raise dbt_failure(result, "SQL model tests")
    return rows


def check_model_tests(warehouse: Path, progress: Callable[[str], None] | None = None, *,
                      evaluated: bool = False) -> int:
    """Run the model tests; raise one error listing every failing test, else return how many passed."""
    results = run_model_tests(warehouse, evaluated=evaluated)
    failed = [f"{name}: {message}" for name, status, message in results if status not in ("pass", "success")]
    if failed:
        raise EquityOutcomesError(
            f"{len(failed)} of {len(results)} model tests failed:\n  " + "\n  ".join(failed)
            + "\nHow to fix: a grain test names the repeated key columns; find the rows with that key in the model "
            "and correct the model or its input."
        )
    if progress:
        progress(f"{len(results)} model tests passed (grains, not null, accepted values, relationships)")
    return len(results)

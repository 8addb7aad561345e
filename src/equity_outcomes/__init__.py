"""equity-outcomes: are our schools closing equity gaps and hitting the targets they committed to?

The flow of data is the architecture (docs/architecture.md): ``ingest`` (the edge: files -> raw tables) ->
``models`` (the SQL project: staging -> intermediate -> marts) -> ``judge`` (targets: SQL comparisons, then
intervals, tests and ratings) -> ``publish`` (scorecards, exports); ``research`` reads the warehouse for notebooks;
``synth`` makes the demo network. Each package's docstring says what it owns and what it may import; the core
modules below them (errors, paths, progress, warehouse, workspace, catalog, crosswalk) import only each other.
``cli``/``commands``, ``stages``, ``runner``, ``reporting`` and ``docgen`` wire the packages; Prefect flows in
``pipelines/`` wire the stages.
"""

import os as _os
import warnings as _warnings

# pandera imports pyspark.pandas whenever pyspark is installed (the Spark engine, docs/spark.md), which warns about
# pandas 3 on every import; nothing here uses pandas-on-Spark.
_warnings.filterwarnings("ignore", message="PySpark does not yet fully support pandas", category=FutureWarning)

# Offline and quiet by default: no telemetry, no analytics, warnings only. Users can override any of these.
for _key, _value in {
    "DO_NOT_TRACK": "1",
    "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
    "PREFECT_LOGGING_LEVEL": "WARNING",
    "PREFECT_UI_ENABLED": "true",
}.items():
    _os.environ.setdefault(_key, _value)

__version__ = "0.1.0"

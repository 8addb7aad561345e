"""models: where the data is. Owns the SQL project and its runner. This folder is a dbt project (dbt-core with the duckdb adapter):
``staging/`` -> ``intermediate/`` -> ``marts/`` build the warehouse from what the ingest loaded, ``evaluate/``
compares every school with its targets (run by :mod:`equity_outcomes.judge`), ``seeds/`` link the CSV catalogs,
``reference/`` turns the metric catalog into ``ref_metrics``, ``macros/`` hold the shared SQL (pooling, the rules,
the grain test). Grains and tests are declared in each layer's ``schema.yml``. :mod:`.build` runs dbt in-process
on a warehouse file.

May import: the core modules (errors, paths, progress, warehouse, catalog, crosswalk) and ``ingest`` (the raw
tables' contract). See docs/architecture.md.
"""

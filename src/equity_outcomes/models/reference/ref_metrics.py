"""ref_metrics: the metric catalog (config/metrics.yaml) as a table, read through the catalog loader that validates it.

Grain: one row per metric."""


def model(dbt, session):
    dbt.config(materialized="table")
    from equity_outcomes.catalog import metrics_frame

    return metrics_frame()

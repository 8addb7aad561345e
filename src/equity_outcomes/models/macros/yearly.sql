-- Yearly models (#22): a model whose rows are partitioned by school_year (every row of a year comes from that
-- year's inputs only) is built incrementally on DuckDB: the build passes the years whose student files changed as
-- EQUITY_OUTCOMES_SCHOOL_YEARS (models/build.py, changed_inputs), dbt deletes those years' rows and inserts them again
-- (delete+insert on unique_key school_year); any other change rebuilds the whole table (--full-refresh).
-- On another adapter (Spark, #25) the model stays a plain table.
{% macro yearly_config() %}
{{ config(materialized=('incremental' if target.type == 'duckdb' else 'table'),
          incremental_strategy='delete+insert', unique_key='school_year') }}
{% endmacro %}

-- The rows of the years to redo on an incremental run (TRUE on a full build; FALSE when no year changed, only
-- inputs no yearly model reads, such as the readiness files): a filter on the column given. The years come in the
-- environment (EQUITY_OUTCOMES_SCHOOL_YEARS: '2024,2025', '' for none; unset: all), not as a dbt --vars: new vars
-- make dbt parse the whole project again, a changed environment variable only the files that read it.
{% macro for_changed_years(column) -%}
{%- set years = env_var('EQUITY_OUTCOMES_SCHOOL_YEARS', 'all') -%}
{%- if is_incremental() and years != 'all' -%}
    {{ (column ~ ' IN (' ~ years ~ ')') if years else 'FALSE' }}
{%- else -%}
    TRUE
{%- endif -%}
{%- endmacro %}

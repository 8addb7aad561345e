{#- Where a model's table lives. The evaluate layer's steps (eval_*) are tables of the in-memory database
    `scratch` that the DuckDB profile attaches (profiles.yml): read by the next step in the same dbt run, never by a reader of the warehouse, and
    writing them to the warehouse file was about half of each step's time at 1M students (eval_observations 2.0 ->
    1.0 s). Their tests run in the run that makes them (models.build.run_model_tests); `--vars
    '{eval_in_warehouse: true}'` keeps them in the warehouse (tests/test_targets.py runs eval_rules alone on an input
    it writes there). Everything else: the target's database. -#}
{% macro generate_database_name(custom_database_name=none, node=none) -%}
    {%- if node is not none and node.resource_type == 'model' and node.name.startswith('eval_')
          and target.type == 'duckdb' and not var('eval_in_warehouse', false) -%}
        scratch
    {%- elif custom_database_name is none -%}
        {{ target.database }}
    {%- else -%}
        {{ custom_database_name | trim }}
    {%- endif -%}
{%- endmacro %}

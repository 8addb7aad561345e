-- The only SQL that differs between the engines the models run on (dbt adapter.dispatch): DuckDB (`default__`,
-- the warehouse) and Apache Spark (`spark__`, `equity-outcomes build --engine spark`, docs/spark.md). Every model
-- calls these instead of spelling a list, a lambda or an unnest: no model exists twice.

-- A list (DuckDB LIST, Spark ARRAY) of SQL expressions.
{% macro list_of(items) %}{{ return(adapter.dispatch('list_of', 'equity_outcomes')(items)) }}{% endmacro %}
{% macro default__list_of(items) %}[{{ items | join(', ') }}]{% endmacro %}
{% macro spark__list_of(items) %}array({{ items | join(', ') }}){% endmacro %}

-- The list without its NULL elements.
{% macro non_null(list) %}{{ return(adapter.dispatch('non_null', 'equity_outcomes')(list)) }}{% endmacro %}
{% macro default__non_null(list) %}list_filter({{ list }}, lambda x: x IS NOT NULL){% endmacro %}
{% macro spark__non_null(list) %}filter({{ list }}, x -> x IS NOT NULL){% endmacro %}

-- A list of n elements (what they are does not matter: one row per element when unnested, in a SELECT list).
{% macro list_of_length(n) %}{{ return(adapter.dispatch('list_of_length', 'equity_outcomes')(n)) }}{% endmacro %}
{% macro default__list_of_length(n) %}range({{ n }}){% endmacro %}
{% macro spark__list_of_length(n) %}sequence(1, {{ n }}){% endmacro %}

-- One row per element of the list (in a SELECT list).
{% macro unnest_list(list) %}{{ return(adapter.dispatch('unnest_list', 'equity_outcomes')(list)) }}{% endmacro %}
{% macro default__unnest_list(list) %}unnest({{ list }}){% endmacro %}
{% macro spark__unnest_list(list) %}explode({{ list }}){% endmacro %}

-- A CTE computed once, before the joins that read it (DuckDB: AS MATERIALIZED; Spark plans it as it likes).
{% macro materialized() %}{{ return(adapter.dispatch('materialized', 'equity_outcomes')()) }}{% endmacro %}
{% macro default__materialized() %}MATERIALIZED{% endmacro %}
{% macro spark__materialized() %}{% endmacro %}

-- Seeds on Spark: dbt-spark's session method puts seed values into the INSERT unescaped (an empty cell becomes the
-- text 'None', an apostrophe breaks the statement); the same INSERT with every value as a Spark literal.
{% macro spark__load_csv_rows(model, agate_table) %}
    {%- set column_override = model['config'].get('column_types', {}) -%}
    {%- set statements = [] -%}
    {%- for chunk in agate_table.rows | batch(get_batch_size()) -%}
        {%- set sql -%}
            insert into {{ this.render() }} values
            {% for row in chunk -%}
                ({%- for value in row -%}
                    {%- set type = column_override.get(agate_table.column_names[loop.index0],
                                                       adapter.convert_type(agate_table, loop.index0)) -%}
                    cast({{ spark_literal(value) }} as {{ type }}){% if not loop.last %}, {% endif %}
                {%- endfor -%}){% if not loop.last %},{% endif %}
            {% endfor -%}
        {%- endset -%}
        {%- do adapter.add_query(sql, abridge_sql_log=True) -%}
        {%- do statements.append(sql) if loop.first -%}
    {%- endfor -%}
    {{ return(statements[0]) }}
{% endmacro %}

{% macro spark_literal(value) -%}
    {%- if value is none -%}NULL
    {%- elif value is number -%}{{ value }}
    {%- else -%}'{{ value | string | replace('\\', '\\\\') | replace("'", "\\'") }}'
    {%- endif -%}
{%- endmacro %}

-- subgroups_of: a DuckDB macro, not a table, created before the models run (on-run-start in dbt_project.yml). The subgroups (config/subgroups.csv ids) a student with this profile belongs
-- to, including 'all' and the complements used for within-school gaps. A NULL profile (teachers) is only 'all'.
{% macro create_subgroups_of() %}
CREATE OR REPLACE MACRO subgroups_of(race, is_low_income, is_el, is_swd, is_high_needs) AS
    CASE WHEN race IS NULL THEN ['all'] ELSE list_filter([
        'all',
        race,
        CASE WHEN race <> 'black' THEN 'non_black' END,
        CASE WHEN race <> 'latino' THEN 'non_latino' END,
        CASE WHEN race <> 'white' THEN 'non_white' END,
        CASE WHEN race <> 'asian' THEN 'non_asian' END,
        CASE WHEN is_low_income THEN 'low_income' ELSE 'non_low_income' END,
        CASE WHEN is_el THEN 'el' ELSE 'non_el' END,
        CASE WHEN is_swd THEN 'swd' ELSE 'non_swd' END,
        CASE WHEN is_high_needs THEN 'high_needs' ELSE 'non_high_needs' END
    ], lambda x: x IS NOT NULL) END
{% endmacro %}

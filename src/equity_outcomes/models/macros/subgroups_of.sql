-- subgroups_of: the subgroups (config/subgroups.csv ids) a student with this profile belongs to, including 'all' and
-- the complements used for within-school gaps, as a list expression (macros/dialect.sql spells it per engine). A
-- NULL profile (teachers) is only 'all'. Arguments are the SQL of the profile's columns.
{% macro subgroups_of(race, is_low_income, is_el, is_swd, is_high_needs) %}
    CASE WHEN {{ race }} IS NULL THEN {{ list_of(["'all'"]) }} ELSE {{ non_null(list_of([
        "'all'",
        race,
        "CASE WHEN " ~ race ~ " <> 'black' THEN 'non_black' END",
        "CASE WHEN " ~ race ~ " <> 'latino' THEN 'non_latino' END",
        "CASE WHEN " ~ race ~ " <> 'white' THEN 'non_white' END",
        "CASE WHEN " ~ race ~ " <> 'asian' THEN 'non_asian' END",
        "CASE WHEN " ~ is_low_income ~ " THEN 'low_income' ELSE 'non_low_income' END",
        "CASE WHEN " ~ is_el ~ " THEN 'el' ELSE 'non_el' END",
        "CASE WHEN " ~ is_swd ~ " THEN 'swd' ELSE 'non_swd' END",
        "CASE WHEN " ~ is_high_needs ~ " THEN 'high_needs' ELSE 'non_high_needs' END",
    ])) }} END
{% endmacro %}

-- The MCAS grade selections a student's grade counts in, as DESE publishes them: the grade itself and, for grades
-- 3-8, the pooled '03-08'. One row each (a SELECT list item; in int_student_outcomes a LATERAL subquery of it kept an
-- incremental build's year filter from the assessments, so a +1 year build read every year's: #22).
{% macro mcas_grades(grade) %}
    {{ unnest_list(non_null(list_of([grade, "CASE WHEN " ~ grade ~ " BETWEEN '03' AND '08' THEN '03-08' END"]))) }}
{% endmacro %}

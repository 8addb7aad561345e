-- eval_grade_spans: school_grade_span with grades as numbers (PK -1, K 0), for the comparability rules.
-- Grain: one row per org_code x school_year.
{{ config(materialized='view') }}
{% set as_number %}
    CASE WHEN upper(trim(g)) IN ('PK', 'PRE-K', 'P') THEN -1
         WHEN upper(trim(g)) IN ('K', 'KG', 'KF', 'KH') THEN 0
         ELSE trunc(TRY_CAST(trim(g) AS DOUBLE)) END
{% endset %}
SELECT org_code, school_year,
       {{ as_number | replace('g)', 'grade_low)') }} AS grade_low,
       {{ as_number | replace('g)', 'grade_high)') }} AS grade_high
FROM {{ ref('school_grade_span') }}

-- eval_grade_spans: school_grade_span with grades as numbers (PK -1, K 0), for the comparability rules.
-- Grain: one row per org_code x school_year.
{{ config(materialized='view') }}
SELECT org_code, school_year,
       {{ grade_number('grade_low') }} AS grade_low,
       {{ grade_number('grade_high') }} AS grade_high
FROM {{ ref('school_grade_span') }}

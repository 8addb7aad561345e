-- stg_graduates
-- Grain: one row per graduate (student x school_year of graduation).
{{ config(materialized='view') }}
SELECT
    school_year::INTEGER AS school_year,
    student_id,
    org_code,
    masscore_complete = 1 AS is_masscore_complete,
    completed_dual_enrollment = 1 AS has_dual_enrollment,
    coalesce(enrolled_postsecondary = 1, FALSE) AS is_enrolled_postsecondary
FROM {{ source('raw', 'raw_student_graduates') }}

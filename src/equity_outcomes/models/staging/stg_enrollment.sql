-- stg_enrollment
-- Grain: one row per student x school x school_year (a mid-year transfer has one row per school).
{{ config(materialized='view') }}
SELECT
    school_year::INTEGER AS school_year,
    student_id,
    org_code,
    grade,
    race_ethnicity,
    gender,
    is_low_income = 1 AS is_low_income,
    is_el = 1 AS is_el,
    is_former_el = 1 AS is_former_el,
    is_swd = 1 AS is_swd,
    (is_low_income = 1 OR is_el = 1 OR is_former_el = 1 OR is_swd = 1) AS is_high_needs,
    days_in_membership,
    days_absent
FROM {{ source('raw', 'raw_student_enrollment') }}

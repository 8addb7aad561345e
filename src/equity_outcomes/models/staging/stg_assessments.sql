-- stg_assessments
-- Grain: one row per student x school_year x subject (MCAS). Subject lower-cased to the warehouse's ela/math/sci.
{{ config(materialized='view') }}
SELECT
    school_year::INTEGER AS school_year,
    student_id,
    org_code,
    grade,
    lower(subject) AS subject,
    test_family,
    scaled_score,
    achievement_level,
    achievement_level IN ('M', 'E') AS is_meeting_or_exceeding,
    achievement_level IN ('P', 'A') AS is_proficient_or_advanced,
    sgp::DOUBLE AS sgp
FROM {{ source('raw', 'raw_student_assessments') }}

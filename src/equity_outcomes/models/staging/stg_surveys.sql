-- stg_surveys
-- Grain: one row per respondent (student or teacher) x school_year x season x domain, with the construct the domain
-- belongs to (perceptions, competencies, teacher_efficacy): the rubric's three survey targets.
{{ config(materialized='view') }}
SELECT
    'student' AS respondent_type,
    school_year::INTEGER AS school_year,
    student_id AS respondent_id,
    org_code,
    season,
    domain,
    CASE WHEN domain IN ('climate_culture', 'engagement', 'relationships', 'belonging') THEN 'perceptions'
         ELSE 'competencies' END AS construct,
    score
FROM {{ source('raw', 'raw_student_student_surveys') }}
UNION ALL
SELECT 'teacher', school_year::INTEGER, teacher_id, org_code, season, domain, 'teacher_efficacy', score
FROM {{ source('raw', 'raw_student_teacher_surveys') }}

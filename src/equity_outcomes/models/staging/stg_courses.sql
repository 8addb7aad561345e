-- stg_courses
-- Grain: one row per student x school_year x advanced course.
{{ config(materialized='view') }}
SELECT school_year::INTEGER AS school_year, student_id, org_code, course_id, course_type, ap_exam_score
FROM {{ source('raw', 'raw_student_courses') }}

-- stg_capstone
-- Grain: one row per student x school_year with a scored capstone.
{{ config(materialized='view') }}
SELECT school_year::INTEGER AS school_year, student_id, org_code, capstone_score
FROM {{ source('raw', 'raw_student_capstone') }}

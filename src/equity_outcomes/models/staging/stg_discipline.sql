-- stg_discipline
-- Grain: one row per student x disciplinary incident.
{{ config(materialized='view') }}
SELECT school_year::INTEGER AS school_year, student_id, org_code, incident_id, action, days_missed
FROM {{ source('raw', 'raw_student_discipline') }}

-- stg_roster -> table `roster`
-- Grain: one row per school (org_code). Source: roster.csv of the student data.
-- If two loaded files list the same school, the one from the alphabetically last file wins.
{{ config(materialized='table', alias='roster', tags=['no_yearly_inputs']) }}
SELECT
    org_code,
    school_name,
    district_code,
    district_name,
    school_level,
    is_network_school::INTEGER         AS is_network_school,
    implementation_start_year::INTEGER AS implementation_start_year,
    baseline_year::INTEGER             AS baseline_year
FROM {{ source('raw', 'raw_student_roster') }}
QUALIFY row_number() OVER (PARTITION BY org_code ORDER BY source_file DESC, source_row) = 1

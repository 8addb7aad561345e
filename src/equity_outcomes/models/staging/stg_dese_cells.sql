-- stg_dese_cells
-- Grain: one row per published DESE cell (file x row x column) that is a metric value or one of its counts: a mapped
-- measure, a known student group (or none: staff and money reports), a school year, DESE's default selection (no
-- title option such as one AP subject or a 5-year rate), not flagged (out of range, conflicting repeat, no org
-- code), end-of-year period.
-- Every other cell stays in dese_cells. Exact repeats of the same figure from two files are resolved in
-- metric_values (first file by name).
{{ config(materialized='view') }}
SELECT
    source_file, source_sheet, source_row, source_column, report,
    school_year::INTEGER AS school_year,
    org_code, org_name, org_level, subgroup, subject,
    coalesce(grade, 'all') AS grade,
    measure, value_text, value, is_suppressed, income_definition
FROM {{ source('raw', 'raw_dese_cells') }}
WHERE measure IS NOT NULL
  AND (subgroup IS NOT NULL OR subgroup_label IS NULL)  -- an unrecorded ('') or unknown label stays out
  AND school_year IS NOT NULL
  AND flag IS NULL
  AND selection IS NULL
  AND coalesce(period, 'end_of_year') = 'end_of_year'

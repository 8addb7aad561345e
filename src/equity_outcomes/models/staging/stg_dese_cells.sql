-- stg_dese_cells
-- Grain: one row per published DESE cell (file x row x column) that is a metric value or one of its counts, for
-- the end-of-year period. Exact repeats of the same figure from two files are kept once (first file by name);
-- disagreeing repeats are listed in int_dese_conflicts.
{{ config(materialized='view') }}
SELECT
    source_file, source_sheet, source_row, source_column, report,
    school_year::INTEGER AS school_year,
    org_code, org_name, org_level, subgroup, subject,
    coalesce(grade, 'all') AS grade,
    measure, value_text, value, is_suppressed, income_definition
FROM {{ source('raw', 'raw_dese_cells') }}
WHERE coalesce(period, 'end_of_year') = 'end_of_year'

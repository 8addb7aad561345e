-- dese_context: every mapped DESE measure per org and year, the context beside a school's targets: population
-- shares, enrollment, attendance, discipline, assessment, graduation and dropout, plans of graduates, staffing,
-- salaries, spending ... (what stg_dese_cells keeps: mapped, default selection, unflagged, end of year).
-- Grain: one row per org_code x org_level x school_year x report x measure x subgroup x subject x grade.
--   subgroup: NULL for reports that are not about students (staff, money).
--   When two files publish the same figure, the unsuppressed one from the first file by name (then row) is kept.
{{ config(materialized='table', tags=['no_yearly_inputs']) }}
SELECT org_code, org_level, school_year, report, measure, subgroup, subject, grade, org_name,
       value, is_suppressed, value_text, income_definition, source_file, source_row, source_column
FROM {{ ref('stg_dese_cells') }}
QUALIFY row_number() OVER (
    PARTITION BY org_code, org_level, school_year, report, measure, subgroup, subject, grade
    ORDER BY is_suppressed, source_file, source_row, source_column) = 1


-- int_sgp_histogram
-- Grain: one row per org_code x school_year x subject x grade x student profile x SGP value (1-99): how many
-- students have each SGP. metric_values computes the exact medians from it (each row's SGP repeated n times).
{{ yearly_config() }}
SELECT
    o.org_code, o.school_year, o.subject, o.grade,
    e.race_ethnicity AS race, e.is_low_income, e.is_el, e.is_swd, e.is_high_needs,
    o.x AS sgp, count(*) AS n
FROM {{ ref('int_student_outcomes') }} o
JOIN {{ ref('stg_enrollment') }} e USING (school_year, org_code, student_id)
WHERE o.metric = 'median_sgp' AND {{ for_changed_years('o.school_year') }}
  AND {{ for_changed_years('e.school_year') }}  -- said again for the joined side: DuckDB does not carry it over
GROUP BY ALL

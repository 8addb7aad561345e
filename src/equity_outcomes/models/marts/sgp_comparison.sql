-- sgp_comparison: where the SGPs behind median_sgp / mean_sgp come from, and how computed SGPs differ from
-- supplied ones where a student has both (supplied SGPs win in the metrics).
-- Grain: one row per school_year x subject x grade (student SGP grades, not DESE's '03-08' pooling).
{{ config(materialized='table') }}
SELECT
    school_year, subject, grade,
    count(*) AS n_with_sgp,
    count(*) FILTER (WHERE sgp_source = 'supplied') AS n_supplied_used,
    count(*) FILTER (WHERE sgp_source = 'computed') AS n_computed_used,
    count(*) FILTER (WHERE supplied_sgp IS NOT NULL AND computed_sgp IS NOT NULL) AS n_both,
    median(supplied_sgp) FILTER (WHERE computed_sgp IS NOT NULL) AS median_supplied_where_both,
    median(computed_sgp) FILTER (WHERE supplied_sgp IS NOT NULL) AS median_computed_where_both,
    avg(computed_sgp - supplied_sgp) AS mean_difference,           -- computed minus supplied, SGP points
    avg(abs(computed_sgp - supplied_sgp)) AS mean_abs_difference,
    corr(computed_sgp, supplied_sgp) AS correlation
FROM {{ ref('int_student_sgp') }}
GROUP BY ALL
ORDER BY ALL

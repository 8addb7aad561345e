-- eval_peer_features: what similar schools are matched on, as DESE's own similar-schools comparisons do: grade span,
-- size and the shares of low income, English learner and students with disabilities, per school and year, from the
-- DESE exports loaded (dese_context: enrollment by grade, selected populations); grade span and size from the
-- student enrollment (school_grade_span) where DESE has none. is_network: a roster network school (never a peer).
-- Grain: one row per org_code x school_year.
{{ config(materialized='table') }}
WITH cells AS (
    SELECT *, {{ grade_number('grade') }} AS grade_number,
           measure = 'n_students' AND report LIKE 'enrollment%' AS is_enrollment
    FROM {{ ref('dese_context') }}
    WHERE org_level = 'school' AND NOT is_suppressed
),
dese AS (
    SELECT org_code, CAST(school_year AS INTEGER) AS school_year,
           min(grade_number) FILTER (WHERE is_enrollment AND value > 0) AS grade_low,
           max(grade_number) FILTER (WHERE is_enrollment AND value > 0) AS grade_high,
           max(value) FILTER (WHERE is_enrollment AND grade = 'all') AS size,
           max(value) FILTER (WHERE measure IN ('pct_low_income', 'pct_economically_disadvantaged')
                              AND subgroup = 'all') AS pct_low_income,
           max(value) FILTER (WHERE measure = 'pct_el' AND subgroup = 'all') AS pct_el,
           max(value) FILTER (WHERE measure = 'pct_swd' AND subgroup = 'all') AS pct_swd
    FROM cells
    GROUP BY ALL
),
student AS (
    SELECT s.org_code, CAST(s.school_year AS INTEGER) AS school_year, g.grade_low, g.grade_high, s.n_students AS size
    FROM {{ ref('school_grade_span') }} s JOIN {{ ref('eval_grade_spans') }} g USING (org_code, school_year)
)
SELECT org_code, school_year,
       coalesce(d.grade_low, s.grade_low) AS grade_low, coalesce(d.grade_high, s.grade_high) AS grade_high,
       ln(greatest(coalesce(d.size, s.size), 1)) AS log_size, d.pct_low_income, d.pct_el, d.pct_swd,
       coalesce(r.is_network_school, 0) = 1 AS is_network
FROM dese d FULL JOIN student s USING (org_code, school_year)
LEFT JOIN {{ ref('stg_roster') }} r USING (org_code)

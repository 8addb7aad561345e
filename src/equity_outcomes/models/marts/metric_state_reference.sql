-- metric_state_reference: the state value each metric_values row is compared with (a view over metric_values; the
-- one state-gap rule, read by metric_gaps and by the evaluation, which needs no complement).
-- Grain: one row per metric_values row (org_code x school_year x subgroup x metric x subject x grade x source).
--   state_value: the state all-students value for the same metric, year, subject and grade, from the same source
--                when it has state rows, else from DESE's published state totals (state_source says which).
{{ config(materialized='view') }}
WITH state AS (
    SELECT school_year, metric, subject, grade, source, value AS state_value
    FROM {{ ref('metric_values') }}
    WHERE org_level = 'state' AND subgroup = 'all' AND value IS NOT NULL
)
SELECT
    m.org_code, m.org_level, m.school_year, m.subgroup, m.metric, m.subject, m.grade, m.source,
    m.value, m.is_suppressed, m.n_students, m.numerator, m.denominator,
    coalesce(s_same.state_value, s_dese.state_value) AS state_value,
    CASE WHEN s_same.state_value IS NOT NULL THEN m.source WHEN s_dese.state_value IS NOT NULL THEN 'dese' END
        AS state_source
FROM {{ ref('metric_values') }} m
LEFT JOIN state s_same
    ON s_same.school_year = m.school_year AND s_same.metric = m.metric AND s_same.source = m.source
   AND s_same.subject IS NOT DISTINCT FROM m.subject AND s_same.grade = m.grade
LEFT JOIN state s_dese
    ON s_dese.school_year = m.school_year AND s_dese.metric = m.metric AND s_dese.source = 'dese'
   AND s_dese.subject IS NOT DISTINCT FROM m.subject AND s_dese.grade = m.grade

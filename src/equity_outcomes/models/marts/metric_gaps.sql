-- metric_gaps: each subgroup's gap to the state and to its in-school complement (a view over metric_values).
-- Grain: one row per metric_values row (org_code x school_year x subgroup x metric x subject x grade x source).
--   state_value: the state all-students value for the same metric, year, subject and grade, from the same source
--                when it has state rows, else from DESE's published state totals (state_source says which).
--   gap_to_state = value - state_value; gap_to_complement = value - complement_value (e.g. low_income vs
--   non_low_income in the same school). Positive means the subgroup is above the comparison.
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
        AS state_source,
    m.value - coalesce(s_same.state_value, s_dese.state_value) AS gap_to_state,
    c.value AS complement_value,
    m.value - c.value AS gap_to_complement
FROM {{ ref('metric_values') }} m
LEFT JOIN state s_same
    ON s_same.school_year = m.school_year AND s_same.metric = m.metric AND s_same.source = m.source
   AND s_same.subject IS NOT DISTINCT FROM m.subject AND s_same.grade = m.grade
LEFT JOIN state s_dese
    ON s_dese.school_year = m.school_year AND s_dese.metric = m.metric AND s_dese.source = 'dese'
   AND s_dese.subject IS NOT DISTINCT FROM m.subject AND s_dese.grade = m.grade
LEFT JOIN {{ ref('subgroups') }} g ON g.subgroup = m.subgroup
LEFT JOIN {{ ref('metric_values') }} c
    ON c.org_code = m.org_code AND c.org_level = m.org_level AND c.school_year = m.school_year
   AND c.metric = m.metric AND c.subject IS NOT DISTINCT FROM m.subject AND c.grade = m.grade
   AND c.source = m.source AND c.subgroup = g.complement

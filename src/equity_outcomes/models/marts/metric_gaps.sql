-- metric_gaps: each subgroup's gap to the state and to its in-school complement (a view over metric_values).
-- Grain: one row per metric_values row (org_code x school_year x subgroup x metric x subject x grade x source).
--   state_value, state_source: metric_state_reference (the state all-students value for the same metric, year,
--                subject and grade, from the same source when it has state rows, else from DESE's state totals).
--   gap_to_state = value - state_value; gap_to_complement = value - complement_value (e.g. low_income vs
--   non_low_income in the same school). Positive means the subgroup is above the comparison.
{{ config(materialized='view') }}
SELECT
    m.org_code, m.org_level, m.school_year, m.subgroup, m.metric, m.subject, m.grade, m.source,
    m.value, m.is_suppressed, m.n_students, m.numerator, m.denominator, m.state_value, m.state_source,
    m.value - m.state_value AS gap_to_state,
    c.value AS complement_value,
    m.value - c.value AS gap_to_complement
FROM {{ ref('metric_state_reference') }} m
LEFT JOIN {{ ref('subgroups') }} g ON g.subgroup = m.subgroup
LEFT JOIN {{ ref('metric_values') }} c
    ON c.org_code = m.org_code AND c.org_level = m.org_level AND c.school_year = m.school_year
   AND c.metric = m.metric AND c.subject IS NOT DISTINCT FROM m.subject AND c.grade = m.grade
   AND c.source = m.source AND c.subgroup = g.complement

-- reconciliation: student-derived vs DESE-published values wherever both sources cover the same cell.
-- Grain: one row per school x school_year x subgroup x metric x subject x grade present in both sources, for
-- metrics whose definitions are the same in both (ref_metrics.reconcile).
--   tolerance: half a unit of the last decimal DESE printed (0.05 for '25.6', 0.5 for '65'); for figures DESE
--   publishes as counts (pct_disciplined) the percentages must agree to 1e-6.
--   status: match | mismatch | suppressed_in_student | suppressed_in_dese | both_suppressed
{{ yearly_config() }}
WITH dese AS (
    SELECT m.*, c.value_text
    FROM {{ ref('metric_values') }} m
    LEFT JOIN {{ ref('ref_metrics') }} rm USING (metric)
    LEFT JOIN {{ ref('stg_dese_cells') }} c
        ON c.source_file = m.source_file AND c.source_row = m.source_row AND c.measure = rm.dese_measure
       AND c.school_year = m.school_year AND c.subject IS NOT DISTINCT FROM m.subject AND c.grade = m.grade
    WHERE m.source = 'dese' AND m.org_level = 'school' AND {{ for_changed_years('m.school_year') }}
),
joined AS (
    SELECT
        s.org_code, s.school_year, s.subgroup, s.metric, s.subject, s.grade,
        s.value AS student_value, d.value AS dese_value,
        s.n_students AS student_n, d.n_students AS dese_n,
        d.source_file AS dese_file, d.source_row AS dese_row, d.value_text AS dese_text,
        CASE WHEN d.value_text IS NULL THEN 1e-6
             WHEN instr(trim(d.value_text), '.') = 0 THEN 0.5
             ELSE 0.5 * pow(10, -length(split_part(trim(d.value_text), '.', 2))) END AS tolerance
    FROM {{ ref('metric_values') }} s
    JOIN dese d
        ON d.org_code = s.org_code AND d.school_year = s.school_year AND d.subgroup = s.subgroup
       AND d.metric = s.metric AND d.subject IS NOT DISTINCT FROM s.subject AND d.grade = s.grade
    JOIN {{ ref('ref_metrics') }} rm ON rm.metric = s.metric AND rm.reconcile
    WHERE s.source = 'student' AND s.org_level = 'school' AND {{ for_changed_years('s.school_year') }}
)
SELECT *,
       student_value - dese_value AS difference,
       CASE WHEN student_value IS NULL AND dese_value IS NULL THEN 'both_suppressed'
            WHEN student_value IS NULL THEN 'suppressed_in_student'
            WHEN dese_value IS NULL THEN 'suppressed_in_dese'
            WHEN abs(student_value - dese_value) <= tolerance + 1e-9 THEN 'match'
            ELSE 'mismatch' END AS status
FROM joined

-- metric_values: the long fact table every target, scorecard and export reads.
-- Grain: one row per org_code x org_level x school_year x subgroup x metric x subject x grade x source.
--   org_level: school | network (pooled over roster schools with is_network_school = 1; org_code 'network')
--              | district | state (DESE rows as published; state org_code '00000000').
--   source: 'student' (computed here from student records) | 'dese' (published profile figures).
--   value: percent metrics on a 0-100 scale; NULL when is_suppressed.
--   numerator/denominator: the counts behind the value (for DESE only when published in the same row);
--   n_students: people in the population (DESE: the published denominator).
-- Student values under the catalog's min_n (ref_metrics.min_n, counted on ref_metrics.min_n_on) are suppressed; DESE values keep DESE's own suppression.
CREATE OR REPLACE TABLE metric_values AS
WITH student_long AS (
    SELECT o.*, s.subgroup
    FROM int_student_outcomes o
    JOIN int_student_subgroups s USING (school_year, org_code, student_id)
    WHERE o.metric <> 'pct_teachers_improved_efficacy'
    UNION ALL
    SELECT o.*, 'all' AS subgroup FROM int_student_outcomes o WHERE o.metric = 'pct_teachers_improved_efficacy'
),
with_level AS (
    SELECT *, org_code AS level_code, 'school' AS org_level FROM student_long
    UNION ALL
    SELECT l.*, 'network', 'network'
    FROM student_long l JOIN roster r USING (org_code) WHERE r.is_network_school = 1
),
student AS (
    SELECT
        level_code AS org_code, org_level, school_year, subgroup, metric, subject, grade,
        CASE WHEN metric = 'median_sgp' THEN NULL
             WHEN metric IN ('mean_sgp', 'avg_scaled_score', 'capstone_mean_score') THEN sum(x)
             ELSE sum(num) END::DOUBLE AS numerator,
        sum(den)::DOUBLE AS denominator,
        count(*) AS n_students,
        CASE WHEN metric = 'median_sgp' THEN median(x)
             WHEN metric IN ('mean_sgp', 'avg_scaled_score', 'capstone_mean_score') THEN avg(x)
             ELSE 100.0 * sum(num) / nullif(sum(den), 0) END AS value,
        stddev_samp(x) AS std_dev
    FROM with_level
    GROUP BY level_code, org_level, school_year, subgroup, metric, subject, grade
),
dese AS (
    SELECT
        c.org_code, c.org_level, c.school_year, c.subgroup, rm.metric, c.subject, c.grade,
        num.value AS numerator,
        den.value AS denominator,
        den.value::BIGINT AS n_students,
        CASE WHEN rm.dese_measure IS NULL THEN 100.0 * num.value / nullif(den.value, 0) ELSE c.value END AS value,
        NULL::DOUBLE AS std_dev,
        CASE WHEN rm.dese_measure IS NULL THEN coalesce(num.is_suppressed OR den.is_suppressed, TRUE)
             ELSE c.is_suppressed END AS is_suppressed,
        c.source_file, c.source_row
    FROM ref_metrics rm
    JOIN stg_dese_cells c ON c.measure = coalesce(rm.dese_measure, rm.dese_numerator_measure)
    LEFT JOIN stg_dese_cells num
        ON num.source_file = c.source_file AND num.source_sheet = c.source_sheet AND num.source_row = c.source_row
       AND num.measure = rm.dese_numerator_measure
    LEFT JOIN stg_dese_cells den
        ON den.source_file = c.source_file AND den.source_sheet = c.source_sheet AND den.source_row = c.source_row
       AND den.measure = rm.dese_denominator_measure
    WHERE rm.sources LIKE '%dese%'
    QUALIFY row_number() OVER (
        PARTITION BY c.org_code, c.org_level, c.school_year, c.subgroup, rm.metric, c.subject, c.grade
        ORDER BY c.is_suppressed, c.source_file, c.source_row) = 1
)
SELECT
    s.org_code, s.org_level, s.school_year, s.subgroup, s.metric, s.subject, s.grade,
    s.numerator, s.denominator, s.n_students,
    CASE WHEN s.is_small OR s.value IS NULL THEN NULL ELSE s.value END AS value,
    CASE WHEN s.is_small OR s.value IS NULL THEN NULL ELSE s.std_dev END AS std_dev,
    (s.is_small OR s.value IS NULL) AS is_suppressed,
    'student' AS source,
    NULL::VARCHAR AS source_file,
    NULL::BIGINT AS source_row
FROM (
    SELECT s.*, (CASE WHEN rm.min_n_on = 'denominator' THEN s.denominator ELSE s.n_students END) < rm.min_n AS is_small
    FROM student s JOIN ref_metrics rm USING (metric)
) s
UNION ALL
SELECT org_code, org_level, school_year, subgroup, metric, subject, grade, numerator, denominator, n_students,
       CASE WHEN is_suppressed THEN NULL ELSE value END, std_dev, is_suppressed, 'dese', source_file, source_row
FROM dese;

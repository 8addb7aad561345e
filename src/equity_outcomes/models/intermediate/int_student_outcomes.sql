-- int_student_outcomes
-- Grain: one row per student x school x school_year x measure: the student-level 0/1 (or score) that the
-- metric_values mart averages. Columns: metric, subject, grade, num (the student's contribution to the numerator),
-- den (to the denominator), x (a score for mean/median metrics; NULL otherwise).
-- A view, not a table: its two readers (int_outcome_profiles, int_sgp_histogram) aggregate it as it streams, so
-- the ~86 rows per student are never stored (build -30% at 100k students, the same metric_values).
{{ config(materialized='view') }}
WITH discipline AS (
    SELECT school_year, org_code, student_id,
           bool_or(action = 'ISS') AS any_iss,
           bool_or(action = 'OSS') AS any_oss,
           count(*) > 0 AS any_action
    FROM {{ ref('stg_discipline') }} GROUP BY ALL
),
ap AS (
    SELECT school_year, org_code, student_id,
           bool_or(course_type = 'AP') AS took_ap,
           bool_or(course_type = 'AP' AND ap_exam_score >= 3) AS ap_3_plus
    FROM {{ ref('stg_courses') }} GROUP BY ALL
),
survey_matched AS (  -- the means compared exactly: exact sums (DECIMAL) cross-multiplied by the counts; DOUBLE means
                     -- decided equal means by the order the scores were summed in
    SELECT respondent_type, school_year, org_code, respondent_id, construct,
           sum(score::DECIMAL(18, 6)) FILTER (WHERE season = 'fall') AS fall_sum,
           count(score) FILTER (WHERE season = 'fall') AS fall_n,
           sum(score::DECIMAL(18, 6)) FILTER (WHERE season = 'spring') AS spring_sum,
           count(score) FILTER (WHERE season = 'spring') AS spring_n
    FROM {{ ref('stg_surveys') }} GROUP BY ALL
)
-- DESE: attendance indicators for students with at least 20 days in membership. One scan for the three, and no
-- CTE read three times: DuckDB stores such a CTE whole, and an incremental build's year filter (macros/yearly.sql)
-- did not reach it, so a +1 year build read every year's enrollment (#22).
SELECT school_year, org_code, student_id, m.metric AS metric, NULL AS subject, 'all' AS grade,
       CASE m.metric WHEN 'pct_absent_10_plus_days' THEN (days_absent >= 10)::INTEGER
                     WHEN 'pct_chronically_absent' THEN (days_absent >= 0.1 * days_in_membership)::INTEGER
                     ELSE days_in_membership - days_absent END AS num,
       CASE m.metric WHEN 'attendance_rate' THEN days_in_membership ELSE 1 END AS den, NULL::DOUBLE AS x
FROM {{ ref('stg_enrollment') }}
CROSS JOIN (VALUES ('pct_absent_10_plus_days'), ('pct_chronically_absent'), ('attendance_rate')) m(metric)
WHERE days_in_membership >= 20
UNION ALL
SELECT e.school_year, e.org_code, e.student_id, m.metric, NULL, 'all',
       CASE m.metric
           WHEN 'pct_in_school_suspension' THEN coalesce(d.any_iss, FALSE)
           WHEN 'pct_out_of_school_suspension' THEN coalesce(d.any_oss, FALSE)
           WHEN 'pct_suspended' THEN coalesce(d.any_iss OR d.any_oss, FALSE)
           ELSE coalesce(d.any_action, FALSE) END::INTEGER,
       1, NULL
FROM {{ ref('stg_enrollment') }} e
LEFT JOIN discipline d USING (school_year, org_code, student_id)
CROSS JOIN (VALUES ('pct_in_school_suspension'), ('pct_out_of_school_suspension'), ('pct_suspended'),
                   ('pct_disciplined')) m(metric)
UNION ALL
-- MCAS: grade selections as DESE publishes them ('03-08' pools grades 3-8) plus each single grade
SELECT school_year, org_code, student_id,
       CASE WHEN test_family = 'nextgen' THEN 'pct_meeting_or_exceeding' ELSE 'pct_proficient_or_advanced' END,
       subject, {{ mcas_grades('a.grade') }},
       (is_meeting_or_exceeding OR is_proficient_or_advanced)::INTEGER, 1, NULL
FROM {{ ref('stg_assessments') }} a
UNION ALL
SELECT school_year, org_code, student_id, m.metric, subject, {{ mcas_grades('a.grade') }}, NULL, 1, scaled_score
FROM {{ ref('stg_assessments') }} a,
     (VALUES ('avg_scaled_score')) m(metric)
UNION ALL
-- SGPs: supplied, else computed by `equity-outcomes growth` (int_student_sgp)
SELECT school_year, org_code, student_id, m.metric, subject, {{ mcas_grades('a.grade') }}, NULL, 1, sgp
FROM {{ ref('int_student_sgp') }} a,
     (VALUES ('median_sgp'), ('mean_sgp')) m(metric)
UNION ALL
SELECT school_year, org_code, student_id, m.metric, NULL, 'all',
       CASE m.metric WHEN 'pct_masscore_complete' THEN is_masscore_complete
                     WHEN 'pct_grads_dual_enrollment' THEN has_dual_enrollment
                     ELSE is_enrolled_postsecondary END::INTEGER,
       1, NULL
FROM {{ ref('stg_graduates') }}
CROSS JOIN (VALUES ('pct_masscore_complete'), ('pct_grads_dual_enrollment'), ('pct_grads_postsecondary')) m(metric)
UNION ALL
-- the rubric's AP target: students in grades 11-12 who took an AP course and scored 3+
SELECT e.school_year, e.org_code, e.student_id, 'pct_ap_score_3_plus', NULL, 'all',
       coalesce(ap.ap_3_plus, FALSE)::INTEGER, 1, NULL
FROM {{ ref('stg_enrollment') }} e LEFT JOIN ap USING (school_year, org_code, student_id)
WHERE e.grade IN ('11', '12')
UNION ALL
-- DESE's AP performance: per exam taken (num = exams scored 3-5, den = exams)
SELECT school_year, org_code, student_id, 'pct_ap_tests_score_3_5', NULL, 'all',
       count(*) FILTER (WHERE ap_exam_score >= 3), count(*), NULL
FROM {{ ref('stg_courses') }} WHERE course_type = 'AP' AND ap_exam_score IS NOT NULL
GROUP BY school_year, org_code, student_id  -- not ALL: Spark reads ALL as the column named by the 'all' literal
UNION ALL
SELECT school_year, org_code, respondent_id,
       CASE construct WHEN 'perceptions' THEN 'pct_students_improved_perceptions'
                      WHEN 'competencies' THEN 'pct_students_improved_competencies'
                      ELSE 'pct_teachers_improved_efficacy' END,
       NULL, 'all', (spring_sum * fall_n > fall_sum * spring_n)::INTEGER, 1, NULL
FROM survey_matched
WHERE fall_n > 0 AND spring_n > 0
UNION ALL
SELECT school_year, org_code, student_id, 'capstone_mean_score', NULL, 'all', NULL, 1, capstone_score
FROM {{ ref('stg_capstone') }}

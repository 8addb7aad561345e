-- floor_full.sql: the full-fidelity floor (#22). One bare DuckDB SQL script over the raw files of a network folder
-- (roster.csv, student/<year>/<table>.csv: all 8 student tables) that computes every student-sourced cell of
-- metric_values: every metric of config/metrics.yaml that student data feeds, by school x school_year x subgroup
-- (complements and high needs included, as macros/subgroups_of.sql expands a profile) x subject x grade, plus the
-- pooled network rows (org_level 'network', roster schools with is_network_school = 1), with counts, value,
-- standard deviation and the catalog's min_n suppression. No validation, pseudonymization, quarantine, audit,
-- transaction bookkeeping or orchestration: what the flow adds on top of this is what the benchmark measures.
--
-- Input besides the files: the table floor_metrics(metric, min_n, min_n_on), written from config/metrics.yaml by
-- floor_vs_flow.py (the catalog stays the one place a threshold lives). Run with cwd = the network folder.
-- Output: table floor_values, the columns of metric_values (source 'student') without source/source_file/row.
-- The definitions follow models/intermediate/int_student_outcomes.sql; floor_vs_flow.py compares every cell.

CREATE OR REPLACE TEMP TABLE enr AS
SELECT school_year::INTEGER AS school_year, org_code, student_id, grade, race_ethnicity AS race,
       is_low_income = 1 AS li, is_el = 1 AS el, is_swd = 1 AS swd,
       (is_low_income = 1 OR is_el = 1 OR is_former_el = 1 OR is_swd = 1) AS hn,
       days_in_membership::DOUBLE AS dim, days_absent::DOUBLE AS da
FROM read_csv('student/*/enrollment.csv', header = true,
              types = {'student_id': 'VARCHAR', 'org_code': 'VARCHAR', 'grade': 'VARCHAR'});

CREATE OR REPLACE TEMP TABLE tests AS
SELECT school_year::INTEGER AS school_year, org_code, student_id, grade, lower(subject) AS subject, test_family,
       scaled_score::DOUBLE AS scaled_score, achievement_level IN ('M', 'E', 'P', 'A') AS proficient,
       sgp::DOUBLE AS sgp,
       CASE WHEN grade BETWEEN '03' AND '08' THEN [grade, '03-08'] ELSE [grade] END AS grades
FROM read_csv('student/*/assessments.csv', header = true,
              types = {'student_id': 'VARCHAR', 'org_code': 'VARCHAR', 'grade': 'VARCHAR'});

CREATE OR REPLACE TEMP TABLE courses AS
SELECT school_year::INTEGER AS school_year, org_code, student_id,
       bool_or(course_type = 'AP' AND ap_exam_score >= 3) AS ap_3_plus,
       count(*) FILTER (WHERE course_type = 'AP' AND ap_exam_score >= 3) AS ap_tests_3_5,
       count(*) FILTER (WHERE course_type = 'AP' AND ap_exam_score IS NOT NULL) AS ap_tests
FROM read_csv('student/*/courses.csv', header = true,
              types = {'student_id': 'VARCHAR', 'org_code': 'VARCHAR', 'ap_exam_score': 'INTEGER'})
GROUP BY ALL;

-- sums by student profile (a row with no enrollment in that school and year, and every teacher, has no profile:
-- it counts in 'all' only), and the SGP histogram by profile for exact medians (enrolled students only)
CREATE OR REPLACE TEMP TABLE profiles AS
WITH dis AS (
    SELECT school_year::INTEGER AS school_year, org_code, student_id,
           bool_or(action = 'ISS') AS iss, bool_or(action = 'OSS') AS oss
    FROM read_csv('student/*/discipline.csv', header = true,
                  types = {'student_id': 'VARCHAR', 'org_code': 'VARCHAR', 'incident_id': 'VARCHAR'})
    GROUP BY ALL
),
enr_dis AS (
    SELECT e.*, coalesce(d.iss, FALSE) AS iss, coalesce(d.oss, FALSE) AS oss, d.student_id IS NOT NULL AS any_action
    FROM enr e LEFT JOIN dis d USING (school_year, org_code, student_id)
),
surveys AS (
    SELECT school_year::INTEGER AS school_year, org_code, student_id AS id,
           CASE WHEN domain IN ('climate_culture', 'engagement', 'relationships', 'belonging')
                THEN 'pct_students_improved_perceptions' ELSE 'pct_students_improved_competencies' END AS metric,
           season, score
    FROM read_csv('student/*/student_surveys.csv', header = true,
                  types = {'student_id': 'VARCHAR', 'org_code': 'VARCHAR', 'score': 'DOUBLE'})
    UNION ALL
    SELECT school_year::INTEGER, org_code, teacher_id, 'pct_teachers_improved_efficacy', season, score
    FROM read_csv('student/*/teacher_surveys.csv', header = true,
                  types = {'teacher_id': 'VARCHAR', 'org_code': 'VARCHAR', 'score': 'DOUBLE'})
),
matched AS (
    SELECT school_year, org_code, id, metric,
           sum(score::DECIMAL(18, 6)) FILTER (WHERE season = 'fall') AS fall, count(score) FILTER (WHERE season = 'fall') AS nf,
           sum(score::DECIMAL(18, 6)) FILTER (WHERE season = 'spring') AS spring,
           count(score) FILTER (WHERE season = 'spring') AS ns
    FROM surveys GROUP BY ALL
),
outcomes AS (  -- one row per student x school x year x measure: num, den (NULL x) or the score x
SELECT school_year, org_code, student_id, unnest(['pct_absent_10_plus_days', 'pct_chronically_absent',
                                                  'attendance_rate']) AS metric,
       NULL::VARCHAR AS subject, 'all' AS grade,
       unnest([(da >= 10)::DOUBLE, (da >= 0.1 * dim)::DOUBLE, dim - da]) AS num,
       unnest([1, 1, dim]) AS den, NULL::DOUBLE AS x
FROM enr WHERE dim >= 20
UNION ALL
SELECT school_year, org_code, student_id,
       unnest(['pct_in_school_suspension', 'pct_out_of_school_suspension', 'pct_suspended', 'pct_disciplined']),
       NULL, 'all', unnest([iss::DOUBLE, oss::DOUBLE, (iss OR oss)::DOUBLE, any_action::DOUBLE]), 1, NULL
FROM enr_dis
UNION ALL
SELECT school_year, org_code, student_id, m.metric, subject, g.grade,
       CASE WHEN m.metric LIKE 'pct_%' THEN proficient::DOUBLE END, 1,
       CASE WHEN m.metric LIKE 'pct_%' THEN NULL ELSE scaled_score END
FROM tests, (SELECT unnest(tests.grades) AS grade) g,
     (SELECT unnest([CASE WHEN tests.test_family = 'nextgen' THEN 'pct_meeting_or_exceeding'
                          ELSE 'pct_proficient_or_advanced' END, 'avg_scaled_score']) AS metric) m
UNION ALL
SELECT school_year, org_code, student_id, m.metric, subject, g.grade, NULL, 1, sgp
FROM tests, (SELECT unnest(tests.grades) AS grade) g, (VALUES ('median_sgp'), ('mean_sgp')) m(metric)
WHERE sgp IS NOT NULL
UNION ALL
SELECT school_year::INTEGER, org_code, student_id,
       unnest(['pct_masscore_complete', 'pct_grads_dual_enrollment', 'pct_grads_postsecondary']), NULL, 'all',
       unnest([(masscore_complete = 1)::DOUBLE, (completed_dual_enrollment = 1)::DOUBLE,
               coalesce(enrolled_postsecondary = 1, FALSE)::DOUBLE]), 1, NULL
FROM read_csv('student/*/graduates.csv', header = true, types = {'student_id': 'VARCHAR', 'org_code': 'VARCHAR'})
UNION ALL
SELECT e.school_year, e.org_code, e.student_id, 'pct_ap_score_3_plus', NULL, 'all',
       coalesce(c.ap_3_plus, FALSE)::DOUBLE, 1, NULL
FROM enr e LEFT JOIN courses c USING (school_year, org_code, student_id)
WHERE e.grade IN ('11', '12')
UNION ALL
SELECT school_year, org_code, student_id, 'pct_ap_tests_score_3_5', NULL, 'all', ap_tests_3_5, ap_tests, NULL
FROM courses WHERE ap_tests > 0
UNION ALL
SELECT school_year, org_code, id, metric, NULL, 'all', (spring * nf > fall * ns)::DOUBLE, 1, NULL
FROM matched WHERE nf > 0 AND ns > 0
UNION ALL
SELECT school_year::INTEGER, org_code, student_id, 'capstone_mean_score', NULL, 'all', NULL, 1, capstone_score
FROM read_csv('student/*/capstone.csv', header = true,
              types = {'student_id': 'VARCHAR', 'org_code': 'VARCHAR', 'capstone_score': 'DOUBLE'})
)
SELECT o.org_code, o.school_year, o.metric, o.subject, o.grade,
       CASE WHEN o.metric <> 'pct_teachers_improved_efficacy' THEN e.race END AS race,
       CASE WHEN o.metric <> 'pct_teachers_improved_efficacy' THEN [e.li, e.el, e.swd, e.hn] END AS flags,
       o.metric = 'median_sgp' AND e.race IS NOT NULL AS enrolled,
       CASE WHEN o.metric = 'median_sgp' THEN o.x END AS sgp_value,
       count(*) AS n, sum(o.num) AS num, sum(o.den)::DOUBLE AS den, sum(o.x) AS sx, sum(o.x * o.x) AS sx2
FROM outcomes o LEFT JOIN enr e USING (school_year, org_code, student_id)
GROUP BY ALL;

-- the subgroups of a profile (macros/subgroups_of.sql): 'all', the race and the complements; no profile: 'all'
CREATE OR REPLACE TEMP MACRO groups_of(race, flags) AS
    CASE WHEN race IS NULL THEN ['all'] ELSE list_filter([
        'all', race,
        CASE WHEN race <> 'black' THEN 'non_black' END, CASE WHEN race <> 'latino' THEN 'non_latino' END,
        CASE WHEN race <> 'white' THEN 'non_white' END, CASE WHEN race <> 'asian' THEN 'non_asian' END,
        CASE WHEN flags[1] THEN 'low_income' ELSE 'non_low_income' END,
        CASE WHEN flags[2] THEN 'el' ELSE 'non_el' END,
        CASE WHEN flags[3] THEN 'swd' ELSE 'non_swd' END,
        CASE WHEN flags[4] THEN 'high_needs' ELSE 'non_high_needs' END], lambda s: s IS NOT NULL) END;

-- each school, and the network pooled over the roster's network schools
CREATE OR REPLACE TEMP TABLE levels AS
SELECT DISTINCT org_code, org_code AS level_code, 'school' AS org_level FROM profiles
UNION ALL
SELECT org_code, 'network', 'network'
FROM read_csv('roster.csv', header = true, types = {'org_code': 'VARCHAR'}) WHERE is_network_school = 1;

-- sums by level x subgroup, and the median SGP of each cell from its histogram
CREATE OR REPLACE TEMP TABLE cells AS
SELECT org_code, org_level, school_year, subgroup, metric, subject, grade,
       sum(n) AS n, sum(num) AS num, sum(den) AS den, sum(sx) AS sx, sum(sx2) AS sx2
FROM (SELECT l.level_code AS org_code, l.org_level, p.school_year, p.metric, p.subject, p.grade,
             p.n, p.num, p.den, p.sx, p.sx2, unnest(groups_of(p.race, p.flags)) AS subgroup
      FROM profiles p JOIN levels l USING (org_code))
GROUP BY ALL;

CREATE OR REPLACE TEMP TABLE medians AS
WITH histogram AS (
    SELECT org_code, org_level, school_year, subgroup, subject, grade, sgp, sum(n) AS n
    FROM (SELECT l.level_code AS org_code, l.org_level, p.school_year, p.subject, p.grade, p.sgp_value AS sgp, p.n,
                 unnest(groups_of(p.race, p.flags)) AS subgroup
          FROM profiles p JOIN levels l USING (org_code) WHERE p.enrolled)
    GROUP BY ALL
)
SELECT org_code, org_level, school_year, subgroup, subject, grade,
       (min(sgp) FILTER (WHERE cum >= (total + 1) // 2) + min(sgp) FILTER (WHERE cum >= total // 2 + 1)) / 2.0
           AS median
FROM (SELECT *, sum(n) OVER w AS cum, sum(n) OVER (PARTITION BY org_code, org_level, school_year, subgroup,
                                                                subject, grade) AS total
      FROM histogram
      WINDOW w AS (PARTITION BY org_code, org_level, school_year, subgroup, subject, grade ORDER BY sgp))
GROUP BY ALL;

CREATE OR REPLACE TEMP TABLE floor_values AS
WITH scored AS (
    SELECT c.*, m.median,
           c.metric IN ('mean_sgp', 'avg_scaled_score', 'capstone_mean_score') AS is_mean
    FROM cells c LEFT JOIN medians m
      ON c.metric = 'median_sgp' AND m.org_code = c.org_code AND m.org_level = c.org_level
     AND m.school_year = c.school_year AND m.subgroup = c.subgroup AND m.subject IS NOT DISTINCT FROM c.subject
     AND m.grade = c.grade
),
valued AS (
    SELECT s.*,
           CASE WHEN metric = 'median_sgp' THEN NULL WHEN is_mean THEN sx ELSE num END AS numerator,
           CASE WHEN metric = 'median_sgp' THEN median WHEN is_mean THEN sx / n
                ELSE 100.0 * num / nullif(den, 0) END AS value,
           CASE WHEN sx IS NOT NULL AND n > 1 THEN sqrt(greatest((sx2 - sx * sx / n) / (n - 1), 0)) END AS std_dev,
           (CASE WHEN fm.min_n_on = 'denominator' THEN den ELSE n END) < fm.min_n AS is_small
    FROM scored s JOIN floor_metrics fm USING (metric)
)
SELECT org_code, org_level, school_year, subgroup, metric, subject, grade,
       CASE WHEN is_small OR value IS NULL THEN NULL ELSE numerator END AS numerator,
       CASE WHEN is_small OR value IS NULL THEN NULL ELSE den END AS denominator,
       n AS n_students,
       CASE WHEN is_small OR value IS NULL THEN NULL ELSE value END AS value,
       CASE WHEN is_small OR value IS NULL THEN NULL ELSE std_dev END AS std_dev,
       (is_small OR value IS NULL) AS is_suppressed
FROM valued;

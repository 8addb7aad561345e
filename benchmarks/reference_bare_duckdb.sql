-- reference_bare_duckdb.sql: the floor. One DuckDB query over the raw student CSVs (read_csv_auto globs), with no
-- validation, no pseudonymization, no quarantine, no audit, no transaction bookkeeping and no orchestration.
-- It computes the same numbers as the warehouse's metric_values (source 'student', org_level 'school') for:
--   pct_absent_10_plus_days, pct_chronically_absent, attendance_rate              (grade 'all')
--   pct_suspended, pct_in_school_suspension, pct_out_of_school_suspension         (grade 'all')
--   pct_meeting_or_exceeding, median_sgp, mean_sgp by subject and grade selection (each tested grade and '03-08')
-- by school_year x org_code x subgroup for the subgroups all, low_income, black, latino, el, swd.
-- Definitions follow sql/intermediate/int_student_outcomes.sql: attendance over enrollments with >= 20 days in
-- membership, discipline over every enrollment, assessments and discipline only for students enrolled in that
-- school that year (their subgroups come from that enrollment row).
--
-- The globs are relative: run it from the network folder (the one holding student/<year>/*.csv), e.g.
--   cd /tmp/eo_bench/100000/raw && duckdb -c ".read /work/main/benchmarks/reference_bare_duckdb.sql" \
--       -c "SELECT count(*) FROM bench_reference"
-- run_benchmark.py runs it through the duckdb Python module the same way (cwd = network folder).
-- Output: table bench_reference(school_year, org_code, subgroup, metric, subject, grade, value, n).

CREATE OR REPLACE TABLE bench_reference AS
WITH enr AS (
    SELECT school_year, org_code, student_id, days_in_membership, days_absent,
           list_filter(['all',
                        CASE WHEN is_low_income = 1 THEN 'low_income' END,
                        CASE WHEN race_ethnicity = 'black' THEN 'black' END,
                        CASE WHEN race_ethnicity = 'latino' THEN 'latino' END,
                        CASE WHEN is_el = 1 THEN 'el' END,
                        CASE WHEN is_swd = 1 THEN 'swd' END], lambda x: x IS NOT NULL) AS groups
    FROM read_csv_auto('student/*/enrollment.csv',
                       types = {'student_id': 'VARCHAR', 'org_code': 'VARCHAR', 'grade': 'VARCHAR'})
),
dis AS (
    SELECT school_year, org_code, student_id, bool_or(action = 'ISS') AS iss, bool_or(action = 'OSS') AS oss
    FROM read_csv_auto('student/*/discipline.csv',
                       types = {'student_id': 'VARCHAR', 'org_code': 'VARCHAR', 'incident_id': 'VARCHAR'})
    GROUP BY ALL
),
enr_sub AS (
    SELECT e.school_year, e.org_code, e.student_id, e.days_in_membership, e.days_absent,
           coalesce(d.iss, FALSE) AS iss, coalesce(d.oss, FALSE) AS oss, unnest(e.groups) AS subgroup
    FROM enr e LEFT JOIN dis d USING (school_year, org_code, student_id)
),
attendance AS (
    SELECT school_year, org_code, subgroup,
           100.0 * avg((days_absent >= 10)::INTEGER) AS pct_absent_10_plus_days,
           100.0 * avg((days_absent >= 0.1 * days_in_membership)::INTEGER) AS pct_chronically_absent,
           100.0 * sum(days_in_membership - days_absent) / nullif(sum(days_in_membership), 0) AS attendance_rate,
           count(*) AS n
    FROM enr_sub WHERE days_in_membership >= 20
    GROUP BY ALL
),
discipline AS (
    SELECT school_year, org_code, subgroup,
           100.0 * avg((iss OR oss)::INTEGER) AS pct_suspended,
           100.0 * avg(iss::INTEGER) AS pct_in_school_suspension,
           100.0 * avg(oss::INTEGER) AS pct_out_of_school_suspension,
           count(*) AS n
    FROM enr_sub
    GROUP BY ALL
),
tests AS (
    SELECT a.school_year, a.org_code, lower(a.subject) AS subject, a.test_family, a.achievement_level,
           a.sgp::DOUBLE AS sgp, e.groups,
           list_filter([a.grade, CASE WHEN a.grade BETWEEN '03' AND '08' THEN '03-08' END], lambda x: x IS NOT NULL) AS grades
    FROM read_csv_auto('student/*/assessments.csv',
                       types = {'student_id': 'VARCHAR', 'org_code': 'VARCHAR', 'grade': 'VARCHAR'}) a
    JOIN enr e USING (school_year, org_code, student_id)
),
tests_long AS (
    SELECT school_year, org_code, subject, test_family, achievement_level, sgp, unnest(groups) AS subgroup, grade
    FROM (SELECT *, unnest(grades) AS grade FROM tests)
),
meeting AS (
    SELECT school_year, org_code, subgroup, subject, grade,
           100.0 * avg((achievement_level IN ('M', 'E'))::INTEGER) AS value, count(*) AS n
    FROM tests_long WHERE test_family = 'nextgen'
    GROUP BY ALL
),
sgp AS (
    SELECT school_year, org_code, subgroup, subject, grade, median(sgp) AS median_sgp, avg(sgp) AS mean_sgp,
           count(*) AS n
    FROM tests_long WHERE sgp IS NOT NULL
    GROUP BY ALL
)
SELECT school_year, org_code, subgroup, metric, NULL::VARCHAR AS subject, 'all' AS grade, value, n
FROM attendance UNPIVOT (value FOR metric IN (pct_absent_10_plus_days, pct_chronically_absent, attendance_rate))
UNION ALL
SELECT school_year, org_code, subgroup, metric, NULL, 'all', value, n
FROM discipline UNPIVOT (value FOR metric IN (pct_suspended, pct_in_school_suspension, pct_out_of_school_suspension))
UNION ALL
SELECT school_year, org_code, subgroup, 'pct_meeting_or_exceeding', subject, grade, value, n FROM meeting
UNION ALL
SELECT school_year, org_code, subgroup, metric, subject, grade, value, n
FROM sgp UNPIVOT (value FOR metric IN (median_sgp, mean_sgp));

-- metric_values: the long fact table every target, scorecard and export reads.
-- Grain: one row per org_code x org_level x school_year x subgroup x metric x subject x grade x source.
--   org_level: school | network (pooled over roster schools with is_network_school = 1; org_code 'network')
--              | district | state (DESE rows as published; state org_code '00000000').
--   source: 'student' (computed here from student records) | 'dese' (published profile figures).
--   value: percent metrics on a 0-100 scale; NULL when is_suppressed.
--   numerator/denominator: the counts behind the value (for DESE only when published in the same row);
--   n_students: people in the population (DESE: the published denominator).
-- Student values come from int_outcome_profiles (sums by student profile, expanded to subgroups here) and
-- int_sgp_medians (exact medians). Student values under the catalog's min_n (ref_metrics.min_n, counted on ref_metrics.min_n_on) are suppressed; DESE values keep DESE's own suppression.
{{ yearly_config() }}
WITH network_schools AS (  -- the network is pooled over roster schools with is_network_school = 1
    SELECT org_code FROM {{ ref('stg_roster') }} WHERE is_network_school = 1
),
-- each school's sums by subgroup; the network's are the sums of its schools' (whole counts and exact DECIMAL sums:
-- the same as expanding every profile twice, in two thirds of the rows: -2 s of CPU at 200k).
school_cells AS (
    SELECT org_code, school_year, subgroup, metric, subject, grade,
           sum(n) AS n, sum(num) AS num, sum(den) AS den, sum(sum_x) AS sx, sum(sum_x2) AS sx2
    FROM (
        SELECT p.org_code, p.school_year, p.metric, p.subject, p.grade,
               {{ unnest_list(subgroups_of('p.race', 'p.is_low_income', 'p.is_el', 'p.is_swd', 'p.is_high_needs')) }} AS subgroup,
               p.n, p.num, p.den, p.sum_x, p.sum_x2
        FROM {{ ref('int_outcome_profiles') }} p
        WHERE {{ for_changed_years('p.school_year') }}
    )
    GROUP BY ALL
),
cells AS (
    SELECT org_code, 'school' AS org_level, school_year, subgroup, metric, subject, grade, n, num, den, sx, sx2
    FROM school_cells
    UNION ALL
    SELECT 'network', 'network', school_year, subgroup, metric, subject, grade,
           sum(n), sum(num), sum(den), sum(sx), sum(sx2)
    FROM school_cells JOIN network_schools USING (org_code)
    GROUP BY school_year, subgroup, metric, subject, grade
),
student AS (
    SELECT
        c.org_code, c.org_level, c.school_year, c.subgroup, c.metric, c.subject, c.grade,
        CASE WHEN c.metric = 'median_sgp' THEN NULL
             WHEN c.metric IN ('mean_sgp', 'avg_scaled_score', 'capstone_mean_score') THEN c.sx::DOUBLE
             ELSE c.num END AS numerator,
        c.den AS denominator,
        c.n::BIGINT AS n_students,  -- a count (DuckDB's sum of counts would be HUGEINT, Spark's BIGINT)
        CASE WHEN c.metric = 'median_sgp' THEN m.median
             WHEN c.metric IN ('mean_sgp', 'avg_scaled_score', 'capstone_mean_score') THEN c.sx::DOUBLE / c.n
             ELSE 100.0 * c.num / nullif(c.den, 0) END AS value,
        CASE WHEN c.sx IS NOT NULL AND c.n > 1
             THEN sqrt(greatest((c.sx2::DOUBLE - c.sx::DOUBLE * c.sx::DOUBLE / c.n) / (c.n - 1), 0)) END
            AS std_dev
    FROM cells c
    LEFT JOIN {{ ref('int_sgp_medians') }} m
        ON c.metric = 'median_sgp' AND m.org_code = c.org_code AND m.org_level = c.org_level
       AND m.school_year = c.school_year AND m.subgroup = c.subgroup AND m.subject IS NOT DISTINCT FROM c.subject
       AND m.grade = c.grade
       AND {{ for_changed_years('m.school_year') }}  -- said again for the joined side: DuckDB does not carry it over
),
dese AS (
    SELECT
        c.org_code, c.org_level, c.school_year, c.subgroup, rm.metric, c.subject, c.grade,
        num.value AS numerator,
        den.value AS denominator,
        round(den.value)::BIGINT AS n_students,
        CASE WHEN rm.dese_measure IS NULL THEN 100.0 * num.value / nullif(den.value, 0) ELSE c.value END AS value,
        NULL::DOUBLE AS std_dev,
        CASE WHEN rm.dese_measure IS NULL THEN coalesce(num.is_suppressed OR den.is_suppressed, TRUE)
             ELSE c.is_suppressed END AS is_suppressed,
        c.source_file, c.source_row
    FROM {{ ref('ref_metrics') }} rm
    JOIN {{ ref('stg_dese_cells') }} c ON c.measure = coalesce(rm.dese_measure, rm.dese_numerator_measure)
    -- counts of the same row, year, subject and grade (a wide research file holds several years and subjects)
    LEFT JOIN {{ ref('stg_dese_cells') }} num
        ON num.source_file = c.source_file AND num.source_sheet = c.source_sheet AND num.source_row = c.source_row
       AND num.school_year = c.school_year AND num.subject IS NOT DISTINCT FROM c.subject AND num.grade = c.grade
       AND num.measure = rm.dese_numerator_measure
    LEFT JOIN {{ ref('stg_dese_cells') }} den
        ON den.source_file = c.source_file AND den.source_sheet = c.source_sheet AND den.source_row = c.source_row
       AND den.school_year = c.school_year AND den.subject IS NOT DISTINCT FROM c.subject AND den.grade = c.grade
       AND den.measure = rm.dese_denominator_measure
    WHERE rm.sources LIKE '%dese%' AND {{ for_changed_years('c.school_year') }}
    QUALIFY row_number() OVER (
        PARTITION BY c.org_code, c.org_level, c.school_year, c.subgroup, rm.metric, c.subject, c.grade
        ORDER BY c.is_suppressed, c.source_file, c.source_row) = 1
)
SELECT
    s.org_code, s.org_level, s.school_year, s.subgroup, s.metric, s.subject, s.grade,
    -- a suppressed cell keeps only its n: its counts would give the hidden value back
    CASE WHEN s.is_small OR s.value IS NULL THEN NULL ELSE s.numerator END AS numerator,
    CASE WHEN s.is_small OR s.value IS NULL THEN NULL ELSE s.denominator END AS denominator,
    s.n_students,
    CASE WHEN s.is_small OR s.value IS NULL THEN NULL ELSE s.value END AS value,
    CASE WHEN s.is_small OR s.value IS NULL THEN NULL ELSE s.std_dev END AS std_dev,
    (s.is_small OR s.value IS NULL) AS is_suppressed,
    'student' AS source,
    NULL::STRING AS source_file,
    NULL::BIGINT AS source_row
FROM (
    SELECT s.*, (CASE WHEN rm.min_n_on = 'denominator' THEN s.denominator ELSE s.n_students END) < rm.min_n AS is_small
    FROM student s JOIN {{ ref('ref_metrics') }} rm USING (metric)
) s
UNION ALL
SELECT org_code, org_level, school_year, subgroup, metric, subject, grade, numerator, denominator, n_students,
       CASE WHEN is_suppressed THEN NULL ELSE value END, std_dev, is_suppressed, 'dese', source_file, source_row
FROM dese

-- eval_main: the comparison each school is judged on, per target, subgroup and subject, with the comparability
-- flags (f_*, named as in the flag catalog) and whether it is due.
--   The school's own years; the most preferred comparison with what the rule needs, else the most preferred
--   same-metric one; every network school gets a row for each subgroup and subject even without data (never a
--   silent blank), unless its grade span shows the target does not apply (applies_low..applies_high) and it has
--   no data for it.
-- Grain: one row per target_id x org_code x subgroup x subject.
{{ config(materialized='table') }}
{% set req = ['target_id', 'org_code', 'subgroup', 'subject'] %}
WITH targets AS (SELECT * FROM {{ source('evaluate', 'eval_targets') }}),
items AS (SELECT * FROM {{ source('evaluate', 'eval_target_items') }}),
catalog AS (SELECT * FROM {{ source('evaluate', 'eval_catalog_items') }}),
settings AS (SELECT * FROM {{ source('evaluate', 'eval_settings') }}),
years AS (SELECT * FROM {{ ref('eval_school_years') }}),
spans AS (SELECT * FROM {{ ref('eval_grade_spans') }}),
observed AS (SELECT DISTINCT target_id, org_code, subgroup FROM {{ ref('eval_target_observations') }}),
own AS (
    SELECT c.* FROM {{ ref('eval_comparisons') }} c
    JOIN years y ON y.target_id = c.target_id AND y.org_code = c.org_code AND y.base_year = c.base_year AND y.base_window = c.base_window
                AND y.cur_year = c.cur_year
    WHERE c.org_level = 'school'
),
chosen AS (
    SELECT * FROM own WHERE ok
    QUALIFY row_number() OVER (PARTITION BY {{ req | join(', ') }} ORDER BY rank, metric_b, metric_c, source, grade) = 1
),
fallback AS (
    SELECT * FROM own o
    WHERE metric_b = metric_c AND NOT EXISTS (
        SELECT 1 FROM chosen c WHERE {% for k in req %}c.{{ k }} = o.{{ k }}{% if not loop.last %} AND {% endif %}{% endfor %})
    QUALIFY row_number() OVER (PARTITION BY {{ req | join(', ') }} ORDER BY rank, metric_b, metric_c, source, grade) = 1
),
picked AS (SELECT * FROM chosen UNION ALL SELECT * FROM fallback),
span_now AS (  -- each school's grade span in the judged year, else its latest
    SELECT y.target_id, y.org_code, s.grade_low, s.grade_high
    FROM years y JOIN spans s ON s.org_code = y.org_code
    QUALIFY row_number() OVER (PARTITION BY y.target_id, y.org_code
                               ORDER BY (s.school_year = y.cur_year) DESC, s.school_year DESC) = 1
),
network AS (
    SELECT y.target_id, y.org_code
    FROM years y JOIN targets t USING (target_id)
    LEFT JOIN span_now s USING (target_id, org_code)
    WHERE y.is_network_school = 1
      AND (t.applies_low IS NULL OR NOT EXISTS (SELECT 1 FROM spans)
           OR s.grade_low IS NULL OR s.grade_high IS NULL
           OR (s.grade_low <= t.applies_high AND s.grade_high >= t.applies_low)
           OR EXISTS (SELECT 1 FROM observed o WHERE o.target_id = y.target_id AND o.org_code = y.org_code))
),
expected AS (
    SELECT n.target_id, n.org_code, g.item AS subgroup, coalesce(s.item, '') AS subject
    FROM network n
    JOIN targets t USING (target_id)
    JOIN items g ON g.target_id = n.target_id AND g.kind = 'subgroup'
    LEFT JOIN items s ON s.target_id = n.target_id AND s.kind = 'subject' AND t.subjects_mode = 'list'
    WHERE NOT (t.subjects_mode = 'any' AND EXISTS (
        SELECT 1 FROM observed o WHERE o.target_id = n.target_id AND o.org_code = n.org_code AND o.subgroup = g.item))
),
missing AS (
    SELECT e.* FROM expected e
    WHERE NOT EXISTS (SELECT 1 FROM picked p WHERE {% for k in req %}p.{{ k }} = e.{{ k }}{% if not loop.last %} AND {% endif %}{% endfor %})
),
main AS (
    SELECT p.* EXCLUDE (base_year, base_window, cur_year, rule) FROM picked p
    UNION ALL BY NAME
    SELECT m.*, 'school' AS org_level, 0 AS b_rows, 0 AS c_rows, 0 AS b_supp, 0 AS c_supp, 0 AS b_cnt, 0 AS c_cnt,
           0 AS n_units, FALSE AS ok, FALSE AS ref_alt, FALSE AS ref_all, FALSE AS test_transition_by_year
    FROM missing m
),
joined AS (
    SELECT m.*, y.base_year, y.base_year_asked, y.base_window, y.cur_year, y.implementation_year, y.is_network_school, y.school_name,
           y.school_level, t.rule, t.domain, t.needs_baseline, t.min_n, t.due_from_implementation_year,
           m.b_cnt > 0 AS has_b, m.c_cnt > 0 AS has_c,
           t.needs_baseline OR (m.b_cnt > 0 AND t.rule = 'level_or_increase') AS uses_b,
           y.base_year - y.base_window + 1 AS base_first_year,
           sb.grade_low AS lo_b, sb.grade_high AS hi_b, sc.grade_low AS lo_c, sc.grade_high AS hi_c
    FROM main m
    JOIN years y USING (target_id, org_code)
    JOIN targets t USING (target_id)
    LEFT JOIN spans sb ON sb.org_code = m.org_code AND sb.school_year = y.base_year
    LEFT JOIN spans sc ON sc.org_code = m.org_code AND sc.school_year = y.cur_year
),
not_comparable AS (  -- baseline years a domain does not rate (comparability.not_comparable_baselines)
    SELECT item AS domain, CAST(number AS INTEGER) AS year FROM catalog WHERE kind = 'not_comparable_baseline'
),
next_base AS (  -- for a baseline that is not comparable: the next year with a valid value that is
    SELECT j.target_id, j.org_code, j.subgroup, j.subject, min(o.school_year) AS next_valid_baseline
    FROM joined j
    JOIN {{ ref('eval_target_observations') }} o
      ON o.target_id = j.target_id AND o.org_code = j.org_code AND o.org_level = 'school' AND o.subgroup = j.subgroup
     AND o.subject = j.subject AND o.valid AND o.school_year > j.base_year AND o.school_year < j.cur_year
    WHERE NOT EXISTS (SELECT 1 FROM not_comparable x WHERE x.domain = j.domain AND x.year = o.school_year)
    GROUP BY ALL
),
enrollment_n AS (  -- DESE values whose n came from the enrollment DESE publishes (eval_observations)
    SELECT DISTINCT org_code, school_year, subgroup, metric, subject, grade
    FROM {{ ref('eval_observations') }} WHERE n_from_enrollment AND org_level = 'school'
),
lists AS (
    SELECT list(item) FILTER (WHERE kind = 'legacy_assessment_metric') AS legacy,
           list(item) FILTER (WHERE kind = 'next_gen_assessment_metric') AS next_gen,
           list(number) FILTER (WHERE kind = 'no_assessment_year') AS no_test_years,
           list(number) FILTER (WHERE kind = 'remote_year') AS remote_years,
           list(number) FILTER (WHERE kind = 'income_definition_change_year') AS income_years,
           list(item) FILTER (WHERE kind = 'income_subgroup') AS income_subgroups
    FROM catalog
)
SELECT j.* EXCLUDE (lo_b, hi_b, lo_c, hi_c),
    j.rule = 'level_or_increase' AND j.b_cnt > 0 AND NOT coalesce(j.b_n < j.min_n, FALSE) AS b_ok,
    coalesce(j.implementation_year < j.due_from_implementation_year, FALSE) AS not_due,
    -- comparability and descriptive flags (flag catalog names after f_)
    j.uses_b AND (j.test_transition_by_year
                  OR coalesce(list_contains(l.legacy, j.metric_b) AND list_contains(l.next_gen, j.metric_c), FALSE)
                  OR coalesce(list_contains(l.next_gen, j.metric_b) AND list_contains(l.legacy, j.metric_c), FALSE))
        AS f_test_transition,
    j.uses_b AND j.has_b AND j.has_c AND coalesce(j.metric_b <> j.metric_c, FALSE) AS f_metric_changed,
    j.domain = 'assessment' AND (
        coalesce(list_contains(l.no_test_years, j.cur_year), FALSE)
        OR (j.uses_b AND len(list_filter(l.no_test_years, lambda y: j.base_first_year <= y AND y <= j.base_year)) > 0)
        OR coalesce(j.base_year_asked <> j.base_year, FALSE)) AS f_no_2020_assessments,
    j.domain IN ('attendance', 'discipline') AND (
        coalesce(list_contains(l.remote_years, j.cur_year), FALSE)
        OR (j.uses_b AND len(list_filter(l.remote_years, lambda y: j.base_first_year <= y AND y <= j.base_year)) > 0))
        AS f_remote_2021,
    j.uses_b AND list_contains(l.income_subgroups, j.subgroup)
        AND len(list_filter(l.income_years, lambda y: j.base_first_year < y AND y <= j.cur_year)) > 0 AS f_income_definition_change,
    j.uses_b AND j.lo_b IS NOT NULL AND j.hi_b IS NOT NULL AND j.lo_c IS NOT NULL AND j.hi_c IS NOT NULL
        AND coalesce(j.lo_b <> j.lo_c OR j.hi_b <> j.hi_c, FALSE) AS f_grade_span_changed,
    j.uses_b AND coalesce(abs(j.c_n - j.b_n) > s.n_change_ratio * j.b_n, FALSE) AS f_n_changed_over_half,
    (j.has_c AND j.c_n IS NULL) OR (j.uses_b AND j.has_b AND j.b_n IS NULL) AS f_n_unknown,
    coalesce(j.mtype IN ('mean', 'median'), FALSE)
        AND ((j.has_c AND j.c_se IS NULL) OR (j.uses_b AND j.has_b AND j.b_se IS NULL))
        AND NOT ((j.has_c AND j.c_n IS NULL) OR (j.uses_b AND j.has_b AND j.b_n IS NULL)) AS f_sd_unknown,
    coalesce(CASE WHEN j.uses_b THEN least(j.b_n, j.c_n) ELSE j.c_n END < s.small_n
             AND CASE WHEN j.uses_b THEN least(j.b_n, j.c_n) ELSE j.c_n END >= j.min_n, FALSE) AS f_small_n,
    j.ref_all AND j.has_c AS f_gap_vs_all,
    j.ref_alt AND j.has_c AS f_state_value_other_source,
    (j.c_supp > 0 AND NOT j.has_c) OR (j.needs_baseline AND j.b_supp > 0 AND NOT j.has_b) AS f_suppressed,
    j.uses_b AND j.base_window > 1 AND j.has_b AND j.b_cnt < j.base_window AS f_baseline_window_partial,
    j.uses_b AND EXISTS (SELECT 1 FROM not_comparable x WHERE x.domain = j.domain AND x.year = j.base_year)
        AS f_baseline_not_comparable,
    j.source = 'dese' AND EXISTS (
        SELECT 1 FROM enrollment_n e
        WHERE e.org_code = j.org_code AND e.subgroup = j.subgroup AND e.subject = j.subject AND e.grade = j.grade
          AND ((j.has_c AND e.metric = j.metric_c AND e.school_year = j.cur_year)
               OR (j.uses_b AND j.has_b AND e.metric = j.metric_b
                   AND e.school_year BETWEEN j.base_first_year AND j.base_year))) AS f_n_from_enrollment,
    nb.next_valid_baseline
FROM joined j CROSS JOIN lists l CROSS JOIN settings s
LEFT JOIN next_base nb USING (target_id, org_code, subgroup, subject)

-- eval_candidates: every way a school (or the state) can be compared for a target: a baseline metric and a
-- judged-year metric (the same metric, or a mix of two when each side has a value), a source and a grade, with
-- its preference rank (metric pair, then source, then grade, in the catalog's order) and the test-transition flag.
-- Grain: one row per target_id x by x w x cy x org_code x org_level x subgroup x subject x metric_b x metric_c x
--   source x grade.
{{ config(materialized='table') }}
{% set side_columns = ['rows', 'supp', 'cnt', 'value', 'k', 'n', 'se', 'ref', 'ref_se', 'ref_n', 'comp', 'comp_se',
                       'comp_n'] %}
{% set keys = ['target_id', 'base_year', 'base_window', 'cur_year', 'org_code', 'org_level', 'subgroup', 'subject', 'source', 'grade'] %}
WITH targets AS (SELECT * FROM {{ source('evaluate', 'eval_targets') }}),
items AS (SELECT * FROM {{ source('evaluate', 'eval_target_items') }}),
catalog AS (SELECT * FROM {{ source('evaluate', 'eval_catalog_items') }}),
metric_pos AS (
    SELECT target_id, item AS metric, position, count(*) OVER (PARTITION BY target_id) AS n_metrics
    FROM items WHERE kind = 'metric'
),
b AS (SELECT * FROM {{ ref('eval_sides') }} WHERE side = 'b'),
c AS (SELECT * FROM {{ ref('eval_sides') }} WHERE side = 'c'),
same_metric AS (
    SELECT {{ keys | join(', ') }}, metric AS metric_b, metric AS metric_c,
           {% for col in side_columns %}b.{{ col }} AS b_{{ col }}, c.{{ col }} AS c_{{ col }}, {% endfor %}
           coalesce(b.ref_alt, FALSE) OR coalesce(c.ref_alt, FALSE) AS ref_alt,
           coalesce(b.ref_all, FALSE) OR coalesce(c.ref_all, FALSE) AS ref_all
    FROM b FULL JOIN c USING ({{ keys | join(', ') }}, metric)
),
mixed_metrics AS (  -- a baseline on one metric and a judged year on another: only where both have a value
    SELECT {{ keys | join(', ') }}, b.metric AS metric_b, c.metric AS metric_c,
           {% for col in side_columns %}b.{{ col }} AS b_{{ col }}, c.{{ col }} AS c_{{ col }}, {% endfor %}
           b.ref_alt OR c.ref_alt AS ref_alt, b.ref_all OR c.ref_all AS ref_all
    FROM b JOIN c USING ({{ keys | join(', ') }})
    WHERE b.metric <> c.metric AND b.cnt > 0 AND c.cnt > 0
),
candidates AS (SELECT * FROM same_metric UNION ALL SELECT * FROM mixed_metrics),
grade_numbers AS (  -- each target's grades in order (1, 2, ...): once per grade, not per candidate
    SELECT target_id, grade, dense_rank() OVER (PARTITION BY target_id ORDER BY grade) AS grade_number
    FROM (SELECT DISTINCT target_id, grade FROM candidates)
),
ranked AS (
    SELECT k.*, t.rule, t.domain, t.unit_is_grade,
           CASE WHEN k.metric_b = k.metric_c THEN pb.position
                ELSE pb.n_metrics + pb.position * (pb.n_metrics - 1)
                     + CASE WHEN pc.position < pb.position THEN pc.position ELSE pc.position - 1 END
           END AS mrank,
           coalesce(src.position, 99) AS source_rank,
           CASE WHEN t.unit_is_grade THEN 0
                WHEN t.any_grade THEN CASE WHEN k.grade = 'all' THEN 0 ELSE 1 + gn.grade_number END
                ELSE coalesce(g.position, 999) END AS grade_rank,
           ty.text AS mtype
    FROM candidates k
    JOIN targets t USING (target_id)
    JOIN metric_pos pb ON pb.target_id = k.target_id AND pb.metric = k.metric_b
    JOIN metric_pos pc ON pc.target_id = k.target_id AND pc.metric = k.metric_c
    LEFT JOIN items src ON src.target_id = k.target_id AND src.kind = 'source' AND src.item = k.source
    LEFT JOIN items g ON g.target_id = k.target_id AND g.kind = 'grade' AND g.item = k.grade
    LEFT JOIN grade_numbers gn ON gn.target_id = k.target_id AND gn.grade IS NOT DISTINCT FROM k.grade
    LEFT JOIN catalog ty ON ty.kind = 'metric_type' AND ty.item = k.metric_c
),
spans AS (SELECT * FROM {{ ref('eval_grade_spans') }}),
first_years AS (  -- first spring of the Next-Gen tests per subject ('default' for the rest) and grade band
    SELECT subject, band, number AS first_year FROM catalog WHERE kind = 'next_gen_first_year'
),
transition AS (
    SELECT r.*,
           r.base_year - r.base_window + 1 AS base_first_year,
           coalesce(f38.first_year, d38.first_year) AS f38, coalesce(f10.first_year, d10.first_year) AS f10,
           sb.grade_low AS lo_b, sb.grade_high AS hi_b, sc.grade_low AS lo_c, sc.grade_high AS hi_c
    FROM ranked r
    LEFT JOIN first_years f38 ON f38.subject = r.subject AND f38.band = 'grades_03_08'
    LEFT JOIN first_years d38 ON d38.subject = 'default' AND d38.band = 'grades_03_08'
    LEFT JOIN first_years f10 ON f10.subject = r.subject AND f10.band = 'grade_10'
    LEFT JOIN first_years d10 ON d10.subject = 'default' AND d10.band = 'grade_10'
    LEFT JOIN spans sb ON sb.org_code = r.org_code AND sb.school_year = r.base_year
    LEFT JOIN spans sc ON sc.org_code = r.org_code AND sc.school_year = r.cur_year
),
flagged AS (
    SELECT *,
        coalesce(base_first_year < f38 AND f38 <= cur_year, FALSE) AS span38,
        coalesce(base_first_year < f10 AND f10 <= cur_year, FALSE) AS span10,
        hi_b IS NOT NULL OR hi_c IS NOT NULL AS span_known,
        coalesce(hi_b, -9) >= 10 OR coalesce(hi_c, -9) >= 10 AS serves10,
        NOT (coalesce(lo_b, 99) > 8 AND coalesce(lo_c, 99) > 8) AS serves38
    FROM transition
)
SELECT target_id, base_year, base_window, cur_year, org_code, org_level, subgroup, subject, metric_b, metric_c, source, grade, rule,
       unit_is_grade, mtype, mrank, mrank * 1e6 + source_rank * 1e3 + grade_rank AS rank,
       coalesce(b_rows, 0) AS b_rows, coalesce(c_rows, 0) AS c_rows, coalesce(b_supp, 0) AS b_supp,
       coalesce(c_supp, 0) AS c_supp, coalesce(b_cnt, 0) AS b_cnt, coalesce(c_cnt, 0) AS c_cnt,
       {% for col in side_columns if col not in ('rows', 'supp', 'cnt') %}b_{{ col }}, c_{{ col }}, {% endfor %}
       ref_alt, ref_all,
       domain = 'assessment' AND (
           (grade = '10' AND span10)
           OR (grade IN ('03', '04', '05', '06', '07', '08', '03-08') AND span38)
           OR (grade NOT IN ('10', '03', '04', '05', '06', '07', '08', '03-08')
               AND ((span38 AND (serves38 OR NOT span_known)) OR (span10 AND (serves10 OR NOT span_known))))
       ) AS test_transition_by_year
FROM flagged

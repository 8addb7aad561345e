-- eval_comparisons: the candidates a target judges, with their measures. Targets judged per grade (unit: grade,
-- growth) average the grade comparisons: grades with a value in both years and at least min_n students on each
-- side (any grade with both years when none has enough); SE sqrt(sum se^2) / grades, n summed, when all known.
-- Float sums and means over grades add in grade order (the same bits on any number of threads).
-- ok: the comparison has what the rule needs (both sides; the judged year alone for rules without a baseline).
-- Grain: one row per target_id x by x w x cy x org_code x org_level x subgroup x subject x metric_b x metric_c x
--   source x grade (per grade targets: grade lists the grades averaged).
{{ config(materialized='table') }}
{% set pass_through = ['b_value', 'c_value', 'b_k', 'c_k', 'b_n', 'c_n', 'b_se', 'c_se', 'b_ref', 'c_ref',
                       'b_ref_se', 'c_ref_se', 'b_ref_n', 'c_ref_n', 'b_comp', 'c_comp', 'b_comp_n', 'c_comp_n'] %}
{% set keys = ['target_id', 'base_year', 'base_window', 'cur_year', 'org_code', 'org_level', 'subgroup', 'subject', 'metric_b',
               'metric_c', 'source', 'mrank'] %}
WITH targets AS (SELECT * FROM {{ source('evaluate', 'eval_targets') }}),
candidates AS (SELECT * FROM {{ ref('eval_candidates') }}),
per_comparison AS (
    SELECT {{ keys | join(', ') }}, grade, rule, mtype, rank, b_rows, c_rows, b_supp, c_supp, b_cnt, c_cnt,
           {{ pass_through | join(', ') }}, ref_alt, ref_all, test_transition_by_year,
           CASE WHEN b_cnt > 0 AND c_cnt > 0 THEN 1 ELSE 0 END AS n_units
    FROM candidates WHERE NOT unit_is_grade
),
units AS (
    SELECT c.*, c.b_cnt > 0 AND c.c_cnt > 0 AS both_sides,
           c.b_cnt > 0 AND c.c_cnt > 0 AND (c.b_n IS NULL OR c.b_n >= t.min_n) AND (c.c_n IS NULL OR c.c_n >= t.min_n)
               AS unit_ok
    FROM candidates c JOIN targets t USING (target_id)
    WHERE c.unit_is_grade
),
units_used AS (
    SELECT *, CASE WHEN bool_or(unit_ok) OVER (PARTITION BY {{ keys | join(', ') }}) THEN unit_ok ELSE both_sides END
              AS used
    FROM units
),
per_grade AS (
    SELECT {{ keys | join(', ') }},
           string_agg(grade, ',' ORDER BY grade) FILTER (WHERE used) AS grade,
           any_value(rule) AS rule, any_value(mtype) AS mtype, min(rank) AS rank,
           sum(b_rows) AS b_rows, sum(c_rows) AS c_rows, sum(b_supp) AS b_supp, sum(c_supp) AS c_supp,
           coalesce(min(b_cnt) FILTER (WHERE used), max(b_cnt)) AS b_cnt,
           coalesce(min(c_cnt) FILTER (WHERE used), max(c_cnt)) AS c_cnt,
           avg(b_value ORDER BY grade) FILTER (WHERE used) AS b_value,
           avg(c_value ORDER BY grade) FILTER (WHERE used) AS c_value,
           CAST(NULL AS DOUBLE) AS b_k, CAST(NULL AS DOUBLE) AS c_k,
           {% for s in ('b', 'c') %}
           CASE WHEN count({{ s }}_n) FILTER (WHERE used) = count(*) FILTER (WHERE used)
                THEN sum({{ s }}_n) FILTER (WHERE used) END AS {{ s }}_n,
           {% endfor %}
           {% for s in ('b', 'c') %}
           CASE WHEN count({{ s }}_se) FILTER (WHERE used) = count(*) FILTER (WHERE used)
                THEN sqrt(sum({{ s }}_se ^ 2 ORDER BY grade) FILTER (WHERE used)) / count(*) FILTER (WHERE used) END
                AS {{ s }}_se,
           {% endfor %}
           {% for col in pass_through[8:] %}CAST(NULL AS DOUBLE) AS {{ col }}, {% endfor %}
           FALSE AS ref_alt, FALSE AS ref_all,
           coalesce(bool_or(test_transition_by_year) FILTER (WHERE used), FALSE) AS test_transition_by_year,
           count(*) FILTER (WHERE used AND unit_ok) AS n_units
    FROM units_used
    GROUP BY {{ keys | join(', ') }}
),
comparisons AS (
    SELECT * FROM per_comparison
    UNION ALL BY NAME
    SELECT * FROM per_grade
),
measured AS (SELECT *, {{ rule_measures() }} FROM comparisons),
changed AS (SELECT *, {{ rule_changes() }} FROM measured)
SELECT m.*,
       CASE WHEN t.unit_is_grade THEN m.n_units > 0
            WHEN t.needs_baseline THEN m.b_cnt > 0 AND m.c_cnt > 0
            ELSE m.c_cnt > 0 END AS ok
FROM changed m JOIN (SELECT target_id, unit_is_grade, needs_baseline FROM targets) t USING (target_id)

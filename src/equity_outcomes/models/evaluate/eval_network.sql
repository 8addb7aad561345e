-- eval_network: the network's pooled comparison per target, subject and subgroup, before the rule: each side's
-- counts (or n-weighted values) pooled over the network schools that are due, comparable and have the values the
-- rule needs, on the most common (baseline metric, judged-year metric) pair (ties: the most preferred). Each
-- school brings its own baseline and judged years. Per grade targets pool each grade, then average the grades.
-- small: n under the target's minimum (or no baseline value where one is needed): not rated.
-- Grain: one row per target_id x subject x subgroup.
{{ config(materialized='table') }}
{% set sides = ['value', 'k', 'n', 'se', 'ref', 'ref_n', 'ref_se', 'comp', 'comp_n'] %}
WITH targets AS (SELECT * FROM {{ source('evaluate', 'eval_targets') }}),
types AS (SELECT item AS metric, text AS mtype FROM {{ source('evaluate', 'eval_catalog_items') }}
          WHERE kind = 'metric_type'),
usable AS (
    SELECT m.*, t.unit_is_grade, t.reference
    FROM {{ ref('eval_main') }} m
    JOIN targets t USING (target_id)
    WHERE m.is_network_school = 1 AND NOT m.not_due AND m.c_cnt > 0
      AND (NOT t.needs_baseline OR m.b_cnt > 0) AND (NOT t.unit_is_grade OR m.n_units > 0)
      AND NOT EXISTS (SELECT 1 FROM {{ ref('eval_not_comparable') }} x
                      WHERE x.target_id = m.target_id AND x.org_code = m.org_code AND x.subgroup = m.subgroup
                        AND x.subject = m.subject)
),
modal AS (
    SELECT target_id, subject, subgroup, metric_b, metric_c
    FROM usable GROUP BY target_id, subject, subgroup, metric_b, metric_c
    QUALIFY row_number() OVER (PARTITION BY target_id, subject, subgroup ORDER BY count(*) DESC, min(rank)) = 1
),
used AS (SELECT u.* FROM usable u JOIN modal USING (target_id, subject, subgroup, metric_b, metric_c)),
grade_units AS (  -- per grade targets: the grades of the schools used, with both years and enough students
    SELECT c.*
    FROM {{ ref('eval_candidates') }} c
    JOIN used u USING (target_id, org_code, base_year, base_window, cur_year, subgroup, subject, metric_b, metric_c, source)
    JOIN targets t USING (target_id)
    WHERE u.unit_is_grade AND c.b_cnt > 0 AND c.c_cnt > 0
      AND (c.b_n IS NULL OR c.b_n >= t.min_n) AND (c.c_n IS NULL OR c.c_n >= t.min_n)
),
side_rows AS (
    {% for s in ('b', 'c') %}
    SELECT '{{ s }}' AS side, target_id, subject, subgroup, '' AS grade, org_code, rule, reference,
           {% for col in sides %}{{ s }}_{{ col }} AS {{ col }}, {% endfor %}
           {{ s }}_value IS NOT NULL AS valid, FALSE AS is_suppressed, mtype,
           CASE WHEN reference = 'complement' THEN {{ s }}_ref_n ELSE {{ s }}_n END AS ref_w,
           {{ s }}_comp_n AS comp_w, CAST(NULL AS DOUBLE) AS comp_se, FALSE AS ref_alt, FALSE AS ref_all
    FROM used WHERE NOT unit_is_grade
    UNION ALL
    SELECT '{{ s }}' AS side, g.target_id, g.subject, g.subgroup, g.grade, g.org_code, g.rule, t.reference,
           {% for col in sides %}g.{{ s }}_{{ col }} AS {{ col }}, {% endfor %}
           g.{{ s }}_value IS NOT NULL AS valid, FALSE AS is_suppressed, g.mtype,
           CASE WHEN t.reference = 'complement' THEN g.{{ s }}_ref_n ELSE g.{{ s }}_n END AS ref_w,
           g.{{ s }}_comp_n AS comp_w, CAST(NULL AS DOUBLE) AS comp_se, FALSE AS ref_alt, FALSE AS ref_all
    FROM grade_units g JOIN targets t USING (target_id)
    {% if not loop.last %}UNION ALL{% endif %}
    {% endfor %}
),
pooled AS (
    {{ pool('SELECT * FROM side_rows', ['target_id', 'subject', 'subgroup', 'grade', 'side'], 'org_code',
            "rule <> 'gap_closure' OR ref IS NOT NULL") }}
),
wide AS (
    SELECT b.target_id, b.subject, b.subgroup, b.grade,
           {% for col in ['value', 'k', 'n', 'se', 'ref', 'ref_n', 'ref_se'] %}
           b.{{ col }} AS b_{{ col }}, c.{{ col }} AS c_{{ col }}{% if not loop.last %},{% endif %}
           {% endfor %}
    FROM pooled b JOIN pooled c USING (target_id, subject, subgroup, grade)
    WHERE b.side = 'b' AND c.side = 'c'
),
per_target AS (  -- one row per subject and subgroup (per grade targets: the mean over grades)
    SELECT w.target_id, w.subject, w.subgroup,
           CASE WHEN t.unit_is_grade THEN avg(w.b_value ORDER BY w.grade) ELSE any_value(w.b_value) END AS b_value,
           CASE WHEN t.unit_is_grade THEN avg(w.c_value ORDER BY w.grade) ELSE any_value(w.c_value) END AS c_value,
           CASE WHEN t.unit_is_grade THEN NULL ELSE any_value(w.b_k) END AS b_k,
           CASE WHEN t.unit_is_grade THEN NULL ELSE any_value(w.c_k) END AS c_k,
           {% for s in ('b', 'c') %}
           CASE WHEN NOT t.unit_is_grade THEN any_value(w.{{ s }}_n)
                WHEN count(w.{{ s }}_n) = count(*) THEN sum(w.{{ s }}_n) END AS {{ s }}_n,
           CASE WHEN NOT t.unit_is_grade THEN any_value(w.{{ s }}_se)
                WHEN count(w.{{ s }}_se) = count(*)
                THEN sqrt(sum(w.{{ s }}_se ^ 2 ORDER BY w.grade)) / count(*) END AS {{ s }}_se,
           {% for col in ('ref', 'ref_n', 'ref_se') %}
           CASE WHEN t.unit_is_grade THEN NULL ELSE any_value(w.{{ s }}_{{ col }}) END AS {{ s }}_{{ col }},
           {% endfor %}
           {% endfor %}
           CASE WHEN t.unit_is_grade THEN count(*) ELSE 1 END AS n_units
    FROM wide w JOIN targets t USING (target_id)
    GROUP BY w.target_id, w.subject, w.subgroup, t.unit_is_grade
)
SELECT p.*, m.metric_b, m.metric_c, ty.mtype,
       p.b_value IS NOT NULL AND NOT coalesce(p.b_n < t.min_n, FALSE) AS b_ok,
       coalesce(p.c_n < t.min_n, FALSE) OR (t.needs_baseline AND coalesce(p.b_n < t.min_n, FALSE))
           OR (t.needs_baseline AND p.b_value IS NULL) AS small,
       (SELECT count(DISTINCT u.org_code) FROM used u
        WHERE u.target_id = p.target_id AND u.subject = p.subject AND u.subgroup = p.subgroup) AS pooled_n_schools,
       (SELECT string_agg(DISTINCT u.org_code, ',' ORDER BY u.org_code) FROM used u  -- what the pooled sides rest on
        WHERE u.target_id = p.target_id AND u.subject = p.subject AND u.subgroup = p.subgroup) AS pooled_org_codes
FROM per_target p
JOIN modal m USING (target_id, subject, subgroup)
JOIN targets t USING (target_id)
LEFT JOIN types ty ON ty.metric = m.metric_c

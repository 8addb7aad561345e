-- eval_context: what each school's comparison is seen beside: the state's change on the same comparison (the
-- DESE state row; else the median over the schools) and the median change of its peers: the k schools (peers_k)
-- most like it on the same comparison (same school level when known, nearest baseline measure standardised by
-- the spread of the comparison's schools, plus standardised school_demographics columns when that table exists),
-- ties broken by org_code. Schools with what the rule needs and n at or above the minimum take part, network or not.
-- Grain: one row per target_id x org_code x subgroup x subject (of eval_main).
{{ config(materialized='table') }}
{% set demographics = none %}
{% if execute %}
  {% set demographics = adapter.get_relation(database=this.database, schema=this.schema,
                                             identifier='school_demographics') %}
{% endif %}
WITH targets AS (SELECT * FROM {{ source('evaluate', 'eval_targets') }}),
main AS (
    SELECT m.target_id, m.org_code, m.subgroup, m.subject, m.metric_b, m.metric_c, m.source, m.base_year, m.base_window, m.cur_year,
           CASE WHEN t.unit_is_grade THEN '' ELSE m.grade END AS grade, coalesce(m.school_level, '') AS school_level,
           r.measure_b
    FROM {{ ref('eval_main') }} m
    JOIN targets t USING (target_id)
    JOIN {{ ref('eval_rules') }} r
      ON r.row_kind = 'school' AND r.target_id = m.target_id AND r.org_code = m.org_code
     AND r.subgroup = m.subgroup AND r.subject = m.subject
),
comparisons AS (
    SELECT c.*, CASE WHEN t.unit_is_grade THEN '' ELSE c.grade END AS context_grade,
           c.ok AND (c.c_n IS NULL OR c.c_n >= t.min_n)
           AND (NOT t.needs_baseline OR t.unit_is_grade OR c.b_n IS NULL OR c.b_n >= t.min_n) AS usable
    FROM {{ ref('eval_comparisons') }} c JOIN targets t USING (target_id)
),
{% set same_comparison %}
    x.target_id = m.target_id AND x.base_year = m.base_year AND x.base_window = m.base_window AND x.cur_year = m.cur_year AND x.subgroup = m.subgroup
    AND x.subject = m.subject AND x.metric_b = m.metric_b AND x.metric_c = m.metric_c AND x.source = m.source
    AND x.context_grade = m.grade
{% endset %}
state_row AS (
    SELECT m.target_id, m.org_code, m.subgroup, m.subject,
           x.change_rel_pct AS s_rel, x.change_abs AS s_abs, x.measure_c AS s_cur
    FROM main m JOIN comparisons x ON {{ same_comparison }} AND x.org_level = 'state'
    QUALIFY row_number() OVER (PARTITION BY m.target_id, m.org_code, m.subgroup, m.subject ORDER BY x.rank) = 1
),
schools AS (
    SELECT x.*, coalesce(r.school_level, '') AS school_level
    FROM comparisons x LEFT JOIN {{ ref('stg_roster') }} r USING (org_code)
    WHERE x.org_level = 'school' AND x.usable
),
school_median AS (
    SELECT m.target_id, m.org_code, m.subgroup, m.subject,
           median(x.change_rel_pct) AS m_rel, median(x.change_abs) AS m_abs, median(x.measure_c) AS m_cur,
           count(*) AS m_n
    FROM main m JOIN schools x ON {{ same_comparison }}
    GROUP BY ALL
),
spread AS (  -- the spread of the baseline measure among the schools of each comparison
    SELECT target_id, base_year, base_window, cur_year, subgroup, subject, metric_b, metric_c, source, context_grade,
           CASE WHEN count(measure_b) > 1 AND stddev_pop(measure_b) > 0 THEN stddev_pop(measure_b) ELSE 1.0 END
               AS scale
    FROM schools GROUP BY ALL
),
{% set numeric = [] %}
{% if demographics is not none %}
{% set columns = adapter.get_columns_in_relation(demographics) %}
{% for col in columns %}
  {% if col.is_number() and col.name not in ('org_code', 'school_year') %}{% do numeric.append(col.name) %}{% endif %}
{% endfor %}
{% endif %}
{% if numeric %}
demographics_latest AS (
    SELECT CAST(org_code AS VARCHAR) AS org_code,
           {% for c in numeric %}CAST({{ c }} AS DOUBLE) AS {{ c }}{% if not loop.last %}, {% endif %}{% endfor %}
    FROM {{ demographics }}
    QUALIFY row_number() OVER (
        PARTITION BY org_code
        ORDER BY {{ 'school_year DESC' if 'school_year' in (columns | map(attribute='name') | list) else '1' }}) = 1
),
demographics AS (  -- one row per school and numeric column, standardised (columns without spread count 0)
    SELECT org_code, feature,
           CASE WHEN stddev_pop(value) OVER f > 0 THEN (value - avg(value) OVER f) / stddev_pop(value) OVER f END AS z
    FROM (UNPIVOT INCLUDE NULLS demographics_latest ON {{ numeric | join(', ') }} INTO NAME feature VALUE value)
    WINDOW f AS (PARTITION BY feature)
),
demographic_distance AS (
    SELECT a.org_code AS org_a, b.org_code AS org_b, sum((coalesce(a.z, 0) - coalesce(b.z, 0)) ^ 2) AS d
    FROM demographics a JOIN demographics b USING (feature)
    GROUP BY ALL
),
{% endif %}
peer_pairs AS (
    SELECT m.target_id, m.org_code, m.subgroup, m.subject, x.change_rel_pct, x.change_abs, x.measure_c,
           x.org_code AS peer,
           coalesce(((x.measure_b - m.measure_b) / s.scale) ^ 2, 0)
               {% if numeric %}+ coalesce(dd.d, 0){% endif %} AS distance
    FROM main m
    JOIN schools x ON {{ same_comparison }}
    JOIN spread s ON s.target_id = m.target_id AND s.base_year = m.base_year AND s.base_window = m.base_window
                 AND s.cur_year = m.cur_year AND s.subgroup = m.subgroup AND s.subject = m.subject
                 AND s.metric_b = m.metric_b AND s.metric_c = m.metric_c AND s.source = m.source
                 AND s.context_grade = m.grade
    {% if numeric %}
    LEFT JOIN demographic_distance dd ON dd.org_a = m.org_code AND dd.org_b = x.org_code
    {% endif %}
    WHERE x.org_code <> m.org_code AND (m.school_level = '' OR x.school_level = m.school_level)
),
peers AS (  -- the k nearest (ties: org_code)
    SELECT target_id, org_code, subgroup, subject,
           min_by({'rel': change_rel_pct, 'abs': change_abs, 'cur': measure_c}, {'distance': distance, 'peer': peer},
                  (SELECT peers_k FROM {{ source('evaluate', 'eval_settings') }})) AS nearest
    FROM peer_pairs GROUP BY ALL
),
peer_median AS (
    SELECT target_id, org_code, subgroup, subject, len(nearest) AS n_peers,
           list_aggregate(list_transform(nearest, lambda p: p.rel), 'median') AS p_rel,
           list_aggregate(list_transform(nearest, lambda p: p.abs), 'median') AS p_abs,
           list_aggregate(list_transform(nearest, lambda p: p.cur), 'median') AS p_cur
    FROM peers
)
SELECT m.target_id, m.org_code, m.subgroup, m.subject,
    CASE WHEN s.s_cur IS NOT NULL OR s.s_abs IS NOT NULL THEN s.s_rel ELSE d.m_rel END AS state_change_rel_pct,
    CASE WHEN s.s_cur IS NOT NULL OR s.s_abs IS NOT NULL THEN s.s_abs ELSE d.m_abs END AS state_change_abs,
    CASE WHEN s.s_cur IS NOT NULL OR s.s_abs IS NOT NULL THEN s.s_cur ELSE d.m_cur END AS state_current_value,
    CASE WHEN s.s_cur IS NOT NULL OR s.s_abs IS NOT NULL THEN 'dese_state_row'
         WHEN d.m_cur IS NOT NULL OR d.m_abs IS NOT NULL THEN 'median_of_schools' END AS state_change_source,
    CASE WHEN s.s_cur IS NULL AND s.s_abs IS NULL AND (d.m_cur IS NOT NULL OR d.m_abs IS NOT NULL) THEN d.m_n
         END AS n_state_schools,  -- how many schools the median is over (NULL for DESE's state figure)
    p.p_rel AS peer_change_rel_pct, p.p_abs AS peer_change_abs, p.p_cur AS peer_current_value,
    coalesce(p.n_peers, 0) AS n_peers
FROM main m
LEFT JOIN state_row s USING (target_id, org_code, subgroup, subject)
LEFT JOIN school_median d USING (target_id, org_code, subgroup, subject)
LEFT JOIN peer_median p USING (target_id, org_code, subgroup, subject)

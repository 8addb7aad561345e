-- eval_context: what each school's comparison is seen beside: the state's change on the same comparison (the
-- DESE state row; else the median over the schools) and its peers: the k (peers_k) non-network schools most like
-- it on grade span, size, % low income, % EL and % SWD (eval_peer_features: standardised, mean squared distance
-- over the features both have; ties by org_code) among the schools with the same comparison (metric, years,
-- subgroup, subject; the peer's DESE value first, same grade first) with n at or above the minimum. The means and
-- spreads of the features and the distances add in a fixed order (org_code, feature): the same bits, so the same
-- peers, on any number of threads (a near-tie once ordered two ways at 1M students). Beside each
-- rating: the peers' median change and level, the range (peer_low..peer_high) of what the rule compares
-- (peer_measure) and the school's percentile among them; none with fewer than min_peers (flag few_peers).
-- Grain: one row per target_id x org_code x subgroup x subject (of eval_main).
{{ config(materialized='table') }}
WITH targets AS (SELECT * FROM {{ source('evaluate', 'eval_targets') }}),
main AS (  -- measure: what the rule compares (relative change, change or level)
    SELECT m.target_id, m.org_code, m.subgroup, m.subject, m.metric_b, m.metric_c, m.source, m.base_year, m.base_window, m.cur_year,
           CASE WHEN t.unit_is_grade THEN '' ELSE m.grade END AS grade, t.higher_is_better AS higher,
           CASE t.rule WHEN 'relative_change' THEN r.change_rel_pct WHEN 'absolute_change' THEN r.change_abs
                       WHEN 'gap_closure' THEN r.change_abs ELSE r.measure_c END AS measure,
           CASE t.rule WHEN 'relative_change' THEN 'change_rel_pct' WHEN 'absolute_change' THEN 'change_abs'
                       WHEN 'gap_closure' THEN 'change_abs' ELSE 'current_value' END AS measure_name
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
schools AS (SELECT * FROM comparisons WHERE org_level = 'school' AND usable),
school_median AS (  -- per comparison once, over every school with it (the school itself included)
    SELECT m.target_id, m.org_code, m.subgroup, m.subject, x.m_rel, x.m_abs, x.m_cur, x.m_n
    FROM main m
    JOIN (SELECT target_id, base_year, base_window, cur_year, subgroup, subject, metric_b, metric_c, source,
                 context_grade, median(change_rel_pct) AS m_rel, median(change_abs) AS m_abs,
                 median(measure_c) AS m_cur, count(*) AS m_n
          FROM schools GROUP BY ALL) x ON {{ same_comparison }}
),
feature_years AS (SELECT DISTINCT cur_year FROM main),
features AS (  -- each school's latest features up to the judged year, standardised over the schools that year
    SELECT y.cur_year, f.*
    FROM feature_years y JOIN {{ ref('eval_peer_features') }} f ON f.school_year <= y.cur_year
    QUALIFY row_number() OVER (PARTITION BY y.cur_year, f.org_code ORDER BY f.school_year DESC) = 1
),
{#- the features, in the order their squared differences add up (the same bits on any number of threads) #}
{% set features = ['grade_high', 'grade_low', 'log_size', 'pct_el', 'pct_low_income', 'pct_swd'] %}
scaled AS (  -- one row per school and judged year: its standardised features (NULL: missing, or no spread)
    SELECT cur_year, org_code{% for f in features %},
           ({{ f }} - avg({{ f }}) OVER w) / nullif(stddev_pop({{ f }}) OVER w, 0) AS z_{{ f }}{% endfor %}
    FROM features
    WINDOW w AS (PARTITION BY cur_year ORDER BY org_code ROWS BETWEEN UNBOUNDED PRECEDING AND UNBOUNDED FOLLOWING)
),
network AS (SELECT org_code FROM {{ ref('stg_roster') }} WHERE is_network_school = 1),
seeking AS {{ materialized() }} (  -- the features of the schools with a comparison
    SELECT * FROM scaled WHERE org_code IN (SELECT org_code FROM main)
),
sought AS {{ materialized() }} (  -- and of the non-network schools with a usable one
    SELECT * FROM scaled
    WHERE org_code IN (SELECT org_code FROM schools) AND org_code NOT IN (SELECT org_code FROM network)
),
ranked AS (  -- once per judged year: each school's non-network schools, nearest first (nearness 1, 2, ...; ties:
             -- org_code); distance: the mean squared difference over the features both schools have
    SELECT *, row_number() OVER (PARTITION BY cur_year, org_code ORDER BY distance, peer) AS nearness
    FROM (SELECT a.cur_year, a.org_code, b.org_code AS peer,
                 ({% for f in features %}coalesce((a.z_{{ f }} - b.z_{{ f }}) ^ 2, 0){{ ' + ' if not loop.last }}{% endfor %})
                 / ({% for f in features %}(a.z_{{ f }} - b.z_{{ f }} IS NOT NULL)::INTEGER{{ ' + ' if not loop.last }}{% endfor %}) AS distance
          FROM seeking a JOIN sought b ON b.cur_year = a.cur_year AND b.org_code <> a.org_code
          WHERE {% for f in features %}a.z_{{ f }} - b.z_{{ f }} IS NOT NULL{{ ' OR ' if not loop.last }}{% endfor %})
),
{% set comparison = ['target_id', 'base_year', 'base_window', 'cur_year', 'subgroup', 'subject', 'metric_b', 'metric_c'] %}
numbered AS (  -- the comparisons peers are matched on (the source and the grade aside), numbered
    SELECT *, row_number() OVER (ORDER BY {{ comparison | join(', ') }}) AS cid
    FROM (SELECT DISTINCT {{ comparison | join(', ') }} FROM schools)
),
offers AS (  -- each non-network school's rows for a comparison, as a peer: its DESE one first, then by rank;
             -- overall (nth) and within each grade (nth_in_grade: the same grade comes first)
    SELECT n.cid, x.org_code AS peer, x.context_grade, x.change_rel_pct, x.change_abs, x.measure_c,
           CASE t.rule WHEN 'relative_change' THEN x.change_rel_pct WHEN 'absolute_change' THEN x.change_abs
                       WHEN 'gap_closure' THEN x.change_abs ELSE x.measure_c END AS measure,  -- what the rule compares
           row_number() OVER (PARTITION BY n.cid, x.org_code ORDER BY (x.source = 'dese') DESC, x.rank) AS nth,
           row_number() OVER (PARTITION BY n.cid, x.org_code, x.context_grade
                              ORDER BY (x.source = 'dese') DESC, x.rank) AS nth_in_grade
    FROM schools x JOIN targets t USING (target_id)
    JOIN numbered n ON {% for c in comparison %}n.{{ c }} = x.{{ c }}{{ ' AND ' if not loop.last }}{% endfor %}
    WHERE x.org_code NOT IN (SELECT org_code FROM network)
),
looking_0 AS (  -- each school comparison that looks for peers (found: how many so far)
    SELECT row_number() OVER (ORDER BY n.cid, m.org_code) AS lid, n.cid, m.target_id, m.org_code, m.subgroup, m.subject,
           m.cur_year, m.grade, m.higher, m.measure, r.n_ranked, 0 AS found
    FROM main m
    JOIN numbered n ON {% for c in comparison %}n.{{ c }} = m.{{ c }}{{ ' AND ' if not loop.last }}{% endfor %}
    JOIN (SELECT cur_year, org_code, max(nearness) AS n_ranked FROM ranked GROUP BY ALL) r
      ON r.cur_year = m.cur_year AND r.org_code = m.org_code
),
{#- The k nearest schools with the comparison: among the school's 4k nearest schools, then the 16k and 64k nearest
    for the comparisons still short of k (each step looks at the next schools only), then among every school with
    the comparison: linear in the schools for all but the comparisons few schools have. #}
{% set k %}(SELECT peers_k FROM {{ source('evaluate', 'eval_settings') }}){% endset %}
{% set depths = [4, 16, 64] %}
{% for depth in depths %}
{% set i = loop.index0 %}
slice_{{ i }} AS {{ materialized() }} (
    SELECT l.lid, l.cid, l.grade, p.peer, p.nearness
    FROM looking_{{ i }} l JOIN ranked p ON p.cur_year = l.cur_year AND p.org_code = l.org_code
    WHERE p.nearness <= {{ depth }} * {{ k }}{% if not loop.first %} AND p.nearness > {{ depths[i - 1] }} * {{ k }}{% endif %}
),
beside_{{ i }} AS (SELECT s.* FROM slice_{{ i }} s JOIN offers o ON o.cid = s.cid AND o.peer = s.peer AND o.nth = 1),
looking_{{ i + 1 }} AS (
    SELECT l.lid, l.cid, l.grade, l.cur_year, l.org_code, l.n_ranked, l.found + coalesce(b.n, 0) AS found
    FROM looking_{{ i }} l LEFT JOIN (SELECT lid, count(*) AS n FROM beside_{{ i }} GROUP BY lid) b USING (lid)
    WHERE l.found + coalesce(b.n, 0) < {{ k }} AND l.n_ranked > {{ depth }} * {{ k }}
),
{% endfor %}
slice_rest AS {{ materialized() }} (
    SELECT l.lid, l.cid, l.grade, l.cur_year, l.org_code, o.peer
    FROM looking_{{ depths | length }} l JOIN offers o ON o.cid = l.cid AND o.nth = 1
),
beside AS (
    {% for depth in depths %}SELECT * FROM beside_{{ loop.index0 }} UNION ALL {% endfor %}
    SELECT s.lid, s.cid, s.grade, s.peer, p.nearness
    FROM slice_rest s JOIN ranked p ON p.cur_year = s.cur_year AND p.org_code = s.org_code AND p.peer = s.peer
    WHERE p.nearness > {{ depths[-1] }} * {{ k }}
),
peers AS (  -- the k nearest with the comparison, and what the rule compares (measure)
    SELECT b.lid, b.peer{% for col in ['change_rel_pct', 'change_abs', 'measure_c', 'measure'] %},
           CASE WHEN g.peer IS NULL THEN o.{{ col }} ELSE g.{{ col }} END AS {{ col }}{% endfor %}
    FROM beside b
    JOIN (SELECT lid, list_max(min(nearness, {{ k }})) AS kth FROM beside GROUP BY lid) n
      ON n.lid = b.lid AND b.nearness <= n.kth
    JOIN offers o ON o.cid = b.cid AND o.peer = b.peer AND o.nth = 1
    LEFT JOIN offers g ON g.cid = b.cid AND g.peer = b.peer AND g.context_grade = b.grade AND g.nth_in_grade = 1
),
peer_summary AS (
    SELECT l.target_id, l.org_code, l.subgroup, l.subject, p.*
    FROM (SELECT p.lid, count(*) AS n_peers,
                 count(*) >= (SELECT min_peers FROM {{ source('evaluate', 'eval_settings') }}) AS enough,
                 median(p.change_rel_pct) AS p_rel, median(p.change_abs) AS p_abs, median(p.measure_c) AS p_cur,
                 min(p.measure) AS p_low, max(p.measure) AS p_high,
                 array_to_string(list_sort(list(p.peer)), ',') AS p_codes,
                 -- the school's percentile among its peers: the share doing worse, ties counted half
                 100.0 * (count(*) FILTER (WHERE CASE WHEN l.higher THEN p.measure < l.measure
                                                      ELSE p.measure > l.measure END)
                          + 0.5 * count(*) FILTER (WHERE p.measure = l.measure))
                       / nullif(count(p.measure), 0) AS p_pct
          FROM peers p JOIN looking_0 l USING (lid)
          GROUP BY p.lid) p
    JOIN looking_0 l USING (lid)
)
SELECT m.target_id, m.org_code, m.subgroup, m.subject,
    CASE WHEN s.s_cur IS NOT NULL OR s.s_abs IS NOT NULL THEN s.s_rel ELSE d.m_rel END AS state_change_rel_pct,
    CASE WHEN s.s_cur IS NOT NULL OR s.s_abs IS NOT NULL THEN s.s_abs ELSE d.m_abs END AS state_change_abs,
    CASE WHEN s.s_cur IS NOT NULL OR s.s_abs IS NOT NULL THEN s.s_cur ELSE d.m_cur END AS state_current_value,
    CASE WHEN s.s_cur IS NOT NULL OR s.s_abs IS NOT NULL THEN 'dese_state_row'
         WHEN d.m_cur IS NOT NULL OR d.m_abs IS NOT NULL THEN 'median_of_schools' END AS state_change_source,
    CASE WHEN s.s_cur IS NULL AND s.s_abs IS NULL AND (d.m_cur IS NOT NULL OR d.m_abs IS NOT NULL) THEN d.m_n
         END AS n_state_schools,  -- how many schools the median is over (NULL for DESE's state figure)
    CASE WHEN p.enough THEN p.p_rel END AS peer_change_rel_pct,
    CASE WHEN p.enough THEN p.p_abs END AS peer_change_abs,
    CASE WHEN p.enough THEN p.p_cur END AS peer_current_value,
    coalesce(p.n_peers, 0) AS n_peers,
    CASE WHEN p.enough THEN m.measure_name END AS peer_measure,
    CASE WHEN p.enough THEN p.p_low END AS peer_low, CASE WHEN p.enough THEN p.p_high END AS peer_high,
    CASE WHEN p.enough THEN p.p_pct END AS peer_percentile,
    p.p_codes AS peer_org_codes,
    m.measure IS NOT NULL AND NOT coalesce(p.enough, FALSE) AS f_few_peers
FROM main m
LEFT JOIN state_row s USING (target_id, org_code, subgroup, subject)
LEFT JOIN school_median d USING (target_id, org_code, subgroup, subject)
LEFT JOIN peer_summary p USING (target_id, org_code, subgroup, subject)

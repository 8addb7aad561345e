-- target_comparisons: every school judged against every target, subgroup and subject, up to the rating: the
-- comparison, the rule's measures and progress, the flags, and the status when the comparison cannot be rated
-- (in this order: not_yet_due, not_comparable, insufficient_data with its first reason). status NULL: rated by
-- equity_outcomes.judge, which adds the rating, the intervals and tests, and writes target_results.
-- Grain: one row per target_id x org_code x subgroup x subject ('' when the metric has none).
{{ config(materialized='table') }}
WITH targets AS (SELECT * FROM {{ source('evaluate', 'eval_targets') }}),
main AS (SELECT * FROM {{ ref('eval_main') }}),
rules AS (SELECT * FROM {{ ref('eval_rules') }} WHERE row_kind = 'school'),
rule_flags AS (
    SELECT target_id, org_code, subgroup, subject, substr(flag, 3) AS flag, coalesce(is_set, FALSE) AS is_set
    FROM (UNPIVOT (SELECT target_id, org_code, subgroup, subject, COLUMNS('^f_') FROM rules)
          ON COLUMNS('^f_') INTO NAME flag VALUE is_set)
),
flag_text AS (
    SELECT f.target_id, f.org_code, f.subgroup, f.subject,
           coalesce(string_agg(f.flag, ',' ORDER BY o.number) FILTER (WHERE f.is_set), '') AS flags
    FROM (SELECT * FROM {{ ref('eval_main_flags') }} UNION ALL SELECT * FROM rule_flags
          UNION ALL SELECT target_id, org_code, subgroup, subject, 'few_peers', f_few_peers
          FROM {{ ref('eval_context') }}) f
    JOIN {{ source('evaluate', 'eval_catalog_items') }} o ON o.kind = 'flag' AND o.item = f.flag
    GROUP BY ALL
),
joined AS (
    SELECT m.*, r.* EXCLUDE (row_kind, target_id, org_code, subgroup, subject),
           t.label AS target_label, t.category, t.direction, t.threshold, t.reference, t.unit_is_grade,
           nc.reason_flag AS not_comparable_flag,
           coalesce(m.c_n < m.min_n, FALSE) OR (m.needs_baseline AND coalesce(m.b_n < m.min_n, FALSE))
               OR (t.reference = 'complement' AND coalesce(m.c_ref_n < m.min_n OR m.b_ref_n < m.min_n, FALSE))
               AS small,
           CASE WHEN m.base_year IS NULL THEN ''
                WHEN m.base_first_year = m.base_year THEN CAST(m.base_year AS VARCHAR)
                ELSE CAST(m.base_first_year AS VARCHAR) || '-' || CAST(m.base_year AS VARCHAR) END AS baseline_text
    FROM main m
    JOIN rules r USING (target_id, org_code, subgroup, subject)
    JOIN targets t USING (target_id)
    LEFT JOIN {{ ref('eval_not_comparable') }} nc USING (target_id, org_code, subgroup, subject)
),
reasons AS (
    SELECT *,
        CASE
            WHEN cur_year IS NULL THEN 'no value for this target in any year'
            WHEN base_year IS NULL AND needs_baseline
                THEN 'no baseline year (roster has no implementation start or baseline year)'
            WHEN b_rows = 0 AND c_rows = 0
                THEN 'no data for this school, subgroup and subject in the baseline or current year'
            WHEN NOT has_c AND c_supp > 0 THEN 'current year ' || cur_year || ': value suppressed'
            WHEN NOT has_c THEN 'current year ' || cur_year || ': no value'
            WHEN needs_baseline AND NOT has_b AND b_supp > 0 THEN 'baseline ' || baseline_text || ': value suppressed'
            WHEN needs_baseline AND NOT has_b THEN 'baseline ' || baseline_text || ': no value'
            WHEN unit_is_grade AND n_units < 1
                THEN 'no grade with a value in both years and at least ' || min_n || ' students in each'
            WHEN rule = 'gap_closure' AND (b_ref IS NULL OR c_ref IS NULL)
                THEN CASE WHEN reference = 'state' THEN 'no state value to compare with'
                          ELSE 'no complement value to compare with' END
            WHEN small THEN 'n below the minimum of ' || min_n || ' (baseline n='
                            || coalesce(CAST(CAST(trunc(b_n) AS BIGINT) AS VARCHAR), 'unknown') || ', current n='
                            || coalesce(CAST(CAST(trunc(c_n) AS BIGINT) AS VARCHAR), 'unknown') || ')'
            WHEN rule_problem <> '' THEN rule_problem
            WHEN progress_pct IS NULL AND forced_rating IS NULL THEN 'the rule could not be applied to these values'
        END AS insufficient_reason
    FROM joined
)
SELECT r.org_code, 'school' AS org_level, r.school_name, r.is_network_school = 1 AS is_network_school,
    r.target_id, r.target_label, r.category, r.rule, r.direction, r.threshold, r.subgroup,
    nullif(r.subject, '') AS subject, r.grade, coalesce(r.metric_c, r.metric_b) AS metric,
    r.metric_b AS baseline_metric, r.source, r.base_year AS baseline_year, r.base_window AS baseline_window,
    CASE WHEN r.has_b THEN r.measure_b END AS baseline_value, r.cur_year AS current_year,
    CASE WHEN r.has_c THEN r.measure_c END AS current_value,
    r.change_abs, r.change_rel_pct, r.target_value, r.progress_pct,
    CASE WHEN r.not_due THEN 'not_yet_due' WHEN r.not_comparable_flag IS NOT NULL THEN 'not_comparable'
         WHEN r.insufficient_reason IS NOT NULL THEN 'insufficient_data' END AS status,
    CASE WHEN r.not_due THEN 'implementation year ' || r.implementation_year || ' is before year '
                             || r.due_from_implementation_year || ', when this target is due'
         WHEN r.not_comparable_flag = 'baseline_not_comparable'
             THEN 'baseline not comparable: ' || r.base_year || ' is a pandemic year for ' || r.domain
                  || '; next valid baseline: '
                  || coalesce(CAST(r.next_valid_baseline AS VARCHAR), 'none before ' || r.cur_year)
         WHEN r.not_comparable_flag IS NOT NULL
             THEN 'baseline and current year are not comparable (' || replace(r.not_comparable_flag, '_', ' ') || ')'
         WHEN r.insufficient_reason IS NOT NULL THEN r.insufficient_reason
         WHEN coalesce(r.met_by, '') <> '' THEN 'met by ' || r.met_by
         ELSE '' END AS status_reason,
    f.flags, r.met_by, r.implementation_year, r.due_from_implementation_year, r.reference,
    CASE WHEN r.has_b THEN r.b_n END AS n_baseline, CASE WHEN r.has_c THEN r.c_n END AS n_current,
    CASE WHEN r.rule = 'gap_closure' AND r.has_b THEN r.b_value END AS baseline_subgroup_value,
    CASE WHEN r.rule = 'gap_closure' AND r.has_c THEN r.c_value END AS current_subgroup_value,
    CASE WHEN r.rule = 'gap_closure' THEN r.b_ref END AS baseline_reference_value,
    CASE WHEN r.rule = 'gap_closure' THEN r.c_ref END AS current_reference_value,
    CASE WHEN r.reference = 'state' THEN r.b_value - r.b_comp END AS complement_gap_baseline,
    CASE WHEN r.reference = 'state' THEN r.c_value - r.c_comp END AS complement_gap_current,
    CASE WHEN r.reference = 'state' THEN (r.c_value - r.c_comp) - (r.b_value - r.b_comp) END AS complement_gap_change,
    x.state_change_rel_pct, x.state_change_abs, x.state_current_value, x.state_change_source,
    x.peer_change_rel_pct, x.peer_change_abs, x.peer_current_value, x.n_peers, x.n_state_schools, x.peer_measure,
    x.peer_low, x.peer_high, x.peer_percentile, x.peer_org_codes,
    -- what equity_outcomes.judge rates and tests
    r.mtype, r.b_k, r.c_k, r.b_n, r.c_n, r.b_se, r.c_se, r.b_ref, r.c_ref, r.b_ref_se, r.c_ref_se, r.n_units,
    r.b_ok, r.measure_b, r.measure_c, r.forced_rating, r.subgroup_progress_pct
FROM reasons r
LEFT JOIN flag_text f USING (target_id, org_code, subgroup, subject)
LEFT JOIN {{ ref('eval_context') }} x USING (target_id, org_code, subgroup, subject)

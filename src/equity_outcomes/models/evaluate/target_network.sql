-- target_network: the network's pooled comparison per target, subject and subgroup, up to the rating (see
-- eval_network); status 'insufficient_data' when n is under the minimum, else NULL: rated by equity_outcomes.judge,
-- which writes target_rollup.
-- Grain: one row per target_id x subject x subgroup.
{{ config(materialized='table') }}
SELECT n.target_id, n.subject, n.subgroup, n.metric_b AS pooled_baseline_metric, n.metric_c AS pooled_metric,
    n.pooled_n_schools, n.pooled_org_codes, r.measure_b AS pooled_baseline_value, r.measure_c AS pooled_current_value,
    r.change_abs AS pooled_change_abs, r.change_rel_pct AS pooled_change_rel_pct,
    r.target_value AS pooled_target_value, r.progress_pct AS pooled_progress_pct,
    CASE WHEN n.small THEN 'insufficient_data' END AS status, n.b_n AS pooled_n_baseline, n.c_n AS pooled_n_current,
    -- what equity_outcomes.judge rates and tests
    t.rule, t.threshold, t.reference, n.mtype, n.b_k, n.c_k, n.b_n, n.c_n, n.b_se, n.c_se, n.b_ref, n.c_ref,
    n.b_ref_se, n.c_ref_se, n.n_units, n.b_ok, r.measure_b, r.measure_c, r.change_abs, r.progress_pct,
    r.forced_rating,
    r.rule_problem
FROM {{ ref('eval_network') }} n
JOIN {{ ref('eval_rules') }} r
  ON r.row_kind = 'network' AND r.target_id = n.target_id AND r.subgroup = n.subgroup AND r.subject = n.subject
JOIN {{ source('evaluate', 'eval_targets') }} t ON t.target_id = n.target_id

-- eval_rules: every target rule, once, on eval_rule_inputs (percent points, SGP points or scores; see
-- docs/targets.md). progress_pct: the share of the required change achieved (100 = met), rounded to 6 decimals;
-- forced_rating: a rating the rule sets whatever the progress; rule_problem: why the rule cannot be applied.
-- Ratings, intervals and tests are applied in Python (equity_outcomes.judge) from these columns.
-- Grain: one row per row_kind x target_id x org_code x subgroup x subject.
{{ config(materialized='table') }}
WITH inputs AS (
    SELECT i.*, t.rule, t.threshold AS t, t.higher_is_better AS higher, t.reference
    FROM {{ ref('eval_rule_inputs') }} i JOIN {{ source('evaluate', 'eval_targets') }} t USING (target_id)
),
measured AS (SELECT *, {{ rule_measures() }} FROM inputs),
changed AS (SELECT *, {{ rule_changes() }} FROM measured),
steps AS (
    SELECT *,
        -- relative change
        measure_b = 0 AS zero_baseline,
        -- share improved / level: progress from the baseline level toward the threshold (from 0, or 100 when
        -- lower is better, without a usable baseline short of it)
        measure_b IS NOT NULL AND CASE WHEN higher THEN measure_b < t ELSE measure_b > t END AS short_at_baseline,
        coalesce(CASE WHEN higher THEN measure_c >= t ELSE measure_c <= t END, FALSE) AS level_met,
        -- level or increase: the level reached, or an increase from a usable prior year
        coalesce(measure_c >= t, FALSE) AS reached,
        b_ok AND measure_b IS NOT NULL AND coalesce(measure_c > measure_b, FALSE) AS increased,
        -- gap closure: the shortfall is > 0 when the subgroup is behind the reference
        CASE WHEN higher THEN -measure_b ELSE measure_b END AS short_b,
        CASE WHEN higher THEN -measure_c ELSE measure_c END AS short_c
    FROM changed
),
progress AS (
    SELECT *,
        CASE rule
            WHEN 'relative_change' THEN
                CASE WHEN zero_baseline AND NOT higher AND measure_c = 0 THEN 100.0
                     WHEN zero_baseline THEN NULL
                     ELSE change_rel_pct / t * 100 END
            WHEN 'absolute_change' THEN change_abs / t * 100
            WHEN 'level_or_increase' THEN
                CASE WHEN increased THEN greatest(measure_c / t * 100, 100.0) ELSE measure_c / t * 100 END
            WHEN 'gap_closure' THEN
                CASE WHEN short_b > 0 THEN (short_b - short_c) / (t / 100 * short_b) * 100
                     WHEN short_b IS NOT NULL AND short_c IS NOT NULL AND short_c <= 0 THEN 100.0 END
            ELSE  -- share_improved, level
                (measure_c - origin) / (t - origin) * 100
        END AS raw_progress
    FROM (SELECT *, CASE WHEN short_at_baseline THEN measure_b WHEN higher THEN 0.0 ELSE 100.0 END AS origin
          FROM steps)
),
ruled AS (
    SELECT *,
        CASE WHEN rule IN ('share_improved', 'level') AND raw_progress IS NOT NULL THEN
                  CASE WHEN level_met THEN greatest(raw_progress, 100.0)
                       WHEN measure_b IS NOT NULL AND NOT short_at_baseline THEN least(raw_progress, 0.0)
                       ELSE raw_progress END
             ELSE raw_progress END AS progress
    FROM progress
)
SELECT row_kind, target_id, org_code, subgroup, subject, measure_b, measure_c, change_abs, change_rel_pct,
    CASE rule
        WHEN 'relative_change' THEN measure_b * (1 + t / 100)
        WHEN 'absolute_change' THEN measure_b + t
        WHEN 'gap_closure' THEN CASE WHEN short_b > 0 THEN measure_b * (1 - t / 100)
                                     WHEN measure_b IS NOT NULL THEN 0.0 END
        ELSE t END AS target_value,
    round_even({{ fin('progress') }}, 6) + 0.0 AS progress_pct,
    CASE WHEN rule = 'relative_change' AND zero_baseline AND NOT higher AND measure_c > 0 THEN 1
         WHEN rule = 'gap_closure' AND short_b <= 0 AND short_c > 0 THEN 1 END AS forced_rating,
    rule = 'relative_change' AND coalesce(zero_baseline, FALSE) AND measure_c IS NOT NULL AS f_baseline_zero,
    rule = 'gap_closure' AND coalesce(short_b <= 0, FALSE) AND short_c IS NOT NULL AS f_no_baseline_gap,
    CASE WHEN rule = 'level_or_increase' THEN
        CASE WHEN reached AND increased THEN 'level+increase' WHEN reached THEN 'level'
             WHEN increased THEN 'increase' END END AS met_by,
    -- gap closure: the share of the required closing the subgroup's own change achieved; a gap that closed while
    -- the subgroup itself did not improve (the state average fell toward it) is flagged and not rated 4
    CASE WHEN rule = 'gap_closure' AND short_b > 0 THEN
        round_even({{ fin('(CASE WHEN higher THEN c_value - b_value ELSE b_value - c_value END) / (t / 100 * short_b) * 100') }}, 6) + 0.0
    END AS subgroup_progress_pct,
    rule = 'gap_closure' AND reference = 'state' AND coalesce(short_b > 0 AND progress >= 100
        AND (CASE WHEN higher THEN c_value - b_value ELSE b_value - c_value END) <= 0, FALSE)
        AS f_closed_by_state_change,
    CASE WHEN rule = 'relative_change' AND higher AND zero_baseline AND measure_c IS NOT NULL
         THEN 'baseline is 0: a relative increase from 0 is undefined' ELSE '' END AS rule_problem
FROM ruled

-- eval_sides: each target's observations pooled for every comparison a school makes: the baseline window
-- (side 'b': the w years ending at by) and the judged year (side 'c': cy). See the pool macro: a judged year or a
-- one-year window is one row per group (the grain of eval_target_observations).
-- Grain: one row per target_id x by x w x cy x side x org_code x org_level x subgroup x subject x metric x source
--   x grade.
{{ config(materialized='table') }}
{% set rows %}
WITH pairs AS (
    SELECT DISTINCT target_id, base_year, base_window, cur_year FROM {{ ref('eval_school_years') }}
    WHERE base_year IS NOT NULL AND base_window IS NOT NULL AND cur_year IS NOT NULL
)
SELECT p.base_year, p.base_window, p.cur_year, 'b' AS side, t.rule, o.*
FROM pairs p
JOIN {{ ref('eval_target_observations') }} o
  ON o.target_id = p.target_id AND o.school_year BETWEEN p.base_year - p.base_window + 1 AND p.base_year
JOIN {{ source('evaluate', 'eval_targets') }} t ON t.target_id = p.target_id
UNION ALL
SELECT p.base_year, p.base_window, p.cur_year, 'c' AS side, t.rule, o.*
FROM pairs p
JOIN {{ ref('eval_target_observations') }} o ON o.target_id = p.target_id AND o.school_year = p.cur_year
JOIN {{ source('evaluate', 'eval_targets') }} t ON t.target_id = p.target_id
{% endset %}
{{ pool(rows, ['target_id', 'base_year', 'base_window', 'cur_year', 'side', 'org_code', 'org_level', 'subgroup', 'subject', 'metric',
               'source', 'grade'], 'school_year', "rule <> 'gap_closure' OR ref IS NOT NULL",
        "side = 'c' OR base_window = 1") }}

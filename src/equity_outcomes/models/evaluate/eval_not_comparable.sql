-- eval_not_comparable: comparisons a target does not rate because baseline and judged year are not comparable:
-- a flag the target lists in not_comparable_on is set (the first such flag in that list is the reason).
-- Grain: one row per target_id x org_code x subgroup x subject that is not comparable.
{{ config(materialized='view') }}
SELECT f.target_id, f.org_code, f.subgroup, f.subject, arg_min(f.flag, i.position) AS reason_flag
FROM {{ ref('eval_main_flags') }} f
JOIN {{ source('evaluate', 'eval_target_items') }} i
  ON i.target_id = f.target_id AND i.kind = 'not_comparable_on' AND i.item = f.flag
WHERE f.is_set
GROUP BY ALL

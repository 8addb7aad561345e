-- eval_main_flags: the flags of eval_main (its f_* columns) as rows, for the status rules and the flags text.
-- Grain: one row per target_id x org_code x subgroup x subject x flag.
{{ config(materialized='view') }}
WITH flags AS (
    SELECT target_id, org_code, subgroup, subject, COLUMNS('^f_') FROM {{ ref('eval_main') }}
)
SELECT target_id, org_code, subgroup, subject, substr(flag, 3) AS flag, coalesce(is_set, FALSE) AS is_set
FROM (UNPIVOT flags ON COLUMNS('^f_') INTO NAME flag VALUE is_set)

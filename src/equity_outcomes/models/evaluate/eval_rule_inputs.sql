-- eval_rule_inputs: what the targets' rules read, for each school's comparison (eval_main) and each pooled network
-- comparison (eval_network), so one model applies every rule (eval_rules).
-- Grain: one row per row_kind x target_id x org_code x subgroup x subject (network rows: org_code 'network').
{{ config(materialized='view') }}
{% set columns = ['target_id', 'subgroup', 'subject', 'mtype', 'b_value', 'c_value', 'b_ref', 'c_ref', 'b_k', 'c_k',
                  'b_n', 'c_n', 'b_se', 'c_se', 'b_ref_se', 'c_ref_se', 'n_units', 'b_ok'] %}
SELECT 'school' AS row_kind, org_code, {{ columns | join(', ') }} FROM {{ ref('eval_main') }}
UNION ALL
SELECT 'network' AS row_kind, 'network' AS org_code, {{ columns | join(', ') }} FROM {{ ref('eval_network') }}

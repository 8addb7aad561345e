-- eval_target_observations: each target's observations (its metrics, sources, grades, subjects and subgroups) with
-- the reference a gap is measured against.
-- Grain: one row per target_id x org_code x org_level x school_year x subgroup x metric x subject x grade x source.
--   reference 'state': ref = the state all-students value of metric_state_reference (the one state-gap rule, which
--     metric_gaps reads too: same source, else DESE's; ref_alt when it came from another source); comp = the
--     complement's value (context).
--   reference 'complement': ref = the complement's value in the same school (config/subgroups.csv), else the
--     all-students value (ref_all).
{{ config(materialized='table') }}
WITH targets AS (SELECT * FROM {{ source('evaluate', 'eval_targets') }}),
items AS (SELECT * FROM {{ source('evaluate', 'eval_target_items') }}),
obs_t AS (
    SELECT t.target_id, t.reference, o.*
    FROM {{ ref('eval_observations') }} o
    JOIN items m ON m.kind = 'metric' AND m.item = o.metric
    JOIN targets t ON t.target_id = m.target_id
    JOIN items src ON src.target_id = t.target_id AND src.kind = 'source' AND src.item = o.source
    JOIN items g ON g.target_id = t.target_id AND g.kind = 'subgroup' AND g.item = o.subgroup
    LEFT JOIN items gr ON gr.target_id = t.target_id AND gr.kind = 'grade' AND gr.item = o.grade
    LEFT JOIN items su ON su.target_id = t.target_id AND su.kind = 'subject' AND su.item = o.subject
    WHERE (t.any_grade OR gr.item IS NOT NULL)
      AND CASE t.subjects_mode WHEN 'none' THEN o.subject = '' WHEN 'any' THEN TRUE ELSE su.item IS NOT NULL END
),
state_refs AS (  -- the state value for the state-gap targets' metrics only
    SELECT org_code, org_level, school_year, subgroup, metric, coalesce(subject, '') AS subject, grade, source,
           state_value, state_source
    FROM {{ ref('metric_state_reference') }}
    WHERE org_level IN ('school', 'state')
      AND metric IN (SELECT m.item FROM items m JOIN targets t USING (target_id)
                     WHERE m.kind = 'metric' AND t.reference = 'state')
      AND subgroup IN (SELECT g.item FROM items g JOIN targets t USING (target_id)
                       WHERE g.kind = 'subgroup' AND t.reference = 'state')
),
others AS (  -- the valid rows a reference may come from (the metrics of the targets with a reference)
    SELECT org_code, org_level, school_year, subgroup, metric, subject, grade, source, value, n, se
    FROM {{ ref('eval_observations') }}
    WHERE valid AND metric IN (SELECT m.item FROM items m JOIN targets t USING (target_id)
                               WHERE m.kind = 'metric' AND t.reference IS NOT NULL)
)
SELECT o.target_id, o.org_code, o.org_level, o.school_year, o.subgroup, o.metric, o.subject, o.grade, o.source,
       o.mtype, o.value, o.k, o.n, o.se, o.valid, o.is_suppressed,
       CASE o.reference WHEN 'state' THEN g.state_value WHEN 'complement' THEN coalesce(c.value, a.value) END AS ref,
       CASE WHEN o.reference = 'complement' THEN CASE WHEN c.value IS NOT NULL THEN c.n ELSE a.n END END AS ref_n,
       CASE WHEN o.reference = 'complement' THEN CASE WHEN c.value IS NOT NULL THEN c.se ELSE a.se END END AS ref_se,
       CASE o.reference WHEN 'state' THEN o.n
                        WHEN 'complement' THEN CASE WHEN c.value IS NOT NULL THEN c.n ELSE a.n END END AS ref_w,
       o.reference = 'state' AND g.state_value IS NOT NULL AND g.state_source <> o.source AS ref_alt,
       o.reference = 'complement' AND c.value IS NULL AND a.value IS NOT NULL AS ref_all,
       CASE WHEN o.reference = 'state' THEN c.value END AS comp,
       CASE WHEN o.reference = 'state' THEN c.n END AS comp_n,
       CAST(NULL AS DOUBLE) AS comp_se,
       CASE WHEN o.reference = 'state' THEN c.n END AS comp_w
FROM obs_t o
LEFT JOIN state_refs g
  ON o.reference = 'state' AND g.org_code = o.org_code AND g.org_level = o.org_level
 AND g.school_year = o.school_year AND g.subgroup = o.subgroup AND g.metric = o.metric
 AND g.subject = o.subject AND g.grade = o.grade AND g.source = o.source
LEFT JOIN {{ ref('subgroups') }} s ON s.subgroup = o.subgroup
LEFT JOIN others c
  ON o.reference IS NOT NULL AND c.subgroup = s.complement AND c.org_code = o.org_code
 AND c.org_level = o.org_level AND c.school_year = o.school_year AND c.metric = o.metric
 AND c.subject = o.subject AND c.grade = o.grade AND c.source = o.source
LEFT JOIN others a
  ON o.reference = 'complement' AND a.subgroup = 'all' AND a.org_code = o.org_code
 AND a.org_level = o.org_level AND a.school_year = o.school_year AND a.metric = o.metric
 AND a.subject = o.subject AND a.grade = o.grade AND a.source = o.source

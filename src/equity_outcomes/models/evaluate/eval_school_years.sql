-- eval_school_years: per target, every school's baseline year(s) and the judged year.
-- Grain: one row per target_id x org_code (schools with data for the target, and every roster school).
--   cy: the judged year (eval_settings.current_year, else the target's latest year with a valid school value);
--   by, w: the baseline window (w years ending at by): compare_to prior_year -> cy - 1; else the year asked for,
--     else the school's roster baseline_year, else implementation_start_year - 1, else the run's baseline (the
--     most common network baseline, earliest on ties; else the target's first year with data);
--   assessment targets move a baseline in a year without tests (no_assessment_years) to the year before it
--     (by_requested keeps the year asked for; flag no_2020_assessments).
{{ config(materialized='table') }}
WITH settings AS (SELECT * FROM {{ source('evaluate', 'eval_settings') }}),
targets AS (SELECT * FROM {{ source('evaluate', 'eval_targets') }}),
roster AS (
    SELECT org_code, school_name, school_level, coalesce(is_network_school, 0) AS is_network_school,
           implementation_start_year, baseline_year,
           coalesce(baseline_year, implementation_start_year - 1) AS own_baseline
    FROM {{ ref('stg_roster') }}
),
network_baseline AS (  -- the most common baseline of the network schools (the earliest on ties)
    SELECT own_baseline FROM roster
    WHERE is_network_school = 1 AND own_baseline IS NOT NULL
    GROUP BY own_baseline ORDER BY count(*) DESC, own_baseline LIMIT 1
),
data_years AS (
    SELECT target_id, max(school_year) AS last_year, min(school_year) AS first_year
    FROM {{ ref('eval_target_observations') }} WHERE org_level = 'school' AND valid GROUP BY ALL
),
target_years AS (
    SELECT t.target_id, t.compare_to, t.domain,
           coalesce(s.current_year, y.last_year) AS cur_year,
           coalesce(s.baseline_year, (SELECT own_baseline FROM network_baseline), y.first_year) AS run_baseline,
           s.baseline_year AS asked_baseline, s.baseline_window
    FROM targets t CROSS JOIN settings s LEFT JOIN data_years y USING (target_id)
),
orgs AS (
    SELECT DISTINCT target_id, org_code FROM {{ ref('eval_target_observations') }} WHERE org_level = 'school'
    UNION
    SELECT t.target_id, r.org_code FROM targets t CROSS JOIN roster r
),
skip AS (SELECT CAST(number AS INTEGER) AS year FROM {{ source('evaluate', 'eval_catalog_items') }}
         WHERE kind = 'no_assessment_year'),
skip_to AS (  -- a year without tests -> the latest earlier year with tests
    SELECT s.year, max(x.year - 1) AS to_year
    FROM skip s JOIN skip x ON x.year <= s.year AND (x.year - 1) NOT IN (SELECT year FROM skip)
    GROUP BY s.year
),
years AS (
    SELECT o.target_id, o.org_code, y.domain, y.cur_year,
           CASE WHEN y.compare_to = 'prior_year' THEN y.cur_year - 1
                ELSE coalesce(y.asked_baseline, r.own_baseline, y.run_baseline) END AS base_year_asked,
           CASE WHEN y.compare_to = 'prior_year' THEN 1 ELSE y.baseline_window END AS base_window,
           y.cur_year - r.implementation_start_year + 1 AS implementation_year,
           coalesce(r.is_network_school, 0) AS is_network_school, r.school_name, r.school_level
    FROM orgs o JOIN target_years y USING (target_id) LEFT JOIN roster r USING (org_code)
)
SELECT y.target_id, y.org_code,
       CAST(CASE WHEN y.domain = 'assessment' THEN coalesce(k.to_year, y.base_year_asked) ELSE y.base_year_asked END
            AS INTEGER) AS base_year,
       CAST(y.base_year_asked AS INTEGER) AS base_year_asked, CAST(y.base_window AS INTEGER) AS base_window, CAST(y.cur_year AS INTEGER) AS cur_year,
       CAST(y.implementation_year AS INTEGER) AS implementation_year, y.is_network_school, y.school_name,
       y.school_level
FROM years y LEFT JOIN skip_to k ON k.year = y.base_year_asked

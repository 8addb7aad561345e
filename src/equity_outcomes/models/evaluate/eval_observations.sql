-- eval_observations: the metric_values rows the targets of this evaluation read, ready to pool.
-- Grain: one row per org_code x org_level x school_year x subgroup x metric x subject x grade x source
--   (school and state rows of the targets' metrics; the targets' subgroups, their complements and 'all').
--   subject '' when the metric has none; k, n: counts (a proportion's missing count is rebuilt from its percent,
--   rounded half to even); se: the standard error of value by metric type (proportion, mean, median; a median
--   of percentiles sqrt(3) sd / sqrt(n), the SD of uniform percentiles when none is published);
--   valid: a value that is not suppressed.
--   n_from_enrollment: a DESE proportion published without a count takes its n from the enrollment DESE
--   publishes for the same school, year and subgroup (dese_context measure n_students, all grades).
{{ config(materialized='table') }}
WITH wanted_subgroups AS (
    SELECT 'all' AS subgroup
    UNION SELECT item FROM {{ source('evaluate', 'eval_target_items') }} WHERE kind = 'subgroup'
    UNION SELECT s.complement
    FROM {{ source('evaluate', 'eval_target_items') }} i
    JOIN {{ source('evaluate', 'eval_targets') }} t USING (target_id)
    JOIN {{ ref('subgroups') }} s ON s.subgroup = i.item
    WHERE i.kind = 'subgroup' AND (t.rule = 'gap_closure' OR t.reference IS NOT NULL) AND s.complement IS NOT NULL
),
types AS (
    SELECT item AS metric, max(text) AS mtype,
           bool_or(item IN (SELECT item FROM {{ source('evaluate', 'eval_catalog_items') }}
                            WHERE kind = 'percentile_metric')) AS percentile
    FROM {{ source('evaluate', 'eval_catalog_items') }} WHERE kind = 'metric_type' GROUP BY ALL
),
enrolled AS (  -- the enrollment DESE publishes per school, year and subgroup (the largest when several reports do)
    SELECT org_code, org_level, CAST(school_year AS INTEGER) AS school_year, subgroup, max(value) AS n_enrolled
    FROM {{ ref('dese_context') }}
    WHERE measure = 'n_students' AND coalesce(grade, 'all') = 'all' AND NOT is_suppressed AND value > 0
      AND subgroup IS NOT NULL
    GROUP BY ALL
),
picked AS (
    SELECT m.org_code, m.org_level, m.school_year, m.subgroup, m.metric, coalesce(m.subject, '') AS subject,
           coalesce(m.grade, 'all') AS grade, m.source, t.mtype, t.mtype = 'proportion' AS prop,
           {{ fin('m.numerator') }} AS k0, {{ fin('m.denominator') }} AS n0, {{ fin('m.value') }} AS v0,
           coalesce({{ fin('m.std_dev') }}, CASE WHEN t.percentile THEN
               (SELECT percentile_sd FROM {{ source('evaluate', 'eval_settings') }}) END) AS sd,
           coalesce(m.is_suppressed, FALSE) AS is_suppressed,
           m.source = 'dese' AND t.mtype = 'proportion' AND {{ fin('m.denominator') }} IS NULL
               AND {{ fin('m.numerator') }} IS NULL AS no_count, e.n_enrolled
    FROM {{ ref('metric_values') }} m
    LEFT JOIN types t USING (metric)
    LEFT JOIN enrolled e ON m.source = 'dese' AND e.org_code = m.org_code AND e.org_level = m.org_level
                        AND e.school_year = m.school_year AND e.subgroup = m.subgroup
    WHERE m.org_level IN ('school', 'state')
      AND m.metric IN (SELECT item FROM {{ source('evaluate', 'eval_target_items') }} WHERE kind = 'metric')
      AND m.subgroup IN (SELECT subgroup FROM wanted_subgroups)
),
valued AS (
    SELECT *,
        CASE WHEN v0 IS NULL AND prop AND k0 IS NOT NULL AND n0 > 0 THEN 100 * k0 / n0 ELSE v0 END AS value,
        CASE WHEN n0 >= 0 THEN n0 WHEN no_count THEN n_enrolled END AS n,
        no_count AND n0 IS NULL AND n_enrolled IS NOT NULL AS n_from_enrollment
    FROM picked
)
SELECT org_code, org_level, CAST(school_year AS INTEGER) AS school_year, subgroup, metric, subject, grade, source,
       mtype, value, n, is_suppressed, n_from_enrollment,
       CASE WHEN k0 IS NULL AND prop AND value IS NOT NULL AND n IS NOT NULL THEN round_even(value * n / 100, 0)
            ELSE k0 END AS k,
       CASE WHEN prop THEN
                CASE WHEN n > 0 AND value / 100 * (1 - value / 100) >= 0
                     THEN 100 * sqrt(value / 100 * (1 - value / 100) / n) END
            WHEN mtype = 'median' THEN
                CASE WHEN n > 0 THEN (SELECT median_se_factor FROM {{ source('evaluate', 'eval_settings') }}) * sd / sqrt(n) END
            WHEN mtype = 'mean' THEN CASE WHEN n > 0 THEN sd / sqrt(n) END
       END AS se,
       value IS NOT NULL AND NOT is_suppressed AS valid
FROM valued

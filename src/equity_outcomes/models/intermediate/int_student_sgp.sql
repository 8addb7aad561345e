-- int_student_sgp
-- Grain: one row per student x school_year x subject with an SGP (ELA/Math). The supplied SGP (stg_assessments.sgp)
-- wins; otherwise the SGP computed from score histories by `equity-outcomes growth` (table student_sgp, empty until
-- it runs). sgp_source says which ('supplied' | 'computed'); both values are kept to report their difference.
{{ config(materialized='view') }}
SELECT
    a.school_year, a.org_code, a.student_id, a.subject, a.grade,
    coalesce(a.sgp, c.sgp::DOUBLE) AS sgp,
    CASE WHEN a.sgp IS NOT NULL THEN 'supplied' ELSE 'computed' END AS sgp_source,
    a.sgp AS supplied_sgp,
    c.sgp::DOUBLE AS computed_sgp,
    c.sgp_order AS computed_sgp_order
FROM {{ ref('stg_assessments') }} a
LEFT JOIN {{ source('raw', 'student_sgp') }} c USING (school_year, student_id, subject)
WHERE a.sgp IS NOT NULL OR c.sgp IS NOT NULL

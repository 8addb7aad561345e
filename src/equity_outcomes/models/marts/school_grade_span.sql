-- school_grade_span: which grades each school served each year (for the grade_span_changed comparability flag).
-- Grain: one row per org_code x school_year (student enrollment).
{{ yearly_config() }}
SELECT org_code, school_year,
       min(grade) FILTER (WHERE grade NOT IN ('PK', 'KG', 'SP')) AS grade_low,
       max(grade) FILTER (WHERE grade NOT IN ('PK', 'KG', 'SP')) AS grade_high,
       bool_or(grade = 'KG') AS serves_kindergarten,
       count(*) AS n_students
FROM {{ ref('stg_enrollment') }}
WHERE {{ for_changed_years('school_year') }}
GROUP BY ALL

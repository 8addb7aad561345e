-- int_outcome_profiles
-- Grain: one row per org_code x school_year x metric x subject x grade x student profile (race, low income, EL,
-- SWD, high needs; all NULL for teachers): the sums every student metric is made of. Aggregating by profile
-- before expanding to subgroups keeps the work proportional to students, not students x subgroups.
--   n = people, num/den = sums of the student-level numerator/denominator, sum_x/sum_x2 = sums of scores
--   (for means and standard deviations), exact DECIMAL sums: a DOUBLE sum's last bits follow the order DuckDB adds
--   in, so a +1 year build and a full rebuild differed there and a published mean at x.xx5 rounded either way.
{{ yearly_config() }}
SELECT
    o.org_code, o.school_year, o.metric, o.subject, o.grade,
    e.race_ethnicity AS race, e.is_low_income, e.is_el, e.is_swd, e.is_high_needs,
    count(*) AS n,
    sum(o.num)::DOUBLE AS num,
    sum(o.den)::DOUBLE AS den,
    sum(o.x::DECIMAL(38, 10)) AS sum_x,
    sum((o.x * o.x)::DECIMAL(38, 10)) AS sum_x2
FROM {{ ref('int_student_outcomes') }} o
LEFT JOIN {{ ref('stg_enrollment') }} e
    ON o.metric <> 'pct_teachers_improved_efficacy'
   AND e.school_year = o.school_year AND e.org_code = o.org_code AND e.student_id = o.student_id
   AND {{ for_changed_years('e.school_year') }}  -- said again for the joined side: DuckDB does not carry it over
WHERE {{ for_changed_years('o.school_year') }}
GROUP BY ALL

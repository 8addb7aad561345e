-- int_student_subgroups
-- Grain: one row per student x school x school_year x subgroup the student belongs to (config/subgroups.csv ids),
-- including 'all' and the complements used for within-school gaps.
CREATE OR REPLACE TABLE int_student_subgroups AS
SELECT school_year, org_code, student_id, unnest(list_filter([
    'all',
    race_ethnicity,
    CASE WHEN race_ethnicity <> 'black' THEN 'non_black' END,
    CASE WHEN race_ethnicity <> 'latino' THEN 'non_latino' END,
    CASE WHEN race_ethnicity <> 'white' THEN 'non_white' END,
    CASE WHEN race_ethnicity <> 'asian' THEN 'non_asian' END,
    CASE WHEN is_low_income THEN 'low_income' ELSE 'non_low_income' END,
    CASE WHEN is_el THEN 'el' ELSE 'non_el' END,
    CASE WHEN is_swd THEN 'swd' ELSE 'non_swd' END,
    CASE WHEN is_high_needs THEN 'high_needs' ELSE 'non_high_needs' END
], lambda x: x IS NOT NULL)) AS subgroup
FROM stg_enrollment;

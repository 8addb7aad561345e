-- stg_capstone
-- Grain: one row per student x school_year with a scored capstone.
CREATE OR REPLACE VIEW stg_capstone AS
SELECT school_year::INTEGER AS school_year, student_id, org_code, capstone_score
FROM raw_student_capstone;

-- stg_discipline
-- Grain: one row per student x disciplinary incident.
CREATE OR REPLACE VIEW stg_discipline AS
SELECT school_year::INTEGER AS school_year, student_id, org_code, incident_id, action, days_missed
FROM raw_student_discipline;

-- One row per `equity-outcomes growth` run (judge/growth/histories.py); a build's fingerprint includes them.
CREATE TABLE IF NOT EXISTS growth_runs (
    computed_at TIMESTAMP, years VARCHAR, baseline_year INTEGER, max_order INTEGER, cohorts INTEGER,
    students_scored BIGINT, students_without_prior BIGINT, students_in_small_cohorts BIGINT,
    students_without_baseline_model BIGINT, seconds DOUBLE
);

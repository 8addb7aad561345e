-- Written by equity_outcomes.judge.growth, read by int_student_sgp (a source): created empty so every model builds
-- (models/build.py; not a model: the models are under staging/, intermediate/, marts/, reference/, evaluate/).
CREATE TABLE IF NOT EXISTS student_sgp (
    student_id   VARCHAR,    -- pseudonymized at ingest
    org_code     VARCHAR,    -- the school of the current score
    school_year  INTEGER,
    grade        VARCHAR,
    subject      VARCHAR,
    sgp          SMALLINT,   -- 1..99
    sgp_order    SMALLINT,   -- prior scores used (1..max_order)
    cohort_n     INTEGER,    -- students the quantile model was fitted on
    norm_group   VARCHAR,    -- 'cohort <year>' or 'baseline <year>' (baseline-referenced)
    prior_grades VARCHAR,    -- the progression used, most recent first: '08@2022,07@2021'
    source       VARCHAR,    -- 'computed: SGP method (quantile regression on B-splines of priors)'
    computed_at  TIMESTAMP
);

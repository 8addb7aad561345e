-- The readiness self-assessment's tables (ingest/readiness/reference.py): the typed raw table the loads append to,
-- and the catalog as reference tables, made again from config/ before every build.
CREATE TABLE IF NOT EXISTS raw_readiness_responses (
    load_id      VARCHAR,
    source_file  VARCHAR,
    source_sheet VARCHAR,   -- NULL for CSV files
    source_row   BIGINT,    -- Excel row of the item, or 1-based CSV line (header = 1)
    org_code     VARCHAR,
    school_year  INTEGER,
    rater_id     VARCHAR,
    rater_role   VARCHAR,
    item_id      VARCHAR,
    rating       INTEGER,   -- 1-4; NULL when skipped
    is_skipped   BOOLEAN
);
CREATE OR REPLACE TABLE ref_readiness_items (
    area_type VARCHAR, area_number INTEGER, area_name VARCHAR, item_number INTEGER, item_id VARCHAR,
    item_text VARCHAR, ccsso_reference VARCHAR
);
CREATE OR REPLACE TABLE ref_readiness_scale (rating INTEGER, label VARCHAR, description VARCHAR);

-- stg_readiness -> view `stg_readiness`
-- Grain: one row per org_code x school_year x rater_id x item_id (skipped items included: rating NULL,
-- is_skipped TRUE), with the item's area from the catalog. Source: raw_readiness_responses (completed readiness
-- workbooks and long CSVs, see docs/readiness.md) joined to ref_readiness_items (config/readiness_items.csv).
-- If two loaded files hold the same rater x item for a school and year, the row from the alphabetically last
-- file wins (then the last sheet and row), so a re-sent copy never counts a rater twice.
-- The two CREATE TABLE IF NOT EXISTS statements only matter when the build runner has not called
-- equity_outcomes.readiness.load_readiness_reference(con) first: the model then builds to zero rows.
CREATE TABLE IF NOT EXISTS raw_readiness_responses (
    load_id VARCHAR, source_file VARCHAR, source_sheet VARCHAR, source_row BIGINT, org_code VARCHAR,
    school_year INTEGER, rater_id VARCHAR, rater_role VARCHAR, item_id VARCHAR, rating INTEGER, is_skipped BOOLEAN
);
CREATE TABLE IF NOT EXISTS ref_readiness_items (
    area_type VARCHAR, area_number INTEGER, area_name VARCHAR, item_number INTEGER, item_id VARCHAR,
    item_text VARCHAR, ccsso_reference VARCHAR
);
CREATE OR REPLACE VIEW stg_readiness AS
SELECT
    r.org_code,
    r.school_year::INTEGER               AS school_year,
    r.rater_id,
    r.rater_role,
    i.area_type,
    i.area_number,
    i.area_name,
    i.item_number,
    r.item_id,
    CASE WHEN r.is_skipped THEN NULL ELSE r.rating END::INTEGER AS rating,
    coalesce(r.is_skipped, FALSE)        AS is_skipped,
    r.source_file,
    r.source_sheet,
    r.source_row
FROM raw_readiness_responses r
JOIN ref_readiness_items i ON i.item_id = r.item_id
WHERE r.is_skipped OR r.rating BETWEEN 1 AND 4
QUALIFY row_number() OVER (
    PARTITION BY r.org_code, r.school_year, r.rater_id, r.item_id
    ORDER BY r.source_file DESC, r.source_sheet DESC NULLS LAST, r.source_row DESC
) = 1;

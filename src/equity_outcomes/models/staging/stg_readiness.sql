-- stg_readiness -> view `stg_readiness`
-- Grain: one row per org_code x school_year x rater_id x item_id (skipped items included: rating NULL,
-- is_skipped TRUE), with the item's area from the catalog. Source: raw_readiness_responses (completed readiness
-- workbooks and long CSVs, see docs/readiness.md) joined to ref_readiness_items (config/readiness_items.csv).
-- If two loaded files hold the same rater x item for a school and year, the row from the alphabetically last
-- file wins (then the last sheet and row), so a re-sent copy never counts a rater twice.
{{ config(materialized='view') }}
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
FROM {{ source('raw', 'raw_readiness_responses') }} r
JOIN {{ source('raw', 'ref_readiness_items') }} i ON i.item_id = r.item_id
WHERE r.is_skipped OR r.rating BETWEEN 1 AND 4
QUALIFY row_number() OVER (
    PARTITION BY r.org_code, r.school_year, r.rater_id, r.item_id
    ORDER BY r.source_file DESC, r.source_sheet DESC NULLS LAST, r.source_row DESC
) = 1

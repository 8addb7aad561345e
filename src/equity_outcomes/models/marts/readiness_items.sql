-- readiness_items: each readiness item's ratings across a school's raters.
-- Grain: one row per org_code x school_year x item_id (every item any rater answered, skips included).
--   mean_rating, min_rating, max_rating over the raters who rated the item (skips excluded; NULL if all skipped)
--   n_raters: raters who rated it (1-4); n_skipped: raters who answered 'skip'
--   is_area_of_concern: the raters' mean rating is below 1.5, i.e. it rounds to 1 "Area of Concern". Chosen over
--     "any rater gave 1" so that one dissenting rater does not flag an item the others rate 3-4; that signal is
--     kept separately as any_rated_1. The area summary mart counts the items flagged here (n_items_rated_1).
{{ config(materialized='table', tags=['readiness']) }}
SELECT
    org_code,
    school_year,
    area_type,
    area_number,
    area_name,
    item_number,
    item_id,
    avg(rating)                                   AS mean_rating,
    min(rating)                                   AS min_rating,
    max(rating)                                   AS max_rating,
    count(rating)                                 AS n_raters,
    count(*) FILTER (WHERE is_skipped)            AS n_skipped,
    coalesce(avg(rating) < 1.5, FALSE)            AS is_area_of_concern,
    coalesce(min(rating) = 1, FALSE)              AS any_rated_1
FROM {{ ref('stg_readiness') }}
GROUP BY org_code, school_year, area_type, area_number, area_name, item_number, item_id
ORDER BY org_code, school_year, area_type, area_number, item_number

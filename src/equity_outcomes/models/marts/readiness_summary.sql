-- readiness_summary: readiness self-assessment per school and area (Condition 1-6, Principle 1-5), with a
-- network roll-up.
-- Grain: one row per org_code x school_year x area_type x area_number (area_name carried along); org_level
-- 'school' rows for every school with responses, plus org_code 'network' / org_level 'network' rows per year.
-- School rows (skipped items never count):
--   mean_rating, sd_rating: mean and sample SD of every individual rating (rater x item) in the area
--   n_items: items rated by at least one rater; n_raters: raters with at least one rating in the area
--   n_ratings, n_skipped: individual ratings given / 'skip' answers
--   n_items_rated_1: items whose mean rating across raters is < 1.5 (readiness_items.is_area_of_concern)
--   pct_ratings_4: percent (0-100) of individual ratings that are 4 "Sustainable"
--   rater_spread: mean over the area's items rated by 2+ raters of (max - min rating); NULL with a single rater
--   change_from_prior_year: mean_rating minus the same school's mean_rating in school_year - 1 (NULL if that
--     year has no responses)
--   n_schools: 1
-- Network rows (every school with responses that year, network and comparison alike):
--   mean_rating, sd_rating, pct_ratings_4, rater_spread: mean over schools of the school values
--   change_from_prior_year: mean over schools of the school changes (schools with both years only)
--   n_items: items rated anywhere; n_raters, n_ratings, n_skipped: sums over schools; n_schools: schools
--   n_items_rated_1: items whose network mean (mean over schools of the school item means) is < 1.5
{{ config(materialized='table', tags=['readiness']) }}
WITH school AS (
    SELECT
        org_code, school_year, area_type, area_number, area_name,
        avg(rating)                                                     AS mean_rating,
        -- from exact integer sums (stddev_samp's last bits follow the order of its parallel parts)
        CASE WHEN count(rating) > 1 THEN sqrt(greatest(count(rating) * sum(rating * rating) - sum(rating) * sum(rating), 0)
             / (count(rating) * (count(rating) - 1))) END                AS sd_rating,
        count(DISTINCT item_id) FILTER (WHERE rating IS NOT NULL)       AS n_items,
        count(DISTINCT rater_id) FILTER (WHERE rating IS NOT NULL)      AS n_raters,
        count(rating)                                                   AS n_ratings,
        count(*) FILTER (WHERE is_skipped)                              AS n_skipped,
        100 * count(*) FILTER (WHERE rating = 4) / nullif(count(rating), 0) AS pct_ratings_4
    FROM {{ ref('stg_readiness') }}
    GROUP BY org_code, school_year, area_type, area_number, area_name
),
school_items AS (
    SELECT
        org_code, school_year, area_type, area_number,
        count(*) FILTER (WHERE is_area_of_concern)                      AS n_items_rated_1,
        avg(max_rating - min_rating) FILTER (WHERE n_raters >= 2)       AS rater_spread
    FROM {{ ref('readiness_items') }}
    GROUP BY org_code, school_year, area_type, area_number
),
school_rows AS (
    SELECT
        s.org_code, 'school' AS org_level, s.school_year, s.area_type, s.area_number, s.area_name,
        s.mean_rating, s.sd_rating, s.n_items, s.n_raters, s.n_ratings, s.n_skipped,
        coalesce(i.n_items_rated_1, 0) AS n_items_rated_1,
        s.pct_ratings_4, i.rater_spread,
        s.mean_rating - p.mean_rating AS change_from_prior_year,
        1 AS n_schools
    FROM school s
    LEFT JOIN school_items i
        ON i.org_code = s.org_code AND i.school_year = s.school_year
       AND i.area_type = s.area_type AND i.area_number = s.area_number
    LEFT JOIN school p
        ON p.org_code = s.org_code AND p.school_year = s.school_year - 1
       AND p.area_type = s.area_type AND p.area_number = s.area_number
),
network_items AS (
    SELECT school_year, area_type, area_number, item_id, avg(mean_rating) AS network_item_mean
    FROM {{ ref('readiness_items') }}
    WHERE mean_rating IS NOT NULL
    GROUP BY school_year, area_type, area_number, item_id
),
network_item_counts AS (
    SELECT
        school_year, area_type, area_number,
        count(*)                                          AS n_items,
        count(*) FILTER (WHERE network_item_mean < 1.5)   AS n_items_rated_1
    FROM network_items
    GROUP BY school_year, area_type, area_number
),
network_rows AS (
    SELECT
        'network' AS org_code, 'network' AS org_level, s.school_year, s.area_type, s.area_number, s.area_name,
        -- means of school figures over exact DECIMAL sums (a DOUBLE sum's last bits follow the order of adding)
        avg(s.mean_rating::DECIMAL(38, 15))       AS mean_rating,
        avg(s.sd_rating::DECIMAL(38, 15))         AS sd_rating,
        any_value(coalesce(c.n_items, 0))         AS n_items,
        sum(s.n_raters)                           AS n_raters,
        sum(s.n_ratings)                          AS n_ratings,
        sum(s.n_skipped)                          AS n_skipped,
        any_value(coalesce(c.n_items_rated_1, 0)) AS n_items_rated_1,
        avg(s.pct_ratings_4::DECIMAL(38, 15))     AS pct_ratings_4,
        avg(s.rater_spread::DECIMAL(38, 15))      AS rater_spread,
        avg(s.change_from_prior_year::DECIMAL(38, 15)) AS change_from_prior_year,
        count(*)                                  AS n_schools
    FROM school_rows s
    LEFT JOIN network_item_counts c
        ON c.school_year = s.school_year AND c.area_type = s.area_type AND c.area_number = s.area_number
    GROUP BY s.school_year, s.area_type, s.area_number, s.area_name
)
SELECT
    org_code, org_level, school_year::INTEGER AS school_year, area_type, area_number::INTEGER AS area_number,
    area_name,
    mean_rating::DOUBLE AS mean_rating, sd_rating::DOUBLE AS sd_rating,
    n_items::BIGINT AS n_items, n_raters::BIGINT AS n_raters, n_ratings::BIGINT AS n_ratings,
    n_skipped::BIGINT AS n_skipped, n_items_rated_1::BIGINT AS n_items_rated_1,
    pct_ratings_4::DOUBLE AS pct_ratings_4, rater_spread::DOUBLE AS rater_spread,
    change_from_prior_year::DOUBLE AS change_from_prior_year, n_schools::BIGINT AS n_schools
FROM (SELECT * FROM school_rows UNION ALL SELECT * FROM network_rows)
ORDER BY org_level DESC, org_code, school_year, area_type, area_number

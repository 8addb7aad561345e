-- int_sgp_medians
-- Grain: one row per org_code x org_level x school_year x subgroup x subject x grade (schools and the network, each
-- cell with an SGP): the exact median SGP that metric_values reports as median_sgp.
-- median() of the cell's SGPs, each histogram row's value repeated n times, as TINYINT (SGPs are whole numbers
-- 1-99; a DOUBLE's 8 bytes each spilled past 4 GB at 1M students). Running counts over the cell x SGP counts (a
-- window) give the same medians in 4x the CPU at 200k students and 5-6x the time at 1M (53-66 s against 8-13 s).
-- median() cannot spill gracefully: at 1M students (1.04M cells) its hash table needs 0.8-1.5 GB depending on the
-- order its rows come in, and with less it spilled without bound (past 50 GB, until the disk was full). Hence
-- (#22): a model of its own, not a step of metric_values, where it ran beside that model's other aggregates (2 of
-- 11 builds of one 1M warehouse filled the disk at the 4 GB default), and its rows in each school's order (a sort
-- of the histogram): 10.8 s and no spill with 1.5 GB to DuckDB, where a rebuilt histogram's order spilled past 12 GB.
-- With less memory still it spills without bound: warehouse.py caps the spill (EQUITY_OUTCOMES_DUCKDB_SPILL).
{{ yearly_config() }}
WITH network_schools AS (  -- the network is pooled over roster schools with is_network_school = 1
    SELECT org_code FROM {{ ref('stg_roster') }} WHERE is_network_school = 1
)
SELECT org_code, org_level, school_year, subgroup, subject, grade, median(sgp) AS median
FROM (
    SELECT l.org_code, l.org_level, h.school_year, h.subject, h.grade, CAST(h.sgp AS TINYINT) AS sgp,
           {{ unnest_list(subgroups_of('h.race', 'h.is_low_income', 'h.is_el', 'h.is_swd', 'h.is_high_needs')) }} AS subgroup
    FROM (SELECT *, {{ unnest_list(list_of_length('n')) }} AS student_no
          FROM {{ ref('int_sgp_histogram') }} WHERE {{ for_changed_years('school_year') }}
          ORDER BY org_code, school_year, subject, grade) h  -- each school's cells together: see above
    JOIN (SELECT org_code AS school, org_code, 'school' AS org_level FROM (SELECT DISTINCT org_code FROM {{ ref('int_sgp_histogram') }})
          UNION ALL
          SELECT org_code, 'network', 'network' FROM network_schools) l ON l.school = h.org_code
)
GROUP BY ALL

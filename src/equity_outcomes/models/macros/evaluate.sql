-- Macros of the evaluate layer (models/evaluate): one definition each of pooling, the rule measures and the rule.

-- A number, or NULL when it is not finite (NaN, +-inf): DuckDB keeps IEEE results of double arithmetic, the
-- evaluation treats them as missing.
{% macro fin(expr) %}(CASE WHEN isfinite({{ expr }}) THEN {{ expr }} END){% endmacro %}

-- Pool the rows of each group (the years of a baseline window, one year, the network's schools) into one value.
-- rows: a SELECT with the group keys and value, k, n, se, valid, is_suppressed, mtype, ref, ref_n, ref_se, ref_w,
-- ref_alt, ref_all, comp, comp_n, comp_se, comp_w (NULL when not used). counts_if: a condition a valid row must
-- also meet to count (gap rules: a reference value). order_by: what tells a group's rows apart (a year, a school);
-- the floating-point sums add in its order, so a result does not depend on the order DuckDB's threads deliver rows
-- (n and the weights are whole numbers, so their sums are exact in any order; k is not always: a capstone
-- score's numerator is a sum of scores).
-- one_row_if: a condition on the group keys under which a group has one row (a single year): those groups
-- are summed without ORDER BY (one addition has one order), which spares DuckDB sorting them.
--   value  one row: as published; proportions with every count: 100 * sum(k) / sum(n); every n known: the
--          n-weighted mean; else the plain mean
--   se     one row: its own; proportions with every n: from the pooled value; every n and se known:
--          sqrt(sum((n se)^2)) / sum(n)
--   ref, comp  weighted by ref_w / comp_w when every weight is known, else the plain mean (SE and n alike)
--   rows, supp, cnt  rows, suppressed rows and counted rows (a missing value told from a suppressed one)
{% macro pool(rows, keys, order_by, counts_if='TRUE', one_row_if='FALSE') %}
{%- set keylist = keys | join(', ') %}
{%- set o = ' ORDER BY ' ~ order_by %}
WITH counted AS (
    SELECT *, valid AND value IS NOT NULL AND ({{ counts_if }}) AS _v
    FROM ({{ rows }}) AS pool_rows
), sums AS (
    {{ pool_sums(keylist, '') }}
    FROM counted WHERE {{ one_row_if }}
    GROUP BY {{ keylist }}
    UNION ALL
    {{ pool_sums(keylist, o) }}
    FROM counted WHERE ({{ one_row_if }}) IS NOT TRUE
    GROUP BY {{ keylist }}
), valued AS (
    SELECT *,
        n_cnt = cnt AND cnt > 0 AS n_all,
        k_cnt = cnt AND cnt > 0 AS k_all,
        CASE WHEN cnt = 0 THEN NULL
             WHEN cnt = 1 THEN v_sum
             WHEN prop AND n_cnt = cnt AND k_cnt = cnt AND n_sum > 0 THEN 100 * k_sum / n_sum
             WHEN n_cnt = cnt AND n_sum > 0 THEN nv_sum / n_sum
             ELSE v_sum / cnt END AS value
    FROM sums
)
SELECT {{ keylist }}, rows, supp, cnt, value,
    CASE WHEN k_all THEN k_sum END AS k,
    CASE WHEN n_all THEN n_sum END AS n,
    CASE WHEN cnt = 0 THEN NULL
         WHEN prop AND n_all AND n_sum > 0 AND cnt > 1 THEN
              CASE WHEN value / 100 * (1 - value / 100) >= 0 THEN 100 * sqrt(value / 100 * (1 - value / 100) / n_sum) END
         WHEN cnt = 1 THEN CASE WHEN se_cnt = 1 THEN se_sum END
         WHEN n_all AND se_cnt = cnt AND n_sum > 0 THEN sqrt(nse2_sum) / n_sum END AS se,
    {%- for side in ('ref', 'comp') %}
    CASE WHEN {{ side }}_w_cnt = {{ side }}_cnt AND {{ side }}_cnt > 0 AND {{ side }}_w_sum > 0
              THEN {{ side }}_wx_sum / {{ side }}_w_sum
         WHEN {{ side }}_cnt > 0 THEN {{ side }}_x_sum / {{ side }}_cnt END AS {{ side }},
    CASE WHEN {{ side }}_cnt = 1 THEN CASE WHEN {{ side }}_se_cnt = 1 THEN {{ side }}_se_sum END
         WHEN {{ side }}_w_cnt = {{ side }}_cnt AND {{ side }}_cnt > 0 AND {{ side }}_se_cnt = {{ side }}_cnt
              AND {{ side }}_w_sum > 0 THEN sqrt({{ side }}_wse2_sum) / {{ side }}_w_sum END AS {{ side }}_se,
    CASE WHEN {{ side }}_n_cnt = {{ side }}_cnt AND {{ side }}_cnt > 0 THEN {{ side }}_n_sum END AS {{ side }}_n,
    {%- endfor %}
    ref_alt, ref_all
FROM valued
{% endmacro %}

-- The quantity a target is about on each side and its change (gap rules: the gap, value - reference).
-- Columns read: rule, b_value, c_value, b_ref, c_ref.
{% macro rule_measures() %}
    CASE WHEN rule = 'gap_closure' THEN b_value - b_ref ELSE b_value END AS measure_b,
    CASE WHEN rule = 'gap_closure' THEN c_value - c_ref ELSE c_value END AS measure_c
{% endmacro %}

{% macro rule_changes() %}
    measure_c - measure_b AS change_abs,
    CASE WHEN measure_b <> 0 THEN
        CASE WHEN rule = 'gap_closure' THEN (abs(measure_c) - abs(measure_b)) / abs(measure_b) * 100
             ELSE (measure_c - measure_b) / measure_b * 100 END
    END AS change_rel_pct
{% endmacro %}

-- The sums of pool's groups; o: the ORDER BY of the floating-point sums ('' for one-row groups).
{% macro pool_sums(keylist, o) %}
    SELECT {{ keylist }},
        count(*) AS rows,
        count(*) FILTER (WHERE is_suppressed) AS supp,
        count(*) FILTER (WHERE _v) AS cnt,
        count(*) FILTER (WHERE _v AND n IS NOT NULL) AS n_cnt,
        count(*) FILTER (WHERE _v AND k IS NOT NULL) AS k_cnt,
        count(*) FILTER (WHERE _v AND se IS NOT NULL) AS se_cnt,
        coalesce(sum(n) FILTER (WHERE _v), 0) AS n_sum,
        coalesce(sum(k{{ o }}) FILTER (WHERE _v), 0) AS k_sum,
        coalesce(sum(n * value{{ o }}) FILTER (WHERE _v), 0) AS nv_sum,
        coalesce(sum(value{{ o }}) FILTER (WHERE _v), 0) AS v_sum,
        coalesce(sum((n * se) ^ 2{{ o }}) FILTER (WHERE _v), 0) AS nse2_sum,
        coalesce(sum(se{{ o }}) FILTER (WHERE _v), 0) AS se_sum,
        bool_or(_v AND mtype = 'proportion') AS prop
        {%- for side in ('ref', 'comp') %},
        count(*) FILTER (WHERE _v AND {{ side }} IS NOT NULL) AS {{ side }}_cnt,
        count(*) FILTER (WHERE _v AND {{ side }} IS NOT NULL AND {{ side }}_w IS NOT NULL) AS {{ side }}_w_cnt,
        count(*) FILTER (WHERE _v AND {{ side }} IS NOT NULL AND {{ side }}_se IS NOT NULL) AS {{ side }}_se_cnt,
        count(*) FILTER (WHERE _v AND {{ side }} IS NOT NULL AND {{ side }}_n IS NOT NULL) AS {{ side }}_n_cnt,
        coalesce(sum({{ side }}_w) FILTER (WHERE _v AND {{ side }} IS NOT NULL), 0) AS {{ side }}_w_sum,
        coalesce(sum({{ side }}_w * {{ side }}{{ o }}) FILTER (WHERE _v AND {{ side }} IS NOT NULL), 0) AS {{ side }}_wx_sum,
        coalesce(sum({{ side }}{{ o }}) FILTER (WHERE _v AND {{ side }} IS NOT NULL), 0) AS {{ side }}_x_sum,
        coalesce(sum({{ side }}_se{{ o }}) FILTER (WHERE _v AND {{ side }} IS NOT NULL), 0) AS {{ side }}_se_sum,
        coalesce(sum(({{ side }}_w * {{ side }}_se) ^ 2{{ o }}) FILTER (WHERE _v AND {{ side }} IS NOT NULL), 0)
            AS {{ side }}_wse2_sum,
        coalesce(sum({{ side }}_n) FILTER (WHERE _v AND {{ side }} IS NOT NULL), 0) AS {{ side }}_n_sum
        {%- endfor %},
        coalesce(bool_or(_v AND ref_alt), FALSE) AS ref_alt,
        coalesce(bool_or(_v AND ref_all), FALSE) AS ref_all
{% endmacro %}

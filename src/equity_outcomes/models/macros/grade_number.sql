-- grade_number: a grade label as a number (PK -1, K 0, '05' 5; anything else NULL), for grade spans.
{% macro grade_number(expr) %}
    CASE WHEN upper(trim({{ expr }})) IN ('PK', 'PRE-K', 'P') THEN -1
         WHEN upper(trim({{ expr }})) IN ('K', 'KG', 'KF', 'KH') THEN 0
         ELSE trunc(TRY_CAST(trim({{ expr }}) AS DOUBLE)) END
{% endmacro %}

-- The grain test: no two rows of the model share the values of these columns (NULLs compare equal, as in a GROUP BY).
-- Declared on every model in its layer's schema.yml as `unique_combination: {columns: [...]}`; fails with the
-- number of repeated keys.
{% test unique_combination(model, columns) %}
SELECT {{ columns | join(', ') }}, count(*) AS n_rows
FROM {{ model }}
GROUP BY {{ columns | join(', ') }}
HAVING count(*) > 1
{% endtest %}

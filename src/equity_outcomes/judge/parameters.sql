-- The evaluation's options and target catalog as the tables models/evaluate reads (judge/evaluate.py,
-- write_parameters: replaced every run, so the warehouse records what the last target_results were computed with).
CREATE OR REPLACE TABLE eval_settings (
    baseline_year INTEGER, current_year INTEGER, baseline_window INTEGER, small_n INTEGER,
    n_change_ratio DOUBLE, peers_k INTEGER, min_peers INTEGER, median_se_factor DOUBLE, percentile_sd DOUBLE,
    targets_file VARCHAR
);
CREATE OR REPLACE TABLE eval_targets (
    target_id VARCHAR, position INTEGER, label VARCHAR, category VARCHAR, rule VARCHAR, threshold DOUBLE,
    direction VARCHAR, higher_is_better BOOLEAN, needs_baseline BOOLEAN, reference VARCHAR, compare_to VARCHAR,
    domain VARCHAR, unit_is_grade BOOLEAN, any_grade BOOLEAN, subjects_mode VARCHAR, min_n INTEGER,
    due_from_implementation_year INTEGER, applies_low INTEGER, applies_high INTEGER
);
CREATE OR REPLACE TABLE eval_target_items (
    target_id VARCHAR, kind VARCHAR, item VARCHAR, position INTEGER
);
CREATE OR REPLACE TABLE eval_catalog_items (
    kind VARCHAR, item VARCHAR, subject VARCHAR, band VARCHAR, number DOUBLE, text VARCHAR
);

"""Outcomes targets: the catalog (config/targets.yaml), the evaluation (SQL models in models/evaluate, then
intervals, tests and ratings here), target_results and target_rollup.

Main entry: :func:`evaluate_targets`. See docs/targets.md.
"""

from .catalog import FLAGS, Catalog, CatalogError, Target, default_targets_file, load_catalog
from .evaluate import RESULT_COLUMNS, ROLLUP_COLUMNS, evaluate_targets

__all__ = [
    "FLAGS",
    "RESULT_COLUMNS",
    "ROLLUP_COLUMNS",
    "Catalog",
    "CatalogError",
    "Target",
    "default_targets_file",
    "evaluate_targets",
    "load_catalog",
]

"""Outcomes targets: the catalog (config/targets.yaml), rule evaluation, ratings, flags, context and roll-up.

Main entry: :func:`evaluate_targets`. See docs/targets.md.
"""

from .catalog import Catalog, CatalogError, Target, default_targets_file, load_catalog
from .engine import FLAG_ORDER, RESULT_COLUMNS, ROLLUP_COLUMNS, evaluate_targets
from .rules import apply_rule

__all__ = [
    "FLAG_ORDER",
    "RESULT_COLUMNS",
    "ROLLUP_COLUMNS",
    "Catalog",
    "CatalogError",
    "Target",
    "apply_rule",
    "default_targets_file",
    "evaluate_targets",
    "load_catalog",
]

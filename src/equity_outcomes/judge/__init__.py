"""judge: what a school's results mean against its targets. Owns the target catalog (``config/targets.yaml``), the
evaluation (the SQL models of ``models/evaluate`` for every comparison, then the intervals, tests and ratings SQL
cannot say well), the statistics (:mod:`.stats`), student growth percentiles from score histories (:mod:`.growth`,
``student_sgp``) and the choice of the judged year. Writes ``target_results``, ``target_rollup`` and their history.

May import: the core modules (errors, paths, progress, warehouse, catalog, crosswalk) and ``models`` (to run the
SQL). Nothing here imports ingest, publish, research or synth. Main entry: :func:`evaluate_targets`; see
docs/targets.md.
"""

from ..catalog import CatalogError
from .catalog import FLAGS, Catalog, Target, default_targets_file, load_catalog
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

"""The files Massachusetts districts already produce for the state: SIMS, SSDR, SCS and the MCAS student results
file, recognised by shape and mapped into the student data contract (``schemas.py``), then through the contract's
validation, quarantine and pseudonymization. Layouts and every code table are data: config/state_layouts.yaml and
config/state_codes/. docs/state_reporting_files.md is the user's reference.

Owns: reading these layouts (one module per family), the history-derived fields (:mod:`.history`) and a
per-file report (:func:`inspect_state_file`; ``check`` prints the layout line of its load's own read).
May import: schemas, errors, paths, ingest.student, ingest.pseudonymize.
"""

from __future__ import annotations

from .detect import detect, is_state_file
from .history import derive_history
from .inspect import inspect_state_file, inspect_state_paths
from .reader import read_state_file

__all__ = ["derive_history", "detect", "inspect_state_file", "inspect_state_paths", "is_state_file",
           "read_state_file"]

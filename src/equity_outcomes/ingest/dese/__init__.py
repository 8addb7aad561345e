"""The DESE export reader: any profiles.doe.mass.edu / DESE statewide export (.xlsx or .csv, as downloaded or
re-saved by Excel) into one long cell table, ``dese_cells``. See ``docs/dese_ingest.md``.

Keep what cannot be mapped, refuse only what cannot be read: an unknown column is kept with ``measure`` NULL, an
unknown report as ``unknown:<title>``; a file is refused only when it cannot be read, has no header row, no org
identifier, or no school year after the manifest. Modules (each imports only those listed before it):
``catalog`` (report catalog, config/dese_reports.yaml), ``manifest``, ``raw`` (bytes -> rows), ``header`` (title,
header, data rows), ``values`` (cell text -> number), ``keys`` (org code, name, level), ``titles``, ``attributes``
(year, group, grade, subject, period), ``cells`` (-> long table), ``reader`` (end to end, check report).
"""

from .catalog import REPORTS
from .cells import CELL_COLUMNS
from .manifest import SHARED_MANIFESTS, Manifest, find_manifest
from .reader import DeseRead, inspect_dese_file, read_dese_file

__all__ = ["CELL_COLUMNS", "REPORTS", "SHARED_MANIFESTS", "DeseRead", "Manifest", "find_manifest", "inspect_dese_file",
           "read_dese_file"]

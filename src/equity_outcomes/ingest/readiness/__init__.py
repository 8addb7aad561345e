"""Readiness self-assessment of the MA Personalized Learning Network School Planning Tool.

6 Conditions and 5 Principles for Personalized Learning, 83 items rated 1-4 (4 Sustainable, 3 Moving toward
Sustainability, 2 Initial Steps, 1 Area of Concern) or 'skip', by one or more raters per school each year.

- catalog:   ``config/readiness_items.csv`` and ``config/readiness_scale.csv`` as validated frames
- template:  ``write_template`` (the fill-in workbook)
- reader:    ``read_responses`` (completed workbooks and long CSVs -> good rows + located quarantine)
- reference: ``load_readiness_reference`` (ref tables + empty raw table for the SQL models)
- synthetic responses: :mod:`equity_outcomes.synth.readiness`

SQL: ``models/staging/stg_readiness.sql``, ``models/marts/readiness_items.sql``, ``models/marts/readiness_summary.sql``.
See docs/readiness.md.
"""

from .catalog import areas, items, scale
from .reader import (
    DATA_COLUMNS,
    QUARANTINE_COLUMNS,
    ReadinessRead,
    is_readiness_file,
    read_responses,
    responses_schema,
)
from .reference import known_schools, load_readiness_reference, quarantine_frame, raw_frame
from .rows import CSV_COLUMNS
from .template import build_workbook, save_deterministic, write_template

__all__ = ["CSV_COLUMNS", "DATA_COLUMNS", "QUARANTINE_COLUMNS", "ReadinessRead", "areas", "build_workbook",
           "is_readiness_file", "items", "known_schools", "load_readiness_reference", "quarantine_frame",
           "raw_frame", "read_responses", "responses_schema", "save_deterministic", "scale", "write_template"]

"""research: read-only analysis of the warehouse for notebooks and researchers. Owns the notebook API
(:func:`open_warehouse` and its filtered reads, :func:`gap_to_state`, :func:`effect_size_for_change`), difference
in differences and event studies (:mod:`.did`) and the export of warehouse tables as they are (:mod:`.export`).
Everything here only reads; see docs/api.md.

>>> from equity_outcomes.research import open_warehouse, gap_to_state, did_estimate   # doctest: +SKIP
>>> with open_warehouse() as wh:                                                       # doctest: +SKIP
...     mv = wh.metric_values(schools="00110505", metrics="pct_absent_10_plus_days", subgroups="all")
...     gaps = gap_to_state(wh, "00130010", "pct_meeting_or_exceeding", "low_income", subject="ela")
...     did = did_estimate(wh)              # PL network vs comparison schools, % absent 10+ days

:func:`open_warehouse` opens the DuckDB file read-only, so it is safe while a flow runs (flows write a staged copy,
``<file>.staging``, and replace the file atomically at the end; an open reader keeps seeing the version it opened).
Every filter is passed to DuckDB as a bound parameter, never formatted into SQL.

Conventions (as in the warehouse): ``school_year`` is the spring year (2024 = 2023-24); ``org_code`` is DESE's
8-digit code as text (integers are zero-padded for you); percent metrics are on a 0-100 scale; suppressed values are
NULL with ``is_suppressed`` true. Subjects are stored in lower case (``ela``, ``math``, ``sci``); filters accept any
case. The statistics are those of :mod:`equity_outcomes.judge.stats` (re-exported here).

May import: the core modules (errors, paths, warehouse, workspace, catalog), ``judge`` (its statistics) and
``publish`` (what the scorecards would publish, after the disclosure control).
"""

from ..judge.stats import (
    cohens_h,
    newcombe_diff_interval,
    relative_change_interval,
    standardized_mean_difference,
    wilson_interval,
)
from .did import DidResult, did_estimate
from .warehouse import EffectSize, Warehouse, effect_size_for_change, gap_to_state, open_warehouse

__all__ = [
    "DidResult",
    "EffectSize",
    "Warehouse",
    "cohens_h",
    "did_estimate",
    "effect_size_for_change",
    "gap_to_state",
    "newcombe_diff_interval",
    "open_warehouse",
    "relative_change_interval",
    "standardized_mean_difference",
    "wilson_interval",
]

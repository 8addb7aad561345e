"""One judged year per run: every target is judged on the same current year, and a target whose source has no data
for that year says so instead of being judged on another year.

The year is the one asked for (``--year``), else the latest year with student data, else (a network with DESE
exports only) the latest year with any data. :func:`coverage` says, per target, which of its sources have data for
the year ("no DESE attendance data for 2025"); the run summary prints it beside each target's baseline years.
Reads ``metric_values`` and the target catalog; writes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import duckdb

from ..errors import InputError
from .catalog import load_catalog

SOURCE_LABELS = {"dese": "DESE", "student": "student"}


@dataclass(frozen=True)
class TargetYear:
    target_id: str
    judged_year: int
    missing: tuple[str, ...]  # "no DESE attendance data for 2025", one per source without data

    def note(self) -> str:
        return "; ".join(self.missing)


def choose_judged_year(con: duckdb.DuckDBPyConnection, requested: int | None) -> int | None:
    """The year every target of this run is judged on; a requested year outside the data is a user error."""
    first, last, last_student = con.execute(  # the first and last year of school data, the last of student data
        "SELECT min(school_year), max(school_year), max(school_year) FILTER (WHERE source = 'student') "
        "FROM metric_values WHERE org_level = 'school'").fetchall()[0]
    if first is None:
        return requested
    if requested is not None:
        if not first <= requested <= last:
            raise InputError(
                f"there is no data for school year {requested}: the warehouse holds {first}-{last}",
                column="--year", value=requested,
                fix=f"pass a spring year from {first} to {last} (2025 = 2024-25), or load that year's files first",
            )
        return requested
    return last_student if last_student is not None else last


def coverage(con: duckdb.DuckDBPyConnection, year: int, targets_file: Path | None = None) -> list[TargetYear]:
    """Per target of the catalog: which of its sources have school values for ``year``."""
    have = set(con.execute("SELECT DISTINCT metric, source FROM metric_values WHERE org_level = 'school' "
                           "AND school_year = ? AND value IS NOT NULL", [year]).fetchall())  # (metric, source)
    return [TargetYear(t.id, year, tuple(f"no {SOURCE_LABELS.get(s, s)} {t.domain} data for {year}" for s in t.sources
                                         if not any((m, s) in have for m in t.metrics)))
            for t in load_catalog(targets_file).targets]

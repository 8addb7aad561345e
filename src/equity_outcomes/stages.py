"""The stages of the yearly run as plain functions on a warehouse file. Prefect flows and the CLI wire these."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path

from .build import BuildSummary, build_models
from .ingest.load import LoadSummary, ingest_into
from .warehouse import connect, table_exists

Progress = Callable[[str], None] | None


def ingest_stage(work_path: Path, sources: Iterable[Path], progress: Progress = None) -> LoadSummary:
    con = connect(work_path)
    try:
        return ingest_into(con, sources, progress=progress)
    finally:
        con.close()


def build_stage(work_path: Path, progress: Progress = None) -> BuildSummary:
    con = connect(work_path)
    try:
        return build_models(con, progress=progress)
    finally:
        con.close()


def marts_are_built(work_path: Path) -> bool:
    con = connect(work_path)
    try:
        return table_exists(con, "metric_values")
    finally:
        con.close()

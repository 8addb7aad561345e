"""Benchmark: read every real DESE export shipped beside the repository (../shared/data/dese and dese_more) and
load them into a fresh warehouse; print files loaded / refused, seconds and cells per second, with the load
average (the machine may be shared).

    .venv/bin/python benchmarks/dese_exports.py [--no-load]     (make benchmark-dese)

``read``: ``read_dese_file`` on each file in this process, one after the other (the reader alone). ``load``:
``stages.ingest_stage`` into a fresh warehouse (reader in worker processes, inserts, audit), as `ingest` does.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

from equity_outcomes import stages
from equity_outcomes.errors import InputError
from equity_outcomes.ingest.dese import read_dese_file
from equity_outcomes.paths import shared_data_dir

FOLDERS = ("dese", "dese_more")


def _load_average() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def _files() -> list[Path]:
    return sorted(p for f in FOLDERS for p in (shared_data_dir() / f).rglob("*") if p.suffix.lower() in (".xlsx", ".csv"))


def read_all(files: list[Path]) -> None:
    before = _load_average()
    started = time.perf_counter()
    cells = refused = 0
    for path in files:
        try:
            cells += len(read_dese_file(path).cells)
        except InputError as exc:
            refused += 1
            print(f"refused: {exc}")
    seconds = time.perf_counter() - started
    print(f"read: {len(files)} files, {len(files) - refused} loaded, {refused} refused; {cells:,} cells in "
          f"{seconds:.1f} s = {cells / seconds:,.0f} cells/s (load average before {before}, after {_load_average()})")


def load_all(files: list[Path]) -> None:
    before = _load_average()
    with tempfile.TemporaryDirectory() as scratch:
        warehouse = Path(scratch) / "dese.duckdb"
        started = time.perf_counter()
        summary = stages.ingest_stage(warehouse, [shared_data_dir() / f for f in FOLDERS])
        seconds = time.perf_counter() - started
        con = __import__("duckdb").connect(str(warehouse), read_only=True)
        cells = con.execute("SELECT count(*) FROM dese_cells").fetchall()[0][0]
        con.close()
    totals = summary.totals()
    print(f"load: {totals['files']} files, {totals['files_loaded']} loaded; {cells:,} cells in {seconds:.1f} s = "
          f"{cells / seconds:,.0f} cells/s (load average before {before}, after {_load_average()})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--no-load", action="store_true", help="only the reader, no warehouse")
    args = parser.parse_args()
    files = _files()
    read_all(files)
    if not args.no_load:
        load_all(files)


if __name__ == "__main__":
    main()

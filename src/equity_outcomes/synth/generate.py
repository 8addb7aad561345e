"""Orchestration: roster -> districts streamed year by year -> student CSVs, DESE exports, known_effects.json."""

from __future__ import annotations

import csv
import json
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from ..errors import InputError
from ..ingest import schemas
from . import params as P
from .dese_exports import DeseAccumulator, write_exports
from .effects import EffectsTracker, build_known_effects
from .network import Network, add_state_schools, build_network, default_n_schools
from .students import Ctx, DistrictSim


@dataclass
class SynthSummary:
    out_dir: Path
    n_schools: int
    n_students: int  # distinct students over all years
    years: list[int]
    files: list[Path] = field(default_factory=list)
    rows_by_table: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0


def write_roster(net: Network, path: Path) -> None:
    cols = list(schemas.ROSTER.columns)
    with open(path, "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh, lineterminator="\n")
        w.writerow(cols)
        for s in sorted((s for s in net.schools if not s.dese_only), key=lambda s: s.org_code):
            d = net.districts[s.district_idx]
            w.writerow([s.org_code, s.name, d.code, d.name, s.level, int(s.is_network),
                        "" if s.start_year is None else s.start_year, ""])


class _DemoCounter:
    """Student-year demographic shares (one count per student per year, transfers counted once)."""

    FLAGS = {"low_income": "li", "el": "el", "former_el": "former", "swd": "swd"}  # share -> enrollment column
    CODED = {"race": P.RACES, "gender": ["female", "male", "nonbinary"]}  # column -> the share of each code

    def __init__(self) -> None:
        self.n = 0
        self.c = dict.fromkeys([*self.FLAGS, *(k for keys in self.CODED.values() for k in keys)], 0)

    def add(self, enr: dict[str, np.ndarray]) -> None:
        _, first = np.unique(enr["sid"], return_index=True)
        self.n += len(first)
        for key, column in self.FLAGS.items():
            self.c[key] += int(enr[column][first].sum())
        for column, keys in self.CODED.items():
            counts = np.bincount(enr[column][first].astype(np.int64), minlength=len(keys))
            for key, count in zip(keys, counts, strict=False):
                self.c[key] += int(count)

    def shares(self) -> dict[str, float]:
        return {k: round(100.0 * v / self.n, 2) if self.n else 0.0 for k, v in self.c.items()}


def generate_network(
    out_dir: Path,
    *,
    seed: int = 20240601,
    n_students: int = 8000,
    n_schools: int | None = None,
    first_year: int = 2018,
    last_year: int = 2025,
    dese_exports: bool = True,
    readiness: bool = True,
    state_schools: int | None = None,
    progress: Callable[[str], None] | None = None,
) -> SynthSummary:
    """Generate a seeded synthetic network of Massachusetts-like schools with known effects.

    ``n_students`` is the expected enrolment in any one year (students move through grades, new cohorts enter, so
    the number of distinct students over all years, reported in the summary, is larger). Output is byte-identical
    for the same arguments. Memory is bounded by the largest district plus a CSV buffer, whatever ``n_students``.
    ``state_schools``: schools of the rest of the state, in the DESE exports only (the pool of similar schools);
    default 4 per network-and-comparison school with DESE exports (at most the state's ~1,850 schools), else 0.
    """
    t0 = time.perf_counter()
    from .csvout import StudentCsvWriter  # duckdb import kept local to generation

    if not (schemas.MIN_YEAR < first_year <= last_year <= schemas.MAX_YEAR):
        raise InputError(f"the years {first_year}-{last_year} are not a range of school years",
                         column="--first-year/--last-year", value=f"{first_year}-{last_year}",
                         fix=f"use {schemas.MIN_YEAR} < first year <= last year <= {schemas.MAX_YEAR}")
    if n_students < 100:
        raise InputError("too few students for a network", column="--students", value=n_students,
                         fix="use --students 100 or more")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    for sub in ("student", "dese", "readiness", ".synth_tmp"):
        shutil.rmtree(out_dir / sub, ignore_errors=True)
    n_schools = n_schools or default_n_schools(n_students)
    net = build_network(seed, n_students, n_schools, first_year, last_year)
    if state_schools is None:
        state_schools = max(0, min(4 * n_schools, 1850 - n_schools)) if dese_exports else 0
    add_state_schools(net, state_schools, cohort=n_students / n_schools / 5.0)
    roster = out_dir / "roster.csv"
    write_roster(net, roster)
    files = [roster]

    ctx = Ctx(net)
    acc = DeseAccumulator(len(net.schools)) if dese_exports else None
    tracker = EffectsTracker(net)
    writer = StudentCsvWriter(out_dir, net.years)
    demo = _DemoCounter()
    n_distinct = 0
    for k, district in enumerate(net.districts):
        sim = DistrictSim(ctx, district, acc, tracker)
        if net.schools[district.schools[0]].dese_only:  # the rest of the state: its DESE exports only
            for year in net.years:
                sim.step(year)
            continue
        enrolled = 0
        for year in net.years:
            tables = sim.step(year)
            demo.add(tables["enrollment"])
            enrolled = max(enrolled, len(np.unique(tables["enrollment"]["sid"])))
            for table, cols in tables.items():
                writer.add(year, table, cols)
            del tables
        n_distinct += sim.next_serial - 1
        if progress:
            progress(f"district {k + 1}/{len(net.districts)}: {enrolled:,} students, years {first_year}-{last_year}")
    writer.close()
    files += writer.files

    if acc is not None:
        files += write_exports(net, acc, out_dir, progress)
    if readiness:
        from .readiness import generate_readiness

        roster_df = pd.read_csv(roster, dtype={"org_code": str, "district_code": str})
        # workbooks as schools send them for a demo-sized network (its rest-of-state schools send none); one long
        # CSV per year at scale
        fmt = "xlsx" if sum(s.is_network for s in net.schools) <= 50 else "csv"
        files += generate_readiness(roster_df, list(net.years), seed, out_dir, fmt=fmt)
        if progress:
            progress(f"readiness self-assessments ({fmt}) for network schools")
    known = build_known_effects(net, tracker, demo.shares())
    kpath = out_dir / "known_effects.json"
    kpath.write_text(json.dumps(known, indent=2) + "\n", encoding="utf-8")
    files.append(kpath)
    seconds = time.perf_counter() - t0
    if progress:
        total = sum(writer.rows.values())
        progress(f"done: {len(net.schools)} schools, {n_distinct:,} students, {total:,} student-table rows "
                 f"in {seconds:.1f} s ({total / max(seconds, 1e-9):,.0f} rows/s)")
    return SynthSummary(out_dir=out_dir, n_schools=sum(not s.dese_only for s in net.schools), n_students=n_distinct, years=net.years,
                        files=files, rows_by_table=dict(writer.rows), seconds=seconds)

"""Growth at state scale: SGPs for 1,000,000 students x 2 subjects x one year, each with two prior scores.

    .venv/bin/python benchmarks/growth_benchmark.py [--students 1000000] [--keep]

Writes a warehouse holding only ``stg_assessments`` (integer scale scores 440-560: the year judged and the two
years of priors of every student, grades 04-08 and 10 as MCAS: grade 10 looks back to grade 8), then runs
:func:`equity_outcomes.judge.growth.compute_growth` for the judged year in a child process and prints its wall time, its
peak memory (max RSS of the child) and the load average beside them. Goal: <= 5 minutes and <= 4 GB on the
project's 2-core machine.
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

YEAR = 2025
GRADES = [4, 5, 6, 7, 8, 10]


def _scores(rng: np.random.Generator, ability: np.ndarray, step: float) -> np.ndarray:
    n = len(ability)
    return np.clip(np.round(500 + 20 * (ability + 0.3 * rng.normal(size=n) + 0.25 * rng.normal(size=n) + step)),
                   440, 560)


def prepare(path: Path, n_students: int, seed: int = 1) -> int:
    """Write the benchmark warehouse; returns the number of score rows."""
    import duckdb

    rng = np.random.default_rng(seed)
    frames = []
    grade = np.array(GRADES)[np.arange(n_students) % len(GRADES)]
    for subject in ("ela", "math"):
        ability = rng.normal(0, 1, n_students)
        lag1 = np.where(grade == 10, 2, 1)  # grade 9 is not tested: grade 10's first prior is grade 8
        for k, (years_back, grade_back) in enumerate(((0, 0), (lag1, lag1), (lag1 + 1, lag1 + 1))):
            frames.append(pd.DataFrame({
                "id": np.arange(n_students), "org": np.arange(n_students) % 1850, "school_year": YEAR - years_back,
                "grade": grade - grade_back, "subject": subject, "score": _scores(rng, ability, 0.1 * (2 - k)),
            }))
    scores = pd.concat(frames, ignore_index=True)
    path.unlink(missing_ok=True)
    con = duckdb.connect(str(path))
    con.register("_s", scores)
    con.execute("""CREATE TABLE stg_assessments AS
        SELECT 'S' || lpad(id::VARCHAR, 8, '0') AS student_id, lpad(org::VARCHAR, 8, '0') AS org_code,
               school_year::INTEGER AS school_year, lpad(grade::VARCHAR, 2, '0') AS grade, subject,
               score AS scaled_score, NULL::DOUBLE AS sgp
        FROM _s""")
    n = con.execute("SELECT count(*) FROM stg_assessments").fetchall()[0][0]
    con.close()
    return n


def run(path: Path) -> None:
    """The measured part (child process): compute and store the SGPs of the judged year."""
    from equity_outcomes.judge.growth import compute_growth
    from equity_outcomes.warehouse import connect

    con = connect(path)
    started = time.perf_counter()
    s = compute_growth(con, years=[YEAR])
    seconds = time.perf_counter() - started
    con.close()
    print(f"  {s.students_scored:,} SGPs in {s.cohorts} cohorts (orders {s.by_order}); compute_growth {seconds:.1f} s")
    print(f"  solver: {s.fit.iterations} interior-point iterations, widest band {s.fit.band:,} observations per tau, "
          f"{s.fit.repaired_taus} fix-ups, {s.fit.full_taus} taus solved on all observations")
    print("  pooled deciles: " + " ".join(f"{v:.1f}" for v in s.decile_shares))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--students", type=int, default=1_000_000)
    ap.add_argument("--warehouse", type=Path, default=Path(tempfile.gettempdir()) / "growth_benchmark.duckdb")
    ap.add_argument("--keep", action="store_true", help="keep the benchmark warehouse")
    ap.add_argument("--run", action="store_true", help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.run:
        run(a.warehouse)
        return
    t0 = time.perf_counter()
    rows = prepare(a.warehouse, a.students)
    print(f"prepared {rows:,} score rows ({a.students:,} students x 2 subjects x 3 years) in "
          f"{time.perf_counter() - t0:.1f} s -> {a.warehouse}")
    load_before = os.getloadavg()
    t0 = time.perf_counter()
    subprocess.run([sys.executable, __file__, "--run", "--warehouse", str(a.warehouse)], check=True)
    wall = time.perf_counter() - t0
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    peak_gb, cpu = usage.ru_maxrss / 1024**2, usage.ru_utime + usage.ru_stime
    load_after = os.getloadavg()
    print(f"growth for {a.students:,} students x 2 subjects, one year, two priors: {wall:.1f} s wall "
          f"(goal <= 300 s), {cpu:.0f} s of CPU, peak RSS {peak_gb:.2f} GB (goal <= 4 GB); load average "
          f"{load_before[0]:.2f} before, {load_after[0]:.2f} after (1-min), {os.cpu_count()} cores")
    if not a.keep:
        a.warehouse.unlink(missing_ok=True)


if __name__ == "__main__":
    main()

"""``equity-outcomes growth``: SGPs for every subject x grade x year cohort of the warehouse, into ``student_sgp``.

Cohort-referenced (default): each cohort's quantile models are fitted on that cohort. Baseline-referenced
(``baseline_year``): each subject x grade's models are fitted on the baseline year's cohort and applied to every
year whose prior progression has the same grades; students of other progressions get no SGP (counted).
"""

from __future__ import annotations

import os
import time
import zlib
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime

import duckdb
import numpy as np
import pandas as pd

from ...errors import EquityOutcomesError
from ...warehouse import table_exists
from . import histories as H
from .quantreg import FitStats
from .sgp import GrowthSettings, QuantileModel, cohort_sgps, load_settings

Progress = Callable[[str], None] | None


@dataclass
class GrowthSummary:
    cohorts: int = 0
    students_scored: int = 0
    students_without_prior: int = 0
    students_in_small_cohorts: int = 0
    students_without_baseline_model: int = 0
    by_order: dict[int, int] = field(default_factory=dict)
    decile_shares: list[float] = field(default_factory=list)  # pooled share of SGPs in 1-10, 11-20, ..., 91-99
    years: list[int] = field(default_factory=list)
    fit: FitStats = field(default_factory=FitStats)
    seconds: float = 0.0


def _progression_label(steps: pd.DataFrame) -> str:
    return ",".join(f"{int(g):02d}@{int(y)}" for g, y in zip(steps["prior_grade_n"], steps["prior_year"], strict=True))


def _seed(key: tuple) -> int:
    """A stable seed per cohort (the preprocessing's subsample), the same in every process."""
    return zlib.crc32(repr(key).encode())


def compute_growth(con: duckdb.DuckDBPyConnection, *, years: list[int] | None = None, baseline_year: int | None = None,
                   settings: GrowthSettings | None = None, progress: Progress = None, workers: int = 2) -> GrowthSummary:
    """Compute SGPs from the warehouse's score histories and replace ``student_sgp`` for the years computed.
    ``workers`` cohorts are fitted at a time (at most one per core)."""
    started = time.perf_counter()
    settings = settings or load_settings()
    if not table_exists(con, "stg_assessments"):
        raise EquityOutcomesError("the warehouse has no assessments model yet: ingest student assessments and build "
                                  "first (equity-outcomes ingest PATH...)")
    steps = H.progressions(con, settings, years)
    hist = H.histories(con, settings, steps, years)
    if hist.empty:
        raise EquityOutcomesError(
            "no scaled scores to compute growth from"
            + (f" in school years {years}" if years else "")
            + f" (subjects {list(settings.subjects)}, grades {list(settings.grades)}). How to fix: ingest the "
            "assessments files (scaled_score per student, subject and year) and run growth again.")
    summary = GrowthSummary(years=sorted({int(y) for y in hist["school_year"]}))
    prog = {key: g.sort_values("k") for key, g in steps.groupby(["subject", "school_year", "grade"])}
    baseline = _baseline_models(hist, prog, settings, baseline_year, summary) if baseline_year else None
    prior_cols = [f"prior_{k}" for k in range(1, settings.max_order + 1)]

    def one(item):
        key, cohort = item
        key = (key[0], int(key[1]), key[2])
        cohort_steps = prog.get(key, steps.iloc[0:0])
        priors = cohort[prior_cols].to_numpy(float)
        models = None
        if baseline is not None and key[1] != baseline_year:
            models = _matching_models(baseline, key, cohort_steps)
        stats = FitStats()
        result = cohort_sgps(cohort["score"].to_numpy(float), priors, settings, models=models, seed=_seed(key),
                             stats=stats)
        if progress:
            progress(f"growth {key[0]} grade {key[2]} {key[1]}: {int((result.sgp > 0).sum()):,} of {len(cohort):,} "
                     "students scored")
        return key, cohort, cohort_steps, priors, models is not None, result, stats

    out = []
    # cohorts are independent: one per core (numpy releases the GIL in the heavy array work)
    with ThreadPoolExecutor(max_workers=max(1, min(workers, os.cpu_count() or 1))) as pool:
        done = list(pool.map(one, hist.groupby(["subject", "school_year", "grade"], sort=True)))
    for key, cohort, cohort_steps, priors, applied, result, stats in done:
        summary.cohorts += 1
        summary.fit.add(stats)
        _count(summary, cohort, priors, result, settings, applied)
        scored = result.sgp > 0
        if scored.any():
            out.append(pd.DataFrame({
                "student_id": cohort["student_id"].to_numpy()[scored], "org_code": cohort["org_code"].to_numpy()[scored],
                "school_year": key[1], "grade": key[2], "subject": key[0], "sgp": result.sgp[scored],
                "sgp_order": result.order[scored], "cohort_n": result.cohort_n[scored],
                "norm_group": f"baseline {baseline_year}" if baseline_year else f"cohort {key[1]}",
                "prior_grades": _progression_label(cohort_steps),
            }))
    frame = pd.concat(out, ignore_index=True) if out else pd.DataFrame(columns=["student_id"])
    frame["source"] = H.SOURCE
    frame["computed_at"] = datetime.now().replace(microsecond=0)
    H.write_student_sgp(con, frame, summary.years)
    summary.decile_shares = _decile_shares(frame["sgp"].to_numpy() if len(frame) else np.zeros(0))
    summary.seconds = time.perf_counter() - started
    _record_run(con, summary, baseline_year, settings)
    return summary


def _baseline_models(hist, prog, settings, baseline_year, summary) -> dict[tuple, tuple[tuple, dict[int, QuantileModel]]]:
    """Per (subject, grade): the models fitted on the baseline year's cohort and its progression's grades."""
    out = {}
    prior_cols = [f"prior_{k}" for k in range(1, settings.max_order + 1)]
    base = hist[hist["school_year"] == baseline_year]
    if base.empty:
        raise EquityOutcomesError(f"no scores in the baseline year {baseline_year}: choose a year with scores "
                                  f"(years with scores: {sorted(set(hist['school_year']))})")
    for (subject, grade), cohort in base.groupby(["subject", "grade"]):
        steps = prog.get((subject, baseline_year, grade))
        if steps is None:
            continue
        fitted = cohort_sgps(cohort["score"].to_numpy(float), cohort[prior_cols].to_numpy(float), settings,
                             seed=_seed((subject, baseline_year, grade)), stats=summary.fit).models
        out[(subject, grade)] = (_grades_only(steps), fitted)
    return out


def _grades_only(steps: pd.DataFrame) -> tuple[int, ...]:
    return tuple(int(g) for g in steps["prior_grade_n"])


def _matching_models(baseline, key, steps) -> dict[int, QuantileModel]:
    """The baseline models of this subject x grade whose prior grades match this cohort's, by order."""
    found = baseline.get((key[0], key[2]))
    if found is None:
        return {}
    grades, models = found
    mine = _grades_only(steps)
    return {k: m for k, m in models.items() if mine[:k] == grades[:k]}


def _count(summary: GrowthSummary, cohort, priors, result, settings, baseline_applied: bool) -> None:
    has_prior = ~np.isnan(priors[:, 0])
    scored = result.sgp > 0
    summary.students_scored += int(scored.sum())
    summary.students_without_prior += int((~has_prior).sum())
    unscored_with_prior = int((has_prior & ~scored).sum())
    if baseline_applied:
        summary.students_without_baseline_model += unscored_with_prior
    else:
        summary.students_in_small_cohorts += unscored_with_prior
    for k in range(1, settings.max_order + 1):
        summary.by_order[k] = summary.by_order.get(k, 0) + int((result.order == k).sum())


def _decile_shares(sgp: np.ndarray) -> list[float]:
    if not len(sgp):
        return []
    counts = np.histogram(sgp, bins=[1, 11, 21, 31, 41, 51, 61, 71, 81, 91, 100])[0]
    return [round(100.0 * c / len(sgp), 2) for c in counts]


def _record_run(con, summary: GrowthSummary, baseline_year, settings) -> None:
    con.execute(
        "INSERT INTO growth_runs VALUES (now()::TIMESTAMP, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [",".join(map(str, summary.years)), baseline_year, settings.max_order, summary.cohorts, summary.students_scored,
         summary.students_without_prior, summary.students_in_small_cohorts, summary.students_without_baseline_model,
         summary.seconds],
    )

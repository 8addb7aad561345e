"""The SGP engine against R: the same quantile regressions fitted by quantreg (rq, method "br", as the SGP package)
on B-spline bases from splines::bs, on the same synthetic cohorts; at least 99% of students get the same SGP +-1.

Needs R with quantreg (``make test`` installs r-base-core, r-cran-quantreg and r-cran-splines2 from apt when root);
without it the test is skipped and says why.
"""

from __future__ import annotations

import dataclasses
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from equity_outcomes.judge.growth.sgp import cohort_sgps, load_settings

R_SCRIPT = Path(__file__).parent / "r" / "sgp_reference.R"


def _r_ready() -> str | None:
    if shutil.which("Rscript") is None:
        return "Rscript is not installed (apt-get install r-base-core r-cran-quantreg r-cran-splines2; make test does it as root)"
    probe = subprocess.run(["Rscript", "-e", "library(quantreg); library(splines)"], capture_output=True, text=True)
    if probe.returncode != 0:
        return f"R is installed but quantreg/splines are not: {probe.stderr.strip()[-200:]}"
    return None


pytestmark = [pytest.mark.slow, pytest.mark.skipif(_r_ready() is not None, reason=str(_r_ready()))]


def _synthetic_cohort(raw: Path, subject: str, year: int, grade: str) -> pd.DataFrame:
    """One cohort of the synthetic network's score histories: current score, grade-1 a year before, grade-2 two."""
    def scores(y: int, g: str) -> pd.Series:
        a = pd.read_csv(raw / "student" / str(y) / "assessments.csv", dtype=str)
        a = a[(a["subject"] == subject) & (a["grade"] == g)]
        return a.set_index("student_id")["scaled_score"].astype(float)

    g = int(grade)
    cur = scores(year, grade).rename("current").to_frame()
    cur["prior_1"] = scores(year - 1, f"{g - 1:02d}")
    cur["prior_2"] = scores(year - 2, f"{g - 2:02d}")
    cur = cur[cur["prior_1"].notna()].reset_index().rename(columns={"student_id": "id"})
    return cur


def _compare(cohort: pd.DataFrame, tmp_path: Path, min_order2: int) -> tuple[float, pd.DataFrame]:
    src, out = tmp_path / "cohort.csv", tmp_path / "r_sgp.csv"
    cohort.to_csv(src, index=False, na_rep="NA")
    run = subprocess.run(["Rscript", str(R_SCRIPT), str(src), str(out), str(min_order2)], capture_output=True,
                         text=True, timeout=1200)
    assert run.returncode == 0, run.stderr[-2000:]
    r = pd.read_csv(out)
    settings = dataclasses.replace(load_settings(), min_cohort_size=(1, min_order2, min_order2))
    mine = cohort_sgps(cohort["current"].to_numpy(float), cohort[["prior_1", "prior_2"]].to_numpy(float), settings)
    both = pd.DataFrame({"id": cohort["id"], "py": mine.sgp, "py_order": mine.order}).merge(r, on="id")
    assert len(both) == len(cohort)
    assert (both["py_order"] == both["order"]).all()
    within = float((np.abs(both["py"] - both["sgp"]) <= 1).mean())
    return within, both


@pytest.mark.parametrize("subject, year, grade", [("MATH", 2025, "06"), ("ELA", 2024, "05")])
def test_same_sgps_as_r_quantreg_on_synthetic_cohorts(demo_raw, tmp_path, subject, year, grade):
    cohort = _synthetic_cohort(demo_raw, subject, year, grade)
    assert len(cohort) > 300 and cohort["prior_2"].isna().any() and cohort["prior_2"].notna().any()
    within, both = _compare(cohort, tmp_path, min_order2=100)
    exact = float((both["py"] == both["sgp"]).mean())
    print(f"{subject} {grade} {year}: {len(both)} students, {100 * exact:.1f}% identical, "
          f"{100 * within:.2f}% within +-1 of R")
    assert within >= 0.99, both[np.abs(both["py"] - both["sgp"]) > 1].head(20)


def test_same_sgps_as_r_on_a_larger_cohort_fitted_with_the_preprocessing(tmp_path):
    """9,000 students: above PREPROCESS_FROM_N, so the Python side solves reduced problems and checks them."""
    rng = np.random.default_rng(2024)
    n = 9000
    ability = rng.normal(0, 1, n)
    level = lambda k: np.clip(np.round(500 + 19 * (ability + 0.35 * rng.normal(size=n) + 0.1 * k)), 440, 560)  # noqa: E731
    cohort = pd.DataFrame({"id": np.arange(n), "current": level(2), "prior_1": level(1), "prior_2": level(0)})
    cohort.loc[:499, "prior_2"] = np.nan
    within, both = _compare(cohort, tmp_path, min_order2=1000)
    print(f"synthetic 9,000: {100 * float((both['py'] == both['sgp']).mean()):.1f}% identical, "
          f"{100 * within:.2f}% within +-1 of R")
    assert within >= 0.99

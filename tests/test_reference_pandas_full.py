"""The pandas reference of #22 (benchmarks/reference_pandas_full.py) computes the same cells as the full-fidelity
floor (benchmarks/floor_full.sql): on a small synthetic network with a few rows of missing values added, no key on
one side only, the same suppression, and the same numbers to float noise."""

from __future__ import annotations

import csv
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
import floor_vs_flow  # noqa: E402
import reference_pandas_full  # noqa: E402

from equity_outcomes.catalog import metrics_frame  # noqa: E402

YEAR = 2024


def _append(path: Path, rows: list[dict]) -> None:
    with path.open(newline="") as f:
        header = next(csv.reader(f))
    with path.open("a", newline="") as f:
        csv.DictWriter(f, fieldnames=header, restval="", lineterminator="\n").writerows(rows)


@pytest.fixture(scope="module")
def network(tmp_path_factory) -> Path:
    """Two school years of 6 schools, and rows with the missing values the reference must treat as the floor does:
    an enrollment without race or flags, tests of a student with no enrollment there, a test without a level or a
    score, a capstone without a score, a graduate without MassCore, a survey answer without a score."""
    from equity_outcomes.synth import generate_network

    raw = tmp_path_factory.mktemp("pandas_full") / "raw"
    generate_network(raw, n_students=1200, n_schools=6, first_year=YEAR - 1, last_year=YEAR, dese_exports=False,
                     readiness=False)
    org = pd.read_csv(raw / "roster.csv", dtype=str)["org_code"].iloc[0]
    student = raw / "student" / str(YEAR)
    base = {"school_year": YEAR, "org_code": org}
    _append(student / "enrollment.csv", [{**base, "student_id": "SX1", "grade": "05", "days_in_membership": 180,
                                          "days_absent": 20}])
    _append(student / "assessments.csv", [
        {**base, "student_id": "SX1", "grade": "05", "subject": "MATH", "test_family": "nextgen", "sgp": 40},
        {**base, "student_id": "SX2", "grade": "06", "subject": "ELA", "test_family": "nextgen",
         "scaled_score": 500, "achievement_level": "M", "sgp": 70}])
    _append(student / "capstone.csv", [{**base, "student_id": "SX1"}])
    _append(student / "graduates.csv", [{**base, "student_id": "SX1", "completed_dual_enrollment": 1}])
    _append(student / "student_surveys.csv", [{**base, "student_id": "SX1", "season": "fall",
                                               "domain": "engagement"}])
    return raw


def test_the_pandas_reference_computes_the_floors_cells(network: Path, tmp_path: Path, monkeypatch):
    import duckdb

    monkeypatch.chdir(network)  # w_floor runs the script from the network folder; restored after the test
    floor = tmp_path / "floor.parquet"
    floor_vs_flow.w_floor({"raw": str(network), "result": str(floor), "memory_limit": "1GB",
                           "spill": str(tmp_path)})
    cells = reference_pandas_full.compute(network, metrics_frame()[["metric", "min_n", "min_n_on"]])
    con = duckdb.connect()
    con.register("cells", cells)
    a = floor_vs_flow.agreement(con, floor, "cells", "pandas")
    assert a["matched"] > 10_000
    assert (a["only_floor"], a["only_pandas"], a["suppression_differs"], a["null_value_differs"]) == (0, 0, 0, 0)
    assert a["max_abs_diff_n_students"] == 0 and a["max_abs_diff_denominator"] == 0
    for column in ("numerator", "value", "std_dev"):
        assert a[f"max_abs_diff_{column}"] < 1e-9, (column, a)
    assert set(cells["metric"]) >= set(con.execute(f"SELECT DISTINCT metric FROM '{floor}'").df()["metric"])


def test_equal_survey_means_are_not_an_improvement_whatever_the_summing_order():
    """Fall 4.2, 4.2, 4.0 and spring 4.0, 4.2, 4.2 have equal means; summed as DOUBLE in file order they do not
    (12.4 and 12.399999999999999), as exact sums they do."""
    scores = pd.DataFrame({"id": ["a"] * 6 + ["b"], "season": ["fall"] * 3 + ["spring"] * 3 + ["fall"],
                           "score": [4.2, 4.2, 4.0, 4.0, 4.2, 4.2, np.nan]})
    assert (4.2 + 4.2 + 4.0) != (4.0 + 4.2 + 4.2)  # the tie a DOUBLE mean would break
    out = reference_pandas_full.exact_sums(scores, ["id", "season"])
    a = out[out["id"] == "a"].set_index("season")
    assert a.loc["fall", "total"] == a.loc["spring", "total"] == 12_400_000 and a.loc["fall", "count"] == 3
    assert out.loc[out["id"] == "b", "count"].item() == 0

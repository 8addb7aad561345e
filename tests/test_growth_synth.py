"""The synthetic generator's score histories carry known growth differences between schools, and SGPs computed from
them recover those differences (the school value-added and the growth_improver effect)."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pandas as pd
import pytest
from scipy.stats import norm, spearmanr

from equity_outcomes import stages
from equity_outcomes.judge.growth import compute_growth, load_settings
from equity_outcomes.synth import params as P
from equity_outcomes.warehouse import StagedWarehouse, connect

pytestmark = pytest.mark.slow

# grades where students stay in their school from the prior year (the entry grades 06 and 10 also see the
# difference between the new school's and the feeder's level, a separate known effect)
WITHIN_SCHOOL_GRADES = ("04", "05", "07", "08")


@pytest.fixture(scope="module")
def network(tmp_path_factory):
    from equity_outcomes.synth import generate_network

    root = tmp_path_factory.mktemp("growth_synth")
    raw = root / "raw"
    generate_network(raw, n_students=24_000, dese_exports=False)
    wh = root / "warehouse.duckdb"
    files = [raw / "roster.csv", *sorted((raw / "student").glob("*/assessments.csv"))]
    with StagedWarehouse(wh) as staged:
        stages.ingest_stage(staged.work_path, files)
        stages.build_stage(staged.work_path)
        staged.commit()
    con = connect(wh)
    settings = dataclasses.replace(load_settings(), grades=WITHIN_SCHOOL_GRADES)
    compute_growth(con, settings=settings)
    sgp = con.execute("""SELECT c.org_code, c.school_year, c.subject, c.grade, c.sgp, a.sgp AS supplied
                         FROM student_sgp c JOIN stg_assessments a USING (school_year, student_id, subject)""").df()
    spread = _residual_spread(con)
    con.close()
    return sgp, json.loads((raw / "known_effects.json").read_text()), spread


def _residual_spread(con) -> float:
    """The spread of scores given their priors (linear in the priors and their squares), pooled over cohorts."""
    from equity_outcomes.judge.growth import histories as H

    settings = dataclasses.replace(load_settings(), grades=WITHIN_SCHOOL_GRADES)
    hist = H.histories(con, settings, H.progressions(con, settings, None), None).dropna()
    res = []
    for _, c in hist.groupby(["subject", "school_year", "grade"]):
        x = np.column_stack([np.ones(len(c)), c.prior_1, c.prior_2, c.prior_1**2, c.prior_2**2])
        beta, *_ = np.linalg.lstsq(x, c.score.to_numpy(float), rcond=None)
        res.append(c.score.to_numpy(float) - x @ beta)
    return float(np.std(np.concatenate(res)))


def test_school_median_sgps_follow_the_known_value_added(network):
    sgp, ke, _ = network
    improvers = {e["org_code"] for e in ke["effects"] if e["role"] == "growth_improver"}
    medians = sgp[~sgp.org_code.isin(improvers)].groupby("org_code").agg(computed=("sgp", "median"),
                                                                        supplied=("supplied", "median"), n=("sgp", "size"))
    medians = medians[medians.n >= 200]
    known = pd.Series({o: s["growth_value_added_z_per_year"] for o, s in ke["schools"].items()})
    assert len(medians) >= 15
    rho = spearmanr(known[medians.index], medians.computed).statistic
    print(f"{len(medians)} schools: Spearman(known value-added, computed median SGP) = {rho:.2f}; "
          f"Spearman(supplied, computed medians) = {spearmanr(medians.supplied, medians.computed).statistic:.2f}")
    assert rho >= 0.5


def test_growth_improvers_median_sgp_rises_by_the_built_in_effect(network):
    sgp, ke, spread = network
    comparison = [o for o, s in ke["schools"].items() if not s["is_network_school"]]
    entries = [e for e in ke["effects"] if e["role"] == "growth_improver"]
    assert entries
    shift_points = entries[0]["growth_shift_z_per_year"] * P.NEXTGEN_SCALE  # z -> scaled-score points
    expected = 100 * (norm.cdf(shift_points / spread) - 0.5)
    changes = []
    for e in entries:
        subj = sgp[sgp.subject == e["subject"].lower()]
        before, after = subj.school_year < e["from_year"], subj.school_year >= e["effective_from_year"]
        mine, comp = subj.org_code == e["org_code"], subj.org_code.isin(comparison)
        if (mine & before).sum() < 100 or (mine & after).sum() < 100:
            continue
        change = subj[mine & after].sgp.median() - subj[mine & before].sgp.median()
        comp_change = subj[comp & after].sgp.median() - subj[comp & before].sgp.median()
        changes.append(change - comp_change)
    assert changes
    did = float(np.mean(changes))
    print(f"growth_improver: computed median SGP +{did:.1f} points vs comparison schools "
          f"(expected {expected:.1f} from a {entries[0]['growth_shift_z_per_year']} z/year shift and a residual "
          f"spread of {spread:.1f} scale points; {len(changes)} school-subjects)")
    assert did >= 2 and abs(did - expected) <= 4

"""Every notebook runs top to bottom (nbclient, the venv's kernel) and its key figures equal the API's.

Each notebook reads its warehouse from an environment variable and, when ``EQUITY_OUTCOMES_NB_OUT`` is set, writes
its key figures there as JSON; the tests point the variables at the session's warehouses (``demo_run``,
``dese_warehouse``) and recompute the figures here.
"""

from __future__ import annotations

import json
import math
import os
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")

from equity_outcomes.research import TwfeWarning, did_estimate, gap_to_state, open_warehouse  # noqa: E402

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = ROOT / "notebooks"
ALL_NOTEBOOKS = sorted(p.name for p in NOTEBOOKS.glob("*.ipynb"))


@pytest.fixture(scope="session")
def kernel_name(tmp_path_factory) -> str:
    """'python3' when its kernelspec runs this interpreter (the venv's ipykernel); otherwise a temporary kernelspec
    whose argv is ``sys.executable`` (found through JUPYTER_PATH), so the notebooks never run another Python."""
    from jupyter_client.kernelspec import KernelSpecManager, NoSuchKernel

    try:
        argv0 = KernelSpecManager().get_kernel_spec("python3").argv[0]
    except NoSuchKernel:
        argv0 = None
    # jupyter_client replaces a bare 'python'/'python3' with sys.executable
    if argv0 in {"python", "python3", f"python{sys.version_info[0]}.{sys.version_info[1]}"} or (
        argv0 and Path(argv0).resolve() == Path(sys.executable).resolve()
    ):
        return "python3"
    spec_dir = tmp_path_factory.mktemp("jupyter") / "kernels" / "equity-outcomes-venv"
    spec_dir.mkdir(parents=True)
    (spec_dir / "kernel.json").write_text(json.dumps({
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "equity-outcomes (venv)", "language": "python",
    }))
    os.environ["JUPYTER_PATH"] = os.pathsep.join(
        [str(spec_dir.parent.parent), *filter(None, [os.environ.get("JUPYTER_PATH")])])
    return "equity-outcomes-venv"


def run_notebook(name: str, tmp_path: Path, monkeypatch, kernel_name: str, **env: str) -> dict:
    """Execute a notebook in a fresh kernel with ``env`` set; return the key figures it wrote."""
    out = tmp_path / (Path(name).stem + ".json")
    for key in ("EQUITY_OUTCOMES_WAREHOUSE", "EQUITY_OUTCOMES_DESE_WAREHOUSE", "EQUITY_OUTCOMES_RAW",
                "EQUITY_OUTCOMES_SCHOOL"):
        monkeypatch.delenv(key, raising=False)
    for key, value in {**env, "EQUITY_OUTCOMES_NB_OUT": str(out)}.items():
        monkeypatch.setenv(key, value)
    nb = nbformat.read(NOTEBOOKS / name, as_version=4)
    client = nbclient.NotebookClient(nb, kernel_name=kernel_name, timeout=300,
                                     resources={"metadata": {"path": str(tmp_path)}})
    client.execute()
    assert out.exists(), f"{name} did not write its key figures"
    return json.loads(out.read_text())


def test_the_five_notebooks_are_here_and_committed_without_outputs():
    assert ALL_NOTEBOOKS == [
        "01_quick_start.ipynb", "02_gap_to_state.ipynb", "03_median_vs_mean_sgp.ipynb", "04_reconciliation.ipynb",
        "05_dese_absence_suspension_2019_2024.ipynb",
    ]
    for name in ALL_NOTEBOOKS:
        nb = nbformat.read(NOTEBOOKS / name, as_version=4)
        nbformat.validate(nb)
        code = [c for c in nb.cells if c.cell_type == "code"]
        assert code and all(c.outputs == [] and c.execution_count is None for c in code), name
        source = "\n".join(c.source for c in code)
        assert "assert " in source, f"{name} asserts nothing"
        assert "EQUITY_OUTCOMES_NB_OUT" in source


def test_01_quick_start(demo_run, tmp_path, monkeypatch, kernel_name):
    figures = run_notebook("01_quick_start.ipynb", tmp_path, monkeypatch, kernel_name,
                           EQUITY_OUTCOMES_WAREHOUSE=str(demo_run["warehouse"]),
                           EQUITY_OUTCOMES_RAW=str(demo_run["raw"]))
    known = json.loads((demo_run["raw"] / "known_effects.json").read_text())["did"]
    with open_warehouse(demo_run["warehouse"]) as wh:
        roster = wh.roster()
        network = wh.metric_values(metrics="pct_absent_10_plus_days", subgroups="all", source="student",
                                   org_level="network")
        absence = wh.target_results(targets="absence", subgroups="all", network_only=True)
        with pytest.warns(TwfeWarning):
            twfe = did_estimate(wh, method="twfe")
        imputation = did_estimate(wh, weights=None)
    assert figures["n_roster_schools"] == len(roster) == 12
    assert figures["n_network_schools"] == int((roster["is_network_school"] == 1).sum()) == 6
    assert {int(k): v for k, v in figures["network_absence_by_year"].items()} == pytest.approx(
        dict(zip(network["school_year"], network["value"], strict=True)), abs=1e-9)
    assert figures["absence_status_counts"] == absence["status"].value_counts().to_dict()
    assert figures["did_twfe"]["estimate_pp"] == pytest.approx(twfe.estimate_pp, abs=1e-9)
    assert figures["did_twfe"]["ci_low"] == pytest.approx(twfe.ci_low, abs=1e-9)
    assert figures["did_imputation"]["estimate_pp"] == pytest.approx(imputation.estimate_pp, abs=1e-9)
    assert figures["known_effect_pp"] == known["effect_pp"]


def test_02_gap_to_state(demo_run, tmp_path, monkeypatch, kernel_name):
    figures = run_notebook("02_gap_to_state.ipynb", tmp_path, monkeypatch, kernel_name,
                           EQUITY_OUTCOMES_WAREHOUSE=str(demo_run["warehouse"]))
    org = figures["org_code"]
    with open_warehouse(demo_run["warehouse"]) as wh:
        assert org in set(wh.roster().query("is_network_school == 1")["org_code"])
        api = gap_to_state(wh, org, figures["metric"], "low_income", subject=figures["subject"],
                           source=figures["source"]).dropna(subset=["gap"])
        view = wh.sql(
            """SELECT school_year, gap_to_state FROM metric_gaps WHERE org_level = 'school' AND org_code = ?
               AND metric = ? AND subgroup = 'low_income' AND subject = ? AND grade = ? AND source = ?
               AND gap_to_state IS NOT NULL ORDER BY school_year""",
            [org, figures["metric"], figures["subject"], figures["grade"], figures["source"]])
    gaps = {int(k): v for k, v in figures["gap_by_year"].items()}
    assert gaps == pytest.approx(dict(zip(api["school_year"], api["gap"], strict=True)), abs=1e-9)
    assert gaps == pytest.approx(dict(zip(view["school_year"], view["gap_to_state"], strict=True)), abs=1e-9)
    assert figures["first_gap"] < 0 and abs(figures["last_gap"]) < abs(figures["first_gap"])
    assert (tmp_path / "02_gap_to_state.svg").read_text().lstrip().startswith("<svg")


def test_03_median_vs_mean_sgp(demo_run, tmp_path, monkeypatch, kernel_name):
    figures = run_notebook("03_median_vs_mean_sgp.ipynb", tmp_path, monkeypatch, kernel_name,
                           EQUITY_OUTCOMES_WAREHOUSE=str(demo_run["warehouse"]))
    with open_warehouse(demo_run["warehouse"]) as wh:
        mv = wh.metric_values(metrics=["median_sgp", "mean_sgp"], subgroups="all", source="student",
                              grades="03-08", subjects=["ela", "math"], include_suppressed=False)
    keys = ["org_code", "school_year", "subject"]
    med = mv[mv["metric"] == "median_sgp"].set_index(keys)[["value", "n_students"]]
    mean = mv[mv["metric"] == "mean_sgp"].set_index(keys)["value"].rename("mean")
    both = med.join(mean, how="inner")
    diff = both["value"] - both["mean"]
    assert figures["n_cells"] == len(both)
    assert figures["share_abs_diff_ge_2"] == pytest.approx(float((diff.abs() >= 2).mean()))
    top = diff.abs().idxmax()
    largest = figures["largest"]
    assert (largest["org_code"], largest["school_year"], largest["subject"]) == top
    assert largest["median_sgp"] == both.loc[top, "value"]
    assert largest["mean_sgp"] == pytest.approx(both.loc[top, "mean"], abs=1e-9)
    assert largest["n_students"] == both.loc[top, "n_students"] >= 20
    assert abs(largest["median_sgp"] - largest["mean_sgp"]) >= 3  # comparable to the whole +5 growth target
    assert (tmp_path / "03_median_vs_mean_sgp.svg").exists()


def test_04_reconciliation(demo_run, tmp_path, monkeypatch, kernel_name):
    figures = run_notebook("04_reconciliation.ipynb", tmp_path, monkeypatch, kernel_name,
                           EQUITY_OUTCOMES_WAREHOUSE=str(demo_run["warehouse"]))
    with open_warehouse(demo_run["warehouse"]) as wh:
        rec = wh.reconciliation()
    assert figures["n_cells"] == len(rec)
    assert figures["status_counts"] == rec["status"].value_counts().to_dict()
    assert figures["n_mismatch"] == int((rec["status"] == "mismatch").sum()) == 0
    matched = rec[rec["status"] == "match"]
    assert figures["max_abs_difference_match"] == pytest.approx(float(matched["difference"].abs().max()))
    assert figures["max_abs_difference_match"] <= float(matched["tolerance"].max()) + 1e-9


def _change(wh, metric: str, first: int, last: int) -> pd.Series:
    a = wh.metric_values(metrics=metric, subgroups="all", years=first, source="dese", include_suppressed=False)
    b = wh.metric_values(metrics=metric, subgroups="all", years=last, source="dese", include_suppressed=False)
    joined = a[["org_code", "value"]].merge(b[["org_code", "value"]], on="org_code", suffixes=("_a", "_b"))
    return (joined["value_b"] - joined["value_a"]).round(6)


def test_05_dese_absence_and_suspension(dese_warehouse, tmp_path, monkeypatch, kernel_name):
    figures = run_notebook("05_dese_absence_suspension_2019_2024.ipynb", tmp_path, monkeypatch, kernel_name,
                           EQUITY_OUTCOMES_DESE_WAREHOUSE=str(dese_warehouse))
    first, last = figures["first_year"], figures["last_year"]
    assert (first, last) == (2019, 2024)
    with open_warehouse(dese_warehouse) as wh:
        for name, metric in [("chronic_absence", "pct_chronically_absent"), ("oss", "pct_out_of_school_suspension"),
                             ("iss", "pct_in_school_suspension"), ("disciplined", "pct_disciplined")]:
            change = _change(wh, metric, first, last)
            got = figures[name]
            assert got["n_schools_both"] == len(change), name
            assert got["median_change"] == pytest.approx(float(np.median(change)), abs=1e-9), name
            assert got["share_rose"] == pytest.approx(float((change > 0).mean()), abs=1e-12), name
    chronic, oss = figures["chronic_absence"], figures["oss"]
    # most Massachusetts schools count far more chronically absent students than before the pandemic...
    assert chronic["n_schools_both"] > 1700 and chronic["share_rose"] > 0.8 and chronic["median_change"] > 3
    # ...while suspension rates fell in most schools with published rates in both years
    assert oss["n_schools_both"] > 600 and oss["share_rose"] < 0.5 and oss["median_change"] < 0
    state = {int(k): v for k, v in figures["state_context"].items()}
    assert state[first]["chronic_absence_pooled"] < state[last]["chronic_absence_pooled"]
    for year in (first, last):
        assert state[year]["oss_pooled_low"] <= state[year]["oss_pooled_high"]
        assert not math.isnan(state[year]["disciplined_pooled"])

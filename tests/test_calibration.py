"""The calibration's bookkeeping (``equity-outcomes calibrate``, docs/targets.md): which rated rows are no-effect or
met by design, the group-size bands, and the false-4 and power figures computed from them. The simulation itself
(generate, load, build and judge many networks) takes minutes a network and is run by the command, not here."""

from __future__ import annotations

import numpy as np
import pandas as pd

from equity_outcomes.calibration import Calibration, band, truth

KNOWN = {
    "schools": {
        "A": {"roles": [], "is_network_school": False},  # comparison school
        "B": {"roles": ["static"], "is_network_school": True},
        "C": {"roles": ["absence_improver"], "is_network_school": True},
        "D": {"roles": ["gap_closer"], "is_network_school": True},
    },
    "effects": [
        {"org_code": "C", "target_id": "absence", "role": "absence_improver", "subgroup": "all", "subject": None,
         "effective_from_year": 2022, "assess_year": 2023},
        {"org_code": "D", "target_id": "state_gap", "role": "gap_closer", "subgroup": "low_income", "subject": "Math",
         "effective_from_year": 2021},
    ],
}


def _rows(*rows: tuple) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["org_code", "target_id", "subgroup", "subject", "current_year"])


def test_truth_labels_no_effect_met_by_design_and_neither():
    rows = _rows(("A", "absence", "black", None, 2025),       # comparison school: no effect
                 ("B", "proficiency", "all", "ela", 2025),    # static network school: no effect
                 ("C", "absence", "latino", None, 2025),      # an all-students role moves every subgroup: met
                 ("C", "absence", "all", None, 2022),         # before the year the effect is judged: neither
                 ("C", "suspension", "all", None, 2025),      # another target of a role school: neither
                 ("D", "state_gap", "low_income", "math", 2025),  # the gap closer's own subgroup and subject: met
                 ("D", "state_gap", "latino", "math", 2025),  # not its subgroup: neither
                 ("D", "state_gap", "low_income", "ela", 2025))  # not its subject: neither
    assert truth(rows, KNOWN).tolist() == ["no_effect", "no_effect", "met", None, None, "met", None, None]


def test_bands_by_group_size():
    labels = band(pd.Series([9, 10, 29, 30, 99, 100, 299, 300, 5000, np.nan])).astype(object)
    assert labels.where(labels.notna(), None).tolist() == [
        None, "10-29", "10-29", "30-99", "30-99", "100-299", "100-299", "300+", "300+", None]


def test_false_4_rate_and_power_by_band():
    rows = pd.DataFrame({
        "truth": ["no_effect"] * 10 + ["met"] * 4,
        "band": band(pd.Series([20] * 10 + [20, 20, 200, 200])),
        "all": "all",
        "point_estimate": [4, 4, 3, 1, 1, 1, 1, 1, 1, 1, 4, 4, 4, 4],
        "evidence": [4, 3, 3, 1, 1, 1, 1, 1, 1, 1, 3, 3, 4, 4],
        "bound": [3] * 10 + [3, 3, 4, 3],
        "shrinkage": [1] * 14,
    })
    cal = Calibration(rows=rows, networks=1, seconds=0.0)
    table = cal.table("evidence")
    assert table.loc["10-29", "no_effect_rows"] == 10 and table.loc["10-29", "false_4_pct"] == 10.0
    assert table.loc["10-29", "power_pct"] == 0.0 and table.loc["100-299", "power_pct"] == 100.0
    compared = cal.comparison()
    assert compared.loc["point_estimate", "false_4_pct (all)"] == 20.0
    assert compared.loc["bound", "power_pct 100-299"] == 50.0
    assert list(table.index) == ["10-29", "100-299"]  # bands in size order, empty bands left out

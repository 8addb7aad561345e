"""Calibration of the 1-4 ratings against known truth (``equity-outcomes calibrate``, docs/targets.md).

Many seeded synthetic networks are generated, loaded, built and judged exactly as a district's files would be; the
generator knows which schools have an effect (``known_effects.json``). Every rated row is then one of:

* **no effect**: a comparison school or a ``static`` network school (nothing changes them but the statewide
  trends); a 4 there is a **false 4**;
* **met by design**: a school whose role (absence, suspension, proficiency, growth, survey improver; gap closer for
  its low income and Latino rows) moves this target by more than its threshold, judged in a year the effect is in
  place; a 4 there is a **true 4** (power);
* neither (network schools with other roles or only the network-wide absence effect): left out.

The rating rules compared on the same rows: ``point_estimate`` (the progress of the point estimate, the rule before
#20), ``evidence`` (the catalog's rule: a 4 needs a change distinguishable from noise), ``bound`` (a 4 needs the
interval's conservative end to meet the target) and ``shrinkage`` (empirical Bayes: each school's change shrunk
toward the mean of the schools making the same comparison, by its noise, then rated).
"""

from __future__ import annotations

import json
import os
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

BANDS = ((10, 30, "10-29"), (30, 100, "30-99"), (100, 300, "100-299"), (300, 10**9, "300+"))
RULES = ("point_estimate", "evidence", "bound", "shrinkage")
ROLE_TARGETS_ALL_STUDENTS = ("absence_improver", "suspension_improver", "proficiency_improver", "growth_improver",
                             "survey_improver")  # these roles move every student: every subgroup's row is met


@dataclass
class Calibration:
    rows: pd.DataFrame  # every rated row: truth, band, the rating under each rule
    networks: int
    seconds: float

    def table(self, rule: str = "evidence", by: tuple[str, ...] = ("band",)) -> pd.DataFrame:
        """False-4 rate among no-effect rows and power among met-by-design rows, with their counts."""
        r = self.rows
        no, met, four = r["truth"] == "no_effect", r["truth"] == "met", r[rule] == 4

        def total(x: pd.Series) -> pd.Series:
            return x.groupby([r[c] for c in by], observed=True).sum()

        return pd.DataFrame({"no_effect_rows": total(no), "false_4_pct": 100 * total(four & no) / total(no),
                             "met_rows": total(met), "power_pct": 100 * total(four & met) / total(met)}).round(1)

    def comparison(self) -> pd.DataFrame:
        """Every rule side by side: false-4 % (all bands) and power % by band."""
        parts = {}
        for rule in RULES:
            by_band = self.table(rule)
            total = self.table(rule, by=("all",)) if "all" in self.rows else None
            parts[rule] = {"false_4_pct (all)": float(total["false_4_pct"].iloc[0]) if total is not None else None,
                           **{f"power_pct {b}": float(by_band["power_pct"].get(b, np.nan)) for *_, b in BANDS}}
        return pd.DataFrame(parts).T


def band(n: pd.Series) -> pd.Series:
    labels = [label for *_, label in BANDS]
    return pd.cut(n, [lo for lo, *_ in BANDS] + [BANDS[-1][1]], right=False, labels=labels)  # ordered, n<10: NaN


def truth(results: pd.DataFrame, known: dict) -> pd.Series:
    """'no_effect', 'met' or None for each row of target_results (see the module docstring)."""
    schools = known["schools"]
    roles = results["org_code"].map(lambda o: schools.get(o, {}).get("roles", []))
    network = results["org_code"].map(lambda o: bool(schools.get(o, {}).get("is_network_school")))
    out = pd.Series(np.where(~network | roles.map(lambda r: "static" in r), "no_effect", None), index=results.index,
                    dtype=object)
    for e in known["effects"]:
        hit = (results["org_code"] == e["org_code"]) & (results["target_id"] == e["target_id"])
        hit &= results["current_year"] >= e.get("assess_year", e["effective_from_year"])
        if e["role"] not in ROLE_TARGETS_ALL_STUDENTS:
            hit &= results["subgroup"] == e["subgroup"]
        if e["subject"]:
            hit &= results["subject"].fillna("") == e["subject"].lower()
        out[hit] = "met"
    return out


def _shrunk_progress(rows: pd.DataFrame, z: float) -> np.ndarray:
    """Empirical Bayes (DerSimonian-Laird) per comparison: each school's measure shrunk toward the precision-
    weighted mean of the schools making it, by tau^2 / (tau^2 + se^2); progress scaled alike (it is linear in the
    measure)."""
    x = rows["estimate"].to_numpy(float)
    se = ((rows["ci_high"] - rows["ci_low"]) / (2 * z)).to_numpy(float)
    group = rows.groupby(["target_id", "subgroup", "subject", "metric", "baseline_year", "current_year"],
                         dropna=False).ngroup().to_numpy()
    out = rows["progress_pct"].to_numpy(float).copy()
    for g in np.unique(group):
        i = np.flatnonzero((group == g) & np.isfinite(x) & (se > 0))
        if len(i) < 3:
            continue
        w = 1 / se[i] ** 2
        mu = np.sum(w * x[i]) / np.sum(w)
        q = np.sum(w * (x[i] - mu) ** 2)
        tau2 = max(0.0, (q - (len(i) - 1)) / (np.sum(w) - np.sum(w**2) / np.sum(w)))
        shrunk = mu + tau2 / (tau2 + se[i] ** 2) * (x[i] - mu)
        with np.errstate(invalid="ignore", divide="ignore"):
            out[i] = np.where(x[i] != 0, out[i] * shrunk / x[i], out[i])
    return out


def ratings_by_rule(results: pd.DataFrame, catalog, z: float) -> pd.DataFrame:
    """The rating of every rated row under each rule of :data:`RULES`."""
    from .judge.rules import rate

    rows = results.copy()
    forced = np.full(len(rows), np.nan)
    rows["estimate"] = np.where(rows["ci_units"] == "relative_pct", rows["change_rel_pct"],
                                np.where(rows["ci_units"] == "percent", rows["current_value"], rows["change_abs"]))
    rows["point_estimate"] = rate(rows["progress_pct"].to_numpy(float), forced, catalog)
    rows["evidence"] = rows["rating"].astype(float)
    # bound: a 4 needs the interval's conservative end to meet the target (share and level rules: the binomial
    # test against the threshold, as in evidence)
    higher = (rows["direction"] != "lower_is_better") | (rows["rule"] == "gap_closure")  # a gap's change: up = better
    conservative = np.where(higher, rows["ci_low"], rows["ci_high"])
    with np.errstate(invalid="ignore", divide="ignore"):
        at_bound = rows["progress_pct"] * np.where(rows["estimate"] != 0, conservative / rows["estimate"], np.nan)
    bound_met = np.where(rows["ci_units"] == "percent", rows["is_distinguishable_from_noise"].fillna(False),
                         at_bound >= 100)
    rows["bound"] = np.where(rows["point_estimate"] == 4, np.where(bound_met, 4, 3), rows["point_estimate"])
    rows["shrinkage"] = rate(_shrunk_progress(rows, z), forced, catalog)
    return rows


def simulate(networks: int, *, students: int = 6000, schools: int = 18, seed: int = 20250101,
             progress: Callable[[str], None] | None = None) -> Calibration:
    """Generate, load, build and judge ``networks`` seeded networks; every rated row with its truth and ratings."""
    from . import stages
    from .judge import load_catalog, stats
    from .synth import generate_network
    from .warehouse import StagedWarehouse, connect_read_only

    catalog = load_catalog()
    z = stats.z_value(catalog.confidence)
    t0, parts = time.perf_counter(), []
    for i in range(networks):
        with tempfile.TemporaryDirectory(prefix="eo-calibrate-") as tmp:
            raw, warehouse = Path(tmp) / "raw", Path(tmp) / "warehouse.duckdb"
            generate_network(raw, seed=seed + i, n_students=students, n_schools=schools, readiness=False,
                             state_schools=0)
            with StagedWarehouse(warehouse) as staged:
                stages.ingest_stage(staged.work_path, [raw])
                stages.build_stage(staged.work_path)
                stages.evaluate_stage(staged.work_path)
                staged.commit()
            with connect_read_only(warehouse) as con:
                results = con.execute("SELECT * FROM target_results WHERE rating IS NOT NULL").df()
            known = json.loads((raw / "known_effects.json").read_text(encoding="utf-8"))
        results["truth"] = truth(results, known)
        results["network"] = i
        parts.append(ratings_by_rule(results, catalog, z))
        if progress:
            progress(f"network {i + 1}/{networks} (seed {seed + i}): {len(results):,} rated rows "
                     f"({time.perf_counter() - t0:.0f} s)")
    rows = pd.concat(parts, ignore_index=True)
    n = np.where(rows["rule"].isin(("share_improved", "level")), rows["n_current"],
                 np.fmin(rows["n_baseline"], rows["n_current"]))
    rows["band"] = band(pd.Series(n, index=rows.index))
    rows["all"] = "all"
    return Calibration(rows=rows[rows["truth"].notna()].reset_index(drop=True), networks=networks,
                       seconds=time.perf_counter() - t0)


def report(cal: Calibration) -> str:
    """The tables docs/targets.md keeps: the rules compared, then the chosen rule by target and band."""
    lines = [f"{cal.networks} seeded networks, {len(cal.rows):,} rated rows with a known truth "
             f"({(cal.rows['truth'] == 'no_effect').sum():,} no effect, {(cal.rows['truth'] == 'met').sum():,} "
             f"met by design), {cal.seconds:.0f} s, load average {os.getloadavg()[0]:.1f} at the end", "",
             "Rules compared (false 4: no-effect rows rated 4; power: met-by-design rows rated 4):", "", cal.comparison().to_markdown(floatfmt=".1f"), "",
             "The catalog's rule (evidence) by group size (the smaller n of the two years):", "",
             cal.table("evidence").to_markdown(floatfmt=".1f"), "", "By target:", "",
             cal.table("evidence", by=("target_id", "band")).to_markdown(floatfmt=".1f")]
    return "\n".join(lines)

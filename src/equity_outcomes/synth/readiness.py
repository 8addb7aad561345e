"""Synthetic readiness self-assessments for the synthetic network, deterministic for a seed.

Model (1-4 scale, before rounding and clipping):
    latent = BASE + school + area(school) + item + GROWTH(school) * min(implementation_year, GROWTH_CAP_YEARS)
             + rater + noise
``implementation_year`` is 1 in the roster's implementation_start_year, 0 in the planning year before it (the first
year a network school fills in the tool); earlier years have no responses. Comparison schools have no responses
unless ``include_comparison`` (then flat: implementation year 0 every year). Each school keeps a pool of 4 raters
(principal first) and 2-4 of them rate each year; about 3% of ratings are 'skip'.

Every random draw comes from a generator seeded by (seed, school, year), so a school's files do not change when other
schools or years are added, and the same seed gives byte-identical files (fixed workbook timestamps).
"""

from __future__ import annotations

import csv
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import pandas as pd

from ..ingest.readiness import CSV_COLUMNS, catalog
from ..ingest.readiness.template import build_workbook, save_deterministic

BASE = 1.7
SCHOOL_SD = 0.3
AREA_SD = 0.25
ITEM_SD = 0.3
GROWTH_MEAN = 0.32
GROWTH_SD = 0.05
GROWTH_CAP_YEARS = 5
RATER_SD = 0.2
NOISE_SD = 0.5
SKIP_P = 0.03
ROLES = ["principal", "teacher", "leadership team", "coach"]
FIRST_NAMES = ["Ana", "Ben", "Carla", "Dev", "Elena", "Femi", "Grace", "Hugo", "Imani", "Jon", "Kim", "Luis"]
LAST_NAMES = ["Rivera", "Nguyen", "Okafor", "Smith", "Costa", "Haddad", "Murphy", "Silva", "Chen", "Walsh"]


def _int_or_none(value: object) -> int | None:
    number = pd.to_numeric(value, errors="coerce")  # blank, None and NaN: None
    return None if pd.isna(number) else int(number)


def _school_plan(row: dict, years: list[int], include_comparison: bool) -> dict[int, int]:
    """school_year -> implementation year (0 = planning year) for the years the school rates."""
    start = _int_or_none(row.get("implementation_start_year"))
    is_network = bool(_int_or_none(row.get("is_network_school")) or 0)
    if is_network and start is not None:
        return {y: min(y - start + 1, GROWTH_CAP_YEARS) for y in years if y >= start - 1}
    return dict.fromkeys(years, 0) if include_comparison else {}


def _ratings(seed: int, org_code: str, plan: dict[int, int], items: pd.DataFrame) -> dict[int, list[dict]]:
    """school_year -> rater dicts (rater_name, rater_role, date, ratings) for one school."""
    code = int(org_code)
    item_eff = np.random.default_rng([seed, 7]).normal(0, ITEM_SD, len(items))
    school_rng = np.random.default_rng([seed, code, 0])
    school_eff = school_rng.normal(0, SCHOOL_SD)
    area_keys = (items["item_id"].str.split(".").str[0]).to_numpy()
    area_eff = {k: school_rng.normal(0, AREA_SD) for k in dict.fromkeys(area_keys)}
    growth = max(0.1, school_rng.normal(GROWTH_MEAN, GROWTH_SD))
    names = school_rng.permutation(len(FIRST_NAMES))[:4]
    surnames = school_rng.permutation(len(LAST_NAMES))[:4]
    pool = [
        {"rater_name": f"{FIRST_NAMES[n]} {LAST_NAMES[s]}", "rater_role": ROLES[i], "effect": school_rng.normal(0, RATER_SD)}
        for i, (n, s) in enumerate(zip(names, surnames, strict=True))
    ]
    fixed = BASE + school_eff + np.array([area_eff[k] for k in area_keys]) + item_eff
    out: dict[int, list[dict]] = {}
    for year, impl_year in sorted(plan.items()):
        rng = np.random.default_rng([seed, code, year])
        n_raters = int(rng.integers(2, 5))
        done = date(year, 5, 1) + timedelta(days=int(rng.integers(0, 28)))
        raters = []
        for rater in pool[:n_raters]:
            latent = fixed + growth * impl_year + rater["effect"] + rng.normal(0, NOISE_SD, len(items))
            values = np.clip(np.rint(latent), 1, 4).astype(int)
            skipped = rng.random(len(items)) < SKIP_P
            ratings = {
                item_id: (catalog.SKIP if skip else int(v))
                for item_id, v, skip in zip(items["item_id"], values, skipped, strict=True)
            }
            raters.append({"rater_name": rater["rater_name"], "rater_role": rater["rater_role"], "date": done,
                           "ratings": ratings})
        out[year] = raters
    return out


def generate_readiness(
    roster: pd.DataFrame,
    years: list[int],
    seed: int,
    out_dir: Path,
    *,
    fmt: str = "xlsx",
    include_comparison: bool = False,
) -> list[Path]:
    """Write completed self-assessments under ``out_dir/readiness/<year>/`` and return the paths, sorted.

    ``fmt='xlsx'``: one filled-in template per school and year (``<org_code>_readiness_<year>.xlsx``, one sheet
    per rater). ``fmt='csv'``: one long CSV per year (``readiness_responses_<year>.csv``) for all schools.
    """
    if fmt not in ("xlsx", "csv"):
        raise ValueError(f"fmt must be 'xlsx' or 'csv', not {fmt!r}")
    items = catalog.items()
    years = sorted({int(y) for y in years})
    base = Path(out_dir) / "readiness"
    written: list[Path] = []
    csv_rows: dict[int, list[list[object]]] = {}
    for row in roster.sort_values("org_code").to_dict("records"):
        org_code = str(row["org_code"]).zfill(8)
        plan = _school_plan(row, years, include_comparison)
        for year, raters in _ratings(seed, org_code, plan, items).items():
            if fmt == "xlsx":
                wb = build_workbook(raters, org_code=org_code, school_name=row.get("school_name"), school_year=year)
                written.append(save_deterministic(wb, base / str(year) / f"{org_code}_readiness_{year}.xlsx"))
            else:
                for rater in raters:
                    csv_rows.setdefault(year, []).extend(
                        [org_code, year, rater["rater_name"], rater["rater_role"], item_id, rating]
                        for item_id, rating in rater["ratings"].items()
                    )
    for year, rows in sorted(csv_rows.items()):
        path = base / str(year) / f"readiness_responses_{year}.csv"
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "w", newline="", encoding="utf-8") as fh:
            writer = csv.writer(fh, lineterminator="\n")
            writer.writerow(CSV_COLUMNS)
            writer.writerows(rows)
        written.append(path)
    return sorted(written)

"""A synthetic *aggregate* warehouse for testing and timing the scorecards (no student records are aggregated:
the tables the publisher reads are generated directly, with consistent counts so that complement and total
arithmetic really would recover a withheld cell if the publisher leaked one).

    python -m tests.publish_fixture --schools 1850 --out /tmp/eo_1850.duckdb   # then time the publish

Also writes a decoy student-level table (``int_student_outcomes``) with pseudonymous ids, so tests can prove that
no student id reaches a published file.
"""

from __future__ import annotations

import argparse
import hashlib
import time
from pathlib import Path

import numpy as np
import pandas as pd

from equity_outcomes.catalog import metrics_frame
from equity_outcomes.judge import evaluate_targets
from equity_outcomes.warehouse import connect

HOSTILE_NAME = "<script>alert(1)</script>"
HOSTILE_DISTRICT = "O'Neil & Sons"
PAIRS = [("low_income", "non_low_income"), ("black", "non_black"), ("latino", "non_latino"), ("el", "non_el"),
         ("swd", "non_swd")]
SHARE_RANGE = {"low_income": (0.2, 0.8), "black": (0.02, 0.35), "latino": (0.05, 0.5), "el": (0.01, 0.25),
               "swd": (0.08, 0.22)}
OFFSET = {"low_income": -9.0, "black": -11.0, "latino": -12.0, "el": -18.0, "swd": -22.0}
# (metric, subject, grade, sources, levels, base value, yearly trend, population kind, unit)
COMBOS = [
    ("pct_absent_10_plus_days", None, "all", ("student", "dese"), "emhk", 28.0, -0.8, "enrolled", "percent"),
    ("pct_suspended", None, "all", ("student",), "emhk", 7.0, -0.3, "enrolled", "percent"),
    ("pct_out_of_school_suspension", None, "all", ("dese",), "emhk", 4.0, -0.2, "enrolled", "percent"),
    ("pct_students_improved_perceptions", None, "all", ("student",), "emhk", 48.0, 0.8, "surveyed", "percent"),
    ("pct_students_improved_competencies", None, "all", ("student",), "emhk", 46.0, 1.0, "surveyed", "percent"),
    ("pct_meeting_or_exceeding", "ela", "03-08", ("student", "dese"), "emk", 38.0, 1.2, "tested", "percent"),
    ("pct_meeting_or_exceeding", "math", "03-08", ("student", "dese"), "emk", 34.0, 1.0, "tested", "percent"),
    ("pct_meeting_or_exceeding", "sci", "03-08", ("student", "dese"), "emk", 36.0, 0.6, "tested_sci", "percent"),
    ("pct_meeting_or_exceeding", "ela", "10", ("student", "dese"), "hk", 52.0, 1.0, "tested10", "percent"),
    ("pct_meeting_or_exceeding", "math", "10", ("student", "dese"), "hk", 45.0, 0.8, "tested10", "percent"),
    ("pct_meeting_or_exceeding", "sci", "10", ("student", "dese"), "hk", 40.0, 0.5, "tested10", "percent"),
    ("median_sgp", "ela", "03-08", ("student",), "emk", 47.0, 0.6, "tested", "sgp"),
    ("median_sgp", "math", "03-08", ("student",), "emk", 46.0, 0.7, "tested", "sgp"),
    ("median_sgp", "ela", "10", ("student",), "hk", 48.0, 0.5, "tested10", "sgp"),
    ("median_sgp", "math", "10", ("student",), "hk", 47.0, 0.5, "tested10", "sgp"),
    ("pct_masscore_complete", None, "all", ("dese",), "hk", 70.0, 1.5, "graduates", "percent"),
    ("pct_grads_dual_enrollment", None, "all", ("student",), "hk", 22.0, 2.0, "graduates", "percent"),
    ("pct_ap_score_3_plus", None, "all", ("student",), "hk", 18.0, 0.8, "upper", "percent"),
    ("pct_grads_postsecondary", None, "all", ("dese",), "hk", 58.0, 0.7, "graduates", "percent"),
    ("pct_teachers_improved_efficacy", None, "all", ("student",), "emhk", 50.0, 1.5, "teachers", "percent"),
    ("capstone_mean_score", None, "all", ("student",), "hk", 2.6, 0.05, "graduates", "score"),
]
POP_SHARE = {"enrolled": 1.0, "surveyed": 0.8, "tested": 0.55, "tested_sci": 0.2, "tested10": 0.22,
             "graduates": 0.22, "upper": 0.45, "teachers": None}
ASSESSMENT = {"pct_meeting_or_exceeding", "median_sgp"}
AREAS = [("condition", 1, "School Leadership & Vision"), ("condition", 2, "Aligned District and School Autonomies"),
         ("condition", 3, "Professional Collaborative Communities"), ("condition", 4, "Family and Community Partnerships"),
         ("condition", 5, "Cultural Relevance and Attention to Equity"),
         ("condition", 6, "Campus Technology and Infrastructure"), ("principle", 1, "Dispositions for Learning"),
         ("principle", 2, "Student-Driven Learning"), ("principle", 3, "Flexible Learning"),
         ("principle", 4, "Authentic Learning"), ("principle", 5, "Competency-Based Learning")]
LEVELS = {"e": "elementary", "m": "middle", "h": "high", "k": "k-12"}
NAMES = ["Adams", "Brook", "Cedar", "Dorchester", "Elm", "Franklin", "Grove", "Harbor", "Irving", "Jefferson",
         "King", "Lincoln", "Mather", "North", "Orchard", "Prospect", "Quincy", "River", "Summit", "Tremont"]


def _roster(n: int, rng: np.random.Generator, hostile: bool) -> pd.DataFrame:
    codes = [f"{(i // 5 + 1):04d}{(i % 5 + 1) * 5:04d}" for i in range(n)]
    level_keys = np.array(list("emhkmeh"))[np.arange(n) % 7]
    names = [f"{NAMES[i % len(NAMES)]} {LEVELS[k].title()} School" + (f" {i // len(NAMES) + 1}" if i >= len(NAMES) else "")
             for i, k in enumerate(level_keys)]
    districts = [f"{NAMES[(i // 5) % len(NAMES)]} Public Schools" for i in range(n)]
    if hostile and n >= 2:
        names[1] = HOSTILE_NAME
        districts[1] = HOSTILE_DISTRICT
    start = rng.integers(2019, 2024, size=n)
    start[: min(n, 3)] = [2019, 2020, 2023][: min(n, 3)]
    network = np.ones(n, dtype=int)
    if n >= 6:
        network[-1] = 0  # one comparison school outside the network
    return pd.DataFrame({
        "org_code": codes, "school_name": names, "district_code": [c[:4] + "0000" for c in codes],
        "district_name": districts, "school_level": [LEVELS[k] for k in level_keys], "is_network_school": network,
        "implementation_start_year": start.astype("int64"), "baseline_year": (start - 1).astype("int64"),
        "_lvl": level_keys,
    })


def _metric_values(roster: pd.DataFrame, years: list[int], rng: np.random.Generator) -> pd.DataFrame:
    n = len(roster)
    size = rng.integers(180, 900, size=n).astype(float)
    size[1 % n] = 60.0  # a small school: many subgroup cells under min n
    shares = {g: rng.uniform(*SHARE_RANGE[g], size=n) for g in SHARE_RANGE}
    if n > 2:
        shares["el"][2] = 0.012  # a school with a handful of English learners (suppressed, complement published?)
    school_eff = rng.normal(0, 5, size=n)
    frames = []
    yrs = np.array(years)
    for metric, subject, grade, sources, levels, base, trend, pop, unit in COMBOS:
        idx = np.flatnonzero(roster["_lvl"].isin(list(levels)).to_numpy())
        if not len(idx):
            continue
        ys = yrs[yrs != 2020] if metric in ASSESSMENT else yrs
        si, yi = np.repeat(idx, len(ys)), np.tile(ys, len(idx))
        m = len(si)
        share = POP_SHARE[pop]
        n_all = (np.full(m, 32.0) if share is None else size[si] * share) * rng.uniform(0.9, 1.1, size=m)
        n_all = np.maximum(np.round(n_all), 3).astype(int)
        if unit == "percent":
            p_all = np.clip(base + school_eff[si] + trend * (yi - years[0]) + rng.normal(0, 2, m), 0.5, 99.5)
            num_all = np.round(p_all * n_all / 100).astype(int)
            v_all = 100.0 * num_all / n_all
        else:
            scale = 1.0 if unit == "sgp" else 0.05
            v_all = np.round(base + scale * (school_eff[si] + rng.normal(0, 2, m)) + trend * (yi - years[0]), 2)
            num_all = None
        rows = {"org_code": roster["org_code"].to_numpy()[si], "school_year": yi, "metric": metric,
                "subject": subject, "grade": grade}
        groups = [("all", n_all, num_all, v_all)]
        if metric != "pct_teachers_improved_efficacy":
            for g, comp in PAIRS:
                n_g = np.clip(np.round(n_all * shares[g][si]).astype(int), 0, n_all)
                n_c = n_all - n_g
                if unit == "percent":
                    p_g = np.clip(p_all + OFFSET[g] + rng.normal(0, 3, m), 0, 100)
                    num_g = np.round(p_g * n_g / 100).astype(int)
                    num_g = np.clip(num_g, np.maximum(0, num_all - n_c), np.minimum(n_g, num_all))
                    num_c = num_all - num_g
                    with np.errstate(invalid="ignore", divide="ignore"):
                        v_g, v_c = 100.0 * num_g / n_g, 100.0 * num_c / n_c
                    groups += [(g, n_g, num_g, v_g), (comp, n_c, num_c, v_c)]
                else:
                    d = (OFFSET[g] / 4) * (1 if unit == "sgp" else 0.05)
                    groups += [(g, n_g, None, np.round(v_all + d, 2)), (comp, n_c, None, np.round(v_all - d / 3, 2))]
        for g, n_g, num_g, v_g in groups:
            for src in sources:
                frames.append(pd.DataFrame({
                    **rows, "subgroup": g, "source": src,
                    "numerator": (num_g.astype(float) if num_g is not None
                                  else (v_g * n_g if unit == "score" else np.nan)),
                    "denominator": n_g.astype(float), "n_students": n_g.astype("int64"), "raw_value": v_g,
                    "std_dev": 20.0 if unit != "percent" else np.nan,
                }))
    mv = pd.concat(frames, ignore_index=True)
    mv = mv[mv["n_students"] > 0].reset_index(drop=True)
    mv["org_level"] = "school"
    return mv


def _network_and_state(mv: pd.DataFrame, roster: pd.DataFrame, rng: np.random.Generator) -> pd.DataFrame:
    net_codes = set(roster.loc[roster["is_network_school"] == 1, "org_code"])
    keys = ["school_year", "subgroup", "metric", "subject", "grade", "source"]
    s = mv[mv["org_code"].isin(net_codes) & (mv["source"] == "student")].copy()
    s["_w"] = s["raw_value"] * s["n_students"]
    net = s.groupby(keys, dropna=False, as_index=False).agg(
        numerator=("numerator", "sum"), denominator=("denominator", "sum"), n_students=("n_students", "sum"),
        _w=("_w", "sum"))
    pct = net["metric"].str.startswith("pct_")
    net["raw_value"] = np.where(pct, 100 * net["numerator"] / net["denominator"], net["_w"] / net["n_students"])
    net["numerator"] = np.where(net["metric"] == "median_sgp", np.nan, net["numerator"])
    net = net.drop(columns="_w").assign(org_code="network", org_level="network", std_dev=np.nan)
    dese_metrics = {c[0] for c in COMBOS if "dese" in c[3]} | {"median_sgp"}
    st = mv[mv["subgroup"].isin(["all", "low_income", "black", "latino", "el", "swd"])
            & mv["metric"].isin(dese_metrics)][["school_year", "subgroup", "metric", "subject", "grade"]].drop_duplicates()
    base = {c[0]: c[5] for c in COMBOS}
    st["raw_value"] = [base[m] + (0 if g == "all" else -8) + 0.4 * (y - 2017) + rng.normal(0, 0.3)
                       for m, g, y in zip(st["metric"], st["subgroup"], st["school_year"], strict=True)]
    st = st.assign(org_code="00000000", org_level="state", source="dese", n_students=70000,
                   denominator=70000.0, numerator=np.nan, std_dev=np.nan)
    return pd.concat([net, st], ignore_index=True)


def _finish_mv(mv: pd.DataFrame, min_n: dict[str, int]) -> pd.DataFrame:
    mins = mv["metric"].map(min_n).fillna(10)
    # DESE rows keep DESE's own (here looser: n >= 5) suppression, as metric_values does: the publisher must apply
    # the catalog's min_n itself
    mins = mins.where(mv["source"] != "dese", 5)
    mv["is_suppressed"] = (mv["n_students"] < mins) | mv["raw_value"].isna()
    mv["value"] = mv["raw_value"].where(~mv["is_suppressed"]).round(4)
    mv["std_dev"] = mv["std_dev"].where(~mv["is_suppressed"])
    mv["source_file"] = np.where(mv["source"] == "dese", "data/raw/dese/profile.xlsx", None)
    mv["source_row"] = np.where(mv["source"] == "dese", 7, None)
    cols = ["org_code", "org_level", "school_year", "subgroup", "metric", "subject", "grade", "numerator",
            "denominator", "n_students", "value", "std_dev", "is_suppressed", "source", "source_file", "source_row"]
    return mv[cols]


def _readiness(roster: pd.DataFrame, rng: np.random.Generator, year: int) -> pd.DataFrame:
    rows = []
    for i, code in enumerate(roster["org_code"]):
        if i % 3 == 2:
            continue  # not every school has a self-assessment
        for yr in (year - 1, year):
            for at, num, name in AREAS:
                mean = float(np.clip(rng.normal(2.6 + 0.2 * (yr - year + 1), 0.6), 1, 4))
                rows.append((code, yr, at, num, name, round(mean, 2), round(abs(rng.normal(0.6, 0.2)), 2),
                             int(rng.integers(3, 8)), int(rng.integers(4, 12)), int(rng.integers(0, 3))))
    r = pd.DataFrame(rows, columns=["org_code", "school_year", "area_type", "area_number", "area_name",
                                    "mean_rating", "sd_rating", "n_items", "n_raters", "n_items_rated_1"])
    r = r.sort_values(["org_code", "area_type", "area_number", "school_year"])
    r["change_from_prior_year"] = r.groupby(["org_code", "area_type", "area_number"])["mean_rating"].diff().round(2)
    return r


def student_ids(n: int) -> list[str]:
    return [hashlib.sha256(f"student-{i}".encode()).hexdigest()[:16] for i in range(n)]


def build_fixture_warehouse(
    path: Path, n_schools: int = 12, *, years: tuple[int, ...] = tuple(range(2017, 2025)), seed: int = 7,
    hostile: bool = True, readiness: bool = True, n_student_ids: int = 500,
) -> dict:
    """Write a warehouse file with roster, ref_metrics, metric_values, readiness_summary and a decoy student-level
    table, then evaluate the targets on it as the flow does (metric_gaps, target_results and target_rollup from the
    SQL models and the judge). Returns what tests need to know."""
    path = Path(path)
    path.unlink(missing_ok=True)
    rng = np.random.default_rng(seed)
    roster = _roster(n_schools, rng, hostile)
    ref = metrics_frame()
    min_n = dict(zip(ref["metric"], ref["min_n"], strict=True))
    mv = _metric_values(roster, list(years), rng)
    mv = pd.concat([mv, _network_and_state(mv, roster, rng)], ignore_index=True)
    mv = _finish_mv(mv, min_n)
    ids = student_ids(n_student_ids)
    decoy = pd.DataFrame({"school_year": max(years), "org_code": roster["org_code"].iloc[0],
                          "student_id": ids, "metric": "pct_absent_10_plus_days", "num": 1, "den": 1})
    con = connect(path)
    try:
        con.register("roster_df", roster.drop(columns="_lvl"))
        con.execute("CREATE TABLE roster AS SELECT * FROM roster_df")
        con.register("ref_df", ref)
        con.execute("CREATE TABLE ref_metrics AS SELECT * FROM ref_df")
        con.register("mv_df", mv)
        con.execute("CREATE TABLE metric_values AS SELECT org_code, org_level, school_year::INTEGER AS school_year, "
                    "subgroup, metric, subject, grade, numerator, denominator, n_students::BIGINT AS n_students, "
                    "value, std_dev, is_suppressed::BOOLEAN AS is_suppressed, source, source_file, "
                    "source_row::BIGINT AS source_row FROM mv_df")
        con.execute("CREATE TABLE school_grade_span (org_code VARCHAR, school_year INTEGER, grade_low VARCHAR, "
                    "grade_high VARCHAR)")
        if readiness:
            con.register("rd_df", _readiness(roster, rng, max(years)))
            con.execute("CREATE TABLE readiness_summary AS SELECT * FROM rd_df")
        con.register("decoy_df", decoy)
        con.execute("CREATE TABLE int_student_outcomes AS SELECT * FROM decoy_df")
        # the targets judged by the evaluation itself (metric_gaps and the evaluate models through dbt)
        evaluate_targets(con, current_year=max(years))
        counts = {t: con.execute(f"SELECT count(*) FROM {t}").fetchall()[0][0]
                  for t in ("metric_values", "target_results")}
    finally:
        con.close()
    return {"path": path, "org_codes": list(roster["org_code"]),
            "network_codes": list(roster.loc[roster["is_network_school"] == 1, "org_code"]),
            "student_ids": ids, "min_n": min_n, "rows": counts}


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description="Generate a synthetic aggregate warehouse and time the scorecards.")
    ap.add_argument("--schools", type=int, default=1850)
    ap.add_argument("--out", type=Path, default=Path("/tmp/eo_fixture.duckdb"))
    ap.add_argument("--publish", type=Path, default=None, help="also publish the scorecards into this folder")
    a = ap.parse_args(argv)
    t0 = time.perf_counter()
    info = build_fixture_warehouse(a.out, a.schools)
    print(f"fixture: {a.schools} schools, {info['rows']['metric_values']:,} metric_values rows, "
          f"{info['rows']['target_results']:,} target_results rows -> {a.out} ({time.perf_counter() - t0:.1f} s)")
    if a.publish:
        from equity_outcomes.publish import publish_scorecards

        r = publish_scorecards(a.out, a.publish, progress=print)
        print(f"published {r['n_pages']:,} pages, {r['bytes'] / 1e6:.1f} MB in {r['seconds']:.1f} s -> {r['index']}")


if __name__ == "__main__":
    main()

"""Targets: catalog validation, every rule kind at its boundaries (the SQL rule of models/evaluate/eval_rules with
Python's intervals and ratings), and evaluate_targets end to end on small warehouses built here (metric_values,
roster, school_grade_span)."""

from __future__ import annotations

import math
import shutil
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from scipy import stats as st

from equity_outcomes.judge import (
    FLAGS,
    RESULT_COLUMNS,
    ROLLUP_COLUMNS,
    CatalogError,
    default_targets_file,
    evaluate_targets,
    load_catalog,
)
from equity_outcomes.judge.evaluate import write_parameters
from equity_outcomes.judge.rules import intervals, rate
from equity_outcomes.judge.stats import relative_change_interval
from equity_outcomes.models.build import run_dbt
from equity_outcomes.paths import project_root
from equity_outcomes.warehouse import connect

from .publish_fixture import DESE_CONTEXT_DDL

TARGET_IDS = {
    "absence",
    "suspension",
    "perceptions",
    "competencies",
    "proficiency",
    "growth",
    "state_gap",
    "capstone_gap",
    "masscore",
    "dual_enrollment",
    "ap",
    "postsecondary",
    "teacher_efficacy",
}

# ================================================================================================= helpers


def mv(
    org,
    year,
    metric,
    value=None,
    n=None,
    k=None,
    *,
    level="school",
    subgroup="all",
    subject=None,
    grade="all",
    source="dese",
    sd=None,
    supp=False,
):
    """One metric_values row."""
    if value is None and k is not None and n:
        value = 100 * k / n
    return {
        "org_code": org,
        "org_level": level,
        "school_year": year,
        "subgroup": subgroup,
        "metric": metric,
        "subject": subject,
        "grade": grade,
        "numerator": k,
        "denominator": n,
        "value": value,
        "std_dev": sd,
        "is_suppressed": supp,
        "source": source,
    }


def school(org, start=None, *, baseline=None, network=1, level="middle"):
    return {
        "org_code": org,
        "school_name": f"School {org}",
        "district_code": "00010000",
        "district_name": "D",
        "school_level": level,
        "is_network_school": network,
        "implementation_start_year": start,
        "baseline_year": baseline,
    }


_WORKDIR: list[Path] = []  # pytest's temporary folder (set by the autouse fixture below)


@pytest.fixture(autouse=True, scope="module")
def _workdir(tmp_path_factory):
    _WORKDIR[:] = [tmp_path_factory.mktemp("warehouses")]


def make_con(rows, roster, spans=None):
    """A warehouse file (the evaluation's SQL runs on dbt's connection to it) with these tables."""
    con = connect(Path(tempfile.mkdtemp(dir=_WORKDIR[0])) / "warehouse.duckdb")
    mv_df = pd.DataFrame(rows).astype(
        {"numerator": float, "denominator": float, "value": float, "std_dev": float, "school_year": int}
    )
    con.register("mv_df", mv_df)
    con.execute("""CREATE TABLE metric_values AS SELECT CAST(org_code AS VARCHAR) org_code, org_level,
                   CAST(school_year AS INTEGER) school_year, subgroup, metric, CAST(subject AS VARCHAR) subject,
                   grade, numerator, denominator, CAST(NULL AS BIGINT) n_students, value, std_dev,
                   CAST(is_suppressed AS BOOLEAN) is_suppressed, source FROM mv_df""")
    con.unregister("mv_df")
    r = pd.DataFrame(roster).astype({"implementation_start_year": "Int64", "baseline_year": "Int64"})
    con.register("r_df", r)
    con.execute("CREATE TABLE roster AS SELECT * FROM r_df")
    con.unregister("r_df")
    con.execute(
        "CREATE TABLE school_grade_span (org_code VARCHAR, school_year INTEGER, grade_low VARCHAR, "
        "grade_high VARCHAR, n_students INTEGER)"
    )
    for org, year, lo, hi in spans or []:
        con.execute("INSERT INTO school_grade_span VALUES (?, ?, ?, ?, 100)", [org, year, lo, hi])
    con.execute(DESE_CONTEXT_DDL)
    return con


def catalog_file(tmp_path: Path, *ids: str, **overrides: dict) -> Path:
    """A catalog holding only some targets (other sections inherited from config/targets.yaml)."""
    data = yaml.safe_load(default_targets_file().read_text())
    targets = [dict(t, **overrides.get(t["id"], {})) for t in data["targets"] if t["id"] in ids]
    path = tmp_path / f"targets_{'_'.join(ids)}.yaml"
    path.write_text(yaml.safe_dump({"targets": targets}, sort_keys=False))
    return path


def one(
    res: pd.DataFrame, org: str, target: str, subgroup: str = "all", subject: str | None = None
) -> pd.Series:
    sel = (res["org_code"] == org) & (res["target_id"] == target) & (res["subgroup"] == subgroup)
    sel &= res["subject"].isna() if subject is None else (res["subject"] == subject)
    hit = res[sel]
    assert len(hit) == 1, hit
    return hit.iloc[0]


def flags(row) -> set[str]:
    return set(filter(None, (row["flags"] or "").split(",")))


# ================================================================================================= catalog


def test_default_catalog_has_the_13_targets_in_the_rubric_words():
    cat = load_catalog()
    assert {t.id for t in cat.targets} == TARGET_IDS
    seeds = sorted((project_root().parent / "shared" / "seeds").glob("000_*.txt"))
    if not seeds:
        pytest.skip("rubric seed not available")
    rubric = seeds[0].read_text(encoding="utf-8").replace("&quot;", '"')
    for t in cat.targets:
        assert t.label in rubric, t.id
        for area in t.areas:
            assert area in rubric, (t.id, area)
    by_id = {t.id: t for t in cat.targets}
    assert by_id["absence"].sources == ("dese", "student")
    assert by_id["proficiency"].sources == ("student", "dese")
    assert {t.id for t in cat.targets if t.due_from_implementation_year == 1} == {
        "absence",
        "suspension",
        "perceptions",
        "competencies",
        "teacher_efficacy",
    }
    assert by_id["growth"].min_n == 20 and by_id["proficiency"].min_n == 10
    assert [lv.rating for lv in cat.ratings.levels] == [4, 3, 2, 1]


def test_catalog_error_names_file_and_key(tmp_path):
    bad = catalog_file(tmp_path, "absence", absence={"threshold": "twenty"})
    with pytest.raises(CatalogError) as exc:
        load_catalog(bad)
    msg = str(exc.value)
    assert str(bad) in msg and "targets[absence].threshold" in msg


@pytest.mark.parametrize(
    ("override", "key"),
    [
        ({"treshold": -20}, "targets[absence].treshold"),  # typo: unknown key
        ({"rule": "percent_change"}, "targets[absence].rule"),
        ({"threshold": 20}, "targets[absence].threshold"),  # wrong sign for lower_is_better
        ({"subgroups": ["martians"]}, "targets[absence].subgroups[0]"),
        ({"metrics": ["pct_unknown"]}, "targets[absence].metrics[0]"),
        ({"sources": ["survey"]}, "targets[absence].sources[0]"),
        ({"due_from_implementation_year": 0}, "targets[absence].due_from_implementation_year"),
    ],
)
def test_catalog_validation(tmp_path, override, key):
    with pytest.raises(CatalogError, match=key.replace("[", r"\[").replace("]", r"\]")):
        load_catalog(catalog_file(tmp_path, "absence", absence=override))


def test_catalog_yaml_syntax_and_missing_file(tmp_path):
    p = tmp_path / "broken.yaml"
    p.write_text("targets: [\n")
    with pytest.raises(CatalogError, match="not valid YAML"):
        load_catalog(p)
    with pytest.raises(CatalogError, match="not found"):
        load_catalog(tmp_path / "nope.yaml")


# ============================================================================================ rules (unit)


CAT = load_catalog()
RULE_CASES: dict[str, tuple[str, pd.DataFrame]] = {}  # case -> (target id, comparisons), judged in one dbt run


def frame(**cols) -> pd.DataFrame:
    n = max([len(v) for v in cols.values() if isinstance(v, list)], default=1)
    return pd.DataFrame({k: (v if isinstance(v, list) else [v] * n) for k, v in cols.items()})


def rule_case(name: str, target: str, **cols) -> str:
    RULE_CASES[name] = (target, frame(**cols))
    return name


_RULE_INPUTS = ("b_value", "c_value", "b_ref", "c_ref", "b_k", "c_k", "b_n", "c_n", "b_se", "c_se", "b_ref_se",
                "c_ref_se", "n_units")


@pytest.fixture(scope="module")
def ruled(tmp_path_factory) -> dict[str, pd.DataFrame]:
    """Every RULE_CASES frame through the SQL rule (eval_rules, one dbt run on a warehouse holding only its input
    table and the catalog's parameters), then Python's intervals and rating, as the evaluation does."""
    path = tmp_path_factory.mktemp("rules") / "rules.duckdb"
    con = connect(path)
    write_parameters(con, CAT, baseline_year=None, current_year=None, baseline_window=1, peers_k=10)
    parts = []
    for name, (target, df) in RULE_CASES.items():
        d = df.copy()
        d["org_code"] = [f"{name}#{i}" for i in range(len(d))]
        d["target_id"] = target
        parts.append(d)
    cases = pd.concat(parts, ignore_index=True)
    for c in _RULE_INPUTS:
        cases[c] = pd.to_numeric(cases[c], errors="coerce") if c in cases else np.nan
    cases["mtype"] = cases["mtype"].astype(object) if "mtype" in cases else None
    cases["b_ok"] = cases["b_ok"].astype("boolean") if "b_ok" in cases else pd.NA
    cases["b_ok"] = cases["b_ok"].fillna(pd.Series(cases["b_value"].notna(), dtype="boolean"))
    con.register("cases_df", cases)
    con.execute(f"""CREATE TABLE eval_rule_inputs AS SELECT 'school' AS row_kind, org_code, target_id,
                    'all' AS subgroup, '' AS subject, CAST(mtype AS VARCHAR) AS mtype,
                    {", ".join(f"CAST({c} AS DOUBLE) AS {c}" for c in _RULE_INPUTS)}, CAST(b_ok AS BOOLEAN) b_ok
                    FROM cases_df""")
    result = run_dbt(path, "run", "--select", "eval_rules")
    assert result.success, result.exception
    rules = con.execute("SELECT * EXCLUDE (row_kind, target_id, subgroup, subject) FROM eval_rules").df()
    out = cases.drop(columns=["b_ok"]).merge(rules, on="org_code")
    con.close()
    out = out.rename(columns={"f_baseline_zero": "baseline_zero_flag", "f_no_baseline_gap": "no_baseline_gap_flag"})
    judged = {}
    for name, (target, _) in RULE_CASES.items():
        part = out[out["org_code"].str.startswith(f"{name}#")].reset_index(drop=True)
        part = pd.concat([part, intervals(part, CAT.target(target), CAT)], axis=1)
        rating = rate(part["progress_pct"].to_numpy(dtype=float, na_value=np.nan),
                      part["forced_rating"].to_numpy(dtype=float, na_value=np.nan), CAT)
        part["rule_rating"] = np.where(part["rule_problem"] != "", np.nan, rating)
        judged[name] = part
    return judged


RELATIVE_LOWER = [
    (1600, -20.0, 4),  # exactly -20%: met
    (1602, -19.9, 3),  # just short of -20%: more than half
    (1800, -10.0, 3),  # exactly half of the required change
    (1802, -9.9, 2),  # improved, less than half
    (2000, 0.0, 1),  # no change
    (2200, 10.0, 1),  # worse
]
for _k, _rel, _r in RELATIVE_LOWER:
    rule_case(f"relative_lower_{_k}", "absence", b_value=20.0, c_value=100 * _k / 10000, b_k=2000.0, b_n=10000.0,
              c_k=float(_k), c_n=10000.0, mtype="proportion", b_se=np.nan, c_se=np.nan)


@pytest.mark.parametrize(("k_current", "rel", "rating"), RELATIVE_LOWER)
def test_relative_change_boundaries_lower_is_better(ruled, k_current, rel, rating):
    out = ruled[f"relative_lower_{k_current}"].iloc[0]
    assert out["change_rel_pct"] == pytest.approx(rel)
    assert out["rule_rating"] == rating
    assert out["target_value"] == pytest.approx(16.0)
    assert out["progress_pct"] == pytest.approx(rel / -20 * 100)


RELATIVE_HIGHER = [(48.0, 4), (47.96, 3), (44.0, 3), (43.96, 2), (40.0, 1), (38.0, 1)]
for _c, _r in RELATIVE_HIGHER:
    rule_case(f"relative_higher_{_c}", "proficiency", b_value=40.0, c_value=_c, b_k=np.nan, b_n=np.nan, c_k=np.nan,
              c_n=np.nan, mtype="proportion")


@pytest.mark.parametrize(("c", "rating"), RELATIVE_HIGHER)
def test_relative_change_boundaries_higher_is_better(ruled, c, rating):
    out = ruled[f"relative_higher_{c}"].iloc[0]
    assert out["rule_rating"] == rating
    assert math.isnan(out["ci_low"])  # no counts: no interval


_ZERO = {"b_value": [0.0, 0.0], "c_value": [0.0, 5.0], "b_k": [0.0, 0.0], "b_n": [40.0, 40.0], "c_k": [0.0, 2.0],
         "c_n": [40.0, 40.0], "mtype": "proportion"}
rule_case("zero_lower", "suspension", **_ZERO)
rule_case("zero_higher", "proficiency", **_ZERO)


def test_relative_change_from_a_baseline_of_zero(ruled):
    # lower is better: 0 cannot decrease; holding 0 meets the target, any rise is worse
    out = ruled["zero_lower"]
    assert list(out["rule_rating"]) == [4, 1]
    assert out["baseline_zero_flag"].all()
    # higher is better: a relative increase from 0 is undefined -> no rating (insufficient_data in the engine)
    out = ruled["zero_higher"]
    assert out["rule_rating"].isna().all()
    assert (out["rule_problem"] != "").all()


rule_case("katz", "absence", b_value=20.0, c_value=16.0, b_k=100.0, b_n=500.0, c_k=80.0, c_n=500.0,
          mtype="proportion")


def test_relative_change_interval_is_katz_and_p_value_two_proportion(ruled):
    out = ruled["katz"].iloc[0]
    se = math.sqrt(1 / 80 - 1 / 500 + 1 / 100 - 1 / 500)
    assert out["ci_low"] == pytest.approx((0.8 * math.exp(-st.norm.ppf(0.975) * se) - 1) * 100)
    assert out["ci_units"] == "relative_pct"
    assert out["p_value"] == pytest.approx(
        st.chi2_contingency([[100, 400], [80, 420]], correction=False).pvalue
    )
    assert out["is_distinguishable"] == 0.0  # interval includes no change


ABSOLUTE = [(5.0, 4), (2.5, 3), (2.4, 2), (0.0, 1), (-3.0, 1)]
for _chg, _r in ABSOLUTE:
    rule_case(f"absolute_{_chg}", "growth", b_value=50.0, c_value=50.0 + _chg, b_se=2.0, c_se=2.0, mtype="median",
              n_units=1.0)


@pytest.mark.parametrize(("change", "rating"), ABSOLUTE)
def test_absolute_change_boundaries(ruled, change, rating):
    out = ruled[f"absolute_{change}"].iloc[0]
    assert out["rule_rating"] == rating
    assert out["ci_high"] - out["ci_low"] == pytest.approx(2 * st.norm.ppf(0.975) * math.sqrt(8))


rule_case("share_improved", "perceptions", c_value=[60.0, 50.0, 30.0, 10.0, 0.0], c_k=[60.0, 50.0, 30.0, 10.0, 0.0],
          c_n=100.0, b_value=np.nan, mtype="proportion")


def test_share_improved_binomial_and_ratings(ruled):
    out = ruled["share_improved"]
    assert list(out["rule_rating"]) == [4, 4, 3, 2, 1]
    assert list(out["progress_pct"]) == [120.0, 100.0, 60.0, 20.0, 0.0]
    assert out["p_value"].iloc[0] == pytest.approx(st.binom.sf(59, 100, 0.5))
    assert out["is_distinguishable"].iloc[0] == 1.0  # 60/100: p = 0.028 < 0.05
    assert out["is_distinguishable"].iloc[1] == 0.0  # 50/100 meets 50% but is a coin toss
    assert out["ci_units"].iloc[0] == "percent"


rule_case("level_or_increase", "dual_enrollment", b_value=[60.0, 30.0, 30.0, 30.0], c_value=[55.0, 35.0, 30.0, 10.0],
          b_k=[60.0, 30.0, 30.0, 30.0], b_n=100.0, c_k=[55.0, 35.0, 30.0, 10.0], c_n=100.0, mtype="proportion",
          b_ok=True)


def test_level_or_increase_both_branches(ruled):
    out = ruled["level_or_increase"]
    assert list(out["rule_rating"]) == [4, 4, 3, 2]
    assert list(out["met_by"])[:2] == ["level", "increase"]
    assert out["ci_units"].iloc[0] == "percent" and out["ci_units"].iloc[1] == "points"


GAPS = [
    (25.0, 29.0, 4, False),  # gap -20 -> -16: closed 20% of the gap
    (25.0, 27.0, 3, False),  # closed 10%: half of the required change
    (25.0, 26.0, 2, False),  # closed 5%
    (25.0, 24.0, 1, False),  # widened
    (47.0, 46.0, 4, True),  # at/above the state in both years: no gap to close
    (47.0, 43.0, 1, True),  # a gap opened
]
for _b, _c, _r, _g in GAPS:
    rule_case(f"gap_{_b}_{_c}", "state_gap", b_value=_b, c_value=_c, b_ref=45.0, c_ref=45.0, b_k=_b, b_n=100.0,
              c_k=_c, c_n=100.0, mtype="proportion")


@pytest.mark.parametrize(("b_sub", "c_sub", "rating", "no_gap"), GAPS)
def test_gap_closure(ruled, b_sub, c_sub, rating, no_gap):
    out = ruled[f"gap_{b_sub}_{c_sub}"].iloc[0]
    assert out["rule_rating"] == rating
    assert bool(out["no_baseline_gap_flag"]) is no_gap
    assert out["change_abs"] == pytest.approx(c_sub - b_sub)


rule_case("share_from_baseline", "perceptions", b_value=[42.0, 40.0, 52.2, 40.0], c_value=[41.0, 45.0, 40.8, 55.0],
          b_k=[42.0, 40.0, 522.0, 40.0], b_n=[100.0, 100.0, 1000.0, 100.0], c_k=[41.0, 45.0, 408.0, 55.0],
          c_n=[100.0, 100.0, 1000.0, 100.0], mtype="proportion")


def test_share_improved_is_judged_from_the_baseline_share(ruled):
    """No movement from the baseline share is no progress toward 50%; at or above 50% at baseline and below it
    now is worse, never partial credit."""
    out = ruled["share_from_baseline"]
    assert list(out["rule_rating"]) == [1, 3, 1, 4]
    assert out["progress_pct"].iloc[1] == pytest.approx(50.0)  # 40 -> 45 is half of the way to 50


BOUNDARY = {"S02": 1600, "S03": 1602, "S04": 1800, "S05": 1802, "S06": 2000, "S07": 2200}
ABS = "pct_absent_10_plus_days"
PME = "pct_meeting_or_exceeding"


def network_rows():
    rows = []
    # absence: S01 met on a small school; boundary schools on n = 10,000; comparisons for peers; state row
    rows += [mv("S01", 2019, ABS, k=100, n=500), mv("S01", 2023, ABS, k=80, n=500)]
    for org, k in BOUNDARY.items():
        rows += [mv(org, 2019, ABS, k=2000, n=10000), mv(org, 2023, ABS, k=k, n=10000)]
    for org, k in {"C01": 95, "C02": 100, "C03": 105}.items():
        rows += [mv(org, 2019, ABS, k=100, n=500), mv(org, 2023, ABS, k=k, n=500)]
    rows += [mv("STATE", 2019, ABS, 15.0, level="state"), mv("STATE", 2023, ABS, 14.0, level="state")]
    rows += [mv("S09", 2019, ABS, supp=True, n=300), mv("S09", 2023, ABS, k=45, n=300)]  # suppressed baseline
    rows += [mv("S10", 2019, ABS, k=2, n=8), mv("S10", 2023, ABS, k=1, n=8)]  # n under the minimum
    rows += [mv("S11", 2021, ABS, k=60, n=300), mv("S11", 2023, ABS, k=40, n=300)]  # remote year baseline
    rows += [mv("S14", 2019, ABS, 20.0), mv("S14", 2023, ABS, 15.0)]  # DESE percent without counts
    # proficiency: S11 not yet due (year 2); S12 legacy baseline vs Next-Gen current (test transition)
    rows += [
        mv("S11", 2021, PME, k=40, n=100, subject="math", source="student"),
        mv("S11", 2023, PME, k=50, n=100, subject="math", source="student"),
    ]
    rows += [
        mv("S12", 2016, "pct_proficient_or_advanced", k=60, n=100, subject="math", grade="10"),
        mv("S12", 2023, PME, k=45, n=100, subject="math", grade="10"),
    ]
    # growth: grades 04 (+7) and 05 (+3) count; grade 06 (n = 15 < 20) is left out -> mean +5
    for g, (b, c, n) in {"04": (45, 52, 60), "05": (50, 53, 60), "06": (40, 60, 15)}.items():
        rows += [
            mv("S13", 2019, "median_sgp", b, n=n, subject="ela", grade=g, source="student", sd=28),
            mv("S13", 2023, "median_sgp", c, n=n, subject="ela", grade=g, source="student", sd=28),
        ]
    # state gap (low income, math): S01 closes most of its gap, S02 a little; state = 45% both years (DESE)
    rows += [
        mv("STATE", y, PME, 45.0, n=400000, k=180000, subject="math", level="state") for y in (2019, 2023)
    ]
    rows += [
        mv("S01", 2019, PME, k=20, n=100, subgroup="low_income", subject="math", source="student"),
        mv("S01", 2023, PME, k=36, n=100, subgroup="low_income", subject="math", source="student"),
        mv("S01", 2019, PME, k=50, n=100, subgroup="non_low_income", subject="math", source="student"),
        mv("S01", 2023, PME, k=52, n=100, subgroup="non_low_income", subject="math", source="student"),
    ]
    rows += [
        mv("S02", 2019, PME, k=20, n=100, subgroup="low_income", subject="math", source="student"),
        mv("S02", 2023, PME, k=21, n=100, subgroup="low_income", subject="math", source="student"),
    ]
    # dual enrollment vs the prior year: S01 rose (met by increase), S02 is above 50% (met by level), S03 flat
    for org, (b, c) in {"S01": (30, 35), "S02": (60, 55), "S03": (30, 30)}.items():
        rows += [
            mv(org, 2022, "pct_grads_dual_enrollment", k=b, n=100),
            mv(org, 2023, "pct_grads_dual_enrollment", k=c, n=100),
        ]
    # perceptions: current-year share of matched students who improved
    rows += [
        mv("S01", 2023, "pct_students_improved_perceptions", k=60, n=100, source="student"),
        mv("S02", 2023, "pct_students_improved_perceptions", k=30, n=100, source="student"),
    ]
    # capstone gap (low income vs not low income): -1.0 -> -0.4
    for y, (li, nli) in {2019: (2.0, 3.0), 2023: (2.6, 3.0)}.items():
        rows += [
            mv("S01", y, "capstone_mean_score", li, n=40, subgroup="low_income", source="student", sd=0.8),
            mv(
                "S01",
                y,
                "capstone_mean_score",
                nli,
                n=60,
                subgroup="non_low_income",
                source="student",
                sd=0.8,
            ),
        ]
    return rows


def network_roster():
    r = [school("S01", 2020)]
    r += [school(org, 2020, level="elementary") for org in BOUNDARY]
    r += [
        school("S09", 2020),
        school("S10", 2020),
        school("S11", 2022),
        school("S12", 2018, baseline=2016),
        school("S13", 2020),
        school("S14", 2020, level="high"),
    ]
    r += [school(c, None, network=0) for c in ("C01", "C02", "C03")]
    return r


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("cat")
    path = catalog_file(
        tmp, "absence", "perceptions", "proficiency", "growth", "state_gap", "capstone_gap", "dual_enrollment"
    )
    con = make_con(network_rows(), network_roster())
    res = evaluate_targets(con, targets_file=path)
    yield con, res
    con.close()


def test_results_table_written_with_contract_columns(run):
    con, res = run
    assert tuple(res.columns) == RESULT_COLUMNS
    db = con.execute("SELECT * FROM target_results").df()
    assert len(db) == len(res)
    roll = con.execute("SELECT * FROM target_rollup").df()
    assert tuple(roll.columns) == ROLLUP_COLUMNS
    required = {
        "org_code",
        "org_level",
        "subgroup",
        "target_id",
        "subject",
        "metric",
        "source",
        "baseline_year",
        "baseline_value",
        "current_year",
        "current_value",
        "change_abs",
        "change_rel_pct",
        "target_value",
        "progress_pct",
        "rating",
        "rating_label",
        "status",
        "ci_low",
        "ci_high",
        "p_value",
        "n_baseline",
        "n_current",
        "is_distinguishable_from_noise",
        "flags",
        "implementation_year",
        "state_change_rel_pct",
        "state_change_source",
        "peer_change_rel_pct",
        "n_peers",
    }
    assert required <= set(res.columns)
    assert (
        res["status"]
        .isin(
            [
                "met",
                "moving_toward",
                "initial_steps",
                "area_of_concern",
                "insufficient_data",
                "not_yet_due",
                "not_comparable",
                "met_not_distinguishable",
            ]
        )
        .all()
    )
    assert res["flags"].notna().all()
    known = set(FLAGS)
    assert all(set(filter(None, f.split(","))) <= known for f in res["flags"])
    # a rating always comes with its label; never a rating on a non-rated status
    rated = res["rating"].notna()
    assert res.loc[rated, "status"].isin(["met", "moving_toward", "initial_steps", "area_of_concern",
                                          "met_not_distinguishable"]).all()
    # every rating has an interval and says how it was made
    assert res.loc[rated, "ci_low"].notna().sum() >= rated.sum() - (res["flags"].str.contains("n_unknown")).sum()
    assert res.loc[rated & res["ci_low"].notna(), "ci_method"].notna().all()
    assert res.loc[~rated, "status"].isin(["insufficient_data", "not_yet_due", "not_comparable"]).all()
    assert (res.loc[~rated, "status_reason"] != "").all()


def test_a_4_needs_evidence_and_static_school_is_not_rated_4(run):
    _, res = run
    s01 = one(res, "S01", "absence")
    assert (s01["baseline_year"], s01["current_year"], s01["implementation_year"]) == (2019, 2023, 4)
    assert s01["change_rel_pct"] == pytest.approx(-20.0) and s01["progress_pct"] == pytest.approx(100.0)
    # 100/500 -> 80/500 meets -20% but the interval includes no change: rated 3, shown as such (ratings.evidence)
    assert (s01["rating"], s01["rating_label"], s01["status"]) == (
        3, "Met, not yet distinguishable from noise", "met_not_distinguishable")
    assert "not_distinguishable_from_noise" in flags(s01)
    assert bool(s01["is_distinguishable_from_noise"]) is False
    static = one(res, "S06", "absence")
    assert (static["rating"], static["status"]) == (1, "area_of_concern")
    big = one(res, "S02", "absence")  # 2000/10000 -> 1600/10000: clearly real
    assert big["rating"] == 4 and bool(big["is_distinguishable_from_noise"]) is True
    assert "not_distinguishable_from_noise" not in flags(big)


@pytest.mark.parametrize(
    ("org", "rating"), [("S02", 4), ("S03", 3), ("S04", 3), ("S05", 2), ("S06", 1), ("S07", 1)]
)  # S02 meets the target with a change distinguishable from noise
def test_absence_boundaries_end_to_end(run, org, rating):
    _, res = run
    assert one(res, org, "absence")["rating"] == rating


def test_suppressed_baseline_small_n_and_missing_subgroups_are_insufficient_data(run):
    _, res = run
    s09 = one(res, "S09", "absence")
    assert s09["status"] == "insufficient_data" and pd.isna(s09["rating"])
    assert "suppressed" in s09["status_reason"] and "suppressed" in flags(s09)
    s10 = one(res, "S10", "absence")
    assert s10["status"] == "insufficient_data" and "below the minimum of 10" in s10["status_reason"]
    # every required subgroup of a network school has a row, never a silent blank
    s01 = res[(res["org_code"] == "S01") & (res["target_id"] == "absence")]
    assert set(s01["subgroup"]) == {"all", "low_income", "black", "latino", "el", "swd"}
    black = one(res, "S01", "absence", "black")
    assert black["status"] == "insufficient_data" and black["status_reason"].startswith("no data")


def test_not_yet_due_and_remote_2021(run):
    _, res = run
    prof = one(res, "S11", "proficiency", subject="math")
    assert prof["implementation_year"] == 2 and prof["status"] == "not_yet_due" and pd.isna(prof["rating"])
    assert prof["current_value"] == pytest.approx(50.0)  # values still shown
    absence = one(res, "S11", "absence")  # engagement is due from year 1
    assert absence["status"] == "met" and "remote_2021" in flags(absence)


def test_test_transition_is_not_comparable(run):
    _, res = run
    s12 = one(res, "S12", "proficiency", subject="math")
    assert s12["baseline_year"] == 2016  # roster.baseline_year overrides implementation_start_year - 1
    assert s12["status"] == "not_comparable" and pd.isna(s12["rating"])
    assert {"test_transition", "metric_changed"} <= flags(s12)
    assert (s12["baseline_metric"], s12["metric"]) == ("pct_proficient_or_advanced", PME)


def test_dese_value_without_count_or_enrollment_is_not_rated_4(run):
    _, res = run
    s14 = one(res, "S14", "absence")  # no published n and no DESE enrollment: no interval, so no evidence
    assert s14["progress_pct"] >= 100 and s14["rating"] == 3 and "n_unknown" in flags(s14)
    assert s14["status"] == "met_not_distinguishable"
    assert pd.isna(s14["ci_low"]) and pd.isna(s14["is_distinguishable_from_noise"])


def test_growth_averages_grades_with_enough_students(run):
    _, res = run
    g = one(res, "S13", "growth", subject="ela")
    assert g["grade"] == "04,05"  # grade 06 has 15 students (< 20)
    assert g["change_abs"] == pytest.approx(5.0)
    assert g["baseline_value"] == pytest.approx(47.5) and g["current_value"] == pytest.approx(52.5)
    assert g["rating"] == 3 and g["n_baseline"] == 120  # met (+5), not distinguishable from noise
    se = math.sqrt(3) * 28 / math.sqrt(60)  # a median of uniform percentiles
    half = st.norm.ppf(0.975) * math.sqrt(4 * se**2) / 2
    assert g["ci_low"] == pytest.approx(5.0 - half) and g["ci_units"] == "points"


def test_state_gap_closure_with_context(run):
    _, res = run
    s01 = one(res, "S01", "state_gap", "low_income", "math")
    assert (s01["baseline_value"], s01["current_value"]) == (pytest.approx(-25.0), pytest.approx(-9.0))
    assert s01["progress_pct"] == pytest.approx(16 / 5 * 100) and s01["rating"] == 4
    assert s01["baseline_reference_value"] == pytest.approx(45.0)
    assert "state_value_other_source" in flags(s01)  # student-data school vs the DESE state row
    assert "income_definition_change" in flags(s01)  # 2019 -> 2023 spans the 2022 definition
    assert s01["complement_gap_baseline"] == pytest.approx(-30.0)
    assert s01["complement_gap_change"] == pytest.approx(14.0)
    s02 = one(res, "S02", "state_gap", "low_income", "math")
    assert s02["rating"] == 2 and s02["status"] == "initial_steps"


def test_capstone_gap_vs_complement(run):
    _, res = run
    c = one(res, "S01", "capstone_gap", "low_income")
    assert c["baseline_value"] == pytest.approx(-1.0) and c["current_value"] == pytest.approx(-0.4)
    assert c["rating"] == 4
    # SE of the gap change = sqrt(sum of the four squared SEs): 0.8/sqrt(40) twice and 0.8/sqrt(60) twice
    se = math.sqrt(2 * (0.8**2 / 40) + 2 * (0.8**2 / 60))
    assert c["ci_high"] - c["ci_low"] == pytest.approx(2 * st.norm.ppf(0.975) * se)


def test_dual_enrollment_level_or_increase(run):
    _, res = run
    s01, s02, s03 = (one(res, o, "dual_enrollment") for o in ("S01", "S02", "S03"))
    assert s01["baseline_year"] == 2022 and s01["met_by"] == "increase"
    assert s01["rating"] == (4 if s01["is_distinguishable_from_noise"] else 3)
    assert s02["met_by"] == "level" and s02["rating"] == (4 if s02["is_distinguishable_from_noise"] else 3)
    assert s03["rating"] == 3 and s03["progress_pct"] == pytest.approx(60.0)


def test_share_improved_end_to_end(run):
    _, res = run
    p = one(res, "S01", "perceptions")
    assert p["rating"] == 4 and p["p_value"] == pytest.approx(st.binom.sf(59, 100, 0.5))
    assert one(res, "S02", "perceptions")["rating"] == 3


def test_context_state_row_peers_and_comparison_schools(run):
    _, res = run
    s01 = one(res, "S01", "absence")
    assert s01["state_change_source"] == "dese_state_row"
    assert s01["state_change_rel_pct"] == pytest.approx((14 - 15) / 15 * 100)
    # peers need school features (DESE enrollment and populations, or the student enrollment): none here
    assert s01["n_peers"] == 0 and pd.isna(s01["peer_change_rel_pct"]) and "few_peers" in flags(s01)
    # comparison schools are evaluated for the run-level years (mode of network baselines) with no due date
    c01 = one(res, "C01", "absence")
    assert (
        c01["baseline_year"] == 2019
        and pd.isna(c01["implementation_year"])
        and c01["status"] == "initial_steps"
    )
    assert not bool(c01["is_network_school"])
    # no state row for the survey: median of schools
    assert one(res, "S01", "perceptions")["state_change_source"] == "median_of_schools"


def test_rollup_counts_are_consistent_with_results(run):
    con, res = run
    roll = con.execute("SELECT * FROM target_rollup").df()
    net = res[res["is_network_school"].astype(bool)].copy()
    net["subject"] = net["subject"].fillna("")
    roll["subject"] = roll["subject"].fillna("")
    counts = net.groupby(["target_id", "subject", "subgroup"]).size()
    assert len(roll) == len(counts)
    for _, r in roll.iterrows():
        g = net[
            (net["target_id"] == r["target_id"])
            & (net["subject"] == r["subject"])
            & (net["subgroup"] == r["subgroup"])
        ]
        assert r["n_schools"] == len(g)
        for s in (
            "met",
            "moving_toward",
            "initial_steps",
            "area_of_concern",
            "insufficient_data",
            "not_yet_due",
            "not_comparable",
        ):
            assert r[f"n_{s}"] == (g["status"] == s).sum()
        assert r["n_rated"] == sum(r[f"n_rating_{v}"] for v in (4, 3, 2, 1)) == g["rating"].notna().sum()
    absence = roll[(roll["target_id"] == "absence") & (roll["subgroup"] == "all")].iloc[0]
    # pooled over rated/insufficient network schools with counts: S01, S02-S07, S09 (no baseline: out), S10, S11
    assert absence["pooled_metric"] == ABS and absence["pooled_n_schools"] >= 8
    assert absence["pooled_status"] in {"met", "moving_toward", "initial_steps", "area_of_concern"}


def test_rerun_replaces_tables(run, tmp_path):
    con, res = run
    again = evaluate_targets(con, targets_file=catalog_file(tmp_path, "absence"))
    assert con.execute("SELECT count(*) FROM target_results").fetchone()[0] == len(again)
    assert set(again["target_id"]) == {"absence"}


# ============================================================================== years, windows, customising


def small_absence_db(spans=None, extra=()):
    rows = [
        mv("A", 2018, ABS, k=90, n=500),
        mv("A", 2019, ABS, k=110, n=500),
        mv("A", 2021, ABS, k=95, n=500),
        mv("A", 2023, ABS, k=80, n=500),
        mv("B", 2019, ABS, k=100, n=200),
        mv("B", 2023, ABS, k=50, n=400),
    ]
    return make_con(rows + list(extra), [school("A", 2020), school("B", 2020)], spans)


def test_baseline_window_pools_counts(tmp_path):
    con = small_absence_db()
    res = evaluate_targets(con, baseline_window=2, targets_file=catalog_file(tmp_path, "absence"))
    a = one(res, "A", "absence")
    assert a["baseline_value"] == pytest.approx(100 * 200 / 1000) and a["n_baseline"] == 1000
    assert a["baseline_window"] == 2
    assert "baseline_window_partial" in flags(one(res, "B", "absence"))  # only 2019 in 2018-2019


def test_run_level_years_override_roster(tmp_path):
    con = small_absence_db()
    res = evaluate_targets(
        con, baseline_year=2018, current_year=2021, targets_file=catalog_file(tmp_path, "absence")
    )
    a = one(res, "A", "absence")
    assert (a["baseline_year"], a["current_year"]) == (2018, 2021)
    assert a["baseline_value"] == pytest.approx(18.0) and a["current_value"] == pytest.approx(19.0)
    assert "remote_2021" in flags(a) and a["rating"] == 1


def test_grade_span_and_n_change_flags(tmp_path):
    spans = [("B", 2019, "06", "08"), ("B", 2023, "06", "12"), ("A", 2019, "K", "05"), ("A", 2023, "K", "05")]
    con = small_absence_db(spans)
    res = evaluate_targets(con, targets_file=catalog_file(tmp_path, "absence"))
    b = one(res, "B", "absence")
    assert {"grade_span_changed", "n_changed_over_half"} <= flags(b)
    assert not {"grade_span_changed", "n_changed_over_half"} & flags(one(res, "A", "absence"))


def test_custom_thresholds_change_ratings(tmp_path):
    con = small_absence_db()
    default = evaluate_targets(con, targets_file=catalog_file(tmp_path, "absence"))
    assert one(default, "A", "absence")["rating"] == 4  # 22% -> 16% is -27.3%: meets -20%
    custom = catalog_file(tmp_path, "absence", absence={"threshold": -50})
    res = evaluate_targets(con, targets_file=custom)
    a = one(res, "A", "absence")
    assert a["threshold"] == -50 and a["target_value"] == pytest.approx(11.0)
    assert a["rating"] == 3  # -27.3% is more than half of -50%


def test_income_definition_change_and_test_transition_years(tmp_path):
    rows = [
        mv("A", 2014, ABS, k=50, n=200, subgroup="low_income"),
        mv("A", 2016, ABS, k=40, n=200, subgroup="low_income"),
        mv("A", 2016, PME, k=40, n=100, subject="ela", grade="03-08"),
        mv("A", 2018, PME, k=50, n=100, subject="ela", grade="03-08"),
    ]
    con = make_con(rows, [school("A", 2015)])
    res = evaluate_targets(
        con, baseline_year=2014, current_year=2016, targets_file=catalog_file(tmp_path, "absence")
    )
    assert "income_definition_change" in flags(one(res, "A", "absence", "low_income"))
    res = evaluate_targets(
        con, baseline_year=2016, current_year=2018, targets_file=catalog_file(tmp_path, "proficiency")
    )
    p = one(res, "A", "proficiency", subject="ela")
    assert (
        "test_transition" in flags(p) and p["status"] == "not_comparable"
    )  # 2016 legacy years for grades 3-8


def test_no_2020_assessments_flag(tmp_path):
    rows = [mv("A", 2019, PME, k=40, n=100, subject="ela"), mv("A", 2020, PME, k=50, n=100, subject="ela")]
    con = make_con(rows, [school("A", 2019)])
    res = evaluate_targets(
        con, targets_file=catalog_file(tmp_path, "proficiency"), baseline_year=2019, current_year=2020
    )
    assert "no_2020_assessments" in flags(one(res, "A", "proficiency", subject="ela"))


def test_bad_arguments():
    con = make_con([mv("A", 2019, ABS, k=1, n=10)], [school("A", 2020)])
    with pytest.raises(ValueError, match="baseline_window"):
        evaluate_targets(con, baseline_window=5)
    with pytest.raises(ValueError, match="after current_year"):
        evaluate_targets(con, baseline_year=2023, current_year=2019)


def test_baseline_zero_end_to_end(tmp_path):
    # decrease targets: 0 -> 0 holds the floor (met), 0 -> 5% is worse; increase targets: undefined -> no rating
    rows = [
        mv("A", 2019, "pct_out_of_school_suspension", k=0, n=200),
        mv("A", 2023, "pct_out_of_school_suspension", k=0, n=200),
        mv("B", 2019, "pct_out_of_school_suspension", k=0, n=200),
        mv("B", 2023, "pct_out_of_school_suspension", k=10, n=200),
        mv("A", 2019, PME, k=0, n=50, subject="math"),
        mv("A", 2023, PME, k=5, n=50, subject="math"),
    ]
    con = make_con(rows, [school("A", 2020), school("B", 2020)])
    res = evaluate_targets(con, targets_file=catalog_file(tmp_path, "suspension", "proficiency"))
    a, b = one(res, "A", "suspension"), one(res, "B", "suspension")
    # 0 -> 0 holds the floor, but "no change" is not evidence of a change: met, not yet distinguishable
    assert (
        a["status"] == "met_not_distinguishable" and "baseline_zero" in flags(a)
        and a["metric"] == "pct_out_of_school_suspension"
    )
    assert b["status"] == "area_of_concern" and "baseline_zero" in flags(b)
    # a relative change from 0 has no interval: the change in points has one (Newcombe)
    assert (a["ci_method"], a["ci_units"], b["ci_method"]) == ("newcombe_difference", "points", "newcombe_difference")
    assert a["ci_low"] < 0 < a["ci_high"] and b["ci_low"] > 0
    p = one(res, "A", "proficiency", subject="math")
    assert p["status"] == "insufficient_data" and "baseline_zero" in flags(p)
    assert "relative increase from 0 is undefined" in p["status_reason"]
    assert p["change_abs"] == pytest.approx(10.0)  # the movement is still shown


# ===================================================================== issue #20: baselines, n, gaps, peers


def test_pandemic_baselines_are_not_rated_and_the_next_valid_one_is_named(tmp_path):
    # A starts 2021 (baseline 2020): absence 2020 and suspension 2020 are not comparable; B starts 2022 (baseline
    # 2021): absence 2021 is rated (attendance excludes 2020 only), suspension 2021 is not (discipline: 2020, 2021)
    rows = []
    for org in ("A", "B"):
        for year in (2019, 2020, 2021, 2022, 2023):
            rows += [mv(org, year, ABS, k=100 - 5 * (year - 2019), n=500),
                     mv(org, year, "pct_out_of_school_suspension", k=40 - 4 * (year - 2019), n=500)]
    con = make_con(rows, [school("A", 2021), school("B", 2022)])
    res = evaluate_targets(con, targets_file=catalog_file(tmp_path, "absence", "suspension"))
    a_abs, a_sus = one(res, "A", "absence"), one(res, "A", "suspension")
    for row, next_year in ((a_abs, 2021), (a_sus, 2022)):
        assert row["baseline_year"] == 2020 and row["status"] == "not_comparable" and pd.isna(row["rating"])
        assert "baseline_not_comparable" in flags(row)
        assert row["status_reason"].startswith("baseline not comparable: 2020 is a pandemic year")
        assert row["status_reason"].endswith(f"next valid baseline: {next_year}")
    b_abs, b_sus = one(res, "B", "absence"), one(res, "B", "suspension")
    assert b_abs["baseline_year"] == 2021 and pd.notna(b_abs["rating"]) and "remote_2021" in flags(b_abs)
    assert b_sus["status"] == "not_comparable" and b_sus["status_reason"].endswith("next valid baseline: 2022")
    assert not res["rating"].notna()[res["flags"].str.contains("baseline_not_comparable")].any()


def test_a_dese_figure_without_a_count_takes_the_enrollment_dese_publishes(tmp_path):
    rows = [mv("A", 2019, ABS, value=30.0), mv("A", 2023, ABS, value=20.0)]  # DESE: percents, no counts
    con = make_con(rows, [school("A", 2020)])
    con.executemany("INSERT INTO dese_context VALUES ('A', 'school', ?, 'discipline', 'n_students', 'all', NULL, "
                    "'all', ?, FALSE)", [(2019, 600.0), (2023, 640.0)])
    res = evaluate_targets(con, targets_file=catalog_file(tmp_path, "absence"))
    a = one(res, "A", "absence")
    assert (a["n_baseline"], a["n_current"]) == (600, 640) and "n_from_enrollment" in flags(a)
    assert "n_unknown" not in flags(a) and a["ci_method"] == "katz_log_ratio"
    k1, k2 = 180, 128  # round(30% of 600), round(20% of 640)
    ci = relative_change_interval(k1, 600, k2, 640)
    assert a["ci_low"] == pytest.approx(100 * ci.low) and a["ci_high"] == pytest.approx(100 * ci.high)
    assert a["rating"] == 4 and a["status"] == "met"  # -33%, distinguishable from noise


def test_a_gap_closed_by_the_states_fall_is_flagged_and_not_rated_4(tmp_path):
    # the subgroup stays at 30% (n 2000: precise), the state falls from 60% to 50%: the gap closes by 10 of 30 points
    rows = [mv("A", y, PME, k=600, n=2000, subgroup="low_income", subject="math", grade="03-08", source="dese")
            for y in (2019, 2023)]
    rows += [mv("00000000", y, PME, value=v, n=50000, level="state", subject="math", grade="03-08")
             for y, v in ((2019, 60.0), (2023, 50.0))]
    con = make_con(rows, [school("A", 2020)])
    res = evaluate_targets(con, targets_file=catalog_file(tmp_path, "state_gap", state_gap={"subgroups": ["low_income"]}))
    g = one(res, "A", "state_gap", "low_income", "math")
    assert g["progress_pct"] >= 100 and g["change_abs"] == pytest.approx(10.0)
    assert "closed_by_state_change" in flags(g) and g["rating"] == 3
    assert g["ci_method"] == "newcombe_shifted_by_state"


def _peer_db():
    """Network school N1 (grades 6-8, 500 students, 40% low income) and N2 (network, identical: never a peer);
    comparison / DESE-only schools P1-P6 alike in turn less, E1 an elementary school (grades K-5)."""
    schools = {"N1": (6, 8, 500, 40), "N2": (6, 8, 500, 40), "P1": (6, 8, 510, 41), "P2": (6, 8, 480, 38),
               "P3": (6, 8, 600, 45), "P4": (6, 8, 300, 60), "P5": (7, 8, 900, 20), "P6": (6, 8, 250, 75),
               "E1": (0, 5, 500, 40)}
    change = {"N1": -30, "N2": -50, "P1": -10, "P2": 0, "P3": 10, "P4": -40, "P5": 5, "P6": 20, "E1": -60}
    rows, dese = [], []
    for org, (lo, hi, size, li) in schools.items():
        rows += [mv(org, 2019, ABS, k=200, n=1000), mv(org, 2023, ABS, k=200 + 2 * change[org], n=1000)]
        dese += [(org, 2023, "enrollment_grade", "n_students", "all", g, 50.0)
                 for g in [f"{x:02d}" if x else "KG" for x in range(lo, hi + 1)]]
        dese += [(org, 2023, "enrollment_grade", "n_students", "all", "all", float(size)),
                 (org, 2023, "selected_populations", "pct_low_income", "all", "all", float(li)),
                 (org, 2023, "selected_populations", "pct_el", "all", "all", 10.0),
                 (org, 2023, "selected_populations", "pct_swd", "all", "all", 18.0)]
    roster = [school("N1", 2020), school("N2", 2020)] + [school(o, None, network=0) for o in ("P1", "P2", "P3")]
    con = make_con(rows, roster)
    con.executemany("INSERT INTO dese_context VALUES (?, 'school', ?, ?, ?, ?, NULL, ?, ?, FALSE)", dese)
    return con


def test_peers_are_the_nearest_non_network_dese_schools(tmp_path):
    con = _peer_db()
    path = catalog_file(tmp_path, "absence")
    path.write_text(yaml.safe_dump({"defaults": {"min_peers": 3}, **yaml.safe_load(path.read_text())}))
    res = evaluate_targets(con, targets_file=path, peers_k=3)
    n1 = one(res, "N1", "absence")
    # grade span, size and populations: P1, P2, P3 are nearest; never N2 (network), not the elementary E1
    assert n1["peer_org_codes"] == "P1,P2,P3" and n1["n_peers"] == 3
    assert n1["peer_measure"] == "change_rel_pct"
    assert (n1["peer_low"], n1["peer_high"]) == (pytest.approx(-10.0), pytest.approx(10.0))
    assert n1["peer_change_rel_pct"] == pytest.approx(0.0)
    assert n1["peer_percentile"] == pytest.approx(100.0)  # -30% is better than every peer's change
    assert "few_peers" not in flags(n1)
    codes = ",".join(res["peer_org_codes"].dropna())
    assert "N1" not in codes and "N2" not in codes


def test_too_few_peers_gives_no_peer_context(tmp_path):
    con = _peer_db()
    res = evaluate_targets(con, targets_file=catalog_file(tmp_path, "absence"), peers_k=3)
    n1 = one(res, "N1", "absence")  # 3 peers, fewer than min_peers (5): no medians, range or percentile
    assert n1["n_peers"] == 3 and "few_peers" in flags(n1)
    assert pd.isna(n1["peer_change_rel_pct"]) and pd.isna(n1["peer_percentile"]) and pd.isna(n1["peer_low"])


def test_results_do_not_depend_on_the_order_of_the_rows(demo_run, tmp_path):
    """The evaluate models add floating-point sums in a fixed order (grades, years, schools, features), so the
    results are the same bits whatever order DuckDB's threads hand rows over in. Here the order changes another way:
    the demo's input tables stored shuffled. (On the code before the order fix of eval_comparisons and eval_context,
    76e33a9, this test fails: baseline_value differs in 0.15% of the rows.)"""
    path = tmp_path / "warehouse.duckdb"
    shutil.copyfile(demo_run["warehouse"], path)
    keys = ["org_code", "target_id", "subgroup", "subject"]
    with connect(path) as con:
        first = evaluate_targets(con, baseline_window=3)
        for table in ("metric_values", "dese_context", "roster", "school_grade_span"):
            con.execute(f"CREATE OR REPLACE TABLE {table} AS SELECT * FROM {table} ORDER BY hash(rowid * 7919 + 13)")
        con.execute("CHECKPOINT")
        second = evaluate_targets(con, baseline_window=3)
    first, second = (r.sort_values(keys).reset_index(drop=True) for r in (first, second))
    pd.testing.assert_frame_equal(first, second, check_exact=True)

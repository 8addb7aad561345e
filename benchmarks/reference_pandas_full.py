"""The pandas reference for #22: every student cell that ``floor_full.sql`` computes, in plain pandas.

What a competent analyst would write without a warehouse: ``pd.read_csv`` with declared dtypes, merges and
vectorised groupbys (no DuckDB, no Python loop over rows). It reads the same raw files as the floor (``roster.csv``
and all 8 student tables, ``student/<year>/<table>.csv``) and computes the same cells: every metric of
``config/metrics.yaml`` that student data feeds, by school x school_year x subgroup (the race, the complements
non_black / non_latino / non_white / non_asian, low_income, el, swd, high_needs and their non_ groups) x subject x
grade (each tested grade and '03-08'), plus the pooled network rows (org_level 'network': the roster's network
schools), with n, numerator, denominator, value, standard deviation and the catalog's ``min_n`` suppression (read
from the catalog, as the floor does). The definitions are the floor's (and ``int_student_outcomes.sql``'s):

- a row of a student table is counted in the subgroups of the student's enrollment row in that school and year
  (its *profile*); a row with no enrollment there, and every teacher, counts in 'all' only;
- median SGP: over the enrolled students' scores only; every other figure over every row.

    python benchmarks/reference_pandas_full.py /tmp/eo_bench/200000/raw [--out pandas_full.csv]

``floor_vs_flow.py --pandas`` runs :func:`compute` in a fresh process, times it (reading + computing; writing is not
timed) and compares every cell with the floor's.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import pandas as pd

KEYS = ["school_year", "org_code", "student_id"]
CELL = ["org_code", "school_year", "metric", "subject", "grade"]  # + the profile, then the subgroup
SUMS = ["n", "num", "den", "sx", "sx2"]
RACES_WITH_COMPLEMENT = ["black", "latino", "white", "asian"]
FLAGS = {"li": "low_income", "el": "el", "swd": "swd", "hn": "high_needs"}
PERCEPTION_DOMAINS = ["climate_culture", "engagement", "relationships", "belonging"]
MEANS = ["mean_sgp", "avg_scaled_score", "capstone_mean_score"]
NO_PROFILE = -1


def read_table(raw: Path, table: str, dtype: dict[str, str]) -> pd.DataFrame:
    """Every year's ``student/<year>/<table>.csv`` stacked, only the declared columns, with their types."""
    files = sorted(Path(raw).glob(f"student/*/{table}.csv"))
    return pd.concat([pd.read_csv(f, usecols=list(dtype), dtype=dtype) for f in files], ignore_index=True)


def flag(column: pd.Series) -> pd.Series:
    """``column = 1`` as 1.0 / 0.0, missing where the column is (SQL's NULL = 1)."""
    return (column == 1).astype("float64").where(column.notna())


def _values(v, n: int) -> np.ndarray:
    return np.full(n, np.nan) if v is None else np.broadcast_to(np.asarray(v, dtype="float64"), (n,))


def outcome(frame: pd.DataFrame, metric, num=None, den=None, x=None, subject=None, grade="all") -> pd.DataFrame:
    """The sums of one metric by cell x profile (the floor's ``outcomes`` grouped into ``profiles``): n rows of
    ``frame``, and the sums of num, den (1 a row when None), x and x squared, NULL when every input is.
    ``metric``, ``subject`` and ``grade``: one value, or one per row of ``frame``."""
    keys = {"org_code": frame["org_code"].to_numpy(), "school_year": frame["school_year"].to_numpy(),
            "profile": frame["profile"].to_numpy()}
    constants = {}
    for name, v in (("metric", metric), ("subject", subject), ("grade", grade)):
        if v is None or isinstance(v, str):
            constants[name] = v
        else:
            keys[name] = np.asarray(v)
    n = len(frame)
    xs = _values(x, n)
    rows = pd.DataFrame({**keys, "num": _values(num, n), "den": _values(1.0 if den is None else den, n), "sx": xs,
                         "sx2": xs * xs})
    g = rows.groupby(list(keys), dropna=False, sort=False)
    out = g[["num", "den", "sx", "sx2"]].sum(min_count=1)
    out["n"] = g.size()
    return out.reset_index().assign(**constants)


# ---------------------------------------------------------------------------------------------------------------
# the student tables
# ---------------------------------------------------------------------------------------------------------------

def read_enrollment(raw: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Enrollment rows with a profile id, and the profiles (race + the four flags) that the ids stand for."""
    enr = read_table(raw, "enrollment", {
        "school_year": "int64", "org_code": "str", "student_id": "str", "grade": "str", "race_ethnicity": "str",
        "is_low_income": "float64", "is_el": "float64", "is_former_el": "float64", "is_swd": "float64",
        "days_in_membership": "float64", "days_absent": "float64"})
    enr["li"] = enr["is_low_income"] == 1
    enr["el"] = enr["is_el"] == 1
    enr["swd"] = enr["is_swd"] == 1
    enr["hn"] = enr["li"] | enr["el"] | (enr["is_former_el"] == 1) | enr["swd"]
    by = ["race_ethnicity", *FLAGS]
    # a missing race: no profile, counted in 'all' only (ngroup leaves it out: NaN)
    enr["profile"] = enr.groupby(by, sort=False).ngroup().fillna(NO_PROFILE).astype("int64")
    profiles = enr.loc[enr["profile"] >= 0, ["profile", *by]].drop_duplicates("profile").set_index("profile")
    return enr, profiles


def with_profile(frame: pd.DataFrame, enr: pd.DataFrame) -> pd.DataFrame:
    """The profile of each row's enrollment in that school and year (NO_PROFILE when there is none)."""
    out = frame.merge(enr[[*KEYS, "profile"]], on=KEYS, how="left")
    out["profile"] = out["profile"].fillna(NO_PROFILE).astype("int64")
    return out


def enrollment_outcomes(raw: Path, enr: pd.DataFrame) -> list[pd.DataFrame]:
    """Attendance (>= 20 days in membership), discipline of every enrollment, AP in grades 11-12."""
    att = enr[enr["days_in_membership"] >= 20]
    da, dim = att["days_absent"], att["days_in_membership"]
    parts = [outcome(att, "pct_absent_10_plus_days", (da >= 10).astype("float64").where(da.notna())),
             outcome(att, "pct_chronically_absent",
                     (da >= 0.1 * dim).astype("float64").where(da.notna())),
             outcome(att, "attendance_rate", dim - da, den=dim)]

    dis = read_table(raw, "discipline", {"school_year": "int64", "org_code": "str", "student_id": "str",
                                         "action": "str"})
    dis = dis.assign(iss=dis["action"] == "ISS", oss=dis["action"] == "OSS", any_action=True)
    dis = dis.groupby(KEYS, as_index=False)[["iss", "oss", "any_action"]].max()
    ed = enr[[*KEYS, "profile"]].merge(dis, on=KEYS, how="left")
    iss, oss = ed["iss"].fillna(False).astype(bool), ed["oss"].fillna(False).astype(bool)
    parts += [outcome(ed, "pct_in_school_suspension", iss.astype("float64")),
              outcome(ed, "pct_out_of_school_suspension", oss.astype("float64")),
              outcome(ed, "pct_suspended", (iss | oss).astype("float64")),
              outcome(ed, "pct_disciplined", ed["any_action"].notna().astype("float64"))]

    courses = read_table(raw, "courses", {"school_year": "int64", "org_code": "str", "student_id": "str",
                                          "course_type": "str", "ap_exam_score": "float64"})
    ap = courses["course_type"] == "AP"
    courses = courses.assign(ap_3_plus=ap & (courses["ap_exam_score"] >= 3),
                             ap_tests=ap & courses["ap_exam_score"].notna())
    per_student = courses.groupby(KEYS, as_index=False).agg(
        ap_3_plus=("ap_3_plus", "max"), ap_tests_3_5=("ap_3_plus", "sum"), ap_tests=("ap_tests", "sum"))
    upper = enr.loc[enr["grade"].isin(["11", "12"]), [*KEYS, "profile"]].merge(per_student, on=KEYS, how="left")
    parts.append(outcome(upper, "pct_ap_score_3_plus", upper["ap_3_plus"].fillna(False).astype("float64")))
    took = with_profile(per_student[per_student["ap_tests"] > 0], enr)
    parts.append(outcome(took, "pct_ap_tests_score_3_5", took["ap_tests_3_5"].astype("float64"),
                         den=took["ap_tests"].astype("float64")))
    return parts


def read_tests(raw: Path, enr: pd.DataFrame) -> pd.DataFrame:
    """Assessment rows with a profile, once per grade selection (the grade, and '03-08' for grades 3 to 8)."""
    tests = read_table(raw, "assessments", {
        "school_year": "int64", "org_code": "str", "student_id": "str", "grade": "str", "subject": "str",
        "test_family": "str", "scaled_score": "float64", "achievement_level": "str", "sgp": "float64"})
    tests["subject"] = tests["subject"].str.lower()
    tests = with_profile(tests, enr)
    span = tests[(tests["grade"] >= "03") & (tests["grade"] <= "08")].assign(grade="03-08")
    return pd.concat([tests, span], ignore_index=True)


def test_outcomes(tests: pd.DataFrame) -> list[pd.DataFrame]:
    level = tests["achievement_level"]
    proficient = level.isin(["M", "E", "P", "A"]).astype("float64").where(level.notna())
    pct = np.where(tests["test_family"] == "nextgen", "pct_meeting_or_exceeding", "pct_proficient_or_advanced")
    kw = {"subject": tests["subject"].to_numpy(), "grade": tests["grade"].to_numpy()}
    parts = [outcome(tests, pct, proficient, **kw), outcome(tests, "avg_scaled_score", x=tests["scaled_score"], **kw)]
    scored = tests[tests["sgp"].notna()]
    kw = {"subject": scored["subject"].to_numpy(), "grade": scored["grade"].to_numpy()}
    sgp = outcome(scored, "mean_sgp", x=scored["sgp"], **kw)
    parts += [sgp, sgp.assign(metric="median_sgp")]  # n, sums and sd: the same rows
    return parts


def exact_sums(frame: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    """The score sums by keys in millionths (exact integers, as the floor's DECIMAL sums) and the counts of scores.

    ``improved`` compares the spring and fall means as ``spring_sum x fall_n > fall_sum x spring_n``: means that
    are equal on paper (scores have one decimal) stay equal, whatever order the scores are summed in."""
    micro = pd.Series(np.round(frame["score"].to_numpy() * 1e6), index=frame.index).astype("Int64")
    g = frame.assign(micro=micro).groupby(keys, sort=False, observed=True)
    return g.agg(total=("micro", "sum"), count=("micro", "count")).reset_index()


def other_outcomes(raw: Path, enr: pd.DataFrame) -> list[pd.DataFrame]:
    """Graduates, surveys (fall to spring, matched per person) and capstone scores."""
    grads = with_profile(read_table(raw, "graduates", {
        "school_year": "int64", "org_code": "str", "student_id": "str", "masscore_complete": "float64",
        "completed_dual_enrollment": "float64", "enrolled_postsecondary": "float64"}), enr)
    parts = [outcome(grads, "pct_masscore_complete", flag(grads["masscore_complete"])),
             outcome(grads, "pct_grads_dual_enrollment", flag(grads["completed_dual_enrollment"])),
             outcome(grads, "pct_grads_postsecondary", (grads["enrolled_postsecondary"] == 1).astype("float64"))]

    survey = {"school_year": "int64", "org_code": "str", "season": "category", "score": "float64"}
    students = read_table(raw, "student_surveys", {**survey, "student_id": "str", "domain": "category"})
    students["metric"] = pd.Categorical.from_codes(students["domain"].isin(PERCEPTION_DOMAINS).astype("int8"), [
        "pct_students_improved_competencies", "pct_students_improved_perceptions"])
    teachers = read_table(raw, "teacher_surveys", {**survey, "teacher_id": "str"})
    teachers = teachers.rename(columns={"teacher_id": "student_id"}).assign(metric="pct_teachers_improved_efficacy")
    for frame in (students, teachers):
        sums = exact_sums(frame, [*KEYS, "metric", "season"])
        sums = sums[sums["count"] > 0]
        matched = sums[sums["season"] == "fall"].drop(columns="season").merge(
            sums[sums["season"] == "spring"].drop(columns="season"), on=[*KEYS, "metric"], suffixes=("_fall", "_spring"))
        if frame is students:
            matched = with_profile(matched, enr)
        else:  # teachers have no profile
            matched["profile"] = NO_PROFILE
        improved = (matched["total_spring"] * matched["count_fall"]
                    > matched["total_fall"] * matched["count_spring"]).astype("float64")
        parts.append(outcome(matched, matched["metric"].to_numpy(), improved))

    cap = with_profile(read_table(raw, "capstone", {"school_year": "int64", "org_code": "str", "student_id": "str",
                                                    "capstone_score": "float64"}), enr)
    parts.append(outcome(cap, "capstone_mean_score", x=cap["capstone_score"]))
    return parts


# ---------------------------------------------------------------------------------------------------------------
# levels, subgroups, values
# ---------------------------------------------------------------------------------------------------------------

def subgroup_maps(profiles: pd.DataFrame) -> list[pd.Series]:
    """For each way of grouping, profile id -> subgroup name (missing: not in any subgroup of that grouping)."""
    race = profiles["race_ethnicity"]
    maps = [pd.Series("all", index=[NO_PROFILE, *profiles.index]), race]
    maps += [pd.Series(f"non_{r}", index=profiles.index[race != r]) for r in RACES_WITH_COMPLEMENT]
    maps += [pd.Series(np.where(profiles[f], name, f"non_{name}"), index=profiles.index)
             for f, name in FLAGS.items()]
    return maps


def with_levels(frame: pd.DataFrame, network: pd.Index) -> pd.DataFrame:
    """Each school's rows (org_level 'school') and the network schools' rows again as org_code 'network'."""
    net = frame[frame["org_code"].isin(network)].assign(org_code="network", org_level="network")
    return pd.concat([frame.assign(org_level="school"), net], ignore_index=True)


def by_subgroup(frame: pd.DataFrame, maps: list[pd.Series], keys: list[str], how) -> pd.DataFrame:
    """``how`` (a groupby -> frame) of ``frame`` by keys x subgroup, for every grouping of the profiles; the keys
    are numbered once (``ngroup``) so that each grouping groups two small columns."""
    cell = frame.groupby(keys, dropna=False, sort=False).ngroup().rename("cell")
    cell_keys = frame.loc[~cell.duplicated(), keys].set_index(cell[~cell.duplicated()])
    parts = []
    for m in maps:
        subgroup = frame["profile"].map(m).rename("subgroup")
        rows = subgroup.notna()
        parts.append(how(frame[rows].groupby([cell[rows], subgroup[rows]], sort=False)).reset_index())
    return pd.concat(parts, ignore_index=True).join(cell_keys, on="cell").drop(columns="cell")


def cells(sums: pd.DataFrame, maps: list[pd.Series], network: pd.Index) -> pd.DataFrame:
    """n, num, den, sx and sx2 of each cell: the profile sums added up by level x subgroup."""
    return by_subgroup(with_levels(sums, network), maps, ["org_level", *CELL], lambda g: g[SUMS].sum(min_count=1))


def medians(tests: pd.DataFrame, maps: list[pd.Series], network: pd.Index) -> pd.DataFrame:
    """Median SGP of each cell, over the enrolled students' scores."""
    scored = tests.loc[tests["sgp"].notna() & (tests["profile"] != NO_PROFILE),
                       ["org_code", "school_year", "subject", "grade", "profile", "sgp"]]
    keys = ["org_level", "org_code", "school_year", "subject", "grade"]
    out = by_subgroup(with_levels(scored, network), maps, keys, lambda g: g["sgp"].median().rename("median"))
    return out.assign(metric="median_sgp")


def values(cell: pd.DataFrame, median: pd.DataFrame, thresholds: pd.DataFrame) -> pd.DataFrame:
    """Numerator, value, standard deviation and min_n suppression of each cell (the floor's last step)."""
    keys = ["org_level", "org_code", "school_year", "subgroup", "metric", "subject", "grade"]
    out = cell.merge(median, on=keys, how="left").merge(thresholds, on="metric", how="inner")
    is_median, is_mean = out["metric"] == "median_sgp", out["metric"].isin(MEANS)
    n = out["n"].astype("float64")
    out["numerator"] = np.where(is_median, np.nan, np.where(is_mean, out["sx"], out["num"]))
    out["value"] = np.where(is_median, out["median"],
                            np.where(is_mean, out["sx"] / n, 100.0 * out["num"] / out["den"].replace(0, np.nan)))
    variance = ((out["sx2"] - out["sx"] * out["sx"] / n) / (n - 1)).clip(lower=0)
    out["std_dev"] = np.sqrt(variance).where(out["sx"].notna() & (n > 1))
    counted = np.where(out["min_n_on"] == "denominator", out["den"], n)
    out["is_suppressed"] = (counted < out["min_n"]) | out["value"].isna()
    shown = ~out["is_suppressed"]
    return pd.DataFrame({
        "org_code": out["org_code"], "org_level": out["org_level"], "school_year": out["school_year"],
        "subgroup": out["subgroup"], "metric": out["metric"], "subject": out["subject"], "grade": out["grade"],
        "numerator": out["numerator"].where(shown), "denominator": out["den"].where(shown),
        "n_students": out["n"].astype("int64"), "value": out["value"].where(shown),
        "std_dev": out["std_dev"].where(shown), "is_suppressed": out["is_suppressed"]})


def compute(raw: Path, thresholds: pd.DataFrame) -> pd.DataFrame:
    """Every student cell of metric_values from the raw files; ``thresholds``: metric, min_n, min_n_on."""
    raw = Path(raw)
    roster = pd.read_csv(raw / "roster.csv", usecols=["org_code", "is_network_school"], dtype={"org_code": "str"})
    network = pd.Index(roster.loc[roster["is_network_school"] == 1, "org_code"])
    enr, profiles = read_enrollment(raw)
    tests = read_tests(raw, enr)
    sums = pd.concat([*enrollment_outcomes(raw, enr), *test_outcomes(tests), *other_outcomes(raw, enr)],
                     ignore_index=True)
    maps = subgroup_maps(profiles)
    return values(cells(sums, maps, network), medians(tests, maps, network), thresholds)


def main(argv: list[str] | None = None) -> None:
    from equity_outcomes.catalog import metrics_frame

    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("raw", type=Path, help="network folder holding roster.csv and student/<year>/*.csv")
    p.add_argument("--out", type=Path, default=Path("pandas_full.csv"), help="the cells, as CSV")
    args = p.parse_args(argv)
    started = time.perf_counter()
    cells_out = compute(args.raw, metrics_frame()[["metric", "min_n", "min_n_on"]])
    seconds = time.perf_counter() - started
    cells_out.to_csv(args.out, index=False)
    print(f"{len(cells_out):,} cells computed in {seconds:.1f} s, written to {args.out}")


if __name__ == "__main__":
    main()

"""What analysts write today: read the student CSVs with pandas, merge, groupby. No validation, no warehouse.

Computes the same numbers as the warehouse's ``metric_values`` (source 'student', org_level 'school') for
pct_absent_10_plus_days, pct_chronically_absent, attendance_rate, pct_suspended, pct_in_school_suspension,
pct_out_of_school_suspension (grade 'all') and pct_meeting_or_exceeding, median_sgp, mean_sgp by subject and grade
selection (each tested grade and '03-08'), by school_year x org_code x subgroup for the subgroups all, low_income,
black, latino, el, swd. Definitions as in ``src/equity_outcomes/models/intermediate/int_student_outcomes.sql`` (see
``reference_bare_duckdb.sql`` for the same thing in one DuckDB query).

    python benchmarks/reference_pandas.py /tmp/eo_bench/100000/raw [--out reference_pandas.csv]

``run_benchmark.py`` imports :func:`compute` and times it (reading + computing; writing the result is not timed).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import pandas as pd

SUBGROUPS = ["all", "low_income", "black", "latino", "el", "swd"]
KEYS = ["school_year", "org_code", "student_id"]
TEXT = {"student_id": str, "org_code": str, "grade": str, "incident_id": str}
GRADES_3_8 = ["03", "04", "05", "06", "07", "08"]
OUT_COLUMNS = ["school_year", "org_code", "subgroup", "metric", "subject", "grade", "value", "n"]


def read_table(raw: Path, table: str, columns: list[str]) -> pd.DataFrame:
    """Every year's ``student/<year>/<table>.csv`` stacked into one frame."""
    files = sorted(Path(raw).glob(f"student/*/{table}.csv"))
    return pd.concat(
        [pd.read_csv(f, usecols=columns, dtype={c: t for c, t in TEXT.items() if c in columns}) for f in files],
        ignore_index=True,
    )


def _long(frame: pd.DataFrame, metrics: list[str], subgroup: str, subject=None, grade="all") -> pd.DataFrame:
    out = frame.melt(id_vars=[c for c in frame.columns if c not in metrics], value_vars=metrics,
                     var_name="metric", value_name="value")
    out["subgroup"] = subgroup
    if subject is not None:
        out["subject"] = subject
    out["grade"] = out["grade"] if "grade" in out.columns else grade
    if "subject" not in out.columns:
        out["subject"] = None
    return out


def compute(raw: Path) -> pd.DataFrame:
    enr = read_table(raw, "enrollment", ["school_year", "student_id", "org_code", "race_ethnicity", "is_low_income",
                                         "is_el", "is_swd", "days_in_membership", "days_absent"])
    dis = read_table(raw, "discipline", ["school_year", "student_id", "org_code", "action"])
    tests = read_table(raw, "assessments", ["school_year", "student_id", "org_code", "grade", "subject",
                                            "test_family", "achievement_level", "sgp"])

    # subgroup membership from the enrollment row
    enr["all"] = True
    enr["low_income"] = enr["is_low_income"] == 1
    enr["black"] = enr["race_ethnicity"] == "black"
    enr["latino"] = enr["race_ethnicity"] == "latino"
    enr["el"] = enr["is_el"] == 1
    enr["swd"] = enr["is_swd"] == 1

    # discipline: one row per student-school-year, joined to every enrollment
    dis["iss"] = dis["action"] == "ISS"
    dis["oss"] = dis["action"] == "OSS"
    per_student = dis.groupby(KEYS, as_index=False)[["iss", "oss"]].max()
    enr = enr.merge(per_student, on=KEYS, how="left")
    enr["iss"] = enr["iss"].fillna(False).astype(bool)
    enr["oss"] = enr["oss"].fillna(False).astype(bool)
    enr["suspended"] = enr["iss"] | enr["oss"]

    # attendance indicators for enrollments with at least 20 days in membership
    att = enr[enr["days_in_membership"] >= 20].copy()
    att["absent_10"] = att["days_absent"] >= 10
    att["chronic"] = att["days_absent"] >= 0.1 * att["days_in_membership"]
    att["present"] = att["days_in_membership"] - att["days_absent"]

    # tests of students enrolled in that school that year, each grade plus the pooled 03-08 selection
    tests = tests.merge(enr[KEYS + SUBGROUPS], on=KEYS, how="inner")
    tests["subject"] = tests["subject"].str.lower()
    tests = pd.concat([tests, tests[tests["grade"].isin(GRADES_3_8)].assign(grade="03-08")], ignore_index=True)
    tests["meeting"] = tests["achievement_level"].isin(["M", "E"])

    by = ["school_year", "org_code"]
    parts = []
    for g in SUBGROUPS:
        a = att[att[g]].groupby(by).agg(
            n=("absent_10", "size"), pct_absent_10_plus_days=("absent_10", "mean"),
            pct_chronically_absent=("chronic", "mean"), present=("present", "sum"),
            membership=("days_in_membership", "sum"),
        ).reset_index()
        a["pct_absent_10_plus_days"] *= 100
        a["pct_chronically_absent"] *= 100
        a["attendance_rate"] = 100 * a["present"] / a["membership"]
        parts.append(_long(a.drop(columns=["present", "membership"]),
                           ["pct_absent_10_plus_days", "pct_chronically_absent", "attendance_rate"], g))

        d = enr[enr[g]].groupby(by).agg(
            n=("suspended", "size"), pct_suspended=("suspended", "mean"), pct_in_school_suspension=("iss", "mean"),
            pct_out_of_school_suspension=("oss", "mean"),
        ).reset_index()
        for m in ["pct_suspended", "pct_in_school_suspension", "pct_out_of_school_suspension"]:
            d[m] *= 100
        parts.append(_long(d, ["pct_suspended", "pct_in_school_suspension", "pct_out_of_school_suspension"], g))

        t = tests[tests[g]]
        me = t[t["test_family"] == "nextgen"].groupby(by + ["subject", "grade"]).agg(
            n=("meeting", "size"), pct_meeting_or_exceeding=("meeting", "mean")).reset_index()
        me["pct_meeting_or_exceeding"] *= 100
        parts.append(_long(me, ["pct_meeting_or_exceeding"], g))

        s = t[t["sgp"].notna()].groupby(by + ["subject", "grade"]).agg(
            n=("sgp", "size"), median_sgp=("sgp", "median"), mean_sgp=("sgp", "mean")).reset_index()
        parts.append(_long(s, ["median_sgp", "mean_sgp"], g))

    out = pd.concat(parts, ignore_index=True)
    return out[OUT_COLUMNS]


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("raw", type=Path, help="network folder holding student/<year>/*.csv")
    p.add_argument("--out", type=Path, default=Path("reference_pandas.csv"))
    args = p.parse_args(argv)
    t0 = time.perf_counter()
    out = compute(args.raw)
    print(f"{len(out):,} values in {time.perf_counter() - t0:.1f} s -> {args.out}")
    out.to_csv(args.out, index=False)


if __name__ == "__main__":
    main()

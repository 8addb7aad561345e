"""Score histories out of the warehouse and computed SGPs back into it (SQL where the data is).

A cohort is subject x grade x school year. Its norm group's priors follow the student's on-track diagonal, as the
SGP package's grade progressions with year lags: prior k is the score in the k-th most recent earlier (year, grade)
with ``year gap == grade gap`` that was tested for at least ``min_cohort_size[0]`` students. So grade 10 looks back to
grade 8 two years earlier (grade 9 is not tested) and 2021 to 2019 (no tests in spring 2020).
"""

from __future__ import annotations

from importlib.resources import files

import duckdb
import pandas as pd

from ...models.build import STUDENT_SGP_DDL
from ...warehouse import registered
from .sgp import GrowthSettings

GROWTH_RUNS_DDL = (files(__package__) / "growth_runs.sql").read_text(encoding="utf-8")

SOURCE = "computed: SGP method (quantile regression on B-splines of priors)"


def ensure_tables(con: duckdb.DuckDBPyConnection) -> None:
    con.execute(STUDENT_SGP_DDL)
    con.execute(GROWTH_RUNS_DDL)


def _scores_sql(settings: GrowthSettings) -> str:
    return f"""
        SELECT student_id, org_code, school_year, grade, subject, scaled_score::DOUBLE AS score,
               TRY_CAST(grade AS INTEGER) AS grade_n
        FROM stg_assessments
        WHERE scaled_score IS NOT NULL AND TRY_CAST(grade AS INTEGER) IS NOT NULL
          AND subject IN ({", ".join(f"'{s}'" for s in settings.subjects)})
    """


def _year_filter(years: list[int] | None, prefix: str = "") -> str:
    return f"AND {prefix}school_year IN ({', '.join(str(int(y)) for y in years)})" if years else ""


def progressions(con: duckdb.DuckDBPyConnection, settings: GrowthSettings, years: list[int] | None) -> pd.DataFrame:
    """One row per cohort (subject, school_year, grade) and prior step k: prior_year, prior_grade_n."""
    year_filter = _year_filter(years)
    grades = ", ".join(f"'{g}'" for g in settings.grades)
    return con.execute(f"""
        WITH scores AS ({_scores_sql(settings)}),
        cells AS (
            SELECT subject, school_year, grade_n FROM scores GROUP BY ALL HAVING count(*) >= {settings.min_norm_group(1)}
        ),
        cohorts AS (
            SELECT DISTINCT subject, school_year, grade, grade_n FROM scores WHERE grade IN ({grades}) {year_filter}
        )
        SELECT t.subject, t.school_year, t.grade, c.school_year AS prior_year, c.grade_n AS prior_grade_n,
               row_number() OVER (PARTITION BY t.subject, t.school_year, t.grade ORDER BY c.school_year DESC) AS k
        FROM cohorts t
        JOIN cells c ON c.subject = t.subject AND c.school_year < t.school_year
                    AND t.school_year - c.school_year = t.grade_n - c.grade_n
        QUALIFY k <= {settings.max_order}
        ORDER BY ALL
    """).df()


def histories(con: duckdb.DuckDBPyConnection, settings: GrowthSettings, steps: pd.DataFrame,
              years: list[int] | None) -> pd.DataFrame:
    """Every scored student of the cohorts of ``years`` (default all): current score and prior_1 ..
    prior_<max_order> (NULL where the student has no score at that step, or the cohort has no such step)."""
    joins, cols = [], []
    for k in range(1, settings.max_order + 1):
        joins.append(f"""
            LEFT JOIN _growth_steps st{k} ON st{k}.subject = s.subject AND st{k}.school_year = s.school_year
                  AND st{k}.grade = s.grade AND st{k}.k = {k}
            LEFT JOIN scores p{k} ON p{k}.student_id = s.student_id AND p{k}.subject = s.subject
                  AND p{k}.school_year = st{k}.prior_year AND p{k}.grade_n = st{k}.prior_grade_n""")
        cols.append(f"p{k}.score AS prior_{k}")
    grades = ", ".join(f"'{g}'" for g in settings.grades)
    with registered(con, "_growth_steps", steps):
        return con.execute(f"""
            WITH scores AS ({_scores_sql(settings)})
            SELECT s.student_id, s.org_code, s.school_year, s.grade, s.subject, s.score, {", ".join(cols)}
            FROM scores s {"".join(joins)}
            WHERE s.grade IN ({grades}) {_year_filter(years, "s.")}
            ORDER BY s.subject, s.school_year, s.grade, s.student_id
        """).df()


def write_student_sgp(con: duckdb.DuckDBPyConnection, frame: pd.DataFrame, years: list[int]) -> None:
    """Replace the computed SGPs of ``years`` with ``frame`` (columns of student_sgp)."""
    ensure_tables(con)
    if years:
        con.execute(f"DELETE FROM student_sgp WHERE school_year IN ({', '.join(str(int(y)) for y in years)})")
    with registered(con, "_growth_out", frame):
        con.execute("INSERT INTO student_sgp BY NAME SELECT * FROM _growth_out")

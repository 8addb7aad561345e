"""Buffered, append-only CSV output for the student tables.

Tables arrive as numeric numpy columns (codes, tenths, sentinels); DuckDB formats them into the contract's text
(ids, grade codes, one-decimal scores, blanks for nulls) and writes CSV fast. Chunks are buffered under a global row
budget and appended to ``student/<year>/<table>.csv`` in arrival order, so memory stays bounded and output order is
deterministic (district order, then the order inside each district-year).
"""

from __future__ import annotations

import shutil
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd

from ..ingest import schemas
from ..warehouse import registered
from . import params as P
from .students import ACHIEVEMENT_LEVELS, COURSES, SUBJECTS, _cat


def _lst(values: list[str]) -> str:
    return "[" + ", ".join("'" + v.replace("'", "''") + "'" for v in values) + "]"


_GRADES = ["KG"] + [f"{g:02d}" for g in range(1, 13)]
_SID = "'S' || lpad(CAST(sid AS VARCHAR), 11, '0') AS student_id"
_ORG = "lpad(CAST(org AS VARCHAR), 8, '0') AS org_code"
_TENTHS = "CAST(score // 10 AS VARCHAR) || '.' || CAST(score % 10 AS VARCHAR)"

SQL: dict[str, str] = {
    "enrollment": f"""SELECT school_year, {_SID}, {_ORG}, {_lst(_GRADES)}[grade + 1] AS grade,
        {_lst(P.RACES)}[race + 1] AS race_ethnicity, {_lst(P.GENDERS)}[gender + 1] AS gender,
        li AS is_low_income, el AS is_el, former AS is_former_el, swd AS is_swd,
        mem AS days_in_membership, absent AS days_absent FROM chunk""",
    "discipline": f"""SELECT school_year, {_SID}, {_ORG},
        CAST(school_year AS VARCHAR) || '-' || lpad(CAST(org AS VARCHAR), 8, '0') || '-'
            || lpad(CAST(seq AS VARCHAR), 5, '0') AS incident_id,
        {_lst(P.ACTIONS)}[action + 1] AS action, days AS days_missed FROM chunk""",
    "assessments": f"""SELECT school_year, {_SID}, {_ORG}, lpad(CAST(grade AS VARCHAR), 2, '0') AS grade,
        {_lst(SUBJECTS)}[subject + 1] AS subject, ['nextgen', 'legacy'][family + 1] AS test_family,
        score AS scaled_score, {_lst(ACHIEVEMENT_LEVELS)}[level + 1] AS achievement_level,
        CASE WHEN sgp > 0 THEN sgp END AS sgp FROM chunk""",
    "courses": f"""SELECT school_year, {_SID}, {_ORG}, {_lst(COURSES)}[course + 1] AS course_id,
        ['AP', 'DUAL', 'OTHER'][kind + 1] AS course_type, CASE WHEN ap > 0 THEN ap END AS ap_exam_score FROM chunk""",
    "graduates": f"""SELECT school_year, {_SID}, {_ORG}, masscore AS masscore_complete,
        dual AS completed_dual_enrollment, CASE WHEN post >= 0 THEN post END AS enrolled_postsecondary FROM chunk""",
    "student_surveys": f"""SELECT school_year, {_SID}, {_ORG}, ['fall', 'spring'][season + 1] AS season,
        {_lst(P.STUDENT_DOMAINS)}[domain + 1] AS domain, {_TENTHS} AS score FROM chunk""",
    "teacher_surveys": f"""SELECT school_year, 'T' || lpad(CAST(tid AS VARCHAR), 11, '0') AS teacher_id, {_ORG},
        ['fall', 'spring'][season + 1] AS season, {_lst(P.TEACHER_DOMAINS)}[domain + 1] AS domain,
        {_TENTHS} AS score FROM chunk""",
    "capstone": f"""SELECT school_year, {_SID}, {_ORG}, {_TENTHS} AS capstone_score FROM chunk""",
}


class StudentCsvWriter:
    def __init__(self, out_dir: Path, years: list[int], *, budget_rows: int = 3_000_000) -> None:
        self.root = out_dir / "student"
        self.tmp = out_dir / ".synth_tmp"
        self.tmp.mkdir(parents=True, exist_ok=True)
        self.budget = budget_rows
        self.buffers: dict[tuple[int, str], list[dict[str, np.ndarray]]] = {}
        self.buffered: dict[tuple[int, str], int] = {}
        self.rows: dict[str, int] = dict.fromkeys(schemas.STUDENT_TABLES, 0)
        self.files: list[Path] = []
        self.con = duckdb.connect()
        self.con.execute("SET preserve_insertion_order = true")
        for year in years:
            for table, schema in schemas.STUDENT_TABLES.items():
                if table == "assessments" and year == 2020:
                    continue
                path = self.path(year, table)
                path.parent.mkdir(parents=True, exist_ok=True)
                with open(path, "w", encoding="utf-8", newline="") as fh:
                    fh.write(",".join(schema.columns) + "\n")
                self.files.append(path)

    def path(self, year: int, table: str) -> Path:
        return self.root / str(year) / f"{table}.csv"

    def add(self, year: int, table: str, cols: dict[str, np.ndarray]) -> None:
        n = len(next(iter(cols.values())))
        if n == 0:
            return
        key = (year, table)
        self.buffers.setdefault(key, []).append(cols)
        self.buffered[key] = self.buffered.get(key, 0) + n
        self.rows[table] += n
        if sum(self.buffered.values()) > self.budget:
            for k in sorted(self.buffered, key=lambda k: -self.buffered[k]):
                self._flush(k)
                if sum(self.buffered.values()) <= self.budget // 2:
                    break

    def _flush(self, key: tuple[int, str]) -> None:
        parts = self.buffers.pop(key, None)
        self.buffered.pop(key, None)
        if not parts:
            return
        year, table = key
        data = {k: arr.astype(np.int8) if arr.dtype == bool else arr for k, arr in _cat(parts).items()}
        chunk = pd.DataFrame(data)
        del data, parts
        tmp = self.tmp / "chunk.csv"  # overwritten by every COPY; removed with the folder at close()
        with registered(self.con, "chunk", chunk):
            self.con.execute(f"COPY ({SQL[table]}) TO '{tmp.as_posix()}' (FORMAT csv, HEADER false, NULL '')")
        with open(self.path(year, table), "ab") as dst, open(tmp, "rb") as src:
            shutil.copyfileobj(src, dst, 1 << 20)

    def close(self) -> None:
        for key in sorted(self.buffers):
            self._flush(key)
        self.con.close()
        shutil.rmtree(self.tmp, ignore_errors=True)

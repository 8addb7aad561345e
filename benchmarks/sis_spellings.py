"""Cost of mapping SIS spellings at the edge: one enrollment file of N rows (default 1,000,000, validated in DuckDB)
loaded as the contract spells it and as an ordinary SIS exports it (Black, Grade 4, K, Y/N, 2023-24, org codes
without leading zeros; headers as an SIS names them: School Year, LASID, Race, Sex, SPED, Absences...; a student
name and a note the contract does not have, left out), into a fresh warehouse each time. Prints the seconds of each
load and the load average.

    .venv/bin/python benchmarks/sis_spellings.py [N]
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

os.environ.setdefault("EQUITY_OUTCOMES_ID_KEY", "demo")  # synthetic ids only

HEADER = ("school_year,student_id,org_code,grade,race_ethnicity,gender,is_low_income,is_el,is_former_el,is_swd,"
          "days_in_membership,days_absent")
SPELLINGS = {
    "contract": {"race": ["black", "latino", "white", "asian", "multi_race"], "grade": ["03", "04", "05", "KG"],
                 "flag": ["0", "1"], "year": "2024", "strip": False, "header": HEADER, "extra": False},
    "sis": {"race": ["Black", "Hispanic/Latino", "White", "Asian", "Two or more races"],
            "grade": ["3", "Grade 4", "05", "K"], "flag": ["N", "Y"], "year": "2023-24", "strip": True,
            "header": "Student Name,School Year,LASID,School Code,Grade Level,Race,Sex,Low Income,EL,Former EL,SPED,"
                      "Membership Days,Absences,Notes", "extra": True},
}
SCHOOLS = [f"{1000005 + 5 * k:08d}" for k in range(200)]


def write_network(root: Path, spelling: str, n: int) -> Path:
    s = SPELLINGS[spelling]
    folder = root / spelling
    (folder / "student" / "2024").mkdir(parents=True)
    (folder / "roster.csv").write_text(
        "org_code,school_name,district_code,district_name,school_level,is_network_school,"
        "implementation_start_year,baseline_year\n" + "".join(f"{c},S{c},{c[:4]}0000,D,middle,1,2022,\n" for c in SCHOOLS))
    orgs = [c.lstrip("0") if s["strip"] else c for c in SCHOOLS]
    draws = np.random.default_rng(1).integers(0, 1000, size=(n, 6))
    with open(folder / "student" / "2024" / "enrollment.csv", "w") as fh:
        fh.write(s["header"] + "\n")
        for i, d in enumerate(draws):
            row = (f"{s['year']},s{i},{orgs[d[0] % 200]},{s['grade'][d[1] % 4]},{s['race'][d[2] % 5]},F,"
                   f"{s['flag'][d[3] % 2]},0,0,{s['flag'][d[4] % 2]},180,{d[5] % 20}")
            fh.write(f"Student {i},{row},moved in\n" if s["extra"] else row + "\n")
    return folder


def main(n: int) -> None:
    import duckdb

    from equity_outcomes.ingest.load import ingest_into

    with tempfile.TemporaryDirectory() as tmp:
        for spelling in SPELLINGS:
            folder = write_network(Path(tmp), spelling, n)
            con = duckdb.connect(str(Path(tmp) / f"{spelling}.duckdb"))
            started = time.perf_counter()
            summary = ingest_into(con, [folder])
            seconds = time.perf_counter() - started
            con.close()
            r = next(x for x in summary.results if x.report == "enrollment")
            print(f"{spelling:8s} {n:,} rows: loaded {r.rows_loaded:,}, quarantined {r.rows_quarantined:,}, "
                  f"{len(r.mappings)} spellings mapped ({sum(m.column == 'header' for m in r.mappings)} headers), "
                  f"{seconds:.1f} s (load average {os.getloadavg()[0]:.2f})")
            for warning in (n for n in r.message.split("; ") if n.startswith("warning:")):
                print(f"  {warning}")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000)

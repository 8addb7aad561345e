"""Shared fixtures. Tests run offline; Prefect uses one test harness per session (see test_flow.py)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("EQUITY_OUTCOMES_ID_KEY", "demo")
os.environ.setdefault("DO_NOT_TRACK", "1")
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")

ROOT = Path(__file__).resolve().parents[1]


def shared_dese_dir() -> Path:
    """The real DESE exports shipped beside the repository (``../shared/data/dese``)."""
    from equity_outcomes.paths import project_root

    env = os.environ.get("EQUITY_OUTCOMES_SHARED_DESE")
    return Path(env).resolve() if env else project_root().parent / "shared" / "data" / "dese"


def write_csv(path: Path, header: str, rows: list[str]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join([header, *rows]) + "\n", encoding="utf-8")
    return path


@pytest.fixture
def tiny_raw(tmp_path: Path) -> Path:
    """A hand-made network: 2 schools, 2024, with every edge case the metric tests need (see test_metrics.py)."""
    raw = tmp_path / "raw"
    write_csv(
        raw / "roster.csv",
        "org_code,school_name,district_code,district_name,school_level,is_network_school,implementation_start_year,baseline_year",
        [
            "01000005,Alpha Middle,01000000,Alpha,middle,1,2024,",
            "01000010,Beta Middle,01000000,Alpha,middle,0,,",
        ],
    )
    enroll_header = (
        "school_year,student_id,org_code,grade,race_ethnicity,gender,is_low_income,is_el,is_former_el,is_swd,"
        "days_in_membership,days_absent"
    )
    rows = []
    # Alpha: 20 students. s01-s10 low income latino; s11-s20 white not low income.
    for i in range(1, 21):
        li = 1 if i <= 10 else 0
        race = "latino" if i <= 10 else "white"
        absent = {1: 10, 2: 9, 3: 25, 4: 18}.get(i, 2)  # s01 exactly 10 days, s02 9 days, s03 chronic, s04 18/180
        rows.append(f"2024,s{i:02d},01000005,07,{race},F,{li},0,0,0,180,{absent}")
    # s21: fewer than 20 days in membership (excluded from attendance, included in discipline)
    rows.append("2024,s21,01000005,07,black,M,1,0,0,1,15,10")
    # s22: transfer: 100 days at Alpha (absent 12), 80 days at Beta (absent 1)
    rows.append("2024,s22,01000005,08,black,M,1,0,0,0,100,12")
    rows.append("2024,s22,01000010,08,black,M,1,0,0,0,80,1")
    write_csv(raw / "student" / "2024" / "enrollment.csv", enroll_header, rows)
    write_csv(
        raw / "student" / "2024" / "discipline.csv",
        "school_year,student_id,org_code,incident_id,action,days_missed",
        [
            "2024,s01,01000005,i1,OSS,2",
            "2024,s01,01000005,i2,OSS,1",  # suspended twice: counted once
            "2024,s02,01000005,i3,ISS,1",
            "2024,s03,01000005,i4,OTHER,0",
            "2024,s21,01000005,i5,OSS,3",
        ],
    )
    assess = []
    for i in range(1, 21):
        level = "M" if i % 2 == 0 else "PM"  # 10 of 20 meeting
        sgp = i * 4  # 4, 8, ..., 80
        assess.append(f"2024,s{i:02d},01000005,07,ELA,nextgen,500,{level},{sgp}")
    write_csv(
        raw / "student" / "2024" / "assessments.csv",
        "school_year,student_id,org_code,grade,subject,test_family,scaled_score,achievement_level,sgp",
        assess,
    )
    return raw


@pytest.fixture(scope="session")
def demo_raw(tmp_path_factory) -> Path:
    """The default demo network (seeded), generated once per test session."""
    from equity_outcomes.synth import generate_network

    out = tmp_path_factory.mktemp("demo") / "raw"
    generate_network(out)
    return out


@pytest.fixture(scope="session")
def prefect_harness():
    """One Prefect test harness (temporary database and API) for the whole session."""
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=120):
        yield


@pytest.fixture(scope="session")
def demo_run(demo_raw: Path, prefect_harness, tmp_path_factory) -> dict:
    """The real yearly flow, once, on the demo network: warehouse, scorecards and the flow's result."""
    import sys

    sys.path.insert(0, str(ROOT))
    from pipelines.yearly_outcomes import yearly_outcomes

    out = tmp_path_factory.mktemp("demo_run")
    warehouse = out / "warehouse.duckdb"
    dashboards = out / "dashboards"
    result = yearly_outcomes(raw_dir=demo_raw, warehouse=warehouse, dashboards=dashboards)
    return {"result": result, "warehouse": warehouse, "dashboards": dashboards, "raw": demo_raw}


@pytest.fixture(scope="session")
def dese_warehouse(tmp_path_factory) -> Path:
    """Every real DESE export in ../shared/data/dese, loaded and built once per session."""
    from equity_outcomes import stages
    from equity_outcomes.warehouse import StagedWarehouse

    dese_dir = shared_dese_dir()
    if not dese_dir.is_dir():
        pytest.skip(f"the shared DESE files are not at {dese_dir}")
    warehouse = tmp_path_factory.mktemp("dese") / "dese.duckdb"
    with StagedWarehouse(warehouse) as staged:
        stages.ingest_stage(staged.work_path, [dese_dir])
        stages.build_stage(staged.work_path)
        staged.commit()
    return warehouse


def check_dese_cell(cells, row: int, column: str, expected: dict) -> None:
    """The one DESE cell at (physical row, header) has the expected fields (floats approximately, NaN = NaN, None =
    missing)."""
    import math

    hit = cells[(cells["source_row"] == row) & (cells["source_column"] == column)]
    assert len(hit) == 1, f"{len(hit)} cells at row {row} column {column!r}"
    cell = hit.iloc[0]
    for key, want in expected.items():
        got = cell[key]
        if isinstance(want, float):
            assert (math.isnan(want) and math.isnan(got)) or got == pytest.approx(want), key
        elif want is None:
            assert got is None or (isinstance(got, float) and math.isnan(got)), key
        else:
            assert got == want, key
    if cell["is_suppressed"]:
        assert math.isnan(cell["value"])

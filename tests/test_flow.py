"""The Prefect flow end to end on the demo network (one test harness per session)."""

from __future__ import annotations

import hashlib
import shutil
import sys
from pathlib import Path

import pytest
from prefect.artifacts import Artifact

from .conftest import ROOT

sys.path.insert(0, str(ROOT))

pytestmark = pytest.mark.slow


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_flow_builds_everything_and_publishes_artifacts(demo_run):
    result = demo_run["result"]
    assert result["no_op"] is False
    assert result["load"]["rows_quarantined"] == 0
    assert result["load"]["files_loaded"] == result["load"]["files"] > 100
    summary = Artifact.get("yearly-outcomes-summary")
    assert summary is not None
    text = summary.data
    assert "rows quarantined: 0" in text
    # scorecards were published: ratings are counted over the published (disclosure-controlled) rows, with the
    # control's cost per output and the audit of the written files
    assert "## Published ratings" in text and "area_of_concern" in text and "## Targets by rating" not in text
    assert "## Disclosure control" in text and "complementary suppression" in text and "nothing recovered" in text
    assert result["scorecards"]["audit"]["ok"]
    assert "## Reconciliation" in text and "mismatch" not in text
    table = Artifact.get("quarantined-rows")
    assert table is not None and "no rows quarantined" in str(table.data)


def test_second_run_over_unchanged_files_is_a_no_op(demo_run):
    from pipelines.yearly_outcomes import yearly_outcomes

    before = digest(demo_run["warehouse"])
    result = yearly_outcomes(raw_dir=demo_run["raw"], warehouse=demo_run["warehouse"])
    assert result["no_op"] is True and result["load"]["files_loaded"] == 0
    assert digest(demo_run["warehouse"]) == before
    assert "no-op" in Artifact.get("yearly-outcomes-summary").data


def test_one_corrupt_file_fails_the_flow_and_leaves_the_warehouse_as_it_was(demo_run, tmp_path):
    from pipelines.yearly_outcomes import yearly_outcomes

    raw = tmp_path / "raw"
    shutil.copytree(demo_run["raw"], raw)
    victim = sorted((raw / "dese").rglob("*.xlsx"))[3]
    victim.write_bytes(victim.read_bytes()[:500])  # truncated download
    before = digest(demo_run["warehouse"])
    with pytest.raises(Exception) as err:
        yearly_outcomes(raw_dir=raw, warehouse=demo_run["warehouse"])
    assert victim.name in str(err.value)
    assert digest(demo_run["warehouse"]) == before
    assert not Path(str(demo_run["warehouse"]) + ".staging").exists()


def test_backfill_keeps_one_evaluation_per_year(demo_run, tmp_path):
    from pipelines.yearly_outcomes import backfill

    warehouse = tmp_path / "w.duckdb"
    shutil.copy(demo_run["warehouse"], warehouse)
    results = backfill(2024, 2025, raw_dir=demo_run["raw"], warehouse=warehouse)
    assert len(results) == 2 and all(not r["no_op"] for r in results)
    from equity_outcomes.warehouse import connect_read_only

    con = connect_read_only(warehouse)
    try:
        years = con.execute(
            "SELECT evaluated_year, max(current_year) FROM target_results_history GROUP BY 1 ORDER BY 1").fetchall()
    finally:
        con.close()
    assert [y for y, _ in years][-2:] == [2024, 2025]
    assert dict(years)[2024] == 2024

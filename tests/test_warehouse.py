"""Warehouse connections: the memory cap is applied and does not stop other connections to the same file."""

import duckdb
import pytest

from equity_outcomes.errors import EquityOutcomesError
from equity_outcomes.warehouse import connect, connect_read_only, room_for_python


@pytest.fixture()
def warehouse(tmp_path):
    path = tmp_path / "w.duckdb"
    con = duckdb.connect(str(path))
    con.execute("CREATE TABLE t AS SELECT 42 AS n")
    con.close()
    return path


def _limit_bytes(con) -> int:
    return con.execute("SELECT current_setting('memory_limit')").fetchone()[0]


def test_connections_are_capped_by_the_environment_setting(warehouse, monkeypatch):
    monkeypatch.setenv("EQUITY_OUTCOMES_DUCKDB_MEMORY", "700MB")
    con = connect_read_only(warehouse)
    assert _limit_bytes(con) == "667.5 MiB"  # DuckDB reports 700 MB in MiB
    con.close()


def test_a_plain_duckdb_connection_can_sit_beside_ours_in_one_process(warehouse):
    ours = connect_read_only(warehouse)
    plain = duckdb.connect(str(warehouse), read_only=True)  # what a researcher's notebook does
    assert plain.execute("SELECT n FROM t").fetchone()[0] == 42
    assert ours.execute("SELECT n FROM t").fetchone()[0] == 42
    plain.close()
    ours.close()


def test_duckdb_leaves_room_for_python_and_dbt_while_loading_and_building(warehouse, monkeypatch):
    """dbt's connection shares our database instance, so the lower limit holds for the build too; restored after,
    also after a failure."""
    monkeypatch.setenv("EQUITY_OUTCOMES_DUCKDB_MEMORY", "800MB")
    con = connect(warehouse)
    with room_for_python(con):
        assert _limit_bytes(duckdb.connect(str(warehouse))) == "572.0 MiB"  # 75% of 762.9 MiB, seen elsewhere
    with pytest.raises(duckdb.CatalogException), room_for_python(con):
        con.execute("SELECT * FROM no_such_table")
    assert abs(float(_limit_bytes(con).split()[0]) - 762.9) < 0.5  # DuckDB's text of the limit, read back
    con.close()


def test_a_bad_memory_setting_is_named_in_the_error(warehouse, monkeypatch):
    monkeypatch.setenv("EQUITY_OUTCOMES_DUCKDB_MEMORY", "lots")
    with pytest.raises(EquityOutcomesError, match="EQUITY_OUTCOMES_DUCKDB_MEMORY='lots'.*4GB"):
        connect(warehouse)


def test_the_spill_is_capped_by_default_and_by_the_environment_setting(warehouse, monkeypatch):
    con = connect_read_only(warehouse)
    assert con.execute("SELECT current_setting('max_temp_directory_size')").fetchone()[0] == "18.6 GiB"  # 20 GB
    con.close()
    monkeypatch.setenv("EQUITY_OUTCOMES_DUCKDB_SPILL", "100GB")
    con = connect_read_only(warehouse)
    assert con.execute("SELECT current_setting('max_temp_directory_size')").fetchone()[0] == "93.1 GiB"
    con.close()
    monkeypatch.setenv("EQUITY_OUTCOMES_DUCKDB_SPILL", "a lot")
    with pytest.raises(EquityOutcomesError, match="EQUITY_OUTCOMES_DUCKDB_SPILL='a lot'.*20GB"):
        connect(warehouse)


def test_a_model_that_became_a_view_replaces_the_table_an_older_build_left(tmp_path):
    from equity_outcomes.models.build import build_models

    con = connect(tmp_path / "old.duckdb")
    con.execute("CREATE TABLE int_student_outcomes AS SELECT 1 AS stale")  # what builds before the change left
    summary = build_models(con)
    kinds = dict(con.execute("SELECT table_name, table_type FROM information_schema.tables").fetchall())
    assert kinds["int_student_outcomes"] == "VIEW"
    assert kinds["metric_values"] == "BASE TABLE"
    rows = {model: n for model, _, n in summary.models}
    assert rows["intermediate/int_student_outcomes"] is None  # views are not counted (that would run them)
    assert rows["marts/metric_values"] == 0
    con.close()

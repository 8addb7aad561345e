"""The package works anywhere: build the wheel, install it (not editable) in a clean venv, and run ``synth`` and the
yearly flow from an unrelated folder. The catalogs, the SQL project and the flows must come from the wheel.

The venv borrows this environment's third-party packages through a path file (so nothing is downloaded), but not
the editable install of the project: only the wheel provides ``equity_outcomes`` and ``pipelines``."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
import venv
from pathlib import Path

import duckdb
import pytest

from .conftest import ROOT

pytestmark = pytest.mark.slow


def _run(cmd: list[str], cwd: Path, env: dict, timeout: int = 900) -> str:
    proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    assert proc.returncode == 0, f"{' '.join(map(str, cmd))} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}"
    return proc.stdout


def _source_tree(to: Path) -> Path:
    """What the wheel is built from, copied without the checkout's build/ and egg-info: setuptools adds to build/lib
    and never removes from it, so a file deleted from src/ (a reverted macro) stayed in the wheel built here."""
    skip = shutil.ignore_patterns("build", "*.egg-info", "__pycache__")
    to.mkdir(parents=True)
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(ROOT / name, to / name)
    for name in ("src", "pipelines", "config"):
        shutil.copytree(ROOT / name, to / name, symlinks=True, ignore=skip)
    return to


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> tuple[Path, dict]:
    base = tmp_path_factory.mktemp("wheel")
    dist = base / "dist"
    _run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", str(_source_tree(base / "project")), "-w",
          str(dist)], base, dict(os.environ))
    wheel = next(dist.glob("equity_outcomes-*.whl"))
    env_dir = base / "venv"
    venv.EnvBuilder(with_pip=True).create(env_dir)
    py = env_dir / "bin" / "python"
    site = Path(_run([str(py), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"], base,
                     dict(os.environ)).strip())
    (site / "borrowed_site_packages.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "EQUITY_OUTCOMES_HOME", "VIRTUAL_ENV")}
    env.update(EQUITY_OUTCOMES_ID_KEY="demo", EQUITY_OUTCOMES_CACHE=str(base / "cache"))
    _run([str(py), "-m", "pip", "install", "-q", "--no-deps", "--no-index", str(wheel)], base, env)
    return env_dir, env


def test_the_wheel_carries_the_catalogs_the_models_and_the_flows(installed, tmp_path):
    env_dir, env = installed
    where = _run([str(env_dir / "bin" / "python"), "-c",
                  "import equity_outcomes, pipelines.yearly_outcomes as f; from equity_outcomes import paths; "
                  "print(equity_outcomes.__file__); print(f.__file__); print(paths.config_dir()); "
                  "print(paths.models_dir())"], tmp_path, env).split()
    assert all(str(env_dir) in line for line in where), where
    assert all(str(ROOT) not in line for line in where), where


def test_synth_and_the_flow_run_from_an_unrelated_folder(installed, tmp_path):
    env_dir, env = installed
    cli = str(env_dir / "bin" / "equity-outcomes")
    _run([cli, "synth", "--out", "raw", "--students", "2400", "--schools", "12"], tmp_path, env)
    assert (tmp_path / "raw" / "roster.csv").is_file()
    out = _run([cli, "run", "--raw", "raw", "--warehouse", "w.duckdb", "--dashboards", "dash"], tmp_path, env)
    assert "metric_values:" in out, out
    con = duckdb.connect(str(tmp_path / "w.duckdb"), read_only=True)
    try:
        assert con.execute("SELECT count(*) FROM metric_values").fetchone()[0] > 0
        assert con.execute("SELECT count(DISTINCT target_id) FROM target_results").fetchone()[0] > 0
    finally:
        con.close()
    assert (tmp_path / "dash" / "index.html").is_file()

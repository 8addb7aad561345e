"""Where things live. The catalogs (``config/``) and the SQL project (``models/``) are package data, read through
:mod:`importlib.resources`, so an installed wheel finds them anywhere. Working folders (raw data, the warehouse,
dashboards) are the project checkout's when running from one, else the current folder; ``EQUITY_OUTCOMES_HOME``
overrides both (a folder holding ``config/`` replaces the shipped catalogs)."""

from __future__ import annotations

import os
from importlib.resources import files
from pathlib import Path

PACKAGE_DIR = Path(str(files("equity_outcomes")))


def project_root() -> Path:
    env = os.environ.get("EQUITY_OUTCOMES_HOME")
    if env:
        return Path(env).resolve()
    checkout = PACKAGE_DIR.parent.parent  # src/equity_outcomes -> src -> the checkout
    if (checkout / "pyproject.toml").is_file() and (checkout / "src").is_dir():
        return checkout
    return Path.cwd()


def config_dir() -> Path:
    env = os.environ.get("EQUITY_OUTCOMES_HOME")
    if env and (Path(env) / "config").is_dir():
        return Path(env).resolve() / "config"
    return PACKAGE_DIR / "config"


def models_dir() -> Path:
    """The dbt project: staging/, intermediate/, marts/, macros/, dbt_project.yml (package data)."""
    return PACKAGE_DIR / "models"


def cache_dir() -> Path:
    """Scratch that survives between runs (dbt's target folder and logs): ``EQUITY_OUTCOMES_CACHE``, else
    ``$XDG_CACHE_HOME/equity-outcomes`` (``~/.cache/equity-outcomes``)."""
    env = os.environ.get("EQUITY_OUTCOMES_CACHE")
    base = Path(env) if env else Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "equity-outcomes"
    base.mkdir(parents=True, exist_ok=True)
    return base


def shared_data_dir() -> Path:
    """The folder of shared real data (``../shared/data``): ``dese/`` and ``dese_more/`` hold real DESE exports."""
    env = os.environ.get("EQUITY_OUTCOMES_SHARED_DESE")
    if env:
        return Path(env).resolve().parent
    return project_root().parent / "shared" / "data"

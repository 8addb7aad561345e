"""Where things live. ``EQUITY_OUTCOMES_HOME`` overrides the project root (the folder holding ``config/``)."""

from __future__ import annotations

import os
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent


def project_root() -> Path:
    env = os.environ.get("EQUITY_OUTCOMES_HOME")
    if env:
        return Path(env).resolve()
    # src/equity_outcomes -> src -> project root
    return PACKAGE_DIR.parent.parent


def config_dir() -> Path:
    return project_root() / "config"


def sql_dir() -> Path:
    return project_root() / "sql"


def default_warehouse() -> Path:
    """The demo workspace's warehouse (workspace.DEMO): data/processed/warehouse.duckdb."""
    from .workspace import demo_workspace

    return demo_workspace().warehouse


def default_demo_raw() -> Path:
    from .workspace import demo_workspace

    return demo_workspace().raw[0]


def shared_dese_dir() -> Path:
    """The real DESE exports shipped beside the repository (``../shared/data/dese``)."""
    env = os.environ.get("EQUITY_OUTCOMES_SHARED_DESE")
    if env:
        return Path(env).resolve()
    return project_root().parent / "shared" / "data" / "dese"


def shared_data_dir() -> Path:
    """The folder of shared real data (``../shared/data``): ``dese/`` and ``dese_more/`` hold real DESE exports."""
    env = os.environ.get("EQUITY_OUTCOMES_SHARED_DESE")
    if env:
        return Path(env).resolve().parent
    return project_root().parent / "shared" / "data"

"""Where a network's files, warehouse and outputs live: the workspace.

A workspace is a folder holding one small YAML file, ``equity-outcomes.yaml`` (``equity-outcomes init DIR`` writes
it from ``config/workspace_template.yaml``): the network's name, the raw folders a run loads, the warehouse file and
the dashboards folder (all inside the workspace), the baseline year, a targets file and the disclosure rules. Every
command finds its workspace from the current folder upwards (or ``--workspace DIR``) and reads and writes only that
workspace's warehouse and outputs.

The project checkout is the demo workspace, with the documented paths in :data:`DEMO` (``data/raw/demo``,
``data/processed/warehouse.duckdb``, ``dashboards/``); it needs no file. ``equity-outcomes demo`` always uses it.
Owns: workspace discovery, the workspace file and its validation. Imports only ``paths``, ``errors`` and
``catalog`` (the shared reading of YAML files).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import yaml
from pydantic import Field

from .catalog import Strict, Text, listed, load_yaml, read_yaml
from .errors import InputError
from .paths import config_dir, project_root

WORKSPACE_FILE = "equity-outcomes.yaml"
TEMPLATE_FILE = "workspace_template.yaml"

# The demo workspace: the project checkout with its documented paths (relative to the project root).
DEMO: dict[str, Any] = {
    "network": "Synthetic demo network",
    "raw": ["data/raw/demo"],
    "warehouse": "data/processed/warehouse.duckdb",
    "dashboards": "dashboards",
}


@dataclass(frozen=True)
class Workspace:
    root: Path
    network: str
    raw: tuple[Path, ...]
    warehouse: Path
    dashboards: Path
    baseline_year: int | None = None
    targets: Path | None = None
    disclosure: Path | None = None  # rules file for publishing; read by the disclosure control (#17)
    max_quarantined_pct: float | None = None  # None: config/ingest.yaml
    is_demo: bool = False

    @property
    def file(self) -> Path | None:
        return None if self.is_demo else self.root / WORKSPACE_FILE


def demo_workspace() -> Workspace:
    root = project_root()
    return _build(root, DEMO, None, is_demo=True)


def default_warehouse() -> Path:
    """The demo workspace's warehouse (:data:`DEMO`): data/processed/warehouse.duckdb."""
    return demo_workspace().warehouse


def default_demo_raw() -> Path:
    return demo_workspace().raw[0]


def find_workspace(start: Path | None = None) -> Workspace | None:
    """The workspace holding ``start`` (default: the current folder): the nearest folder upwards with an
    ``equity-outcomes.yaml``, or the project checkout (the demo workspace); None outside any workspace."""
    here = Path(start or Path.cwd()).resolve()
    demo_root = project_root()
    for folder in (here, *here.parents):
        if (folder / WORKSPACE_FILE).is_file():
            return load_workspace(folder)
        if folder == demo_root:
            return demo_workspace()
    return None


def resolve_workspace(explicit: Path | None = None, *, demo: bool = False) -> Workspace:
    """``--workspace DIR`` if given; the demo workspace for ``demo``; otherwise the workspace of the current folder."""
    if explicit is not None:
        folder = Path(explicit).resolve()
        if folder == project_root() and not (folder / WORKSPACE_FILE).exists():
            return demo_workspace()
        if not (folder / WORKSPACE_FILE).is_file():
            raise InputError(
                f"no {WORKSPACE_FILE} in this folder: it is not a workspace", file=str(folder),
                fix=f"create one with `equity-outcomes init {explicit}`, or pass the folder that holds {WORKSPACE_FILE}",
            )
        return load_workspace(folder)
    if demo:
        return demo_workspace()
    found = find_workspace()
    if found is None:
        raise InputError(
            f"the current folder ({Path.cwd()}) is not inside a workspace, so there is no warehouse to use",
            fix="create one with `equity-outcomes init DIR` and run commands inside DIR, pass --workspace DIR, "
                "or pass --warehouse FILE",
        )
    return found


class WorkspaceFile(Strict):
    """The keys of ``equity-outcomes.yaml`` (config/workspace_template.yaml explains each)."""

    network: Text | None = None
    raw: listed(Text, 1) | None = Field(None, description="a folder or a list of folders, e.g. raw: [raw]")
    warehouse: Text | None = None
    dashboards: Text | None = None
    baseline_year: Annotated[int, Field(strict=True, ge=2000, le=2100)] | None = Field(
        None, description="a spring year such as 2019, or null")
    targets: str | None = None
    disclosure: str | None = None
    max_quarantined_pct: Annotated[float, Field(strict=True, ge=0, le=100)] | None = Field(
        None, description="a percent between 0 and 100, or null, e.g. max_quarantined_pct: 5")


def load_workspace(root: Path) -> Workspace:
    path = Path(root) / WORKSPACE_FILE
    data = read_yaml(path, "workspace file", "compare with config/workspace_template.yaml")
    ws = load_yaml(WorkspaceFile, path, "workspace file", "compare with config/workspace_template.yaml",
                   data=data or {})
    return _build(Path(root).resolve(), ws.model_dump(exclude_none=True), path, is_demo=False)


def _build(root: Path, data: dict[str, Any], file: Path | None, *, is_demo: bool) -> Workspace:
    def inside(key: str, default: str) -> Path:
        value = data.get(key) or default
        p = (root / value).resolve()
        if not is_demo and not p.is_relative_to(root):
            raise InputError("points outside the workspace: each workspace keeps its own files", file=str(file),
                             key=key, value=value, fix=f"use a path inside {root}, e.g. {default}")
        return p

    def optional_file(key: str) -> Path | None:
        p = (root / str(data[key])).resolve() if data.get(key) else None
        if p is not None and not p.is_file():
            raise InputError("names a file that does not exist", file=str(file), key=key, value=data[key],
                             fix=f"create {p}, or set {key}: null")
        return p

    pct = data.get("max_quarantined_pct")
    return Workspace(
        root=root, network=str(data.get("network") or root.name),
        raw=tuple((root / r).resolve() for r in data.get("raw") or ["raw"]),
        warehouse=inside("warehouse", "warehouse/warehouse.duckdb"), dashboards=inside("dashboards", "dashboards"),
        baseline_year=data.get("baseline_year"), targets=optional_file("targets"),
        disclosure=optional_file("disclosure"), max_quarantined_pct=None if pct is None else float(pct),
        is_demo=is_demo,
    )


def init_workspace(folder: Path, *, network: str | None = None) -> Workspace:
    """Create a workspace in ``folder``: the workspace file (from config/workspace_template.yaml) and the folders it
    names. Refuses a folder that already is a workspace."""
    folder = Path(folder).resolve()
    target = folder / WORKSPACE_FILE
    if target.exists():
        raise InputError("this folder is already a workspace", file=str(target),
                         fix="edit the file, or choose another folder")
    if folder == project_root():
        raise InputError("the project checkout is the demo workspace", file=str(folder),
                         fix="create your workspace in a folder of its own, e.g. `equity-outcomes init ~/my-network`")
    text = (config_dir() / TEMPLATE_FILE).read_text(encoding="utf-8")
    name = network or folder.name
    text = text.replace("network: NETWORK_NAME", f"network: {yaml.safe_dump(name, default_style=None).strip()}"
                        .replace("\n...", ""))
    folder.mkdir(parents=True, exist_ok=True)
    target.write_text(text, encoding="utf-8")
    ws = load_workspace(folder)
    for raw in ws.raw:
        for sub in ("student", "dese"):
            (raw / sub).mkdir(parents=True, exist_ok=True)
    ws.warehouse.parent.mkdir(parents=True, exist_ok=True)
    ws.dashboards.mkdir(parents=True, exist_ok=True)
    return ws

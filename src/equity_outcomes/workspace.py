"""Where a network's files, warehouse and outputs live: the workspace.

A workspace is a folder holding one small YAML file, ``equity-outcomes.yaml`` (``equity-outcomes init DIR`` writes
it from ``config/workspace_template.yaml``): the network's name, the raw folders a run loads, the warehouse file and
the dashboards folder (all inside the workspace), the baseline year, a targets file and the disclosure rules. Every
command finds its workspace from the current folder upwards (or ``--workspace DIR``) and reads and writes only that
workspace's warehouse and outputs.

The project checkout is the demo workspace, with the documented paths in :data:`DEMO` (``data/raw/demo``,
``data/processed/warehouse.duckdb``, ``dashboards/``); it needs no file. ``equity-outcomes demo`` always uses it.
Owns: workspace discovery, the workspace file and its validation. Imports only ``paths`` and ``errors``.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

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
KEYS = ("network", "raw", "warehouse", "dashboards", "baseline_year", "targets", "disclosure", "max_quarantined_pct")


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


def load_workspace(root: Path) -> Workspace:
    path = Path(root) / WORKSPACE_FILE
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        raise InputError(f"not valid YAML ({getattr(exc, 'problem', exc)})", file=str(path),
                         row=mark.line + 1 if mark else None,
                         fix="fix the YAML syntax (compare with config/workspace_template.yaml)") from None
    if not isinstance(data, dict):
        raise InputError("a workspace file must be a mapping of keys to values", file=str(path),
                         fix=f"use the keys {', '.join(KEYS)} (see config/workspace_template.yaml)")
    for key in data:
        if key not in KEYS:
            close = difflib.get_close_matches(str(key), KEYS, n=1)
            raise InputError(f"unknown key {key!r}" + (f" (did you mean {close[0]!r}?)" if close else ""),
                             file=str(path), column=str(key),
                             fix=f"use only the keys {', '.join(KEYS)}")
    return _build(Path(root).resolve(), data, path, is_demo=False)


def _build(root: Path, data: dict[str, Any], file: Path | None, *, is_demo: bool) -> Workspace:
    def where(key: str, problem: str, fix: str, value: object = None) -> InputError:
        return InputError(problem, file=str(file or root), column=key, value=value, fix=fix)

    def inside(key: str, default: str) -> Path:
        value = data.get(key) or default
        if not isinstance(value, str):
            raise where(key, "must be a path", f"write a path relative to {root}", value)
        p = (root / value).resolve()
        if not is_demo and not p.is_relative_to(root):
            raise where(key, "points outside the workspace: each workspace keeps its own files",
                        f"use a path inside {root}, e.g. {default}", value)
        return p

    def optional_file(key: str) -> Path | None:
        value = data.get(key)
        if value in (None, ""):
            return None
        p = (root / str(value)).resolve()
        if not p.is_file():
            raise where(key, "names a file that does not exist", f"create {p}, or set {key}: null", value)
        return p

    raw = data.get("raw") or ["raw"]
    if isinstance(raw, str):
        raw = [raw]
    if not isinstance(raw, list) or not all(isinstance(r, str) for r in raw):
        raise where("raw", "must be a folder or a list of folders", "e.g. raw: [raw]", raw)
    baseline = data.get("baseline_year")
    if baseline is not None and not (isinstance(baseline, int) and 2000 <= baseline <= 2100):
        raise where("baseline_year", "must be a spring year such as 2019, or null", "e.g. baseline_year: 2019",
                    baseline)
    pct = data.get("max_quarantined_pct")
    if pct is not None and not (isinstance(pct, int | float) and 0 <= pct <= 100):
        raise where("max_quarantined_pct", "must be a percent between 0 and 100, or null",
                    "e.g. max_quarantined_pct: 5", pct)
    network = data.get("network") or root.name
    return Workspace(
        root=root, network=str(network), raw=tuple((root / r).resolve() for r in raw),
        warehouse=inside("warehouse", "warehouse/warehouse.duckdb"), dashboards=inside("dashboards", "dashboards"),
        baseline_year=baseline, targets=optional_file("targets"), disclosure=optional_file("disclosure"),
        max_quarantined_pct=None if pct is None else float(pct), is_demo=is_demo,
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

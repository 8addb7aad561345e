"""The whole yearly run without Prefect: the same stage functions the flow wires, called directly.

Used by ``equity-outcomes run --no-prefect`` and by the benchmark that measures Prefect's overhead.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

from . import stages
from .ingest.load import LoadSummary
from .models.build import BuildSummary
from .warehouse import StagedWarehouse


@dataclass
class RunResult:
    warehouse: Path
    load: LoadSummary
    build: BuildSummary | None
    extra: dict = field(default_factory=dict)
    seconds: float = 0.0
    no_op: bool = False


def run_yearly(
    sources: list[Path],
    warehouse: Path,
    *,
    school_year: int | None = None,
    baseline_year: int | None = None,
    dashboards: Path | None = None,
    force: bool = False,
    progress=None,
    max_quarantined: float | None = None,
    targets_file: Path | None = None,
    engine: str = "duckdb",
    disclosure_rules: Path | None = None,
    pdf: bool = False,
) -> RunResult:
    started = time.perf_counter()
    with StagedWarehouse(warehouse) as staged:
        load = stages.ingest_stage(staged.work_path, sources, progress, max_quarantined=max_quarantined)
        if not load.changed and not force and stages.is_up_to_date(
                staged.work_path, engine, school_year=school_year, baseline_year=baseline_year,
                targets_file=targets_file):
            return RunResult(staged.path, load, None, seconds=time.perf_counter() - started, no_op=True)
        build = stages.build_stage(staged.work_path, progress, engine=engine)
        extra = stages.post_build_stages(
            staged.work_path, school_year=school_year, baseline_year=baseline_year, progress=progress,
            targets_file=targets_file,
        )
        staged.commit()
    if dashboards is not None:
        extra.update(stages.publish_stage(warehouse, dashboards, progress=progress, rules_file=disclosure_rules,
                                          pdf=pdf))
    return RunResult(Path(warehouse), load, build, extra, time.perf_counter() - started)

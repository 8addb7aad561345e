"""Reading one DESE export end to end: raw rows -> layout -> report -> org identity -> attributes -> cells.

Owns: :func:`read_dese_file` (the cells and what was done to get them) and :func:`inspect_dese_file` (the per-file
report of the ``check`` command). Imports the modules of this package only.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from ...errors import InputError
from . import catalog
from .attributes import resolve
from .cells import melt, resolve_repeats
from .header import Layout, read_layout
from .keys import assign_roles, resolve_orgs
from .manifest import MANIFEST_COLUMNS, Manifest, find_manifest
from .raw import read_raw
from .titles import parse_title


@dataclass
class DeseRead:
    """The cells of one DESE export and what the reader did to get them."""

    path: Path
    report: str
    school_year: int | None  # the year if every cell has the same one; None for multi-year files
    n_rows: int  # data rows read (exact repeats included; title, header, footnote and blank rows not)
    cells: pd.DataFrame
    notes: list[str] = field(default_factory=list)
    org_level: str = ""  # levels found, e.g. 'school+state'
    year_source: str = ""  # where the school year came from: "title '2023-24'", "column 'Academic Year'", ...

    @property
    def warnings(self) -> list[str]:
        return [n for n in self.notes if n.startswith("warning:")]


def _manifest_fields(path: Path, manifest: Manifest | None, notes: list[str]) -> dict[str, str]:
    mfields = manifest.lookup(path) if manifest is not None else {}
    if mfields:
        notes.append(f"manifest {manifest.path}: " + ", ".join(f"{k}={v}" for k, v in mfields.items()))
        if manifest.ignored_columns:
            notes.append(f"manifest columns ignored (not {', '.join(MANIFEST_COLUMNS)}): {manifest.ignored_columns}")
    return mfields


def _report(layout: Layout, forced: str | None, path: Path, notes: list[str]) -> catalog.ReportSpec:
    spec = catalog.detect(layout.normed, layout.title_lines, forced)
    if spec is not None:
        return spec
    title = parse_title(layout.title_lines, catalog.unknown_report("", path.stem))
    spec = catalog.unknown_report(title.core, path.stem)
    notes.append(f"warning: report not in the catalog: loaded as {spec.id!r} (every cell kept, no measure mapped); "
                 f"add it to {catalog.CONFIG.path} to map its columns")
    return spec


def read_dese_file(path: Path, manifest: Manifest | None = None) -> DeseRead:
    """Read one DESE export (.xlsx or .csv) into long cells. Refuses (InputError) only a file that cannot be read,
    has no header row, no org identifier or no school year (after the manifest)."""
    path = Path(path)
    file = str(path)
    manifest = manifest if manifest is not None else find_manifest(path)
    rows, sheet, notes = read_raw(path)
    notes = list(notes)
    mfields = _manifest_fields(path, manifest, notes)
    layout = read_layout(rows, file, is_xlsx=bool(sheet) or path.suffix.lower() in (".xlsx", ".xls"))
    notes += layout.notes
    spec = _report(layout, mfields.get("report"), path, notes)
    title = parse_title(layout.title_lines, spec)
    roles = assign_roles(layout, spec)
    notes += roles.notes
    orgs = resolve_orgs(layout, roles, spec, title.level, mfields.get("org_level"), file)
    notes += orgs.notes
    header_years = any((m := spec.meaning(layout.normed[j], None)) and m.year for j in roles.value_cols)
    attrs = resolve(path, layout, roles, spec, title, mfields, manifest, orgs.levels, header_years)
    notes += attrs.notes
    unmapped = [layout.headers[j] for j in roles.value_cols if not spec.known(layout.normed[j])]
    if unmapped and not spec.is_unknown:
        notes.append(f"warning: {len(unmapped)} column(s) not in the column map of report {spec.id!r} kept with "
                     f"measure NULL: {unmapped[:15]}")
    if not layout.mat.shape[0]:
        notes.append("the report has a header and no data rows: loaded as empty")
    repeats = resolve_repeats(layout, orgs, attrs, roles.value_cols, notes)
    cells = melt(file, sheet, layout, spec, title.line, orgs, attrs, roles.value_cols, repeats, notes)
    years = cells["school_year"].dropna().unique()
    return DeseRead(path=path, report=spec.id, school_year=int(years[0]) if len(years) == 1 else None,
                    n_rows=int(layout.mat.shape[0]), cells=cells, notes=notes,
                    org_level="+".join(sorted(set(orgs.levels.tolist()))), year_source=attrs.year_source)


def inspect_dese_file(path: Path, manifest: Manifest | None = None) -> dict:
    """What the ``check`` command reports for one DESE file: report id, level, year and where it came from, mapped
    and unmapped columns, suppressed cells, rows, and whether it was refused (with the reason and fix)."""
    try:
        read = read_dese_file(path, manifest)
    except InputError as exc:
        return {"file": str(path), "refused": True, "reason": str(exc), "report": None, "rows": 0, "cells": 0}
    c = read.cells
    mapped = c.loc[c["measure"].notna(), "source_column"].unique().tolist()
    return {
        "file": str(path), "refused": False, "reason": "", "report": read.report, "org_level": read.org_level,
        "school_year": read.school_year,
        "school_years": sorted(int(y) for y in c["school_year"].dropna().unique()),
        "year_source": read.year_source, "rows": read.n_rows, "cells": len(c),
        "mapped_columns": mapped,
        "unmapped_columns": c.loc[c["measure"].isna(), "source_column"].unique().tolist(),
        "suppressed_cells": int(c["is_suppressed"].sum()),
        "text_cells": int((c["value"].isna() & ~c["is_suppressed"]).sum()),
        "flagged_cells": int(c["flag"].notna().sum()),
        "warnings": read.warnings, "notes": read.notes,
    }


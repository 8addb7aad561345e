"""``inspect_state_file(path) -> StateFileReport``: what ``check`` says about a state-reporting file before any
load: its layout and handbook edition, how many records, and every bad code or value grouped by element, value and
check, with the count, the first line and the fix. Nothing is written; ids are never shown."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from ...errors import InputError
from .catalog import family, layout_line
from .detect import SUFFIXES, detect
from .reader import read_state_file


@dataclass
class StateFileReport:
    path: Path
    layout: str = ""  # e.g. "SIMS student record (...)"
    family: str = ""
    record: str = ""
    version: str = ""
    handbook: str = ""
    school_year: int | None = None
    rows: int = 0
    rows_loadable: int = 0
    rows_quarantined: int = 0
    problems: list[dict] = field(default_factory=list)  # element, value, check, n_records, first_line, message
    notes: list[str] = field(default_factory=list)
    error: str | None = None  # the file would be refused: the message names the fix

    def render(self) -> str:
        head = f"{self.path.name}: "
        if not self.family:
            return head + (self.error or "not a state-reporting file")
        head += (f"{layout_line(self.family, self.record, self.version, self.handbook)}, "
                 f"school year {self.school_year}")
        if self.error:
            return f"{head}\n  refused: {self.error}"
        lines = [head, f"  {self.rows:,} records: {self.rows_loadable:,} load, {self.rows_quarantined:,} quarantined"]
        for p in self.problems:
            value = "" if p["value"] is None else f" value {p['value']!r}"
            lines.append(f"  - {p['element']}{value}: {p['n_records']:,} record(s), first at line {p['first_line']}: "
                         f"{p['message']}")
        lines += [f"  note: {n}" for n in self.notes]
        return "\n".join(lines)


def inspect_state_file(path: Path) -> StateFileReport:
    """Report on one file; a file that is not a state-reporting file gets an empty ``family``."""
    path = Path(path)
    report = StateFileReport(path)
    found = detect(path)
    if found is None:
        return report
    fam = family(found.family)
    report.family, report.record, report.layout = found.family, found.record, fam.label
    try:
        read = read_state_file(path, key=None)
    except InputError as exc:
        report.error = str(exc)
        return report
    report.version, report.handbook, report.school_year = read.version, read.handbook, read.school_year
    report.rows, report.rows_quarantined = read.rows_in, read.rows_quarantined
    report.rows_loadable = read.rows_in - read.rows_quarantined
    q = read.quarantine
    if len(q):
        grouped = q.fillna({"value_text": "\0"}).groupby(["column_name", "value_text", "check_name"], sort=False)
        for (element, value, check), rows in grouped:
            report.problems.append({"element": element, "value": None if value == "\0" else value, "check": check,
                                    "n_records": int(rows["source_row"].nunique()),
                                    "first_line": int(rows["source_row"].min()), "message": rows["message"].iloc[0]})
    report.notes = list(read.notes)
    return report


def inspect_state_paths(paths: Iterable[Path | str]) -> list[StateFileReport]:
    """Reports for every state-reporting file under the given files/folders (other files are skipped)."""
    files: list[Path] = []
    for p in map(Path, paths):
        files += sorted(f for f in p.rglob("*") if f.is_file()) if p.is_dir() else [p]
    return [r for r in (inspect_state_file(f) for f in files if f.suffix.lower() in SUFFIXES) if r.family]

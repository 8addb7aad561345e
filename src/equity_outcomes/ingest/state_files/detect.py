"""Which state-reporting layout a file holds, from its shape: field count and the values in key positions (a
10-digit SASID, an 8-digit school code, a one-digit action code), or the names of a header row. Read from the
first lines only; a file named after a contract table (enrollment.csv, ...) is never a state file."""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass
from pathlib import Path

from ...errors import InputError
from ..schemas import ALL_TABLES
from ..student import _read_text
from .catalog import family, header_matches
from .mcas import is_results_header

SUFFIXES = {".csv", ".txt", ".dat"}
SAMPLE_BYTES = 64 * 1024
SAMPLE_ROWS = 20
SASID = re.compile(r"\d{10}")
SCHOOL = re.compile(r"\d{8}")
DATE = re.compile(r"\d{1,2}/\d{1,2}/\d{4}")


@dataclass(frozen=True)
class Detected:
    family: str  # sims | ssdr | scs | mcas
    record: str  # student | offense | discipline | course | results


def _sample(path: Path) -> list[list[str]]:
    try:
        text = _read_text(path, limit=SAMPLE_BYTES)
    except InputError:
        return []
    rows = [[f.strip() for f in r] for r in csv.reader(io.StringIO(text)) if any(f.strip() for f in r)]
    return rows[: SAMPLE_ROWS + 1]


def _positional(rows: list[list[str]]) -> Detected | None:
    """A positional layout whose shape the first record, or most sample records, have."""
    shapes = {
        Detected("sims", "student"): lambda r: len(r) == 52 and SASID.fullmatch(r[1]) and SCHOOL.fullmatch(r[14]),
        Detected("scs", "course"): lambda r: len(r) in (13, 14) and SASID.fullmatch(r[1]) and SCHOOL.fullmatch(r[2]),
        Detected("ssdr", "discipline"): lambda r: len(r) == 24 and DATE.fullmatch(r[1]) and SASID.fullmatch(r[2])
        and r[7].isdigit(),
        Detected("ssdr", "offense"): lambda r: len(r) == 25 and DATE.fullmatch(r[1]) and SCHOOL.fullmatch(r[3]),
    }
    for detected, fits in shapes.items():
        if fits(rows[0]) or sum(bool(fits(r)) for r in rows) * 2 > len(rows):
            return detected
    return None


def detect(path: Path) -> Detected | None:
    """The layout of ``path``, or None if it is not a state-reporting file."""
    path = Path(path)
    if path.suffix.lower() not in SUFFIXES or path.stem.lower() in ALL_TABLES:
        return None
    rows = _sample(path)
    if not rows:
        return None
    head = rows[0]
    if is_results_header(head):
        return Detected("mcas", "results")
    ssdr = family("ssdr")
    for record in ("discipline", "offense"):
        if header_matches(head, ssdr, record):
            return Detected("ssdr", record)
    return _positional(rows) or (_positional(rows[1:]) if len(rows) > 1 else None)


def is_state_file(path: Path) -> bool:
    return detect(path) is not None

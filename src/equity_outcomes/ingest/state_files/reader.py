"""Dispatch one state-reporting file to its family's reader, with the school year from its folder."""

from __future__ import annotations

from pathlib import Path

from ...errors import InputError
from ..student import folder_year
from . import mcas, scs, sims, ssdr
from .catalog import family
from .detect import detect
from .records import StateRead


def _sims_version(path: Path, school_year: int):
    fam = family("sims")
    others = [p.name for p in sorted(path.parent.iterdir())
              if p != path and p.is_file() and (d := detect(p)) is not None and d.family == "sims"]
    if others:
        raise InputError(
            f"more than one SIMS file for school year {school_year} in {path.parent} (also {', '.join(others)})",
            file=str(path),
            fix="keep one SIMS collection per school year folder: the end-of-year collection (days in attendance "
                "and membership are final there); move the October and March files elsewhere")
    version = fam.version_for_year(school_year)
    if version is None:
        first = fam.versions[0].years[0]
        raise InputError(f"no SIMS handbook tables for school year {school_year}", file=str(path),
                         fix=f"the tables cover {first} onwards (config/state_layouts.yaml)")
    return version


def read_state_file(path: Path, key: bytes | None) -> StateRead:
    """Read one state-reporting file into contract tables. ``key`` pseudonymizes ids (None: inspect only, ids are
    left as read and never leave the caller)."""
    path = Path(path)
    found = detect(path)
    if found is None:
        raise InputError("not a SIMS, SSDR, SCS or MCAS results file", file=str(path),
                         fix="see docs/state_reporting_files.md for the layouts recognised")
    year = folder_year(path)
    if year is None:
        raise InputError(f"a {found.family.upper()} file must sit in a folder named after its school year",
                         file=str(path), fix="put it in <raw>/student/<school_year>/ (spring year: 2024 = 2023-24)")
    if found.family == "sims":
        return sims.read(path, year, _sims_version(path, year), key)
    if found.family == "ssdr":
        return ssdr.read(path, year, key) if found.record == "discipline" else ssdr.read_offense_file(path, year)
    if found.family == "scs":
        return scs.read(path, year, key)
    return mcas.read(path, year, key)

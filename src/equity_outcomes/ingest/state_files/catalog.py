"""The state-reporting layouts and code tables, read from ``config/state_layouts.yaml`` and
``config/state_codes/<family>.csv``. Code reads them here; nothing else spells a DOE, SSDR, SCS or MCAS code."""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import yaml

from ...errors import InputError
from ...paths import config_dir

CODE_COLUMNS = ["element", "code", "meaning", "maps_to", "versions", "source"]


@dataclass(frozen=True)
class Element:
    position: int  # 1-based
    id: str
    name: str
    use: str  # a mapping role, 'drop' (personal data, never kept) or 'ignore'


@dataclass(frozen=True)
class Version:
    id: str
    handbook: str
    first_year: int | None
    last_year: int | None
    names: dict = field(default_factory=dict)  # element id -> name in this edition, where it differs
    header_alias: dict = field(default_factory=dict)  # element id -> column header used in this edition
    fields: int | None = None
    sources: tuple = ()

    def covers(self, school_year: int) -> bool:
        return (self.first_year is None or school_year >= self.first_year) and (
            self.last_year is None or school_year <= self.last_year)


@dataclass(frozen=True)
class Code:
    code: str
    meaning: str
    maps_to: str | None
    versions: tuple[str, ...]  # ('all',) or version ids
    source: str


@dataclass
class Family:
    id: str
    label: str
    record: str
    records: dict[str, list[Element]]  # record kind -> elements in position order
    fields: dict[str, tuple[int, ...]]  # record kind -> accepted field counts
    versions: list[Version]
    codes: dict[str, list[Code]]  # element -> codes
    columns: dict = field(default_factory=dict)  # header-based layouts (MCAS): role -> accepted header names
    subjects: dict = field(default_factory=dict)

    def version(self, version_id: str) -> Version:
        return next(v for v in self.versions if v.id == version_id)

    def version_for_year(self, school_year: int) -> Version | None:
        """The latest edition whose years cover the school year."""
        covering = [v for v in self.versions if v.covers(school_year)]
        return covering[-1] if covering else None

    def element(self, record: str, element_id: str) -> Element:
        return next(e for e in self.records[record] if e.id == element_id)

    def element_name(self, element_id: str, version: Version | None = None) -> str:
        if version is not None and element_id in version.names:
            return version.names[element_id]
        for elements in self.records.values():
            for e in elements:
                if e.id == element_id:
                    return e.name
        return element_id

    def code_table(self, element_id: str, version: Version) -> dict[str, Code]:
        """The codes of an element valid in this edition."""
        return {c.code: c for c in self.codes.get(element_id, [])
                if "all" in c.versions or version.id in c.versions}


def _version(raw: dict) -> Version:
    first, last = (raw.get("years") or [None, None])
    return Version(id=str(raw["id"]), handbook=raw["handbook"], first_year=first, last_year=last,
                   names=raw.get("names") or {}, header_alias=raw.get("header_alias") or {},
                   fields=raw.get("fields"), sources=tuple(raw.get("sources") or ()))


def _codes(path: Path) -> dict[str, list[Code]]:
    if not path.exists():
        return {}
    out: dict[str, list[Code]] = {}
    with open(path, encoding="utf-8", newline="") as fh:
        reader = csv.DictReader(fh)
        if reader.fieldnames != CODE_COLUMNS:
            raise InputError(f"code table columns must be {CODE_COLUMNS}", file=str(path), row=1,
                             fix="keep the header of the shipped file")
        for row in reader:
            out.setdefault(row["element"], []).append(Code(
                code=row["code"], meaning=row["meaning"], maps_to=row["maps_to"] or None,
                versions=tuple(v.strip() for v in row["versions"].split("|")), source=row["source"]))
    return out


def _family(family_id: str, raw: dict, codes_dir: Path) -> Family:
    records: dict[str, list[Element]] = {}
    fields: dict[str, tuple[int, ...]] = {}
    for kind, spec in (raw.get("records") or {}).items():
        records[kind] = [Element(int(p), str(i), str(n), str(u)) for p, i, n, u in spec["elements"]]
        count = spec["fields"]
        fields[kind] = tuple(count) if isinstance(count, list) else (int(count),)
    return Family(id=family_id, label=raw["label"], record=raw["record"], records=records, fields=fields,
                  versions=[_version(v) for v in raw["versions"]], codes=_codes(codes_dir / f"{family_id}.csv"),
                  columns=raw.get("columns") or {}, subjects=raw.get("subjects") or {})


@lru_cache(maxsize=4)
def _load(root: Path) -> dict[str, Family]:
    path = root / "state_layouts.yaml"
    with open(path, encoding="utf-8") as fh:
        doc = yaml.safe_load(fh)
    return {fid: _family(fid, raw, root / "state_codes") for fid, raw in doc.items()}


def family(family_id: str) -> Family:
    return _load(config_dir())[family_id]


def families() -> dict[str, Family]:
    return dict(_load(config_dir()))


def normalized_label(label: str) -> str:
    """A column label without case, spaces or punctuation (``OFF ID`` -> ``offid``)."""
    return re.sub(r"[^a-z0-9]", "", label.lower())


def header_matches(row: list[str], fam: Family, record: str) -> bool:
    """True if the row is this record's header (element ids, or an edition's header aliases, in order)."""
    names = {normalized_label(e.id) for e in fam.records[record]} | {normalized_label(a) for v in fam.versions for a in v.header_alias.values()}
    cells = [normalized_label(c) for c in row]
    return len(cells) == len(fam.records[record]) and sum(c in names for c in cells) >= 0.8 * len(cells)



"""The state-reporting layouts and code tables, read from ``config/state_layouts.yaml`` and
``config/state_codes/<family>.csv``. Code reads them here; nothing else spells a DOE, SSDR, SCS or MCAS code."""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Any

from pydantic import BeforeValidator, RootModel, ValidationInfo, model_validator

from ...catalog import Items, Positive, Strict, Text, Year, load_yaml
from ...errors import InputError
from ...paths import config_dir

CODE_COLUMNS = ["element", "code", "meaning", "maps_to", "versions", "source"]


class Element(Strict):
    position: Positive  # 1-based
    id: Text
    name: Text
    use: Text  # a mapping role, 'drop' (personal data, never kept) or 'ignore'

    @model_validator(mode="before")
    @classmethod
    def _from_row(cls, data: Any) -> Any:  # written as [position, id, name, use]
        return dict(zip(("position", "id", "name", "use"), data, strict=True)) \
            if isinstance(data, list) and len(data) == 4 else data


class Version(Strict):
    id: Text
    handbook: Text
    years: tuple[Year | None, Year | None] = (None, None)  # first and last school year (null: open)
    names: dict[str, str] = {}  # element id -> name in this edition, where it differs
    header_alias: dict[str, str] = {}  # element id -> column header used in this edition
    fields: Positive | None = None
    sources: Items = ()

    def covers(self, school_year: int) -> bool:
        first, last = self.years
        return (first is None or school_year >= first) and (last is None or school_year <= last)


@dataclass(frozen=True)
class Code:
    code: str
    meaning: str
    maps_to: str | None
    versions: tuple[str, ...]  # ('all',) or version ids
    source: str


class Record(Strict):
    fields: Annotated[tuple[Positive, ...], BeforeValidator(lambda v: [v] if isinstance(v, int) else v)]
    elements: tuple[Element, ...]  # in position order


class Family(Strict):
    id: Text
    label: Text
    record: Text
    records: dict[str, Record] = {}  # record kind -> its accepted field counts and elements
    versions: tuple[Version, ...]
    columns: dict[str, Items] = {}  # header-based layouts (MCAS): role -> accepted header names
    subjects: dict[str, str] = {}
    codes: dict[str, list[Code]] = {}  # element -> codes (config/state_codes/<family>.csv)

    def version_for_year(self, school_year: int) -> Version | None:
        """The latest edition whose years cover the school year."""
        covering = [v for v in self.versions if v.covers(school_year)]
        return covering[-1] if covering else None

    def element_name(self, element_id: str, version: Version | None = None) -> str:
        if version is not None and element_id in version.names:
            return version.names[element_id]
        return next((e.name for r in self.records.values() for e in r.elements if e.id == element_id), element_id)

    def code_table(self, element_id: str, version: Version) -> dict[str, Code]:
        """The codes of an element valid in this edition."""
        return {c.code: c for c in self.codes.get(element_id, [])
                if "all" in c.versions or version.id in c.versions}


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


class _Layouts(RootModel[dict[str, Family]]):
    @model_validator(mode="before")
    @classmethod
    def _ids_and_codes(cls, data: Any, info: ValidationInfo) -> Any:
        codes_dir = (info.context or {})["codes"]
        return {fid: {**raw, "id": fid, "codes": _codes(codes_dir / f"{fid}.csv")} if isinstance(raw, dict) else raw
                for fid, raw in data.items()} if isinstance(data, dict) else data


@lru_cache(maxsize=4)
def _load(root: Path) -> dict[str, Family]:
    return load_yaml(_Layouts, root / "state_layouts.yaml", "the state-reporting layouts",
                     "compare with config/state_layouts.yaml (docs/state_reporting_files.md).",
                     codes=root / "state_codes").root


def family(family_id: str) -> Family:
    return _load(config_dir())[family_id]


def layout_line(family_id: str, record: str, version: str, handbook: str) -> str:
    """How ``check`` names a state-reporting file: its layout, record kind and handbook edition."""
    return f"{family(family_id).label}, {record} records, handbook {version} ({handbook})"


def families() -> dict[str, Family]:
    return dict(_load(config_dir()))


def normalized_label(label: str) -> str:
    """A column label without case, spaces or punctuation (``OFF ID`` -> ``offid``)."""
    return re.sub(r"[^a-z0-9]", "", label.lower())


def header_matches(row: list[str], fam: Family, record: str) -> bool:
    """True if the row is this record's header (element ids, or an edition's header aliases, in order)."""
    elements = fam.records[record].elements
    names = {normalized_label(e.id) for e in elements} | {normalized_label(a) for v in fam.versions
                                                           for a in v.header_alias.values()}
    cells = [normalized_label(c) for c in row]
    return len(cells) == len(elements) and sum(c in names for c in cells) >= 0.8 * len(cells)



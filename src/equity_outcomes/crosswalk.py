"""Subgroup crosswalk: every raw label (DESE exports, file names, student data) maps to one subgroup id.

Data lives in ``config/subgroup_crosswalk.csv`` (raw_label -> subgroup) and ``config/subgroups.csv`` (the ids).
An unknown label is never guessed: `lookup` returns None and the caller refuses or records it.
"""

from __future__ import annotations

import csv
import re
from functools import lru_cache
from pathlib import Path

from .errors import UnknownSubgroupError
from .paths import config_dir


def normalize_label(label: str) -> str:
    """Lower-case, trim, collapse inner whitespace: ' Afr. Amer./Black ' -> 'afr. amer./black'."""
    return re.sub(r"\s+", " ", str(label).strip().lower())


@lru_cache(maxsize=4)
def _load(config: Path) -> tuple[dict[str, str], dict[str, dict[str, str]]]:
    with open(config / "subgroups.csv", newline="", encoding="utf-8") as fh:
        subgroups = {r["subgroup"]: r for r in csv.DictReader(fh)}
    crosswalk: dict[str, str] = {}
    with open(config / "subgroup_crosswalk.csv", newline="", encoding="utf-8") as fh:
        for line_no, r in enumerate(csv.DictReader(fh), start=2):
            sid = r["subgroup"].strip()
            if sid not in subgroups:
                raise UnknownSubgroupError(
                    "crosswalk maps to a subgroup id that config/subgroups.csv does not declare",
                    file=str(config / "subgroup_crosswalk.csv"),
                    row=line_no,
                    column="subgroup",
                    value=sid,
                    fix="add the id to config/subgroups.csv or correct the crosswalk row",
                )
            crosswalk[normalize_label(r["raw_label"])] = sid
    return crosswalk, subgroups


def subgroups() -> dict[str, dict[str, str]]:
    """All declared subgroups, keyed by id, with label, required, complement and definition."""
    return _load(config_dir())[1]


def race_codes() -> list[str]:
    """The contract's race_ethnicity codes: the subgroups marked race_code (a student's race is its subgroup)."""
    return [k for k, v in subgroups().items() if v.get("race_code") == "true"]


def required_subgroups() -> list[str]:
    return [k for k, v in subgroups().items() if v["required"] == "true"]


def labels() -> dict[str, str]:
    """Every raw label (normalized) of the crosswalk and the subgroup id it maps to."""
    return dict(_load(config_dir())[0])


def lookup(label: str) -> str | None:
    """The subgroup id a raw label maps to (an id maps to itself), or None when the crosswalk does not know it."""
    crosswalk, known = _load(config_dir())
    key = normalize_label(label)
    return crosswalk.get(key) or (key if key in known else None)


def known_labels() -> list[str]:
    """Every normalised raw label of the crosswalk."""
    return list(_load(config_dir())[0])

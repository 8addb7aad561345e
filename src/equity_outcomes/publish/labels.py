"""Words on the scorecards: target wording and rules (the target catalog, config/targets.yaml), rating and status
display and flag explanations (config/scorecards.yaml, ``words``), subgroup names (config/subgroups.csv), metric
units."""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import yaml

from .. import crosswalk
from ..judge.catalog import CATEGORIES, load_catalog
from ..paths import config_dir

CATEGORY_ORDER = list(CATEGORIES)


@dataclass(frozen=True)
class TargetInfo:
    id: str
    label: str
    short: str
    category: str
    rule: str = ""
    direction: str = "higher_is_better"
    threshold: float | None = None
    areas: tuple[str, ...] = ()
    order: int = 0
    reference: str | None = None  # gap_closure: 'state' or 'complement'
    metrics: tuple[str, ...] = ()

    @property
    def is_gap(self) -> bool:
        return self.rule == "gap_closure"


def num(x) -> float | None:
    """A finite float, or None (None, NaN, pd.NA, text)."""
    if x is None:  # the most common blank (records): no exception raised and caught
        return None
    try:
        v = float(x)
    except (TypeError, ValueError):
        return None
    return v if math.isfinite(v) else None


def load_targets(path: Path | None = None) -> dict[str, TargetInfo]:
    """Target id -> wording and rule, from the target catalog (``path``, else config/targets.yaml)."""
    return {t.id: TargetInfo(t.id, t.label, t.short, t.category, t.rule, t.direction, t.threshold, t.areas, i,
                             t.reference, t.metrics)
            for i, t in enumerate(load_catalog(path).targets)}


def target_info(targets: dict[str, TargetInfo], target_id: str) -> TargetInfo:
    if target_id in targets:
        return targets[target_id]
    return TargetInfo(target_id, target_id.replace("_", " "), target_id.replace("_", " ").capitalize(), "Other",
                      order=1000)


# --- ratings and statuses -------------------------------------------------------------------------------------
RATED = {lv.status: lv.rating for lv in load_catalog().ratings.levels}
RATING_LABEL = {lv.rating: lv.label for lv in load_catalog().ratings.levels}
SCORECARDS = yaml.safe_load((config_dir() / "scorecards.yaml").read_text(encoding="utf-8"))  # honest, pdf too
WORDS = SCORECARDS["words"]
STATUS_TEXT = {s: w["text"] for s, w in WORDS["statuses"].items()}
STATUS_SHORT = {s: w["short"] for s, w in WORDS["statuses"].items() if "short" in w}
STATUS_EXPLAIN = {s: w["explain"] for s, w in WORDS["statuses"].items() if "explain" in w}


# --- flags -------------------------------------------------------------------------------------------------------
FLAG_TEXT = {f: w["text"] for f, w in WORDS["flags"].items()}
FLAG_SHORT = {f: w["short"] for f, w in WORDS["flags"].items()}


def flag_text(flag: str) -> str:
    return FLAG_TEXT.get(flag, f"Data note '{flag}' (see docs/scorecards.md).")


def split_flags(flags) -> list[str]:
    if flags is None or (isinstance(flags, float) and math.isnan(flags)):
        return []
    if isinstance(flags, list | tuple):
        return [str(f).strip() for f in flags if str(f).strip()]
    return [f.strip() for f in str(flags).split(",") if f.strip()]


# --- subgroups ---------------------------------------------------------------------------------------------------
REQUIRED_SUBGROUPS = [g for g in crosswalk.required_subgroups() if g != "all"]  # config/subgroups.csv


def load_subgroups() -> dict[str, tuple[str, str]]:
    """subgroup -> (label, complement or ''), from config/subgroups.csv."""
    return {g: (row["label"], row.get("complement") or "") for g, row in crosswalk.subgroups().items()}


def complements(subgroups: dict[str, tuple[str, str]]) -> dict[str, str]:
    """Symmetric complement map (low_income <-> non_low_income)."""
    out: dict[str, str] = {}
    for sg, (_label, comp) in subgroups.items():
        if comp:
            out[sg] = comp
            out[comp] = sg
    return out


# --- units ---------------------------------------------------------------------------------------------------------
Y_TITLE = {"percent": "Percent of students", "sgp": "Student growth percentile", "score": "Score",
           "rate": "Rate"}
SUBJECT_LABEL = {"ela": "ELA", "math": "Math", "sci": "Science"}
GRADE_LABEL = {"all": "all grades", "03-08": "grades 3-8", "10": "grade 10"}


def grade_label(grade: str | None) -> str:
    if grade is None:
        return ""
    return GRADE_LABEL.get(grade, f"grade {grade.lstrip('0') or grade}")

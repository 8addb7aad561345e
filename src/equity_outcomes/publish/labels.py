"""Words on the scorecards: target wording and rules (the target catalog, config/targets.yaml), rating and status
display, subgroup names (config/subgroups.csv), flag explanations, metric units."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

from .. import crosswalk
from ..judge.catalog import CATEGORIES, load_catalog

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
    areas: tuple[str, ...] = field(default_factory=tuple)
    order: int = 0
    reference: str | None = None  # gap_closure: 'state' or 'complement'
    metrics: tuple[str, ...] = ()

    @property
    def is_gap(self) -> bool:
        return self.rule == "gap_closure"


def num(x) -> float | None:
    """A finite float, or None (None, NaN, pd.NA, text)."""
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
STATUS_TEXT = {
    "met": "Sustainable (target met)",
    "moving_toward": "Moving toward",
    "initial_steps": "Initial steps",
    "area_of_concern": "Area of concern",
    "insufficient_data": "Insufficient data",
    "not_yet_due": "Not yet due",
    "not_comparable": "Not comparable",
}
STATUS_SHORT = {"insufficient_data": "Insufficient data", "not_yet_due": "Not yet due",
                "not_comparable": "Not comparable"}
STATUS_EXPLAIN = {
    "insufficient_data": "Too few students (below the minimum n) or a missing year: no rating is given.",
    "not_yet_due": "This target is judged from a later implementation year (engagement from year 1, "
                   "achievement and college readiness from year 3).",
    "not_comparable": "The baseline and current figures measure different things (e.g. a test change), "
                      "so no rating is given.",
}


def rating_css(rating, status: str | None) -> str:
    """CSS class of a rating cell: r1..r4 for ratings, s-<status> for the unrated statuses."""
    r = num(rating)
    if status in RATED:
        return f"r{RATED[status]}"
    if r is not None and 1 <= r <= 4 and status not in STATUS_SHORT:
        return f"r{int(r)}"
    return f"s-{status or 'insufficient_data'}".replace("_", "-")


def rating_text(rating, rating_label: str | None, status: str | None) -> str:
    r = num(rating)
    if status in STATUS_SHORT:
        return STATUS_SHORT[status]
    if r is not None and 1 <= r <= 4:
        label = rating_label or RATING_LABEL[int(r)]
        return f"{int(r)} {label}"
    if status in RATED:
        return f"{RATED[status]} {RATING_LABEL[RATED[status]]}"
    return STATUS_SHORT.get(status or "", "Insufficient data")


# --- flags -------------------------------------------------------------------------------------------------------
FLAG_TEXT = {
    "test_transition": "The baseline and current years used different MCAS tests (legacy Proficient/Advanced vs "
                       "Next-Generation Meeting/Exceeding); the two percentages are not directly comparable.",
    "metric_changed": "The baseline and current years are measured with different metrics (for example DESE's "
                      "out-of-school rate in one year and all suspensions in the other).",
    "no_2020_assessments": "No state assessments were given in spring 2020 (COVID-19), so 2020 has no MCAS "
                           "figures.",
    "remote_2021": "2020-21 was largely remote or hybrid learning; attendance and discipline that year are not "
                   "typical.",
    "income_definition_change": "DESE changed how it counts low-income students (Economically Disadvantaged "
                                "2015-2021, a new Low Income definition from 2022); low-income figures across "
                                "those years are not strictly comparable.",
    "grade_span_changed": "The grades the school serves changed between the baseline and the current year, so "
                          "different grades are compared.",
    "n_changed_over_half": "The number of students changed by more than half between the baseline and the "
                           "current year.",
    "n_unknown": "The number of students behind a figure was not published, so no interval can be computed.",
    "small_n": "A small group (under 30 students): a few students can move the result a lot; read with care.",
    "baseline_zero": "The baseline value is zero, so a percent change cannot be computed.",
    "not_distinguishable_from_noise": "The change is within what chance variation alone could produce (the "
                                      "interval includes no change).",
    "no_baseline_gap": "The group was at or above the comparison in the baseline year; staying there meets the "
                       "target.",
    "gap_vs_all": "The group's complement was not available, so the gap is measured against all students.",
    "suppressed_small_cell": "Some figures are withheld ('—') to protect small groups of students.",
    "suppressed": "A figure the target needs was suppressed at the source (a group under the minimum size).",
    "sd_unknown": "The spread of the scores is not known, so no interval can be computed for this mean or median.",
    "state_value_other_source": "The state average comes from DESE's published figures, while the school's value "
                                "comes from student data.",
    "baseline_window_partial": "The baseline averages fewer years than planned (some baseline years have no data).",
}
FLAG_SHORT = {
    "test_transition": "test change",
    "metric_changed": "metric changed",
    "no_2020_assessments": "no 2020 tests",
    "remote_2021": "remote 2021",
    "income_definition_change": "income definition",
    "grade_span_changed": "grades changed",
    "n_changed_over_half": "n changed > half",
    "n_unknown": "n unknown",
    "small_n": "small group",
    "baseline_zero": "baseline 0",
    "not_distinguishable_from_noise": "within noise",
    "no_baseline_gap": "no baseline gap",
    "gap_vs_all": "gap vs all",
    "suppressed_small_cell": "withheld",
    "suppressed": "suppressed",
    "sd_unknown": "spread unknown",
    "state_value_other_source": "state from DESE",
    "baseline_window_partial": "partial baseline",
}


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

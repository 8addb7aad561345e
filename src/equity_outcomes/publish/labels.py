"""Words on the scorecards: target wording (config/targets.yaml, with a built-in fallback), rating and status
display, subgroup names, flag explanations, metric units."""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from ..paths import config_dir

CATEGORY_ORDER = ["Engagement", "Achievement", "College and Career Readiness", "Teacher Efficacy"]


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

    @property
    def is_gap(self) -> bool:
        return self.rule == "gap_closure"


# Rubric wording (seed 000) used when config/targets.yaml is missing or does not list a target.
_FALLBACK = [
    ("absence", "Absence", "Engagement", "relative_change", "lower_is_better", -20,
     "The percent of students absent 10 or more days decreases by 20%"),
    ("suspension", "Suspension", "Engagement", "relative_change", "lower_is_better", -30,
     "The percent of students disciplined through suspensions decreases by 30%"),
    ("perceptions", "Perceptions", "Engagement", "share_improved", "higher_is_better", 50,
     "50% of students improve their perceptions of their school"),
    ("competencies", "Competencies", "Engagement", "share_improved", "higher_is_better", 50,
     "50% of students improve their overall competencies"),
    ("proficiency", "Proficiency", "Achievement", "relative_change", "higher_is_better", 20,
     "The percent of students who score proficient or advanced on the Massachusetts state ELA, Math, and "
     "Science assessments increases by 20%"),
    ("growth", "Growth (SGP)", "Achievement", "absolute_change", "higher_is_better", 5,
     "The school's median Student Growth Percentile (SGP) for each grade increases by an average of 5 "
     "percentile points in both ELA and Math"),
    ("state_gap", "Gap to state", "Achievement", "gap_closure", "higher_is_better", 20,
     "Achievement gaps on state assessments have decreased relative to the overall state average for each "
     "subgroup"),
    ("capstone_gap", "Capstone gap", "Achievement", "gap_closure", "higher_is_better", 20,
     "Achievement gaps on school capstone assessments have decreased in each subgroup"),
    ("masscore", "MassCore", "College and Career Readiness", "relative_change", "higher_is_better", 20,
     "The percent of students who complete a MassCore curriculum sequence increases by 20%"),
    ("dual_enrollment", "Dual enrollment", "College and Career Readiness", "level_or_increase",
     "higher_is_better", 50,
     "Fifty percent or more of graduates have completed at least one dual enrollment course with a college "
     "prior to graduation, and/or have increased the percent from the prior year"),
    ("ap", "AP 3+", "College and Career Readiness", "relative_change", "higher_is_better", 20,
     "The percent of students who enroll in at least one Advanced Placement course and score a \"3\" or better "
     "on the AP assessment increases by 20%"),
    ("postsecondary", "Postsecondary", "College and Career Readiness", "relative_change", "higher_is_better", 20,
     "The percent of graduates enrolled in postsecondary education the year after graduation increases by 20%"),
    ("teacher_efficacy", "Teacher efficacy", "Teacher Efficacy", "share_improved", "higher_is_better", 50,
     "50% of teachers improved their overall scores (empowerment, support from school leader, personalized "
     "learning practice)"),
]
SHORT = {row[0]: row[1] for row in _FALLBACK}


def _num(x) -> float | None:
    try:
        v = float(x)
    except (TypeError, ValueError):
        return None
    return v if math.isfinite(v) else None


def load_targets(path: Path | None = None) -> dict[str, TargetInfo]:
    """Target id -> wording and rule. Reads config/targets.yaml tolerantly; never fails the publish."""
    out: dict[str, TargetInfo] = {}
    for i, (tid, short, cat, rule, direction, thr, label) in enumerate(_FALLBACK):
        out[tid] = TargetInfo(tid, label, short, cat, rule, direction, float(thr), (), i)
    path = path or config_dir() / "targets.yaml"
    try:
        with open(path, encoding="utf-8") as fh:
            doc = yaml.safe_load(fh) or {}
    except (OSError, yaml.YAMLError):
        return out
    targets = doc.get("targets") if isinstance(doc, dict) else None
    if isinstance(targets, dict):
        targets = [{"id": k, **(v or {})} for k, v in targets.items()]
    if not isinstance(targets, list):
        return out
    for j, t in enumerate(targets):
        if not isinstance(t, dict) or not t.get("id"):
            continue
        tid = str(t["id"])
        base = out.get(tid)
        areas = t.get("areas") or (base.areas if base else ())
        out[tid] = TargetInfo(
            id=tid,
            label=str(t.get("label") or (base.label if base else tid)).strip(),
            short=SHORT.get(tid, tid.replace("_", " ").capitalize()),
            category=str(t.get("category") or (base.category if base else "Other")),
            rule=str(t.get("rule") or (base.rule if base else "")),
            direction=str(t.get("direction") or (base.direction if base else "higher_is_better")),
            threshold=_num(t.get("threshold")) if t.get("threshold") is not None else (base.threshold if base else None),
            areas=tuple(str(a) for a in areas),
            order=j,
        )
    return out


def target_info(targets: dict[str, TargetInfo], target_id: str) -> TargetInfo:
    if target_id in targets:
        return targets[target_id]
    return TargetInfo(target_id, target_id.replace("_", " "), target_id.replace("_", " ").capitalize(), "Other",
                      order=1000)


# --- ratings and statuses -------------------------------------------------------------------------------------
RATED = {"met": 4, "moving_toward": 3, "initial_steps": 2, "area_of_concern": 1}
RATING_LABEL = {4: "Sustainable", 3: "Moving toward", 2: "Initial steps", 1: "Area of concern"}
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
UNRATED_ORDER = ["not_yet_due", "insufficient_data", "not_comparable"]


def rating_css(rating, status: str | None) -> str:
    """CSS class of a rating cell: r1..r4 for ratings, s-<status> for the unrated statuses."""
    r = _num(rating)
    if status in RATED:
        return f"r{RATED[status]}"
    if r is not None and 1 <= r <= 4 and status not in STATUS_SHORT:
        return f"r{int(r)}"
    return f"s-{status or 'insufficient_data'}".replace("_", "-")


def rating_text(rating, rating_label: str | None, status: str | None) -> str:
    r = _num(rating)
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
REQUIRED_SUBGROUPS = ["low_income", "black", "latino", "el", "swd"]
_SUBGROUP_FALLBACK = {
    "all": ("All students", ""),
    "low_income": ("Low income / FRL", "non_low_income"),
    "non_low_income": ("Not low income", "low_income"),
    "black": ("Black / African American", "non_black"),
    "non_black": ("Not Black", "black"),
    "latino": ("Hispanic / Latino", "non_latino"),
    "non_latino": ("Not Hispanic / Latino", "latino"),
    "el": ("English learners", "non_el"),
    "non_el": ("Not English learners", "el"),
    "swd": ("Students with disabilities", "non_swd"),
    "non_swd": ("Students without disabilities", "swd"),
}


def load_subgroups() -> dict[str, tuple[str, str]]:
    """subgroup -> (label, complement or '')."""
    out = dict(_SUBGROUP_FALLBACK)
    try:
        with open(config_dir() / "subgroups.csv", encoding="utf-8", newline="") as fh:
            for row in csv.DictReader(fh):
                sg = (row.get("subgroup") or "").strip()
                if sg:
                    out[sg] = ((row.get("label") or sg).strip(), (row.get("complement") or "").strip())
    except OSError:
        pass
    return out


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

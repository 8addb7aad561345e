"""The target catalog (``config/targets.yaml``): read and checked by the pydantic models below (types, allowed
values, and the cross-references in their ``model_validator``\\ s).

Every problem is reported with the file and the key (``targets[absence].threshold``) and how to fix it. A user's
catalog may leave out ``ratings`` and ``metric_types`` (taken from the shipped file) and any key of ``defaults`` and
``comparability`` (each missing key taken from the shipped file): values are written once, in the shipped YAML.
"""

from __future__ import annotations

import typing
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field, ValidationInfo, model_validator

from .. import crosswalk
from ..catalog import (
    Direction,
    Items,
    Number,
    Positive,
    Source,
    Strict,
    Text,
    Word,
    Year,
    listed,
    load_yaml,
    problem,
    read_yaml,
    unique_ids,
)
from ..paths import config_dir

Rule = Literal["relative_change", "absolute_change", "level", "share_improved", "gap_closure", "level_or_increase"]
Subject = Literal["ela", "math", "sci"]
Domain = Literal["attendance", "discipline", "assessment", "survey", "capstone", "college"]
Category = Literal["Engagement", "Achievement", "College and Career Readiness", "Teacher Efficacy"]
Rated = Literal["met", "moving_toward", "initial_steps", "area_of_concern"]
Status = Literal[Rated, "insufficient_data", "not_yet_due", "not_comparable", "met_not_distinguishable"]
# Flags that may be listed in not_comparable_on.
ComparabilityFlag = Literal["test_transition", "metric_changed", "no_2020_assessments", "remote_2021",
                            "income_definition_change", "grade_span_changed", "n_changed_over_half",
                            "baseline_not_comparable"]
CATEGORIES, STATUSES = typing.get_args(Category), typing.get_args(Status)
# Every flag a comparison can carry, in the order target_results.flags lists them (docs/targets.md): the
# comparability flags, then those that describe the values.
FLAGS = typing.get_args(ComparabilityFlag) + (
    "n_unknown", "n_from_enrollment", "sd_unknown", "small_n", "baseline_zero", "no_baseline_gap", "gap_vs_all",
    "state_value_other_source", "suppressed", "baseline_window_partial", "not_distinguishable_from_noise",
    "closed_by_state_change", "few_peers")
# Rules judged on the current year alone (a baseline is context, not required).
RULES_WITHOUT_BASELINE = ("share_improved", "level", "level_or_increase")
INHERITED = ("min_n", "subgroups", "grades", "sources", "not_comparable_on")  # from defaults unless a target sets it
SHIPPED_FIX = "compare with config/targets.yaml (docs/targets.md explains every key)."
Grades = listed(Text, 1)  # or 'any'
Flags = listed(ComparabilityFlag)
Grade = Annotated[int, Field(strict=True, ge=-1, le=12)]


class RatingLevel(Strict):
    rating: Annotated[int, Field(strict=True, ge=1, le=4)]
    label: Text
    status: Rated
    min_progress_pct: Number | None = None
    inclusive: bool = Field(True, strict=True)


class Evidence(Strict):
    """A rating the point estimate alone cannot earn: ``rating`` needs a change distinguishable from noise (its
    interval at the catalog's confidence excludes no change; for share and level rules the binomial test against
    the threshold); without it the result gets ``else_rating`` with ``else_status`` / ``else_label``."""

    rating: Annotated[int, Field(strict=True, ge=2, le=4)]
    else_rating: Annotated[int, Field(strict=True, ge=1, le=3)]
    else_status: Literal["met_not_distinguishable"]
    else_label: Text

    @model_validator(mode="after")
    def _lower(self) -> Evidence:
        if self.else_rating >= self.rating:
            raise problem(f"must be below rating ({self.rating}).", "else_rating")
        return self


class Ratings(Strict):
    levels: tuple[RatingLevel, ...]
    evidence: Evidence | None = None

    @model_validator(mode="after")
    def _scale(self) -> Ratings:
        if [lv.rating for lv in self.levels] != [4, 3, 2, 1]:
            raise problem("levels must define ratings 4, 3, 2 and 1, listed from 4 down to 1.", "levels")
        if self.levels[-1].min_progress_pct is not None:
            raise problem("the last level (rating 1) takes everything else: min_progress_pct must be null.",
                          ("levels", 3, "min_progress_pct"))
        bounds = [lv.min_progress_pct for lv in self.levels[:-1]]
        if None in bounds or bounds != sorted(bounds, reverse=True):  # type: ignore[type-var]
            raise problem("min_progress_pct must be set and decrease from rating 4 to rating 2.", "levels")
        return self


class Defaults(Strict):
    """Values every target inherits unless it sets its own (and the catalog's statistics settings)."""

    min_n: Positive
    small_n: Positive
    n_change_ratio: Annotated[Number, Field(ge=0)]
    confidence: Annotated[Number, Field(ge=0.5, le=0.999)]
    peers_k: Positive
    min_peers: Positive
    subgroups: listed(Text, 1)
    grades: Grades
    sources: listed(Source, 1)
    not_comparable_on: Flags
    percentile_metrics: Items


class Comparability(Strict):
    legacy_assessment_metrics: Items
    next_gen_assessment_metrics: Items
    # subject (or 'default') -> grade band -> first spring
    next_gen_first_year: dict[Literal["default", Subject], dict[Literal["grades_03_08", "grade_10"], Year]]
    no_assessment_years: tuple[Year, ...]
    remote_years: tuple[Year, ...]
    income_definition_change_years: tuple[Year, ...]
    income_subgroups: Items
    not_comparable_baselines: dict[Domain, tuple[Year, ...]]  # domain -> baseline years that are not rated

    @model_validator(mode="after")
    def _default(self) -> Comparability:
        if "default" not in self.next_gen_first_year:
            raise problem("needs a 'default' entry.", "next_gen_first_year")
        return self


class Target(Strict):
    id: Word = Field(description="a word of letters, digits and underscores")
    label: Text
    short: Text  # a few words for tables and charts (default: the id in words)
    areas: Items = ()
    category: Category
    metrics: listed(Text, 1)
    sources: listed(Source, 1)
    subjects: listed(Literal[Subject, "any"], 1) | None = None  # None = subject-less metric
    grades: Grades
    unit: Literal["grade"] | None = None
    subgroups: listed(Text, 1)
    rule: Rule
    threshold: Number
    direction: Direction
    reference: Literal["state", "complement"] | None = None
    compare_to: Literal["baseline", "prior_year"]
    domain: Domain
    applies_to_grades: tuple[Grade, Grade] | None = Field(None, description="[low, high] grades (0 = K)")
    due_from_implementation_year: Annotated[int, Field(strict=True, ge=1, le=20)]
    min_n: Positive
    not_comparable_on: Flags
    notes: Text | None = None

    @model_validator(mode="before")
    @classmethod
    def _inherit(cls, data: Any, info: ValidationInfo) -> Any:
        if not isinstance(data, dict):
            return data
        defaults = (info.context or {}).get("defaults") or {}
        data = {**{k: defaults[k] for k in INHERITED if k in defaults}, **data}
        data.setdefault("compare_to", "prior_year" if data.get("rule") == "level_or_increase" else "baseline")
        return {**data, "short": data.get("short") or str(data.get("id")).replace("_", " ").capitalize()}

    @model_validator(mode="after")
    def _consistent(self, info: ValidationInfo) -> Target:
        _check_threshold(self)
        metric_types = (info.context or {}).get("metric_types") or {}
        for j, m in enumerate(self.metrics):
            if m not in metric_types:
                raise problem("unknown metric (not in metric_types).", ("metrics", j),
                              "use a metric id of metric_values and list it under metric_types.")
        if self.rule in ("share_improved", "level_or_increase"):
            if self.direction != "higher_is_better":
                raise problem(f"{self.rule} targets are higher_is_better.", "direction")
            if {metric_types[m] for m in self.metrics} != {"proportion"}:
                raise problem(f"{self.rule} needs proportion metrics.", "metrics")
        if self.unit == "grade" and self.rule not in ("absolute_change", "relative_change"):
            raise problem("unit: grade is supported for absolute_change and relative_change only.", "unit")
        if self.unit == "grade" and self.any_grade:
            raise problem("unit: grade needs an explicit list of grades.", "grades")
        complements = {k: v.get("complement") or None for k, v in crosswalk.subgroups().items()}
        for j, s in enumerate(self.subgroups):
            if complements and s not in complements:
                raise problem("unknown subgroup (not in config/subgroups.csv).", ("subgroups", j))
        if (self.rule == "gap_closure") != (self.reference is not None):
            raise problem("gap_closure needs reference: state or complement; other rules take none.", "reference")
        if self.reference == "complement" and "all" in self.subgroups:
            raise problem("'all' has no complement.", ("subgroups", self.subgroups.index("all")))
        if self.applies_to_grades and self.applies_to_grades[0] > self.applies_to_grades[1]:
            raise problem("must be [low, high] grades (0 = K), low first.", "applies_to_grades")
        return self

    @property
    def needs_baseline(self) -> bool:
        return self.rule not in RULES_WITHOUT_BASELINE

    @property
    def higher_is_better(self) -> bool:
        return self.direction == "higher_is_better"

    @property
    def any_subject(self) -> bool:
        return self.subjects == ("any",)

    @property
    def any_grade(self) -> bool:
        return self.grades == ("any",)


def _check_threshold(t: Target) -> None:
    better = (t.threshold > 0) == t.higher_is_better
    if t.rule == "relative_change":
        text = None if t.threshold != 0 and better and t.threshold > -100 else (
            "a relative_change threshold is a percent change in the better direction: negative (> -100) for "
            "lower_is_better, positive for higher_is_better.")
    elif t.rule == "absolute_change":
        text = None if t.threshold != 0 and better else (
            "an absolute_change threshold must be a non-zero change in the better direction.")
    elif t.rule == "gap_closure":
        text = None if 0 < t.threshold <= 100 else (
            "a gap_closure threshold is the percent of the baseline gap to close (0 < t <= 100).")
    else:
        text = None if 0 < t.threshold <= 100 else f"a {t.rule} threshold is a percent level (0 < t <= 100)."
    if text:
        raise problem(text, "threshold")


class Catalog(Strict):
    path: Path
    version: int = 1
    ratings: Ratings
    defaults: Defaults
    comparability: Comparability
    metric_types: dict[str, Literal["proportion", "percent", "mean", "median"]]
    targets: Annotated[tuple[Target, ...], Field(min_length=1)]

    @model_validator(mode="after")
    def _unique(self) -> Catalog:
        unique_ids(self.targets, "targets")
        return self

    def target(self, target_id: str) -> Target:
        return {t.id: t for t in self.targets}[target_id]  # KeyError for an unknown id

    @property
    def alpha(self) -> float:
        return 1 - self.defaults.confidence

    def __getattr__(self, name: str) -> Any:  # small_n, n_change_ratio, confidence, peers_k, min_peers, ...
        if name in Defaults.model_fields:
            return getattr(self.defaults, name)
        return super().__getattr__(name)


def default_targets_file() -> Path:
    return config_dir() / "targets.yaml"


def load_catalog(path: Path | str | None = None) -> Catalog:
    """Load and validate a target catalog. ``None`` loads ``config/targets.yaml``."""
    shipped_path = default_targets_file()
    path = Path(path) if path is not None else shipped_path
    data = read_yaml(path, "target catalog", "pass an existing YAML file (copy config/targets.yaml).")
    if not isinstance(data, dict):
        return load_yaml(Catalog, path, "target catalog", SHIPPED_FIX, data=data)
    shipped: dict = {}
    if path.resolve() != shipped_path.resolve():
        shipped = read_yaml(shipped_path, "the shipped target catalog", "reinstall equity-outcomes.")
        load_catalog(shipped_path)  # its problems are said with its own file
    merged = {**{k: v for k, v in shipped.items() if k != "targets"}, **data, "path": path}
    for name in ("defaults", "comparability"):  # each key a user's section leaves out: the shipped value
        if isinstance(data.get(name), dict):
            merged[name] = {**shipped.get(name, {}), **data[name]}
    mappings = {name: merged.get(name) if isinstance(merged.get(name), dict) else {}
                for name in ("defaults", "metric_types")}
    return load_yaml(Catalog, path, "target catalog", SHIPPED_FIX, data=merged, **mappings)

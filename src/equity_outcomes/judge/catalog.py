"""The target catalog (``config/targets.yaml``): load, validate, and expose as frozen dataclasses.

Every problem is reported with the file and the key (``targets[absence].threshold``) and how to fix it.
"""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from ..errors import InputError
from ..paths import config_dir

RULES = ("relative_change", "absolute_change", "level", "share_improved", "gap_closure", "level_or_increase")
DIRECTIONS = ("lower_is_better", "higher_is_better")
SOURCES = ("dese", "student")
SUBJECTS = ("ela", "math", "sci")
DOMAINS = ("attendance", "discipline", "assessment", "survey", "capstone", "college")
CATEGORIES = ("Engagement", "Achievement", "College and Career Readiness", "Teacher Efficacy")
METRIC_TYPES = ("proportion", "percent", "mean", "median")
STATUSES = (
    "met",
    "moving_toward",
    "initial_steps",
    "area_of_concern",
    "insufficient_data",
    "not_yet_due",
    "not_comparable",
)
# Rules judged on the current year alone (a baseline is context, not required).
RULES_WITHOUT_BASELINE = ("share_improved", "level", "level_or_increase")
# Flags that may be listed in not_comparable_on.
COMPARABILITY_FLAGS = (
    "test_transition",
    "metric_changed",
    "no_2020_assessments",
    "remote_2021",
    "income_definition_change",
    "grade_span_changed",
    "n_changed_over_half",
)

# Every flag a comparison can carry, in the order target_results.flags lists them (docs/targets.md): the
# comparability flags, then those that describe the values.
FLAGS = COMPARABILITY_FLAGS + (
    "n_unknown",
    "sd_unknown",
    "small_n",
    "baseline_zero",
    "no_baseline_gap",
    "gap_vs_all",
    "state_value_other_source",
    "suppressed",
    "baseline_window_partial",
    "not_distinguishable_from_noise",
)

TARGET_KEYS = {
    "id",
    "label",
    "areas",
    "category",
    "metrics",
    "sources",
    "subjects",
    "grades",
    "unit",
    "subgroups",
    "rule",
    "threshold",
    "direction",
    "reference",
    "compare_to",
    "domain",
    "applies_to_grades",
    "due_from_implementation_year",
    "min_n",
    "not_comparable_on",
    "notes",
}
REQUIRED_TARGET_KEYS = (
    "id",
    "label",
    "category",
    "metrics",
    "rule",
    "threshold",
    "direction",
    "domain",
    "due_from_implementation_year",
)
TOP_KEYS = {"version", "ratings", "defaults", "comparability", "metric_types", "targets"}
DEFAULT_KEYS = {
    "min_n",
    "small_n",
    "n_change_ratio",
    "confidence",
    "peers_k",
    "subgroups",
    "grades",
    "sources",
    "not_comparable_on",
}
COMPARABILITY_KEYS = {
    "legacy_assessment_metrics",
    "next_gen_assessment_metrics",
    "next_gen_first_year",
    "no_assessment_years",
    "remote_years",
    "income_definition_change_years",
    "income_subgroups",
}


class CatalogError(InputError):
    """A target catalog that cannot be used; names the file and the key."""

    def __init__(
        self,
        problem: str,
        *,
        file: str | None = None,
        key: str | None = None,
        value: object = None,
        fix: str | None = None,
    ) -> None:
        self.key = key
        super().__init__(problem, file=file, column=None, value=value, fix=fix)

    def render(self) -> str:
        where = []
        if self.file:
            where.append(f"file {self.file}")
        if getattr(self, "key", None):
            where.append(f"key {self.key}")
        if self.value is not None:
            where.append(f"value {self.value!r}")
        msg = self.problem
        if where:
            msg = f"{', '.join(where)}: {msg}"
        if self.fix:
            msg += f" How to fix: {self.fix}"
        return msg


@dataclass(frozen=True)
class RatingLevel:
    rating: int
    label: str
    status: str
    min_progress_pct: float | None
    inclusive: bool = True


@dataclass(frozen=True)
class Ratings:
    levels: tuple[RatingLevel, ...]

    def label_for(self, rating: int) -> str:
        return next(lv.label for lv in self.levels if lv.rating == rating)

    def status_for(self, rating: int) -> str:
        return next(lv.status for lv in self.levels if lv.rating == rating)


@dataclass(frozen=True)
class Comparability:
    # metric and subgroup ids: no defaults here, a file that omits them gets the shipped targets.yaml's
    legacy_assessment_metrics: tuple[str, ...] = ()
    next_gen_assessment_metrics: tuple[str, ...] = ()
    next_gen_first_year: dict[str, dict[str, int]] = field(
        default_factory=lambda: {"default": {"grades_03_08": 2017, "grade_10": 2019}}
    )
    no_assessment_years: tuple[int, ...] = (2020,)
    remote_years: tuple[int, ...] = (2021,)
    income_definition_change_years: tuple[int, ...] = (2015, 2022)
    income_subgroups: tuple[str, ...] = ()

    def first_year(self, subject: str | None, band: str) -> int | None:
        table = self.next_gen_first_year.get(subject or "", None) or {}
        if band in table:
            return table[band]
        return self.next_gen_first_year.get("default", {}).get(band)


@dataclass(frozen=True)
class Target:
    id: str
    label: str
    category: str
    metrics: tuple[str, ...]
    sources: tuple[str, ...]
    subjects: tuple[str, ...] | None  # None = subject-less metric; ("*",) = any subject found
    grades: tuple[str, ...]  # ("*",) = any grade found
    unit: str | None
    subgroups: tuple[str, ...]
    rule: str
    threshold: float
    direction: str
    reference: str | None
    compare_to: str
    domain: str
    applies_to_grades: tuple[int, int] | None
    due_from_implementation_year: int
    min_n: int
    not_comparable_on: tuple[str, ...]
    notes: str = ""
    areas: tuple[str, ...] = ()

    @property
    def needs_baseline(self) -> bool:
        return self.rule not in RULES_WITHOUT_BASELINE

    @property
    def higher_is_better(self) -> bool:
        return self.direction == "higher_is_better"

    @property
    def any_subject(self) -> bool:
        return self.subjects == ("*",)

    @property
    def any_grade(self) -> bool:
        return self.grades == ("*",)


@dataclass(frozen=True)
class Catalog:
    path: Path
    ratings: Ratings
    targets: tuple[Target, ...]
    metric_types: dict[str, str]
    comparability: Comparability
    small_n: int = 30
    n_change_ratio: float = 0.5
    confidence: float = 0.95
    peers_k: int = 10

    def target(self, target_id: str) -> Target:
        for t in self.targets:
            if t.id == target_id:
                return t
        raise KeyError(target_id)

    @property
    def alpha(self) -> float:
        return 1 - self.confidence


def default_targets_file() -> Path:
    return config_dir() / "targets.yaml"


def _known_subgroups() -> dict[str, str | None]:
    """subgroup id -> complement id, from config/subgroups.csv (empty dict when the file is missing)."""
    path = config_dir() / "subgroups.csv"
    if not path.exists():
        return {}
    with path.open(newline="", encoding="utf-8") as fh:
        return {row["subgroup"]: (row.get("complement") or None) for row in csv.DictReader(fh)}


def subgroup_complements() -> dict[str, str | None]:
    return _known_subgroups()


def _read_yaml(path: Path) -> dict[str, Any]:
    if not path.exists():
        raise CatalogError(
            "target catalog not found.",
            file=str(path),
            fix="pass an existing YAML file (copy config/targets.yaml).",
        )
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise CatalogError(f"not valid YAML ({exc}).", file=str(path), fix="fix the YAML syntax.") from exc
    if not isinstance(data, dict):
        raise CatalogError(
            "the catalog must be a mapping with a 'targets' list.",
            file=str(path),
            fix="start from a copy of config/targets.yaml.",
        )
    return data


def load_catalog(path: Path | str | None = None) -> Catalog:
    """Load and validate a target catalog. ``None`` loads ``config/targets.yaml``.

    A custom file may leave out ``ratings``, ``defaults``, ``comparability`` and ``metric_types``: those sections
    then come from the default catalog.
    """
    default_path = default_targets_file()
    path = Path(path) if path is not None else default_path
    data = _read_yaml(path)
    fname = str(path)
    unknown = set(data) - TOP_KEYS
    if unknown:
        raise CatalogError(
            f"unknown top-level key(s) {sorted(unknown)}.",
            file=fname,
            key=sorted(unknown)[0],
            fix=f"use only {sorted(TOP_KEYS)}.",
        )
    base: dict[str, Any] = {}
    if (
        path.resolve() != default_path.resolve()
        and default_path.exists()
        and any(k not in data for k in ("ratings", "defaults", "comparability", "metric_types"))
    ):
        base = _read_yaml(default_path)

    def section(name: str) -> tuple[Any, str]:
        if name in data:
            return data[name], fname
        return base.get(name), str(default_path)

    ratings_raw, rfile = section("ratings")
    ratings = _parse_ratings(ratings_raw, rfile)
    defaults_raw, dfile = section("defaults")
    defaults = _parse_defaults(defaults_raw or {}, dfile)
    comp_raw, cfile = section("comparability")
    comparability = _parse_comparability(comp_raw or {}, cfile)
    types_raw, tfile = section("metric_types")
    metric_types = _parse_metric_types(types_raw or {}, tfile)

    targets_raw = data.get("targets")
    if not isinstance(targets_raw, list) or not targets_raw:
        raise CatalogError(
            "'targets' must be a non-empty list.",
            file=fname,
            key="targets",
            fix="list the targets, each a mapping with id, label, rule, ...",
        )
    subgroups = _known_subgroups()
    targets: list[Target] = []
    seen: set[str] = set()
    for i, raw in enumerate(targets_raw):
        t = _parse_target(raw, i, fname, defaults, metric_types, subgroups)
        if t.id in seen:
            raise CatalogError(
                "duplicate target id.",
                file=fname,
                key=f"targets[{i}].id",
                value=t.id,
                fix="give every target a unique id.",
            )
        seen.add(t.id)
        targets.append(t)
    return Catalog(
        path=path,
        ratings=ratings,
        targets=tuple(targets),
        metric_types=metric_types,
        comparability=comparability,
        small_n=defaults["small_n"],
        n_change_ratio=defaults["n_change_ratio"],
        confidence=defaults["confidence"],
        peers_k=defaults["peers_k"],
    )


# ------------------------------------------------------------------------------------------------ sections


def _num(
    value: Any,
    file: str,
    key: str,
    *,
    integer: bool = False,
    minimum: float | None = None,
    maximum: float | None = None,
) -> float:
    ok = isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
    if ok and integer and not float(value).is_integer():
        ok = False
    if not ok:
        kind = "an integer" if integer else "a number"
        raise CatalogError(f"must be {kind}.", file=file, key=key, value=value, fix=f"write {kind}.")
    if minimum is not None and value < minimum:
        raise CatalogError(f"must be at least {minimum}.", file=file, key=key, value=value)
    if maximum is not None and value > maximum:
        raise CatalogError(f"must be at most {maximum}.", file=file, key=key, value=value)
    return int(value) if integer else float(value)


def _str_list(
    value: Any, file: str, key: str, *, allowed: tuple[str, ...] | None = None, allow_empty: bool = False
) -> tuple[str, ...]:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or (not value and not allow_empty):
        raise CatalogError(
            "must be a list" + ("" if allow_empty else " with at least one item") + ".",
            file=file,
            key=key,
            value=value,
            fix="write a YAML list, e.g. [a, b].",
        )
    out = []
    for j, item in enumerate(value):
        if isinstance(item, int) and not isinstance(item, bool):
            item = f"{item:02d}"
        if not isinstance(item, str) or not item:
            raise CatalogError(
                "list items must be non-empty strings.", file=file, key=f"{key}[{j}]", value=item
            )
        if allowed is not None and item not in allowed:
            raise CatalogError(
                f"unknown value; expected one of {list(allowed)}.", file=file, key=f"{key}[{j}]", value=item
            )
        out.append(item)
    if len(set(out)) != len(out):
        raise CatalogError("list has duplicates.", file=file, key=key, value=value)
    return tuple(out)


def _parse_ratings(raw: Any, file: str) -> Ratings:
    if not isinstance(raw, dict) or not isinstance(raw.get("levels"), list):
        raise CatalogError(
            "'ratings' must be a mapping with a 'levels' list.",
            file=file,
            key="ratings.levels",
            fix="copy the ratings section of config/targets.yaml.",
        )
    levels = []
    for i, lv in enumerate(raw["levels"]):
        key = f"ratings.levels[{i}]"
        if not isinstance(lv, dict):
            raise CatalogError("each level must be a mapping.", file=file, key=key, value=lv)
        extra = set(lv) - {"rating", "label", "status", "min_progress_pct", "inclusive"}
        if extra:
            raise CatalogError(f"unknown key(s) {sorted(extra)}.", file=file, key=f"{key}.{sorted(extra)[0]}")
        rating = _num(lv.get("rating"), file, f"{key}.rating", integer=True, minimum=1, maximum=4)
        label = lv.get("label")
        if not isinstance(label, str) or not label:
            raise CatalogError("must be a non-empty string.", file=file, key=f"{key}.label", value=label)
        status = lv.get("status")
        if status not in STATUSES[:4]:
            raise CatalogError(
                f"must be one of {list(STATUSES[:4])}.", file=file, key=f"{key}.status", value=status
            )
        mp = lv.get("min_progress_pct")
        mp = None if mp is None else _num(mp, file, f"{key}.min_progress_pct")
        inclusive = lv.get("inclusive", True)
        if not isinstance(inclusive, bool):
            raise CatalogError("must be true or false.", file=file, key=f"{key}.inclusive", value=inclusive)
        levels.append(RatingLevel(int(rating), label, status, mp, inclusive))
    if sorted(lv.rating for lv in levels) != [1, 2, 3, 4]:
        raise CatalogError(
            "levels must define ratings 4, 3, 2 and 1 exactly once.", file=file, key="ratings.levels"
        )
    if [lv.rating for lv in levels] != [4, 3, 2, 1]:
        raise CatalogError("levels must be listed from 4 down to 1.", file=file, key="ratings.levels")
    if levels[-1].min_progress_pct is not None:
        raise CatalogError(
            "the last level (rating 1) takes everything else: min_progress_pct must be null.",
            file=file,
            key="ratings.levels[3].min_progress_pct",
        )
    bounds = [lv.min_progress_pct for lv in levels[:-1]]
    if any(b is None for b in bounds) or bounds != sorted(bounds, reverse=True):  # type: ignore[type-var]
        raise CatalogError(
            "min_progress_pct must be set and decrease from rating 4 to rating 2.",
            file=file,
            key="ratings.levels",
        )
    return Ratings(tuple(levels))


def _parse_defaults(raw: Any, file: str) -> dict[str, Any]:
    if not isinstance(raw, dict):
        raise CatalogError("'defaults' must be a mapping.", file=file, key="defaults")
    extra = set(raw) - DEFAULT_KEYS
    if extra:
        raise CatalogError(
            f"unknown key(s) {sorted(extra)}.",
            file=file,
            key=f"defaults.{sorted(extra)[0]}",
            fix=f"use only {sorted(DEFAULT_KEYS)}.",
        )
    return {
        "min_n": _num(raw.get("min_n", 10), file, "defaults.min_n", integer=True, minimum=1),
        "small_n": _num(raw.get("small_n", 30), file, "defaults.small_n", integer=True, minimum=1),
        "n_change_ratio": _num(raw.get("n_change_ratio", 0.5), file, "defaults.n_change_ratio", minimum=0),
        "confidence": _num(
            raw.get("confidence", 0.95), file, "defaults.confidence", minimum=0.5, maximum=0.999
        ),
        "peers_k": _num(raw.get("peers_k", 10), file, "defaults.peers_k", integer=True, minimum=1),
        "subgroups": _str_list(raw.get("subgroups", ["all"]), file, "defaults.subgroups"),
        "grades": _str_list(raw.get("grades", ["all"]), file, "defaults.grades"),
        "sources": _str_list(raw.get("sources", list(SOURCES)), file, "defaults.sources", allowed=SOURCES),
        "not_comparable_on": _str_list(
            raw.get("not_comparable_on", ["metric_changed", "test_transition"]),
            file,
            "defaults.not_comparable_on",
            allowed=COMPARABILITY_FLAGS,
            allow_empty=True,
        ),
    }


def _years(value: Any, file: str, key: str) -> tuple[int, ...]:
    if not isinstance(value, list):
        raise CatalogError("must be a list of years.", file=file, key=key, value=value)
    return tuple(
        int(_num(v, file, f"{key}[{j}]", integer=True, minimum=1990, maximum=2100))
        for j, v in enumerate(value)
    )


def _parse_comparability(raw: Any, file: str) -> Comparability:
    if not isinstance(raw, dict):
        raise CatalogError("'comparability' must be a mapping.", file=file, key="comparability")
    extra = set(raw) - COMPARABILITY_KEYS
    if extra:
        raise CatalogError(
            f"unknown key(s) {sorted(extra)}.",
            file=file,
            key=f"comparability.{sorted(extra)[0]}",
            fix=f"use only {sorted(COMPARABILITY_KEYS)}.",
        )
    d = Comparability()
    shipped = default_targets_file()
    if Path(file).resolve() != shipped.resolve() and shipped.exists():
        # ids a user's file leaves out come from the shipped catalog, never from code
        raw = {**(_read_yaml(shipped).get("comparability") or {}), **raw}
    ngfy = raw.get("next_gen_first_year", d.next_gen_first_year)
    if not isinstance(ngfy, dict) or "default" not in ngfy:
        raise CatalogError(
            "must be a mapping with a 'default' entry.", file=file, key="comparability.next_gen_first_year"
        )
    table: dict[str, dict[str, int]] = {}
    for subj, bands in ngfy.items():
        k = f"comparability.next_gen_first_year.{subj}"
        if subj != "default" and subj not in SUBJECTS:
            raise CatalogError(
                f"unknown subject; expected default or one of {list(SUBJECTS)}.", file=file, key=k
            )
        if not isinstance(bands, dict) or set(bands) - {"grades_03_08", "grade_10"}:
            raise CatalogError(
                "must be a mapping of grades_03_08 / grade_10 to a year.", file=file, key=k, value=bands
            )
        table[subj] = {
            b: int(_num(y, file, f"{k}.{b}", integer=True, minimum=1990, maximum=2100))
            for b, y in bands.items()
        }
    return Comparability(
        legacy_assessment_metrics=_str_list(
            raw.get("legacy_assessment_metrics", list(d.legacy_assessment_metrics)),
            file,
            "comparability.legacy_assessment_metrics",
            allow_empty=True,
        ),
        next_gen_assessment_metrics=_str_list(
            raw.get("next_gen_assessment_metrics", list(d.next_gen_assessment_metrics)),
            file,
            "comparability.next_gen_assessment_metrics",
            allow_empty=True,
        ),
        next_gen_first_year=table,
        no_assessment_years=_years(
            raw.get("no_assessment_years", list(d.no_assessment_years)),
            file,
            "comparability.no_assessment_years",
        ),
        remote_years=_years(
            raw.get("remote_years", list(d.remote_years)), file, "comparability.remote_years"
        ),
        income_definition_change_years=_years(
            raw.get("income_definition_change_years", list(d.income_definition_change_years)),
            file,
            "comparability.income_definition_change_years",
        ),
        income_subgroups=_str_list(
            raw.get("income_subgroups", list(d.income_subgroups)),
            file,
            "comparability.income_subgroups",
            allow_empty=True,
        ),
    )


def _parse_metric_types(raw: Any, file: str) -> dict[str, str]:
    if not isinstance(raw, dict):
        raise CatalogError(
            "'metric_types' must be a mapping of metric id to type.", file=file, key="metric_types"
        )
    for metric, kind in raw.items():
        if kind not in METRIC_TYPES:
            raise CatalogError(
                f"unknown metric type; expected one of {list(METRIC_TYPES)}.",
                file=file,
                key=f"metric_types.{metric}",
                value=kind,
            )
    return {str(k): str(v) for k, v in raw.items()}


def _parse_target(
    raw: Any,
    i: int,
    file: str,
    defaults: dict[str, Any],
    metric_types: dict[str, str],
    subgroups: dict[str, str | None],
) -> Target:
    if not isinstance(raw, dict):
        raise CatalogError("each target must be a mapping.", file=file, key=f"targets[{i}]", value=raw)
    tid = raw.get("id")
    if not isinstance(tid, str) or not tid.replace("_", "").isalnum():
        raise CatalogError(
            "target id must be a word of letters, digits and underscores.",
            file=file,
            key=f"targets[{i}].id",
            value=tid,
        )
    p = f"targets[{tid}]"
    extra = set(raw) - TARGET_KEYS
    if extra:
        raise CatalogError(
            f"unknown key(s) {sorted(extra)}.",
            file=file,
            key=f"{p}.{sorted(extra)[0]}",
            fix=f"use only {sorted(TARGET_KEYS)}.",
        )
    for key in REQUIRED_TARGET_KEYS:
        if raw.get(key) is None:
            raise CatalogError(
                "required key is missing.",
                file=file,
                key=f"{p}.{key}",
                fix="see config/targets.yaml for an example target.",
            )
    label = raw["label"]
    if not isinstance(label, str) or not label.strip():
        raise CatalogError("must be a non-empty string.", file=file, key=f"{p}.label", value=label)
    category = raw["category"]
    if category not in CATEGORIES:
        raise CatalogError(
            f"unknown category; expected one of {list(CATEGORIES)}.",
            file=file,
            key=f"{p}.category",
            value=category,
        )
    rule = raw["rule"]
    if rule not in RULES:
        raise CatalogError(
            f"unknown rule; expected one of {list(RULES)}.", file=file, key=f"{p}.rule", value=rule
        )
    direction = raw["direction"]
    if direction not in DIRECTIONS:
        raise CatalogError(
            f"must be one of {list(DIRECTIONS)}.", file=file, key=f"{p}.direction", value=direction
        )
    threshold = _num(raw["threshold"], file, f"{p}.threshold")
    if rule == "relative_change":
        if threshold == 0 or (threshold > 0) != (direction == "higher_is_better") or threshold <= -100:
            raise CatalogError(
                "a relative_change threshold is a percent change in the better direction: negative (> -100) for "
                "lower_is_better, positive for higher_is_better.",
                file=file,
                key=f"{p}.threshold",
                value=threshold,
            )
    elif rule == "absolute_change":
        if threshold == 0 or (threshold > 0) != (direction == "higher_is_better"):
            raise CatalogError(
                "an absolute_change threshold must be a non-zero change in the better direction.",
                file=file,
                key=f"{p}.threshold",
                value=threshold,
            )
    elif rule == "gap_closure":
        if not 0 < threshold <= 100:
            raise CatalogError(
                "a gap_closure threshold is the percent of the baseline gap to close (0 < t <= 100).",
                file=file,
                key=f"{p}.threshold",
                value=threshold,
            )
    elif not 0 < threshold <= 100:
        raise CatalogError(
            f"a {rule} threshold is a percent level (0 < t <= 100).",
            file=file,
            key=f"{p}.threshold",
            value=threshold,
        )
    if rule in ("share_improved", "level_or_increase") and direction != "higher_is_better":
        raise CatalogError(
            f"{rule} targets are higher_is_better.", file=file, key=f"{p}.direction", value=direction
        )
    metrics = _str_list(raw["metrics"], file, f"{p}.metrics")
    for j, m in enumerate(metrics):
        if m not in metric_types:
            raise CatalogError(
                "unknown metric (not in metric_types).",
                file=file,
                key=f"{p}.metrics[{j}]",
                value=m,
                fix="use a metric id of metric_values and list it under metric_types.",
            )
    kinds = {metric_types[m] for m in metrics}
    if rule in ("share_improved", "level_or_increase") and kinds != {"proportion"}:
        raise CatalogError(
            f"{rule} needs proportion metrics.", file=file, key=f"{p}.metrics", value=list(metrics)
        )
    sources = _str_list(raw.get("sources", list(defaults["sources"])), file, f"{p}.sources", allowed=SOURCES)
    subj_raw = raw.get("subjects")
    if subj_raw is None:
        subjects: tuple[str, ...] | None = None
    elif subj_raw == "any":
        subjects = ("*",)
    else:
        subjects = _str_list(subj_raw, file, f"{p}.subjects", allowed=SUBJECTS)
    grades_raw = raw.get("grades", list(defaults["grades"]))
    grades = ("*",) if grades_raw == "any" else _str_list(grades_raw, file, f"{p}.grades")
    unit = raw.get("unit")
    if unit not in (None, "grade"):
        raise CatalogError("unit must be null or 'grade'.", file=file, key=f"{p}.unit", value=unit)
    if unit == "grade" and rule not in ("absolute_change", "relative_change"):
        raise CatalogError(
            "unit: grade is supported for absolute_change and relative_change only.",
            file=file,
            key=f"{p}.unit",
            value=unit,
        )
    if unit == "grade" and grades == ("*",):
        raise CatalogError("unit: grade needs an explicit list of grades.", file=file, key=f"{p}.grades")
    sgs = _str_list(raw.get("subgroups", list(defaults["subgroups"])), file, f"{p}.subgroups")
    if subgroups:
        for j, s in enumerate(sgs):
            if s not in subgroups:
                raise CatalogError(
                    "unknown subgroup (not in config/subgroups.csv).",
                    file=file,
                    key=f"{p}.subgroups[{j}]",
                    value=s,
                )
    reference = raw.get("reference")
    if rule == "gap_closure":
        if reference not in ("state", "complement"):
            raise CatalogError(
                "gap_closure needs reference: state or complement.",
                file=file,
                key=f"{p}.reference",
                value=reference,
            )
        if reference == "complement" and subgroups:
            for j, s in enumerate(sgs):
                if s == "all":
                    raise CatalogError(
                        "'all' has no complement.", file=file, key=f"{p}.subgroups[{j}]", value=s
                    )
    elif reference is not None:
        raise CatalogError(
            "reference applies to gap_closure only.", file=file, key=f"{p}.reference", value=reference
        )
    compare_to = raw.get("compare_to", "prior_year" if rule == "level_or_increase" else "baseline")
    if compare_to not in ("baseline", "prior_year"):
        raise CatalogError(
            "compare_to must be baseline or prior_year.", file=file, key=f"{p}.compare_to", value=compare_to
        )
    domain = raw["domain"]
    if domain not in DOMAINS:
        raise CatalogError(
            f"unknown domain; expected one of {list(DOMAINS)}.", file=file, key=f"{p}.domain", value=domain
        )
    atg = raw.get("applies_to_grades")
    applies: tuple[int, int] | None = None
    if atg is not None:
        if not isinstance(atg, list) or len(atg) != 2:
            raise CatalogError(
                "must be [low, high] grades (0 = K).", file=file, key=f"{p}.applies_to_grades", value=atg
            )
        lo = int(_num(atg[0], file, f"{p}.applies_to_grades[0]", integer=True, minimum=-1, maximum=12))
        hi = int(_num(atg[1], file, f"{p}.applies_to_grades[1]", integer=True, minimum=lo, maximum=12))
        applies = (lo, hi)
    due = int(
        _num(
            raw["due_from_implementation_year"],
            file,
            f"{p}.due_from_implementation_year",
            integer=True,
            minimum=1,
            maximum=20,
        )
    )
    min_n = int(_num(raw.get("min_n", defaults["min_n"]), file, f"{p}.min_n", integer=True, minimum=1))
    nco = _str_list(
        raw.get("not_comparable_on", list(defaults["not_comparable_on"])),
        file,
        f"{p}.not_comparable_on",
        allowed=COMPARABILITY_FLAGS,
        allow_empty=True,
    )
    notes = raw.get("notes") or ""
    if not isinstance(notes, str):
        raise CatalogError("must be text.", file=file, key=f"{p}.notes", value=notes)
    areas = _str_list(raw.get("areas", []), file, f"{p}.areas", allow_empty=True)
    return Target(
        id=tid,
        label=label.strip(),
        category=category,
        metrics=metrics,
        sources=sources,
        subjects=subjects,
        grades=grades,
        unit=unit,
        subgroups=sgs,
        rule=rule,
        threshold=threshold,
        direction=direction,
        reference=reference,
        compare_to=compare_to,
        domain=domain,
        applies_to_grades=applies,
        due_from_implementation_year=due,
        min_n=min_n,
        not_comparable_on=nco,
        notes=notes.strip(),
        areas=areas,
    )

"""The target catalog (``config/targets.yaml``): load, validate, and expose as frozen dataclasses.

Every problem is reported with the file and the key (``targets[absence].threshold``) and how to fix it. A user's
catalog may leave out ``ratings`` and ``metric_types`` (taken from the shipped file) and any key of ``defaults`` and
``comparability`` (each missing key taken from the shipped file): values are written once, in the shipped YAML.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from .. import crosswalk
from ..catalog import DIRECTIONS, SOURCES
from ..errors import InputError
from ..paths import config_dir

RULES = ("relative_change", "absolute_change", "level", "share_improved", "gap_closure", "level_or_increase")
SUBJECTS = ("ela", "math", "sci")
DOMAINS = ("attendance", "discipline", "assessment", "survey", "capstone", "college")
CATEGORIES = ("Engagement", "Achievement", "College and Career Readiness", "Teacher Efficacy")
METRIC_TYPES = ("proportion", "percent", "mean", "median")
STATUSES = ("met", "moving_toward", "initial_steps", "area_of_concern", "insufficient_data", "not_yet_due",
            "not_comparable")
# Rules judged on the current year alone (a baseline is context, not required).
RULES_WITHOUT_BASELINE = ("share_improved", "level", "level_or_increase")
# Flags that may be listed in not_comparable_on.
COMPARABILITY_FLAGS = ("test_transition", "metric_changed", "no_2020_assessments", "remote_2021",
                       "income_definition_change", "grade_span_changed", "n_changed_over_half")
# Every flag a comparison can carry, in the order target_results.flags lists them (docs/targets.md): the
# comparability flags, then those that describe the values.
FLAGS = COMPARABILITY_FLAGS + ("n_unknown", "sd_unknown", "small_n", "baseline_zero", "no_baseline_gap",
                               "gap_vs_all", "state_value_other_source", "suppressed", "baseline_window_partial",
                               "not_distinguishable_from_noise")

TARGET_KEYS = {"id", "label", "short", "areas", "category", "metrics", "sources", "subjects", "grades", "unit", "subgroups",
               "rule", "threshold", "direction", "reference", "compare_to", "domain", "applies_to_grades",
               "due_from_implementation_year", "min_n", "not_comparable_on", "notes"}
REQUIRED_TARGET_KEYS = ("id", "label", "category", "metrics", "rule", "threshold", "direction", "domain",
                        "due_from_implementation_year")
TOP_KEYS = {"version", "ratings", "defaults", "comparability", "metric_types", "targets"}
DEFAULT_KEYS = {"min_n", "small_n", "n_change_ratio", "confidence", "peers_k", "subgroups", "grades", "sources",
                "not_comparable_on"}
COMPARABILITY_KEYS = {"legacy_assessment_metrics", "next_gen_assessment_metrics", "next_gen_first_year",
                      "no_assessment_years", "remote_years", "income_definition_change_years", "income_subgroups"}
LEVEL_KEYS = {"rating", "label", "status", "min_progress_pct", "inclusive"}
BANDS = {"grades_03_08", "grade_10"}


class CatalogError(InputError):
    """A target catalog that cannot be used; names the file and the key."""

    def __init__(self, problem: str, *, file: str | None = None, key: str | None = None, value: object = None,
                 fix: str | None = None) -> None:
        self.key = key
        super().__init__(problem, file=file, column=None, value=value, fix=fix)

    def render(self) -> str:
        where = [f"file {self.file}"] if self.file else []
        where += [f"key {self.key}"] if getattr(self, "key", None) else []
        where += [f"value {self.value!r}"] if self.value is not None else []
        msg = f"{', '.join(where)}: {self.problem}" if where else self.problem
        return msg + (f" How to fix: {self.fix}" if self.fix else "")


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


@dataclass(frozen=True)
class Comparability:
    legacy_assessment_metrics: tuple[str, ...]
    next_gen_assessment_metrics: tuple[str, ...]
    next_gen_first_year: dict[str, dict[str, int]]  # subject (or 'default') -> grade band -> first spring
    no_assessment_years: tuple[int, ...]
    remote_years: tuple[int, ...]
    income_definition_change_years: tuple[int, ...]
    income_subgroups: tuple[str, ...]


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
    short: str = ""  # a few words for tables and charts

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
    small_n: int
    n_change_ratio: float
    confidence: float
    peers_k: int

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


def _read_yaml(path: Path) -> dict[str, Any]:
    if not path.exists():
        raise CatalogError("target catalog not found.", file=str(path),
                           fix="pass an existing YAML file (copy config/targets.yaml).")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise CatalogError(f"not valid YAML ({exc}).", file=str(path), fix="fix the YAML syntax.") from exc
    if not isinstance(data, dict):
        raise CatalogError("the catalog must be a mapping with a 'targets' list.", file=str(path),
                           fix="start from a copy of config/targets.yaml.")
    return data


def _no_unknown_keys(raw: dict, known: set[str], file: str, prefix: str, what: str = "key(s)") -> None:
    extra = set(raw) - known
    if extra:
        raise CatalogError(f"unknown {what} {sorted(extra)}.", file=file, key=f"{prefix}{sorted(extra)[0]}",
                           fix=f"use only {sorted(known)}.")


def load_catalog(path: Path | str | None = None) -> Catalog:
    """Load and validate a target catalog. ``None`` loads ``config/targets.yaml``."""
    shipped_path = default_targets_file()
    path = Path(path) if path is not None else shipped_path
    data = _read_yaml(path)
    fname = str(path)
    _no_unknown_keys(data, TOP_KEYS, fname, "", "top-level key(s)")
    shipped = data if path.resolve() == shipped_path.resolve() else _read_yaml(shipped_path)

    def section(name: str) -> tuple[Any, str]:
        return (data[name], fname) if name in data else (shipped.get(name), str(shipped_path))

    def merged(name: str) -> tuple[dict, str]:  # each key the user's section leaves out: the shipped value
        raw, file = section(name)
        if not isinstance(raw, dict):
            raise CatalogError(f"'{name}' must be a mapping.", file=file, key=name)
        return {**(shipped.get(name) or {}), **raw}, file

    ratings = _parse_ratings(*section("ratings"))
    defaults = _parse_defaults(*merged("defaults"))
    comparability = _parse_comparability(*merged("comparability"))
    metric_types = _parse_metric_types(*section("metric_types"))
    targets_raw = data.get("targets")
    if not isinstance(targets_raw, list) or not targets_raw:
        raise CatalogError("'targets' must be a non-empty list.", file=fname, key="targets",
                           fix="list the targets, each a mapping with id, label, rule, ...")
    complements = {k: (v.get("complement") or None) for k, v in crosswalk.subgroups().items()}
    targets: list[Target] = []
    for i, raw in enumerate(targets_raw):
        t = _parse_target(raw, i, fname, defaults, metric_types, complements)
        if any(t.id == other.id for other in targets):
            raise CatalogError("duplicate target id.", file=fname, key=f"targets[{i}].id", value=t.id,
                               fix="give every target a unique id.")
        targets.append(t)
    return Catalog(path=path, ratings=ratings, targets=tuple(targets), metric_types=metric_types,
                   comparability=comparability, small_n=defaults["small_n"],
                   n_change_ratio=defaults["n_change_ratio"], confidence=defaults["confidence"],
                   peers_k=defaults["peers_k"])


# ------------------------------------------------------------------------------------------------ values


def _num(value: Any, file: str, key: str, *, integer: bool = False, minimum: float | None = None,
         maximum: float | None = None) -> float:
    ok = isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
    if not ok or (integer and not float(value).is_integer()):
        kind = "an integer" if integer else "a number"
        raise CatalogError(f"must be {kind}.", file=file, key=key, value=value, fix=f"write {kind}.")
    if minimum is not None and value < minimum:
        raise CatalogError(f"must be at least {minimum}.", file=file, key=key, value=value)
    if maximum is not None and value > maximum:
        raise CatalogError(f"must be at most {maximum}.", file=file, key=key, value=value)
    return int(value) if integer else float(value)


def _year(value: Any, file: str, key: str) -> int:
    return int(_num(value, file, key, integer=True, minimum=1990, maximum=2100))


def _one_of(value: Any, allowed, file: str, key: str, what: str = "value") -> Any:
    if value not in allowed:
        raise CatalogError(f"unknown {what}; expected one of {list(allowed)}.", file=file, key=key, value=value)
    return value


def _text(value: Any, file: str, key: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise CatalogError("must be a non-empty string.", file=file, key=key, value=value)
    return value.strip()


def _str_list(value: Any, file: str, key: str, *, allowed: tuple[str, ...] | None = None,
              allow_empty: bool = False) -> tuple[str, ...]:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or (not value and not allow_empty):
        raise CatalogError("must be a list" + ("" if allow_empty else " with at least one item") + ".", file=file,
                           key=key, value=value, fix="write a YAML list, e.g. [a, b].")
    out = []
    for j, item in enumerate(value):
        if isinstance(item, int) and not isinstance(item, bool):
            item = f"{item:02d}"
        if not isinstance(item, str) or not item:
            raise CatalogError("list items must be non-empty strings.", file=file, key=f"{key}[{j}]", value=item)
        out.append(item if allowed is None else _one_of(item, allowed, file, f"{key}[{j}]"))
    if len(set(out)) != len(out):
        raise CatalogError("list has duplicates.", file=file, key=key, value=value)
    return tuple(out)


def _years(value: Any, file: str, key: str) -> tuple[int, ...]:
    if not isinstance(value, list):
        raise CatalogError("must be a list of years.", file=file, key=key, value=value)
    return tuple(_year(v, file, f"{key}[{j}]") for j, v in enumerate(value))


# ------------------------------------------------------------------------------------------------ sections


def _parse_ratings(raw: Any, file: str) -> Ratings:
    if not isinstance(raw, dict) or not isinstance(raw.get("levels"), list):
        raise CatalogError("'ratings' must be a mapping with a 'levels' list.", file=file, key="ratings.levels",
                           fix="copy the ratings section of config/targets.yaml.")
    levels = []
    for i, lv in enumerate(raw["levels"]):
        key = f"ratings.levels[{i}]"
        if not isinstance(lv, dict):
            raise CatalogError("each level must be a mapping.", file=file, key=key, value=lv)
        _no_unknown_keys(lv, LEVEL_KEYS, file, f"{key}.")
        rating = int(_num(lv.get("rating"), file, f"{key}.rating", integer=True, minimum=1, maximum=4))
        status = lv.get("status")
        if status not in STATUSES[:4]:
            raise CatalogError(f"must be one of {list(STATUSES[:4])}.", file=file, key=f"{key}.status", value=status)
        mp = lv.get("min_progress_pct")
        inclusive = lv.get("inclusive", True)
        if not isinstance(inclusive, bool):
            raise CatalogError("must be true or false.", file=file, key=f"{key}.inclusive", value=inclusive)
        levels.append(RatingLevel(rating, _text(lv.get("label"), file, f"{key}.label"), status,
                                  None if mp is None else _num(mp, file, f"{key}.min_progress_pct"), inclusive))
    if sorted(lv.rating for lv in levels) != [1, 2, 3, 4]:
        raise CatalogError("levels must define ratings 4, 3, 2 and 1 exactly once.", file=file, key="ratings.levels")
    if [lv.rating for lv in levels] != [4, 3, 2, 1]:
        raise CatalogError("levels must be listed from 4 down to 1.", file=file, key="ratings.levels")
    if levels[-1].min_progress_pct is not None:
        raise CatalogError("the last level (rating 1) takes everything else: min_progress_pct must be null.",
                           file=file, key="ratings.levels[3].min_progress_pct")
    bounds = [lv.min_progress_pct for lv in levels[:-1]]
    if any(b is None for b in bounds) or bounds != sorted(bounds, reverse=True):  # type: ignore[type-var]
        raise CatalogError("min_progress_pct must be set and decrease from rating 4 to rating 2.", file=file,
                           key="ratings.levels")
    return Ratings(tuple(levels))


def _parse_defaults(raw: dict, file: str) -> dict[str, Any]:
    _no_unknown_keys(raw, DEFAULT_KEYS, file, "defaults.")
    k = "defaults."
    return {
        "min_n": _num(raw["min_n"], file, k + "min_n", integer=True, minimum=1),
        "small_n": _num(raw["small_n"], file, k + "small_n", integer=True, minimum=1),
        "n_change_ratio": _num(raw["n_change_ratio"], file, k + "n_change_ratio", minimum=0),
        "confidence": _num(raw["confidence"], file, k + "confidence", minimum=0.5, maximum=0.999),
        "peers_k": _num(raw["peers_k"], file, k + "peers_k", integer=True, minimum=1),
        "subgroups": _str_list(raw["subgroups"], file, k + "subgroups"),
        "grades": _str_list(raw["grades"], file, k + "grades"),
        "sources": _str_list(raw["sources"], file, k + "sources", allowed=tuple(sorted(SOURCES))),
        "not_comparable_on": _str_list(raw["not_comparable_on"], file, k + "not_comparable_on",
                                       allowed=COMPARABILITY_FLAGS, allow_empty=True),
    }


def _parse_comparability(raw: dict, file: str) -> Comparability:
    _no_unknown_keys(raw, COMPARABILITY_KEYS, file, "comparability.")
    k = "comparability."
    ngfy = raw["next_gen_first_year"]
    if not isinstance(ngfy, dict) or "default" not in ngfy:
        raise CatalogError("must be a mapping with a 'default' entry.", file=file, key=k + "next_gen_first_year")
    table: dict[str, dict[str, int]] = {}
    for subj, bands in ngfy.items():
        key = f"{k}next_gen_first_year.{subj}"
        if subj != "default" and subj not in SUBJECTS:
            raise CatalogError(f"unknown subject; expected default or one of {list(SUBJECTS)}.", file=file, key=key)
        if not isinstance(bands, dict) or set(bands) - BANDS:
            raise CatalogError("must be a mapping of grades_03_08 / grade_10 to a year.", file=file, key=key,
                               value=bands)
        table[subj] = {b: _year(y, file, f"{key}.{b}") for b, y in bands.items()}
    ids = {name: _str_list(raw[name], file, k + name, allow_empty=True)
           for name in ("legacy_assessment_metrics", "next_gen_assessment_metrics", "income_subgroups")}
    years = {name: _years(raw[name], file, k + name)
             for name in ("no_assessment_years", "remote_years", "income_definition_change_years")}
    return Comparability(next_gen_first_year=table, **ids, **years)


def _parse_metric_types(raw: Any, file: str) -> dict[str, str]:
    if not isinstance(raw, dict):
        raise CatalogError("'metric_types' must be a mapping of metric id to type.", file=file, key="metric_types")
    for metric, kind in raw.items():
        _one_of(kind, METRIC_TYPES, file, f"metric_types.{metric}", "metric type")
    return {str(k): str(v) for k, v in raw.items()}


def _check_threshold(rule: str, threshold: float, direction: str, file: str, key: str) -> None:
    better = (threshold > 0) == (direction == "higher_is_better")
    if rule == "relative_change":
        problem = None if threshold != 0 and better and threshold > -100 else (
            "a relative_change threshold is a percent change in the better direction: negative (> -100) for "
            "lower_is_better, positive for higher_is_better.")
    elif rule == "absolute_change":
        problem = None if threshold != 0 and better else (
            "an absolute_change threshold must be a non-zero change in the better direction.")
    elif rule == "gap_closure":
        problem = None if 0 < threshold <= 100 else (
            "a gap_closure threshold is the percent of the baseline gap to close (0 < t <= 100).")
    else:
        problem = None if 0 < threshold <= 100 else f"a {rule} threshold is a percent level (0 < t <= 100)."
    if problem:
        raise CatalogError(problem, file=file, key=key, value=threshold)


def _parse_target(raw: Any, i: int, file: str, defaults: dict[str, Any], metric_types: dict[str, str],
                  complements: dict[str, str | None]) -> Target:
    if not isinstance(raw, dict):
        raise CatalogError("each target must be a mapping.", file=file, key=f"targets[{i}]", value=raw)
    tid = raw.get("id")
    if not isinstance(tid, str) or not tid.replace("_", "").isalnum():
        raise CatalogError("target id must be a word of letters, digits and underscores.", file=file,
                           key=f"targets[{i}].id", value=tid)
    p = f"targets[{tid}]"
    _no_unknown_keys(raw, TARGET_KEYS, file, f"{p}.")
    for key in REQUIRED_TARGET_KEYS:
        if raw.get(key) is None:
            raise CatalogError("required key is missing.", file=file, key=f"{p}.{key}",
                               fix="see config/targets.yaml for an example target.")
    category = _one_of(raw["category"], CATEGORIES, file, f"{p}.category", "category")
    rule = _one_of(raw["rule"], RULES, file, f"{p}.rule", "rule")
    direction = raw["direction"]
    if direction not in DIRECTIONS:
        raise CatalogError(f"must be one of {sorted(DIRECTIONS)}.", file=file, key=f"{p}.direction", value=direction)
    threshold = _num(raw["threshold"], file, f"{p}.threshold")
    _check_threshold(rule, threshold, direction, file, f"{p}.threshold")
    if rule in ("share_improved", "level_or_increase") and direction != "higher_is_better":
        raise CatalogError(f"{rule} targets are higher_is_better.", file=file, key=f"{p}.direction", value=direction)
    metrics = _str_list(raw["metrics"], file, f"{p}.metrics")
    for j, m in enumerate(metrics):
        if m not in metric_types:
            raise CatalogError("unknown metric (not in metric_types).", file=file, key=f"{p}.metrics[{j}]", value=m,
                               fix="use a metric id of metric_values and list it under metric_types.")
    if rule in ("share_improved", "level_or_increase") and {metric_types[m] for m in metrics} != {"proportion"}:
        raise CatalogError(f"{rule} needs proportion metrics.", file=file, key=f"{p}.metrics", value=list(metrics))
    subj_raw = raw.get("subjects")
    subjects = (None if subj_raw is None else ("*",) if subj_raw == "any"
                else _str_list(subj_raw, file, f"{p}.subjects", allowed=SUBJECTS))
    grades_raw = raw.get("grades", list(defaults["grades"]))
    grades = ("*",) if grades_raw == "any" else _str_list(grades_raw, file, f"{p}.grades")
    unit = raw.get("unit")
    if unit not in (None, "grade"):
        raise CatalogError("unit must be null or 'grade'.", file=file, key=f"{p}.unit", value=unit)
    if unit == "grade" and rule not in ("absolute_change", "relative_change"):
        raise CatalogError("unit: grade is supported for absolute_change and relative_change only.", file=file,
                           key=f"{p}.unit", value=unit)
    if unit == "grade" and grades == ("*",):
        raise CatalogError("unit: grade needs an explicit list of grades.", file=file, key=f"{p}.grades")
    sgs = _str_list(raw.get("subgroups", list(defaults["subgroups"])), file, f"{p}.subgroups")
    for j, s in enumerate(sgs):
        if complements and s not in complements:
            raise CatalogError("unknown subgroup (not in config/subgroups.csv).", file=file,
                               key=f"{p}.subgroups[{j}]", value=s)
    reference = raw.get("reference")
    if rule == "gap_closure" and reference not in ("state", "complement"):
        raise CatalogError("gap_closure needs reference: state or complement.", file=file, key=f"{p}.reference",
                           value=reference)
    if rule != "gap_closure" and reference is not None:
        raise CatalogError("reference applies to gap_closure only.", file=file, key=f"{p}.reference",
                           value=reference)
    if reference == "complement" and "all" in sgs:
        raise CatalogError("'all' has no complement.", file=file, key=f"{p}.subgroups[{sgs.index('all')}]",
                           value="all")
    compare_to = raw.get("compare_to", "prior_year" if rule == "level_or_increase" else "baseline")
    if compare_to not in ("baseline", "prior_year"):
        raise CatalogError("compare_to must be baseline or prior_year.", file=file, key=f"{p}.compare_to",
                           value=compare_to)
    atg = raw.get("applies_to_grades")
    if atg is not None and (not isinstance(atg, list) or len(atg) != 2):
        raise CatalogError("must be [low, high] grades (0 = K).", file=file, key=f"{p}.applies_to_grades", value=atg)
    if atg is not None:
        lo = int(_num(atg[0], file, f"{p}.applies_to_grades[0]", integer=True, minimum=-1, maximum=12))
        atg = (lo, int(_num(atg[1], file, f"{p}.applies_to_grades[1]", integer=True, minimum=lo, maximum=12)))
    notes = raw.get("notes") or ""
    if not isinstance(notes, str):
        raise CatalogError("must be text.", file=file, key=f"{p}.notes", value=notes)
    return Target(
        id=tid, label=_text(raw["label"], file, f"{p}.label"), category=category, metrics=metrics,
        sources=_str_list(raw.get("sources", list(defaults["sources"])), file, f"{p}.sources",
                          allowed=tuple(sorted(SOURCES))),
        subjects=subjects, grades=grades, unit=unit, subgroups=sgs, rule=rule, threshold=threshold,
        direction=direction, reference=reference, compare_to=compare_to,
        domain=_one_of(raw["domain"], DOMAINS, file, f"{p}.domain", "domain"), applies_to_grades=atg,
        due_from_implementation_year=int(_num(raw["due_from_implementation_year"], file,
                                              f"{p}.due_from_implementation_year", integer=True, minimum=1,
                                              maximum=20)),
        min_n=int(_num(raw.get("min_n", defaults["min_n"]), file, f"{p}.min_n", integer=True, minimum=1)),
        not_comparable_on=_str_list(raw.get("not_comparable_on", list(defaults["not_comparable_on"])), file,
                                    f"{p}.not_comparable_on", allowed=COMPARABILITY_FLAGS, allow_empty=True),
        notes=notes.strip(), areas=_str_list(raw.get("areas", []), file, f"{p}.areas", allow_empty=True),
        short=_text(raw.get("short") or tid.replace("_", " ").capitalize(), file, f"{p}.short"),
    )

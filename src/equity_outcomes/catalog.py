"""The catalogs' common reading: a YAML file checked against a pydantic model (:func:`load_yaml`), and any
``ValidationError`` turned into one :class:`CatalogError` naming the file, the key path (``targets[absence].threshold``,
a list item named by its ``id``), the value and the fix. Also the metric catalog (``config/metrics.yaml``): declared
once, read by SQL, targets, scorecards, docs and tests."""

from __future__ import annotations

import difflib
import re
import typing
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal, TypeVar

import pydantic
import yaml
from pydantic import BaseModel, Field, ValidationError, model_validator
from pydantic_core import PydanticCustomError

from .errors import InputError
from .paths import config_dir

Direction = Literal["higher_is_better", "lower_is_better"]
Source = Literal["student", "dese"]
SOURCES = set(typing.get_args(Source))
M = TypeVar("M")
_ABSENT = object()  # no item at a key path
if TYPE_CHECKING:
    import pandas as pd


class CatalogError(InputError):
    """A catalog or settings file that cannot be used; names the file, the key path, the value and the fix."""


def problem(text: str, key: str | int | tuple = (), fix: str | None = None) -> PydanticCustomError:
    """A validator's error: ``key`` (below the model being validated) names the key at fault."""
    return PydanticCustomError("catalog", "{problem}", {"problem": text, "fix": fix,
                                                        "key": key if isinstance(key, tuple) else (key,)})


class Strict(BaseModel):
    """A catalog entry: frozen; an unknown key is refused with the keys it knows and the nearest spelling."""

    model_config = pydantic.ConfigDict(frozen=True, extra="forbid")

    @model_validator(mode="before")
    @classmethod
    def _known_keys(cls, data: Any) -> Any:
        for key in data if isinstance(data, dict) else ():
            if key not in cls.model_fields:
                close = difflib.get_close_matches(str(key), list(cls.model_fields), n=1)
                raise problem("unknown key" + (f" (did you mean {close[0]!r}?)." if close else "."), key,
                              f"use only the keys {', '.join(cls.model_fields)}.")
        return data


def _no_duplicates(items: tuple) -> tuple:
    if len(set(items)) != len(items):
        raise problem("the list has duplicates.", fix="list each item once.")
    if "any" in items and len(items) > 1:
        raise problem("'any' stands alone.", fix="write any, or list the items.")
    return items


def _listed(value: Any) -> Any:
    """One word for a list of one; a number for a two-digit grade (3 -> '03')."""
    value = [value] if isinstance(value, str) else value
    return [f"{v:02d}" if isinstance(v, int) and not isinstance(v, bool) else v for v in value] \
        if isinstance(value, list) else value


def _regex(text: Any) -> re.Pattern[str]:
    try:
        return text if isinstance(text, re.Pattern) else re.compile(str(text), re.IGNORECASE)
    except re.error as exc:
        raise problem(f"not a regular expression ({exc}).") from None


def listed(item: Any, min_length: int = 0) -> Any:
    """A list of ``item`` (a single word for a list of one), each once."""
    return Annotated[tuple[item, ...], pydantic.BeforeValidator(_listed), Field(min_length=min_length),
                     pydantic.AfterValidator(_no_duplicates)]


Text = Annotated[str, pydantic.StringConstraints(strip_whitespace=True, min_length=1)]
Number = Annotated[float, Field(strict=True, allow_inf_nan=False)]
Positive = Annotated[int, Field(strict=True, ge=1)]
Year = Annotated[int, Field(strict=True, ge=1990, le=2100)]
Word = Annotated[str, Field(pattern=r"^\w+$")]
Regex = Annotated[re.Pattern, pydantic.BeforeValidator(_regex)]  # case-insensitive
Items = listed(Text)


def unique_ids(items: tuple, field: str) -> None:
    seen: set[str] = set()
    for i, item in enumerate(items):
        if item.id in seen:
            raise problem("duplicate id.", (field, i, "id"), "give every entry a unique id.")
        seen.add(item.id)


def read_yaml(path: Path, what: str, fix: str) -> Any:
    """A YAML file's content; a missing file or bad YAML is a :class:`CatalogError`."""
    try:
        return yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise CatalogError(f"{what} not found.", file=str(path), fix=fix) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        raise CatalogError(f"not valid YAML ({getattr(exc, 'problem', None) or exc}).", file=str(path),
                           row=mark.line + 1 if mark else None,
                           fix="fix the YAML syntax (quote texts that hold ': ', ' #' or start with '%').") from None


def load_yaml(model: type[M], path: Path, what: str, fix: str, data: Any = None, **context: Any) -> M:
    """``path`` (or ``data`` read from it) checked against ``model`` (a pydantic model or dataclass); ``fix`` is
    said where a field has no ``description`` of its own."""
    data = read_yaml(path, what, fix) if data is None else data
    try:
        return pydantic.TypeAdapter(model).validate_python(data, context=context)
    except ValidationError as exc:
        raise validation_error(exc, data, model, str(path), fix) from None


def validation_error(exc: ValidationError, data: Any, model: type, file: str, fix: str) -> CatalogError:
    """The first problem of ``exc`` as a :class:`CatalogError` (and how many more there are)."""
    errors = exc.errors(include_url=False)  # less those that follow from an earlier one (a list left too short)
    errors = [e for i, e in enumerate(errors) if not any(o["loc"][:len(e["loc"])] == e["loc"] for o in errors[:i])]
    first, ctx = errors[0], errors[0].get("ctx") or {}
    loc = tuple(first["loc"]) + tuple(k for k in ctx.get("key", ()) if k is not None)
    value = _at(data, loc)
    if value is _ABSENT:
        value = None if first["type"] in ("missing", "catalog") else first.get("input")
    text = ctx["problem"] if first["type"] == "catalog" else _plain(first)
    if len(errors) > 1:
        text += f" ({len(errors) - 1} more: {', '.join(key_path(data, e['loc']) or '(top)' for e in errors[1:4])})"
    return CatalogError(text, file=file, key=key_path(data, loc) or None, value=value,
                        fix=ctx.get("fix") or _described(model, loc) or fix)


def _plain(error: dict) -> str:
    missing = "an item is missing." if error["loc"] and isinstance(error["loc"][-1], int) else "a key is missing."
    text = {"missing": missing, "model_type": "must be a mapping of keys to values.", "extra_forbidden": "unknown key.",
            "unexpected_keyword_argument": "unknown key.",
            "dataclass_type": "must be a mapping of keys to values.",
            "dict_type": "must be a mapping of keys to values."}.get(error["type"], error["msg"])
    text = re.sub(r"^(Input|String|Tuple|List|Dictionary) should", "must", text.replace("valid tuple", "list"))
    return text if text.endswith(".") else text + "."


def _child(node: Any, part: str | int) -> tuple[Any, Any]:
    """(the key as written, the item) ``part`` names in ``node``; a key is found as written or normalised
    ('School Name' for 'school name'). The item is ``_ABSENT`` when there is none."""
    if isinstance(part, int):
        return part, node[part] if isinstance(node, list) and -len(node) <= part < len(node) else _ABSENT
    keys = [k for k in node if k == part or " ".join(str(k).split()).casefold() == part] \
        if isinstance(node, dict) else []
    return (keys[0], node[keys[0]]) if keys else (part, _ABSENT)


def key_path(data: Any, loc: tuple) -> str:
    """``('targets', 0, 'threshold')`` -> ``targets[absence].threshold`` (a list item by its id when it has one)."""
    out, node = "", data
    for part in loc:
        key, node = _child(node, part)
        if isinstance(part, int):
            out += f"[{node['id'] if isinstance(node, dict) and isinstance(node.get('id'), str) else part}]"
        else:
            out += f".{key}" if out else str(key)
    return out


def _at(data: Any, loc: tuple) -> Any:
    for part in loc:
        data = _child(data, part)[1]
    return data


def _described(model: Any, loc: tuple) -> str | None:
    """The ``description`` of the field at ``loc`` (walking nested models), said as the fix."""
    field = None
    for part in loc:
        if isinstance(part, str) and hasattr(model, "__pydantic_fields__"):
            field = model.__pydantic_fields__.get(part)
            model = next(_models(field.annotation), None) if field else None
    return f"write {field.description}." if field and field.description else None


def _models(annotation: Any):
    if hasattr(annotation, "__pydantic_fields__"):
        yield annotation
    for arg in typing.get_args(annotation):
        yield from _models(arg)


# ------------------------------------------------------------------------------------------ the metric catalog


class Metric(Strict):
    id: Word
    label: Text
    definition: Text
    numerator: str | None = None
    denominator: Text
    population: Text
    unit: Literal["percent", "sgp", "score", "rate"]
    direction: Direction
    min_n: Positive
    min_n_on: Literal["n_students", "denominator"] = "n_students"
    sources: listed(Source, 1)
    dese_measure: str | None = None
    dese_numerator_measure: str | None = None
    dese_denominator_measure: str | None = None
    dese_reference: str | None = None
    reconcile: bool = Field(False, strict=True)


class MetricCatalog(Strict):
    metrics: Annotated[tuple[Metric, ...], Field(min_length=1)]

    @model_validator(mode="after")
    def _unique(self) -> MetricCatalog:
        unique_ids(self.metrics, "metrics")
        return self


@lru_cache(maxsize=4)
def _load(path: Path) -> tuple[dict, ...]:
    cat = load_yaml(MetricCatalog, path, "the metric catalog", "see the header comment of config/metrics.yaml.")
    return tuple(m.model_dump() for m in cat.metrics)


def metrics(path: Path | None = None) -> list[dict]:
    return list(_load(path or config_dir() / "metrics.yaml"))


def metric(metric_id: str) -> dict:
    return {m["id"]: m for m in metrics()}[metric_id]  # KeyError for an unknown id


def metrics_frame(path: Path | None = None) -> pd.DataFrame:
    """The catalog as a table (``ref_metrics`` in the warehouse)."""
    import pandas as pd

    frame = pd.DataFrame(metrics(path)).rename(columns={"id": "metric"})
    for column in ("numerator", "dese_reference"):
        frame[column] = frame[column].fillna("")
    frame["sources"] = frame["sources"].map(",".join)
    return frame[["metric", "label", "definition", "numerator", "denominator", "population", "unit", "direction",
                  "min_n", "min_n_on", "sources", "dese_measure", "dese_numerator_measure",
                  "dese_denominator_measure", "dese_reference", "reconcile"]]

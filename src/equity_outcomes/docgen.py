"""Documents generated from the declarative sources, so they cannot drift: the student data contract (from the
pandera schemas) and the metric and target dictionary (from config/metrics.yaml and config/targets.yaml). Their
prose is in ``templates/*.md.j2`` (Jinja2); this module gathers what the templates show.

``equity-outcomes docs`` rewrites them; a test fails when a committed document differs from what this produces.
"""

from __future__ import annotations

from pathlib import Path

import jinja2
import yaml

from . import catalog
from .ingest.schemas import ALL_TABLES, MAX_YEAR
from .paths import PACKAGE_DIR, config_dir, project_root


def _cell(text: object) -> str:
    return str(text if text is not None else "").replace("|", "\\|").replace("\n", " ")


def _type_name(dtype) -> str:
    name = str(dtype)
    return {"int64": "integer", "Int64": "integer", "float64": "number"}.get(name, "text" if "str" in name else name)


def _check_text(col) -> str:
    parts = []
    for check in col.checks:
        stats = getattr(check, "statistics", None) or {}
        if check.name == "isin":
            parts.append("one of " + ", ".join(map(str, stats.get("allowed_values", []))))
        elif check.name == "in_range":
            high = stats.get("max_value")
            parts.append(f"{stats.get('min_value')} to " + ("next year" if high == MAX_YEAR else str(high)))
        elif check.name == "str_matches":
            parts.append(f"matches `{stats.get('pattern')}`")
        elif check.name == "str_length":
            parts.append(f"length {stats.get('min_value')}-{stats.get('max_value')}")
        else:
            parts.append(check.name)
    return "; ".join(parts)


_ENV = jinja2.Environment(loader=jinja2.FileSystemLoader(PACKAGE_DIR / "templates"), trim_blocks=True,
                          lstrip_blocks=True, keep_trailing_newline=False, undefined=jinja2.StrictUndefined)
_ENV.filters.update(cell=_cell, type_name=_type_name, check_text=_check_text)


def student_contract_markdown() -> str:
    from .ingest.load import max_quarantined_pct

    tables = [(name, schema, ([f"unique on ({', '.join(schema.unique)})"] if schema.unique else [])
               + [c.name for c in schema.checks]) for name, schema in ALL_TABLES.items()]
    doc = yaml.safe_load((config_dir() / "sis_spellings.yaml").read_text(encoding="utf-8"))
    kinds = _spelling_kinds(doc)
    return _ENV.get_template("student_data_contract.md.j2").render(
        limit=max_quarantined_pct(), tables=tables, spellings=[(k, ", ".join(c), v) for k, (c, v) in kinds.items()],
        unused_kinds=[(k, example) for k, example in doc.get("examples", {}).items() if k not in kinds])


def _spelling_kinds(doc: dict) -> dict[str, tuple[list[str], str]]:
    """Kind -> (columns, spellings accepted), from config/sis_spellings.yaml and the race rows of the crosswalk."""
    from . import crosswalk
    from .ingest.schemas import RACES

    columns: dict[str, list[str]] = {}
    for column, kind in doc["columns"].items():
        columns.setdefault(kind, []).append(f"`{column}`")
    columns.setdefault("flag", []).append("every 0/1 column")
    out = {}
    for kind, cols in columns.items():
        values = [f"{' / '.join(map(str, spellings))} -> {to}" for to, spellings in doc["values"].get(kind, {}).items()]
        patterns = [doc["examples"][kind]] if kind in doc.get("examples", {}) else []
        if kind == "race_ethnicity":
            races = {}
            for label, sid in sorted(crosswalk.labels().items()):
                if sid in RACES:
                    races.setdefault(sid, []).append(label)
            values = [f"{' / '.join(labels)} -> {sid}" for sid, labels in races.items()]
        if kind == "org_code":
            values = [f"digits that lost their leading zeros, padded to {doc['org_code']['digits']} when one roster "
                      f"code matches (in roster.csv: {doc['org_code']['roster_min_digits']}-7 digits)"]
        out[kind] = (cols, "; ".join(values + patterns))
    return out


def metric_dictionary_markdown() -> str:
    from .judge.catalog import load_catalog

    return _ENV.get_template("metric_dictionary.md.j2").render(metrics=catalog.metrics(),
                                                                 targets=load_catalog().targets)


GENERATED = {
    "docs/student_data_contract.md": student_contract_markdown,
    "docs/metric_dictionary.md": metric_dictionary_markdown,
}


def write_docs(root: Path | None = None) -> list[Path]:
    root = root or project_root()
    written = []
    for rel, make in GENERATED.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(make(), encoding="utf-8")
        written.append(path)
    return written

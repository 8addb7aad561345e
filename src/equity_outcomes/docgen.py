"""Documents generated from the declarative sources, so they cannot drift: the student data contract (from the
pandera schemas) and the metric and target dictionary (from config/metrics.yaml and config/targets.yaml).

``equity-outcomes docs`` rewrites them; a test fails when a committed document differs from what this produces.
"""

from __future__ import annotations

from pathlib import Path

import yaml

from . import catalog
from .ingest.schemas import ALL_TABLES, MAX_YEAR
from .paths import config_dir, project_root


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


def student_contract_markdown() -> str:
    out = [
        "# Student data contract",
        "",
        "_Generated from `src/equity_outcomes/ingest/schemas.py` by `equity-outcomes docs`; do not edit by hand._",
        "",
        "Each table is a UTF-8 CSV with a header row, one file per school year at",
        "`<raw_dir>/student/<school_year>/<table>.csv` (`roster.csv` sits at `<raw_dir>/roster.csv`).",
        "`school_year` is the spring year (2024 = 2023-24) and must equal the folder's year. Flags are 0/1;",
        "blank cells are missing values. `student_id` and `teacher_id` are replaced by a keyed hash at ingest.",
        "A row that fails any rule below goes to the `quarantine` table with its line number, column, value and",
        "the failed check; the other rows load. A file whose columns differ from the contract is refused.",
        "Files up to 4 MB are validated by pandera; larger ones by the same rules compiled to DuckDB SQL from these",
        "schemas (a test requires both to quarantine exactly the same rows).",
        "Once a roster is loaded, a row whose `org_code` is not a roster school is quarantined too (unknown school).",
        f"A file with more than {_ingest_limit():g}% of its rows quarantined is refused (`max_quarantined_pct` in",
        "`config/ingest.yaml`, the workspace file or `--max-quarantined-pct`): the run loads nothing and says why.",
        "",
        *_spellings_markdown(),
    ]
    for name, schema in ALL_TABLES.items():
        out += [f"## `{name}`", "", schema.description or "", ""]
        out += ["| column | type | required | rule | meaning |", "|---|---|---|---|---|"]
        for col_name, col in schema.columns.items():
            out.append(
                f"| `{col_name}` | {_type_name(col.dtype)} | {'no' if col.nullable else 'yes'} | {_cell(_check_text(col))} "
                f"| {_cell(col.description)} |"
            )
        rules = [f"unique on ({', '.join(schema.unique)})"] if schema.unique else []
        rules += [c.name for c in schema.checks]
        if rules:
            out += ["", "Table rules: " + "; ".join(rules) + "."]
        out.append("")
    return "\n".join(out)


def _ingest_limit() -> float:
    from .ingest.load import max_quarantined_pct

    return max_quarantined_pct()


def _spellings_markdown() -> list[str]:
    """The spellings mapped at ingest, from config/sis_spellings.yaml and the race rows of the crosswalk."""
    from . import crosswalk
    from .ingest.schemas import RACES

    doc = yaml.safe_load((config_dir() / "sis_spellings.yaml").read_text(encoding="utf-8"))
    out = ["## Spellings mapped at ingest", "",
           "Before validation, the spellings SIS exports use are mapped to the values above (`config/sis_spellings.yaml`;",
           "case and surrounding spaces are ignored). Every mapping applied is listed with its row count by `check`,",
           "the run summary and the table `load_mappings`. A value no rule maps is quarantined with its row and the fix.",
           "", "| kind | columns | spellings accepted |", "|---|---|---|"]
    kinds: dict[str, list[str]] = {}
    for column, kind in doc["columns"].items():
        kinds.setdefault(kind, []).append(f"`{column}`")
    kinds.setdefault("flag", []).append("every 0/1 column")
    for kind, columns in kinds.items():
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
        out.append(f"| {kind} | {', '.join(columns)} | {_cell('; '.join(values + patterns))} |")
    out += ["", "A column that lists its allowed values also accepts them in any case (`oss` -> `OSS`)."]
    out += [f"Kind `{kind}` (no contract column has it yet; list a column under `columns:` to use it): {example}."
            for kind, example in doc.get("examples", {}).items() if kind not in kinds]
    out.append("")
    return out


def metric_dictionary_markdown() -> str:
    out = [
        "# Metric and target dictionary",
        "",
        "_Generated from `config/metrics.yaml` and `config/targets.yaml` by `equity-outcomes docs`; do not edit._",
        "",
        "## Metrics",
        "",
    ]
    for m in catalog.metrics():
        out += [
            f"### `{m['id']}`: {m['label']}",
            "",
            m["definition"],
            "",
            f"- numerator: {m.get('numerator') or '-'}",
            f"- denominator: {m['denominator']}",
            f"- population: {m['population']}",
            f"- unit: {m['unit']}; direction: {m['direction']}; minimum n: {m['min_n']}",
            f"- sources: {', '.join(m['sources'])}" + (f"; DESE measure `{m['dese_measure']}`" if m.get("dese_measure") else ""),
            f"- DESE reference: {m.get('dese_reference') or '-'}",
            "",
        ]
    targets_file = config_dir() / "targets.yaml"
    if targets_file.exists():
        doc = yaml.safe_load(targets_file.read_text(encoding="utf-8"))
        targets = doc.get("targets", []) if isinstance(doc, dict) else []
        out += ["## Targets", "", "| id | target (rubric wording) | metric(s) | rule | threshold | due from year |",
                "|---|---|---|---|---|---|"]
        for t in targets:
            metrics = t.get("metrics") or [t.get("metric")]
            out.append(
                f"| `{t['id']}` | {_cell(t.get('label'))} | {_cell(', '.join(map(str, metrics)))} | "
                f"{_cell(t.get('rule') or t.get('kind'))} | {_cell(t.get('threshold'))} | "
                f"{_cell(t.get('due_from_implementation_year'))} |"
            )
        out.append("")
    return "\n".join(out)


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

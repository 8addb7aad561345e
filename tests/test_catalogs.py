"""Every YAML catalog and settings file is read through pydantic models (``catalog.load_yaml``): a mistake in a copy
of a shipped file is one CatalogError (exit 2 at the command line) naming the file, the key path as the file
writes it, the value and the fix. The target catalog's own cases are in test_targets.py, the workspace file's in
test_bad_inputs.py."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from equity_outcomes import catalog
from equity_outcomes.catalog import CatalogError
from equity_outcomes.ingest import normalize
from equity_outcomes.ingest.dese.catalog import load_config
from equity_outcomes.ingest.state_files import catalog as layouts
from equity_outcomes.judge.growth.sgp import load_settings
from equity_outcomes.paths import config_dir
from equity_outcomes.publish.disclosure.rules import load_rules


def _state_layouts(path: Path):
    (path.parent / "state_codes").symlink_to(config_dir() / "state_codes")
    return layouts._load(path.parent)


CASES = {  # file, loader, the change, the key path named, words of the problem or fix
    "a DESE report key misspelt": ("dese_reports.yaml", load_config,
                                   lambda d: d["reports"]["attendance"].update(titel="x"),
                                   "reports.attendance.titel", "did you mean 'title'"),
    "a DESE key role misspelt": ("dese_reports.yaml", load_config,
                                 lambda d: d["key_columns"].update({"School Name": "org_nam"}),
                                 "key_columns.School Name", "'org_name'"),
    "a DESE year range": ("dese_reports.yaml", load_config,
                          lambda d: d["income_definitions"].append({"years": "20x5", "value": "x"}),
                          "income_definitions[3].years", "'YYYY..YYYY'"),
    "a state layout's years": ("state_layouts.yaml", _state_layouts,
                               lambda d: d["sims"]["versions"][0].update(years=[2008, "soon"]),
                               "sims.versions[v2.0].years[1]", "valid integer"),
    "a disclosure metric unknown": ("disclosure.yaml", load_rules,
                                    lambda d: d["event_rule"]["metrics"].append("pct_martians"),
                                    "event_rule.metrics", "pct_martians"),
    "a disclosure value kind": ("disclosure.yaml", load_rules,
                                lambda d: d["value_kinds"]["by_unit"].update(percent="sharee"),
                                "value_kinds.by_unit.percent", "'share', 'mean' or 'opaque'"),
    "growth's max order": ("growth.yaml", load_settings, lambda d: d.update(max_order=5),
                           "max_order", "2 (two priors"),
    "a metric's unit": ("metrics.yaml", catalog._load, lambda d: d["metrics"][0].update(unit="percents"),
                        "metrics[pct_absent_10_plus_days].unit", "'percent'"),
    "a duplicate metric": ("metrics.yaml", catalog._load, lambda d: d["metrics"].append(dict(d["metrics"][0])),
                           "metrics[pct_absent_10_plus_days].id", "duplicate id"),
    "a SIS spelling pattern": ("sis_spellings.yaml", normalize._load,
                               lambda d: d["patterns"]["grade"].append("(unclosed"), "patterns.grade[1]",
                               "not a regular expression"),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_a_mistake_names_file_key_value_and_fix(tmp_path, case):
    name, load, change, key, words = CASES[case]
    doc = yaml.safe_load((config_dir() / name).read_text(encoding="utf-8"))
    change(doc)
    path = tmp_path / name
    path.write_text(yaml.safe_dump(doc, allow_unicode=True, sort_keys=False), encoding="utf-8")
    with pytest.raises(CatalogError) as err:
        load(path)
    message = str(err.value)
    assert f"file {path}, key {key}" in message and words in message and "How to fix:" in message, message


def test_the_shipped_files_load():
    assert load_config().reports and layouts.families() and load_rules().catalog and load_settings().quantiles
    assert catalog.metrics() and normalize.spellings().patterns

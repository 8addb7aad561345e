"""Generated documents must match the catalogs and schemas they are generated from."""

from __future__ import annotations

import pytest

from equity_outcomes.docgen import GENERATED

from .conftest import ROOT


@pytest.mark.parametrize("rel", sorted(GENERATED))
def test_generated_document_is_current(rel):
    committed = (ROOT / rel).read_text(encoding="utf-8")
    assert committed == GENERATED[rel](), f"{rel} is stale: run `equity-outcomes docs` and commit the result"


def test_every_catalog_metric_is_in_the_dictionary():
    from equity_outcomes import catalog

    text = (ROOT / "docs" / "metric_dictionary.md").read_text(encoding="utf-8")
    for m in catalog.metrics():
        assert f"`{m['id']}`" in text

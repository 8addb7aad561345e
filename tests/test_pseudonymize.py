"""The vectorized keyed hash equals the textbook HMAC-SHA256 for every id, including awkward ones."""

from __future__ import annotations

import pandas as pd

from equity_outcomes.ingest.pseudonymize import DEMO_KEY, pseudonymize, pseudonymize_one


def test_vectorized_hmac_equals_python_hmac():
    ids = pd.Series(["1", "S0001", "élève-42", "a" * 200, " spaced ", "0"], index=[5, 6, 7, 8, 9, 10])
    for key in (DEMO_KEY.encode(), b"k", b"x" * 100):  # short, and longer than a SHA-256 block
        got = pseudonymize(ids, key)
        assert list(got.index) == list(ids.index)
        assert list(got) == [pseudonymize_one(i, key) for i in ids]


def test_different_keys_give_unrelated_ids():
    ids = pd.Series(["S1", "S2"])
    assert set(pseudonymize(ids, b"one")).isdisjoint(pseudonymize(ids, b"two"))

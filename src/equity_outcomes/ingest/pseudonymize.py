"""Keyed pseudonymization of person ids (HMAC-SHA256), so no raw student id enters the warehouse.

The key comes from the environment (``EQUITY_OUTCOMES_ID_KEY``), or a file named by ``EQUITY_OUTCOMES_ID_KEY_FILE``,
or ``~/.config/equity-outcomes/id_key``: always outside the repository. The demo and the tests use the published
``DEMO_KEY`` (never use it for real students): ``equity-outcomes run --demo-key`` or ``EQUITY_OUTCOMES_ID_KEY=demo``.
"""

from __future__ import annotations

import hashlib
import hmac
import os
from pathlib import Path

import pandas as pd

from ..errors import EquityOutcomesError

DEMO_KEY = "equity-outcomes-demo-key-NOT-SECRET"
ID_LENGTH = 20  # hex characters kept (80 bits): collisions are negligible for millions of students


def load_key() -> bytes:
    value = os.environ.get("EQUITY_OUTCOMES_ID_KEY")
    if value:
        return (DEMO_KEY if value == "demo" else value).encode()
    candidates = [os.environ.get("EQUITY_OUTCOMES_ID_KEY_FILE"), Path.home() / ".config" / "equity-outcomes" / "id_key"]
    for candidate in candidates:
        if candidate and Path(candidate).is_file():
            key = Path(candidate).read_bytes().strip()
            if key:
                return key
    raise EquityOutcomesError(
        "no pseudonymization key: student ids are hashed with a secret key kept outside the repository. "
        "How to fix: put a long random secret in ~/.config/equity-outcomes/id_key (e.g. "
        "`python -c 'import secrets;print(secrets.token_hex(32))' > ~/.config/equity-outcomes/id_key`), or set "
        "EQUITY_OUTCOMES_ID_KEY / EQUITY_OUTCOMES_ID_KEY_FILE. For the synthetic demo only: EQUITY_OUTCOMES_ID_KEY=demo."
    )


def pseudonymize(ids: pd.Series, key: bytes) -> pd.Series:
    """Map each id to hex(HMAC-SHA256(key, id))[:20]; each distinct id is hashed once."""
    uniques = pd.unique(ids.astype(str))
    mapping = {u: hmac.new(key, u.encode(), hashlib.sha256).hexdigest()[:ID_LENGTH] for u in uniques}
    return ids.astype(str).map(mapping)

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

import duckdb
import pandas as pd

from ..errors import EquityOutcomesError

DEMO_KEY = "equity-outcomes-demo-key-NOT-SECRET"
ID_LENGTH = 20  # hex characters kept (80 bits): collisions are negligible for millions of students
# hex(HMAC-SHA256(key, id))[:20] in SQL, the padded keys of _pads as $ipad and $opad (HMAC spelled out with
# sha256: H(K xor opad || H(K xor ipad || id))): for pseudonymize and the DuckDB validator of large files
HMAC_SQL = f"left(sha256($opad::BLOB || unhex(sha256($ipad::BLOB || encode(id)))), {ID_LENGTH})"


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


def pseudonymize_one(student_id: str, key: bytes) -> str:
    """hex(HMAC-SHA256(key, id))[:20] for one id: the reference the vectorized version must equal."""
    return hmac.new(key, str(student_id).encode(), hashlib.sha256).hexdigest()[:ID_LENGTH]


def _pads(key: bytes) -> tuple[bytes, bytes]:
    """HMAC's inner and outer padded keys (RFC 2104, SHA-256 block of 64 bytes)."""
    block = 64
    k = hashlib.sha256(key).digest() if len(key) > block else key
    k = k.ljust(block, b"\0")
    return bytes(b ^ 0x36 for b in k), bytes(b ^ 0x5C for b in k)


def pseudonymize(ids: pd.Series, key: bytes) -> pd.Series:
    """Map each id to hex(HMAC-SHA256(key, id))[:20], vectorized in DuckDB (:data:`HMAC_SQL`); equal to
    :func:`pseudonymize_one` for every id."""
    ipad, opad = _pads(key)
    with duckdb.connect() as con:
        con.register("frame", pd.DataFrame({"id": ids.astype(str).to_numpy()}))
        hashed = con.execute(f"SELECT {HMAC_SQL} AS h FROM frame", {"ipad": ipad, "opad": opad}).df()["h"]
    return pd.Series(hashed.to_numpy(), index=ids.index, name=ids.name)

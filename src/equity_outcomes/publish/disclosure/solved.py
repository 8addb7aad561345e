"""The attacker's answers kept beside the warehouse, so a yearly run solves only the programmes that changed (#22).

An answer is stored under its programme's key (``Attack._key`` with cell identities: a hash of every cell's
identity and published figures, every relation, the tolerances and the rules), with a checksum over the solver's
code (every module of this package and the HiGHS version), the key and the answer. An entry is used only when its
checksum holds: a corrupt file, an edited answer or another version of the solver drops it and its programme is
solved again, so the cache can save time but never change an answer. The file
(``<warehouse>.solved.parquet``) holds bounds on withheld cells and belongs with the warehouse's confidential data.
It keeps the answers one publication used (control and audit), written only after that publication passed its
audit.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
from importlib.metadata import version
from pathlib import Path

import duckdb
import pandas as pd


@functools.cache
def solver_version() -> str:
    """A hash of the code that computes an answer: this package's modules and the LP solver's version."""
    h = hashlib.sha256(version("highspy").encode())
    for path in sorted(Path(__file__).parent.glob("*.py")):
        h.update(path.read_bytes())
    return h.hexdigest()


def checksum(key: str, answer: str) -> str:
    return hashlib.sha256(f"{solver_version()}\n{key}\n{answer}".encode()).hexdigest()


AUDITED = "audited year "  # a kept audit verdict's key (audit._year_keys), before the hash of its linked sets


class Solved(dict):
    """``Attack.run``'s cache (key -> {position: interval row}) over stored answers, verified when first asked for;
    ``used``: the keys this run asked for or solved (what ``save`` keeps). Reused from the file: the programmes'
    answers (``reused_from_file``) and the audit's verdicts of unchanged school years (``reused_years``)."""

    def __init__(self, stored: dict[str, tuple[str, str]] | None = None) -> None:
        super().__init__()
        self.stored, self.used, self.reused_from_file, self.reused_years, self.rejected = stored or {}, set(), 0, 0, 0

    def __contains__(self, key) -> bool:
        if dict.__contains__(self, key):
            return True
        if key not in self.stored:
            return False
        answer, check = self.stored.pop(key)
        if check != checksum(key, answer):
            self.rejected += 1
            return False
        dict.__setitem__(self, key, {int(p): row for p, row in json.loads(answer).items()})
        if key.startswith(AUDITED):
            self.reused_years += 1
        else:
            self.reused_from_file += 1
        return True

    def __getitem__(self, key):
        self.used.add(key)
        return dict.__getitem__(self, key)

    def __setitem__(self, key, value) -> None:
        self.used.add(key)
        dict.__setitem__(self, key, value)


def solved_path(warehouse: Path) -> Path:
    return Path(warehouse).with_name(Path(warehouse).name + ".solved.parquet")


def load(warehouse: Path, say=None) -> Solved:
    """The stored answers of the last publication of ``warehouse`` (none when there is no file or it cannot be
    read: every programme is then solved)."""
    path = solved_path(warehouse)
    if not path.exists():
        return Solved()
    try:
        with duckdb.connect() as con:
            rows = con.execute("SELECT key, answer, checksum FROM read_parquet(?)", [str(path)]).fetchall()
    except duckdb.Error as e:
        if say:
            say(f"disclosure: the stored answers in {path} cannot be read ({e}); every programme is solved")
        return Solved()
    return Solved({k: (a, c) for k, a, c in rows})


def save(warehouse: Path, solved: Solved, say=None) -> int:
    """Write the answers this publication used beside ``warehouse`` (atomically); returns how many."""
    path = solved_path(warehouse)
    keys = sorted(k for k in solved.used if isinstance(k, str) and dict.__contains__(solved, k))
    answers = [json.dumps({str(p): row for p, row in solved[k].items()}, sort_keys=True,
                          default=lambda x: x.item()) for k in keys]  # numpy's scalars as Python's
    tmp = path.with_name(f".{path.name}.{os.getpid()}")
    checksums = [checksum(k, a) for k, a in zip(keys, answers, strict=True)]
    try:
        with duckdb.connect() as con:
            con.register("s", pd.DataFrame({"key": pd.Series(keys, dtype=object), "answer": answers,
                                            "checksum": checksums}))
            con.execute("COPY (SELECT key::VARCHAR AS key, answer::VARCHAR AS answer, checksum::VARCHAR AS "
                        "checksum FROM s) TO '{}' (FORMAT parquet)".format(str(tmp).replace("'", "''")))
        os.replace(tmp, path)
    except (duckdb.Error, OSError) as e:
        tmp.unlink(missing_ok=True)
        if say:
            say(f"disclosure: the answers could not be kept in {path} ({e}); the next run solves them again")
        return 0
    return len(keys)

"""Reading cell values as DESE publishes them: numbers as left-padded text, thousands separators, '$', '%',
'12.2 to 1' ratios, decimal commas (detected per file), NBSP, float artefacts, and DESE's blank / suppression marks.

Owns: cell text -> (value, is_suppressed). Each distinct text is parsed once. A text that is neither a number nor a
mark stays text: value NULL, not suppressed, ``value_text`` as published. Imports only the catalog.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np
import pandas as pd

from .catalog import CONFIG, norm

_SPACE = re.compile(r"[\s\u00a0\u2007\u202f]+")
_RATIO = re.compile(r"^([+-]?\d*[.,]?\d+)\s*to\s*1$", re.IGNORECASE)
_THOUSANDS_POINT = re.compile(r"^[+-]?\d{1,3}(,\d{3})+(\.\d*)?$")
_THOUSANDS_COMMA = re.compile(r"^[+-]?\d{1,3}(\.\d{3})+(,\d*)?$")
_NUMBER = re.compile(r"^[+-]?(\d+\.?\d*|\.\d+)(e[+-]?\d+)?$", re.IGNORECASE)
# a comma / point that can only be a decimal mark: ',9', '38,5', '17.4' (a thousands group has exactly 3 digits)
_DECIMAL_COMMA = re.compile(r"^[+-]?(\d{1,3}(\.\d{3})*|\d*),(\d{1,2}|\d{4,})$")
_DECIMAL_POINT = re.compile(r"^[+-]?(\d{1,3}(,\d{3})*|\d*)\.(\d{1,2}|\d{4,})$")


def _core(text: str) -> str:
    """Text without spaces/NBSP, a leading '$' and a trailing '%'."""
    t = _SPACE.sub("", text)
    if t.startswith(("$", "-$", "+$")):
        t = t.replace("$", "", 1)
    return t[:-1] if t.endswith("%") else t


def uses_decimal_comma(texts: list[str]) -> bool:
    """A file writes decimal commas when some number can only be read that way ('38,5', ',9', '1.437,25') and none
    can only be read with a decimal point ('17.4', '1,437.25'); '1,437' or '1.437' alone decide nothing."""
    cores = [_core(t) for t in texts]
    return any(_DECIMAL_COMMA.match(c) for c in cores) and not any(_DECIMAL_POINT.match(c) for c in cores)


def parse_number(text: str, decimal_comma: bool) -> float | None:
    """The number a cell text shows, or None. Float artefacts are rounded to 12 significant digits."""
    t = _core(text)
    m = _RATIO.match(t)
    if m:
        t = m.group(1)
    if decimal_comma:
        if _THOUSANDS_COMMA.match(t):
            t = t.replace(".", "")
        t = t.replace(",", ".")
    elif _THOUSANDS_POINT.match(t):
        t = t.replace(",", "")
    if not _NUMBER.match(t):
        return None
    return float(f"{float(t):.12g}")


@dataclass
class Parsed:
    value: np.ndarray  # float64, NaN unless a number
    is_suppressed: np.ndarray  # bool
    decimal_comma: bool


def parse_cells(texts: np.ndarray, text_only: bool = False) -> Parsed:
    """Parse cell texts. ``text_only``: the cells' columns hold text by definition (never numbers)."""
    codes, uniq = pd.factorize(pd.Series(texts, dtype=object), use_na_sentinel=False)
    uniq = [str(u) for u in uniq]
    comma = uses_decimal_comma(uniq)
    u_val = np.full(len(uniq), np.nan)
    u_sup = np.zeros(len(uniq), dtype=bool)
    for k, t in enumerate(uniq):
        if norm(t) in CONFIG.suppression_markers:
            u_sup[k] = True
        elif not text_only and (v := parse_number(t, comma)) is not None:
            u_val[k] = v
    return Parsed(value=u_val[codes], is_suppressed=u_sup[codes], decimal_comma=comma)

"""The readiness item catalog (``config/readiness_items.csv``) and rating scale (``config/readiness_scale.csv``).

The catalog is the School Planning Tool's needs assessment as data: 6 Conditions (35 items) and 5 Principles
(48 items), 83 items in all, each with its text exactly as the tool prints it (CCSSO references kept, HTML entities
decoded, HTML tags removed). ``tests/test_readiness.py`` re-parses the seed and compares.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

import pandas as pd
import pandera.errors
import pandera.pandas as pa

from ...errors import EquityOutcomesError
from ...paths import config_dir

ITEMS_FILE = "readiness_items.csv"
SCALE_FILE = "readiness_scale.csv"
CATALOG_COLUMNS = ["area_type", "area_number", "area_name", "item_number", "item_id", "item_text", "ccsso_reference"]
AREA_TYPES = ("condition", "principle")
# The planning tool's item counts: (area_type, area_number) -> items (conditions 1-6, principles 1-5).
EXPECTED_COUNTS: dict[tuple[str, int], int] = {
    (kind, i): n for kind, counts in (("condition", (8, 3, 6, 5, 3, 10)), ("principle", (8, 12, 10, 13, 5)))
    for i, n in enumerate(counts, start=1)}
SKIP = "skip"


def _area_key(frame: pd.DataFrame) -> pd.Series:
    """C1..C6, P1..P5: the area's type initial and number."""
    return frame["area_type"].str[0].str.upper() + frame["area_number"].astype(str)


CATALOG_SCHEMA = pa.DataFrameSchema(
    {
        "area_type": pa.Column(str, pa.Check.isin(AREA_TYPES)),
        "area_number": pa.Column(int, pa.Check.in_range(1, 9), coerce=True),
        "area_name": pa.Column(str, pa.Check.str_length(1, 200)),
        "item_number": pa.Column(int, pa.Check.in_range(1, 99), coerce=True),
        "item_id": pa.Column(str, pa.Check.str_matches(r"^[CP]\d\.\d{1,2}$"), unique=True),
        "item_text": pa.Column(str, pa.Check.str_length(1, 2000)),
        "ccsso_reference": pa.Column(str, nullable=True),
    },
    checks=[pa.Check(lambda df: df["item_id"] == _area_key(df) + "." + df["item_number"].astype(str),
                     name="item_id = C|P<area_number>.<item_number>")],
    strict=True,
    name="readiness_items",
)


def _catalog_error(path: Path, detail: str) -> EquityOutcomesError:
    return EquityOutcomesError(f"the readiness item catalog {path} is broken: {detail}. "
                               "How to fix: restore config/readiness_items.csv from version control.")


def _read(path: Path) -> pd.DataFrame:
    if not path.exists():
        raise _catalog_error(path, "the file is missing")
    return pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8")


@cache
def _load_items(path: Path) -> pd.DataFrame:
    frame = _read(path)
    frame["ccsso_reference"] = frame.get("ccsso_reference", pd.Series(dtype=str)).replace("", None)
    try:
        frame = CATALOG_SCHEMA.validate(frame, lazy=True)
    except pandera.errors.SchemaErrors as err:
        raise _catalog_error(path, err.failure_cases.head(5).to_string()) from None
    counts = frame.groupby(["area_type", "area_number"]).size().to_dict()
    if counts != EXPECTED_COUNTS:
        raise _catalog_error(path, f"item counts per area {counts} differ from the planning tool {EXPECTED_COUNTS}")
    if frame.groupby(["area_type", "area_number"])["area_name"].nunique().max() != 1:
        raise _catalog_error(path, "an area has more than one name")
    return frame[CATALOG_COLUMNS].reset_index(drop=True)


def _items() -> pd.DataFrame:
    return _load_items(config_dir() / ITEMS_FILE)


def items() -> pd.DataFrame:
    """The 83 catalog items in planning-tool order (conditions, then principles), validated."""
    return _items().copy()


def item_ids() -> list[str]:
    return _items()["item_id"].tolist()


def areas() -> pd.DataFrame:
    """One row per area: area_type, area_number, area_name, n_items, area_key (C1..C6, P1..P5), area_label."""
    out = (_items().groupby(["area_type", "area_number", "area_name"], sort=False).size()
           .rename("n_items").reset_index())
    out["area_key"] = _area_key(out)
    out["area_label"] = out["area_type"].str.title() + " " + out["area_number"].astype(str) + ": " + out["area_name"]
    return out


@cache
def _load_scale(path: Path) -> pd.DataFrame:
    frame = _read(path)
    if list(frame.columns) != ["value", "label", "description"] or set(frame["value"]) != {"1", "2", "3", "4", SKIP}:
        raise _catalog_error(path, "expected columns value,label,description and values 4,3,2,1,skip")
    return frame


def scale() -> pd.DataFrame:
    """The rating scale: value (4, 3, 2, 1, skip), label, description."""
    return _load_scale(config_dir() / SCALE_FILE).copy()

"""Errors that tell the user what went wrong, where, and how to fix it."""

from __future__ import annotations


class EquityOutcomesError(Exception):
    """Base class: every error raised on purpose by equity-outcomes."""


class InputError(EquityOutcomesError):
    """A user-supplied file or value cannot be used. Names the file, row, column and value, and the fix."""

    def __init__(
        self,
        problem: str,
        *,
        file: str | None = None,
        row: int | None = None,
        column: str | None = None,
        key: str | None = None,
        value: object = None,
        fix: str | None = None,
    ) -> None:
        self.problem = problem
        self.file = file
        self.row = row
        self.column = column
        self.key = key  # a key path in a catalog or settings file: targets[absence].threshold
        self.value = value
        self.fix = fix
        super().__init__(self.render())

    def render(self) -> str:
        where = [text for text, given in ((f"file {self.file}", self.file), (f"row {self.row}", self.row is not None),
                                          (f"column {self.column!r}", self.column), (f"key {self.key}", self.key),
                                          (f"value {self.value!r}", self.value is not None)) if given]
        msg = self.problem
        if where:
            msg = f"{', '.join(where)}: {msg}"
        if self.fix:
            msg += f" How to fix: {self.fix}"
        return msg


class UnknownSubgroupError(InputError):
    """A subgroup label not in config/subgroup_crosswalk.csv."""


class WarehouseBusyError(EquityOutcomesError):
    """Another process holds the warehouse for writing."""

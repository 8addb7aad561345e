"""Offline HTML scorecards (one page per school, one network page) and CSV/XLSX exports, small-cell safe."""

from .scorecards import publish_scorecards

__all__ = ["publish_scorecards"]

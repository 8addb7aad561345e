"""publish: what leaves the warehouse for people. Owns the offline HTML scorecards (one page per school, one
network page), their charts and the CSV/XLSX exports, and the one disclosure control every published number goes
through (:mod:`.disclosure`, with the audit that attacks the published files); reads the marts and target_results.

May import: the core modules and ``judge`` (the target catalog: wording, rules, rating levels); it reads the
warehouse's tables, not the code that made them.
"""

from .scorecards import publish_scorecards

__all__ = ["publish_scorecards"]

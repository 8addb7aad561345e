"""Seeded synthetic network of Massachusetts-like schools with known effects (the project's embedded demo data).

``generate_network(out_dir, seed=..., n_students=...)`` writes ``roster.csv``, ``student/<year>/<table>.csv`` (the
student data contract in :mod:`equity_outcomes.ingest.schemas`), DESE-style ``dese/<year>/*.xlsx`` exports aggregated from
the same students, and ``known_effects.json``. See ``docs/synthetic_data.md``.
"""

from .generate import SynthSummary, generate_network

__all__ = ["SynthSummary", "generate_network"]

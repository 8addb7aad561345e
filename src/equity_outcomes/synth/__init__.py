"""synth: the project's embedded demo data. Owns the seeded synthetic network of Massachusetts-like schools with
known effects.

``generate_network(out_dir, seed=..., n_students=...)`` writes ``roster.csv``, ``student/<year>/<table>.csv`` (the
student data contract in :mod:`equity_outcomes.ingest.schemas`), DESE-style ``dese/<year>/*.xlsx`` exports aggregated from
the same students, and ``known_effects.json``; the state-reporting layouts of the same records
(:mod:`.state_files`) and readiness self-assessments (:mod:`.readiness`). See ``docs/synthetic_data.md``.

May import: the core modules and ``ingest`` (the contract and layouts the files it writes must follow).
"""

from .generate import SynthSummary, generate_network

__all__ = ["SynthSummary", "generate_network"]

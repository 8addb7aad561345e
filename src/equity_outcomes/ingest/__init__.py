"""ingest: the edge. Owns everything a user brings, read, normalised and validated, then loaded atomically into the
raw tables of the warehouse: DESE exports (:mod:`.dese`, any report -> ``raw_dese_cells``), district student
extracts in the data contract (:mod:`.schemas`, pandera) or the state-reporting layouts (:mod:`.state_files`), SIS
spellings mapped at the edge (:mod:`.normalize`), readiness self-assessments (:mod:`.readiness`), the quarantine
and the load audit (:mod:`.load`), the dry run (:mod:`.check`) and the raw tables' definitions (:mod:`.tables`).

May import: the core modules (errors, paths, progress, warehouse, workspace, catalog, crosswalk) only.
"""

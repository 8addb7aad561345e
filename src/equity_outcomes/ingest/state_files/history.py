"""Facts the state layouts do not carry, derived from the history in the warehouse after every load (in the load's
transaction, over every SIMS-sourced row, so the result does not depend on the order files were loaded in):

- ``is_former_el``: not an English learner in the record's year (DOE025) and an English learner in any earlier
  year of the warehouse (SIMS or contract enrollment rows). This is how DESE identifies former ELs (from earlier
  SIMS collections); a student whose EL years predate the loaded files is not found (load earlier SIMS years).
- ``completed_dual_enrollment`` of a SIMS graduate: a dual-enrollment course (``courses.course_type = 'DUAL'``,
  from SCS or contract files) in the graduation year or any earlier year, at any school.
"""

from __future__ import annotations

import duckdb

SIMS_FILES = "SELECT source_file FROM load_audit WHERE source_kind = 'state' AND report = 'sims_student'"


def derive_history(con: duckdb.DuckDBPyConnection) -> None:
    if not con.execute(f"{SIMS_FILES} LIMIT 1").fetchall():
        return  # no SIMS file in the warehouse: nothing to derive
    con.execute(f"""
        UPDATE raw_student_enrollment AS e SET is_former_el = CASE WHEN e.is_el = 0 AND EXISTS (
            SELECT 1 FROM raw_student_enrollment p
            WHERE p.student_id = e.student_id AND p.school_year < e.school_year AND p.is_el = 1) THEN 1 ELSE 0 END
        WHERE e.source_file IN ({SIMS_FILES})""").fetchall()
    con.execute(f"""
        UPDATE raw_student_graduates AS g SET completed_dual_enrollment = CASE WHEN EXISTS (
            SELECT 1 FROM raw_student_courses c
            WHERE c.student_id = g.student_id AND c.school_year <= g.school_year AND c.course_type = 'DUAL')
            THEN 1 ELSE 0 END
        WHERE g.source_file IN ({SIMS_FILES})""").fetchall()

"""Student growth percentiles from score histories: the SGP package's method in Python.

Owns: ``config/growth.yaml``, the quantile regression solver (``quantreg``), the B-spline bases (``splines``), the
method on one cohort (``sgp``), the warehouse side (``histories``: score histories in, ``student_sgp`` out) and the
run over every cohort (``engine``). May import: the warehouse, errors, paths and config, and ``models`` (the
student_sgp table it writes is a source of the SQL project); nothing above the models.
The SQL model ``int_student_sgp`` feeds ``student_sgp`` into the SGP metrics (supplied SGPs win).
"""

from .engine import GrowthSummary, compute_growth
from .sgp import GrowthSettings, QuantileModel, cohort_sgps, load_settings

__all__ = ["GrowthSettings", "GrowthSummary", "QuantileModel", "cohort_sgps", "compute_growth", "load_settings"]

"""Prefect flows: thin wiring over equity_outcomes library functions.

Importing the library first applies its offline, quiet defaults (telemetry off, WARNING logs) before Prefect
reads its settings.
"""

import equity_outcomes  # noqa: F401

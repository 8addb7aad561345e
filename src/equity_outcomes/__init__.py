"""equity-outcomes: are our schools closing equity gaps and hitting the targets they committed to?

Library code. Pipelines in ``pipelines/`` wire these functions into Prefect flows; notebooks use ``equity_outcomes.research``.
"""

import os as _os

# Offline and quiet by default: no telemetry, no analytics, warnings only. Users can override any of these.
for _key, _value in {
    "DO_NOT_TRACK": "1",
    "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
    "PREFECT_LOGGING_LEVEL": "WARNING",
    "PREFECT_UI_ENABLED": "true",
}.items():
    _os.environ.setdefault(_key, _value)

__version__ = "0.1.0"

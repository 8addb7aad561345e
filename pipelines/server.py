"""Prefect's API for a one-off run: the server named by PREFECT_API_URL, or the ephemeral local server.

On a busy machine the ephemeral server can take longer than Prefect's default 20 s to start. :func:`api_ready`
gives it ``PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS`` (default here 90 s), then once more twice as long, and
returns False if it still did not answer: the caller then runs the same stages without Prefect and says so in one
line, so a scheduled yearly run never fails because the orchestrator's server was slow to start.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager

STARTUP_TIMEOUT_ENV = "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS"
DEFAULT_STARTUP_SECONDS = 90


def startup_seconds() -> int:
    value = os.environ.get(STARTUP_TIMEOUT_ENV)
    return int(value) if value not in (None, "") else DEFAULT_STARTUP_SECONDS


def api_ready() -> tuple[bool, str]:
    """(True, '') when a Prefect API answers for this process; (False, why) after two failed starts."""
    from prefect.server.api.server import SubprocessASGIServer
    from prefect.settings import PREFECT_API_URL

    if PREFECT_API_URL.value():
        return True, ""
    first = startup_seconds()
    tried = []
    for seconds in (first, 2 * first):
        server = SubprocessASGIServer()
        try:
            # Prefect reads 0 as "use the setting"; the setting is the same number, so 0 stays impossible
            server.start(timeout=seconds)
            return True, ""
        except Exception as exc:  # Prefect raises RuntimeError (timeout) or httpx errors (server died)
            tried.append(f"{seconds} s" + ("" if isinstance(exc, RuntimeError) else f" ({type(exc).__name__})"))
            server.stop()
    return False, "Prefect's local server did not start (waited " + ", then ".join(tried) + ")"


class _DropRunErrors(logging.Filter):
    """Drops the flow's and tasks' error records (the exception and its traceback) from the console."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not (record.name.startswith(("prefect.flow_runs", "prefect.task_runs"))
                    and record.levelno >= logging.ERROR)


@contextmanager
def errors_told_by_caller(enabled: bool = True) -> Iterator[None]:
    """While a one-off run's caller reports its errors itself (one message; a traceback only with --debug), keep
    Prefect's console from printing them first. The run's record on the server keeps every log line."""
    from prefect.logging.handlers import PrefectConsoleHandler

    handlers = [h for h in logging.getLogger().handlers if isinstance(h, PrefectConsoleHandler)] if enabled else []
    drop = _DropRunErrors()
    for h in handlers:
        h.addFilter(drop)
    try:
        yield
    finally:
        for h in handlers:
            h.removeFilter(drop)

"""A Python child process that works beside the publishing process: started with ``python -c`` and one line of
code, fed on its standard input, its answer read back from its standard output (charts.BundleLater: the Vega
bundle; school.SchoolPages: the school pages).

Why ``python -c`` and not concurrent.futures or multiprocessing's spawn: a spawned worker re-imports the caller's
main script, so an analyst's script without ``if __name__ == "__main__"`` would run twice; a ``-c`` child imports
only what its one line names."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
from pathlib import Path


def start(code: str, *args: str, stdin: bool = False, stderr=subprocess.DEVNULL) -> subprocess.Popen:
    """``python -c code args``, importing this very package whatever sys.path the child has."""
    here = str(Path(__file__).resolve().parents[2])
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([here, *filter(None, [os.environ.get("PYTHONPATH")])])}
    return subprocess.Popen([sys.executable, "-c", code, *args], stdin=subprocess.PIPE if stdin else None,
                            stdout=subprocess.PIPE, stderr=stderr, env=env)


def answer(child: subprocess.Popen) -> bytes:
    """All the child writes on its standard output, once it has ended (its input closed first)."""
    if child.stdin is not None:
        with contextlib.suppress(BrokenPipeError):
            child.stdin.close()
    out = child.stdout.read()
    child.wait()
    return out


def stop(child: subprocess.Popen | None) -> None:
    """Stop a child still running (its answer no longer wanted)."""
    if child is not None and child.poll() is None:
        child.kill()
        child.communicate()

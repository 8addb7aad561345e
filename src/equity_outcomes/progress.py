"""Progress of long work, for people: a live display (``rich``) on a terminal, one plain line per stage when the
output is not a terminal (logs, CI), nothing with ``--quiet``.

The command line activates one :class:`Display` for the length of a command (:func:`activated`). The stages
(``stages.py``) open a :func:`stage` on it and hand library functions a callback made by :func:`tee`, which reaches
the display besides any callback they were given (the Prefect flow's run logger). Library code reports item
``done`` of ``total`` with :func:`step`. With no display active (notebooks, tests) every call here is a no-op, so
library functions keep their plain ``progress(message)`` callbacks.
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, TextIO

Callback = Callable[[str], None]
MODES = ("live", "plain", "quiet")


@dataclass
class Stage:
    """One stage on the display: its name, start, summary line and bar (live)."""

    name: str
    started: float = field(default_factory=time.perf_counter)
    summary: str = ""
    task: Any = None

    def done(self, summary: str) -> None:
        """The stage's result in a few words (counts), printed on its line at the end."""
        self.summary = summary


class Display:
    """Where progress goes: ``live`` (rich progress bars on stderr), ``plain`` (a line per stage), ``quiet``."""

    def __init__(self, mode: str = "plain", stream: TextIO | None = None) -> None:
        if mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}")
        self.mode = mode
        self.stream = stream or sys.stderr
        self.current: Stage | None = None
        self._lock = threading.Lock()
        self._rich = None
        if mode == "live":
            from rich.console import Console
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                Progress,
                SpinnerColumn,
                TextColumn,
                TimeElapsedColumn,
            )
            from rich.table import Column

            # counts and time keep their width; the message takes what is left of the line and is cut with "…"
            self._rich = Progress(SpinnerColumn(), TextColumn("[bold]{task.fields[stage]:<8}"), BarColumn(bar_width=16),
                                  MofNCompleteColumn(), TimeElapsedColumn(),
                                  TextColumn("{task.description}",
                                             table_column=Column(no_wrap=True, overflow="ellipsis", ratio=1)),
                                  console=Console(file=self.stream), transient=False, expand=True)

    def __enter__(self) -> Display:
        if self._rich is not None:
            self._rich.start()
        return self

    def __exit__(self, *exc) -> None:
        if self._rich is not None:
            self._rich.stop()

    # -- what stages and library functions call
    def __call__(self, message: str) -> None:
        """A message from the current stage: shown beside its bar (live); plain mode keeps to one line a stage."""
        stage = self.current
        if self._rich is not None and stage is not None and stage.task is not None:
            self._rich.update(stage.task, description=_short(message))

    def advance(self, done: int, total: int, message: str) -> None:
        stage = self.current
        if self._rich is not None and stage is not None and stage.task is not None:
            self._rich.update(stage.task, completed=done, total=total, description=_short(message))

    def warn(self, message: str) -> None:
        """A one-line warning, shown in every mode but quiet."""
        if self.mode == "quiet":
            return
        if self._rich is not None:
            self._rich.console.print(f"[yellow]warning:[/] {message}", highlight=False)
        else:
            self._line(f"warning: {message}")

    @contextmanager
    def stage(self, name: str) -> Iterator[Stage]:
        stage = Stage(name)
        with self._lock:
            self.current = stage
            if self._rich is not None:
                stage.task = self._rich.add_task("", total=None, stage=name)
        ok = False
        try:
            yield stage
            ok = True
        finally:
            self._finish(stage, ok)

    def _finish(self, stage: Stage, ok: bool) -> None:
        seconds = time.perf_counter() - stage.started
        line = f"{stage.summary or ('done' if ok else 'failed')} ({seconds:.1f} s)"
        with self._lock:
            self.current = None
            if self._rich is not None:  # the bar gives way to the stage's line, printed in full above the bars
                self._rich.remove_task(stage.task)
                self._rich.console.print(f"[bold]{stage.name}[/]: {line}", highlight=False, soft_wrap=True)
            elif self.mode == "plain":
                self._line(f"{stage.name}: {line}")

    def _line(self, text: str) -> None:
        # write, not print: a Prefect flow with log_prints turns print() on stdout/stderr into log records
        self.stream.write(text + "\n")
        self.stream.flush()


def _short(message: str, width: int = 70) -> str:
    message = message.replace("\n", " ")
    return message if len(message) <= width else message[: width - 1] + "…"


_active: Display | None = None


def choose_mode(*, quiet: bool, stream: TextIO | None = None) -> str:
    if quiet:
        return "quiet"
    stream = stream or sys.stderr
    return "live" if getattr(stream, "isatty", lambda: False)() else "plain"


@contextmanager
def activated(display: Display) -> Iterator[Display]:
    """Make ``display`` the one stages report to, for the length of the block."""
    global _active
    previous, _active = _active, display
    try:
        with display:
            yield display
    finally:
        _active = previous


def active() -> Display | None:
    return _active


@contextmanager
def stage(name: str) -> Iterator[Stage | None]:
    """A stage on the active display (nothing when none is active)."""
    if _active is None:
        yield None
        return
    with _active.stage(name) as s:
        yield s


def tee(callback: Callback | None) -> Callback | None:
    """A callback that reaches ``callback`` and the active display (``callback`` itself when none is active)."""
    display = _active
    if display is None:
        return callback
    if callback is None:
        return display

    class _Both:
        def __call__(self, message: str) -> None:
            callback(message)
            display(message)

        def advance(self, done: int, total: int, message: str) -> None:
            callback(f"[{done}/{total}] {message}")
            display.advance(done, total, message)

    return _Both()


def warn(callback: Callback | None, message: str) -> None:
    """A one-line warning: a display shows it in every mode but quiet; a plain callback gets ``warning: message``."""
    if callback is None:
        return
    shown = getattr(callback, "warn", None)
    if shown is not None:
        shown(message)
    else:
        callback(f"warning: {message}")


def step(callback: Callback | None, done: int, total: int, message: str) -> None:
    """Report item ``done`` of ``total``: a display moves its bar; a plain callback gets ``[done/total] message``."""
    if callback is None:
        return
    advance = getattr(callback, "advance", None)
    if advance is not None:
        advance(done, total, message)
    else:
        callback(f"[{done}/{total}] {message}")

"""Bounded, tight polling with progress for people and events for machines.

A wait polls a check until it holds or its timeout passes. The interval grows
with the time already waited (5 % of it, between 50 ms and a configurable
maximum), so a 3-second lab restart is noticed within ~150 ms and a
5-minute real one costs a handful of requests, and the overshoot past the
moment the state changed stays around 5 % of the wait at every scale.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Protocol

from exops.core.errors import TimeoutError_

MIN_POLL_S = 0.05
POLL_FRACTION = 0.05


class Reporter(Protocol):
    """Where a wait reports: a rich progress line or structured events."""

    def waiting(self, what: str, detail: str, elapsed: float, timeout: float) -> None: ...
    def finished(self, what: str, elapsed: float) -> None: ...


class SilentReporter:
    def waiting(self, what: str, detail: str, elapsed: float, timeout: float) -> None:
        return None

    def finished(self, what: str, elapsed: float) -> None:
        return None


def poll_interval(elapsed: float, max_poll: float) -> float:
    return min(max(elapsed * POLL_FRACTION, MIN_POLL_S), max_poll)


class Waiter:
    def __init__(
        self,
        reporter: Reporter | None = None,
        *,
        max_poll: float = 5.0,
        cancel: threading.Event | None = None,
        clock: Callable[[], float] = time.monotonic,
    ):
        self.reporter = reporter or SilentReporter()
        self.max_poll = max_poll
        self.cancel = cancel or threading.Event()
        self.clock = clock

    def until(
        self,
        what: str,
        check: Callable[[], tuple[bool, str]],
        *,
        timeout: float,
        host: str | None = None,
    ) -> float:
        """Poll ``check`` until it returns ``(True, _)``; return the seconds waited.

        Raises:
            TimeoutError_: the check still fails after ``timeout`` seconds;
                the message says what was awaited and what was last seen.
        """
        start = self.clock()
        detail = ""
        while True:
            ok, detail = check()
            elapsed = self.clock() - start
            if ok:
                self.reporter.finished(what, elapsed)
                return elapsed
            if elapsed >= timeout:
                raise TimeoutError_(
                    f"gave up waiting for {what} after {timeout:.0f} s; last seen: {detail}",
                    host=host,
                    operation="wait",
                )
            self.reporter.waiting(what, detail, elapsed, timeout)
            pause = min(poll_interval(elapsed, self.max_poll), max(timeout - elapsed, 0.0))
            if self.cancel.wait(pause):
                raise KeyboardInterrupt


class RichReporter:
    """One live progress line per wait, for a terminal."""

    def __init__(self, console: object):
        from rich.progress import (
            BarColumn,
            Progress,
            SpinnerColumn,
            TextColumn,
            TimeElapsedColumn,
        )

        self.progress = Progress(
            SpinnerColumn(),
            TextColumn("{task.description}"),
            BarColumn(bar_width=20),
            TimeElapsedColumn(),
            TextColumn("[dim]{task.fields[detail]}"),
            console=console,  # type: ignore[arg-type]
            transient=True,
        )
        self._tasks: dict[str, object] = {}

    @contextmanager
    def active(self) -> Iterator[RichReporter]:
        with self.progress:
            yield self

    def waiting(self, what: str, detail: str, elapsed: float, timeout: float) -> None:
        task = self._tasks.get(what)
        if task is None:
            task = self.progress.add_task(what, total=timeout, detail=detail)
            self._tasks[what] = task
        self.progress.update(task, completed=elapsed, detail=detail[:60])  # type: ignore[arg-type]

    def finished(self, what: str, elapsed: float) -> None:
        task = self._tasks.pop(what, None)
        if task is not None:
            self.progress.remove_task(task)  # type: ignore[arg-type]

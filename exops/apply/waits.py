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
from collections.abc import Callable
from typing import Protocol

from exops.core.errors import TimeoutError_

MIN_POLL_S = 0.05
POLL_FRACTION = 0.05


class Reporter(Protocol):
    """Where a wait reports (the runner's observers: a progress line, events)."""

    def waiting(self, what: str, detail: str, elapsed: float, timeout: float) -> None: ...
    def finished(self, what: str, elapsed: float) -> None: ...


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
        self.reporter = reporter
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
                if self.reporter is not None:
                    self.reporter.finished(what, elapsed)
                return elapsed
            if elapsed >= timeout:
                raise TimeoutError_(
                    f"gave up waiting for {what} after {timeout:.0f} s; last seen: {detail}",
                    host=host,
                    operation="wait",
                )
            if self.reporter is not None:
                self.reporter.waiting(what, detail, elapsed, timeout)
            pause = min(poll_interval(elapsed, self.max_poll), max(timeout - elapsed, 0.0))
            if self.cancel.wait(pause):
                raise KeyboardInterrupt

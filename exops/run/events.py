"""Structured run events as JSON lines (``--events FILE`` or ``--events -``).

A pipeline or a log shipper follows a long run (restarts take minutes) by
reading one JSON object per line, so lines are written whole, flushed at once
and never interleaved between threads. Every line carries ``ts`` (ISO 8601
UTC with milliseconds), ``event``, ``run_id`` and ``cluster``; the rest are the
event's fields, redacted and made JSON-safe (unknown types become ``str``).

Event names emitted by exops (``exops.apply.executor`` and ``exops.cli.execute``):

- ``run_started``: ``runbook``, ``actions`` (how many)
- ``step_started``: ``action``, ``step``, ``kind``, ``host``
- ``changed`` / ``ok``: a step's result, with ``detail`` and ``duration_s``
- ``skipped``: a step that needed nothing, with ``detail``
- ``failed``: ``status`` (``failed``, or ``unreachable`` when the peer could not be
  reached), ``error``, ``advice``, ``duration_s``
- ``waiting``: wait progress: ``what``, ``detail``, ``elapsed_s``, ``timeout_s``
- ``restarting``: ``host``, ``action``
- ``waited``: a wait ended: ``what``, ``elapsed_s``
- ``done``: the run's ``status``, ``exit_code``, ``failed``, ``changed``, ``unreached``
- ``interrupted``: the last event of a run stopped by Ctrl-C or SIGTERM

Every event also carries ``schema`` (``exops.event/1``).
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any, Protocol, TextIO

from exops.core.redact import redact

log = logging.getLogger(__name__)

EVENTS = (
    "run_started",
    "step_started",
    "changed",
    "ok",
    "skipped",
    "failed",
    "waiting",
    "restarting",
    "waited",
    "done",
    "interrupted",
)

# The detail of a step an interruption kept from starting, and how the error of
# the step in flight begins (written by ``exops.run.runner``, read by the display:
# here, in a light module, so the status path never imports the runner).
NOT_STARTED = "not started: the run was interrupted"
IN_FLIGHT = "interrupted in flight"


class Sink(Protocol):
    def emit(self, event: str, **fields: Any) -> None: ...


class JsonLinesSink:
    """Writes each event as one JSON line to ``stream``.

    The envelope keys (``ts``, ``event``, ``run_id``, ``cluster``) win over
    fields of the same name, so consumers can always trust them. A stream that
    fails (a closed pipe) disables the sink with one warning instead of
    aborting a run that may be half way through a restart.
    """

    def __init__(
        self, stream: TextIO, *, run_id: str, cluster: str, lock: threading.Lock | None = None
    ):
        self.stream = stream
        self.run_id = run_id
        self.cluster = cluster
        self._lock = lock or threading.Lock()  # shared when several runs write one stream
        self._broken = False

    def emit(self, event: str, **fields: Any) -> None:
        record = {
            **redact(fields),
            "ts": datetime.now(UTC).isoformat(timespec="milliseconds"),
            "event": event,
            "run_id": self.run_id,
            "cluster": self.cluster,
        }
        ordered = {k: record[k] for k in ("ts", "event", "run_id", "cluster")} | record
        line = json.dumps(ordered, default=str, ensure_ascii=False) + "\n"
        with self._lock:
            if self._broken:
                return
            try:
                self.stream.write(line)
                self.stream.flush()
            except (OSError, ValueError) as exc:  # ValueError: I/O on a closed file
                self._broken = True
                log.warning("events: stopped writing events (%s)", exc)


class MultiSink:
    """Fans each event out to several sinks, in order."""

    def __init__(self, sinks: Iterable[Sink]):
        self.sinks = list(sinks)

    def emit(self, event: str, **fields: Any) -> None:
        for sink in self.sinks:
            sink.emit(event, **fields)


class NullSink:
    """Discards events (no ``--events`` given)."""

    def emit(self, event: str, **fields: Any) -> None:
        return None

"""Observers: everything that watches a run (in the style of Nornir's processors).

A run calls its observers at each stage; they never change what the run
does. The journal, the JSON-lines events, the terminal display and the fleet
summary are observers, so the runner itself neither prints nor stores.
Every method has a no-op default: an observer overrides what it needs.
"""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, TextIO

from exops.apply.results import RunResult, StepResult
from exops.plan.model import Action, Plan
from exops.state.base import NewRun

EVENT_SCHEMA = "exops.event/1"


@dataclass(frozen=True)
class RunInfo:
    """The run being observed."""

    run_id: str
    cluster: str
    runbook: str
    plan: Plan


class Observer:
    """Hooks called by the runner, in order: run_started, then per action
    step_started, waiting*/waited, restarting, step_finished; then run_finished."""

    def run_started(self, run: RunInfo) -> None:
        return None

    def step_started(self, run: RunInfo, action: Action) -> None:
        return None

    def waiting(self, run: RunInfo, what: str, detail: str, elapsed: float, timeout: float) -> None:
        return None

    def waited(self, run: RunInfo, what: str, elapsed: float) -> None:
        return None

    def restarting(self, run: RunInfo, host: str, action_id: str) -> None:
        return None

    def step_finished(self, run: RunInfo, result: StepResult) -> None:
        return None

    def run_finished(self, run: RunInfo, result: RunResult) -> None:
        return None


class Observers(Observer):
    """Fans every call out to several observers, in order."""

    def __init__(self, observers: Sequence[Observer] = ()):
        self.observers = list(observers)

    def run_started(self, run: RunInfo) -> None:
        for o in self.observers:
            o.run_started(run)

    def step_started(self, run: RunInfo, action: Action) -> None:
        for o in self.observers:
            o.step_started(run, action)

    def waiting(self, run: RunInfo, what: str, detail: str, elapsed: float, timeout: float) -> None:
        for o in self.observers:
            o.waiting(run, what, detail, elapsed, timeout)

    def waited(self, run: RunInfo, what: str, elapsed: float) -> None:
        for o in self.observers:
            o.waited(run, what, elapsed)

    def restarting(self, run: RunInfo, host: str, action_id: str) -> None:
        for o in self.observers:
            o.restarting(run, host, action_id)

    def step_finished(self, run: RunInfo, result: StepResult) -> None:
        for o in self.observers:
            o.step_finished(run, result)

    def run_finished(self, run: RunInfo, result: RunResult) -> None:
        for o in self.observers:
            o.run_finished(run, result)


class JournalObserver(Observer):
    """Records the run and each step as it finishes (a crash loses no finished step).

    A journal write that fails once the run has begun (the database locked past
    its busy timeout, the server gone) never aborts the run half-way through a
    restart: the failure is kept in ``lost`` and, when the run finishes, added to
    the result's ``warnings`` (which the CLI prints on stderr and ``--json``
    carries), so a run never looks recorded when it was not. A run whose start
    cannot be recorded does not start.
    """

    def __init__(self, journal: Any, *, user: str, host: str | None = None):
        self.journal = journal
        self.user = user
        self.host = host or socket.gethostname()
        self._id: int | None = None
        self.lost: list[str] = []

    def run_started(self, run: RunInfo) -> None:
        self._id = self.journal.start_run(
            NewRun(
                run_id=run.run_id,
                cluster=run.cluster,
                runbook=run.runbook,
                params=run.plan.params,
                plan=json.loads(run.plan.to_json()),
                user=self.user,
                host=self.host,
            )
        )

    def step_finished(self, run: RunInfo, result: StepResult) -> None:
        if self._id is not None:
            what = f"step {result.action.id} ({result.status.value})"
            self._keep(what, lambda: self.journal.record_step(self._id, result))

    def run_finished(self, run: RunInfo, result: RunResult) -> None:
        if self._id is not None:
            self._keep(
                f"the run's end ({result.status.value}, exit {result.exit_code})",
                lambda: self.journal.finish_run(self._id, result.status.value, result.exit_code),
            )
        if self.lost:
            result.warnings.append(
                f"the journal did not record run {run.run_id} completely "
                f"({len(self.lost)} write{'s' if len(self.lost) > 1 else ''} failed: "
                + "; ".join(self.lost)
                + "): `exops show` and `--resume` do not see what was lost; this output is "
                "the record of what was done"
            )

    def record_unapplied(self, run: RunInfo, result: RunResult) -> None:
        """A run that ends before its first step (its plan refused, or nothing to
        change): one record with the plan, which says why, and no steps."""
        self._keep("the run's start", lambda: self.run_started(run))
        self.run_finished(run, result)

    def _keep(self, what: str, write: Callable[[], None]) -> None:
        from exops.core.errors import ExopsError
        from exops.core.redact import redact_text

        try:
            write()
        except (ExopsError, OSError) as exc:
            why = str(exc).splitlines()[0] if str(exc).strip() else type(exc).__name__
            self.lost.append(f"{what}: {redact_text(why)}")


class EventsObserver(Observer):
    """Line-delimited JSON events (``--events FILE`` or ``-``), via ``JsonLinesSink``.

    Every event carries ``schema`` (``exops.event/1``); the last one is
    ``done`` (with the run's status and exit code) or ``interrupted``.
    """

    def __init__(self, stream: TextIO, *, lock: threading.Lock | None = None):
        self.stream = stream
        self.lock = lock  # shared by observers of several runs writing one stream
        self._sink: Any = None
        self._last_wait: dict[str, tuple[float, str]] = {}

    def _emit(self, run: RunInfo, event: str, **fields: Any) -> None:
        if self._sink is None:
            from exops.run.events import JsonLinesSink

            self._sink = JsonLinesSink(
                self.stream, run_id=run.run_id, cluster=run.cluster, lock=self.lock
            )
        self._sink.emit(event, schema=EVENT_SCHEMA, **fields)

    def run_started(self, run: RunInfo) -> None:
        self._emit(run, "run_started", runbook=run.runbook, actions=len(run.plan.actions))

    def step_started(self, run: RunInfo, action: Action) -> None:
        self._emit(
            run,
            "step_started",
            action=action.id,
            step=action.step,
            kind=action.kind.value,
            host=action.host,
        )

    def waiting(self, run: RunInfo, what: str, detail: str, elapsed: float, timeout: float) -> None:
        # One event when what is seen changes, else at most one per 1 % of the timeout.
        last_time, last_detail = self._last_wait.get(what, (-1e9, ""))
        if detail != last_detail or elapsed - last_time >= max(1.0, timeout / 100):
            self._last_wait[what] = (elapsed, detail)
            self._emit(
                run,
                "waiting",
                what=what,
                detail=detail,
                elapsed_s=round(elapsed, 1),
                timeout_s=timeout,
            )

    def waited(self, run: RunInfo, what: str, elapsed: float) -> None:
        self._last_wait.pop(what, None)
        self._emit(run, "waited", what=what, elapsed_s=round(elapsed, 1))

    def restarting(self, run: RunInfo, host: str, action_id: str) -> None:
        self._emit(run, "restarting", host=host, action=action_id)

    def step_finished(self, run: RunInfo, result: StepResult) -> None:
        doc = result.to_doc()
        status = doc.pop("status")
        # One ``failed`` event for both kinds of failure; ``status`` tells them apart.
        event = "failed" if result.failed else status
        self._emit(run, event, status=status, **doc)

    def run_finished(self, run: RunInfo, result: RunResult) -> None:
        event = "interrupted" if result.status.value == "interrupted" else "done"
        self._emit(
            run,
            event,
            status=result.status.value,
            exit_code=result.exit_code,
            failed=result.failed,
            changed=result.changed,
            unreached=list(result.unreached),
        )

"""What the tools that journal a run of their own share (``exops drain``, ``exops
snapshot``, ``exops upgrade``, ``exops renew-cert``): the state store opened and
closed, the cluster lock's wait, one journalled run with its steps, and how a run
that escapes with an exception is finished in the journal (interrupted or failed).

The journal's schema is ``exops.state.base`` (``NewRun``, ``StepLike``): nothing
here changes what is written, only where it is written from.
"""

from __future__ import annotations

import socket
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol, Self, TypeVar

from exops.core.errors import UsageError
from exops.core.exitcodes import ExitCode
from exops.run.env import Env
from exops.state import open_state
from exops.state.base import UNFINISHED_STATUSES, NewRun, RunQuery, current_user


@dataclass(frozen=True)
class JournalAction:
    """The action of a journalled step (``exops.state.base.StepLike.action``)."""

    id: str
    step: str
    kind: str
    host: str | None


@dataclass
class JournalStep:
    """One journalled step (``exops.state.base.StepLike``)."""

    action: JournalAction
    status: str
    started: datetime
    duration_s: float
    detail: str
    error: str | None = None
    advice: str | None = None


def lock_wait(env: Env, lock_timeout: float | None) -> float:
    """How long to wait for another run's cluster lock: ``--lock-timeout``, else the settings'."""
    return lock_timeout if lock_timeout is not None else env.settings.lock_timeout


def cluster_lock(
    store: Any, env: Env, cluster: str, runbook: str, lock_timeout: float | None
) -> Any:
    """The cluster's run lock, the one every runbook takes: keyed by the inventory's
    lock key (the cluster's name and a digest of its members, issue 19.6), never the
    bare name (two commands on one cluster would not exclude each other)."""
    key = env.inventory.cluster(cluster).lock_key
    return store.lock(key, runbook=runbook, timeout_s=lock_wait(env, lock_timeout))


@contextmanager
def state_store(env: Env, *, skip: bool = False, optional: bool = False) -> Iterator[Any]:
    """The state store, closed afterwards. ``skip``: None (a dry run that needs none);
    ``optional``: None when it cannot be opened (a dry run that only reads from it).

    Raises:
        UsageError: the store cannot be used (unless ``optional``).
    """
    store = None
    if not skip:
        try:
            store = open_state(env.settings)
        except UsageError:
            if not optional:
                raise
    try:
        yield store
    finally:
        if store is not None:
            store.close()


class JournalledRun:
    """One run in the journal: started on creation, its steps as they finish, finished
    once. Used as a context manager, an exception that escapes finishes it as
    interrupted (Ctrl-C, exit 130) or failed (exit 1) unless it was finished already."""

    def __init__(
        self,
        store: Any,
        cluster: str,
        runbook: str,
        *,
        params: dict[str, Any],
        plan: dict[str, Any],
        run_id: str | None = None,
    ):
        self.store = store
        self.run_id = run_id or uuid.uuid4().hex[:12]
        self.finished = False
        self.jid: int = store.journal.start_run(
            NewRun(
                run_id=self.run_id,
                cluster=cluster,
                runbook=runbook,
                params=params,
                plan=plan,
                user=current_user(),
                host=socket.gethostname(),
            )
        )

    def record(self, step: JournalStep) -> None:
        self.store.journal.record_step(self.jid, step)

    def step(
        self,
        aid: str,
        what: str,
        kind: str,
        host: str | None,
        status: str,
        started: datetime,
        seconds: float | None = None,
        detail: str = "",
        error: str | None = None,
    ) -> None:
        """Record one step; ``seconds`` None: from ``started`` until now."""
        if seconds is None:
            seconds = max(0.0, (datetime.now(UTC) - started).total_seconds())
        self.record(
            JournalStep(
                JournalAction(aid, what, kind, host), status, started, seconds, detail, error
            )
        )

    def finish(self, status: str, code: int) -> None:
        self.store.journal.finish_run(self.jid, status, int(code))
        self.finished = True

    def __enter__(self) -> Self:
        return self

    def __exit__(self, kind: type[BaseException] | None, *rest: object) -> None:
        if kind is None or self.finished:
            return
        if issubclass(kind, KeyboardInterrupt):
            self.finish("interrupted", ExitCode.INTERRUPTED)
        else:
            self.finish("failed", ExitCode.FAILED)


class Outcome(Protocol):
    status: str
    exit_code: int
    message: str


R = TypeVar("R", bound=Outcome)


def ended(result: R, status: str, code: int, message: str) -> R:
    """``result`` with its outcome set (status, exit code, one line)."""
    result.status, result.exit_code, result.message = status, int(code), message
    return result


def unfinished_run(store: Any, cluster: str, runbook: str) -> dict[str, Any] | None:
    """The journal's last ``runbook`` run of ``cluster`` when it did not finish (killed,
    interrupted or failed); None without one or without a store."""
    if store is None:
        return None
    last = store.journal.list_runs(limit=1, query=RunQuery(cluster=cluster, runbook=runbook))
    return last[0] if last and last[0].get("status") in UNFINISHED_STATUSES else None


def close_unfinished(
    store: Any,
    env: Env,
    cluster: str,
    runbook: str,
    *,
    params: dict[str, Any],
    detail: str,
    lock_timeout: float | None,
) -> str | None:
    """A re-run found nothing left to do, read now, but the journal's last ``runbook``
    run of ``cluster`` did not finish (killed after its last change): record a run that
    says the work is finished (one verify step with ``detail``), so the killed run is
    no longer the last one. The line that says so (None: nothing to close)."""
    stopped = unfinished_run(store, cluster, runbook)
    if stopped is None:
        return None
    started = datetime.now(UTC)
    killed = stopped.get("run_id")
    with (
        cluster_lock(store, env, cluster, runbook, lock_timeout),
        JournalledRun(store, cluster, runbook, params=params, plan={"closes": killed}) as run,
    ):
        run.step("v0", "nothing left to do", "verify", None, "ok", started, None, detail)
        run.finish("ok", 0)
    return f"{cluster}: {detail}: run {killed}, which did not finish, is closed (run {run.run_id})"

"""What every state backend shares: the protocols, the holder record, name checks."""

from __future__ import annotations

import getpass
import json
import os
import re
import socket
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import Enum
from typing import TYPE_CHECKING, Any, Protocol

from exops.core.errors import ExopsError, UsageError
from exops.core.redact import redact, redact_text

if TYPE_CHECKING:
    from exops.state.snapshots import SnapshotStore

_SAFE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")

# Statuses of a step that ended well, for restart_durations.
DONE_STATUSES = ("ok", "changed")
# Statuses of a run that did not end well, for last_failed_run (--resume).
UNFINISHED_STATUSES = ("failed", "interrupted", "running")

RUN_KEYS = ("run_id", "started", "finished", "cluster", "runbook", "status", "exit_code")
STEP_KEYS = (
    "seq",
    "action_id",
    "step",
    "kind",
    "host",
    "status",
    "started",
    "duration_s",
    "detail",
    "error",
    "advice",
)


@dataclass(frozen=True)
class RunQuery:
    """Which runs ``list_runs`` returns: every field given must match.

    ``since``/``until`` are UTC ISO times (``now_iso``'s form), compared with when
    a run started, both ends included. ``status`` is the status as reported: a
    ``running`` run whose process died reads ``interrupted``, so both stored
    statuses are fetched for either and the caller keeps the ones that match.
    """

    cluster: str | None = None
    runbook: str | None = None
    status: str | None = None
    since: str | None = None
    until: str | None = None

    def where(self, mark: str, status_column: str = "status") -> tuple[str, list[Any]]:
        """A ``WHERE`` clause (or "") and its arguments, ``mark`` the placeholder."""
        parts: list[str] = []
        args: list[Any] = []
        for column, value in (("cluster", self.cluster), ("runbook", self.runbook)):
            if value is not None:
                parts.append(f"{column} = {mark}")
                args.append(value)
        if self.since is not None:
            parts.append(f"started >= {mark}")
            args.append(self.since)
        if self.until is not None:
            parts.append(f"started <= {mark}")
            args.append(self.until)
        if self.status is not None:
            stored = self.stored_statuses()
            parts.append(f"{status_column} IN ({', '.join(mark for _ in stored)})")
            args += stored
        return ("WHERE " + " AND ".join(parts) if parts else ""), args

    def stored_statuses(self) -> list[str]:
        if self.status in ("running", "interrupted"):
            return ["running", "interrupted"]
        return [str(self.status)]

    @property
    def derived(self) -> bool:
        """True when the reported status must be checked after reading."""
        return self.status in ("running", "interrupted")

    def keep(self, runs: list[dict[str, Any]], limit: int) -> list[dict[str, Any]]:
        if self.derived:
            runs = [r for r in runs if r["status"] == self.status]
        return runs[: max(0, limit)]


class LockLostError(ExopsError):
    """The cluster lock of a running run is gone (its state-store session ended):
    no other host is kept out any more, so the run stops at the next step boundary."""


def check_name(what: str, name: str) -> str:
    """``name`` unchanged when it is safe as one file-name component.

    Raises:
        UsageError: ``../``, ``/``, blanks, a leading dot, or over 128 characters.
    """
    if not isinstance(name, str) or not _SAFE_NAME.match(name):
        raise UsageError(
            f"{what} name {name!r} cannot name a file (use letters, digits, '.', '_' and '-')"
        )
    return name


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


def current_user() -> str:
    """Who runs exops, as the journal and the lock name them (one rule for both)."""
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no passwd entry (containers)
        return str(os.getuid())


def holder_record(cluster: str, runbook: str) -> dict[str, Any]:
    """Who holds a lock: stored beside it so a refusal can name the holder."""
    return {
        "user": current_user(),
        "host": socket.gethostname(),
        "pid": os.getpid(),
        "started": datetime.now(UTC).isoformat(timespec="seconds"),
        "runbook": runbook,
        "cluster": cluster,
    }


def describe(holder: dict[str, Any] | None) -> str:
    """``alice@jump1 pid 123 (add-peer) since 2024-05-01T10:00:00+00:00``."""
    if not holder:
        return "another exops process (holder not yet recorded)"
    return (
        f"{holder.get('user', '?')}@{holder.get('host', '?')} pid {holder.get('pid', '?')} "
        f"({holder.get('runbook', '?')}) since {holder.get('started', '?')}"
    )


def locked_message(cluster: str, holder: dict[str, Any] | None, timeout_s: float) -> str:
    waited = f" (waited {timeout_s:g} s)" if timeout_s > 0 else ""
    return (
        f"cluster {cluster} is locked by {describe(holder)}{waited}; "
        f"wait with --lock-timeout or `exops unlock -c {cluster}`"
    )


def process_alive(host: str, pid: int | None) -> bool | None:
    """True/False for a pid on this host; None when it runs elsewhere (unknown)."""
    if host != socket.gethostname() or not isinstance(pid, int) or pid <= 0:
        return None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, another user's
        return True
    return True


def run_status(status: str, host: str, pid: int) -> str:
    """A ``running`` run whose process died on this host is reported as interrupted."""
    if status == "running" and process_alive(host, pid) is False:
        return "interrupted"
    return status


def _value(raw: Any) -> str:
    return str(raw.value) if isinstance(raw, Enum) else str(raw)


@dataclass(frozen=True)
class StepRow:
    """One step outcome, redacted and flattened for storage."""

    action_id: str
    step: str
    kind: str
    host: str | None
    status: str
    started: str
    duration_s: float
    detail: str
    error: str | None
    advice: str | None

    @classmethod
    def of(cls, step: Any) -> StepRow:
        """From any object with ``action`` (id, step, kind, host), status, started,
        duration_s, detail, error, advice (``exops.apply.results.StepResult``)."""
        action = step.action
        started = step.started
        return cls(
            action_id=redact_text(str(action.id)),
            step=redact_text(str(action.step)),
            kind=_value(action.kind),
            host=None if action.host is None else redact_text(str(action.host)),
            status=redact_text(_value(step.status)),
            started=(
                started.isoformat(timespec="milliseconds")
                if isinstance(started, datetime)
                else str(started)
            ),
            duration_s=float(step.duration_s or 0.0),
            detail=redact_text(str(step.detail or "")),
            error=None if step.error is None else redact_text(str(step.error)),
            advice=None if step.advice is None else redact_text(str(step.advice)),
        )


def redacted_json(value: Any) -> str:
    return json.dumps(redact(value), default=str)


def backup_doc(cluster: str, host: str, settings: dict[str, Any], run_id: str) -> dict[str, Any]:
    """The stored form of one peer's pre-change backup (same as the file format)."""
    return {
        "cluster": check_name("cluster", cluster),
        "host": check_name("host", host),
        "taken_at": datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ"),
        "run_id": run_id,
        "settings": settings,
    }


@dataclass(frozen=True)
class Held:
    """A held cluster lock: who we recorded, where, and the stale holder we replaced."""

    cluster: str
    holder: dict[str, Any]
    where: str
    took_over: dict[str, Any] | None = None


class StepLike(Protocol):
    """What ``record_step`` reads (``exops.apply.results.StepResult`` fits)."""

    action: Any
    status: Any
    started: datetime
    duration_s: float
    detail: str
    error: str | None
    advice: str | None


@dataclass(frozen=True)
class NewRun:
    """A run as the journal records it when it starts (status ``running``)."""

    run_id: str
    cluster: str
    runbook: str
    params: dict[str, Any]
    plan: dict[str, Any]
    user: str
    host: str

    def values(self) -> tuple[Any, ...]:
        """The row for ``START_COLUMNS``: this process's pid, now, secrets redacted."""
        return (
            self.run_id,
            self.cluster,
            self.runbook,
            self.user,
            self.host,
            os.getpid(),
            now_iso(),
            redacted_json(self.params),
            redacted_json(self.plan),
        )


# Columns of a run row: as a run starts (NewRun.values), and as exported/imported.
START_COLUMNS = ("run_id", "cluster", "runbook", "user", "host", "pid", "started", "params", "plan")
EXPORT_COLUMNS = (*START_COLUMNS, "status", "exit_code", "finished")


class JournalStore(Protocol):
    def start_run(self, run: NewRun) -> int: ...

    def record_step(self, journal_id: int, step: StepLike) -> None: ...

    def finish_run(self, journal_id: int, status: str, exit_code: int) -> None: ...

    def list_runs(
        self, *, cluster: str | None = None, limit: int = 20, query: RunQuery | None = None
    ) -> list[dict[str, Any]]: ...

    def match_run_ids(self, prefix: str, limit: int = 10) -> list[str]: ...

    def get_run(self, run_id: str) -> dict[str, Any] | None: ...

    def last_failed_run(self, cluster: str, runbook: str) -> dict[str, Any] | None: ...

    def restart_durations(self, cluster: str, host: str, limit: int = 5) -> list[float]: ...


class BackupStore(Protocol):
    def save(self, cluster: str, host: str, settings: dict[str, Any], run_id: str) -> str: ...

    def latest(self, cluster: str, host: str) -> tuple[str, dict[str, Any]] | None: ...

    def read(self, location: str) -> dict[str, Any]: ...


class StateStore(Protocol):
    @property
    def backend(self) -> str: ...  # "sqlite" | "postgresql"

    @property
    def journal(self) -> JournalStore: ...

    @property
    def backups(self) -> BackupStore: ...

    @property
    def snapshots(self) -> SnapshotStore: ...

    def lock(
        self, cluster: str, *, runbook: str, timeout_s: float
    ) -> AbstractContextManager[Held]: ...

    def unlock(self, cluster: str, *, force: bool = False) -> str | None: ...

    def check_lock(self, cluster: str | None = None) -> None: ...

    def close(self) -> None: ...

"""One run per cluster at a time: an advisory ``flock`` on ``<lock_dir>/<cluster>.lock``.

Two operators restarting peers of the same cluster at once can take the whole
cluster down, so a changing run holds the cluster's lock from planning to the
end of apply. ``flock`` is released by the kernel when its holder dies, so a
crash never leaves a cluster locked: a lock file that still names a holder but
is not flocked is stale and is simply taken over. While held, the file records
who holds it (user, host, pid, start, runbook) so the refusal can name them.

The lock is local to the machine (and to the state directory): operators who
share a jump host share it; separate workstations need a shared ``state_dir``.
"""

from __future__ import annotations

import contextlib
import fcntl
import getpass
import json
import logging
import os
import re
import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from exops.errors import LockedError, UsageError

log = logging.getLogger(__name__)

_SAFE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
_POLL_MIN_S = 0.05
_POLL_MAX_S = 0.5


@dataclass(frozen=True)
class Held:
    """A held cluster lock: who we recorded, and the stale holder we replaced, if any."""

    path: Path
    holder: dict[str, Any]
    took_over: dict[str, Any] | None = None


def lock_path(cluster: str, lock_dir: Path) -> Path:
    """The lock file of ``cluster``.

    Raises:
        UsageError: the cluster name is not a safe file name.
    """
    if not _SAFE_NAME.match(cluster):
        raise UsageError(
            f"cluster name {cluster!r} cannot name a lock file "
            "(use letters, digits, '.', '_' and '-')"
        )
    return lock_dir / f"{cluster}.lock"


def describe(holder: dict[str, Any] | None) -> str:
    """``alice@jump1 pid 123 (add-peer) since 2024-05-01T10:00:00+00:00``."""
    if not holder:
        return "another exops process (holder not yet recorded)"
    return (
        f"{holder.get('user', '?')}@{holder.get('host', '?')} pid {holder.get('pid', '?')} "
        f"({holder.get('runbook', '?')}) since {holder.get('started', '?')}"
    )


@contextmanager
def acquire(cluster: str, *, runbook: str, timeout_s: float, lock_dir: Path) -> Iterator[Held]:
    """Hold ``cluster``'s lock for the ``with`` block.

    Polls a non-blocking ``flock`` until ``timeout_s`` (0: fail at once) so the
    refusal can name the holder instead of hanging silently.

    Raises:
        UsageError: the cluster name is not a safe file name.
        LockedError: another live process held the lock for the whole timeout.
    """
    path = lock_path(cluster, lock_dir)
    lock_dir.mkdir(parents=True, exist_ok=True)
    fd = _lock_fd(path, cluster, max(0.0, timeout_s))
    try:
        previous = _read_holder_fd(fd)
        if previous:
            log.warning(
                "cluster %s: taking over a stale lock left by %s", cluster, describe(previous)
            )
        holder = {
            "user": _user(),
            "host": socket.gethostname(),
            "pid": os.getpid(),
            "started": datetime.now(UTC).isoformat(timespec="seconds"),
            "runbook": runbook,
            "cluster": cluster,
        }
        _write_holder_fd(fd, holder)
        yield Held(path=path, holder=holder, took_over=previous)
    finally:
        _release(fd, path)


def force_unlock(cluster: str, *, lock_dir: Path) -> str | None:
    """Remove ``cluster``'s lock file; describe the holder it recorded (None: not locked).

    For a holder that hangs or runs on a machine that is gone. A live holder
    keeps running unaware, so this is the operator's call, not a routine step.

    Raises:
        UsageError: the cluster name is not a safe file name.
    """
    path = lock_path(cluster, lock_dir)
    try:
        fd = os.open(path, os.O_RDWR)
    except FileNotFoundError:
        return None
    try:
        holder = _read_holder_fd(fd)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            live = False
        except BlockingIOError:
            live = True
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
    finally:
        os.close(fd)
    if not holder:
        return "an unrecorded holder" if live else None
    return describe(holder) + ("" if live else " (stale: no process held it)")


def _lock_fd(path: Path, cluster: str, timeout_s: float) -> int:
    """An fd of ``path`` that we hold ``flock`` on, or LockedError after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    pause = _POLL_MIN_S
    while True:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _read_holder_fd(fd)
            os.close(fd)
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise _locked(cluster, holder, timeout_s) from None
            time.sleep(min(pause, remaining))
            pause = min(pause * 2, _POLL_MAX_S)
            continue
        except BaseException:
            os.close(fd)
            raise
        # The previous holder may have unlinked (released) or an operator may have
        # removed (force_unlock) the file after we opened it: a lock on a file no
        # longer at ``path`` protects nothing, so start over on the current one.
        if _same_file(fd, path):
            return fd
        os.close(fd)


def _locked(cluster: str, holder: dict[str, Any] | None, timeout_s: float) -> LockedError:
    waited = f" (waited {timeout_s:g} s)" if timeout_s > 0 else ""
    return LockedError(
        f"cluster {cluster} is locked by {describe(holder)}{waited}; "
        f"wait with --lock-timeout or `exops unlock {cluster}`"
    )


def _release(fd: int, path: Path) -> None:
    try:
        # Unlink only our own file: after a force_unlock, ``path`` may be a newer
        # holder's lock.
        if _same_file(fd, path):
            path.unlink()
        os.ftruncate(fd, 0)
    except OSError as exc:  # releasing must never mask the run's own outcome
        log.warning("could not clean up lock file %s: %s", path, exc)
    finally:
        os.close(fd)  # closing drops the flock


def _same_file(fd: int, path: Path) -> bool:
    try:
        st = path.stat()
    except FileNotFoundError:
        return False
    own = os.fstat(fd)
    return (st.st_dev, st.st_ino) == (own.st_dev, own.st_ino)


def _read_holder_fd(fd: int) -> dict[str, Any] | None:
    try:
        raw = os.pread(fd, 64 * 1024, 0)
        data = json.loads(raw.decode("utf-8")) if raw.strip() else None
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def _write_holder_fd(fd: int, holder: dict[str, Any]) -> None:
    data = (json.dumps(holder) + "\n").encode("utf-8")
    os.ftruncate(fd, 0)
    os.pwrite(fd, data, 0)


def _user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no passwd entry (containers)
        return str(os.getuid())

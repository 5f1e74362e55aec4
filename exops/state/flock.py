"""One run per cluster at a time: an advisory ``flock`` on ``<lock_dir>/<cluster>.lock``.

Two operators restarting peers of the same cluster at once can take the whole
cluster down, so a changing run holds the cluster's lock from planning to the
end of apply. ``flock`` is released by the kernel when its holder dies, so a
crash never leaves a cluster locked: a lock file that still names a holder but
is not flocked is stale and is simply taken over. While held, the file records
who holds it (user, host, pid, start, runbook) so the refusal can name them.

Where the locks live (``resolve_lock_dir``): the ``lock_dir`` setting
(``EXOPS_LOCK_DIR``) when set; otherwise the system-wide ``/run/lock/exops``
(created mode 1777, sticky, like ``/tmp``; lock files mode 0666), so every
operator on one host shares one lock per cluster whatever their HOME or state
directory; when that directory cannot be used, ``<state_dir>/locks`` with one
warning line. Operators on different hosts share locks only through the
PostgreSQL state store (``EXOPS_STATE_URL``, see docs/team-mode.md).
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import logging
import os
import stat
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from exops.core.errors import LockedError, PreconditionError, UsageError
from exops.state.base import check_name, describe, holder_record, locked_message, process_alive

__all__ = [
    "SYSTEM_LOCK_DIR",
    "Held",
    "acquire",
    "describe",
    "force_unlock",
    "lock_path",
    "lost",
    "resolve_lock_dir",
    "unlock",
]

log = logging.getLogger(__name__)

SYSTEM_LOCK_DIR = Path("/run/lock/exops")
_POLL_MIN_S = 0.05
_POLL_MAX_S = 0.5
_warned: set[str] = set()


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
    return lock_dir / f"{check_name('cluster', cluster)}.lock"


def resolve_lock_dir(
    state_dir: Path, configured: Path | None = None, *, system_dir: Path = SYSTEM_LOCK_DIR
) -> Path:
    """The lock directory to use (see the module docstring); creates it.

    Raises:
        UsageError: the configured directory cannot be created or written.
    """
    if configured is not None:
        _ensure_dir(configured, shared=False, what="lock_dir (EXOPS_LOCK_DIR)")
        return configured
    try:
        _ensure_dir(system_dir, shared=True, what="system lock directory")
        return system_dir
    except UsageError as exc:
        fallback = state_dir / "locks"
        key = f"{system_dir}->{fallback}"
        if key not in _warned:
            _warned.add(key)
            log.warning(
                "%s; using %s (locks there are not shared with other users of this host; "
                "set EXOPS_LOCK_DIR to share one)",
                exc,
                fallback,
            )
        _ensure_dir(fallback, shared=False, what="state lock directory")
        return fallback


def _ensure_dir(path: Path, *, shared: bool, what: str) -> None:
    try:
        if shared and not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            with contextlib.suppress(FileExistsError):
                path.mkdir()
                os.chmod(path, 0o1777)  # mkdir's mode is cut by the umask
        else:
            path.mkdir(parents=True, exist_ok=True)
        st = os.lstat(path)
    except OSError as exc:
        raise UsageError(f"{what} {path} cannot be created ({exc.strerror})") from exc
    if not stat.S_ISDIR(st.st_mode):
        raise UsageError(f"{what} {path} is not a directory")
    if shared and st.st_uid not in (0, os.geteuid()) and not st.st_mode & stat.S_ISVTX:
        # A world-writable directory of another user without the sticky bit lets
        # anyone delete our lock files: refuse it.
        raise UsageError(f"{what} {path} is owned by uid {st.st_uid} and not sticky")
    if not os.access(path, os.W_OK | os.X_OK):
        raise UsageError(f"{what} {path} is not writable")


@contextmanager
def acquire(
    cluster: str, *, runbook: str, timeout_s: float, lock_dir: Path | None = None
) -> Iterator[Held]:
    """Hold ``cluster``'s lock for the ``with`` block.

    Polls a non-blocking ``flock`` until ``timeout_s`` (0: fail at once) so the
    refusal can name the holder instead of hanging silently. ``lock_dir`` None:
    the default place (``resolve_lock_dir`` of the loaded settings).

    Raises:
        UsageError: the cluster name is not a safe file name.
        LockedError: another live process held the lock for the whole timeout.
    """
    check_name("cluster", cluster)
    if lock_dir is None:
        lock_dir = _default_dir()
    else:
        lock_dir.mkdir(parents=True, exist_ok=True)
    path = lock_path(cluster, lock_dir)
    fd = _lock_fd(path, cluster, max(0.0, timeout_s))
    try:
        previous = _read_holder_fd(fd)
        if previous:
            log.warning(
                "cluster %s: taking over a stale lock left by %s", cluster, describe(previous)
            )
        holder = holder_record(cluster, runbook)
        _write_holder_fd(fd, holder)
        yield Held(path=path, holder=holder, took_over=previous)
    finally:
        _release(fd, path)


def _default_dir() -> Path:
    from exops.core.settings import load_settings

    settings = load_settings()
    return resolve_lock_dir(settings.state_dir, settings.lock_dir)


def unlock(cluster: str, *, lock_dir: Path | None = None, force: bool = False) -> str | None:
    """Remove ``cluster``'s lock file; describe the holder it recorded (None: not locked).

    A holder is *live* when it still holds the ``flock`` or its recorded process
    is alive on this host: removing its lock lets a second run in beside it, so
    that is refused unless ``force`` (for a holder that hangs).

    Raises:
        UsageError: the cluster name is not a safe file name.
        PreconditionError: the holder is live and ``force`` is false, or its file
            cannot be removed (another user's, in the sticky system directory).
    """
    check_name("cluster", cluster)
    if lock_dir is None:
        lock_dir = _default_dir()
    path = lock_path(cluster, lock_dir)
    try:
        fd = os.open(path, os.O_RDWR | os.O_NOFOLLOW)
    except FileNotFoundError:
        return None
    try:
        holder = _read_holder_fd(fd)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            flocked = False
        except BlockingIOError:
            flocked = True
        alive = process_alive(str((holder or {}).get("host", "")), (holder or {}).get("pid"))
        live = flocked or alive is True
        if live and not force:
            raise PreconditionError(
                f"cluster {cluster} is locked by {describe(holder)}, which is still running; "
                f"wait for it, or stop it, or `exops unlock -c {cluster} --force` if it hangs"
            )
        try:
            path.unlink()
        except FileNotFoundError:
            pass
        except PermissionError as exc:
            owner = os.fstat(fd).st_uid
            raise PreconditionError(
                f"cannot remove {path} (owned by uid {owner}): run as that user or root"
            ) from exc
    finally:
        os.close(fd)
    if not holder:
        return "an unrecorded holder" if live else None
    return describe(holder) + ("" if live else " (stale: no process held it)")


def lost(path: Path, holder: dict[str, Any]) -> str | None:
    """Why the lock file at ``path`` no longer records ``holder`` (our own run), or
    None when it still does: removed (``exops unlock --force``), emptied, or
    overwritten by another process (named when it recorded itself)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    except FileNotFoundError:
        return f"the lock file {path} was removed (`exops unlock --force`?)"
    except OSError as exc:
        return f"the lock file {path} cannot be read any more ({exc.strerror})"
    try:
        raw = os.pread(fd, 64 * 1024, 0)
    except OSError as exc:
        return f"the lock file {path} cannot be read any more ({exc.strerror})"
    finally:
        os.close(fd)
    if not raw.strip():
        return f"the lock file {path} was emptied by another process"
    try:
        recorded = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        recorded = None
    if recorded == holder:
        return None
    if isinstance(recorded, dict):
        return (
            f"the lock file {path} was overwritten: it now names {describe(recorded)}, "
            "not this run"
        )
    return f"the lock file {path} was overwritten by another process (it no longer names this run)"


def force_unlock(cluster: str, *, lock_dir: Path | None = None) -> str | None:
    """``unlock(force=True)``: remove the lock even of a live holder."""
    return unlock(cluster, lock_dir=lock_dir, force=True)


def _open_lock_file(path: Path) -> int:
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o666)
    except FileExistsError:
        return os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o666)
    except OSError as exc:
        raise _os_usage(path, exc) from exc
    with contextlib.suppress(OSError):
        os.fchmod(fd, 0o666)  # another user may take it over after we die
    return fd


def _os_usage(path: Path, exc: OSError) -> UsageError:
    if exc.errno == errno.ELOOP:
        return UsageError(f"lock file {path} is a symbolic link; remove it")
    return UsageError(f"lock file {path} cannot be opened ({exc.strerror})")


def _lock_fd(path: Path, cluster: str, timeout_s: float) -> int:
    """An fd of ``path`` that we hold ``flock`` on, or LockedError after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    pause = _POLL_MIN_S
    while True:
        try:
            fd = _open_lock_file(path)
        except OSError as exc:
            raise _os_usage(path, exc) from exc
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _read_holder_fd(fd)
            os.close(fd)
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise LockedError(locked_message(cluster, holder, timeout_s)) from None
            time.sleep(min(pause, remaining))
            pause = min(pause * 2, _POLL_MAX_S)
            continue
        except BaseException:
            os.close(fd)
            raise
        # The previous holder may have unlinked (released) or an operator may have
        # removed (unlock) the file after we opened it: a lock on a file no
        # longer at ``path`` protects nothing, so start over on the current one.
        if _same_file(fd, path):
            return fd
        os.close(fd)


def _release(fd: int, path: Path) -> None:
    try:
        os.ftruncate(fd, 0)
        # Unlink only our own file: after an unlock --force, ``path`` may be a newer
        # holder's lock. In the sticky system directory a file another user
        # created (a stale lock we took over) cannot be removed: it stays, empty.
        if _same_file(fd, path):
            with contextlib.suppress(PermissionError):
                path.unlink()
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

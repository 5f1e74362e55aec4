"""The state store: run journal, cluster locks, pre-change backups and configuration
snapshots, behind one interface.

Two backends, chosen by the ``state_url`` setting (``EXOPS_STATE_URL``):

* unset or ``sqlite:///DIR``: the embedded store (``exops.state.sqlite``):
  ``DIR/journal.sqlite``, ``DIR/backups/``, ``flock`` locks in the system-wide
  lock directory (``exops.state.flock``). ``DIR`` defaults to the ``state_dir`` setting.
* ``postgresql://user@host:port/db``: the team store (``exops.state.postgres``):
  tables in one PostgreSQL database, session-level advisory locks. The password
  comes from ``EXOPS_STATE_PASSWORD`` or the keyring (service ``exops-state``,
  the URL's user), never from the URL. See docs/team-mode.md.

The interface (the runner calls exactly this)::

    store = open_state(settings)          # UsageError (exit 2, one line) when unusable
    store.backend                         # "sqlite" | "postgresql"
    with store.lock(cluster, runbook=..., timeout_s=...) as held:   # LockedError (exit 4)
        jid = store.journal.start_run(NewRun(run_id=..., cluster=..., runbook=..., params=...,
                                             plan=..., user=..., host=...))
        for each step:
            store.check_lock()            # LockLostError (exit 1): stop at this boundary
                                          # (check_lock(cluster) checks that one lock only)
            ... do the step ...
            store.journal.record_step(jid, outcome)   # outcome.action.{id,step,kind,host},
                                                      # status, started, duration_s, detail,
                                                      # error, advice
        store.journal.finish_run(jid, status, exit_code)
    store.unlock(cluster, force=False)    # holder description or None;
                                          # PreconditionError (exit 3) for a live holder
    store.journal.list_runs(cluster=None, limit=20)   # newest first, each with host and user;
                                          # a "running" run whose process died reads
                                          # "interrupted" (SQLite: same host, pid gone;
                                          # PostgreSQL: its lock session is gone, any host),
                                          # so start_run must be called under store.lock
    store.journal.get_run(run_id)         # with plan and steps, or None
    store.journal.last_failed_run(cluster, runbook)   # --resume
    store.journal.restart_durations(cluster, host, limit=5)  # seconds, newest first
    store.backups.save(cluster, host, settings_dict, run_id) -> location (str)
    store.backups.latest(cluster, host) -> (location, settings_dict) | None
    store.backups.read(location) -> settings_dict      # UsageError when unreadable
    store.snapshots.save(NewSnapshot(...)) / .get(ref) / .latest(cluster) / .list(...)
                                          # configuration snapshots (exops.state.snapshots)
    store.close()

``open_state`` checks writability up front (a real write probe, the schema, the
write lock of the journal), so a run never stops half-way for the state store.
It raises UsageError for: a state directory missing and not creatable,
read-only, full; a corrupt journal or one of a newer schema; a journal locked
beyond its busy timeout; PostgreSQL unreachable, refusing, or failing TLS (the
URL is shown without its password). Everything stored passes through
``exops.core.redact``; cluster and host names are checked before they name a file.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from exops.core.errors import UsageError
from exops.state.base import (
    BackupStore,
    Held,
    JournalStore,
    LockLostError,
    StateStore,
    check_name,
)

if TYPE_CHECKING:
    from exops.core.settings import Settings

__all__ = [
    "BackupStore",
    "Held",
    "JournalStore",
    "LockLostError",
    "StateStore",
    "check_name",
    "open_state",
    "open_url",
]


def open_state(settings: Settings, *, busy_timeout_s: float = 30.0) -> StateStore:
    """The store the settings name (see the module docstring).

    Raises:
        UsageError: the store cannot be used (one line, nothing half-done).
    """
    return open_url(
        settings.state_url,
        state_dir=settings.state_dir,
        lock_dir=settings.lock_dir,
        connect_timeout_s=settings.connect_timeout,
        busy_timeout_s=busy_timeout_s,
    )


def open_url(
    url: str | None,
    *,
    state_dir: Path,
    lock_dir: Path | None = None,
    connect_timeout_s: float = 5.0,
    busy_timeout_s: float = 30.0,
) -> StateStore:
    """The store at ``url`` (None: the SQLite store in ``state_dir``)."""
    if url is None or not url.strip():
        from exops.state.sqlite import SqliteStore

        return SqliteStore(state_dir, lock_dir=lock_dir, busy_timeout_s=busy_timeout_s)
    scheme = url.split(":", 1)[0].lower()
    if scheme == "sqlite":
        from exops.state.sqlite import SqliteStore

        return SqliteStore(sqlite_dir(url), lock_dir=lock_dir, busy_timeout_s=busy_timeout_s)
    if scheme in ("postgresql", "postgres"):
        from exops.state.postgres import PostgresStore

        return PostgresStore(url, connect_timeout_s=connect_timeout_s)
    from exops.state.postgres import safe_url

    raise UsageError(
        f"state_url {safe_url(url)!r}: unknown scheme {scheme!r} "
        "(use sqlite:///DIR or postgresql://user@host:port/db)"
    )


def sqlite_dir(url: str) -> Path:
    """The state directory of ``sqlite:///DIR`` (a path to ``journal.sqlite`` names its
    directory).

    Raises:
        UsageError: not of the form ``sqlite:///ABSOLUTE/PATH``.
    """
    prefix = "sqlite://"
    if not url.lower().startswith(prefix) or not url[len(prefix) :].startswith("/"):
        raise UsageError(f"state_url {url!r}: expected sqlite:///ABSOLUTE/PATH")
    path = Path(url[len(prefix) :])
    return path.parent if path.suffix == ".sqlite" else path

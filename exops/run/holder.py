"""Which run holds a cluster now (``exops status``'s ``run_in_progress``): read from
the cluster's lock file (``flock``'s holder record, by the inventory's lock key) or,
with PostgreSQL, from the journal's running run. Never takes the lock."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from exops.report.status import RunHolder


def run_holder(spec: Any, settings: Any) -> RunHolder | None:
    """The run holding ``spec``'s cluster lock now, or None. Cheap by design: with the
    SQLite store it is one open of the cluster's lock file (``flock``'s holder record,
    by the inventory's lock key); the journal is opened only when a live holder is
    found, for the run id. With PostgreSQL it is the journal's running run, whose
    status is the lock table's (``exops_locks``). A store that cannot be read is no
    error: status still reads the cluster (the run is then not named)."""
    from exops.core.errors import ExopsError
    from exops.state.flock import SYSTEM_LOCK_DIR, lock_path

    if settings.state_url is not None:
        return _journal_holder(spec.name, settings, None)
    dirs = (
        [settings.lock_dir]
        if settings.lock_dir
        else [SYSTEM_LOCK_DIR, settings.state_dir / "locks"]
    )
    for directory in dirs:
        try:
            holder = _lock_file_holder(lock_path(spec.lock_key, Path(directory)))
        except ExopsError:
            return None
        if holder is not None:
            return _journal_holder(spec.name, settings, holder)
    return None


def _lock_file_holder(path: Path) -> dict[str, Any] | None:
    """The holder a lock file records, when it may still hold it (never takes the lock:
    a status must not make a starting run wait or refuse). A released lock's file is
    gone or empty; a holder whose process is dead on this host is stale (None)."""
    from exops.state.base import process_alive

    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    except OSError:
        return None
    try:
        raw = os.pread(fd, 64 * 1024, 0)
    except OSError:
        return None
    finally:
        os.close(fd)
    try:
        holder = json.loads(raw.decode("utf-8")) if raw.strip() else None
    except (UnicodeDecodeError, ValueError):
        return None
    if not isinstance(holder, dict):
        return None
    pid = holder.get("pid")
    if process_alive(str(holder.get("host", "")), pid if isinstance(pid, int) else None) is False:
        return None
    return holder


def _journal_holder(cluster: str, settings: Any, lock: dict[str, Any] | None) -> RunHolder | None:
    """The lock's holder with the run id of the journal's running run of ``cluster``
    (the one with the holder's host and pid when the lock names them)."""
    from exops.core.errors import ExopsError
    from exops.state import open_state
    from exops.state.base import RunQuery

    run: dict[str, Any] | None = None
    if settings.state_url is not None or settings.journal_path.exists():
        try:
            store = open_state(settings)
            try:
                runs = store.journal.list_runs(
                    cluster=cluster, limit=5, query=RunQuery(status="running")
                )
            finally:
                store.close()
        except (ExopsError, OSError):
            runs = []
        if lock is not None:
            runs = [
                r
                for r in runs
                if (r.get("host"), r.get("pid")) == (lock.get("host"), lock.get("pid"))
            ]
        run = runs[0] if runs else None
    if lock is None and run is None:
        return None
    src = lock if lock is not None else run or {}
    pid = src.get("pid")
    return RunHolder(
        runbook=str(src.get("runbook") or (run or {}).get("runbook") or "") or None,
        run_id=str(run["run_id"]) if run else None,
        since=str(src.get("started") or "") or None,
        user=str(src.get("user") or "") or None,
        host=str(src.get("host") or "") or None,
        pid=pid if isinstance(pid, int) else None,
    )

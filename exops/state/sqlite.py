"""The embedded state store: ``journal.sqlite`` and ``backups/`` in the state
directory, ``flock`` cluster locks (``exops.state.flock``). One operator, or several
sharing one host.

The journal is in WAL mode; every call opens and closes its own connection
with a busy timeout and writes take the write lock up front (``BEGIN
IMMEDIATE``), so several exops processes (different clusters) can write at once.
Opening the store checks everything a run will need (directory creatable and
writable, space for a write, journal readable, schema known, write lock
obtainable) so that a run never stops half-way for the state directory.
"""

from __future__ import annotations

import errno
import json
import os
import sqlite3
import time
from collections.abc import Iterator
from contextlib import closing, contextmanager
from pathlib import Path
from typing import Any

from exops.core.errors import UsageError
from exops.core.files import PRIVATE_DIR, PRIVATE_FILE, check_writable_target, private_dir
from exops.state import backups, base, snapshots
from exops.state.base import Held, LockLostError, NewRun, RunQuery, StepLike, StepRow

SCHEMA_VERSION = 2  # 2: configuration snapshots (exops.state.snapshots)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
    id INTEGER PRIMARY KEY,
    run_id TEXT NOT NULL UNIQUE,
    cluster TEXT NOT NULL,
    runbook TEXT NOT NULL,
    status TEXT NOT NULL,
    exit_code INTEGER,
    user TEXT NOT NULL,
    host TEXT NOT NULL,
    pid INTEGER NOT NULL,
    started TEXT NOT NULL,
    finished TEXT,
    params TEXT NOT NULL,
    plan TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS runs_by_cluster ON runs (cluster, runbook, started);
CREATE TABLE IF NOT EXISTS steps (
    id INTEGER PRIMARY KEY,
    run INTEGER NOT NULL REFERENCES runs (id),
    seq INTEGER NOT NULL,
    action_id TEXT NOT NULL,
    step TEXT NOT NULL,
    kind TEXT NOT NULL,
    host TEXT,
    status TEXT NOT NULL,
    started TEXT NOT NULL,
    duration_s REAL NOT NULL,
    detail TEXT NOT NULL,
    error TEXT,
    advice TEXT,
    UNIQUE (run, seq)
);
"""

# Schema version -> its statements (each idempotent: CREATE ... IF NOT EXISTS).
_MIGRATIONS = {1: _SCHEMA, 2: snapshots.SQLITE_MIGRATION}

_RUN_COLUMNS = (
    "run_id, started, finished, cluster, runbook, status, exit_code, user, host, pid, params"
)
_INSERT_STEP = (
    "INSERT INTO steps (run, seq, action_id, step, kind, host, status, started,"
    " duration_s, detail, error, advice) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)


def sqlite_error(path: Path, exc: sqlite3.Error) -> UsageError:
    """One line for a journal the store cannot use."""
    text = str(exc)
    if "locked" in text or "busy" in text:
        return UsageError(
            f"journal {path} is locked by another process beyond the busy timeout; "
            "retry when it is done"
        )
    if "not a database" in text or "malformed" in text or "corrupt" in text:
        return UsageError(
            f"journal {path} is not an exops journal (corrupt or another file: {text}); "
            "move it aside to start a new one"
        )
    if "readonly" in text or "read-only" in text:
        return UsageError(f"journal {path} is read-only")
    if "full" in text:
        return UsageError(f"journal {path}: the disk is full")
    if "unable to open" in text:
        return UsageError(f"journal {path} cannot be opened ({text})")
    return UsageError(f"journal {path}: {text}")


class SqliteJournal:
    """The journal file at ``path`` (created, with its schema, on first use).

    A run is ``running`` from ``start_run`` until ``finish_run`` sets its final
    status; one whose process died on this host is *reported* as ``interrupted``
    (``base.run_status``: reads never write), one from another host that never
    finished keeps showing ``running``.

    Raises:
        UsageError: the file is corrupt, locked beyond ``busy_timeout_s``, read-only,
            or written by a newer exops (schema version).
    """

    def __init__(self, path: Path, *, busy_timeout_s: float = 30.0):
        self.path = path
        self.busy_timeout_s = busy_timeout_s
        private_dir(path.parent, "state directory", follow=True)
        _private_file(path, "journal")
        with self._connect() as conn:
            self._wal(conn)
            with self._write(conn):
                version = conn.execute("PRAGMA user_version").fetchone()[0]
                if version > SCHEMA_VERSION:
                    raise UsageError(
                        f"{path}: journal schema {version} is newer than this exops "
                        f"understands ({SCHEMA_VERSION}); upgrade exops"
                    )
                for number in range(version + 1, SCHEMA_VERSION + 1):
                    for statement in _MIGRATIONS[number].split(";"):
                        if statement.strip():
                            conn.execute(statement)
                    conn.execute(f"PRAGMA user_version = {number}")

    # -- writing --------------------------------------------------------------
    def start_run(self, run: NewRun) -> int:
        """Record a run as ``running``; returns the journal id for later calls."""
        with self._connect() as conn, self._write(conn):
            row = conn.execute(
                f"INSERT INTO runs ({', '.join(base.START_COLUMNS)}, status)"
                f" VALUES ({', '.join('?' for _ in base.START_COLUMNS)}, 'running') RETURNING id",
                run.values(),
            ).fetchall()[0]
        return int(row["id"])

    def record_step(self, journal_id: int, step: StepLike) -> None:
        """Append one step outcome to the run (numbered in recording order)."""
        row = StepRow.of(step)
        with self._connect() as conn, self._write(conn):
            seq = conn.execute(
                "SELECT COALESCE(MAX(seq), 0) + 1 FROM steps WHERE run = ?", (journal_id,)
            ).fetchone()[0]
            conn.execute(
                _INSERT_STEP,
                (
                    journal_id,
                    seq,
                    row.action_id,
                    row.step,
                    row.kind,
                    row.host,
                    row.status,
                    row.started,
                    row.duration_s,
                    row.detail,
                    row.error,
                    row.advice,
                ),
            )

    def finish_run(self, journal_id: int, status: str, exit_code: int) -> None:
        """Set the run's final status and exit code, and when it finished."""
        with self._connect() as conn, self._write(conn):
            conn.execute(
                "UPDATE runs SET status = ?, exit_code = ?, finished = ? WHERE id = ?",
                (status, exit_code, base.now_iso(), journal_id),
            )

    # -- reading --------------------------------------------------------------
    def list_runs(
        self, *, cluster: str | None = None, limit: int = 20, query: RunQuery | None = None
    ) -> list[dict[str, Any]]:
        """The latest ``limit`` runs, newest first, optionally of one cluster or as
        ``query`` selects; each with ``changed``, its count of changed steps."""
        query = query or RunQuery()
        if cluster is not None:
            query = RunQuery(cluster, query.runbook, query.status, query.since, query.until)
        where, args = query.where("?")
        bound = "" if query.derived else " LIMIT ?"
        with self._connect() as conn:
            rows = conn.execute(
                f"SELECT {_RUN_COLUMNS}, (SELECT COUNT(*) FROM steps s WHERE s.run = runs.id"
                f" AND s.status = 'changed') AS changed FROM runs {where}"
                f" ORDER BY started DESC, id DESC{bound}",
                (*args, *([] if query.derived else [max(0, limit)])),
            ).fetchall()
        runs = []
        for row in rows:
            run = _run(row)
            run["changed"] = int(row["changed"])
            runs.append(run)
        return query.keep(runs, limit)

    def match_run_ids(self, prefix: str, limit: int = 10) -> list[str]:
        """Run ids that start with ``prefix`` (at most ``limit``, newest first)."""
        with self._connect() as conn:
            rows = conn.execute(
                "SELECT run_id FROM runs WHERE substr(run_id, 1, ?) = ?"
                " ORDER BY started DESC, id DESC LIMIT ?",
                (len(prefix), prefix, max(0, limit)),
            ).fetchall()
        return [str(r[0]) for r in rows]

    def get_run(self, run_id: str) -> dict[str, Any] | None:
        """One run with its ``plan`` and its ``steps`` in order; None if unknown."""
        with self._connect() as conn:
            row = conn.execute(
                f"SELECT id, plan, {_RUN_COLUMNS} FROM runs WHERE run_id = ?", (run_id,)
            ).fetchone()
            if row is None:
                return None
            steps = conn.execute(
                f"SELECT {', '.join(base.STEP_KEYS)} FROM steps WHERE run = ? ORDER BY seq",
                (row["id"],),
            ).fetchall()
        run = _run(row)
        run["plan"] = json.loads(row["plan"])
        run["steps"] = [dict(step) for step in steps]
        return run

    def last_failed_run(self, cluster: str, runbook: str) -> dict[str, Any] | None:
        """The most recent run of ``runbook`` on ``cluster`` that did not finish well
        (failed, interrupted, or still marked running after a crash): ``--resume``."""
        marks = ", ".join("?" for _ in base.UNFINISHED_STATUSES)
        with self._connect() as conn:
            row = conn.execute(
                f"SELECT {_RUN_COLUMNS} FROM runs WHERE cluster = ? AND runbook = ?"
                f" AND status IN ({marks}) ORDER BY started DESC, id DESC LIMIT 1",
                (cluster, runbook, *base.UNFINISHED_STATUSES),
            ).fetchone()
        return None if row is None else _run(row)

    def restart_durations(self, cluster: str, host: str, limit: int = 5) -> list[float]:
        """Seconds taken by the last ``limit`` successful restarts of ``host``, newest first."""
        marks = ", ".join("?" for _ in base.DONE_STATUSES)
        with self._connect() as conn:
            rows = conn.execute(
                "SELECT s.duration_s FROM steps s JOIN runs r ON s.run = r.id"
                f" WHERE r.cluster = ? AND s.host = ? AND s.kind = 'restart'"
                f" AND s.status IN ({marks}) ORDER BY s.started DESC, s.id DESC LIMIT ?",
                (cluster, host, *base.DONE_STATUSES, max(0, limit)),
            ).fetchall()
        return [float(r[0]) for r in rows]

    # -- migration source -----------------------------------------------------
    def export_runs(self) -> Iterator[dict[str, Any]]:
        """Every run as stored (redacted already), with pid, plan and steps, oldest first."""
        with self._connect() as conn:
            ids = conn.execute("SELECT id, run_id FROM runs ORDER BY id").fetchall()
        for row in ids:
            with self._connect() as conn:
                run = conn.execute(
                    f"SELECT plan, {_RUN_COLUMNS} FROM runs WHERE id = ?", (row["id"],)
                ).fetchone()
                steps = conn.execute(
                    f"SELECT {', '.join(base.STEP_KEYS)} FROM steps WHERE run = ? ORDER BY seq",
                    (row["id"],),
                ).fetchall()
            doc = {k: run[k] for k in base.EXPORT_COLUMNS}
            doc["steps"] = [dict(s) for s in steps]
            yield doc

    # -- plumbing -------------------------------------------------------------
    @staticmethod
    def _wal(conn: sqlite3.Connection) -> None:
        """Switch to WAL once; the switch ignores the busy timeout, so concurrent
        first uses (a fleet run, parallel jobs) retry briefly instead of failing."""
        for attempt in range(100):
            try:
                if conn.execute("PRAGMA journal_mode").fetchone()[0] != "wal":
                    conn.execute("PRAGMA journal_mode=WAL")
                return
            except sqlite3.OperationalError as exc:
                if attempt == 99 or "locked" not in str(exc):
                    raise
                time.sleep(0.05)

    @contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        try:
            with closing(
                sqlite3.connect(self.path, timeout=self.busy_timeout_s, isolation_level=None)
            ) as conn:
                conn.row_factory = sqlite3.Row
                yield conn
        except sqlite3.Error as exc:
            raise sqlite_error(self.path, exc) from exc

    @staticmethod
    @contextmanager
    def _write(conn: sqlite3.Connection) -> Iterator[None]:
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")


def _run(row: sqlite3.Row) -> dict[str, Any]:
    run = {key: row[key] for key in (*base.RUN_KEYS, "user", "host")}
    run["params"] = json.loads(row["params"])
    run["status"] = base.run_status(run["status"], row["host"], row["pid"])
    return run


def _private_file(path: Path, what: str) -> None:
    """Create ``path`` empty and owner-only (0600) when it is missing (SQLite then opens
    it with those permissions); refuse a symbolic link or another user's file."""
    check_writable_target(path, what)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, PRIVATE_FILE)
    except FileExistsError:
        return
    except OSError as exc:
        raise UsageError(f"{what} {path} cannot be created ({exc.strerror})") from exc
    os.close(fd)


def _write_probe_file(path: Path) -> None:
    """Write, sync and remove a small file: the directory takes writes now."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.write(fd, b"\0" * 4096)
        os.fsync(fd)
    finally:
        os.close(fd)
        path.unlink(missing_ok=True)


def _dir_error(directory: Path, what: str, exc: OSError, doing: str) -> UsageError:
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return UsageError(f"{what} {directory} is full (no space left for a write)")
    if exc.errno == errno.EROFS:
        return UsageError(f"{what} {directory} is on a read-only file system")
    if exc.errno in (errno.EACCES, errno.EPERM):
        return UsageError(f"{what} {directory} is not writable (permission denied)")
    return UsageError(f"{what} {directory} {doing} ({exc.strerror})")


def probe_directory(
    directory: Path, what: str = "state directory", *, follow: bool = True
) -> None:
    """Create ``directory`` readable by its owner only (0700), refuse one that is a
    symbolic link or belongs to another user, and prove it writable with a real write.

    Raises:
        UsageError: one line: cannot be created, a link, another user's, read-only,
            not writable, or full.
    """
    try:
        directory.mkdir(mode=PRIVATE_DIR, parents=True, exist_ok=True)
    except OSError as exc:
        raise _dir_error(directory, what, exc, "cannot be created") from exc
    private_dir(directory, what, create=False, follow=follow)
    try:
        _write_probe_file(directory / f".exops-probe-{os.getpid()}")
    except OSError as exc:
        raise _dir_error(directory, what, exc, "cannot be written") from exc


class SqliteStore:
    """The embedded store (see the module docstring)."""

    backend = "sqlite"

    def __init__(
        self,
        state_dir: Path,
        *,
        lock_dir: Path | None = None,
        busy_timeout_s: float = 30.0,
    ):
        from exops.state.flock import resolve_lock_dir

        self.state_dir = state_dir
        probe_directory(state_dir)
        # backups/ itself is never a link: it would send every backup elsewhere.
        probe_directory(state_dir / "backups", "backup directory", follow=False)
        self.journal = SqliteJournal(state_dir / "journal.sqlite", busy_timeout_s=busy_timeout_s)
        self.backups = backups.FileBackups(state_dir / "backups")
        self.snapshots = snapshots.SqliteSnapshots(self.journal)
        self.lock_dir = resolve_lock_dir(state_dir, lock_dir)
        self._held: dict[str, dict[str, Any]] = {}

    @contextmanager
    def lock(self, cluster: str, *, runbook: str, timeout_s: float) -> Iterator[Held]:
        from exops.state.flock import acquire

        with acquire(cluster, runbook=runbook, timeout_s=timeout_s, lock_dir=self.lock_dir) as h:
            self._held[cluster] = h.holder
            try:
                yield Held(
                    cluster=cluster, holder=h.holder, where=str(h.path), took_over=h.took_over
                )
            finally:
                self._held.pop(cluster, None)

    def unlock(self, cluster: str, *, force: bool = False) -> str | None:
        from exops.state.flock import unlock

        return unlock(cluster, lock_dir=self.lock_dir, force=force)

    def check_lock(self, cluster: str | None = None) -> None:
        """A flock cannot be lost, but ``exops unlock --force`` can remove our file."""
        from exops.state.flock import lock_path, lost

        for held, holder in list(self._held.items()):
            if cluster is not None and held != cluster:
                continue
            why = lost(lock_path(held, self.lock_dir), holder)
            if why is not None:
                raise LockLostError(
                    f"the lock on cluster {held} is lost: {why}; stopping before the next step"
                )

    def close(self) -> None:
        """Nothing to close: every journal call opens its own connection."""

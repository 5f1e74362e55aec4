"""The run journal: what every apply did, kept in SQLite for ``history``/``show``/``--resume``.

An operator asked "what happened to exp-c-2 last night?" needs the answer
after the terminal is gone, so each run and each step outcome is recorded.
Several exops processes may write at once (different clusters), so the file is
in WAL mode, every call opens and closes its own connection with a 30 s busy
timeout, and writes take the write lock up front (``BEGIN IMMEDIATE``).

Everything stored passes through ``exops.redact`` first: the journal is
long-lived and readable by whoever shares the state directory.

Run status is ``running`` from ``start_run`` until ``finish_run`` sets the
final one (``ok`` / ``failed``). A run whose process died before finishing is
*reported* as ``interrupted`` when it was started on this host by a pid that no
longer exists; the stored row is left as it is (reads never write), and a run
from another host that never finished keeps showing ``running`` (as does one
whose pid was reused: rare, and harmless for a status display).
"""

from __future__ import annotations

import json
import os
import socket
import sqlite3
import time
from collections.abc import Iterator
from contextlib import closing, contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from exops.errors import ExopsError
from exops.redact import redact, redact_text

if TYPE_CHECKING:  # keep `exops history` from importing the apply machinery
    from exops.apply import Outcome

SCHEMA_VERSION = 1

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

_RUN_COLUMNS = (
    "run_id, started, finished, cluster, runbook, status, exit_code, user, host, pid, params"
)
_STEP_KEYS = (
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


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


def _text(value: str | None) -> str | None:
    return None if value is None else redact_text(value)


class Journal:
    """The journal file at ``path`` (created, with its schema, on first use).

    Raises:
        ExopsError: the file was written by a newer exops (schema version).
    """

    def __init__(self, path: Path):
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        with self._connect() as conn:
            self._wal(conn)
            with self._write(conn):
                version = conn.execute("PRAGMA user_version").fetchone()[0]
                if version > SCHEMA_VERSION:
                    raise ExopsError(
                        f"{path}: journal schema {version} is newer than this exops "
                        f"understands ({SCHEMA_VERSION}); upgrade exops"
                    )
                if version < SCHEMA_VERSION:
                    for statement in _SCHEMA.split(";"):
                        if statement.strip():
                            conn.execute(statement)
                    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")

    # -- writing --------------------------------------------------------------
    def start_run(
        self,
        *,
        run_id: str,
        cluster: str,
        runbook: str,
        params: dict[str, Any],
        plan: dict[str, Any],
        user: str,
        host: str,
    ) -> int:
        """Record a run as ``running``; returns the journal id for later calls."""
        with self._connect() as conn, self._write(conn):
            row = conn.execute(
                "INSERT INTO runs (run_id, cluster, runbook, status, user, host, pid, started,"
                " params, plan) VALUES (?, ?, ?, 'running', ?, ?, ?, ?, ?, ?) RETURNING id",
                (
                    run_id,
                    cluster,
                    runbook,
                    user,
                    host,
                    os.getpid(),
                    _now(),
                    json.dumps(redact(params), default=str),
                    json.dumps(redact(plan), default=str),
                ),
            ).fetchall()[0]
        return int(row["id"])

    def record_outcome(self, journal_id: int, outcome: Outcome) -> None:
        """Append one step outcome to the run (numbered in recording order)."""
        action = outcome.action
        with self._connect() as conn, self._write(conn):
            seq = conn.execute(
                "SELECT COALESCE(MAX(seq), 0) + 1 FROM steps WHERE run = ?", (journal_id,)
            ).fetchone()[0]
            conn.execute(
                "INSERT INTO steps (run, seq, action_id, step, kind, host, status, started,"
                " duration_s, detail, error, advice) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    journal_id,
                    seq,
                    redact_text(action.id),
                    redact_text(action.step),
                    action.kind.value,
                    _text(action.host),
                    redact_text(outcome.status),
                    outcome.started.isoformat(timespec="milliseconds"),
                    float(outcome.duration_s),
                    redact_text(outcome.detail),
                    _text(outcome.error),
                    _text(outcome.advice),
                ),
            )

    def finish_run(self, journal_id: int, status: str, exit_code: int) -> None:
        """Set the run's final status and exit code, and when it finished."""
        with self._connect() as conn, self._write(conn):
            conn.execute(
                "UPDATE runs SET status = ?, exit_code = ?, finished = ? WHERE id = ?",
                (status, exit_code, _now(), journal_id),
            )

    # -- reading --------------------------------------------------------------
    def list_runs(self, *, cluster: str | None = None, limit: int = 20) -> list[dict[str, Any]]:
        """The latest ``limit`` runs, newest first, optionally of one cluster."""
        where, args = ("WHERE cluster = ?", [cluster]) if cluster is not None else ("", [])
        with self._connect() as conn:
            rows = conn.execute(
                f"SELECT {_RUN_COLUMNS} FROM runs {where} ORDER BY started DESC, id DESC LIMIT ?",
                (*args, max(0, limit)),
            ).fetchall()
        return [_run(row) for row in rows]

    def get_run(self, run_id: str) -> dict[str, Any] | None:
        """One run with its ``plan`` and its ``steps`` in order; None if unknown."""
        with self._connect() as conn:
            row = conn.execute(
                f"SELECT id, plan, {_RUN_COLUMNS} FROM runs WHERE run_id = ?", (run_id,)
            ).fetchone()
            if row is None:
                return None
            steps = conn.execute(
                f"SELECT {', '.join(_STEP_KEYS)} FROM steps WHERE run = ? ORDER BY seq",
                (row["id"],),
            ).fetchall()
        run = _run(row)
        run["plan"] = json.loads(row["plan"])
        run["steps"] = [dict(step) for step in steps]
        return run

    def last_failed_run(self, cluster: str, runbook: str) -> dict[str, Any] | None:
        """The most recent run of ``runbook`` on ``cluster`` that did not finish well
        (failed, interrupted, or still marked running after a crash): ``--resume``."""
        with self._connect() as conn:
            row = conn.execute(
                f"SELECT {_RUN_COLUMNS} FROM runs WHERE cluster = ? AND runbook = ?"
                " AND status IN ('failed', 'interrupted', 'running')"
                " ORDER BY started DESC, id DESC LIMIT 1",
                (cluster, runbook),
            ).fetchone()
        return None if row is None else _run(row)

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
            except sqlite3.OperationalError:
                if attempt == 99:
                    raise
                time.sleep(0.05)

    @contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        with closing(sqlite3.connect(self.path, timeout=30, isolation_level=None)) as conn:
            conn.row_factory = sqlite3.Row
            yield conn

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
    run = {
        key: row[key]
        for key in (
            "run_id",
            "started",
            "finished",
            "cluster",
            "runbook",
            "status",
            "exit_code",
            "user",
            "host",
        )
    }
    run["params"] = json.loads(row["params"])
    if run["status"] == "running" and _died(row["host"], row["pid"]):
        run["status"] = "interrupted"
    return run


def _died(host: str, pid: int) -> bool:
    """True when a run started on this host by ``pid`` has no live process any more."""
    if host != socket.gethostname():
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:  # alive, another user's
        return False
    return False

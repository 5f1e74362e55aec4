"""The team state store on PostgreSQL: one journal, one lock per cluster and one
backup store for every operator host, CI runner and cron job.

* URL ``postgresql://user@host:port/db`` (``EXOPS_STATE_URL``). A password in
  the URL is refused: it comes from ``EXOPS_STATE_PASSWORD`` or the OS keyring
  (service ``exops-state``, the URL's user name), or libpq's own ``~/.pgpass``.
  Error messages show the URL without any password.
* TLS: ``sslmode=verify-full`` unless the URL sets ``sslmode`` itself; for a
  unix socket or a loopback host (``localhost``, ``127.0.0.1``, ``::1``) the
  default is ``prefer`` (traffic never leaves the machine).
* Locks: ``pg_try_advisory_lock(hashtext('exops:' || cluster))``, session
  level, on a connection of its own that lives exactly as long as the run: a
  crashed or killed exops releases it with its connection (no stale lock). A
  row in ``exops_locks`` says who holds it (user, host, pid, runbook, since,
  backend pid) for the exit-4 message and ``exops unlock``.
* Schema versioned in ``exops_schema``; migrations run on first use inside a
  transaction holding ``pg_advisory_xact_lock(hashtext('exops:migrate'))``, so
  two exops starting at once migrate once.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from exops.core.errors import ExopsError, LockedError, PreconditionError, UsageError
from exops.state.base import (
    DONE_STATUSES,
    EXPORT_COLUMNS,
    RUN_KEYS,
    START_COLUMNS,
    STEP_KEYS,
    UNFINISHED_STATUSES,
    Held,
    LockLostError,
    NewRun,
    RunQuery,
    StepLike,
    StepRow,
    backup_doc,
    check_name,
    describe,
    holder_record,
    locked_message,
    now_iso,
    run_status,
)
from exops.state.snapshots import POSTGRES_MIGRATION, PostgresSnapshots

try:
    import psycopg
    from psycopg.rows import dict_row
except ImportError:  # pragma: no cover - a dependency; the message says what to install
    psycopg = None  # type: ignore[assignment]

SCHEMA_VERSION = 2  # 2: configuration snapshots (exops.state.snapshots)
PASSWORD_ENV = "EXOPS_STATE_PASSWORD"
KEYRING_SERVICE = "exops-state"
LOCAL_HOSTS = frozenset({"localhost", "127.0.0.1", "::1"})
_POLL_MIN_S = 0.05
_POLL_MAX_S = 0.5
_T = TypeVar("_T")
log = logging.getLogger(__name__)

MIGRATIONS: dict[int, str] = {
    1: """
CREATE TABLE exops_runs (
    id bigserial PRIMARY KEY,
    run_id text NOT NULL UNIQUE,
    cluster text NOT NULL,
    runbook text NOT NULL,
    status text NOT NULL,
    exit_code integer,
    "user" text NOT NULL,
    host text NOT NULL,
    pid integer NOT NULL,
    started text NOT NULL,
    finished text,
    params text NOT NULL,
    plan text NOT NULL
);
CREATE INDEX exops_runs_by_cluster ON exops_runs (cluster, runbook, started);
CREATE TABLE exops_steps (
    id bigserial PRIMARY KEY,
    run bigint NOT NULL REFERENCES exops_runs (id) ON DELETE CASCADE,
    seq integer NOT NULL,
    action_id text NOT NULL,
    step text NOT NULL,
    kind text NOT NULL,
    host text,
    status text NOT NULL,
    started text NOT NULL,
    duration_s double precision NOT NULL,
    detail text NOT NULL,
    error text,
    advice text,
    UNIQUE (run, seq)
);
CREATE INDEX exops_steps_restarts ON exops_steps (host, kind, started);
CREATE TABLE exops_backups (
    id bigserial PRIMARY KEY,
    cluster text NOT NULL,
    host text NOT NULL,
    taken_at text NOT NULL,
    run_id text NOT NULL,
    settings text NOT NULL,
    UNIQUE (cluster, host, taken_at)
);
CREATE TABLE exops_locks (
    cluster text PRIMARY KEY,
    "user" text NOT NULL,
    host text NOT NULL,
    pid integer NOT NULL,
    runbook text NOT NULL,
    since text NOT NULL,
    backend_pid integer NOT NULL
);
""",
    2: POSTGRES_MIGRATION,
}

_RUN_COLUMNS = (
    'run_id, started, finished, cluster, runbook, status, exit_code, "user", host, pid, params'
)
_LOCK_KEY = "hashtext('exops:' || %s)"
# A run is journalled under its cluster's lock: a ``running`` run whose lock
# session (same cluster, host and pid) is gone died on its host, wherever that is.
_LIVE = (
    "CASE WHEN r.status = 'running' THEN EXISTS (SELECT 1 FROM exops_locks l"
    " JOIN pg_stat_activity a ON a.pid = l.backend_pid WHERE l.cluster = r.cluster"
    " AND l.host = r.host AND l.pid = r.pid) END AS live"
)


def safe_url(url: str) -> str:
    """``url`` without a password (in the authority or the query)."""
    try:
        parts = urlsplit(url)
        netloc = parts.netloc.rpartition("@")
        if netloc[1]:
            user = netloc[0].partition(":")[0]
            host = f"{user}@{netloc[2]}" if user else netloc[2]
        else:
            host = parts.netloc
        query = urlencode(
            [(k, "********" if k.lower() == "password" else v) for k, v in parse_qsl(parts.query)]
        )
        return urlunsplit((parts.scheme, host, parts.path, query, ""))
    except ValueError:
        return "<unparsable state_url>"


def _is_local(host: str | None) -> bool:
    return not host or host.startswith("/") or host.lower() in LOCAL_HOSTS


def _password(user: str) -> str | None:
    value = os.environ.get(PASSWORD_ENV)
    if value:
        return value
    try:
        import keyring
        from keyring.errors import KeyringError
    except ImportError:
        return None
    try:
        found = keyring.get_password(KEYRING_SERVICE, user)
    except KeyringError:
        return None
    return str(found) if found else None


class Target:
    """Where and how to connect, parsed once from the URL."""

    def __init__(self, url: str, *, connect_timeout_s: float = 5.0):
        self.url = url
        self.shown = safe_url(url)
        try:
            parts = urlsplit(url)
            query = dict(parse_qsl(parts.query))
            port = parts.port
        except ValueError as exc:
            raise UsageError(f"state_url {self.shown!r}: not a valid URL ({exc})") from exc
        if parts.password is not None or "password" in {k.lower() for k in query}:
            raise UsageError(
                f"state_url {self.shown!r}: no password in the URL; set {PASSWORD_ENV} "
                f"or store it in the keyring under service {KEYRING_SERVICE!r}"
            )
        if not parts.path.strip("/"):
            raise UsageError(f"state_url {self.shown!r}: name the database (…/DBNAME)")
        self.user = parts.username or ""
        self.host = query.get("host") or parts.hostname
        self.port = port
        self.sslmode = query.get("sslmode") or ("prefer" if _is_local(self.host) else "verify-full")
        self.connect_timeout_s = connect_timeout_s

    def connect(self, *, keepalive: bool = False) -> Any:
        """A new autocommit connection.

        Raises:
            UsageError: psycopg missing, server unreachable, refusing, or TLS failure.
        """
        if psycopg is None:
            raise UsageError(
                "the PostgreSQL state store needs psycopg: pip install 'psycopg[binary]'"
            )
        kwargs: dict[str, Any] = {
            "autocommit": True,
            "sslmode": self.sslmode,
            "connect_timeout": max(1, round(self.connect_timeout_s)),
            "application_name": "exops",
            "row_factory": dict_row,
        }
        if keepalive:  # notice a dead server or network within ~25 s
            kwargs.update(
                keepalives=1, keepalives_idle=10, keepalives_interval=5, keepalives_count=3
            )
        password = _password(self.user or os.environ.get("USER", ""))
        if password:
            kwargs["password"] = password
        try:
            return psycopg.connect(self.url, **kwargs)
        except psycopg.Error as exc:
            raise self.error("cannot connect", exc, password) from exc

    def error(self, what: str, exc: BaseException, password: str | None = None) -> UsageError:
        text = " ".join(str(exc).split())
        if password:
            text = text.replace(password, "********")
        tls = re.search(
            r"SSL error|SSL SYSCALL|does not support SSL|certificate|TLS|tlsv1|sslmode", text
        )
        kind = "TLS failure" if tls else what
        return UsageError(f"state store {self.shown}: {kind}: {text}")


class PostgresStore:
    """The team store (see the module docstring)."""

    backend = "postgresql"

    def __init__(self, url: str, *, connect_timeout_s: float = 5.0):
        self.target = Target(url, connect_timeout_s=connect_timeout_s)
        self._mutex = threading.RLock()
        self._conn = self.target.connect()
        self._held: dict[str, Any] = {}
        try:
            migrate(self._conn, self.target.shown)
            self._probe()
        except BaseException:
            self._conn.close()
            raise
        self.journal = PostgresJournal(self)
        self.backups = PostgresBackups(self)
        self.snapshots = PostgresSnapshots(self)

    # -- plumbing -------------------------------------------------------------
    def run(self, what: str, work: Callable[[Any], _T]) -> _T:
        """``work(connection)`` under the store's mutex; a closed connection is reopened
        first; a database error becomes one line naming the store."""
        with self._mutex:
            if self._conn.closed or self._conn.broken:
                self._conn = self.target.connect()
            try:
                return work(self._conn)
            except psycopg.Error as exc:
                raise ExopsError(
                    f"state store {self.target.shown}: {what}: {' '.join(str(exc).split())}"
                ) from exc

    def _probe(self) -> None:
        """Prove every table takes writes (not a standby, privileges granted), then undo."""
        try:
            with self._conn.transaction(force_rollback=True):
                run = self._conn.execute(
                    'INSERT INTO exops_runs (run_id, cluster, runbook, status, "user", host, pid,'
                    " started, params, plan) VALUES ('.probe', '.probe', '', 'probe', '', '', 0,"
                    " '', '{}', '{}') RETURNING id"
                ).fetchone()["id"]
                self._conn.execute(
                    "INSERT INTO exops_steps (run, seq, action_id, step, kind, status, started,"
                    " duration_s, detail) VALUES (%s, 0, '', '', '', '', '', 0, '')",
                    (run,),
                )
                self._conn.execute(
                    "INSERT INTO exops_backups (cluster, host, taken_at, run_id, settings)"
                    " VALUES ('.probe', '', '', '', '{}')"
                )
                self._conn.execute(
                    "INSERT INTO exops_snapshots (snapshot_id, run_id, cluster, taken_at,"
                    " \"user\", host, peer_count) VALUES ('.probe', '', '', '', '', '', 0)"
                )
                self._conn.execute(
                    "INSERT INTO exops_locks VALUES ('.probe', '', '', 0, '', '', 0)"
                    " ON CONFLICT (cluster) DO UPDATE SET since = ''"
                )
                self._conn.execute("DELETE FROM exops_locks WHERE cluster = '.probe'")
        except psycopg.Error as exc:
            raise self.target.error("cannot write", exc) from exc

    # -- locks ----------------------------------------------------------------
    @contextmanager
    def lock(self, cluster: str, *, runbook: str, timeout_s: float) -> Iterator[Held]:
        """Hold ``cluster``'s advisory lock on a dedicated session for the ``with`` block.

        Raises:
            UsageError: unsafe cluster name, or the server cannot be reached.
            LockedError: another session held it for the whole ``timeout_s``.
        """
        check_name("cluster", cluster)
        if cluster in self._held:
            holder = self.run("read the lock", lambda conn: self._holder(conn, cluster))
            raise LockedError(locked_message(cluster, holder, 0))
        conn = self.target.connect(keepalive=True)
        try:
            if conn.info.server_version >= 140000:
                conn.execute("SET idle_session_timeout = 0")  # a DBA's default must not end it
            self._take(conn, cluster, max(0.0, timeout_s))
            previous = self._holder(conn, cluster)
            if previous:
                log.warning(
                    "cluster %s: taking over the lock record of %s (its session is gone)",
                    cluster,
                    describe(previous),
                )
            holder = holder_record(cluster, runbook)
            conn.execute(
                'INSERT INTO exops_locks (cluster, "user", host, pid, runbook, since, backend_pid)'
                " VALUES (%s, %s, %s, %s, %s, %s, pg_backend_pid()) ON CONFLICT (cluster) DO UPDATE"
                ' SET "user" = EXCLUDED."user", host = EXCLUDED.host, pid = EXCLUDED.pid,'
                " runbook = EXCLUDED.runbook, since = EXCLUDED.since,"
                " backend_pid = EXCLUDED.backend_pid",
                (
                    cluster,
                    holder["user"],
                    holder["host"],
                    holder["pid"],
                    runbook,
                    holder["started"],
                ),
            )
        except psycopg.Error as exc:
            conn.close()
            raise self.target.error(f"cannot lock cluster {cluster}", exc) from exc
        except BaseException:
            conn.close()
            raise
        self._held[cluster] = conn
        try:
            yield Held(
                cluster=cluster,
                holder=holder,
                where=f"{self.target.shown} (advisory lock, backend {conn.info.backend_pid})",
                took_over=previous,
            )
        finally:
            self._held.pop(cluster, None)
            with contextlib.suppress(psycopg.Error):
                conn.execute(
                    "DELETE FROM exops_locks WHERE cluster = %s AND backend_pid = pg_backend_pid()",
                    (cluster,),
                )
                conn.execute(f"SELECT pg_advisory_unlock({_LOCK_KEY})", (cluster,))
            conn.close()  # closing the session drops the lock in any case

    def _take(self, conn: Any, cluster: str, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        pause = _POLL_MIN_S
        while True:
            row = conn.execute(f"SELECT pg_try_advisory_lock({_LOCK_KEY}) AS ok", (cluster,))
            if row.fetchone()["ok"]:
                return
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                holder = self._holder(conn, cluster)
                raise LockedError(locked_message(cluster, holder, timeout_s))
            time.sleep(min(pause, remaining))
            pause = min(pause * 2, _POLL_MAX_S)

    @staticmethod
    def _holder(conn: Any, cluster: str) -> dict[str, Any] | None:
        row = conn.execute(
            'SELECT "user", host, pid, runbook, since, backend_pid FROM exops_locks'
            " WHERE cluster = %s",
            (cluster,),
        ).fetchone()
        if row is None:
            return None
        return {
            "user": row["user"],
            "host": row["host"],
            "pid": row["pid"],
            "started": row["since"],
            "runbook": row["runbook"],
            "cluster": cluster,
            "backend_pid": row["backend_pid"],
        }

    def check_lock(self, cluster: str | None = None) -> None:
        """Raise LockLostError when a lock session of ours (of ``cluster``, or any)
        has ended."""
        for held, conn in list(self._held.items()):
            if cluster is not None and held != cluster:
                continue
            try:
                conn.execute("SELECT 1")
            except psycopg.Error as exc:
                raise LockLostError(
                    f"lost the lock on cluster {held}: the session to {self.target.shown} "
                    f"ended ({' '.join(str(exc).split())[:160]}); stopping before the next step"
                ) from exc

    def unlock(self, cluster: str, *, force: bool = False) -> str | None:
        """Clear ``cluster``'s lock record when its session is gone; with ``force``
        terminate the live holder's session (shown first) and clear it.

        Raises:
            PreconditionError: the holder's session is alive and ``force`` is false,
                or the server refused to terminate it (privileges).
        """
        check_name("cluster", cluster)
        conn = self.target.connect()
        try:
            holder = self._holder(conn, cluster)
            if conn.execute(
                f"SELECT pg_try_advisory_lock({_LOCK_KEY}) AS ok", (cluster,)
            ).fetchone()["ok"]:
                conn.execute("DELETE FROM exops_locks WHERE cluster = %s", (cluster,))
                conn.execute(f"SELECT pg_advisory_unlock({_LOCK_KEY})", (cluster,))
                return (
                    None if holder is None else describe(holder) + " (stale: its session is gone)"
                )
            backend = self._lock_backend(conn, cluster)
            shown = describe(holder) + (f" (session backend {backend})" if backend else "")
            if not force:
                raise PreconditionError(
                    f"cluster {cluster} is locked by {shown}, whose session is alive; wait for "
                    f"it, or stop it, or `exops unlock -c {cluster} --force` to end its session"
                )
            if backend is None:
                raise PreconditionError(f"cluster {cluster}: cannot find the session holding it")
            try:
                ended = conn.execute("SELECT pg_terminate_backend(%s) AS ok", (backend,)).fetchone()
            except psycopg.Error as exc:
                raise PreconditionError(
                    f"cluster {cluster}: cannot end {shown}: {' '.join(str(exc).split())} "
                    "(the exops role needs pg_signal_backend, or to be the holder's role)"
                ) from exc
            if not ended["ok"]:
                raise PreconditionError(f"cluster {cluster}: the server did not end {shown}")
            self._take(conn, cluster, 10.0)
            conn.execute("DELETE FROM exops_locks WHERE cluster = %s", (cluster,))
            conn.execute(f"SELECT pg_advisory_unlock({_LOCK_KEY})", (cluster,))
            return f"{shown}, whose session was terminated"
        except psycopg.Error as exc:
            raise self.target.error(f"cannot unlock cluster {cluster}", exc) from exc
        finally:
            conn.close()

    @staticmethod
    def _lock_backend(conn: Any, cluster: str) -> int | None:
        row = conn.execute(
            "SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND granted AND objsubid = 1"
            f" AND classid = ((({_LOCK_KEY})::bigint >> 32) & 4294967295)::oid"
            f" AND objid = (({_LOCK_KEY})::bigint & 4294967295)::oid",
            (cluster, cluster),
        ).fetchone()
        return None if row is None else int(row["pid"])

    # -- migration target -----------------------------------------------------
    def import_run(self, doc: dict[str, Any]) -> bool:
        """Copy one exported run (with its steps) unless its run_id is here already."""

        def work(conn: Any) -> bool:
            with conn.transaction():
                row = conn.execute(
                    f"INSERT INTO exops_runs ({_columns(EXPORT_COLUMNS)}) VALUES"
                    f" ({', '.join('%s' for _ in EXPORT_COLUMNS)})"
                    " ON CONFLICT (run_id) DO NOTHING RETURNING id",
                    tuple(doc[k] for k in EXPORT_COLUMNS),
                ).fetchone()
                if row is None:
                    return False
                for step in doc["steps"]:
                    conn.execute(
                        f"INSERT INTO exops_steps (run, {', '.join(STEP_KEYS)}) VALUES"
                        f" (%s, {', '.join('%s' for _ in STEP_KEYS)})",
                        (row["id"], *(step[k] for k in STEP_KEYS)),
                    )
                return True

        return self.run("import a run", work)

    def import_backup(self, doc: dict[str, Any]) -> bool:
        """Copy one backup document unless the same (cluster, host, taken_at) is here."""
        row = self.run(
            "import a backup",
            lambda conn: conn.execute(
                "INSERT INTO exops_backups (cluster, host, taken_at, run_id, settings)"
                " VALUES (%s, %s, %s, %s, %s) ON CONFLICT DO NOTHING RETURNING id",
                (
                    check_name("cluster", str(doc["cluster"])),
                    check_name("host", str(doc["host"])),
                    str(doc["taken_at"]),
                    str(doc.get("run_id") or ""),
                    json.dumps(doc["settings"]),
                ),
            ).fetchone(),
        )
        return row is not None

    def close(self) -> None:
        for conn in self._held.values():
            conn.close()
        self._held.clear()
        self._conn.close()


def migrate(conn: Any, shown: str) -> int:
    """Bring the schema to SCHEMA_VERSION (once, under an advisory lock); its version.

    Raises:
        UsageError: the schema is newer than this exops, or cannot be created.
    """
    try:
        version = _version(conn)
        if version == SCHEMA_VERSION:
            return version
        # A session lock taken before the transaction: the transaction then starts
        # after the previous holder's commit with fresh catalogs (an xact lock taken
        # inside it would leave a stale catalog snapshot: "relation already exists").
        conn.execute("SELECT pg_advisory_lock(hashtext('exops:migrate'))")
        try:
            with conn.transaction():
                version = _version(conn)  # another exops may have migrated meanwhile
                if version > SCHEMA_VERSION:
                    raise UsageError(
                        f"state store {shown}: schema {version} is newer than this exops "
                        f"understands ({SCHEMA_VERSION}); upgrade exops"
                    )
                if version == 0:
                    conn.execute("CREATE TABLE exops_schema (version integer NOT NULL)")
                for number in range(version + 1, SCHEMA_VERSION + 1):
                    conn.execute(MIGRATIONS[number])
                    conn.execute("INSERT INTO exops_schema (version) VALUES (%s)", (number,))
        finally:
            conn.execute("SELECT pg_advisory_unlock(hashtext('exops:migrate'))")
        return SCHEMA_VERSION
    except psycopg.Error as exc:
        raise UsageError(
            f"state store {shown}: cannot create or upgrade the exops tables: "
            f"{' '.join(str(exc).split())} (the role needs CREATE on the schema, see "
            "docs/team-mode.md)"
        ) from exc


def _version(conn: Any) -> int:
    if conn.execute("SELECT to_regclass('exops_schema') AS t").fetchone()["t"] is None:
        return 0
    row = conn.execute("SELECT COALESCE(MAX(version), 0) AS v FROM exops_schema").fetchone()
    return int(row["v"])


def _columns(names: tuple[str, ...]) -> str:
    """Column list for SQL; ``user`` is a reserved word in PostgreSQL."""
    return ", ".join('"user"' if n == "user" else n for n in names)


def _run_dict(row: dict[str, Any]) -> dict[str, Any]:
    run = {k: row[k] for k in (*RUN_KEYS, "user", "host")}
    run["params"] = json.loads(row["params"])
    run["status"] = run_status(run["status"], row["host"], row["pid"])
    if run["status"] == "running" and row.get("live") is False:
        run["status"] = "interrupted"
    return run


class PostgresJournal:
    """The journal as two tables (``exops_runs``, ``exops_steps``)."""

    def __init__(self, store: PostgresStore):
        self.store = store

    def start_run(self, run: NewRun) -> int:
        row = self.store.run(
            "record the run",
            lambda conn: conn.execute(
                f"INSERT INTO exops_runs ({_columns(START_COLUMNS)}, status)"
                f" VALUES ({', '.join('%s' for _ in START_COLUMNS)}, 'running') RETURNING id",
                run.values(),
            ).fetchone(),
        )
        return int(row["id"])

    def record_step(self, journal_id: int, step: StepLike) -> None:
        r = StepRow.of(step)
        args = (
            journal_id,
            r.action_id,
            r.step,
            r.kind,
            r.host,
            r.status,
            r.started,
            r.duration_s,
            r.detail,
            r.error,
            r.advice,
            journal_id,
        )
        sql = (
            "INSERT INTO exops_steps (run, seq, action_id, step, kind, host, status, started,"
            " duration_s, detail, error, advice) SELECT %s, COALESCE(MAX(seq), 0) + 1,"
            " %s, %s, %s, %s, %s, %s, %s, %s, %s, %s FROM exops_steps WHERE run = %s"
        )
        for attempt in range(3):  # two writers of one run (rare): retry the numbering
            try:
                self.store.run("record a step", lambda conn: conn.execute(sql, args))
                return
            except ExopsError as exc:
                if attempt == 2 or not isinstance(exc.__cause__, psycopg.errors.UniqueViolation):
                    raise

    def finish_run(self, journal_id: int, status: str, exit_code: int) -> None:
        self.store.run(
            "finish the run",
            lambda conn: conn.execute(
                "UPDATE exops_runs SET status = %s, exit_code = %s, finished = %s WHERE id = %s",
                (status, exit_code, now_iso(), journal_id),
            ),
        )

    def list_runs(
        self, *, cluster: str | None = None, limit: int = 20, query: RunQuery | None = None
    ) -> list[dict[str, Any]]:
        query = query or RunQuery()
        if cluster is not None:
            query = RunQuery(cluster, query.runbook, query.status, query.since, query.until)
        where, args = query.where("%s", "r.status")
        bound = "" if query.derived else " LIMIT %s"
        rows = self.store.run(
            "list runs",
            lambda conn: conn.execute(
                f"SELECT {_RUN_COLUMNS}, {_LIVE}, (SELECT COUNT(*) FROM exops_steps s"
                " WHERE s.run = r.id AND s.status = 'changed') AS changed"
                f" FROM exops_runs r {where} ORDER BY started DESC, id DESC{bound}",
                (*args, *([] if query.derived else [max(0, limit)])),
            ).fetchall(),
        )
        runs = []
        for row in rows:
            run = _run_dict(row)
            run["changed"] = int(row["changed"])
            runs.append(run)
        return query.keep(runs, limit)

    def match_run_ids(self, prefix: str, limit: int = 10) -> list[str]:
        rows = self.store.run(
            "find runs",
            lambda conn: conn.execute(
                "SELECT run_id FROM exops_runs WHERE left(run_id, %s) = %s"
                " ORDER BY started DESC, id DESC LIMIT %s",
                (len(prefix), prefix, max(0, limit)),
            ).fetchall(),
        )
        return [str(r["run_id"]) for r in rows]

    def get_run(self, run_id: str) -> dict[str, Any] | None:
        def work(conn: Any) -> tuple[Any, list[Any]]:
            row = conn.execute(
                f"SELECT id, plan, {_RUN_COLUMNS}, {_LIVE} FROM exops_runs r WHERE run_id = %s",
                (run_id,),
            ).fetchone()
            if row is None:
                return None, []
            steps = conn.execute(
                f"SELECT {', '.join(STEP_KEYS)} FROM exops_steps WHERE run = %s ORDER BY seq",
                (row["id"],),
            ).fetchall()
            return row, steps

        row, steps = self.store.run("read a run", work)
        if row is None:
            return None
        run = _run_dict(row)
        run["plan"] = json.loads(row["plan"])
        run["steps"] = [dict(s) for s in steps]
        return run

    def last_failed_run(self, cluster: str, runbook: str) -> dict[str, Any] | None:
        row = self.store.run(
            "find the last failed run",
            lambda conn: conn.execute(
                f"SELECT {_RUN_COLUMNS}, {_LIVE} FROM exops_runs r"
                " WHERE cluster = %s AND runbook = %s"
                " AND status = ANY(%s) ORDER BY started DESC, id DESC LIMIT 1",
                (cluster, runbook, list(UNFINISHED_STATUSES)),
            ).fetchone(),
        )
        return None if row is None else _run_dict(row)

    def restart_durations(self, cluster: str, host: str, limit: int = 5) -> list[float]:
        rows = self.store.run(
            "read restart durations",
            lambda conn: conn.execute(
                "SELECT s.duration_s FROM exops_steps s JOIN exops_runs r ON s.run = r.id"
                " WHERE r.cluster = %s AND s.host = %s AND s.kind = 'restart'"
                " AND s.status = ANY(%s) ORDER BY s.started DESC, s.id DESC LIMIT %s",
                (cluster, host, list(DONE_STATUSES), max(0, limit)),
            ).fetchall(),
        )
        return [float(r["duration_s"]) for r in rows]


class PostgresBackups:
    """Pre-change backups as rows of ``exops_backups``; a location is
    ``<url without password>#backup=<id>``."""

    def __init__(self, store: PostgresStore):
        self.store = store

    def save(self, cluster: str, host: str, settings: dict[str, Any], run_id: str) -> str:
        doc = backup_doc(cluster, host, settings, run_id)
        row = self.store.run(
            "save a backup",
            lambda conn: conn.execute(
                "INSERT INTO exops_backups (cluster, host, taken_at, run_id, settings)"
                " VALUES (%s, %s, %s, %s, %s) RETURNING id",
                (cluster, host, doc["taken_at"], run_id, json.dumps(settings)),
            ).fetchone(),
        )
        return f"{self.store.target.shown}#backup={row['id']}"

    def latest(self, cluster: str, host: str) -> tuple[str, dict[str, Any]] | None:
        check_name("cluster", cluster)
        check_name("host", host)
        row = self.store.run(
            "find the latest backup",
            lambda conn: conn.execute(
                "SELECT id, cluster, host, taken_at, settings FROM exops_backups"
                " WHERE cluster = %s AND host = %s ORDER BY taken_at DESC, id DESC LIMIT 1",
                (cluster, host),
            ).fetchone(),
        )
        if row is None:
            return None
        location = f"{self.store.target.shown}#backup={row['id']}"
        return location, _checked(row, location)

    def read(self, location: str) -> dict[str, Any]:
        """The settings of the backup at ``location`` (``...#backup=N`` or ``N``).

        Raises:
            UsageError: not a backup location of this store, or no such backup.
        """
        match = re.fullmatch(r"(?:.*#backup=)?(\d{1,18})", location.strip())
        if match is None:
            raise UsageError(f"{location}: not a backup of the state store (…#backup=N)")
        row = self.store.run(
            "read a backup",
            lambda conn: conn.execute(
                "SELECT cluster, host, taken_at, settings FROM exops_backups WHERE id = %s",
                (int(match.group(1)),),
            ).fetchone(),
        )
        if row is None:
            raise UsageError(f"{location}: no such backup in the state store")
        return _checked(row, location)


def _checked(row: Any, location: str) -> dict[str, Any]:
    """A row's settings, through the one backup check (``backups.check_backup``): the
    store and a file give the same answer for the same document."""
    from exops.state.backups import check_backup

    try:
        settings = json.loads(row["settings"])
    except (TypeError, ValueError) as exc:
        raise UsageError(f"{location}: not an exops backup (settings not JSON)") from exc
    doc = {k: row[k] for k in ("cluster", "host", "taken_at")}
    return dict(check_backup({**doc, "settings": settings}, location)["settings"])

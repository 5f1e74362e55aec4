"""Configuration snapshots in the state store: what each peer's interfaces read, kept
with the run that took it (``exops snapshot``, ``exops diff``; docs/snapshots.md).

A snapshot is one cluster at one moment: a header (its id, the run that took it,
the cluster, when, by whom) and one document per peer (``peers``: the inventory
name, the address, whether it answered, and its settings flattened as
``setting -> value``; exops.report.diff builds them). Both backends keep them in
two tables of their own, beside the journal (whose tables are unchanged):

* SQLite (``journal.sqlite``): ``snapshots`` and ``snapshot_peers``, added by
  schema migration 2 (``SQLITE_MIGRATION``);
* PostgreSQL: ``exops_snapshots`` and ``exops_snapshot_peers``, migration 2
  (``POSTGRES_MIGRATION``).

Every peer document passes through ``exops.core.redact`` before it is stored; the
documents themselves never hold a secret (exops.report.diff stores a certificate's
public parts and an option key's fingerprint, never a key).

The interface (``store.snapshots``)::

    store.snapshots.save(NewSnapshot(snapshot_id=..., run_id=..., cluster=..., peers=[...],
                                     user=..., host=...)) -> snapshot_id
    store.snapshots.get(ref)            # by snapshot id, else by the id of the run that
                                        # took it; with its peers; None when unknown
    store.snapshots.latest(cluster)     # the newest of a cluster, with its peers, or None
    store.snapshots.list(cluster=None, limit=20)   # headers, newest first
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, Protocol

from exops.state import base

# Header columns, as listed and returned (plus ``peers`` where the peers are read).
HEADER_KEYS = ("snapshot_id", "run_id", "cluster", "taken_at", "user", "host", "peer_count")

SQLITE_MIGRATION = """
CREATE TABLE IF NOT EXISTS snapshots (
    id INTEGER PRIMARY KEY,
    snapshot_id TEXT NOT NULL UNIQUE,
    run_id TEXT NOT NULL,
    cluster TEXT NOT NULL,
    taken_at TEXT NOT NULL,
    user TEXT NOT NULL,
    host TEXT NOT NULL,
    peer_count INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS snapshots_by_cluster ON snapshots (cluster, taken_at);
CREATE INDEX IF NOT EXISTS snapshots_by_run ON snapshots (run_id);
CREATE TABLE IF NOT EXISTS snapshot_peers (
    id INTEGER PRIMARY KEY,
    snapshot INTEGER NOT NULL REFERENCES snapshots (id),
    seq INTEGER NOT NULL,
    host TEXT NOT NULL,
    doc TEXT NOT NULL,
    UNIQUE (snapshot, seq)
);
"""

POSTGRES_MIGRATION = """
CREATE TABLE exops_snapshots (
    id bigserial PRIMARY KEY,
    snapshot_id text NOT NULL UNIQUE,
    run_id text NOT NULL,
    cluster text NOT NULL,
    taken_at text NOT NULL,
    "user" text NOT NULL,
    host text NOT NULL,
    peer_count integer NOT NULL
);
CREATE INDEX exops_snapshots_by_cluster ON exops_snapshots (cluster, taken_at);
CREATE INDEX exops_snapshots_by_run ON exops_snapshots (run_id);
CREATE TABLE exops_snapshot_peers (
    id bigserial PRIMARY KEY,
    snapshot bigint NOT NULL REFERENCES exops_snapshots (id) ON DELETE CASCADE,
    seq integer NOT NULL,
    host text NOT NULL,
    doc text NOT NULL,
    UNIQUE (snapshot, seq)
);
"""


@dataclass(frozen=True)
class NewSnapshot:
    """A snapshot as it is saved: ``peers`` are documents with at least ``host``."""

    snapshot_id: str
    run_id: str
    cluster: str
    peers: list[dict[str, Any]]
    user: str
    host: str
    taken_at: str = field(default_factory=base.now_iso)

    def header(self) -> tuple[Any, ...]:
        return (
            self.snapshot_id,
            self.run_id,
            self.cluster,
            self.taken_at,
            self.user,
            self.host,
            len(self.peers),
        )

    def peer_rows(self) -> Iterator[tuple[int, str, str]]:
        """(seq, host, redacted JSON) of each peer, in the order given."""
        for seq, doc in enumerate(self.peers, start=1):
            yield seq, str(doc["host"]), base.redacted_json(doc)


class SnapshotStore(Protocol):
    def save(self, snapshot: NewSnapshot) -> str: ...

    def get(self, ref: str) -> dict[str, Any] | None: ...

    def latest(self, cluster: str) -> dict[str, Any] | None: ...

    def list(self, *, cluster: str | None = None, limit: int = 20) -> list[dict[str, Any]]: ...


def _header(row: Any) -> dict[str, Any]:
    return {k: row[k] for k in HEADER_KEYS}


def _with_peers(row: Any, peers: list[Any]) -> dict[str, Any]:
    snap = _header(row)
    snap["peers"] = [json.loads(p["doc"]) for p in peers]
    return snap


def from_export(doc: dict[str, Any]) -> NewSnapshot:
    """An exported snapshot (``SqliteSnapshots.export``) as one to save elsewhere."""
    return NewSnapshot(
        snapshot_id=str(doc["snapshot_id"]),
        run_id=str(doc["run_id"]),
        cluster=str(doc["cluster"]),
        peers=list(doc["peers"]),
        user=str(doc["user"]),
        host=str(doc["host"]),
        taken_at=str(doc["taken_at"]),
    )


_COLUMNS = "snapshot_id, run_id, cluster, taken_at, user, host, peer_count"


class SqliteSnapshots:
    """Snapshots in the journal file (``exops.state.sqlite.SqliteJournal``'s connection)."""

    def __init__(self, journal: Any):
        self.journal = journal  # SqliteJournal: _connect() and _write(conn)

    def save(self, snapshot: NewSnapshot) -> str:
        with self.journal._connect() as conn, self.journal._write(conn):
            sid = conn.execute(
                f"INSERT INTO snapshots ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING id",
                snapshot.header(),
            ).fetchall()[0]["id"]
            conn.executemany(
                "INSERT INTO snapshot_peers (snapshot, seq, host, doc) VALUES (?, ?, ?, ?)",
                [(sid, *row) for row in snapshot.peer_rows()],
            )
        return snapshot.snapshot_id

    def _full(self, where: str, args: tuple[Any, ...]) -> dict[str, Any] | None:
        with self.journal._connect() as conn:
            rows = conn.execute(
                f"SELECT id, {_COLUMNS} FROM snapshots WHERE {where}"
                " ORDER BY taken_at DESC, id DESC LIMIT 1",
                args,
            ).fetchall()
            if not rows:
                return None
            peers = conn.execute(
                "SELECT doc FROM snapshot_peers WHERE snapshot = ? ORDER BY seq", (rows[0]["id"],)
            ).fetchall()
        return _with_peers(rows[0], peers)

    def get(self, ref: str) -> dict[str, Any] | None:
        found = self._full("snapshot_id = ?", (ref,))
        return found if found is not None else self._full("run_id = ?", (ref,))

    def latest(self, cluster: str) -> dict[str, Any] | None:
        return self._full("cluster = ?", (cluster,))

    def list(self, *, cluster: str | None = None, limit: int = 20) -> list[dict[str, Any]]:
        where, args = ("WHERE cluster = ?", [cluster]) if cluster is not None else ("", [])
        with self.journal._connect() as conn:
            rows = conn.execute(
                f"SELECT {_COLUMNS} FROM snapshots {where} ORDER BY taken_at DESC, id DESC LIMIT ?",
                (*args, max(0, limit)),
            ).fetchall()
        return [_header(r) for r in rows]

    def export(self) -> Iterator[dict[str, Any]]:
        """Every snapshot with its peers, oldest first (``exops state migrate``)."""
        with self.journal._connect() as conn:
            ids = [r["snapshot_id"] for r in conn.execute("SELECT snapshot_id FROM snapshots")]
        for sid in ids:
            found = self.get(sid)
            if found is not None:
                yield found


_PG_COLUMNS = 'snapshot_id, run_id, cluster, taken_at, "user", host, peer_count'


class PostgresSnapshots:
    """Snapshots in the team store (``exops.state.postgres.PostgresStore.run``)."""

    def __init__(self, store: Any):
        self.store = store  # PostgresStore

    def save(self, snapshot: NewSnapshot) -> str:
        self.import_snapshot(snapshot, skip_existing=False)
        return snapshot.snapshot_id

    def import_snapshot(self, snapshot: NewSnapshot, *, skip_existing: bool = True) -> bool:
        """Save ``snapshot`` in one transaction; with ``skip_existing`` a snapshot id
        already here is left alone (False)."""
        conflict = " ON CONFLICT (snapshot_id) DO NOTHING" if skip_existing else ""

        def work(conn: Any) -> bool:
            with conn.transaction():
                row = conn.execute(
                    f"INSERT INTO exops_snapshots ({_PG_COLUMNS}) VALUES"
                    f" (%s, %s, %s, %s, %s, %s, %s){conflict} RETURNING id",
                    snapshot.header(),
                ).fetchone()
                if row is None:
                    return False
                for seq, host, doc in snapshot.peer_rows():
                    conn.execute(
                        "INSERT INTO exops_snapshot_peers (snapshot, seq, host, doc)"
                        " VALUES (%s, %s, %s, %s)",
                        (row["id"], seq, host, doc),
                    )
                return True

        return bool(self.store.run("save a snapshot", work))

    def _full(self, where: str, args: tuple[Any, ...]) -> dict[str, Any] | None:
        def work(conn: Any) -> tuple[Any, list[Any]]:
            row = conn.execute(
                f"SELECT id, {_PG_COLUMNS} FROM exops_snapshots WHERE {where}"
                " ORDER BY taken_at DESC, id DESC LIMIT 1",
                args,
            ).fetchone()
            if row is None:
                return None, []
            peers = conn.execute(
                "SELECT doc FROM exops_snapshot_peers WHERE snapshot = %s ORDER BY seq",
                (row["id"],),
            ).fetchall()
            return row, peers

        row, peers = self.store.run("read a snapshot", work)
        return None if row is None else _with_peers(row, peers)

    def get(self, ref: str) -> dict[str, Any] | None:
        found = self._full("snapshot_id = %s", (ref,))
        return found if found is not None else self._full("run_id = %s", (ref,))

    def latest(self, cluster: str) -> dict[str, Any] | None:
        return self._full("cluster = %s", (cluster,))

    def list(self, *, cluster: str | None = None, limit: int = 20) -> list[dict[str, Any]]:
        where, args = ("WHERE cluster = %s", [cluster]) if cluster is not None else ("", [])
        rows = self.store.run(
            "list snapshots",
            lambda conn: conn.execute(
                f"SELECT {_PG_COLUMNS} FROM exops_snapshots {where}"
                " ORDER BY taken_at DESC, id DESC LIMIT %s",
                (*args, max(0, limit)),
            ).fetchall(),
        )
        return [_header(r) for r in rows]

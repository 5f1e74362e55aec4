"""Configuration snapshots in the state store, on both backends (SQLite and a real
PostgreSQL): round trip, look-ups, listing, redaction, the schema migration from a
journal of version 1, and `exops state migrate` copying them once."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from journalkit import PASSWORD

from exops.state import StateStore, open_url
from exops.state.migrate import migrate
from exops.state.snapshots import NewSnapshot


@pytest.fixture
def store(store_url: str, tmp_path: Path) -> Iterator[StateStore]:
    s = open_url(store_url, state_dir=tmp_path / "unused", lock_dir=tmp_path / "locks")
    try:
        yield s
    finally:
        s.close()


def peer(host: str, **values: Any) -> dict[str, Any]:
    return {
        "host": host,
        "address": f"10.0.0.{len(host)}",
        "reachable": True,
        "transport": "rest",
        "gathered_at": "2026-12-06T10:00:00+00:00",
        "error": None,
        "values": {"cluster.name": "c1.example.com", "system.h323_mode": "On", **values},
        "unknown": {},
    }


def snap(sid: str, cluster: str = "c1", taken_at: str = "", **kw: Any) -> NewSnapshot:
    extra = {"taken_at": taken_at} if taken_at else {}
    return NewSnapshot(
        snapshot_id=sid,
        run_id=kw.pop("run_id", sid),
        cluster=cluster,
        peers=kw.pop("peers", [peer("c1-p1"), peer("c1-p2", **{"system.platform": None})]),
        user="alice",
        host="jump1",
        **extra,
    )


def test_round_trip_keeps_every_peer_in_order(store: StateStore) -> None:
    taken = snap("s1")
    assert store.snapshots.save(taken) == "s1"
    got = store.snapshots.get("s1")
    assert got is not None
    assert {k: got[k] for k in ("snapshot_id", "run_id", "cluster", "user", "host")} == {
        "snapshot_id": "s1",
        "run_id": "s1",
        "cluster": "c1",
        "user": "alice",
        "host": "jump1",
    }
    assert got["peer_count"] == 2
    assert got["taken_at"] == taken.taken_at
    assert got["peers"] == taken.peers  # values, unknowns and None (unknown) intact
    assert [p["host"] for p in got["peers"]] == ["c1-p1", "c1-p2"]
    assert got["peers"][1]["values"]["system.platform"] is None
    assert store.snapshots.get("nope") is None


def test_found_by_the_id_of_the_run_that_took_it(store: StateStore) -> None:
    store.snapshots.save(snap("s1", run_id="run-upgrade-1"))
    by_run = store.snapshots.get("run-upgrade-1")
    assert by_run is not None and by_run["snapshot_id"] == "s1"


def test_latest_and_list_newest_first_per_cluster(store: StateStore) -> None:
    store.snapshots.save(snap("a", taken_at="2026-12-01T00:00:00.000+00:00"))
    store.snapshots.save(snap("b", cluster="c2", taken_at="2026-12-02T00:00:00.000+00:00"))
    store.snapshots.save(snap("c", taken_at="2026-12-03T00:00:00.000+00:00"))
    latest = store.snapshots.latest("c1")
    assert latest is not None and latest["snapshot_id"] == "c" and len(latest["peers"]) == 2
    assert store.snapshots.latest("c9") is None
    assert [s["snapshot_id"] for s in store.snapshots.list()] == ["c", "b", "a"]
    assert [s["snapshot_id"] for s in store.snapshots.list(cluster="c1")] == ["c", "a"]
    assert [s["snapshot_id"] for s in store.snapshots.list(limit=1)] == ["c"]
    assert "peers" not in store.snapshots.list()[0]  # headers only


def test_a_secret_in_a_document_is_never_stored(store: StateStore) -> None:
    leaky = peer("c1-p1")
    leaky["error"] = f"login refused password={PASSWORD}"
    leaky["values"]["admin_password"] = PASSWORD
    store.snapshots.save(snap("s1", peers=[leaky]))
    got = store.snapshots.get("s1")
    assert got is not None
    assert PASSWORD not in str(got)
    assert got["peers"][0]["values"]["admin_password"] == "********"


def test_a_snapshot_id_is_stored_once(store: StateStore) -> None:
    store.snapshots.save(snap("s1"))
    with pytest.raises(Exception, match=r"(?i)unique|duplicate"):
        store.snapshots.save(snap("s1"))
    assert len(store.snapshots.list()) == 1


V1_SQLITE = """
CREATE TABLE runs (id INTEGER PRIMARY KEY, run_id TEXT NOT NULL UNIQUE, cluster TEXT NOT NULL,
  runbook TEXT NOT NULL, status TEXT NOT NULL, exit_code INTEGER, user TEXT NOT NULL,
  host TEXT NOT NULL, pid INTEGER NOT NULL, started TEXT NOT NULL, finished TEXT,
  params TEXT NOT NULL, plan TEXT NOT NULL);
CREATE INDEX runs_by_cluster ON runs (cluster, runbook, started);
CREATE TABLE steps (id INTEGER PRIMARY KEY, run INTEGER NOT NULL REFERENCES runs (id),
  seq INTEGER NOT NULL, action_id TEXT NOT NULL, step TEXT NOT NULL, kind TEXT NOT NULL,
  host TEXT, status TEXT NOT NULL, started TEXT NOT NULL, duration_s REAL NOT NULL,
  detail TEXT NOT NULL, error TEXT, advice TEXT, UNIQUE (run, seq));
INSERT INTO runs VALUES (1, 'old', 'c1', 'restart', 'ok', 0, 'bob', 'jump0', 1,
  '2026-01-01T00:00:00.000+00:00', '2026-01-01T00:05:00.000+00:00', '{}', '{}');
PRAGMA user_version = 1;
"""


def test_a_version_1_sqlite_journal_gains_the_tables_and_keeps_its_runs(tmp_path: Path) -> None:
    state = tmp_path / "state"
    state.mkdir()
    with sqlite3.connect(state / "journal.sqlite") as conn:
        conn.executescript(V1_SQLITE)
    conn.close()
    store = open_url(None, state_dir=state, lock_dir=tmp_path / "locks")
    try:
        assert [r["run_id"] for r in store.journal.list_runs()] == ["old"]
        store.snapshots.save(snap("s1"))
        assert store.snapshots.get("s1") is not None
    finally:
        store.close()
    with sqlite3.connect(state / "journal.sqlite") as conn:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == 2
        columns = [r[1] for r in conn.execute("PRAGMA table_info(runs)")]
    conn.close()
    assert columns == [
        "id",
        "run_id",
        "cluster",
        "runbook",
        "status",
        "exit_code",
        "user",
        "host",
        "pid",
        "started",
        "finished",
        "params",
        "plan",
    ]  # the journal's own table is unchanged


def test_a_version_1_postgres_store_is_migrated_once(pg_url: str, tmp_path: Path) -> None:
    from exops.state.postgres import MIGRATIONS

    password = __import__("os").environ["EXOPS_STATE_PASSWORD"]
    with psycopg.connect(pg_url, password=password, autocommit=True) as conn:
        conn.execute("CREATE TABLE exops_schema (version integer NOT NULL)")
        conn.execute(MIGRATIONS[1])  # type: ignore[arg-type]
        conn.execute("INSERT INTO exops_schema VALUES (1)")
        conn.execute(
            'INSERT INTO exops_runs (run_id, cluster, runbook, status, "user", host, pid,'
            " started, params, plan) VALUES ('old', 'c1', 'restart', 'ok', 'bob', 'h', 1,"
            " '2026-01-01', '{}', '{}')"
        )
    store = open_url(pg_url, state_dir=tmp_path)
    try:
        assert [r["run_id"] for r in store.journal.list_runs()] == ["old"]
        store.snapshots.save(snap("s1"))
        versions = store.run(  # type: ignore[attr-defined]
            "read", lambda c: c.execute("SELECT version FROM exops_schema").fetchall()
        )
        assert [v["version"] for v in versions] == [1, 2]
    finally:
        store.close()


def test_state_migrate_copies_snapshots_once(pg_url: str, tmp_path: Path) -> None:
    state = tmp_path / "state"
    local = open_url(None, state_dir=state, lock_dir=tmp_path / "locks")
    local.snapshots.save(snap("s1", taken_at="2026-12-01T00:00:00.000+00:00"))
    local.snapshots.save(snap("s2", taken_at="2026-12-02T00:00:00.000+00:00"))
    done = migrate(f"sqlite://{state}", pg_url)
    assert (done.snapshots_copied, done.snapshots_present) == (2, 0)
    assert "2 snapshot(s) (0 already there)" in done.summary()
    again = migrate(f"sqlite://{state}", pg_url)
    assert (again.snapshots_copied, again.snapshots_present) == (0, 2)
    team = open_url(pg_url, state_dir=tmp_path)
    try:
        assert team.snapshots.list() == local.snapshots.list()
        assert team.snapshots.get("s1") == local.snapshots.get("s1")
    finally:
        team.close()

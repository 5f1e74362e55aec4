"""The state store, run on both backends (SQLite and a real PostgreSQL): journal,
locks and backups must behave the same."""

from __future__ import annotations

import json
import os
import signal
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from journalkit import PASSWORD, sample_run
from statekit import finish, operator_env, spawn_holder

from exops.core.errors import LockedError, PreconditionError, UsageError
from exops.core.models import ClusterSettings
from exops.plan.model import ActionKind
from exops.state import StateStore, open_url
from exops.state.base import NewRun, RunQuery


@dataclass
class FakeAction:
    id: str
    step: str
    kind: ActionKind
    host: str | None


@dataclass
class Step:
    action: FakeAction
    status: str
    started: datetime
    duration_s: float = 1.25
    detail: str = ""
    error: str | None = None
    advice: str | None = None


def step(aid: str, kind: ActionKind, status: str, host: str = "exp1", **kw: Any) -> Step:
    return Step(
        FakeAction(aid, f"step {aid}", kind, host),
        status,
        datetime(2024, 5, 1, 10, 0, int(aid) % 60, tzinfo=UTC),
        **kw,
    )


@pytest.fixture
def store(store_url: str, tmp_path: Path) -> Iterator[StateStore]:
    s = open_url(store_url, state_dir=tmp_path / "unused", lock_dir=tmp_path / "locks")
    try:
        yield s
    finally:
        s.close()


def _start(store: StateStore, run_id: str, cluster: str = "c1", runbook: str = "add-peer") -> int:
    return store.journal.start_run(sample_run(run_id, cluster, runbook))


def test_backend_is_the_one_named(store: StateStore, store_url: str) -> None:
    assert store.backend == store_url.split(":", maxsplit=1)[0]


def test_journal_round_trip_with_secrets_redacted(store: StateStore) -> None:
    jid = _start(store, "r1")
    store.journal.record_step(jid, step("1", ActionKind.BACKUP, "ok", detail="saved"))
    store.journal.record_step(
        jid,
        step(
            "2",
            ActionKind.CONFIGURE,
            "failed",
            error=f"refused password={PASSWORD}",
            detail=f"Authorization: Basic {PASSWORD}",
            advice="re-run",
        ),
    )
    store.journal.record_step(jid, step("3", ActionKind.RESTART, "skipped", host=None))
    store.journal.finish_run(jid, "failed", 1)

    run = store.journal.get_run("r1")
    assert run is not None
    assert (run["status"], run["exit_code"], run["user"], run["host"]) == (
        "failed",
        1,
        "alice",
        "jump1",
    )
    assert run["params"] == {"peer": "exp3", "password": "********"}
    assert run["plan"]["actions"][0] == {"id": "1", "admin_password": "********"}
    assert datetime.fromisoformat(run["started"]) <= datetime.fromisoformat(run["finished"])
    steps = run["steps"]
    assert [s["seq"] for s in steps] == [1, 2, 3]
    assert steps[0] == {
        "seq": 1,
        "action_id": "1",
        "step": "step 1",
        "kind": "backup",
        "host": "exp1",
        "status": "ok",
        "started": "2024-05-01T10:00:01.000+00:00",
        "duration_s": 1.25,
        "detail": "saved",
        "error": None,
        "advice": None,
    }
    assert steps[1]["error"] == "refused password=********"
    assert PASSWORD not in str(run)
    assert steps[2]["host"] is None
    assert store.journal.get_run("nope") is None


def test_list_runs_newest_first_filtered_and_limited(store: StateStore) -> None:
    for i, cluster in enumerate(["c1", "c2", "c1", "c1"]):
        store.journal.finish_run(_start(store, f"r{i}", cluster=cluster), "ok", 0)
    assert [r["run_id"] for r in store.journal.list_runs()] == ["r3", "r2", "r1", "r0"]
    assert [r["run_id"] for r in store.journal.list_runs(cluster="c1", limit=2)] == ["r3", "r2"]
    assert store.journal.list_runs(cluster="nope") == []
    first = store.journal.list_runs()[0]
    assert (first["user"], first["host"]) == ("alice", "jump1")
    assert first["params"]["password"] == "********"


def test_list_runs_by_runbook_status_and_time_with_changed_counts(
    store: StateStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``exops history`` filters: runbook, status (as reported), started within a window;
    each run carries its count of changed steps; ids are found by a unique prefix."""
    import exops.state.base

    runs = [
        ("aa01", "add-peer", "ok", "2024-05-01T10:00:00.000+00:00"),
        ("aa02", "restart", "failed", "2024-05-02T10:00:00.000+00:00"),
        ("ab03", "add-peer", "refused", "2024-05-03T10:00:00.000+00:00"),
        ("b004", "add-peer", "running", "2024-05-04T10:00:00.000+00:00"),
    ]
    for run_id, runbook, status, started in runs:
        monkeypatch.setattr(exops.state.base, "now_iso", lambda started=started: started)
        jid = _start(store, run_id, runbook=runbook)
        if run_id == "aa01":
            store.journal.record_step(jid, step("1", ActionKind.CONFIGURE, "changed"))
            store.journal.record_step(jid, step("2", ActionKind.RESTART, "changed"))
            store.journal.record_step(jid, step("3", ActionKind.WAIT, "ok"))
        if status != "running":
            store.journal.finish_run(jid, status, 0)

    def ids(**query: str) -> list[str]:
        return [r["run_id"] for r in store.journal.list_runs(query=RunQuery(**query))]

    assert ids(runbook="add-peer") == ["b004", "ab03", "aa01"]
    assert ids(status="failed") == ["aa02"]
    # A run never finished reads "running" or, its holder gone, "interrupted" (PostgreSQL
    # sees no lock session here): the filter takes the status as reported.
    reported = {r["run_id"]: r["status"] for r in store.journal.list_runs()}["b004"]
    other = {"running": "interrupted", "interrupted": "running"}[reported]
    assert (ids(status=reported), ids(status=other)) == (["b004"], [])
    assert ids(since="2024-05-02T00:00:00.000+00:00", until="2024-05-03T23:59:59.999+00:00") == [
        "ab03",
        "aa02",
    ]
    assert ids(runbook="add-peer", since="2024-05-02T00:00:00.000+00:00") == ["b004", "ab03"]
    changed = {r["run_id"]: r["changed"] for r in store.journal.list_runs()}
    assert changed == {"aa01": 2, "aa02": 0, "ab03": 0, "b004": 0}
    assert store.journal.match_run_ids("a") == ["ab03", "aa02", "aa01"]
    assert store.journal.match_run_ids("aa0") == ["aa02", "aa01"]
    assert store.journal.match_run_ids("b0") == ["b004"]
    assert store.journal.match_run_ids("a%") == []  # no pattern characters
    assert store.journal.match_run_ids("zz") == []


def test_last_failed_run_and_interrupted(store: StateStore) -> None:
    for run_id, cluster, runbook, status in [
        ("r0", "c1", "add-peer", "failed"),
        ("r1", "c1", "add-peer", "interrupted"),
        ("r2", "c1", "add-peer", "ok"),
        ("r3", "c1", "remove-peer", "failed"),
    ]:
        store.journal.finish_run(_start(store, run_id, cluster, runbook), status, 1)
    last = store.journal.last_failed_run("c1", "add-peer")
    assert last is not None and last["run_id"] == "r1"
    assert store.journal.last_failed_run("c1", "upgrade") is None


def test_an_unfinished_run_reads_running_while_its_process_holds_the_lock(
    store: StateStore,
) -> None:
    import socket

    with store.lock("c1", runbook="x", timeout_s=0):  # the runner journals under the lock
        store.journal.start_run(
            NewRun(
                run_id="mine",
                cluster="c1",
                runbook="x",
                params={},
                plan={},
                user="a",
                host=socket.gethostname(),
            )
        )
        run = store.journal.get_run("mine")
        assert run is not None and run["status"] == "running"
        assert [r["status"] for r in store.journal.list_runs()] == ["running"]


def test_restart_durations_of_one_peer_newest_first(store: StateStore) -> None:
    jid = _start(store, "r1")
    for aid, host, status, secs in [
        ("1", "exp1", "changed", 100.0),
        ("2", "exp2", "changed", 50.0),
        ("3", "exp1", "failed", 999.0),
        ("4", "exp1", "changed", 120.0),
    ]:
        store.journal.record_step(
            jid, step(aid, ActionKind.RESTART, status, host=host, duration_s=secs)
        )
    store.journal.record_step(jid, step("5", ActionKind.WAIT, "ok", duration_s=7.0))
    other = _start(store, "r2", cluster="c2")
    store.journal.record_step(other, step("6", ActionKind.RESTART, "changed", duration_s=5.0))
    assert store.journal.restart_durations("c1", "exp1") == [120.0, 100.0]
    assert store.journal.restart_durations("c1", "exp1", limit=1) == [120.0]
    assert store.journal.restart_durations("c1", "exp9") == []


def settings_doc(*peers: str, primary: int = 1) -> dict[str, Any]:
    """A peer's cluster settings as the executor saves them (complete, valid)."""
    slots = (*peers, *[""] * (6 - len(peers)))
    return ClusterSettings(peers=slots, primary=primary).model_dump(mode="json")


def test_backups_save_latest_read(store: StateStore) -> None:
    assert store.backups.latest("c1", "exp1") is None
    one, two = settings_doc("10.0.0.1"), settings_doc("10.0.0.1", "10.0.0.2")
    first = store.backups.save("c1", "exp1", one, "r1")
    second = store.backups.save("c1", "exp1", two, "r2")
    store.backups.save("c1", "exp2", settings_doc("10.0.0.9"), "r2")
    assert first != second
    latest = store.backups.latest("c1", "exp1")
    assert latest == (second, two)
    assert store.backups.read(first) == one
    with pytest.raises(UsageError):
        store.backups.read(first + "999")


def test_both_backup_readers_refuse_what_is_not_a_backup(store: StateStore) -> None:
    """A stored document that is not complete, valid cluster settings is refused by
    the store's reader exactly as ``restore --backup FILE`` refuses such a file."""
    location = store.backups.save("c1", "exp1", {"peers": ["a", "", ""], "primary": 1}, "r1")
    with pytest.raises(UsageError, match="not an exops backup") as by_read:
        store.backups.read(location)
    with pytest.raises(UsageError, match="not an exops backup") as by_latest:
        store.backups.latest("c1", "exp1")
    assert str(by_read.value).partition("(")[2] == str(by_latest.value).partition("(")[2]


@pytest.mark.parametrize("name", ["../etc", "a/b", "", ".hidden", "c 1", "x" * 200, "a\nb"])
def test_unsafe_names_are_refused_before_anything_is_stored(
    store: StateStore, tmp_path: Path, name: str
) -> None:
    with pytest.raises(UsageError, match="cannot name a file") as info:
        store.backups.save(name, "exp1", {}, "r1")
    assert "\n" not in str(info.value).replace(repr(name), "")
    with pytest.raises(UsageError):
        store.backups.save("c1", name, {}, "r1")
    with pytest.raises(UsageError), store.lock(name, runbook="x", timeout_s=0):
        pass
    with pytest.raises(UsageError):
        store.unlock(name)
    assert not (tmp_path / "etc").exists()


def test_lock_contention_between_processes_names_the_holder(
    store: StateStore, store_url: str, tmp_path: Path
) -> None:
    env = operator_env(tmp_path / "bob", store_url, EXOPS_LOCK_DIR=str(tmp_path / "locks"))
    proc = spawn_holder(env, "c1", "add-peer")
    try:
        with (
            pytest.raises(LockedError) as info,
            store.lock("c1", runbook="remove-peer", timeout_s=0),
        ):
            pytest.fail("acquired a held lock")
        message = str(info.value)
        assert message.startswith("cluster c1 is locked by ")
        assert f"pid {proc.pid} (add-peer) since " in message
        assert "\n" not in message and info.value.exit_code == 4
        with (
            pytest.raises(LockedError, match=r"waited 0\.2 s"),
            store.lock("c1", runbook="x", timeout_s=0.2),
        ):
            pass
        with store.lock("c2", runbook="x", timeout_s=0) as held:  # other clusters are free
            assert held.holder["pid"] == os.getpid()
    finally:
        finish(proc)
    with store.lock("c1", runbook="x", timeout_s=0) as held:
        assert held.took_over is None  # released cleanly


def test_waiting_with_a_timeout_gets_the_lock_when_released(
    store: StateStore, store_url: str, tmp_path: Path
) -> None:
    env = operator_env(tmp_path / "bob", store_url, EXOPS_LOCK_DIR=str(tmp_path / "locks"))
    proc = spawn_holder(env)
    with pytest.raises(LockedError), store.lock("c1", runbook="x", timeout_s=0):
        pass
    assert proc.stdin is not None and proc.stdout is not None and proc.stderr is not None
    proc.stdin.close()  # the holder ends once stdin closes; we wait for it meanwhile
    with store.lock("c1", runbook="restore", timeout_s=20) as held:
        assert held.holder["runbook"] == "restore"
    assert proc.wait(timeout=10) == 0
    proc.stdout.close()
    proc.stderr.close()


def test_sigkill_of_the_holder_frees_the_lock(
    store: StateStore, store_url: str, tmp_path: Path
) -> None:
    env = operator_env(tmp_path / "bob", store_url, EXOPS_LOCK_DIR=str(tmp_path / "locks"))
    proc = spawn_holder(env)
    proc.send_signal(signal.SIGKILL)
    finish(proc)
    deadline = time.monotonic() + 20
    while True:  # the server notices the closed socket at once; poll for it
        try:
            with store.lock("c1", runbook="x", timeout_s=0) as held:
                assert held.took_over is not None and held.took_over["pid"] == proc.pid
            break
        except LockedError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def test_unlock_refuses_a_live_holder_unless_forced(
    store: StateStore, store_url: str, tmp_path: Path
) -> None:
    env = operator_env(tmp_path / "bob", store_url, EXOPS_LOCK_DIR=str(tmp_path / "locks"))
    proc = spawn_holder(env)
    try:
        with pytest.raises(PreconditionError, match=f"pid {proc.pid} ") as info:
            store.unlock("c1")
        assert info.value.exit_code == 3 and "--force" in str(info.value)
        with pytest.raises(LockedError), store.lock("c1", runbook="x", timeout_s=0):
            pass  # still held
        removed = store.unlock("c1", force=True)
        assert removed is not None and f"pid {proc.pid} (add-peer)" in removed
        with store.lock("c1", runbook="restore", timeout_s=5) as held:
            assert held.holder["runbook"] == "restore"
    finally:
        proc.kill()
        finish(proc)


def test_unlock_of_a_dead_holder_and_of_nothing(
    store: StateStore, store_url: str, tmp_path: Path
) -> None:
    assert store.unlock("c1") is None
    env = operator_env(tmp_path / "bob", store_url, EXOPS_LOCK_DIR=str(tmp_path / "locks"))
    proc = spawn_holder(env)
    proc.send_signal(signal.SIGKILL)
    finish(proc)
    deadline = time.monotonic() + 20
    while True:
        try:
            described = store.unlock("c1")
            break
        except PreconditionError:  # the server has not yet seen the session end
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)
    assert described is not None and f"pid {proc.pid}" in described and "stale" in described
    assert store.unlock("c1") is None


def test_check_lock_passes_while_held(store: StateStore) -> None:
    store.check_lock()
    with store.lock("c1", runbook="x", timeout_s=0):
        store.check_lock()
    store.check_lock()


def test_check_lock_notices_a_forced_unlock(store: StateStore) -> None:
    """The lock removed under a running run (``unlock --force`` elsewhere): the run
    learns it at its next step boundary."""
    from exops.state import LockLostError

    with (
        store.lock("c1", runbook="restart", timeout_s=0),
        store.lock("c2", runbook="restart", timeout_s=0),
    ):
        store.check_lock()
        assert store.unlock("c1", force=True) is not None
        with pytest.raises(LockLostError, match="cluster c1") as info:
            store.check_lock()
        assert info.value.exit_code == 1 and "\n" not in str(info.value)
        store.check_lock("c2")  # the other cluster's run goes on


def test_concurrent_writers_do_not_lose_rows(store_url: str, tmp_path: Path) -> None:
    import threading

    errors: list[BaseException] = []

    def writer(n: int) -> None:
        try:  # each writer opens its own store, as a separate exops process would
            mine = open_url(store_url, state_dir=tmp_path / "unused", lock_dir=tmp_path / "l")
            try:
                jid = _start(mine, f"r{n}", cluster=f"c{n}")
                for i in range(5):
                    mine.journal.record_step(jid, step(str(i), ActionKind.VERIFY, "ok"))
                mine.journal.finish_run(jid, "ok", 0)
            finally:
                mine.close()
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    store = open_url(store_url, state_dir=tmp_path / "unused", lock_dir=tmp_path / "l")
    try:
        assert len(store.journal.list_runs(limit=100)) == 6
        for n in range(6):
            run = store.journal.get_run(f"r{n}")
            assert run is not None and [s["seq"] for s in run["steps"]] == [1, 2, 3, 4, 5]
    finally:
        store.close()


def test_one_store_shared_by_threads_numbers_steps_in_order(store: StateStore) -> None:
    """A fleet run shares one store between its cluster threads."""
    import threading

    jids = [_start(store, f"r{n}", cluster=f"c{n}") for n in range(4)]

    def writer(jid: int) -> None:
        for i in range(10):
            store.journal.record_step(jid, step(str(i), ActionKind.VERIFY, "ok"))

    threads = [threading.Thread(target=writer, args=(jid,)) for jid in jids]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for n in range(4):
        run = store.journal.get_run(f"r{n}")
        assert run is not None and [s["action_id"] for s in run["steps"]] == [
            str(i) for i in range(10)
        ]


def test_check_lock_tells_an_overwritten_lock_from_a_removed_one(
    store: StateStore, tmp_path: Path
) -> None:
    """Another process wrote its own holder into our lock file: that is not
    "removed" (`exops unlock --force`); the message names what it found."""
    from exops.state import LockLostError

    if store.backend != "sqlite":
        pytest.skip("the file lock's content (PostgreSQL has no lock file)")
    with store.lock("c1", runbook="restart", timeout_s=0) as held:
        path = Path(held.where)
        intruder = {"user": "mallory", "host": "jump9", "pid": 4242, "runbook": "restart"}
        path.write_text(json.dumps(intruder) + "\n")
        with pytest.raises(LockLostError) as info:
            store.check_lock()
        text = str(info.value)
        assert "overwritten" in text and "mallory" in text and "removed" not in text, text
        path.write_text("garbage\n")
        with pytest.raises(LockLostError, match="overwritten by another process"):
            store.check_lock()
        path.unlink()
        with pytest.raises(LockLostError, match="was removed"):
            store.check_lock()

"""Team mode: several operator "hosts" (processes with their own HOME and state
directory) sharing one PostgreSQL state store; its errors, migrations and
``exops state migrate``."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pgserver
import psycopg
import pytest
from statekit import exops, finish, operator_env, spawn_holder

from exops.core.errors import LockedError, UsageError
from exops.core.models import ClusterSettings
from exops.plan.model import ActionKind
from exops.state import LockLostError, open_url
from exops.state.base import NewRun
from exops.state.migrate import migrate
from exops.state.postgres import SCHEMA_VERSION, PostgresStore, Target

TRY_LOCK = """
import sys
from exops.core.errors import ExopsError
from exops.core.settings import load_settings
from exops.state import open_state
try:
    with open_state(load_settings()).lock(sys.argv[1], runbook="restart", timeout_s=0):
        print("got it")
except ExopsError as exc:
    print(exc)
    sys.exit(exc.exit_code)
"""


def _try_lock(env: dict[str, str], cluster: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", TRY_LOCK, cluster],
        check=False,
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )


def test_two_hosts_share_locks_and_history(pg_url: str, tmp_path: Path) -> None:
    host_a = operator_env(
        tmp_path / "a", pg_url, SIM_HOST="jump-a", SIM_USER="alice", SIM_RUN="run-a"
    )
    host_b = operator_env(
        tmp_path / "b", pg_url, SIM_HOST="cron-b", SIM_USER="bob", SIM_RUN="run-b"
    )
    holder_a = spawn_holder(host_a, "c1", "add-peer")
    try:
        refused = _try_lock(host_b, "c1")
        assert refused.returncode == 4, refused.stderr
        assert "cluster c1 is locked by " in refused.stdout
        assert f"pid {holder_a.pid} (add-peer) since " in refused.stdout
        holder_b = spawn_holder(host_b, "c2", "restart")  # another cluster: at once
        finish(holder_b)
        holder_a.send_signal(signal.SIGKILL)
        finish(holder_a)
        deadline = time.monotonic() + 20
        while (got := _try_lock(host_b, "c1")).returncode != 0:  # freed with the session
            assert got.returncode == 4 and time.monotonic() < deadline, got.stdout + got.stderr
            time.sleep(0.05)
        assert got.stdout.strip() == "got it"
    finally:
        if holder_a.poll() is None:
            holder_a.kill()
        finish(holder_a)
    for env in (host_a, host_b):
        done = exops(env, "history", "--json")
        assert done.returncode == 0, done.stderr
        runs = {r["run_id"]: r for r in json.loads(done.stdout)["runs"]}
        assert {k: (runs[k]["user"], runs[k]["host"]) for k in runs} == {
            "run-a": ("alice", "jump-a"),
            "run-b": ("bob", "cron-b"),
        }


def test_unreachable_server_is_one_line_without_the_password(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    secret = "Sup3r-secret-pw"
    monkeypatch.setenv("EXOPS_STATE_PASSWORD", secret)
    url = f"postgresql://exops@127.0.0.1:{pgserver._free_port()}/exops"
    with pytest.raises(UsageError) as info:
        open_url(url, state_dir=tmp_path, connect_timeout_s=2)
    message = str(info.value)
    assert message.startswith(f"state store {url}: cannot connect: ")
    assert "\n" not in message and secret not in message and info.value.exit_code == 2
    env = operator_env(tmp_path / "home", url)
    env["EXOPS_STATE_PASSWORD"] = secret
    done = exops(env, "history")
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1 and secret not in done.stderr


def test_a_password_in_the_url_is_refused_and_never_shown(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="no password in the URL") as info:
        open_url("postgresql://exops:Leak3d@127.0.0.1:1/exops", state_dir=tmp_path)
    assert "Leak3d" not in str(info.value)
    with pytest.raises(UsageError) as info:
        open_url("postgresql://exops@127.0.0.1:1/exops?password=Leak3d", state_dir=tmp_path)
    assert "Leak3d" not in str(info.value)


def test_wrong_password_is_refused_in_one_line(
    pg_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("EXOPS_STATE_PASSWORD", "not-the-Password")
    with pytest.raises(UsageError, match="password authentication failed") as info:
        open_url(pg_url, state_dir=tmp_path)
    assert "not-the-Password" not in str(info.value) and "\n" not in str(info.value)


def test_tls_defaults_and_failure(pg_url: str, tmp_path: Path) -> None:
    assert Target("postgresql://exops@db.example.com/exops").sslmode == "verify-full"
    assert Target("postgresql://exops@10.0.0.5:5432/exops").sslmode == "verify-full"
    assert Target("postgresql://exops@localhost/exops").sslmode == "prefer"
    assert Target("postgresql://exops@127.0.0.1/exops").sslmode == "prefer"
    assert Target("postgresql://exops@/exops?host=/run/postgresql").sslmode == "prefer"
    assert Target("postgresql://exops@db/exops?sslmode=require").sslmode == "require"
    # The test server speaks no TLS: demanding it is a TLS failure, one line.
    with pytest.raises(UsageError, match="TLS failure") as info:
        open_url(pg_url + "?sslmode=require", state_dir=tmp_path)
    assert "\n" not in str(info.value)


def test_lock_lost_mid_run_is_noticed_at_the_next_step(
    pg_url: str, tmp_path: Path, postgres_server: pgserver.Server
) -> None:
    store = open_url(pg_url, state_dir=tmp_path)
    try:
        with store.lock("c1", runbook="restart", timeout_s=0) as held:
            store.check_lock()
            backend = int(held.where.rsplit("backend ", 1)[1].rstrip(")"))
            postgres_server.admin(f"SELECT pg_terminate_backend({backend})")
            with pytest.raises(LockLostError, match="lost the lock on cluster c1") as info:
                store.check_lock()
            assert info.value.exit_code == 1 and "\n" not in str(info.value)
        # the journal connection is separate and still works
        assert store.journal.list_runs() == []
        with store.lock("c1", runbook="restart", timeout_s=0):
            store.check_lock()
    finally:
        store.close()


def test_concurrent_first_use_migrates_once(pg_url: str, tmp_path: Path) -> None:
    errors: list[BaseException] = []
    barrier = threading.Barrier(4)

    def first_use() -> None:
        try:
            barrier.wait()
            PostgresStore(pg_url).close()
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=first_use) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    store = PostgresStore(pg_url)
    try:
        versions = store.run(
            "read", lambda c: c.execute("SELECT version FROM exops_schema").fetchall()
        )
        assert [v["version"] for v in versions] == list(range(1, SCHEMA_VERSION + 1))
        store.run("bump", lambda c: c.execute("INSERT INTO exops_schema VALUES (99)"))
    finally:
        store.close()
    with pytest.raises(UsageError, match="schema 99 is newer"):
        open_url(pg_url, state_dir=tmp_path)


def test_roles_without_privileges_get_one_line(
    pg_url: str, tmp_path: Path, postgres_server: pgserver.Server
) -> None:
    db = pg_url.rsplit("/", 1)[1]
    postgres_server.admin(f"CREATE ROLE reader_{db} LOGIN PASSWORD '{postgres_server.password}'")
    reader = pg_url.replace("//exops@", f"//reader_{db}@")
    with pytest.raises(UsageError, match="needs CREATE on the schema"):
        open_url(reader, state_dir=tmp_path)  # PostgreSQL 15: public is not writable
    open_url(pg_url, state_dir=tmp_path).close()  # the owner creates the tables
    with psycopg.connect(pg_url, password=postgres_server.password, autocommit=True) as conn:
        conn.execute(f"GRANT SELECT ON ALL TABLES IN SCHEMA public TO reader_{db}")  # type: ignore[arg-type]
    with pytest.raises(UsageError, match="cannot write: permission denied"):
        open_url(reader, state_dir=tmp_path)


def test_state_migrate_copies_once(pg_url: str, tmp_path: Path) -> None:
    from test_store import step

    state = tmp_path / "state"
    local = open_url(None, state_dir=state, lock_dir=tmp_path / "locks")
    for n in range(3):
        jid = local.journal.start_run(
            NewRun(
                run_id=f"r{n}",
                cluster="c1",
                runbook="restart",
                params={"password": "x"},
                plan={"n": n},
                user="alice",
                host="jump1",
            )
        )
        local.journal.record_step(jid, step("1", ActionKind.BACKUP, "ok"))
        local.journal.record_step(jid, step("2", ActionKind.RESTART, "changed", duration_s=90.0))
        local.journal.finish_run(jid, "ok", 0)
        local.backups.save("c1", "exp1", _settings(f"10.0.0.{n + 1}"), f"r{n}")

    done = migrate(f"sqlite://{state}", pg_url)
    assert (done.runs_copied, done.runs_present, done.backups_copied) == (3, 0, 3)
    again = migrate(f"sqlite://{state / 'journal.sqlite'}", pg_url)
    assert (again.runs_copied, again.runs_present) == (0, 3)
    assert (again.backups_copied, again.backups_present) == (0, 3)

    team = open_url(pg_url, state_dir=tmp_path)
    try:
        assert team.journal.list_runs() == local.journal.list_runs()
        for n in range(3):
            assert team.journal.get_run(f"r{n}") == local.journal.get_run(f"r{n}")
        latest = team.backups.latest("c1", "exp1")
        assert latest is not None and latest[1] == _settings("10.0.0.3")
        assert team.journal.restart_durations("c1", "exp1") == [90.0, 90.0, 90.0]
    finally:
        team.close()
    with pytest.raises(UsageError, match="expected sqlite"):
        migrate(pg_url, pg_url)
    with pytest.raises(UsageError, match="no journal"):
        migrate(f"sqlite://{tmp_path / 'none'}", pg_url)


def test_state_migrate_command(
    pg_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from exops.cli.records import state_migrate

    state = tmp_path / "state"
    local = open_url(None, state_dir=state, lock_dir=tmp_path / "locks")
    local.journal.finish_run(
        local.journal.start_run(
            NewRun(run_id="r1", cluster="c1", runbook="x", params={}, plan={}, user="u", host="h")
        ),
        "ok",
        0,
    )
    assert state_migrate(f"sqlite://{state}", pg_url) == 0
    assert "copied 1 run(s) (0 already there) and 0 backup(s)" in capsys.readouterr().err
    assert state_migrate(f"sqlite://{state}", pg_url) == 0
    assert "copied 0 run(s) (1 already there)" in capsys.readouterr().err


def test_locked_error_on_one_store_twice(pg_url: str, tmp_path: Path) -> None:
    store = open_url(pg_url, state_dir=tmp_path)
    try:
        with (
            store.lock("c1", runbook="x", timeout_s=0),
            pytest.raises(LockedError, match="c1 is locked"),
            store.lock("c1", runbook="y", timeout_s=0),
        ):
            pass
    finally:
        store.close()


def test_a_run_killed_on_another_host_reads_as_interrupted(pg_url: str, tmp_path: Path) -> None:
    """The team journal tells a dead run from a live one across hosts: its lock
    session (same cluster, host, pid) is gone."""
    other = operator_env(
        tmp_path / "far",
        pg_url,
        SIM_GETHOSTNAME="far-box",
        SIM_HOST="far-box",
        SIM_USER="carol",
        SIM_RUN="far-run",
        SIM_NOFINISH="1",
    )
    proc = spawn_holder(other, "c1", "restart")
    store = open_url(pg_url, state_dir=tmp_path)
    try:
        run = store.journal.get_run("far-run")
        assert run is not None and run["status"] == "running"
        assert store.journal.last_failed_run("c1", "restart") is not None
        proc.send_signal(signal.SIGKILL)
        finish(proc)
        deadline = time.monotonic() + 20
        while (run := store.journal.get_run("far-run")) is not None and run["status"] == "running":
            assert time.monotonic() < deadline
            time.sleep(0.05)
        assert run is not None and run["status"] == "interrupted"
        assert [r["status"] for r in store.journal.list_runs()] == ["interrupted"]
    finally:
        if proc.poll() is None:
            proc.kill()
        finish(proc)
        store.close()


def _settings(address: str) -> dict[str, Any]:
    return ClusterSettings(peers=(address, "", "", "", "", ""), primary=1).model_dump(mode="json")

"""The run journal: round trips, ordering, resume lookup, secrets, concurrency."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from journalkit import PASSWORD, sample_run

from exops.apply.results import StepResult
from exops.core.errors import ExopsError
from exops.plan.model import Action, ActionKind
from exops.state.base import NewRun
from exops.state.sqlite import SCHEMA_VERSION, SqliteJournal

RUN_KEYS = {
    "run_id",
    "started",
    "finished",
    "cluster",
    "runbook",
    "status",
    "exit_code",
    "user",
    "host",
    "params",
}
STEP_KEYS = {
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
}


def _start(
    journal: SqliteJournal, run_id: str, cluster: str = "c1", runbook: str = "add-peer"
) -> int:
    return journal.start_run(sample_run(run_id, cluster, runbook))


def _outcome(
    aid: str,
    kind: ActionKind,
    status: str,
    *,
    detail: str = "",
    error: str | None = None,
    advice: str | None = None,
) -> StepResult:
    action = Action(id=aid, step=f"step {aid}", kind=kind, host="exp1")
    started = datetime(2024, 5, 1, 10, 0, tzinfo=UTC)
    return StepResult(action, status, started, 1.25, detail=detail, error=error, advice=advice)


def _status(journal: SqliteJournal, run_id: str) -> str:
    run = journal.get_run(run_id)
    assert run is not None
    return str(run["status"])


def test_round_trip_of_a_failed_run(tmp_path: Path) -> None:
    journal = SqliteJournal(tmp_path / "state" / "journal.sqlite")
    jid = _start(journal, "r1")
    journal.record_step(jid, _outcome("1", ActionKind.BACKUP, "ok", detail="saved"))
    journal.record_step(
        jid,
        _outcome(
            "2",
            ActionKind.CONFIGURE,
            "failed",
            error=f"exp1 configure: refused password={PASSWORD}",
            advice="re-run the same command",
        ),
    )
    journal.record_step(jid, _outcome("3", ActionKind.RESTART, "skipped", detail="not reached"))
    journal.finish_run(jid, "failed", 1)

    run = journal.get_run("r1")
    assert run is not None
    assert set(run) == RUN_KEYS | {"plan", "steps"}
    assert run["status"] == "failed" and run["exit_code"] == 1
    assert (run["cluster"], run["runbook"], run["user"], run["host"]) == (
        "c1",
        "add-peer",
        "alice",
        "jump1",
    )
    assert run["params"] == {"peer": "exp3", "password": "********"}
    assert run["plan"]["actions"][0] == {"id": "1", "admin_password": "********"}
    started = datetime.fromisoformat(run["started"])
    finished = datetime.fromisoformat(run["finished"])
    assert started.tzinfo is not None and started <= finished
    assert abs(datetime.now(UTC) - started) < timedelta(minutes=1)

    steps = run["steps"]
    assert [s["seq"] for s in steps] == [1, 2, 3]
    assert all(set(s) == STEP_KEYS for s in steps)
    assert steps[0] == {
        "seq": 1,
        "action_id": "1",
        "step": "step 1",
        "kind": "backup",
        "host": "exp1",
        "status": "ok",
        "started": "2024-05-01T10:00:00.000+00:00",
        "duration_s": 1.25,
        "detail": "saved",
        "error": None,
        "advice": None,
    }
    assert steps[1]["error"] == "exp1 configure: refused password=********"
    assert steps[1]["advice"] == "re-run the same command"
    assert steps[2]["status"] == "skipped"


def test_secrets_never_reach_the_file(tmp_path: Path) -> None:
    path = tmp_path / "journal.sqlite"
    journal = SqliteJournal(path)
    jid = _start(journal, "r1")
    journal.record_step(
        jid,
        _outcome(
            "1",
            ActionKind.CONFIGURE,
            "failed",
            detail=f"Authorization: Basic {PASSWORD}",
            error=f"login failed with password={PASSWORD}",
        ),
    )
    journal.finish_run(jid, "failed", 1)
    assert journal.get_run("r1") is not None
    files = list(tmp_path.iterdir())
    assert path in files
    for f in files:  # the database, and any WAL/SHM left beside it
        assert PASSWORD.encode() not in f.read_bytes(), f.name


def test_list_runs_newest_first_filtered_and_limited(tmp_path: Path) -> None:
    journal = SqliteJournal(tmp_path / "j.sqlite")
    for i, cluster in enumerate(["c1", "c2", "c1", "c1"]):
        jid = _start(journal, f"r{i}", cluster=cluster)
        journal.finish_run(jid, "ok", 0)

    runs = journal.list_runs()
    assert [r["run_id"] for r in runs] == ["r3", "r2", "r1", "r0"]
    assert all(set(r) == RUN_KEYS | {"changed"} for r in runs)  # + its changed steps
    assert runs[0]["params"] == {"peer": "exp3", "password": "********"}
    assert [r["run_id"] for r in journal.list_runs(cluster="c1")] == ["r3", "r2", "r0"]
    assert [r["run_id"] for r in journal.list_runs(cluster="c1", limit=2)] == ["r3", "r2"]
    assert journal.list_runs(cluster="nope") == []
    assert journal.get_run("nope") is None


def test_last_failed_run_picks_the_latest_failure_of_that_runbook(tmp_path: Path) -> None:
    journal = SqliteJournal(tmp_path / "j.sqlite")
    plan = [
        ("r0", "c1", "add-peer", "failed"),
        ("r1", "c1", "add-peer", "failed"),
        ("r2", "c1", "add-peer", "ok"),
        ("r3", "c1", "remove-peer", "failed"),
        ("r4", "c2", "add-peer", "failed"),
    ]
    for run_id, cluster, runbook, status in plan:
        journal.finish_run(_start(journal, run_id, cluster, runbook), status, 0)

    last = journal.last_failed_run("c1", "add-peer")
    assert last is not None and last["run_id"] == "r1"
    assert datetime.fromisoformat(last["started"]).tzinfo is not None  # --resume compares it
    assert journal.last_failed_run("c1", "upgrade") is None
    assert journal.last_failed_run("c3", "add-peer") is None


def test_unfinished_run_is_running_while_its_process_lives(tmp_path: Path) -> None:
    import socket

    path = tmp_path / "j.sqlite"
    journal = SqliteJournal(path)
    here = socket.gethostname()
    for run_id, host in (("live", here), ("dead", here), ("elsewhere", "other-box")):
        journal.start_run(NewRun(run_id, "c1", "x", params={}, plan={}, user="a", host=host))
    gone = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        capture_output=True,
        text=True,
        check=True,
    )
    with sqlite3.connect(path) as conn:
        conn.execute(
            "UPDATE runs SET pid = ? WHERE run_id IN ('dead', 'elsewhere')", (int(gone.stdout),)
        )
    conn.close()

    assert _status(journal, "live") == "running"
    assert _status(journal, "dead") == "interrupted"
    assert _status(journal, "elsewhere") == "running"
    assert {r["run_id"]: r["status"] for r in journal.list_runs()}["dead"] == "interrupted"


def test_schema_version_and_reopen(tmp_path: Path) -> None:
    path = tmp_path / "j.sqlite"
    _start(SqliteJournal(path), "r1")
    again = SqliteJournal(path)  # reopening keeps the data
    assert [r["run_id"] for r in again.list_runs()] == ["r1"]
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    conn.close()
    with pytest.raises(ExopsError, match="newer"):
        SqliteJournal(path)


def test_concurrent_writers_do_not_lose_rows(tmp_path: Path) -> None:
    path = tmp_path / "j.sqlite"
    SqliteJournal(path)
    errors: list[BaseException] = []

    def writer(n: int) -> None:
        try:
            journal = SqliteJournal(path)  # each writer as a separate process would
            jid = _start(journal, f"r{n}", cluster=f"c{n}")
            for i in range(5):
                journal.record_step(jid, _outcome(str(i), ActionKind.VERIFY, "ok"))
            journal.finish_run(jid, "ok", 0)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    journal = SqliteJournal(path)
    assert len(journal.list_runs(limit=100)) == 6
    for n in range(6):
        run = journal.get_run(f"r{n}")
        assert run is not None and [s["seq"] for s in run["steps"]] == [1, 2, 3, 4, 5]


def test_corrupt_or_locked_journal_is_one_usage_line(tmp_path: Path) -> None:
    """Issue 11 item 7: a corrupt or locked journal ended in a traceback."""
    from exops.core.errors import UsageError

    bad = tmp_path / "bad.sqlite"
    bad.write_bytes(b"\x13garbage" * 1000)
    with pytest.raises(UsageError, match="not an exops journal") as info:
        SqliteJournal(bad)
    assert "\n" not in str(info.value) and info.value.exit_code == 2

    path = tmp_path / "j.sqlite"
    SqliteJournal(path)
    blocker = sqlite3.connect(path, isolation_level=None)
    try:
        blocker.execute("BEGIN EXCLUSIVE")
        with pytest.raises(UsageError, match="locked by another process"):
            SqliteJournal(path, busy_timeout_s=0.1)
    finally:
        blocker.execute("ROLLBACK")
        blocker.close()


def test_a_run_left_running_by_a_crash_is_unfinished_for_resume(tmp_path: Path) -> None:
    """Killed or powered off mid-run: the journal still says "running" (no finish was
    ever written). --resume must find it, newer than an older failure."""
    journal = SqliteJournal(tmp_path / "j.sqlite")
    journal.finish_run(_start(journal, "r0", "c1", "restart"), "failed", 1)
    journal.finish_run(_start(journal, "r1", "c1", "restart"), "ok", 0)
    _start(journal, "r2", "c1", "restart")  # never finished
    last = journal.last_failed_run("c1", "restart")
    assert last is not None and last["run_id"] == "r2"

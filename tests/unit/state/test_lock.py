"""The cluster lock: contention between real processes, stale takeover, unlock."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

import pytest
from paths import REPO

from exops.core.errors import LockedError, PreconditionError, UsageError
from exops.state import flock
from exops.state.flock import acquire, force_unlock, lock_path, unlock

# Holds the lock, says so, then releases after HOLD seconds or when stdin closes.
HOLDER = """
import sys, time
from pathlib import Path
from exops.state.flock import acquire
lock_dir, hold = Path(sys.argv[1]), float(sys.argv[2])
with acquire("c1", runbook="add-peer", timeout_s=0, lock_dir=lock_dir):
    print("held", flush=True)
    if hold > 0:
        time.sleep(hold)
    else:
        sys.stdin.read()
"""


def _spawn(lock_dir: Path, hold: float = 0.0) -> subprocess.Popen[str]:
    env = dict(os.environ, PYTHONPATH=str(REPO))
    proc = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(lock_dir), str(hold)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        env=env,
    )
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == "held"
    return proc


def _finish(proc: subprocess.Popen[str]) -> None:
    """Release (close its stdin) and reap the holder, whatever state it is in."""
    for stream in (proc.stdin, proc.stdout):
        if stream is not None and not stream.closed:
            stream.close()
    proc.wait(timeout=5)


@pytest.fixture
def holder(tmp_path: Path) -> Iterator[subprocess.Popen[str]]:
    proc = _spawn(tmp_path)
    try:
        yield proc
    finally:
        _finish(proc)


def test_second_process_is_refused_at_once_naming_the_holder(
    tmp_path: Path, holder: subprocess.Popen[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_wait(seconds: float) -> None:
        raise AssertionError(f"waited {seconds} s with --lock-timeout 0")

    # "At once" without a clock: the lock never sleeps when it may not wait.
    monkeypatch.setattr(flock, "time", SimpleNamespace(monotonic=time.monotonic, sleep=no_wait))
    with (
        pytest.raises(LockedError) as info,
        acquire("c1", runbook="remove-peer", timeout_s=0, lock_dir=tmp_path),
    ):
        pytest.fail("acquired a held lock")
    message = str(info.value)
    assert message.startswith("cluster c1 is locked by ")
    assert f"pid {holder.pid} (add-peer) since " in message
    assert "--lock-timeout" in message and "`exops unlock -c c1`" in message
    assert "\n" not in message
    assert info.value.exit_code == 4


def test_waiting_longer_than_the_hold_succeeds(tmp_path: Path) -> None:
    proc = _spawn(tmp_path)  # holds until its stdin closes
    assert proc.stdin is not None
    release = threading.Timer(0.3, proc.stdin.close)
    t0 = time.monotonic()
    release.start()
    try:
        with acquire("c1", runbook="remove-peer", timeout_s=60, lock_dir=tmp_path) as held:
            waited = time.monotonic() - t0
            assert held.holder["pid"] == os.getpid()
            recorded = json.loads(lock_path("c1", tmp_path).read_text())
            assert recorded["runbook"] == "remove-peer"
            # The holder released and exited on its own while we hold: we waited
            # for it, we did not take the lock over.
            assert proc.wait(timeout=30) == 0
        assert waited >= 0.3  # not before the holder let go (a lower bound only)
        assert held.took_over is None  # the holder exited cleanly
    finally:
        release.cancel()
        release.join()
        _finish(proc)


def test_waiting_shorter_than_the_hold_fails(tmp_path: Path, holder: subprocess.Popen[str]) -> None:
    t0 = time.monotonic()
    with (
        pytest.raises(LockedError, match=r"waited 0\.3 s"),
        acquire("c1", runbook="x", timeout_s=0.3, lock_dir=tmp_path),
    ):
        pass
    assert time.monotonic() - t0 >= 0.3  # it waited its timeout (a lower bound only)


def test_a_killed_holder_leaves_a_stale_lock_that_is_taken_over(tmp_path: Path) -> None:
    proc = _spawn(tmp_path)
    proc.send_signal(signal.SIGKILL)
    _finish(proc)
    left = json.loads(lock_path("c1", tmp_path).read_text())
    assert left["pid"] == proc.pid  # the file survived the crash, the flock did not

    with acquire("c1", runbook="add-peer", timeout_s=0, lock_dir=tmp_path) as held:
        assert held.took_over is not None
        assert held.took_over["pid"] == proc.pid
        assert json.loads(held.path.read_text())["pid"] == os.getpid()
    assert not held.path.exists()


def test_stale_file_from_a_dead_pid_is_taken_over(tmp_path: Path) -> None:
    stale = {"user": "bob", "host": "jump", "pid": 999999, "started": "x", "runbook": "upgrade"}
    lock_path("c1", tmp_path).write_text(json.dumps(stale))
    with acquire("c1", runbook="add-peer", timeout_s=0, lock_dir=tmp_path) as held:
        assert held.took_over == stale


def test_release_on_error_and_reacquire(tmp_path: Path) -> None:
    with (
        pytest.raises(RuntimeError),
        acquire("c1", runbook="x", timeout_s=0, lock_dir=tmp_path),
    ):
        raise RuntimeError("boom")
    assert not lock_path("c1", tmp_path).exists()
    with acquire("c1", runbook="x", timeout_s=0, lock_dir=tmp_path):
        pass


def test_one_process_cannot_take_the_same_lock_twice(tmp_path: Path) -> None:
    with acquire("c1", runbook="x", timeout_s=0, lock_dir=tmp_path):
        with (
            pytest.raises(LockedError, match=f"pid {os.getpid()} "),
            acquire("c1", runbook="y", timeout_s=0, lock_dir=tmp_path),
        ):
            pass
        # other clusters are independent
        with acquire("c2", runbook="y", timeout_s=0, lock_dir=tmp_path):
            pass


def test_force_unlock_describes_a_live_holder_and_frees_the_cluster(
    tmp_path: Path, holder: subprocess.Popen[str]
) -> None:
    described = force_unlock("c1", lock_dir=tmp_path)
    assert described is not None
    assert f"pid {holder.pid} (add-peer) since " in described
    assert "stale" not in described
    with acquire("c1", runbook="restore", timeout_s=0, lock_dir=tmp_path) as held:
        _finish(holder)  # the old holder releases: it must not remove our file
        assert json.loads(held.path.read_text())["runbook"] == "restore"


def test_force_unlock_of_a_stale_lock_says_so(tmp_path: Path) -> None:
    proc = _spawn(tmp_path)
    proc.send_signal(signal.SIGKILL)
    _finish(proc)
    described = force_unlock("c1", lock_dir=tmp_path)
    assert described is not None and f"pid {proc.pid}" in described and "stale" in described
    assert not lock_path("c1", tmp_path).exists()


def test_force_unlock_without_a_lock(tmp_path: Path) -> None:
    assert force_unlock("c1", lock_dir=tmp_path) is None
    assert force_unlock("c1", lock_dir=tmp_path / "missing") is None


@pytest.mark.parametrize("name", ["../etc", "a/b", "", ".hidden", "c 1", "x" * 200])
def test_unsafe_cluster_names_are_refused(tmp_path: Path, name: str) -> None:
    with pytest.raises(UsageError), acquire(name, runbook="x", timeout_s=0, lock_dir=tmp_path):
        pass
    with pytest.raises(UsageError):
        force_unlock(name, lock_dir=tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_lock_dir_is_created(tmp_path: Path) -> None:
    lock_dir = tmp_path / "state" / "locks"
    with acquire("c1", runbook="x", timeout_s=0, lock_dir=lock_dir) as held:
        assert held.path.parent == lock_dir


def test_unlock_refuses_a_live_holder_without_force(
    tmp_path: Path, holder: subprocess.Popen[str]
) -> None:
    """Issue 11: `exops unlock C` silently removed the lock of a run that was alive."""
    with pytest.raises(PreconditionError) as info:
        unlock("c1", lock_dir=tmp_path)
    message = str(info.value)
    assert f"pid {holder.pid} (add-peer)" in message and "still running" in message
    assert "--force" in message and "\n" not in message and info.value.exit_code == 3
    assert lock_path("c1", tmp_path).exists()
    with pytest.raises(LockedError), acquire("c1", runbook="x", timeout_s=0, lock_dir=tmp_path):
        pass
    described = unlock("c1", lock_dir=tmp_path, force=True)
    assert described is not None and f"pid {holder.pid}" in described


def test_unlock_refuses_a_recorded_holder_whose_process_lives(tmp_path: Path) -> None:
    """No flock (e.g. the file was copied or the flock lost) but the recorded pid runs here."""
    import socket

    alive = {"user": "bob", "host": socket.gethostname(), "pid": os.getpid(), "runbook": "x"}
    lock_path("c1", tmp_path).write_text(json.dumps(alive))
    with pytest.raises(PreconditionError, match="still running"):
        unlock("c1", lock_dir=tmp_path)
    assert unlock("c1", lock_dir=tmp_path, force=True) is not None


def test_unlock_of_a_stale_lock_needs_no_force(tmp_path: Path) -> None:
    proc = _spawn(tmp_path)
    proc.send_signal(signal.SIGKILL)
    _finish(proc)
    described = unlock("c1", lock_dir=tmp_path)
    assert described is not None and "stale" in described
    assert not lock_path("c1", tmp_path).exists()


def test_lock_files_are_shared_mode_0666(tmp_path: Path) -> None:
    with acquire("c1", runbook="x", timeout_s=0, lock_dir=tmp_path) as held:
        assert held.path.stat().st_mode & 0o777 == 0o666


def test_a_symlinked_lock_file_is_refused(tmp_path: Path) -> None:
    target = tmp_path / "victim"
    target.write_text("keep")
    lock_path("c1", tmp_path).symlink_to(target)
    with (
        pytest.raises(UsageError, match="symbolic link"),
        acquire("c1", runbook="x", timeout_s=0, lock_dir=tmp_path),
    ):
        pass
    assert target.read_text() == "keep"


def test_a_lock_file_unlinked_between_open_and_flock_is_opened_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The holder releases (its release unlinks the file) after we opened the file but
    before our flock: our flock then holds a file no longer at the path, and a third run
    would create a new file and hold the cluster beside us. The lock is taken again on
    the file at the path, and only one run holds the cluster."""
    import fcntl

    from exops.state import flock as flock_module

    path = lock_path("c1", tmp_path)
    path.write_text(json.dumps({"pid": 1, "host": "elsewhere", "runbook": "restart"}))
    real_flock = fcntl.flock
    raced: list[int] = []

    def flock_after_the_holder_left(fd: int, op: int) -> None:
        if not raced and op & fcntl.LOCK_EX:
            raced.append(os.fstat(fd).st_ino)
            path.unlink()  # the previous holder's release, just now
        real_flock(fd, op)

    monkeypatch.setattr(flock_module.fcntl, "flock", flock_after_the_holder_left)
    with acquire("c1", runbook="add-peer", timeout_s=0, lock_dir=tmp_path) as held:
        assert raced, "the race was not staged"
        assert json.loads(path.read_text())["pid"] == os.getpid()  # our record, at the path
        assert held.holder["pid"] == os.getpid()
        with (  # nobody else gets the cluster
            pytest.raises(LockedError),
            acquire("c1", runbook="restart", timeout_s=0, lock_dir=tmp_path),
        ):
            pass
    assert not path.exists()

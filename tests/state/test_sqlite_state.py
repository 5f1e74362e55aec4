"""The embedded store's state directory and journal errors (one line, exit 2, checked
when the store opens) and the host-wide lock directory shared by every operator."""

from __future__ import annotations

import errno
import logging
import os
import shutil
import sqlite3
import stat
import subprocess
import sys
import tempfile
import uuid
from pathlib import Path

import pytest
from statekit import REPO, exops, finish, operator_env, spawn_holder

from exops.core.errors import LockedError, PreconditionError, UsageError
from exops.core.settings import load_settings
from exops.state import open_state, open_url
from exops.state import sqlite as sqlite_store
from exops.state.flock import SYSTEM_LOCK_DIR, resolve_lock_dir
from exops.state.sqlite import SCHEMA_VERSION


def _one_line_usage(exc: pytest.ExceptionInfo[UsageError]) -> str:
    message = str(exc.value)
    assert "\n" not in message and exc.value.exit_code == 2
    return message


def _cli_fails_in_one_line(env: dict[str, str], needle: str) -> None:
    done = exops(env, "history")
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and needle in lines[0], done.stderr


def test_state_dir_whose_parent_is_a_file_cannot_be_created(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("x")
    with pytest.raises(UsageError) as info:
        open_url(None, state_dir=tmp_path / "file" / "state", lock_dir=tmp_path / "locks")
    assert "cannot be created (Not a directory)" in _one_line_usage(info)
    env = operator_env(tmp_path / "home", None, EXOPS_STATE_DIR=str(tmp_path / "file" / "state"))
    _cli_fails_in_one_line(env, "cannot be created")


@pytest.mark.parametrize(
    ("code", "words"),
    [
        (errno.ENOSPC, "is full"),
        (errno.EROFS, "read-only file system"),
        (errno.EACCES, "not writable"),
    ],
)
def test_write_probe_failures_are_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, code: int, words: str
) -> None:
    def refuse(path: Path) -> None:
        raise OSError(code, os.strerror(code), str(path))

    monkeypatch.setattr(sqlite_store, "_write_probe_file", refuse)
    with pytest.raises(UsageError) as info:
        open_url(None, state_dir=tmp_path / "state", lock_dir=tmp_path / "locks")
    message = _one_line_usage(info)
    assert message.startswith(f"state directory {tmp_path / 'state'} ") and words in message
    assert not (tmp_path / "state" / "journal.sqlite").exists()  # nothing half-made


def _can_unshare() -> bool:
    if os.geteuid() != 0 or not shutil.which("unshare"):
        return False
    done = subprocess.run(
        ["unshare", "-m", "sh", "-c", "mount -t tmpfs -o size=16k tmpfs /mnt"],
        check=False,
        capture_output=True,
    )
    return done.returncode == 0


@pytest.mark.skipif(not _can_unshare(), reason="needs root and mount namespaces (unshare -m)")
@pytest.mark.parametrize(
    ("mount", "needle"),
    [
        (
            "mount -t tmpfs -o size=64k tmpfs {d} && mkdir {d}/state && mount -o remount,ro {d}",
            "read-only file system",
        ),
        (
            "mount -t tmpfs -o size=64k tmpfs {d} && mkdir {d}/state"
            " && (dd if=/dev/zero of={d}/fill bs=4k 2>/dev/null; true)",
            "is full",
        ),
    ],
    ids=["read-only", "full"],
)
def test_real_read_only_and_full_state_dirs(tmp_path: Path, mount: str, needle: str) -> None:
    """A real tmpfs in a private mount namespace (nothing leaks to the host)."""
    where = tmp_path / "mnt"
    where.mkdir()
    env = operator_env(tmp_path / "home", None, EXOPS_STATE_DIR=str(where / "state"))
    script = f"{mount.format(d=where)} && exec {sys.executable} -m exops history"
    done = subprocess.run(
        ["unshare", "-m", "sh", "-c", script],
        check=False,
        capture_output=True,
        text=True,
        env=env,
        cwd=REPO,
        timeout=60,
    )
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and needle in lines[0], done.stderr


NOBODY = 65534
# The check as an ordinary user sees it, run in a child process (as root, under the
# nobody uid): one line on stdout, exit 2 when refused.
OPEN_AS_OPERATOR = """
import sys
from pathlib import Path
from exops.core.errors import UsageError
from exops.state import open_url
try:
    open_url(None, state_dir=Path(sys.argv[1]), lock_dir=Path(sys.argv[2])).close()
except UsageError as exc:
    print(exc)
    raise SystemExit(2) from None
print("opened")
"""


def test_read_only_dir_for_an_ordinary_user(tmp_path: Path) -> None:
    """An operator's own state directory made read-only (mode 0555). Root writes into
    any directory whatever its mode, so where the tests run as root (CI containers)
    the check runs in a child process under the nobody uid, on a directory that user
    owns."""
    if os.geteuid() != 0:
        state = tmp_path / "state"
        state.mkdir()
        state.chmod(0o555)
        try:
            with pytest.raises(UsageError, match="not writable"):
                open_url(None, state_dir=state, lock_dir=tmp_path / "locks")
        finally:
            state.chmod(0o755)
        return
    setpriv = shutil.which("setpriv")
    assert setpriv, "running as root needs setpriv (util-linux) to test as an ordinary user"
    # pytest's tmp_path is private to root (0700): the child works in a directory of its own.
    base = Path(tempfile.mkdtemp(prefix="exops-ro-"))
    try:
        base.chmod(0o755)
        writable, state, locks = base / "writable", base / "state", base / "locks"
        for d in (writable, state, locks):
            d.mkdir()
            os.chown(d, NOBODY, NOBODY)
        state.chmod(0o555)
        as_nobody = [setpriv, f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups"]
        env = {**os.environ, "PYTHONPATH": str(REPO), "HOME": str(base)}

        def open_as_nobody(where: Path) -> subprocess.CompletedProcess[str]:
            return subprocess.run(
                [*as_nobody, sys.executable, "-c", OPEN_AS_OPERATOR, str(where), str(locks)],
                check=False,
                capture_output=True,
                text=True,
                env=env,
                cwd=base,
                timeout=60,
            )

        ok = open_as_nobody(writable)  # the same user, its own writable directory: fine
        assert (ok.returncode, ok.stdout.strip()) == (0, "opened"), ok.stderr
        done = open_as_nobody(state)
        assert done.returncode == 2, (done.stdout, done.stderr)
        assert "Traceback" not in done.stderr
        lines = done.stdout.strip().splitlines()
        assert len(lines) == 1 and "not writable" in lines[0], done.stdout
        assert lines[0].startswith(f"state directory {state} ")
        assert list(state.iterdir()) == []  # nothing half-made
    finally:
        shutil.rmtree(base, ignore_errors=True)


def test_corrupt_journal_is_one_line(tmp_path: Path) -> None:
    state = tmp_path / "state"
    state.mkdir()
    (state / "journal.sqlite").write_bytes(os.urandom(8192))
    with pytest.raises(UsageError) as info:
        open_url(None, state_dir=state, lock_dir=tmp_path / "locks")
    assert "is not an exops journal" in _one_line_usage(info)
    _cli_fails_in_one_line(
        operator_env(tmp_path / "home", None, EXOPS_STATE_DIR=str(state)), "not an exops journal"
    )


def test_journal_of_a_newer_schema_is_refused(tmp_path: Path) -> None:
    state = tmp_path / "state"
    open_url(None, state_dir=state, lock_dir=tmp_path / "locks").close()
    with sqlite3.connect(state / "journal.sqlite") as conn:
        conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    conn.close()
    with pytest.raises(UsageError) as info:
        open_url(None, state_dir=state, lock_dir=tmp_path / "locks")
    assert "newer than this exops" in _one_line_usage(info)


def test_journal_locked_beyond_the_busy_timeout(tmp_path: Path) -> None:
    state = tmp_path / "state"
    open_url(None, state_dir=state, lock_dir=tmp_path / "locks").close()
    blocker = sqlite3.connect(state / "journal.sqlite", isolation_level=None)
    try:
        blocker.execute("BEGIN EXCLUSIVE")
        with pytest.raises(UsageError) as info:
            open_url(None, state_dir=state, lock_dir=tmp_path / "locks", busy_timeout_s=0.2)
        assert "is locked by another process" in _one_line_usage(info)
    finally:
        blocker.execute("ROLLBACK")
        blocker.close()
    open_url(None, state_dir=state, lock_dir=tmp_path / "locks", busy_timeout_s=0.2).close()


def test_state_urls(tmp_path: Path) -> None:
    store = open_url(
        f"sqlite://{tmp_path / 's' / 'journal.sqlite'}",
        state_dir=tmp_path / "x",
        lock_dir=tmp_path / "locks",
    )
    assert store.backend == "sqlite" and (tmp_path / "s" / "journal.sqlite").is_file()
    with pytest.raises(UsageError, match="ABSOLUTE"):
        open_url("sqlite://relative/dir", state_dir=tmp_path)
    with pytest.raises(UsageError, match="unknown scheme") as info:
        open_url("mysql://u:pw@h/db", state_dir=tmp_path)
    assert "pw" not in str(info.value)


# -- the lock directory --------------------------------------------------------------------


def test_system_lock_dir_is_created_sticky_and_world_writable(tmp_path: Path) -> None:
    system = tmp_path / "run" / "lock" / "exops"
    assert resolve_lock_dir(tmp_path / "state", system_dir=system) == system
    mode = system.stat().st_mode
    assert stat.S_IMODE(mode) == 0o1777
    store = open_url(None, state_dir=tmp_path / "state", lock_dir=system)
    with store.lock("c1", runbook="x", timeout_s=0) as held:
        assert stat.S_IMODE(Path(held.where).stat().st_mode) == 0o666


def test_unusable_system_dir_falls_back_with_one_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    (tmp_path / "run").write_text("not a directory")
    system = tmp_path / "run" / "exops"
    with caplog.at_level(logging.WARNING, logger="exops.state.flock"):
        first = resolve_lock_dir(tmp_path / "state", system_dir=system)
        again = resolve_lock_dir(tmp_path / "state", system_dir=system)
    assert first == again == tmp_path / "state" / "locks"
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert str(system) in warnings[0].getMessage() and "EXOPS_LOCK_DIR" in warnings[0].getMessage()


def test_lock_dir_setting_overrides(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EXOPS_LOCK_DIR", str(tmp_path / "mine"))
    monkeypatch.setenv("EXOPS_STATE_DIR", str(tmp_path / "state"))
    settings = load_settings()
    assert settings.lock_dir == tmp_path / "mine"
    store = open_state(settings)
    with store.lock("c1", runbook="x", timeout_s=0) as held:
        assert Path(held.where).parent == tmp_path / "mine"


@pytest.mark.skipif(
    not os.access(SYSTEM_LOCK_DIR.parent, os.W_OK), reason=f"{SYSTEM_LOCK_DIR.parent} not writable"
)
def test_two_operators_with_different_homes_share_one_lock_by_default(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cluster = f"t-{uuid.uuid4().hex[:10]}"  # the real host-wide directory: a name of our own
    bob = operator_env(tmp_path / "bob", None)
    proc = spawn_holder(bob, cluster, "add-peer")
    try:
        monkeypatch.setenv("HOME", str(tmp_path / "alice"))
        monkeypatch.setenv("EXOPS_STATE_DIR", str(tmp_path / "alice" / "state"))
        store = open_state(load_settings())
        with (
            pytest.raises(LockedError, match=f"pid {proc.pid} "),
            store.lock(cluster, runbook="restart", timeout_s=0),
        ):
            pass
        with pytest.raises(PreconditionError, match="still running"):
            store.unlock(cluster)
        alice = operator_env(tmp_path / "alice", None)
        done = exops(alice, "unlock", cluster)
        assert done.returncode == 3, done.stderr
        assert f"pid {proc.pid}" in done.stderr and "--force" in done.stderr
        removed = store.unlock(cluster, force=True)
        assert removed is not None and f"pid {proc.pid} (add-peer)" in removed
    finally:
        finish(proc)
    assert not (SYSTEM_LOCK_DIR / f"{cluster}.lock").exists()

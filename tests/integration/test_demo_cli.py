"""The demo, for real: the time scale first, and a demo of its own.

Two demos run at once (the second starts once the first one's lab is up) while
another run holds the lock of a cluster named c1 in the lock directory the
caller's environment names: each demo locks its c1 in its own directory, so
neither waits nor is refused. Only the first chapters run (status, then
create-cluster, which takes the lock and restarts a peer).
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from paths import REPO

from exops.state import flock

pytestmark = pytest.mark.integration

DEADLINE_S = 300


def _demo(env: dict[str, str], cwd: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "exops.tools.demo", "--chapters", "1-2"],
        env=env,
        cwd=cwd,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def _read_until(proc: subprocess.Popen[str], marker: str) -> list[str]:
    """Lines of ``proc`` up to the one holding ``marker`` (the demo has started)."""
    assert proc.stdout is not None
    lines: list[str] = []
    deadline = time.monotonic() + DEADLINE_S
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        lines.append(line)
        if marker in line:
            return lines
    raise AssertionError("the first demo never started:\n" + "".join(lines))


def test_two_demos_at_once_beside_another_c1(tmp_path: Path) -> None:
    host_locks = tmp_path / "host-locks"
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith("EXOPS_")}
    env.update(
        EXOPS_LOCK_DIR=str(host_locks),  # where another run on this host holds c1
        EXOPS_STATE_DIR=str(tmp_path / "host-state"),
        TMPDIR=str(scratch),  # where each demo makes its own directory
        PYTHONUNBUFFERED="1",
        COLUMNS="120",
    )
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    with flock.acquire("c1", runbook="restart", timeout_s=0, lock_dir=host_locks):
        first = _demo(env, tmp_path)
        try:
            head = _read_until(first, "1. Where we start")
            second = _demo(env, tmp_path)
            out_second, _ = second.communicate(timeout=DEADLINE_S)
            out_first = "".join(head) + first.communicate(timeout=DEADLINE_S)[0]
        finally:
            for proc in (first, locals().get("second")):
                if proc is not None and proc.poll() is None:
                    proc.kill()
    for name, proc, out in (("first", first, out_first), ("second", second, out_second)):
        assert proc.returncode == 0, f"{name} demo exited {proc.returncode}:\n{out[-4000:]}"
        lines = out.splitlines()
        assert lines[0].startswith("Time scale: the lab runs 100x faster"), lines[:3]
        assert "3 to 5 minutes" in lines[1], lines[:3]
        assert "2. Create the cluster" in out and "locked" not in out.lower(), out[-3000:]
    assert list(scratch.glob("exops-demo-*")) == []  # each demo removed its directory

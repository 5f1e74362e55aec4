"""`python -m exops.lab down` returns as soon as the lab process has exited.

The lab's server process outlives `up` (its parent), so it is reaped by PID 1;
where PID 1 reaps late (a container's init), the exited process stays a zombie
for seconds and `kill(pid, 0)` still finds it. `down` reads the zombie as gone."""

from __future__ import annotations

import subprocess
import sys
import time

import pytest

from exops.lab import __main__ as labmain


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="/proc")
def test_an_exited_unreaped_process_reads_as_exited() -> None:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    try:
        deadline = time.monotonic() + 30
        while not labmain._exited(child.pid) and time.monotonic() < deadline:
            time.sleep(0.02)
        assert labmain._exited(child.pid)  # exited, not reaped: a zombie
    finally:
        child.wait()
    assert not labmain._exited(child.pid)  # reaped: no such process


def test_a_running_process_is_not_exited() -> None:
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        assert not labmain._exited(child.pid)
    finally:
        child.kill()
        child.wait()

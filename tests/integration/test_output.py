"""What a person and a pipeline see: streams, events, step lines in a terminal."""

from __future__ import annotations

import json
import os
import pty
import re
import select
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from clikit import cli_for

pytestmark = pytest.mark.integration


def test_events_to_stdout_are_only_json_and_end_with_done(formed_lab: Any, tmp_path: Path) -> None:
    cli = cli_for(formed_lab, tmp_path)
    proc = cli("restart", "-c", "c1", "--peer", "c1-p2", "--yes", "--events", "-")
    events = [json.loads(line) for line in proc.stdout.splitlines()]  # every line parses
    assert events and all(e["schema"] == "exops.event/1" for e in events)
    assert events[0]["event"] == "run_started" and events[-1]["event"] == "done"
    assert events[-1]["status"] == "ok" and events[-1]["exit_code"] == 0
    kinds = [e["event"] for e in events]
    assert "restarting" in kinds and "changed" in kinds
    # The human lines went to stderr: the plan summary, the step lines, the recap.
    assert "plan: restart on c1" in proc.stderr and "PLAY RECAP" in proc.stderr


def test_json_run_document_is_the_only_stdout(formed_lab: Any, tmp_path: Path) -> None:
    cli = cli_for(formed_lab, tmp_path)
    doc = cli.json("restart", "-c", "c1", "--peer", "c1-p3", "--yes")
    assert doc["schema"] == "exops.run/1" and doc["status"] == "ok" and doc["exit_code"] == 0
    assert [o["host"] for o in doc["outcomes"] if o["kind"] == "restart"] == ["c1-p3"]


def test_without_a_terminal_progress_is_short_human_lines(formed_lab: Any, tmp_path: Path) -> None:
    cli = cli_for(formed_lab, tmp_path)
    proc = cli("restart", "-c", "c1", "--peer", "c1-p2", "--yes")
    assert "{" not in proc.stderr  # never raw JSON
    assert "changed: [c1-p2] restart c1-p2" in proc.stdout
    assert proc.stdout.index("changed: [c1-p2]") < proc.stdout.index("PLAY RECAP")


def _run_in_pty(args: list[str], env: dict[str, str], timeout: float = 180) -> tuple[int, str]:
    master, slave = pty.openpty()
    proc = subprocess.Popen(
        [sys.executable, "-m", "exops", *args],
        stdin=subprocess.DEVNULL,
        stdout=slave,
        stderr=slave,
        env={**env, "TERM": "xterm", "COLUMNS": "120", "LINES": "40"},
        close_fds=True,
    )
    os.close(slave)
    chunks: list[bytes] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        ready, _, _ = select.select([master], [], [], 0.5)
        if ready:
            try:
                data = os.read(master, 65536)
            except OSError:  # EIO: the child closed the terminal
                break
            if not data:
                break
            chunks.append(data)
        elif proc.poll() is not None:
            break
    code = proc.wait(timeout=30)
    os.close(master)
    screen = b"".join(chunks).decode("utf-8", "replace")
    return code, re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", screen)  # colours and cursor moves


def test_in_a_terminal_each_finished_step_leaves_a_persistent_line(
    formed_lab: Any, tmp_path: Path
) -> None:
    cli = cli_for(formed_lab, tmp_path)
    code, screen = _run_in_pty(["restart", "-c", "c1", "--peer", "c1-p2", "--yes"], cli.env)
    assert code == 0, screen[-2000:]
    # Ansible-style task lines: status, peer, step and the time it took.
    assert "changed: [c1-p2] restart c1-p2 (" in screen, screen[-2000:]
    assert "ok: [c1-p2] restart c1-p2: peer_healthy (" in screen, screen[-2000:]
    assert "PLAY RECAP" in screen

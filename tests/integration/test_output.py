"""What a person and a pipeline see: streams, events, step lines in a terminal."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from clikit import cli_for, run_in_pty

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


def test_in_a_terminal_each_finished_step_leaves_a_persistent_line(
    formed_lab: Any, tmp_path: Path
) -> None:
    cli = cli_for(formed_lab, tmp_path)
    code, screen, _ = run_in_pty(["restart", "-c", "c1", "--peer", "c1-p2", "--yes"], cli.env)
    assert code == 0, screen[-2000:]
    # Ansible-style task lines: status, peer, step and the time it took.
    assert "changed: [c1-p2] restart c1-p2 (" in screen, screen[-2000:]
    assert "ok: [c1-p2] restart c1-p2: peer_healthy (" in screen, screen[-2000:]
    assert "PLAY RECAP" in screen


# -- a slow peer while status reads --------------------------------------------------


def _slow_peer(lab: Any, peer: str = "c1-p3") -> None:
    """Every REST answer of ``peer`` takes at least 2 s: longer than the 1 s after
    which the live line appears (the slowness is a lower bound, so load only
    makes the peer slower, never faster)."""
    lab.control.inject("slow", peer=peer, seconds=2.0, iface="rest")


def test_in_a_terminal_status_names_the_peer_it_still_waits_for(
    formed_lab: Any, tmp_path: Path
) -> None:
    _slow_peer(formed_lab)
    cli = cli_for(formed_lab, tmp_path)
    code, screen, _ = run_in_pty(["status", "-c", "c1"], cli.env)
    assert code == 0, screen[-2000:]
    waits = re.findall(r"waiting for ([^(]*) \((\d+\.\d)s\); (\d) of 3 peers read", screen)
    assert waits, screen[-2000:]
    assert all("c1-p3" in names for names, _, _ in waits), waits  # named while it is read
    assert "cluster c1" in screen and "verdict: healthy" in screen


def test_status_json_with_a_slow_peer_keeps_stdout_one_document(
    formed_lab: Any, tmp_path: Path
) -> None:
    _slow_peer(formed_lab)
    cli = cli_for(formed_lab, tmp_path)
    code, screen, stdout = run_in_pty(["status", "-c", "c1", "--json"], cli.env, stdout_pipe=True)
    assert code == 0, screen[-2000:]
    doc = json.loads(stdout)  # the live line went to the terminal (stderr) only
    assert doc["schema"] and [p["host"] for p in doc["clusters"][0]["peers"]][-1] == "c1-p3"
    assert "waiting for" not in stdout and "waiting for c1-p3" in screen


def test_without_a_terminal_status_prints_no_waiting_line(formed_lab: Any, tmp_path: Path) -> None:
    _slow_peer(formed_lab)
    proc = cli_for(formed_lab, tmp_path)("status", "-c", "c1")
    assert "waiting for" not in proc.stderr + proc.stdout
    assert "verdict: healthy" in proc.stdout

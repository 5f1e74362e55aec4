"""`exops drain` through the real CLI on the lab, over both transports.

The test plays the operator on the web page (the lab's control API sets maintenance
mode: the evidence shows no machine form, and exops never writes one); exops prints
the step, waits on the peer's real maintenance mode and calls/registrations, which
the lab moves to the other peers over time, and after `--restart` reads maintenance
mode off again."""

from __future__ import annotations

import json
import queue
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from clikit import Cli, cli_for, last_seq, writes_since

pytestmark = pytest.mark.integration

PAGE = "Maintenance > Maintenance mode"


class Background:
    """``exops ARGS`` running in the background; its stderr lines read as they come."""

    def __init__(self, cli: Cli, *args: str):
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "exops", *args],
            env=cli.env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.lines: queue.Queue[str] = queue.Queue()
        self.seen: list[str] = []
        assert self.proc.stderr is not None
        stream = self.proc.stderr
        threading.Thread(target=lambda: [self.lines.put(x) for x in stream], daemon=True).start()

    def wait_line(self, needle: str, timeout: float = 120) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                line = self.lines.get(timeout=0.2)
            except queue.Empty:
                if self.proc.poll() is not None and self.lines.empty():
                    break
                continue
            self.seen.append(line)
            if needle in line:
                return line
        raise AssertionError(f"never saw {needle!r}; stderr so far: {''.join(self.seen)}")

    def finish(self, timeout: float = 240) -> tuple[int, str, str]:
        out, _ = self.proc.communicate(timeout=timeout)
        time.sleep(0.1)  # the reader thread drains what is left
        while not self.lines.empty():
            self.seen.append(self.lines.get())
        return self.proc.returncode, out, "".join(self.seen)


def seed(lab: Any, peer: str = "c1-p2") -> None:
    lab.control.patch_peer(
        peer, calls={"Traversal": 4, "NonTraversal": 2, "CollaborationEdge": 2}, registrations=9
    )


@pytest.mark.parametrize("transport", ["rest", "ssh"])
def test_drain_waits_for_the_operator_then_the_calls_and_restart_clears_it(
    lab_factory: Any, tmp_path: Path, transport: str
) -> None:
    lab = lab_factory(clusters=1, peers=3, time_scale=0.004, preset="formed", cdb_rest=True)
    cli = cli_for(lab, tmp_path, EXOPS_TRANSPORT=transport)
    seed(lab)
    start = last_seq(lab)

    # Dry run: the step, exactly, and the wait; nothing journalled.
    planned = cli.json("drain", "-c", "c1", "-p", "c1-p2", "--dry-run")
    assert planned["status"] == "planned" and planned["manual_step"] is True
    assert PAGE in planned["instruction"] and "c1-p2" in planned["instruction"]
    assert lab.peers["c1-p2"] in planned["instruction"]  # the peer's own address
    assert planned["seen"]["calls"] == 8 and planned["seen"]["registrations"] == 9

    run = Background(
        cli,
        "drain",
        "-c",
        "c1",
        "-p",
        "c1-p2",
        "--yes",
        "--accept",
        "manual-maintenance",
        "--json",
    )
    line = run.wait_line("manual step:")
    assert PAGE in line and "set Maintenance mode to On, then Save" in line
    run.wait_line("maintenance mode off")  # it polls the real state
    lab.control.patch_peer("c1-p2", maintenance_mode=True)  # the operator, on the web page
    code, out, err = run.finish()
    assert code == 0, err
    doc = json.loads(out)
    assert (doc["status"], doc["maintenance_mode_verified"]) == ("ok", True)
    assert (
        doc["seen"]["maintenance_mode"],
        doc["seen"]["calls"],
        doc["seen"]["registrations"],
    ) == (
        True,
        0,
        0,
    )
    truth = lab.control.state()["peers"]
    assert truth["c1-p2"]["maintenance_mode"] is True
    assert (truth["c1-p2"]["calls_total"], truth["c1-p2"]["registrations"]) == (0, 0)
    assert truth["c1-p1"]["calls_total"] + truth["c1-p3"]["calls_total"] == 8  # moved over
    assert "maintenance mode on;" in err  # the wait showed the calls going down
    assert writes_since(lab, start) == []  # exops wrote nothing: the operator set it
    runs = cli.json("history", "-c", "c1")["runs"]
    assert [(r["runbook"], r["status"]) for r in runs] == [("drain", "ok")]
    steps = cli.json("show", runs[0]["run_id"])["steps"]
    assert [(s["kind"], s["status"]) for s in steps] == [("manual", "ok"), ("wait", "ok")]

    # Re-run: nothing to do.
    again = cli.json("drain", "-c", "c1", "-p", "c1-p2", "--yes")
    assert again["status"] == "nothing_to_change" and again["manual_step"] is False

    # Restart it; maintenance mode is off again afterwards (the vendor's rule).
    done = cli.json("drain", "-c", "c1", "-p", "c1-p2", "--yes", "--restart")
    assert done["restart"]["run"]["status"] == "ok"
    assert done["restart"]["maintenance_mode_off"] is True
    assert "off again" in done["restart"]["maintenance_mode_message"]
    assert lab.control.peer_state("c1-p2")["maintenance_mode"] is False
    text = cli("drain", "-c", "c1", "-p", "c1-p2", "--dry-run").stdout
    assert "manual step" in text  # out of maintenance: a new drain starts over


def test_unattended_refusals_say_why_and_change_nothing(lab_factory: Any, tmp_path: Path) -> None:
    lab = lab_factory(clusters=1, peers=3, time_scale=0.004, preset="formed", cdb_rest=True)
    cli = cli_for(lab, tmp_path)
    seed(lab)
    start = last_seq(lab)
    proc = cli("drain", "-c", "c1", "-p", "c1-p2", "--yes", expect=3)
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and PAGE in lines[0] and "--accept manual-maintenance" in lines[0]
    assert "Traceback" not in proc.stderr
    proc = cli("drain", "-c", "c1", "-p", "c1-p2", expect=3)  # no terminal: unattended too
    assert "unattended" in proc.stderr

    lab.control.patch_peer("c1-p3", maintenance_mode=True)
    proc = cli(
        "drain", "-c", "c1", "-p", "c1-p2", "--yes", "--accept", "manual-maintenance", expect=3
    )
    assert "c1-p3 is in maintenance mode" in proc.stderr
    lab.control.patch_peer("c1-p3", maintenance_mode=False)

    lab.control.inject("unreachable", peer="c1-p1")
    proc = cli(
        "drain", "-c", "c1", "-p", "c1-p2", "--yes", "--accept", "manual-maintenance", expect=3
    )
    assert "c1-p1 does not answer" in proc.stderr and "nowhere to go" in proc.stderr
    proc = cli("drain", "-c", "c1", "-p", "c1-p1", "--yes", expect=3)
    assert "c1-p1 does not answer" in proc.stderr
    lab.control.clear()

    for args, needle in [
        (("--accept", "bogus"), "--accept bogus"),
        (("--max-calls", "-1"), "--max-calls"),
        (("--drain-timeout", "nan"), "nan"),
    ]:
        proc = cli("drain", "-c", "c1", "-p", "c1-p2", "--yes", *args, expect=2)
        assert needle in proc.stderr and "Traceback" not in proc.stderr
    proc = cli("drain", "-c", "c1", "-p", "nope", "--yes", expect=2)
    assert "nope" in proc.stderr
    assert writes_since(lab, start) == []
    assert cli.json("history")["runs"] == []


def test_timeout_is_a_failure_with_what_was_last_seen(lab_factory: Any, tmp_path: Path) -> None:
    lab = lab_factory(clusters=1, peers=3, time_scale=0.004, preset="formed", cdb_rest=True)
    cli = cli_for(lab, tmp_path)
    seed(lab)
    proc = cli(
        "drain",
        "-c",
        "c1",
        "-p",
        "c1-p2",
        "--yes",
        "--accept",
        "manual-maintenance",
        "--drain-timeout",
        "1",
        expect=1,
    )
    assert "gave up waiting for c1-p2 drained" in proc.stderr
    assert "maintenance mode off" in proc.stderr
    runs = cli.json("history")["runs"]
    assert [(r["runbook"], r["status"], r["exit_code"]) for r in runs] == [("drain", "failed", 1)]


def test_maintenance_mode_unreadable_without_the_cluster_database(
    lab_factory: Any, tmp_path: Path
) -> None:
    """The CDB REST API off (the X14.2+ default): maintenance mode has no other form."""
    lab = lab_factory(clusters=1, peers=3, time_scale=0.004, preset="formed", cdb_rest=False)
    cli = cli_for(lab, tmp_path, EXOPS_TRANSPORT="ssh")
    seed(lab)
    proc = cli(
        "drain", "-c", "c1", "-p", "c1-p2", "--yes", "--accept", "manual-maintenance", expect=3
    )
    assert "cannot be read" in proc.stderr and "--accept unverified-maintenance" in proc.stderr

    run = Background(
        cli,
        "drain",
        "-c",
        "c1",
        "-p",
        "c1-p2",
        "--yes",
        "--json",
        "--accept",
        "manual-maintenance",
        "--accept",
        "unverified-maintenance",
    )
    run.wait_line("manual step:")
    lab.control.patch_peer("c1-p2", maintenance_mode=True)
    code, out, err = run.finish()
    assert code == 0, err
    doc = json.loads(out)
    assert doc["status"] == "ok" and doc["maintenance_mode_verified"] is False
    assert "NOT verified" in doc["message"]
    assert (doc["seen"]["calls"], doc["seen"]["registrations"]) == (0, 0)

    # --restart: the restart runs; the mode after it cannot be read either, and says so.
    done = cli.json(
        "drain",
        "-c",
        "c1",
        "-p",
        "c1-p2",
        "--yes",
        "--restart",
        "--accept",
        "unverified-maintenance",
    )
    assert done["restart"]["run"]["status"] == "ok"
    assert done["restart"]["maintenance_mode_off"] is None
    assert "NOT verified" in done["restart"]["maintenance_mode_message"]
    assert lab.control.peer_state("c1-p2")["maintenance_mode"] is False  # the lab's truth

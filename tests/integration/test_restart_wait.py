"""A restart is over only once a read proves it happened, on a lab whose peers answer
for a while after they accept a restart, as a real appliance does (issue 28).

The lab's peers here go on answering for 150 s of lab time (1.5 s) after accepting
a restart, then are down for 240 s (2.4 s). A wait that took the first answer after
the request for "back" would gate and restart the next peer while this one is about
to go down: two peers of the cluster down at once. The lab's own record of each
restart (request accepted, listeners closed, booted; wall-clock times) is the truth
the run's events are checked against.
"""

from __future__ import annotations

import json
from datetime import datetime
from itertools import pairwise
from pathlib import Path
from typing import Any

import pytest
from clikit import cli_for

pytestmark = pytest.mark.integration

SCALE = 0.01
GRACE = 150.0  # simulated seconds a peer answers after accepting a restart


def _events(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def _ts(event: dict[str, Any]) -> float:
    return datetime.fromisoformat(event["ts"]).timestamp()


def test_a_rolling_restart_waits_for_each_boot_before_the_next(
    lab_factory: Any, tmp_path: Path
) -> None:
    lab = lab_factory(clusters=1, peers=3, time_scale=SCALE, preset="formed", restart_grace=GRACE)
    assert lab.control.metrics()["restart_grace_s"] == pytest.approx(GRACE * SCALE)
    cli = cli_for(lab, tmp_path)
    events_file = tmp_path / "events.jsonl"
    cli("restart", "-c", "c1", "--yes", "--events", str(events_file))

    restarts = sorted(lab.control.metrics()["restarts"], key=lambda r: r["requested_at"])
    assert sorted(r["peer"] for r in restarts) == ["c1-p1", "c1-p2", "c1-p3"]
    for r in restarts:  # each restart went down after its grace, and booted
        assert r["booted"] is not None and r["requested_at"] < r["down_at"] < r["booted"]
    # Never two peers down: each restart was asked for once the one before had booted.
    for before, after in pairwise(restarts):
        assert after["requested_at"] >= before["booted"], (before, after)

    # Each restart step ended on a read taken after that peer booted, never before.
    done = {
        e["host"]: _ts(e)
        for e in _events(events_file)
        if e["event"] == "changed" and e.get("kind") == "restart"
    }
    assert set(done) == {"c1-p1", "c1-p2", "c1-p3"}
    for r in restarts:
        assert done[r["peer"]] >= r["booted"], (r, done[r["peer"]])


def test_a_single_restart_of_a_healthy_peer_ends_after_its_boot(
    lab_factory: Any, tmp_path: Path
) -> None:
    """No restart pending on the peer: nothing but the restart wait itself can tell
    that it has not happened yet."""
    lab = lab_factory(clusters=1, peers=3, time_scale=SCALE, preset="formed", restart_grace=GRACE)
    cli = cli_for(lab, tmp_path)
    events_file = tmp_path / "events.jsonl"
    cli("restart", "-c", "c1", "--peer", "c1-p2", "--yes", "--events", str(events_file))
    (restart,) = lab.control.metrics()["restarts"]
    assert restart["peer"] == "c1-p2" and restart["booted"] is not None
    (done,) = [
        e for e in _events(events_file) if e["event"] == "changed" and e.get("kind") == "restart"
    ]
    assert _ts(done) >= restart["booted"]
    state = lab.control.peer_state("c1-p2")
    assert state["running"] and state["lifecycle"] == "running"

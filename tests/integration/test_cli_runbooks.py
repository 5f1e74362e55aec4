"""The real CLI against the real mock lab: the runbooks end to end.

Each scenario checks the mock's true state (not exops's own report), that a
second run sends no write, and that the dry-run plan lists exactly the writes
and restarts apply then made.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from clikit import cli_for, last_seq, writes_since

pytestmark = pytest.mark.integration


def peer_state(lab: Any, name: str) -> dict[str, Any]:
    return lab.control.peer_state(name)


def planned_changes(plan: dict[str, Any]) -> list[tuple[str, str]]:
    """(host, kind) of every appliance-changing action of a JSON plan."""
    return [
        (a["host"], a["kind"])
        for a in plan["actions"]
        if a["kind"] in ("configure", "restart", "command")
    ]


def test_create_then_add_peer_idempotent_and_exact(fresh_lab: Any, tmp_path: Path) -> None:
    cli = cli_for(fresh_lab, tmp_path)
    plan = cli.json("create-cluster", "-c", "c1", "--dry-run")
    assert planned_changes(plan) == [("c1-p1", "configure"), ("c1-p1", "restart")]
    seq = last_seq(fresh_lab)
    cli("create-cluster", "-c", "c1", "--yes")
    made = writes_since(fresh_lab, seq)
    assert made, "create-cluster wrote nothing"
    assert {r["peer"] for r in made} == {"c1-p1"}
    p1 = peer_state(fresh_lab, "c1-p1")
    assert json.dumps(p1).count(fresh_lab.peers["c1-p1"]) >= 1

    plan = cli.json("add-peer", "-c", "c1", "--peer", "c1-p2", "--dry-run")
    kinds = planned_changes(plan)
    assert ("c1-p2", "restart") in kinds and ("c1-p1", "configure") in kinds
    cli("add-peer", "-c", "c1", "--peer", "c1-p2", "--yes")
    status = cli.json("status", "-c", "c1")
    cluster = status["clusters"][0]
    assert cluster["verdict"] == "healthy", cluster["reasons"]
    assert [p["host"] for p in cluster["peers"] if p["slot"]] == ["c1-p1", "c1-p2"]

    seq = last_seq(fresh_lab)
    again = cli.json("add-peer", "-c", "c1", "--peer", "c1-p2", "--dry-run")
    assert planned_changes(again) == []
    cli("add-peer", "-c", "c1", "--peer", "c1-p2", "--yes")
    assert writes_since(fresh_lab, seq) == []

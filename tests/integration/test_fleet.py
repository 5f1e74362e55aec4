"""Several clusters in one run (`-c c1 -c c2 ...`): each on its own, worst exit wins."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from clikit import cli_for, last_seq, writes_since

from exops.lock import acquire

pytestmark = pytest.mark.integration


def test_fleet_restart_each_cluster_on_its_own(lab_factory: Any, tmp_path: Path) -> None:
    lab = lab_factory(clusters=3, peers=2, time_scale=0.004, preset="formed")
    cli = cli_for(lab, tmp_path)
    seq = last_seq(lab)
    assert "--yes" in cli("restart", "-c", "c1", "-c", "c2", expect=2).stderr
    assert writes_since(lab, seq) == []

    plans = cli.json("restart", "-c", "c1", "-c", "c2", "--dry-run")
    assert plans["schema"] == "exops.fleet/1"
    assert [(r["cluster"], r["exit_code"]) for r in plans["runs"]] == [("c1", 0), ("c2", 0)]
    assert [a["host"] for a in plans["runs"][1]["result"]["actions"] if a["kind"] == "restart"] == [
        "c2-p1",
        "c2-p2",
    ]

    # c3 is held by another run: c1 and c2 go ahead, c3 is reported locked, exit 4.
    with acquire("c3", runbook="restart", timeout_s=0, lock_dir=tmp_path / "exops-state" / "locks"):
        out = cli("restart", "-c", "c1", "-c", "c2", "-c", "c3", "--yes", expect=4)
    assert "=== cluster c1: exit 0 ===" in out.stdout and "=== cluster c3: exit 4 ===" in out.stdout
    assert "locked by" in out.stderr
    restarted = [r["peer"] for r in lab.control.metrics()["restarts"]]
    assert sorted(restarted) == ["c1-p1", "c1-p2", "c2-p1", "c2-p2"]
    # primary first within each cluster
    assert restarted.index("c1-p1") < restarted.index("c1-p2")
    assert restarted.index("c2-p1") < restarted.index("c2-p2")
    history = cli.json("history")["runs"]
    assert sorted(r["cluster"] for r in history) == ["c1", "c2"]

"""Several clusters in one run (`-c c1 -c c2 ...`): each on its own, worst exit wins."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from clikit import as_in_a_terminal, cli_for, last_seq, writes_since
from labkit import lock_key

from exops.state.flock import acquire

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
    held = lock_key(lab, "c3")
    with acquire(held, runbook="restart", timeout_s=0, lock_dir=tmp_path / "exops-state" / "locks"):
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


def test_fleet_ctrl_c_stops_every_cluster_cleanly(lab_factory: Any, tmp_path: Path) -> None:
    import signal
    import subprocess
    import sys
    import time

    lab = lab_factory(clusters=2, peers=2, time_scale=0.05, preset="formed")  # 12 s restarts
    cli = cli_for(lab, tmp_path)
    events = tmp_path / "events.jsonl"
    argv = ["restart", "-c", "c1", "-c", "c2", "--yes", "--events", str(events)]
    proc = subprocess.Popen(
        [sys.executable, "-m", "exops", *argv],
        env=cli.env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=as_in_a_terminal,  # noqa: PLW1509 - only resets one signal
    )
    deadline = time.monotonic() + 60
    while not (events.exists() and events.read_text().count('"restarting"') >= 2):
        assert time.monotonic() < deadline, "the restarts never began"
        time.sleep(0.05)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 130 and "interrupted" in err, (
        proc.returncode,
        err[-2000:],
        events.read_text()[-3000:],
    )
    runs = cli.json("history")["runs"]
    assert sorted((r["cluster"], r["status"]) for r in runs) == [
        ("c1", "interrupted"),
        ("c2", "interrupted"),
    ]
    assert not list((tmp_path / "exops-state" / "locks").glob("*.lock"))  # both released


def test_sigterm_ends_a_run_like_ctrl_c(lab_factory: Any, tmp_path: Path) -> None:
    """systemd stop sends SIGTERM: the run is journalled interrupted and the lock freed."""
    import signal
    import subprocess
    import sys
    import time

    lab = lab_factory(clusters=1, peers=2, time_scale=0.05, preset="formed")
    cli = cli_for(lab, tmp_path)
    events = tmp_path / "events.jsonl"
    argv = ["restart", "-c", "c1", "--yes", "--events", str(events)]
    proc = subprocess.Popen(
        [sys.executable, "-m", "exops", *argv],
        env=cli.env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=as_in_a_terminal,  # noqa: PLW1509 - only resets one signal
    )
    deadline = time.monotonic() + 60
    while not (events.exists() and '"restarting"' in events.read_text()):
        assert time.monotonic() < deadline, "the restart never began"
        time.sleep(0.05)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 130 and "interrupted" in err
    assert [r["status"] for r in cli.json("history")["runs"]] == ["interrupted"]
    assert not list((tmp_path / "exops-state" / "locks").glob("*.lock"))

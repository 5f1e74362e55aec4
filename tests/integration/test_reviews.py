"""Change reviews and unattended runs through the real CLI: saved plans, exit
codes, lock, journal, events and reports."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from clikit import cli_for, last_seq, writes_since

pytestmark = pytest.mark.integration


def test_saved_plan_applies_exactly_then_is_refused_when_stale(
    fresh_lab: Any, tmp_path: Path
) -> None:
    lab, cli = fresh_lab, cli_for(fresh_lab, tmp_path)
    cli("create-cluster", "-c", "c1", "--yes")
    plan_file = tmp_path / "add.json"
    shown = cli("plan", "add-peer", "-c", "c1", "-P", "peer=c1-p2", "--out", str(plan_file))
    assert "c1-p2" in shown.stdout and plan_file.exists()
    saved = json.loads(plan_file.read_text())
    seq = last_seq(lab)
    cli("apply", str(plan_file), "--yes")
    assert {r["peer"] for r in writes_since(lab, seq)} == {"c1-p1", "c1-p2"}
    assert lab.control.peer_state("c1-p2")["saved"]["peers"][:2] == [
        lab.peers["c1-p1"],
        lab.peers["c1-p2"],
    ]

    # A second saved plan, then an out-of-band change: apply refuses it, saying what changed.
    cli("plan", "add-peer", "-c", "c1", "-P", "peer=c1-p3", "--out", str(plan_file))
    lab.control.patch_peer("c1-p3", h323=True)  # no cluster setting: still fresh
    rest = lab.env["EXOPS_LAB_CONTROL"]
    assert rest
    cli("switch-primary", "-c", "c1", "--peer", "c1-p2", "--yes")  # the out-of-band change
    seq = last_seq(lab)
    stale = cli("apply", str(plan_file), "--yes", expect=3)
    assert "changed since this plan was made" in stale.stderr
    # One line per change between the saved plan and a fresh one: here the writes the
    # primary switch changed (the new peer's configured primary slot).
    assert "action" in stale.stderr and "primary = 2" in stale.stderr, stale.stderr
    assert writes_since(lab, seq) == []
    assert saved["runbook"] == "add-peer"


def test_detailed_exitcode_distinguishes_drift(formed_lab: Any, tmp_path: Path) -> None:
    cli = cli_for(formed_lab, tmp_path)
    assert (
        cli("plan", "add-peer", "-c", "c1", "-P", "peer=c1-p3", "--detailed-exitcode").returncode
        == 0
    )
    cli("plan", "switch-primary", "-c", "c1", "-P", "peer=c1-p2", "--detailed-exitcode", expect=5)
    cli(
        "switch-primary",
        "-c",
        "c1",
        "--peer",
        "c1-p2",
        "--dry-run",
        "--detailed-exitcode",
        expect=5,
    )


def test_exit_codes_usage_and_refused(formed_lab: Any, tmp_path: Path) -> None:
    cli = cli_for(formed_lab, tmp_path)
    seq = last_seq(formed_lab)
    err = cli("add-peer", "-c", "c1", "--peer", "nope", "--yes", expect=2).stderr
    assert err.count("\n") == 1 and "nope" in err
    cli("status", "-c", "c9", expect=2)
    cli("remove-peer", "-c", "c1", "--peer", "c1-p1", "--yes", expect=3)
    # a plan with restarts is never applied unattended without --yes
    out = cli("enforce-tls", "-c", "c1", expect=3)  # refused first: addresses are IPs
    assert "tls_names" in out.stderr
    assert writes_since(formed_lab, seq) == []


def test_restart_needs_yes_when_not_a_terminal(formed_lab: Any, tmp_path: Path) -> None:
    cli = cli_for(formed_lab, tmp_path)
    seq = last_seq(formed_lab)
    err = cli("restart", "-c", "c1", "--peer", "c1-p2", expect=2).stderr
    assert "--yes" in err
    assert writes_since(formed_lab, seq) == []


def test_two_runs_on_one_cluster(formed_lab: Any, tmp_path: Path) -> None:
    """The second run fails at once with exit 4, or waits for the lock when asked."""
    cli = cli_for(formed_lab, tmp_path)
    events = tmp_path / "first.jsonl"
    first = subprocess.Popen(
        [sys.executable, "-m", "exops", "restart", "-c", "c1", "--yes", "--events", str(events)],
        env=cli.env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if events.exists() and "restarting" in events.read_text():
                break
            time.sleep(0.05)
        else:
            pytest.fail("the first run never started restarting")
        locked = cli("restart", "-c", "c1", "--peer", "c1-p3", "--yes", expect=4)
        assert "locked by" in locked.stderr and "restart" in locked.stderr
        waited = cli(
            "restart", "-c", "c1", "--peer", "c1-p3", "--yes", "--lock-timeout", "120", expect=0
        )
        assert "PLAY RECAP" in waited.stdout
    finally:
        _, err = first.communicate(timeout=120)
    assert first.returncode == 0, err
    lines = [json.loads(x) for x in events.read_text().splitlines()]
    names = [e["event"] for e in lines]
    assert names[0] == "run_started" and names[-1] == "done"
    assert {"step_started", "restarting", "changed"} <= set(names)
    assert all(e["cluster"] == "c1" and e["run_id"] for e in lines)


def test_journal_history_show_and_reports(formed_lab: Any, tmp_path: Path) -> None:
    cli = cli_for(formed_lab, tmp_path)
    md = tmp_path / "plan.md"
    html = tmp_path / "plan.html"
    cli(
        "switch-primary",
        "-c",
        "c1",
        "--peer",
        "c1-p2",
        "--dry-run",
        "--format",
        "md",
        "--out",
        str(md),
    )
    cli(
        "switch-primary",
        "-c",
        "c1",
        "--peer",
        "c1-p2",
        "--dry-run",
        "--format",
        "html",
        "--out",
        str(html),
    )
    assert "c1-p2" in md.read_text() and "<html" in html.read_text().lower()
    result = cli.json("switch-primary", "-c", "c1", "--peer", "c1-p2", "--yes")
    assert result["schema"] == "exops.run/1" and result["changed"] and not result["failed"]
    history = cli.json("history", "-c", "c1")
    run = history["runs"][0]
    assert run["runbook"] == "switch-primary" and run["status"] == "ok"
    assert run["run_id"] == result["run_id"]
    shown = cli.json("show", run["run_id"])
    assert [s["status"] for s in shown["steps"]].count("changed") == 3
    report = cli("show", run["run_id"], "--format", "md").stdout
    assert "switch-primary" in report and "c1-p3" in report
    assert formed_lab.password not in json.dumps(shown) + report

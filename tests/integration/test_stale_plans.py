"""Stale plans on a cluster shared with other administrators (issue 30).

Before the first write of any run (a saved plan, or a direct run), every
action's expected state is checked against fresh facts: any difference
refuses the whole run (exit 3, one line per difference) and nothing is
written anywhere. A peer changed during a run stops it before its next write,
with what was written so far and a command that finishes the job.

True state is read from the lab's control API, writes counted from its
request log; the other administrator edits a peer over SSH (OpenSSH).
"""

from __future__ import annotations

import re
import shlex
from pathlib import Path
from typing import Any

import pytest
from clikit import cli_for, last_seq, writes_since
from killkit import run_killed, settled
from labkit import cli as ssh_cli
from labkit import require
from pausekit import run_paused

pytestmark = pytest.mark.integration


@pytest.fixture
def four(lab_factory: Any) -> Any:
    return lab_factory(clusters=1, peers=4, time_scale=0.004, preset="formed")


def claimed(lab: Any) -> set[str]:
    """The peers that name themselves primary (in force)."""
    return {n for n, s in lab.control.state()["peers"].items() if s["is_primary"]}


def test_saved_switch_primary_edited_over_ssh_writes_nothing(four: Any, tmp_path: Path) -> None:
    """The issue's scenario: plan switch-primary, another administrator lists a peer
    by its FQDN on the primary over SSH, then apply: exit 3, zero writes, one
    line naming the step, the peer, what was expected and what was found."""
    require("ssh")
    lab, cli = four, cli_for(four, tmp_path)
    plan_file = tmp_path / "p.json"
    cli("plan", "switch-primary", "-c", "c1", "--peer", "c1-p2", "--out", str(plan_file))
    fqdn = lab.fqdns["c1-p4"]
    ssh_cli(lab, "c1-p1", f'xConfiguration Alternates Peer 4 Address: "{fqdn}"')
    assert lab.control.peer_state("c1-p1")["saved"]["peers"][3] == fqdn
    seq = last_seq(lab)
    out = cli("apply", str(plan_file), "--yes", expect=3)
    assert writes_since(lab, seq) == [], writes_since(lab, seq)
    assert claimed(lab) == {"c1-p1"}
    assert "Traceback" not in out.stderr
    # One line for the difference: the peer, what the plan expected, what is there now.
    line = next(ln for ln in out.stderr.splitlines() if "c1-p1" in ln and fqdn in ln)
    assert lab.peers["c1-p4"] in line, out.stderr
    # It does not advise re-applying the same stale file.
    assert f"apply {plan_file}" not in out.stderr


def test_saved_plan_after_another_operator_moved_the_primary_on_one_peer_exits_3(
    four: Any, tmp_path: Path
) -> None:
    """Another operator pointed one subordinate at another primary: the saved plan's
    actions are unchanged, but a step's expected state no longer holds. Exit 3
    (refused, stale), not 1, and nothing written."""
    require("ssh")
    lab, cli = four, cli_for(four, tmp_path)
    plan_file = tmp_path / "p.json"
    cli("plan", "switch-primary", "-c", "c1", "--peer", "c1-p2", "--out", str(plan_file))
    ssh_cli(lab, "c1-p4", "xConfiguration Alternates ConfigurationMaster: 3")
    seq = last_seq(lab)
    out = cli("apply", str(plan_file), "--yes", expect=3)
    assert writes_since(lab, seq) == []
    assert "c1-p4" in out.stderr and "primary" in out.stderr, out.stderr


def test_a_peer_edited_during_a_run_stops_it_and_the_printed_command_finishes(
    four: Any, tmp_path: Path
) -> None:
    """switch-primary writes c1-p2 first; before it points c1-p1 at it, another
    administrator lists c1-p4 by its FQDN on c1-p3. The run stops before its next
    write (exit 3), says what it wrote and which command finishes the job; that
    command, run as printed, leaves one primary claimed by every peer."""
    require("ssh")
    lab, cli = four, cli_for(four, tmp_path, EXOPS_SETTLE_TIMEOUT="60")
    plan = cli.json("switch-primary", "-c", "c1", "--peer", "c1-p2", "--dry-run")
    steps = [(a["kind"], a["host"]) for a in plan["actions"]]
    n = steps.index(("backup", "c1-p1")) + 1  # after c1-p2 was written
    assert ("configure", "c1-p2") in steps[: n - 1], steps
    fqdn = lab.fqdns["c1-p4"]
    seq = last_seq(lab)

    def other_admin() -> None:
        ssh_cli(lab, "c1-p3", f'xConfiguration Alternates Peer 4 Address: "{fqdn}"')

    args = ("switch-primary", "-c", "c1", "--peer", "c1-p2")
    out = run_paused(cli, tmp_path, args, n, other_admin)
    assert out.returncode == 3, (out.stdout[-3000:], out.stderr[-3000:])
    wrote = {r["peer"] for r in writes_since(lab, seq)} - {"c1-p3"}  # c1-p3: the admin's
    assert wrote == {"c1-p2"}, writes_since(lab, seq)
    text = out.stdout + out.stderr
    assert "changed during this run" in text and "c1-p3" in text and fqdn in text, text
    assert "written so far: c1-p2: primary = 2" in text, text
    printed = re.search(r"run `(exops switch-primary [^`]*)`", text)
    assert printed is not None, text
    command = shlex.split(printed.group(1))
    assert command[:2] == ["exops", "switch-primary"] and "--yes" in command

    finished = cli(*command[1:], expect=None)
    assert finished.returncode == 0, (finished.stdout[-3000:], finished.stderr[-3000:])
    assert claimed(lab) == {"c1-p2"}
    masters = {p: s["saved"]["master"] for p, s in lab.control.state()["peers"].items()}
    assert set(masters.values()) == {2}, masters
    assert lab.control.peer_state("c1-p3")["saved"]["peers"][3] == fqdn  # the admin's edit stays


def test_switch_primary_with_peers_waiting_for_a_restart_is_refused_and_the_remedy_works(
    lab_factory: Any, tmp_path: Path
) -> None:
    """An enforce-tls killed after its first write leaves every peer waiting for a
    restart (alarm 20007). switch-primary then ran, and the switch never took on the
    waiting peers (two primaries claimed, 20102/20105 for good; afterwards every
    command refused). Now it is refused (exit 3, nothing written) naming the peers and
    the commands that restart them safely; run as printed, they succeed, and the
    switch then succeeds with one primary claimed."""
    lab = lab_factory(clusters=1, peers=3, time_scale=0.004, preset="formed")
    cli = cli_for(lab, tmp_path, EXOPS_SETTLE_TIMEOUT="60")
    cli("convert-fqdn", "-c", "c1", "--yes")
    killed = run_killed(lab, cli, tmp_path, ("enforce-tls", "-c", "c1"), 1)
    assert killed.killed, killed.stderr
    settled(lab)
    waiting = [
        p for p in ("c1-p1", "c1-p2", "c1-p3") if lab.control.peer_state(p)["restart_required"]
    ]
    assert waiting == ["c1-p1", "c1-p2", "c1-p3"], waiting

    seq = last_seq(lab)
    out = cli("switch-primary", "-c", "c1", "--peer", "c1-p2", "--yes", expect=3)
    assert writes_since(lab, seq) == []
    assert "c1-p1, c1-p2, c1-p3 of cluster c1 wait for a restart (alarm 20007)" in out.stderr
    remedies = re.findall(r"`(exops restart [^`]*)`", out.stderr)
    assert [shlex.split(c)[-2] for c in remedies] == ["c1-p1", "c1-p2", "c1-p3"], remedies
    for command in remedies:
        done = cli(*shlex.split(command)[1:], expect=None)
        assert done.returncode == 0, (command, done.stdout[-2000:], done.stderr[-2000:])
    cli("switch-primary", "-c", "c1", "--peer", "c1-p2", "--yes")
    assert claimed(lab) == {"c1-p2"}

"""Each runbook end to end through the real CLI, checked on the mock's true state.

For every scenario: the dry-run plan lists exactly the changes apply then
sends (counted in the mock's request log), the end state is read from the
mock itself, and a second run plans nothing and sends no write.
"""

from __future__ import annotations

import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from clikit import Cli, cli_for, last_seq, writes_since
from paths import REPO

pytestmark = pytest.mark.integration


def planned_requests(plan: dict[str, Any]) -> Counter[str]:
    """Requests apply will send per peer: one per write, restart and command."""
    count: Counter[str] = Counter()
    for a in plan["actions"]:
        if a["kind"] == "configure":
            count[a["host"]] += len(a["writes"])
        elif a["kind"] in ("restart", "command"):
            count[a["host"]] += 1
    return count


def run_exact(cli: Cli, lab: Any, *args: str) -> dict[str, Any]:
    """Dry run, apply, and check the request log matches the plan; returns the plan."""
    plan = cli.json(*args, "--dry-run")
    assert plan["refused"] is None, plan["refused"]
    seq = last_seq(lab)
    cli(*args, "--yes")
    sent = Counter(r["peer"] for r in writes_since(lab, seq))
    assert sent == planned_requests(plan), f"plan {planned_requests(plan)} != sent {sent}"
    return plan


def assert_second_run_idle(cli: Cli, lab: Any, *args: str) -> None:
    again = cli.json(*args, "--dry-run")
    changing = [a for a in again["actions"] if a["kind"] in ("configure", "restart", "command")]
    assert changing == [], changing
    seq = last_seq(lab)
    cli(*args, "--yes")
    assert writes_since(lab, seq) == []


def saved(lab: Any, peer: str) -> dict[str, Any]:
    return lab.control.peer_state(peer)["saved"]


def alarms(lab: Any, peer: str) -> set[str]:
    return set(lab.control.peer_state(peer)["alarms"])  # raised alarm ids


@pytest.mark.parametrize("transport", ["rest", "ssh"])
def test_build_a_cluster_from_scratch(fresh_lab: Any, tmp_path: Path, transport: str) -> None:
    lab, cli = fresh_lab, cli_for(fresh_lab, tmp_path, EXOPS_TRANSPORT=transport)
    run_exact(cli, lab, "create-cluster", "-c", "c1")
    for peer in ("c1-p2", "c1-p3"):
        run_exact(cli, lab, "add-peer", "-c", "c1", "--peer", peer)
    ips = [lab.peers[p] for p in ("c1-p1", "c1-p2", "c1-p3")]
    for peer in ("c1-p1", "c1-p2", "c1-p3"):
        s = saved(lab, peer)
        assert s["peers"][:3] == ips and s["master"] == 1, (peer, s)
        assert lab.control.peer_state(peer)["database"] == "Active"
        assert not alarms(lab, peer), (peer, alarms(lab, peer))
    assert saved(lab, "c1-p4")["peers"] == [""] * 6  # untouched
    assert_second_run_idle(cli, lab, "add-peer", "-c", "c1", "--peer", "c1-p3")
    assert_second_run_idle(cli, lab, "create-cluster", "-c", "c1")


@pytest.mark.parametrize("transport", ["rest", "ssh"])
def test_convert_fqdn_then_enforce_tls(formed_lab: Any, tmp_path: Path, transport: str) -> None:
    lab, cli = formed_lab, cli_for(formed_lab, tmp_path, EXOPS_TRANSPORT=transport)
    refused = cli.json("enforce-tls", "-c", "c1", "--dry-run", expect=3)
    assert "tls_names" in refused["refused"]
    run_exact(cli, lab, "convert-fqdn", "-c", "c1")
    fqdns = [lab.fqdns[p] for p in ("c1-p1", "c1-p2", "c1-p3")]
    for peer in lab.peers:
        assert saved(lab, peer)["peers"][:3] == fqdns
    assert_second_run_idle(cli, lab, "convert-fqdn", "-c", "c1")
    plan = run_exact(cli, lab, "enforce-tls", "-c", "c1")
    restarted = [a["host"] for a in plan["actions"] if a["kind"] == "restart"]
    assert restarted == ["c1-p1", "c1-p2", "c1-p3"]  # primary first, then slot order
    for peer in lab.peers:
        state = lab.control.peer_state(peer)
        assert state["saved"]["tls"] == "Enforce" and state["active"]["tls"] == "Enforce"
        assert "20007" not in alarms(lab, peer)
    assert_second_run_idle(cli, lab, "enforce-tls", "-c", "c1")


def test_switch_primary_with_the_old_primary_down(formed_lab: Any, tmp_path: Path) -> None:
    lab, cli = formed_lab, cli_for(formed_lab, tmp_path)
    fault = lab.control.inject("unreachable", peer="c1-p1")
    plan = cli.json("switch-primary", "-c", "c1", "--peer", "c1-p2", "--dry-run")
    assert any("c1-p1 is unreachable" in w for w in plan["warnings"])
    # Done where possible, and said so: exit 6 (partial), c1-p1 named, not exit 0.
    partial = cli("switch-primary", "-c", "c1", "--peer", "c1-p2", "--yes", expect=6)
    assert "c1-p1" in partial.stderr and "re-run" in partial.stderr, partial.stderr
    assert "UNREACHABLE" in partial.stdout and "c1-p1" in partial.stdout
    assert saved(lab, "c1-p2")["master"] == 2 and saved(lab, "c1-p3")["master"] == 2
    assert saved(lab, "c1-p1")["master"] == 1  # could not be reached
    lab.control.clear(fault)
    run_exact(cli, lab, "switch-primary", "-c", "c1", "--peer", "c1-p2")
    assert saved(lab, "c1-p1")["master"] == 2
    assert_second_run_idle(cli, lab, "switch-primary", "-c", "c1", "--peer", "c1-p2")


def test_remove_peer_compacts_and_decommissions(lab_factory: Any, tmp_path: Path) -> None:
    lab = lab_factory(clusters=1, peers=4, time_scale=0.004, preset="formed")
    cli = cli_for(lab, tmp_path)
    refused = cli("remove-peer", "-c", "c1", "--peer", "c1-p1", "--yes", expect=3)
    assert "switch-primary" in refused.stderr + refused.stdout
    run_exact(cli, lab, "remove-peer", "-c", "c1", "--peer", "c1-p2")
    keep = [lab.peers[p] for p in ("c1-p1", "c1-p3", "c1-p4")]
    for peer in ("c1-p1", "c1-p3", "c1-p4"):
        assert saved(lab, peer)["peers"] == [*keep, "", "", ""]
        assert saved(lab, peer)["master"] == 1
    gone = lab.control.peer_state("c1-p2")
    assert gone["saved"]["peers"] == [""] * 6 and gone["cert"] == "self_signed"
    assert_second_run_idle(cli, lab, "remove-peer", "-c", "c1", "--peer", "c1-p2")


def test_address_mapping_replicates(lab_factory: Any, tmp_path: Path) -> None:
    lab = lab_factory(
        clusters=1,
        peers=2,
        time_scale=0.004,
        preset="formed",
        spec={"all": {"role": "Expressway-E"}},
    )
    cli = cli_for(lab, tmp_path)
    run_exact(cli, lab, "address-mapping", "-c", "c1")
    for peer in lab.peers:
        s = saved(lab, peer)
        assert s["map_mode"] == "On"
        names = {row[0] for row in s["map"] if row[0]}
        assert names == set(lab.fqdns.values())
    assert_second_run_idle(cli, lab, "address-mapping", "-c", "c1")


def test_ordered_restart_primary_first_and_no_writes(formed_lab: Any, tmp_path: Path) -> None:
    lab, cli = formed_lab, cli_for(formed_lab, tmp_path)
    cli("switch-primary", "-c", "c1", "--peer", "c1-p2", "--yes")
    seq = last_seq(lab)
    cli("restart", "-c", "c1", "--yes")
    order = [r["peer"] for r in lab.control.metrics()["restarts"]]
    assert order == ["c1-p2", "c1-p1", "c1-p3"]
    settings_writes = [r for r in writes_since(lab, seq) if "restart" not in r["path"].lower()]
    assert [r for r in settings_writes if "boot" not in r["path"].lower()] == []


def test_repair_replication(formed_lab: Any, tmp_path: Path) -> None:
    lab, cli = formed_lab, cli_for(formed_lab, tmp_path)
    assert_second_run_idle(cli, lab, "repair-replication", "-c", "c1")
    fault = lab.control.inject("replication_error", peer="c1-p3")
    deadline = time.monotonic() + 20
    while "20101" not in alarms(lab, "c1-p3") and time.monotonic() < deadline:
        time.sleep(0.1)
    assert "20101" in alarms(lab, "c1-p3")
    lab.control.clear(fault)  # the alarm stays until ForceConfigUpdate
    plan = run_exact(cli, lab, "repair-replication", "-c", "c1")
    assert [(a["host"], a["kind"]) for a in plan["actions"] if a["kind"] == "command"] == [
        ("c1-p3", "command")
    ]
    assert "20101" not in alarms(lab, "c1-p3")
    assert_second_run_idle(cli, lab, "repair-replication", "-c", "c1")


def test_the_readme_example_runbook_runs(formed_lab: Any, tmp_path: Path) -> None:
    lab, cli = formed_lab, cli_for(formed_lab, tmp_path)
    example = REPO / "docs" / "examples" / "set-cluster-name.yaml"
    args = ("run", str(example), "-c", "c1", "-P", "value=core.example.com")
    plan = run_exact(cli, lab, *args)
    assert [a["host"] for a in plan["actions"] if a["kind"] == "configure"] == ["c1-p1"]
    for peer in lab.peers:  # replicated by the mock, not written by exops
        assert saved(lab, peer)["name"] == "core.example.com"
    assert_second_run_idle(cli, lab, *args)

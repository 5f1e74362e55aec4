"""Issue 19 on the real lab: every run proves its end state, and never touches a peer
outside the cluster it was asked to change (true state from the lab's control API)."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml
from clikit import Cli, cli_for, last_seq, writes_since

pytestmark = pytest.mark.integration


def _snapshot(lab: Any, peers: list[str]) -> dict[str, Any]:
    state = lab.control.state()["peers"]
    return {p: (state[p]["saved"], state[p]["alarms"], state[p]["config_rev"]) for p in peers}


def _moved(lab: Any, tmp_path: Path, host: str, group: str, **extra: str) -> Cli:
    """An inventory copy where ``host`` sits in ``group`` (a mistaken edit, a recycled box)."""
    inventory = tmp_path / "inventory"
    shutil.copytree(lab.inventory_dir, inventory)
    hosts = yaml.safe_load((inventory / "hosts.yaml").read_text())
    hosts[host]["groups"] = [group]
    hosts[host]["data"].pop("slot", None)
    (inventory / "hosts.yaml").write_text(yaml.safe_dump(hosts, sort_keys=False))
    groups = yaml.safe_load((inventory / "groups.yaml").read_text())
    groups.setdefault(group, {"data": {"cluster_name": f"{group}.lab.example.com"}})
    (inventory / "groups.yaml").write_text(yaml.safe_dump(groups, sort_keys=False))
    return cli_for(lab, tmp_path, EXOPS_INVENTORY=str(inventory), **extra)


@pytest.fixture
def two_clusters(lab_factory: Any) -> Any:
    return lab_factory(clusters=2, peers=3, time_scale=0.004, preset="formed")


def test_add_peer_refuses_a_member_of_another_cluster(two_clusters: Any, tmp_path: Path) -> None:
    """A live member of c2 placed in c1's inventory group: add-peer used to plan no
    warning, exit 0, and spread c1's cluster settings through c2's database."""
    lab = two_clusters
    cli = _moved(lab, tmp_path, "c2-p3", "c1")
    c2 = ["c2-p1", "c2-p2", "c2-p3"]
    before = _snapshot(lab, [*c2, "c1-p1", "c1-p2", "c1-p3"])
    seq = last_seq(lab)
    dry = cli("add-peer", "-c", "c1", "--peer", "c2-p3", "--dry-run", expect=3)
    run = cli("add-peer", "-c", "c1", "--peer", "c2-p3", "--yes", expect=3)
    for out in (dry, run):
        line = out.stderr.strip().splitlines()[-1]
        assert "c2-p3 belongs to another cluster" in line, out.stderr
        assert "c2.lab.example.com" in line and lab.peers["c2-p1"] in line
        assert "remove-peer" in line and "Traceback" not in out.stderr
    assert writes_since(lab, seq) == []  # nothing written anywhere
    assert _snapshot(lab, [*c2, "c1-p1", "c1-p2", "c1-p3"]) == before


def test_create_cluster_refuses_a_member_of_another_cluster(
    two_clusters: Any, tmp_path: Path
) -> None:
    lab = two_clusters
    cli = _moved(lab, tmp_path, "c2-p1", "c3")
    seq = last_seq(lab)
    out = cli("create-cluster", "-c", "c3", "--yes", expect=3)
    assert "c2-p1 belongs to another cluster" in out.stderr, out.stderr
    assert writes_since(lab, seq) == []


# -- verification that can fail (issue 19 item 2) --------------------------------------------
FAST = {"EXOPS_SETTLE_TIMEOUT": "6", "EXOPS_MAX_POLL_INTERVAL": "0.2"}


@pytest.mark.parametrize("transport", ["ssh", "rest"])
def test_add_peer_fails_when_replication_never_reaches_the_new_peer(
    lab_factory: Any, tmp_path: Path, transport: str
) -> None:
    """Replication silently stalled on the new peer (no alarm yet, as in the minutes
    before a real peer raises one): add-peer used to exit 0, its last step comparing
    the TLS mode and cluster name exops had itself just written on the peer."""
    lab = lab_factory(
        clusters=1, peers=3, time_scale=0.004, preset="unclustered", cdb_rest=transport == "rest"
    )
    cli = cli_for(lab, tmp_path, EXOPS_TRANSPORT=transport, **FAST)
    cli("create-cluster", "-c", "c1", "--yes")
    cli("add-peer", "-c", "c1", "--peer", "c1-p2", "--yes")  # replication works: exit 0
    assert lab.control.peer_state("c1-p2")["saved"]["name"] == "c1.lab.example.com"
    fault = lab.control.inject("replication_stall", peer="c1-p3")
    out = cli("add-peer", "-c", "c1", "--peer", "c1-p3", "--yes", expect=1)
    # (paramiko may log "Socket exception" while a peer restarts: not exops's reason)
    lines = [x for x in out.stderr.splitlines() if x.startswith("exops: ")]
    assert len(lines) == 1 and lines[0].startswith("exops: error: "), out.stderr
    assert "joined" in lines[0] and "c1-p3 replication Pending" in lines[0], lines[0]
    assert "cluster_name=''" in lines[0]
    state = lab.control.peer_state("c1-p3")
    assert state["replication"] == "Pending" and not state["alarms"], state  # no alarm: silent
    lab.control.clear(fault)
    cli("add-peer", "-c", "c1", "--peer", "c1-p3", "--yes")  # replication resumes: exit 0
    assert lab.control.peer_state("c1-p3")["saved"]["name"] == "c1.lab.example.com"

"""The conditions wait and verify steps poll: each can fail, and says on what."""

from __future__ import annotations

from factkit import cluster, peer

from exops.apply.verify import cluster_healthy, peer_healthy
from exops.core.models import ClusterStatus, PeerFacts
from exops.plan.model import Action, ActionKind

THREE = [0, 1, 2]


def _wait(condition: str, host: str | None = None, **args: object) -> Action:
    return Action(
        id="1",
        step="settle",
        kind=ActionKind.WAIT,
        host=host,
        condition=condition,
        condition_args=args,
    )


def _database(p: PeerFacts, state: str) -> PeerFacts:
    assert p.status is not None
    status = ClusterStatus(**{**p.status.model_dump(), "database": state})
    return p.model_copy(update={"status": status})


def test_cluster_healthy_holds_only_when_every_peer_is() -> None:
    healthy = cluster(*(peer(i, THREE) for i in range(3)))
    assert cluster_healthy(healthy, _wait("cluster_healthy")) == (True, "cluster healthy")
    failed = cluster(peer(0, THREE), _database(peer(1, THREE), "Failed"), peer(2, THREE))
    ok, seen = cluster_healthy(failed, _wait("cluster_healthy"))
    assert not ok and seen == "p2 database Failed"
    alarmed = cluster(peer(0, THREE), peer(1, THREE), peer(2, THREE, alarms=("20006",)))
    ok, seen = cluster_healthy(alarmed, _wait("cluster_healthy"))
    assert not ok and seen == "p3 alarms 20006"
    down = cluster(peer(0, THREE), peer(1, THREE, reachable=False), peer(2, THREE))
    ok, seen = cluster_healthy(down, _wait("cluster_healthy"))
    assert not ok and "p2" in seen


def test_cluster_healthy_of_some_peers_reads_only_those() -> None:
    facts = cluster(peer(0, THREE), peer(1, THREE), _database(peer(2, THREE), "Failed"))
    assert cluster_healthy(facts, _wait("cluster_healthy", hosts=["p1", "p2"]))[0]
    assert not cluster_healthy(facts, _wait("cluster_healthy", hosts=["p2", "p3"]))[0]


def test_cluster_healthy_may_leave_out_the_unreachable_but_not_replication_alarms() -> None:
    """switch-primary with the old primary down: its absence is allowed, nothing else."""
    facts = cluster(peer(0, THREE, reachable=False), peer(1, THREE), peer(2, THREE))
    action = _wait("cluster_healthy", allow_unreachable=True)
    assert cluster_healthy(facts, action) == (True, "healthy apart from p1 (unreachable)")
    behind = cluster(peer(0, THREE, reachable=False), peer(1, THREE, alarms=("20101",)))
    ok, seen = cluster_healthy(behind, action)
    assert not ok and seen == "p2 alarms 20101"


def test_peer_healthy_waits_for_the_pending_restart_too() -> None:
    facts = cluster(peer(0, THREE), peer(1, THREE, alarms=("20007",)), peer(2, THREE))
    ok, seen = peer_healthy(facts, _wait("peer_healthy", host="p2"))
    assert not ok and seen == "p2 restart pending (alarm 20007)"
    assert peer_healthy(facts, _wait("peer_healthy", host="p1")) == (True, "healthy")

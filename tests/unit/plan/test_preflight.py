"""Preflight checks on plain facts: the cluster size limit and a pending factory reset."""

from __future__ import annotations

from factkit import cluster, peer, plan

from exops.core.models import MAX_PEERS, ClusterStatus
from exops.plan.model import CheckOutcome
from exops.plan.preflight import run_checks


# -- size: at most six peers -------------------------------------------------------------
def test_a_seventh_peer_fails_the_size_check() -> None:
    six = list(range(MAX_PEERS))
    facts = cluster(*(peer(i, six) for i in range(MAX_PEERS)), peer(MAX_PEERS, []))
    (size,) = run_checks(facts, ["size"], new_peer="p7")
    assert size.outcome is CheckOutcome.FAIL
    assert size.summary == "a cluster holds at most 6 peers; this would make 7"
    assert size.evidence == {"cluster": "6 listed + p7"}
    p = plan("add-peer", facts, peer="p7")
    assert p.refused and "size" in p.refused and "at most 6 peers" in p.refused


def test_a_sixth_peer_is_allowed_with_the_capacity_warning() -> None:
    five = list(range(5))
    facts = cluster(*(peer(i, five) for i in range(5)), peer(5, []))
    (size,) = run_checks(facts, ["size"], new_peer="p6")
    assert size.outcome is CheckOutcome.WARN and "capacity stops at 4" in size.summary
    (size,) = run_checks(cluster(*(peer(i, five) for i in range(5))), ["size"])
    assert size.outcome is CheckOutcome.PASS and size.summary == "5 peers (at most 6)"


# -- a member in maintenance mode (alarm 20111, class "maintenance") --------------------
def test_a_member_in_maintenance_is_said_by_size_and_cluster_health_never_refused() -> None:
    """Restarting a drained peer is what drain is for (restart: cluster_health warns);
    a membership change while a peer is drained is reported (add-peer: size warns,
    remove-peer: cluster_health warns); neither refuses the plan."""
    three = [0, 1, 2]
    facts = cluster(peer(0, three), peer(1, three, alarms=("20111",)), peer(2, three), peer(3, []))
    (size,) = run_checks(facts, ["size"], new_peer="p4")
    assert size.outcome is CheckOutcome.WARN
    assert size.summary.startswith("4 peers (at most 6); in maintenance mode: p2 (drained")
    assert size.evidence["maintenance mode"] == "p2"
    (health,) = run_checks(facts, ["cluster_health"])
    assert health.outcome is CheckOutcome.WARN
    assert health.summary.startswith("healthy; in maintenance mode: p2 (drained on purpose")
    assert not plan("add-peer", facts, peer="p4").refused
    drained = cluster(peer(0, three), peer(1, three, alarms=("20111",)), peer(2, three))
    assert not plan("restart", drained, peer="p2").refused
    assert not plan("remove-peer", drained, peer="p3").refused
    sick = cluster(peer(0, three, alarms=("20101",)), peer(1, three, alarms=("20111",)), peer(2, three))
    (health,) = run_checks(sick, ["cluster_health"])
    assert health.outcome is CheckOutcome.FAIL and "in maintenance mode: p2" in health.summary


# -- factory reset pending ---------------------------------------------------------------
def test_a_pending_factory_reset_on_a_cluster_not_yet_formed_fails() -> None:
    """create-cluster's input: nobody lists anybody yet, and p2 has a reset pending
    (alarm 20107: its list was emptied over one in force). Forming a cluster with it
    (or restarting it) factory resets it: refused, whoever lists it."""
    facts = cluster(peer(0, []), peer(1, [], alarms=("20107",)), peer(2, []))
    (check,) = run_checks(facts, ["factory_reset"], new_peer="p1")
    assert check.outcome is CheckOutcome.FAIL
    assert "factory reset pending on p2" in check.summary
    assert set(check.evidence) == {"p2"}
    p = plan("create-cluster", facts)
    assert p.refused and "factory_reset" in p.refused and "p2" in p.refused
    assert p.actions == ()


def test_a_pending_reset_read_from_the_status_counts_too() -> None:
    p2 = peer(1, [])
    assert p2.status is not None
    status = ClusterStatus(**{**p2.status.model_dump(), "factory_reset_pending": True})
    p2 = p2.model_copy(update={"status": status})
    (check,) = run_checks(cluster(peer(0, []), p2), ["factory_reset"], new_peer="p1")
    assert check.outcome is CheckOutcome.FAIL and set(check.evidence) == {"p2"}


def test_a_pending_reset_on_a_peer_the_formed_cluster_no_longer_lists_is_no_hazard() -> None:
    """A leaver remove-peer cleared: the restart that resets it is the intended one."""
    facts = cluster(peer(0, [0, 1]), peer(1, [0, 1]), peer(2, [], alarms=("20107",)))
    (check,) = run_checks(facts, ["factory_reset"])
    assert check.outcome is CheckOutcome.PASS and check.summary == "none"
    listed = cluster(peer(0, [0, 1, 2]), peer(1, [0, 1, 2]), peer(2, [0, 1, 2], alarms=("20107",)))
    (check,) = run_checks(listed, ["factory_reset"])
    assert check.outcome is CheckOutcome.FAIL and set(check.evidence) == {"p3"}

"""Prerequisites enforced, not only shown (issue 19 item 4).

Each runbook that adds, changes or restarts a peer runs the prerequisites that apply
(domain section 2) with pass / fail / unknown / n/a; a failed or unknown one refuses
the run unless the operator accepts it by name (``--accept``), which the plan shows
and keeps in its params (the journal records them).
"""

from __future__ import annotations

from typing import Any

import pytest
from factkit import ADDR, cluster, peer, plan

from exops.core.errors import UsageError
from exops.core.models import PeerFacts
from exops.plan.model import CheckOutcome
from exops.plan.preflight import ACCEPTABLE, check_latency, run_checks
from exops.runbook.loader import load_shipped


def with_system(p: PeerFacts, **update: Any) -> PeerFacts:
    assert p.system is not None
    return p.model_copy(update={"system": p.system.model_copy(update=update)})


def outcome(p, name: str) -> CheckOutcome:  # type: ignore[no-untyped-def]
    return next(c.outcome for c in p.preflight if c.name == name)


def test_each_runbook_runs_the_prerequisites_that_apply() -> None:
    assert "no_nat" in load_shipped("add-peer").preflight
    assert "no_nat" in load_shipped("create-cluster").preflight
    remove = load_shipped("remove-peer")
    assert {"reachable", "cluster_health", "factory_reset"} <= set(remove.preflight)
    for name in ("enforce-tls", "convert-fqdn", "address-mapping"):
        assert {"reachable", "cluster_health"} <= set(load_shipped(name).preflight), name
    assert "cluster_health" in load_shipped("restart").preflight


# -- add-peer: NAT, and --accept ----------------------------------------------------------
def _natted() -> Any:
    """p3 is known to the inventory by 10.0.0.13, but its own LAN1 is 192.168.1.13."""
    p3 = with_system(peer(2, []), lan1="192.168.1.13")
    return cluster(peer(0, [0, 1]), peer(1, [0, 1]), p3)


def test_add_peer_refuses_a_peer_behind_nat() -> None:
    p = plan("add-peer", _natted(), peer="p3")
    assert p.refused is not None and "no_nat" in p.refused and p.actions == ()
    assert outcome(p, "no_nat") is CheckOutcome.FAIL


def test_accept_overrides_a_failed_check_by_name_and_says_so() -> None:
    p = plan("add-peer", _natted(), peer="p3", accept=["no_nat"])
    assert p.refused is None and p.has_changes
    assert p.params["accept"] == ["no_nat"]  # journalled with the plan
    check = next(c for c in p.preflight if c.name == "no_nat")
    assert check.outcome is CheckOutcome.FAIL  # the evidence is kept
    assert check.summary.startswith("accepted by the operator (--accept no_nat): fail: ")
    assert any(w.startswith("no_nat: accepted by the operator") for w in p.warnings)


def test_accept_of_a_passing_check_changes_nothing_but_the_params() -> None:
    facts = cluster(peer(0, [0, 1]), peer(1, [0, 1]), peer(2, []))
    p = plan("add-peer", facts, peer="p3", accept=["latency"])
    assert p.refused is None and outcome(p, "latency") is CheckOutcome.PASS
    assert not any("accepted" in w for w in p.warnings)


@pytest.mark.parametrize(
    ("name", "why"),
    [
        ("factory_reset", "not a check that may be overridden"),
        ("cluster_health", "not a check that may be overridden"),
        ("bogus", "not a check that may be overridden"),
    ],
)
def test_accept_refuses_safety_checks_and_unknown_names(name: str, why: str) -> None:
    facts = cluster(peer(0, [0, 1]), peer(1, [0, 1]), peer(2, []))
    with pytest.raises(UsageError, match=why):
        plan("add-peer", facts, peer="p3", accept=[name])


def test_accept_refuses_a_check_the_runbook_does_not_run() -> None:
    facts = cluster(peer(0, [0, 1]), peer(1, [0, 1]))
    with pytest.raises(UsageError, match="this runbook does not run that check"):
        plan("switch-primary", facts, peer="p2", accept=["latency"])


def test_acceptable_checks_are_prerequisites_only() -> None:
    assert set(ACCEPTABLE) == {
        "latency",
        "platform",
        "no_nat",
        "option_keys",
        "base_network",
        "e_nic",
    }


# -- remove-peer: the remaining members answer and are healthy -----------------------------
def test_remove_peer_refuses_while_another_member_is_down() -> None:
    facts = cluster(peer(0, [0, 1, 2]), peer(1, [0, 1, 2]), peer(2, [0, 1, 2], reachable=False))
    p = plan("remove-peer", facts, peer="p2")
    assert p.refused is not None and "reachable" in p.refused and p.actions == ()


def test_remove_peer_of_a_dead_peer_is_not_refused_for_it() -> None:
    """The leaver is out of scope: its death, and what the members say about it, do not
    count (removing a dead peer is what remove-peer is for)."""
    from exops.core.models import PeerState

    dead = peer(1, [0, 1, 2], reachable=False)
    members = []
    for i in (0, 2):
        p = peer(i, [0, 1, 2], alarms=("20004", "20006"))
        assert p.status is not None
        entries = tuple(
            e.model_copy(update={"state": PeerState.FAILED}) if e.address == ADDR[1] else e
            for e in p.status.peers
        )
        members.append(
            p.model_copy(
                update={
                    "status": p.status.model_copy(update={"peers": entries, "database": "Failed"})
                }
            )
        )
    facts = cluster(members[0], dead, members[1])
    p = plan("remove-peer", facts, peer="p2")
    assert p.refused is None, p.refused
    assert outcome(p, "reachable") is CheckOutcome.PASS
    assert outcome(p, "cluster_health") is CheckOutcome.PASS


def test_remove_peer_refuses_an_unhealthy_remaining_member() -> None:
    facts = cluster(peer(0, [0, 1, 2]), peer(1, [0, 1, 2]), peer(2, [0, 1, 2], alarms=("20101",)))
    p = plan("remove-peer", facts, peer="p2")
    assert p.refused is not None and "cluster_health" in p.refused


# -- latency and platform: what was measured, never a false warning --------------------------
def _rtts(*ms: float | None) -> list[PeerFacts]:
    return [peer(i, [0, 1, 2]).model_copy(update={"rtt_ms": m}) for i, m in enumerate(ms)]


def test_latency_passes_when_this_hosts_round_trips_bound_it() -> None:
    scope = _rtts(2.0, 3.0, 30.0)
    result = check_latency(None, scope, None)  # type: ignore[arg-type]
    assert result.outcome is CheckOutcome.PASS and "at most 33.0 ms" in result.summary


def test_latency_above_the_bound_is_a_manual_check_not_a_warning() -> None:
    """198 ms from a busy operator host says nothing about the peers' own path."""
    scope = _rtts(99.0, 99.0, 5.0)
    result = check_latency(None, scope, None)  # type: ignore[arg-type]
    assert result.outcome is CheckOutcome.NOT_APPLICABLE
    assert result.summary.startswith("manual check: the appliances do not report")
    assert "198.0 ms" in result.summary
    assert result.evidence["p1"] == "99.0 ms from this host (operator to peer)"
    p = plan(
        "add-peer",
        cluster(
            peer(0, [0, 1]).model_copy(update={"rtt_ms": 150.0}),
            peer(1, [0, 1]).model_copy(update={"rtt_ms": 150.0}),
            peer(2, []),
        ),
        peer="p3",
    )
    assert p.refused is None and not any("latency" in w for w in p.warnings)


def test_latency_unknown_when_a_peer_gave_no_round_trip() -> None:
    result = check_latency(None, _rtts(2.0, None, 3.0), None)  # type: ignore[arg-type]
    assert result.outcome is CheckOutcome.UNKNOWN


def test_platform_over_ssh_is_a_manual_check_not_a_warning() -> None:
    """The CLI does not show the VM size: same hardware everywhere is no warning."""
    peers = [with_system(peer(i, [0, 1, 2]), platform=None, hardware="VMware") for i in range(3)]
    (result,) = run_checks(cluster(*peers), ["platform"])
    assert result.outcome is CheckOutcome.NOT_APPLICABLE
    assert result.summary.startswith("manual check: the VM size is not offered")
    p = plan(
        "add-peer",
        cluster(
            peers[0].model_copy(update={"settings": peer(0, [0, 1]).settings}),
            peers[1].model_copy(update={"settings": peer(1, [0, 1]).settings}),
            with_system(peer(2, []), platform=None, hardware="VMware"),
        ),
        peer="p3",
    )
    assert not any(w.startswith("platform") for w in p.warnings)


def test_platform_fails_on_different_hardware() -> None:
    peers = [
        with_system(peer(0, [0, 1]), platform=None, hardware="VMware"),
        with_system(peer(1, [0, 1]), platform=None, hardware="CE1200"),
    ]
    (result,) = run_checks(cluster(*peers), ["platform"])
    assert result.outcome is CheckOutcome.FAIL


# -- messages name exactly what is wrong (issue 19 item 5) ---------------------------------
def test_base_network_names_exactly_what_is_missing_where() -> None:
    peers = [
        with_system(peer(0, [0, 1, 2, 3]), dns_servers=()),
        with_system(peer(1, [0, 1, 2, 3]), ntp_servers=()),
        with_system(peer(2, [0, 1, 2, 3]), dns_servers=(), ntp_servers=()),
        peer(3, [0, 1, 2, 3]),
    ]
    (result,) = run_checks(cluster(*peers), ["base_network"])
    assert result.outcome is CheckOutcome.FAIL
    assert result.summary == (
        "DNS servers missing on p1; NTP servers missing on p2; DNS and NTP servers missing on p3"
    )


def test_base_network_of_a_peer_not_read_is_unknown_not_missing() -> None:
    peers = [peer(0, [0, 1]), peer(1, [0, 1], reachable=False)]
    (result,) = run_checks(cluster(*peers), ["base_network"])
    assert result.outcome is CheckOutcome.UNKNOWN and "missing" not in result.summary


# -- plans say what is present and what is predicted (issue 19 item 5) ----------------------
def test_create_cluster_says_the_restart_will_be_required_not_that_it_is_pending() -> None:
    facts = cluster(peer(0, []), peer(1, []))
    p = plan("create-cluster", facts, peer="p1")
    (restart,) = p.restarts
    configure = next(a for a in p.actions if a.kind.value == "configure")
    assert "pending" not in restart.reason, restart.reason
    assert restart.reason == (
        f"will be required by the address it lists itself under ({ADDR[0]}) "
        f"saved in step {configure.id}"
    )


def test_a_restart_read_from_the_appliance_is_still_pending() -> None:
    facts = cluster(peer(0, [0, 1]), peer(1, [0, 1], alarms=("20007",)))
    p = plan("add-peer", facts, peer="p2")
    assert [a.reason for a in p.restarts] == ["restart pending (alarm 20007)"]


def test_settings_already_at_their_target_are_shown_in_place() -> None:
    """A reviewer sees the whole intended end state: TLS Permissive and IPv4 hold already."""
    facts = cluster(peer(0, []), peer(1, []))
    p = plan("create-cluster", facts, peer="p1")
    held = [s.reason for s in p.skipped if s.host == "p1" and s.reason.startswith("in place")]
    assert held == ["in place: ip_version IPv4, tls_mode Permissive, cluster_name (empty)"]

"""One address rule: status, preflight, the planner, the safety rules and verify agree on
who an address designates (case-insensitive, a trailing dot ignored, FQDN and IP alike)."""

from __future__ import annotations

from factkit import ADDR, FQDN, changes, cluster, peer, plan

from exops.apply import safety
from exops.apply.verify import primary_agreed
from exops.core.models import ClusterFacts, PeerFacts, PeerState
from exops.facts.address import designates, host_of, same_peer
from exops.facts.view import ClusterView
from exops.plan.model import Action, ActionKind, CheckOutcome
from exops.plan.preflight import run_checks
from exops.report.status import Verdict, summarize


def _relist(p: PeerFacts, slot: int, address: str) -> PeerFacts:
    """``p`` with ``address`` in ``slot`` of its list (and of its status entries)."""
    assert p.settings is not None and p.status is not None
    peers = list(p.settings.peers)
    peers[slot - 1] = address
    entries = tuple(
        e.model_copy(update={"address": address}) if e.slot == slot else e for e in p.status.peers
    )
    return p.model_copy(
        update={
            "settings": p.settings.model_copy(update={"peers": tuple(peers)}),
            "status": p.status.model_copy(update={"peers": entries}),
        }
    )


def _dotted(*, alarms: dict[int, tuple[str, ...]] | None = None) -> ClusterFacts:
    """Three peers listed by FQDN; every list names p2 as ``exp2.example.com.``."""
    alarms = alarms or {}
    return cluster(
        *(
            _relist(peer(i, [0, 1, 2], by_fqdn=True, alarms=alarms.get(i, ())), 2, FQDN[1] + ".")
            for i in range(3)
        )
    )


def test_the_rule() -> None:
    p2 = peer(1, [0, 1])
    for address in (ADDR[1], FQDN[1], FQDN[1] + ".", FQDN[1].upper() + "."):
        assert designates(p2, address), address
    assert not designates(p2, "") and not designates(p2, ".") and not designates(p2, ADDR[0])
    facts = cluster(peer(0, [0, 1]), p2)
    assert host_of(facts, FQDN[1] + ".") == "p2"
    assert same_peer(facts, FQDN[0], ADDR[0]) and same_peer(facts, "", "")
    assert not same_peer(facts, FQDN[0], ADDR[1]) and not same_peer(facts, ADDR[0], "")


def test_a_trailing_dot_designates_the_peer_for_every_stage() -> None:
    facts = _dotted()
    # status: p2 holds slot 2 and is Active as the primary sees it; the cluster is healthy
    report = summarize(facts)
    assert report.verdict is Verdict.HEALTHY, report.reasons
    row = next(r for r in report.peers if r.host == "p2")
    assert (row.slot, row.state) == (2, PeerState.ACTIVE.value)
    # the view preflight and the planner share: p2 is a member in slot 2
    view = ClusterView(facts)
    assert view.members == ["p1", "p2", "p3"] and view.slot_of("p2") == 2
    assert view.host_of(FQDN[1] + ".") == "p2"
    # the planner restarts p2 too: a member (preflight passes: p2 is in its scope)
    p = plan("restart", facts)
    assert p.refused is None, p.refused
    assert changes(p) == [("p1", "restart"), ("p2", "restart"), ("p3", "restart")]
    # the safety rules on fresh reads
    assert safety.host_of(facts, FQDN[1] + ".") == "p2"
    assert safety.designates(facts.peer("p2"), FQDN[1] + ".")


def test_a_trailing_dot_does_not_hide_a_factory_reset_hazard() -> None:
    """p2 will factory reset at its next restart: preflight and status both see a
    listed member in danger (before the one rule, preflight took p2 for a leaver)."""
    facts = _dotted(alarms={1: ("20107",)})
    [check] = run_checks(facts, ["factory_reset"])
    assert check.outcome is CheckOutcome.FAIL and "p2" in check.summary, check.summary
    report = summarize(facts)
    assert report.verdict is Verdict.BROKEN
    assert report.root_cause.startswith("p2 has every peer slot empty")


def _primary_check(facts: ClusterFacts, address: str) -> tuple[bool, str]:
    action = Action(
        id="1",
        step="verify",
        kind=ActionKind.VERIFY,
        condition="primary_agreed",
        condition_args={"address": address, "hosts": [p.host for p in facts.peers]},
    )
    return primary_agreed(facts, action)


def test_the_primary_named_by_fqdn_on_one_peer_and_by_ip_on_the_others_agrees() -> None:
    """Issue 30: switch-primary re-runs never converged on this cluster."""
    facts = cluster(peer(0, [0, 1, 2]), peer(1, [0, 1, 2]), _relist(peer(2, [0, 1, 2]), 1, FQDN[0]))
    assert _primary_check(facts, ADDR[0]) == (True, f"every reachable peer names {ADDR[0]}")
    assert _primary_check(facts, FQDN[0] + ".")[0]
    held, seen = _primary_check(facts, ADDR[1])  # the wanted primary is another peer
    assert not held and f"p1 names {ADDR[0]}" in seen and f"p3 names {FQDN[0]}" in seen
    other = cluster(peer(0, [0, 1, 2]), peer(1, [0, 1, 2]), peer(2, [0, 1, 2], primary=2))
    held, seen = _primary_check(other, ADDR[0])
    assert not held and seen == f"p3 names {ADDR[1]}"


def test_status_reports_a_peer_listed_by_fqdn_on_one_peer_and_by_ip_on_the_others() -> None:
    """Issue 30: every peer must hold the same list; status said "healthy"."""
    facts = cluster(peer(0, [0, 1, 2]), peer(1, [0, 1, 2]), _relist(peer(2, [0, 1, 2]), 1, FQDN[0]))
    report = summarize(facts)
    assert report.verdict is Verdict.DEGRADED
    assert report.reasons == (
        f"p3 lists p1 in slot 1 as {FQDN[0]}, p1, p2 as {ADDR[0]}: every peer must hold "
        "the same list. Run exops convert-fqdn -c c1 (every peer by FQDN), or put the "
        "address you want in slot 1 on p3",
    )
    assert report.root_cause == report.reasons[0]
    # case and a trailing dot are the same address, not a difference
    same = cluster(
        peer(0, [0, 1, 2], by_fqdn=True),
        peer(1, [0, 1, 2], by_fqdn=True),
        _relist(peer(2, [0, 1, 2], by_fqdn=True), 1, FQDN[0].upper() + "."),
    )
    assert summarize(same).verdict is Verdict.HEALTHY
    # a different peer in the slot is not a difference of form (no convert-fqdn advice)
    other = cluster(peer(0, [0, 1, 2]), peer(1, [0, 1, 2]), _relist(peer(2, [0, 1, 2]), 2, ADDR[5]))
    assert not [r for r in summarize(other).reasons if "convert-fqdn" in r]

"""Every check judges only facts read; what it could not read makes it unknown,
with the reason, never a pass and never a false claim (issue 26's audit)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from exops.core.models import (
    EMPTY_SLOTS,
    Certificate,
    ClusterFacts,
    ClusterSettings,
    ClusterStatus,
    PeerFacts,
    PeerState,
    PeerStatusEntry,
    Role,
    SystemInfo,
)
from exops.plan.model import CheckOutcome
from exops.plan.preflight import CHECKS, run_checks

ADDR = ("10.0.0.11", "10.0.0.12", "10.0.0.13")
FQDN = tuple(f"p{i + 1}.example.com" for i in range(3))
WHY = "ssh settings: unexpected IsADirectoryError: [Errno 21] Is a directory"


def _peer(i: int, *, by_fqdn: bool = False) -> PeerFacts:
    listed = FQDN if by_fqdn else ADDR
    now = datetime.now(UTC)
    return PeerFacts(
        host=f"p{i + 1}",
        address=listed[i],
        fqdn=FQDN[i],
        fqdn_addresses=(ADDR[i],),
        reachable=True,
        settings=ClusterSettings(peers=listed + EMPTY_SLOTS[3:], primary=1),
        status=ClusterStatus(
            database="Active",
            peers=tuple(
                PeerStatusEntry(slot=k + 1, address=a, state=PeerState.ACTIVE)
                for k, a in enumerate(listed)
            ),
        ),
        system=SystemInfo(
            name=f"p{i + 1}",
            version="X15.2.1",
            role=Role.EXPRESSWAY_C,
            platform="medium",
            lan1=ADDR[i],
            dns_servers=("192.0.2.53",),
            ntp_servers=("192.0.2.123",),
            h323_enabled=True,
        ),
        certificate=Certificate(
            subject_cn=FQDN[i],
            issuer="Lab CA",
            sans=(FQDN[i],),
            not_before=now.replace(year=now.year - 1),
            not_after=now.replace(year=now.year + 1),
            self_signed=False,
            fingerprint_sha256="00",
        ),
        trust_store=("Lab CA",),
        rtt_ms=1.0,
    )


def _unread(p: PeerFacts) -> PeerFacts:
    """It answered (reachable), but nothing it said could be read."""
    return p.model_copy(
        update={
            "settings": None,
            "status": None,
            "system": None,
            "certificate": None,
            "trust_store": (),
            "rtt_ms": None,
            "error": WHY,
        }
    )


def _facts(*peers: PeerFacts) -> ClusterFacts:
    return ClusterFacts(cluster="c1", peers=peers, gathered_at=datetime.now(UTC))


def _outcomes(facts: ClusterFacts) -> dict[str, tuple[CheckOutcome, str]]:
    return {c.name: (c.outcome, c.summary) for c in run_checks(facts, list(CHECKS))}


def test_the_fixture_cluster_passes() -> None:
    facts = _facts(*(_peer(i, by_fqdn=True) for i in range(3)))
    bad = {n: o for n, o in _outcomes(facts).items() if o[0] is not CheckOutcome.PASS}
    assert set(bad) <= {"e_nic", "latency", "no_nat", "option_keys"}, bad  # n/a / manual


# Checks that may never pass on nothing, and must say unknown (not a false claim).
UNKNOWN_ON_NOTHING = (
    "reachable",
    "size",
    "option_keys",
    "base_network",
    "tls_names",
    "cluster_health",
    "factory_reset",
    "fqdn_resolves",
)


@pytest.mark.parametrize("name", UNKNOWN_ON_NOTHING)
def test_nothing_read_is_unknown_with_the_reason(name: str) -> None:
    facts = _facts(*(_unread(_peer(i, by_fqdn=True)) for i in range(3)))
    outcome, summary = _outcomes(facts)[name]
    assert outcome is CheckOutcome.UNKNOWN, (name, outcome, summary)
    assert "could not be read" in summary or "unknown" in summary, summary


@pytest.mark.parametrize("name", UNKNOWN_ON_NOTHING)
def test_one_unread_member_makes_the_check_unknown_not_passed(name: str) -> None:
    peers = [_peer(i, by_fqdn=True) for i in range(3)]
    peers[2] = _unread(peers[2])
    outcome, summary = _outcomes(_facts(*peers))[name]
    if name == "size":  # the others' lists are enough to count the cluster
        assert outcome is CheckOutcome.PASS
        return
    assert outcome is CheckOutcome.UNKNOWN, (name, outcome, summary)
    assert "p3" in summary, summary


def test_a_member_read_bad_still_fails() -> None:
    peers = [_peer(i) for i in range(3)]
    assert peers[1].system is not None
    peers[1] = peers[1].model_copy(
        update={"system": peers[1].system.model_copy(update={"dns_servers": ()})}
    )
    peers[2] = _unread(peers[2])
    outcome, summary = _outcomes(_facts(*peers))["base_network"]
    assert outcome is CheckOutcome.FAIL and "p2" in summary, summary


MY_RESTART = """\
name: mine
params: {peer: {type: peer, required: true}}
steps:
  - name: restart it
    on: "{{ peer }}"
    restart: {when: always}
"""


def test_a_cluster_that_answered_nothing_readable_is_not_planned_on() -> None:
    """A runbook without preflight: the planner itself refuses a cluster of which
    nothing was read, even though every peer answered (issue 26)."""
    from exops.plan.planner import plan_runbook
    from exops.runbook.loader import parse_runbook

    facts = _facts(*(_unread(_peer(i)) for i in range(3)))
    plan = plan_runbook(
        parse_runbook(MY_RESTART, "mine.yaml"),
        facts,
        {"peer": "p2"},
        now=datetime.now(UTC),
        exops_version="t",
    )
    assert plan.refused and "could be read" in plan.refused and plan.actions == ()
    assert "IsADirectoryError" in plan.refused

"""Facts fail closed: a fact exops could not read never lets a check pass.

Each field a check uses is removed (unknown) or the peer's answer garbled, on
each peer in turn; the check that needs it must say unknown (or fail), never
pass, and a runbook's preflight that includes it refuses.
"""

from __future__ import annotations

from datetime import UTC, datetime

from hypothesis import given, settings
from hypothesis import strategies as st

from exops.core.models import (
    EMPTY_SLOTS,
    ClusterFacts,
    ClusterSettings,
    ClusterStatus,
    OptionKey,
    PeerFacts,
    PeerState,
    PeerStatusEntry,
    Role,
    SystemInfo,
)
from exops.plan.model import BLOCKING, CheckOutcome
from exops.plan.preflight import run_checks

ADDR = ("10.0.0.11", "10.0.0.12", "10.0.0.13")
# field of SystemInfo -> the check that needs it
NEEDS = {
    "version": "version",
    "role": "role",
    "h323_enabled": "h323",
    "platform": "platform",
    "dns_servers": "base_network",  # an answer in a shape exops does not read (issue 24)
    "ntp_servers": "base_network",
}


def _peer(i: int) -> PeerFacts:
    settings = ClusterSettings(
        peers=ADDR + EMPTY_SLOTS[3:], primary=1, cluster_name="c.example.com"
    )
    status = ClusterStatus(
        database="Active",
        peers=tuple(
            PeerStatusEntry(slot=k + 1, address=a, state=PeerState.ACTIVE)
            for k, a in enumerate(ADDR)
        ),
    )
    system = SystemInfo(
        name=f"p{i}",
        version="X15.2.1",
        role=Role.EXPRESSWAY_C,
        platform="medium",
        hardware="",
        lan1=ADDR[i],
        dns_servers=("192.0.2.53",),
        ntp_servers=("192.0.2.123",),
        h323_enabled=True,
        option_keys=(OptionKey(key="k", description="Expressway Series"),),
    )
    return PeerFacts(
        host=f"p{i + 1}",
        address=ADDR[i],
        reachable=True,
        settings=settings,
        status=status,
        system=system,
        rtt_ms=1.0,
    )


def _facts(peers: list[PeerFacts]) -> ClusterFacts:
    return ClusterFacts(cluster="c1", peers=tuple(peers), gathered_at=datetime.now(UTC))


def test_the_healthy_cluster_passes_every_applicable_check() -> None:
    results = run_checks(_facts([_peer(i) for i in range(3)]), None)
    bad = [(c.name, c.outcome) for c in results if c.outcome in BLOCKING]
    assert bad == []
    outcomes = {c.name: c.outcome for c in results}
    assert outcomes["tls_names"] is CheckOutcome.NOT_APPLICABLE  # Permissive cluster
    assert outcomes["e_nic"] is CheckOutcome.NOT_APPLICABLE  # no Expressway-E


@settings(max_examples=60, deadline=None)
@given(peer=st.integers(0, 2), field=st.sampled_from(sorted(NEEDS)))
def test_an_unknown_fact_never_passes_its_check(peer: int, field: str) -> None:
    peers = [_peer(i) for i in range(3)]
    p = peers[peer]
    assert p.system is not None
    peers[peer] = p.model_copy(
        update={
            "system": p.system.model_copy(update={field: None}),
            "unknown": {f"system.{field}": "not offered by this version"},
        }
    )
    results = {c.name: c for c in run_checks(_facts(peers), None)}
    check = results[NEEDS[field]]
    assert check.outcome is not CheckOutcome.PASS, (field, check)
    assert check.outcome in BLOCKING, (field, check)
    assert p.host in check.summary and "not offered" in check.evidence[p.host]


@settings(max_examples=30, deadline=None)
@given(peer=st.integers(0, 2), garble=st.sampled_from(["error", "no_settings", "no_status"]))
def test_a_garbled_peer_is_never_healthy(peer: int, garble: str) -> None:
    peers = [_peer(i) for i in range(3)]
    update: dict[str, object] = {
        "error": {"error": "read alarms: answer is not JSON"},
        "no_settings": {"settings": None, "error": "read settings: malformed"},
        "no_status": {"status": None, "error": "read status: malformed"},
    }[garble]
    peers[peer] = peers[peer].model_copy(update=update)
    (health,) = run_checks(_facts(peers), ["cluster_health"])
    # Blocking, and unknown rather than failed: it was not read, not read ill (issue 26).
    assert health.outcome is CheckOutcome.UNKNOWN and peers[peer].host in health.summary

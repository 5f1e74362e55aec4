"""A runbook's plan reads exactly the facts it uses (issue 16: read only what is used).

The planner runs on facts that record which of their fields it touches; over
scenarios that take every shipped runbook through its branches (formed by
address, TLS Enforce by FQDN, Expressway-E listed by name, unformed, alarms
raised), the union of what was touched must equal ``plan_facts(runbook)``:
a fact declared but never touched is read for nothing, a fact touched but not
declared is one the gather leaves empty. And a plan made from only the
declared facts is the plan made from all of them.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

import pytest
from factkit import FQDN, NOW, cluster, peer

from exops.apply.verify import CONDITIONS
from exops.core.models import ClusterFacts, PeerFacts, Role, SystemInfo, TlsMode
from exops.facts.gather import LIGHT_READS, NOT_IN_IDENTITY, Fact, needs_of
from exops.plan.model import Action, ActionKind, Plan
from exops.plan.planner import plan_facts, plan_runbook
from exops.runbook.loader import bundled, load_runbook

# Which fact each PeerFacts field comes from (the rest: inventory or any answer).
FIELD_FACT = {
    "settings": Fact.SETTINGS,
    "status": Fact.STATUS,
    "alarms": Fact.ALARMS,
    "system": Fact.IDENTITY,
    "certificate": Fact.CERTIFICATE,
    "trust_store": Fact.CERTIFICATE,
    "rtt_ms": Fact.RTT,
    "fqdn_addresses": Fact.FQDN,
}
_touched: set[Fact] = set()


class RecordingSystem(SystemInfo):
    def __getattribute__(self, name: str) -> Any:
        if name in SystemInfo.model_fields:
            _touched.add(Fact.SYSTEM if name in NOT_IN_IDENTITY else Fact.IDENTITY)
        return super().__getattribute__(name)


class RecordingPeer(PeerFacts):
    def __getattribute__(self, name: str) -> Any:
        if name in FIELD_FACT:
            _touched.add(FIELD_FACT[name])
        return super().__getattribute__(name)


def recording(facts: ClusterFacts) -> ClusterFacts:
    peers = []
    for p in facts.peers:
        fields = {k: getattr(p, k) for k in PeerFacts.model_fields}
        if p.system is not None:
            fields["system"] = RecordingSystem(
                **{k: getattr(p.system, k) for k in SystemInfo.model_fields}
            )
        peers.append(RecordingPeer(**fields))
    return facts.model_copy(update={"peers": tuple(peers)})


@contextmanager
def touched() -> Iterator[set[Fact]]:
    _touched.clear()
    yield _touched


def only(facts: ClusterFacts, needs: frozenset[Fact]) -> ClusterFacts:
    """What a gather of ``needs`` gives: every other fact left empty."""
    empty: dict[str, Any] = {
        "settings": None,
        "status": None,
        "alarms": (),
        "certificate": None,
        "trust_store": (),
        "rtt_ms": None,
        "fqdn_addresses": (),
    }
    drop = {k: v for k, v in empty.items() if FIELD_FACT[k] not in needs}
    peers = []
    for p in facts.peers:
        update = dict(drop)
        if p.system is not None and Fact.SYSTEM not in needs:
            if Fact.IDENTITY in needs:
                update["system"] = p.system.model_copy(
                    update={"hostname": "", "domain": "", "dns_servers": (), "ntp_servers": ()}
                    | {"h323_enabled": None, "option_keys": ()}
                )
            else:
                update["system"] = None
        peers.append(p.model_copy(update=update))
    return facts.model_copy(update={"peers": tuple(peers)})


ENFORCE: dict[str, Any] = {"by_fqdn": True, "tls": TlsMode.ENFORCE}


def by_name(i: int, listed: list[int], **kw: Any) -> PeerFacts:
    """An Expressway-E peer whose inventory address is its FQDN (resolved, not an IP)."""
    return peer(i, listed, by_fqdn=True, role=Role.EXPRESSWAY_E, **kw).model_copy(
        update={"address": FQDN[i]}
    )


SCENARIOS: dict[str, ClusterFacts] = {
    "formed by address, p3 not listed": cluster(peer(0, [0, 1]), peer(1, [0, 1]), peer(2, [])),
    "TLS Enforce by FQDN, p3 not listed": cluster(
        peer(0, [0, 1], **ENFORCE), peer(1, [0, 1], **ENFORCE), peer(2, [])
    ),
    "Expressway-E listed by name": cluster(by_name(0, [0, 1]), by_name(1, [0, 1]), by_name(2, [])),
    "unformed": cluster(peer(0, []), peer(1, []), peer(2, [])),
    "alarms raised": cluster(
        peer(0, [0, 1, 2]),
        peer(1, [0, 1, 2], alarms=("20101",)),
        peer(2, [0, 1, 2], alarms=("20007",), uptime_s=60),
    ),
}
# Parameters each shipped runbook is planned with (default: none).
PARAMS: dict[str, list[dict[str, Any]]] = {
    "add-peer": [{"peer": "p3"}],
    "create-cluster": [{}, {"peer": "p3", "tls_mode": "Enforce"}],
    "remove-peer": [{"peer": "p2"}],
    "switch-primary": [{"peer": "p2"}],
    "restart": [{}, {"since": (NOW - timedelta(minutes=10)).isoformat()}],
    "repair-replication": [{}, {"peer": "p2"}],
    "address-mapping": [{"enable": True}, {"enable": False}],
}


def plan(runbook: str, facts: ClusterFacts, params: dict[str, Any]) -> Plan:
    return plan_runbook(load_runbook(runbook), facts, params, now=NOW, exops_version="t")


def verdict(p: Plan) -> tuple[Any, ...]:
    checks = tuple((c.name, c.outcome, c.summary, tuple(c.evidence.items())) for c in p.preflight)
    return p.refused, p.actions, p.skipped, p.warnings, checks


def test_every_shipped_runbook_is_covered() -> None:
    assert set(PARAMS) <= set(bundled())


@pytest.mark.parametrize("runbook", bundled())
def test_a_plan_reads_exactly_the_facts_it_uses(runbook: str) -> None:
    declared = plan_facts(load_runbook(runbook))
    used: set[Fact] = set()
    for facts in SCENARIOS.values():
        for params in PARAMS.get(runbook, [{}]):
            with touched() as seen:
                plan(runbook, recording(facts), params)
            used |= seen
    assert needs_of(used) == declared, (
        f"{runbook}: read but never used: {sorted(declared - needs_of(used))}; "
        f"used but not read: {sorted(needs_of(used) - declared)}"
    )


@pytest.mark.parametrize("runbook", bundled())
@pytest.mark.parametrize("scenario", SCENARIOS)
def test_the_declared_facts_give_the_same_plan(runbook: str, scenario: str) -> None:
    facts = SCENARIOS[scenario]
    declared = plan_facts(load_runbook(runbook))
    for params in PARAMS.get(runbook, [{}]):
        assert verdict(plan(runbook, only(facts, declared), params)) == verdict(
            plan(runbook, facts, params)
        )


def test_a_new_peers_tls_check_declares_the_certificates() -> None:
    """add-peer's preflight names no certificate check; in TLS Enforce mode the new
    peer's names and trust are checked all the same, so its plan reads certificates."""
    runbook = load_runbook("add-peer")
    assert "tls_names" not in runbook.preflight
    assert Fact.CERTIFICATE in plan_facts(runbook)
    assert Fact.CERTIFICATE not in plan_facts(load_runbook("restart"))
    facts = SCENARIOS["TLS Enforce by FQDN, p3 not listed"]
    p = plan("add-peer", only(facts, plan_facts(runbook)), {"peer": "p3"})
    assert p.refused is None and any(c.name == "tls_names" for c in p.preflight)


def test_waits_poll_exactly_what_their_conditions_use() -> None:
    """``LIGHT_READS`` (every wait's and verify's poll) is what the conditions touch."""
    used: set[Fact] = set()
    for name, condition in CONDITIONS.items():
        action = Action(
            id="1",
            step="wait",
            kind=ActionKind.WAIT,
            condition=name,
            condition_args={"settings": {"tls_mode": "Enforce"}, "address": "10.0.0.11"},
            reason="test",
        )
        for facts in SCENARIOS.values():
            with touched() as seen:
                condition(recording(facts), action)
            used |= seen
    assert needs_of(used) == LIGHT_READS

"""Properties of planning over random cluster states (hypothesis).

- Convergence: apply a plan (simulated exactly as docs/contract.md section 6
  says the appliance behaves), then plan again: nothing left to change.
- Factory-reset guard: no generated plan empties a peer's list, except the
  peer remove-peer decommissions.
- The writes of every configure action turn its ``before`` into its ``after``.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from factkit import ADDR, cluster, peer
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from exops.appliance.base import apply_writes
from exops.core.models import Alarm, ClusterFacts, ClusterSettings, PeerFacts
from exops.plan.model import ActionKind, Plan
from exops.plan.planner import plan_runbook
from exops.runbook.loader import load_runbook

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
# The oracle's own copy of docs/contract.md section 6 (independent of the planner,
# which reads knowledge.toml): what a save on the primary changes on its in-sync
# subordinates (cluster-database tables), and what a restart must put in force.
CLUSTER_WIDE = ("cluster_name", "tls_mode", "ip_version", "mapping_enabled", "mapping")


@st.composite
def cluster_states(draw: st.DrawFn) -> tuple[ClusterFacts, dict[str, ClusterSettings]]:
    """A formed cluster of 1-5 members (+ unlisted peers), with drift on subordinates."""
    size = draw(st.integers(min_value=2, max_value=6))
    members = draw(st.integers(min_value=1, max_value=min(size, 5)))
    listed = list(range(members))
    primary = draw(st.integers(min_value=1, max_value=members))
    peers = []
    for i in range(size):
        own = listed if i < members else []
        if i < members and i != primary - 1 and draw(st.booleans()):
            # drift: a subordinate that lost the last member of its list
            own = listed[:-1] if len(listed) > 1 and draw(st.booleans()) else listed
        peers.append(peer(i, own, primary=primary if own else 0))
    facts = cluster(*peers)
    in_force = {p.host: p.settings for p in facts.peers if p.settings is not None}
    return facts, in_force


def simulate(
    facts: ClusterFacts, in_force: dict[str, ClusterSettings], plan: Plan
) -> tuple[ClusterFacts, dict[str, ClusterSettings]]:
    """Apply ``plan`` the way the appliance behaves (saved vs in force, replication)."""
    saved = {p.host: p.settings for p in facts.peers if p.settings is not None}
    in_force = dict(in_force)
    names = {p.host: {p.address.lower(), p.fqdn.lower()} for p in facts.peers}

    def self_entry(host: str, s: ClusterSettings) -> str | None:
        return next((a.lower() for a in s.peers if a and a.lower() in names[host]), None)

    def pending(host: str) -> bool:
        s, a = saved[host], in_force[host]
        return (
            s.tls_mode != a.tls_mode
            or s.ip_version != a.ip_version
            or self_entry(host, s) != self_entry(host, a)
        )

    def primary_host() -> str | None:
        for host, s in saved.items():
            if s.primary_address and s.primary_address.lower() in names[host]:
                return host
        return None

    for action in plan.actions:
        host = action.host
        if action.kind is ActionKind.CONFIGURE and host:
            assert action.before == saved[host], "plan built on other settings than the peer's"
            assert action.after is not None
            assert apply_writes(saved[host], action.writes) == action.after
            was_primary = primary_host() == host
            saved[host] = action.after
            if was_primary:  # replication to subordinates naming the same primary
                src = saved[host]
                for other, s in saved.items():
                    if other != host and s.primary_address == src.primary_address:
                        saved[other] = s.model_copy(
                            update={f: getattr(src, f) for f in CLUSTER_WIDE}
                        )
        elif action.kind is ActionKind.RESTART and host:
            in_force[host] = saved[host]
    new_peers: list[PeerFacts] = []
    for p in facts.peers:
        if p.settings is None:
            new_peers.append(p)
            continue
        alarms = (Alarm(id="20007"),) if pending(p.host) else ()
        new_peers.append(p.model_copy(update={"settings": saved[p.host], "alarms": alarms}))
    return facts.model_copy(update={"peers": tuple(new_peers)}), in_force


def changing(plan: Plan) -> list[tuple[str | None, str]]:
    return [(a.host, a.kind.value) for a in plan.actions if a.changes_appliance]


def run(name: str, facts: ClusterFacts, params: dict[str, Any]) -> Plan:
    return plan_runbook(load_runbook(name), facts, params, now=NOW, exops_version="t")


SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@SETTINGS
@given(state=cluster_states(), data=st.data())
def test_add_peer_converges(state: Any, data: st.DataObject) -> None:
    facts, in_force = state
    new = data.draw(st.sampled_from([p.host for p in facts.peers]))
    first = run("add-peer", facts, {"peer": new})
    if first.refused:
        return
    after, _ = simulate(facts, in_force, first)
    again = run("add-peer", after, {"peer": new})
    assert again.refused is None, again.refused
    assert changing(again) == []
    lists = {p.settings.peers for p in after.peers if p.settings and not p.settings.is_empty}
    assert len(lists) == 1, "every member lists the same peers in the same slots"


@SETTINGS
@given(state=cluster_states(), data=st.data())
def test_remove_peer_converges_and_only_empties_the_leaver(state: Any, data: st.DataObject) -> None:
    facts, in_force = state
    leaver = data.draw(st.sampled_from([p.host for p in facts.peers]))
    first = run("remove-peer", facts, {"peer": leaver})
    if first.refused:
        return
    for a in first.actions:
        if a.kind is ActionKind.CONFIGURE and a.after is not None and a.after.is_empty:
            assert a.host == leaver
    after, _ = simulate(facts, in_force, first)
    again = run("remove-peer", after, {"peer": leaver})
    assert changing(again) == [], changing(again)
    remaining = [p for p in after.peers if p.host != leaver and p.settings]
    for p in remaining:
        assert p.settings is not None
        assert ADDR[int(leaver[1:]) - 1] not in p.settings.peers


@SETTINGS
@given(state=cluster_states(), data=st.data())
def test_switch_primary_converges(state: Any, data: st.DataObject) -> None:
    facts, in_force = state
    new = data.draw(st.sampled_from([p.host for p in facts.peers]))
    first = run("switch-primary", facts, {"peer": new})
    if first.refused:
        return
    after, _ = simulate(facts, in_force, first)
    again = run("switch-primary", after, {"peer": new})
    assert changing(again) == []


@SETTINGS
@given(state=cluster_states(), data=st.data())
def test_no_generated_plan_empties_a_list(state: Any, data: st.DataObject) -> None:
    facts, _ = state
    name = data.draw(
        st.sampled_from(["add-peer", "switch-primary", "convert-fqdn", "create-cluster", "restart"])
    )
    params = {"peer": data.draw(st.sampled_from([p.host for p in facts.peers]))}
    if name == "convert-fqdn":
        params = {}
    p = run(name, facts, params)
    for a in p.actions:
        if a.kind is ActionKind.CONFIGURE:
            assert a.after is not None and not a.after.is_empty, (name, a.host)

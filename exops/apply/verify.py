"""Conditions that wait and verify steps poll: pure functions of fresh facts.

Each takes the facts just gathered and the action (its ``condition_args``)
and answers ``(holds, what was seen)``; the text is what the progress display
and a timeout error show, so it names the peer and the value that is wrong.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from exops.core.models import ClusterFacts, PeerFacts, is_fqdn
from exops.facts.address import designates, same_peer
from exops.facts.health import (
    consensus_settings_peer,
    peer_problems,
    replication_alarms,
    replication_problems,
    settled_problems,
)
from exops.plan.model import Action
from exops.plan.planner import replicated_fields

Condition = Callable[[ClusterFacts, Action], tuple[bool, str]]

# The replication status a subordinate reports once it has taken the primary's
# configuration (status ``replication``; the value is MOCK-DEFINED, docs/contract.md).
SYNCHRONISED = "Synchronised"


def _hosts(facts: ClusterFacts, action: Action) -> list[PeerFacts]:
    hosts = action.condition_args.get("hosts")
    if hosts is None and action.host:
        hosts = [action.host]
    if hosts is None:
        return list(facts.peers)
    return [facts.peer(h) for h in hosts]


def cluster_healthy(facts: ClusterFacts, action: Action) -> tuple[bool, str]:
    """Every listed peer answers, database Active, all peers Active, no cluster alarm.

    With ``allow_unreachable`` (switch-primary with the old primary down) the
    peers exops cannot reach are left out, and so are the remaining peers'
    complaints about them (their state, communication alarms, the database status).
    """
    hosts = _hosts(facts, action)
    if action.condition_args.get("allow_unreachable"):
        down = [p for p in hosts if not p.reachable]
        hosts = [p for p in hosts if p.reachable]
        if down:
            problems = [x for p in hosts for x in replication_problems(p)]
            names = ", ".join(p.host for p in down)
            if problems:
                return False, "; ".join(problems)
            return True, f"healthy apart from {names} (unreachable)"
    check = settled_problems if action.condition_args.get("settled") else peer_problems
    problems = [x for p in hosts for x in check(p)]
    problems += _listed_by_fqdn(hosts) if action.condition_args.get("by_fqdn") else []
    absent = action.condition_args.get("absent")
    if absent:
        problems += _still_listing(hosts, absent)
    if problems:
        return False, "; ".join(problems)
    return True, "cluster healthy"


def _listed_by_fqdn(hosts: list[PeerFacts]) -> list[str]:
    """Each peer's own status names every peer by an FQDN (convert-fqdn): the cluster,
    not exops, says it reaches its members under those names."""
    out = []
    for p in hosts:
        ips = [e.address for e in p.status.peers if not is_fqdn(e.address)] if p.status else []
        if ips:
            out.append(f"{p.host} still sees {', '.join(ips)} by IP address")
    return out


def _still_listing(hosts: list[PeerFacts], leaver: Any) -> list[str]:
    """The remaining peers no longer list the leaver (its addresses, given by the plan),
    in their settings or their status."""
    gone = {str(a).lower() for a in (leaver if isinstance(leaver, list | tuple) else [leaver])}
    gone.discard("")
    out = []
    for p in hosts:
        listed = p.settings.listed if p.settings else ()
        seen = tuple(e.address for e in p.status.peers) if p.status else ()
        still = sorted({a for a in (*listed, *seen) if a.lower() in gone})
        if still:
            out.append(f"{p.host} still lists {', '.join(still)}")
    return out


def peer_healthy(facts: ClusterFacts, action: Action) -> tuple[bool, str]:
    """One peer (the action's) answers and sees its cluster healthy, restart done.

    With ``self_slot`` (create-cluster), its own status also names that slot as
    "this system": the appliance, not exops's write, says it is that peer.
    """
    problems = [x for p in _hosts(facts, action) for x in settled_problems(p)]
    want = action.condition_args.get("self_slot")
    if want is not None and not problems:
        for p in _hosts(facts, action):
            local = p.status.local_slot if p.status else 0
            if local != int(want):
                problems.append(f"{p.host} shows itself as slot {local or 'none'}, not {want}")
    return (not problems), "; ".join(problems) or "healthy"


def replicated(facts: ClusterFacts, action: Action) -> tuple[bool, str]:
    """Every given peer's saved settings show the given values (replication landed).

    ``from_primary``: fields every given peer must hold exactly as the fresh primary
    holds them (values exops wrote on the primary only: what the others read, only
    replication brought there). ``mapping``: the address-mapping pairs every given
    peer must hold (FQDN -> IP, in any order; names case-insensitive).
    """
    want: dict[str, Any] = action.condition_args.get("settings", {})
    like = list(action.condition_args.get("from_primary", ()))
    ref = consensus_settings_peer(facts) if like else None
    source = ref.settings.model_dump(mode="json") if ref and ref.settings else None
    if like and source is None:
        return False, "not yet replicated: the configuration primary could not be read"
    behind = []
    for p in _hosts(facts, action):
        if p.settings is None:
            behind.append(f"{p.host} unreadable ({p.error})")
            continue
        got = p.settings.model_dump(mode="json")
        wrong = [k for k, v in want.items() if got.get(k) != v]
        wrong += [k for k in like if source is not None and got.get(k) != source.get(k)]
        pairs = action.condition_args.get("mapping")
        if pairs is not None and _pairs(pairs) != _pairs(got.get("mapping")):
            wrong.append("mapping")
        if wrong:
            behind.append(f"{p.host} {', '.join(f'{k}={_short(got.get(k))}' for k in wrong)}")
    if behind:
        return False, "not yet replicated: " + "; ".join(behind)
    return True, "replicated to every peer"


def primary_agreed(facts: ClusterFacts, action: Action) -> tuple[bool, str]:
    """Every reachable given peer names the wanted primary: the same peer, by any of
    the addresses that designate it (its FQDN or its IP, exops.facts.address)."""
    wanted = str(action.condition_args.get("address", ""))
    wrong = []
    for p in _hosts(facts, action):
        if not p.reachable or p.settings is None:
            continue
        got = p.settings.primary_address or ""
        if not same_peer(facts, got, wanted):
            wrong.append(f"{p.host} names {got.lower() or 'no primary'}")
    if wrong:
        return False, "; ".join(wrong)
    return True, f"every reachable peer names {wanted.lower()}"


def in_sync(facts: ClusterFacts, action: Action) -> tuple[bool, str]:
    """No replication-error alarm on the given peers, and each reports its replication
    Synchronised (a cleared alarm alone is not a synchronisation)."""
    bad = []
    for p in _hosts(facts, action):
        if not p.reachable:
            bad.append(f"{p.host} unreachable")
            continue
        alarms = sorted({a.id for a in p.raised_alarms} & replication_alarms())
        if alarms:
            bad.append(f"{p.host} alarms {', '.join(alarms)}")
        elif _replication(p) != SYNCHRONISED:
            bad.append(f"{p.host} replication {_replication(p) or 'unknown'}")
    return (not bad), "; ".join(bad) or "in sync"


def joined(facts: ClusterFacts, action: Action) -> tuple[bool, str]:
    """The new peer (``peer``) has joined (domain 3.2 step 5), on evidence only the
    cluster produces, never on the values exops wrote on it: every given peer is
    healthy (database Active, sees every peer Active, no cluster alarm), every other
    peer lists it and sees it Active, it reports its replication Synchronised, and it
    holds the primary's replicated configuration (the cluster name, the address
    mapping: exops writes them on the primary only)."""
    new_host = str(action.condition_args.get("peer", action.host or ""))
    hosts = _hosts(facts, action)
    new = next((p for p in hosts if p.host == new_host), None)
    if new is None:
        return False, f"{new_host} was not read"
    problems = [x for p in hosts for x in peer_problems(p)]
    for p in hosts:
        if p is new or p.status is None:
            continue
        seen = [e.state.value for e in p.status.peers if designates(new, e.address)]
        if not seen:
            problems.append(f"{p.host} does not see {new.host}")
    if new.reachable and new.status is not None and _replication(new) != SYNCHRONISED:
        problems.append(
            f"{new.host} replication {_replication(new) or 'unknown'}: it has not taken "
            "the primary's configuration"
        )
    ref = consensus_settings_peer(facts)
    if ref is not None and ref is not new and ref.settings and new.settings:
        differ = [
            f"{f}={_short(getattr(new.settings, f))} (primary {ref.host}: "
            f"{_short(getattr(ref.settings, f))})"
            for f in replicated_fields()
            if getattr(new.settings, f) != getattr(ref.settings, f)
        ]
        if differ:
            problems.append(f"{new.host} not replicated: " + ", ".join(differ))
    if problems:
        return False, "; ".join(problems)
    return True, f"{new.host} joined: Active on every peer, replication {SYNCHRONISED}"


def _pairs(value: Any) -> list[tuple[str, str]]:
    """Mapping rows in any of their forms ({fqdn: ip}, [[fqdn, ip]], [{name, address}])."""
    items = value.items() if isinstance(value, dict) else (value or ())
    out = []
    for row in items:
        name, address = (row["name"], row["address"]) if isinstance(row, dict) else row
        out.append((str(name).lower(), str(address)))
    return sorted(out)


def _replication(p: PeerFacts) -> str:
    return p.status.replication if p.status else ""


def _short(value: Any) -> str:
    if isinstance(value, tuple | list):
        return f"{len(value)} row(s)"
    text = getattr(value, "value", value)
    return repr(text) if isinstance(text, str) else str(text)


def reachable(facts: ClusterFacts, action: Action) -> tuple[bool, str]:
    down = [f"{p.host} ({p.error})" for p in _hosts(facts, action) if not p.reachable]
    return (not down), ("unreachable: " + ", ".join(down)) if down else "every peer answers"


CONDITIONS: dict[str, Condition] = {
    "cluster_healthy": cluster_healthy,
    "peer_healthy": peer_healthy,
    "replicated": replicated,
    "primary_agreed": primary_agreed,
    "in_sync": in_sync,
    "reachable": reachable,
    "joined": joined,
}

"""Conditions that wait and verify steps poll: pure functions of fresh facts.

Each takes the facts just gathered and the action (its ``condition_args``)
and answers ``(holds, what was seen)``; the text is what the progress display
and a timeout error show, so it names the peer and the value that is wrong.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from exops.core.models import ClusterFacts, PeerFacts
from exops.facts.address import same_peer
from exops.facts.health import (
    peer_problems,
    replication_alarms,
    replication_problems,
    settled_problems,
)
from exops.plan.model import Action

Condition = Callable[[ClusterFacts, Action], tuple[bool, str]]


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
    problems = [x for p in hosts for x in peer_problems(p)]
    if problems:
        return False, "; ".join(problems)
    return True, "cluster healthy"


def peer_healthy(facts: ClusterFacts, action: Action) -> tuple[bool, str]:
    """One peer (the action's) answers and sees its cluster healthy, restart done."""
    problems = [x for p in _hosts(facts, action) for x in settled_problems(p)]
    return (not problems), "; ".join(problems) or "healthy"


def replicated(facts: ClusterFacts, action: Action) -> tuple[bool, str]:
    """Every given peer's saved settings show the given values (replication landed)."""
    want: dict[str, Any] = action.condition_args.get("settings", {})
    behind = []
    for p in _hosts(facts, action):
        if p.settings is None:
            behind.append(f"{p.host} unreadable ({p.error})")
            continue
        got = p.settings.model_dump(mode="json")
        wrong = [k for k, v in want.items() if got.get(k) != v]
        if wrong:
            behind.append(f"{p.host} {', '.join(f'{k}={got.get(k)!r}' for k in wrong)}")
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
    """No replication-error alarm on the given peers."""
    bad = []
    for p in _hosts(facts, action):
        if not p.reachable:
            bad.append(f"{p.host} unreachable")
            continue
        alarms = sorted({a.id for a in p.raised_alarms} & replication_alarms())
        if alarms:
            bad.append(f"{p.host} alarms {', '.join(alarms)}")
    return (not bad), "; ".join(bad) or "in sync"


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
}

"""Health: one definition of a healthy peer and cluster, for status, checks and waits.

A member is *healthy* when exops read it (reachable, and its settings, status
and alarms all parsed: anything unknown never passes), its cluster database
is Active, every peer it lists is Active as it sees them, and it raises no
cluster alarm (the knowledge table's classes communication, replication,
primary-mismatch, own-entry, invalid-clustering, factory-reset). A restart
pending (class restart-required) is not ill health but unfinished work:
``settled`` adds it. A peer in maintenance mode (class maintenance) is drained on
purpose: not ill health either, and never silent (``in_maintenance``: status names
it, preflight ``cluster_health`` warns). ``exops status`` reports these and every
other raised alarm;
preflight ``cluster_health`` and the ``cluster_healthy`` / ``peer_healthy``
waits use exactly these functions (docs/architecture.md, "Health").
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable

from exops.appliance.knowledge import alarm_id, alarm_ids
from exops.core.models import ClusterFacts, PeerFacts, PeerState, address_key
from exops.facts.address import host_of

# Alarm classes of the knowledge table (knowledge.toml `class`): the ids come from there.
REPLICATION_CLASSES = ("replication", "primary-mismatch", "own-entry")
CLUSTER_CLASSES = ("communication", *REPLICATION_CLASSES, "invalid-clustering", "factory-reset")
MAINTENANCE_CLASSES = ("maintenance",)


def cluster_alarms() -> frozenset[str]:
    """Alarms that make a member unhealthy."""
    return alarm_ids(*CLUSTER_CLASSES)


def replication_alarms() -> frozenset[str]:
    """Alarms that say a member is out of sync (repair-replication's remedy)."""
    return alarm_ids(*REPLICATION_CLASSES)


def maintenance_alarms() -> frozenset[str]:
    """Alarms that say a peer is in maintenance mode (drained on purpose)."""
    return alarm_ids(*MAINTENANCE_CLASSES)


def in_maintenance(p: PeerFacts) -> tuple[str, ...]:
    """The maintenance-class alarms this peer raises (empty: not in maintenance as far
    as its alarms say), sorted."""
    return tuple(sorted({a.id for a in p.raised_alarms} & maintenance_alarms()))


def restart_alarm() -> str:
    """The alarm a saved change raises until the peer restarts."""
    return alarm_id("restart-required")


def restart_pending(p: PeerFacts) -> bool:
    """Read from the appliance (the restart-required alarm), never kept in memory."""
    return p.has_alarm(restart_alarm())


def factory_reset_pending(p: PeerFacts) -> bool:
    """The peer says its next restart resets it (status flag or alarm)."""
    by_status = bool(p.status and p.status.factory_reset_pending)
    return by_status or p.has_alarm(alarm_id("factory-reset"))


def unreadable(p: PeerFacts) -> str | None:
    """Why exops cannot judge this peer (None: it read everything health needs)."""
    if not p.reachable:
        return f"{p.host} unreachable ({p.error or 'no answer'})"
    if p.settings is None or p.status is None:
        return f"{p.host} could not be read ({p.error or 'no cluster settings or status'})"
    if p.error:
        return f"{p.host} answered garbled data ({p.error})"
    return None


def peer_problems(p: PeerFacts, *, ignore: Iterable[str] = ()) -> list[str]:
    """What keeps one member from being healthy (empty: healthy)."""
    why = unreadable(p)
    if why or p.status is None:  # unreadable() covers a missing status: never an assert
        return [why or f"{p.host} could not be read"]
    problems = []
    if p.status.database != "Active":
        problems.append(f"{p.host} database {p.status.database or 'unknown'}")
    bad = [e for e in p.status.peers if e.state is not PeerState.ACTIVE]
    if bad:
        problems.append(f"{p.host} sees " + ", ".join(f"{e.address} {e.state.value}" for e in bad))
    alarms = sorted({a.id for a in p.raised_alarms} & cluster_alarms() - set(ignore))
    if alarms:
        problems.append(f"{p.host} alarms {', '.join(alarms)}")
    return problems


def settled_problems(p: PeerFacts, *, ignore: Iterable[str] = ()) -> list[str]:
    """Healthy and no restart pending (a peer that finished restarting)."""
    problems = peer_problems(p, ignore=ignore)
    if not problems and restart_pending(p):
        problems.append(f"{p.host} restart pending (alarm {restart_alarm()})")
    return problems


def replication_problems(p: PeerFacts) -> list[str]:
    alarms = sorted({a.id for a in p.raised_alarms} & replication_alarms())
    return [f"{p.host} alarms {', '.join(alarms)}"] if alarms else []


def out_of_sync(p: PeerFacts) -> bool:
    return bool({a.id for a in p.raised_alarms} & replication_alarms())


def consensus_settings_peer(facts: ClusterFacts) -> PeerFacts | None:
    """The reachable peer whose view of the primary the most peers share.

    Peers that name the same primary by different forms (its FQDN, its IP, a
    trailing dot) vote for the same peer (``exops.facts.address``). Prefers
    the peer that names itself primary; ``None`` when no reachable peer lists
    any address.
    """
    views = [p for p in facts.peers if p.reachable and p.settings and not p.settings.is_empty]
    if not views:
        return None

    def vote(addr: str) -> tuple[str, str]:
        host = host_of(facts, addr)
        return ("host", host) if host else ("address", address_key(addr))

    named = {p.host: vote(a) for p in views if p.settings and (a := p.settings.primary_address)}
    votes = Counter(named.values())
    if not votes:
        return views[0]

    def names_itself(key: tuple[str, str]) -> bool:
        return key[0] == "host" and named.get(key[1]) == key

    # The peer most peers name; on a tie, one that agrees it is primary.
    primary = max(votes, key=lambda k: (votes[k], names_itself(k)))
    for p in views:
        if primary == ("host", p.host):
            return p
    return next(p for p in views if named.get(p.host) == primary)

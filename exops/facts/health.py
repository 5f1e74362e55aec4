"""Health: one definition of a healthy peer and cluster, for status, checks and waits.

A member is *healthy* when exops read it (reachable, and its settings, status
and alarms all parsed: anything unknown never passes), its cluster database
is Active, every peer it lists is Active as it sees them, and it raises no
cluster alarm (communication 20004/20006, replication errors, primary
mismatch, invalid clustering configuration, factory reset pending). A
restart pending (20007) is not ill health but unfinished work: ``settled``
adds it. ``exops status`` reports both and every other raised alarm;
preflight ``cluster_health`` and the ``cluster_healthy`` / ``peer_healthy``
waits use exactly these functions (docs/architecture.md, "Health").
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable

from exops.core.models import ClusterFacts, PeerFacts, PeerState

COMMUNICATION_ALARMS = frozenset({"20004", "20006"})
REPLICATION_ALARMS = frozenset({"20101", "20102", "20103", "20104", "20105", "20110"})
FACTORY_RESET_ALARM = "20107"
INVALID_CLUSTERING_ALARM = "20106"
RESTART_REQUIRED = "20007"
CLUSTER_ALARMS = (
    COMMUNICATION_ALARMS | REPLICATION_ALARMS | {FACTORY_RESET_ALARM, INVALID_CLUSTERING_ALARM}
)


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
    alarms = sorted({a.id for a in p.raised_alarms} & CLUSTER_ALARMS - set(ignore))
    if alarms:
        problems.append(f"{p.host} alarms {', '.join(alarms)}")
    return problems


def settled_problems(p: PeerFacts, *, ignore: Iterable[str] = ()) -> list[str]:
    """Healthy and no restart pending (a peer that finished restarting)."""
    problems = peer_problems(p, ignore=ignore)
    if not problems and p.has_alarm(RESTART_REQUIRED):
        problems.append(f"{p.host} restart pending (alarm {RESTART_REQUIRED})")
    return problems


def cluster_problems(peers: Iterable[PeerFacts], *, ignore: Iterable[str] = ()) -> list[str]:
    out: list[str] = []
    for p in peers:
        out += peer_problems(p, ignore=ignore)
    return out


def replication_problems(p: PeerFacts) -> list[str]:
    alarms = sorted({a.id for a in p.raised_alarms} & REPLICATION_ALARMS)
    return [f"{p.host} alarms {', '.join(alarms)}"] if alarms else []


def out_of_sync(p: PeerFacts) -> bool:
    return bool({a.id for a in p.raised_alarms} & REPLICATION_ALARMS)


def designates(peer: PeerFacts, address: str) -> bool:
    return address.lower() in {peer.address.lower(), peer.fqdn.lower()} - {""}


def consensus_settings_peer(facts: ClusterFacts) -> PeerFacts | None:
    """The reachable peer whose view of the primary the most peers share.

    Prefers the peer that names itself primary; ``None`` when no reachable
    peer lists any address.
    """
    views = [p for p in facts.peers if p.reachable and p.settings and not p.settings.is_empty]
    if not views:
        return None
    votes = Counter(
        addr.lower() for p in views if p.settings and (addr := p.settings.primary_address)
    )
    if not votes:
        return views[0]

    def names_itself(addr: str) -> bool:
        return any(
            designates(p, addr) and (p.settings.primary_address or "").lower() == addr
            for p in views
            if p.settings
        )

    # The address most peers name; on a tie, one whose peer agrees it is primary.
    primary_address = max(votes, key=lambda a: (votes[a], names_itself(a)))
    for p in views:
        if p.settings and designates(p, primary_address):
            return p
    return next(
        p
        for p in views
        if p.settings and (p.settings.primary_address or "").lower() == primary_address
    )

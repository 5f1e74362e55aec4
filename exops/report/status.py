"""Cluster status: a verdict, the per-peer rows and the capacity note (pure).

``summarize(facts) -> ClusterReport`` is what ``exops status`` prints as a
table and as JSON (schema ``exops.status/1``, documented in the README).
"""

from __future__ import annotations

from enum import StrEnum

from exops.core.models import ClusterFacts, ClusterSettings, Frozen, PeerFacts, PeerState, is_ip
from exops.facts.health import (
    COMMUNICATION_ALARMS,
    FACTORY_RESET_ALARM,
    REPLICATION_ALARMS,
    RESTART_REQUIRED,
    consensus_settings_peer,
    peer_problems,
)
from exops.facts.health import designates as _designates

SCHEMA = "exops.status/1"
CAPACITY_PEERS = 4  # peers 5 and 6 add resilience, not capacity
__all__ = [
    "COMMUNICATION_ALARMS",
    "REPLICATION_ALARMS",
    "ClusterReport",
    "Verdict",
    "consensus_settings_peer",
    "summarize",
]


class Verdict(StrEnum):
    HEALTHY = "healthy"
    DEGRADED = "degraded"
    BROKEN = "broken"
    UNCLUSTERED = "unclustered"


class PeerRow(Frozen):
    slot: int | None
    host: str
    address: str
    listed_as: str | None  # the address the cluster lists it under (IP or FQDN)
    reachable: bool
    is_primary: bool
    primary_seen: int | None  # the slot this peer names as primary
    state: str | None  # as the primary sees it (Active / Unknown / Failed)
    database: str | None
    replication: str | None
    tls_mode: str | None
    alarms: tuple[str, ...]
    restart_pending: bool
    factory_reset_pending: bool
    version: str | None
    role: str | None
    platform: str | None
    transport: str
    error: str | None


class Capacity(Frozen):
    members: int
    factor: int
    note: str


class AlarmNote(Frozen):
    """One raised alarm as status shows it: what it is and the exops command for it."""

    host: str
    id: str
    title: str
    fix: str  # "" when no exops command addresses it


class ClusterReport(Frozen):
    cluster: str
    verdict: Verdict
    reasons: tuple[str, ...]
    root_cause: str  # one short sentence: the first thing to fix
    cluster_name: str | None
    primary_host: str | None
    primary_slot: int | None
    tls_mode: str | None
    capacity: Capacity
    peers: tuple[PeerRow, ...]
    alarms: tuple[AlarmNote, ...] = ()


def capacity(members: list[PeerFacts]) -> Capacity:
    n = len(members)
    small = any(p.system and (p.system.platform or "").lower() == "small" for p in members)
    if n <= 1:
        return Capacity(members=n, factor=1, note="single peer: no resilience")
    if small:
        return Capacity(
            members=n, factor=1, note="small VMs: a cluster gives redundancy, no capacity"
        )
    factor = min(n, CAPACITY_PEERS)
    note = f"capacity x{factor}"
    if n > CAPACITY_PEERS:
        note += f"; peers {CAPACITY_PEERS + 1}-{n} add resilience only"
    return Capacity(members=n, factor=factor, note=note)


def summarize(facts: ClusterFacts) -> ClusterReport:
    ref = consensus_settings_peer(facts)
    ref_settings = ref.settings if ref else None
    listed = ref_settings.listed if ref_settings else ()
    primary_addr = ref_settings.primary_address if ref_settings else None
    primary = next((p for p in facts.peers if primary_addr and _designates(p, primary_addr)), None)
    seen_by_primary = {}
    if primary and primary.status:
        seen_by_primary = {e.address.lower(): e.state.value for e in primary.status.peers}
    rows = []
    for p in facts.peers:
        slot = _slot(listed, p)
        rows.append(
            PeerRow(
                slot=slot,
                host=p.host,
                address=p.address,
                listed_as=listed[slot - 1] if slot else None,
                reachable=p.reachable,
                is_primary=primary is not None and p.host == primary.host,
                primary_seen=p.settings.primary if p.settings and p.settings.primary else None,
                state=_state_of(p, seen_by_primary),
                database=p.status.database if p.status else None,
                replication=p.status.replication if p.status else None,
                tls_mode=p.settings.tls_mode.value if p.settings else None,
                alarms=tuple(sorted({a.id for a in p.raised_alarms})),
                restart_pending=p.restart_pending,
                factory_reset_pending=_reset_pending(p),
                version=p.system.version if p.system else None,
                role=p.system.role.value if p.system and p.system.role else None,
                platform=p.system.platform if p.system else None,
                transport=p.transport,
                error=p.error,
            )
        )
    rows.sort(key=lambda r: (r.slot is None, r.slot or 0, r.host))
    members = [p for p in facts.peers if _slot(listed, p) is not None]
    verdict, reasons = _verdict(facts, rows, listed, primary)
    return ClusterReport(
        cluster=facts.cluster,
        verdict=verdict,
        reasons=tuple(reasons),
        root_cause=root_cause(verdict, reasons, rows, ref_settings),
        cluster_name=ref_settings.cluster_name or None if ref_settings else None,
        primary_host=primary.host if primary else None,
        primary_slot=ref_settings.primary if ref_settings and ref_settings.primary else None,
        tls_mode=ref_settings.tls_mode.value if ref_settings else None,
        capacity=capacity(members),
        peers=tuple(rows),
        alarms=alarm_notes(facts),
    )


def alarm_notes(facts: ClusterFacts) -> tuple[AlarmNote, ...]:
    """Every raised alarm with its title and the command that addresses it (catalogue)."""
    from exops.appliance.knowledge import ALARM_BY_ID
    from exops.report.remedy import alarm_fix

    notes = []
    for p in facts.peers:
        for a in p.raised_alarms:
            info = ALARM_BY_ID.get(a.id)
            title = info.title if info else (a.title or "unknown alarm")
            fix = alarm_fix(a.id, p, facts)
            notes.append(AlarmNote(host=p.host, id=a.id, title=title, fix=fix))
    return tuple(notes)


def root_cause(
    verdict: Verdict,
    reasons: list[str],
    rows: list[PeerRow],
    settings: ClusterSettings | None,
) -> str:
    """The first thing to fix, in one short sentence (the reasons list the rest)."""
    if verdict is Verdict.HEALTHY:
        return "healthy"
    if verdict is Verdict.UNCLUSTERED:
        return "not clustered: no peer lists any cluster peer address"
    enforce = settings is not None and settings.tls_mode.value == "Enforce"
    for r in rows:
        if r.factory_reset_pending:
            return f"{r.host} has every peer slot empty and will factory reset at its next restart"
    for r in rows:
        if r.slot and not r.reachable:
            return f"{r.host} does not answer ({r.error or 'unreachable'})"
    for r in rows:
        if r.slot and r.error:
            return f"{r.host} could not be read: {r.error}"
    if enforce:
        for r in rows:
            if r.slot and r.listed_as and is_ip(r.listed_as) and r.state != PeerState.ACTIVE.value:
                return f"{r.host} is listed by IP address in TLS Enforce mode"
    return reasons[0] if reasons else verdict.value


def _slot(listed: tuple[str, ...], peer: PeerFacts) -> int | None:
    for i, a in enumerate(listed, start=1):
        if _designates(peer, a):
            return i
    return None


def _state_of(peer: PeerFacts, seen: dict[str, str]) -> str | None:
    for key in (peer.address.lower(), peer.fqdn.lower()):
        if key and key in seen:
            return seen[key]
    return None


def _reset_pending(peer: PeerFacts) -> bool:
    by_status = bool(peer.status and peer.status.factory_reset_pending)
    return by_status or peer.has_alarm(FACTORY_RESET_ALARM)


def _verdict(
    facts: ClusterFacts, rows: list[PeerRow], listed: tuple[str, ...], primary: PeerFacts | None
) -> tuple[Verdict, list[str]]:
    broken: list[str] = []
    degraded: list[str] = []
    if not listed:
        unreachable = [r.host for r in rows if not r.reachable]
        if unreachable:
            return Verdict.BROKEN, [f"unreachable: {', '.join(unreachable)}"]
        unread = [p for p in facts.peers if p.settings is None]  # unknown is not "unclustered"
        if unread:
            return Verdict.BROKEN, [f"{p.host}: settings not read: {p.error}" for p in unread]
        return Verdict.UNCLUSTERED, ["no peer lists any cluster peer address"]
    members = [r for r in rows if r.slot is not None]
    if primary is None:
        broken.append("no reachable configuration primary")
    elif not primary.reachable:
        broken.append(f"configuration primary {primary.host} is unreachable")
    for r in rows:
        if r.factory_reset_pending:
            broken.append(
                f"{r.host}: every peer slot is empty; it will factory reset at its next "
                f"restart. Undo first: exops restore -c {facts.cluster} --peer {r.host}"
            )
    views = {r.primary_seen for r in members if r.reachable and r.primary_seen}
    if len(views) > 1:
        broken.append(f"peers disagree on the configuration primary (slots {sorted(views)})")
    by_host = {p.host: p for p in facts.peers}
    for r in members:
        degraded += _member_problems(r, by_host[r.host])
    if broken:
        return Verdict.BROKEN, broken + degraded
    if degraded:
        return Verdict.DEGRADED, degraded
    return Verdict.HEALTHY, [f"{len(members)} peers active, no alarms"]


def _member_problems(r: PeerRow, peer: PeerFacts) -> list[str]:
    """exops.facts.health's problems, plus what status also reports: the peer's state as
    the primary sees it, a pending restart, and every other raised alarm."""
    problems = peer_problems(peer)
    if not peer.reachable or (problems[:1] and "could not be read" in problems[0]):
        return problems
    if r.state and r.state != PeerState.ACTIVE.value:
        problems.append(f"{r.host} is {r.state} as seen by the primary")
    if r.restart_pending:
        problems.append(f"{r.host} restart pending (alarm {RESTART_REQUIRED})")
    shown = {a for p in problems if " alarms " in p for a in p.split(" alarms ")[1].split(", ")}
    other = [a for a in r.alarms if a != RESTART_REQUIRED and a not in shown]
    if other:
        problems.append(f"{r.host} alarms {', '.join(other)}")
    return problems

"""Cluster status: a verdict, the per-peer rows and the capacity note (pure).

``summarize(facts) -> ClusterReport`` is what ``exops status`` prints as a
table and as JSON (schema ``exops.status/1``, documented in the README).
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from typing import Any

from exops.core.models import (
    CAPACITY_PEERS,
    MAX_PEERS,
    ClusterFacts,
    ClusterSettings,
    Frozen,
    PeerFacts,
    PeerState,
    address_key,
    is_ip,
)
from exops.facts.address import designates, host_of, same_peer
from exops.facts.health import (
    consensus_settings_peer,
    factory_reset_pending,
    in_maintenance,
    peer_problems,
    restart_alarm,
    restart_pending,
    unreadable,
)

SCHEMA = "exops.status/1"
__all__ = [
    "ClusterReport",
    "RunHolder",
    "Verdict",
    "consensus_settings_peer",
    "summarize",
]


class Verdict(StrEnum):
    HEALTHY = "healthy"
    DEGRADED = "degraded"
    BROKEN = "broken"
    UNCLUSTERED = "unclustered"
    # Too little was read to decide: no peer answered, or what was not read could hide
    # the answer (an unread member, an unread peer of a cluster that looks unclustered).
    UNKNOWN = "unknown"


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
    # Added to exops.status/1 (fields are only ever added): the peer raises an alarm of
    # the knowledge table's class "maintenance" (drained on purpose; off at its restart).
    maintenance: bool = False
    # Added to exops.status/1: the DNS and NTP servers as `exops check` reads them (the
    # same parsers); null when unknown, with why in *_unknown (never "none" for unread).
    dns_servers: tuple[str, ...] | None = None
    dns_servers_unknown: str | None = None
    ntp_servers: tuple[str, ...] | None = None
    ntp_servers_unknown: str | None = None


class RunHolder(Frozen):
    """The run holding the cluster's lock now (added to exops.status/1): from the lock's
    holder record (runbook, since, who), the run id from the journal when it names it."""

    runbook: str | None
    run_id: str | None  # None: the journal does not name it (yet)
    since: str | None  # ISO 8601, as the lock recorded it
    user: str | None
    host: str | None
    pid: int | None


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
    # Added to exops.status/1: the run holding the cluster's lock (None: no run holds
    # it). Filled by the caller that can read the state store (report is pure).
    run_in_progress: RunHolder | None = None


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
    primary = next((p for p in facts.peers if primary_addr and designates(p, primary_addr)), None)
    seen_by_primary: tuple[tuple[str, str], ...] = ()
    if primary and primary.status:
        seen_by_primary = tuple((e.address, e.state.value) for e in primary.status.peers)
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
                restart_pending=restart_pending(p),
                factory_reset_pending=factory_reset_pending(p),
                version=p.system.version if p.system else None,
                role=p.system.role.value if p.system and p.system.role else None,
                platform=p.system.platform if p.system else None,
                transport=p.transport,
                error=p.error,
                maintenance=bool(in_maintenance(p)),
                **_servers(p),
            )
        )
    rows.sort(key=lambda r: (r.slot is None, r.slot or 0, r.host))
    members = [p for p in facts.peers if _slot(listed, p) is not None]
    verdict, reasons = _verdict(facts, rows, listed, primary)
    return ClusterReport(
        cluster=facts.cluster,
        verdict=verdict,
        reasons=tuple(reasons),
        root_cause=root_cause(
            verdict, reasons, rows, ref_settings, {p.host: p.unreachable_kind for p in facts.peers}
        ),
        cluster_name=ref_settings.cluster_name or None if ref_settings else None,
        primary_host=primary.host if primary else None,
        primary_slot=ref_settings.primary if ref_settings and ref_settings.primary else None,
        tls_mode=ref_settings.tls_mode.value if ref_settings else None,
        capacity=capacity(members),
        peers=tuple(rows),
        alarms=alarm_notes(facts),
    )


def _servers(p: PeerFacts) -> dict[str, Any]:
    """A peer's DNS and NTP servers as read (``SystemInfo``), or None with why."""
    out: dict[str, Any] = {}
    for name in ("dns_servers", "ntp_servers"):
        why = p.unknown.get(f"system.{name}")
        value = getattr(p.system, name, None) if p.system is not None else None
        if why is None and value is None:
            why = (
                f"{p.host} unreachable"
                if not p.reachable
                else (p.error or "the system read gave nothing")
            )
        out[name] = None if why is not None else value
        out[f"{name}_unknown"] = why
    return out


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


_SAID = {
    Verdict.HEALTHY: "healthy",
    Verdict.UNCLUSTERED: "not clustered: no peer lists any cluster peer address",
}


def root_cause(
    verdict: Verdict,
    reasons: list[str],
    rows: list[PeerRow],
    settings: ClusterSettings | None,
    kinds: Mapping[str, str] | None = None,
) -> str:
    """The first thing to fix, in one short sentence (the reasons list the rest).
    ``kinds``: host -> why it is unreachable (``PeerFacts.unreachable_kind``): a peer
    whose certificate or SSH host key does not verify answered, as someone exops
    cannot trust (possible impersonation), which is not "does not answer"."""
    if verdict in _SAID:
        return _SAID[verdict]
    if verdict is Verdict.UNKNOWN:
        return _unknown_cause(reasons, rows, kinds or {})
    enforce = settings is not None and settings.tls_mode.value == "Enforce"
    for r in rows:
        if r.factory_reset_pending:
            return f"{r.host} has every peer slot empty and will factory reset at its next restart"
    for r in rows:
        if r.slot and not r.reachable:
            return _unreachable_cause(r, (kinds or {}).get(r.host, ""))
    for r in rows:
        if r.slot and r.error:
            return f"{r.host} could not be read: {r.error}"
    if enforce:
        for r in rows:
            if r.slot and r.listed_as and is_ip(r.listed_as) and r.state != PeerState.ACTIVE.value:
                return f"{r.host} is listed by IP address in TLS Enforce mode"
    return reasons[0] if reasons else verdict.value


def _unknown_cause(reasons: list[str], rows: list[PeerRow], kinds: Mapping[str, str]) -> str:
    """No peer read at all: that, with each peer's why. Else a peer exops cannot trust
    is the first thing to look at; else the first reason."""
    if reasons and reasons[0].startswith("no peer could be read"):
        return reasons[0]
    for r in rows:
        if kinds.get(r.host) in _NOT_ABOUT_THE_PEER:
            return _unreachable_cause(r, kinds[r.host])
    return reasons[0] if reasons else "nothing could be read"


def _unreachable_cause(r: PeerRow, kind: str) -> str:
    if kind == "tls":  # it answered, as someone exops cannot verify
        return (
            f"{r.host} cannot be trusted: {r.error or 'its identity does not verify'}; "
            "check the peer's certificate or SSH host key before anything else"
        )
    if kind == "auth":
        return f"{r.host} refuses exops's credentials ({r.error or 'login refused'})"
    return f"{r.host} does not answer ({r.error or 'unreachable'})"


def _slot(listed: tuple[str, ...], peer: PeerFacts) -> int | None:
    for i, a in enumerate(listed, start=1):
        if designates(peer, a):
            return i
    return None


def _state_of(peer: PeerFacts, seen: tuple[tuple[str, str], ...]) -> str | None:
    return next((state for address, state in seen if designates(peer, address)), None)


# Why a peer did not answer that says nothing about the peer: exops's own trust
# (certificate, host key, known_hosts) or credentials.
_NOT_ABOUT_THE_PEER = ("tls", "auth")


def _unread(p: PeerFacts) -> str | None:
    """Why exops has no facts of this peer to judge by (None: it read them, or the
    peer did not answer at all, which is itself a fact: unreachable)."""
    if not p.reachable:
        if p.unreachable_kind in _NOT_ABOUT_THE_PEER:
            return f"{p.host} could not be read ({p.error or p.unreachable_kind})"
        return None
    return unreadable(p)


def _without_a_listing(
    facts: ClusterFacts, listed: tuple[str, ...]
) -> tuple[Verdict, list[str]] | None:
    """The verdict when no peer read gives the cluster's list: no peer read at all
    (unknown), some peer not read (unknown: it may list the others), every peer read
    and none lists anything (unclustered); None when a list was read."""

    def why(p: PeerFacts) -> str:
        return _unread(p) or f"{p.host} unreachable ({p.error or 'no answer'})"

    if not any(p.reachable and p.settings is not None for p in facts.peers):
        said = "; ".join(why(p) for p in facts.peers) or "no peer in the inventory"
        return Verdict.UNKNOWN, [f"no peer could be read: {said}"]
    if listed:
        return None
    missing = [why(p) for p in facts.peers if not p.reachable or p.settings is None]
    if missing:
        return Verdict.UNKNOWN, [
            "the peers read list no cluster peer, but not every peer could be read: "
            + "; ".join(missing)
        ]
    return Verdict.UNCLUSTERED, ["no peer lists any cluster peer address"]


def _verdict(
    facts: ClusterFacts, rows: list[PeerRow], listed: tuple[str, ...], primary: PeerFacts | None
) -> tuple[Verdict, list[str]]:
    """The verdict from facts read only; ``UNKNOWN`` with the reasons when they are
    too few to decide (every verdict: docs/safety.md, "Unknown is never a state")."""
    unlisted = _without_a_listing(facts, listed)
    if unlisted is not None:
        return unlisted
    members = [r for r in rows if r.slot is not None]
    by_host = {p.host: p for p in facts.peers}
    broken, unknown = _primary_problems(primary)
    broken += [
        f"{r.host}: every peer slot is empty; it will factory reset at its next "
        f"restart. Undo first: exops restore -c {facts.cluster} --peer {r.host}"
        for r in rows
        if r.factory_reset_pending
    ]
    views = {r.primary_seen for r in members if r.reachable and r.primary_seen}
    if len(views) > 1:
        broken.append(f"peers disagree on the configuration primary (slots {sorted(views)})")
    degraded: list[str] = []
    drained: list[str] = []  # deliberate, said after any fault (never the root cause over one)
    for r in members:
        peer = by_host[r.host]
        why = _unread(peer)
        if why and peer is not primary:  # an unread primary is named above
            unknown.append(why)
        elif not why:
            degraded += _member_problems(r, peer)
            drained += maintenance_notes(peer)
    degraded += list_form_findings(facts, [by_host[r.host] for r in members])
    return _worst(broken, degraded + drained, unknown, len(members))


def maintenance_notes(p: PeerFacts) -> list[str]:
    """A peer in maintenance mode (an alarm of class "maintenance"), said as the
    deliberate state it is: neither healthy-and-silent nor an unexplained fault."""
    ids = in_maintenance(p)
    if not ids:
        return []
    return [
        f"{p.host} is in maintenance mode (alarm {', '.join(ids)}): drained on purpose, new "
        "calls and registrations go to the other peers; it ends on the web page "
        "(Maintenance > Maintenance mode) or at the peer's restart"
    ]


def _primary_problems(primary: PeerFacts | None) -> tuple[list[str], list[str]]:
    """(broken, unknown) reasons about the configuration primary."""
    if primary is None:
        return ["no reachable configuration primary"], []
    why = _unread(primary)
    if why:
        return [], [f"configuration primary {why}"]
    if not primary.reachable:
        return [f"configuration primary {primary.host} is unreachable"], []
    return [], []


def _worst(
    broken: list[str], degraded: list[str], unknown: list[str], members: int
) -> tuple[Verdict, list[str]]:
    """Broken or degraded when facts read say so (what was not read is listed after);
    unknown when only unread peers stand between the cluster and healthy."""
    if broken:
        return Verdict.BROKEN, broken + degraded + unknown
    if degraded:
        return Verdict.DEGRADED, degraded + unknown
    if unknown:
        return Verdict.UNKNOWN, unknown
    return Verdict.HEALTHY, [f"{members} peers active, no alarms"]


def _member_problems(r: PeerRow, peer: PeerFacts) -> list[str]:
    """exops.facts.health's problems, plus what status also reports: the peer's state as
    the primary sees it, a pending restart, and every other raised alarm."""
    problems = peer_problems(peer)
    if not peer.reachable or (problems[:1] and "could not be read" in problems[0]):
        return problems
    if r.state and r.state != PeerState.ACTIVE.value:
        problems.append(f"{r.host} is {r.state} as seen by the primary")
    restart = restart_alarm()
    if r.restart_pending:
        problems.append(f"{r.host} restart pending (alarm {restart})")
    shown = {a for p in problems if " alarms " in p for a in p.split(" alarms ")[1].split(", ")}
    shown |= set(in_maintenance(peer))  # said by maintenance_notes
    other = [a for a in r.alarms if a != restart and a not in shown]
    if other:
        problems.append(f"{r.host} alarms {', '.join(other)}")
    return problems


def list_form_findings(facts: ClusterFacts, members: list[PeerFacts]) -> list[str]:
    """Slots where the members' lists name the same peer by different addresses (its
    FQDN here, its IP there): every peer must hold the same list (domain doc 3.2),
    so each is a finding with its remedy, never healthy. Case and a trailing dot
    are not differences (exops.facts.address)."""
    lists = [(p.host, s) for p in members if p.reachable and (s := p.settings) and not s.is_empty]
    findings = []
    for slot in range(1, MAX_PEERS + 1):
        holders: dict[str, list[str]] = {}  # address_key -> the hosts listing that form
        forms: dict[str, str] = {}  # address_key -> the text as the first holder lists it
        for host, settings in lists:
            text = settings.peers[slot - 1]
            if text:
                holders.setdefault(address_key(text), []).append(host)
                forms.setdefault(address_key(text), text)
        keys = list(holders)
        if len(keys) < 2 or not all(same_peer(facts, forms[k], forms[keys[0]]) for k in keys):
            continue  # one form, or different peers: not a difference of form
        common = max(keys, key=lambda k: len(holders[k]))
        who = host_of(facts, forms[common])
        for k in keys:
            if k == common:
                continue
            odd = ", ".join(holders[k])
            findings.append(
                f"{odd} list{'s' if len(holders[k]) == 1 else ''} {who} in slot {slot} as "
                f"{forms[k]}, {', '.join(holders[common])} as {forms[common]}: every peer "
                f"must hold the same list. Run exops convert-fqdn -c {facts.cluster} "
                f"(every peer by FQDN), or put the address you want in slot {slot} on {odd}"
            )
    return findings

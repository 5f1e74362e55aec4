"""Preflight checks: the clustering prerequisites (domain doc section 2), pure on facts.

Each check looks at the peers in scope (the cluster's members, plus the peer
being added), and returns pass / warn / fail with the value it saw on each
peer as evidence. ``CHECKS`` is fixed at import.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

from exops.appliance.knowledge import PER_PEER_LICENCES
from exops.health import CLUSTER_ALARMS, out_of_sync, peer_problems
from exops.models import MAX_PEERS, ClusterFacts, PeerFacts, Role, is_ip
from exops.plan import CheckOutcome, CheckResult
from exops.runbook.view import ClusterView

MAX_RTT_MS = 80.0

Check = Callable[[ClusterView, list[PeerFacts], str | None], CheckResult]


def _result(
    name: str, ok: bool, summary: str, evidence: dict[str, str], *, warn: bool = False
) -> CheckResult:
    outcome = CheckOutcome.PASS if ok else (CheckOutcome.WARN if warn else CheckOutcome.FAIL)
    return CheckResult(name=name, outcome=outcome, summary=summary, evidence=evidence)


def _unreachable(p: PeerFacts) -> str:
    return f"unreachable: {p.error or 'no answer'}"


def _same(
    name: str, scope: list[PeerFacts], value: Callable[[PeerFacts], str | None], what: str
) -> CheckResult:
    evidence: dict[str, str] = {}
    seen = set()
    missing = []
    for p in scope:
        v = value(p) if p.reachable and p.system else None
        if v is None:
            evidence[p.host] = _unreachable(p) if not p.reachable else "unknown"
            missing.append(p.host)
        else:
            evidence[p.host] = v
            seen.add(v)
    if missing:
        return _result(name, False, f"cannot read the {what} of {', '.join(missing)}", evidence)
    if len(seen) > 1:
        return _result(name, False, f"peers differ in {what}: {', '.join(sorted(seen))}", evidence)
    return _result(name, True, f"every peer has the same {what}", evidence)


def check_reachable(view: ClusterView, scope: list[PeerFacts], new: str | None) -> CheckResult:
    evidence = {p.host: ("answers" if p.reachable else _unreachable(p)) for p in scope}
    down = [p.host for p in scope if not p.reachable]
    return _result(
        "reachable",
        not down,
        f"unreachable: {', '.join(down)}" if down else "every peer answers",
        evidence,
    )


def check_size(view: ClusterView, scope: list[PeerFacts], new: str | None) -> CheckResult:
    size = view.size + (1 if new and not view.listed(new) else 0)
    evidence = {
        "cluster": f"{view.size} listed" + (f" + {new}" if new and not view.listed(new) else "")
    }
    if size > MAX_PEERS:
        return _result(
            "size",
            False,
            f"a cluster holds at most {MAX_PEERS} peers; this would make {size}",
            evidence,
        )
    if size > 4 and new and not view.listed(new):
        return _result(
            "size",
            False,
            f"peer {size} adds resilience only: capacity stops at 4 peers",
            evidence,
            warn=True,
        )
    return _result("size", True, f"{size} peers (at most {MAX_PEERS})", evidence)


def check_role(view: ClusterView, scope: list[PeerFacts], new: str | None) -> CheckResult:
    return _same(
        "role", scope, lambda p: p.system.role.value if p.system and p.system.role else None, "role"
    )


def check_version(view: ClusterView, scope: list[PeerFacts], new: str | None) -> CheckResult:
    return _same(
        "version", scope, lambda p: p.system.version if p.system else None, "software version"
    )


def check_platform(view: ClusterView, scope: list[PeerFacts], new: str | None) -> CheckResult:
    return _same(
        "platform",
        scope,
        lambda p: (p.system.platform or p.system.hardware) if p.system else None,
        "platform / VM size",
    )


def check_h323(view: ClusterView, scope: list[PeerFacts], new: str | None) -> CheckResult:
    evidence = {
        p.host: (
            {True: "On", False: "Off", None: "unknown"}[p.system.h323_enabled]
            if p.system
            else _unreachable(p)
        )
        for p in scope
    }
    off = [h for h, v in evidence.items() if v != "On"]
    return _result(
        "h323",
        not off,
        f"H.323 mode must be On (clustering uses it): {', '.join(off)}"
        if off
        else "H.323 mode On everywhere",
        evidence,
    )


def _keys(p: PeerFacts) -> frozenset[str]:
    assert p.system is not None
    return frozenset(
        k.description
        for k in p.system.option_keys
        if not any(lic in k.description.lower() for lic in PER_PEER_LICENCES)
    )


def check_option_keys(view: ClusterView, scope: list[PeerFacts], new: str | None) -> CheckResult:
    evidence: dict[str, str] = {}
    sets = {}
    for p in scope:
        if p.system is None:
            evidence[p.host] = _unreachable(p)
            continue
        sets[p.host] = _keys(p)
        evidence[p.host] = ", ".join(sorted(sets[p.host])) or "none"
    if len(sets) < len(scope):
        return _result("option_keys", False, "cannot read every peer's option keys", evidence)
    distinct = set(sets.values())
    if len(distinct) > 1:
        union = frozenset().union(*distinct)
        diff = {h: sorted(union - s) for h, s in sets.items() if union - s}
        text = "; ".join(f"{h} lacks {', '.join(d)}" for h, d in diff.items())
        return _result(
            "option_keys", False, f"option keys differ (licence counts excepted): {text}", evidence
        )
    return _result("option_keys", True, "same option keys (per-peer licences excepted)", evidence)


def check_base_network(view: ClusterView, scope: list[PeerFacts], new: str | None) -> CheckResult:
    evidence: dict[str, str] = {}
    bad = []
    for p in scope:
        if p.system is None:
            evidence[p.host] = _unreachable(p)
            bad.append(p.host)
            continue
        s = p.system
        evidence[p.host] = (
            f"DNS {','.join(s.dns_servers) or 'none'}; NTP {','.join(s.ntp_servers) or 'none'}"
        )
        if not s.dns_servers or not s.ntp_servers:
            bad.append(p.host)
    return _result(
        "base_network",
        not bad,
        f"DNS and NTP servers missing on {', '.join(bad)}"
        if bad
        else "DNS and NTP configured everywhere",
        evidence,
    )


def check_e_nic(view: ClusterView, scope: list[PeerFacts], new: str | None) -> CheckResult:
    evidence: dict[str, str] = {}
    bad = []
    for p in scope:
        if p.system is None or p.system.role is not Role.EXPRESSWAY_E:
            evidence[p.host] = "not an Expressway-E" if p.system else _unreachable(p)
            continue
        lan1, lan2 = p.system.lan1, p.system.lan2
        target = (
            p.address
            if is_ip(p.address)
            else (p.fqdn_addresses[0] if p.fqdn_addresses else p.address)
        )
        evidence[p.host] = (
            f"cluster address {p.address} ({target}); LAN1 {lan1}; LAN2 {lan2 or 'off'}"
        )
        if lan1 and target != lan1:
            bad.append(p.host)
    return _result(
        "e_nic",
        not bad,
        f"cluster on LAN1 (internal) required: {', '.join(bad)}"
        if bad
        else "Expressway-E peers cluster on LAN1",
        evidence,
    )


def check_tls_names(view: ClusterView, scope: list[PeerFacts], new: str | None) -> CheckResult:
    now = datetime.now(UTC)
    evidence: dict[str, str] = {}
    bad = []
    issuers = {p.certificate.issuer for p in scope if p.certificate}
    for p in scope:
        slot = view.slot_of(p.host)
        listed = view.settings.peers[slot - 1] if slot else p.address
        cert = p.certificate
        if cert is None:
            evidence[p.host] = _unreachable(p) if not p.reachable else "no certificate"
            bad.append(p.host)
            continue
        problems = []
        if is_ip(listed):
            problems.append(f"listed as IP {listed}, not an FQDN")
        elif listed.lower() not in [s.lower() for s in cert.sans]:
            problems.append(f"{listed} not in SANs {list(cert.sans)}")
        if not cert.valid_at(now):
            problems.append(
                f"expired or not yet valid ({cert.not_before:%Y-%m-%d}..{cert.not_after:%Y-%m-%d})"
            )
        if cert.self_signed:
            problems.append("self-signed")
        untrusted = sorted(i for i in issuers if i not in p.trust_store)
        if untrusted:
            problems.append(f"does not trust {', '.join(untrusted)}")
        evidence[p.host] = "; ".join(problems) or f"{listed} in SANs, issuer {cert.issuer}, valid"
        if problems:
            bad.append(p.host)
    return _result(
        "tls_names",
        not bad,
        f"TLS Enforce would break: {', '.join(bad)}"
        if bad
        else "every peer address is an FQDN in its certificate, trusted by all",
        evidence,
    )


def check_latency(view: ClusterView, scope: list[PeerFacts], new: str | None) -> CheckResult:
    """exops cannot measure peer-to-peer RTT; it bounds it by the sum of its own RTTs."""
    evidence = {
        p.host: f"{p.rtt_ms:.1f} ms from exops" if p.rtt_ms is not None else _unreachable(p)
        for p in scope
    }
    rtts = sorted((p.rtt_ms for p in scope if p.rtt_ms is not None), reverse=True)
    if len(rtts) < len(scope):
        return _result("latency", False, "round trip unknown for some peers", evidence, warn=True)
    bound = sum(rtts[:2]) if len(rtts) >= 2 else (rtts[0] if rtts else 0.0)
    summary = (
        f"peer-to-peer round trip bounded by {bound:.1f} ms (sum of the two largest exops round "
        f"trips; limit {MAX_RTT_MS:.0f} ms)"
    )
    if bound <= MAX_RTT_MS:
        return _result("latency", True, summary, evidence)
    return _result("latency", False, summary + ": measure between the peers", evidence, warn=True)


def check_cluster_health(view: ClusterView, scope: list[PeerFacts], new: str | None) -> CheckResult:
    evidence: dict[str, str] = {}
    bad = []
    for p in scope:
        problems = peer_problems(p)  # exops.health: the one definition
        if p.status is None or (problems and not p.reachable):
            evidence[p.host] = problems[0] if problems else "no status"
            bad.append(p.host)
            continue
        states = {e.state for e in p.status.peers}
        alarms = sorted({a.id for a in p.raised_alarms} & CLUSTER_ALARMS)
        evidence[p.host] = (
            f"database {p.status.database}; peers {','.join(sorted(s.value for s in states))}"
            + (f"; alarms {','.join(alarms)}" if alarms else "")
            + (f"; {problems[0]}" if problems and "garbled" in problems[0] else "")
        )
        if problems:
            bad.append(p.host)
    unsynced = [p.host for p in scope if out_of_sync(p)]
    summary = f"not healthy: {', '.join(bad)}" if bad else "healthy"
    if unsynced:  # domain doc section 4: the remedy exops offers
        summary += (
            f"; replication alarms on {', '.join(unsynced)}: "
            f"run exops repair-replication -c {view.facts.cluster} first"
        )
    return _result("cluster_health", not bad, summary, evidence)


def check_factory_reset(view: ClusterView, scope: list[PeerFacts], new: str | None) -> CheckResult:
    evidence: dict[str, str] = {}
    bad = []
    for p in view.facts.peers:
        pending = (p.status is not None and p.status.factory_reset_pending) or p.has_alarm("20107")
        # Listed by the cluster but with an empty list of its own: the hazard,
        # unless it is the peer being added (not configured yet, never clustered).
        emptied = (
            p.settings is not None
            and p.settings.is_empty
            and view.listed(p.host)
            and view.size > 1
            and p.host != new
        )
        if pending or emptied:
            bad.append(p.host)
            evidence[p.host] = "every peer slot empty: factory reset at next restart"
    summary = (
        (
            "factory reset pending on "
            + ", ".join(bad)
            + "; undo before any restart: "
            + " ; ".join(f"exops restore -c {view.facts.cluster} --peer {h}" for h in bad)
        )
        if bad
        else "none"
    )
    return _result("factory_reset", not bad, summary, evidence)


def check_fqdn_resolves(view: ClusterView, scope: list[PeerFacts], new: str | None) -> CheckResult:
    evidence: dict[str, str] = {}
    bad = []
    mapping = (
        {m.name.lower(): m.address for m in view.settings.mapping}
        if view.settings.mapping_enabled
        else {}
    )
    for p in scope:
        if not p.fqdn:
            evidence[p.host] = "no fqdn in the inventory"
            bad.append(p.host)
            continue
        ip = p.address if is_ip(p.address) else (p.system.lan1 if p.system else None)
        got = mapping.get(p.fqdn.lower())
        resolved = (got,) if got else p.fqdn_addresses
        evidence[p.host] = f"{p.fqdn} -> {', '.join(resolved) or 'nothing'}" + (
            " (mapping)" if got else ""
        )
        if ip and ip not in resolved:
            bad.append(p.host)
    return _result(
        "fqdn_resolves",
        not bad,
        f"FQDN does not resolve to the peer: {', '.join(bad)}"
        if bad
        else "every FQDN resolves to its peer",
        evidence,
    )


CHECKS: dict[str, Check] = {
    "reachable": check_reachable,
    "size": check_size,
    "role": check_role,
    "version": check_version,
    "platform": check_platform,
    "h323": check_h323,
    "option_keys": check_option_keys,
    "base_network": check_base_network,
    "e_nic": check_e_nic,
    "tls_names": check_tls_names,
    "latency": check_latency,
    "cluster_health": check_cluster_health,
    "factory_reset": check_factory_reset,
    "fqdn_resolves": check_fqdn_resolves,
}
PREREQUISITES = (
    "reachable",
    "size",
    "role",
    "version",
    "platform",
    "h323",
    "option_keys",
    "base_network",
    "e_nic",
    "latency",
    "factory_reset",
)


def scope_of(view: ClusterView, new_peer: str | None) -> list[PeerFacts]:
    hosts = list(view.members) or ([] if new_peer else list(view.hosts))
    if new_peer and new_peer not in hosts:
        hosts.append(new_peer)
    return [view.peer(h) for h in hosts]


def run_checks(
    facts: ClusterFacts, names: list[str] | tuple[str, ...] | None, *, new_peer: str | None = None
) -> tuple[CheckResult, ...]:
    """Run the named checks (default: every prerequisite, plus TLS names)."""
    view = ClusterView(facts)
    scope = scope_of(view, new_peer)
    selected = names or (*PREREQUISITES, "tls_names")
    return tuple(CHECKS[n](view, scope, new_peer) for n in selected)

"""Preflight checks: the clustering prerequisites (domain doc section 2), pure on facts.

Each check looks at the peers in scope (the cluster's members, plus the peer
being added), and returns pass / warn / fail with the value it saw on each
peer as evidence. A check judges only what it read: where a fact it needs could
not be read, it is ``unknown`` naming the peers and why (a peer read and found
wrong still makes it fail). ``CHECKS`` is fixed at import.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime

from exops.appliance.knowledge import (
    OPTION_KEYS_REMOVED_IN,
    PER_PEER_LICENCES,
    alarm_ids,
    version_tuple,
)
from exops.core.models import (
    MAX_PEERS,
    Certificate,
    ClusterFacts,
    PeerFacts,
    PeerState,
    Role,
    TlsMode,
    is_ip,
)
from exops.facts.address import designates
from exops.facts.gather import ALL_FACTS, Fact, needs_of
from exops.facts.health import (
    cluster_alarms,
    consensus_settings_peer,
    factory_reset_pending,
    in_maintenance,
    out_of_sync,
    peer_problems,
    unreadable,
)
from exops.facts.view import ClusterView
from exops.plan.model import CheckOutcome, CheckResult

MAX_RTT_MS = 80.0

Check = Callable[[ClusterView, list[PeerFacts], str | None], CheckResult]


def _result(
    name: str, ok: bool, summary: str, evidence: dict[str, str], *, warn: bool = False
) -> CheckResult:
    outcome = CheckOutcome.PASS if ok else (CheckOutcome.WARN if warn else CheckOutcome.FAIL)
    return CheckResult(name=name, outcome=outcome, summary=summary, evidence=evidence)


def _verdict(
    name: str, bad: list[str], evidence: dict[str, str], failed: str, passed: str
) -> CheckResult:
    """Pass with ``passed`` when no peer is bad, else fail with ``failed`` naming them."""
    return _result(name, not bad, failed.format(", ".join(bad)) if bad else passed, evidence)


def _unreachable(p: PeerFacts) -> str:
    # A refused certificate too: its error names the certificate's problem and the fix
    # that keeps verification on (exops.appliance.rest.tls_failure_message).
    return f"unreachable: {p.error or 'no answer'}"


def _outcome(
    name: str, outcome: CheckOutcome, summary: str, evidence: dict[str, str]
) -> CheckResult:
    return CheckResult(name=name, outcome=outcome, summary=summary, evidence=evidence)


def _why_unknown(p: PeerFacts, field: str) -> str:
    """The evidence for a fact exops could not read: never a guessed value."""
    if not p.reachable:
        return _unreachable(p)
    if p.system is None:
        return f"unknown: system information could not be read ({p.error or 'no answer'})"
    return f"unknown: {p.unknown.get(f'system.{field}', 'not read')}"


def _not_read(p: PeerFacts, what: str) -> str:
    """The evidence for a peer whose ``what`` could not be read."""
    if not p.reachable:
        return _unreachable(p)
    return f"unknown: {what} could not be read ({p.error or 'no answer'})"


def _judged(
    name: str,
    bad: list[str],
    missing: list[str],
    evidence: dict[str, str],
    failed: str,
    passed: str,
    what: str,
) -> CheckResult:
    """Fail naming the peers read and found wrong; else unknown naming the peers whose
    ``what`` could not be read; else pass."""
    if bad:
        return _verdict(name, bad, evidence, failed, passed)
    if missing:
        return _unknown(name, what, missing, evidence)
    return _result(name, True, passed, evidence)


def _unknown(name: str, what: str, hosts: list[str], evidence: dict[str, str]) -> CheckResult:
    """A fact a check needs is unknown on some peer: the check says so, never passes."""
    return _outcome(
        name,
        CheckOutcome.UNKNOWN,
        f"unknown: the {what} of {', '.join(hosts)} could not be read",
        evidence,
    )


def _same(
    name: str,
    scope: list[PeerFacts],
    value: Callable[[PeerFacts], str | None],
    what: str,
    field: str,
) -> CheckResult:
    evidence: dict[str, str] = {}
    seen = set()
    missing = []
    for p in scope:
        v = value(p) if p.reachable and p.system else None
        if v is None:
            evidence[p.host] = _why_unknown(p, field)
            missing.append(p.host)
        else:
            evidence[p.host] = v
            seen.add(v)
    if missing:
        return _unknown(name, what, missing, evidence)
    if len(seen) > 1:
        return _result(name, False, f"peers differ in {what}: {', '.join(sorted(seen))}", evidence)
    return _result(name, True, f"every peer has the same {what}", evidence)


def check_reachable(view: ClusterView, scope: list[PeerFacts], new: str | None) -> CheckResult:
    """Every peer answers, and what it answers can be read (its cluster settings):
    a peer that answers only what exops cannot read is no peer to plan on. A peer
    whose HTTPS certificate exops refuses is named with the certificate's problem."""
    evidence = {
        p.host: "answers" if p.reachable and p.settings else _not_read(p, "its cluster settings")
        for p in scope
    }
    down = [p.host for p in scope if not p.reachable]
    unread = [p.host for p in scope if p.reachable and p.settings is None]
    if not down and unread:
        return _unknown("reachable", "cluster settings", unread, evidence)
    return _result(
        "reachable",
        not down,
        f"unreachable: {', '.join(down)}" if down else "every peer answers",
        evidence,
    )


def check_size(view: ClusterView, scope: list[PeerFacts], new: str | None) -> CheckResult:
    if not any(p.reachable and p.settings is not None for p in view.facts.peers):
        evidence = {p.host: _not_read(p, "its cluster settings") for p in view.facts.peers}
        hosts = [p.host for p in view.facts.peers]
        return _unknown("size", "cluster settings (the list of peers)", hosts, evidence)
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
    drained = [p.host for p in scope if in_maintenance(p)]  # the table's class "maintenance"
    if drained:  # a membership change while a peer is drained: said, not refused
        evidence["maintenance mode"] = ", ".join(drained)
        return _result(
            "size",
            False,
            f"{size} peers (at most {MAX_PEERS}); in maintenance mode: {', '.join(drained)} "
            "(drained on purpose: the other peers take every new call and registration)",
            evidence,
            warn=True,
        )
    return _result("size", True, f"{size} peers (at most {MAX_PEERS})", evidence)


def check_role(view: ClusterView, scope: list[PeerFacts], new: str | None) -> CheckResult:
    return _same(
        "role",
        scope,
        lambda p: p.system.role.value if p.system and p.system.role else None,
        "role",
        "role",
    )


def check_version(view: ClusterView, scope: list[PeerFacts], new: str | None) -> CheckResult:
    return _same(
        "version",
        scope,
        lambda p: p.system.version if p.system else None,
        "software version",
        "version",
    )


def check_platform(view: ClusterView, scope: list[PeerFacts], new: str | None) -> CheckResult:
    """Equivalent VM size on every peer. Where the size cannot be read (the CLI does not
    show it) but the hardware can, the hardware is compared and the size is left to a
    manual check (warn, never pass); with neither, the check is unknown."""
    result = _same(
        "platform", scope, lambda p: p.system.platform if p.system else None, "VM size", "platform"
    )
    if result.outcome is not CheckOutcome.UNKNOWN:
        return result
    by_hardware = _same(
        "platform",
        scope,
        lambda p: p.system.hardware or None if p.system else None,
        "hardware",
        "platform",
    )
    if by_hardware.outcome is CheckOutcome.FAIL:
        return by_hardware  # different appliances: not equivalent, whatever the size
    if by_hardware.outcome is not CheckOutcome.PASS:
        return result
    # Not a warning on every healthy run: a manual check the plan states, with what was read.
    return _outcome(
        "platform",
        CheckOutcome.NOT_APPLICABLE,
        "manual check: the VM size is not offered over this interface (read: the hardware, "
        f"{next(iter(by_hardware.evidence.values()))} on every peer): confirm the VM sizes "
        "match",
        {h: f"hardware {v}; VM size not offered" for h, v in by_hardware.evidence.items()},
    )


def check_h323(view: ClusterView, scope: list[PeerFacts], new: str | None) -> CheckResult:
    evidence = {
        p.host: (
            "On"
            if p.system and p.system.h323_enabled
            else "Off"
            if p.system and p.system.h323_enabled is False
            else _why_unknown(p, "h323_enabled")
        )
        for p in scope
    }
    unknown = [h for h, v in evidence.items() if v not in ("On", "Off")]
    if unknown:
        return _unknown("h323", "H.323 mode", unknown, evidence)
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
    if p.system is None or p.system.option_keys is None:  # callers read only known keys
        return frozenset()
    return frozenset(
        k.description
        for k in p.system.option_keys
        if not any(lic in k.description.lower() for lic in PER_PEER_LICENCES)
    )


def option_key_rule(p: PeerFacts) -> tuple[str | None, str]:
    """Which licensing a peer follows: ``("keys", what)`` for VCS and Expressway before
    X14.2, ``("none", what)`` for Expressway X14.2+ (no option keys: Smart Licensing
    only), ``(None, why)`` when its product or version is unknown."""
    s = p.system
    if s is None:
        return None, _why_unknown(p, "role")
    if s.role is None:
        return None, _why_unknown(p, "role")
    if s.role is Role.VCS:
        return "keys", f"VCS {s.version or '?'} (option keys)"
    version = version_tuple(s.version)
    if version is None:
        return None, _why_unknown(p, "version")
    if version >= OPTION_KEYS_REMOVED_IN:
        return "none", f"{s.role.value} {s.version}: no option keys (Smart Licensing only)"
    return "keys", f"{s.role.value} {s.version} (option keys)"


def check_option_keys(view: ClusterView, scope: list[PeerFacts], new: str | None) -> CheckResult:
    """Same option keys on every peer (per-peer licence counts excepted): a rule of VCS
    and of Expressway before X14.2. Expressway X14.2 and later have no option keys
    (Expressway Release Note X14.2.5), so there the check does not apply; a peer whose
    product or version is unknown, or whose keys could not be read, makes it unknown."""
    removed = "X" + ".".join(map(str, OPTION_KEYS_REMOVED_IN))
    evidence: dict[str, str] = {}
    rules: dict[str, str] = {}
    unsure: list[str] = []
    for p in scope:
        if not p.reachable or p.system is None:
            evidence[p.host] = _unreachable(p) if not p.reachable else _why_unknown(p, "role")
            unsure.append(p.host)
            continue
        rule, what = option_key_rule(p)
        evidence[p.host] = what
        if rule is None:
            unsure.append(p.host)
        else:
            rules[p.host] = rule
    if unsure:
        return _unknown("option_keys", "product or version", unsure, evidence)
    if set(rules.values()) == {"none"}:
        return _outcome(
            "option_keys",
            CheckOutcome.NOT_APPLICABLE,
            f"not applicable: Expressway {removed} and later have no option keys "
            "(Smart Licensing only; Expressway Release Note X14.2.5)",
            evidence,
        )
    if len(set(rules.values())) > 1:
        return _outcome(
            "option_keys",
            CheckOutcome.UNKNOWN,
            f"unknown: some peers use option keys and some (Expressway {removed}+) have none; "
            "compare them once every peer runs the same version",
            evidence,
        )
    sets = {}
    missing = []
    for p in scope:
        if p.system is None or p.system.option_keys is None:
            evidence[p.host] += f"; keys {_why_unknown(p, 'option_keys')}"
            missing.append(p.host)
            continue
        sets[p.host] = _keys(p)
        evidence[p.host] += ": " + (", ".join(sorted(sets[p.host])) or "none")
    if missing:
        return _unknown("option_keys", "option keys", missing, evidence)
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
    """DNS and NTP servers configured on every peer, as the peers answer them; the
    summary names exactly what is missing where ("DNS servers missing on c1-p3"). A
    server list exops could not read (refused, or a shape it does not read) is unknown,
    never "none"."""
    evidence: dict[str, str] = {}
    missing: dict[str, list[str]] = {}  # "DNS servers" / "NTP servers" / both -> hosts
    unread = []
    for p in scope:
        if p.system is None:
            evidence[p.host] = _not_read(p, "DNS and NTP servers")
            unread.append(p.host)
            continue
        s = p.system
        shown = []
        for label, servers, name in (
            ("DNS", s.dns_servers, "dns_servers"),
            ("NTP", s.ntp_servers, "ntp_servers"),
        ):
            shown.append(
                f"{label} {_why_unknown(p, name)}"
                if servers is None
                else f"{label} {','.join(servers) or 'none'}"
            )
        evidence[p.host] = "; ".join(shown)
        if s.dns_servers is None or s.ntp_servers is None:
            unread.append(p.host)
            continue
        lacks = [k for k, v in (("DNS", s.dns_servers), ("NTP", s.ntp_servers)) if not v]
        if lacks:
            missing.setdefault(" and ".join(lacks) + " servers", []).append(p.host)
    if missing:
        text = "; ".join(f"{what} missing on {', '.join(hosts)}" for what, hosts in missing.items())
        return _result("base_network", False, text, evidence)
    if unread:
        return _unknown("base_network", "DNS and NTP servers", unread, evidence)
    return _result("base_network", True, "DNS and NTP configured everywhere", evidence)


def check_e_nic(view: ClusterView, scope: list[PeerFacts], new: str | None) -> CheckResult:
    evidence: dict[str, str] = {}
    bad = []
    unknown = [p.host for p in scope if p.system is None or p.system.role is None]
    if unknown:
        evidence = {p.host: _why_unknown(p, "role") for p in scope if p.host in unknown}
        return _unknown("e_nic", "role", unknown, evidence)
    edges = [p for p in scope if p.system and p.system.role is Role.EXPRESSWAY_E]
    if not edges:
        evidence = {
            p.host: f"{p.system.role.value if p.system and p.system.role else '?'}" for p in scope
        }
        return _outcome(
            "e_nic",
            CheckOutcome.NOT_APPLICABLE,
            "not applicable: no Expressway-E peer (the NIC rule is for Expressway-E)",
            evidence,
        )
    for p in scope:
        if p.system is None or p.system.role is not Role.EXPRESSWAY_E:
            evidence[p.host] = "not an Expressway-E"
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
    return _verdict(
        "e_nic",
        bad,
        evidence,
        "cluster on LAN1 (internal) required: {}",
        "Expressway-E peers cluster on LAN1",
    )


def tls_name_problems(
    name: str,
    cert: Certificate,
    now: datetime,
    issuers: list[str],
    trust_store: Sequence[str],
    as_ip: str,
) -> list[str]:
    """Why a peer listed (or to be listed) as ``name`` would fail TLS Enforce:
    ``as_ip`` when ``name`` is an IP address, a name not in the SANs, a
    certificate out of its validity or self-signed, an issuer of the others
    this peer does not trust. Empty when none."""
    problems = []
    if is_ip(name):
        problems.append(as_ip)
    elif name.lower() not in [n.lower() for n in cert.sans]:
        problems.append(f"{name} not in SANs {list(cert.sans)}")
    if not cert.valid_at(now):
        problems.append(
            f"expired or not yet valid ({cert.not_before:%Y-%m-%d}..{cert.not_after:%Y-%m-%d})"
        )
    if cert.self_signed:
        problems.append("self-signed")
    untrusted = [i for i in issuers if i not in trust_store]
    if untrusted:
        problems.append(f"does not trust {', '.join(untrusted)}")
    return problems


def check_tls_names(view: ClusterView, scope: list[PeerFacts], new: str | None) -> CheckResult:
    now = datetime.now(UTC)
    evidence: dict[str, str] = {}
    bad, missing = [], []
    issuers = {p.certificate.issuer for p in scope if p.certificate}
    for p in scope:
        slot = view.slot_of(p.host)
        listed = view.settings.peers[slot - 1] if slot else p.address
        cert = p.certificate
        if cert is None:
            evidence[p.host] = _not_read(p, "the certificate")
            missing.append(p.host)
            continue
        problems = tls_name_problems(
            listed, cert, now, sorted(issuers), p.trust_store, f"listed as IP {listed}, not an FQDN"
        )
        evidence[p.host] = "; ".join(problems) or f"{listed} in SANs, issuer {cert.issuer}, valid"
        if problems:
            bad.append(p.host)
    return _judged(
        "tls_names",
        bad,
        missing,
        evidence,
        "TLS Enforce would break: {}",
        "every peer address is an FQDN in its certificate, trusted by all",
        "certificate",
    )


def check_latency(view: ClusterView, scope: list[PeerFacts], new: str | None) -> CheckResult:
    """The 80 ms rule is about the round trip between two peers, which the appliance
    interface does not report. What exops measures is its own round trip to each peer
    (one cheap authenticated request: the operator host's path, its load included). The
    sum of the two largest is an upper bound of the peer-to-peer round trip through this
    host: within the limit, the rule holds (pass). Above it, nothing is known about the
    peers' own path, so exops says exactly what it measured and leaves the check to the
    operator (n/a, a manual check): never a warning that a busy operator host caused."""
    evidence = {
        p.host: (
            f"{p.rtt_ms:.1f} ms from this host (operator to peer)"
            if p.rtt_ms is not None
            else _unreachable(p)
        )
        for p in scope
    }
    missing = [p.host for p in scope if p.rtt_ms is None]
    if missing:
        return _unknown("latency", "round trip", missing, evidence)
    rtts = sorted((p.rtt_ms for p in scope if p.rtt_ms is not None), reverse=True)
    bound = sum(rtts[:2]) if len(rtts) >= 2 else (rtts[0] if rtts else 0.0)
    if bound <= MAX_RTT_MS:
        return _result(
            "latency",
            True,
            f"at most {bound:.1f} ms between any two peers (the two largest round trips from "
            f"this host added; limit {MAX_RTT_MS:.0f} ms)",
            evidence,
        )
    return _outcome(
        "latency",
        CheckOutcome.NOT_APPLICABLE,
        "manual check: the appliances do not report the round trip between peers; from this "
        f"host the two largest round trips add up to {bound:.1f} ms, which bounds nothing "
        f"below {MAX_RTT_MS:.0f} ms: measure between the peers (limit {MAX_RTT_MS:.0f} ms)",
        evidence,
    )


def check_no_nat(view: ClusterView, scope: list[PeerFacts], new: str | None) -> CheckResult:
    """No address translation between peers: the address each peer is listed under is
    one of its own interfaces (LAN1/LAN2), where the appliance shows them; otherwise a
    manual check (warn)."""
    evidence: dict[str, str] = {}
    bad, blind = [], []
    for p in scope:
        slot = view.slot_of(p.host)
        listed = view.settings.peers[slot - 1] if slot else p.address
        own = [a for a in ((p.system.lan1, p.system.lan2) if p.system else ()) if a]
        if not own:
            evidence[p.host] = f"listed as {listed}; its own LAN addresses cannot be read here"
            blind.append(p.host)
            continue
        targets = (listed,) if is_ip(listed) else p.fqdn_addresses
        if not targets:
            evidence[p.host] = f"listed as {listed}, which does not resolve here"
            blind.append(p.host)
        elif set(targets) & set(own):
            evidence[p.host] = f"listed as {listed}; LAN {', '.join(own)}"
        else:
            evidence[p.host] = f"listed as {listed} ({', '.join(targets)}); LAN {', '.join(own)}"
            bad.append(p.host)
    if bad:
        return _result(
            "no_nat",
            False,
            f"listed under an address that is not its own (NAT between peers?): {', '.join(bad)}",
            evidence,
        )
    if blind:
        return _outcome(
            "no_nat",
            CheckOutcome.NOT_APPLICABLE,
            f"manual check: confirm no address translation between peers ({', '.join(blind)}: "
            "its own addresses cannot be compared here)",
            evidence,
        )
    return _result("no_nat", True, "every peer is listed under its own LAN address", evidence)


def check_cluster_health(view: ClusterView, scope: list[PeerFacts], new: str | None) -> CheckResult:
    """Every member healthy (exops.facts.health). A member in maintenance mode (an alarm
    of the table's class "maintenance") is no ill health: it passes with a warning that
    names it (a drained peer's restart is what drain is for; a membership change while
    one is drained runs with fewer peers taking calls, which the operator must see)."""
    evidence: dict[str, str] = {}
    bad, missing, maintenance = [], [], []
    for p in scope:
        problems = peer_problems(p)  # exops.facts.health: the one definition
        if p.reachable and unreadable(p):  # answered, but not readably: unknown, not ill
            evidence[p.host] = problems[0]
            missing.append(p.host)
            continue
        if p.status is None or (problems and not p.reachable):
            evidence[p.host] = problems[0] if problems else "no status"
            bad.append(p.host)
            continue
        states = {e.state for e in p.status.peers}
        alarms = sorted({a.id for a in p.raised_alarms} & cluster_alarms())
        evidence[p.host] = (
            f"database {p.status.database}; peers {','.join(sorted(s.value for s in states))}"
            + (f"; alarms {','.join(alarms)}" if alarms else "")
            + (f"; {problems[0]}" if problems and "garbled" in problems[0] else "")
        )
        drained = in_maintenance(p)  # class "maintenance": deliberate, not ill health
        if drained:
            evidence[p.host] += f"; maintenance mode (alarm {','.join(drained)})"
            maintenance.append(p.host)
        if problems:
            bad.append(p.host)
    unsynced = [p.host for p in scope if out_of_sync(p)]
    if missing and not bad:
        return _unknown("cluster_health", "cluster status", missing, evidence)
    summary = f"not healthy: {', '.join(bad + missing)}" if bad else "healthy"
    if maintenance:  # said, never silent: fewer peers take calls while this runbook runs
        summary += (
            f"; in maintenance mode: {', '.join(maintenance)} (drained on purpose; new calls "
            "and registrations go to the other peers until it is turned off or the peer restarts)"
        )
    dispute = primary_dispute(view.facts)
    if dispute:  # the safe remedy: never ForceConfigUpdate while the primary is disputed
        fix = primary_remedy(view.facts)
        summary += f"; the peers disagree on the configuration primary ({dispute})" + (
            f": run `{fix}` first" if fix else ""
        )
    elif unsynced:  # domain doc section 4: the remedy exops offers
        summary += (
            f"; replication alarms on {', '.join(unsynced)}: "
            f"run `exops repair-replication -c {view.facts.cluster}` first"
        )
    return _result("cluster_health", not bad and not maintenance, summary, evidence, warn=not bad)


def check_factory_reset(view: ClusterView, scope: list[PeerFacts], new: str | None) -> CheckResult:
    evidence: dict[str, str] = {}
    bad = []
    # A peer that answered but whose settings could not be read may be the hazard;
    # one that does not answer cannot be restarted either (rules R2/R4, fresh reads).
    missing = [p.host for p in view.facts.peers if p.reachable and p.settings is None]
    if not any(p.reachable and p.settings is not None for p in view.facts.peers):
        missing = [p.host for p in view.facts.peers]
    for p in view.facts.peers:
        if p.host in missing:
            evidence[p.host] = _not_read(p, "its peer list")
        pending = factory_reset_pending(p)
        # A pending reset on a peer the formed cluster no longer lists (a leaver that
        # remove-peer cleared, a run killed before its decommission restart) is no
        # hazard to this cluster: the restart that resets it is the intended one.
        pending = pending and (view.listed(p.host) or not view.clustered)
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
    if missing and not bad:
        return _unknown("factory_reset", "peer list", missing, evidence)
    return _result("factory_reset", not bad, summary, evidence)


def check_fqdn_resolves(view: ClusterView, scope: list[PeerFacts], new: str | None) -> CheckResult:
    evidence: dict[str, str] = {}
    bad, missing = [], []
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
        if not ip:  # its own address could not be read: nothing to compare with
            evidence[p.host] += f"; {_not_read(p, 'its LAN address')}"
            missing.append(p.host)
        elif ip not in resolved:
            bad.append(p.host)
    return _judged(
        "fqdn_resolves",
        bad,
        missing,
        evidence,
        "FQDN does not resolve to the peer: {}",
        "every FQDN resolves to its peer",
        "LAN address",
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
    "no_nat": check_no_nat,
}
# What each check reads (a runbook's plan gathers the union of its checks'
# facts, exops.plan.planner.plan_facts). Every check also uses the cluster
# view (settings) to find the peers in scope; tests/unit/plan/test_plan_facts.py
# fails when a check touches a fact it does not declare here.
CHECK_FACTS: dict[str, frozenset[Fact]] = {
    name: frozenset({Fact.SETTINGS, *extra})
    for name, extra in {
        "reachable": set(),  # any answer proves it
        "size": {Fact.ALARMS},  # a member in maintenance mode is said (warn)
        "role": {Fact.IDENTITY},
        "version": {Fact.IDENTITY},
        "platform": {Fact.IDENTITY},
        "h323": {Fact.SYSTEM},
        "option_keys": {Fact.SYSTEM},
        "base_network": {Fact.SYSTEM},
        "e_nic": {Fact.IDENTITY, Fact.FQDN},
        "tls_names": {Fact.CERTIFICATE},
        "latency": {Fact.RTT},
        "cluster_health": {Fact.STATUS, Fact.ALARMS},
        "factory_reset": {Fact.STATUS, Fact.ALARMS},
        "fqdn_resolves": {Fact.IDENTITY, Fact.FQDN},
        "no_nat": {Fact.IDENTITY, Fact.FQDN},
    }.items()
}


def checks_facts(names: Iterable[str]) -> frozenset[Fact]:
    """What running the named checks reads (an unknown name: everything, fail safe)."""
    return needs_of(*(CHECK_FACTS.get(n, ALL_FACTS) for n in names))


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
    "no_nat",
    "latency",
    "factory_reset",
)


# Prerequisites an operator may override by name (``--accept NAME``, repeatable): the ones
# whose verdict needs a judgement exops cannot make from here. Never the safety checks
# (reachable, cluster_health, factory_reset), nor what breaks a cluster outright (size,
# role, version, H.323, TLS names, FQDN resolution).
ACCEPTABLE = ("latency", "platform", "no_nat", "option_keys", "base_network", "e_nic")
ACCEPT_PARAM = "accept"  # where a plan keeps the accepted names (its params: journalled)
ACCEPTED_PREFIX = "accepted by the operator"  # an overridden check's summary begins so


def accepted_names(value: object, preflight: Iterable[str]) -> tuple[str, ...]:
    """The check names an operator accepts, validated.

    Raises:
        UsageError: a name that is not a check of this runbook, or one that may not be
            overridden.
    """
    from exops.core.errors import UsageError

    if value is None:
        return ()
    names = (
        [value]
        if isinstance(value, str)
        else list(value)
        if isinstance(value, list | tuple)
        else None
    )
    if names is None or not all(isinstance(n, str) for n in names):
        raise UsageError(f"--accept: expected check names, got {value!r}")
    runs = set(preflight)
    for name in names:
        if name not in ACCEPTABLE:
            raise UsageError(
                f"--accept {name}: not a check that may be overridden "
                f"(these may: {', '.join(ACCEPTABLE)})"
            )
        if name not in runs:
            raise UsageError(
                f"--accept {name}: this runbook does not run that check "
                f"(it runs: {', '.join(sorted(runs)) or 'none'})"
            )
    return tuple(sorted(set(names)))


def scope_of(view: ClusterView, new_peer: str | None) -> list[PeerFacts]:
    hosts = list(view.members) or ([] if new_peer else list(view.hosts))
    if new_peer and new_peer not in hosts:
        hosts.append(new_peer)
    return [view.peer(h) for h in hosts]


def run_checks(
    facts: ClusterFacts,
    names: list[str] | tuple[str, ...] | None,
    *,
    new_peer: str | None = None,
    leaving: str | None = None,
) -> tuple[CheckResult, ...]:
    """Run the named checks (default, for ``exops check``: every prerequisite, plus TLS
    names, which does not apply to a Permissive cluster: it is what enforce-tls checks).

    ``leaving``: the peer a remove-peer run takes out: out of scope (it may be dead: that
    is often why it goes), and the members are judged as they will be without it (their
    view of it, and the communication alarms it alone causes, do not count)."""
    view = ClusterView(facts)
    scope = scope_of(view, new_peer)
    if leaving is not None and any(p.host == leaving for p in facts.peers):
        gone = facts.peer(leaving)
        scope = [beside(p, gone) for p in scope if p.host != leaving]
    results = tuple(CHECKS[n](view, scope, new_peer) for n in names or (*PREREQUISITES,))
    if names is None:
        results += (_tls_names_if_it_applies(view, scope, new_peer),)
    return results


def _tls_names_if_it_applies(
    view: ClusterView, scope: list[PeerFacts], new: str | None
) -> CheckResult:
    result = check_tls_names(view, scope, new)
    if view.settings.tls_mode is TlsMode.ENFORCE or result.outcome is CheckOutcome.PASS:
        return result
    return _outcome(
        "tls_names",
        CheckOutcome.NOT_APPLICABLE,
        "not applicable in TLS Permissive mode (enforce-tls checks it first): " + result.summary,
        result.evidence,
    )


# -- a member of another cluster (issue 19): never pulled in ---------------------------------


def cluster_list_without(facts: ClusterFacts, host: str) -> tuple[str, ...]:
    """The list of the cluster as its other peers agree on it (``host`` left out: a
    peer's own list must not vote for the cluster it is judged against)."""
    rest = facts.model_copy(update={"peers": tuple(p for p in facts.peers if p.host != host)})
    ref = consensus_settings_peer(rest)
    return ref.settings.listed if ref is not None and ref.settings is not None else ()


def foreign_addresses(
    facts: ClusterFacts, host: str, cluster: Sequence[str] | None = None
) -> tuple[str, ...]:
    """The addresses ``host``'s own fresh list names that are not members of this
    cluster: neither ``host`` itself, nor an address of the cluster's list
    (``cluster``; default: as its other peers agree on it), nor another address of a
    peer that list names. Non-empty: ``host`` belongs to another cluster (the vendor
    rule: a peer joins only once it lists no other peers). Empty when ``host``'s
    settings were not read (reachability is judged elsewhere)."""
    peer = facts.peer(host)
    if peer.settings is None:
        return ()
    listed = cluster_list_without(facts, host) if cluster is None else tuple(cluster)
    keys = {a.lower() for a in listed}
    members = {p.host for p in facts.peers for a in listed if designates(p, a)}
    own = {a.lower() for a in (peer.system.lan1, peer.system.lan2) if a} if peer.system else set()
    if peer.status is not None and 1 <= peer.status.local_slot <= len(peer.settings.peers):
        own.add(peer.settings.peers[peer.status.local_slot - 1].lower())  # "This system"
    out = []
    for a in peer.settings.listed:
        if designates(peer, a) or a.lower() in keys | own:
            continue
        if any(p.host in members and designates(p, a) for p in facts.peers):
            continue
        out.append(a)
    return tuple(out)


def foreign_refusal(facts: ClusterFacts, host: str) -> str | None:
    """Why ``host`` must not be added to (or made the first peer of) this cluster:
    it is a member of another cluster. None when it lists only this cluster's members."""
    foreign = foreign_addresses(facts, host)
    if not foreign:
        return None
    settings = facts.peer(host).settings
    if settings is None:  # foreign addresses come from its settings: never here
        return f"{host}: its cluster settings could not be read"
    name = f"cluster name {settings.cluster_name!r}, " if settings.cluster_name else ""
    primary = settings.primary_address or "none"
    return (
        f"{host} belongs to another cluster ({name}primary {primary}): it lists "
        f"{', '.join(foreign)}, which cluster {facts.cluster} does not list. Writing cluster "
        "settings on it would spread them through that cluster's database. Take it out of "
        f"its own cluster first (`exops remove-peer -c CLUSTER --peer {host}`, CLUSTER being "
        f"the inventory group of {settings.cluster_name or 'that cluster'}), then add it"
    )


# -- the primary the peers agree on (remedies: issue 19 item 3) -------------------------------


def primaries_named(facts: ClusterFacts) -> dict[str, list[str]]:
    """Each configuration primary address the reachable, clustered peers name (lower
    case), with the peers naming it."""
    out: dict[str, list[str]] = {}
    for p in facts.peers:
        if p.reachable and p.settings is not None and not p.settings.is_empty:
            out.setdefault((p.settings.primary_address or "").lower(), []).append(p.host)
    return out


def agreed_primary(facts: ClusterFacts) -> str | None:
    """The inventory peer that the most peers name primary (the consensus ``exops
    status`` uses), or None."""
    ref = consensus_settings_peer(facts)
    address = ref.settings.primary_address if ref is not None and ref.settings else None
    return next((p.host for p in facts.peers if address and designates(p, address)), None)


def primary_dispute(facts: ClusterFacts) -> str | None:
    """'c1-p1 names 10.0.0.11; c1-p2, c1-p3 name 10.0.0.12' when the peers disagree on
    the configuration primary, else None."""
    named = primaries_named(facts)
    if len(named) < 2:
        return None
    return "; ".join(
        f"{', '.join(hosts)} name{'s' if len(hosts) == 1 else ''} {address or 'no primary'}"
        for address, hosts in sorted(named.items(), key=lambda kv: (-len(kv[1]), kv[0]))
    )


def primary_remedy(facts: ClusterFacts) -> str:
    """The safe remedy while the peers disagree on the primary: re-run switch-primary
    for the primary most of them name (never ForceConfigUpdate, which would wipe a
    peer's configuration and pull it from whichever primary that peer names)."""
    agreed = agreed_primary(facts)
    return f"exops switch-primary -c {facts.cluster} --peer {agreed}" if agreed else ""


def beside(p: PeerFacts, gone: PeerFacts) -> PeerFacts:
    """``p`` as it will be once ``gone`` has left: its status without ``gone``, and the
    database state and communication alarms that ``gone`` alone explains dropped (every
    peer it does not see Active is ``gone``)."""
    if p.status is None:
        return p
    entries = tuple(e for e in p.status.peers if not designates(gone, e.address))
    not_active = [e for e in p.status.peers if e.state is not PeerState.ACTIVE]
    only_gone = bool(not_active) and all(designates(gone, e.address) for e in not_active)
    status = p.status.model_copy(update={"peers": entries})
    alarms = p.alarms
    if only_gone:
        status = status.model_copy(update={"database": "Active"})
        alarms = tuple(a for a in p.alarms if a.id not in alarm_ids("communication"))
    return p.model_copy(update={"status": status, "alarms": alarms})

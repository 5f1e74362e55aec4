"""Safety rules checked where the action happens: right before each write and restart.

The planner refuses unsafe plans, but a plan is a prediction made earlier, from
facts that may have changed, possibly from a runbook file or a saved plan an
operator wrote. So the executor checks these rules again, right before each
appliance write and each restart, on a *fresh* read of the peers involved
(never the plan's facts). A violated rule raises :class:`SafetyError`
(exit 3), one line naming the rule, the peer and the evidence, and the run
stops before the write.

``RULES`` is the one table of rules (``docs/safety.md`` renders it). The
functions are pure: plain data in, ``None`` or ``SafetyError`` out.

The decommission exception (R1, R2, R4) comes only from the trusted executor
option ``ApplyOptions.decommission`` (set by the command line from the shipped
remove-peer runbook's ``peer`` parameter). Nothing in a runbook file, an
``Action`` or a saved plan widens it; and even for that peer it holds only
when no other reachable peer still lists it (the remaining members were
compacted first).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from exops.appliance import maintenance
from exops.appliance.base import Field, Write
from exops.core.errors import PreconditionError
from exops.core.models import (
    ClusterFacts,
    ClusterSettings,
    PeerFacts,
    PeerState,
    TlsMode,
    ip_family,
    is_address,
    is_fqdn,
)
from exops.facts.address import designates, host_of
from exops.facts.health import in_maintenance

if TYPE_CHECKING:
    from exops.runbook.schema import Runbook


@dataclass(frozen=True)
class Rule:
    id: str
    text: str
    enforced: str  # where (module.function, and the moment)
    unit_test: str  # the unit test that proves it (tests/unit/...::name)
    integration_test: str = ""  # the integration test that proves it, when there is one


_UNIT = "tests/unit/apply/test_safety.py"
_EXEC = "tests/unit/apply/test_executor.py"
_INTEG = "tests/integration/test_safety_cli.py"

RULES: tuple[Rule, ...] = (
    Rule(
        "R1",
        "No write leaves a peer with every peer slot empty (the factory-reset hazard, domain "
        "3.9), except the peer a remove-peer run decommissions (trusted option "
        "ApplyOptions.decommission), and that one only once no other reachable peer lists it.",
        "safety.check_write, called by Executor._configure right before app.write",
        f"{_UNIT}::test_r1_*; {_EXEC}::test_r1_executor_refuses_emptying_a_list",
        f"{_INTEG}::test_custom_runbook_decommission_flag_cannot_empty_a_list",
    ),
    Rule(
        "R2",
        "No restart while another member of the cluster (the peers the fresh primary lists) is "
        "unreachable, not answering, unreadable, or its cluster database is not Active: exops "
        "never has two peers of one cluster down at once. Allowed rows: R2a the target is the "
        "decommissioned leaver that no member lists any more; R2b a member whose database is "
        "not Active only because it cannot reach the target itself (add-peer's new peer, "
        "convert-fqdn's slot peer, a primary whose restart is pending).",
        "safety.check_restart, called by Executor._restart right before app.restart",
        f"{_UNIT}::test_r2_*; {_EXEC}::test_r2_executor_refuses_restart_with_member_down",
        f"{_INTEG}::test_restart_peer_refused_while_another_member_is_unreachable",
    ),
    Rule(
        "R3",
        "Every address written is a valid IPv4/IPv6 address or FQDN (never 'None', a number or "
        "a new gap in the list), of the cluster's IP version when an IP, and an FQDN when the "
        "cluster is in TLS Enforce mode or lists its members by FQDN.",
        "safety.check_write, called by Executor._configure right before app.write",
        f"{_UNIT}::test_r3_*; {_EXEC}::test_r3_executor_*",
        f"{_INTEG}::test_r3_a_new_peer_of_an_enforce_cluster_listed_by_ip_is_refused_at_execution",
    ),
    Rule(
        "R4",
        "No restart of a peer whose fresh peer list is empty (it would factory reset), except "
        "the decommissioned leaver; holds for any runbook, with or without preflight.",
        "safety.check_restart, called by Executor._restart right before app.restart",
        f"{_UNIT}::test_r4_*; {_EXEC}::test_r4_executor_refuses_restart_of_empty_peer",
    ),
    Rule(
        "R5",
        "The configuration primary written names a listed (non-empty) slot of the resulting list.",
        "safety.check_write, called by Executor._configure right before app.write",
        f"{_UNIT}::test_r5_*; {_EXEC}::test_r5_executor_refuses_primary_on_empty_slot",
    ),
    Rule(
        "R6",
        "Cluster settings read from (or written to) an appliance are well formed: exactly 6 "
        "slots, each empty or a valid address, no address twice (case-insensitive), primary "
        "0..6; otherwise the peer is unreadable, with the reason, never normalised.",
        "models.ClusterSettings validators (every parse of an appliance answer, runbook value, "
        "backup or plan file)",
        f"{_UNIT}::test_r6_*",
    ),
    Rule(
        "R7",
        "An xCommand (ForceConfigUpdate) runs only on a reachable subordinate, never on the "
        "fresh configuration primary, and never while the reachable peers disagree on the "
        "primary (it would pull a configuration from the wrong peer).",
        "safety.check_command, called by Executor._command right before app.command",
        f"{_UNIT}::test_r7_*; {_EXEC}::test_r7_executor_refuses_command_on_primary",
    ),
    Rule(
        "R8",
        "No write lists a peer that belongs to another cluster: a write that adds an address "
        "to a list is refused when the written peer's own fresh list, or the fresh list of "
        "the peer the added address designates (when this cluster does not list it yet), "
        "names an address that is not a member of this cluster (issue 19: its cluster-wide "
        "settings would spread through the other cluster's database).",
        "safety.check_write, called by Executor._configure right before app.write; the "
        "planner refuses add-peer and create-cluster first (preflight.foreign_refusal)",
        f"{_UNIT}::test_r8_*; {_EXEC}::test_r8_executor_refuses_to_list_a_foreign_peer",
        "tests/integration/test_proof.py::test_add_peer_refuses_a_member_of_another_cluster",
    ),
    Rule(
        "R9",
        "No restart while another member of the cluster is in maintenance mode (its "
        "maintenance-class alarm, knowledge.toml, on the fresh read): a drained peer takes "
        "no new calls or registrations, so restarting another would leave two peers of the "
        "cluster out of service. The drained peer's own restart is allowed (what draining "
        "is for).",
        "safety.check_restart, called by Executor._restart right before app.restart; the "
        "planner refuses first, in plan order (planner._no_restart_beside_maintenance)",
        f"{_UNIT}::test_r9_*",
        "tests/integration/test_drain_runs.py::test_restart_refuses_another_peer_while_one_"
        "is_in_maintenance",
    ),
)

RULE_BY_ID = {r.id: r for r in RULES}
ACTIVE = frozenset({"Active"})


class SafetyError(PreconditionError):
    """A safety rule refused an action right before it happened (exit 3)."""

    def __init__(self, rule: str, host: str, evidence: str, *, operation: str | None = None):
        super().__init__(f"safety rule {rule} refused: {evidence}", host=host, operation=operation)
        self.rule = rule
        self.evidence = evidence


# -- the decommission exception: decided from the shipped runbook only -------------------------
# Shipped runbook name -> the parameter naming the peer it decommissions.
SHIPPED_DECOMMISSIONING = {"remove-peer": "peer"}


def trusted_decommission(runbook: Runbook, params: Mapping[str, Any]) -> str | None:
    """The peer a run may decommission (``ApplyOptions.decommission``), or None.

    Only the runbook shipped with exops under that name, unchanged (same source,
    same steps), grants it: a runbook file with the same name, or any content an
    operator wrote, does not. The value is the run's own parameter, never a flag
    of a step, an Action or a saved plan.
    """
    from exops.runbook.loader import load_shipped

    param = SHIPPED_DECOMMISSIONING.get(runbook.name)
    if param is None:
        return None
    if runbook != load_shipped(runbook.name):  # the shipped file, unchanged (source too)
        return None
    value = params.get(param)
    return value if isinstance(value, str) and value else None


# -- helpers on fresh facts ------------------------------------------------------------
def reference_settings(facts: ClusterFacts) -> ClusterSettings | None:
    """The fresh primary's settings (the consensus ``exops status`` uses)."""
    from exops.facts.health import consensus_settings_peer

    ref = consensus_settings_peer(facts)
    return ref.settings if ref is not None else None


def listed_by_others(facts: ClusterFacts, host: str) -> list[str]:
    """Reachable peers other than ``host`` whose fresh list still names ``host``."""
    target = facts.peer(host)
    return [
        p.host
        for p in facts.peers
        if p.host != host
        and p.reachable
        and p.settings is not None
        and any(designates(target, a) for a in p.settings.listed)
    ]


def _is_leaver(facts: ClusterFacts, host: str, decommission: str | None) -> tuple[bool, str]:
    """The trusted decommission exception, confirmed on fresh facts."""
    if decommission is None or host != decommission:
        return False, f"{host} is not the peer this run decommissions"
    try:
        still = listed_by_others(facts, host)
    except KeyError:
        return False, f"{host} was not read"
    if still:
        return False, f"{host} is still listed by {', '.join(still)}"
    return True, ""


# -- R1, R3, R5: before a write ------------------------------------------------------------
def check_write(
    host: str,
    current: ClusterSettings,
    writes: Sequence[Write],
    result: ClusterSettings,
    facts: ClusterFacts,
    *,
    decommission: str | None,
) -> None:
    """Raise SafetyError unless writing ``writes`` (``current`` -> ``result``) on
    ``host`` is safe. ``current`` is the fresh read of ``host``; ``facts`` a fresh
    read of its cluster."""
    _check_r1(host, current, result, facts, decommission)
    _check_r3(host, current, writes, result, facts)
    _check_r5(host, current, writes, result)
    _check_r8(host, current, result, facts)


def _check_r1(
    host: str,
    current: ClusterSettings,
    result: ClusterSettings,
    facts: ClusterFacts,
    decommission: str | None,
) -> None:
    if not result.is_empty:
        return
    ok, why = _is_leaver(facts, host, decommission)
    if not ok:
        raise SafetyError(
            "R1",
            host,
            f"this write would leave every peer slot empty (was {_list(current)}): the peer "
            f"would factory reset at its next restart; {why}",
            operation="configure",
        )


def _check_r3(
    host: str,
    current: ClusterSettings,
    writes: Sequence[Write],
    result: ClusterSettings,
    facts: ClusterFacts,
) -> None:
    written = [w for w in writes if w.field is Field.PEER_ADDRESS]
    for w in written:
        value = w.value
        if value != "" and not is_address(value):  # "" clears; 0, None, "None" are refused
            raise SafetyError(
                "R3",
                host,
                f"peer slot {w.index}: {value!r} is not a valid IPv4/IPv6 address or FQDN",
                operation="configure",
            )
    # A new gap: an empty slot before a listed one that the current list did not have.
    if not result.is_empty and _gaps(result) - _gaps(current):
        raise SafetyError(
            "R3",
            host,
            f"the list would have an empty slot before a listed one: {_list(result)}",
            operation="configure",
        )
    values = [str(w.value) for w in written if w.value]
    if not values:
        return
    ref = reference_settings(facts)
    enforce = result.tls_mode is TlsMode.ENFORCE or (
        ref is not None and ref.tls_mode is TlsMode.ENFORCE
    )
    cluster_list = ref.listed if ref is not None and ref.listed else current.listed
    by_fqdn = bool(cluster_list) and all(is_fqdn(a) for a in cluster_list)
    for w in written:
        value = str(w.value)
        if not value:
            continue
        family = ip_family(value)
        if family is not None and (enforce or by_fqdn):
            why = (
                "the cluster is in TLS Enforce mode"
                if enforce
                else (f"the cluster lists its members by FQDN ({', '.join(cluster_list)})")
            )
            raise SafetyError(
                "R3",
                host,
                f"peer slot {w.index}: {value} is an IP address but {why}: list it by its FQDN",
                operation="configure",
            )
        if family is not None and family is not result.ip_version:
            raise SafetyError(
                "R3",
                host,
                f"peer slot {w.index}: {value} is an {family.value} address but the cluster IP "
                f"version is {result.ip_version.value}",
                operation="configure",
            )


def _check_r5(
    host: str, current: ClusterSettings, writes: Sequence[Write], result: ClusterSettings
) -> None:
    touches = any(w.field in (Field.PRIMARY, Field.PEER_ADDRESS) for w in writes)
    if not touches or result.is_empty:
        return
    if result.primary_address is None:
        raise SafetyError(
            "R5",
            host,
            f"the configuration primary would be slot {result.primary}, which is empty in "
            f"{_list(result)}",
            operation="configure",
        )


def _check_r8(
    host: str, current: ClusterSettings, result: ClusterSettings, facts: ClusterFacts
) -> None:
    """A write that adds an address: neither the written peer nor a peer an added
    address designates may list an address outside this cluster. The cluster is the
    list written plus the list the other peers agree on (the judged peer has no vote
    on its own judgement); the written peer as read right before the write
    (``current``)."""
    from exops.plan.preflight import cluster_list_without, foreign_addresses

    before = {a.lower() for a in current.listed}
    added = [a for a in result.listed if a.lower() not in before]
    if not added:
        return
    judged = [
        host,
        *dict.fromkeys(j for a in added if (j := host_of(facts, a)) not in (None, host)),
    ]
    fresh = facts.model_copy(
        update={
            "peers": tuple(
                p.model_copy(update={"settings": current}) if p.host == host else p
                for p in facts.peers
            )
        }
    )
    for who in judged:
        if who is None or not any(p.host == who for p in fresh.peers):
            continue
        # The cluster: the list written, and the list the peers other than ``who`` agree
        # on (the judged peer has no vote on its own judgement).
        cluster = (*result.listed, *cluster_list_without(fresh, who))
        foreign = foreign_addresses(fresh, who, cluster)
        if foreign:
            settings = fresh.peer(who).settings
            name = settings.cluster_name if settings and settings.cluster_name else "unset"
            raise SafetyError(
                "R8",
                host,
                f"{who} belongs to another cluster: its list names {', '.join(foreign)}, "
                f"which cluster {facts.cluster} does not list (cluster name {name}); take "
                "it out of that cluster first (exops remove-peer on its own cluster)",
                operation="configure",
            )


def _gaps(settings: ClusterSettings) -> set[int]:
    last = max((i for i, a in enumerate(settings.peers, start=1) if a), default=0)
    return {i for i, a in enumerate(settings.peers, start=1) if not a and i < last}


def _list(settings: ClusterSettings) -> str:
    return "[" + ", ".join(a or "-" for a in settings.peers) + "]"


# -- R2, R4: before a restart --------------------------------------------------------------
def members(facts: ClusterFacts) -> tuple[list[str], list[str]]:
    """(hosts, unknown addresses) the fresh primary lists."""
    ref = reference_settings(facts)
    hosts: list[str] = []
    unknown: list[str] = []
    for a in ref.listed if ref is not None else ():
        h = host_of(facts, a)
        if h is None:
            unknown.append(a)
        elif h not in hosts:
            hosts.append(h)
    return hosts, unknown


def check_restart(
    host: str,
    target: ClusterSettings,
    facts: ClusterFacts,
    *,
    decommission: str | None,
) -> None:
    """Raise SafetyError unless restarting ``host`` now is safe. ``target`` is the
    fresh read of ``host``'s settings; ``facts`` a fresh read of its cluster."""
    leaver, why = _is_leaver(facts, host, decommission)
    if target.is_empty and not leaver:
        raise SafetyError(
            "R4",
            host,
            "every peer slot is empty: restarting it would factory reset it (domain 3.9); "
            f"undo first: exops restore -c {facts.cluster} --peer {host}; {why}",
            operation="restart",
        )
    if leaver:
        return  # R2a: no member lists it any more; its restart takes no member down
    listed, unknown = members(facts)
    if unknown:
        raise SafetyError(
            "R2",
            host,
            f"the cluster lists {', '.join(unknown)}, which no inventory peer designates: "
            "exops cannot verify it is up",
            operation="restart",
        )
    problems = [
        (other, problem)
        for other in listed
        if other != host and (problem := _member_down(facts.peer(other), facts.peer(host)))
    ]
    if problems:
        # The most direct evidence first: a member that does not answer at all.
        other, problem = min(problems, key=lambda p: facts.peer(p[0]).reachable)
        raise SafetyError(
            "R2",
            host,
            f"another member, {other}, {problem}: restarting {host} now could take two "
            "peers of the cluster down at once",
            operation="restart",
        )
    drained = [o for o in listed if o != host and in_maintenance(facts.peer(o))]
    if drained and _serving(facts, listed, host):
        other = drained[0]
        raise SafetyError(
            "R9",
            host,
            f"another member, {other}, is in maintenance mode (alarm "
            f"{', '.join(in_maintenance(facts.peer(other)))}): restarting {host} now would "
            f"leave two peers of the cluster out of service; take {other} out of "
            f"maintenance first (its web page: {maintenance.MAINTENANCE.set_page}, Off)",
            operation="restart",
        )


def _serving(facts: ClusterFacts, listed: list[str], host: str) -> bool:
    """Another member sees ``host`` Active: it takes calls, so its restart takes a peer
    out of service (add-peer's new peer, not yet joined, serves nothing)."""
    target = facts.peer(host)
    return any(
        e.state is PeerState.ACTIVE and designates(target, e.address)
        for other in listed
        if other != host and (status := facts.peer(other).status) is not None
        for e in status.peers
    )


def _member_down(member: PeerFacts, target: PeerFacts) -> str:
    """Why ``member`` is not up and Active, or "" (R2b: failing only because of ``target``)."""
    if not member.reachable:
        return f"is unreachable ({member.error or 'not answering'})"
    if member.status is None or member.settings is None:
        return f"is unreadable ({member.error or 'no cluster status'})"
    database = member.status.database
    if database in ACTIVE:
        return ""
    not_active = [e for e in member.status.peers if e.state is not PeerState.ACTIVE]
    if not_active and all(designates(target, e.address) for e in not_active):
        return ""  # R2b: it only misses the target, which this restart is about
    seen = ", ".join(f"{e.address} {e.state.value}" for e in not_active)
    return f"has cluster database {database or 'unknown'!s}" + (f" ({seen})" if seen else "")


# -- R7: before an xCommand -------------------------------------------------------------------
def check_command(host: str, command: str, facts: ClusterFacts) -> None:
    """ForceConfigUpdate pulls the primary's configuration: never on the primary itself."""
    try:
        peer = facts.peer(host)
    except KeyError:
        raise SafetyError("R7", host, "the peer was not read", operation="command") from None
    if not peer.reachable:
        raise SafetyError(
            "R7", host, f"unreachable ({peer.error or 'not answering'})", operation="command"
        )
    from exops.plan.preflight import primary_dispute, primary_remedy

    dispute = primary_dispute(facts)
    if dispute:
        fix = primary_remedy(facts)
        raise SafetyError(
            "R7",
            host,
            f"the peers disagree on the configuration primary ({dispute}): {command} would "
            "pull a configuration from the wrong peer" + (f"; first: {fix}" if fix else ""),
            operation="command",
        )
    ref = reference_settings(facts)
    primary = ref.primary_address if ref is not None else None
    if primary is None:
        raise SafetyError(
            "R7", host, "the cluster has no readable configuration primary", operation="command"
        )
    if designates(peer, primary):
        raise SafetyError(
            "R7",
            host,
            f"{host} is the configuration primary ({primary}); {command} runs on subordinates",
            operation="command",
        )


__all__ = [
    "RULES",
    "Rule",
    "SafetyError",
    "check_command",
    "check_restart",
    "check_write",
    "members",
]

"""Plain facts for the pure stages (planner, view, checks): peer i of a cluster, the cluster, its plan."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from exops.core.models import (
    EMPTY_SLOTS,
    Alarm,
    Certificate,
    ClusterFacts,
    ClusterSettings,
    ClusterStatus,
    PeerFacts,
    PeerState,
    PeerStatusEntry,
    Role,
    SystemInfo,
    TlsMode,
)
from exops.plan.model import Plan
from exops.plan.planner import plan_runbook
from exops.runbook.loader import load_runbook

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)


ADDR = [f"10.0.0.{11 + i}" for i in range(7)]


FQDN = [f"exp{i + 1}.example.com" for i in range(7)]


def peer(
    i: int,
    listed: list[int],
    *,
    primary: int = 1,
    reachable: bool = True,
    alarms: tuple[str, ...] = (),
    role: Role = Role.EXPRESSWAY_C,
    version: str = "X15.2.1",
    h323: bool = True,
    tls: TlsMode = TlsMode.PERMISSIVE,
    by_fqdn: bool = False,
    uptime_s: int = 86400,
) -> PeerFacts:
    """Peer i (0-based) of a cluster whose slots list peers ``listed`` (0-based)."""
    names = FQDN if by_fqdn else ADDR
    slots = tuple(names[k] for k in listed) + EMPTY_SLOTS[len(listed) :]
    settings = ClusterSettings(peers=slots, primary=primary if listed else 0, tls_mode=tls)
    entries = tuple(
        PeerStatusEntry(slot=n + 1, address=names[k], state=PeerState.ACTIVE, local=k == i)
        for n, k in enumerate(listed)
    )
    cert = Certificate(
        subject_cn=FQDN[i],
        sans=(FQDN[i],),
        issuer="Lab CA",
        not_before=NOW - timedelta(days=1),
        not_after=NOW + timedelta(days=300),
        self_signed=False,
        fingerprint_sha256="00",
    )
    return PeerFacts(
        host=f"p{i + 1}",
        address=ADDR[i],
        fqdn=FQDN[i],
        fqdn_addresses=(ADDR[i],),
        reachable=reachable,
        error=None if reachable else "connection refused",
        settings=settings if reachable else None,
        status=ClusterStatus(
            local_slot=(listed.index(i) + 1) if i in listed else 0,
            database="Active" if listed else "Inactive",
            replication="Synchronised",
            peers=entries,
        )
        if reachable
        else None,
        alarms=tuple(Alarm(id=a) for a in alarms),
        system=SystemInfo(
            name=f"p{i + 1}",
            version=version,
            role=role,
            platform="medium",
            lan1=ADDR[i],
            dns_servers=("10.0.0.2",),
            ntp_servers=("10.0.0.3",),
            h323_enabled=h323,
            uptime_s=uptime_s,
            hostname=f"exp{i + 1}",
            domain="example.com",
        )
        if reachable
        else None,
        certificate=cert if reachable else None,
        trust_store=("Lab CA",),
        rtt_ms=1.0,
        gathered_at=NOW,
    )


def cluster(*peers: PeerFacts) -> ClusterFacts:
    return ClusterFacts(cluster="c1", peers=peers, gathered_at=NOW)


def plan(runbook: str, facts: ClusterFacts, **params: Any) -> Plan:
    return plan_runbook(load_runbook(runbook), facts, params, now=NOW, exops_version="test")


def changes(p: Plan) -> list[tuple[str | None, str]]:
    return [(a.host, a.kind.value) for a in p.actions if a.changes_appliance]



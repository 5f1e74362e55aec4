"""Facts shaped for the status verdict: peer i, the cluster."""

from __future__ import annotations

from datetime import UTC, datetime

from exops.core.models import (
    EMPTY_SLOTS,
    Alarm,
    ClusterFacts,
    ClusterSettings,
    ClusterStatus,
    PeerFacts,
    PeerState,
    PeerStatusEntry,
    Role,
    SystemInfo,
)

ADDR = ["10.0.0.11", "10.0.0.12", "10.0.0.13", "10.0.0.14", "10.0.0.15", "10.0.0.16"]


def peer(
    i: int,
    n: int,
    *,
    primary: int = 1,
    reachable: bool = True,
    alarms: tuple[str, ...] = (),
    platform: str = "medium",
    states: dict[int, PeerState] | None = None,
    listed: int | None = None,
) -> PeerFacts:
    count = n if listed is None else listed
    slots = tuple(ADDR[:count]) + EMPTY_SLOTS[count:]
    settings = ClusterSettings(peers=slots, primary=primary if count else 0)
    entries = tuple(
        PeerStatusEntry(
            slot=k + 1,
            address=ADDR[k],
            state=(states or {}).get(k + 1, PeerState.ACTIVE),
            local=k == i,
        )
        for k in range(count)
    )
    return PeerFacts(
        host=f"p{i + 1}",
        address=ADDR[i],
        reachable=reachable,
        error=None if reachable else "connection refused",
        settings=settings if reachable else None,
        status=ClusterStatus(
            local_slot=i + 1, database="Active", replication="Synchronised", peers=entries
        )
        if reachable
        else None,
        alarms=tuple(Alarm(id=a) for a in alarms),
        system=SystemInfo(
            name=f"p{i + 1}", version="X15.2.1", role=Role.EXPRESSWAY_C, platform=platform
        ),
    )


def cluster(*peers: PeerFacts) -> ClusterFacts:
    return ClusterFacts(cluster="c1", peers=peers, gathered_at=datetime.now(UTC))



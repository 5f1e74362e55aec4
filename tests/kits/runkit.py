"""Fakes at the runner's seam: a fake peer and session, and an Env on a temporary state directory."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from exops.appliance.base import Command, Write, apply_writes
from exops.core.errors import AuthError, TransportError
from exops.core.models import (
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
from exops.core.settings import Settings
from exops.facts.gather import Fact
from exops.inventory import ClusterSpec, Inventory, PeerSpec
from exops.run.env import Env

ADDRS = {"p1": "10.0.0.11", "p2": "10.0.0.12", "p3": "10.0.0.13"}


@dataclass
class FakePeer:
    """One appliance: settings, a restart that takes one poll, a pending restart."""

    host: str
    settings: ClusterSettings
    reachable: bool = True
    pending: bool = False
    down_polls: int = 0
    uptime: int = 10_000
    writes: list[Write] = field(default_factory=list)
    restarts: int = 0
    never_back: bool = False
    database: str = "Active"
    db_after_restart: str | None = None
    refuse_after_restart: bool = False
    logins_refused: int = 0

    def _up(self) -> None:
        if not self.reachable:
            raise TransportError("connection refused", host=self.host, operation="read")
        if self.down_polls > 0:
            self.down_polls -= 1
            raise TransportError("restarting", host=self.host, operation="read")

    def read_settings(self) -> ClusterSettings:
        self._up()
        return self.settings

    def read_uptime(self) -> int | None:
        if self.refuse_after_restart and self.restarts:
            self.logins_refused += 1
            raise AuthError("SSH credentials refused", host=self.host, operation="login")
        self._up()
        return self.uptime

    def write(self, writes: Sequence[Write]) -> None:
        self._up()
        self.writes += writes
        self.settings = apply_writes(self.settings, writes)

    def restart(self) -> None:
        self._up()
        self.restarts += 1
        self.down_polls = 10**9 if self.never_back else 1
        self.uptime = 1
        self.pending = False
        self.database = self.db_after_restart or self.database

    def command(self, command: Command) -> str:
        return "OK"


class FakeSession:
    """What the runner needs of a session: appliances and fresh facts."""

    def __init__(self, peers: dict[str, FakePeer]):
        self.peers = peers
        self.opened = 0
        self.needs: list[frozenset[Fact] | None] = []  # what each full gather asked for

    def __enter__(self) -> FakeSession:
        self.opened += 1
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def appliance(self, host: str) -> FakePeer:
        return self.peers[host]

    def gather(
        self,
        cluster: str,
        hosts: list[str] | None = None,
        *,
        light: bool = False,
        needs: frozenset[Fact] | None = None,
    ) -> ClusterFacts:
        if not light:
            self.needs.append(needs)
        out = []
        for name, peer in self.peers.items():
            if hosts is not None and name not in hosts:
                continue
            base = {"host": name, "address": ADDRS[name], "fqdn": f"{name}.example.com"}
            try:
                settings = peer.read_settings()
            except TransportError as exc:
                out.append(PeerFacts(**base, reachable=False, error=str(exc)))
                continue
            status = ClusterStatus(
                database=peer.database,
                peers=tuple(
                    PeerStatusEntry(slot=i, address=a, state=PeerState.ACTIVE)
                    for i, a in enumerate(settings.peers, 1)
                    if a
                ),
            )
            out.append(
                PeerFacts(
                    **base,
                    reachable=True,
                    settings=settings,
                    status=status,
                    alarms=(Alarm(id="20007"),) if peer.pending else (),
                    system=SystemInfo(
                        name=name,
                        version="X15.2.1",
                        role=Role.EXPRESSWAY_C,
                        platform="medium",
                        uptime_s=peer.uptime,
                        h323_enabled=True,
                    ),
                )
            )
        return ClusterFacts(cluster=cluster, peers=tuple(out), gathered_at=datetime.now(UTC))


def formed(primary: int = 1) -> ClusterSettings:
    peers = (*ADDRS.values(), "", "", "")
    return ClusterSettings(peers=peers, primary=primary, cluster_name="c1.example.com")


def make_env(tmp_path: Path, **overrides: Any) -> Env:
    specs = tuple(
        PeerSpec(
            name=name,
            cluster="c1",
            hostname=addr,
            port=443,
            ssh_port=22,
            address=addr,
            fqdn=f"{name}.example.com",
            role=Role.EXPRESSWAY_C,
            slot=i,
            transport="rest",
            username="admin",
        )
        for i, (name, addr) in enumerate(ADDRS.items(), 1)
    )
    inventory = Inventory(
        path=tmp_path / "inventory",
        clusters={"c1": ClusterSpec("c1", "c1.example.com", specs, {})},
    )
    timing = {"restart_timeout": 5.0, "settle_timeout": 5.0, "max_poll_interval": 0.05}
    settings = Settings(
        state_dir=tmp_path / "state", lock_dir=tmp_path / "locks", **{**timing, **overrides}
    )
    return Env(settings=settings, inventory=inventory)


def cluster(**changes: Any) -> dict[str, FakePeer]:
    peers = {h: FakePeer(h, formed()) for h in ADDRS}
    for host, attrs in changes.items():
        for k, v in attrs.items():
            setattr(peers[host], k, v)
    return peers



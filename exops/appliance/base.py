"""The one appliance interface that runbooks, facts and apply talk to.

Transports (REST over httpx, SSH over paramiko) implement ``Appliance``;
nothing above this layer imports httpx or paramiko. A change to cluster
settings is expressed as a sequence of ``Write`` records: the planner computes
them (pure), the dry run prints them, and apply hands exactly those to the
transport, which maps each one to a REST call or a CLI command.
"""

from __future__ import annotations

import socket
from collections.abc import Sequence
from enum import StrEnum
from typing import Protocol, runtime_checkable

from pydantic import SecretStr

from exops.core.models import (
    MAX_PEERS,
    AddressMapping,
    Alarm,
    Certificate,
    ClusterSettings,
    ClusterStatus,
    Frozen,
    IpVersion,
    SystemInfo,
    TlsMode,
)

# Requests in flight to one peer at once. The appliance's REST API sits behind
# the same web server as its web UI, which browsers reach with up to 6
# connections per host; 5 stays below that, and is the smallest number that
# makes a status gather 3 round trips (the first request alone, then 10 in two
# rounds of 5: 4 did it when status read 9; the DNS and NTP server lists made
# it 11, issue 22; see docs/benchmarks.md). The REST client's connection pool
# must allow as many (exops/appliance/connection.py).
PEER_CONCURRENCY = 5

class Field(StrEnum):
    PEER_ADDRESS = "peer_address"  # index = slot 1..6
    PRIMARY = "primary"  # value = slot 1..6
    CLUSTER_NAME = "cluster_name"
    TLS_MODE = "tls_mode"
    IP_VERSION = "ip_version"
    MAPPING_MODE = "mapping_mode"  # value "On" | "Off"
    MAPPING_NAME = "mapping_name"  # index = row 1..6
    MAPPING_ADDRESS = "mapping_address"  # index = row 1..6


class Write(Frozen):
    """One committed field change on one appliance."""

    field: Field
    value: str | int
    index: int | None = None

    def describe(self) -> str:
        where = f" {self.index}" if self.index is not None else ""
        return f"{self.field.value}{where} = {self.value!r}"


class ConnectionTarget(Frozen):
    """How to reach one peer: built from the inventory, handed to a transport.

    The password is a ``SecretStr`` so it never shows in reprs, logs or dumps.
    """

    host: str  # inventory name, used in every error message
    hostname: str  # management address (IP or DNS name) to connect to
    # Where to connect when EXOPS_HOSTS_FILE names ``hostname`` (TLS and SSH still verify
    # ``hostname``); None: the system resolver resolves it (exops.inventory.resolve).
    address: str | None = None
    resolver: str = ""  # who resolves ``hostname``, for error messages ("" for an IP)
    port: int = 443  # HTTPS
    ssh_port: int = 22
    username: str = "admin"
    password: SecretStr = SecretStr("")
    transport: str = "auto"  # rest | ssh | auto
    verify_tls: bool = True
    ca_bundle: str | None = None  # PEM file; None = system trust store
    known_hosts: str | None = None  # None = ~/.ssh/known_hosts
    accept_new_host_keys: bool = False
    connect_timeout_s: float = 5.0
    read_timeout_s: float = 20.0
    retries: int = 2  # for idempotent reads only


class Command(StrEnum):
    FORCE_CONFIG_UPDATE = "ForceConfigUpdate"
    FORCE_SYSTEM_KEY_UPDATE = "ForceSystemKeyUpdate"


@runtime_checkable
class Appliance(Protocol):
    """What exops can do with one peer, whatever the transport."""

    host: str

    def read_settings(self) -> ClusterSettings: ...
    def read_system(self) -> SystemInfo: ...
    def read_uptime(self) -> int | None:
        """Seconds since boot, from one cheap read never retried (restart polls)."""
        ...

    def read_status(self) -> ClusterStatus: ...
    def read_alarms(self) -> tuple[Alarm, ...]: ...
    def read_certificate(self) -> tuple[Certificate | None, tuple[str, ...]]:
        """The server certificate and the subject CNs of the trusted CAs."""
        ...

    def read_log(self, lines: int = 500) -> list[str]: ...
    def write(self, writes: Sequence[Write]) -> None: ...
    def restart(self) -> None: ...
    def command(self, command: Command) -> str: ...
    def probe(self) -> float:
        """Round-trip time in ms of one cheap authenticated request."""
        ...

    def close(self) -> None: ...


def tcp_accepts(address: str, port: int, timeout: float) -> bool:
    """A plain TCP connect to ``address:port``, closed at once: True when the port
    accepts a connection within ``timeout`` seconds. Nothing is sent, no TLS, no
    login: it says only that something listens there, never that the peer answers
    (a restart wait polls with it while the peer is down, then reads for real)."""
    try:
        with socket.create_connection((address, port), timeout=timeout):
            return True
    except OSError:  # refused, unreachable, timed out, does not resolve
        return False


@runtime_checkable
class PortProbe(Protocol):
    """An appliance that can tell, cheaply, whether the port its reads use is open."""

    def accepts_connections(self) -> bool:
        """A plain TCP connect to the port this peer's restart-wait read uses (HTTPS,
        or SSH with the SSH transport), within the connect timeout. Never proof that
        the peer answers: only whether a full read is worth making."""
        ...


def _mapping_rows(settings: ClusterSettings) -> list[tuple[str, str]]:
    rows = [(m.name, m.address) for m in settings.mapping]
    rows += [("", "")] * (MAX_PEERS - len(rows))
    return rows[:MAX_PEERS]


def settings_writes(before: ClusterSettings, after: ClusterSettings) -> tuple[Write, ...]:
    """The minimal writes turning ``before`` into ``after``, in a safe order.

    Non-empty peer addresses are written before any slot is cleared, so that
    no intermediate state of the appliance has every slot empty (the
    factory-reset hazard) unless ``after`` itself is empty. Cluster-wide
    settings come first, the primary last (it must point at a filled slot).
    """
    writes: list[Write] = []
    if before.cluster_name != after.cluster_name:
        writes.append(Write(field=Field.CLUSTER_NAME, value=after.cluster_name))
    if before.ip_version != after.ip_version:
        writes.append(Write(field=Field.IP_VERSION, value=after.ip_version.value))
    if before.tls_mode != after.tls_mode:
        writes.append(Write(field=Field.TLS_MODE, value=after.tls_mode.value))
    for i, ((bn, ba), (an, aa)) in enumerate(
        zip(_mapping_rows(before), _mapping_rows(after), strict=True), start=1
    ):
        if bn != an:
            writes.append(Write(field=Field.MAPPING_NAME, index=i, value=an))
        if ba != aa:
            writes.append(Write(field=Field.MAPPING_ADDRESS, index=i, value=aa))
    if before.mapping_enabled != after.mapping_enabled:
        writes.append(
            Write(field=Field.MAPPING_MODE, value="On" if after.mapping_enabled else "Off")
        )
    writes += [
        Write(field=Field.PEER_ADDRESS, index=slot, value=value)
        for slot, value in _slot_order(before.peers, after.peers)
    ]
    if before.primary != after.primary:
        writes.append(Write(field=Field.PRIMARY, value=after.primary))
    return tuple(writes)


def _slot_order(before: tuple[str, ...], after: tuple[str, ...]) -> list[tuple[int, str]]:
    """The slot writes turning ``before`` into ``after`` such that no state in between
    drops an address both ends list (a peer silently gone from the cluster) or empties
    the list (the factory-reset hazard) unless ``after`` is empty: a peer moving to
    another slot is written in its new slot before its old one is overwritten or
    cleared; a cycle (two peers swapping slots) goes through a spare empty slot.
    The price is a short duplicate while a peer moves (a list compacted by
    remove-peer): a run killed right there leaves a list the appliance reads as
    garbled, which exops refuses to plan on (safety rule R6) rather than drop a peer.
    """
    state = list(before)
    pending = {i: a for i, (b, a) in enumerate(zip(before, after, strict=True)) if b != a}
    needed = {a.lower() for a in after if a}
    order: list[tuple[int, str]] = []

    def drops(i: int) -> bool:
        old = state[i].lower()
        return bool(old) and old in needed and [x.lower() for x in state].count(old) == 1

    def write(i: int, value: str) -> None:
        order.append((i + 1, value))
        state[i] = value

    while pending:
        fills = sorted((i for i in pending if pending[i]), key=lambda i: (bool(state[i]), i))
        step = next((i for i in fills if not drops(i)), None)
        if step is None:
            step = next((i for i in sorted(pending) if not pending[i] and not drops(i)), None)
        if step is None and fills:  # a cycle: keep the blocked peer in a spare slot first
            spare = next((k for k, v in enumerate(state) if not v and k not in pending), None)
            if spare is not None:
                write(spare, state[fills[0]])
                pending[spare] = ""
                continue
            step = fills[0]  # six peers in a full cycle: no spare slot exists
        if step is None:
            step = min(pending)
        write(step, pending.pop(step))
    return order


def apply_writes(settings: ClusterSettings, writes: Sequence[Write]) -> ClusterSettings:
    """Predict the settings after ``writes`` (pure; mirrors the appliance)."""
    peers = list(settings.peers)
    rows = _mapping_rows(settings)
    data = settings.model_dump()
    for w in writes:
        if w.field is Field.PEER_ADDRESS and w.index:
            peers[w.index - 1] = str(w.value)
        elif w.field is Field.PRIMARY:
            data["primary"] = int(w.value)
        elif w.field is Field.CLUSTER_NAME:
            data["cluster_name"] = str(w.value)
        elif w.field is Field.TLS_MODE:
            data["tls_mode"] = TlsMode(str(w.value))
        elif w.field is Field.IP_VERSION:
            data["ip_version"] = IpVersion(str(w.value))
        elif w.field is Field.MAPPING_MODE:
            data["mapping_enabled"] = w.value == "On"
        elif w.field is Field.MAPPING_NAME and w.index:
            rows[w.index - 1] = (str(w.value), rows[w.index - 1][1])
        elif w.field is Field.MAPPING_ADDRESS and w.index:
            rows[w.index - 1] = (rows[w.index - 1][0], str(w.value))
    data["peers"] = tuple(peers)
    data["mapping"] = tuple(AddressMapping(name=n, address=a) for n, a in rows if n or a)
    return ClusterSettings.model_validate(data)


# -- the software upgrade (issue 25; docs/contract.md "Rolling upgrade") ----------------
# REST only (X14.2+): the evidence shows no SSH/CLI upgrade form, so ``Upgrader`` is a
# protocol of its own that ``RestAppliance`` implements whatever the inventory transport;
# ``Appliance`` (and every transport and fake that implements it) is unchanged.


class SftpConfig(Frozen):
    """``PUT .../sftpconfig``: where the peer pulls the image from (the password secret)."""

    server: str  # SftpServer: a host, or host:port (the port form MOCK-DEFINED)
    username: str
    password: SecretStr = SecretStr("")
    rsa_key: str = ""


class UpgradeRequest(Frozen):
    """``POST .../upgrade`` for one peer (ClusterUpgrade is always "no": single node)."""

    location: str  # UpgradeFileLocationSftpPath
    file_name: str  # UpgradeFileName
    sha512: str  # UpgradeFileSha512
    wait_for_call_disconnect: int = 0
    auto_reboot: bool = True


class UpgradeStatus(Frozen):
    """One ``upgradestatus`` answer: the state and the appliance's own time stamp."""

    state: str  # UPGD_... as read; exops judges it against the known states
    updated: str = ""  # StatusUpdateTime, as read (``22-05-18T13-23-36``)


@runtime_checkable
class Upgrader(Protocol):
    """What the rolling upgrade needs of one peer, over REST."""

    host: str

    def put_sftp_config(self, config: SftpConfig) -> None: ...
    def start_upgrade(self, request: UpgradeRequest) -> str:
        """The appliance's answer message (``Upgrade request created successfully``)."""
        ...

    def read_upgrade_status(self) -> UpgradeStatus | None:
        """The latest state (None: the peer has no upgrade on record)."""
        ...

    def close(self) -> None: ...

"""Typed, immutable facts about appliances and clusters.

These models are what the transports produce and what checks, planning and
status consume. Slots and the configuration primary are numbered from 1, as
on the appliance's web page (the CDB's 0-based indices are converted in the
transport). An unreachable peer or a garbled answer is data here
(``PeerFacts.error``), never an exception.
"""

from __future__ import annotations

import ipaddress
import re
from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

MAX_PEERS = 6
CAPACITY_PEERS = 4  # peers beyond the 4th add resilience, not capacity
EMPTY_SLOTS: tuple[str, ...] = ("",) * MAX_PEERS


class Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class TlsMode(StrEnum):
    PERMISSIVE = "Permissive"
    ENFORCE = "Enforce"


class IpVersion(StrEnum):
    IPV4 = "IPv4"
    IPV6 = "IPv6"


class Role(StrEnum):
    EXPRESSWAY_C = "Expressway-C"
    EXPRESSWAY_E = "Expressway-E"
    VCS = "VCS"


class PeerState(StrEnum):
    """A peer's state as another peer (or itself) sees it."""

    ACTIVE = "Active"
    UNKNOWN = "Unknown"
    FAILED = "Failed"


class AddressMapping(Frozen):
    name: str
    address: str


class ClusterSettings(Frozen):
    """The clustering page of one peer: what exops reads and writes.

    Validated strictly (safety rule R6): exactly 6 slots, each empty or a valid
    IPv4/IPv6 address or FQDN, no address twice (case-insensitive), primary
    0..6. A transport whose answer does not validate reports the peer
    unreadable with the reason; nothing is silently normalised.
    """

    peers: tuple[str, ...] = EMPTY_SLOTS
    primary: int = 0  # 1..6; 0 = unset
    cluster_name: str = ""
    ip_version: IpVersion = IpVersion.IPV4
    tls_mode: TlsMode = TlsMode.PERMISSIVE
    mapping_enabled: bool = False
    mapping: tuple[AddressMapping, ...] = ()

    @field_validator("peers", mode="before")
    @classmethod
    def _peers_shape(cls, value: Any) -> Any:
        if not isinstance(value, list | tuple):
            raise ValueError(f"peers: expected a list of {MAX_PEERS} slots, got {value!r}")
        if len(value) != MAX_PEERS:
            raise ValueError(f"peers: expected exactly {MAX_PEERS} slots, got {len(value)}")
        for i, a in enumerate(value, start=1):
            if not isinstance(a, str):
                raise ValueError(f"peer slot {i}: {a!r} is not an address string")
        return tuple(value)

    @field_validator("peers")
    @classmethod
    def _peers_valid(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        seen: dict[str, int] = {}
        for i, a in enumerate(value, start=1):
            if not a:
                continue
            if not is_address(a):
                raise ValueError(f"peer slot {i}: {a!r} is not an IPv4/IPv6 address or FQDN")
            key = address_key(a)
            if key in seen:
                raise ValueError(f"peer slot {i}: {a!r} is also in slot {seen[key]}")
            seen[key] = i
        return value

    @field_validator("primary", mode="before")
    @classmethod
    def _primary_range(cls, value: Any) -> Any:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValueError(f"primary: {value!r} is not a slot number")
        if not 0 <= value <= MAX_PEERS:
            raise ValueError(f"primary: {value} is not a slot from 1 to {MAX_PEERS} (0 = unset)")
        return value

    @property
    def listed(self) -> tuple[str, ...]:
        """The non-empty peer addresses in slot order."""
        return tuple(a for a in self.peers if a)

    @property
    def is_empty(self) -> bool:
        """True when every peer slot is empty (the factory-reset hazard)."""
        return not any(self.peers)

    def slot_of(self, address: str) -> int | None:
        """1-based slot holding ``address`` (``address_key``: case and a trailing dot
        ignored), or None."""
        key = address_key(address)
        for i, a in enumerate(self.peers, start=1):
            if a and address_key(a) == key:
                return i
        return None

    @property
    def primary_address(self) -> str | None:
        if 1 <= self.primary <= MAX_PEERS:
            return self.peers[self.primary - 1] or None
        return None


class Alarm(Frozen):
    id: str
    title: str = ""
    status: str = "raised"  # raised | lowered
    severity: str = "warning"
    uuid: str = ""
    parameters: str = ""
    first_raised: str = ""
    last_raised: str = ""

    @property
    def raised(self) -> bool:
        return self.status == "raised"


class OptionKey(Frozen):
    key: str
    description: str
    count: int | None = None


class Certificate(Frozen):
    subject_cn: str | None
    sans: tuple[str, ...]
    issuer: str
    not_before: datetime
    not_after: datetime
    self_signed: bool
    fingerprint_sha256: str

    def names(self) -> tuple[str, ...]:
        """Every name the certificate vouches for (SANs, else CN), lower case."""
        names = [n.lower() for n in self.sans]
        if self.subject_cn and not names:
            names.append(self.subject_cn.lower())
        return tuple(names)

    def valid_at(self, when: datetime) -> bool:
        return self.not_before <= when <= self.not_after


class SystemInfo(Frozen):
    """What a peer says of itself. ``None`` means *unknown*: not offered by this
    version, missing from the answer, or not parsable. A check fed ``None`` never
    passes (facts fail closed); the transport records why in ``PeerFacts.unknown``."""

    name: str
    version: str | None
    role: Role | None
    platform: str | None  # small | medium | large | appliance model; None = unknown
    hardware: str = ""
    serial: str = ""
    uptime_s: int | None = None
    lan1: str | None = None
    lan2: str | None = None
    hostname: str = ""
    domain: str = ""
    # None: the answer had a shape exops does not read, or was refused (the reason
    # in PeerFacts.unknown); () only when the peer answered "none configured".
    dns_servers: tuple[str, ...] | None = ()
    ntp_servers: tuple[str, ...] | None = ()
    h323_enabled: bool | None = None
    option_keys: tuple[OptionKey, ...] | None = ()
    # The appliance's own clock (UTC) when it answered: minus ``uptime_s``, its boot
    # time on its own clock (``restart --resume``); None = not offered or unparsable.
    system_time: datetime | None = None

    @property
    def fqdn(self) -> str:
        return f"{self.hostname}.{self.domain}" if self.domain else self.hostname


class PeerStatusEntry(Frozen):
    slot: int
    address: str
    state: PeerState
    local: bool = False


class ClusterStatus(Frozen):
    """Live clustering status as one peer reports it."""

    local_slot: int = 0
    database: str = ""  # Active when healthy
    replication: str = ""  # Synchronised when healthy
    last_sync: str = ""
    next_sync: str = ""
    factory_reset_pending: bool = False
    peers: tuple[PeerStatusEntry, ...] = ()


class PeerFacts(Frozen):
    """Everything exops knows about one peer at one moment."""

    host: str  # inventory name
    address: str  # the address the cluster lists it under (inventory data.address)
    fqdn: str = ""  # inventory data.fqdn
    fqdn_addresses: tuple[str, ...] = ()  # what exops resolves fqdn to (hosts file, DNS)
    reachable: bool = False
    error: str | None = None
    # Why it is unreachable: "tls" (certificate or host key not trusted), "auth",
    # "timeout" or "connect" (refused, reset, no route); "" when reachable.
    unreachable_kind: str = ""
    transport: str = ""
    settings: ClusterSettings | None = None
    system: SystemInfo | None = None
    status: ClusterStatus | None = None
    alarms: tuple[Alarm, ...] = ()
    certificate: Certificate | None = None
    trust_store: tuple[str, ...] = ()  # subject CNs of trusted CAs
    rtt_ms: float | None = None
    gathered_at: datetime | None = None
    # Facts exops could not read or parse on a reachable peer: "system.role" ->
    # why (the raw answer's first line where there was one). Never guessed.
    unknown: dict[str, str] = Field(default_factory=dict)

    @property
    def raised_alarms(self) -> tuple[Alarm, ...]:
        return tuple(a for a in self.alarms if a.raised)

    def has_alarm(self, alarm_id: str) -> bool:
        return any(a.id == alarm_id for a in self.raised_alarms)


class ClusterFacts(Frozen):
    """All peers of one cluster, gathered together."""

    cluster: str
    peers: tuple[PeerFacts, ...]
    gathered_at: datetime
    params: dict[str, Any] = Field(default_factory=dict)
    cluster_name: str = ""  # the inventory group's cluster FQDN (create-cluster)

    def peer(self, host: str) -> PeerFacts:
        for p in self.peers:
            if p.host == host:
                return p
        raise KeyError(host)

    def by_address(self, address: str) -> PeerFacts | None:
        for p in self.peers:
            if address_key(p.address) == address_key(address):
                return p
        return None


_LABEL = re.compile(r"^(?!-)[A-Za-z0-9-]{1,63}(?<!-)$")


def is_fqdn(value: str) -> bool:
    """A dotted DNS name (not an IP address), at most 253 characters."""
    if not isinstance(value, str) or not value or len(value) > 253 or is_ip(value):
        return False
    labels = value.rstrip(".").split(".")
    if len(labels) < 2 or labels[-1].isdigit():  # a numeric TLD is a mistyped IP
        return False
    return all(_LABEL.match(label) for label in labels)


def address_key(address: str) -> str:
    """The form peer addresses are compared in: case-insensitive, a trailing dot (a
    fully qualified DNS name, ``exp-1.example.com.``) ignored. exops.facts.address
    builds "does this address designate that peer" on it."""
    return address.lower().rstrip(".")


def is_address(value: object) -> bool:
    """A valid IPv4/IPv6 address or FQDN: what a peer slot may hold."""
    return isinstance(value, str) and (is_ip(value) or is_fqdn(value))


def is_ip(value: str) -> bool:
    try:
        ipaddress.ip_address(value)
    except (ValueError, TypeError):
        return False
    return True


def ip_family(value: str) -> IpVersion | None:
    try:
        ip = ipaddress.ip_address(value)
    except ValueError:
        return None
    return IpVersion.IPV4 if ip.version == 4 else IpVersion.IPV6

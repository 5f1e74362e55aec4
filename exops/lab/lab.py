"""The simulated appliances and their cluster behaviour (one state, two interfaces).

Every peer keeps *saved* cluster settings (what reads show) and settings *in
force* (what its clustering behaviour uses), per docs/contract.md section 6,
both typed (``exops.lab.settings``), and a lifecycle state (``Lifecycle``).
A periodic tick recomputes peer states and alarms and runs replication each
interval. Setting writes are validated and committed here (``Lab.save_setting``).
The REST and SSH front ends only parse their wire forms, call methods of
``Peer`` and ``Lab``, and render the answers; they never keep state of their
own. Faults reach them through one hook (``exops.lab.faults``); log lines
are written by ``exops.lab.logtext``.
"""

from __future__ import annotations

import copy
import math
import secrets
import time
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import Enum
from typing import Any

from exops.lab import certs_api, logtext, settings
from exops.lab.certs import Issued, LabCA, self_signed
from exops.lab.settings import (
    CLUSTER_SPREAD,
    LIVE,
    MAX_PEERS,
    REPLICATED,
    RESTART_KEYS,
    SETTING_RULES,
    ClusterSettings,
    Switch,
    TlsMode,
)

__all__ = [  # also the names other modules and tests take from here
    "ALARMS",
    "CLUSTER_SPREAD",
    "MAINTENANCE_ALARM",
    "MAX_PEERS",
    "RESTART_GRACE_S",
    "SETTING_RULES",
    "Alarm",
    "Lab",
    "Lifecycle",
    "Peer",
    "empty_settings",
    "iso",
]

REPLICATION_S = 120.0
# docs/contract.md section 5: "A restart takes approximately 3 minutes" / "A reboot
# takes approximately 5 minutes" (Expressway Administrator Guide, Maintenance).
# REST restart -> the application restart; xCommand Boot -> a reboot (INFERRED: the
# TANDBERG guides' "Reboots the system").
RESTART_S = 180.0
REBOOT_S = 300.0
# A real appliance goes on answering for some seconds after it accepts a restart
# (services stop first, then the network): simulated seconds, scaled like the rest
# (MOCK-DEFINED; ``--restart-grace 0`` is the instant form).
RESTART_GRACE_S = 10.0

MAINTENANCE_ALARM = "20111"  # MOCK-DEFINED id (see ALARMS)
ALARMS: dict[str, tuple[str, str, str]] = {
    # id: (title, severity, type uuid)
    "20004": (
        "Cluster communication failure: the system is unable to communicate with one or "
        "more of the cluster peers",
        "warning",
        "3bca6888-f622-11df-93be-07cc953d7b99",
    ),
    "20006": (
        "Cluster database communication failure: the database is unable to replicate with "
        "one or more of the cluster peers",
        "warning",
        "0f96695e-d954-4f6f-85c1-2ef1eae6f764",
    ),
    "20007": (
        "Restart required: cluster configuration has been changed, however a restart is "
        "required for this to take effect",
        "warning",
        "e2b8e3d1-b731-4d7d-b606-4682a8f0c2e6",
    ),
    "20101": (
        "Cluster replication error: manual synchronization of configuration is required",
        "error",
        "6a3f5a9e-0101-4e0b-9d1e-000000020101",
    ),
    "20102": (
        "Cluster replication error: the configuration primary ID is inconsistent",
        "error",
        "6a3f5a9e-0101-4e0b-9d1e-000000020102",
    ),
    "20105": ("Cluster primary mismatch", "warning", "6a3f5a9e-0101-4e0b-9d1e-000000020105"),
    "20106": (
        "Invalid clustering configuration: H.323 mode must be turned On",
        "warning",
        "6a3f5a9e-0101-4e0b-9d1e-000000020106",
    ),
    "20107": (
        "Factory reset pending: all peer addresses are empty; this system will be reset to "
        "factory defaults at its next restart",
        "critical",
        "6a3f5a9e-0101-4e0b-9d1e-000000020107",
    ),
    "20110": (
        "Cluster replication error: the local Expressway does not appear in the list of peers",
        "error",
        "6a3f5a9e-0101-4e0b-9d1e-000000020110",
    ),
    # "An alarm is raised while the peer is in maintenance mode." (VCS Admin Guide,
    # CONFIRMED effect); its id, UUID and text are NOT FOUND: MOCK-DEFINED here and in
    # knowledge.toml (class "maintenance"). Raised by ``evaluate`` while
    # ``Peer.maintenance_mode`` is on, lowered when it goes off (restart included).
    MAINTENANCE_ALARM: (
        "Maintenance mode: this peer is in maintenance mode",
        "warning",
        "6a3f5a9e-0101-4e0b-9d1e-000000020111",
    ),
}


def empty_settings() -> ClusterSettings:
    return ClusterSettings()


def iso(ts: float | None) -> str:
    if ts is None:
        return ""
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class Alarm:
    id: str
    uuid: str
    status: str  # raised | lowered
    first_raised: float
    last_raised: float
    parameters: str = ""

    def record(self) -> dict[str, Any]:
        title, severity, _ = ALARMS[self.id]
        return {
            "uuid": self.uuid,
            "id": self.id,
            "status": self.status,
            "severity": severity,
            "first_raised": iso(self.first_raised),
            "last_raised": iso(self.last_raised),
            "title": title,
            "parameters": self.parameters,
        }


class Lifecycle(Enum):
    """Where a peer is in its life: answering, going down (a restart accepted, still
    answering for the lab's restart grace), or down for a restart until it boots."""

    RUNNING = "running"
    STOPPING = "stopping"  # restart accepted; answers as before until its grace is over
    RESTARTING = "restarting"  # listeners closed; boots when its downtime is over


@dataclass
class Peer:
    name: str
    cluster: int
    index: int
    ip: str
    fqdn: str
    role: str = "Expressway-C"
    version: str = "X15.2.1"
    platform: str = "medium"
    hardware: str = "VM"
    h323: bool = True
    cdb_rest: bool = False  # off by default from X14.2 (CONFIRMED)
    maintenance_mode: bool = False
    cert_mode: str = "ok"
    lan2: str | None = None
    # The LAN1 address it reports, when not its socket address (a rehearsal clone
    # reports the real peer's LAN1; None: its own address).
    lan1: str | None = None
    option_keys: list[dict[str, Any]] = field(default_factory=list)
    dns_servers: list[str] = field(default_factory=lambda: ["192.0.2.53"])
    ntp_servers: list[str] = field(default_factory=lambda: ["192.0.2.123"])
    saved: ClusterSettings = field(default_factory=ClusterSettings)
    active: ClusterSettings = field(default_factory=ClusterSettings)  # in force
    state: Lifecycle = Lifecycle.RUNNING
    boot_time: float = field(default_factory=time.time)  # wall-clock time of the last boot
    alarms: dict[str, Alarm] = field(default_factory=dict)
    log: deque[str] = field(default_factory=lambda: deque(maxlen=2000))
    listed_since: dict[str, float] = field(default_factory=dict)
    last_sync: float | None = None
    replication: str = "Not clustered"
    database: str = "Inactive"
    states: dict[str, str] = field(default_factory=dict)  # address -> Active/Unknown/Failed
    forced_error: bool = False
    cert: Issued | None = None
    trust_store: list[bytes] = field(default_factory=list)
    # Certificate renewal (exops/lab/certs_api.py): the pending CSR (its key stays
    # here) and an uploaded certificate that the next restart puts in force.
    csr: Any = None
    next_cert: Issued | None = None
    serial: str = field(default_factory=lambda: secrets.token_hex(5).upper())
    config_rev: int = 0
    hostname: str = ""
    domain: str = ""
    # The SSH shell's welcome: "plain" ends it with a blank line (a real box's
    # does not reliably end in OK), "ok" with an OK line (older form).
    ssh_welcome: str = "plain"
    # The shape of the DNS/NTP server and option-key answers (docs/contract.md 2.1):
    # "documented" (the guide's: DNS {"DefaultDNSServers": {...}}, NTP one object, a
    # list of those for several), "list" (a JSON list of rows) or "undocumented" (a
    # shape no source shows, for tests: exops must read it as unknown).
    server_list_form: str = "documented"
    uuid: str = field(default_factory=lambda: str(uuid.uuid4()))
    # A clone (spec ``clusters:``): the inventory group, the addresses the real
    # cluster lists this peer under (they designate it like its own IP), a
    # restart the real peer was waiting for, and alarms the lab cannot derive
    # (kept raised as read).
    group: str = ""
    aliases: tuple[str, ...] = ()
    pending_restart: bool = False
    static_alarms: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not self.hostname:
            self.hostname, _, self.domain = self.fqdn.partition(".")

    # -- identity ---------------------------------------------------------
    def designates(self, address: str) -> bool:
        a = address.lower()
        own = {
            self.ip,
            self.fqdn.lower(),
            (self.lan1 or "").lower(),
            (self.lan2 or "").lower(),
            *self.aliases,
        }
        return bool(a) and a in own - {""}

    def self_entry(self, settings: ClusterSettings) -> str | None:
        slot = self.local_slot(settings)
        return settings.peers[slot - 1].lower() if slot else None

    def local_slot(self, settings: ClusterSettings) -> int:
        for i, a in enumerate(settings.peers, start=1):
            if a and self.designates(a):
                return i
        return 0

    @property
    def clustered(self) -> bool:
        return any(self.active.peers)

    def master_address(self) -> str | None:
        """The address of the configuration primary in force (None when unset)."""
        return self.active.master_address()

    @property
    def is_primary(self) -> bool:
        addr = self.master_address()
        return bool(addr) and self.designates(addr or "")

    def restart_needed(self) -> bool:
        """docs/contract.md section 6."""
        return self.pending_restart or self.settings_need_restart()

    def settings_need_restart(self) -> bool:
        """Saved settings not yet in force that only a restart puts in force."""
        s, a = self.saved, self.active
        if any(s[k] != a[k] for k in RESTART_KEYS):
            return True
        return self.self_entry(s) != self.self_entry(a)  # peer_address: own entry only

    @property
    def running(self) -> bool:
        """Answering (also while going down: a restart accepted, grace not over)."""
        return self.state is not Lifecycle.RESTARTING

    def uptime(self, scale: float) -> int:
        """Simulated seconds since the last boot (0 while down)."""
        if not self.running:
            return 0
        return int((time.time() - self.boot_time) / max(scale, 1e-9))

    def system_time(self, scale: float) -> str:
        """The peer's own clock, ``YYYY-MM-DD HH:MM:SS`` (UTC; MOCK-DEFINED form): boot
        time plus uptime, so SystemTime - Uptime is its boot time in compressed time too
        (REST sysinfo and ``xStatus SystemUnit`` answer the same)."""
        if not self.running:  # going down: its clock is the wall clock
            return iso(time.time()).replace("T", " ").rstrip("Z")
        try:
            stamp = iso(math.ceil(self.boot_time) + self.uptime(scale))
        except (OverflowError, ValueError, OSError):  # a clock past year 9999
            stamp = iso(time.time())
        return stamp.replace("T", " ").rstrip("Z")

    def factory_reset_pending(self) -> bool:
        return not any(self.saved.peers) and any(self.active.peers)

    @property
    def has_option_keys(self) -> bool:
        """VCS, and Expressway before X14.2 (X14.2 removed option keys: Expressway
        Select Release Note X14.2.5)."""
        return self.role == "VCS" or not _version_at_least(self.version, (14, 2))

    # -- log --------------------------------------------------------------
    @property
    def log_host(self) -> str:
        return self.hostname or self.name

    def emit(self, process: str, **kv: Any) -> None:
        self.log.append(logtext.process_line(self.log_host, process, **kv))


class Lab:
    """Every simulated peer, the lab DNS, faults, and the request log."""

    def __init__(
        self,
        *,
        time_scale: float,
        password: str,
        ca: LabCA,
        restart_grace: float = RESTART_GRACE_S,
    ) -> None:
        self.time_scale = time_scale
        self.restart_grace = restart_grace  # simulated seconds; 0: down at once
        self.password = password
        self.ca = ca
        self.peers: dict[str, Peer] = {}
        self.by_ip: dict[str, Peer] = {}
        self.dns: dict[str, str] = {}
        self.faults: dict[str, dict[str, Any]] = {}
        self.requests: list[dict[str, Any]] = []
        self.restarts: list[dict[str, Any]] = []
        # Peers that accepted a restart and still answer: name -> (requested, goes down).
        self.stopping: dict[str, tuple[float, float, bool]] = {}
        self._seq = 0
        self._fault_seq = 0
        # Front ends register how to close/reopen a peer's listeners.
        self.on_down: Callable[[Peer], Any] = lambda p: None
        self.on_up: Callable[[Peer], Any] = lambda p: None
        self.on_cert: Callable[[Peer], Any] = lambda p: None
        # exops/lab/upgrade.py: a peer boots on an installed image; peers on different
        # versions after an upgrade do not talk (a mixed cluster during a rollout).
        self.on_boot: Callable[[Peer], Any] = lambda p: None
        self.split: Callable[[Peer, Peer], bool] = lambda a, b: False
        # ``up --replay DIR``: every answer comes from a recorded transcript
        # (exops.lab.replay.Replay); None for a simulated lab.
        self.replay: Any = None

    @property
    def interval(self) -> float:
        return REPLICATION_S * self.time_scale

    @property
    def restart_s(self) -> float:
        return RESTART_S * self.time_scale

    @property
    def reboot_s(self) -> float:
        return REBOOT_S * self.time_scale

    @property
    def grace_s(self) -> float:
        """Wall seconds a peer goes on answering after it accepts a restart."""
        return max(self.restart_grace, 0.0) * self.time_scale

    def add(self, peer: Peer) -> None:
        self.peers[peer.name] = peer
        self.by_ip[peer.ip] = peer
        for alias in peer.aliases:
            self.by_ip.setdefault(alias, peer)
        self.dns[peer.fqdn.lower()] = peer.ip
        peer.cert = self.ca.issue(peer.fqdn, peer.ip, peer.cert_mode)
        peer.trust_store = [self.ca.pem]

    # -- request log ---------------------------------------------------------
    def record(
        self, peer: Peer, iface: str, method: str, path: str, write: bool, status: Any
    ) -> None:
        self._seq += 1
        self.requests.append(
            {
                "seq": self._seq,
                "peer": peer.name,
                "iface": iface,
                "method": method,
                "path": path,
                "write": write,
                "status": status,
                "ts": time.time(),
            }
        )

    # -- faults ------------------------------------------------------------------
    def faults_of(self, kind: str) -> list[dict[str, Any]]:
        return [f for f in self.faults.values() if f["kind"] == kind]

    def fault_for(self, kind: str, peer: str, iface: str | None = None) -> dict[str, Any] | None:
        for f in self.faults_of(kind):
            if f.get("peer") == peer and (iface is None or f.get("iface") in (None, iface)):
                return f
        return None

    def use_fault(self, f: dict[str, Any]) -> None:
        """Count one use of a fault with a ``count``; it clears itself at zero."""
        if f.get("count") is not None:
            f["count"] -= 1
            if f["count"] <= 0:
                self.faults.pop(f["id"], None)

    def inject(self, spec: dict[str, Any]) -> str:
        kinds = {
            "unreachable",
            "partition",
            "latency",
            "http_error",
            "slow",
            "drop",
            "restart_hang",
            "ssh_auth_reject",
            "replication_error",
            "replication_stall",
            "garbage",
            "cdb_unavailable",
            "trickle",
            "late",
        }
        kind = spec.get("kind")
        if kind not in kinds:
            raise ValueError(f"unknown fault kind {kind!r}; known: {', '.join(sorted(kinds))}")
        if kind == "cdb_unavailable" and int(spec.get("status", 503)) not in (503, 408):
            raise ValueError("cdb_unavailable: status must be 503 or 408")
        for key in ("peer", "a", "b"):
            if key in spec and spec[key] not in self.peers:
                raise ValueError(f"unknown peer {spec[key]!r}")
        self._fault_seq += 1
        fid = f"f{self._fault_seq}"
        self.faults[fid] = {**spec, "id": fid}
        peer = self.peers.get(spec.get("peer", ""))
        if kind == "unreachable" and peer and peer.running:
            self.on_down(peer)
        if kind == "replication_error" and peer:
            peer.forced_error = True
        return fid

    def clear(self, fid: str | None = None) -> list[str]:
        ids = [fid] if fid else list(self.faults)
        cleared = []
        for i in ids:
            f = self.faults.pop(i, None)
            if f is None:
                continue
            cleared.append(i)
            peer = self.peers.get(f.get("peer", ""))
            if f["kind"] == "unreachable" and peer and peer.running:
                self.on_up(peer)
            if f["kind"] == "restart_hang" and peer and peer.state is Lifecycle.RESTARTING:
                self._boot(peer)
        return cleared

    def reachable(self, peer: Peer) -> bool:
        return peer.running and self.fault_for("unreachable", peer.name) is None

    def link(self, a: Peer, b: Peer) -> bool:
        if not (self.reachable(a) and self.reachable(b)):
            return False
        return all({f["a"], f["b"]} != {a.name, b.name} for f in self.faults_of("partition"))

    def latency_ms(self, peer: str) -> float:
        return max(
            (float(f["ms"]) for f in self.faults_of("latency") if peer in (f["a"], f["b"])),
            default=0.0,
        )

    # -- resolution and trust ------------------------------------------------------
    def resolve(self, viewer: Peer, address: str) -> Peer | None:
        a = address.lower()
        if viewer.active.map_mode == Switch.ON:
            for name, mapped in viewer.active.map:
                if name and name.lower() == a:
                    return self.by_ip.get(mapped)
        if a in self.by_ip:
            return self.by_ip[a]
        ip = self.dns.get(a)
        return self.by_ip.get(ip) if ip else None

    def trusts(self, viewer: Peer, other: Peer, address: str) -> bool:
        """Under TLS Enforce: the address is a DNS SAN of a valid, CA-signed cert."""
        if viewer.active.tls != TlsMode.ENFORCE:
            return True
        cert = other.cert
        if cert is None or not cert.valid:
            return False
        if not certs_api.trusted(cert, viewer.trust_store, self.ca.pem):
            return False
        return address.lower() in {d.lower() for d in cert.dns_names}

    def talks(self, x: Peer, y: Peer, addr_of_y: str) -> bool:
        """x can use y, listed under addr_of_y, as a cluster peer right now."""
        if not self.link(x, y) or not self.trusts(x, y, addr_of_y) or self.split(x, y):
            return False
        back = next((a for a in y.active.peers if a and x.designates(a)), None)
        return back is not None and self.trusts(y, x, back)

    # -- the cluster database: which peers share one --------------------------------
    def db_group(self, peer: Peer) -> list[Peer]:
        """The other peers ``peer``'s cluster database is connected to right now.

        A peer it talks to (docs/contract.md section 6 rules), and transitively
        the peers those talk to, in discovery order. Empty when it is alone.
        """
        seen = {peer.name}
        order: list[Peer] = []
        queue = [peer]
        while queue:
            x = queue.pop(0)
            if not self.reachable(x):
                continue
            for addr in x.active.peers:
                if not addr or x.designates(addr):
                    continue
                y = self.resolve(x, addr)
                if y is None or y.name in seen or not self.talks(x, y, addr):
                    continue
                seen.add(y.name)
                order.append(y)
                queue.append(y)
        return order

    # -- settings writes ---------------------------------------------------------
    @staticmethod
    def check_setting(key: str, value: Any, index: int | None = None) -> str | None:
        """Why ``save_setting`` would refuse this typed value, or None (nothing is
        committed: a REST row write checks every field before it saves any)."""
        return settings.check(key, value, index)

    def save_setting(
        self,
        peer: Peer,
        key: str,
        value: Any,
        index: int | None = None,
        *,
        via: str = "cli",
        source: tuple[str, int] | None = None,
    ) -> str | None:
        """Validate and commit one typed setting; returns an error reason, or None when saved.

        ``key`` is a settings key (``peers``, ``master``, ``name``, ``tls``,
        ``ipver``, ``map_mode``, ``map_name``, ``map_address``) or ``h323``;
        ``value`` its typed value (``exops.lab.settings``: ``master`` the
        1-based slot, 0 unset; ``tls`` a ``TlsMode``; ``h323`` a ``Switch``).
        ``index`` is the 1-based slot/row of ``peers``/``map_*``. A cluster
        database field lands at once on every peer this peer's database is
        connected to (same timestamp). ``via="web"`` also logs the web front
        end's line (REST writes), with ``source`` (client address, port) as its
        Src-ip/Src-port.
        """
        reason = settings.check(key, value, index)
        if reason is not None:
            return reason
        if key == "h323":
            self.set_h323(peer, value == Switch.ON)
            self.evaluate(peer)
            return None
        now = datetime.now(UTC)
        targets = [peer] + (self.db_group(peer) if key in CLUSTER_SPREAD else [])
        web_before = peer.saved.copy()
        for target in targets:
            before = target.saved.copy()
            self._store(target, key, value, index)
            if target.saved == before:
                continue
            if key in REPLICATED or key.startswith("map_"):
                target.config_rev += 1
            target.log.extend(
                logtext.clusterdb_changes(target.log_host, target.fqdn, before, target.saved, now)
            )
            self._after_save(target)
        if via == "web":
            src_ip, src_port = source or ("127.0.0.1", 0)
            peer.log.extend(
                logtext.web_changes(
                    peer.log_host, web_before, peer.saved, src_ip=src_ip, src_port=src_port, now=now
                )
            )
        return None

    @staticmethod
    def _store(peer: Peer, key: str, value: Any, index: int | None) -> None:
        saved = peer.saved
        if key == "peers" and index is not None:
            saved.peers[index - 1] = value
            if value and value.lower() not in peer.listed_since:
                peer.listed_since[value.lower()] = time.time()
        elif key == "map_name" and index is not None:
            saved.map[index - 1] = (value, saved.map[index - 1][1])
        elif key == "map_address" and index is not None:
            saved.map[index - 1] = (saved.map[index - 1][0], value)
        else:
            saved[key] = value

    def set_h323(self, peer: Peer, on: bool) -> None:
        if peer.h323 != on:
            peer.h323 = on
            peer.config_rev += 1
            peer.emit(
                "httpd",
                Event="System Configuration Changed",
                Detail=f"xconfiguration h323 mode - changed to: {'On' if on else 'Off'}",
            )

    def _after_save(self, peer: Peer) -> None:
        if peer.settings_need_restart():
            for key in LIVE:
                peer.active[key] = copy.copy(peer.saved[key])
        else:
            peer.active = peer.saved.copy()
        self.evaluate(peer)

    # -- restart and factory reset -------------------------------------------------
    def restart(self, peer: Peer, *, reboot: bool = False) -> None:
        """Accept a restart (REST restart: down for ``restart_s``; ``xCommand Boot``: a
        reboot, ``reboot_s``): the peer answers as before for the grace (uptime still
        counting, settings not yet in force), then goes down (``due_downs``). A request
        while it is already going down joins that restart."""
        if peer.state is not Lifecycle.RUNNING:
            return
        peer.emit("kernel", Event="System Restart", Detail="Restart requested by admin")
        now = time.time()
        peer.state = Lifecycle.STOPPING
        self.stopping[peer.name] = (now, now + self.grace_s, reboot)
        if self.grace_s <= 0:
            self._go_down(peer)

    def due_downs(self, now: float) -> None:
        for name, (_requested, down_at, _reboot) in list(self.stopping.items()):
            if now >= down_at:
                self._go_down(self.peers[name])

    def _go_down(self, peer: Peer) -> None:
        requested, _, reboot = self.stopping.pop(peer.name, (time.time(), 0.0, False))
        peer.state = Lifecycle.RESTARTING
        self.on_down(peer)
        self.restarts.append(
            {
                "peer": peer.name,
                "requested_at": requested,
                "down_at": time.time(),
                "downtime_s": self.reboot_s if reboot else self.restart_s,
            }
        )

    def due_boots(self, now: float) -> None:
        for r in self.restarts:
            if r.get("booted"):
                continue
            peer = self.peers[r["peer"]]
            if now >= r["down_at"] + r["downtime_s"] and not self.fault_for(
                "restart_hang", peer.name
            ):
                r["booted"] = now
                self._boot(peer)

    def _boot(self, peer: Peer) -> None:
        for r in self.restarts:
            if r["peer"] == peer.name and not r.get("booted"):
                r["booted"] = time.time()
        certs_api.on_boot(self, peer)
        if peer.factory_reset_pending():
            self._factory_reset(peer)
        peer.pending_restart = False
        # "Maintenance mode is automatically disabled if the peer is restarted." (VCS
        # Admin Guide, CONFIRMED): off before its first answer, so no read after the
        # boot shows it on (exops.lab.traffic moves its load on the same boot).
        peer.maintenance_mode = False
        peer.active = peer.saved.copy()
        self.on_boot(peer)
        peer.state = Lifecycle.RUNNING
        peer.boot_time = time.time()
        peer.listed_since = {a.lower(): time.time() for a in peer.active.peers if a}
        peer.last_sync = None
        peer.emit("kernel", Event="System Start", Detail="System started")
        self.evaluate(peer)
        if self.fault_for("unreachable", peer.name) is None:
            self.on_up(peer)

    def _factory_reset(self, peer: Peer) -> None:
        """Domain doc 3.9: keep LAN1 basics, wipe the rest."""
        peer.emit("kernel", Event="Factory Reset", Detail="Resetting to factory defaults")
        peer.saved = ClusterSettings()
        peer.dns_servers, peer.ntp_servers = [], []
        peer.hostname, peer.domain = "", ""
        peer.lan2 = None
        peer.alarms = {}
        peer.h323 = True
        peer.forced_error = False
        certs_api.forget(peer)
        if _version_at_least(peer.version, (12, 6)):
            peer.cert = self_signed(peer.fqdn, peer.ip)
            peer.cert_mode = "self_signed"
            peer.trust_store = []
            self.on_cert(peer)

    # -- replication and status ------------------------------------------------------
    def force_config_update(self, peer: Peer) -> str | None:
        """Returns an error reason, or None on success."""
        if peer.is_primary:
            return "This command must be run on a subordinate peer"
        if self.fault_for("replication_error", peer.name):
            return "Replication is failing: cannot contact the configuration primary"
        primary = self._primary_of(peer)
        if primary is None or not self.talks(peer, primary, peer.master_address() or ""):
            return "Cannot contact the configuration primary"
        peer.forced_error = False
        self._copy_config(primary, peer)
        peer.emit(
            "replication",
            Module="developer.replication",
            Level="INFO",
            Detail="Forced configuration update from the configuration primary completed",
        )
        self.evaluate(peer)
        return None

    def force_system_key_update(self, peer: Peer) -> None:
        """``xCommand ForceSystemKeyUpdate``: logged, and a system-key alarm (20109) goes."""
        peer.emit("kernel", Event="System Key Updated", Detail="ForceSystemKeyUpdate completed")
        peer.alarms.pop("20109", None)

    def _primary_of(self, peer: Peer) -> Peer | None:
        addr = peer.master_address()
        return self.resolve(peer, addr) if addr else None

    def _copy_config(self, src: Peer, dst: Peer) -> None:
        before = dst.saved.copy()
        for key in REPLICATED:
            dst.saved[key] = copy.copy(src.saved[key])
        if dst.h323 != src.h323:
            self.set_h323(dst, src.h323)
        dst.config_rev = src.config_rev
        if before != dst.saved:
            dst.log.extend(
                logtext.clusterdb_changes(
                    dst.log_host, dst.fqdn, before, dst.saved, datetime.now(UTC)
                )
            )
            self._after_save(dst)

    def replicate(self, peer: Peer, now: float) -> None:
        """One replication run of one subordinate (and the primary's log lines)."""
        if not peer.running or not peer.clustered:
            return
        master_idx = max(peer.active.master - 1, 0)
        local_idx = max(peer.local_slot(peer.active) - 1, 0)
        peer.emit(
            "replication",
            Module="developer.replication",
            Level="INFO",
            Detail="Starting synchronisation",
        )
        if peer.is_primary:
            peer.emit(
                "replication",
                Module="developer.replication",
                Level="INFO",
                Detail="This peer is the cluster master, local configuration has already been "
                "replicated to the other peers",
                ConfigurationMasterIndex=master_idx,
                LocalPeerIndex=local_idx,
            )
            peer.last_sync = now
            peer.emit(
                "replication",
                Module="developer.replication",
                Level="INFO",
                Detail="Synchronisation completed successfully",
            )
            return
        if self.fault_for("replication_stall", peer.name):
            # Replication silently does not run for this subordinate (the minutes
            # before a real peer raises a replication alarm): no copy, no sync time.
            return
        primary = self._primary_of(peer)
        ok = (
            primary is not None
            and not peer.forced_error
            and primary.is_primary
            and self.talks(peer, primary, peer.master_address() or "")
        )
        if not ok or primary is None:
            peer.emit(
                "replication",
                Module="developer.replication",
                Level="ERROR",
                Detail="Failed connecting to node",
                ConfigurationMasterIndex=master_idx,
                LocalPeerIndex=local_idx,
            )
            return
        if (
            peer.config_rev != primary.config_rev
            or any(peer.saved[k] != primary.saved[k] for k in REPLICATED)
            or peer.h323 != primary.h323
        ):
            self._copy_config(primary, peer)
        peer.last_sync = now
        peer.emit(
            "replication",
            Module="developer.replication",
            Level="INFO",
            Detail="This peer is not the cluster master, local configuration is already up to date",
            ConfigurationMasterIndex=master_idx,
            LocalPeerIndex=local_idx,
        )
        peer.emit(
            "replication",
            Module="developer.replication",
            Level="INFO",
            Detail="Synchronisation completed successfully",
        )

    def evaluate(self, peer: Peer) -> None:
        """Recompute one peer's view of its cluster peers and its alarms."""
        if not peer.running:
            return
        now = time.time()
        states: dict[str, str] = {}
        for addr in peer.active.peers:
            if not addr:
                continue
            if peer.designates(addr):
                states[addr] = "Active"
                continue
            other = self.resolve(peer, addr)
            if other is not None and self.talks(peer, other, addr):
                states[addr] = "Active"
            elif now - peer.listed_since.get(addr.lower(), 0.0) < self.interval:
                states[addr] = "Unknown"
            else:
                states[addr] = "Failed"
        peer.states = states
        want: dict[str, str] = {}
        if peer.clustered:
            failed = [a for a, s in states.items() if s == "Failed"]
            if failed:
                want["20004"] = f"unreachable: {', '.join(failed)}"
                want["20006"] = f"cannot replicate with: {', '.join(failed)}"
            if peer.self_entry(peer.active) is None:
                want["20110"] = ""
            if not peer.h323:
                want["20106"] = ""
            mismatch = self._primary_mismatch(peer)
            if mismatch:
                want["20105"] = mismatch
                want["20102"] = mismatch
            if peer.forced_error:
                want["20101"] = "manual synchronization of configuration is required"
            peer.database = "Failed" if failed else "Active"
            synced = peer.is_primary or (peer.last_sync is not None and not peer.forced_error)
            peer.replication = (
                "Synchronised"
                if synced and not mismatch
                else ("Failed" if peer.forced_error or mismatch or failed else "Pending")
            )
        else:
            peer.database, peer.replication = "Inactive", "Not clustered"
        if peer.restart_needed():
            want["20007"] = ""
        if peer.factory_reset_pending():
            want["20107"] = ""
        if peer.maintenance_mode:  # clustered or not: the peer's own state
            want[MAINTENANCE_ALARM] = ""
        for aid in peer.static_alarms:
            want.setdefault(aid, "")
        self._set_alarms(peer, want, now)

    def _primary_mismatch(self, peer: Peer) -> str:
        mine = self._primary_of(peer)
        for addr, state in peer.states.items():
            other = self.resolve(peer, addr)
            if state != "Active" or other is None or other is peer:
                continue
            theirs = self._primary_of(other)
            if theirs is not mine:
                return f"{other.name} names a different configuration primary"
        return ""

    def _set_alarms(self, peer: Peer, want: dict[str, str], now: float) -> None:
        for aid, params in want.items():
            alarm = peer.alarms.get(aid)
            if alarm is None or alarm.status != "raised":
                _, severity, type_uuid = ALARMS[aid]
                first = alarm.first_raised if alarm else now
                peer.alarms[aid] = Alarm(aid, type_uuid, "raised", first, now, params)
                peer.log.append(
                    logtext.alarm_line(
                        peer.log_host,
                        raised=True,
                        alarm_id=aid,
                        uuid=type_uuid,
                        severity=severity,
                        detail=ALARMS[aid][0],
                    )
                )
        for aid, alarm in peer.alarms.items():
            if alarm.status == "raised" and aid not in want:
                alarm.status = "lowered"
                peer.log.append(
                    logtext.alarm_line(
                        peer.log_host,
                        raised=False,
                        alarm_id=aid,
                        uuid=alarm.uuid,
                        severity=ALARMS[aid][1],
                        detail=ALARMS[aid][0],
                    )
                )

    def tick(self, now: float) -> None:
        self.due_downs(now)
        self.due_boots(now)
        for peer in self.peers.values():
            if (
                peer.running
                and peer.clustered
                and (peer.last_sync is None or now - peer.last_sync >= self.interval)
            ):
                self.replicate(peer, now)
        for peer in self.peers.values():
            self.evaluate(peer)

    # -- snapshots for the control API -------------------------------------------------
    def snapshot(self, peer: Peer) -> dict[str, Any]:
        return {
            "name": peer.name,
            "ip": peer.ip,
            "fqdn": peer.fqdn,
            "cluster": peer.cluster,
            "role": peer.role,
            "version": peer.version,
            "platform": peer.platform,
            "h323": peer.h323,
            "cdb_rest": peer.cdb_rest,
            "cert": peer.cert_mode,
            "running": peer.running,
            "lifecycle": peer.state.value,
            "reachable": self.reachable(peer),
            "uptime_s": peer.uptime(self.time_scale) if peer.running else None,
            "saved": peer.saved.to_json(),
            "active": peer.active.to_json(),
            "restart_required": peer.restart_needed(),
            "factory_reset_pending": peer.factory_reset_pending(),
            "is_primary": peer.is_primary,
            "states": dict(peer.states),
            "database": peer.database,
            "replication": peer.replication,
            "last_sync": iso(peer.last_sync),
            "config_rev": peer.config_rev,
            "alarms": sorted(a.id for a in peer.alarms.values() if a.status == "raised"),
            "dns_servers": list(peer.dns_servers),
            "ntp_servers": list(peer.ntp_servers),
            "server_list_form": peer.server_list_form,
            "hostname": peer.hostname,
            "domain": peer.domain,
            "lan2": peer.lan2,
            "trust_store": len(peer.trust_store),
            "option_keys": copy.deepcopy(peer.option_keys),
        }


def _version_at_least(version: str, minimum: tuple[int, int]) -> bool:
    digits = version.lstrip("Xx").split(".")
    try:
        return (int(digits[0]), int(digits[1]) if len(digits) > 1 else 0) >= minimum
    except ValueError:
        return True

"""The inventory: clusters and their peers, from a Nornir SimpleInventory.

A cluster is a group whose ``data`` has ``cluster_name``; a peer is a host in
exactly one such group. The files are validated here first, with the file and
line of every problem, because Nornir's own loader reports malformed files
poorly. Credentials never sit in the YAML: they come from the environment
(per peer, per cluster, or global) or the OS keyring when it is installed.

Environment variables, most specific first:
``EXOPS_PASSWORD_<PEER>``, ``EXOPS_PASSWORD_<CLUSTER>``, ``EXOPS_PASSWORD``
(names upper-cased, every character other than A-Z and 0-9 becomes ``_``);
then keyring service ``exops`` with the peer, the cluster, or ``default`` as
user name.
"""

from __future__ import annotations

import hashlib
import ipaddress
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from pydantic import SecretStr

from exops.appliance.base import ConnectionTarget
from exops.core import yamldoc
from exops.core.errors import InventoryError, UsageError
from exops.core.models import MAX_PEERS, Role, is_address, is_fqdn, is_ip
from exops.core.settings import Settings

FILES = ("hosts.yaml", "groups.yaml", "defaults.yaml")
HOST_KEYS = {"hostname", "port", "username", "groups", "data", "platform", "connection_options"}
HOST_DATA_KEYS = {"address", "fqdn", "role", "ssh_port", "slot", "transport", "description"}
GROUP_DATA_KEYS = {"cluster_name", "transport", "ip_version", "tls_mode", "description"}
TRANSPORTS = ("rest", "ssh", "auto")
_LABEL = re.compile(r"^(?!-)[A-Za-z0-9-]{1,63}(?<!-)$")
# Host and cluster names become file names (locks, backups, reports): letters,
# digits, '.', '_' and '-', not starting with '.' or '-', no '..', at most 64.
_NAME = re.compile(r"^(?![.-])[A-Za-z0-9._-]{1,64}$")
__all__ = ["is_address", "is_fqdn", "is_safe_name"]


def is_safe_name(value: object) -> bool:
    """A host or cluster name that is safe as a file name (no path, no '..')."""
    return isinstance(value, str) and bool(_NAME.match(value)) and ".." not in value


@dataclass(frozen=True)
class PeerSpec:
    """One peer as the inventory describes it."""

    name: str
    cluster: str
    hostname: str
    port: int
    ssh_port: int
    address: str
    fqdn: str
    role: Role | None
    slot: int | None
    transport: str
    username: str


@dataclass(frozen=True)
class ClusterSpec:
    name: str  # the group name, used on the command line
    cluster_name: str  # the cluster FQDN set on the appliances
    peers: tuple[PeerSpec, ...]  # intended slot order (slot, then name)
    data: Mapping[str, Any]

    @property
    def members(self) -> tuple[str, ...]:
        """The addresses of its peers (lower case, sorted): what identifies the cluster,
        whatever an inventory calls it."""
        return tuple(sorted({p.address.lower() for p in self.peers}))

    @property
    def lock_key(self) -> str:
        """The host-wide lock's name: the cluster's name and a digest of its members'
        addresses. Two inventories that both call a cluster ``c1`` (two sites, two labs)
        do not lock each other out; the same cluster in two inventory copies does."""
        digest = hashlib.sha256("\n".join(self.members).encode()).hexdigest()[:12]
        return f"{self.name}.{digest}"

    def peer(self, name: str) -> PeerSpec:
        for p in self.peers:
            if p.name == name:
                return p
        known = ", ".join(p.name for p in self.peers)
        raise UsageError(f"unknown peer {name!r} in cluster {self.name} (peers: {known})")


@dataclass(frozen=True)
class Inventory:
    path: Path
    clusters: Mapping[str, ClusterSpec]

    def cluster(self, name: str) -> ClusterSpec:
        if name not in self.clusters:
            known = ", ".join(sorted(self.clusters)) or "none"
            raise UsageError(f"unknown cluster {name!r} (inventory {self.path} has: {known})")
        return self.clusters[name]

    def select(self, names: list[str] | None) -> list[ClusterSpec]:
        if not names:
            return [self.clusters[n] for n in sorted(self.clusters)]
        return [self.cluster(n) for n in names]


# An inventory of a few hundred hosts is tens of KiB; aliases are a fair way to
# share host data, so more of them are allowed than in a runbook (still bounded).
MAX_INVENTORY_BYTES = 8 * 1024 * 1024
MAX_INVENTORY_ALIASES = 4096


class _Located:
    """A YAML document with the line of every mapping key, for error messages.

    Read by exops's one YAML reader (``exops.core.yamldoc``): a regular file of at
    most ``MAX_INVENTORY_BYTES``, YAML 1.2 booleans, a key given twice (a host,
    a group) refused with both lines."""

    def __init__(self, path: Path):
        self.path = path
        self.lines: dict[tuple[str, ...], int] = {}
        if not path.exists() and not path.is_symlink():
            raise InventoryError(f"{path}: file not found")
        doc = yamldoc.read(
            path,
            MAX_INVENTORY_BYTES,
            "inventory file",
            error=InventoryError,
            max_aliases=MAX_INVENTORY_ALIASES,
        )
        self.data = doc.data
        if doc.node is not None:
            self._index(doc.node, ())

    def _index(self, node: yaml.Node, prefix: tuple[str, ...]) -> None:
        if isinstance(node, yaml.MappingNode):
            for key, value in node.value:
                path = (*prefix, str(key.value))
                self.lines[path] = key.start_mark.line + 1
                self._index(value, path)

    def where(self, *keys: str) -> str:
        for n in range(len(keys), 0, -1):
            if keys[:n] in self.lines:
                return f"{self.path.name}:{self.lines[keys[:n]]}: {'.'.join(keys)}"
        return f"{self.path.name}: {'.'.join(keys)}"

    def fail(self, message: str, *keys: str) -> InventoryError:
        return InventoryError(f"{self.path.parent}/{self.where(*keys)}: {message}")


def _mapping(doc: _Located, value: Any, *keys: str) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise doc.fail(f"expected a mapping, found {type(value).__name__}", *keys)
    return value


def _int(doc: _Located, value: Any, low: int, high: int, *keys: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise doc.fail(f"{value!r} is not a whole number from {low} to {high}", *keys)
    return value


def _role(doc: _Located, value: Any, *keys: str) -> Role | None:
    if value is None:
        return None
    for role in Role:
        if str(value).lower() == role.value.lower():
            return role
    allowed = ", ".join(r.value for r in Role)
    raise doc.fail(f"unknown role {value!r} (expected one of {allowed})", *keys)


def _check_keys(doc: _Located, data: dict[str, Any], allowed: set[str], *keys: str) -> None:
    for key in data:
        if key == "password":
            raise doc.fail(
                "passwords do not belong in the inventory; set EXOPS_PASSWORD "
                "(or a per-cluster / per-peer variable) or use the OS keyring",
                *keys,
                key,
            )
        if key not in allowed:
            raise doc.fail(
                f"unknown key (expected one of {', '.join(sorted(allowed))})", *keys, key
            )


def _load_groups(directory: Path) -> tuple[_Located, dict[str, dict[str, Any]]]:
    doc = _Located(directory / "groups.yaml")
    groups = _mapping(doc, doc.data)
    for name, raw in groups.items():
        group = _mapping(doc, raw, name)
        if "cluster_name" in (group.get("data") or {}) and not is_safe_name(name):
            raise doc.fail(_name_problem(name, "cluster"), str(name))
        data = _mapping(doc, group.get("data"), name, "data")
        _check_keys(doc, data, GROUP_DATA_KEYS, name, "data")
        if "cluster_name" in data and not is_fqdn(str(data["cluster_name"])):
            raise doc.fail(
                f"{data['cluster_name']!r} is not a valid FQDN", name, "data", "cluster_name"
            )
        if data.get("transport", "auto") not in TRANSPORTS:
            raise doc.fail(
                f"{data['transport']!r} is not one of {', '.join(TRANSPORTS)}",
                name,
                "data",
                "transport",
            )
        groups[name] = {**group, "data": data}
    return doc, groups


def load_inventory(directory: Path, settings: Settings) -> Inventory:
    """Read and validate an inventory directory.

    Raises:
        InventoryError: a file is missing or malformed; the message names the
            file, line and key.
    """
    if not directory.is_dir():
        raise InventoryError(
            f"{directory}: inventory directory not found (use --inventory or EXOPS_INVENTORY)"
        )
    _, groups = _load_groups(directory)
    defaults_doc = _Located(directory / "defaults.yaml")
    defaults = _mapping(defaults_doc, defaults_doc.data)
    _check_keys(defaults_doc, defaults, HOST_KEYS - {"hostname", "groups"})
    doc = _Located(directory / "hosts.yaml")
    hosts = _mapping(doc, doc.data)
    members: dict[str, list[PeerSpec]] = {
        g: [] for g, v in groups.items() if "cluster_name" in v["data"]
    }
    seen_mgmt: dict[tuple[str, int], str] = {}
    for name, raw in hosts.items():
        if not is_safe_name(name):
            raise doc.fail(_name_problem(name, "host"), str(name))
        peer = _peer(doc, str(name), _mapping(doc, raw, str(name)), groups, defaults, settings)
        key = (peer.hostname, peer.port)
        if key in seen_mgmt:
            raise doc.fail(
                f"{peer.hostname}:{peer.port} is also used by {seen_mgmt[key]}", name, "hostname"
            )
        seen_mgmt[key] = peer.name
        members[peer.cluster].append(peer)
    clusters = {}
    for group, peers in members.items():
        _check_cluster(doc, group, peers, groups[group]["data"].get("ip_version"))
        ordered = sorted(peers, key=lambda p: (p.slot or MAX_PEERS + 1, p.name))
        data = groups[group]["data"]
        clusters[group] = ClusterSpec(group, str(data["cluster_name"]), tuple(ordered), data)
    return Inventory(path=directory, clusters=clusters)


def _peer(
    doc: _Located,
    name: str,
    raw: dict[str, Any],
    groups: dict[str, dict[str, Any]],
    defaults: dict[str, Any],
    settings: Settings,
) -> PeerSpec:
    _check_keys(doc, raw, HOST_KEYS, name)
    data = _mapping(doc, raw.get("data"), name, "data")
    _check_keys(doc, data, HOST_DATA_KEYS, name, "data")
    hostname = raw.get("hostname")
    if not isinstance(hostname, str) or not (is_address(hostname) or _LABEL.match(hostname)):
        raise doc.fail(f"{hostname!r} is not an IP address or DNS name", name, "hostname")
    member_of = raw.get("groups") or []
    if not isinstance(member_of, list):
        raise doc.fail("expected a list of group names", name, "groups")
    for g in member_of:
        if g not in groups:
            raise doc.fail(f"unknown group {g!r} (not in groups.yaml)", name, "groups")
    clusters = [g for g in member_of if "cluster_name" in groups[g]["data"]]
    if len(clusters) != 1:
        raise doc.fail(
            f"a peer belongs to exactly one cluster group (a group with data.cluster_name); "
            f"found {len(clusters)}",
            name,
            "groups",
        )
    address = str(data.get("address", hostname))
    if not is_address(address):
        raise doc.fail(
            f"{address!r} is neither an IP address nor a valid FQDN", name, "data", "address"
        )
    fqdn = str(data.get("fqdn", "") or "")
    if fqdn and not is_fqdn(fqdn):
        raise doc.fail(f"{fqdn!r} is not a valid FQDN", name, "data", "fqdn")
    group_data = groups[clusters[0]]["data"]
    transport = settings.transport or data.get("transport") or group_data.get("transport", "auto")
    if transport not in TRANSPORTS:
        raise doc.fail(
            f"{transport!r} is not one of {', '.join(TRANSPORTS)}", name, "data", "transport"
        )
    port = _int(doc, raw.get("port", defaults.get("port", 443)), 1, 65535, name, "port")
    ssh_port = _int(doc, data.get("ssh_port", 22), 1, 65535, name, "data", "ssh_port")
    slot = data.get("slot")
    if slot is not None:
        slot = _int(doc, slot, 1, MAX_PEERS, name, "data", "slot")
    username = settings.username or raw.get("username") or defaults.get("username") or "admin"
    return PeerSpec(
        name=name,
        cluster=clusters[0],
        hostname=hostname,
        port=port,
        ssh_port=ssh_port,
        address=address,
        fqdn=fqdn,
        role=_role(doc, data.get("role"), name, "data", "role"),
        slot=slot,
        transport=str(transport),
        username=str(username),
    )


def _name_problem(name: object, kind: str) -> str:
    return (
        f"{kind} name {name!r} is not allowed: it becomes a file name, so use letters, "
        "digits, '.', '_' and '-' (not first), no '..', at most 64 characters"
    )


def _check_cluster(
    doc: _Located, group: str, peers: list[PeerSpec], ip_version: Any = None
) -> None:
    addresses: dict[str, str] = {}
    slots: dict[int, str] = {}
    families: dict[str, str] = {}  # "IPv4"/"IPv6" -> first peer listed by such an address
    for p in peers:
        if is_ip(p.address):
            family = f"IPv{ipaddress.ip_address(p.address).version}"
            if ip_version and family.lower() != str(ip_version).lower():
                raise doc.fail(
                    f"{p.address} is an {family} address but cluster {group} has "
                    f"ip_version {ip_version}",
                    p.name,
                    "data",
                    "address",
                )
            other = next((f"{n} ({f})" for f, n in families.items() if f != family), None)
            if other:
                raise doc.fail(
                    f"{p.address} is an {family} address but {other} is not; "
                    "a cluster uses one IP version",
                    p.name,
                    "data",
                    "address",
                )
            families.setdefault(family, p.name)
        other = addresses.get(p.address.lower())
        if other:
            raise doc.fail(
                f"address {p.address} is also used by {other} in cluster {group}",
                p.name,
                "data",
                "address",
            )
        addresses[p.address.lower()] = p.name
        if p.slot is not None:
            if p.slot in slots:
                raise doc.fail(
                    f"slot {p.slot} is also given to {slots[p.slot]}", p.name, "data", "slot"
                )
            slots[p.slot] = p.name


def _env_name(value: str) -> str:
    return re.sub(r"[^A-Z0-9]", "_", value.upper())


def password_for(peer: PeerSpec, environ: Mapping[str, str] | None = None) -> SecretStr:
    """The admin password for a peer, from the environment or the keyring.

    Raises:
        UsageError: no password is configured anywhere (names the variables).
    """
    env = os.environ if environ is None else environ
    names = [
        f"EXOPS_PASSWORD_{_env_name(peer.name)}",
        f"EXOPS_PASSWORD_{_env_name(peer.cluster)}",
        "EXOPS_PASSWORD",
    ]
    for var in names:
        if env.get(var):
            return SecretStr(env[var])
    secret = _keyring_password(peer)
    if secret:
        return SecretStr(secret)
    raise UsageError(
        f"no password for peer {peer.name}: set {names[0]}, {names[1]} or {names[2]} "
        "(or store one in the OS keyring under service 'exops')"
    )


def _keyring_password(peer: PeerSpec) -> str | None:
    try:
        import keyring  # optional dependency
        from keyring.errors import KeyringError
    except ImportError:
        return None
    for user in (peer.name, peer.cluster, "default"):
        try:
            value = keyring.get_password("exops", user)
        except KeyringError:
            return None
        if value:
            return str(value)
    return None


def connection_target(
    peer: PeerSpec, settings: Settings, environ: Mapping[str, str] | None = None
) -> ConnectionTarget:
    """Everything a transport needs to reach one peer."""
    from exops.inventory.resolve import management_address

    address, resolver = management_address(peer.hostname, settings.hosts_file)
    return ConnectionTarget(
        host=peer.name,
        hostname=peer.hostname,
        address=address,
        resolver=resolver,
        port=peer.port,
        ssh_port=peer.ssh_port,
        username=peer.username,
        password=password_for(peer, environ),
        transport=peer.transport,
        verify_tls=not settings.insecure,
        ca_bundle=settings.ca_bundle,
        known_hosts=settings.known_hosts,
        accept_new_host_keys=settings.accept_new_host_keys,
        connect_timeout_s=settings.connect_timeout,
        read_timeout_s=settings.read_timeout,
    )


def nornir_inventory(
    clusters: list[ClusterSpec],
    connection_options: Mapping[str, Mapping[str, Any]] | None = None,
) -> Any:
    """Nornir's inventory of ``clusters``, built in memory from the validated one.

    The files are not read again (Nornir's SimpleInventory would parse them a
    second time, with ruamel). One group per cluster (its ``data``), one host
    per peer with the address, port and user exops connects with; the peer's
    inventory facts in ``data``. ``connection_options``: host name -> plugin
    name -> extras (e.g. the resolved ``ConnectionTarget``).
    """
    from nornir.core.inventory import (
        ConnectionOptions,
        Defaults,
        Group,
        Groups,
        Host,
        Hosts,
        ParentGroups,
    )
    from nornir.core.inventory import Inventory as NornirInventory

    defaults = Defaults()
    groups = Groups()
    hosts = Hosts()
    options = connection_options or {}
    for cluster in clusters:
        group = groups[cluster.name] = Group(
            name=cluster.name, data=dict(cluster.data), defaults=defaults
        )
        for peer in cluster.peers:
            hosts[peer.name] = Host(
                name=peer.name,
                hostname=peer.hostname,
                port=peer.port,
                username=peer.username,
                groups=ParentGroups([group]),
                data={
                    "address": peer.address,
                    "fqdn": peer.fqdn,
                    "role": peer.role.value if peer.role else None,
                    "ssh_port": peer.ssh_port,
                    "slot": peer.slot,
                    "transport": peer.transport,
                },
                connection_options={
                    plugin: ConnectionOptions(extras=dict(extras))
                    for plugin, extras in options.get(peer.name, {}).items()
                },
                defaults=defaults,
            )
    return NornirInventory(hosts=hosts, groups=groups, defaults=defaults)

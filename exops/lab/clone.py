"""A lab that clones a real cluster: the ``clusters:`` form of ``--spec``.

``exops rehearse`` writes this file from what it read on a real cluster and
starts the lab with it (``python -m exops.lab up --spec FILE``)::

    clusters:
      core-c:                          # inventory group (exops's -c name)
        cluster_name: core.example.com
        peers:                         # in slot order
          - name: exp-c-1
            address: 10.0.0.11         # what the cluster lists it under (IP or FQDN)
            resolves_to: 10.0.0.11     # what its FQDN resolves to (the lab's hosts file)
            fqdn: exp-c-1.example.com
            role: Expressway-C         # Expressway-C | Expressway-E | VCS
            version: X15.2.1
            platform: medium
            h323: true
            cdb_rest: false
            cert: ok                   # ok | missing_san | wrong_name | expired | self_signed
            lan1: 10.0.0.11            # the LAN1 it reports (the real peer's; default its own)
            lan2: null
            settings:                  # saved cluster settings, as read
              peers: [10.0.0.11, 10.0.0.12, "", "", "", ""]
              master: 1                # 1-based, 0 unset
              name: core.example.com
              tls: Permissive          # Permissive | Enforce
              ipver: IPv4              # IPv4 | IPv6
              map_mode: "Off"
              map: [[name, ip], ...]
            restart_pending: false     # 20007 until it restarts
            replication_error: false   # 20101 (the lab's replication_error model)
            alarms:                    # raised alarms the lab cannot derive: kept raised
              - {id: "40001", title: ..., severity: warning, uuid: ...}
    faults:                            # injected at start (peers that did not answer)
      - {kind: unreachable, peer: exp-c-3}

Each peer listens on ``<subnet>.<cluster #>.<10 + position>``; the address
the real cluster lists it under designates it (so slot lists, primaries and
address mappings are the real ones, unchanged).
"""

from __future__ import annotations

import time
from enum import StrEnum
from typing import Any, TypeVar

from exops.lab.lab import ALARMS, MAINTENANCE_ALARM, Lab, Peer
from exops.lab.settings import MAX_PEERS, ClusterSettings, IpVersion, Switch, TlsMode

ROLES = ("Expressway-C", "Expressway-E", "VCS")
CERT_MODES = ("ok", "missing_san", "wrong_name", "expired", "self_signed")
# Alarms the lab derives from its own state: never forced, they rise and clear.
DERIVED = frozenset(
    {"20004", "20006", "20007", "20101", "20102", "20105", "20106", "20107", "20110", "20111"}
)


E = TypeVar("E", bound=StrEnum)


class CloneSpecError(ValueError):
    """A clone spec the lab cannot build (names the cluster, peer and field)."""


def _settings(raw: Any, where: str) -> ClusterSettings:
    s = ClusterSettings()
    if raw is None:
        return s
    if not isinstance(raw, dict):
        raise CloneSpecError(f"{where}: settings must be a mapping")
    peers = [str(a or "") for a in raw.get("peers", [])]
    if len(peers) > MAX_PEERS:
        raise CloneSpecError(f"{where}: settings.peers has more than {MAX_PEERS} slots")
    s.peers = peers + [""] * (MAX_PEERS - len(peers))
    s.master = int(raw.get("master", 0))
    if not 0 <= s.master <= MAX_PEERS:
        raise CloneSpecError(f"{where}: settings.master must be 0..{MAX_PEERS}")
    s.name = str(raw.get("name", ""))
    s.tls = _choice(raw, "tls", TlsMode, where)
    s.ipver = _choice(raw, "ipver", IpVersion, where)
    s.map_mode = Switch.ON if raw.get("map_mode") in ("On", True) else Switch.OFF
    rows = [(str(n), str(a)) for n, a in (raw.get("map") or [])][:MAX_PEERS]
    s.map = rows + [("", "")] * (MAX_PEERS - len(rows))
    return s


def _choice(raw: dict[str, Any], key: str, kind: type[E], where: str) -> E:
    """``settings.<key>`` as a member of ``kind`` (absent: its first member)."""
    members = list(kind)
    text = str(raw.get(key, members[0].value))
    for member in members:
        if member.value == text:
            return member
    names = " or ".join(m.value for m in members)
    raise CloneSpecError(f"{where}: settings.{key} must be {names}")


def check_spec(spec: dict[str, Any]) -> None:
    """Refuse a bad clone spec before any listener starts (one line naming the place)."""

    class _NoCA:  # nothing is issued: only the spec is checked
        pem = b""

        def issue(self, *args: Any) -> None:
            return None

    build_clone(Lab(time_scale=1.0, password="-", ca=_NoCA()), spec, "127.0")  # type: ignore[arg-type]


def build_clone(lab: Lab, spec: dict[str, Any], subnet: str) -> None:
    """Add every peer of a ``clusters:`` spec to ``lab`` (settings in force as saved)."""
    clusters = spec.get("clusters")
    if not isinstance(clusters, dict) or not clusters:
        raise CloneSpecError("spec: clusters must map group names to clusters")
    names: dict[str, str] = {}
    for c, (group, cluster) in enumerate(clusters.items(), start=1):
        peers = (cluster or {}).get("peers") or []
        if not 1 <= len(peers) <= MAX_PEERS:
            raise CloneSpecError(f"cluster {group}: 1..{MAX_PEERS} peers expected")
        names[str(group)] = str(cluster.get("cluster_name", ""))
        for k, raw in enumerate(peers, start=1):
            lab.add(_peer(raw, group=str(group), c=c, k=k, subnet=subnet))
    lab.cluster_names = names  # type: ignore[attr-defined]
    now = time.time()
    for peer in lab.peers.values():
        peer.active = peer.saved.copy()
        peer.listed_since = {a.lower(): 0.0 for a in peer.saved.peers if a}
        peer.last_sync = now if peer.clustered else None
    for peer in lab.peers.values():
        lab.evaluate(peer)


def _peer(raw: Any, *, group: str, c: int, k: int, subnet: str) -> Peer:
    if not isinstance(raw, dict) or not raw.get("name"):
        raise CloneSpecError(f"cluster {group} peer {k}: needs a name")
    name = str(raw["name"])
    where = f"cluster {group} peer {name}"
    role = str(raw.get("role") or "Expressway-C")
    if role not in ROLES:
        raise CloneSpecError(f"{where}: role {role!r} is not one of {', '.join(ROLES)}")
    cert = str(raw.get("cert") or "ok")
    if cert not in CERT_MODES:
        raise CloneSpecError(f"{where}: cert {cert!r} is not one of {', '.join(CERT_MODES)}")
    ip = f"{subnet}.{c}.{10 + k}"
    address = str(raw.get("address") or ip).lower()
    fqdn = str(raw.get("fqdn") or f"{name}.clone.invalid")
    static = []
    # The maintenance alarm is derived from maintenance mode: a peer cloned with it is
    # a clone in maintenance mode (it sheds, and its restart turns the mode off).
    maintenance = any(str(a.get("id", "")) == MAINTENANCE_ALARM for a in raw.get("alarms") or [])
    for alarm in raw.get("alarms") or []:
        aid = str(alarm.get("id", ""))
        if not aid or aid in DERIVED:
            continue
        ALARMS.setdefault(
            aid,
            (
                str(alarm.get("title") or f"alarm {aid}"),
                str(alarm.get("severity") or "warning"),
                str(alarm.get("uuid") or ""),
            ),
        )
        static.append(aid)
    peer = Peer(
        name=name,
        cluster=c,
        index=k,
        ip=ip,
        fqdn=fqdn,
        role=role,
        version=str(raw.get("version") or "X15.2.1"),
        platform=str(raw.get("platform") or "medium"),
        h323=bool(raw.get("h323", True)),
        cdb_rest=bool(raw.get("cdb_rest", False)),
        maintenance_mode=maintenance,
        cert_mode=cert,
        lan1=raw.get("lan1") or None,
        lan2=raw.get("lan2") or None,
        saved=_settings(raw.get("settings"), where),
        group=group,
        aliases=(address,) if address != ip else (),
        pending_restart=bool(raw.get("restart_pending", False)),
        static_alarms=tuple(static),
        forced_error=bool(raw.get("replication_error", False)),
    )
    if raw.get("option_keys") is not None:
        peer.option_keys = list(raw["option_keys"])
    else:
        from exops.lab.server import option_keys

        peer.option_keys = option_keys(role, c)
    peer.hosts_ip = str(raw.get("resolves_to") or "") or (  # type: ignore[attr-defined]
        address if _is_ip(address) else ip
    )
    return peer


def _is_ip(text: str) -> bool:
    import ipaddress

    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True

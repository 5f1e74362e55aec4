"""Configuration snapshots as data, and the drift between two of them (pure).

``peer_doc(PeerFacts)`` flattens what exops read of one peer into ``setting ->
value`` (the stored form of a snapshot's peer, exops.state.snapshots): the
cluster settings, the system facts (name, version, role, platform, DNS and NTP
servers, H.323 mode, option keys where the version has them) and the server
certificate's public parts with the trusted CAs' names. What is volatile
(uptime, the clock, alarms, cluster status) is not configuration and is left out.
Never stored: a secret of any kind. An option key is kept as its description,
count and a SHA-256 fingerprint of the key, never the key itself; a certificate
by its public parts (no private key is ever read).

A value exops could not read is *unknown* (``None``, with the reason in
``unknown``); a whole group it could not read (``cluster``, ``system``,
``certificate``) is named in ``unknown`` with the reason. ``compare`` never
calls an unknown value drift, nor equal: it is its own kind of row, and a diff
with unknown rows is not a clean diff.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from enum import StrEnum
from typing import Any

from exops.core.models import Certificate, ClusterSettings, PeerFacts, SystemInfo
from exops.facts.gather import Fact
from exops.plan.preflight import option_key_rule

SCHEMA = "exops.diff/1"
SNAPSHOT_SCHEMA = "exops.snapshot/1"
# What a snapshot reads of each peer (exops.facts.gather.Fact).
SNAPSHOT_FACTS: frozenset[Fact] = frozenset({Fact.SETTINGS, Fact.SYSTEM, Fact.CERTIFICATE})
GROUPS = ("cluster", "system", "certificate")
PEER = "(peer)"  # the setting name of a row about the peer as a whole
# PeerFacts.unknown keys -> the setting they leave unknown.
_UNKNOWN_KEYS = {"system.h323_mode": "system.h323_enabled"}  # setting -> PeerFacts.unknown key


# -- a peer's configuration, flattened ----------------------------------------------


def _cluster(s: ClusterSettings) -> dict[str, str | None]:
    out: dict[str, str | None] = {
        f"cluster.peer_{i}": address for i, address in enumerate(s.peers, start=1)
    }
    out["cluster.primary"] = str(s.primary)
    out["cluster.name"] = s.cluster_name
    out["cluster.tls_mode"] = s.tls_mode.value
    out["cluster.ip_version"] = s.ip_version.value
    out["cluster.address_mapping"] = "On" if s.mapping_enabled else "Off"
    for i, m in enumerate(s.mapping, start=1):
        out[f"cluster.address_mapping_{i}"] = f"{m.name}={m.address}"
    return out


def key_fingerprint(key: str) -> str:
    """The first 16 hex digits of the key's SHA-256: a change shows, the key does not."""
    return "sha256:" + hashlib.sha256(key.encode()).hexdigest()[:16]


def _system(s: SystemInfo, transport: str) -> dict[str, str | None]:
    """The system facts; over SSH alone the system name and LAN addresses are not
    offered (``xStatus SystemUnit`` has neither): unknown, never guessed or "".
    The hardware model is left out: not configuration, and the two interfaces
    name it differently ("VM" / "VMware")."""
    rest = transport != "ssh"
    out: dict[str, str | None] = {
        "system.name": s.name if rest else None,
        "system.version": s.version,
        "system.role": s.role.value if s.role is not None else None,
        "system.platform": s.platform,
        "system.serial": s.serial,
        "system.lan1": (s.lan1 or "") if rest else None,
        "system.lan2": (s.lan2 or "") if rest else None,
        "system.hostname": s.hostname,
        "system.domain": s.domain,
    }
    # A server list or option keys exops could not read are unknown (None), never "none".
    for kind, servers in (("dns", s.dns_servers), ("ntp", s.ntp_servers)):
        if servers is None:
            out[f"system.{kind}_servers"] = None
        else:
            out.update({f"system.{kind}_server_{i}": a for i, a in enumerate(servers, start=1)})
    h323 = s.h323_enabled
    out["system.h323_mode"] = None if h323 is None else ("On" if h323 else "Off")
    seen: dict[str, int] = {}
    if s.option_keys is None:
        out["system.option_keys"] = None
    for k in s.option_keys or ():
        seen[k.description] = seen.get(k.description, 0) + 1
        name = k.description + (f" #{seen[k.description]}" if seen[k.description] > 1 else "")
        count = "-" if k.count is None else str(k.count)
        out[f"system.option_key.{name}"] = f"count {count}, key {key_fingerprint(k.key)}"
    return out


def _certificate(c: Certificate | None, trusted: Sequence[str]) -> dict[str, str | None]:
    out: dict[str, str | None] = {}
    if c is None:
        out["certificate.server"] = "none"
    else:
        out.update(
            {
                "certificate.subject_cn": c.subject_cn or "",
                "certificate.sans": ", ".join(c.sans),
                "certificate.issuer": c.issuer,
                "certificate.not_before": c.not_before.isoformat(),
                "certificate.not_after": c.not_after.isoformat(),
                "certificate.self_signed": "yes" if c.self_signed else "no",
                "certificate.fingerprint_sha256": c.fingerprint_sha256,
            }
        )
    out["certificate.trusted_cas"] = "; ".join(sorted(trusted))
    return out


def peer_doc(pf: PeerFacts) -> dict[str, Any]:
    """One peer's stored snapshot document (JSON-ready)."""
    values: dict[str, str | None] = {}
    unknown: dict[str, str] = {}
    why = pf.error or "not read"
    if not pf.reachable:
        unknown = dict.fromkeys(GROUPS, why)
    else:
        if pf.settings is None:
            unknown["cluster"] = why
        else:
            values.update(_cluster(pf.settings))
        if pf.system is None:
            unknown["system"] = why
        else:
            values.update(_system(pf.system, pf.transport))
            if values.get("system.option_keys", "") is None and option_key_rule(pf)[0] == "none":
                # Expressway X14.2+: no option keys exist (evidence: Release Note X14.2.5)
                values["system.option_keys"] = "none (Smart Licensing only)"
            for setting, value in values.items():
                if value is None and setting.startswith("system."):
                    key = _UNKNOWN_KEYS.get(setting, setting)
                    unknown[setting] = pf.unknown.get(key) or (
                        "not offered over SSH" if pf.transport == "ssh" else "not offered"
                    )
        if pf.certificate is None and not pf.trust_store and pf.error is not None:
            unknown["certificate"] = why  # a failed read, not "no certificate"
        else:
            values.update(_certificate(pf.certificate, pf.trust_store))
    return {
        "host": pf.host,
        "address": pf.address,
        "reachable": pf.reachable,
        "transport": pf.transport,
        "gathered_at": pf.gathered_at.isoformat() if pf.gathered_at else None,
        "error": pf.error,
        "values": values,
        "unknown": unknown,
    }


def complete(doc: Mapping[str, Any]) -> bool:
    """The peer answered and every group of settings was read (a single value the
    peer does not offer, such as the platform size over SSH, is not a gap here)."""
    unknown = doc.get("unknown") or {}
    return bool(doc.get("reachable")) and not any(g in unknown for g in GROUPS)


# -- the drift between two sides ----------------------------------------------------


class Change(StrEnum):
    SAME = "same"
    CHANGED = "changed"
    ADDED = "added"  # in the later side only
    REMOVED = "removed"  # in the earlier side only
    UNKNOWN = "unknown"  # one side could not be read: neither drift nor equal


DRIFT = frozenset({Change.CHANGED, Change.ADDED, Change.REMOVED})


@dataclass(frozen=True)
class Side:
    """One side of a diff: a stored snapshot or the live cluster."""

    label: str  # "snapshot 3f2a... (2026-12-06T10:00:00Z)" | "live"
    cluster: str
    taken_at: str
    snapshot_id: str | None = None  # None: the live cluster
    run_id: str | None = None


@dataclass(frozen=True)
class Row:
    host: str
    setting: str
    before: str | None
    after: str | None
    change: Change
    note: str = ""

    @property
    def unknown_both(self) -> bool:
        """A value neither side could read (a value the peer does not offer either
        time): listed with ``--all`` only, counted as not compared."""
        return (
            self.change is Change.UNKNOWN
            and self.before is None
            and self.after is None
            and self.setting != PEER
            and self.setting not in GROUPS
        )

    @property
    def shown(self) -> bool:
        """Listed by default: drift, and what could not be compared on one side."""
        return self.change is not Change.SAME and not self.unknown_both


@dataclass
class Diff:
    before: Side
    after: Side
    rows: list[Row] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def drift(self) -> list[Row]:
        return [r for r in self.rows if r.change in DRIFT]

    @property
    def unknown(self) -> list[Row]:
        return [r for r in self.rows if r.change is Change.UNKNOWN]

    @property
    def unread(self) -> list[Row]:
        """Unknown rows of a whole peer or group (a side that could not be read), as
        opposed to one value a peer does not offer (the platform size over SSH)."""
        return [r for r in self.unknown if r.setting == PEER or r.setting in GROUPS]

    @property
    def compared(self) -> int:
        return sum(1 for r in self.rows if r.change is not Change.UNKNOWN)

    def to_json(self, *, all_rows: bool = False) -> dict[str, Any]:
        rows = self.rows if all_rows else [r for r in self.rows if r.shown]
        return {
            "schema": SCHEMA,
            "before": asdict(self.before),
            "after": asdict(self.after),
            "drift": len(self.drift),
            "unknown": len(self.unknown),
            "unread": len(self.unread),
            "compared": self.compared,
            "peers_with_drift": sorted({r.host for r in self.drift}),
            "notes": self.notes,
            "rows": [{**asdict(r), "change": r.change.value} for r in rows],
        }


_MISSING = object()


def _peer_rows(before: Mapping[str, Any], after: Mapping[str, Any]) -> list[Row]:
    host = str(after.get("host") or before.get("host"))
    for side, name in ((before, "before"), (after, "after")):
        if not side.get("reachable"):
            note = f"not read {name}: {side.get('error') or 'unreachable'}"
            return [Row(host, PEER, None, None, Change.UNKNOWN, note)]
    bv: Mapping[str, Any] = before.get("values") or {}
    av: Mapping[str, Any] = after.get("values") or {}
    bu: Mapping[str, str] = before.get("unknown") or {}
    au: Mapping[str, str] = after.get("unknown") or {}
    rows: list[Row] = []
    for group in GROUPS:  # a group one side could not read at all: one row
        for unknown, name in ((bu, "before"), (au, "after")):
            if group in unknown:
                note = f"{group} not read {name}: {unknown[group]}"
                rows.append(Row(host, group, None, None, Change.UNKNOWN, note))
                break
    skipped = {r.setting for r in rows}
    for key in dict.fromkeys([*bv, *av]):
        if key.split(".", 1)[0] in skipped:
            continue
        b, a = bv.get(key, _MISSING), av.get(key, _MISSING)
        if b is None or a is None:
            why = bu.get(key) or au.get(key) or "not offered by this peer"
            rows.append(Row(host, key, _opt(b), _opt(a), Change.UNKNOWN, why))
        elif b is _MISSING:
            rows.append(Row(host, key, None, str(a), Change.ADDED))
        elif a is _MISSING:
            rows.append(Row(host, key, str(b), None, Change.REMOVED))
        else:
            change = Change.SAME if b == a else Change.CHANGED
            rows.append(Row(host, key, str(b), str(a), change))
    return rows


def _opt(value: Any) -> str | None:
    return None if value is None or value is _MISSING else str(value)


def compare(
    before: Side,
    before_peers: Iterable[Mapping[str, Any]],
    after: Side,
    after_peers: Iterable[Mapping[str, Any]],
) -> Diff:
    """Every setting of every peer on both sides, peers in the later side's order
    (a peer on one side only is one row ``(peer)`` added or removed)."""
    b = {str(p["host"]): p for p in before_peers}
    a = {str(p["host"]): p for p in after_peers}
    diff = Diff(before, after)
    moved: dict[tuple[str, str], list[str]] = {}
    for host in dict.fromkeys([*a, *b]):
        if host not in b:
            diff.rows.append(Row(host, PEER, None, a[host].get("address"), Change.ADDED))
        elif host not in a:
            diff.rows.append(Row(host, PEER, b[host].get("address"), None, Change.REMOVED))
        else:
            diff.rows.extend(_peer_rows(b[host], a[host]))
            bt, at = b[host].get("transport") or "", a[host].get("transport") or ""
            if bt and at and bt != at:
                moved.setdefault((bt, at), []).append(host)
    for (bt, at), hosts in moved.items():
        diff.notes.append(
            f"{', '.join(hosts)}: read over {bt} before and over {at} after: a value one "
            "interface does not offer shows as unknown on that side"
        )
    return diff


def snapshot_side(snapshot: Mapping[str, Any]) -> Side:
    sid = str(snapshot["snapshot_id"])
    return Side(
        label=f"snapshot {sid}",
        cluster=str(snapshot["cluster"]),
        taken_at=str(snapshot["taken_at"]),
        snapshot_id=sid,
        run_id=str(snapshot.get("run_id") or ""),
    )


def snapshot_json(snapshot: Mapping[str, Any]) -> str:
    """A stored snapshot as one JSON document (``exops snapshot --show``)."""
    return json.dumps({"schema": SNAPSHOT_SCHEMA, **snapshot}, indent=2, default=str) + "\n"

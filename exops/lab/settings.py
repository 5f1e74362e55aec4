"""The lab model's cluster settings: typed values, the rule table, validation.

A peer keeps two ``ClusterSettings``: *saved* (what reads show) and *in
force* (what its clustering behaviour uses), per docs/contract.md section 6.
Values are typed (``TlsMode``, ``IpVersion``, ``Switch``; ``master`` is the
1-based slot, 0 unset); each front end decodes its own wire form into these
types (the CDB's 0-based ``master_idx`` and ``Enforcing``, the CLI's 1-based
``ConfigurationMaster``) and the lab validates and commits them.

A settings object also reads and writes by its settings key
(``saved["ipver"]``): the control API's snapshot uses those keys, and so do
the setting rules below.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

MAX_PEERS = 6

# The wire's vocabulary; exops.core.models spells the same enums, but the mock never
# imports exops (it is the independent side of the contract tests).


class TlsMode(StrEnum):
    PERMISSIVE = "Permissive"
    ENFORCE = "Enforce"


class IpVersion(StrEnum):
    IPV4 = "IPv4"
    IPV6 = "IPv6"


class Switch(StrEnum):
    ON = "On"
    OFF = "Off"


MapRow = tuple[str, str]  # (name, address) of one address-mapping row


def _slots() -> list[str]:
    return [""] * MAX_PEERS


def _rows() -> list[MapRow]:
    return [("", "")] * MAX_PEERS


@dataclass
class ClusterSettings:
    """One peer's cluster settings (saved or in force)."""

    peers: list[str] = field(default_factory=_slots)  # slot i+1 -> address, "" empty
    master: int = 0  # 1-based slot of the configuration primary; 0 unset
    name: str = ""
    tls: TlsMode = TlsMode.PERMISSIVE
    ipver: IpVersion = IpVersion.IPV4
    map_mode: Switch = Switch.OFF
    map: list[MapRow] = field(default_factory=_rows)

    def copy(self) -> ClusterSettings:
        return dataclasses.replace(self, peers=list(self.peers), map=list(self.map))

    def __getitem__(self, key: str) -> Any:
        if key not in KEYS:
            raise KeyError(key)
        return getattr(self, key)

    def __setitem__(self, key: str, value: Any) -> None:
        if key not in KEYS:
            raise KeyError(key)
        kind = ENUMS.get(key)
        setattr(self, key, kind(value) if kind is not None else value)

    def to_json(self) -> dict[str, Any]:
        """The control API's form: settings keys, enums as their text, rows as pairs."""
        return {
            "peers": list(self.peers),
            "master": self.master,
            "name": self.name,
            "tls": str(self.tls),
            "ipver": str(self.ipver),
            "map_mode": str(self.map_mode),
            "map": [list(row) for row in self.map],
        }

    def master_address(self) -> str | None:
        m = self.master
        return self.peers[m - 1] or None if 1 <= m <= MAX_PEERS else None


KEYS = tuple(f.name for f in dataclasses.fields(ClusterSettings))
ENUMS: dict[str, type[StrEnum]] = {"tls": TlsMode, "ipver": IpVersion, "map_mode": Switch}


@dataclass(frozen=True)
class SettingRule:
    """How one cluster setting is stored, spread and put in force.

    Mirrors ``exops.appliance.knowledge.SETTING_RULES`` (the mock never imports
    exops; tests/contract/test_contract_cdb.py compares the two tables).
    ``spread``: ``cluster`` = a cluster-database table field, lands at once on
    every peer this peer's database is connected to (TechNote 217230: a
    ``tls_verify`` change is logged by two peers in the same millisecond);
    ``replicated`` = copied from the configuration primary on the ~2-minute
    replication cycle; ``local`` = this peer only. ``effect``: ``restart`` =
    a save raises 20007 until a restart (for ``peer_address`` only this peer's
    own entry), ``live`` = in force at once (docs/contract.md section 6).
    """

    key: str  # the setting's key (a ClusterSettings key, map_name/map_address, or "h323")
    table: str  # CDB table
    field: str  # CDB field
    row_key: str | None  # the field that addresses a row (None: single-record table)
    spread: str  # cluster | replicated | local
    effect: str  # live | restart


SETTING_RULES: dict[str, SettingRule] = {
    "peer_address": SettingRule(
        "peers", "configuration/alternates", "ip_address", "index", "local", "restart"
    ),
    "primary": SettingRule(
        "master", "configuration/alternatesmaster", "master_idx", None, "local", "live"
    ),
    "cluster_name": SettingRule(
        "name", "configuration/cluster", "cluster_name", None, "cluster", "live"
    ),
    "tls_mode": SettingRule(
        "tls", "configuration/cluster", "tls_verify", None, "cluster", "restart"
    ),
    "ip_version": SettingRule(
        "ipver", "configuration/cluster", "ip_version", None, "cluster", "restart"
    ),
    "mapping_mode": SettingRule(
        "map_mode", "configuration/cluster", "address_mapping", None, "cluster", "live"
    ),
    "mapping_name": SettingRule(
        "map_name", "configuration/clusteraddressmapping", "name", "index", "cluster", "live"
    ),
    "mapping_address": SettingRule(
        "map_address", "configuration/clusteraddressmapping", "address", "index", "cluster", "live"
    ),
    "h323_mode": SettingRule("h323", "configuration/h323", "mode", None, "replicated", "live"),
}
RULE_BY_KEY = {r.key: r for r in SETTING_RULES.values()}
# Settings keys of cluster-database fields that spread at once to connected peers.
CLUSTER_SPREAD = frozenset(r.key for r in SETTING_RULES.values() if r.spread == "cluster")
# Settings keys whose change needs a restart (peer_address: only the peer's own entry).
RESTART_KEYS = tuple(
    r.key for r in SETTING_RULES.values() if r.effect == "restart" and r.key != "peers"
)
# The configuration/cluster fields, in the order the database logs them.
CLUSTER_FIELDS = tuple(
    (r.key, r.field) for r in SETTING_RULES.values() if r.table == "configuration/cluster"
)
REPLICATED = ("tls", "name", "map_mode", "map")  # plus h323 (a non-cluster setting)
# Settings keys in force at once, even on a peer waiting for a restart for another reason:
# the rule table's "live" rows (map_name/map_address are the rows of "map"; h323 is not
# a cluster setting). The configuration primary is one (domain doc 3.5 switches it with
# no restart; docs/contract.md section 6).
LIVE = tuple(
    dict.fromkeys(
        "map" if r.key in ("map_name", "map_address") else r.key
        for r in SETTING_RULES.values()
        if r.effect == "live" and r.key != "h323"
    )
)

# The cluster database spells TLS Enforce "Enforcing" (its tls_verify field, its log lines).
TLS_CDB = {TlsMode.PERMISSIVE: "Permissive", TlsMode.ENFORCE: "Enforcing"}

TEXT_KEYS = frozenset({"peers", "name", "map_name", "map_address"})
_ENUM_VALUES: dict[str, tuple[type[StrEnum], dict[str, StrEnum], str]] = {
    # key: (type, accepted spellings, what the refusal says it expected)
    "tls": (
        TlsMode,
        {**{v.value: v for v in TlsMode}, **{text: v for v, text in TLS_CDB.items()}},
        "Permissive or Enforcing",
    ),
    "ipver": (IpVersion, {v.value: v for v in IpVersion}, "IPv4 or IPv6"),
    "map_mode": (Switch, {v.value: v for v in Switch}, "On or Off"),
    "h323": (Switch, {v.value: v for v in Switch}, "On or Off"),
}


def parse_text(key: str, text: str) -> tuple[Any, str | None]:
    """A text or enum setting as both interfaces spell it: ``(typed value, None)``
    or ``(None, reason)``. The CLI and the CDB spell these alike, except TLS
    ``Enforce``, which the CDB spells ``Enforcing``: both are accepted on
    either interface. ``master`` is not here (its numbering is each wire's)."""
    if key in TEXT_KEYS:
        return text, None
    kind = _ENUM_VALUES.get(key)
    if kind is None:
        return None, f"Unknown setting {key!r}"
    value = kind[1].get(text)
    if value is None:
        return None, f"Invalid value: expected {kind[2]}"
    return value, None


def check(key: str, value: Any, index: int | None) -> str | None:
    """Why a typed value cannot be saved under ``key`` (and row ``index``), or None.

    ``index`` is the 1-based slot/row of ``peers``/``map_*`` (None otherwise).
    Nothing is coerced: a value of the wrong type is refused.
    """
    rule = RULE_BY_KEY.get(key)
    if rule is None:
        return f"Unknown setting {key!r}"
    if rule.row_key is not None:
        if index is None or not 1 <= index <= MAX_PEERS:
            return f"Invalid index: expected 0-{MAX_PEERS - 1}"
    elif index is not None:
        return f"{rule.table}/{rule.field} has no rows"
    if key == "master":
        if isinstance(value, bool) or not isinstance(value, int):
            return "Invalid value: expected a number"
        if not 0 <= value <= MAX_PEERS:
            return f"Invalid value: the primary's slot must be 0..{MAX_PEERS}"
        return None
    if key in TEXT_KEYS:
        if not isinstance(value, str):
            return "Invalid value: expected a string"
        if len(value) > 253 or any(c.isspace() or ord(c) < 32 for c in value):
            return "Invalid value"
        return None
    kind, _, expected = _ENUM_VALUES[key]
    return None if isinstance(value, kind) else f"Invalid value: expected {expected}"

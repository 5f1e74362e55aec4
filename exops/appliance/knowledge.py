"""Appliance knowledge as data: every path, table, field and CLI form exops uses.

One place, so aligning exops with a real appliance whose forms differ is a
one-place change: paths and forms here, the setting rules and the alarm
catalogue as rows in ``knowledge.toml`` beside this module. Marks follow
../shared/domain/expressway-interface.md: CONFIRMED (seen in public sources),
INFERRED, MOCK-DEFINED (no public form; exops and the bundled mock define one,
see docs/contract.md).
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, fields, replace
from importlib import resources
from typing import Any
from urllib.parse import quote_plus

from exops.appliance.base import Command
from exops.core.models import Role

CSRF_HEADER = ("X-CSRF-Header", "exops")  # CONFIRMED: needed on writes from X14.2
MAX_ANSWER_BYTES = 4 * 1024 * 1024  # refuse larger answers (a garbled or hostile peer)


@dataclass(frozen=True)
class Rest:
    """Provisioning / status REST paths (CONFIRMED paths; bodies MOCK-DEFINED where noted)."""

    probe: str = "/api/v1/provisioning/common/cluster/peers"  # CONFIRMED
    sysinfo: str = "/api/provisioning/sysinfo"  # path CONFIRMED, body MOCK-DEFINED
    restart: str = "/api/provisioning/restart"  # path CONFIRMED
    optionkey: str = "/api/provisioning/optionkey"  # path CONFIRMED, body MOCK-DEFINED
    dns: str = "/api/provisioning/common/dns/dns"  # CONFIRMED
    dns_servers: str = "/api/v1/provisioning/common/dns/dnsserver"  # CONFIRMED
    ntp_servers: str = "/api/v1/provisioning/common/time/ntpserver"  # CONFIRMED
    server_cert: str = "/api/provisioning/certs/server"  # CONFIRMED
    trust_store: str = "/api/provisioning/certs/root"  # CONFIRMED
    cdb_access: str = "/api/provisioning/common/cdbrestapiaccess"  # path CONFIRMED
    eventlog: str = "/api/provisioning/eventlog"  # MOCK-DEFINED


REST = Rest()


@dataclass(frozen=True)
class Cdb:
    """Cluster database tables under /api/management/ (CONFIRMED unless noted).

    URL grammar (CONFIRMED, Cisco's own CDB client, interface doc section 8):
    ``<prefix><table>[/<field>/<value>...][?peer=local|<ip>][&sizeonly=true|norecs]``;
    path segments after the table select rows; ``?peer=local`` answers this
    peer's element only. Writes: ``POST <table>[/<keyfield>/<keyvalue>]`` with
    a form body of ``<field>=<value>`` pairs (booleans lowercase).
    """

    prefix: str = "/api/management/"
    alternates: str = "configuration/alternates"
    master: str = "configuration/alternatesmaster"
    cluster: str = (
        "configuration/cluster"  # tls_verify INFERRED; ip_version, address_mapping MOCK-DEFINED
    )
    mapping: str = "configuration/clusteraddressmapping"  # MOCK-DEFINED
    h323: str = "configuration/h323"  # MOCK-DEFINED
    cluster_peers: str = "configuration/clusterpeer"
    peer_status: str = "status/clusterpeer"
    database: str = "status/clusterdatabase"  # MOCK-DEFINED
    alarms: str = "status/alarm"
    system: str = "status/system"
    dns: str = "configuration/dns"
    system_config: str = "configuration/system"
    service: str = "configuration/service"

    def read(self, table: str, *filters: tuple[str, str | int], sizeonly: str = "") -> str:
        """GET path of this peer's element of ``table`` (``?peer=local`` always)."""
        path = self.row(table, *filters)
        query = "?peer=local" + (f"&sizeonly={sizeonly}" if sizeonly else "")
        return path + query

    def row(self, table: str, *filters: tuple[str, str | int]) -> str:
        """``<prefix><table>/<field>/<value>...`` (values URL-encoded)."""
        segments = "".join(f"/{quote_plus(f)}/{quote_plus(str(v))}" for f, v in filters)
        return f"{self.prefix}{table}{segments}"


CDB = Cdb()
# HTTP answers of a cluster database that is not fully running (CONFIRMED: Cisco's
# client treats 503 and 408 alike and retries).
CDB_NOT_RUNNING = (503, 408)
# Overall deadline of one request, every retry included (CONFIRMED: Cisco's CDB
# client allows 180 s; the database can take ~75 s right after a partition).
REQUEST_DEADLINE_S = 180.0

# exops's TLS mode names <-> the CDB's (logs show 'Enforcing').
TLS_TO_CDB = {"Permissive": "Permissive", "Enforce": "Enforcing"}
TLS_FROM_CDB = {v: k for k, v in TLS_TO_CDB.items()}

# -- Setting rules and alarm catalogue: rows in knowledge.toml -------------------------
# One row per cluster setting (its cluster-database table/field, its CLI path, how a
# saved change spreads, whether it needs a restart) and one per alarm (meaning,
# remedy, the exops command that fixes it), each with its evidence mark. The file's
# header explains the columns. The REST and SSH writes are both driven from
# SETTING_RULES; exops.lab.lab.SETTING_RULES mirrors it (the mock never imports
# exops; tests/contract/test_contract_cdb.py compares them).

SPREADS = ("cluster", "replicated", "local")
EFFECTS = ("live", "restart")
CLI_STYLES = ("string", "enum", "number")
MARKS = ("CONFIRMED", "INFERRED", "MOCK-DEFINED")
ALARM_CLASSES = (
    "communication",
    "replication",
    "primary-mismatch",
    "own-entry",
    "restart-required",
    "invalid-clustering",
    "factory-reset",
    "peer",
)
_KEYWORDS = {"class": "cls"}  # file columns whose name is a Python keyword


@dataclass(frozen=True)
class SettingRule:
    name: str  # Field value (or h323_mode)
    table: str  # CDB table
    field: str  # CDB field
    row_key: str | None  # field addressing the row (None: a single-record table)
    cli: str  # xConfiguration path template ({index}: 1-based slot)
    cli_style: str  # string (quoted) | enum | number (bare)
    spread: str  # cluster | replicated | local
    effect: str  # live | restart
    mark: str  # evidence for the CDB table/field: CONFIRMED | INFERRED | MOCK-DEFINED
    source: str


@dataclass(frozen=True)
class AlarmInfo:
    id: str
    uuid: str  # type UUID ("" when no source gives one)
    title: str
    severity: str
    meaning: str
    remedy: str
    fix: str  # the exops command or runbook that fixes it ("" when none does)
    transient: bool  # expected for a while during cluster changes
    cls: str  # the file's `class` column: one of ALARM_CLASSES
    mark: str  # CONFIRMED | MOCK-DEFINED
    source: str


def _rows(data: dict[str, Any], kind: str, cls: type[Any]) -> list[Any]:
    """The ``[[kind]]`` rows as ``cls``; a malformed shipped file fails loudly at import."""
    names = [f.name for f in fields(cls)]
    rows = []
    for i, raw in enumerate(data.get(kind, []), 1):
        row = {_KEYWORDS.get(k, k): v for k, v in raw.items()}
        if set(row) != set(names):
            raise ValueError(f"knowledge.toml: [[{kind}]] #{i}: keys {sorted(raw)} != {names}")
        if row["mark"].split()[0] not in MARKS:
            raise ValueError(f"knowledge.toml: [[{kind}]] #{i}: unknown mark {row['mark']!r}")
        rows.append(cls(**row))
    return rows


def _load() -> tuple[dict[str, SettingRule], tuple[AlarmInfo, ...]]:
    data = tomllib.loads(resources.files("exops.appliance").joinpath("knowledge.toml").read_text())
    rules = {}
    for r in _rows(data, "setting", SettingRule):
        ok = (r.spread in SPREADS, r.effect in EFFECTS, r.cli_style in CLI_STYLES)
        if not all(ok) or r.table not in {getattr(CDB, f.name) for f in fields(Cdb)}:
            raise ValueError(f"knowledge.toml: setting {r.name}: a value outside its set")
        rules[r.name] = replace(r, row_key=r.row_key or None)
    alarms = tuple(_rows(data, "alarm", AlarmInfo))
    for a in alarms:
        if a.cls not in ALARM_CLASSES:
            raise ValueError(
                f"knowledge.toml: alarm {a.id}: class {a.cls!r} is not one of {ALARM_CLASSES}"
            )
    return rules, alarms


SETTING_RULES, ALARM_CATALOGUE = _load()

# -- what the code reads from the rows ------------------------------------------------
# The accessors read SETTING_RULES and ALARM_CATALOGUE when called (never a copy made
# at import), so the planner, restore, health and log analysis follow the table.

# The peer model (exops.core.models.ClusterSettings) field -> the rows holding it,
# in the table's order. ``h323_mode`` is read as an alarm (20106), not modelled.
MODEL_FIELDS: dict[str, tuple[str, ...]] = {
    "peers": ("peer_address",),
    "primary": ("primary",),
    "cluster_name": ("cluster_name",),
    "tls_mode": ("tls_mode",),
    "ip_version": ("ip_version",),
    "mapping_enabled": ("mapping_mode",),
    "mapping": ("mapping_name", "mapping_address"),
}


def _column(name: str, column: str) -> str:
    """One column of a setting, by row name or peer-model field (rows of one field agree)."""
    rows = MODEL_FIELDS.get(name, (name,))
    values: set[str] = {getattr(SETTING_RULES[r], column) for r in rows}
    if len(values) != 1:
        raise ValueError(f"knowledge.toml: the rows of {name} disagree on {column}: {values}")
    return values.pop()


def spread_of(name: str) -> str:
    """How a saved change of a setting spreads: cluster | replicated | local.

    ``name`` is a row name (``tls_mode``, ``mapping_name``) or a field of the
    peer model (``mapping``, ``peers``)."""
    return _column(name, "spread")


def effect_of(name: str) -> str:
    """When a saved change of a setting is in force: live | restart."""
    return _column(name, "effect")


def model_fields(*, spread: str | None = None, effect: str | None = None) -> tuple[str, ...]:
    """The peer-model fields whose rows have this spread and/or effect, in table order."""
    return tuple(
        f
        for f in MODEL_FIELDS
        if (spread is None or spread_of(f) == spread) and (effect is None or effect_of(f) == effect)
    )


def cluster_fields() -> tuple[str, ...]:
    """Peer-model fields in a cluster-database table (spread "cluster"): a change on
    one peer lands at once on every peer its database is connected to. The planner
    calls these "replicated"; restore keeps them as they are on one peer."""
    return model_fields(spread="cluster")


def restart_fields() -> tuple[str, ...]:
    """Peer-model fields whose saved change raises 20007 until the peer restarts
    (effect "restart"). For ``peers`` only the peer's own entry counts (the file's
    header: a change of another peer's slot is live)."""
    return model_fields(effect="restart")


def alarm_ids(*classes: str) -> frozenset[str]:
    """Ids of the catalogue's alarms of these classes (``ALARM_CLASSES``)."""
    unknown = set(classes) - set(ALARM_CLASSES)
    if unknown:
        raise ValueError(f"unknown alarm class {sorted(unknown)}; classes: {ALARM_CLASSES}")
    return frozenset(a.id for a in ALARM_CATALOGUE if a.cls in classes)


def alarm_id(cls: str) -> str:
    """The id of the one alarm of a single-alarm class (restart-required, factory-reset)."""
    ids = alarm_ids(cls)
    if len(ids) != 1:
        raise ValueError(f"knowledge.toml: class {cls!r} has {len(ids)} alarms, not one")
    return next(iter(ids))


def alarm_class(alarm: str) -> str | None:
    """The class of a catalogued alarm id (None: not in the catalogue)."""
    return next((a.cls for a in ALARM_CATALOGUE if a.id == alarm), None)


def transient_alarms() -> frozenset[str]:
    """Alarms expected for a while during cluster changes (the ``transient`` column)."""
    return frozenset(a.id for a in ALARM_CATALOGUE if a.transient)


@dataclass(frozen=True)
class Cli:
    """SSH admin shell commands, always sent in full (never abbreviated).

    Marks per ../shared/domain/expressway-interface.md sections 3 and 8.
    """

    read_alternates: str = "xConfiguration Alternates"  # family CONFIRMED, leaves MOCK-DEFINED
    read_h323: str = "xConfiguration H323"  # CONFIRMED form
    read_dns: str = "xConfiguration IP DNS"  # MOCK-DEFINED leaves
    read_ntp: str = "xConfiguration NTP"  # MOCK-DEFINED leaves
    status_alternates: str = "xStatus Alternates"  # node CONFIRMED; its leaves MOCK-DEFINED
    status_system: str = "xStatus SystemUnit"  # CONFIRMED (X8.11.3 capture)
    status_warnings: str = "xStatus Warnings"  # CONFIRMED (X8.11.3 capture)
    status_alarms: str = "xStatus Alarm"  # CONFIRMED in use, form UNKNOWN: fallback only
    status_option_keys: str = "xStatus OptionKeys"  # MOCK-DEFINED
    boot: str = "xCommand Boot"  # CONFIRMED
    # After login: the welcome does not reliably end in OK (section 8), so exops
    # sends this cheap read and discards everything up to its answer.
    sync: str = "xConfiguration H323 Mode"  # CONFIRMED leaf
    sync_marker: str = "*c xConfiguration H323 Mode:"
    # Enter under a pty is CR (section 8); a cooked pty maps it to LF, so CR works
    # either way, while LF alone may not execute in a raw shell.
    line_end: str = "\r"


CLI = Cli()
CLI_COMMANDS: dict[Command, str] = {
    Command.FORCE_CONFIG_UPDATE: "xCommand ForceConfigUpdate",  # CONFIRMED
    Command.FORCE_SYSTEM_KEY_UPDATE: "xCommand ForceSystemKeyUpdate",  # CONFIRMED (X14+)
}

# Answer framing (CONFIRMED: *c / *s ... *s/end / OK; error block MOCK-DEFINED).
END_LINE = re.compile(r"^(OK|ERROR)\s*$")
CONFIG_LINE = re.compile(r'^\*c xConfiguration (?P<path>.+?): "(?P<value>(?:[^"\\]|\\.)*)"\s*$')
STATUS_OPEN = re.compile(r"^\*s (?P<node>.+?): /\s*$")
STATUS_CLOSE = "*s/end"
ERROR_OPEN = "*r Result (status=Error):"


@dataclass(frozen=True)
class SystemUnitTree:
    """Where ``xStatus SystemUnit`` keeps each fact (CONFIRMED: X8.11.3 capture).

    There is no ProductType, PlatformSize or Name: the platform size is unknown
    over SSH (None), never guessed.
    """

    version: tuple[str, ...] = ("Software", "Version")
    flags: tuple[str, ...] = ("Software", "Configuration")
    hardware: tuple[str, ...] = ("Hardware", "Version")
    serial: tuple[str, ...] = ("Hardware", "SerialNumber")
    uptime: tuple[str, ...] = ("Uptime",)
    expressway_flag: str = "Expressway"
    series_flag: str = "ExpresswaySeries"


SYSTEM_UNIT = SystemUnitTree()
# (ExpresswaySeries, Expressway) -> role. Series False is a VCS whatever the
# Expressway flag (in the VCS era "VCS Expressway" was the traversal side).
# Series CONFIRMED; the C/E split by the Expressway flag INFERRED.
ROLE_BY_FLAGS: dict[tuple[str, str | None], Role] = {
    ("True", "True"): Role.EXPRESSWAY_E,
    ("True", "False"): Role.EXPRESSWAY_C,
    ("False", "True"): Role.VCS,
    ("False", "False"): Role.VCS,
    ("False", None): Role.VCS,
}
# Values that mean "no value" where a value must be: a garbled answer.
NULL_VALUES = frozenset({"null", "(null)", "none", "nil", "undefined", "n/a"})
VERSION = re.compile(r"^X\d+(\.\d+)*\S*$")  # X8.11.3, X15.2.1

# Licence option keys allowed to differ between peers (domain doc section 2).
PER_PEER_LICENCES = (
    "traversal calls",
    "non-traversal calls",
    "rich media sessions",
    "room system registration",
    "desktop system registration",
)


ALARM_BY_ID: dict[str, AlarmInfo] = {a.id: a for a in ALARM_CATALOGUE}
ALARM_BY_UUID: dict[str, AlarmInfo] = {a.uuid.lower(): a for a in ALARM_CATALOGUE if a.uuid}

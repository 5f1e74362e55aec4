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
import threading
import tomllib
from collections.abc import Callable
from dataclasses import dataclass, fields, replace
from functools import cache
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
    dns_servers: str = "/api/v1/provisioning/common/dns/dnsserver"  # CONFIRMED (SERVER_LISTS)
    ntp_servers: str = "/api/v1/provisioning/common/time/ntpserver"  # CONFIRMED (SERVER_LISTS)
    server_cert: str = "/api/provisioning/certs/server"  # CONFIRMED
    trust_store: str = "/api/provisioning/certs/root"  # CONFIRMED
    cdb_access: str = "/api/provisioning/common/cdbrestapiaccess"  # path CONFIRMED
    # NO EVIDENCE (invented path: no REST log resource in any REST table X8.8-X14.2).
    # Kept for the lab; a real box answering 404 makes exops read the log over SSH
    # (``Cli.eventlog``, INFERRED). FORMS["rest.eventlog"].
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
    "maintenance",
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


@cache
def _document() -> dict[str, Any]:
    """knowledge.toml, parsed once (on the first use of one of its tables)."""
    return tomllib.loads(resources.files("exops.appliance").joinpath("knowledge.toml").read_text())


def section(name: str) -> Any:
    """One top-level table of knowledge.toml, from the one parse of the file (shared by
    every reader: read it, never change it)."""
    return _document()[name]


@cache
def _load() -> tuple[dict[str, SettingRule], tuple[AlarmInfo, ...]]:
    data = _document()
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


# The tables are read from knowledge.toml on their first use, not at import (issue 22:
# start-up), and then bound as ordinary attributes of this module: ``SETTING_RULES``,
# ``ALARM_CATALOGUE``, ``FORMS``, ``ALARM_BY_ID``, ``ALARM_BY_UUID`` (module
# ``__getattr__`` at the end of the file; code here reads them through ``_bound``, so a
# rebound table (a test's copy) is what the accessors read).
# A malformed shipped file fails loudly at that first use.
SETTING_RULES: dict[str, SettingRule]
ALARM_CATALOGUE: tuple[AlarmInfo, ...]

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
    rules: dict[str, SettingRule] = _bound("SETTING_RULES")
    values: set[str] = {getattr(rules[r], column) for r in rows}
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
    catalogue: tuple[AlarmInfo, ...] = _bound("ALARM_CATALOGUE")
    return frozenset(a.id for a in catalogue if a.cls in classes)


def alarm_id(cls: str) -> str:
    """The id of the one alarm of a single-alarm class (restart-required, factory-reset)."""
    ids = alarm_ids(cls)
    if len(ids) != 1:
        raise ValueError(f"knowledge.toml: class {cls!r} has {len(ids)} alarms, not one")
    return next(iter(ids))


def alarm_class(alarm: str) -> str | None:
    """The class of a catalogued alarm id (None: not in the catalogue)."""
    catalogue: tuple[AlarmInfo, ...] = _bound("ALARM_CATALOGUE")
    return next((a.cls for a in catalogue if a.id == alarm), None)


def transient_alarms() -> frozenset[str]:
    """Alarms expected for a while during cluster changes (the ``transient`` column)."""
    catalogue: tuple[AlarmInfo, ...] = _bound("ALARM_CATALOGUE")
    return frozenset(a.id for a in catalogue if a.transient)


@dataclass(frozen=True)
class Cli:
    """SSH admin shell commands, always sent in full (never abbreviated).

    Marks per ../shared/domain/expressway-interface.md sections 3 and 8.
    """

    read_alternates: str = "xConfiguration Alternates"  # family CONFIRMED, leaves MOCK-DEFINED
    read_h323: str = "xConfiguration H323"  # INFERRED (VCS guides X1/X3: "H.323 Mode")
    # ``Server <n> Address`` INFERRED (predecessor configuration XML); ``Hostname``
    # and ``Domain Name`` leaves no evidence (FORMS["ssh.ip_dns.names"]).
    read_dns: str = "xConfiguration IP DNS"
    read_ntp: str = "xConfiguration NTP"  # NO EVIDENCE for the leaves (FORMS["ssh.ntp"])
    status_alternates: str = "xStatus Alternates"  # node CONFIRMED; its leaves MOCK-DEFINED
    status_system: str = "xStatus SystemUnit"  # CONFIRMED (X8.11.3 capture)
    status_warnings: str = "xStatus Warnings"  # CONFIRMED (X8.11.3 capture)
    status_alarms: str = "xStatus Alarm"  # CONFIRMED in use, form UNKNOWN: fallback only
    # The top-level node is ``Options`` (CONFIRMED: the X8.11.3 capture, where it is
    # empty; there is no ``OptionKeys`` node). Its entries: OPTIONS_TREE (MOCK-DEFINED).
    status_options: str = "xStatus Options"
    # Root tshell form CONFIRMED; admin-shell use INFERRED; INFERRED to be a reboot
    # (~5 min), not an application restart (TANDBERG GK guide: "Reboots the system").
    boot: str = "xCommand Boot"
    # ``eventlog N`` prints the last N event-log lines (INFERRED: a practitioner's
    # VCS/Expressway health-check notes, "configlog|eventlog|networklog 100").
    eventlog: str = "eventlog"
    # After login: the welcome does not reliably end in OK (section 8), so exops
    # sends one read and discards everything up to its answer: the session's first
    # command when it is ``read_alternates`` (its answer always opens with its slot
    # lines), else this cheap read (exops/appliance/ssh.py ``_opening_marker``).
    sync: str = "xConfiguration H323 Mode"  # INFERRED leaf (see read_h323)
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



# -- list-or-object answers (issue 24; docs/contract.md section 2.1) ------------------
@dataclass(frozen=True)
class ServerList:
    """Where a provisioning server list keeps its addresses, in every documented shape.

    Accepted answers: the wrapped object ``{wrapper: row}`` (when the guide shows a
    wrapper), one ``row`` object, or a JSON list of either (``[]``: none configured).
    A row is an object whose ``field`` is text (``""``: an empty slot). Any other
    shape is *unknown*, named in the reason; never "no servers".
    """

    path: str
    field: str  # the address field of one row
    wrapper: str | None  # the key a row comes wrapped in (None: no wrapper documented)
    example: str  # the guide's body, quoted


SERVER_LISTS: dict[str, ServerList] = {
    # CONFIRMED: REST API Summary Guide X14.2 and 2020 edition, GET .../dns/dnsserver
    # response body; POST/PUT send the same wrapper.
    "dns_servers": ServerList(
        REST.dns_servers,
        "address",
        "DefaultDNSServers",
        '{"DefaultDNSServers": {"index": 2, "address": "10.0.0.2"}}',
    ),
    # CONFIRMED: same guide, GET .../time/ntpserver response body: one object.
    "ntp_servers": ServerList(
        REST.ntp_servers,
        "Address",
        None,
        '{"index": 5, "KeyId": 1, "Hash": "sha1", "Authentication": "disabled", '
        '"Address": "10.0.0.1"}',
    ),
}


@dataclass(frozen=True)
class OptionKeyFields:
    """One option key in ``GET /api/provisioning/optionkey`` (path CONFIRMED in use by a
    third-party client; body NO EVIDENCE: MOCK-DEFINED, FORMS["rest.optionkey"]).
    Read like a server list: one object or a list of objects."""

    key: str = "Key"
    description: str = "Description"
    count: str = "Count"


OPTION_KEY_FIELDS = OptionKeyFields()


@dataclass(frozen=True)
class OptionsTree:
    """``xStatus Options`` (node CONFIRMED, X8.11.3 capture: ``<Options item="1"/>``,
    empty on a licensed VCS). The entries are MOCK-DEFINED (FORMS["ssh.options"]):
    ``Option <n>:`` holding ``Key``, ``Description``, ``Count``. An empty node or no
    block at all does not prove a peer has no keys (the capture's node is empty), so
    it reads as *unknown*."""

    node: str = "Options"
    entry: str = "Option"
    key: str = "Key"
    description: str = "Description"
    count: str = "Count"


OPTIONS_TREE = OptionsTree()

# The server leaves of ``xConfiguration IP DNS`` (INFERRED: predecessor configuration
# XML ``<IP><DNS><Server item="1"><Address>``; the X8.11.3 status tree has ``IP DNS
# Server <n> Address``) and ``xConfiguration NTP`` (NO EVIDENCE: FORMS["ssh.ntp"]).
# An answer with none of these leaves is *unknown* (its leaves are named), never
# "no servers"; a leaf with an empty value is an empty slot.
DNS_SERVER_LEAF = re.compile(r"^IP DNS Server (?P<n>\d+) Address$")
NTP_SERVER_LEAF = re.compile(r"^NTP Server (?P<n>\d+) Address$")

# Expressway X14.2 and later have no option keys (CONFIRMED: Expressway Select Release
# Note X14.2.5, "Product Activation Keys (PAK) Licensing (Option Keys) are removed from
# Cisco Expressway X14.2 release" / "Smart License is default and the only licensing
# mode"); Cisco VCS keeps "Option keys /PAK license mode only". The option-key
# prerequisite applies to VCS and to Expressway before X14.2.
OPTION_KEYS_REMOVED_IN = (14, 2)


def version_tuple(version: str | None) -> tuple[int, ...] | None:
    """``X14.2.5`` -> (14, 2, 5); None when it is not an ``X<n>...`` version."""
    if version is None:
        return None
    m = re.match(r"^X(\d+(?:\.\d+)*)", version.strip())
    return tuple(int(n) for n in m.group(1).split(".")) if m else None


def option_keys_removed(role: Role | None, version: str | None) -> bool:
    """Expressway X14.2 or later: the peer has no option keys (Smart Licensing only), so
    there is nothing to ask for. False for VCS and for an unknown product or version
    (then the keys are read, and their answer decides)."""
    if role is None or role is Role.VCS:
        return False
    v = version_tuple(version)
    return v is not None and v >= OPTION_KEYS_REMOVED_IN


# -- forms with no public evidence (docs/contract.md section 9) -----------------------
@dataclass(frozen=True)
class FormInfo:
    """A form exops sends or parses that no public source shows (``[[form]]`` rows).

    ``request`` is what goes on the wire (``GET <path>`` or a CLI line); ``exops probe``
    names each one it met and what the box answered, so a first probe of a real box
    confirms or corrects it."""

    name: str
    transport: str  # rest | cdb | ssh
    request: str
    part: str  # which part has no evidence
    exops_reads: str  # what exops takes from it
    mark: str
    source: str  # what was searched


def _load_forms() -> dict[str, FormInfo]:
    data = _document()
    forms = {f.name: f for f in _rows(data, "form", FormInfo)}
    for f in forms.values():
        if f.transport not in ("rest", "cdb", "ssh"):
            raise ValueError(f"knowledge.toml: form {f.name}: transport {f.transport!r}")
    return forms


FORMS: dict[str, FormInfo]  # bound on first use (see SETTING_RULES)


def form_of(transport: str, request: str) -> FormInfo | None:
    """The ``[[form]]`` row a request falls under (REST: by path, query ignored; CLI: by
    the command, case-insensitive), or None."""
    text = " ".join(request.split()).split("?", maxsplit=1)[0]
    best: FormInfo | None = None
    forms: dict[str, FormInfo] = _bound("FORMS")
    for f in forms.values():
        if (f.transport == "ssh") != (transport == "ssh"):
            continue
        want = f.request
        hit = text.lower() == want.lower() if transport == "ssh" else text == want
        if not hit and transport != "ssh":
            hit = text.startswith(want + "/")
        if hit and (best is None or len(want) > len(best.request)):
            best = f
    return best


ALARM_BY_ID: dict[str, AlarmInfo]  # bound on first use, from the file's catalogue
ALARM_BY_UUID: dict[str, AlarmInfo]

# -- the tables, read on first use ------------------------------------------------------
# Each is built from the file (never from a rebound attribute: ``ALARM_BY_ID`` is the
# shipped catalogue's, as when the tables were built at import).
_TABLES: dict[str, Callable[[], Any]] = {
    "SETTING_RULES": lambda: _load()[0],
    "ALARM_CATALOGUE": lambda: _load()[1],
    "FORMS": _load_forms,
    "ALARM_BY_ID": lambda: {a.id: a for a in _load()[1]},
    "ALARM_BY_UUID": lambda: {a.uuid.lower(): a for a in _load()[1] if a.uuid},
}
_binding = threading.Lock()
_UNBOUND = object()


def _bound(name: str) -> Any:
    """The table ``name`` as bound in this module now (a test may rebind one); read
    from knowledge.toml and bound on its first use, once, whichever thread asks first."""
    table = globals().get(name, _UNBOUND)
    if table is _UNBOUND:
        with _binding:
            table = globals().get(name, _UNBOUND)
            if table is _UNBOUND:
                table = globals()[name] = _TABLES[name]()
    return table


def __getattr__(name: str) -> Any:
    """``knowledge.SETTING_RULES`` and the other tables: read on first use."""
    if name in _TABLES:
        return _bound(name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

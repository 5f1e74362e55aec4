"""Appliance knowledge as data: every path, table, field and CLI form exops uses.

One table, so aligning exops with a real appliance whose forms differ is a
one-place change. Marks follow ../shared/domain/expressway-interface.md:
CONFIRMED (seen in public sources), INFERRED, MOCK-DEFINED (no public form;
exops and the bundled mock define one, see docs/contract.md).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import quote_plus

from exops.appliance.base import Command, Field
from exops.models import Role

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

# SSH CLI: Field -> (xConfiguration path template, value style). MOCK-DEFINED leaves
# under the CONFIRMED family 'Alternates'; strings quoted, enums/numbers bare.
CLI_WRITES: dict[Field, tuple[str, str]] = {
    Field.PEER_ADDRESS: ("Alternates Peer {index} Address", "string"),
    Field.PRIMARY: ("Alternates ConfigurationMaster", "number"),
    Field.CLUSTER_NAME: ("Alternates Cluster Name", "string"),
    Field.TLS_MODE: ("Alternates Cluster TLSVerify Mode", "enum"),
    Field.IP_VERSION: ("Alternates Cluster IpVersion", "enum"),
    Field.MAPPING_MODE: ("Alternates Cluster AddressMapping Mode", "enum"),
    Field.MAPPING_NAME: ("Alternates Cluster AddressMapping {index} Name", "string"),
    Field.MAPPING_ADDRESS: ("Alternates Cluster AddressMapping {index} Address", "string"),
}


# -- Setting rules (REST/CDB part) --------------------------------------------------
# One row per cluster setting: where it lives in the cluster database, its CLI
# path, how a saved change spreads, and whether it needs a restart. The REST
# writes are driven from it; mock_server.lab.SETTING_RULES mirrors it (the
# mock never imports exops; tests/unit/test_contract_cdb.py compares them).
#   spread: "cluster"    = a cluster-database table: lands at once on every peer
#                          this peer's database is connected to (CONFIRMED:
#                          TechNote 217230 logs a tls_verify change on two peers
#                          in the same millisecond);
#           "replicated" = copied from the configuration primary on the ~2-minute
#                          replication cycle (CONFIRMED timing, domain doc 1);
#           "local"      = this peer only (the peer list and primary are edited
#                          on every peer, domain doc 3.2-3.5).
#   effect: "restart" = a save raises alarm 20007 until this peer restarts
#                       (peer_address: only this peer's own entry);
#           "live"    = in force at once (docs/contract.md section 6).


@dataclass(frozen=True)
class SettingRule:
    table: str  # CDB table
    field: str  # CDB field
    row_key: str | None  # field addressing the row (None: a single-record table)
    cli: str  # xConfiguration path template (CLI_WRITES)
    spread: str  # cluster | replicated | local
    effect: str  # live | restart
    mark: str  # evidence for the CDB table/field: CONFIRMED | INFERRED | MOCK-DEFINED
    source: str


_IF8 = "interface doc 8 (Cisco CDB client)"
SETTING_RULES: dict[str, SettingRule] = {
    Field.PEER_ADDRESS.value: SettingRule(
        CDB.alternates,
        "ip_address",
        "index",
        CLI_WRITES[Field.PEER_ADDRESS][0],
        "local",
        "restart",
        "CONFIRMED table/field; POST row form INFERRED",
        f"{_IF8}: alternates/index/<n>; contract 6 (self entry restarts)",
    ),
    Field.PRIMARY.value: SettingRule(
        CDB.master,
        "master_idx",
        None,
        CLI_WRITES[Field.PRIMARY][0],
        "local",
        "live",
        "CONFIRMED table/field; POST form INFERRED",
        f"{_IF8}: reads alternatesmaster.master_idx; domain 3.5",
    ),
    Field.CLUSTER_NAME.value: SettingRule(
        CDB.cluster,
        "cluster_name",
        None,
        CLI_WRITES[Field.CLUSTER_NAME][0],
        "cluster",
        "live",
        "CONFIRMED",
        "interface doc 2 (configuration/cluster.cluster_name)",
    ),
    Field.TLS_MODE.value: SettingRule(
        CDB.cluster,
        "tls_verify",
        None,
        CLI_WRITES[Field.TLS_MODE][0],
        "cluster",
        "restart",
        "INFERRED",
        "TechNote 217230 log: configuration/cluster/tls_verify, 20007, two peers same ms",
    ),
    Field.IP_VERSION.value: SettingRule(
        CDB.cluster,
        "ip_version",
        None,
        CLI_WRITES[Field.IP_VERSION][0],
        "cluster",
        "restart",
        "MOCK-DEFINED",
        "contract 6 (restart); field name UNKNOWN",
    ),
    Field.MAPPING_MODE.value: SettingRule(
        CDB.cluster,
        "address_mapping",
        None,
        CLI_WRITES[Field.MAPPING_MODE][0],
        "cluster",
        "live",
        "MOCK-DEFINED",
        "domain 3.7; field name UNKNOWN",
    ),
    Field.MAPPING_NAME.value: SettingRule(
        CDB.mapping,
        "name",
        "index",
        CLI_WRITES[Field.MAPPING_NAME][0],
        "cluster",
        "live",
        "MOCK-DEFINED",
        "domain 3.7; table name UNKNOWN",
    ),
    Field.MAPPING_ADDRESS.value: SettingRule(
        CDB.mapping,
        "address",
        "index",
        CLI_WRITES[Field.MAPPING_ADDRESS][0],
        "cluster",
        "live",
        "MOCK-DEFINED",
        "domain 3.7; table name UNKNOWN",
    ),
    "h323_mode": SettingRule(
        CDB.h323,
        "mode",
        None,
        "H323 Mode",
        "replicated",
        "live",
        "MOCK-DEFINED",
        "domain 1-2 (H.323 must be On; replicated configuration)",
    ),
}


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


# -- Alarm catalogue (SSH/alarms helper's block) ------------------------------------
# One row per alarm exops knows: what it means, what fixes it, which exops command
# or runbook does, and whether it is expected while a cluster changes. Ids and type
# UUIDs of 20004/20006/20007 are CONFIRMED (the seed's logs, domain doc section 5);
# every other id and UUID is MOCK-DEFINED (copied from mock_server/lab.py ALARMS;
# no public source gives them). ``xStatus Warnings`` names alarms by type UUID
# only: ALARM_BY_UUID maps it to the id; an unknown UUID stays an alarm with the
# UUID as its id (never dropped, never guessed).


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
    mark: str  # CONFIRMED | MOCK-DEFINED
    source: str


ALARM_CATALOGUE: tuple[AlarmInfo, ...] = (
    AlarmInfo(
        "20004",
        "3bca6888-f622-11df-93be-07cc953d7b99",
        "Cluster communication failure",
        "warning",
        "This peer cannot reach one or more of its cluster peers.",
        "Check the listed peers are up and reachable (TCP 4371/4372, TLS names under "
        "Enforce); expected while a peer restarts or joins.",
        "exops status -c {cluster}",
        True,
        "CONFIRMED",
        "seed logs; domain doc section 5",
    ),
    AlarmInfo(
        "20006",
        "0f96695e-d954-4f6f-85c1-2ef1eae6f764",
        "Cluster database communication failure",
        "warning",
        "The cluster database cannot replicate with one or more peers.",
        "Check reachability and certificates; expected while a peer restarts or joins, "
        "allow about 5 minutes before judging.",
        "exops status -c {cluster}",
        True,
        "CONFIRMED",
        "seed logs; domain doc section 5",
    ),
    AlarmInfo(
        "20007",
        "e2b8e3d1-b731-4d7d-b606-4682a8f0c2e6",
        "Restart required",
        "warning",
        "Cluster configuration changed; it takes effect at this peer's next restart.",
        "Restart the peer (one at a time).",
        "exops restart -c {cluster} --peer {peer}",
        True,
        "CONFIRMED",
        "seed logs; Cisco TechNote 217230",
    ),
    AlarmInfo(
        "20101",
        "6a3f5a9e-0101-4e0b-9d1e-000000020101",
        "Cluster replication error: manual synchronization of configuration is required",
        "error",
        "This subordinate stopped taking the primary's configuration.",
        "Force a configuration update from the primary on this subordinate.",
        "exops repair-replication -c {cluster}",
        False,
        "MOCK-DEFINED",
        "text: domain doc section 5; id/UUID: mock_server/lab.py",
    ),
    AlarmInfo(
        "20102",
        "6a3f5a9e-0101-4e0b-9d1e-000000020102",
        "Cluster replication error: the configuration primary ID is inconsistent",
        "error",
        "Peers name different configuration primaries.",
        "Set the same configuration primary on every peer, then repair replication.",
        "exops repair-replication -c {cluster}",
        False,
        "MOCK-DEFINED",
        "text: domain doc section 5; id/UUID: mock_server/lab.py",
    ),
    AlarmInfo(
        "20103",
        "",
        "Cluster replication error: this peer's configuration conflicts with the primary's",
        "error",
        "This subordinate's configuration conflicts with the primary's.",
        "Force a configuration update from the primary on this subordinate.",
        "exops repair-replication -c {cluster}",
        False,
        "MOCK-DEFINED",
        "text: domain doc section 5; id: docs/contract.md (no UUID: the mock never raises it)",
    ),
    AlarmInfo(
        "20104",
        "",
        "Cluster replication error: cannot find primary or subordinate configuration file",
        "error",
        "A configuration file needed for replication is missing.",
        "Force a configuration update from the primary on this subordinate.",
        "exops repair-replication -c {cluster}",
        False,
        "MOCK-DEFINED",
        "text: domain doc section 5; id: docs/contract.md (no UUID: the mock never raises it)",
    ),
    AlarmInfo(
        "20105",
        "6a3f5a9e-0101-4e0b-9d1e-000000020105",
        "Cluster primary mismatch",
        "warning",
        "Peers disagree on which peer is the configuration primary.",
        "Set the same configuration primary on every peer.",
        "exops switch-primary -c {cluster}",
        False,
        "MOCK-DEFINED",
        "text: domain doc section 5; id/UUID: mock_server/lab.py",
    ),
    AlarmInfo(
        "20106",
        "6a3f5a9e-0101-4e0b-9d1e-000000020106",
        "Invalid clustering configuration: H.323 mode must be turned On",
        "warning",
        "Clustering needs H.323 mode On (the peers use H.323 RAS between them).",
        "Turn H.323 mode On (Configuration > Protocols > H.323) on this peer.",
        "",
        False,
        "MOCK-DEFINED",
        "text: domain doc section 5; id/UUID: mock_server/lab.py",
    ),
    AlarmInfo(
        "20107",
        "6a3f5a9e-0101-4e0b-9d1e-000000020107",
        "Factory reset pending",
        "critical",
        "Every peer slot is empty: the next restart resets this peer to factory defaults.",
        "Put the peer addresses back before any restart, unless the peer is leaving.",
        "exops restore -c {cluster} --peer {peer}",
        False,
        "MOCK-DEFINED",
        "behaviour: domain doc section 7; id/UUID: mock_server/lab.py",
    ),
    AlarmInfo(
        "20108",
        "",
        "Expressway database failure",
        "critical",
        "The local database failed.",
        "Restart the peer; if it persists, contact Cisco TAC.",
        "exops restart -c {cluster} --peer {peer}",
        False,
        "MOCK-DEFINED",
        "text: domain doc section 5; id: docs/contract.md (no UUID: the mock never raises it)",
    ),
    AlarmInfo(
        "20109",
        "",
        "Failed to update key file",
        "error",
        "The system key could not be updated on this peer.",
        "Run ForceSystemKeyUpdate on this peer (X14+).",
        "",
        False,
        "MOCK-DEFINED",
        "text: domain doc section 5; id: docs/contract.md (no UUID: the mock never raises it)",
    ),
    AlarmInfo(
        "20110",
        "6a3f5a9e-0101-4e0b-9d1e-000000020110",
        "Cluster replication error: the local Expressway does not appear in the list of peers",
        "error",
        "This peer's own address is missing from its peer list.",
        "Add this peer's address to its own peer list (same list on every peer).",
        "exops add-peer -c {cluster}",
        False,
        "MOCK-DEFINED",
        "text: domain doc section 5; id/UUID: mock_server/lab.py",
    ),
)
ALARM_BY_ID: dict[str, AlarmInfo] = {a.id: a for a in ALARM_CATALOGUE}
ALARM_BY_UUID: dict[str, AlarmInfo] = {a.uuid.lower(): a for a in ALARM_CATALOGUE if a.uuid}

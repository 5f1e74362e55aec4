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
    read_alternates: str = "xConfiguration Alternates"  # family CONFIRMED
    read_h323: str = "xConfiguration H323"
    read_dns: str = "xConfiguration IP DNS"
    read_ntp: str = "xConfiguration NTP"
    status_alternates: str = "xStatus Alternates"  # MOCK-DEFINED node
    status_system: str = "xStatus SystemUnit"  # CONFIRMED
    status_alarms: str = "xStatus Alarm"  # CONFIRMED in use; form MOCK-DEFINED
    status_option_keys: str = "xStatus OptionKeys"  # MOCK-DEFINED
    boot: str = "xCommand Boot"  # CONFIRMED


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

# Licence option keys allowed to differ between peers (domain doc section 2).
PER_PEER_LICENCES = (
    "traversal calls",
    "non-traversal calls",
    "rich media sessions",
    "room system registration",
    "desktop system registration",
)

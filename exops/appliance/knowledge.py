"""Appliance knowledge as data: every path, table, field and CLI form exops uses.

One table, so aligning exops with a real appliance whose forms differ is a
one-place change. Marks follow ../shared/domain/expressway-interface.md:
CONFIRMED (seen in public sources), INFERRED, MOCK-DEFINED (no public form;
exops and the bundled mock define one, see docs/contract.md).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

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
    """Cluster database tables under /api/management/ (CONFIRMED unless noted)."""

    prefix: str = "/api/management/"
    alternates: str = "configuration/alternates"
    master: str = "configuration/alternatesmaster"
    cluster: str = (
        "configuration/cluster"  # tls_verify INFERRED; ip_version, address_mapping MOCK-DEFINED
    )
    mapping: str = "configuration/clusteraddressmapping"  # MOCK-DEFINED
    h323: str = "configuration/h323"  # MOCK-DEFINED
    peer_status: str = "status/clusterpeer"
    database: str = "status/clusterdatabase"  # MOCK-DEFINED
    alarms: str = "status/alarm"

    def read(self, table: str) -> str:
        return f"{self.prefix}{table}?peer=local"


CDB = Cdb()

# The CDB writes one field per POST (form value=<json>); MOCK-DEFINED path form.
# Field -> (table, field name, row-indexed?)
CDB_WRITES: dict[Field, tuple[str, str, bool]] = {
    Field.PEER_ADDRESS: (CDB.alternates, "ip_address", True),
    Field.PRIMARY: (CDB.master, "master_idx", False),
    Field.CLUSTER_NAME: (CDB.cluster, "cluster_name", False),
    Field.TLS_MODE: (CDB.cluster, "tls_verify", False),
    Field.IP_VERSION: (CDB.cluster, "ip_version", False),
    Field.MAPPING_MODE: (CDB.cluster, "address_mapping", False),
    Field.MAPPING_NAME: (CDB.mapping, "name", True),
    Field.MAPPING_ADDRESS: (CDB.mapping, "address", True),
}

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

"""The texts of the log lines the mock writes, in the real appliance's forms.

Forms (see ../shared/domain/expressway-interface.md section 8, real log lines,
and the seed's TechNote 217230 capture):

- alarm raised / lowered (CONFIRMED form, ``UTCTime`` last). The process tag depends
  on the alarm (the seed's logs): 20004 and 20006 are logged by ``alarm:``
  (seed :636-644, ``expc01 alarm: Level="WARN" Event="Alarm Raised" Id="20006"``),
  20007 by ``management:`` (seed :758, TechNote 217230)::

    <ts> <host> management: Level="WARN" Event="Alarm Raised" Id="20007"
      UUID="..." Severity="warning" Detail="..." UTCTime="2020-08-12 20:13:25,194"

  The mock's own ids (20101-20110, MOCK-DEFINED) use ``alarm:`` (MOCK-DEFINED).
  ``Alarm Lowered`` uses ``Level="INFO"`` (INFERRED: same form).
- a cluster-database table change, logged by every peer of the database
  (CONFIRMED form, no process tag)::

    <ts> <host> UTCTime="..." Event="System Configuration Changed"
      Node="clusterdb@<fqdn>" PID="<0.345.0>"
      Detail="xconfiguration clusterConfiguration tls_verify - changed from:
      Permissive to: Enforcing"

- the web/REST front end's line on the peer that took the write (CONFIRMED form)::

    <ts> <host> httpd[15060]: web: Event="System Configuration Changed"
      Detail="configuration/cluster/tls_verify - changed from: 'Permissive' to: 'Enforcing'"
      Src-ip="..." Src-port="..." User="admin" Level="1" UTCTime="2020-08-12 20:13:24"

- everything else (replication, restarts): ``<ts> <host> <process>: UTCTime="..." k="v"``
  (the seed's replication lines).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from exops.lab.settings import CLUSTER_FIELDS, TLS_CDB, ClusterSettings

HTTPD_PID = 15060  # any pid; the real line carries the web server's
# The process tag of an alarm's line, by alarm id (CONFIRMED for these three: seed logs).
ALARM_TAGS = {"20004": "alarm", "20006": "alarm", "20007": "management"}
DEFAULT_ALARM_TAG = "alarm"  # MOCK-DEFINED (ids no source gives)
CLUSTERDB_PID = "<0.345.0>"


def stamps(now: datetime | None = None) -> tuple[str, str, str]:
    """(syslog timestamp, UTCTime with milliseconds, UTCTime to the second)."""
    now = now or datetime.now(UTC)
    ms = f"{now.microsecond // 1000:03d}"
    return (
        now.strftime("%Y-%m-%dT%H:%M:%S.") + ms + "+00:00",
        now.strftime("%Y-%m-%d %H:%M:%S,") + ms,
        now.strftime("%Y-%m-%d %H:%M:%S"),
    )


def _fields(kv: dict[str, Any]) -> str:
    return " ".join(f'{k}="{v}"' for k, v in kv.items())


def process_line(host: str, process: str, now: datetime | None = None, **kv: Any) -> str:
    """``<ts> <host> <process>: UTCTime="..." k="v" ...`` (replication, kernel lines)."""
    ts, utc, _ = stamps(now)
    return f'{ts} {host} {process}: UTCTime="{utc}" {_fields(kv)}'.rstrip()


def alarm_line(
    host: str,
    *,
    raised: bool,
    alarm_id: str,
    uuid: str,
    severity: str,
    detail: str,
    now: datetime | None = None,
) -> str:
    ts, utc, _ = stamps(now)
    fields = {
        "Level": "WARN" if raised else "INFO",
        "Event": "Alarm Raised" if raised else "Alarm Lowered",
        "Id": alarm_id,
        "UUID": uuid,
        "Severity": severity,
        "Detail": detail,
        "UTCTime": utc,
    }
    return f"{ts} {host} {ALARM_TAGS.get(alarm_id, DEFAULT_ALARM_TAG)}: {_fields(fields)}"


def clusterdb_change(
    host: str, fqdn: str, table: str, detail: str, now: datetime | None = None
) -> str:
    """A change of a cluster-database table as the database logs it on one peer.

    ``table`` is the database's table name (``clusterConfiguration``,
    ``alternatesConfiguration``); ``detail`` follows it, e.g.
    ``tls_verify - changed from: Permissive to: Enforcing`` or ``- Changed``.
    """
    ts, utc, _ = stamps(now)
    fields = {
        "UTCTime": utc,
        "Event": "System Configuration Changed",
        "Node": f"clusterdb@{fqdn}",
        "PID": CLUSTERDB_PID,
        "Detail": f"xconfiguration {table} {detail}",
    }
    return f"{ts} {host} {_fields(fields)}"


def web_change(
    host: str,
    path: str,
    old: Any,
    new: Any,
    *,
    src_ip: str = "127.0.0.1",
    src_port: int = 0,
    user: str = "admin",
    now: datetime | None = None,
) -> str:
    """The web front end's line for a write it took (only on that peer)."""
    ts, _, utc_s = stamps(now)
    fields = {
        "Event": "System Configuration Changed",
        "Detail": f"{path} - changed from: '{old}' to: '{new}'",
        "Src-ip": src_ip,
        "Src-port": src_port,
        "User": user,
        "Level": "1",
        "UTCTime": utc_s,
    }
    return f"{ts} {host} httpd[{HTTPD_PID}]: web: {_fields(fields)}"


# The cluster database's own table names for the mock's CDB tables (the seed
# logs 'clusterConfiguration' for configuration/cluster and
# 'alternatesConfiguration' for the peer list).
CLUSTERDB_TABLE = {
    "configuration/cluster": "clusterConfiguration",
    "configuration/alternates": "alternatesConfiguration",
    "configuration/alternatesmaster": "alternatesConfiguration",
    "configuration/clusteraddressmapping": "clusterAddressMapping",  # MOCK-DEFINED
    "configuration/h323": "h323Configuration",  # MOCK-DEFINED
}


def _cdb_text(key: str, value: Any) -> Any:
    return TLS_CDB[value] if key == "tls" else value


def clusterdb_changes(
    host: str, fqdn: str, before: ClusterSettings, after: ClusterSettings, now: datetime
) -> list[str]:
    """The cluster database's lines, on one peer, for the tables a save changed."""
    lines = []
    for key, fld in CLUSTER_FIELDS:
        if before[key] != after[key]:
            old, new = _cdb_text(key, before[key]), _cdb_text(key, after[key])
            detail = f"{fld} - changed from: {old} to: {new}"
            lines.append(clusterdb_change(host, fqdn, "clusterConfiguration", detail, now))
    if before.map != after.map:
        lines.append(clusterdb_change(host, fqdn, "clusterAddressMapping", "- Changed", now))
    if before.peers != after.peers or before.master != after.master:
        lines.append(clusterdb_change(host, fqdn, "alternatesConfiguration", "- Changed", now))
    return lines


def web_changes(
    host: str,
    before: ClusterSettings,
    after: ClusterSettings,
    *,
    src_ip: str,
    src_port: int,
    now: datetime,
) -> list[str]:
    """The web front end's lines, on the peer that took a REST write, for what it changed
    (CDB paths and values: 0-based slots, ``master_idx``, ``Enforcing``)."""
    changes: list[tuple[str, Any, Any]] = []
    for key, fld in CLUSTER_FIELDS:
        if before[key] != after[key]:
            old, new = _cdb_text(key, before[key]), _cdb_text(key, after[key])
            changes.append((f"configuration/cluster/{fld}", old, new))
    for i, (b, a) in enumerate(zip(before.peers, after.peers, strict=True)):
        if b != a:
            changes.append((f"configuration/alternates/index/{i}/ip_address", b, a))
    if before.master != after.master:
        path = "configuration/alternatesmaster/master_idx"
        changes.append((path, before.master - 1, after.master - 1))
    for i, (b_row, a_row) in enumerate(zip(before.map, after.map, strict=True)):
        for j, fld in enumerate(("name", "address")):
            if b_row[j] != a_row[j]:
                path = f"configuration/clusteraddressmapping/index/{i}/{fld}"
                changes.append((path, b_row[j], a_row[j]))
    return [
        web_change(host, path, old, new, src_ip=src_ip, src_port=src_port, now=now)
        for path, old, new in changes
    ]

"""The appliance over HTTPS: provisioning REST and the cluster database (CDB) REST.

One ``httpx.Client`` per peer, reused (keep-alive) for the whole session.
Idempotent reads are retried with a short backoff on connection trouble and
5xx; writes never are. httpx exceptions are mapped to exops's tree here.
"""

from __future__ import annotations

import json
import ssl
import time
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import httpx

from exops.appliance.base import Command, ConnectionTarget, Field, Write
from exops.appliance.certs import parse_certificate, trust_store_names
from exops.appliance.knowledge import (
    CDB,
    CDB_WRITES,
    CSRF_HEADER,
    MAX_ANSWER_BYTES,
    REST,
    TLS_FROM_CDB,
    TLS_TO_CDB,
)
from exops.errors import (
    ApplianceError,
    AuthError,
    TimeoutError_,
    TlsError,
    TransportError,
    UsageError,
)
from exops.models import (
    MAX_PEERS,
    AddressMapping,
    Alarm,
    Certificate,
    ClusterSettings,
    ClusterStatus,
    IpVersion,
    OptionKey,
    PeerState,
    PeerStatusEntry,
    SystemInfo,
    TlsMode,
)

T = TypeVar("T")


def ssl_context(target: ConnectionTarget) -> ssl.SSLContext | bool:
    if not target.verify_tls:
        return False
    if not target.ca_bundle:
        return ssl.create_default_context()
    try:
        return ssl.create_default_context(cafile=target.ca_bundle)
    except (OSError, ssl.SSLError) as exc:  # missing, unreadable, or not PEM certificates
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise UsageError(
            f"CA bundle {target.ca_bundle} (--ca-bundle / EXOPS_CA_BUNDLE): cannot be used "
            f"({reason})"
        ) from exc


class RestAppliance:
    """``Appliance`` over HTTPS (everything except CLI-only commands)."""

    transport_name = "rest"

    def __init__(
        self,
        target: ConnectionTarget,
        *,
        client: httpx.Client | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ):
        self.target = target
        self.host = target.host
        self._sleep = sleep
        self.client = client or httpx.Client(
            base_url=f"https://{target.hostname}:{target.port}",
            auth=(target.username, target.password.get_secret_value()),
            verify=ssl_context(target),
            timeout=httpx.Timeout(target.read_timeout_s, connect=target.connect_timeout_s),
            headers={"Accept": "application/json"},
            limits=httpx.Limits(max_connections=2, max_keepalive_connections=2),
        )
        self._cdb: bool | None = None

    # -- plumbing ------------------------------------------------------------
    def _call(
        self, operation: str, send: Callable[[], httpx.Response], *, retry: bool
    ) -> httpx.Response:
        attempts = 1 + (self.target.retries if retry else 0)
        for attempt in range(attempts):
            last = attempt == attempts - 1
            try:
                response = send()
            except httpx.TimeoutException as exc:
                if last or (isinstance(exc, httpx.ConnectTimeout) and not retry):
                    raise TimeoutError_(
                        f"no answer within the timeout ({type(exc).__name__})",
                        host=self.host,
                        operation=operation,
                    ) from exc
            except httpx.ConnectError as exc:
                if _is_tls_failure(exc):
                    raise TlsError(
                        f"HTTPS certificate not trusted ({_reason(exc)}); give the CA with "
                        "--ca-bundle, or --insecure to skip verification",
                        host=self.host,
                        operation=operation,
                    ) from exc
                if last:
                    raise TransportError(
                        f"cannot connect ({_reason(exc)})", host=self.host, operation=operation
                    ) from exc
            except (httpx.RemoteProtocolError, httpx.ReadError, httpx.WriteError) as exc:
                if last:
                    raise TransportError(
                        f"connection dropped ({_reason(exc)})", host=self.host, operation=operation
                    ) from exc
            except httpx.HTTPError as exc:
                raise TransportError(
                    f"HTTP error ({_reason(exc)})", host=self.host, operation=operation
                ) from exc
            else:
                if response.status_code >= 500 and not last:
                    pass
                else:
                    return self._check(response, operation)
            self._sleep(min(0.2 * 2**attempt, 2.0))
        raise TransportError("no answer", host=self.host, operation=operation)  # pragma: no cover

    def _check(self, response: httpx.Response, operation: str) -> httpx.Response:
        if len(response.content) > MAX_ANSWER_BYTES:
            raise ApplianceError(
                f"answer of {len(response.content)} bytes is too large",
                host=self.host,
                operation=operation,
            )
        if response.status_code == 401:
            raise AuthError("credentials refused (HTTP 401)", host=self.host, operation=operation)
        if response.status_code >= 400:
            raise ApplianceError(
                f"HTTP {response.status_code}: {_message(response)}",
                host=self.host,
                operation=operation,
            )
        return response

    def _get(self, path: str, operation: str) -> httpx.Response:
        return self._call(operation, lambda: self.client.get(path), retry=True)

    def _json(self, path: str, operation: str) -> Any:
        response = self._get(path, operation)
        try:
            return response.json()
        except ValueError as exc:
            raise ApplianceError(
                f"answer of {path} is not JSON", host=self.host, operation=operation
            ) from exc

    def _records(self, table: str) -> list[dict[str, Any]]:
        data = self._json(CDB.read(table), f"read {table}")
        if (
            not isinstance(data, list)
            or not data
            or not isinstance(data[0], dict)
            or not isinstance(data[0].get("records"), list)
        ):
            raise ApplianceError(
                f"expected a list of records from {CDB.prefix}{table}",
                host=self.host,
                operation=f"read {table}",
            )
        records = data[0]["records"]
        if not all(isinstance(r, dict) for r in records):
            raise ApplianceError(
                f"malformed records from {CDB.prefix}{table}",
                host=self.host,
                operation=f"read {table}",
            )
        return records

    def _one(self, table: str) -> dict[str, Any]:
        records = self._records(table)
        if len(records) != 1:
            raise ApplianceError(
                f"expected one record from {CDB.prefix}{table}, got {len(records)}",
                host=self.host,
                operation=f"read {table}",
            )
        return records[0]

    def cdb_available(self) -> bool:
        """False when the CDB REST interface is switched off (X14.2+ default)."""
        if self._cdb is None:
            try:
                self._records(CDB.master)
                self._cdb = True
            except ApplianceError as exc:
                if "HTTP 404" not in str(exc):
                    raise
                self._cdb = False
        return self._cdb

    # -- reads ------------------------------------------------------------------
    def read_settings(self) -> ClusterSettings:
        try:
            rows = sorted(self._records(CDB.alternates), key=lambda r: int(r["index"]))
            peers = tuple(str(r.get("ip_address", "")) for r in rows)
            master = int(self._one(CDB.master)["master_idx"])
            cluster = self._one(CDB.cluster)
            mapping_rows = sorted(self._records(CDB.mapping), key=lambda r: int(r["index"]))
            if len(peers) != MAX_PEERS:
                raise ApplianceError(
                    f"expected {MAX_PEERS} peer slots, got {len(peers)}",
                    host=self.host,
                    operation="read settings",
                )
            return ClusterSettings(
                peers=peers,
                primary=master + 1 if master >= 0 else 0,
                cluster_name=str(cluster.get("cluster_name", "")),
                tls_mode=TlsMode(TLS_FROM_CDB[str(cluster.get("tls_verify", "Permissive"))]),
                ip_version=IpVersion(str(cluster.get("ip_version", "IPv4"))),
                mapping_enabled=cluster.get("address_mapping") == "On",
                mapping=tuple(
                    AddressMapping(name=str(r["name"]), address=str(r["address"]))
                    for r in mapping_rows
                    if r.get("name") or r.get("address")
                ),
            )
        except (KeyError, ValueError, TypeError) as exc:
            raise ApplianceError(
                f"cluster settings answer is malformed ({exc!r})",
                host=self.host,
                operation="read settings",
            ) from exc

    def read_status(self) -> ClusterStatus:
        try:
            db = self._one(CDB.database)
            entries = tuple(
                PeerStatusEntry(
                    slot=int(r["index"]) + 1,
                    address=str(r["peer"]),
                    state=PeerState(str(r["state"])),
                    local=bool(r.get("local_peer")),
                )
                for r in self._records(CDB.peer_status)
            )
        except (KeyError, ValueError, TypeError) as exc:
            raise ApplianceError(
                f"cluster status answer is malformed ({exc!r})",
                host=self.host,
                operation="read status",
            ) from exc
        local = next((e.slot for e in entries if e.local), 0)
        return ClusterStatus(
            local_slot=local,
            database=str(db.get("status", "")),
            replication=str(db.get("replication", "")),
            last_sync=str(db.get("last_sync", "")),
            next_sync=str(db.get("next_sync", "")),
            factory_reset_pending=bool(db.get("factory_reset_pending", False)),
            peers=entries,
        )

    def read_alarms(self) -> tuple[Alarm, ...]:
        try:
            return tuple(
                Alarm(
                    id=str(r["id"]),
                    uuid=str(r.get("uuid", "")),
                    status=str(r.get("status", "raised")),
                    severity=str(r.get("severity", "")),
                    title=str(r.get("title", "")),
                    parameters=str(r.get("parameters", "")),
                    first_raised=str(r.get("first_raised", "")),
                    last_raised=str(r.get("last_raised", "")),
                )
                for r in self._records(CDB.alarms)
            )
        except KeyError as exc:
            raise ApplianceError(
                "alarm record without an id", host=self.host, operation="read alarms"
            ) from exc

    def read_uptime(self) -> int | None:
        response = self._call("read uptime", lambda: self.client.get(REST.sysinfo), retry=False)
        try:
            uptime = response.json().get("UptimeSeconds")
        except (ValueError, AttributeError) as exc:
            raise ApplianceError(
                f"answer of {REST.sysinfo} is not a JSON object",
                host=self.host,
                operation="read uptime",
            ) from exc
        return int(uptime) if str(uptime).isdecimal() else None

    def read_system(self) -> SystemInfo:
        info = self._json(REST.sysinfo, "read sysinfo")
        dns = self._json(REST.dns, "read dns")
        dns_servers = self._json(REST.dns_servers, "read dns servers")
        ntp_servers = self._json(REST.ntp_servers, "read ntp servers")
        keys = self._json(REST.optionkey, "read option keys")
        h323 = self._one(CDB.h323) if self.cdb_available() else None
        try:
            from exops.appliance.xapi import role_of

            return SystemInfo(
                name=str(info["SystemName"]),
                version=str(info["Version"]),
                role=role_of(str(info["ProductType"])),
                platform=str(info.get("PlatformSize", "")),
                hardware=str(info.get("HardwareType", "")),
                serial=str(info.get("SerialNumber", "")),
                uptime_s=int(info["UptimeSeconds"])
                if info.get("UptimeSeconds") is not None
                else None,
                lan1=info.get("Lan1Address"),
                lan2=info.get("Lan2Address"),
                hostname=str(dns.get("SystemHostName", "")),
                domain=str(dns.get("DomainName", "")),
                dns_servers=tuple(str(d["address"]) for d in dns_servers if d.get("address")),
                ntp_servers=tuple(str(n["Address"]) for n in ntp_servers if n.get("Address")),
                h323_enabled=(h323 or {}).get("mode", "On") == "On",
                option_keys=tuple(
                    OptionKey(
                        key=str(k["Key"]),
                        description=str(k.get("Description", "")),
                        count=k.get("Count"),
                    )
                    for k in keys
                ),
            )
        except ApplianceError as exc:  # role_of: an unknown product type
            raise ApplianceError(exc.message, host=self.host, operation="read system") from exc
        except (KeyError, ValueError, TypeError, AttributeError) as exc:
            raise ApplianceError(
                f"system information answer is malformed ({exc!r})",
                host=self.host,
                operation="read system",
            ) from exc

    def read_h323(self) -> bool:
        return self._one(CDB.h323).get("mode", "On") == "On"

    def read_certificate(self) -> tuple[Certificate | None, tuple[str, ...]]:
        leaf = self._get(REST.server_cert, "read certificate").text
        roots = self._get(REST.trust_store, "read trust store").text
        try:
            cert = parse_certificate(leaf) if leaf.strip() else None
            return cert, trust_store_names(roots)
        except ApplianceError as exc:
            raise ApplianceError(exc.message, host=self.host, operation="read certificate") from exc

    def read_log(self, lines: int = 500) -> list[str]:
        return self._get(f"{REST.eventlog}?lines={int(lines)}", "read log").text.splitlines()

    def probe(self) -> float:
        start = time.perf_counter()
        self._get(REST.probe, "probe")
        return (time.perf_counter() - start) * 1000.0

    # -- writes -------------------------------------------------------------------
    def write(self, writes: Sequence[Write]) -> None:
        for w in writes:
            table, field, indexed = CDB_WRITES[w.field]
            value: Any = w.value
            if w.field is Field.PRIMARY:
                value = int(w.value) - 1 if int(w.value) > 0 else -1
            elif w.field is Field.TLS_MODE:
                value = TLS_TO_CDB[str(w.value)]
            path = (
                f"{CDB.prefix}{table}/index/{int(w.index or 0) - 1}/{field}"
                if indexed
                else f"{CDB.prefix}{table}/{field}"
            )
            body = {"value": json.dumps(value)}
            self._call(f"write {w.describe()}", self._poster(path, body), retry=False)

    def _poster(self, path: str, body: dict[str, str]) -> Callable[[], httpx.Response]:
        return lambda: self.client.post(path, data=body, headers=dict([CSRF_HEADER]))

    def restart(self) -> None:
        self._call(
            "restart",
            lambda: self.client.post(REST.restart, headers=dict([CSRF_HEADER])),
            retry=False,
        )
        # The peer drops every connection: start the next request on a fresh one.
        self.client.close()
        self.client = httpx.Client(
            base_url=str(self.client.base_url),
            auth=self.client.auth,
            verify=ssl_context(self.target),
            timeout=self.client.timeout,
            headers={"Accept": "application/json"},
        )

    def command(self, command: Command) -> str:
        raise ApplianceError(
            f"xCommand {command.value} has no REST form", host=self.host, operation="command"
        )

    def close(self) -> None:
        self.client.close()


def _is_tls_failure(exc: Exception) -> bool:
    cause: BaseException | None = exc
    while cause is not None:
        if isinstance(cause, ssl.SSLError):
            return True
        cause = cause.__cause__ or cause.__context__
    return "CERTIFICATE_VERIFY_FAILED" in str(exc) or "certificate verify failed" in str(exc)


def _reason(exc: Exception) -> str:
    text = str(exc) or type(exc).__name__
    return text.splitlines()[0][:200]


def _message(response: httpx.Response) -> str:
    try:
        data = response.json()
        if isinstance(data, dict) and "Message" in data:
            return str(data["Message"])[:200]
    except ValueError:
        pass
    return response.text.strip()[:200] or response.reason_phrase

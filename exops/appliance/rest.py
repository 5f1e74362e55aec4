"""The appliance over HTTPS: provisioning REST and the cluster database (CDB) REST.

One ``httpx.Client`` per peer, reused (keep-alive) for the whole session.
Every answer is streamed in under three caps: ``MAX_ANSWER_BYTES`` (checked
while it arrives); each attempt's total deadline, connect timeout + read timeout
(connection, TLS handshake, headers and body together, however slowly the bytes
arrive: every socket wait is cut to what is left of it); and an overall
per-request deadline (every retry included). A single socket wait is at most
``ConnectionTarget.read_timeout_s`` (connect timeout while connecting). An
attempt that spent its total deadline is not retried: the peer is too slow,
not flaky. Idempotent reads are
retried with a short backoff on connection trouble and 5xx; a CDB answering
503/408 ("cluster database not fully running", CONFIRMED) is retried until
the deadline; writes never are. httpx exceptions are mapped to exops's tree
here, and the parsers below fail closed: a value of the wrong type, a
missing field, a bad or duplicate index makes the read an ``ApplianceError``
naming the table and field, never a guessed value.
"""

from __future__ import annotations

import functools
import json
import os
import socket
import ssl
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpcore
import httpx

from exops.appliance import knowledge
from exops.appliance.base import (
    Command,
    ConnectionTarget,
    Field,
    SftpConfig,
    UpgradeRequest,
    UpgradeStatus,
    Write,
    tcp_accepts,
)
from exops.appliance.certs import parse_certificate, trust_store_names
from exops.appliance.knowledge import (
    CDB,
    CDB_NOT_RUNNING,
    CSRF_HEADER,
    MAX_ANSWER_BYTES,
    OPTION_KEY_FIELDS,
    REQUEST_DEADLINE_S,
    REST,
    SERVER_LISTS,
    TLS_FROM_CDB,
    TLS_TO_CDB,
    ServerList,
)
from exops.appliance.knowledge import section as knowledge_section
from exops.appliance.record import PeerRecorder, recorder_for
from exops.appliance.xapi import parse_system_time
from exops.core.errors import (
    ApplianceError,
    AuthError,
    DuplicateSlotsError,
    ExopsError,
    TimeoutError_,
    TlsError,
    TransportError,
    UsageError,
)
from exops.core.models import (
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
    Role,
    SystemInfo,
    TlsMode,
)

_CONTEXTS: dict[tuple[str | None, int, int], ssl.SSLContext] = {}
_CONTEXTS_LOCK = threading.Lock()


def ssl_context(target: ConnectionTarget) -> ssl.SSLContext | bool:
    """The TLS context that verifies ``target``: one per CA bundle (and its file's
    version) for every peer and client of the process. Loading a CA store costs ~4 ms of
    CPU and its memory; a context is safe to share between threads and is never changed
    after it is made. A bundle rewritten in place gets a new context."""
    if not target.verify_tls:
        return False
    try:
        st = os.stat(target.ca_bundle) if target.ca_bundle else None
    except OSError:
        st = None  # create_default_context says what is wrong with it, below
    key = (target.ca_bundle, st.st_mtime_ns, st.st_size) if st else None
    if key is not None or not target.ca_bundle:
        key = key or (None, 0, 0)
        with _CONTEXTS_LOCK:
            if key not in _CONTEXTS:
                _CONTEXTS[key] = _new_context(target)
            return _CONTEXTS[key]
    return _new_context(target)


def _new_context(target: ConnectionTarget) -> ssl.SSLContext:
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


def base_url(target: ConnectionTarget) -> str:
    """``https://host:port``; an IPv6 literal is bracketed (RFC 3986). ``host`` is the
    address the hosts file gives the name (``target.address``), else the name."""
    host = target.address or target.hostname
    if ":" in host and not host.startswith("["):
        host = f"[{host}]"
    return f"https://{host}:{target.port}"


def _by_name(target: ConnectionTarget) -> tuple[dict[str, str], dict[str, str]]:
    """(headers, extensions) of a request to ``target.address``: the name in the Host
    header and in TLS (SNI, certificate check), as if it had been resolved."""
    if not target.address:
        return {}, {}
    return {"Host": f"{target.hostname}:{target.port}"}, {"sni_hostname": target.hostname}


# The total deadline of the exchange the calling thread is in (time.monotonic), or
# None. A request runs whole in one thread (httpx's sync client), so every socket
# wait of an attempt, on a new or a reused connection, sees its own deadline.
_EXCHANGE = threading.local()


def _cut(timeout: float | None, expired: type[Exception]) -> float | None:
    """``timeout`` cut to what is left of the calling thread's exchange deadline."""
    at: float | None = getattr(_EXCHANGE, "deadline", None)
    if at is None:
        return timeout
    left = at - time.monotonic()
    if left <= 0:
        raise expired("the exchange's total deadline passed")
    return left if timeout is None else min(timeout, left)


class _DeadlineStream(httpcore.NetworkStream):
    """A connection whose every wait (read, write, TLS handshake) ends by the deadline."""

    def __init__(self, inner: httpcore.NetworkStream):
        self._inner = inner

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return self._inner.read(max_bytes, _cut(timeout, httpcore.ReadTimeout))

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self._inner.write(buffer, _cut(timeout, httpcore.WriteTimeout))

    def close(self) -> None:
        self._inner.close()

    def start_tls(
        self,
        ssl_context: ssl.SSLContext,
        server_hostname: str | None = None,
        timeout: float | None = None,
    ) -> httpcore.NetworkStream:
        tls = self._inner.start_tls(
            ssl_context, server_hostname, _cut(timeout, httpcore.ConnectTimeout)
        )
        return _DeadlineStream(tls)

    def get_extra_info(self, info: str) -> Any:
        return self._inner.get_extra_info(info)


class _DeadlineBackend(httpcore.NetworkBackend):
    def __init__(self) -> None:
        self._inner = httpcore.SyncBackend()

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.NetworkStream:
        stream = self._inner.connect_tcp(
            host, port, _cut(timeout, httpcore.ConnectTimeout), local_address, socket_options
        )
        return _DeadlineStream(stream)

    def connect_unix_socket(
        self, path: str, timeout: float | None = None, socket_options: Iterable[Any] | None = None
    ) -> httpcore.NetworkStream:  # pragma: no cover - exops connects over TCP only
        stream = self._inner.connect_unix_socket(
            path, _cut(timeout, httpcore.ConnectTimeout), socket_options
        )
        return _DeadlineStream(stream)

    def sleep(self, seconds: float) -> None:  # pragma: no cover - unused by HTTP/1.1
        self._inner.sleep(seconds)


class DeadlineTransport(httpx.HTTPTransport):
    """httpx's HTTPS transport, each socket wait of an exchange cut to its total deadline.

    httpx's own timeouts are per socket wait: a peer that sends a byte just within
    the read timeout, again and again, would hold a request for ever (issue 26).
    Here every wait of an exchange (connect, TLS handshake, each read and write of
    the headers and the body) is at most what is left of the deadline that
    ``RestAppliance`` sets for the calling thread, and fails with httpx's own
    timeout exception when it is spent.
    """

    def __init__(
        self, *, verify: ssl.SSLContext | bool = True, limits: httpx.Limits | None = None
    ):
        limits = limits or httpx.Limits()
        super().__init__(verify=verify, limits=limits)
        self._pool = httpcore.ConnectionPool(
            ssl_context=httpx.create_ssl_context(verify=verify),
            max_connections=limits.max_connections,
            max_keepalive_connections=limits.max_keepalive_connections,
            keepalive_expiry=limits.keepalive_expiry,
            network_backend=_DeadlineBackend(),
        )


def attempt_bound_s(target: ConnectionTarget) -> float:
    """The total deadline of one exchange: connect timeout + read timeout."""
    return target.connect_timeout_s + target.read_timeout_s


@dataclass(frozen=True)
class Answer:
    """One HTTP answer, read in full under the size and time caps."""

    status_code: int
    headers: httpx.Headers
    content: bytes
    reason_phrase: str = ""

    @property
    def text(self) -> str:
        charset = "utf-8"
        ctype = self.headers.get("content-type", "")
        for part in ctype.split(";")[1:]:
            key, _, value = part.strip().partition("=")
            if key.lower() == "charset" and value:
                charset = value.strip('"')
        try:
            return self.content.decode(charset, "replace")
        except LookupError:
            return self.content.decode("utf-8", "replace")

    def json(self) -> Any:
        return json.loads(self.content)


# -- pure parsers of CDB answers (tested on tests/fixtures/contract/cdb) ------------------

_MISSING = object()


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return "text"
    if isinstance(value, list):
        return "a list"
    return "an object"


def _bad(where: str, name: str, value: Any, expected: str) -> ApplianceError:
    shown = f"{value!r}" if isinstance(value, str) else _kind(value)
    return ApplianceError(f"{where}: {name} is {shown}, expected {expected}")


def _get(rec: Mapping[str, Any], name: str, where: str, *, required: bool = True) -> Any:
    value = rec.get(name, _MISSING)
    if value is _MISSING and required:
        raise ApplianceError(f"{where}: no field {name}")
    return value


def _objects(
    data: Any, where: str, noun: str, expected: str
) -> Iterator[tuple[str, Mapping[str, Any]]]:
    """Each object of a list answer with its place (``<where> <noun> <n>``), checked."""
    if not isinstance(data, list):
        raise ApplianceError(f"{where}: answer is {_kind(data)}, expected {expected}")
    for n, item in enumerate(data):
        at = f"{where} {noun} {n}"
        if not isinstance(item, dict):
            raise ApplianceError(f"{at}: is {_kind(item)}, expected an object")
        yield at, item


def _given(rec: Mapping[str, Any], name: str, where: str, default: Any) -> Any:
    """The field's value; ``default`` when it is missing (required when no default)."""
    value = _get(rec, name, where, required=default is None)
    return default if value is _MISSING else value


def _text(rec: Mapping[str, Any], name: str, where: str, default: str | None = None) -> str:
    value = _given(rec, name, where, default)
    if not isinstance(value, str):
        raise _bad(where, name, value, "text")
    return value


def _integer(rec: Mapping[str, Any], name: str, where: str, lo: int, hi: int) -> int:
    value = _get(rec, name, where)
    if isinstance(value, bool) or not isinstance(value, int):
        raise _bad(where, name, value, f"a whole number {lo}..{hi}")
    if not lo <= value <= hi:
        raise ApplianceError(f"{where}: {name} {value} is out of range {lo}..{hi}")
    return value


def _flag(rec: Mapping[str, Any], name: str, where: str, default: bool | None = None) -> bool:
    value = _given(rec, name, where, default)
    if isinstance(value, bool):
        return value
    if value in ("true", "false"):  # the CDB's lowercase booleans
        return bool(value == "true")
    raise _bad(where, name, value, "true or false")


def _choice(rec: Mapping[str, Any], name: str, where: str, allowed: Mapping[str, str]) -> str:
    value = _text(rec, name, where)
    if value not in allowed:
        raise ApplianceError(f"{where}: {name} {value!r} is not one of {', '.join(allowed)}")
    return allowed[value]


@dataclass(frozen=True)
class CdbElement:
    """One peer's element of a CDB answer."""

    peer: str
    num_recs: int
    records: tuple[dict[str, Any], ...]


def parse_cdb_answer(data: Any, table: str, *, sizeonly: bool = False) -> tuple[CdbElement, ...]:
    """``[{"peer", "num_recs", "records"}, ...]`` (or ``[]``) -> elements, checked.

    ``num_recs`` must match the records unless ``sizeonly`` (then records are empty).
    """
    where = f"{CDB.prefix}{table}"
    elements = []
    for at, element in _objects(data, where, "element", "a list of peers"):
        peer = _text(element, "peer", at)
        num = _integer(element, "num_recs", at, 0, 1_000_000)
        records = _get(element, "records", at)
        if not isinstance(records, list) or not all(isinstance(r, dict) for r in records):
            raise ApplianceError(f"{at}: records is not a list of objects")
        if sizeonly and records:
            raise ApplianceError(f"{at}: a sizeonly answer carries records")
        if not sizeonly and num != len(records):
            raise ApplianceError(f"{at}: num_recs {num} but {len(records)} records")
        elements.append(CdbElement(peer, num, tuple(records)))
    return tuple(elements)


def local_records(data: Any, table: str) -> tuple[dict[str, Any], ...]:
    """The records of a ``?peer=local`` answer: one element, or none (``[]``)."""
    elements = parse_cdb_answer(data, table)
    if len(elements) > 1:
        raise ApplianceError(
            f"{CDB.prefix}{table}?peer=local: {len(elements)} peer elements, expected one"
        )
    return elements[0].records if elements else ()


def one_record(data: Any, table: str) -> dict[str, Any]:
    records = local_records(data, table)
    if len(records) != 1:
        raise ApplianceError(f"{CDB.prefix}{table}: expected one record, got {len(records)}")
    return records[0]


def _rows(records: Sequence[dict[str, Any]], table: str) -> dict[int, dict[str, Any]]:
    """Records by their 0-based ``index`` (0..5), each index once."""
    rows: dict[int, dict[str, Any]] = {}
    for n, rec in enumerate(records):
        idx = _integer(rec, "index", f"{CDB.prefix}{table} record {n}", 0, MAX_PEERS - 1)
        if idx in rows:
            raise ApplianceError(f"{CDB.prefix}{table}: index {idx} appears twice")
        rows[idx] = rec
    return rows


_ON_OFF = {"On": "On", "Off": "Off"}
_IP_VERSIONS = {v.value: v.value for v in IpVersion}


def parse_settings(alternates: Any, master: Any, cluster: Any, mapping: Any) -> ClusterSettings:
    """The four CDB answers (``?peer=local``) -> ``ClusterSettings`` (slots from 1)."""
    rows = _rows(local_records(alternates, CDB.alternates), CDB.alternates)
    if sorted(rows) != list(range(MAX_PEERS)):
        raise ApplianceError(
            f"{CDB.prefix}{CDB.alternates}: expected {MAX_PEERS} peer slots (index 0-5), "
            f"got {len(rows)}"
        )
    peers = []
    for idx in range(MAX_PEERS):
        where = f"{CDB.prefix}{CDB.alternates} index {idx}"
        peers.append(_text(rows[idx], "ip_address", where))
        if "cdb_address" in rows[idx]:
            _text(rows[idx], "cdb_address", where)
    seen: dict[str, int] = {}
    for idx, address in enumerate(peers):
        if address and address.lower() in seen:  # the raw slots, for a killed move's repair
            raise DuplicateSlotsError(
                f"{CDB.prefix}{CDB.alternates}: ip_address {address!r} is listed at "
                f"index {seen[address.lower()]} and {idx}",
                slots=tuple(peers),
            )
        if address:
            seen[address.lower()] = idx
    master_rec = one_record(master, CDB.master)
    master_idx = _integer(master_rec, "master_idx", f"{CDB.prefix}{CDB.master}", -1, MAX_PEERS - 1)
    rec = one_record(cluster, CDB.cluster)
    where = f"{CDB.prefix}{CDB.cluster}"
    map_rows = _rows(local_records(mapping, CDB.mapping), CDB.mapping)
    pairs = []
    for idx in sorted(map_rows):
        at = f"{CDB.prefix}{CDB.mapping} index {idx}"
        name, address = _text(map_rows[idx], "name", at), _text(map_rows[idx], "address", at)
        if name or address:
            pairs.append(AddressMapping(name=name, address=address))
    return ClusterSettings(
        peers=tuple(peers),
        primary=master_idx + 1 if master_idx >= 0 else 0,
        cluster_name=_text(rec, "cluster_name", where),
        tls_mode=TlsMode(_choice(rec, "tls_verify", where, TLS_FROM_CDB)),
        ip_version=IpVersion(_choice(rec, "ip_version", where, _IP_VERSIONS)),
        mapping_enabled=_choice(rec, "address_mapping", where, _ON_OFF) == "On",
        mapping=tuple(pairs),
    )


_STATES = {s.value: s.value for s in PeerState}


def parse_status(database: Any, peer_status: Any) -> ClusterStatus:
    """``status/clusterdatabase`` (MOCK-DEFINED) + ``status/clusterpeer`` -> ClusterStatus."""
    db = one_record(database, CDB.database)
    where = f"{CDB.prefix}{CDB.database}"
    entries = []
    seen: set[int] = set()
    for n, rec in enumerate(local_records(peer_status, CDB.peer_status)):
        at = f"{CDB.prefix}{CDB.peer_status} record {n}"
        idx = _integer(rec, "index", at, 0, MAX_PEERS - 1)
        if idx in seen:
            raise ApplianceError(f"{CDB.prefix}{CDB.peer_status}: index {idx} appears twice")
        seen.add(idx)
        entries.append(
            PeerStatusEntry(
                slot=idx + 1,
                address=_text(rec, "peer", at),
                state=PeerState(_choice(rec, "state", at, _STATES)),
                local=_flag(rec, "local_peer", at),
            )
        )
    locals_ = [e.slot for e in entries if e.local]
    if len(locals_) > 1:
        raise ApplianceError(
            f"{CDB.prefix}{CDB.peer_status}: {len(locals_)} records are local_peer"
        )
    return ClusterStatus(
        local_slot=locals_[0] if locals_ else 0,
        database=_text(db, "status", where, ""),
        replication=_text(db, "replication", where, ""),
        last_sync=_text(db, "last_sync", where, ""),
        next_sync=_text(db, "next_sync", where, ""),
        factory_reset_pending=_flag(db, "factory_reset_pending", where, False),
        peers=tuple(entries),
    )


# ``status/alarm.status``: raised, lowered, and acknowledged (CONFIRMED, 2026-12 update:
# an independent client of /api/management). Acknowledging does not lower an alarm,
# so an acknowledged alarm is still raised (as every listed ``xStatus Warnings`` entry).
_ALARM_STATUS = {"raised": "raised", "lowered": "lowered", "acknowledged": "raised"}


def _when(rec: Mapping[str, Any], name: str, where: str) -> str:
    """A raise time: text as given, or epoch seconds (CONFIRMED, 2026-12 update) as
    ``YYYY-MM-DDTHH:MM:SSZ``; missing is ``""``."""
    value = _given(rec, name, where, "")
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        try:
            return datetime.fromtimestamp(int(value), UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        except (OverflowError, OSError, ValueError) as exc:
            raise ApplianceError(f"{where}: {name} {value} is not a time") from exc
    if not isinstance(value, str):
        raise _bad(where, name, value, "text or epoch seconds")
    return value


def parse_alarms(data: Any) -> tuple[Alarm, ...]:
    alarms = []
    for n, rec in enumerate(local_records(data, CDB.alarms)):
        at = f"{CDB.prefix}{CDB.alarms} record {n}"
        parameters = rec.get("parameters")
        alarms.append(
            Alarm(
                id=_text(rec, "id", at),
                status=_choice(rec, "status", at, _ALARM_STATUS),
                uuid=_text(rec, "uuid", at, ""),
                severity=_text(rec, "severity", at, ""),
                title=_text(rec, "title", at, ""),
                # null parameters: an alarm without any (the alarm manager logs
                # Parameters="null"); anything but text or null is refused.
                parameters=_text(rec, "parameters", at, "") if parameters is not None else "",
                first_raised=_when(rec, "first_raised", at),
                last_raised=_when(rec, "last_raised", at),
            )
        )
    return tuple(alarms)


def parse_h323(data: Any) -> bool:
    rec = one_record(data, CDB.h323)
    return _choice(rec, "mode", f"{CDB.prefix}{CDB.h323}", _ON_OFF) == "On"


def _optional_text(obj: Mapping[str, Any], name: str, where: str) -> str | None:
    value = obj.get(name)
    if value is None:
        return None
    if not isinstance(value, str):
        raise _bad(where, name, value, "text or null")
    return value


def parse_system(
    info: Any,
    dns: Any,
    dns_servers: Any,
    ntp_servers: Any,
    keys: Any,
    h323: bool | None,
    unknown: dict[str, str],
) -> SystemInfo:
    """The provisioning answers -> SystemInfo. The sysinfo body is MOCK-DEFINED.

    A missing (or null) ``Version``, ``ProductType`` or ``PlatformSize``, or a
    product type exops does not know, gives ``None`` and a reason in
    ``unknown`` (``"system.version"`` -> why); a value of the wrong type fails.
    The DNS and NTP server lists and the option keys are read in every
    documented shape (``SERVER_LISTS``); any other shape, or a ``Refused`` read,
    makes that fact ``None`` with the answer's shape in ``unknown`` - never an
    empty list.
    """
    where = REST.sysinfo
    if not isinstance(info, dict):
        raise ApplianceError(f"{where}: answer is {_kind(info)}, expected an object")
    version = _optional_text(info, "Version", where)
    if version is None:
        unknown["system.version"] = f"{where} has no Version"
    product = _optional_text(info, "ProductType", where)
    role: Role | None = None
    if product is None:
        unknown["system.role"] = f"{where} has no ProductType"
    else:
        role = next((r for r in Role if r.value.lower() == product.strip().lower()), None)
        if role is None:
            unknown["system.role"] = f"{where} ProductType {product[:60]!r} is not a known role"
    platform = _optional_text(info, "PlatformSize", where)
    if platform is None:
        unknown["system.platform"] = f"{where} has no PlatformSize"
    uptime = info.get("UptimeSeconds")
    if uptime is not None and (
        isinstance(uptime, bool) or not isinstance(uptime, int) or uptime < 0
    ):
        raise _bad(where, "UptimeSeconds", uptime, "a whole number of seconds")
    if h323 is None:
        unknown["system.h323_enabled"] = "H.323 mode has no REST form without the CDB REST API"
    if not isinstance(dns, dict):
        raise ApplianceError(f"{REST.dns}: answer is {_kind(dns)}, expected an object")
    servers = {}
    for name, answer in (("dns_servers", dns_servers), ("ntp_servers", ntp_servers)):
        servers[name], why = parse_servers(answer, SERVER_LISTS[name])
        if servers[name] is None:
            unknown[f"system.{name}"] = why
    option_keys, why = parse_option_keys(keys)
    if option_keys is None:
        unknown["system.option_keys"] = why
    hostname = _text(dns, "SystemHostName", REST.dns, "")
    return SystemInfo(
        # The sysinfo body has no public example (MOCK-DEFINED): without SystemName the
        # name is the DNS host name (CONFIRMED field), never a failed read.
        name=_text(info, "SystemName", where, "") or hostname,
        version=version,
        role=role,
        platform=platform,
        hardware=_text(info, "HardwareType", where, ""),
        serial=_text(info, "SerialNumber", where, ""),
        uptime_s=uptime,
        system_time=parse_system_time(info.get("SystemTime")),
        lan1=_optional_text(info, "Lan1Address", where),
        lan2=_optional_text(info, "Lan2Address", where),
        hostname=hostname,
        domain=_text(dns, "DomainName", REST.dns, ""),
        dns_servers=servers["dns_servers"],
        ntp_servers=servers["ntp_servers"],
        h323_enabled=h323,
        option_keys=option_keys,
    )


@dataclass(frozen=True)
class Refused:
    """A read answered with an error (HTTP 4xx/5xx) or with no JSON: the fact it was
    for is *unknown*, the rest of the system read goes on (a peer on X14.2+ has no
    option keys; a resource may be missing on a version)."""

    status: int | None
    message: str

    def __str__(self) -> str:
        return f"HTTP {self.status}: {self.message}" if self.status else self.message


# The system-read answers whose error makes only their own fact unknown (a Refused),
# not the whole read: the server lists (a version may lack a path) and the option keys
# (Expressway X14.2+ has none; the body is MOCK-DEFINED).
OPTIONAL_SYSTEM_PATHS = frozenset({REST.dns_servers, REST.ntp_servers, REST.optionkey})


def shape_of(data: Any, depth: int = 0) -> str:
    """A JSON answer's shape in words, to name an answer exops does not read:
    ``an object {DefaultDNSServers: a list of 1 (an object {address, index})}``."""
    if isinstance(data, list):
        if not data:
            return "an empty list"
        kinds: list[str] = []
        for item in data:
            k = shape_of(item, depth + 1) if depth < 2 else _kind(item)
            if k not in kinds:
                kinds.append(k)
        shown = " / ".join(kinds[:3]) + (" / ..." if len(kinds) > 3 else "")
        return f"a list of {len(data)} ({shown})"
    if isinstance(data, dict):
        if not data:
            return "an object with no keys"
        parts = []
        for key in sorted(data, key=str)[:16]:
            child = data[key]
            if isinstance(child, (dict, list)) and depth < 2:
                parts.append(f"{key}: {shape_of(child, depth + 1)}")
            else:
                parts.append(str(key))
        more = ", ..." if len(data) > 16 else ""
        return "an object {" + ", ".join(parts) + more + "}"
    return _kind(data)


def _expected(spec: ServerList) -> str:
    row = f'{{"index", "{spec.field}"}}'
    if spec.wrapper:
        return f'{{"{spec.wrapper}": {row}}}, one {row} object, or a list of either'
    return f"one {row} object or a list of them"


def _server_row(item: Any, spec: ServerList) -> tuple[str, str | None]:
    """One row (wrapped or not) -> (address, None) or ("", what is wrong)."""
    row = item
    if spec.wrapper and isinstance(item, dict) and set(item) == {spec.wrapper}:
        row = item[spec.wrapper]
        if not isinstance(row, dict):
            return "", f"{spec.wrapper} holds {_kind(row)}"
    if not isinstance(row, dict):
        return "", f"{_kind(row)}, not an object"
    if spec.field not in row:
        return "", f"no field {spec.field}"
    value = row[spec.field]
    if not isinstance(value, str):
        return "", f"{spec.field} is {_kind(value)}"
    return value.strip(), None


def parse_servers(data: Any, spec: ServerList) -> tuple[tuple[str, ...] | None, str]:
    """A DNS or NTP server answer in any documented shape -> (addresses, "");
    any other shape -> (None, the shape named). ``[]`` is the one "none" answer."""
    if isinstance(data, Refused):
        return None, f"{spec.path} answered {data}"
    items = data if isinstance(data, list) else [data]
    out = []
    for n, item in enumerate(items):
        address, problem = _server_row(item, spec)
        if problem is not None:
            at = f"item {n}: {problem}" if isinstance(data, list) else problem
            return None, (
                f"{spec.path}: answer is {shape_of(data)} ({at}); exops reads {_expected(spec)}"
            )
        if address:
            out.append(address)
    return tuple(out), ""


def parse_option_keys(data: Any) -> tuple[tuple[OptionKey, ...] | None, str]:
    """``GET optionkey`` (body MOCK-DEFINED): one ``{Key, Description, Count}`` object or a
    list of them -> (keys, ""); anything else, or a ``Refused`` read -> (None, why)."""
    f = OPTION_KEY_FIELDS
    if isinstance(data, Refused):
        return None, f"{REST.optionkey} answered {data}"
    items = data if isinstance(data, list) else [data]
    keys = []
    for n, row in enumerate(items):
        problem = None
        if not isinstance(row, dict):
            problem = f"{_kind(row)}, not an object"
        elif not isinstance(row.get(f.key), str) or not row[f.key].strip():
            problem = f"no text {f.key}"
        elif not isinstance(row.get(f.description, ""), str):
            problem = f"{f.description} is {_kind(row[f.description])}"
        else:
            count = row.get(f.count)
            if count is not None and (isinstance(count, bool) or not isinstance(count, int)):
                problem = f"{f.count} is {_kind(count)}"
        if problem is not None or not isinstance(row, dict):
            at = f"item {n}: {problem}" if isinstance(data, list) else problem
            return None, (
                f"{REST.optionkey}: answer is {shape_of(data)} ({at}); exops reads one "
                f"{{{f.key}, {f.description}, {f.count}}} object or a list of them "
                "(a MOCK-DEFINED form)"
            )
        keys.append(
            OptionKey(
                key=row[f.key],
                description=row.get(f.description) or "",
                count=row.get(f.count),
            )
        )
    return tuple(keys), ""


def _wire_value(w: Write) -> str:
    """A write's value as the CDB form takes it (text; 0-based primary)."""
    if w.field is Field.PRIMARY:
        slot = int(w.value)
        return str(slot - 1) if slot > 0 else "-1"
    if w.field is Field.TLS_MODE:
        return TLS_TO_CDB[str(w.value)]
    if isinstance(w.value, bool):
        return "true" if w.value else "false"
    return str(w.value)


def cdb_posts(writes: Sequence[Write]) -> list[tuple[str, dict[str, str], list[Write]]]:
    """The POSTs for ``writes``: ``(path, form fields, writes)`` in the writes' order.

    ``POST <table>/<keyfield>/<keyvalue>`` for a row (``index`` 0-based),
    ``POST <table>`` for a single-record table (SETTING_RULES). Adjacent writes
    to the same row go in one POST; the plan's order is never changed.
    """
    posts: list[tuple[str, dict[str, str], list[Write]]] = []
    for w in writes:
        rule = knowledge.SETTING_RULES[w.field.value]  # knowledge.toml read on first use
        if rule.row_key is not None:
            if w.index is None or not 1 <= w.index <= MAX_PEERS:
                raise UsageError(f"write {w.describe()}: needs a row 1-{MAX_PEERS}")
            path = CDB.row(rule.table, (rule.row_key, w.index - 1))
        else:
            path = CDB.row(rule.table)
        if posts and posts[-1][0] == path and rule.field not in posts[-1][1]:
            posts[-1][1][rule.field] = _wire_value(w)
            posts[-1][2].append(w)
        else:
            posts.append((path, {rule.field: _wire_value(w)}, [w]))
    return posts


class RestAppliance:
    """``Appliance`` over HTTPS (everything except CLI-only commands)."""

    transport_name = "rest"

    def __init__(
        self,
        target: ConnectionTarget,
        *,
        client: httpx.Client | None = None,
        transport: httpx.BaseTransport | None = None,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
        deadline_s: float | None = None,
    ):
        """``client``: use this client as is (never re-created); ``transport``:
        build the client, and every re-created one, on this transport."""
        self.target = target
        self.host = target.host
        self._sleep = sleep
        self._clock = clock
        self._transport = transport
        self.deadline_s = float(
            deadline_s or getattr(target, "request_deadline_s", None) or REQUEST_DEADLINE_S
        )
        self._owns_client = client is None
        self.client = client if client is not None else self._new_client()
        self._cdb: bool | None = None
        # --record DIR / EXOPS_RECORD_DIR: every exchange into a transcript
        # (exops.appliance.record).
        self.recorder: PeerRecorder | None = recorder_for(target)
        # What the last read_system could not learn: "system.role" -> why.
        self.last_unknown: dict[str, str] = {}

    def _new_client(self) -> httpx.Client:
        target = self.target
        limits = httpx.Limits(max_connections=2, max_keepalive_connections=2)
        transport = self._transport or DeadlineTransport(verify=ssl_context(target), limits=limits)
        return httpx.Client(
            base_url=base_url(target),
            auth=(target.username, target.password.get_secret_value()),
            verify=ssl_context(target),
            timeout=httpx.Timeout(target.read_timeout_s, connect=target.connect_timeout_s),
            headers={"Accept": "application/json"},
            limits=limits,
            transport=transport,
        )

    # -- plumbing ------------------------------------------------------------
    @contextmanager
    def _operation(self, operation: str) -> Iterator[None]:
        """Attach this peer and ``operation`` to any exops error raised inside."""
        try:
            yield
        except ExopsError as exc:
            if exc.host is None:
                exc.host = self.host
            if exc.operation is None:
                exc.operation = operation
            raise

    def _send_once(
        self,
        method: str,
        path: str,
        deadline_at: float,
        data: Mapping[str, str] | None,
        headers: Mapping[str, str] | None,
        bound_s: float,
        json_body: Any = None,
    ) -> Answer:
        """One attempt; ``deadline_at`` ends it whole (``bound_s`` long, for messages)."""
        remaining = max(deadline_at - self._clock(), 0.001)
        timeout = httpx.Timeout(
            min(self.target.read_timeout_s, remaining),
            connect=min(self.target.connect_timeout_s, remaining),
        )
        named, extensions = _by_name(self.target)
        request = self.client.build_request(
            method,
            path,
            data=data,
            json=json_body,
            headers={**named, **(headers or {})},
            timeout=timeout,
            extensions=extensions,
        )
        # Every socket wait of this attempt ends by its deadline (DeadlineTransport).
        _EXCHANGE.deadline = time.monotonic() + remaining
        try:
            return self._exchange(request, method, path, deadline_at, data, bound_s)
        finally:
            _EXCHANGE.deadline = None

    def _exchange(
        self,
        request: httpx.Request,
        method: str,
        path: str,
        deadline_at: float,
        data: Mapping[str, str] | None,
        bound_s: float,
    ) -> Answer:
        try:
            response = self.client.send(request, stream=True)
        except httpx.HTTPError as exc:
            if self.recorder is not None:
                self.recorder.rest_error(method, path, f"{type(exc).__name__}: {_reason(exc)}")
            raise
        try:
            declared = response.headers.get("content-length", "")
            if declared.isdecimal() and int(declared) > MAX_ANSWER_BYTES:
                raise ApplianceError(
                    f"answer of {int(declared)} bytes is too large (limit {MAX_ANSWER_BYTES})"
                )
            body = bytearray()
            for chunk in response.iter_bytes():
                body += chunk
                if len(body) > MAX_ANSWER_BYTES:
                    raise ApplianceError(
                        f"answer is too large (over {MAX_ANSWER_BYTES} bytes; stopped reading)"
                    )
                if self._clock() > deadline_at:
                    raise TimeoutError_(
                        f"answer still arriving at the {bound_s:.0f} s "
                        "deadline (the peer answers too slowly)"
                    )
        finally:
            response.close()
        if self.recorder is not None:
            self.recorder.rest(
                method, path, response.status_code, response.headers, bytes(body), data
            )
        return Answer(response.status_code, response.headers, bytes(body), response.reason_phrase)

    def _request(
        self,
        method: str,
        path: str,
        *,
        retry: bool,
        data: Mapping[str, str] | None = None,
        cdb: bool = False,
        json_body: Any = None,
    ) -> Answer:
        """One request under the deadline; reads retried, writes never (call in ``_operation``).
        ``json_body``: a JSON request body (the upgrade forms); never recorded."""
        headers = dict([CSRF_HEADER]) if method != "GET" else None
        start = self._clock()
        deadline_at = start + self.deadline_s
        slept = 0.0
        attempt = busy = 0
        while True:
            last = not retry or attempt >= self.target.retries
            now = self._clock()
            attempt_at = min(deadline_at, now + attempt_bound_s(self.target))
            bound_s = attempt_at - now
            try:
                answer = self._send_once(
                    method, path, attempt_at, data, headers, bound_s, json_body
                )
            except httpx.HTTPError as exc:
                spent = self._clock() >= attempt_at
                if spent and isinstance(exc, httpx.TimeoutException):
                    raise TimeoutError_(
                        f"no complete answer within the {bound_s:.0f} s "
                        f"deadline ({type(exc).__name__})"
                    ) from exc
                error = _mapped(exc, last or spent)
                if error is not None:
                    raise _unresolved(error, exc, self.target) from exc
            else:
                code = answer.status_code
                if cdb and code in CDB_NOT_RUNNING:
                    delay = min(0.5 * 2**busy, 5.0)
                    if not retry or max(self._clock() - start, slept) + delay >= self.deadline_s:
                        raise TransportError(
                            f"cluster database not fully running (HTTP {code}: "
                            f"{_message(answer)})"
                            + ("" if not retry else f"; still so after {self.deadline_s:.0f} s")
                        )
                    busy += 1
                    self._sleep(delay)
                    slept += delay
                    continue
                if cdb and code == 404:
                    raise ApplianceError(
                        f"HTTP 404: {_message(answer)}: the cluster database REST API is off "
                        "on this peer (the X14.2+ default); use the default transport "
                        "(--transport auto reads the cluster settings over SSH), or switch "
                        "that API on at the appliance",
                        status_code=404,
                    )
                if code < 500 or last:
                    return self._check(answer)
            delay = min(0.2 * 2**attempt, 2.0)
            self._sleep(delay)
            slept += delay
            attempt += 1

    @staticmethod
    def _check(answer: Answer) -> Answer:
        if answer.status_code == 401:
            raise AuthError("credentials refused (HTTP 401)")
        if answer.status_code >= 400:
            raise ApplianceError(
                f"HTTP {answer.status_code}: {_message(answer)}", status_code=answer.status_code
            )
        return answer

    def _json(self, path: str, *, cdb: bool = False) -> Any:
        answer = self._request("GET", path, retry=True, cdb=cdb)
        try:
            return answer.json()
        except ValueError as exc:
            raise ApplianceError(f"answer of {path.split('?', maxsplit=1)[0]} is not JSON") from exc

    def get_json(
        self, path: str, *, operation: str, cdb: bool = False, refused_ok: bool = False
    ) -> Any:
        """One read: ``GET path`` (retried like every read), its JSON answer.

        Errors name this peer and ``operation`` (e.g. "read sysinfo"), as the
        ``read_*`` methods' do. ``cdb``: a cluster-database path (its
        availability is learnt from the answer). ``refused_ok``: an error answer
        or an answer that is not JSON comes back as ``Refused`` (the fact it is
        for is then unknown; used for the parts of the system read a version may
        lack, ``OPTIONAL_SYSTEM_PATHS``).

        Raises:
            TransportError: the peer did not answer (or refused the credentials).
            ApplianceError: an error answer, or an answer that is not JSON.
        """
        with self._operation(operation):
            try:
                return self._json(path, cdb=cdb)
            except ApplianceError as exc:
                if not refused_ok:
                    raise
                return Refused(exc.status_code, exc.message)

    def _cdb_json(self, table: str, *filters: tuple[str, str | int]) -> Any:
        return self._json(CDB.read(table, *filters), cdb=True)

    def cdb_route(self) -> tuple[bool, tuple[Any] | None]:
        """Whether the CDB REST interface answers, learnt from a read the settings need
        anyway: the master table (``configuration/alternatesmaster``). ``(True,
        (its JSON,))``; ``(True, None)`` when it answered in something other than
        JSON (the table's own read then says what is wrong); ``(False, None)`` when
        the interface is switched off (HTTP 404, the X14.2+ default). One request
        where ``cdb_available`` and the settings read would make two (a gather's
        first round: issue 22). Once known, the route is not asked again: ``(False,
        None)`` or ``(True, None)`` without a request (the table is then read on its own,
        as every other)."""
        if self._cdb is not None:
            return self._cdb, None
        with self._operation(f"read {CDB.master}"):
            try:
                answer = self._request("GET", CDB.read(CDB.master), retry=True, cdb=True)
            except ApplianceError as exc:
                if exc.status_code != 404:
                    raise
                self._cdb = False
                return False, None
        self._cdb = True
        try:
            return True, (answer.json(),)
        except ValueError:
            return True, None

    def cdb_available(self) -> bool:
        """False when the CDB REST interface is switched off (X14.2+ default: HTTP 404).
        Asked once per appliance, by the same read as ``cdb_route`` (every path that
        learns the route makes one and the same request: a recorded session replays
        for any of them)."""
        if self._cdb is None:
            self.cdb_route()
        return bool(self._cdb)

    # -- reads ------------------------------------------------------------------
    def read_settings(self) -> ClusterSettings:
        with self._operation("read settings"):
            return parse_settings(
                self._cdb_json(CDB.alternates),
                self._cdb_json(CDB.master),
                self._cdb_json(CDB.cluster),
                self._cdb_json(CDB.mapping),
            )

    def read_status(self) -> ClusterStatus:
        with self._operation("read status"):
            return parse_status(self._cdb_json(CDB.database), self._cdb_json(CDB.peer_status))

    def read_alarms(self) -> tuple[Alarm, ...]:
        with self._operation("read alarms"):
            return parse_alarms(self._cdb_json(CDB.alarms))

    def read_uptime(self) -> int | None:
        with self._operation("read uptime"):
            answer = self._request("GET", REST.sysinfo, retry=False)
            try:
                info = answer.json()
            except ValueError as exc:
                raise ApplianceError(f"answer of {REST.sysinfo} is not JSON") from exc
            if not isinstance(info, dict):
                raise ApplianceError(f"answer of {REST.sysinfo} is not a JSON object")
            uptime = info.get("UptimeSeconds")
            if isinstance(uptime, bool) or not isinstance(uptime, int) or uptime < 0:
                return None
            return uptime

    def read_system(self) -> SystemInfo:
        unknown: dict[str, str] = {}
        answers = []
        for path, what in (
            (REST.sysinfo, "sysinfo"),
            (REST.dns, "dns"),
            (REST.dns_servers, "dns servers"),
            (REST.ntp_servers, "ntp servers"),
            (REST.optionkey, "option keys"),
        ):
            answers.append(
                self.get_json(
                    path, operation=f"read {what}", refused_ok=path in OPTIONAL_SYSTEM_PATHS
                )
            )
        h323 = self.read_h323() if self.cdb_available() else None
        info, dns, dns_servers, ntp_servers, keys = answers
        with self._operation("read system"):
            system = parse_system(info, dns, dns_servers, ntp_servers, keys, h323, unknown)
        self.last_unknown = unknown
        return system

    def read_h323(self) -> bool:
        with self._operation("read h323"):
            return parse_h323(self._cdb_json(CDB.h323))

    def read_certificate(self) -> tuple[Certificate | None, tuple[str, ...]]:
        with self._operation("read certificate"):
            leaf = self._request("GET", REST.server_cert, retry=True).text
            roots = self._request("GET", REST.trust_store, retry=True).text
            cert = parse_certificate(leaf) if leaf.strip() else None
            return cert, trust_store_names(roots)

    def read_log(self, lines: int = 500) -> list[str]:
        """``GET /api/provisioning/eventlog`` - a MOCK-DEFINED path (the lab's): no public
        source shows a REST log resource, so a real box is expected to answer 404 and
        the router reads ``eventlog N`` over SSH instead (``RoutedAppliance.read_log``)."""
        with self._operation("read log"):
            path = f"{REST.eventlog}?lines={int(lines)}"
            text = self._request("GET", path, retry=True).text
            return [line for line in text.splitlines() if line.strip()]

    def accepts_connections(self) -> bool:
        """``PortProbe``: the HTTPS port accepts a TCP connection (no TLS, no request)."""
        t = self.target
        return tcp_accepts(t.address or t.hostname, t.port, t.connect_timeout_s)

    def probe(self) -> float:
        start = time.perf_counter()
        with self._operation("probe"):
            self._request("GET", REST.probe, retry=True)
        return (time.perf_counter() - start) * 1000.0

    # -- writes -------------------------------------------------------------------
    def write(self, writes: Sequence[Write]) -> None:
        """One POST per row (adjacent writes of a row together); stops at the first error."""
        for path, form, group in cdb_posts(writes):
            with self._operation("write " + ", ".join(w.describe() for w in group)):
                self._request("POST", path, retry=False, data=form, cdb=True)

    def restart(self) -> None:
        with self._operation("restart"):
            self._request("POST", REST.restart, retry=False)
        if self._owns_client:
            # The peer drops every connection: start the next request on a fresh
            # client (same transport, same settings).
            self.client.close()
            self.client = self._new_client()

    def command(self, command: Command) -> str:
        raise ApplianceError(
            f"xCommand {command.value} has no REST form", host=self.host, operation="command"
        )

    # -- the software upgrade (``Upgrader``; knowledge.toml [upgrade]) ---------------------
    def put_sftp_config(self, config: SftpConfig) -> None:
        body = {
            "SftpServer": config.server,
            "Username": config.username,
            "Password": config.password.get_secret_value(),
            "RsaKey": config.rsa_key,
        }
        with self._operation("write sftpconfig"):
            self._request("PUT", upgrade_forms().sftpconfig_path, retry=False, json_body=body)

    def start_upgrade(self, request: UpgradeRequest) -> str:
        body = {
            "ImageDownloadMode": "sftp",
            "UpgradeFileLocationSftpPath": request.location,
            "UpgradeFileName": request.file_name,
            "UpgradeFileSha512": request.sha512,
            "ClusterUpgrade": "no",  # CONFIRMED: the only value the API supports
            "WaitForCallDisconnect": request.wait_for_call_disconnect,
            "AutoReboot": "yes" if request.auto_reboot else "no",
        }
        with self._operation("start upgrade"):
            path = upgrade_forms().upgrade_path
            answer = self._request("POST", path, retry=False, json_body=body)
            try:
                message = answer.json().get("Message", "")
            except (ValueError, AttributeError):
                message = ""
            return str(message) if isinstance(message, str) else ""

    def read_upgrade_status(self) -> UpgradeStatus | None:
        with self._operation("read upgradestatus"):
            return parse_upgrade_status(self._json(upgrade_forms().status_path))

    def close(self) -> None:
        self.client.close()


def _mapped(exc: httpx.HTTPError, last: bool) -> ExopsError | None:
    """The exops error for an httpx failure, or None when a read may try again."""
    if isinstance(exc, httpx.TimeoutException):
        if not last:
            return None
        return TimeoutError_(f"no answer within the timeout ({type(exc).__name__})")
    if isinstance(exc, httpx.ConnectError):
        if _is_tls_failure(exc):
            return TlsError(tls_failure_message(exc))
        return TransportError(f"cannot connect ({_reason(exc)})") if last else None
    if isinstance(exc, (httpx.RemoteProtocolError, httpx.ReadError, httpx.WriteError)):
        return TransportError(f"connection dropped ({_reason(exc)})") if last else None
    return TransportError(f"HTTP error ({_reason(exc)})")


def _unresolved(error: ExopsError, exc: Exception, target: ConnectionTarget) -> ExopsError:
    """A name that did not resolve: say so, and which resolver was asked."""
    cause: BaseException | None = exc
    while cause is not None:
        if isinstance(cause, socket.gaierror):
            return TransportError(
                f"cannot connect: {target.hostname} does not resolve "
                f"({cause.strerror or cause}; asked {target.resolver or 'the system resolver'})"
            )
        cause = cause.__cause__ or cause.__context__
    return error


def tls_failure_message(exc: Exception) -> str:
    """What is wrong with the appliance's certificate, and the fix that keeps
    verification on (never --insecure): an expired or self-signed certificate is said
    to be so, with its remedy; an unknown issuer asks for the CA."""
    cause: BaseException | None = exc
    while cause is not None and not isinstance(cause, ssl.SSLCertVerificationError):
        cause = cause.__cause__ or cause.__context__
    code = getattr(cause, "verify_code", None)
    text = str(getattr(cause, "verify_message", "") or _reason(exc))
    low = text.lower()
    if code in (9, 10) or "expired" in low or "not yet valid" in low:
        return (
            f"HTTPS certificate out of its validity ({text}); renew it on the appliance "
            "(`exops renew-cert`); exops keeps verifying certificates"
        )
    if code in (18, 19) or "self-signed" in low or "self signed" in low:
        return (
            f"HTTPS certificate not trusted ({text}); the peer presents a self-signed "
            "certificate (a factory-reset X12.6+ peer makes one): install its CA-signed "
            "certificate again, or trust this one by adding it to the --ca-bundle file"
        )
    if code == 62 or "mismatch" in low:
        return (
            f"HTTPS certificate not trusted ({text}); it does not name the address exops "
            "connects to: correct the peer's hostname in the inventory, or renew the "
            "certificate with that name in its SANs"
        )
    return f"HTTPS certificate not trusted ({text}); give the CA that signed it with --ca-bundle"


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


def _message(answer: Answer) -> str:
    try:
        data = answer.json()
        if isinstance(data, dict) and "Message" in data:
            return str(data["Message"])[:200]
    except ValueError:
        pass
    return answer.text.strip()[:200] or answer.reason_phrase


# -- the software upgrade's forms (issue 25): rows of knowledge.toml [upgrade] -------------


@dataclass(frozen=True)
class UpgradeForms:
    """The [upgrade] section of knowledge.toml: each form with its mark and source."""

    rest_from: str
    sftpconfig: str
    upgrade: str
    status: str
    states: tuple[str, ...]
    failed_states: tuple[str, ...]
    success_state: str
    mixed_version_alarms: tuple[str, ...]
    clear_within_s: float
    manual_route: str
    marks: dict[str, str]

    @property
    def sftpconfig_path(self) -> str:
        return self.sftpconfig.split(" ", 1)[1]

    @property
    def upgrade_path(self) -> str:
        return self.upgrade.split(" ", 1)[1]

    @property
    def status_path(self) -> str:
        return self.status.split(" ", 1)[1]


@functools.cache
def upgrade_forms() -> UpgradeForms:
    """The ``[upgrade]`` section of knowledge.toml, read on first use (a status or a
    runbook never needs it before its first request: issue 22, start-up)."""
    u: dict[str, Any] = knowledge_section("upgrade")
    return UpgradeForms(
        rest_from=str(u["rest_from"]),
        sftpconfig=str(u["sftpconfig"]),
        upgrade=str(u["upgrade"]),
        status=str(u["status"]),
        states=tuple(u["states"]),
        failed_states=tuple(u["failed_states"]),
        success_state=str(u["success_state"]),
        mixed_version_alarms=tuple(str(a) for a in u["mixed_version_alarms"]),
        clear_within_s=float(u["clear_within_s"]),
        manual_route=str(u["manual_route"]),
        marks={k: str(v) for k, v in u.items() if k.endswith("_mark")},
    )


def __getattr__(name: str) -> Any:
    """``rest.UPGRADE``: the upgrade forms, read from knowledge.toml on first use."""
    if name == "UPGRADE":
        return upgrade_forms()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def parse_upgrade_status(data: Any) -> UpgradeStatus | None:
    """``[{"StatusUpdateTime": "...", "UpgradeStatus": "UPGD_..."}]`` (CONFIRMED) -> the
    latest entry; ``[]`` -> None (no upgrade on record: MOCK-DEFINED answer). A state
    exops does not know is kept as read (the caller never takes it for success)."""
    where = "upgradestatus"
    if isinstance(data, dict):
        data = [data]
    if not isinstance(data, list):
        raise ApplianceError(f"{where}: expected a JSON list, got {_kind(data)}")
    if not data:
        return None
    rec = data[-1]
    if not isinstance(rec, dict):
        raise ApplianceError(f"{where}: expected objects in the list, got {_kind(rec)}")
    state = _get(rec, "UpgradeStatus", where)
    if not isinstance(state, str) or not state.strip():
        raise _bad(where, "UpgradeStatus", state, "a state name")
    updated = rec.get("StatusUpdateTime", "")
    return UpgradeStatus(state=state.strip(), updated=updated if isinstance(updated, str) else "")
# -- server certificate renewal (knowledge.toml [certs]; docs/contract.md section 15) -----
# Module functions on a ``RestAppliance`` (certificates are REST only, whatever the
# transport: ``RoutedAppliance.rest``). No key material passes through exops: the key is
# made on the box, exops sends and reads certificates and CSRs (public parts) only.


@functools.cache
def cert_forms() -> dict[str, Any]:
    """The ``[certs]`` section of knowledge.toml (paths, fields, answers, marks)."""
    return dict(knowledge_section("certs"))


def _post_body(
    app: RestAppliance,
    path: str,
    *,
    json_body: Mapping[str, Any] | None = None,
    file_text: str | None = None,
) -> Answer:
    """One POST with a JSON or multipart body, under the deadline, never retried."""
    named, extensions = _by_name(app.target)
    bound_s = min(app.deadline_s, attempt_bound_s(app.target))
    deadline_at = app._clock() + bound_s
    files = None
    if file_text is not None:
        field = str(cert_forms()["upload_field"])
        files = {field: ("certificate.pem", file_text.encode(), "application/x-pem-file")}
    request = app.client.build_request(
        "POST",
        path,
        json=json_body,
        files=files,
        headers={**named, **dict([CSRF_HEADER])},
        timeout=httpx.Timeout(app.target.read_timeout_s, connect=app.target.connect_timeout_s),
        extensions=extensions,
    )
    _EXCHANGE.deadline = time.monotonic() + bound_s
    try:
        answer = app._exchange(request, "POST", path, deadline_at, None, bound_s)
    except httpx.HTTPError as exc:
        error = _mapped(exc, True) or TransportError(f"HTTP error ({_reason(exc)})")
        raise _unresolved(error, exc, app.target) from exc
    finally:
        _EXCHANGE.deadline = None
    return app._check(answer)


def read_pending_csr(app: RestAppliance) -> str | None:
    """The CSR pending on the box (PEM), None when there is none (404)."""
    path = str(cert_forms()["generate_csr"])
    with app._operation("read pending CSR"):
        try:
            text = app._request("GET", path, retry=True).text
        except ApplianceError as exc:
            if exc.status_code == int(cert_forms()["no_pending_status"]):
                return None
            raise
        if "BEGIN CERTIFICATE REQUEST" not in text:
            raise ApplianceError(f"answer of {path} is not a PEM certificate request")
        return text


def generate_csr(app: RestAppliance, body: Mapping[str, Any]) -> str:
    """Ask the box for a new key and CSR; the answer's message. A CSR already pending
    answers 409 ``Conflict`` (raised as ApplianceError, status 409)."""
    unknown = sorted(set(body) - set(cert_forms()["csr_fields"]))
    if unknown:  # never send a field the evidence does not show
        raise ApplianceError(f"generate_csr: field {unknown[0]} is not in the evidence's form")
    with app._operation("generate CSR"):
        answer = _post_body(app, str(cert_forms()["generate_csr"]), json_body=body)
        return _message(answer)


def upload_server_certificate(app: RestAppliance, pem: str) -> str:
    """``POST certs/server`` (multipart ``file``): the certificate for the pending CSR."""
    with app._operation("upload server certificate"):
        return _message(_post_body(app, str(cert_forms()["server"]), file_text=pem))


def add_trusted_cas(app: RestAppliance, pem: str) -> str:
    """``POST certs/root`` (multipart ``file``): add CA certificate(s) to the trusted list."""
    with app._operation("add trusted CA"):
        return _message(_post_body(app, str(cert_forms()["root"]), file_text=pem))


def read_server_pem(app: RestAppliance) -> str:
    with app._operation("read server certificate"):
        return app._request("GET", str(cert_forms()["server"]), retry=True).text


def read_trusted_pem(app: RestAppliance) -> str:
    with app._operation("read trusted CA list"):
        return app._request("GET", str(cert_forms()["root"]), retry=True).text


def served_certificate(target: ConnectionTarget) -> bytes:
    """The certificate (DER) the peer's HTTPS listener presents now: a real TLS handshake
    to where exops connects, verified as every request is (the CA bundle, the name).

    Raises:
        TlsError: the certificate does not verify; TransportError: no connection.
    """
    context = ssl_context(target)
    if context is False:
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    if not isinstance(context, ssl.SSLContext):  # True: the system store
        context = ssl.create_default_context()
    where = target.address or target.hostname
    try:
        with (
            socket.create_connection((where, target.port), timeout=target.connect_timeout_s) as raw,
            context.wrap_socket(raw, server_hostname=target.hostname) as tls,
        ):
            der = tls.getpeercert(binary_form=True)
    except ssl.SSLError as exc:
        raise TlsError(
            tls_failure_message(exc), host=target.host, operation="TLS handshake"
        ) from exc
    except OSError as exc:
        raise TransportError(
            f"cannot connect ({exc.strerror or exc})", host=target.host, operation="TLS handshake"
        ) from exc
    if not der:
        raise TlsError("the peer presented no certificate", host=target.host)
    return der


def rest_of(app: object) -> RestAppliance:
    """The REST transport of a session's appliance (``RoutedAppliance.rest``, or itself):
    certificates have REST forms only."""
    rest = app if isinstance(app, RestAppliance) else getattr(app, "rest", None)
    if not isinstance(rest, RestAppliance):
        raise ApplianceError("certificate renewal needs the REST API (it has no CLI form)")
    return rest

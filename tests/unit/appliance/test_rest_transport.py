"""RestAppliance over ``httpx.MockTransport``: no sockets, bodies as in docs/contract.md.

Reads map the CDB's 0-based indices to 1-based slots, writes carry the CSRF
header and the documented form body, GETs are retried with backoff and POSTs
never, and every httpx failure or garbled answer becomes one of exops's
errors carrying host and operation (and never the password).
"""

from __future__ import annotations

import copy
import ssl
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from pydantic import SecretStr

from exops.appliance.base import Command, ConnectionTarget, Field, Write
from exops.appliance.knowledge import CDB, MAX_ANSWER_BYTES, REST, SETTING_RULES
from exops.appliance.rest import RestAppliance, cdb_posts
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
from exops.core.models import AddressMapping, IpVersion, PeerState, Role, TlsMode

HOST = "exp-c-1"
PASSWORD = "s3cret-Pa55!"
BASE = "https://10.0.0.11:8443"
TARGET = ConnectionTarget(
    host=HOST, hostname="10.0.0.11", port=8443, password=SecretStr(PASSWORD), retries=2
)
OK = {"Message": "The operation was successful"}


def _many(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{"peer": "10.0.0.11", "num_recs": len(records), "records": records}]


def cdb_tables() -> dict[str, Any]:
    """A 3-peer cluster, primary in slot 2, as peer 1 (slot 1) answers it."""
    peers = ["10.0.0.11", "10.0.0.12", "10.0.0.13", "", "", ""]
    mapping = [("exp-e-1.example.com", "192.0.2.11")] + [("", "")] * 5
    return {
        # Rows deliberately out of order: the client sorts by index.
        CDB.alternates: _many(
            [{"index": i, "ip_address": a, "cdb_address": a} for i, a in enumerate(peers)][::-1]
        ),
        CDB.master: _many([{"master_idx": 1}]),
        CDB.cluster: _many(
            [
                {
                    "cluster_name": "exp-c.example.com",
                    "tls_verify": "Enforcing",
                    "ip_version": "IPv4",
                    "address_mapping": "On",
                }
            ]
        ),
        CDB.mapping: _many(
            [{"index": i, "name": n, "address": a} for i, (n, a) in enumerate(mapping)]
        ),
        CDB.h323: _many([{"mode": "Off"}]),
        CDB.peer_status: _many(
            [
                {
                    "uuid": "u0",
                    "peer": "10.0.0.11",
                    "index": 0,
                    "state": "Active",
                    "local_peer": True,
                },
                {
                    "uuid": "u1",
                    "peer": "10.0.0.12",
                    "index": 1,
                    "state": "Active",
                    "local_peer": False,
                },
                {
                    "uuid": "u2",
                    "peer": "10.0.0.13",
                    "index": 2,
                    "state": "Failed",
                    "local_peer": False,
                },
            ]
        ),
        CDB.database: _many(
            [
                {
                    "status": "Active",
                    "replication": "Synchronised",
                    "last_sync": "2026-11-25T04:00:00Z",
                    "next_sync": "2026-11-25T04:02:00Z",
                    "factory_reset_pending": False,
                }
            ]
        ),
        CDB.alarms: _many(
            [
                {
                    "uuid": "a1",
                    "id": "20007",
                    "status": "raised",
                    "severity": "warning",
                    "first_raised": "2026-11-25T04:00:00Z",
                    "last_raised": "2026-11-25T04:00:00Z",
                    "title": "Restart required",
                    "parameters": "",
                },
                {"uuid": "a2", "id": "20101", "status": "lowered", "severity": "error"},
            ]
        ),
    }


PROVISIONING: dict[str, Any] = {
    REST.sysinfo: {
        "SystemName": "exp-c-1",
        "Version": "X15.2.1",
        "ProductType": "Expressway-C",
        "PlatformSize": "medium",
        "HardwareType": "VM",
        "SerialNumber": "0A1B2C3D",
        "UptimeSeconds": 1234,
        "Lan1Address": "10.0.0.11",
        "Lan2Address": None,
    },
    REST.dns: {"SystemHostName": "exp-c-1", "DomainName": "example.com"},
    REST.dns_servers: [{"index": 1, "address": "192.0.2.53"}, {"index": 2, "address": ""}],
    REST.ntp_servers: [{"index": 1, "Address": "192.0.2.123"}],
    REST.optionkey: [
        {"Key": "116341FA1-1-AAAA", "Description": "Rich Media Sessions", "Count": 10},
        {"Key": "116341FB1-1-BBBB", "Description": "Expressway Series"},
    ],
    REST.probe: [{"PeerAddress": "10.0.0.11"}, {"PeerAddress": "10.0.0.12"}],
}


class FakePeer:
    """A scripted appliance: JSON by path, overrides, and a record of requests."""

    def __init__(self) -> None:
        self.cdb = cdb_tables()
        self.json: dict[str, Any] = copy.deepcopy(PROVISIONING)
        self.text: dict[str, str] = {}
        self.cdb_enabled = True
        # path -> list of responses/exceptions handed out one per request (then normal)
        self.script: dict[str, list[httpx.Response | Exception]] = {}
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        path = request.url.path
        queue = self.script.get(path)
        if queue:
            item = queue.pop(0)
            if isinstance(item, Exception):
                raise item
            return item
        if request.method == "POST":
            return httpx.Response(200, json=OK)
        if path.startswith(CDB.prefix):
            if not self.cdb_enabled:
                return httpx.Response(404, json={"Message": "CDB REST API access is disabled"})
            assert request.url.params.get("peer") == "local"
            table = path[len(CDB.prefix) :]
            if table not in self.cdb:
                return httpx.Response(404, json={"Message": f"No such table: {table}"})
            return httpx.Response(200, json=self.cdb[table])
        if path in self.text:
            return httpx.Response(200, text=self.text[path])
        if path in self.json:
            return httpx.Response(200, json=self.json[path])
        return httpx.Response(404, json={"Message": "Not found"})

    def on(self, path: str, *items: httpx.Response | Exception) -> None:
        self.script[path] = list(items)

    def count(self, path: str, method: str = "GET") -> int:
        return sum(1 for r in self.requests if r.url.path == path and r.method == method)


@pytest.fixture
def peer() -> FakePeer:
    return FakePeer()


@pytest.fixture
def sleeps() -> list[float]:
    return []


@pytest.fixture
def appliance(peer: FakePeer, sleeps: list[float]) -> Iterator[RestAppliance]:
    client = httpx.Client(
        transport=httpx.MockTransport(peer), base_url=BASE, auth=("admin", PASSWORD)
    )
    a = RestAppliance(TARGET, client=client, sleep=sleeps.append)
    yield a
    a.close()


def _req(path: str, method: str = "GET") -> httpx.Request:
    return httpx.Request(method, BASE + path)


def assert_clean(exc: ExopsError, operation: str | None = None) -> None:
    """Host and operation attached; the password nowhere in the error or its causes."""
    assert exc.host == HOST
    assert exc.operation
    if operation is not None:
        assert exc.operation == operation
    assert str(exc).startswith(f"{HOST} {exc.operation}: ")
    seen: BaseException | None = exc
    while seen is not None:
        assert PASSWORD not in str(seen)
        assert PASSWORD not in repr(seen)
        seen = seen.__cause__ or seen.__context__


# -- reads -----------------------------------------------------------------------


def test_read_settings_maps_cdb_indices_to_slots(appliance: RestAppliance) -> None:
    s = appliance.read_settings()
    assert s.peers == ("10.0.0.11", "10.0.0.12", "10.0.0.13", "", "", "")
    assert s.primary == 2  # master_idx 1 is slot 2
    assert s.primary_address == "10.0.0.12"
    assert s.cluster_name == "exp-c.example.com"
    assert s.tls_mode is TlsMode.ENFORCE  # the CDB says "Enforcing"
    assert s.ip_version is IpVersion.IPV4
    assert s.mapping_enabled is True
    assert s.mapping == (AddressMapping(name="exp-e-1.example.com", address="192.0.2.11"),)


def test_read_settings_of_an_unclustered_peer(appliance: RestAppliance, peer: FakePeer) -> None:
    peer.cdb[CDB.alternates] = _many([{"index": i, "ip_address": ""} for i in range(6)])
    peer.cdb[CDB.master] = _many([{"master_idx": -1}])
    peer.cdb[CDB.cluster] = _many(
        [
            {
                "cluster_name": "",
                "tls_verify": "Permissive",
                "ip_version": "IPv4",
                "address_mapping": "Off",
            }
        ]
    )
    s = appliance.read_settings()
    assert s.is_empty
    assert s.primary == 0
    assert s.tls_mode is TlsMode.PERMISSIVE
    assert s.mapping_enabled is False


def test_read_status_maps_indices_and_local_peer(appliance: RestAppliance) -> None:
    st = appliance.read_status()
    assert st.local_slot == 1
    assert [(e.slot, e.address, e.state, e.local) for e in st.peers] == [
        (1, "10.0.0.11", PeerState.ACTIVE, True),
        (2, "10.0.0.12", PeerState.ACTIVE, False),
        (3, "10.0.0.13", PeerState.FAILED, False),
    ]
    assert (st.database, st.replication) == ("Active", "Synchronised")
    assert st.last_sync == "2026-11-25T04:00:00Z"
    assert st.factory_reset_pending is False


def test_read_alarms(appliance: RestAppliance) -> None:
    alarms = appliance.read_alarms()
    assert [(a.id, a.raised, a.severity) for a in alarms] == [
        ("20007", True, "warning"),
        ("20101", False, "error"),
    ]
    assert alarms[0].title == "Restart required"
    assert alarms[1].title == ""  # missing optional fields default


def test_read_system(appliance: RestAppliance) -> None:
    info = appliance.read_system()
    assert (info.name, info.version, info.role) == ("exp-c-1", "X15.2.1", Role.EXPRESSWAY_C)
    assert (info.platform, info.hardware, info.serial) == ("medium", "VM", "0A1B2C3D")
    assert info.uptime_s == 1234
    assert (info.lan1, info.lan2) == ("10.0.0.11", None)
    assert info.fqdn == "exp-c-1.example.com"
    assert info.dns_servers == ("192.0.2.53",)  # empty rows dropped
    assert info.ntp_servers == ("192.0.2.123",)
    assert info.h323_enabled is False  # from the CDB h323 table
    assert [(k.key, k.count) for k in info.option_keys] == [
        ("116341FA1-1-AAAA", 10),
        ("116341FB1-1-BBBB", None),
    ]


def test_cdb_off_is_detected_once_and_system_still_reads(
    appliance: RestAppliance, peer: FakePeer
) -> None:
    peer.cdb_enabled = False
    assert appliance.cdb_available() is False
    assert appliance.cdb_available() is False
    assert peer.count(CDB.prefix + CDB.master) == 1  # cached
    info = appliance.read_system()
    assert info.h323_enabled is None  # no CDB: unknown here (the router asks SSH)
    assert "system.h323_enabled" in appliance.last_unknown
    assert peer.count(CDB.prefix + CDB.h323) == 0


def test_cdb_probe_other_errors_propagate(appliance: RestAppliance, peer: FakePeer) -> None:
    peer.on(CDB.prefix + CDB.master, *[httpx.Response(500, json={"Message": "boom"})] * 3)
    with pytest.raises(ApplianceError, match="HTTP 500: boom") as info:
        appliance.cdb_available()
    assert_clean(info.value)


def test_read_log_and_probe(appliance: RestAppliance, peer: FakePeer) -> None:
    peer.text[REST.eventlog] = "line one\nline two\n"
    assert appliance.read_log(2) == ["line one", "line two"]
    assert peer.requests[-1].url.params["lines"] == "2"
    assert appliance.probe() >= 0.0
    assert peer.requests[-1].url.path == REST.probe
    # Basic auth on every request; reads carry no CSRF header.
    assert all(r.headers["Authorization"].startswith("Basic ") for r in peer.requests)
    assert all("X-CSRF-Header" not in r.headers for r in peer.requests)


def _pem(cn: str, *, issuer: str | None = None, sans: tuple[str, ...] = ()) -> str:
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.now(UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)]))
        .issuer_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, issuer or cn)]))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=365))
    )
    if sans:
        builder = builder.add_extension(
            x509.SubjectAlternativeName([x509.DNSName(s) for s in sans]), critical=False
        )
    cert = builder.sign(key, hashes.SHA256())
    return cert.public_bytes(serialization.Encoding.PEM).decode()


def test_read_certificate_and_trust_store(appliance: RestAppliance, peer: FakePeer) -> None:
    peer.text[REST.server_cert] = _pem(
        "exp-c-1.example.com",
        issuer="exops lab CA",
        sans=("exp-c-1.example.com", "exp-c.example.com"),
    )
    peer.text[REST.trust_store] = _pem("exops lab CA") + _pem("Other Root")
    cert, roots = appliance.read_certificate()
    assert cert is not None
    assert cert.subject_cn == "exp-c-1.example.com"
    assert cert.sans == ("exp-c-1.example.com", "exp-c.example.com")
    assert cert.issuer == "exops lab CA"
    assert not cert.self_signed
    assert roots == ("exops lab CA", "Other Root")


def test_no_certificate_and_empty_trust_store(appliance: RestAppliance, peer: FakePeer) -> None:
    peer.text[REST.server_cert] = ""
    peer.text[REST.trust_store] = ""
    assert appliance.read_certificate() == (None, ())


@pytest.mark.parametrize("path", [REST.server_cert, REST.trust_store])
def test_garbled_pem_is_an_appliance_error(
    appliance: RestAppliance, peer: FakePeer, path: str
) -> None:
    peer.text[REST.server_cert] = _pem("exp-c-1.example.com")
    peer.text[REST.trust_store] = ""
    peer.text[path] = "-----BEGIN CERTIFICATE-----\nnot base64 at all\n-----END CERTIFICATE-----\n"
    with pytest.raises(ApplianceError, match="not valid PEM") as info:
        appliance.read_certificate()
    assert_clean(info.value)


# -- writes -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("write", "path", "form"),
    [
        (
            Write(field=Field.PEER_ADDRESS, index=2, value="10.0.0.12"),
            "configuration/alternates/index/1",
            {"ip_address": "10.0.0.12"},
        ),
        (
            Write(field=Field.PEER_ADDRESS, index=6, value=""),
            "configuration/alternates/index/5",
            {"ip_address": ""},
        ),
        (
            Write(field=Field.PRIMARY, value=2),
            "configuration/alternatesmaster",
            {"master_idx": "1"},
        ),
        (
            Write(field=Field.PRIMARY, value=0),
            "configuration/alternatesmaster",
            {"master_idx": "-1"},
        ),
        (
            Write(field=Field.TLS_MODE, value="Enforce"),
            "configuration/cluster",
            {"tls_verify": "Enforcing"},
        ),
        (
            Write(field=Field.TLS_MODE, value="Permissive"),
            "configuration/cluster",
            {"tls_verify": "Permissive"},
        ),
        (
            Write(field=Field.IP_VERSION, value="IPv6"),
            "configuration/cluster",
            {"ip_version": "IPv6"},
        ),
        (
            Write(field=Field.MAPPING_MODE, value="On"),
            "configuration/cluster",
            {"address_mapping": "On"},
        ),
        (
            Write(field=Field.CLUSTER_NAME, value='exp "c"&x=1'),
            "configuration/cluster",
            {"cluster_name": 'exp "c"&x=1'},
        ),
        (
            Write(field=Field.MAPPING_NAME, index=1, value="exp-e-1.example.com"),
            "configuration/clusteraddressmapping/index/0",
            {"name": "exp-e-1.example.com"},
        ),
        (
            Write(field=Field.MAPPING_ADDRESS, index=3, value="192.0.2.13"),
            "configuration/clusteraddressmapping/index/2",
            {"address": "192.0.2.13"},
        ),
    ],
)
def test_write_posts_the_row_form_with_csrf(
    appliance: RestAppliance, peer: FakePeer, write: Write, path: str, form: dict[str, str]
) -> None:
    """POST <table>[/<keyfield>/<keyvalue>] with <field>=<value> pairs (interface doc 8)."""
    appliance.write([write])
    (request,) = peer.requests
    assert request.method == "POST"
    assert request.url.path == CDB.prefix + path
    assert request.url.query == b""
    assert request.headers["X-CSRF-Header"] == "exops"
    assert request.headers["Content-Type"] == "application/x-www-form-urlencoded"
    sent = parse_qs(request.content.decode(), keep_blank_values=True)
    assert sent == {k: [v] for k, v in form.items()}


def test_writes_go_one_post_per_row_in_order(appliance: RestAppliance, peer: FakePeer) -> None:
    appliance.write(
        [
            Write(field=Field.CLUSTER_NAME, value="c.example.com"),
            Write(field=Field.TLS_MODE, value="Enforce"),
            Write(field=Field.MAPPING_NAME, index=1, value="e1.example.com"),
            Write(field=Field.MAPPING_ADDRESS, index=1, value="192.0.2.11"),
            Write(field=Field.MAPPING_MODE, value="On"),
            Write(field=Field.PEER_ADDRESS, index=4, value="10.0.0.14"),
            Write(field=Field.PRIMARY, value=4),
        ]
    )
    sent = [
        (r.url.path[len(CDB.prefix) :], parse_qs(r.content.decode(), keep_blank_values=True))
        for r in peer.requests
    ]
    # Adjacent writes of one row share a POST; the plan's order is kept (mapping
    # mode after the rows), so the cluster row is posted twice here.
    assert sent == [
        (
            "configuration/cluster",
            {"cluster_name": ["c.example.com"], "tls_verify": ["Enforcing"]},
        ),
        (
            "configuration/clusteraddressmapping/index/0",
            {"name": ["e1.example.com"], "address": ["192.0.2.11"]},
        ),
        ("configuration/cluster", {"address_mapping": ["On"]}),
        ("configuration/alternates/index/3", {"ip_address": ["10.0.0.14"]}),
        ("configuration/alternatesmaster", {"master_idx": ["3"]}),
    ]


def test_every_setting_write_follows_the_rule_table() -> None:
    """The REST writes are driven from SETTING_RULES: table, field and row key."""
    for fld in Field:
        rule = SETTING_RULES[fld.value]
        index = 2 if rule.row_key else None
        value: str | int = (
            1 if fld is Field.PRIMARY else ("Enforce" if fld is Field.TLS_MODE else "On")
        )
        ((path, form, _),) = cdb_posts([Write(field=fld, index=index, value=value)])
        expected = CDB.prefix + rule.table + (f"/{rule.row_key}/1" if rule.row_key else "")
        assert (path, list(form)) == (expected, [rule.field])


def test_row_write_without_an_index_is_refused() -> None:
    with pytest.raises(UsageError, match="needs a row"):
        cdb_posts([Write(field=Field.PEER_ADDRESS, value="10.0.0.1")])


def test_refused_write_stops_and_names_the_write(appliance: RestAppliance, peer: FakePeer) -> None:
    target = CDB.prefix + "configuration/alternates/index/1"
    peer.on(target, httpx.Response(400, json={"Message": "Invalid value"}))
    with pytest.raises(ApplianceError, match="HTTP 400: Invalid value") as info:
        appliance.write(
            [
                Write(field=Field.PEER_ADDRESS, index=2, value="bad value"),
                Write(field=Field.PRIMARY, value=2),
            ]
        )
    assert_clean(info.value, "write peer_address 2 = 'bad value'")
    assert info.value.status_code == 400
    assert len(peer.requests) == 1  # the second write was not sent


def test_csrf_refusal_is_reported(appliance: RestAppliance, peer: FakePeer) -> None:
    peer.on(REST.restart, httpx.Response(403, json={"Message": "CSRF header missing"}))
    with pytest.raises(ApplianceError, match="HTTP 403: CSRF header missing") as info:
        appliance.restart()
    assert_clean(info.value, "restart")


def test_restart_posts_with_csrf_and_keeps_an_injected_client(
    appliance: RestAppliance, peer: FakePeer
) -> None:
    old = appliance.client
    appliance.restart()
    (request,) = peer.requests
    assert (request.method, request.url.path) == ("POST", REST.restart)
    assert request.headers["X-CSRF-Header"] == "exops"
    # The caller's client (and its transport) stays in use after the restart.
    assert appliance.client is old and not old.is_closed
    appliance.probe()
    assert peer.requests[-1].url.path == REST.probe


def test_restart_recreates_its_own_client_on_the_same_transport(peer: FakePeer) -> None:
    """Regression: restart() built a bare httpx.Client and dropped the transport."""
    target = TARGET.model_copy(update={"verify_tls": False})
    appliance = RestAppliance(target, transport=httpx.MockTransport(peer), sleep=lambda s: None)
    old = appliance.client
    appliance.restart()
    assert old.is_closed
    assert appliance.client is not old  # the next request starts on a fresh connection
    assert str(appliance.client.base_url).rstrip("/") == BASE
    appliance.probe()  # still answered by the same (mock) transport
    assert [r.url.path for r in peer.requests] == [REST.restart, REST.probe]
    assert peer.requests[-1].headers["Authorization"].startswith("Basic ")
    appliance.close()


def test_ipv6_management_address_is_bracketed(peer: FakePeer) -> None:
    target = TARGET.model_copy(update={"hostname": "2001:db8::11", "verify_tls": False})
    appliance = RestAppliance(target, transport=httpx.MockTransport(peer))
    assert str(appliance.client.base_url).rstrip("/") == "https://[2001:db8::11]:8443"
    appliance.probe()
    assert peer.requests[-1].url.host == "2001:db8::11"
    appliance.close()


def test_commands_have_no_rest_form(appliance: RestAppliance) -> None:
    with pytest.raises(ApplianceError, match="no REST form") as info:
        appliance.command(Command.FORCE_CONFIG_UPDATE)
    assert_clean(info.value, "command")


# -- retries -----------------------------------------------------------------------------


def test_get_retried_on_503_with_backoff(
    appliance: RestAppliance, peer: FakePeer, sleeps: list[float]
) -> None:
    busy = httpx.Response(503, json={"Message": "busy"})
    peer.on(REST.probe, busy, busy)
    appliance.probe()
    assert peer.count(REST.probe) == 3
    assert sleeps == [0.2, 0.4]


def test_get_gives_up_after_the_retries(
    appliance: RestAppliance, peer: FakePeer, sleeps: list[float]
) -> None:
    peer.on(REST.sysinfo, *[httpx.Response(503, text="Service Unavailable")] * 5)
    with pytest.raises(ApplianceError, match="HTTP 503: Service Unavailable") as info:
        appliance.read_system()
    assert_clean(info.value, "read sysinfo")
    assert peer.count(REST.sysinfo) == 3  # 1 + retries
    assert sleeps == [0.2, 0.4]


@pytest.mark.parametrize(
    ("make", "error", "message"),
    [
        (
            lambda r: httpx.ConnectError("[Errno 111] Connection refused", request=r),
            TransportError,
            "cannot connect",
        ),
        (
            lambda r: httpx.ReadError("reset by peer", request=r),
            TransportError,
            "connection dropped",
        ),
        (
            lambda r: httpx.RemoteProtocolError("Server disconnected", request=r),
            TransportError,
            "connection dropped",
        ),
        (
            lambda r: httpx.ReadTimeout("timed out", request=r),
            TimeoutError_,
            "no answer within the timeout",
        ),
        (lambda r: httpx.ConnectTimeout("timed out", request=r), TimeoutError_, "ConnectTimeout"),
    ],
)
def test_get_retried_on_connection_trouble_then_mapped(
    appliance: RestAppliance,
    peer: FakePeer,
    sleeps: list[float],
    make: Callable[[httpx.Request], Exception],
    error: type[ExopsError],
    message: str,
) -> None:
    # Recovers when the trouble passes...
    peer.on(REST.probe, make(_req(REST.probe)), make(_req(REST.probe)))
    appliance.probe()
    assert peer.count(REST.probe) == 3
    assert sleeps == [0.2, 0.4]
    # ...and maps the error when it does not.
    peer.on(REST.probe, *[make(_req(REST.probe)) for _ in range(3)])
    with pytest.raises(error, match=message) as info:
        appliance.probe()
    assert type(info.value) is error
    assert_clean(info.value, "probe")
    assert isinstance(info.value.__cause__, httpx.HTTPError)


def test_backoff_is_capped(peer: FakePeer, sleeps: list[float]) -> None:
    target = TARGET.model_copy(update={"retries": 6})
    client = httpx.Client(transport=httpx.MockTransport(peer), base_url=BASE)
    a = RestAppliance(target, client=client, sleep=sleeps.append)
    peer.on(REST.probe, *[httpx.Response(502)] * 6)
    a.probe()
    assert sleeps == [0.2, 0.4, 0.8, 1.6, 2.0, 2.0]
    a.close()


@pytest.mark.parametrize(
    "trouble",
    [
        httpx.Response(503, json={"Message": "busy"}),
        httpx.ConnectError("[Errno 111] Connection refused", request=_req("/")),
        httpx.ReadTimeout("timed out", request=_req("/")),
        httpx.RemoteProtocolError("Server disconnected", request=_req("/")),
    ],
    ids=["503", "connect", "read-timeout", "dropped"],
)
def test_post_is_never_retried(
    appliance: RestAppliance,
    peer: FakePeer,
    sleeps: list[float],
    trouble: httpx.Response | Exception,
) -> None:
    path = CDB.prefix + "configuration/alternatesmaster"
    peer.on(path, trouble, httpx.Response(200, json=OK))
    with pytest.raises(ExopsError) as info:
        appliance.write([Write(field=Field.PRIMARY, value=1)])
    assert_clean(info.value, "write primary = 1")
    assert peer.count(path, "POST") == 1
    assert sleeps == []
    peer.on(REST.restart, trouble, httpx.Response(200, json=OK))
    with pytest.raises(ExopsError):
        appliance.restart()
    assert peer.count(REST.restart, "POST") == 1
    assert sleeps == []


# -- error mapping ------------------------------------------------------------------------


def test_401_is_an_auth_error_and_not_retried(
    appliance: RestAppliance, peer: FakePeer, sleeps: list[float]
) -> None:
    peer.on(REST.probe, httpx.Response(401, json={"Message": "Authentication failed"}))
    with pytest.raises(AuthError, match=r"credentials refused \(HTTP 401\)") as info:
        appliance.probe()
    assert_clean(info.value, "probe")
    assert peer.count(REST.probe) == 1
    assert sleeps == []


@pytest.mark.parametrize(
    "exc",
    [
        httpx.ConnectError(
            "[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed: self-signed certificate",
            request=_req(REST.probe),
        ),
        httpx.ConnectError("handshake failed", request=_req(REST.probe)),
    ],
    ids=["message", "cause"],
)
def test_tls_failure_is_a_tls_error_and_not_retried(
    appliance: RestAppliance, peer: FakePeer, sleeps: list[float], exc: httpx.ConnectError
) -> None:
    if "handshake" in str(exc):
        exc.__cause__ = ssl.SSLCertVerificationError(1, "certificate verify failed")
    peer.on(REST.probe, exc)
    with pytest.raises(TlsError, match="--ca-bundle") as info:
        appliance.probe()
    assert_clean(info.value, "probe")
    assert "--insecure" not in str(info.value)  # the fix keeps verification on (issue 19)
    assert peer.count(REST.probe) == 1
    assert sleeps == []


@pytest.mark.parametrize(
    ("code", "text", "said", "fix"),
    [
        (10, "certificate has expired", "out of its validity", "renew it on the appliance"),
        (18, "self-signed certificate", "presents a self-signed certificate", "CA-signed"),
        (
            62,
            "IP address mismatch, certificate is not valid for '10.0.0.11'",
            "does not name",
            "SANs",
        ),
        (20, "unable to get local issuer certificate", "not trusted", "--ca-bundle"),
    ],
)
def test_a_bad_certificate_is_named_with_the_fix_that_keeps_verification_on(
    appliance: RestAppliance, peer: FakePeer, code: int, text: str, said: str, fix: str
) -> None:
    exc = httpx.ConnectError("handshake failed", request=_req(REST.probe))
    cause = ssl.SSLCertVerificationError(1, f"[SSL: CERTIFICATE_VERIFY_FAILED] {text}")
    cause.verify_code, cause.verify_message = code, text
    exc.__cause__ = cause
    peer.on(REST.probe, exc)
    with pytest.raises(TlsError) as info:
        appliance.probe()
    message = str(info.value)
    assert said in message and fix in message and text in message
    assert "--insecure" not in message and "\n" not in message


def test_other_http_errors_are_transport_errors(appliance: RestAppliance, peer: FakePeer) -> None:
    peer.on(REST.probe, httpx.UnsupportedProtocol("Request URL has an unsupported protocol"))
    with pytest.raises(TransportError, match="HTTP error") as info:
        appliance.probe()
    assert_clean(info.value, "probe")


def test_error_message_from_a_non_json_body(appliance: RestAppliance, peer: FakePeer) -> None:
    peer.on(REST.probe, httpx.Response(404, text="<html>Not Found</html>"))
    with pytest.raises(ApplianceError, match=r"HTTP 404: <html>Not Found</html>"):
        appliance.probe()
    peer.on(REST.probe, httpx.Response(418))
    with pytest.raises(ApplianceError, match=r"HTTP 418: I'm a teapot"):
        appliance.probe()


def test_oversized_answer_is_refused(appliance: RestAppliance, peer: FakePeer) -> None:
    peer.on(REST.probe, httpx.Response(200, content=b" " * (MAX_ANSWER_BYTES + 1)))
    with pytest.raises(ApplianceError, match="too large") as info:
        appliance.probe()
    assert_clean(info.value, "probe")


def test_refused_credentials_never_show_the_password(
    appliance: RestAppliance, peer: FakePeer
) -> None:
    """The request carried the password (Basic auth); the error and the target never do."""
    peer.on(REST.probe, httpx.Response(401, json={"Message": "Authentication failed"}))
    with pytest.raises(AuthError) as info:
        appliance.probe()
    assert peer.requests[-1].headers["Authorization"].startswith("Basic ")
    assert_clean(info.value)
    assert PASSWORD not in repr(TARGET)
    assert PASSWORD not in str(TARGET.model_dump())


# -- garbled and partial answers ------------------------------------------------------------

Mutate = Callable[[FakePeer], None]


def _set_cdb(table: str, value: Any) -> Mutate:
    def mutate(p: FakePeer) -> None:
        p.cdb[table] = value

    return mutate


def _edit_record(table: str, row: int, /, **changes: Any) -> Mutate:
    def mutate(p: FakePeer) -> None:
        rec = p.cdb[table][0]["records"][row]
        for k, v in changes.items():
            if v is KeyError:
                rec.pop(k)
            else:
                rec[k] = v

    return mutate


def _set_json(path: str, value: Any) -> Mutate:
    def mutate(p: FakePeer) -> None:
        p.json[path] = value

    return mutate


def _raw(path: str, body: bytes) -> Mutate:
    def mutate(p: FakePeer) -> None:
        p.on(path, httpx.Response(200, content=body, headers={"Content-Type": "application/json"}))

    return mutate


GARBLED_SETTINGS: dict[str, Mutate] = {
    "not json": _raw(CDB.prefix + CDB.alternates, b"<html>login</html>"),
    "truncated json": _raw(
        CDB.prefix + CDB.alternates, b'[{"peer": "10.0.0.11", "records": [{"ind'
    ),
    "object not list": _set_cdb(CDB.alternates, {"records": []}),
    "empty list": _set_cdb(CDB.alternates, []),
    "empty list for the primary": _set_cdb(CDB.master, []),
    "no records key": _set_cdb(CDB.alternates, [{"peer": "10.0.0.11"}]),
    "records not list": _set_cdb(CDB.alternates, [{"records": "none"}]),
    "record not object": _set_cdb(CDB.alternates, _many(["10.0.0.11"])),  # type: ignore[list-item]
    "five slots": _set_cdb(
        CDB.alternates, _many([{"index": i, "ip_address": ""} for i in range(5)])
    ),
    "no index": _edit_record(CDB.alternates, 0, index=KeyError),
    "index not a number": _edit_record(CDB.alternates, 0, index="first"),
    "index null": _edit_record(CDB.alternates, 0, index=None),
    "no master_idx": _edit_record(CDB.master, 0, master_idx=KeyError),
    "master_idx text": _edit_record(CDB.master, 0, master_idx="one"),
    "two master records": _set_cdb(CDB.master, _many([{"master_idx": 0}, {"master_idx": 1}])),
    "unknown tls mode": _edit_record(CDB.cluster, 0, tls_verify="Strict"),
    "unknown ip version": _edit_record(CDB.cluster, 0, ip_version="IPv5"),
    "mapping row without name": _edit_record(CDB.mapping, 0, name=KeyError),
    "ip_address null": _edit_record(CDB.alternates, 3, ip_address=None),
    "ip_address a number": _edit_record(CDB.alternates, 3, ip_address=10),
    "index float": _edit_record(CDB.alternates, 0, index=5.0),
    "index negative": _edit_record(CDB.alternates, 0, index=-1),
    "index out of range": _edit_record(CDB.alternates, 0, index=6),
    "index a boolean": _edit_record(CDB.alternates, 0, index=True),
    "duplicate index": _edit_record(CDB.alternates, 0, index=4),
    "duplicate address": _edit_record(CDB.alternates, 1, ip_address="10.0.0.13"),
    "duplicate address other case": _set_cdb(
        CDB.alternates,
        _many(
            [{"index": 0, "ip_address": "exp-c-1.Example.com"}]
            + [{"index": 1, "ip_address": "EXP-C-1.example.com"}]
            + [{"index": i, "ip_address": ""} for i in range(2, 6)]
        ),
    ),
    "master_idx float": _edit_record(CDB.master, 0, master_idx=1.0),
    "master_idx out of range": _edit_record(CDB.master, 0, master_idx=6),
    "master_idx text digit": _edit_record(CDB.master, 0, master_idx="1"),
    "cluster_name null": _edit_record(CDB.cluster, 0, cluster_name=None),
    "cluster_name a number": _edit_record(CDB.cluster, 0, cluster_name=7),
    "tls_verify missing": _edit_record(CDB.cluster, 0, tls_verify=KeyError),
    "address_mapping a boolean": _edit_record(CDB.cluster, 0, address_mapping=True),
    "mapping address null": _edit_record(CDB.mapping, 0, address=None),
    "mapping duplicate index": _edit_record(CDB.mapping, 1, index=0),
    "num_recs mismatch": _set_cdb(
        CDB.master, [{"peer": "10.0.0.11", "num_recs": 2, "records": [{"master_idx": 0}]}]
    ),
    "two peer elements for peer=local": _set_cdb(CDB.master, _many([{"master_idx": 0}]) * 2),
    "peer not text": _set_cdb(
        CDB.master, [{"peer": 5, "num_recs": 1, "records": [{"master_idx": 0}]}]
    ),
}


@pytest.mark.parametrize("mutate", GARBLED_SETTINGS.values(), ids=GARBLED_SETTINGS.keys())
def test_garbled_settings_are_appliance_errors(
    appliance: RestAppliance, peer: FakePeer, mutate: Mutate
) -> None:
    mutate(peer)
    with pytest.raises(ApplianceError) as info:
        appliance.read_settings()
    # an ApplianceError, not a transport error (a duplicate carries its raw slots too)
    assert type(info.value) in (ApplianceError, DuplicateSlotsError)
    assert_clean(info.value)


GARBLED_STATUS: dict[str, Mutate] = {
    "no database record": _set_cdb(CDB.database, _many([])),
    "local_peer text": _edit_record(CDB.peer_status, 0, local_peer="yes"),
    "local_peer null": _edit_record(CDB.peer_status, 0, local_peer=None),
    "two local peers": _edit_record(CDB.peer_status, 1, local_peer=True),
    "duplicate index": _edit_record(CDB.peer_status, 1, index=0),
    "peer null": _edit_record(CDB.peer_status, 0, peer=None),
    "status a number": _edit_record(CDB.database, 0, status=1),
    "factory_reset_pending text": _edit_record(CDB.database, 0, factory_reset_pending="no"),
    "unknown state": _edit_record(CDB.peer_status, 1, state="Sleeping"),
    "no peer": _edit_record(CDB.peer_status, 0, peer=KeyError),
    "index text": _edit_record(CDB.peer_status, 0, index="x"),
    "peers not list": _set_cdb(CDB.peer_status, [{"records": {"0": {}}}]),
}


@pytest.mark.parametrize("mutate", GARBLED_STATUS.values(), ids=GARBLED_STATUS.keys())
def test_garbled_status_is_an_appliance_error(
    appliance: RestAppliance, peer: FakePeer, mutate: Mutate
) -> None:
    mutate(peer)
    with pytest.raises(ApplianceError) as info:
        appliance.read_status()
    assert_clean(info.value)


def test_status_partial_database_record_uses_defaults(
    appliance: RestAppliance, peer: FakePeer
) -> None:
    peer.cdb[CDB.database] = _many([{"status": "Active"}])
    peer.cdb[CDB.peer_status] = _many([])
    st = appliance.read_status()
    assert (st.database, st.replication, st.local_slot, st.peers) == ("Active", "", 0, ())


@pytest.mark.parametrize(
    "mutate",
    [
        _edit_record(CDB.alarms, 0, id=KeyError),
        _edit_record(CDB.alarms, 0, id=20007),
        _edit_record(CDB.alarms, 0, status="maybe"),
        _edit_record(CDB.alarms, 0, status=KeyError),
        _edit_record(CDB.alarms, 0, title=None),
        _set_cdb(CDB.alarms, {"alarms": []}),
        _raw(CDB.prefix + CDB.alarms, b"\xff\xfe garbage"),
    ],
    ids=[
        "no id",
        "id a number",
        "unknown status",
        "no status",
        "title null",
        "not a list",
        "binary",
    ],
)
def test_garbled_alarms(appliance: RestAppliance, peer: FakePeer, mutate: Mutate) -> None:
    mutate(peer)
    with pytest.raises(ApplianceError) as info:
        appliance.read_alarms()
    assert_clean(info.value)


def _sysinfo(**changes: Any) -> Mutate:
    def mutate(p: FakePeer) -> None:
        for k, v in changes.items():
            if v is KeyError:
                p.json[REST.sysinfo].pop(k)
            else:
                p.json[REST.sysinfo][k] = v

    return mutate


GARBLED_SYSTEM: dict[str, Mutate] = {
    "name a number": _sysinfo(SystemName=7),
    "version a number": _sysinfo(Version=15),
    "product type a number": _sysinfo(ProductType=3),
    "platform a list": _sysinfo(PlatformSize=["medium"]),
    "uptime text": _sysinfo(UptimeSeconds="a while"),
    "uptime float": _sysinfo(UptimeSeconds=12.5),
    "uptime negative": _sysinfo(UptimeSeconds=-1),
    "lan1 a number": _sysinfo(Lan1Address=10),
    "hostname null": _set_json(REST.dns, {"SystemHostName": None}),
    "sysinfo a list": _set_json(REST.sysinfo, [1, 2]),
    "sysinfo not json": _raw(REST.sysinfo, b"Service temporarily unavailable"),
    "dns a list": _set_json(REST.dns, ["exp-c-1"]),
}

# Undocumented shapes of the list-or-object answers (issue 24): the fact is unknown, with
# the shape named; the rest of the system read stands.
UNKNOWN_SHAPES: dict[str, tuple[Mutate, str, str]] = {
    "dns servers a list of text": (
        _set_json(REST.dns_servers, ["192.0.2.53"]),
        "system.dns_servers",
        "a list of 1 (text)",
    ),
    "ntp rows strings": (
        _set_json(REST.ntp_servers, ["192.0.2.123"]),
        "system.ntp_servers",
        "a list of 1 (text)",
    ),
    "ntp address a number": (
        _set_json(REST.ntp_servers, {"index": 1, "Address": 5}),
        "system.ntp_servers",
        "Address is a number",
    ),
    "dns servers 404": (
        lambda p: p.on(REST.dns_servers, httpx.Response(404, json={"Message": "Not Found"})),
        "system.dns_servers",
        "HTTP 404: Not Found",
    ),
    "option key without key": (
        _set_json(REST.optionkey, [{"Description": "x"}]),
        "system.option_keys",
        "no text Key",
    ),
    "option count text": (
        _set_json(REST.optionkey, [{"Key": "k", "Count": "many"}]),
        "system.option_keys",
        "Count is text",
    ),
    "option keys not json": (
        _raw(REST.optionkey, b"<html>no option keys</html>"),
        "system.option_keys",
        "not JSON",
    ),
    "option keys 404 (X14.2+ has none)": (
        lambda p: p.on(REST.optionkey, httpx.Response(404, json={"Message": "Not Found"})),
        "system.option_keys",
        "HTTP 404",
    ),
}


@pytest.mark.parametrize(
    ("mutate", "fact", "shape"), UNKNOWN_SHAPES.values(), ids=UNKNOWN_SHAPES.keys()
)
def test_undocumented_list_shapes_are_unknown_never_empty(
    appliance: RestAppliance, peer: FakePeer, mutate: Mutate, fact: str, shape: str
) -> None:
    mutate(peer)
    info = appliance.read_system()
    assert getattr(info, fact.removeprefix("system.")) is None
    assert shape in appliance.last_unknown[fact]
    assert info.version == "X15.2.1"  # the rest of the read stands
    assert info.dns_servers is None or info.dns_servers == ("192.0.2.53",)


def test_without_system_name_the_dns_host_name_names_the_peer(
    appliance: RestAppliance, peer: FakePeer
) -> None:
    """The sysinfo body is MOCK-DEFINED: a real box may not say SystemName."""
    peer.json[REST.sysinfo].pop("SystemName")
    assert appliance.read_system().name == "exp-c-1"  # dns/dns SystemHostName


def test_a_single_dns_server_object_is_read(appliance: RestAppliance, peer: FakePeer) -> None:
    peer.json[REST.dns_servers] = {"index": 1, "address": "192.0.2.9"}
    assert appliance.read_system().dns_servers == ("192.0.2.9",)


def test_401_on_an_optional_read_is_still_an_auth_error(
    appliance: RestAppliance, peer: FakePeer
) -> None:
    peer.on(REST.optionkey, httpx.Response(401, json={"Message": "Authentication failed"}))
    with pytest.raises(AuthError):
        appliance.read_system()


@pytest.mark.parametrize("mutate", GARBLED_SYSTEM.values(), ids=GARBLED_SYSTEM.keys())
def test_garbled_system_is_an_appliance_error(
    appliance: RestAppliance, peer: FakePeer, mutate: Mutate
) -> None:
    mutate(peer)
    with pytest.raises(ApplianceError) as info:
        appliance.read_system()
    assert_clean(info.value)


def test_system_partial_answer_uses_defaults(appliance: RestAppliance, peer: FakePeer) -> None:
    peer.json[REST.sysinfo] = {"SystemName": "x", "Version": "X14.3.0", "ProductType": "VCS"}
    peer.json[REST.dns] = {}
    peer.json[REST.dns_servers] = []
    peer.json[REST.optionkey] = []
    info = appliance.read_system()
    assert (info.role, info.uptime_s, info.lan1) == (Role.VCS, None, None)
    assert (info.hostname, info.dns_servers, info.option_keys) == ("", (), ())
    assert info.platform is None  # unknown, never a default
    assert appliance.last_unknown == {"system.platform": f"{REST.sysinfo} has no PlatformSize"}


@pytest.mark.parametrize(
    ("mutate", "fact"),
    [
        (_sysinfo(Version=KeyError), "system.version"),
        (_sysinfo(Version=None), "system.version"),
        (_sysinfo(ProductType=KeyError), "system.role"),
        (_sysinfo(ProductType="Toaster"), "system.role"),
        (_sysinfo(PlatformSize=KeyError), "system.platform"),
    ],
    ids=["no version", "null version", "no product type", "unknown product type", "no platform"],
)
def test_missing_system_facts_are_unknown_not_defaulted(
    appliance: RestAppliance, peer: FakePeer, mutate: Mutate, fact: str
) -> None:
    mutate(peer)
    info = appliance.read_system()
    assert getattr(info, fact.split(".")[1]) is None
    assert list(appliance.last_unknown) == [fact]
    assert REST.sysinfo in appliance.last_unknown[fact]
    # A full answer afterwards clears what was unknown.
    peer.json = copy.deepcopy(PROVISIONING)
    appliance.read_system()
    assert appliance.last_unknown == {}


# -- the cluster database not running, long answers, big answers -----------------------------


class Clock:
    """A monotonic clock that only moves when the appliance sleeps or a test says so."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def _timed(peer: FakePeer, clock: Clock, deadline_s: float | None = None) -> RestAppliance:
    client = httpx.Client(
        transport=httpx.MockTransport(peer), base_url=BASE, auth=("admin", PASSWORD)
    )
    return RestAppliance(
        TARGET, client=client, sleep=clock.sleep, clock=clock, deadline_s=deadline_s
    )


@pytest.mark.parametrize("status", [503, 408])
def test_cdb_not_running_is_retried_beyond_the_retry_count(peer: FakePeer, status: int) -> None:
    clock = Clock()
    appliance = _timed(peer, clock)
    busy = httpx.Response(status, json={"Message": "busy"})
    peer.on(CDB.prefix + CDB.alarms, busy, busy, busy, busy)
    assert [a.id for a in appliance.read_alarms()] == ["20007", "20101"]
    assert peer.count(CDB.prefix + CDB.alarms) == 5  # more than 1 + retries (2)
    assert clock.sleeps == [0.5, 1.0, 2.0, 4.0]


def test_cdb_not_running_until_the_deadline_is_a_transport_error(peer: FakePeer) -> None:
    clock = Clock()
    appliance = _timed(peer, clock, deadline_s=20.0)
    peer.on(CDB.prefix + CDB.peer_status, *[httpx.Response(503, json={"Message": "x"})] * 50)
    peer.cdb[CDB.database] = _many([{"status": "Active"}])
    with pytest.raises(TransportError, match="cluster database not fully running") as info:
        appliance.read_status()
    assert type(info.value) is TransportError  # not a garbled answer (ApplianceError)
    assert "HTTP 503" in str(info.value)
    assert_clean(info.value, "read status")
    assert sum(clock.sleeps) < 20.0
    assert peer.count(CDB.prefix + CDB.peer_status) < 50


def test_cdb_write_on_503_is_reported_and_not_retried(peer: FakePeer) -> None:
    clock = Clock()
    appliance = _timed(peer, clock)
    path = CDB.prefix + CDB.cluster
    peer.on(path, httpx.Response(408, json={"Message": "timeout"}), httpx.Response(200, json=OK))
    with pytest.raises(TransportError, match=r"not fully running \(HTTP 408") as info:
        appliance.write([Write(field=Field.CLUSTER_NAME, value="x.example.com")])
    assert_clean(info.value, "write cluster_name = 'x.example.com'")
    assert peer.count(path, "POST") == 1
    assert clock.sleeps == []


def test_a_provisioning_503_is_not_a_cdb_outage(appliance: RestAppliance, peer: FakePeer) -> None:
    peer.on(REST.probe, *[httpx.Response(503, json={"Message": "busy"})] * 3)
    with pytest.raises(ApplianceError, match="HTTP 503: busy") as info:
        appliance.probe()
    assert info.value.status_code == 503


def test_cdb_off_is_told_by_the_status_code(appliance: RestAppliance, peer: FakePeer) -> None:
    """Regression: the probe matched the text "HTTP 404" in the error message."""
    peer.on(CDB.prefix + CDB.master, httpx.Response(404, text="gone"))
    assert appliance.cdb_available() is False
    probe = peer.requests[-1]
    assert probe.url.params["peer"] == "local"
    assert "sizeonly" not in probe.url.params  # the master table's own read (cdb_route)


def test_cdb_probe_message_mentioning_404_is_not_off(
    appliance: RestAppliance, peer: FakePeer
) -> None:
    peer.on(CDB.prefix + CDB.master, *[httpx.Response(500, json={"Message": "HTTP 404"})] * 3)
    with pytest.raises(ApplianceError) as info:
        appliance.cdb_available()
    assert info.value.status_code == 500


def test_answer_size_is_capped_while_it_streams(peer: FakePeer) -> None:
    sent = [0]

    def endless() -> Iterator[bytes]:
        while True:
            sent[0] += 65536
            yield b" " * 65536

    peer.on(REST.probe, httpx.Response(200, content=endless()))
    clock = Clock()
    appliance = _timed(peer, clock)
    with pytest.raises(ApplianceError, match="too large") as info:
        appliance.probe()
    assert_clean(info.value, "probe")
    assert sent[0] <= MAX_ANSWER_BYTES + 2 * 65536  # stopped reading at the cap


def test_declared_oversize_is_refused_before_reading(
    appliance: RestAppliance, peer: FakePeer
) -> None:
    peer.on(
        REST.probe,
        httpx.Response(
            200, content=iter([b"[]"]), headers={"Content-Length": str(MAX_ANSWER_BYTES + 1)}
        ),
    )
    with pytest.raises(ApplianceError, match="too large"):
        appliance.probe()


def test_a_dripping_answer_stops_at_the_attempt_deadline(peer: FakePeer) -> None:
    clock = Clock()
    sent = [0]

    def drip() -> Iterator[bytes]:
        while True:  # one byte a second, each read well within the read timeout
            clock.now += 1.0
            sent[0] += 1
            yield b" "

    peer.on(CDB.prefix + CDB.alarms, httpx.Response(200, content=drip()))
    appliance = _timed(peer, clock, deadline_s=30.0)
    # One attempt ends at connect timeout + read timeout (5 + 20 s), within the 30 s.
    with pytest.raises(TimeoutError_, match="25 s deadline") as info:
        appliance.read_alarms()
    assert isinstance(info.value, TimeoutError)  # also the builtin
    assert_clean(info.value, "read alarms")
    assert sent[0] <= 26
    assert peer.count(CDB.prefix + CDB.alarms) == 1  # the deadline is spent: no retry


def test_default_deadline_is_cisco_s_180_seconds(appliance: RestAppliance) -> None:
    assert appliance.deadline_s == 180.0


def test_reads_ask_for_the_local_element_only(appliance: RestAppliance, peer: FakePeer) -> None:
    appliance.read_settings()
    appliance.read_status()
    appliance.read_alarms()
    cdb = [r for r in peer.requests if r.url.path.startswith(CDB.prefix)]
    assert cdb and all(r.url.params["peer"] == "local" for r in cdb)


def test_a_slow_answer_is_cut_at_the_deadline_not_the_read_timeout(peer: FakePeer) -> None:
    clock = Clock()
    appliance = _timed(peer, clock, deadline_s=3.0)
    timeouts: list[float] = []

    def slow(request: httpx.Request) -> httpx.Response:
        timeouts.append(request.extensions["timeout"]["read"])
        clock.now += timeouts[-1]  # the socket waited that long
        raise httpx.ReadTimeout("timed out", request=request)

    peer.script[REST.probe] = []
    appliance.client._transport = httpx.MockTransport(slow)  # type: ignore[attr-defined]
    with pytest.raises(TimeoutError_, match="within the 3 s deadline") as info:
        appliance.probe()
    assert_clean(info.value, "probe")
    assert timeouts == [3.0]  # read timeout 20 s, but only 3 s were left

"""The mock's HTTPS REST listeners over real sockets (httpx, curl, ssl), per docs/contract.md."""

from __future__ import annotations

import socket
import ssl
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from labkit import Rest, curl, port_open, require, wait_for

pytestmark = pytest.mark.integration


@pytest.fixture
def lab(lab_factory: Any) -> Any:
    return lab_factory(peers=3, time_scale=0.01, preset="formed")


@pytest.fixture
def rest(lab: Any) -> Iterator[Rest]:
    client = Rest(lab)
    yield client
    client.close()


def _peer_cert(lab: Any, peer: str) -> dict[str, Any]:
    """TLS handshake to the peer's IP with SNI = its FQDN, verified against the lab CA."""
    ctx = ssl.create_default_context(cafile=str(lab.ca_path))
    with (
        socket.create_connection((lab.peers[peer], lab.https_port), timeout=5) as raw,
        ctx.wrap_socket(raw, server_hostname=lab.fqdns[peer]) as tls,
    ):
        cert = tls.getpeercert()
    assert cert is not None
    return cert


def test_each_peer_own_address_and_cert_naming_its_fqdn(lab: Any, rest: Rest) -> None:
    assert len(set(lab.peers.values())) == 3
    serials = set()
    for name, ip in lab.peers.items():
        info = rest.get(name, "/api/provisioning/sysinfo").json()
        assert info["SystemName"] == name
        assert info["Lan1Address"] == ip
        assert info["Version"] == "X15.2.1"
        serials.add(info["SerialNumber"])
        cert = _peer_cert(lab, name)
        sans = {v for k, v in cert["subjectAltName"] if k == "DNS"}
        assert sans == {lab.fqdns[name]}
        # Another peer's name is not in this peer's certificate.
        other = next(n for n in lab.peers if n != name)
        ctx = ssl.create_default_context(cafile=str(lab.ca_path))
        with (
            pytest.raises(ssl.SSLCertVerificationError),
            socket.create_connection((ip, lab.https_port), timeout=5) as raw,
            ctx.wrap_socket(raw, server_hostname=lab.fqdns[other]),
        ):
            pass
    assert len(serials) == 3


def test_curl_verifies_every_peer_against_the_lab_ca(lab: Any) -> None:
    require("curl")
    for name in lab.peers:
        code, body = curl(lab, name, "/api/v1/provisioning/common/cluster/peers")
        assert code == 0, (name, code)
        assert '"PeerAddress"' in body
        assert all(ip in body for ip in lab.peers.values())


@pytest.mark.parametrize("mode", ["missing_san", "expired", "self_signed", "wrong_name"])
def test_bad_certificate_fails_verification(lab: Any, mode: str) -> None:
    require("curl")
    lab.control.patch_peer("c1-p2", cert=mode)
    code, _ = curl(lab, "c1-p2", "/api/provisioning/sysinfo")
    assert code == 60, f"curl should reject a {mode} certificate (exit 60), got {code}"
    ctx = ssl.create_default_context(cafile=str(lab.ca_path))
    # missing_san keeps CN=<fqdn>; strict clients (curl, RFC 6125) ignore the CN.
    ctx.hostname_checks_common_name = False
    with (
        pytest.raises(ssl.SSLCertVerificationError),
        socket.create_connection((lab.peers["c1-p2"], lab.https_port), timeout=5) as raw,
        ctx.wrap_socket(raw, server_hostname=lab.fqdns["c1-p2"]),
    ):
        pass
    # The untouched peers still verify, and the patched one verifies again once fixed.
    assert curl(lab, "c1-p1", "/api/provisioning/sysinfo")[0] == 0
    lab.control.patch_peer("c1-p2", cert="ok")
    assert curl(lab, "c1-p2", "/api/provisioning/sysinfo")[0] == 0


def test_wrong_or_missing_credentials_get_401(lab: Any, rest: Rest) -> None:
    bad = Rest(lab, password="not-the-password")
    try:
        r = bad.get("c1-p1", "/api/provisioning/sysinfo")
        assert r.status_code == 401
        assert r.json() == {"Message": "Authentication failed"}
        r = bad.post("c1-p1", "/api/provisioning/restart")
        assert r.status_code == 401
    finally:
        bad.close()
    ctx = ssl.create_default_context(cafile=str(lab.ca_path))
    with httpx.Client(verify=ctx, trust_env=False, timeout=5) as anon:
        r = anon.get(rest.url("c1-p1", "/api/provisioning/sysinfo"))
        assert r.status_code == 401
    # The 401'd restart did not restart anything.
    time.sleep(0.2)
    assert lab.control.peer_state("c1-p1")["running"] is True
    assert rest.get("c1-p1", "/api/provisioning/sysinfo").status_code == 200


def test_write_without_csrf_header_is_refused(lab: Any, rest: Rest) -> None:
    r = rest.post(
        "c1-p1",
        "/api/management/configuration/cluster/cluster_name",
        csrf=False,
        data={"value": '"no-csrf.example.com"'},
    )
    assert r.status_code == 403
    assert r.json() == {"Message": "CSRF header missing"}
    assert rest.record("c1-p1", "configuration/cluster")["cluster_name"] == "c1.lab.example.com"


def test_cdb_tables_of_a_formed_cluster(lab: Any, rest: Rest) -> None:
    ips = list(lab.peers.values())
    alternates = rest.table("c1-p2", "configuration/alternates")
    assert [a["index"] for a in alternates] == list(range(6))
    assert [a["ip_address"] for a in alternates] == [*ips, "", "", ""]
    assert all(a["cdb_address"] == a["ip_address"] for a in alternates)
    assert rest.record("c1-p2", "configuration/alternatesmaster") == {"master_idx": 0}
    status = rest.table("c1-p2", "status/clusterpeer")
    assert [s["peer"] for s in status] == ips
    assert [s["local_peer"] for s in status] == [False, True, False]
    assert {s["state"] for s in status} == {"Active"}
    db = rest.record("c1-p2", "status/clusterdatabase")
    assert db["status"] == "Active"
    assert db["factory_reset_pending"] is False
    assert rest.record("c1-p1", "configuration/cluster")["tls_verify"] == "Permissive"
    peers = rest.get("c1-p3", "/api/v1/provisioning/common/cluster/peers").json()
    assert peers == [{"PeerAddress": ip} for ip in ips]


def test_cdb_write_validation_and_disabled_cdb(lab: Any, rest: Rest) -> None:
    r = rest.post(
        "c1-p1", "/api/management/configuration/cluster/tls_verify", data={"value": '"Strict"'}
    )
    assert r.status_code == 400
    r = rest.post(
        "c1-p1", "/api/management/configuration/alternates/index/9/ip_address", data={"value": '""'}
    )
    assert r.status_code == 400
    r = rest.post("c1-p1", "/api/management/status/alarm/id", data={"value": '"1"'})
    assert r.status_code == 404
    lab.control.patch_peer("c1-p1", cdb_rest=False)
    r = rest.get("c1-p1", "/api/management/configuration/alternates")
    assert r.status_code == 404
    assert r.json() == {"Message": "CDB REST API access is disabled"}
    assert rest.get("c1-p1", "/api/provisioning/common/cdbrestapiaccess").json() == {
        "Enabled": False
    }


def test_fault_unreachable_then_cleared(lab: Any, rest: Rest) -> None:
    ip = lab.peers["c1-p3"]
    fid = lab.control.inject("unreachable", peer="c1-p3")
    assert [f["id"] for f in lab.control.faults()] == [fid]
    wait_for(
        lambda: not port_open(ip, lab.https_port) and not port_open(ip, lab.ssh_port),
        "c1-p3 listeners to close",
        timeout=5,
    )
    with pytest.raises(httpx.ConnectError):
        rest.get("c1-p3", "/api/provisioning/sysinfo")
    assert lab.control.peer_state("c1-p3")["reachable"] is False
    # The others see it fail after the listing grace period (one interval).
    wait_for(
        lambda: (
            rest.record("c1-p1", "status/clusterdatabase")["status"] == "Failed"
            and {"20004", "20006"} <= rest.raised("c1-p1")
        ),
        "c1-p1 to report the lost peer",
        timeout=10,
    )
    assert lab.control.clear(fid) == {"cleared": [fid]}
    assert lab.control.faults() == []
    wait_for(
        lambda: rest.get("c1-p3", "/api/provisioning/sysinfo").status_code == 200,
        "c1-p3 to answer again",
        timeout=5,
    )
    wait_for(
        lambda: not ({"20004", "20006"} & rest.raised("c1-p1")),
        "c1-p1 alarms to lower",
        timeout=5,
    )


def test_fault_http_error_by_path_prefix_and_count(lab: Any, rest: Rest) -> None:
    fid = lab.control.inject(
        "http_error", peer="c1-p1", status=503, path_prefix="/api/provisioning/sysinfo"
    )
    r = rest.get("c1-p1", "/api/provisioning/sysinfo")
    assert r.status_code == 503
    assert "Message" in r.json()
    # Other paths and other peers are not affected; auth still comes first.
    assert rest.get("c1-p1", "/api/provisioning/optionkey").status_code == 200
    assert rest.get("c1-p2", "/api/provisioning/sysinfo").status_code == 200
    lab.control.clear(fid)
    assert rest.get("c1-p1", "/api/provisioning/sysinfo").status_code == 200
    # A fault with a count clears itself after that many uses.
    lab.control.inject("http_error", peer="c1-p2", status=500, count=2)
    codes = [rest.get("c1-p2", "/api/provisioning/sysinfo").status_code for _ in range(3)]
    assert codes == [500, 500, 200]
    assert lab.control.faults() == []


def test_fault_slow_then_cleared(lab: Any, rest: Rest) -> None:
    fid = lab.control.inject("slow", peer="c1-p2", seconds=0.8, iface="rest")
    started = time.monotonic()
    assert rest.get("c1-p2", "/api/provisioning/sysinfo").status_code == 200
    assert time.monotonic() - started >= 0.75
    started = time.monotonic()
    assert rest.get("c1-p1", "/api/provisioning/sysinfo").status_code == 200
    assert time.monotonic() - started < 0.5
    lab.control.clear(fid)
    started = time.monotonic()
    assert rest.get("c1-p2", "/api/provisioning/sysinfo").status_code == 200
    assert time.monotonic() - started < 0.5


def test_unknown_fault_kind_is_refused(lab: Any) -> None:
    with pytest.raises(AssertionError, match="unknown fault kind"):
        lab.control.inject("meteor", peer="c1-p1")
    with pytest.raises(AssertionError, match="unknown peer"):
        lab.control.inject("slow", peer="c9-p9")


def test_request_log_records_rest_writes(lab: Any, rest: Rest) -> None:
    since = max((q["seq"] for q in lab.control.requests()), default=0)
    rest.get("c1-p2", "/api/provisioning/sysinfo")
    rest.write("c1-p2", "configuration/cluster/cluster_name", "logged.example.com")
    bad = Rest(lab, password="bad")
    try:
        bad.post(
            "c1-p2", "/api/management/configuration/cluster/cluster_name", data={"value": '"x"'}
        )
    finally:
        bad.close()
    log = lab.control.requests(since)
    assert [(q["method"], q["status"], q["write"]) for q in log] == [
        ("GET", 200, False),
        ("POST", 200, True),
        ("POST", 401, False),
    ]
    assert {q["peer"] for q in log} == {"c1-p2"}
    assert {q["iface"] for q in log} == {"rest"}
    assert log[1]["path"] == "/api/management/configuration/cluster/cluster_name"
    assert log[0]["seq"] < log[1]["seq"] < log[2]["seq"]
    assert lab.control.requests(log[-1]["seq"]) == []


def test_eventlog_shows_configuration_change(lab: Any, rest: Rest) -> None:
    rest.write("c1-p1", "configuration/cluster/tls_verify", "Enforcing")
    text = rest.get("c1-p1", "/api/provisioning/eventlog?lines=50").text
    assert "tls_verify - changed from: Permissive to: Enforcing" in text
    assert 'Event="Alarm Raised" Id="20007"' in text
    assert "tls_verify - changed from" in lab.control.logs("c1-p1")

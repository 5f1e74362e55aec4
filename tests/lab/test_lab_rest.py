"""The mock's HTTPS REST listeners over real sockets (httpx, curl, ssl), per docs/contract.md."""

from __future__ import annotations

import json
import socket
import ssl
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest
from labkit import CSRF, Rest, curl, holds, port_open, require, wait_for
from paths import FIXTURES as FIXTURES_ROOT

pytestmark = pytest.mark.integration


@pytest.fixture
def lab(lab_factory: Any) -> Any:
    return lab_factory(peers=3, time_scale=0.01, preset="formed", cdb_rest=True)


def write(rest: Rest, peer: str, row: str, **fields: str) -> None:
    """POST /api/management/<row> with <field>=<value> form pairs (the CDB write form)."""
    r = rest.post(peer, f"/api/management/{row}", data=fields)
    assert r.status_code == 200, (peer, row, r.status_code, r.text)
    assert r.json() == {"Message": "The operation was successful"}


def cdb(rest: Rest, peer: str, path: str) -> Any:
    r = rest.get(peer, f"/api/management/{path}")
    assert r.status_code == 200, (path, r.status_code, r.text)
    assert r.headers["Content-Type"].startswith("application/json")
    return r.json()


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
    # The 401'd restart did not restart anything: c1-p1 never even begins to go down
    # (an accepted restart reads "stopping" from the lab's restart delay on, and its
    # log says "System Restart"), polled over the delay, the grace and a margin.
    metrics = lab.control.metrics()
    window = 0.05 + metrics["restart_grace_s"] + 0.5
    holds(
        lambda: lab.control.peer_state("c1-p1")["lifecycle"] == "running",
        "c1-p1 running, no restart accepted",
        seconds=window,
    )
    assert "System Restart" not in lab.control.logs("c1-p1")
    assert "c1-p1" not in [r["peer"] for r in lab.control.metrics()["restarts"]]
    assert rest.get("c1-p1", "/api/provisioning/sysinfo").status_code == 200


def test_write_without_csrf_header_is_refused(lab: Any, rest: Rest) -> None:
    r = rest.post(
        "c1-p1",
        "/api/management/configuration/cluster",
        csrf=False,
        data={"cluster_name": "no-csrf.example.com"},
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


@pytest.mark.parametrize(
    ("row", "form", "status"),
    [
        ("configuration/cluster", {"tls_verify": "Strict"}, 400),
        ("configuration/cluster", {"tls_verify": "Enforce", "cluster_name": "a b"}, 400),
        ("configuration/cluster", {"no_such_field": "x"}, 400),
        ("configuration/alternates/index/9", {"ip_address": ""}, 404),
        ("configuration/alternates/index/2", {"ip_address": "has space"}, 400),
        ("configuration/alternates/index/2", {"cdb_address": "10.0.0.1"}, 400),
        ("configuration/alternates/index/2", {"index": "3"}, 400),
        ("configuration/alternates", {"ip_address": "10.0.0.1"}, 400),  # selects 6 rows
        ("configuration/alternatesmaster", {"master_idx": "6"}, 400),
        ("configuration/alternatesmaster", {"master_idx": "one"}, 400),
        ("configuration/alternatesmaster", {"master_idx": "None"}, 400),
        ("configuration/alternatesmaster", {"master_idx": "1.0"}, 400),
        ("configuration/cluster", {"address_mapping": "true"}, 400),
        ("configuration/alternates/index/2/ip_address", {"value": '"10.0.0.1"'}, 400),  # old form
        ("status/alarm", {"id": "1"}, 405),  # status tables are read-only
        ("no/table", {"x": "1"}, 404),
    ],
)
def test_cdb_write_validation(
    lab: Any, rest: Rest, row: str, form: dict[str, str], status: int
) -> None:
    before = rest.record("c1-p1", "configuration/cluster")
    r = rest.post("c1-p1", f"/api/management/{row}", data=form)
    assert r.status_code == status, r.text
    assert isinstance(r.json()["Message"], str) and r.json()["Message"]
    # Nothing was half-written (every field is checked before any is committed).
    assert rest.record("c1-p1", "configuration/cluster") == before


def test_cdb_rest_off_by_default_and_switchable(lab_factory: Any) -> None:
    lab = lab_factory(peers=1, time_scale=0.01, preset="unclustered")
    rest = Rest(lab)
    try:
        r = rest.get("c1-p1", "/api/management/configuration/alternates?peer=local")
        assert r.status_code == 404
        assert r.json() == {"Message": "CDB REST API access is disabled"}
        r = rest.post("c1-p1", "/api/management/configuration/cluster", data={"cluster_name": "x"})
        assert r.status_code == 404
        access = "/api/provisioning/common/cdbrestapiaccess"
        assert rest.get("c1-p1", access).json() == {"Enabled": False}
        r = rest.client.put(rest.url("c1-p1", access), json={"Enabled": "yes"}, headers=CSRF)
        assert r.status_code == 400
        r = rest.client.put(rest.url("c1-p1", access), json={"Enabled": True}, headers=CSRF)
        assert r.json() == {"Message": "The operation was successful"}
        assert rest.get("c1-p1", access).json() == {"Enabled": True}
        assert len(rest.table("c1-p1", "configuration/alternates")) == 6
        lab.control.patch_peer("c1-p1", cdb_rest=False)
        assert rest.get("c1-p1", "/api/management/status/alarm").status_code == 404
    finally:
        rest.close()


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
    assert rest.get("c1-p1", "/api/v1/provisioning/common/dns/dnsserver").status_code == 200
    assert rest.get("c1-p2", "/api/provisioning/sysinfo").status_code == 200
    lab.control.clear(fid)
    assert rest.get("c1-p1", "/api/provisioning/sysinfo").status_code == 200
    # A fault with a count clears itself after that many uses.
    lab.control.inject("http_error", peer="c1-p2", status=500, count=2)
    codes = [rest.get("c1-p2", "/api/provisioning/sysinfo").status_code for _ in range(3)]
    assert codes == [500, 500, 200]
    assert lab.control.faults() == []


def _answers_while_held(rest: Rest, held: tuple[str, str], free: tuple[str, str]) -> None:
    """While a request the fault holds (``held``: peer, path) is still pending, a request
    to ``free`` is answered: ``free`` is not slowed by it. An order of events, not a time
    bound: the held request is pending for the fault's whole delay, whatever the load."""
    with ThreadPoolExecutor(1) as pool:
        pending = pool.submit(rest.get, *held)
        assert rest.get(*free).status_code == 200
        assert not pending.done(), f"{held} answered before {free}: the fault did not hold it"
        assert pending.result().status_code == 200


def test_fault_slow_then_cleared(lab: Any, rest: Rest) -> None:
    sysinfo = "/api/provisioning/sysinfo"
    fid = lab.control.inject("slow", peer="c1-p2", seconds=1.5, iface="rest")
    started = time.monotonic()
    assert rest.get("c1-p2", sysinfo).status_code == 200
    assert time.monotonic() - started >= 1.45  # the fault's own delay: a lower bound
    _answers_while_held(rest, ("c1-p2", sysinfo), ("c1-p1", sysinfo))  # other peers: not slowed
    lab.control.clear(fid)
    assert lab.control.faults() == []
    # Cleared: c1-p2 answers while a request held by a new fault on c1-p3 is pending.
    lab.control.inject("slow", peer="c1-p3", seconds=1.5, iface="rest")
    _answers_while_held(rest, ("c1-p3", sysinfo), ("c1-p2", sysinfo))
    lab.control.clear()


def test_unknown_fault_kind_is_refused(lab: Any) -> None:
    with pytest.raises(AssertionError, match="unknown fault kind"):
        lab.control.inject("meteor", peer="c1-p1")
    with pytest.raises(AssertionError, match="unknown peer"):
        lab.control.inject("slow", peer="c9-p9")


def test_request_log_records_rest_writes(lab: Any, rest: Rest) -> None:
    since = max((q["seq"] for q in lab.control.requests()), default=0)
    rest.get("c1-p2", "/api/provisioning/sysinfo")
    write(rest, "c1-p2", "configuration/cluster", cluster_name="logged.example.com")
    bad = Rest(lab, password="bad")
    try:
        bad.post("c1-p2", "/api/management/configuration/cluster", data={"cluster_name": "x"})
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
    assert log[1]["path"] == "/api/management/configuration/cluster"
    assert log[0]["seq"] < log[1]["seq"] < log[2]["seq"]
    assert lab.control.requests(log[-1]["seq"]) == []


def test_eventlog_shows_configuration_change(lab: Any, rest: Rest) -> None:
    write(rest, "c1-p1", "configuration/cluster", tls_verify="Enforcing")
    text = rest.get("c1-p1", "/api/provisioning/eventlog?lines=50").text
    assert "tls_verify - changed from: Permissive to: Enforcing" in text
    assert 'Event="Alarm Raised" Id="20007"' in text
    assert "tls_verify - changed from" in lab.control.logs("c1-p1")


# -- the CDB grammar (interface doc section 8, CONFIRMED forms) --------------------------------


def test_cdb_row_filters_peer_selection_and_counts(lab: Any, rest: Rest) -> None:
    p1, p2, p3 = lab.peers.values()
    (el,) = cdb(rest, "c1-p1", "configuration/alternates/index/2?peer=local")
    assert el == {
        "peer": p1,
        "num_recs": 1,
        "records": [{"index": 2, "ip_address": p3, "cdb_address": p3}],
    }
    (el,) = cdb(rest, "c1-p2", "status/clusterpeer/local_peer/true?peer=local")
    assert [(r["peer"], r["local_peer"]) for r in el["records"]] == [(p2, True)]
    (el,) = cdb(rest, "c1-p1", f"configuration/clusterpeer/peer/{p2}?peer=local")
    assert [r["index"] for r in el["records"]] == [1]
    # Without ?peer=: one element per peer of this peer's cluster database.
    every = cdb(rest, "c1-p1", "configuration/alternatesmaster")
    assert [e["peer"] for e in every] == [p1, p2, p3]
    assert all(e["records"] == [{"master_idx": 0}] for e in every)
    # ?peer=<ip>: that peer's element (its own records); not a member: [].
    (el,) = cdb(rest, "c1-p1", f"status/clusterpeer/local_peer/true?peer={p3}")
    assert (el["peer"], el["records"][0]["peer"]) == (p3, p3)
    assert cdb(rest, "c1-p1", "configuration/alternates?peer=192.0.2.99") == []
    # sizeonly=true counts the table (filters ignored); norecs honours filters.
    counts = cdb(rest, "c1-p1", "configuration/alternates/index/0?sizeonly=true")
    assert [(e["num_recs"], e["records"]) for e in counts] == [(6, [])] * 3
    (el,) = cdb(
        rest, "c1-p1", f"configuration/alternates/ip_address/{p2}?peer=local&sizeonly=norecs"
    )
    assert (el["num_recs"], el["records"]) == (1, [])
    (el,) = cdb(
        rest, "c1-p1", "configuration/alternates/ip_address/nowhere?peer=local&sizeonly=norecs"
    )
    assert el["num_recs"] == 0


@pytest.mark.parametrize(
    ("path", "status"),
    [
        ("configuration/alternates/index?peer=local", 400),  # a field without a value
        ("configuration/alternates/colour/red?peer=local", 400),  # no such field
        ("configuration/alternates?sizeonly=maybe", 400),
        ("configuration/nothing?peer=local", 404),
        ("nothing", 404),
    ],
)
def test_cdb_bad_reads_answer_json_errors(lab: Any, rest: Rest, path: str, status: int) -> None:
    r = rest.get("c1-p1", f"/api/management/{path}")
    assert r.status_code == status
    assert r.headers["Content-Type"].startswith("application/json")
    assert r.json()["Message"]


def test_cdb_write_row_form_and_delete(lab: Any, rest: Rest) -> None:
    write(rest, "c1-p1", "configuration/alternates/index/5", ip_address="192.0.2.66")
    (row,) = rest.table("c1-p1", "configuration/alternates")[5:]
    assert row == {"index": 5, "ip_address": "192.0.2.66", "cdb_address": "192.0.2.66"}
    assert rest.table("c1-p2", "configuration/alternates")[5]["ip_address"] == ""  # per peer
    # The key field may repeat the row's own value; several fields in one POST.
    write(
        rest,
        "c1-p1",
        "configuration/clusteraddressmapping/index/1",
        index="1",
        name="e2.example.com",
        address="192.0.2.12",
    )
    assert rest.table("c1-p3", "configuration/clusteraddressmapping")[1] == {
        "index": 1,
        "name": "e2.example.com",
        "address": "192.0.2.12",
    }
    write(rest, "c1-p1", "configuration/alternatesmaster", master_idx="1")
    assert rest.record("c1-p1", "configuration/alternatesmaster") == {"master_idx": 1}
    assert rest.record("c1-p2", "configuration/alternatesmaster") == {"master_idx": 0}
    # DELETE on a row path empties the slot / the mapping row.
    r = rest.client.delete(
        rest.url("c1-p1", "/api/management/configuration/alternates/index/5"), headers=CSRF
    )
    assert (r.status_code, r.json()) == (200, {"Message": "The operation was successful"})
    assert rest.table("c1-p1", "configuration/alternates")[5]["ip_address"] == ""
    r = rest.client.delete(rest.url("c1-p1", "/api/management/configuration/cluster"), headers=CSRF)
    assert r.status_code == 405 and r.json()["Message"]
    # Other tables: dns, system, service (CONFIRMED names).
    write(rest, "c1-p1", "configuration/dns", host_name="renamed")
    assert rest.record("c1-p1", "configuration/dns") == {
        "host_name": "renamed",
        "domain_name": "lab.example.com",
    }
    write(rest, "c1-p1", "configuration/system", maintenance_mode="on")
    assert rest.record("c1-p1", "configuration/system") == {"maintenance_mode": "on"}
    write(rest, "c1-p1", "configuration/service/name/c_mgmt", mode="on")
    assert {r["name"] for r in rest.table("c1-p1", "configuration/service")} >= {"c_mgmt"}
    r = rest.post("c1-p1", "/api/management/configuration/alternatesmaster", json={"master_idx": 1})
    assert r.status_code == 415  # the CDB takes form bodies only


def test_aiohttp_errors_are_json(lab: Any, rest: Rest) -> None:
    r = rest.get("c1-p1", "/api/no/such/thing")
    assert (r.status_code, r.json()) == (404, {"Message": "Not Found"})
    r = rest.client.put(rest.url("c1-p1", "/api/provisioning/sysinfo"), headers=CSRF)
    assert r.status_code == 405
    assert r.json() == {"Message": "Method Not Allowed"}
    assert "GET" in r.headers["Allow"]


def test_raml_self_description(lab: Any, rest: Rest) -> None:
    """REST API Summary Guide X14.2: "The Expressway REST API is compliant with RAML
    version 0.8" (Table B: the mock's `#%RAML 1.0` was CONTRADICTED)."""
    r = rest.get("c1-p1", "/api/raml")
    assert r.status_code == 200
    assert r.text.startswith("#%RAML 0.8\n")
    assert "/management/{table}" in r.text and "/cdbrestapiaccess" in r.text


def test_provisioning_dns_and_ntp_writes(lab: Any, rest: Rest) -> None:
    base = "/api/v1/provisioning/common"
    put = rest.client.put
    r = put(
        rest.url("c1-p1", "/api/provisioning/common/dns/dns"),
        json={"DomainName": "x.example"},
        headers=CSRF,
    )
    assert r.status_code == 200
    assert rest.get("c1-p1", "/api/provisioning/common/dns/dns").json() == {
        "SystemHostName": "c1-p1",
        "DomainName": "x.example",
    }
    r = put(
        rest.url("c1-p1", "/api/provisioning/common/dns/dns"),
        json={"DomainName": None},
        headers=CSRF,
    )
    assert r.status_code == 400
    # POST and PUT take the guide's wrapper (REST API Summary Guide X14.2) or a bare row.
    r = rest.post(
        "c1-p1", f"{base}/dns/dnsserver", json={"DefaultDNSServers": {"address": "192.0.2.54"}}
    )
    assert r.status_code == 200
    r = put(
        rest.url("c1-p1", f"{base}/dns/dnsserver"),
        json={"index": 1, "address": "192.0.2.55"},
        headers=CSRF,
    )
    assert r.status_code == 200
    assert rest.get("c1-p1", f"{base}/dns/dnsserver").json() == [
        {"DefaultDNSServers": {"index": 1, "address": "192.0.2.55"}},
        {"DefaultDNSServers": {"index": 2, "address": "192.0.2.54"}},
    ]
    r = rest.client.request(
        "DELETE", rest.url("c1-p1", f"{base}/dns/dnsserver"), json={"index": 1}, headers=CSRF
    )
    assert r.status_code == 200
    # One server: the guide's body exactly, {"DefaultDNSServers": {"index", "address"}}.
    assert rest.get("c1-p1", f"{base}/dns/dnsserver").json() == {
        "DefaultDNSServers": {"index": 1, "address": "192.0.2.54"}
    }
    r = rest.client.request(
        "DELETE", rest.url("c1-p1", f"{base}/time/ntpserver"), json={"index": 7}, headers=CSRF
    )
    assert r.status_code == 404 and r.json()["Message"]
    r = rest.post("c1-p1", f"{base}/time/ntpserver", json={"Address": "192.0.2.124"})
    assert r.status_code == 200
    assert lab.control.peer_state("c1-p1")["ntp_servers"] == ["192.0.2.123", "192.0.2.124"]
    r = rest.post("c1-p1", f"{base}/time/ntpserver", json={"Address": 5})
    assert r.status_code == 400


# REST API Summary Guide X14.2 (and 2020 edition), the response bodies exactly:
GUIDE_DNS = {"DefaultDNSServers": {"index": 2, "address": "10.0.0.2"}}
GUIDE_NTP = {"index": 5, "KeyId": 1, "Hash": "sha1", "Authentication": "disabled", "Address": ""}


def test_server_lists_answer_the_documented_shapes_by_default(lab: Any, rest: Rest) -> None:
    base = "/api/v1/provisioning/common"
    dns = rest.get("c1-p1", f"{base}/dns/dnsserver").json()
    ntp = rest.get("c1-p1", f"{base}/time/ntpserver").json()
    assert dns == {"DefaultDNSServers": {"index": 1, "address": "192.0.2.53"}}
    assert set(ntp) == set(GUIDE_NTP) and ntp["Address"] == "192.0.2.123"
    assert _shape(dns) == _shape(GUIDE_DNS) and _shape(ntp) == _shape(GUIDE_NTP)
    lab.control.patch_peer("c1-p1", dns_servers=[], ntp_servers=["192.0.2.123", "192.0.2.124"])
    assert rest.get("c1-p1", f"{base}/dns/dnsserver").json() == []
    ntp = rest.get("c1-p1", f"{base}/time/ntpserver").json()
    assert [row["Address"] for row in ntp] == ["192.0.2.123", "192.0.2.124"]


def test_server_list_form_option_list_and_undocumented(lab: Any, rest: Rest) -> None:
    base = "/api/v1/provisioning/common"
    lab.control.patch_peer("c1-p2", server_list_form="list")
    assert rest.get("c1-p2", f"{base}/dns/dnsserver").json() == [
        {"index": 1, "address": "192.0.2.53"}
    ]
    assert [r["Address"] for r in rest.get("c1-p2", f"{base}/time/ntpserver").json()] == [
        "192.0.2.123"
    ]
    lab.control.patch_peer("c1-p2", server_list_form="undocumented")
    assert rest.get("c1-p2", f"{base}/dns/dnsserver").json() == ["192.0.2.53"]
    with pytest.raises(AssertionError, match="server_list_form"):
        lab.control.patch_peer("c1-p2", server_list_form="xml")
    assert rest.get("c1-p1", f"{base}/dns/dnsserver").json()["DefaultDNSServers"]  # per peer


def test_option_keys_only_where_the_version_has_them(lab: Any, rest: Rest) -> None:
    """Expressway X14.2+ has no option keys (Release Note X14.2.5): the lab answers 404
    (MOCK-DEFINED); a VCS or an older Expressway lists them (body MOCK-DEFINED)."""
    r = rest.get("c1-p1", "/api/provisioning/optionkey")
    assert r.status_code == 404 and r.json()["Message"]
    lab.control.patch_peer("c1-p1", role="VCS", version="X8.11.3")
    keys = rest.get("c1-p1", "/api/provisioning/optionkey").json()
    assert keys and all(set(k) == {"Key", "Description", "Count"} for k in keys)
    lab.control.patch_peer("c1-p1", role="Expressway-C", version="X14.0.7")
    assert rest.get("c1-p1", "/api/provisioning/optionkey").status_code == 200


def test_fault_cdb_unavailable(lab: Any, rest: Rest) -> None:
    fid = lab.control.inject("cdb_unavailable", peer="c1-p2", status=408, count=2)
    r = rest.get("c1-p2", "/api/management/configuration/alternates?peer=local")
    assert (r.status_code, r.json()) == (408, {"Message": "Cluster database is not fully running"})
    assert rest.get("c1-p2", "/api/provisioning/sysinfo").status_code == 200  # not the CDB
    r = rest.post("c1-p2", "/api/management/configuration/cluster", data={"cluster_name": "x"})
    assert r.status_code == 408  # writes too; the count is used up
    assert rest.record("c1-p2", "configuration/cluster")["cluster_name"] == "c1.lab.example.com"
    assert fid not in {f["id"] for f in lab.control.faults()}
    lab.control.inject("cdb_unavailable", peer="c1-p1")
    assert rest.get("c1-p1", "/api/management/status/alarm").status_code == 503
    with pytest.raises(AssertionError, match="503 or 408"):
        lab.control.inject("cdb_unavailable", peer="c1-p1", status=500)


def test_fault_slow_by_path_prefix(lab: Any, rest: Rest) -> None:
    alarms = "/api/management/status/alarm?peer=local"
    lab.control.inject("slow", peer="c1-p1", seconds=1.5, path_prefix="/api/management/")
    started = time.monotonic()
    assert rest.get("c1-p1", alarms).status_code == 200
    assert time.monotonic() - started >= 1.45  # the fault's own delay: a lower bound
    # Another path of the same peer is not slowed: answered while an alarm read is held.
    _answers_while_held(rest, ("c1-p1", alarms), ("c1-p1", "/api/provisioning/sysinfo"))


# -- the mock against the conformance fixtures' shapes ------------------------------------------

FIXTURES = FIXTURES_ROOT / "contract" / "cdb"


def _shape(value: Any) -> Any:
    """Structure and value types, not values (volatile uuids, times, addresses)."""
    if isinstance(value, dict):
        return {k: _shape(v) for k, v in sorted(value.items())}
    if isinstance(value, list):
        shapes = []
        for item in value:
            s = _shape(item)
            if s not in shapes:
                shapes.append(s)
        return shapes
    return type(value).__name__


@pytest.mark.parametrize("name", sorted(p.stem for p in FIXTURES.glob("*.json")))
def test_mock_answers_have_the_fixture_shapes(lab: Any, rest: Rest, name: str) -> None:
    doc = json.loads((FIXTURES / f"{name}.json").read_text())
    if name.startswith("not_running"):
        lab.control.inject("cdb_unavailable", peer="c1-p1", status=doc["status"], count=1)
    if name.startswith("disabled"):
        lab.control.patch_peer("c1-p1", cdb_rest=False)
    if name == "alarm_local":
        write(rest, "c1-p1", "configuration/cluster", tls_verify="Enforcing")  # raises 20007
    ips = list(lab.peers.values())
    path = doc["request"].removeprefix("GET ").format(p1=ips[0], p2=ips[1], p3=ips[2])
    r = rest.get("c1-p1", path)
    assert r.status_code == doc["status"], r.text
    got, want = r.json(), doc["body"]
    assert _shape(got) == _shape(want)
    if isinstance(want, list):
        assert len(got) == len(want)
        for g, w in zip(got, want, strict=True):
            assert g["num_recs"] == w["num_recs"] or name in ("alarm_local",)
            assert len(g["records"]) == len(w["records"]) or name in ("alarm_local",)

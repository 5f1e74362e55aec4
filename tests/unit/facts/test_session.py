"""The gather: concurrent, bounded per peer, each resource once, SSH one at a time;
and the session's Nornir inventory built in memory from the validated one.

Concurrency is asserted by counting calls in flight (never on wall time): the
fakes hold each read until the expected number are in flight together, with
a deadline so a serial implementation fails instead of hanging.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import httpx
import pytest
from pydantic import SecretStr
from xapikit import alternates_answer

from exops.appliance.base import ConnectionTarget
from exops.appliance.factory import RoutedAppliance
from exops.appliance.knowledge import CDB, REST
from exops.appliance.rest import RestAppliance
from exops.appliance.ssh import SshAppliance
from exops.core.errors import ApplianceError, AuthError, InventoryError
from exops.core.models import Role
from exops.core.settings import Settings
from exops.facts.gather import (
    ALL_FACTS,
    LIGHT_READS,
    PEER_CONCURRENCY,
    STATUS_FACTS,
    WORKERS,
    Fact,
    Gatherer,
    PeerRead,
    Workers,
    plan_for,
    read_peer_facts,
)
from exops.facts.health import restart_pending
from exops.inventory import PeerSpec, load_inventory

# -- a fake appliance whose reads wait for company ----------------------------------


class Crowd:
    """Counts reads in flight; each waits until ``target`` are in flight at once
    (then the latch opens for good) or the deadline passes."""

    def __init__(self, target: int, deadline_s: float = 5.0):
        self.target = target
        self.deadline_s = deadline_s
        self.cond = threading.Condition()
        self.now = 0
        self.max = 0
        self.per_peer: Counter[str] = Counter()
        self.max_per_peer: Counter[str] = Counter()
        self.open = False
        self.calls: list[tuple[str, str]] = []

    def call(self, host: str, name: str, value: Any, *, wait: bool = True) -> Any:
        with self.cond:
            self.calls.append((host, name))
            self.now += 1
            self.per_peer[host] += 1
            self.max = max(self.max, self.now)
            self.max_per_peer[host] = max(self.max_per_peer[host], self.per_peer[host])
            if self.now >= self.target:
                self.open = True
                self.cond.notify_all()
            end = time.monotonic() + self.deadline_s
            while wait and not self.open and time.monotonic() < end:
                self.cond.wait(0.05)
            self.now -= 1
            self.per_peer[host] -= 1
        if isinstance(value, BaseException):
            raise value
        return value


class CrowdAppliance:
    """An ``Appliance`` whose every read goes through ``Crowd`` (the probe does
    not wait: it runs alone by design)."""

    transport_name = "rest"

    def __init__(self, host: str, crowd: Crowd, **fail: BaseException):
        self.host = host
        self.crowd = crowd
        self.fail = fail

    def _read(self, name: str, value: Any) -> Any:
        return self.crowd.call(self.host, name, self.fail.get(name, value), wait=name != "probe")

    def probe(self) -> float:
        return float(self._read("probe", 1.0))

    def read_settings(self) -> Any:
        return self._read("read_settings", None)

    def read_status(self) -> Any:
        return self._read("read_status", None)

    def read_alarms(self) -> Any:
        return self._read("read_alarms", ())

    def read_system(self) -> Any:
        return self._read("read_system", None)

    def read_certificate(self) -> Any:
        return self._read("read_certificate", (None, ()))

    def close(self) -> None:
        pass


def spec(name: str, transport: str = "auto") -> PeerSpec:
    return PeerSpec(
        name=name,
        cluster="c1",
        hostname="10.0.0.11",
        port=443,
        ssh_port=22,
        address="10.0.0.11",
        fqdn="",
        role=Role.EXPRESSWAY_C,
        slot=None,
        transport=transport,
        username="admin",
    )


def test_reads_run_concurrently_per_peer_and_across_peers_within_the_limits() -> None:
    """6 peers x 6 reads: after each peer's first read, 4 of its reads are in flight
    at once, and all 6 peers' at the same time (24), never more than 4 per peer."""
    crowd = Crowd(target=6 * PEER_CONCURRENCY)
    peers = [
        PeerRead(spec(f"p{i}"), CrowdAppliance(f"p{i}", crowd))  # type: ignore[arg-type]
        for i in range(6)
    ]
    facts = Gatherer(workers=100).gather(peers, ALL_FACTS - {Fact.FQDN})
    assert [f.host for f in facts] == [f"p{i}" for i in range(6)]
    assert all(f.reachable and f.error is None for f in facts)
    assert crowd.max == 6 * PEER_CONCURRENCY
    assert set(crowd.max_per_peer.values()) == {PEER_CONCURRENCY}
    # Every read once; the probe of each peer first.
    assert Counter(crowd.calls) == Counter(
        (f"p{i}", n)
        for i in range(6)
        for n in (
            "probe",
            "read_settings",
            "read_status",
            "read_alarms",
            "read_system",
            "read_certificate",
        )
    )
    first: dict[str, str] = {}
    for host, name in crowd.calls:
        first.setdefault(host, name)
    assert set(first.values()) == {"probe"}


def test_the_first_read_runs_alone_so_refused_credentials_cost_one_login() -> None:
    crowd = Crowd(target=2, deadline_s=0.5)
    app = CrowdAppliance("p1", crowd, probe=AuthError("credentials refused", host="p1"))
    facts = read_peer_facts(app, spec("p1"))  # type: ignore[arg-type]
    assert facts.reachable is False and facts.unreachable_kind == "auth"
    assert crowd.calls == [("p1", "probe")]


def test_a_transport_failure_after_the_first_read_marks_the_peer_unreachable() -> None:
    crowd = Crowd(target=4, deadline_s=0.5)
    app = CrowdAppliance(
        "p1", crowd, read_status=AuthError("credentials refused", host="p1", operation="x")
    )
    facts = read_peer_facts(app, spec("p1"))  # type: ignore[arg-type]
    assert facts.reachable is False
    assert facts.error == "p1 x: credentials refused"
    assert facts.settings is None and facts.system is None


def test_the_per_peer_limit_holds_with_many_peers_and_few_workers() -> None:
    crowd = Crowd(target=3, deadline_s=2.0)
    peers = [
        PeerRead(spec(f"p{i}"), CrowdAppliance(f"p{i}", crowd))  # type: ignore[arg-type]
        for i in range(5)
    ]
    facts = Gatherer(workers=3, per_peer=2).gather(peers, LIGHT_READS)
    assert all(f.reachable for f in facts)
    assert crowd.max <= 3 and max(crowd.max_per_peer.values()) <= 2


# -- the real RoutedAppliance over httpx.MockTransport and a scripted shell -----------


def _many(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{"peer": "10.0.0.11", "num_recs": len(records), "records": records}]


CDB_TABLES: dict[str, Any] = {
    CDB.alternates: _many(
        [
            {"index": i, "ip_address": a}
            for i, a in enumerate(["10.0.0.11", "10.0.0.12", "", "", "", ""])
        ]
    ),
    CDB.master: _many([{"master_idx": 0}]),
    CDB.cluster: _many(
        [
            {
                "cluster_name": "c1.example.com",
                "tls_verify": "Permissive",
                "ip_version": "IPv4",
                "address_mapping": "Off",
            }
        ]
    ),
    CDB.mapping: _many([{"index": i, "name": "", "address": ""} for i in range(6)]),
    CDB.h323: _many([{"mode": "Off"}]),
    CDB.peer_status: _many(
        [
            {"peer": "10.0.0.11", "index": 0, "state": "Active", "local_peer": True},
            {"peer": "10.0.0.12", "index": 1, "state": "Active", "local_peer": False},
        ]
    ),
    CDB.database: _many([{"status": "Active", "replication": "Synchronised"}]),
    CDB.alarms: _many([{"uuid": "a1", "id": "20007", "status": "raised", "title": "Restart"}]),
}
PROVISIONING: dict[str, Any] = {
    REST.sysinfo: {
        "SystemName": "p1",
        "Version": "X15.2.1",
        "ProductType": "Expressway-C",
        "PlatformSize": "medium",
        "UptimeSeconds": 1234,
    },
    REST.dns: {"SystemHostName": "p1", "DomainName": "example.com"},
    REST.dns_servers: [{"address": "192.0.2.53"}],
    REST.ntp_servers: [{"Address": "192.0.2.123"}],
    REST.optionkey: [{"Key": "116341FA1-1-AAAA", "Description": "Rich Media Sessions"}],
    REST.probe: [{"PeerAddress": "10.0.0.11"}],
}


def _certificate() -> str:
    from datetime import UTC, datetime, timedelta

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "p1.example.com")])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=30))
        .sign(key, hashes.SHA256())
    )
    return cert.public_bytes(serialization.Encoding.PEM).decode()


CERT_PEM = _certificate()


class Wire:
    """The peer's HTTPS side: answers, and a record of (path, query) requested."""

    def __init__(
        self, *, cdb: bool = True, broken: tuple[str, ...] = (), garbled: tuple[str, ...] = ()
    ):
        self.cdb = cdb
        self.broken = broken  # paths answering HTTP 500
        self.garbled = garbled  # paths answering 200 with a body that is not JSON
        self.requests: list[str] = []
        self.lock = threading.Lock()

    def __call__(self, request: httpx.Request) -> httpx.Response:
        path = request.url.path
        with self.lock:
            self.requests.append(path + ("?sizeonly" if "sizeonly" in str(request.url) else ""))
        if path in self.broken:
            return httpx.Response(500, json={"Message": "boom"})
        if path in self.garbled:
            return httpx.Response(200, content=b"<html>maintenance</html>")
        if path.startswith(CDB.prefix):
            if not self.cdb:
                return httpx.Response(404, json={"Message": "CDB REST API access is disabled"})
            return httpx.Response(200, json=CDB_TABLES[path[len(CDB.prefix) :]])
        if path in PROVISIONING:
            return httpx.Response(200, json=PROVISIONING[path])
        if path in (REST.server_cert, REST.trust_store):
            return httpx.Response(200, text=CERT_PEM)
        return httpx.Response(404, json={"Message": "Not found"})


class Shell:
    """The peer's one SSH channel: answers, and whether two commands ever overlapped."""

    ANSWERS: dict[str, str] = {
        "xConfiguration Alternates": alternates_answer(
            ["10.0.0.11", "10.0.0.12"], 1, "c1.example.com"
        ),
        "xStatus Alternates": (
            '*s Alternates: /\n  LocalPeer: "1"\n  ConfigurationMaster: "1"\n'
            '  Database: "Active"\n  Replication: "Synchronised"\n'
            '  LastSync: "2026-11-25T04:00:00Z"\n  NextSync: "2026-11-25T04:02:00Z"\n'
            '  FactoryResetPending: "False"\n'
            '  Peer 1:\n    Address: "10.0.0.11"\n    Status: "Active"\n'
            '  Peer 2:\n    Address: "10.0.0.12"\n    Status: "Active"\n*s/end\n\nOK\n'
        ),
        "xStatus Warnings": "*s Warnings: /\n*s/end\n\nOK\n",
        "xConfiguration H323": '*c xConfiguration H323 Mode: "On"\nOK\n',
    }

    def __init__(self) -> None:
        self.active = 0
        self.overlapped = False
        self.sent: list[str] = []

    def send(self, command: str) -> str:
        self.active += 1
        self.overlapped |= self.active > 1
        self.sent.append(command)
        try:
            return self.ANSWERS[command]
        finally:
            self.active -= 1

    def close(self) -> None:
        pass


def routed(
    transport: str = "auto",
    *,
    cdb: bool = True,
    broken: tuple[str, ...] = (),
    garbled: tuple[str, ...] = (),
) -> tuple[RoutedAppliance, Wire, Shell]:
    target = ConnectionTarget(
        host="p1", hostname="10.0.0.11", password=SecretStr("x-Secret-1"), transport=transport
    )
    wire, shell = Wire(cdb=cdb, broken=broken, garbled=garbled), Shell()
    rest = RestAppliance(target, transport=httpx.MockTransport(wire), sleep=lambda s: None)
    ssh = SshAppliance(target, shell_factory=lambda t: shell, rest=rest)
    return RoutedAppliance(target, rest=rest, ssh=ssh), wire, shell


def _content(app: RoutedAppliance, facts: Any) -> dict[str, Any]:
    return facts.model_dump(exclude={"gathered_at", "rtt_ms"})


BROKEN = {
    "nothing": (),
    "a settings table": (CDB.prefix + CDB.cluster,),
    "a status table and dns": (CDB.prefix + CDB.database, REST.dns),
    "alarms and the trust store": (CDB.prefix + CDB.alarms, REST.trust_store),
}


@pytest.mark.parametrize("broken", BROKEN.values(), ids=BROKEN.keys())
@pytest.mark.parametrize("transport", ["auto", "rest"])
def test_concurrent_reads_give_the_same_facts_as_reading_one_after_another(
    transport: str, broken: tuple[str, ...]
) -> None:
    """Each REST resource its own request, in parallel == the appliance's own
    read_* methods called in order (the PeerFacts before this change), errors
    included."""
    app, wire, _ = routed(transport, broken=broken)
    new = read_peer_facts(app, spec("p1", transport))
    # The appliance's public methods, one after another (no request-level plan).
    old_app, _, _ = routed(transport, broken=broken)
    wrapped = _Public(old_app)
    old = read_peer_facts(wrapped, spec("p1", transport), per_peer=1)  # type: ignore[arg-type]
    assert new.reachable
    assert (new.error is None) == (not broken)
    assert _content(app, new) == _content(old_app, old)
    if not broken:  # each resource once (the CDB availability probe is sizeonly)
        counts = Counter(wire.requests)
        assert all(n == 1 for n in counts.values()), counts


class _Public:
    """A RoutedAppliance seen through its public methods only."""

    def __init__(self, app: RoutedAppliance):
        self.app = app
        self.host = app.host

    @property
    def transport_name(self) -> str:
        return self.app.transport_name

    @property
    def last_unknown(self) -> dict[str, str]:
        return self.app.last_unknown

    def __getattr__(self, name: str) -> Callable[..., Any]:
        return getattr(self.app, name)  # type: ignore[no-any-return]


def test_status_reads_only_what_it_shows_each_once() -> None:
    app, wire, _ = routed("auto")
    facts = read_peer_facts(app, spec("p1"), needs=STATUS_FACTS)
    assert facts.reachable and facts.error is None
    assert facts.settings is not None and facts.status is not None
    assert facts.system is not None and facts.system.version == "X15.2.1"
    assert facts.system.role is Role.EXPRESSWAY_C and facts.system.platform == "medium"
    assert restart_pending(facts) is True
    assert facts.certificate is None and facts.rtt_ms is None
    # The DNS and NTP servers as `exops check` reads them (status shows them); the
    # option keys and the DNS names are not read.
    assert facts.system.dns_servers is not None and facts.system.ntp_servers is not None
    assert "system.dns_servers" not in facts.unknown
    assert facts.unknown["system.option_keys"].startswith("not read")
    # The route is the master table's own read (no sizeonly probe, no second read).
    assert sorted(wire.requests) == sorted(
        [
            REST.sysinfo,
            REST.dns_servers,
            REST.ntp_servers,
            *(
                CDB.prefix + t
                for t in (
                    CDB.alternates,
                    CDB.master,
                    CDB.cluster,
                    CDB.mapping,
                    CDB.database,
                    CDB.peer_status,
                    CDB.alarms,
                )
            ),
        ]
    )


def test_the_routes_read_is_the_settings_master_table() -> None:
    """The CDB route is learnt from the master table's own read (issue 22: one request
    per peer less; the rounds stay 3): its answer is the master the settings
    are built from, and the table is not asked again."""
    app, wire, _ = routed("auto")
    facts = read_peer_facts(app, spec("p1"), needs=STATUS_FACTS)
    assert facts.error is None and facts.settings is not None
    assert facts.settings.primary == 1  # alternatesmaster's master_idx
    assert wire.requests.count(CDB.prefix + CDB.master) == 1
    assert not any("sizeonly" in r for r in wire.requests)


@pytest.mark.parametrize("cdb", [True, False])
def test_a_known_route_is_not_asked_again(cdb: bool) -> None:
    """The next gather on the same appliance (a session's wait, gate or verify) asks
    no route: with CDB REST off, a peer whose HTTPS then fails is still read over SSH
    (as before the route was the master table's read)."""
    app, wire, _ = routed("auto", cdb=cdb)
    first = read_peer_facts(app, spec("p1"), needs=STATUS_FACTS)
    assert first.error is None, first.error
    masters = wire.requests.count(CDB.prefix + CDB.master)
    assert masters == 1
    wire.requests.clear()
    again = read_peer_facts(app, spec("p1"), needs=STATUS_FACTS)
    assert again.error is None, again.error
    # CDB on: the master is read once, as its own table; off: never over HTTPS.
    assert wire.requests.count(CDB.prefix + CDB.master) == (1 if cdb else 0)


def test_a_master_table_answered_not_in_json_is_read_again_for_its_error() -> None:
    """The route holds (the interface answered), the settings are unknown with the
    table's own error, and status and alarms are still read."""
    app, wire, _ = routed("auto", garbled=(CDB.prefix + CDB.master,))
    facts = read_peer_facts(app, spec("p1"), needs=STATUS_FACTS)
    assert facts.settings is None and facts.status is not None and facts.alarms is not None
    assert facts.error is not None
    assert "read settings" in facts.error and "is not JSON" in facts.error, facts.error
    assert facts.transport == "rest"
    assert wire.requests.count(CDB.prefix + CDB.master) == 2


def test_ssh_reads_of_a_peer_are_one_job_and_never_overlap() -> None:
    """CDB REST off (auto): settings, status, alarms and the H.323 mode go over
    the peer's one SSH shell, in one job, one command after another."""
    app, _wire, shell = routed("auto", cdb=False)
    plan = plan_for(app, ALL_FACTS)
    first = plan.initial()
    assert not any(j.ssh for j in first)  # the route is not known yet
    from exops.facts.gather import _Outcome

    later = plan.after(_Outcome(values={"route": (False, None)}))
    ssh_jobs = [j for j in later if j.ssh]
    assert len(ssh_jobs) == 1
    assert [k for k, _ in ssh_jobs[0].reads] == [
        "ssh settings",
        "ssh status",
        "ssh alarms",
        "ssh h323",
    ]
    # Nothing of the cluster over REST; the system resources beside the SSH job, one
    # after another on one connection (issue 22), not one TLS handshake each.
    rest_jobs = [j for j in later if not j.ssh]
    assert [[k for k, _ in j.reads] for j in rest_jobs] == [
        ["sysinfo", "dns", "dns_servers", "ntp_servers", "optionkey"]
    ]
    facts = read_peer_facts(app, spec("p1"))
    assert facts.reachable and facts.error is None, facts.error
    assert facts.transport == "rest+ssh"
    assert facts.settings is not None and facts.settings.cluster_name == "c1.example.com"
    assert facts.system is not None and facts.system.h323_enabled is True
    assert not shell.overlapped
    assert sorted(shell.sent) == sorted(Shell.ANSWERS)


def test_a_garbled_cdb_table_is_that_facts_error_and_the_rest_is_read() -> None:
    app, _wire, _ = routed("rest")
    saved = CDB_TABLES[CDB.database]
    CDB_TABLES[CDB.database] = [{"peer": "10.0.0.11", "records": "junk"}]
    try:
        facts = read_peer_facts(app, spec("p1", "rest"))
    finally:
        CDB_TABLES[CDB.database] = saved
    assert facts.reachable is True
    assert facts.status is None and facts.settings is not None and facts.system is not None
    assert facts.error is not None and facts.error.startswith("p1 read ")


def test_every_check_declares_its_facts() -> None:
    from exops.plan.preflight import CHECK_FACTS, CHECKS, checks_facts

    assert set(CHECK_FACTS) == set(CHECKS)
    assert all(Fact.SETTINGS in f for f in CHECK_FACTS.values())
    facts = checks_facts(["reachable", "size", "role", "tls_names"])
    assert facts == {Fact.SETTINGS, Fact.ALARMS, Fact.IDENTITY, Fact.CERTIFICATE}  # size: ALARMS
    assert checks_facts(["no-such-check"]) == ALL_FACTS  # unknown: everything


def test_plan_of_an_ssh_transport_peer_puts_every_cli_read_in_one_job() -> None:
    app, _, _ = routed("ssh")
    jobs = plan_for(app, ALL_FACTS).initial()
    assert [j.ssh for j in jobs] == [True, False]  # the CLI job, then certificates over REST
    assert [k for k, _ in jobs[0].reads] == [
        "probe",
        "ssh settings",
        "ssh status",
        "ssh alarms",
        "ssh system",
    ]


def test_an_appliance_error_is_not_a_transport_failure() -> None:
    crowd = Crowd(target=1, deadline_s=0.1)
    app = CrowdAppliance("p1", crowd, read_alarms=ApplianceError("HTTP 500", host="p1"))
    facts = read_peer_facts(app, spec("p1"), needs=LIGHT_READS)  # type: ignore[arg-type]
    assert facts.reachable is True and facts.error == "p1: HTTP 500"


# -- the inventory: one libyaml parse, Nornir's inventory in memory -------------------

HOSTS = """\
c1-p1:
  hostname: 127.0.0.11
  port: 8443
  groups: [c1]
  data: {fqdn: c1-p1.example.com, role: Expressway-C, ssh_port: 8022, slot: 1}
c1-p2:
  hostname: 127.0.0.12
  port: 8443
  username: ops
  groups: [c1, site-a]
  data: {fqdn: c1-p2.example.com, slot: 2}
c2-p1:
  hostname: 127.0.0.21
  groups: [c2]
"""
GROUPS = """\
c1:
  data: {cluster_name: c1.example.com, transport: rest}
c2:
  data: {cluster_name: c2.example.com}
site-a:
  data: {description: lab}
"""


def write_inventory(path: Path, hosts: str = HOSTS) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    (path / "hosts.yaml").write_text(hosts)
    (path / "groups.yaml").write_text(GROUPS)
    (path / "defaults.yaml").write_text("username: admin\n")
    return path


def test_nornir_inventory_in_memory_has_the_hosts_and_options_of_simpleinventory(
    tmp_path: Path,
) -> None:
    from nornir import InitNornir

    from exops.facts.session import CONNECTION, Session

    directory = write_inventory(tmp_path / "inv")
    inventory = load_inventory(directory, Settings())
    env = {"EXOPS_PASSWORD": "x-Secret-1"}
    session = Session(inventory, Settings(), inventory.select(None), environ=env)
    ours = session.nornir().inventory
    simple = InitNornir(
        inventory={
            "plugin": "SimpleInventory",
            "options": {
                "host_file": str(directory / "hosts.yaml"),
                "group_file": str(directory / "groups.yaml"),
                "defaults_file": str(directory / "defaults.yaml"),
            },
        },
        logging={"enabled": False},
    ).inventory
    assert set(ours.hosts) == set(simple.hosts) == {"c1-p1", "c1-p2", "c2-p1"}
    for name, theirs in simple.hosts.items():
        host = ours.hosts[name]
        # The port is the one exops connects to (SimpleInventory: None when unset).
        assert (host.hostname, host.port, host.username) == (
            theirs.hostname,
            theirs.port or 443,
            theirs.username,
        )
        cluster = session.specs[name].cluster
        assert [g.name for g in host.groups] == [cluster]  # the cluster group
        assert host.groups[0].data == dict(inventory.clusters[cluster].data)
        options = host.connection_options[CONNECTION]
        assert options.extras == {"target": session.targets[name]}
        assert "x-Secret-1" not in repr(host.dict())
    session.close()


def test_a_subset_session_has_only_its_hosts(tmp_path: Path) -> None:
    from exops.facts.session import Session

    inventory = load_inventory(write_inventory(tmp_path / "inv"), Settings())
    env = {"EXOPS_PASSWORD": "x-Secret-1"}
    session = Session(inventory, Settings(), inventory.select(["c2"]), environ=env)
    assert set(session.nornir().inventory.hosts) == {"c2-p1"}
    app = session.appliance("c2-p1")
    assert app.host == "c2-p1"
    assert session.appliance("c2-p1") is app  # one connection per peer per session
    session.close()


def test_the_libyaml_parse_still_names_file_and_line(tmp_path: Path) -> None:
    bad = HOSTS.replace("  port: 8443\n  username: ops", "  port: [8443\n  username: ops")
    with pytest.raises(InventoryError, match=r"hosts\.yaml:9: not valid YAML"):
        load_inventory(write_inventory(tmp_path / "a", bad), Settings())
    unknown = HOSTS.replace("  username: ops", "  colour: blue")
    with pytest.raises(InventoryError, match=r"hosts\.yaml:9: c1-p2\.colour: unknown key"):
        load_inventory(write_inventory(tmp_path / "b", unknown), Settings())


def test_the_inventory_is_parsed_with_libyaml() -> None:
    """The inventory is read by exops's one YAML reader, which parses with libyaml."""
    import yaml

    from exops.core import yamldoc

    assert issubclass(yamldoc.Loader, getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    assert yaml.__with_libyaml__  # the project's environment has it


def test_a_peer_gets_no_more_connections_than_its_share_of_the_threads() -> None:
    """4 peers on 8 threads: 2 requests in flight per peer (not 4: idle extra
    connections would only cost TLS handshakes), all 4 peers at once."""
    crowd = Crowd(target=8)
    peers = [
        PeerRead(spec(f"p{i}"), CrowdAppliance(f"p{i}", crowd))  # type: ignore[arg-type]
        for i in range(4)
    ]
    facts = Gatherer(workers=8).gather(peers, ALL_FACTS - {Fact.FQDN})
    assert all(f.reachable for f in facts)
    assert crowd.max == 8
    assert set(crowd.max_per_peer.values()) == {2}


# -- round trips on a fake clock: the real scheduler, one tick per round trip ---------


class TickPool:
    """Stands in for the thread pool: what is submitted during a tick runs at the
    next one, so each tick is one round trip of the appliance (a fake clock)."""

    def __init__(self) -> None:
        self.queue: list[Callable[[], None]] = []

    def submit(self, task: Callable[[], None]) -> None:
        self.queue.append(task)

    def tick(self) -> None:
        batch, self.queue = self.queue, []
        for task in batch:
            task()


def round_trips(apps: list[Any], needs: frozenset[Fact], per_peer: int = PEER_CONCURRENCY) -> int:
    from exops.facts.gather import _Gather, _Run

    pool = TickPool()
    runs = [
        _Run(
            i,
            PeerRead(spec(a.host, getattr(a, "target", spec("x")).transport), a),
            plan_for(a, needs),
        )
        for i, a in enumerate(apps)
    ]
    gather = _Gather(pool, 10_000, runs, per_peer)  # type: ignore[arg-type]
    with gather.lock:
        for run in runs:
            gather._pump(run)
    ticks = 0
    while pool.queue:
        pool.tick()
        ticks += 1
    assert gather.done.is_set() and all(r is not None and r.reachable for r in gather.results)
    return ticks


@pytest.mark.parametrize("transport", ["auto", "rest"])
def test_status_costs_three_round_trips(transport: str) -> None:
    """The first request alone (the CDB route, which is the master table's read, or
    sysinfo), then 9 or 10 in two rounds of 5 (issue 22: with 4 at once, the DNS and
    NTP server lists took a fourth round)."""
    apps = [routed(transport)[0] for _ in range(6)]
    assert round_trips(apps, STATUS_FACTS) == 3
    # One request at a time it would be one round trip per request: 10 either way
    # (auto: the route brings the master table; rest: no route asked).
    assert round_trips([routed(transport)[0]], STATUS_FACTS, per_peer=1) == 10


def test_light_and_full_gathers_on_the_fake_clock() -> None:
    # Waits: the 7 cluster tables after the CDB probe: 1 + 2 rounds.
    assert round_trips([routed("auto")[0]], LIGHT_READS) == 3
    # Everything: 1 + ceil(15 jobs / 5); the certificate job is 2 requests in a
    # row, so on the wire it can be one round more.
    assert round_trips([routed("auto")[0]], ALL_FACTS - {Fact.FQDN}) == 4


def test_a_one_shot_gather_closes_each_peer_as_soon_as_it_is_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`exops status` reads each peer once: with ``release`` the session closes a
    peer's connections (its SSH session and transport thread, its HTTPS pool) as soon
    as that peer's facts are complete, so a big fleet never holds every session open
    at once (1,500 peers over SSH: 345 MiB and a thread per session, issue 22).
    Without it (a runbook's gathers) the connections stay open for the next read."""
    import exops.facts.session as session_mod

    closed: list[str] = []

    class App:
        def __init__(self, host: str):
            self.host = host

        def close(self) -> None:
            closed.append(self.host)

    seen: list[tuple[str, list[str]]] = []

    class OneByOne:
        def __init__(self, **_: Any):
            pass

        def gather(self, peers: list[PeerRead], needs: Any, on_peer: Any) -> list[Any]:
            out = []
            for p in peers:  # each peer complete in turn: what is closed by then
                on_peer(p.spec.name)
                out.append(p.spec.name)
            return out

    monkeypatch.setattr(session_mod, "Gatherer", OneByOne)
    monkeypatch.setattr(session_mod, "cluster_facts", lambda c, facts: facts)
    inventory = load_inventory(write_inventory(tmp_path / "inv"), Settings())
    env = {"EXOPS_PASSWORD": "x-Secret-1"}
    session = session_mod.Session(inventory, Settings(), inventory.select(None), environ=env)
    apps = {h: App(h) for h in session.specs}
    monkeypatch.setattr(session, "appliance", lambda host: apps[host])
    hosts = {h: SimpleNamespace(connections={session_mod.CONNECTION: a}) for h, a in apps.items()}
    monkeypatch.setattr(
        session, "nornir", lambda: SimpleNamespace(inventory=SimpleNamespace(hosts=hosts))
    )

    def on_peer(host: str) -> None:
        seen.append((host, list(closed)))

    session.gather_many(["c1", "c2"], needs=STATUS_FACTS, on_peer=on_peer, release=True)
    assert seen == [("c1-p1", ["c1-p1"]), ("c1-p2", ["c1-p1", "c1-p2"]), ("c2-p1", closed)]
    assert closed == ["c1-p1", "c1-p2", "c2-p1"]
    closed.clear()
    seen.clear()
    session.gather_many(["c1", "c2"], needs=STATUS_FACTS, on_peer=on_peer)
    assert closed == [] and [h for h, _ in seen] == ["c1-p1", "c1-p2", "c2-p1"]


# -- a one-shot read of a big fleet: at most a window of peers at once (issue 22) ------


class Window:
    """Peers started (first read) and finished (``on_peer``): the most in flight at once."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.started: set[str] = set()
        self.finished: set[str] = set()
        self.finished_at: dict[str, Any] = {}
        self.max = 0

    def start(self, host: str) -> None:
        with self.lock:
            self.started.add(host)
            self.max = max(self.max, len(self.started - self.finished))

    def done(self, host: str) -> None:
        from datetime import UTC, datetime

        with self.lock:
            self.finished.add(host)
            self.finished_at[host] = datetime.now(UTC)


class WindowAppliance(CrowdAppliance):
    def __init__(self, host: str, crowd: Crowd, window: Window):
        super().__init__(host, crowd)
        self.window = window

    def _read(self, name: str, value: Any) -> Any:
        self.window.start(self.host)
        return super()._read(name, value)


def test_a_gather_with_a_window_reads_at_most_that_many_peers_at_once() -> None:
    """``Gatherer(peers=2)``: 7 peers, never more than 2 being read at once (each read
    waits for a third peer that never comes, up to its deadline); each finished peer
    admits the next, every peer is read and the facts keep the order given. A peer's
    ``gathered_at`` is when its reads began: never before an earlier peer finished
    when it had to wait for a place."""
    crowd, window = Crowd(target=3, deadline_s=0.1), Window()
    peers = [
        PeerRead(spec(f"p{i}"), WindowAppliance(f"p{i}", crowd, window))  # type: ignore[arg-type]
        for i in range(7)
    ]
    facts = Gatherer(workers=100, peers=2).gather(peers, LIGHT_READS, window.done)
    assert [f.host for f in facts] == [f"p{i}" for i in range(7)]
    assert all(f.reachable and f.error is None for f in facts)
    assert window.max == 2
    assert window.finished == {f"p{i}" for i in range(7)}
    first_done = min(window.finished_at.values())
    assert all(f.gathered_at >= first_done for f in facts[2:])
    # Without a window every peer starts at once (the latch opens: 3 in flight).
    crowd, window = Crowd(target=3, deadline_s=2.0), Window()
    peers = [
        PeerRead(spec(f"p{i}"), WindowAppliance(f"p{i}", crowd, window))  # type: ignore[arg-type]
        for i in range(7)
    ]
    Gatherer(workers=100).gather(peers, LIGHT_READS, window.done)
    assert window.max > 2


def test_a_long_row_of_never_connected_peers_with_a_window_of_one() -> None:
    """Peers that never connected settle as soon as they are admitted; each admits the
    next in a loop, not by recursion (3,000 of them: old code would overflow the stack)."""
    peers = [PeerRead(spec(f"p{i}"), None, "connection refused") for i in range(3000)]
    facts = Gatherer(workers=4, peers=1).gather(peers, LIGHT_READS)
    assert [f.host for f in facts] == [f"p{i}" for i in range(3000)]
    assert all(not f.reachable and f.error == "connection refused" for f in facts)


def test_only_a_one_shot_gather_reads_a_window_of_peers_at_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``release`` (exops status): at most READ_AT_ONCE x workers peers at once, since a
    released peer holds nothing; a runbook's gathers keep their connections open
    anyway, so they read every peer at once as before."""
    import exops.facts.session as session_mod

    made: list[dict[str, Any]] = []

    class Recording:
        def __init__(self, **kwargs: Any):
            made.append(kwargs)

        def gather(self, peers: list[PeerRead], needs: Any, on_peer: Any) -> list[Any]:
            return [p.spec.name for p in peers]

    monkeypatch.setattr(session_mod, "Gatherer", Recording)
    monkeypatch.setattr(session_mod, "cluster_facts", lambda c, facts: facts)
    inventory = load_inventory(write_inventory(tmp_path / "inv"), Settings())
    env = {"EXOPS_PASSWORD": "x-Secret-1"}
    settings = Settings(workers=7)
    session = session_mod.Session(inventory, settings, inventory.select(None), environ=env)
    monkeypatch.setattr(session, "appliance", lambda host: SimpleNamespace(close=lambda: None))
    monkeypatch.setattr(session, "_releasing", lambda on_peer: on_peer)
    session.gather_many(["c1", "c2"], needs=STATUS_FACTS, release=True)
    session.gather_many(["c1", "c2"], needs=STATUS_FACTS)
    assert [m.get("peers") for m in made] == [session_mod.READ_AT_ONCE * 7, None]
    assert all(m["workers"] == 7 * PEER_CONCURRENCY for m in made)


def test_a_windowed_peer_gets_its_share_of_the_threads_of_the_peers_read_at_once() -> None:
    """The threads are shared among the peers being read, not all the peers given: 6
    peers, a window of 2 and 2 x PEER_CONCURRENCY threads give each peer being read
    PEER_CONCURRENCY requests in flight (old code: 8 threads / 6 peers = 2, half the
    threads idle: 1,500 peers over HTTPS took longer with the window than without)."""
    threads = 2 * PEER_CONCURRENCY
    crowd = Crowd(target=threads, deadline_s=0.3)
    peers = [
        PeerRead(spec(f"p{i}"), CrowdAppliance(f"p{i}", crowd))  # type: ignore[arg-type]
        for i in range(6)
    ]
    facts = Gatherer(workers=threads, per_peer=PEER_CONCURRENCY, peers=2).gather(
        peers, ALL_FACTS - {Fact.FQDN}
    )
    assert all(f.reachable for f in facts)
    assert max(crowd.max_per_peer.values()) == PEER_CONCURRENCY
    assert crowd.max <= threads


def test_a_failed_route_still_reads_the_system_resources() -> None:
    """The route (the CDB master row) answering HTTP 500: the cluster facts are that
    error, and the system resources are read all the same (they wait for the route's
    answer, issue 22, but never depend on it)."""
    app, wire, _shell = routed("auto", broken=(CDB.prefix + CDB.master,))
    facts = read_peer_facts(app, spec("p1"), needs=STATUS_FACTS)
    assert facts.reachable is True
    assert facts.error is not None and "500" in facts.error
    assert facts.system is not None and facts.system.version
    assert facts.system.dns_servers is not None
    assert REST.sysinfo in wire.requests and REST.ntp_servers in wire.requests


# -- the worker threads: shared by every gather, reused, never a deadlock -----------


class ThreadNoting:
    """An ``Appliance`` (public reads) that notes the thread each read runs on."""

    transport_name = "rest"

    def __init__(self, host: str, seen: set[threading.Thread], nested: Any = None):
        self.host = host
        self.seen = seen
        self.nested = nested  # a read of settings that first gathers this (a gather in a read)

    def _read(self, value: Any) -> Any:
        self.seen.add(threading.current_thread())
        return value

    def read_settings(self) -> Any:
        if self.nested is not None:
            self.nested()
        return self._read(None)

    def read_status(self) -> Any:
        return self._read(None)

    def read_alarms(self) -> Any:
        return self._read(())

    def close(self) -> None:
        pass


def test_worker_threads_are_reused_across_gathers() -> None:
    """20 gathers of 2 peers x 3 reads start no more threads than were ever in flight
    at once (6), not a pool each (issue 22: 105 thread starts per cluster in an
    ordered restart, each one scanning every live thread)."""
    pool = Workers()
    seen: set[threading.Thread] = set()
    apps = [ThreadNoting(f"p{i}", seen) for i in range(2)]
    for _ in range(20):
        peers = [PeerRead(spec(a.host), a) for a in apps]  # type: ignore[arg-type]
        facts = Gatherer(workers=100, pool=pool).gather(peers, LIGHT_READS)
        assert [f.host for f in facts] == ["p0", "p1"]
        assert all(f.reachable and f.error is None for f in facts)
    assert pool.started <= 6 and len(seen) <= 6


def test_gathers_share_the_process_workers_by_default() -> None:
    seen: set[threading.Thread] = set()
    app = ThreadNoting("p0", seen)
    started = WORKERS.started
    for _ in range(20):
        assert read_peer_facts(app, spec("p0"), light=True).reachable  # type: ignore[arg-type]
    assert WORKERS.started - started <= 3
    assert all(t.daemon and t.name.startswith("exops-gather") for t in seen)


def test_a_gather_inside_a_read_of_a_gather_never_waits_for_a_worker() -> None:
    """Three gathers nested in each other's reads, one request in flight each: every
    task gets a worker at once (an idle one or a new one), so none waits on another."""
    pool = Workers()
    seen: set[threading.Thread] = set()

    def level(depth: int) -> ThreadNoting:
        if depth == 0:
            return ThreadNoting("p0", seen)
        inner = level(depth - 1)

        def nested() -> None:
            (facts,) = Gatherer(workers=1, per_peer=1, pool=pool).gather(
                [PeerRead(spec(inner.host), inner)],  # type: ignore[arg-type]
                LIGHT_READS,
            )
            assert facts.reachable and facts.error is None

        return ThreadNoting(f"p{depth}", seen, nested)

    outer = level(3)
    (facts,) = Gatherer(workers=1, per_peer=1, pool=pool).gather(
        [PeerRead(spec(outer.host), outer)],  # type: ignore[arg-type]
        LIGHT_READS,
    )
    assert facts.reachable and facts.error is None
    assert pool.started >= 4  # each level's read ran while the outer ones waited


def test_ctrl_c_starts_no_new_read_and_waits_for_those_in_flight(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Ctrl-C while a peer's first read is in flight: the gather raises
    KeyboardInterrupt only once that read has ended, and none of the peer's other
    reads starts (as a pool's ``shutdown(wait=True, cancel_futures=True)`` did)."""
    import signal

    from exops.facts import gather as gather_mod

    if threading.current_thread() is not threading.main_thread():
        pytest.skip("a signal is delivered to the main thread only")
    log: list[str] = []
    stopping: dict[str, Any] = {}
    stop = gather_mod._Gather._stop

    def noted_stop(self: Any) -> None:
        stopping["gather"] = self
        stop(self)

    monkeypatch.setattr(gather_mod._Gather, "_stop", noted_stop)

    class Interrupted(ThreadNoting):
        def read_settings(self) -> Any:  # the first read (LIGHT_READS: settings first)
            log.append("start")
            signal.pthread_kill(threading.main_thread().ident or 0, signal.SIGINT)
            end = time.monotonic() + 30
            while time.monotonic() < end:  # until the gather is stopping
                g = stopping.get("gather")
                if g is not None and g.closed:
                    break
                time.sleep(0.01)
            log.append("end")
            return None

        def read_status(self) -> Any:
            log.append("status")
            return None

        def read_alarms(self) -> Any:
            log.append("alarms")
            return ()

    app = Interrupted("p0", set())
    with pytest.raises(KeyboardInterrupt):
        Gatherer(workers=10, pool=Workers()).gather(
            [PeerRead(spec("p0"), app)],  # type: ignore[arg-type]
            LIGHT_READS,
        )
    assert log == ["start", "end"]


def test_a_burst_leaves_at_most_max_idle_workers_behind() -> None:
    """6 peers' first reads in flight at once, then none: the workers beyond
    ``max_idle`` end at once instead of idling (memory after the first read of a
    whole fleet)."""
    pool = Workers(max_idle=2)
    crowd = Crowd(target=6)
    peers = [
        PeerRead(spec(f"p{i}"), CrowdAppliance(f"p{i}", crowd))  # type: ignore[arg-type]
        for i in range(6)
    ]
    facts = Gatherer(workers=100, pool=pool).gather(peers, LIGHT_READS)
    assert all(f.reachable for f in facts) and crowd.max >= 6
    end = time.monotonic() + 10
    while pool.alive > 2 and time.monotonic() < end:  # each ends as its task returns
        time.sleep(0.01)
    assert pool.alive == 2 and pool.started >= 6

"""Simulated cluster behaviour seen from outside (REST, SSH, TCP), per docs/contract.md 5-6."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from labkit import (
    Rest,
    cli,
    config_values,
    curl,
    holds,
    port_open,
    require,
    status_values,
    wait_for,
)

pytestmark = pytest.mark.integration

SCALE = 0.005  # replication interval 0.6 s, restart downtime 1.2 s


@pytest.fixture
def make(lab_factory: Any) -> Iterator[Callable[..., tuple[Any, Rest]]]:
    clients: list[Rest] = []

    def start(**kwargs: Any) -> tuple[Any, Rest]:
        kwargs.setdefault("time_scale", SCALE)
        kwargs.setdefault("cdb_rest", True)
        lab = lab_factory(**kwargs)
        clients.append(Rest(lab))
        return lab, clients[-1]

    yield start
    for client in clients:
        client.close()


def write(rest: Rest, peer: str, row: str, **fields: Any) -> None:
    """POST /api/management/<row> with <field>=<value> form pairs (the CDB write form)."""
    form = {
        k: ("true" if v is True else "false" if v is False else str(v)) for k, v in fields.items()
    }
    r = rest.post(peer, f"/api/management/{row}", data=form)
    assert r.status_code == 200, (peer, row, r.status_code, r.text)
    assert r.json() == {"Message": "The operation was successful"}


def _states(rest: Rest, peer: str) -> dict[str, str]:
    return {r["peer"]: r["state"] for r in rest.table(peer, "status/clusterpeer")}


def _interval(lab: Any) -> float:
    return float(lab.control.metrics()["replication_interval_s"])


def _sync_runs(lab: Any, peer: str) -> int:
    """Replication runs ``peer`` has begun (its log), successful or not."""
    return lab.control.logs(peer).count('Detail="Starting synchronisation"')


def _restart_and_wait(lab: Any, rest: Rest, *peers: str) -> None:
    """Restart peers over REST; see both listeners go down, then come back."""
    for peer in peers:
        rest.restart(peer)
    for peer in peers:
        ip = lab.peers[peer]
        wait_for(
            lambda ip=ip: not port_open(ip, lab.https_port) and not port_open(ip, lab.ssh_port),
            f"{peer} listeners to close",
            timeout=3,
            every=0.02,
        )
    for peer in peers:
        ip = lab.peers[peer]
        wait_for(
            lambda ip=ip: port_open(ip, lab.https_port) and port_open(ip, lab.ssh_port),
            f"{peer} listeners to reopen",
            timeout=10,
        )


def test_restart_downtime_follows_the_contract(make: Any) -> None:
    """Expressway Administrator Guide (Maintenance): "A restart takes approximately 3
    minutes." / "A reboot takes approximately 5 minutes." The REST restart is modelled
    as the restart, xCommand Boot as the reboot (INFERRED; docs/contract.md 5)."""
    lab, _ = make(peers=1, preset="unclustered")
    metrics = lab.control.metrics()
    assert metrics["restart_downtime_s"] == pytest.approx(180 * SCALE)
    assert metrics["reboot_downtime_s"] == pytest.approx(300 * SCALE)
    assert metrics["replication_interval_s"] == pytest.approx(120 * SCALE)


def test_saving_a_cluster_of_one_raises_20007_until_restart(make: Any) -> None:
    require("ssh")
    lab, rest = make(peers=1, preset="unclustered")
    ip = lab.peers["c1-p1"]
    assert rest.raised("c1-p1") == set()
    assert rest.record("c1-p1", "status/clusterdatabase")["replication"] == "Not clustered"
    write(rest, "c1-p1", "configuration/alternatesmaster", master_idx=0)
    write(rest, "c1-p1", "configuration/cluster", cluster_name="one.lab.example.com")
    assert rest.raised("c1-p1") == set()  # primary and name need no restart
    write(rest, "c1-p1", "configuration/alternates/index/0", ip_address=ip)
    assert "20007" in rest.raised("c1-p1")
    assert "20007" in cli(lab, "c1-p1", "xStatus Alarm")
    # Saved (what reads show) vs in force (what clustering uses).
    assert rest.table("c1-p1", "configuration/alternates")[0]["ip_address"] == ip
    assert rest.table("c1-p1", "status/clusterpeer") == []
    assert rest.record("c1-p1", "status/clusterdatabase")["status"] == "Inactive"
    # Undo (save back what is in force) lowers it; redo raises it again.
    write(rest, "c1-p1", "configuration/alternates/index/0", ip_address="")
    assert "20007" not in rest.raised("c1-p1")
    write(rest, "c1-p1", "configuration/alternates/index/0", ip_address=ip)
    assert "20007" in rest.raised("c1-p1")
    holds(  # read at every poll over two replication intervals
        lambda: "20007" in rest.raised("c1-p1"),
        "20007 raised until the restart",
        seconds=2 * _interval(lab),
    )

    _restart_and_wait(lab, rest, "c1-p1")
    wait_for(lambda: "20007" not in rest.raised("c1-p1"), "20007 lowered after restart", 5)
    (me,) = rest.table("c1-p1", "status/clusterpeer")
    assert (me["peer"], me["state"], me["local_peer"], me["index"]) == (ip, "Active", True, 0)
    status = status_values(cli(lab, "c1-p1", "xStatus Alternates"))
    assert status["LocalPeer"] == "1"
    assert status["Database"] == "Active"
    assert status["Peer 1 Status"] == "Active"
    alarm = next(a for a in rest.table("c1-p1", "status/alarm") if a["id"] == "20007")
    assert alarm["status"] == "lowered"
    assert alarm["title"].startswith("Restart required")


def test_listed_but_not_joined_peer_shows_unknown_then_failed(make: Any) -> None:
    require("ssh")
    lab, rest = make(clusters=2, peers=1, preset="formed", time_scale=0.01)
    newcomer = lab.peers["c2-p1"]
    write(rest, "c1-p1", "configuration/alternates/index/1", ip_address=newcomer)
    assert _states(rest, "c1-p1") == {lab.peers["c1-p1"]: "Active", newcomer: "Unknown"}
    assert "20007" not in rest.raised("c1-p1")  # another peer's slot needs no restart
    assert status_values(cli(lab, "c1-p1", "xStatus Alternates"))["Peer 2 Status"] == "Unknown"
    wait_for(
        lambda: _states(rest, "c1-p1")[newcomer] == "Failed",
        "the listed-but-not-joined peer to read Failed",
        timeout=4 * _interval(lab),
    )
    assert {"20004", "20006"} <= rest.raised("c1-p1")
    assert status_values(cli(lab, "c1-p1", "xStatus Alternates"))["Peer 2 Status"] == "Failed"
    # The newcomer itself is untouched: its own one-peer cluster.
    assert _states(rest, "c2-p1") == {newcomer: "Active"}


def test_cluster_tables_spread_at_once_the_rest_replicates(make: Any) -> None:
    """Cluster-database fields land on every connected peer at once (TechNote 217230);
    H.323 mode comes from the primary on the replication cycle; peer lists stay local."""
    require("ssh")
    lab, rest = make(peers=3, preset="formed")
    interval = _interval(lab)
    write(rest, "c1-p1", "configuration/cluster", cluster_name="renamed.lab.example.com")
    write(rest, "c1-p1", "configuration/cluster", address_mapping="On")
    write(
        rest,
        "c1-p1",
        "configuration/clusteraddressmapping/index/0",
        name=lab.fqdns["c1-p1"],
        address=lab.peers["c1-p1"],
    )
    write(rest, "c1-p1", "configuration/h323", mode="Off")
    # Not spread and not replicated: peer lists (per peer).
    write(rest, "c1-p1", "configuration/alternates/index/5", ip_address="192.0.2.66")
    for sub in ("c1-p2", "c1-p3"):  # no wait: the same database
        cluster = rest.record(sub, "configuration/cluster")
        assert cluster["cluster_name"] == "renamed.lab.example.com"
        assert cluster["address_mapping"] == "On"
        assert rest.table(sub, "configuration/clusteraddressmapping")[0] == {
            "index": 0,
            "name": lab.fqdns["c1-p1"],
            "address": lab.peers["c1-p1"],
        }
        assert "20007" not in rest.raised(sub)  # name and mapping apply at once
    for sub in ("c1-p2", "c1-p3"):
        wait_for(
            lambda sub=sub: rest.record(sub, "configuration/h323") == {"mode": "Off"},
            f"H.323 Off replicated to {sub}",
            timeout=4 * interval + 1,
        )
        assert "20106" in rest.raised(sub)
    values = config_values(cli(lab, "c1-p3", "xConfiguration Alternates"))
    assert values["Alternates Cluster Name"] == "renamed.lab.example.com"
    assert values["Alternates Cluster AddressMapping 1 Name"] == lab.fqdns["c1-p1"]
    # Two more replication runs on c1-p2, its own list read at every poll: unchanged.
    runs = _sync_runs(lab, "c1-p2")
    holds(
        lambda: rest.table("c1-p2", "configuration/alternates")[5]["ip_address"] == "",
        "c1-p2's own peer list untouched by replication",
        until=lambda: _sync_runs(lab, "c1-p2") >= runs + 2,
        seconds=4 * interval + 2,
    )
    assert rest.table("c1-p1", "configuration/alternates")[5]["ip_address"] == "192.0.2.66"
    # A subordinate's own edit of a replicated (non-database) field is overwritten...
    write(rest, "c1-p2", "configuration/h323", mode="On")
    wait_for(
        lambda: rest.record("c1-p2", "configuration/h323") == {"mode": "Off"},
        "the primary's H.323 mode to win on c1-p2",
        timeout=4 * interval + 1,
    )
    assert rest.record("c1-p1", "configuration/h323") == {"mode": "Off"}
    # ... while a cluster-database field written on a subordinate is the cluster's at once.
    write(rest, "c1-p2", "configuration/cluster", cluster_name="from-p2.example.com")
    for peer in lab.peers:
        assert rest.record(peer, "configuration/cluster")["cluster_name"] == "from-p2.example.com"
    assert "Synchronisation completed successfully" in lab.control.logs("c1-p2")


def test_tls_mode_spreads_at_once_and_raises_20007_on_every_peer(make: Any) -> None:
    lab, rest = make(peers=3, preset="formed")
    write(rest, "c1-p1", "configuration/cluster", tls_verify="Enforcing")
    for peer in lab.peers:  # no replication wait
        assert rest.record(peer, "configuration/cluster")["tls_verify"] == "Enforcing"
        assert "20007" in rest.raised(peer)
    # In force nothing changed yet: the cluster still works.
    assert set(_states(rest, "c1-p2").values()) == {"Active"}
    assert lab.control.peer_state("c1-p2")["active"]["tls"] == "Permissive"
    # Each peer's database logs the change, all with the same timestamp (TechNote 217230),
    # in the real form; the peer that took the REST write also logs the web line.
    changed = 'Detail="xconfiguration clusterConfiguration tls_verify - changed from: Permissive to: Enforcing"'
    stamps = set()
    for peer in lab.peers:
        (line,) = [ln for ln in lab.control.logs(peer).splitlines() if changed in ln]
        host = peer  # the lab's hostnames are the peer names
        assert re.fullmatch(
            rf'\S+ {host} UTCTime="[^"]+" Event="System Configuration Changed" '
            rf'Node="clusterdb@{re.escape(lab.fqdns[peer])}" PID="<0\.345\.0>" {re.escape(changed)}',
            line,
        ), line
        stamps.add(line.split()[0])
        raised = [
            ln
            for ln in lab.control.logs(peer).splitlines()
            if 'Event="Alarm Raised" Id="20007"' in ln
        ]
        assert raised and re.fullmatch(
            rf'\S+ {host} management: Level="WARN" Event="Alarm Raised" Id="20007" '
            r'UUID="e2b8e3d1-b731-4d7d-b606-4682a8f0c2e6" Severity="warning" '
            r'Detail="Restart required: [^"]+" UTCTime="\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}"',
            raised[-1],
        ), raised[-1]
    assert len(stamps) == 1
    web = [ln for ln in lab.control.logs("c1-p1").splitlines() if " web: " in ln]
    assert any(
        "configuration/cluster/tls_verify - changed from: 'Permissive' to: 'Enforcing'" in ln
        for ln in web
    )
    assert all(
        re.search(r'Src-ip="127\.[0-9.]+" Src-port="[1-9][0-9]*" User="admin"', ln) for ln in web
    )
    assert not any(" web: " in ln for ln in lab.control.logs("c1-p2").splitlines())


def test_a_peer_outside_the_database_gets_the_change_by_replication(make: Any) -> None:
    """A partitioned subordinate misses the at-once spread; the replication cycle brings it."""
    lab, rest = make(peers=3, preset="formed")
    fid = lab.control.inject("partition", a="c1-p1", b="c1-p3")
    lab.control.inject("partition", a="c1-p2", b="c1-p3")
    write(rest, "c1-p1", "configuration/cluster", cluster_name="split.example.com")
    assert rest.record("c1-p2", "configuration/cluster")["cluster_name"] == "split.example.com"
    assert rest.record("c1-p3", "configuration/cluster")["cluster_name"] == "c1.lab.example.com"
    lab.control.clear(fid)
    lab.control.clear()
    wait_for(
        lambda: (
            rest.record("c1-p3", "configuration/cluster")["cluster_name"] == "split.example.com"
        ),
        "replication to c1-p3 after the partition heals",
        timeout=4 * _interval(lab) + 1,
    )


def _enforce_on_fqdns(lab: Any, rest: Rest) -> None:
    """Every peer: FQDN addresses and TLS Enforce, saved then restarted (domain 3.4, 3.6)."""
    names = list(lab.peers)
    for peer in names:
        for i, other in enumerate(names):
            write(rest, peer, f"configuration/alternates/index/{i}", ip_address=lab.fqdns[other])
        write(rest, peer, "configuration/cluster", tls_verify="Enforcing")
        assert "20007" in rest.raised(peer)
    _restart_and_wait(lab, rest, *names)
    for peer in names:
        wait_for(
            lambda peer=peer: (
                set(_states(rest, peer).values()) == {"Active"} and not rest.raised(peer)
            ),
            f"{peer} healthy under Enforce",
            timeout=5,
        )
        assert lab.control.peer_state(peer)["active"]["tls"] == "Enforce"


def test_enforce_blocks_replication_to_a_peer_with_a_bad_cert(make: Any) -> None:
    lab, rest = make(peers=3, preset="formed")
    interval = _interval(lab)
    _enforce_on_fqdns(lab, rest)
    lab.control.patch_peer("c1-p3", cert="missing_san")
    write(rest, "c1-p1", "configuration/cluster", cluster_name="enforced.lab.example.com")
    wait_for(
        lambda: (
            rest.record("c1-p2", "configuration/cluster")["cluster_name"]
            == "enforced.lab.example.com"
        ),
        "replication to c1-p2 (good cert)",
        timeout=4 * interval + 1,
    )
    wait_for(
        lambda: _states(rest, "c1-p1")[lab.fqdns["c1-p3"]] == "Failed",
        "c1-p1 to fail c1-p3",
        timeout=4 * interval + 1,
    )
    assert "20004" in rest.raised("c1-p1")
    # c1-p3 presents a SAN-less cert (curl refuses it too), so it gets nothing.
    # (Its listener now serves that cert: read it with the control API.)
    runs = _sync_runs(lab, "c1-p3")  # two more (failing) replication runs: it got nothing
    holds(
        lambda: lab.control.peer_state("c1-p3")["saved"]["name"] == "c1.lab.example.com",
        "nothing replicated to c1-p3 (bad certificate)",
        until=lambda: _sync_runs(lab, "c1-p3") >= runs + 2,
        seconds=4 * interval + 2,
    )
    lab.control.patch_peer("c1-p3", cert="ok")
    wait_for(
        lambda: (
            rest.record("c1-p3", "configuration/cluster")["cluster_name"]
            == "enforced.lab.example.com"
        ),
        "replication to c1-p3 once its cert is fixed",
        timeout=4 * interval + 1,
    )


def test_enforce_with_ip_addresses_never_forms(make: Any) -> None:
    """Under Enforce a peer address must be a DNS name in the peer's cert; IPs are not."""
    lab, rest = make(peers=2, preset="formed")
    for peer in lab.peers:
        write(rest, peer, "configuration/cluster", tls_verify="Enforcing")
    _restart_and_wait(lab, rest, *lab.peers)
    wait_for(
        lambda: _states(rest, "c1-p1")[lab.peers["c1-p2"]] == "Failed",
        "IP-addressed peers to fail under Enforce",
        timeout=4 * _interval(lab) + 1,
    )


def test_factory_reset_when_all_slots_saved_empty_and_restarted(make: Any) -> None:
    require("ssh", "curl")
    lab, rest = make(peers=2, preset="formed")
    out = cli(
        lab,
        "c1-p2",
        'xConfiguration Alternates Peer 1 Address: ""',
        'xConfiguration Alternates Peer 2 Address: ""',
        "xStatus Alternates",
    )
    assert status_values(out)["FactoryResetPending"] == "True"
    assert {"20107", "20007"} <= rest.raised("c1-p2")
    assert rest.record("c1-p2", "status/clusterdatabase")["factory_reset_pending"] is True
    assert rest.get("c1-p2", "/api/v1/provisioning/common/dns/dnsserver").json() != []
    cli(lab, "c1-p2", "xCommand Boot")
    ip = lab.peers["c1-p2"]
    wait_for(lambda: not port_open(ip, lab.ssh_port), "c1-p2 down", timeout=3, every=0.02)
    wait_for(lambda: port_open(ip, lab.ssh_port) and port_open(ip, lab.https_port), "c1-p2 up", 10)
    # X12.6+: a new self-signed certificate; the lab CA no longer verifies it.
    assert curl(lab, "c1-p2", "/api/provisioning/sysinfo")[0] == 60
    code, roots = curl(lab, "c1-p2", "/api/provisioning/certs/root", "-k")
    assert (code, roots.strip()) == (0, "")
    code, dns = curl(lab, "c1-p2", "/api/v1/provisioning/common/dns/dnsserver", "-k")
    assert (code, dns) == (0, "[]")
    values = config_values(cli(lab, "c1-p2", "xConfiguration Alternates", "xConfiguration IP DNS"))
    assert all(values[f"Alternates Peer {i} Address"] == "" for i in range(1, 7))
    assert values["Alternates Cluster Name"] == ""
    assert values["IP DNS Hostname"] == ""
    status = status_values(cli(lab, "c1-p2", "xStatus Alternates"))
    assert (status["Database"], status["Replication"]) == ("Inactive", "Not clustered")
    assert status["FactoryResetPending"] == "False"
    assert "*s Alarm" not in cli(lab, "c1-p2", "xStatus Alarm")
    assert "Factory Reset" in lab.control.logs("c1-p2")
    # LAN1 basics survive: same address, same SSH host key (known_hosts still passes).
    assert lab.control.peer_state("c1-p2")["ip"] == ip


def test_putting_the_addresses_back_cancels_the_factory_reset(make: Any) -> None:
    require("ssh")
    lab, rest = make(peers=2, preset="formed")
    ips = list(lab.peers.values())
    for i in range(2):
        write(rest, "c1-p2", f"configuration/alternates/index/{i}", ip_address="")
    assert "20107" in rest.raised("c1-p2")
    for i, ip in enumerate(ips):
        write(rest, "c1-p2", f"configuration/alternates/index/{i}", ip_address=ip)
    assert not {"20107", "20007"} & rest.raised("c1-p2")
    _restart_and_wait(lab, rest, "c1-p2")
    assert rest.get("c1-p2", "/api/v1/provisioning/common/dns/dnsserver").json() != []
    assert [a["ip_address"] for a in rest.table("c1-p2", "configuration/alternates")][:2] == ips
    assert "Factory Reset" not in lab.control.logs("c1-p2")


def test_partition_fault_between_two_peers(make: Any) -> None:
    lab, rest = make(peers=3, preset="formed")
    p1, p2, p3 = lab.peers.values()
    fid = lab.control.inject("partition", a="c1-p1", b="c1-p2")
    wait_for(
        lambda: _states(rest, "c1-p1")[p2] == "Failed" and _states(rest, "c1-p2")[p1] == "Failed",
        "both sides of the partition to fail each other",
        timeout=4 * _interval(lab) + 1,
    )
    assert _states(rest, "c1-p1")[p3] == "Active"
    assert _states(rest, "c1-p3") == {p1: "Active", p2: "Active", p3: "Active"}
    lab.control.clear(fid)
    wait_for(
        lambda: (
            set(_states(rest, "c1-p1").values()) == {"Active"}
            and "20004" not in rest.raised("c1-p1")
        ),
        "the partition to heal",
        timeout=3,
    )

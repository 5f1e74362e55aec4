"""Log parsing and analysis on the vendor note's own samples (shared/seeds).

The seed is a PDF extraction: its log records are wrapped and run together.
The constants below are those records reflowed one per line, the form an
appliance's log has; ``test_samples_are_the_seed`` proves they match the seed.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from exops.logs import (
    SCHEMA,
    LogKind,
    Verdict,
    analyze,
    parse_lines,
    render_analysis,
)

SEED = Path(__file__).resolve().parents[3] / "shared" / "seeds" / "000_393455e896f9e615.txt"

HEALTHY_PRIMARY = """\
2020-07-21T15:16:50.321-05:00 expc01 replication: UTCTime="2020-07-21 20:16:50,321" Module="developer.replication" Level="INFO" CodeLocation="clusterconfigurationsynchroniser(270)" Detail="Starting synchronisation"
2020-07-21T15:16:50.330-05:00 expc01 replication: UTCTime="2020-07-21 20:16:50,330" Module="developer.replication" Level="INFO" CodeLocation="clusterconfigurationutils(750)" AlternateIPAddresses="[u'(10.15.13.15 expc01)', u'(10.15.13.16 expc02)']" ConfigurationMasterIndex="0" LocalPeerIndex="0"
2020-07-21T15:16:50.433-05:00 expc01 replication: UTCTime="2020-07-21 20:16:50,433" Module="developer.replication" Level="INFO" CodeLocation="clusterconfigurationsynchroniser(257)" Detail="This peer is the cluster master, local configuration has already been replicated to the other peers"
2020-07-21T15:16:50.437-05:00 expc01 replication: UTCTime="2020-07-21 20:16:50,437" Module="developer.replication" Level="INFO" CodeLocation="clusterconfigurationsynchroniser(336)" Detail="Synchronisation completed successfully"
"""

HEALTHY_SUBORDINATE = """\
2020-07-21T15:16:46.900-05:00 expc02 replication: UTCTime="2020-07-21 20:16:46,899" Module="developer.replication" Level="INFO" CodeLocation="clusterconfigurationsynchroniser(270)" Detail="Starting synchronisation"
2020-07-21T15:16:46.908-05:00 expc02 replication: UTCTime="2020-07-21 20:16:46,908" Module="developer.replication" Level="INFO" CodeLocation="clusterconfigurationutils(750)" AlternateIPAddresses="[u'(10.15.13.15 expc01)', u'(10.15.13.16 expc02)']" ConfigurationMasterIndex="0" LocalPeerIndex="1"
2020-07-21T15:16:46.947-05:00 expc02 replication: UTCTime="2020-07-21 20:16:46,946" Module="developer.replication" Level="INFO" CodeLocation="clusterconfigurationsynchroniser(254)" Detail="This peer is not the cluster master, local configuration is already up to date"
2020-07-21T15:16:46.950-05:00 expc02 replication: UTCTime="2020-07-21 20:16:46,950" Module="developer.replication" Level="INFO" CodeLocation="clusterconfigurationsynchroniser(336)" Detail="Synchronisation completed successfully"
"""

DISCONNECT = """\
2020-08-12T14:57:43.353-05:00 expc01 UTCTime="2020-08-12 19:57:43,353" Module="developer.clusterdb.cdb" Level="INFO" Node="clusterdb@expc01.apolo.local" PID="<0.159.0>" Detail="Processed mnesia_down event from accessible node" Node="clusterdb@expc02.apolo.local"
2020-08-12T14:57:43.354-05:00 expc01 UTCTime="2020-08-12 19:57:43,353" Module="developer.clusterdb.cdb" Level="ERROR" Node="clusterdb@expc01.apolo.local" PID="<0.159.0>" Detail="Inconsistent Database" Context="from mnesia system - mnesia down" Node="clusterdb@expc02.apolo.local"
2020-08-12T14:57:43.354-05:00 expc01 UTCTime="2020-08-12 19:57:43,354" Module="developer.clusterdb.cdb" Level="INFO" Node="clusterdb@expc01.apolo.local" PID="<0.159.0>" Detail="Connecting database on mnesia running_partitioned_network event" Node="clusterdb@expc02.apolo.local"
2020-08-12T14:57:43.354-05:00 expc01 UTCTime="2020-08-12 19:57:43,354" Module="developer.clusterdb.cdb" Level="INFO" Node="clusterdb@expc01.apolo.local" PID="<0.14215.425>" Detail="Ready to perform node connection transaction" Node="clusterdb@expc02.apolo.local"
2020-08-12T14:57:43.354-05:00 expc01 UTCTime="2020-08-12 19:57:43,354" Module="developer.clusterdb.cdb" Level="INFO" Node="clusterdb@expc01.apolo.local" PID="<0.14215.425>" Detail="Running node connection transaction" Node="clusterdb@expc02.apolo.local"
2020-08-12T14:57:43.354-05:00 expc01 UTCTime="2020-08-12 19:57:43,354" Module="developer.clusterdb.synchronise" Level="WARN" Node="clusterdb@expc01.apolo.local" PID="<0.14215.425>" Detail="Failed connecting to node" Node="clusterdb@expc02.apolo.local" Reason="{ badrpc, { EXIT, { aborted, { noproc, { gen_server, call, [ kernel_safe_sup, { start_child, { dets_sup, { dets_sup, start_link, }, permanent, 1000, supervisor, [ dets_sup ] } }, infinity ] } } } } }"
2020-08-12T14:57:43.524-05:00 expc01 alarm: Level="WARN" Event="Alarm Raised" Id="20006" UUID="0f96695e-d954-4f6f-85c1-2ef1eae6f764" Severity="warning" Detail="Cluster database communication failure: The database is unable to replicate with one or more of the cluster peers" UTCTime="2020-08-12 19:57:43,524"
2020-08-12T14:57:43.771-05:00 expc01 alarm: Level="WARN" Event="Alarm Raised" Id="20004" UUID="3bca6888-f622-11df-93be-07cc953d7b99" Severity="warning" Detail="Cluster communication failure: The system is unable to communicate with one or more of the cluster peers" UTCTime="2020-08-12 19:57:43,771"
2020-08-12T14:57:53.872-05:00 expc01 tvcs: UTCTime="2020-08-12 19:57:53,871" Module="network.h323" Level="INFO": Action="Sent" Dst-ip="10.15.13.16" Dst-port="1719" Detail="Sending RAS SCI SeqNum=52319 Retransmit=True"
2020-08-12T14:57:54.872-05:00 expc01 tvcs: UTCTime="2020-08-12 19:57:54,871" Module="network.h323" Level="INFO": Action="Sent" Dst-ip="10.15.13.16" Dst-port="1719" Detail="Sending RAS LRQ SeqNum=52320 Retransmit=True"
2020-08-12T14:57:56.872-05:00 expc01 tvcs: UTCTime="2020-08-12 19:57:56,871" Module="network.h323" Level="INFO": Action="Sent" Dst-ip="10.15.13.16" Dst-port="1719" Detail="Sending RAS LRQ SeqNum=52320 Retransmit=True"
2020-08-12T14:57:57.871-05:00 expc01 tvcs: UTCTime="2020-08-12 19:57:57,871" Module="network.h323" Level="INFO": Action="Sent" Dst-ip="10.15.13.16" Dst-port="1719" Detail="Sending RAS SCI SeqNum=52319 Retransmit=True"
2020-08-12T14:57:58.871-05:00 expc01 tvcs: Event="External Server Communications Failure" Reason="gatekeeper timed out" Service="NeighbourGatekeeper" Detail="name:10.15.13.16:1719" Level="1" UTCTime="2020-08-12 19:57:58,871"
2020-08-12T14:57:58.871-05:00 expc01 tvcs: UTCTime="2020-08-12 19:57:58,871" Module="network.h323" Level="INFO": Action="Sent" Dst-ip="10.15.13.16" Dst-port="1719" Detail="Sending RAS LRQ SeqNum=52320 Timeout=True"
2020-08-12T14:57:59.601-05:00 expc01 UTCTime="2020-08-12 19:57:59,601" Module="developer.clusterdb.peernameresolver" Level="INFO" Node="clusterdb@expc01.apolo.local" PID="<0.145.0>" Detail="Triggering forced peer update of peers which failed DNS and queueing next run" Queue-Time-ms="300000"
2020-08-12T14:58:01.871-05:00 expc01 tvcs: UTCTime="2020-08-12 19:58:01,871" Module="network.h323" Level="INFO": Action="Sent" Dst-ip="10.15.13.16" Dst-port="1719" Detail="Sending RAS SCI SeqNum=52319 Timeout=True"
"""

TLS_PRIMARY = """\
2020-08-12T15:13:24.970-05:00 expc01 UTCTime="2020-08-12 20:13:24,969" Module="developer.cdbtable.cdb.clusterConfiguration" Level="DEBUG" Node="clusterdb@expc01.apolo.local" PID="<0.345.0>" Detail="Inserting into table" TableName="clusterConfiguration"
2020-08-12T15:13:24.976-05:00 expc01 UTCTime="2020-08-12 20:13:24,975" Event="System Configuration Changed" Node="clusterdb@expc01.apolo.local" PID="<0.345.0>" Detail="xconfiguration clusterConfiguration tls_verify - changed from: Permissive to: Enforcing"
2020-08-12T15:13:24.976-05:00 expc01 httpd[15060]: web: Event="System Configuration Changed" Detail="configuration/cluster/tls_verify - changed from: 'Permissive' to: 'Enforcing'" Src-ip="10.15.13.30" Src-port="53155" User="admin" Level="1" UTCTime="2020-08-12 20:13:24"
2020-08-12T15:13:24.979-05:00 expc01 management: UTCTime="2020-08-12 20:13:24,978" Module="developer.management.databasemanager" Level="INFO" CodeLocation="databasemanager(312)" Detail="Cluster configuration change detected"
2020-08-12T15:13:24.980-05:00 expc01 UTCTime="2020-08-12 20:13:24,980" Module="developer.cdbtable.cdb.clusterConfiguration" Level="DEBUG" Node="clusterdb@expc01.apolo.local" PID="<0.345.0>" Detail="Inserting into table" TableName="clusterConfiguration"
2020-08-12T15:13:24.986-05:00 expc01 management: UTCTime="2020-08-12 20:13:24,986" Module="developer.management.databasemanager" Level="INFO" CodeLocation="databasemanager(405)" Detail="TLS Verify change status" Startup="False" New="True"
2020-08-12T15:13:25.022-05:00 expc01 UTCTime="2020-08-12 20:13:25,022" Event="System Configuration Changed" Node="clusterdb@expc01.apolo.local" PID="<0.557.0>" Detail="xconfiguration alternatesConfiguration - Changed"
2020-08-12T15:13:25.022-05:00 expc01 UTCTime="2020-08-12 20:13:25,022" Module="developer.clusterdb.peernameresolver" Level="INFO" Node="clusterdb@expc01.apolo.local" PID="<0.145.0>" Detail="Notifying databasemanager (Management Framework)"
2020-08-12T15:13:25.022-05:00 expc01 UTCTime="2020-08-12 20:13:25,022" Module="developer.clusterdb.alternatesmanager" Level="INFO" Node="clusterdb@expc01.apolo.local" PID="<0.142.0>" Detail="alternate peer changed info recieved"
2020-08-12T15:13:25.031-05:00 expc01 UTCTime="2020-08-12 20:13:25,031" Event="System Configuration Changed" Node="clusterdb@expc01.apolo.local" PID="<0.557.0>" Detail="xconfiguration alternatesConfiguration - Changed"
2020-08-12T15:13:25.192-05:00 expc01 management: UTCTime="2020-08-12 20:13:25,192" Module="developer.diagnostics.alarmmanager" Level="INFO" CodeLocation="alarmmanager(173)" Detail="Raising alarm" UUID="e2b8e3d1-b731-4d7d-b606-4682a8f0c2e6" Parameters="null"
2020-08-12T15:13:25.195-05:00 expc01 management: Level="WARN" Event="Alarm Raised" Id="20007" UUID="e2b8e3d1-b731-4d7d-b606-4682a8f0c2e6" Severity="warning" Detail="Restart required: Cluster configuration has been changed, however a restart is required for this to take effect" UTCTime="2020-08-12 20:13:25,194"
"""

TLS_PEER = """\
2020-08-12T15:13:24.976-05:00 expc02 UTCTime="2020-08-12 20:13:24,976" Event="System Configuration Changed" Node="clusterdb@expc02.apolo.local" PID="<0.390.0>" Detail="xconfiguration clusterConfiguration tls_verify - changed from: Permissive to: Enforcing"
2020-08-12T15:13:24.979-05:00 expc02 management: UTCTime="2020-08-12 20:13:24,978" Module="developer.management.databasemanager" Level="INFO" CodeLocation="databasemanager(312)" Detail="Cluster configuration change detected"
2020-08-12T15:13:24.982-05:00 expc02 management: UTCTime="2020-08-12 20:13:24,982" Module="developer.management.databasemanager" Level="INFO" CodeLocation="databasemanager(405)" Detail="TLS Verify change status" Startup="False" New="True"
2020-08-12T15:13:25.040-05:00 expc02 UTCTime="2020-08-12 20:13:25,040" Module="developer.clusterdb.peernameresolver" Level="INFO" Node="clusterdb@expc02.apolo.local" PID="<0.136.0>" Detail="Notifying databasemanager (Management Framework)"
2020-08-12T15:13:25.040-05:00 expc02 UTCTime="2020-08-12 20:13:25,040" Module="developer.clusterdb.alternatesmanager" Level="INFO" Node="clusterdb@expc02.apolo.local" PID="<0.143.0>" Detail="alternate peer changed info recieved"
2020-08-12T15:13:25.041-05:00 expc02 UTCTime="2020-08-12 20:13:25,041" Event="System Configuration Changed" Node="clusterdb@expc02.apolo.local" PID="<0.543.0>" Detail="xconfiguration alternatesConfiguration - Changed"
2020-08-12T15:13:25.042-05:00 expc02 UTCTime="2020-08-12 20:13:25,042" Event="System Configuration Changed" Node="clusterdb@expc02.apolo.local" PID="<0.543.0>" Detail="xconfiguration alternatesConfiguration - Changed"
2020-08-12T15:13:25.046-05:00 expc02 UTCTime="2020-08-12 20:13:25,046" Module="developer.clusterdb.alternatesmanager" Level="INFO" Node="clusterdb@expc02.apolo.local" PID="<0.143.0>" Detail="alternate peer changed info recieved"
2020-08-12T15:13:25.047-05:00 expc02 UTCTime="2020-08-12 20:13:25,046" Module="developer.clusterdb.peernameresolver" Level="INFO" Node="clusterdb@expc02.apolo.local" PID="<0.136.0>" Detail="Notifying databasemanager (Management Framework)"
2020-08-12T15:13:25.047-05:00 expc02 UTCTime="2020-08-12 20:13:25,047" Event="System Configuration Changed" Node="clusterdb@expc02.apolo.local" PID="<0.543.0>" Detail="xconfiguration alternatesConfiguration - Changed"
2020-08-12T15:13:25.049-05:00 expc02 UTCTime="2020-08-12 20:13:25,049" Event="System Configuration Changed" Node="clusterdb@expc02.apolo.local" PID="<0.543.0>" Detail="xconfiguration alternatesConfiguration - Changed"
2020-08-12T15:13:25.136-05:00 expc02 management: UTCTime="2020-08-12 20:13:25,136" Module="developer.diagnostics.alarmmanager" Level="INFO" CodeLocation="alarmmanager(173)" Detail="Raising alarm" UUID="e2b8e3d1-b731-4d7d-b606-4682a8f0c2e6" Parameters="null"
2020-08-12T15:13:25.139-05:00 expc02 management: Level="WARN" Event="Alarm Raised" Id="20007" UUID="e2b8e3d1-b731-4d7d-b606-4682a8f0c2e6" Severity="warning" Detail="Restart required: Cluster configuration has been changed, however a restart is required for this to take effect" UTCTime="2020-08-12 20:13:25,139"
"""

ALL = HEALTHY_PRIMARY + HEALTHY_SUBORDINATE + DISCONNECT + TLS_PRIMARY + TLS_PEER


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def lines(*blocks: str) -> list[str]:
    return "".join(blocks).splitlines()


def kinds(text: str) -> list[tuple[str, LogKind]]:
    return [(e.host, e.kind) for e in parse_lines(lines(text))]


def test_every_sample_line_parses() -> None:
    events = parse_lines(lines(ALL))
    assert events.skipped == 0
    assert len(events) == len(lines(ALL)) == 49
    assert all(e.ts is not None and e.ts.tzinfo is not None for e in events)
    assert {e.host for e in events} == {"expc01", "expc02"}


def test_healthy_replication_on_primary_and_subordinate() -> None:
    events = parse_lines(lines(HEALTHY_PRIMARY, HEALTHY_SUBORDINATE))
    assert [e.kind for e in events if e.host == "expc01"] == [
        LogKind.SYNC_START,
        LogKind.SYNC_PEERS,
        LogKind.SYNC_PRIMARY,
        LogKind.SYNC_COMPLETE,
    ]
    assert [e.kind for e in events if e.host == "expc02"] == [
        LogKind.SYNC_START,
        LogKind.SYNC_PEERS,
        LogKind.SYNC_SUBORDINATE,
        LogKind.SYNC_COMPLETE,
    ]
    # The header time is local (-05:00); events carry UTC, equal to the UTCTime field.
    assert events[0].ts == utc(2020, 7, 21, 20, 16, 50, 321000)
    assert events[0].process == "replication"
    peers = events[5]
    assert peers.get("ConfigurationMasterIndex") == "0" and peers.get("LocalPeerIndex") == "1"

    analysis = analyze(events)
    p1, p2 = analysis.peers["expc01"], analysis.peers["expc02"]
    assert p1.verdict is Verdict.HEALTHY and p2.verdict is Verdict.HEALTHY
    assert (p1.role, p1.primary_slot, p1.local_slot) == ("primary", 1, 1)
    assert (p2.role, p2.primary_slot, p2.local_slot) == ("subordinate", 1, 2)
    assert p1.last_sync == utc(2020, 7, 21, 20, 16, 50, 437000)
    assert p2.last_sync == utc(2020, 7, 21, 20, 16, 46, 950000)
    assert "completed at 2020-07-21 20:16:50 UTC" in p1.reasons[0]


def test_peer_disconnect_sequence() -> None:
    events = parse_lines(lines(DISCONNECT))
    notable = [(e.kind, e.ts) for e in events if e.kind is not LogKind.OTHER]
    assert notable[:5] == [
        (LogKind.DISCONNECT, utc(2020, 8, 12, 19, 57, 43, 353000)),
        (LogKind.DB_INCONSISTENT, utc(2020, 8, 12, 19, 57, 43, 354000)),
        (LogKind.CONNECT_FAILED, utc(2020, 8, 12, 19, 57, 43, 354000)),
        (LogKind.ALARM_RAISED, utc(2020, 8, 12, 19, 57, 43, 524000)),
        (LogKind.ALARM_RAISED, utc(2020, 8, 12, 19, 57, 43, 771000)),
    ]
    alarms = [e for e in events if e.kind is LogKind.ALARM_RAISED]
    assert [(e.host, e.alarm_id) for e in alarms] == [("expc01", "20006"), ("expc01", "20004")]
    assert alarms[0].detail.startswith("20006 Cluster database communication failure")
    assert alarms[0].process == "alarm"
    # The line names the local node first, then the lost one.
    disconnect = next(e for e in events if e.kind is LogKind.DISCONNECT)
    assert disconnect.peer == "expc02.apolo.local"
    retransmits = [e for e in events if e.kind is LogKind.H323_RETRANSMIT]
    timeouts = [e for e in events if e.kind is LogKind.H323_TIMEOUT]
    assert len(retransmits) == 4 and len(timeouts) == 3
    assert {e.peer for e in retransmits + timeouts} == {"10.15.13.16"}
    assert all(e.get("Dst-port") == "1719" for e in retransmits)
    assert any("gatekeeper timed out" in e.detail for e in timeouts)

    p = analyze(events).peers["expc01"]
    assert p.verdict is Verdict.DISCONNECTED
    assert p.lost_peers == ["expc02.apolo.local", "10.15.13.16"]
    assert p.episodes == 1
    assert "cluster communication lost at 2020-08-12 19:57:43 UTC" in p.reasons[0]
    assert "alarm 20004, 20006 open" in p.reasons[0]
    assert sorted(a.split()[0] for a in p.open_alarms) == ["20004", "20006"]


def test_tls_mode_change_raises_restart_required_on_both_peers() -> None:
    events = parse_lines(lines(TLS_PRIMARY, TLS_PEER))
    tls = [e for e in events if e.kind is LogKind.TLS_MODE_CHANGE]
    # expc01 logs it twice (clusterdb and the web UI that made the change), expc02 once.
    assert [(e.host, e.ts) for e in tls] == [
        ("expc01", utc(2020, 8, 12, 20, 13, 24, 976000)),
        ("expc01", utc(2020, 8, 12, 20, 13, 24, 976000)),
        ("expc02", utc(2020, 8, 12, 20, 13, 24, 976000)),
    ]
    assert {e.detail for e in tls} == {"TLS verification Permissive -> Enforcing"}
    assert tls[1].process == "httpd[15060] web"
    raised = [(e.host, e.alarm_id, e.ts) for e in events if e.kind is LogKind.ALARM_RAISED]
    assert raised == [
        ("expc01", "20007", utc(2020, 8, 12, 20, 13, 25, 195000)),
        ("expc02", "20007", utc(2020, 8, 12, 20, 13, 25, 139000)),
    ]
    analysis = analyze(events)
    for host in ("expc01", "expc02"):
        p = analysis.peers[host]
        assert p.verdict is Verdict.RESTART_PENDING
        assert "after TLS verification Permissive -> Enforcing" in p.reasons[0]


def test_flapping_and_recovery() -> None:
    """Two communication failures, each recovered by a completed sync, is flapping."""
    sync = HEALTHY_SUBORDINATE.splitlines()
    later = [line.replace("2020-07-21T15:16:4", "2020-07-21T15:26:4") for line in sync]
    # expc02 logs losing expc01 (the seed's line, seen from the other side), twice.
    fail = (
        DISCONNECT.splitlines()[0]
        .replace(" expc01 ", " expc02 ")
        .replace('Node="clusterdb@expc01', 'Node="clusterdb@tmp')
        .replace('Node="clusterdb@expc02', 'Node="clusterdb@expc01')
        .replace('Node="clusterdb@tmp', 'Node="clusterdb@expc02')
    )
    first = fail.replace("2020-08-12T14:57", "2020-07-21T15:10")
    second = fail.replace("2020-08-12T14:57", "2020-07-21T15:20")
    p = analyze(parse_lines([first, *sync, second, *later])).peers["expc02"]
    assert p.episodes == 2
    assert p.lost_peers == ["expc01.apolo.local"]
    assert p.verdict is Verdict.FLAPPING
    assert p.reasons == ["2 separate communication failures (lost: expc01.apolo.local)"]


def test_interrupted_sync_is_out_of_sync() -> None:
    start = HEALTHY_SUBORDINATE.splitlines()[0]
    again = start.replace("15:16:46.900", "15:18:46.900")
    p = analyze(parse_lines([start, again])).peers["expc02"]
    assert p.verdict is Verdict.OUT_OF_SYNC
    assert "did not complete" in p.reasons[0]


def test_peers_disagreeing_on_primary() -> None:
    text = lines(
        HEALTHY_PRIMARY,
        HEALTHY_SUBORDINATE.replace('ConfigurationMasterIndex="0"', 'ConfigurationMasterIndex="1"'),
    )
    analysis = analyze(parse_lines(text))
    assert analysis.findings and "disagree on the configuration primary" in analysis.findings[0]
    assert {p.verdict for p in analysis.peers.values()} == {Verdict.OUT_OF_SYNC}


def test_unreadable_lines_are_counted_not_raised() -> None:
    events = parse_lines(["", "garbage line", "   ", 'Detail="x"', *lines(HEALTHY_PRIMARY)])
    assert events.skipped == 2
    assert len(events) == 4
    assert analyze(events).skipped == 2


def test_several_records_on_one_line() -> None:
    one_line = " ".join(lines(HEALTHY_PRIMARY))
    events = parse_lines([one_line])
    assert [e.kind for e in events] == [e.kind for e in parse_lines(lines(HEALTHY_PRIMARY))]


def test_render_json() -> None:
    doc = json.loads(render_analysis(analyze(parse_lines(lines(ALL))), "json"))
    assert doc["schema"] == SCHEMA == "exops.logs/1"
    assert doc["events"] == 49 and doc["skipped_lines"] == 0
    peers = {p["host"]: p for p in doc["peers"]}
    assert peers["expc01"]["verdict"] == "disconnected"
    assert peers["expc02"]["verdict"] == "restart-pending"
    assert peers["expc01"]["timeline"][0] == {
        "ts": "2020-07-21T20:16:50.321+00:00",
        "kind": "sync_start",
        "detail": "Starting synchronisation",
        "peer": None,
        "alarm_id": None,
    }


def test_render_text() -> None:
    text = render_analysis(analyze(parse_lines(lines(DISCONNECT, TLS_PEER))), "text")
    assert text.endswith("\n")
    assert "expc01  disconnected" in text
    assert "expc02  restart-pending" in text
    assert (
        "2020-08-12 19:57:43.524  alarm_raised      20006 Cluster database communication failure"
        in text
    )
    with pytest.raises(ValueError, match="unknown log analysis format"):
        render_analysis(analyze([]), "xml")


def test_empty_input() -> None:
    analysis = analyze(parse_lines([]))
    assert analysis.peers == {} and analysis.events == 0
    assert json.loads(render_analysis(analysis, "json"))["peers"] == []


def _reflow(text: str) -> str:
    """Undo the PDF wrapping: a line ending in '-' was cut inside a token."""
    out = ""
    for raw in text.splitlines():
        line = raw.strip()
        if line:
            out += line if out.endswith("-") else (" " if out else "") + line
    return out


@pytest.mark.skipif(not SEED.exists(), reason=f"seed not found at {SEED}")
def test_samples_are_the_seed() -> None:
    seed = SEED.read_text(encoding="utf-8")
    flowed = _reflow(seed)
    for line in lines(ALL):
        assert line in flowed, line[:80]


def test_mock_defined_forms_clear_alarms_and_restarts() -> None:
    """``Alarm Lowered`` and ``System Restart``/``System Start`` as mock_server logs them."""
    mock = [
        '2024-05-01T10:00:00.000+00:00 c1-p1 alarm: UTCTime="2024-05-01 10:00:00,000" Level="WARN" Event="Alarm Raised" Id="20007" UUID="e2b8e3d1-b731-4d7d-b606-4682a8f0c2e6" Severity="warning" Detail="Restart required"',
        '2024-05-01T10:00:01.000+00:00 c1-p1 alarm: UTCTime="2024-05-01 10:00:01,000" Level="WARN" Event="Alarm Raised" Id="20004" UUID="3bca6888-f622-11df-93be-07cc953d7b99" Severity="warning" Detail="Cluster communication failure"',
        '2024-05-01T10:01:00.000+00:00 c1-p1 kernel: UTCTime="2024-05-01 10:01:00,000" Event="System Restart" Detail="Restart requested by admin"',
        '2024-05-01T10:03:00.000+00:00 c1-p1 kernel: UTCTime="2024-05-01 10:03:00,000" Event="System Start" Detail="System started"',
        '2024-05-01T10:04:00.000+00:00 c1-p1 alarm: UTCTime="2024-05-01 10:04:00,000" Level="INFO" Event="Alarm Lowered" Id="20004" UUID="3bca6888-f622-11df-93be-07cc953d7b99" Detail="Cluster communication failure"',
        '2024-05-01T10:05:00.000+00:00 c1-p1 replication: UTCTime="2024-05-01 10:05:00,000" Module="developer.replication" Level="INFO" Detail="Synchronisation completed successfully"',
    ]
    events = parse_lines(mock)
    assert [e.kind for e in events] == [
        LogKind.ALARM_RAISED,
        LogKind.ALARM_RAISED,
        LogKind.RESTART,
        LogKind.STARTED,
        LogKind.ALARM_CLEARED,
        LogKind.SYNC_COMPLETE,
    ]
    p = analyze(events).peers["c1-p1"]
    assert p.verdict is Verdict.HEALTHY, p.reasons
    assert p.open_alarms == []

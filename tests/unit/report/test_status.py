"""Status verdicts and capacity notes from plain facts."""

from __future__ import annotations

from goldenkit import check_golden
from statuskit import cluster, peer

from exops.core.models import (
    PeerState,
)
from exops.report.status import Verdict, summarize


def test_healthy_three_peers() -> None:
    r = summarize(cluster(*(peer(i, 3) for i in range(3))))
    assert r.verdict is Verdict.HEALTHY
    assert r.primary_host == "p1" and r.primary_slot == 1
    assert [(p.slot, p.host, p.is_primary) for p in r.peers] == [
        (1, "p1", True),
        (2, "p2", False),
        (3, "p3", False),
    ]
    assert r.capacity.factor == 3


def test_unclustered() -> None:
    r = summarize(cluster(*(peer(i, 4, listed=0) for i in range(4))))
    assert r.verdict is Verdict.UNCLUSTERED


def test_degraded_subordinate_down_and_alarm() -> None:
    r = summarize(
        cluster(
            peer(0, 3, alarms=("20004",), states={3: PeerState.FAILED}),
            peer(1, 3),
            peer(2, 3, reachable=False),
        )
    )
    assert r.verdict is Verdict.DEGRADED
    text = "; ".join(r.reasons)
    assert "p3 unreachable" in text and "p1 alarms 20004" in text


def test_broken_when_primary_down_or_views_disagree() -> None:
    r = summarize(cluster(peer(0, 3, reachable=False), peer(1, 3), peer(2, 3)))
    assert r.verdict is Verdict.BROKEN
    assert "configuration primary p1 is unreachable" in r.reasons[0]
    r = summarize(cluster(peer(0, 3), peer(1, 3), peer(2, 3, primary=2)))
    assert r.verdict is Verdict.BROKEN
    assert any("disagree" in x for x in r.reasons)


def test_restart_pending_is_degraded() -> None:
    r = summarize(cluster(peer(0, 2), peer(1, 2, alarms=("20007",))))
    assert r.verdict is Verdict.DEGRADED
    assert r.peers[1].restart_pending


def test_capacity_notes() -> None:
    six = summarize(cluster(*(peer(i, 6) for i in range(6))))
    assert six.capacity.factor == 4
    assert "peers 5-6 add resilience only" in six.capacity.note
    small = summarize(cluster(*(peer(i, 3, platform="small") for i in range(3))))
    assert small.capacity.factor == 1
    assert "redundancy" in small.capacity.note


def test_a_member_answering_garbage_is_never_healthy() -> None:
    # The primary reads, but one of its answers was garbled: unknown never passes
    # (and is not a state either: the verdict is unknown, issue 26).
    peers = [peer(i, 3) for i in range(3)]
    peers[0] = peers[0].model_copy(update={"error": "read alarms: answer is not JSON"})
    report = summarize(cluster(*peers))
    assert report.verdict is Verdict.UNKNOWN
    assert "p1" in report.root_cause and "not JSON" in report.root_cause


def test_the_root_cause_names_an_ip_listed_peer_in_enforce_mode() -> None:
    from exops.core.models import TlsMode

    states = {3: PeerState.FAILED}
    peers = []
    for i in range(3):
        p = peer(i, 3, states=states)
        assert p.settings is not None
        enforce = p.settings.model_copy(update={"tls_mode": TlsMode.ENFORCE})
        peers.append(p.model_copy(update={"settings": enforce}))
    report = summarize(cluster(*peers))
    assert report.verdict is Verdict.DEGRADED
    assert report.root_cause == "p3 is listed by IP address in TLS Enforce mode"
    row = next(r for r in report.peers if r.host == "p3")
    assert row.listed_as == "10.0.0.13"


def test_each_raised_alarm_has_its_title_and_the_command_for_it() -> None:
    peers = [peer(i, 3, alarms=("20007",) if i == 1 else ()) for i in range(3)]
    report = summarize(cluster(*peers))
    (note,) = report.alarms
    assert (note.host, note.id, note.title) == ("p2", "20007", "Restart required")
    assert note.fix == "exops restart -c c1 --peer p2"


def test_a_host_key_mismatch_is_not_reported_as_a_peer_that_does_not_answer() -> None:
    """A peer whose SSH host key no longer matches (possible impersonation) answered:
    the verdict says it cannot be trusted, never "does not answer"."""
    mismatch = "c1-p2 connect: SSH host key does not match known_hosts: possible impersonation"
    p2 = peer(1, 3, reachable=False).model_copy(
        update={"error": mismatch, "unreachable_kind": "tls"}
    )
    r = summarize(cluster(peer(0, 3), p2, peer(2, 3)))
    assert "does not answer" not in r.root_cause, r.root_cause
    assert r.root_cause.startswith("p2 cannot be trusted: ") and "impersonation" in r.root_cause
    down = peer(1, 3, reachable=False).model_copy(
        update={"error": "connection refused", "unreachable_kind": "connect"}
    )
    r = summarize(cluster(peer(0, 3), down, peer(2, 3)))
    assert r.root_cause == "p2 does not answer (connection refused)"


def test_a_peer_in_maintenance_is_said_as_deliberate_not_healthy_nor_unexplained() -> None:
    """Alarm 20111 (class "maintenance" in knowledge.toml): the peer is drained on
    purpose. Status names it (verdict degraded: fewer peers take calls), never as an
    unknown alarm; a real fault elsewhere stays the root cause."""
    r = summarize(cluster(peer(0, 3), peer(1, 3, alarms=("20111",)), peer(2, 3)))
    assert r.verdict is Verdict.DEGRADED
    assert [p.maintenance for p in r.peers] == [False, True, False]
    assert r.root_cause.startswith("p2 is in maintenance mode (alarm 20111): drained on purpose")
    assert r.reasons == (r.root_cause,)  # no bare "p2 alarms 20111" beside it
    assert [(n.id, n.title) for n in r.alarms] == [
        ("20111", "Maintenance mode: this peer is in maintenance mode")
    ]
    both = summarize(
        cluster(peer(0, 3), peer(1, 3, alarms=("20111",)), peer(2, 3, alarms=("20101",)))
    )
    assert both.root_cause == "p3 alarms 20101"  # the fault first, the drained peer after
    assert "maintenance mode" in both.reasons[-1]
    assert summarize(cluster(*(peer(i, 3) for i in range(3)))).peers[1].maintenance is False


# exops.status/1 as it was before the fields of issue 25 / the maintenance alarm were
# added: fields are only ever added (never renamed or removed) under one schema name.
STATUS_1_CLUSTER = {
    "cluster", "verdict", "reasons", "root_cause", "cluster_name", "primary_host",
    "primary_slot", "tls_mode", "capacity", "peers", "alarms",
}  # fmt: skip
STATUS_1_PEER = {
    "slot", "host", "address", "listed_as", "reachable", "is_primary", "primary_seen",
    "state", "database", "replication", "tls_mode", "alarms", "restart_pending",
    "factory_reset_pending", "version", "role", "platform", "transport", "error",
}  # fmt: skip


def test_the_status_schema_only_gains_fields_and_its_golden_is_deliberate() -> None:
    """The JSON schema of one cluster of `exops status --json` (exops.status/1) is pinned
    by tests/golden/status-schema.json: a change is made on purpose
    (EXOPS_UPDATE_GOLDEN=1) and may only add fields."""
    import json

    from exops.report.status import SCHEMA, ClusterReport

    assert SCHEMA == "exops.status/1"
    schema = ClusterReport.model_json_schema()
    row = schema["$defs"]["PeerRow"]["properties"]
    assert set(schema["properties"]) >= STATUS_1_CLUSTER
    assert set(row) >= STATUS_1_PEER
    added_peer = set(row) - STATUS_1_PEER
    assert added_peer == {
        "maintenance", "dns_servers", "dns_servers_unknown", "ntp_servers", "ntp_servers_unknown"
    }  # fmt: skip
    assert set(schema["properties"]) - STATUS_1_CLUSTER == {"run_in_progress"}
    check_golden("status-schema.json", json.dumps(schema, indent=2, sort_keys=True) + "\n")
    doc = summarize(cluster(*(peer(i, 2) for i in range(2)))).model_dump(mode="json")
    assert doc["run_in_progress"] is None
    assert {k: doc["peers"][0][k] for k in ("maintenance", "dns_servers", "ntp_servers")} == {
        "maintenance": False,
        "dns_servers": [],
        "ntp_servers": [],
    }

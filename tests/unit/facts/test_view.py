"""ClusterView helpers on plain data: per-target reads (issue 11 item 4, convergence).

A run killed between its writes leaves the peers disagreeing; a re-run must
decide each target from that target's own state, never from the reference
peer's list taken as the cluster's.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from factkit import ADDR, FQDN, NOW, changes, cluster, peer, plan
from paths import FIXTURES as FIXTURES_ROOT

from exops.appliance import xapi
from exops.core.models import ClusterSettings, PeerFacts, TlsMode
from exops.facts.view import ClusterView

FIXTURES = FIXTURES_ROOT / "contract" / "cli"


def test_lists_reads_the_given_peer_list_not_the_reference() -> None:
    # p1 (primary, the reference) no longer lists p2; p3 still does.
    facts = cluster(peer(0, [0, 2]), peer(1, [0, 1, 2]), peer(2, [0, 1, 2]))
    view = ClusterView(facts)
    assert not view.listed("p2")  # the reference's answer
    assert view.lists(facts.peer("p3").settings, "p2")  # p3's own answer
    assert not view.lists(facts.peer("p1").settings, "p2")
    assert not view.lists(None, "p2")


def test_lists_knows_a_peer_by_its_fqdn() -> None:
    facts = cluster(*(peer(i, [0, 1], by_fqdn=True) for i in range(2)))
    view = ClusterView(facts)
    assert view.lists(ClusterSettings(peers=(FQDN[1], "", "", "", "", "")), "p2")
    assert view.lists(ClusterSettings(peers=(ADDR[1].upper(), "", "", "", "", "")), "p2")
    assert not view.lists(ClusterSettings(peers=(ADDR[0], "", "", "", "", "")), "p2")


def test_remove_peer_rerun_after_kill_removes_the_leaver_from_every_subordinate() -> None:
    """Killed right after the primary's write: the subordinate still lists the leaver.

    The old ``when: cluster.listed(peer)`` read the primary's list, skipped p3
    and left it listing p2 forever."""
    facts = cluster(peer(0, [0, 2]), peer(1, [0, 1, 2]), peer(2, [0, 1, 2]))
    p = plan("remove-peer", facts, peer="p2")
    assert p.refused is None, p.refused
    assert changes(p) == [("p3", "configure"), ("p2", "configure"), ("p2", "restart")]
    p3 = next(a for a in p.actions if a.host == "p3" and a.after is not None)
    assert p3.after is not None and p3.after.peers[:3] == (ADDR[0], ADDR[2], "")


def test_remove_peer_rerun_after_the_subordinates_is_only_the_decommission() -> None:
    facts = cluster(peer(0, [0, 2]), peer(1, [0, 1, 2]), peer(2, [0, 2]))
    assert changes(plan("remove-peer", facts, peer="p2")) == [
        ("p2", "configure"),
        ("p2", "restart"),
    ]


def test_booted_after_uses_the_old_clock_without_system_time() -> None:
    facts = cluster(peer(0, [0], uptime_s=60))
    view = ClusterView(facts)
    assert view.booted_after("p1", (NOW - timedelta(minutes=10)).isoformat())
    assert not view.booted_after("p1", NOW.isoformat())


def _with_clock(p: PeerFacts, system_time: datetime | None, uptime_s: int) -> PeerFacts:
    assert p.system is not None
    system = p.system.model_copy(update={"system_time": system_time, "uptime_s": uptime_s})
    return p.model_copy(update={"system": system})


def test_booted_after_reads_the_appliance_clock_under_compressed_time() -> None:
    """A lab in compressed time reports 10^5 simulated seconds of uptime for two
    minutes of wall time: exops's clock minus that uptime is a day ago, while the
    appliance's own clock minus it is the real boot, after the failed run began."""
    start = NOW - timedelta(minutes=5)
    booted = start + timedelta(minutes=1)
    uptime = 100_000
    appliance_now = booted + timedelta(seconds=uptime)  # its clock runs in simulated time
    facts = cluster(
        _with_clock(peer(0, [0, 1]), appliance_now, uptime),
        _with_clock(peer(1, [0, 1]), NOW - timedelta(minutes=1), 86_400),
    )
    view = ClusterView(facts)
    assert view.booted_after("p1", start.isoformat())
    assert not view.booted_after("p2", start.isoformat())
    p = plan("restart", facts, since=start.isoformat())
    assert changes(p) == [("p2", "restart")]


def test_booted_after_accepts_a_naive_since_as_utc() -> None:
    facts = cluster(_with_clock(peer(0, [0]), NOW, 60))
    view = ClusterView(facts)
    assert view.booted_after("p1", (NOW - timedelta(minutes=5)).replace(tzinfo=None).isoformat())
    assert not view.booted_after("p1", None)


def test_system_time_is_parsed_from_the_real_system_unit_capture() -> None:
    answer = (FIXTURES / "system_unit_x8113.txt").read_text()
    unit = xapi.parse_status(answer, "xStatus SystemUnit")[0][1]
    info = xapi.system_from_cli(unit, {}, {}, {}, {})
    assert info.system_time == datetime(2018, 12, 18, 21, 32, 46, tzinfo=UTC)
    assert info.uptime_s == 2492


@pytest.mark.parametrize(
    ("text", "want"),
    [
        ("2026-11-30 10:00:00", datetime(2026, 11, 30, 10, 0, tzinfo=UTC)),
        ("2026-11-30T10:00:00Z", datetime(2026, 11, 30, 10, 0, tzinfo=UTC)),
        ("", None),
        ("yesterday", None),
        (None, None),
        (1700000000, None),
    ],
)
def test_parse_system_time(text: object, want: datetime | None) -> None:
    assert xapi.parse_system_time(text) == want


def test_create_cluster_rerun_after_a_kill_before_the_primary_write_finishes_it() -> None:
    """Killed after the peer slot was written but before the primary slot: the old
    ``when: not cluster.clustered`` saw a cluster (p1 lists itself) and skipped the
    step; the re-run restarted p1 and said done with no configuration primary."""
    facts = cluster(peer(0, [0], primary=0, alarms=("20007",)), peer(1, []), peer(2, []))
    p = plan("create-cluster", facts)
    assert p.refused is None, p.refused
    configure = next(a for a in p.actions if a.host == "p1" and a.after is not None)
    assert configure.after is not None and configure.after.primary == 1
    assert changes(p) == [("p1", "configure"), ("p1", "restart")]


def test_create_cluster_leaves_a_formed_one_peer_cluster_alone() -> None:
    facts = cluster(peer(0, [0], tls=TlsMode.ENFORCE, by_fqdn=True), peer(1, []), peer(2, []))
    assert changes(plan("create-cluster", facts)) == []


def test_a_boot_within_the_clock_resolution_of_the_start_is_not_after_it() -> None:
    """SystemTime and Uptime are whole seconds: a peer that booted in the same
    second as the failed run began is restarted again, never skipped."""
    start = NOW - timedelta(minutes=5)
    same_second = _with_clock(peer(0, [0]), start + timedelta(seconds=60), 60)
    later = _with_clock(peer(0, [0]), start + timedelta(seconds=62), 60)
    assert not ClusterView(cluster(same_second)).booted_after("p1", start.isoformat())
    assert ClusterView(cluster(later)).booted_after("p1", start.isoformat())

"""The remedies exops prints are safe for the state that prints them (issue 19 item 3)."""

from __future__ import annotations

from factkit import ADDR, cluster, peer

from exops.core.models import Alarm, ClusterSettings, PeerFacts
from exops.plan.preflight import run_checks
from exops.report.remedy import alarm_fix
from exops.report.status import summarize


def alarmed(p: PeerFacts, *ids: str) -> PeerFacts:
    return p.model_copy(update={"alarms": tuple(Alarm(id=i) for i in ids)})


def fixes(facts) -> dict[tuple[str, str], str]:  # type: ignore[no-untyped-def]
    return {(n.host, n.id): n.fix for n in summarize(facts).alarms}


def switched_with_the_old_primary_down_then_back():  # type: ignore[no-untyped-def]
    """switch-primary --peer p2 ran while p1 was down; p1 came back naming itself."""
    return cluster(
        alarmed(peer(0, [0, 1, 2], primary=1), "20102", "20105"),
        alarmed(peer(1, [0, 1, 2], primary=2), "20102", "20105"),
        alarmed(peer(2, [0, 1, 2], primary=2), "20102", "20101"),
    )


def test_a_disputed_primary_is_fixed_by_switch_primary_never_repair_replication() -> None:
    facts = switched_with_the_old_primary_down_then_back()
    got = fixes(facts)
    assert set(got.values()) == {"exops switch-primary -c c1 --peer p2"}, got


def test_replication_alarms_without_a_dispute_are_repaired() -> None:
    facts = cluster(peer(0, [0, 1, 2]), peer(1, [0, 1, 2]), alarmed(peer(2, [0, 1, 2]), "20101"))
    assert fixes(facts) == {("p3", "20101"): "exops repair-replication -c c1"}


def test_primary_mismatch_names_the_peer_switch_primary_requires() -> None:
    facts = cluster(alarmed(peer(0, [0, 1]), "20105"), peer(1, [0, 1]))
    assert fixes(facts)[("p1", "20105")] == "exops switch-primary -c c1 --peer p1"


def test_restart_required_on_an_emptied_peer_is_undone_not_restarted() -> None:
    emptied = alarmed(peer(2, [0, 1, 2]), "20007", "20107")
    assert emptied.settings is not None
    emptied = emptied.model_copy(update={"settings": ClusterSettings()})
    facts = cluster(peer(0, [0, 1, 2]), peer(1, [0, 1, 2]), emptied)
    assert fixes(facts) == {
        ("p3", "20007"): "exops restore -c c1 --peer p3",
        ("p3", "20107"): "exops restore -c c1 --peer p3",
    }


def test_restart_required_on_a_peer_missing_from_its_own_list_is_add_peer() -> None:
    p3 = alarmed(peer(2, [0, 1]), "20007", "20110")
    facts = cluster(peer(0, [0, 1, 2]), peer(1, [0, 1, 2]), p3)
    assert fixes(facts) == {
        ("p3", "20007"): "exops add-peer -c c1 --peer p3",
        ("p3", "20110"): "exops add-peer -c c1 --peer p3",
    }


def test_restart_required_on_a_member_is_restarting_it() -> None:
    facts = cluster(peer(0, [0, 1]), alarmed(peer(1, [0, 1]), "20007"))
    assert alarm_fix("20007", facts.peer("p2"), facts) == "exops restart -c c1 --peer p2"


def test_no_primary_no_switch_primary_remedy() -> None:
    """No peer lists any address: a remedy that needs --peer PRIMARY is left out."""
    lone = alarmed(peer(0, []), "20105")
    facts = cluster(lone)
    assert alarm_fix("20105", lone, facts) == ""


def test_the_cluster_health_check_sends_a_dispute_to_switch_primary() -> None:
    facts = switched_with_the_old_primary_down_then_back()
    (health,) = run_checks(facts, ["cluster_health"])
    assert "disagree on the configuration primary" in health.summary
    assert "`exops switch-primary -c c1 --peer p2`" in health.summary
    assert "repair-replication" not in health.summary
    assert ADDR[1] in health.summary


def test_repair_replication_refuses_while_the_peers_disagree_on_the_primary() -> None:
    from factkit import plan

    p = plan("repair-replication", switched_with_the_old_primary_down_then_back())
    assert p.refused is not None and p.actions == ()
    assert "disagree on the configuration primary" in p.refused
    assert "exops switch-primary -c c1 --peer p2" in p.refused


def test_status_of_settings_not_read_is_unknown_not_unclustered() -> None:
    """--transport rest on peers whose CDB REST API is off: nothing was read, which is
    not 'no peer lists any address'."""
    unread = [
        peer(i, [0, 1]).model_copy(update={"settings": None, "error": "HTTP 404: CDB off"})
        for i in range(2)
    ]
    report = summarize(cluster(*unread))
    assert report.verdict.value == "unknown"  # issue 26: nothing read decides nothing
    assert "HTTP 404: CDB off" in " ".join(report.reasons), report.reasons

"""The knowledge table's accessors: what the planner, restore, health and logs read."""

from __future__ import annotations

import pytest

from exops.appliance import knowledge
from exops.core.models import ClusterSettings


def test_model_fields_cover_the_peer_model_and_the_table() -> None:
    assert set(knowledge.MODEL_FIELDS) == set(ClusterSettings.model_fields)
    rows = {r for names in knowledge.MODEL_FIELDS.values() for r in names}
    assert rows | {"h323_mode"} == set(knowledge.SETTING_RULES)


def test_spread_and_effect_by_row_or_model_field() -> None:
    assert knowledge.spread_of("tls_mode") == "cluster"
    assert knowledge.spread_of("mapping") == "cluster"  # two rows, one spread
    assert knowledge.spread_of("mapping_name") == "cluster"
    assert knowledge.spread_of("peers") == "local"
    assert knowledge.spread_of("h323_mode") == "replicated"
    assert knowledge.effect_of("ip_version") == "restart"
    assert knowledge.effect_of("primary") == "live"
    assert knowledge.cluster_fields() == (
        "cluster_name",
        "tls_mode",
        "ip_version",
        "mapping_enabled",
        "mapping",
    )
    assert knowledge.restart_fields() == ("peers", "tls_mode", "ip_version")


def test_alarm_classes_by_id_and_class() -> None:
    assert knowledge.alarm_ids("communication") == {"20004", "20006"}
    assert knowledge.alarm_ids("replication") == {"20101", "20103", "20104"}
    assert knowledge.alarm_ids("primary-mismatch") == {"20102", "20105"}
    assert knowledge.alarm_ids("replication", "own-entry") == {"20101", "20103", "20104", "20110"}
    assert knowledge.alarm_id("restart-required") == "20007"
    assert knowledge.alarm_id("factory-reset") == "20107"
    assert knowledge.alarm_id("invalid-clustering") == "20106"
    assert knowledge.alarm_class("20109") == "peer"
    assert knowledge.alarm_class("99999") is None
    assert knowledge.transient_alarms() == {"20004", "20006", "20007"}
    assert {a.cls for a in knowledge.ALARM_CATALOGUE} == set(knowledge.ALARM_CLASSES)
    with pytest.raises(ValueError, match="unknown alarm class"):
        knowledge.alarm_ids("comms")
    with pytest.raises(ValueError, match="not one"):
        knowledge.alarm_id("replication")


def test_a_row_outside_its_set_fails_loudly(monkeypatch: pytest.MonkeyPatch) -> None:
    data = {"alarm": [{"id": "1", "class": "weather", "mark": "CONFIRMED"}]}
    with pytest.raises(ValueError, match="keys"):
        knowledge._rows(data, "alarm", knowledge.AlarmInfo)


def test_health_follows_the_alarm_classes(monkeypatch: pytest.MonkeyPatch) -> None:
    """Reclassify one alarm in a copy of the catalogue: health and status follow."""
    from dataclasses import replace

    from factkit import cluster, peer

    from exops.facts.health import peer_problems
    from exops.report.status import Verdict, summarize

    facts = cluster(peer(0, [0, 1]), peer(1, [0, 1], alarms=("20108",)))
    assert peer_problems(facts.peers[1]) == []  # class "peer": not a cluster alarm
    copy = tuple(
        replace(a, cls="communication") if a.id == "20108" else a for a in knowledge.ALARM_CATALOGUE
    )
    monkeypatch.setattr(knowledge, "ALARM_CATALOGUE", copy)
    assert peer_problems(facts.peers[1]) == ["p2 alarms 20108"]
    assert summarize(facts).verdict is Verdict.DEGRADED


def test_the_maintenance_class_comes_from_the_table(monkeypatch: pytest.MonkeyPatch) -> None:
    """20111's meaning for status and preflight is its row's class: reclassified in a
    copy of the catalogue, status reports it as any other alarm and preflight passes."""
    from dataclasses import replace

    from factkit import cluster, peer

    from exops.plan.preflight import run_checks
    from exops.report.status import summarize

    row = knowledge.ALARM_BY_ID["20111"]
    assert (row.cls, row.mark, row.fix) == ("maintenance", "MOCK-DEFINED", "")
    assert "An alarm is raised while the peer is in maintenance mode." in row.source
    assert knowledge.alarm_ids("maintenance") == {"20111"}
    facts = cluster(peer(0, [0, 1]), peer(1, [0, 1], alarms=("20111",)))
    health = run_checks(facts, ["cluster_health"])[0]
    assert (health.outcome.value, health.evidence["p2"].endswith("(alarm 20111)")) == (
        "warn",
        True,
    )
    assert summarize(facts).peers[1].maintenance
    copy = tuple(replace(a, cls="peer") if a.id == "20111" else a for a in knowledge.ALARM_CATALOGUE)
    monkeypatch.setattr(knowledge, "ALARM_CATALOGUE", copy)
    report = summarize(facts)
    assert not report.peers[1].maintenance and report.reasons == ("p2 alarms 20111",)
    assert run_checks(facts, ["cluster_health"])[0].outcome.value == "pass"

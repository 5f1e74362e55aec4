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


def test_the_old_constants_are_what_the_table_gives() -> None:
    """The literals the code keeps today are the table's rows (deleted in the next commit)."""
    from exops.core import models
    from exops.facts import health
    from exops.plan import planner, restore
    from exops.tools import logs, rehearse

    # The planner's "replicated" is the table's spread "cluster", except ip_version,
    # which the table (and the lab) spread with the others and the planner forgot.
    assert set(planner.REPLICATED_FIELDS) == set(knowledge.cluster_fields()) - {"ip_version"}
    assert knowledge.cluster_fields() == restore.CLUSTER_WIDE
    # Predicted.restart_needed compares tls_mode, ip_version and the own entry (peers).
    assert knowledge.restart_fields() == ("peers", "tls_mode", "ip_version")
    # Alarms expected while a peer restarts: the communication class.
    assert tuple(sorted(knowledge.alarm_ids("communication"))) == planner.TRANSIENT_ALARMS
    assert knowledge.alarm_ids("communication") == health.COMMUNICATION_ALARMS
    assert knowledge.alarm_ids("communication") == logs.COMMUNICATION_ALARMS
    replication = knowledge.alarm_ids("replication", "primary-mismatch", "own-entry")
    assert replication == health.REPLICATION_ALARMS
    assert knowledge.alarm_id("factory-reset") == health.FACTORY_RESET_ALARM
    assert knowledge.alarm_id("invalid-clustering") == health.INVALID_CLUSTERING_ALARM
    restart = knowledge.alarm_id("restart-required")
    assert health.RESTART_REQUIRED == models.RESTART_REQUIRED == logs.RESTART_REQUIRED == restart
    # The lab derives from its state the cluster-state alarms it raises (a type UUID);
    # the old list missed 20110, which the lab derives too (lab.py: no own entry).
    lab_raised = {a.id for a in knowledge.ALARM_CATALOGUE if a.uuid and a.cls != "peer"}
    assert lab_raised - {"20110"} == rehearse.DERIVED_ALARMS

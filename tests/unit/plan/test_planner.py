"""The planner is pure: plans from plain facts, no appliance, no I/O."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from factkit import ADDR, FQDN, NOW, changes, cluster, peer, plan

from exops.appliance.base import Field
from exops.core.errors import RunbookFileError, UsageError
from exops.core.models import (
    Role,
    TlsMode,
)
from exops.facts.health import maintenance_alarms
from exops.plan.model import ActionKind, Plan
from exops.plan.planner import plan_runbook
from exops.runbook.loader import parse_runbook


def test_add_peer_orders_primary_subordinates_new_peer_then_restart() -> None:
    facts = cluster(peer(0, [0, 1]), peer(1, [0, 1]), peer(2, []))
    p = plan("add-peer", facts, peer="p3")
    assert p.refused is None
    assert changes(p) == [
        ("p1", "configure"),
        ("p2", "configure"),
        ("p3", "configure"),
        ("p3", "restart"),
    ]
    first = p.actions[1]
    assert first.writes[0].field is Field.PEER_ADDRESS and first.writes[0].index == 3
    assert first.writes[0].value == ADDR[2]
    new = next(a for a in p.actions if a.host == "p3" and a.kind is ActionKind.CONFIGURE)
    assert new.after is not None and new.after.peers[:3] == tuple(ADDR[:3])
    assert new.after.primary == 1
    # a backup of each peer precedes its first change
    kinds = [(a.host, a.kind) for a in p.actions]
    for host in ("p1", "p2", "p3"):
        assert kinds.index((host, ActionKind.BACKUP)) < kinds.index((host, ActionKind.CONFIGURE))
    assert p.actions[-2].condition == "cluster_healthy"


def test_add_peer_again_is_an_empty_plan() -> None:
    facts = cluster(*(peer(i, [0, 1, 2]) for i in range(3)))
    p = plan("add-peer", facts, peer="p3")
    assert changes(p) == [] and not p.has_changes
    # only read-only checks remain: a re-run after a failed wait checks again
    assert {a.kind for a in p.actions} <= {ActionKind.WAIT, ActionKind.VERIFY}
    assert {s.reason for s in p.skipped} >= {"already as wanted", "no restart pending"}


def test_a_pending_restart_read_from_the_appliance_is_finished() -> None:
    """A run that failed before its restart: the restart is planned from alarm 20007."""
    facts = cluster(peer(0, [0, 1, 2]), peer(1, [0, 1, 2]), peer(2, [0, 1, 2], alarms=("20007",)))
    p = plan("add-peer", facts, peer="p3")
    assert changes(p) == [("p3", "restart")]
    assert "20007" in p.actions[0].reason


def test_seventh_peer_is_refused() -> None:
    six = list(range(6))
    facts = cluster(*(peer(i, six) for i in range(6)), peer(6, []))
    p = plan("add-peer", facts, peer="p7")
    assert p.refused and "6 peers" in p.refused
    assert p.actions == ()


@pytest.mark.parametrize(
    ("override", "check"),
    [
        ({"role": Role.EXPRESSWAY_E}, "role"),
        ({"version": "X14.3.0"}, "version"),
        ({"h323": False}, "h323"),
    ],
)
def test_add_peer_preflight_refuses_with_evidence(override: dict[str, Any], check: str) -> None:
    facts = cluster(peer(0, [0, 1]), peer(1, [0, 1]), peer(2, [], **override))
    p = plan("add-peer", facts, peer="p3")
    assert p.refused and check in p.refused
    failed = [c for c in p.preflight if c.outcome.value == "fail"]
    assert [c.name for c in failed] == [check]
    assert "p3" in failed[0].evidence


def test_enforce_tls_predicts_replication_and_restarts_primary_first() -> None:
    facts = cluster(*(peer(i, [0, 1, 2], by_fqdn=True) for i in range(3)))
    p = plan("enforce-tls", facts)
    assert p.refused is None, p.refused
    assert changes(p) == [
        ("p1", "configure"),
        ("p1", "restart"),
        ("p2", "restart"),
        ("p3", "restart"),
    ]
    # the review shows what replication will do on the peers exops does not write
    assert [w.split(":")[0] for w in p.warnings if "replication from p1" in w] == ["p2", "p3"]
    again = cluster(*(peer(i, [0, 1, 2], by_fqdn=True, tls=TlsMode.ENFORCE) for i in range(3)))
    assert changes(plan("enforce-tls", again)) == []


def test_enforce_tls_refused_when_peers_are_listed_by_ip() -> None:
    facts = cluster(*(peer(i, [0, 1, 2]) for i in range(3)))
    p = plan("enforce-tls", facts)
    assert p.refused and "tls_names" in p.refused


def test_remove_peer_refuses_the_primary_and_decommissions_the_leaver() -> None:
    facts = cluster(*(peer(i, [0, 1, 2]) for i in range(3)))
    assert "switch-primary" in (plan("remove-peer", facts, peer="p1").refused or "")
    p = plan("remove-peer", facts, peer="p2")
    assert changes(p) == [
        ("p1", "configure"),
        ("p3", "configure"),
        ("p2", "configure"),
        ("p2", "restart"),
    ]
    leaver = next(a for a in p.actions if a.host == "p2" and a.kind is ActionKind.CONFIGURE)
    assert leaver.after is not None and leaver.after.is_empty
    restart = next(a for a in p.actions if a.kind is ActionKind.RESTART)
    assert restart.decommission
    p1 = next(a for a in p.actions if a.host == "p1" and a.kind is ActionKind.CONFIGURE)
    assert p1.after is not None and p1.after.peers[:3] == (ADDR[0], ADDR[2], "")


def test_remove_peer_moves_the_primary_slot_when_compacting() -> None:
    facts = cluster(*(peer(i, [0, 1, 2], primary=3) for i in range(3)))
    p = plan("remove-peer", facts, peer="p2")
    p3 = next(a for a in p.actions if a.host == "p3" and a.kind is ActionKind.CONFIGURE)
    assert p3.after is not None and p3.after.primary == 2
    # the slot is filled before the primary moves, never an empty list mid-way
    assert [w.field for w in p3.writes][-1] is Field.PRIMARY


def test_emptying_a_list_without_decommission_is_refused(tmp_path: Path) -> None:
    text = """
name: wipe
steps:
  - name: clear p2
    on: p2
    configure: {peers: []}
"""
    runbook = parse_runbook(text, "wipe.yaml")
    facts = cluster(*(peer(i, [0, 1, 2]) for i in range(3)))
    p = plan_runbook(runbook, facts, {}, now=NOW, exops_version="t")
    assert p.refused and "factory reset" in p.refused and p.actions == ()


def test_a_plan_that_restarts_a_peer_while_another_is_drained_is_refused() -> None:
    """Safety rule R9 at planning: enforce-tls would write the setting and then find
    every restart but p3's refused (p3 in maintenance mode: two peers out of
    service). Refused before any write; the drained peer's own restart is planned."""
    (maint,) = sorted(maintenance_alarms())
    drained = cluster(
        peer(0, [0, 1, 2], by_fqdn=True),
        peer(1, [0, 1, 2], by_fqdn=True),
        peer(2, [0, 1, 2], by_fqdn=True, alarms=(maint,)),
    )
    p = plan("enforce-tls", drained)
    assert p.refused is not None and p.actions == ()
    assert "p3 is in maintenance mode" in p.refused and "p1" in p.refused
    assert "R9" in p.refused
    own = plan("restart", drained, peer="p3")
    assert own.refused is None, own.refused
    assert changes(own) == [("p3", "restart")]
    # Restarted first, the drained peer leaves maintenance (the vendor's rule): the
    # restarts after it are no longer beside a drained peer.
    first = cluster(peer(0, [0, 1, 2], alarms=(maint,)), peer(1, [0, 1, 2]), peer(2, [0, 1, 2]))
    whole = plan("restart", first)
    assert whole.refused is None, whole.refused
    assert [h for h, k in changes(whole)] == ["p1", "p2", "p3"]


def test_restarting_a_peer_found_with_an_empty_list_is_refused_with_the_undo() -> None:
    facts = cluster(peer(0, [0, 1]), peer(1, [], alarms=("20107",)))
    p = plan("restart", facts)
    assert p.refused and "factory_reset" in p.refused and "exops restore" in p.refused


def test_switch_primary_with_old_primary_down_skips_it_with_a_warning() -> None:
    facts = cluster(peer(0, [0, 1, 2], reachable=False), peer(1, [0, 1, 2]), peer(2, [0, 1, 2]))
    p = plan("switch-primary", facts, peer="p2")
    assert p.refused is None
    assert changes(p) == [("p2", "configure"), ("p3", "configure")]
    assert any("p1 is unreachable" in w for w in p.warnings)
    assert all(a.after is None or a.after.primary == 2 for a in p.actions)
    # not done is not "already in place": the review says so
    assert [(s.host, s.in_place) for s in p.skipped if s.host == "p1"] == [("p1", False)]
    from exops.report import render_plan

    text = render_plan(p, "text")
    assert "Skipped, NOT done" in text and "0 already in place" in text


def test_switch_primary_is_refused_while_members_wait_for_a_restart() -> None:
    """Members waiting for a restart (20007): refused, naming them and the restart
    commands; with a member down (the old primary gone) the switch stays possible
    (a primary change takes effect at once, and rule R2 would refuse those restarts)."""
    everyone = [0, 1, 2]
    facts = cluster(peer(0, everyone), peer(1, everyone, alarms=("20007",)), peer(2, everyone))
    p = plan("switch-primary", facts, peer="p3")
    assert p.refused is not None and p.actions == ()
    assert p.refused.startswith("p2 of cluster c1 wait for a restart (alarm 20007)")
    assert "`exops restart -c c1 --peer p2 --yes`" in p.refused
    down = cluster(
        peer(0, everyone, reachable=False),
        peer(1, everyone, alarms=("20007",)),
        peer(2, everyone),
    )
    p = plan("switch-primary", down, peer="p3")
    assert p.refused is None
    assert changes(p) == [("p3", "configure"), ("p2", "configure")]


def test_convert_fqdn_goes_slot_by_slot() -> None:
    facts = cluster(*(peer(i, [0, 1]) for i in range(2)))
    p = plan("convert-fqdn", facts)
    assert changes(p) == [
        ("p1", "configure"),
        ("p2", "configure"),
        ("p1", "restart"),
        ("p1", "configure"),
        ("p2", "configure"),
        ("p2", "restart"),
    ]
    last = [a for a in p.actions if a.kind is ActionKind.CONFIGURE][-1]
    assert last.after is not None and last.after.peers[:2] == tuple(FQDN[:2])
    converted = cluster(*(peer(i, [0, 1], by_fqdn=True) for i in range(2)))
    assert changes(plan("convert-fqdn", converted)) == []


def test_repair_replication_targets_out_of_sync_subordinates_only() -> None:
    facts = cluster(peer(0, [0, 1, 2]), peer(1, [0, 1, 2], alarms=("20101",)), peer(2, [0, 1, 2]))
    p = plan("repair-replication", facts)
    assert changes(p) == [("p2", "command")]
    assert p.actions[-1].advice and "re-upgrade" in p.actions[-1].advice


def test_restart_resume_skips_peers_booted_since() -> None:
    facts = cluster(
        peer(0, [0, 1], uptime_s=60),  # booted a minute ago
        peer(1, [0, 1], uptime_s=86400),
    )
    since = (NOW - timedelta(minutes=10)).isoformat()
    p = plan("restart", facts, since=since)
    assert changes(p) == [("p2", "restart")]


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"peer": "p9"}, "'p9' is not a peer"),
        ({}, "'peer' is required"),
        ({"peer": "p3", "colour": "red"}, "unknown parameter 'colour'"),
    ],
)
def test_bad_parameters_are_usage_errors(params: dict[str, Any], message: str) -> None:
    facts = cluster(peer(0, [0]), peer(1, []), peer(2, []))
    with pytest.raises(UsageError, match=message):
        plan("add-peer", facts, **params)


def test_an_expression_error_names_the_file_and_step() -> None:
    runbook = parse_runbook(
        "name: x\nsteps:\n  - name: s\n    on: primary\n    configure: {primary: '{{ nope }}'}\n",
        "mine.yaml",
    )
    facts = cluster(peer(0, [0]))
    with pytest.raises(RunbookFileError, match=r"mine.yaml: step 's'.*nope"):
        plan_runbook(runbook, facts, {}, now=NOW, exops_version="t")


def test_plan_digest_changes_with_the_facts() -> None:
    a = plan("add-peer", cluster(peer(0, [0, 1]), peer(1, [0, 1]), peer(2, [])), peer="p3")
    b = plan("add-peer", cluster(peer(0, [0, 1]), peer(1, [0, 1]), peer(2, [0])), peer="p3")
    assert a.facts_digest != b.facts_digest
    assert Plan.from_json(a.to_json()) == a


# -- per-procedure fixes (issue 11, item 6) ------------------------------------------------------
def test_add_peer_lists_the_new_peer_by_fqdn_on_an_fqdn_cluster() -> None:
    facts = cluster(peer(0, [0, 1], by_fqdn=True), peer(1, [0, 1], by_fqdn=True), peer(2, []))
    p = plan("add-peer", facts, peer="p3")
    assert p.refused is None, p.refused
    configures = [a for a in p.actions if a.kind is ActionKind.CONFIGURE]
    assert [a.host for a in configures] == ["p1", "p2", "p3"]
    for a in configures:
        assert a.after is not None and a.after.peers[:3] == tuple(FQDN[:3]), a.host
    assert not any(w.value == ADDR[2] for a in configures for w in a.writes)


def test_add_peer_lists_the_new_peer_by_address_on_an_ip_cluster() -> None:
    facts = cluster(peer(0, [0, 1]), peer(1, [0, 1]), peer(2, []))
    p = plan("add-peer", facts, peer="p3")
    new = next(a for a in p.actions if a.host == "p3" and a.kind is ActionKind.CONFIGURE)
    assert new.after is not None and new.after.peers[2] == ADDR[2]


def test_add_peer_in_tls_enforce_lists_by_fqdn_and_checks_the_new_peers_names() -> None:
    enforce = {"by_fqdn": True, "tls": TlsMode.ENFORCE}
    facts = cluster(peer(0, [0, 1], **enforce), peer(1, [0, 1], **enforce), peer(2, []))
    p = plan("add-peer", facts, peer="p3")
    assert p.refused is None, p.refused
    check = next(c for c in p.preflight if c.name == "tls_names")
    assert check.outcome.value == "pass" and FQDN[2] in check.summary
    # a certificate without the FQDN the new peer would be listed under: refused
    bad = peer(2, [])
    assert bad.certificate is not None
    bad = bad.model_copy(
        update={"certificate": bad.certificate.model_copy(update={"sans": ("other.example.com",)})}
    )
    p = plan(
        "add-peer", cluster(peer(0, [0, 1], **enforce), peer(1, [0, 1], **enforce), bad), peer="p3"
    )
    assert p.refused and "tls_names" in p.refused and FQDN[2] in p.refused
    assert p.actions == ()


def test_add_peer_in_tls_enforce_refuses_an_untrusted_issuer() -> None:
    enforce = {"by_fqdn": True, "tls": TlsMode.ENFORCE}
    new = peer(2, [])
    new = new.model_copy(update={"trust_store": ("Other CA",)})
    p = plan(
        "add-peer", cluster(peer(0, [0, 1], **enforce), peer(1, [0, 1], **enforce), new), peer="p3"
    )
    assert p.refused and "does not trust Lab CA" in p.refused


def test_add_peer_without_tls_enforce_does_not_check_certificates() -> None:
    facts = cluster(peer(0, [0, 1]), peer(1, [0, 1]), peer(2, []))
    assert not any(c.name == "tls_names" for c in plan("add-peer", facts, peer="p3").preflight)


def test_add_peer_refuses_a_peer_without_fqdn_on_an_fqdn_cluster() -> None:
    new = peer(2, []).model_copy(update={"fqdn": ""})
    facts = cluster(peer(0, [0, 1], by_fqdn=True), peer(1, [0, 1], by_fqdn=True), new)
    p = plan("add-peer", facts, peer="p3")
    assert p.refused and "set the fqdn of p3" in p.refused


def test_add_peer_first_finishes_the_primarys_pending_restart() -> None:
    """Domain 3.1: a created cluster's primary is restarted before any peer is added."""
    facts = cluster(peer(0, [0], alarms=("20007",)), peer(1, []))
    p = plan("add-peer", facts, peer="p2")
    assert p.refused is None, p.refused
    assert changes(p)[0] == ("p1", "restart")
    assert changes(p)[1:] == [("p1", "configure"), ("p2", "configure"), ("p2", "restart")]
    gate = p.actions[1]
    assert gate.kind is ActionKind.WAIT and gate.condition == "peer_healthy"


def test_create_cluster_sets_the_cluster_name_from_the_inventory() -> None:
    facts = cluster(peer(0, []), peer(1, [])).model_copy(update={"cluster_name": "c1.example.com"})
    p = plan("create-cluster", facts)
    new = next(a for a in p.actions if a.kind is ActionKind.CONFIGURE)
    assert new.after is not None and new.after.cluster_name == "c1.example.com"
    assert any(w.field is Field.CLUSTER_NAME for w in new.writes)


def test_create_cluster_keeps_the_name_when_the_inventory_gives_none() -> None:
    p = plan("create-cluster", cluster(peer(0, []), peer(1, [])))
    new = next(a for a in p.actions if a.kind is ActionKind.CONFIGURE)
    assert new.after is not None and new.after.cluster_name == ""


def test_restart_one_peer_has_the_cluster_health_preflight() -> None:
    healthy = cluster(*(peer(i, [0, 1, 2]) for i in range(3)))
    p = plan("restart", healthy, peer="p2")
    assert p.refused is None and "cluster_health" in [c.name for c in p.preflight]
    down = cluster(peer(0, [0, 1, 2]), peer(1, [0, 1, 2]), peer(2, [0, 1, 2], reachable=False))
    p = plan("restart", down, peer="p2")
    assert p.refused and "cluster_health" in p.refused and "p3" in p.refused
    assert p.actions == ()


MY_RESTART = """\
name: mine
params: {peer: {type: peer, required: true}}
steps:
  - name: restart it
    on: "{{ peer }}"
    restart: {when: always}
"""


@pytest.mark.parametrize("alarms", [(), ("20007",), ("20007", "20107")])
def test_r4_a_runbook_without_preflight_cannot_restart_an_emptied_peer(
    alarms: tuple[str, ...],
) -> None:
    """The planner's own guard fires (it used to read the saved list as the one in force)."""
    facts = cluster(peer(0, [0, 1]), peer(1, [], alarms=alarms))
    p = plan_runbook(
        parse_runbook(MY_RESTART, "mine.yaml"), facts, {"peer": "p2"}, now=NOW, exops_version="t"
    )
    assert p.refused and "every peer slot empty" in p.refused and "p2" in p.refused
    assert p.actions == ()


def test_a_cluster_nobody_can_read_is_refused_not_planned_as_empty() -> None:
    facts = cluster(peer(0, [0, 1], reachable=False), peer(1, [0, 1], reachable=False))
    p = plan("restart", facts)
    assert p.refused and "could be read" in p.refused and p.actions == ()


@pytest.mark.parametrize(
    ("values", "says"),
    [
        ("peers: \"{{ [cluster.address('p1'), None] }}\"", "slot 2: None is not an address"),
        ("peers: \"{{ [cluster.address('p1'), 12] }}\"", "slot 2: 12 is not an address"),
        ("peers: [10.0.0.11, 'None']", "'None' is not an IPv4/IPv6 address or FQDN"),
        ("peers: '10.0.0.11'", "expected a list of addresses"),
        ("peers: [10.0.0.11, 10.0.0.11]", "also in slot 1"),
        ("primary: 9", "primary"),
        ("primary: '1'", "primary"),
        ("mapping: [[a.example.com, null]]", "None is not an IP address"),
        ("mapping: [[10.0.0.1, 10.0.0.2]]", "'10.0.0.1' is not an FQDN"),
        ("mapping: {a.example.com: exp1.example.com}", "is not an IP address"),
    ],
)
def test_malformed_runbook_values_are_a_runbook_error_not_a_write(values: str, says: str) -> None:
    text = f"name: mine\nsteps:\n  - name: set\n    on: primary\n    configure: {{{values}}}\n"
    facts = cluster(peer(0, [0, 1]), peer(1, [0, 1]))
    with pytest.raises(RunbookFileError) as exc:
        plan_runbook(parse_runbook(text, "mine.yaml"), facts, {}, now=NOW, exops_version="t")
    assert says in str(exc.value) and str(exc.value).startswith("mine.yaml: step 'set' on p1")
    assert "\n" not in str(exc.value)


def test_the_planner_follows_the_knowledge_table(monkeypatch: pytest.MonkeyPatch) -> None:
    """Change one row in a copy of knowledge.toml's rules: the prediction follows."""
    from dataclasses import replace

    from exops.appliance import knowledge

    facts = cluster(*(peer(i, [0, 1, 2], by_fqdn=True) for i in range(3)))
    table = dict(knowledge.SETTING_RULES)
    # As shipped: tls_mode is spread "cluster", effect "restart" (every peer restarts).
    assert len([a for a in plan("enforce-tls", facts).actions if a.kind is ActionKind.RESTART]) == 3

    # A TLS mode in force at once: nothing left to restart.
    live = {**table, "tls_mode": replace(table["tls_mode"], effect="live")}
    monkeypatch.setattr(knowledge, "SETTING_RULES", live)
    p = plan("enforce-tls", facts)
    assert changes(p) == [("p1", "configure")]
    assert {s.reason for s in p.skipped if s.host == "p2"} == {"no restart pending"}

    # A TLS mode kept by each peer alone: it no longer lands on the subordinates.
    local = {**table, "tls_mode": replace(table["tls_mode"], spread="local")}
    monkeypatch.setattr(knowledge, "SETTING_RULES", local)
    p = plan("enforce-tls", facts)
    assert changes(p) == [("p1", "configure"), ("p1", "restart")]
    assert not [w for w in p.warnings if "replication from p1" in w]

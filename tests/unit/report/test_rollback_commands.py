"""How to roll back, per runbook (exops.report.rollback): the words and commands
for the runbooks the lab tests cannot follow (tests/integration/test_rollback.py
follows the others literally)."""

from __future__ import annotations

from reportkit import P1, P2, P3, _settings, add_peer_plan

from exops.appliance.base import Field, Write
from exops.core.models import ClusterSettings
from exops.plan.model import Action, ActionKind, Plan
from exops.report.rollback import RanSteps, rollback


def _custom(*actions: Action) -> Plan:
    return add_peer_plan(runbook="set-things", params={}, actions=actions)


def _configure(
    host: str, before: ClusterSettings, after: ClusterSettings, aid: str = "2"
) -> Action:
    return Action(
        id=aid,
        step=f"configure {host}",
        kind=ActionKind.CONFIGURE,
        host=host,
        writes=(Write(field=Field.CLUSTER_NAME, value="x"),),
        before=before,
        after=after,
    )


def test_a_custom_runbook_restores_pinned_backups_and_names_cluster_wide_fields() -> None:
    two, three = _settings(P1, P2), _settings(P1, P2, P3)
    renamed = three.model_copy(update={"cluster_name": "core.example.com"})
    plan = _custom(_configure("c1-p1", two, three), _configure("c1-p2", three, renamed, "3"))
    ran = RanSteps.of(
        [
            {"kind": "backup", "host": "c1-p1", "status": "ok",
             "detail": "cluster settings saved to /s/backups/c1/c1-p1/1.json"},
            {"kind": "configure", "host": "c1-p1", "status": "changed"},
            {"kind": "configure", "host": "c1-p2", "status": "changed"},
        ]
    )  # fmt: skip
    commands, words = rollback(plan, ran)
    assert [c.command for c in commands] == [
        "exops restore -c c1 --peer c1-p1 --backup /s/backups/c1/c1-p1/1.json"
    ]
    assert "set them back by hand on the primary: cluster name c1.example.com" in words
    assert "(now core.example.com)" in words
    # Before the run, the plan names the backup it will take.
    planned, _ = rollback(plan)
    assert planned[0].command.endswith("--backup FILE") and "FILE" in planned[0].backup


def test_runbooks_with_nothing_to_type_say_why() -> None:
    restart = add_peer_plan(
        runbook="restart",
        actions=(Action(id="1", step="restart c1-p2", kind=ActionKind.RESTART, host="c1-p2"),),
    )
    assert rollback(restart) == ((), "Nothing to roll back: a restart changes no setting.")
    repair = add_peer_plan(
        runbook="repair-replication",
        actions=(Action(id="1", step="force", kind=ActionKind.COMMAND, host="c1-p2"),),
    )
    commands, words = rollback(repair)
    assert commands == () and words.startswith("No way back, and none needed")
    idle = RanSteps.of([{"kind": "wait", "host": None, "status": "ok"}])
    assert rollback(repair, idle) == ((), "Nothing to roll back: the run changed nothing.")

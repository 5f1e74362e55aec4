"""A sample add-peer plan and run record (with a secret parameter) for the report tests."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from exops.appliance.base import Field, Write
from exops.core.models import ClusterSettings
from exops.plan.model import Action, ActionKind, CheckOutcome, CheckResult, Plan, Skipped

SECRET = "hunter2-Sup3r"


P1, P2, P3 = "10.0.0.11", "10.0.0.12", "10.0.0.13"

def _settings(*peers: str, primary: int = 1) -> ClusterSettings:
    slots = (*peers, *("",) * (6 - len(peers)))
    return ClusterSettings(peers=slots, primary=primary, cluster_name="c1.example.com")


def add_peer_plan(**overrides: Any) -> Plan:
    """A realistic add-peer plan: c1-p3 joins a two-peer cluster in slot 3."""
    two = _settings(P1, P2)
    three = _settings(P1, P2, P3)
    fields: dict[str, Any] = dict(
        runbook="add-peer",
        cluster="c1",
        params={"peer": "c1-p3", "admin_password": SECRET},
        created_at=datetime(2025, 3, 4, 10, 15, 0, tzinfo=UTC),
        exops_version="0.1.0",
        facts_digest="3f9c2a1b7d4e5f60",
        basis={
            "c1-p1": {"address": P1, "settings": two.model_dump(mode="json")},
            "c1-p2": {"address": P2, "settings": three.model_dump(mode="json")},
            "c1-p3": {"address": P3, "settings": ClusterSettings().model_dump(mode="json")},
        },
        preflight=(
            CheckResult(
                name="size",
                outcome=CheckOutcome.PASS,
                summary="3 peers after the change (at most 6)",
                evidence={"c1-p1": "2 listed", "c1-p2": "3 listed"},
            ),
            CheckResult(
                name="latency",
                outcome=CheckOutcome.WARN,
                summary="c1-p3 round trip 65 ms is close to the 80 ms limit",
                evidence={"c1-p1": "4 ms", "c1-p2": "5 ms", "c1-p3": "65 ms"},
            ),
            CheckResult(
                name="software version",
                outcome=CheckOutcome.PASS,
                summary="every peer runs X14.3.1",
                evidence={"c1-p1": "X14.3.1", "c1-p2": "X14.3.1", "c1-p3": "X14.3.1"},
            ),
        ),
        actions=(
            Action(id="1", step="back up settings", kind=ActionKind.BACKUP, host="c1-p1"),
            Action(
                id="2",
                step="add the new peer on the primary",
                kind=ActionKind.CONFIGURE,
                host="c1-p1",
                writes=(Write(field=Field.PEER_ADDRESS, index=3, value=P3),),
                before=two,
                after=three,
                reason="slot 3 is the first empty slot",
            ),
            Action(id="3", step="back up settings", kind=ActionKind.BACKUP, host="c1-p3"),
            Action(
                id="4",
                step="configure the new peer",
                kind=ActionKind.CONFIGURE,
                host="c1-p3",
                writes=(
                    Write(field=Field.CLUSTER_NAME, value="c1.example.com"),
                    Write(field=Field.PEER_ADDRESS, index=1, value=P1),
                    Write(field=Field.PEER_ADDRESS, index=2, value=P2),
                    Write(field=Field.PEER_ADDRESS, index=3, value=P3),
                    Write(field=Field.PRIMARY, value=1),
                ),
                before=ClusterSettings(),
                after=three,
                expected_alarms=("20004",),
            ),
            Action(
                id="5",
                step="restart the new peer",
                kind=ActionKind.RESTART,
                host="c1-p3",
                expected_downtime_s=240,
                expected_alarms=("20004", "20006", "20007"),
                reason="restart pending (alarm 20007)",
            ),
            Action(
                id="6",
                step="wait for the cluster to settle",
                kind=ActionKind.WAIT,
                condition="cluster_healthy",
                timeout_s=600,
                expected_alarms=("20004", "20006"),
            ),
        ),
        skipped=(
            Skipped(step="add the new peer", host="c1-p2", reason="slot 3 already holds 10.0.0.13"),
        ),
        warnings=("c1-p3: latency 65 ms is close to the 80 ms limit",),
    )
    fields.update(overrides)
    return Plan(**fields)


def run_record() -> dict[str, Any]:
    plan = add_peer_plan()
    steps = []
    statuses = ["ok", "changed", "ok", "changed", "changed", "ok"]
    for seq, (action, status) in enumerate(zip(plan.actions, statuses, strict=True), start=1):
        steps.append(
            {
                "seq": seq,
                "action_id": action.id,
                "step": action.step,
                "kind": action.kind.value,
                "host": action.host,
                "status": status,
                "started": f"2025-03-04T10:{16 + seq:02d}:00+00:00",
                "duration_s": 1.5 * seq,
                "detail": "saved to backups/c1/c1-p1" if seq == 1 else "",
                "error": None,
                "advice": None,
            }
        )
    return {
        "run_id": "a1b2c3d4e5f6",
        "started": "2025-03-04T10:16:00+00:00",
        "finished": "2025-03-04T10:31:00+00:00",
        "cluster": "c1",
        "runbook": "add-peer",
        "status": "ok",
        "exit_code": 0,
        "user": "ops",
        "host": "jump1",
        "params": {"peer": "c1-p3", "password": SECRET},
        "plan": json.loads(plan.to_json()),
        "steps": steps,
    }



"""The plan: what a runbook will do, predicted from facts, before doing it.

A plan is data. The dry run prints it, ``exops plan --out`` saves it,
reports render it and apply executes exactly its actions, so the dry run is
what apply does. A plan carries the digest of the facts it was computed from,
so a saved plan applied later is refused when those facts no longer hold.
"""

from __future__ import annotations

import hashlib
import json
from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import Field as PydField

from exops.appliance.base import Command, Write
from exops.models import ClusterSettings, Frozen


class ActionKind(StrEnum):
    BACKUP = "backup"  # save the peer's settings locally before changing it
    CONFIGURE = "configure"  # write settings (Write records)
    RESTART = "restart"  # restart the peer and wait until it is back
    WAIT = "wait"  # poll facts until a condition holds
    VERIFY = "verify"  # check a condition once (after a short settle poll)
    COMMAND = "command"  # an xCommand such as ForceConfigUpdate


# Kinds that change an appliance; a plan with none of them is "no change".
CHANGING_KINDS = frozenset({ActionKind.CONFIGURE, ActionKind.RESTART, ActionKind.COMMAND})


class CheckOutcome(StrEnum):
    PASS = "pass"
    WARN = "warn"  # passes, with something to look at (or a manual check to do)
    FAIL = "fail"
    UNKNOWN = "unknown"  # a fact it needs could not be read: never a pass; refuses a runbook
    NOT_APPLICABLE = "n/a"  # does not apply here (TLS names on a Permissive cluster)


# Outcomes that refuse a runbook's preflight (and make `exops check` exit 3).
BLOCKING = frozenset({CheckOutcome.FAIL, CheckOutcome.UNKNOWN})


class CheckResult(Frozen):
    """One named preflight check with the evidence it saw per peer."""

    name: str
    outcome: CheckOutcome
    summary: str
    evidence: dict[str, str] = PydField(default_factory=dict)  # host -> value seen


class Action(Frozen):
    """One thing apply will do, on one peer (or the cluster for waits)."""

    id: str  # "3" or "3.2": step number and target ordinal, stable in a plan
    step: str  # the runbook step's name
    kind: ActionKind
    host: str | None = None  # inventory name; None = whole cluster
    writes: tuple[Write, ...] = ()
    before: ClusterSettings | None = None  # configure: settings read
    after: ClusterSettings | None = None  # configure: settings predicted
    command: Command | None = None
    condition: str | None = None  # wait / verify: a registered condition name
    condition_args: dict[str, Any] = PydField(default_factory=dict)
    timeout_s: float | None = None
    expected_downtime_s: float | None = None
    expected_alarms: tuple[str, ...] = ()  # transient alarm ids that must not fail the run
    reason: str = ""  # why this action is needed (e.g. "restart pending (alarm 20007)")
    advice: str | None = None  # what the operator should do if this action fails
    decommission: bool = False  # restart: the peer comes back factory reset, on purpose

    @property
    def changes_appliance(self) -> bool:
        return self.kind in CHANGING_KINDS


class Skipped(Frozen):
    """A step (on a target) that needs nothing: the idempotence record."""

    step: str
    host: str | None
    reason: str
    in_place: bool = True  # False: skipped without being done (an unreachable peer)


class Plan(Frozen):
    runbook: str
    cluster: str
    params: dict[str, Any]
    created_at: datetime
    exops_version: str
    facts_digest: str
    basis: dict[str, dict[str, Any]]  # host -> the facts the plan depends on
    preflight: tuple[CheckResult, ...] = ()
    actions: tuple[Action, ...] = ()
    skipped: tuple[Skipped, ...] = ()
    warnings: tuple[str, ...] = ()
    refused: str | None = None  # set when a safety rule or preflight refuses

    @property
    def has_changes(self) -> bool:
        return any(a.changes_appliance for a in self.actions)

    @property
    def restarts(self) -> tuple[Action, ...]:
        return tuple(a for a in self.actions if a.kind is ActionKind.RESTART)

    def to_json(self) -> str:
        return self.model_dump_json(indent=2)

    @classmethod
    def from_json(cls, text: str) -> Plan:
        return cls.model_validate_json(text)


def digest(basis: dict[str, dict[str, Any]]) -> str:
    """A stable digest of the facts a plan depends on."""
    blob = json.dumps(basis, sort_keys=True, default=str).encode()
    return hashlib.sha256(blob).hexdigest()[:16]

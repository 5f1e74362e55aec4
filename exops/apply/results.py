"""Results as data: what one step and one run did (nornir's ``Result`` / ``AggregatedResult``).

The runner returns a :class:`RunResult`; the CLI renders it (text, JSON), the
journal stores it, fleet mode aggregates several. Nothing here prints.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from exops.core.exitcodes import ExitCode
from exops.plan.model import Action, Plan

# Fields only added since /1: status, exit_code, message, unreached, warnings.
RUN_SCHEMA = "exops.run/1"


class StepStatus(StrEnum):
    """One step's outcome on one peer (Ansible's words)."""

    OK = "ok"  # done, nothing had to change (a read, a wait that held, "already as planned")
    CHANGED = "changed"
    SKIPPED = "skipped"  # not reached (an earlier step failed) or not needed
    FAILED = "failed"  # the appliance refused, a wait timed out, a safety rule stopped it
    UNREACHABLE = "unreachable"  # the peer could not be reached at all


FAILED_STATUSES = frozenset({StepStatus.FAILED, StepStatus.UNREACHABLE})


class RunStatus(StrEnum):
    PLANNED = "planned"  # a dry run: the plan was made, nothing changed
    NOTHING_TO_CHANGE = "nothing_to_change"
    OK = "ok"
    PARTIAL = "partial"  # done where possible; a member was unreachable and skipped
    FAILED = "failed"
    REFUSED = "refused"  # a preflight check or safety rule refused (nothing changed)
    INTERRUPTED = "interrupted"


@dataclass
class StepResult:
    """What apply did for one action (a step on one peer, or a cluster-wide wait)."""

    action: Action
    status: StepStatus
    started: datetime
    duration_s: float = 0.0
    detail: str = ""
    error: str | None = None
    advice: str | None = None
    refused: bool = False  # a safety rule or precondition stopped it before any change

    @property
    def host(self) -> str | None:
        return self.action.host

    @property
    def failed(self) -> bool:
        return self.status in FAILED_STATUSES

    def to_doc(self) -> dict[str, Any]:
        return {
            "action": self.action.id,
            "step": self.action.step,
            "kind": self.action.kind.value,
            "host": self.action.host,
            "status": self.status.value,
            "duration_s": round(self.duration_s, 3),
            "detail": self.detail,
            "error": self.error,
            "advice": self.advice,
        }


RECAP_KEYS = ("ok", "changed", "unreachable", "failed", "skipped")


@dataclass
class RunResult:
    """One runbook run on one cluster: the plan, every step's result, the exit code."""

    cluster: str
    runbook: str
    status: RunStatus
    exit_code: int
    plan: Plan | None = None
    run_id: str | None = None
    steps: list[StepResult] = field(default_factory=list)
    message: str = ""  # one line: why it refused / failed / is partial
    unreached: tuple[str, ...] = ()  # members skipped because they did not answer
    # What went wrong beside the appliance work, e.g. journal writes that failed (the
    # run is then not, or not fully, recorded in the state store). The CLI prints each
    # on stderr; the status and exit code stay those of the appliance work.
    warnings: list[str] = field(default_factory=list)

    @property
    def failed(self) -> bool:
        return any(s.failed for s in self.steps)

    @property
    def changed(self) -> bool:
        return any(s.status is StepStatus.CHANGED for s in self.steps)

    @property
    def first_failure(self) -> StepResult | None:
        return next((s for s in self.steps if s.failed), None)

    def recap(self) -> dict[str, dict[str, int]]:
        """Per peer (``(cluster)`` for cluster-wide waits): counts per status.

        Peers the plan skipped because they were unreachable count as
        ``unreachable`` even though no action ran on them.
        """
        recap: dict[str, dict[str, int]] = {}

        def row(host: str) -> dict[str, int]:
            return recap.setdefault(host, dict.fromkeys(RECAP_KEYS, 0))

        for s in self.steps:
            row(s.host or "(cluster)")[s.status.value] += 1
        for host in self.unreached:
            row(host)["unreachable"] += 1
        return recap

    def to_doc(self) -> dict[str, Any]:
        """The ``--json`` document of a run (schema ``exops.run/1``)."""
        return {
            "schema": RUN_SCHEMA,
            "run_id": self.run_id,
            "cluster": self.cluster,
            "runbook": self.runbook,
            "status": self.status.value,
            "exit_code": self.exit_code,
            "message": self.message or None,
            "refused": self.plan.refused if self.plan else None,
            "failed": self.failed,
            "changed": self.changed,
            "unreached": list(self.unreached),
            "warnings": list(self.warnings),
            "recap": self.recap(),
            "outcomes": [s.to_doc() for s in self.steps],
            "plan": json.loads(self.plan.to_json()) if self.plan else None,
        }


def exit_code_for(status: RunStatus, *, detailed: bool = False, has_changes: bool = False) -> int:
    """The documented exit code of a run's status (README, exit codes)."""
    if status is RunStatus.PLANNED:
        return int(ExitCode.CHANGES_PENDING if detailed and has_changes else ExitCode.OK)
    return int(
        {
            RunStatus.NOTHING_TO_CHANGE: ExitCode.OK,
            RunStatus.OK: ExitCode.OK,
            RunStatus.PARTIAL: ExitCode.PARTIAL,
            RunStatus.FAILED: ExitCode.FAILED,
            RunStatus.REFUSED: ExitCode.REFUSED,
            RunStatus.INTERRUPTED: ExitCode.INTERRUPTED,
        }[status]
    )

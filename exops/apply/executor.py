"""Apply: execute a plan's actions, re-read after each, stop on divergence.

Apply is thin on purpose. It executes exactly the plan's actions, in order,
through the appliance interface, and after each one re-reads the appliance
to prove the predicted state holds. When reality differs from the prediction
it stops with a report (step, peer, expected, found, what to do) and marks
every later action "not reached"; a plain re-run plans again from the real
state and finishes the job.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

from exops.appliance.base import Appliance, apply_writes, settings_writes
from exops.apply.results import FAILED_STATUSES, StepResult, StepStatus
from exops.apply.safety import SafetyError, check_command, check_restart, check_write
from exops.apply.waits import Waiter
from exops.core.errors import (
    AuthError,
    DivergenceError,
    ExopsError,
    PreconditionError,
    TimeoutError_,
    TlsError,
    TransportError,
)
from exops.core.models import ClusterFacts, ClusterSettings
from exops.plan.model import Action, ActionKind, Plan

Condition = Callable[[ClusterFacts, Action], tuple[bool, str]]


class Cluster(Protocol):
    """What apply needs of a session: appliances and fresh facts."""

    def appliance(self, host: str) -> Appliance: ...
    def gather(
        self, cluster: str, hosts: list[str] | None = None, *, light: bool = False
    ) -> ClusterFacts: ...


class Events(Protocol):
    def emit(self, event: str, **fields: Any) -> None: ...


Outcome = StepResult  # the executor's name for one step's result


class BackupSink(Protocol):
    """What the executor needs of a backup store (``exops.state.base.BackupStore``)."""

    def save(self, cluster: str, host: str, settings: dict[str, Any], run_id: str) -> str: ...


@dataclass
class ApplyOptions:
    restart_timeout: float
    settle_timeout: float
    # Where pre-change backups go (exops.state: files, or PostgreSQL in team mode).
    backups: BackupSink
    run_id: str = ""
    # The one peer a remove-peer run decommissions: the only exception to safety
    # rules R1/R2/R4. Set by the command line from the SHIPPED remove-peer runbook's
    # `peer` parameter; never from a runbook file, an Action or a saved plan.
    decommission: str | None = None


# Refused logins a restart wait tolerates (a peer going down can cut a login short)
# before it stops: repeated failed logins lock an appliance's admin account.
MAX_REFUSED_LOGINS = 3

# A restore's own pre-change backup is kept apart ("<cluster>.restore"): a restore
# re-run after a kill must not take it for "the newest backup" and put back the very
# list it was restoring from (it stays available to `exops restore --backup FILE`).
RESTORE_BACKUPS = "{cluster}.restore"


@dataclass
class Applied:
    outcomes: list[Outcome] = field(default_factory=list)

    @property
    def failed(self) -> bool:
        return any(o.status in FAILED_STATUSES for o in self.outcomes)

    @property
    def changed(self) -> bool:
        return any(o.status is StepStatus.CHANGED for o in self.outcomes)


ADVICE = {
    ActionKind.CONFIGURE: "re-run the same command: exops plans again from the real state",
    ActionKind.RESTART: (
        "check the peer's console; once it answers again, re-run the same command "
        "(a pending restart is read from the appliance, alarm 20007)"
    ),
    ActionKind.WAIT: "run `exops status` to see what is still unhealthy, then re-run",
    ActionKind.VERIFY: "run `exops status` to see what differs, then re-run",
    ActionKind.COMMAND: "re-run the same command; see `exops status` for the alarms",
    ActionKind.BACKUP: "check the backup directory is writable, then re-run",
}


class Executor:
    # The safety rule that stopped the run, if one did (the runner exits 3 for it).
    safety_refusal: SafetyError | None = None
    # When the last restart of this run was over (the peer answered again, its
    # restart-required cleared): a wait never judges a read that began before it.
    restarted_at: datetime | None = None

    def __init__(
        self,
        cluster: Cluster,
        plan: Plan,
        *,
        conditions: dict[str, Condition],
        waiter: Waiter,
        events: Events,
        options: ApplyOptions,
        on_outcome: Callable[[Outcome], None] | None = None,
        before_each: Callable[[Action], None] | None = None,
    ):
        self.on_outcome = on_outcome or (lambda _: None)
        # Called at each step boundary (the runner checks the cluster lock is still held).
        self.before_each = before_each or (lambda _: None)
        self.cluster = cluster
        self.plan = plan
        self.conditions = conditions
        self.waiter = waiter
        self.events = events
        self.options = options

    def run(self) -> Applied:
        applied = Applied()
        for index, action in enumerate(self.plan.actions):
            outcome = self._one(action)
            applied.outcomes.append(outcome)
            self.on_outcome(outcome)  # journalled at once: a crash loses no finished step
            if outcome.status in FAILED_STATUSES:
                for rest in self.plan.actions[index + 1 :]:
                    skipped = Outcome(
                        rest, StepStatus.SKIPPED, datetime.now(UTC), detail="not reached"
                    )
                    applied.outcomes.append(skipped)
                    self.on_outcome(skipped)
                break
        return applied

    def _one(self, action: Action) -> Outcome:
        started = datetime.now(UTC)
        t0 = self.waiter.clock()
        common = {
            "action": action.id,
            "step": action.step,
            "kind": action.kind.value,
            "host": action.host,
        }
        self.events.emit("step_started", **common)
        try:
            self.before_each(action)
            status, detail = self._dispatch(action)
        except ExopsError as exc:
            duration = self.waiter.clock() - t0
            advice = action.advice or ADVICE.get(action.kind)
            kind = _failure_status(action, exc)
            self.events.emit(
                "failed",
                **common,
                status=kind.value,
                error=str(exc),
                advice=advice,
                duration_s=round(duration, 3),
            )
            return Outcome(
                action,
                kind,
                started,
                duration,
                error=str(exc),
                advice=advice,
                refused=isinstance(exc, PreconditionError),
            )
        duration = self.waiter.clock() - t0
        self.events.emit(status, **common, detail=detail, duration_s=round(duration, 3))
        return Outcome(action, StepStatus(status), started, duration, detail=detail)

    def _dispatch(self, action: Action) -> tuple[str, str]:
        handler = {
            ActionKind.BACKUP: self._backup,
            ActionKind.CONFIGURE: self._configure,
            ActionKind.RESTART: self._restart,
            ActionKind.WAIT: self._wait,
            ActionKind.VERIFY: self._wait,
            ActionKind.COMMAND: self._command,
        }[action.kind]
        return handler(action)

    def _host(self, action: Action) -> str:
        if not action.host:
            raise DivergenceError(f"{action.kind.value} action {action.id} names no peer")
        return action.host

    # -- kinds ---------------------------------------------------------------
    def _backup(self, action: Action) -> tuple[str, str]:
        host = self._host(action)
        app = self.cluster.appliance(host)
        settings = app.read_settings()
        key = self.plan.cluster
        if self.plan.runbook == "restore":
            key = RESTORE_BACKUPS.format(cluster=key)
        doc = settings.model_dump(mode="json")
        path = self.options.backups.save(key, host, doc, self.options.run_id)
        return "ok", f"cluster settings saved to {path}"

    def _configure(self, action: Action) -> tuple[str, str]:
        host = self._host(action)
        app = self.cluster.appliance(host)
        current = app.read_settings()
        if action.after is not None and current == action.after:
            return "ok", "already as planned"
        writes = action.writes
        if action.before is not None and current != action.before:
            if action.after is None or not _progressed(action.before, current, action.after):
                raise DivergenceError(
                    f"step {action.id} '{action.step}': settings changed since planning; "
                    f"expected {describe_diff(action.before, current)}",
                    host=host,
                    operation="configure",
                )
            # Replication already brought some planned values: write only the rest.
            writes = settings_writes(current, action.after)
        # Safety rules R1/R3/R5 on a fresh read, right before the write.
        _guard(
            self,
            lambda: check_write(
                host,
                current,
                writes,
                apply_writes(current, writes),
                self.cluster.gather(self.plan.cluster, light=True),
                decommission=self.options.decommission,
            ),
        )
        app.write(writes)
        found = app.read_settings()
        if action.after is not None and found != action.after:
            raise DivergenceError(
                f"step {action.id} '{action.step}': after writing, expected "
                f"{describe_diff(found, action.after)}",
                host=host,
                operation="configure",
            )
        return "changed", "; ".join(w.describe() for w in writes)

    def _restart(self, action: Action) -> tuple[str, str]:
        host = self._host(action)
        app = self.cluster.appliance(host)
        # Safety rules R2/R4 on a fresh read of the target and its cluster, right before.
        target = app.read_settings()
        _guard(
            self,
            lambda: check_restart(
                host,
                target,
                self.cluster.gather(self.plan.cluster, light=True),
                decommission=self.options.decommission,
            ),
        )
        decommissioning = action.decommission and host == self.options.decommission
        try:
            uptime_before = app.read_uptime()
        except ExopsError:
            uptime_before = None
        app.restart()
        self.events.emit("restarting", host=host, action=action.id)
        back = _back_poll(app, uptime_before, decommissioning=decommissioning)
        timeout = min(
            action.timeout_s or self.options.restart_timeout, self.options.restart_timeout
        )
        waited = self.waiter.until(
            f"{host} to restart and answer", back, timeout=timeout, host=host
        )

        refused = {"n": 0}

        def settled() -> tuple[bool, str]:
            facts = self.cluster.gather(self.plan.cluster, hosts=[host], light=True)
            peer = facts.peer(host)
            if peer.unreachable_kind == "auth":
                refused["n"] += 1
                if refused["n"] >= MAX_REFUSED_LOGINS:  # never again and again (lockout)
                    raise AuthError(
                        peer.error or "credentials refused", host=host, operation="wait"
                    )
            if not peer.reachable:
                return False, peer.error or "unreachable"
            if peer.restart_pending:
                return False, "restart still pending (alarm 20007)"
            return True, "restart done"

        if decommissioning:
            self.restarted_at = datetime.now(UTC)
            return "changed", f"restarted and decommissioned; back after {waited:.1f} s"
        self.waiter.until(
            f"{host} to clear 'restart required'", settled, timeout=timeout, host=host
        )
        self.restarted_at = datetime.now(UTC)
        return "changed", f"restarted; back after {waited:.1f} s"

    def _wait(self, action: Action) -> tuple[str, str]:
        if not action.condition or action.condition not in self.conditions:
            raise DivergenceError(f"unknown condition {action.condition!r} in step {action.id}")
        predicate = self.conditions[action.condition]
        wanted = action.condition_args.get("hosts")
        hosts = list(wanted) if wanted else ([action.host] if action.host else None)

        def check() -> tuple[bool, str]:
            facts = self.cluster.gather(self.plan.cluster, hosts=hosts, light=True)
            stale = read_before(facts, self.restarted_at)
            if stale:
                return False, f"{stale} read before the last restart was over: reading again"
            return predicate(facts, action)

        # The runbook's timeout, capped by the operator's setting (EXOPS_SETTLE_TIMEOUT).
        timeout = min(action.timeout_s or self.options.settle_timeout, self.options.settle_timeout)
        what = f"{action.condition} ({action.step})"
        waited = self.waiter.until(what, check, timeout=timeout, host=action.host)
        return "ok", f"{action.condition} after {waited:.1f} s"

    def _command(self, action: Action) -> tuple[str, str]:
        host = self._host(action)
        if action.command is None:
            raise DivergenceError(f"command action {action.id} names no command", host=host)
        command = action.command
        _guard(
            self,
            lambda: check_command(
                host, command.value, self.cluster.gather(self.plan.cluster, light=True)
            ),
        )
        answer = self.cluster.appliance(host).command(command)
        return "changed", f"xCommand {action.command.value}: {answer.strip()[:120]}"


def read_before(facts: ClusterFacts, moment: datetime | None) -> str:
    """The peers whose read began before ``moment`` (a restart's end), or "": a wait
    judges only reads that could have seen the state the restart produced."""
    if moment is None:
        return ""
    return ", ".join(
        p.host for p in facts.peers if p.gathered_at is not None and p.gathered_at < moment
    )


def _back_poll(
    app: Appliance, uptime_before: int | None, *, decommissioning: bool
) -> Callable[[], tuple[bool, str]]:
    """The check a restart polls: the peer went down and answers again (or its uptime
    restarted). A peer going down can cut a login short, which reads as refused
    credentials; a third refusal stops the wait: logging in again at every poll
    would lock the account."""
    state = {"down": False, "refused": 0}

    def back() -> tuple[bool, str]:
        try:
            uptime = app.read_uptime()  # one cheap read, never retried: a tight poll
        except TlsError:
            if decommissioning and state["down"]:
                # A factory reset removes the server certificate (X12.6+).
                return True, "answering with a new certificate (factory reset, as planned)"
            state["down"] = True
            return False, "not answering (restarting)"
        except AuthError:
            state["refused"] += 1
            if state["refused"] >= MAX_REFUSED_LOGINS:
                raise
            state["down"] = True
            return False, "login refused (restarting?)"
        except TransportError:
            state["down"] = True
            return False, "not answering (restarting)"
        if state["down"]:
            return True, "answering again"
        if uptime is not None and uptime_before is not None and uptime < uptime_before:
            return True, f"answering again (uptime {uptime} s)"
        return False, "still up, restart not begun"

    return back


def _failure_status(action: Action, exc: ExopsError) -> StepStatus:
    """Ansible's distinction: a peer that could not be reached at all is
    ``unreachable``; a wait or verify that ran out of time is a failure (a
    timeout), not an unreachable peer."""
    if isinstance(exc, TimeoutError_) and action.kind in (ActionKind.WAIT, ActionKind.VERIFY):
        return StepStatus.FAILED
    return StepStatus.UNREACHABLE if isinstance(exc, TransportError) else StepStatus.FAILED


def _guard(executor: Executor, check: Callable[[], None]) -> None:
    """Run a safety check; a refusal is kept on the executor (``safety_refusal``) so
    the runner can exit 3 (refused) rather than 1, then propagates: the write or
    restart does not happen."""
    try:
        check()
    except SafetyError as exc:
        executor.safety_refusal = exc
        raise


def _progressed(before: ClusterSettings, current: ClusterSettings, after: ClusterSettings) -> bool:
    """Every field that moved since planning moved to its planned value."""
    b, c, a = (s.model_dump(mode="json") for s in (before, current, after))
    return all(c[k] == a[k] for k in c if c[k] != b[k])


def describe_diff(expected: ClusterSettings, found: ClusterSettings) -> str:
    """'field: expected X, found Y' for every field that differs."""
    a, b = expected.model_dump(mode="json"), found.model_dump(mode="json")
    parts = [f"{k} {a[k]!r}, found {b[k]!r}" for k in a if a[k] != b[k]]
    return "; ".join(parts) or "no difference"

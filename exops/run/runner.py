"""The runner: one runbook on one cluster, end to end, returned as data.

Data flow: inventory -> facts -> plan -> (dry run stops here) -> confirm ->
lock -> apply -> verify -> result. One session (one set of connections) per
run. The runner prints nothing and asks nothing itself: observers watch it
(journal, events, display) and the caller passes ``confirm`` for restarts.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol, Self

from exops.appliance.base import Appliance
from exops.apply.results import RunResult, RunStatus, StepResult, exit_code_for
from exops.core.errors import (
    ExopsError,
    LockedError,
    PreconditionError,
    StalePlanError,
    UsageError,
)
from exops.core.models import ClusterFacts
from exops.core.version import __version__
from exops.facts.gather import Fact
from exops.plan.model import Action, ActionKind, Plan
from exops.run.env import Env
from exops.run.events import IN_FLIGHT, NOT_STARTED
from exops.run.observers import JournalObserver, Observer, Observers, RunInfo
from exops.state.base import StateStore, current_user

Confirm = Callable[[Plan], bool]


class RunSession(Protocol):
    """What a run needs of its one session (``exops.facts.session.Session``):
    a context that closes the connections, the open appliances, fresh facts."""

    def __enter__(self) -> Self: ...
    def __exit__(self, *exc: object) -> None: ...
    def appliance(self, host: str) -> Appliance: ...
    def gather(
        self,
        cluster: str,
        hosts: list[str] | None = None,
        *,
        light: bool = False,
        needs: frozenset[Fact] | None = None,
    ) -> ClusterFacts: ...


OpenSession = Callable[[list[str]], RunSession]
"""How a run opens its session for the named clusters (default: ``Env.session``)."""


class RestartHook(Protocol):
    """Called around each restart step of a run (``exops restart --drain``), injected
    by the layer that knows what to do (this stage imports no tool).

    ``before_restart`` runs inside the step, before its safety reads and the restart:
    an ``ExopsError`` it raises fails the step before the restart is sent (a
    ``PreconditionError``: refused, exit 3); ``check_lock`` raises when the run lost
    its cluster lock. ``after_restart`` runs once the restart step succeeded: what it
    returns joins the step's detail; an ``ExopsError`` it raises fails the step (the
    run stops there, the rest not reached)."""

    def before_restart(
        self, session: Any, cluster: str, host: str, check_lock: Callable[[], None]
    ) -> None: ...

    def after_restart(self, session: Any, cluster: str, host: str) -> str: ...


def utc_now() -> datetime:
    return datetime.now(UTC)


# A health gate's last read of the whole cluster serves as the fresh read of the step
# right after it when it ended at most this long before (ApplyOptions.reuse_within_s):
# a gate, then the next restart, reads the cluster once instead of twice in a row.
REUSE_WITHIN_S = 1.0


class Runner:
    """Runs runbooks against the clusters of one inventory.

    Args:
        env: settings and inventory.
        observers: watch every run (display, events, fleet summary); the
            journal observer is added by the runner itself.
        cancel: set it to stop every wait at its next poll (fleet Ctrl-C).
        confirm: asked before a plan that restarts peers when ``yes`` is not
            given; None means nobody can be asked (unattended).
    """

    def __init__(
        self,
        env: Env,
        *,
        observers: Sequence[Observer] = (),
        cancel: threading.Event | None = None,
        confirm: Confirm | None = None,
        sessions: OpenSession | None = None,
        restart_hook: RestartHook | None = None,
    ):
        self.env = env
        self.observers = list(observers)
        self.cancel = cancel or threading.Event()
        self.confirm = confirm
        # How a run opens its one session (tests pass a fake appliance cluster).
        self.sessions: OpenSession = sessions or env.session
        # Around each restart step (``restart --drain``): see RestartHook.
        self.restart_hook = restart_hook

    # -- planning ---------------------------------------------------------------
    def gather(
        self, session: RunSession, cluster: str, needs: frozenset[Fact] | None = None
    ) -> ClusterFacts:
        """The cluster's facts: ``needs`` (default: every fact)."""
        facts = session.gather(cluster, needs=needs)
        name = self.env.inventory.cluster(cluster).cluster_name  # the inventory's cluster FQDN
        return facts.model_copy(update={"cluster_name": name})

    def make_plan(
        self, session: RunSession, runbook_ref: str, cluster: str, params: dict[str, Any]
    ) -> Plan:
        """Gather facts and plan (no change is made)."""
        return self._plan_and_trust(session, runbook_ref, cluster, params)[0]

    def _plan_and_trust(
        self, session: RunSession, runbook_ref: str, cluster: str, params: dict[str, Any]
    ) -> tuple[Plan, str | None, ClusterFacts]:
        """The plan, the one peer the run may decommission (granted only by the
        shipped remove-peer runbook's own parameter, never by a file or a saved plan),
        and the facts it was made from."""
        from exops.apply.safety import trusted_decommission
        from exops.plan.planner import plan_facts, plan_runbook
        from exops.runbook.loader import load_runbook

        runbook = load_runbook(runbook_ref)
        facts = self.gather(session, cluster, plan_facts(runbook))  # what the plan uses
        plan = plan_runbook(runbook, facts, params, now=utc_now(), exops_version=__version__)
        return plan, trusted_decommission(runbook, plan.params), facts

    def plan(
        self, runbook_ref: str, cluster: str, params: dict[str, Any], *, resume: bool = False
    ) -> RunResult:
        """A dry run: the plan, and the exit code a change review expects."""
        self.env.inventory.cluster(cluster)
        if resume:
            with self._store() as store:
                params = {**params, "since": self._resume_since(store, cluster, runbook_ref)}
        with self.sessions([cluster]) as session:
            plan = self.make_plan(session, runbook_ref, cluster, params)
        plan = self._measured_downtime(plan, None)
        if plan.refused:
            return _refused(self._explained(plan))
        return RunResult(
            cluster=cluster,
            runbook=plan.runbook,
            status=RunStatus.PLANNED,
            exit_code=int(exit_code_for(RunStatus.PLANNED)),
            plan=plan,
        )

    # -- running -------------------------------------------------------------------
    def run(
        self,
        runbook_ref: str,
        cluster: str,
        params: dict[str, Any],
        *,
        yes: bool = False,
        lock_timeout: float | None = None,
        resume: bool = False,
    ) -> RunResult:
        """Plan and apply ``runbook_ref`` on ``cluster`` under the cluster lock.

        Raises:
            UsageError, LockedError, RunbookFileError: bad input or a held lock
                (nothing was changed).
        """
        self.env.inventory.cluster(cluster)
        params = dict(params)
        with self._store() as store:
            if resume:
                params["since"] = self._resume_since(store, cluster, runbook_ref)
            with (
                self._lock(store, cluster, runbook_ref, lock_timeout),
                self.sessions([cluster]) as session,
            ):
                repaired = _finish_interrupted(store, session, cluster)
                plan, leaver, facts = self._plan_and_trust(session, runbook_ref, cluster, params)
                plan = _noted(plan, repaired)
                plan = self._measured_downtime(plan, store)
                return self._execute(
                    store, session, plan, yes=yes, decommission=leaver, facts=facts
                )

    def apply_saved(
        self, path: Path, *, yes: bool = False, lock_timeout: float | None = None
    ) -> RunResult:
        """Apply a saved plan exactly, after planning again from fresh facts: refused
        unless the fresh plan's actions, refusals and preflight verdicts equal the saved
        ones (a change review approved exactly this).

        Raises:
            UsageError: the file is not a readable exops plan, or of an unknown format.
            PlanEditedError: the file was edited by hand (its digest does not match).
            StalePlanError: the fresh plan differs (one line per change).
            PreconditionError: the saved plan was refused.
        """
        from exops.plan.model import (
            compare_plans,
            load_plan_file,
            plan_command,
            run_command,
            stale_lines,
        )

        saved = load_plan_file(path, exops_version=__version__)
        self.env.inventory.cluster(saved.cluster)
        with (
            self._store() as store,
            self._lock(store, saved.cluster, saved.runbook, lock_timeout),
            self.sessions([saved.cluster]) as session,
        ):
            fresh, leaver, facts = self._plan_and_trust(
                session, saved.runbook, saved.cluster, dict(saved.params)
            )
            # The stale-plan rule: what the saved plan expects to find (its basis, each
            # step's expected state), then what planning again would do differently.
            changed = stale_lines(saved, facts) + compare_plans(saved, fresh)
            if changed:
                raise StalePlanError(
                    f"{path}: the cluster changed since this plan was made; nothing was "
                    "written:\n  " + "\n  ".join(changed) + "\nmake a new plan "
                    f"(`{plan_command(saved, str(path))}`), or run `{run_command(saved)}` "
                    "(it plans again from the real state)"
                )
            if saved.refused:
                raise PreconditionError(f"{path}: this plan was refused: {saved.refused}")
            return self._execute(
                store, session, saved, yes=yes, decommission=leaver, saved_plan=path, facts=facts
            )

    def restore(
        self,
        cluster: str,
        host: str,
        backup: Path | None,
        *,
        dry_run: bool = False,
        yes: bool = False,
        lock_timeout: float | None = None,
    ) -> RunResult:
        """Put one peer's cluster settings back (see ``exops.plan.restore``)."""
        from exops.plan.restore import plan_restore
        from exops.run.restore import restore_source

        self.env.inventory.cluster(cluster).peer(host)
        with self._store() as store:
            lock = _null() if dry_run else self._lock(store, cluster, "restore", lock_timeout)
            with lock, self.sessions([cluster]) as session:
                repaired = None if dry_run else _finish_interrupted(store, session, cluster)
                facts = self.gather(session, cluster)
                source = restore_source(facts, host, backup, store.backups)
                plan = plan_restore(facts, host, source, now=utc_now(), exops_version=__version__)
                plan = _noted(plan, repaired)
                if dry_run:
                    if plan.refused:
                        return _refused(plan)
                    return RunResult(cluster, "restore", RunStatus.PLANNED, 0, plan=plan)
                return self._execute(store, session, plan, yes=yes, facts=facts)

    # -- internals -------------------------------------------------------------------
    def _execute(
        self,
        store: StateStore,
        session: RunSession,
        plan: Plan,
        *,
        yes: bool,
        decommission: str | None = None,
        saved_plan: Path | None = None,
        facts: ClusterFacts | None = None,
    ) -> RunResult:
        """``facts``: the read the plan was made (or checked) from; the stale-plan rule
        reads anew when an operator was asked first (the answer may take minutes)."""
        if plan.refused:
            return self._journal_only(store, plan, _refused(plan))
        unreached = tuple(dict.fromkeys(s.host for s in plan.skipped if not s.in_place and s.host))
        if not plan.actions:
            status = RunStatus.PARTIAL if unreached else RunStatus.NOTHING_TO_CHANGE
            return self._journal_only(
                store, plan, _finished(plan, status, [], unreached, run_id=None)
            )
        if plan.has_changes and self._confirm(plan, yes):
            facts = None
        return self._apply(store, session, plan, unreached, decommission, saved_plan, facts)

    def _journal_only(self, store: StateStore, plan: Plan, result: RunResult) -> RunResult:
        """Journal a run that ends before any step (refused, nothing to change):
        every run is in the journal, with its plan saying why."""
        result.run_id = uuid.uuid4().hex[:12]
        run = RunInfo(run_id=result.run_id, cluster=plan.cluster, runbook=plan.runbook, plan=plan)
        JournalObserver(store.journal, user=current_user()).record_unapplied(run, result)
        return result

    def _confirm(self, plan: Plan, yes: bool) -> bool:
        """Whether an operator was asked (and said yes); raises when not confirmed."""
        restarts = [a.host or "?" for a in plan.restarts]
        if not restarts or yes:
            return False
        if self.confirm is None:
            raise UsageError(
                f"this plan restarts {', '.join(restarts)}; "
                "pass --yes to confirm in an unattended run"
            )
        if not self.confirm(plan):
            raise UsageError("not confirmed; nothing was changed")
        return True

    def _apply(
        self,
        store: StateStore,
        session: RunSession,
        plan: Plan,
        unreached: tuple[str, ...],
        decommission: str | None,
        saved_plan: Path | None = None,
        facts: ClusterFacts | None = None,
    ) -> RunResult:
        from exops.apply.executor import ApplyOptions, Executor
        from exops.apply.verify import CONDITIONS
        from exops.apply.waits import Waiter

        settings = self.env.settings
        run = RunInfo(
            run_id=uuid.uuid4().hex[:12], cluster=plan.cluster, runbook=plan.runbook, plan=plan
        )
        # The store was opened (and probed) before anything was read: a state
        # directory or database that cannot be used stops a run before it starts.
        journal = JournalObserver(store.journal, user=current_user())
        observers = Observers([journal, *self.observers])
        bridge = _Bridge(observers, run)
        done: list[StepResult] = []

        waiter = Waiter(bridge, max_poll=settings.max_poll_interval, cancel=self.cancel)
        lock_key = self._lock_key(plan.cluster)
        hooks = _Hooks(
            self.restart_hook, session, plan.cluster, waiter, lambda: store.check_lock(lock_key)
        )

        def finished(outcome: StepResult) -> None:
            hooks.after(outcome)
            done.append(outcome)
            observers.step_finished(run, outcome)

        executor = Executor(
            session,
            plan,
            conditions=CONDITIONS,
            waiter=waiter,
            events=bridge,
            options=ApplyOptions(
                restart_timeout=settings.restart_timeout,
                settle_timeout=settings.settle_timeout,
                run_id=run.run_id,
                decommission=decommission,
                backups=store.backups,
                saved_plan=str(saved_plan) if saved_plan is not None else None,
                # A restart hook (drain) acts between a gate and the next restart.
                reuse_within_s=REUSE_WITHIN_S if self.restart_hook is None else 0.0,
            ),
            on_outcome=finished,
            before_each=hooks.before,
        )
        # The stale-plan rule, before anything is journalled or written: what the plan
        # expects to find still holds on a fresh read (else exit 3, nothing written).
        try:
            executor.check_fresh(facts)
        except StalePlanError as exc:
            where = f"{saved_plan}: " if saved_plan is not None else ""
            raise StalePlanError(where + str(exc)) from exc
        observers.run_started(run)
        try:
            applied = executor.run()
        except KeyboardInterrupt:
            result = _interrupted(plan, done, bridge, unreached, run.run_id, observers)
            result.message = "interrupted"
            observers.run_finished(run, result)
            return result
        except ExopsError as exc:  # raised outside a step's own handling (an observer,
            # a sink): the step in flight failed with it; the rest is not reached
            result = _escaped(plan, done, bridge, unreached, run.run_id, observers, exc)
            observers.run_finished(run, result)
            return result
        except BaseException:  # a bug: journalled as interrupted, then shown
            result = _interrupted(plan, done, bridge, unreached, run.run_id, observers)
            observers.run_finished(run, result)
            raise
        result = _finished(
            plan,
            _status_of(applied.outcomes, unreached),
            applied.outcomes,
            unreached,
            run_id=run.run_id,
        )
        observers.run_finished(run, result)
        return result

    def _measured_downtime(self, plan: Plan, store: StateStore | None) -> Plan:
        """Each restart's expected downtime from the peer's past restarts in the
        journal (median), when there are any; the nominal figure is the default."""
        if not plan.restarts:
            return plan
        if store is None:
            try:
                with self._store() as opened:
                    return self._measured_downtime(plan, opened)
            except ExopsError:  # a dry run never needs the store
                return plan
        actions = []
        for a in plan.actions:
            past = (
                store.journal.restart_durations(plan.cluster, a.host)
                if a.kind is ActionKind.RESTART and a.host
                else []
            )
            if past:
                median = sorted(past)[len(past) // 2]
                note = f"; downtime measured: median of {len(past)} past restarts"
                update = {"expected_downtime_s": median, "reason": a.reason + note}
                actions.append(a.model_copy(update=update))
            else:
                actions.append(a)
        return plan.model_copy(update={"actions": tuple(actions)})

    def _explained(self, plan: Plan) -> Plan:
        """A refused dry run: say when the next run will finish a move a killed run left
        half done (exops.run.repair), which is what makes a peer unreadable."""
        from exops.run.repair import explain_refusal

        try:
            with self._store() as store:
                text = explain_refusal(store.journal, plan.cluster, plan.refused or "")
        except ExopsError:  # a dry run never needs the store
            return plan
        return plan.model_copy(update={"refused": text})

    @contextmanager
    def _store(self) -> Iterator[StateStore]:
        from exops.state import open_state

        store = open_state(self.env.settings)
        try:
            yield store
        finally:
            store.close()

    def _lock(self, store: StateStore, cluster: str, runbook: str, timeout: float | None) -> Any:
        wait = timeout if timeout is not None else self.env.settings.lock_timeout
        spec = self.env.inventory.cluster(cluster)
        return _cluster_lock(store, spec.lock_key, cluster, spec.members, runbook, wait)

    def _lock_key(self, cluster: str) -> str:
        return self.env.inventory.cluster(cluster).lock_key

    def _resume_since(self, store: StateStore, cluster: str, runbook: str) -> str:
        last = store.journal.last_failed_run(cluster, runbook)
        if last is None:
            raise UsageError(
                f"--resume: no failed {runbook} run of cluster {cluster} in the journal"
            )
        return str(last["started"])


class _Hooks:
    """At each step boundary: the cluster lock still held; around a restart step, the
    restart hook (``RestartHook``) when there is one."""

    def __init__(
        self,
        hook: RestartHook | None,
        session: Any,
        cluster: str,
        waiter: Any,
        check_lock: Callable[[], None],
    ):
        self.hook, self.session, self.cluster = hook, session, cluster
        self.clock: Callable[[], float] = waiter.clock
        self.check_lock = check_lock
        self.spent: dict[str, float] = {}  # action id -> seconds its before_restart took

    def before(self, action: Action) -> None:
        self.check_lock()
        if self.hook is None or action.kind is not ActionKind.RESTART or not action.host:
            return
        began = self.clock()
        try:
            self.hook.before_restart(self.session, self.cluster, action.host, self.check_lock)
        finally:
            self.spent[action.id] = self.clock() - began

    def after(self, outcome: StepResult) -> None:
        """A restart step's time leaves out the hook's before it (the journal's measured
        downtime comes from restart steps; the detail states the drain). A restart step
        that succeeded: the hook's check after it; its failure turns the step failed in
        place, so the executor stops there (it reads the status after handing the
        outcome over) and the recap, journal and exit code show it."""
        from exops.apply.results import FAILED_STATUSES, StepStatus

        if self.hook is None:
            return
        outcome.duration_s = max(0.0, outcome.duration_s - self.spent.pop(outcome.action.id, 0.0))
        action = outcome.action
        if action.kind is not ActionKind.RESTART or not action.host:
            return
        if outcome.status in FAILED_STATUSES or outcome.status is StepStatus.SKIPPED:
            return
        try:
            note = self.hook.after_restart(self.session, self.cluster, action.host)
        except ExopsError as exc:
            outcome.status, outcome.error = StepStatus.FAILED, str(exc)
            return
        if note:
            outcome.detail = f"{outcome.detail}; {note}" if outcome.detail else note


class _Bridge:
    """Adapts the executor's event and wait-progress calls to the observers; keeps
    the step in flight (and whether its restart was sent) for an interrupted run."""

    def __init__(self, observers: Observers, run: RunInfo):
        self.observers = observers
        self.run = run
        self._actions: dict[str, Action] = {a.id: a for a in run.plan.actions}
        self.in_flight: tuple[Action, datetime] | None = None
        self.restart_sent: set[str] = set()  # action ids whose restart request was sent

    def emit(self, event: str, **fields: Any) -> None:
        if event == "step_started":
            action = self._actions.get(str(fields.get("action")))
            if action is not None:
                self.in_flight = (action, utc_now())
                self.observers.step_started(self.run, action)
        elif event == "restarting":
            self.restart_sent.add(str(fields.get("action")))
            self.observers.restarting(self.run, str(fields["host"]), str(fields.get("action")))

    def waiting(self, what: str, detail: str, elapsed: float, timeout: float) -> None:
        self.observers.waiting(self.run, what, detail, elapsed, timeout)

    def finished(self, what: str, elapsed: float) -> None:
        self.observers.waited(self.run, what, elapsed)


def _status_of(steps: list[StepResult], unreached: tuple[str, ...]) -> RunStatus:
    failed = next((s for s in steps if s.failed), None)
    if failed is not None:
        return RunStatus.REFUSED if failed.refused else RunStatus.FAILED
    return RunStatus.PARTIAL if unreached else RunStatus.OK


def _finished(
    plan: Plan,
    status: RunStatus,
    steps: list[StepResult],
    unreached: tuple[str, ...],
    *,
    run_id: str | None,
) -> RunResult:
    result = RunResult(
        cluster=plan.cluster,
        runbook=plan.runbook,
        status=status,
        exit_code=exit_code_for(status),
        plan=plan,
        run_id=run_id,
        steps=list(steps),
        unreached=unreached,
    )
    failed = result.first_failure
    if failed is not None:
        result.message = (
            f"step {failed.action.id} '{failed.action.step}' {failed.status.value} on "
            f"{failed.action.host or 'the cluster'}: {failed.error}"
        )
    elif status is RunStatus.PARTIAL:
        result.message = (
            f"partial: {', '.join(unreached)} did not answer and "
            f"{'was' if len(unreached) == 1 else 'were'} skipped; re-run when "
            f"{'it answers' if len(unreached) == 1 else 'they answer'}"
        )
    return result


def _interrupted(
    plan: Plan,
    done: list[StepResult],
    bridge: _Bridge,
    unreached: tuple[str, ...],
    run_id: str,
    observers: Observer,
) -> RunResult:
    """An interrupted run as it stood: the steps done, the step in flight (a failure
    saying what of it happened: a restart that was sent did happen), and the steps
    planned and not started (skipped). Journalled and shown like any other step."""
    from exops.apply.results import StepStatus

    finished = {s.action.id for s in done}
    rest: list[StepResult] = []
    run = bridge.run
    if bridge.in_flight is not None and bridge.in_flight[0].id not in finished:
        action, started = bridge.in_flight
        rest.append(
            StepResult(
                action,
                StepStatus.FAILED,
                started,
                duration_s=(utc_now() - started).total_seconds(),
                error=_in_flight_note(action, action.id in bridge.restart_sent),
                advice="re-run the same command: it plans again from what the cluster reads now",
            )
        )
    begun = finished | {s.action.id for s in rest}
    rest += [
        StepResult(a, StepStatus.SKIPPED, utc_now(), detail=NOT_STARTED)
        for a in plan.actions
        if a.id not in begun
    ]
    for step in rest:
        try:
            observers.step_finished(run, step)
        except (ExopsError, OSError):  # the interruption is what is reported
            continue
    return _finished(plan, RunStatus.INTERRUPTED, [*done, *rest], unreached, run_id=run_id)


def _escaped(
    plan: Plan,
    done: list[StepResult],
    bridge: _Bridge,
    unreached: tuple[str, ...],
    run_id: str,
    observers: Observer,
    exc: ExopsError,
) -> RunResult:
    """A run an exops error stopped outside a step's own error handling: the step in
    flight failed with that error (said once, with what of it happened), the steps
    after it were not reached. Journalled and shown like any failed run (exit 1)."""
    from exops.apply.results import StepStatus

    finished = {s.action.id for s in done}
    rest: list[StepResult] = []
    if bridge.in_flight is not None and bridge.in_flight[0].id not in finished:
        action, started = bridge.in_flight
        sent = action.id in bridge.restart_sent
        what = _in_flight_note(action, sent).removeprefix(IN_FLIGHT).lstrip(":, ")
        rest.append(
            StepResult(
                action,
                StepStatus.FAILED,
                started,
                duration_s=(utc_now() - started).total_seconds(),
                error=f"{str(exc).splitlines()[0] if str(exc) else type(exc).__name__} ({what})",
                advice="re-run the same command: it plans again from what the cluster reads now",
            )
        )
    begun = finished | {s.action.id for s in rest}
    rest += [
        StepResult(a, StepStatus.SKIPPED, utc_now(), detail="not reached")
        for a in plan.actions
        if a.id not in begun
    ]
    for step in rest:
        try:
            observers.step_finished(bridge.run, step)
        except (ExopsError, OSError):  # the first error is what is reported
            continue
    status = _status_of([*done, *rest], unreached)
    if status not in (RunStatus.FAILED, RunStatus.REFUSED):  # no step in flight to blame
        status = RunStatus.FAILED
    result = _finished(plan, status, [*done, *rest], unreached, run_id=run_id)
    if result.first_failure is None:
        result.message = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return result


def _in_flight_note(action: Action, restart_sent: bool) -> str:
    host = action.host or "the cluster"
    if action.kind is ActionKind.RESTART:
        if restart_sent:
            return (
                f"{IN_FLIGHT}: the restart of {host} WAS sent; it restarts (or has "
                "restarted) even though exops stopped waiting for it"
            )
        return f"{IN_FLIGHT}, before the restart of {host} was sent"
    if action.kind in (ActionKind.CONFIGURE, ActionKind.COMMAND):
        return (
            f"{IN_FLIGHT}: the change to {host} may or may not have been made; "
            "a re-run reads it and does only what differs"
        )
    doing = {ActionKind.BACKUP: "taking the backup", ActionKind.VERIFY: "checking"}
    return (
        f"{IN_FLIGHT} while {doing.get(action.kind, 'waiting')} on {host}; "
        "this step changes nothing"
    )


def _refused(plan: Plan) -> RunResult:
    return RunResult(
        cluster=plan.cluster,
        runbook=plan.runbook,
        status=RunStatus.REFUSED,
        exit_code=exit_code_for(RunStatus.REFUSED),
        plan=plan,
        message=f"refused: {plan.refused}",
    )


@contextmanager
def _null() -> Iterator[None]:
    yield


def _finish_interrupted(store: StateStore, session: RunSession, cluster: str) -> str | None:
    """A move a killed run left half done, finished from the journal (exops.run.repair)."""
    from exops.run.repair import finish_interrupted

    return finish_interrupted(store.journal, session, cluster)


def _noted(plan: Plan, repaired: str | None) -> Plan:
    """The new plan (journalled with the run) records the write sequence finished first."""
    if repaired is None:
        return plan
    return plan.model_copy(update={"warnings": (repaired, *plan.warnings)})


@contextmanager
def _cluster_lock(
    store: StateStore,
    key: str,
    cluster: str,
    members: tuple[str, ...],
    runbook: str,
    wait: float,
) -> Iterator[Any]:
    """The host-wide lock of one cluster, keyed by what identifies it (``ClusterSpec
    .lock_key``); a refusal names the cluster and its members in the holder line."""
    with ExitStack() as stack:
        try:
            held = stack.enter_context(store.lock(key, runbook=runbook, timeout_s=wait))
        except LockedError as exc:
            shown = f"cluster {cluster} ({', '.join(members)})"
            raise LockedError(str(exc).replace(f"cluster {key}", shown, 1)) from None
        yield held


__all__ = [
    "IN_FLIGHT",
    "NOT_STARTED",
    "Confirm",
    "OpenSession",
    "RestartHook",
    "RunSession",
    "Runner",
]

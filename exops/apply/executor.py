"""Apply: execute a plan's actions, re-read after each, stop on divergence.

Apply is thin on purpose. It executes exactly the plan's actions, in order,
through the appliance interface, and after each one re-reads the appliance
to prove the predicted state holds. When reality differs from the prediction
it stops with a report (step, peer, expected, found, what to do) and marks
every later action "not reached"; a plain re-run plans again from the real
state and finishes the job.

The stale-plan rule (docs/safety.md): before the first write, ``check_fresh``
compares what the plan expects to find (its basis, each action's ``before``)
with fresh facts and refuses the whole run on any difference
(``StalePlanError``, exit 3, nothing written). Before every later write the
peers' own fields (peer list, primary) are compared with what the run left
them as: a peer another administrator changed meanwhile stops the run
(``ChangedDuringRun``, exit 3) with what was written so far and the command
that finishes the job.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

from exops.appliance.base import Appliance, PortProbe, apply_writes, settings_writes
from exops.apply.results import FAILED_STATUSES, StepResult, StepStatus
from exops.apply.safety import check_command, check_restart, check_write
from exops.apply.waits import Waiter
from exops.core.errors import (
    AuthError,
    DivergenceError,
    ExopsError,
    PreconditionError,
    StalePlanError,
    TimeoutError_,
    TlsError,
    TransportError,
)
from exops.core.models import ClusterFacts, ClusterSettings, TlsMode
from exops.facts.gather import Fact
from exops.facts.health import restart_alarm, restart_pending
from exops.plan.model import (
    Action,
    ActionKind,
    Plan,
    local_changes,
    plan_command,
    run_command,
    settings_diff,
    stale_lines,
)

Condition = Callable[[ClusterFacts, Action], tuple[bool, str]]


class Cluster(Protocol):
    """What apply needs of a session: appliances and fresh facts."""

    def appliance(self, host: str) -> Appliance: ...
    def gather(
        self,
        cluster: str,
        hosts: list[str] | None = None,
        *,
        light: bool = False,
        needs: frozenset[Fact] | None = None,
    ) -> ClusterFacts: ...


class Events(Protocol):
    def emit(self, event: str, **fields: Any) -> None: ...


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
    # The run applies a saved plan: "re-run the same command" would re-apply a plan
    # that no longer holds once this run has written anything; the advice names the
    # direct command instead (it plans again from the real state).
    saved_plan: str | None = None  # the plan file's path
    # A wait's last read of the whole cluster (the one that found its condition
    # holding) serves as the fresh read of the step right after it when that read
    # ended at most this many seconds before, and nothing was done in between
    # (``Executor._fresh``): as fresh as a read of its own would be. 0: every
    # write, restart and command reads anew.
    reuse_within_s: float = 0.0


# What the end of a restart is read from: the peer answers, and its alarms no longer
# say a restart is required (``restart_pending``).
RESTART_END_READS: frozenset[Fact] = frozenset({Fact.ALARMS})

# Refused logins a restart wait tolerates (a peer going down can cut a login short)
# before it stops: repeated failed logins lock an appliance's admin account.
MAX_REFUSED_LOGINS = 3

# A restore's own pre-change backup is kept apart ("<cluster>.restore"): a restore
# re-run after a kill must not take it for "the newest backup" and put back the very
# list it was restoring from (it stays available to `exops restore --backup FILE`).
RESTORE_BACKUPS = "{cluster}.restore"


@dataclass
class Applied:
    outcomes: list[StepResult] = field(default_factory=list)

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


class ChangedDuringRun(PreconditionError):
    """A peer changed during the run (another administrator): stopped before the next
    write (exit 3); the advice says what was written and what finishes the job."""


class CertificateProblem(TimeoutError_):
    """A wait ran out of time in TLS Enforce mode and a member's certificate is why."""


class Executor:
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
        on_outcome: Callable[[StepResult], None] | None = None,
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
        # Each peer's settings as this run last read or left them (set by check_fresh):
        # a peer whose own fields move otherwise was changed by someone else.
        self.known: dict[str, ClusterSettings] | None = None
        self.written: list[str] = []  # "host: writes" of every write done so far
        # The peers of a whole-cluster read (check_fresh's): a wait's read covers the
        # cluster when it read exactly these.
        self._peers: frozenset[str] | None = None
        # (facts, clock when their read ended) of the last wait's read that found its
        # condition holding; handed to the next step only (``_fresh``).
        self._recent: tuple[ClusterFacts, float] | None = None
        self._handoff: tuple[ClusterFacts, float] | None = None

    def check_fresh(self, facts: ClusterFacts | None = None) -> None:
        """The stale-plan rule, before the first write: the plan's basis and every
        action's expected state hold on a fresh read of the cluster.

        ``facts``: the read the plan was just made (or checked) from, when nothing
        came between it and this run (no question to an operator): it is the
        freshest read there is. The first write, restart or command still reads the
        cluster anew right before it (``_fresh``).

        Raises:
            StalePlanError: one line per difference (step, peer, expected, found);
                nothing was written anywhere (exit 3).
        """
        if facts is None:
            facts = self.cluster.gather(self.plan.cluster, light=True)
        self._peers = frozenset(p.host for p in facts.peers)
        lines = stale_lines(self.plan, facts)
        if lines:
            raise StalePlanError(
                "the cluster changed since this plan was made; nothing was written:\n  "
                + "\n  ".join(lines)
                + f"\n{self._replan_advice()}"
            )
        self.known = {p.host: p.settings for p in facts.peers if p.reachable and p.settings}

    def _replan_advice(self) -> str:
        if self.options.saved_plan:
            return (
                f"make a new plan (`{plan_command(self.plan, self.options.saved_plan)}`), or run "
                f"`{run_command(self.plan)}` (it plans again from the real state)"
            )
        return f"re-run `{run_command(self.plan)}`: it plans again from the real state"

    def run(self) -> Applied:
        if self.known is None:
            self.check_fresh()
        applied = Applied()
        for index, action in enumerate(self.plan.actions):
            outcome = self._one(action)
            applied.outcomes.append(outcome)
            self.on_outcome(outcome)  # journalled at once: a crash loses no finished step
            if outcome.status in FAILED_STATUSES:
                for rest in self.plan.actions[index + 1 :]:
                    skipped = StepResult(
                        rest, StepStatus.SKIPPED, datetime.now(UTC), detail="not reached"
                    )
                    applied.outcomes.append(skipped)
                    self.on_outcome(skipped)
                break
        return applied

    def _one(self, action: Action) -> StepResult:
        # The previous step's last read passes to this step only (see _fresh).
        self._handoff, self._recent = self._recent, None
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
            advice = self._advice(action, exc)
            kind = _failure_status(action, exc)
            return StepResult(
                action,
                kind,
                started,
                duration,
                error=str(exc),
                advice=advice,
                refused=isinstance(exc, PreconditionError),
            )
        duration = self.waiter.clock() - t0
        return StepResult(action, StepStatus(status), started, duration, detail=detail)

    def _advice(self, action: Action, exc: ExopsError) -> str | None:
        if isinstance(exc, ChangedDuringRun):
            done = "; ".join(self.written) if self.written else "nothing"
            return (
                f"written so far: {done}. To finish the job on the cluster as it is now, "
                f"run `{run_command(self.plan)}` (it plans again from the real state; a "
                "backup of each changed peer was saved first)"
            )
        advice = action.advice or ADVICE.get(action.kind)
        if isinstance(exc, CertificateProblem):
            advice = (
                "in TLS Enforce mode every peer must present a valid certificate, from a CA "
                "every peer trusts, that names the address the cluster lists it under: "
                "replace the certificate named above on that peer, then re-run the same "
                f"command (`exops status -c {self.plan.cluster}` shows the peers that "
                "refuse it)"
            )
        if action.kind is ActionKind.BACKUP and isinstance(exc, TransportError):
            # The peer went away while its settings were read: not a backup-store fault.
            advice = (
                f"{action.host} did not answer while exops read its settings to back them "
                f"up (nothing was changed on it): check it is up and reachable "
                f"(`exops status -c {self.plan.cluster}`), then re-run the same command"
            )
        if advice and self.options.saved_plan and self.written:
            advice = advice.replace("re-run the same command", f"run `{run_command(self.plan)}`")
        return advice

    def _fresh(self, action: Action) -> ClusterFacts:
        """Fresh facts of the cluster right before a write, restart or command: the
        peers' own fields are what this run left them as (else ``ChangedDuringRun``).

        The read is the one the step just before made, when that step was a wait whose
        last read of every peer of the cluster found its condition holding, that read
        ended at most ``reuse_within_s`` before this moment, and nothing (no write,
        restart, command) came between (a health gate, then the next restart: reading
        the cluster twice in a row would learn nothing new). Its oldest answer is then
        at most that much older than a new read's would be (a read takes as long
        either way). Otherwise it reads anew."""
        facts = self._handed_over() or self.cluster.gather(self.plan.cluster, light=True)
        if self.known:
            changed = local_changes(self.known, facts)
            if changed:
                raise ChangedDuringRun(
                    f"step {action.id} '{action.step}': stopped before it: the cluster "
                    "changed during this run (another administrator?): " + "; ".join(changed),
                    host=action.host,
                    operation=action.kind.value,
                )
        return facts

    def _handed_over(self) -> ClusterFacts | None:
        handoff, self._handoff = self._handoff, None
        window = self.options.reuse_within_s
        if handoff is None or window <= 0 or self._peers is None:
            return None
        facts, ended = handoff
        if self.waiter.clock() - ended > window:
            return None
        if frozenset(p.host for p in facts.peers) != self._peers:
            return None  # not a read of the whole cluster
        return facts

    def _wrote(self, host: str, settings: ClusterSettings, writes: str) -> None:
        if self.known is not None:
            self.known[host] = settings
        if writes:
            self.written.append(f"{host}: {writes}")

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
        fresh = self._fresh(action)
        app = self.cluster.appliance(host)
        current = _settings_of(fresh, host, app)
        if action.after is not None and current == action.after:
            self._wrote(host, current, "")
            return "ok", "already as planned"
        writes = action.writes
        if action.before is not None and current != action.before:
            if action.after is None or not _progressed(action.before, current, action.after):
                raise ChangedDuringRun(
                    f"step {action.id} '{action.step}': settings changed since planning: "
                    f"{describe_diff(action.before, current)}",
                    host=host,
                    operation="configure",
                )
            # Replication already brought some planned values: write only the rest.
            writes = settings_writes(current, action.after)
        # Safety rules R1/R3/R5 on a fresh read, right before the write.
        check_write(
            host,
            current,
            writes,
            apply_writes(current, writes),
            fresh,
            decommission=self.options.decommission,
        )
        app.write(writes)
        found = app.read_settings()
        described = ", ".join(w.describe() for w in writes)
        self._wrote(host, found, described)
        if action.after is not None and _unexplained(current, writes, action.after, found):
            raise DivergenceError(
                f"step {action.id} '{action.step}': after writing, expected "
                f"{describe_diff(action.after, found)}",
                host=host,
                operation="configure",
            )
        return "changed", "; ".join(w.describe() for w in writes)

    def _restart(self, action: Action) -> tuple[str, str]:
        host = self._host(action)
        fresh = self._fresh(action)
        app = self.cluster.appliance(host)
        # Safety rules R2/R4 on a fresh read of the target and its cluster, right before
        # (the target's settings as that read found them: read once, not twice).
        target = _settings_of(fresh, host, app)
        check_restart(host, target, fresh, decommission=self.options.decommission)
        decommissioning = action.decommission and host == self.options.decommission
        try:
            uptime_before = app.read_uptime()
        except ExopsError:
            uptime_before = None
        app.restart()
        self.written.append(f"{host}: restarted")
        if decommissioning and self.known is not None:
            self.known.pop(host, None)  # it comes back factory reset, on purpose
        self.events.emit("restarting", host=host, action=action.id)
        back = _back_poll(
            app, uptime_before, decommissioning=decommissioning, clock=self.waiter.clock
        )
        timeout = min(
            action.timeout_s or self.options.restart_timeout, self.options.restart_timeout
        )
        waited = self.waiter.until(
            f"{host} to restart and answer", back, timeout=timeout, host=host
        )

        refused = {"n": 0}

        def settled() -> tuple[bool, str]:
            # The restart's end state: the peer answers and its restart-required alarm
            # is cleared; its alarms are all this reads (the health gate after the step
            # reads the whole cluster).
            facts = self.cluster.gather(
                self.plan.cluster, hosts=[host], light=True, needs=RESTART_END_READS
            )
            peer = facts.peer(host)
            if peer.unreachable_kind == "auth":
                refused["n"] += 1
                if refused["n"] >= MAX_REFUSED_LOGINS:  # never again and again (lockout)
                    raise AuthError(
                        peer.error or "credentials refused", host=host, operation="wait"
                    )
            if not peer.reachable:
                return False, peer.error or "unreachable"
            if restart_pending(peer):
                return False, f"restart still pending (alarm {restart_alarm()})"
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
            ended = self.waiter.clock()
            stale = read_before(facts, self.restarted_at)
            if stale:
                return False, f"{stale} read before the last restart was over: reading again"
            holds, seen = predicate(facts, action)
            self._recent = (facts, ended) if holds else None
            return holds, seen

        # The runbook's timeout, capped by the operator's setting (EXOPS_SETTLE_TIMEOUT).
        timeout = min(action.timeout_s or self.options.settle_timeout, self.options.settle_timeout)
        what = f"{action.condition} ({action.step})"
        try:
            waited = self.waiter.until(what, check, timeout=timeout, host=action.host)
        except TimeoutError_ as exc:
            certificates = self._certificate_problems()
            if not certificates:
                raise
            raise CertificateProblem(
                f"{exc.message}; in TLS Enforce mode: " + "; ".join(certificates),
                host=exc.host,
                operation=exc.operation,
            ) from exc
        return "ok", f"{action.condition} after {waited:.1f} s"

    def _certificate_problems(self) -> list[str]:
        """When the cluster is in TLS Enforce mode: each member whose certificate does
        not name the address the cluster lists it under (or is expired, self-signed,
        not trusted), with the certificate's subject, names and issuer. Best effort:
        [] when nothing can be read (the wait's own failure stands)."""
        from exops.facts.view import ClusterView
        from exops.plan.preflight import tls_name_problems

        try:
            facts = self.cluster.gather(
                self.plan.cluster, needs=frozenset({Fact.SETTINGS, Fact.CERTIFICATE})
            )
        except (ExopsError, TypeError):
            return []
        view = ClusterView(facts)
        if view.settings.tls_mode is not TlsMode.ENFORCE:
            return []
        members = [facts.peer(h) for h in view.members]
        issuers = sorted({p.certificate.issuer for p in members if p.certificate})
        now = datetime.now(UTC)
        out = []
        for p in members:
            cert = p.certificate
            slot = view.slot_of(p.host)
            listed = view.settings.peers[slot - 1] if slot else p.address
            if cert is None:
                continue
            problems = tls_name_problems(
                listed, cert, now, issuers, p.trust_store, f"it is listed by IP ({listed})"
            )
            if problems:
                names = ", ".join(cert.sans) or "none"
                out.append(
                    f"the certificate of {p.host} (CN {cert.subject_cn or '-'}, names {names}, "
                    f"issued by {cert.issuer}, sha256 {cert.fingerprint_sha256[:16]}) "
                    f"fails for {listed}: {'; '.join(problems)}"
                )
        return out

    def _command(self, action: Action) -> tuple[str, str]:
        host = self._host(action)
        if action.command is None:
            raise DivergenceError(f"command action {action.id} names no command", host=host)
        command = action.command
        fresh = self._fresh(action)
        check_command(host, command.value, fresh)
        answer = self.cluster.appliance(host).command(command)
        self.written.append(f"{host}: xCommand {command.value}")
        return "changed", f"xCommand {action.command.value}: {answer.strip()[:120]}"


def _settings_of(facts: ClusterFacts, host: str, app: Appliance) -> ClusterSettings:
    """``host``'s settings as the fresh read of its cluster just found them; when
    that read has none (not read), the peer's own read (which raises if it fails)."""
    for p in facts.peers:
        if p.host == host and p.reachable and p.settings is not None:
            return p.settings
    return app.read_settings()


def read_before(facts: ClusterFacts, moment: datetime | None) -> str:
    """The peers whose read began before ``moment`` (a restart's end), or "": a wait
    judges only reads that could have seen the state the restart produced."""
    if moment is None:
        return ""
    return ", ".join(
        p.host for p in facts.peers if p.gathered_at is not None and p.gathered_at < moment
    )


def _back_poll(
    app: Appliance,
    uptime_before: int | None,
    *,
    decommissioning: bool,
    clock: Callable[[], float],
) -> Callable[[], tuple[bool, str]]:
    """The check a restart polls. It holds only on a read that proves the restart
    happened: an uptime below the one read before the request, or one counting from
    a boot later than the request. A peer goes on answering for a while after it
    accepts a restart, and a read may time out while it stops: neither is a restart.
    Only an appliance that reports no uptime is taken back on "went down, answers
    again". A peer going down can cut a login short, which reads as refused
    credentials; a third refusal stops the wait: logging in again at every poll
    would lock the account.

    While the peer is known down (its last poll got no answer at all), a poll first
    makes a plain TCP connect to the port the read uses (``PortProbe``, within the
    connect timeout the read itself would have had): a closed port is "still down"
    without a TLS handshake or a login. Only an open port earns the read, and only
    the read (as above) ever says the peer is back: an accepted connection never does.

    The first poll, made the moment the restart is asked, reads nothing: no read then
    can prove a restart (no peer boots in the instant it accepts the request), and
    after ``restart`` the next read opens a new connection (a TLS handshake or an SSH
    login) for an answer known in advance (issue 22: CPU per cluster in a fleet)."""
    state = {"down": False, "refused": 0, "unreached": False, "asked": True}
    ports = app if isinstance(app, PortProbe) else None
    requested = clock()

    def back() -> tuple[bool, str]:
        now = clock()  # before the read: a boot before this moment is proven by it
        if state["asked"]:  # the poll at the request itself
            state["asked"] = False
            return False, "restart requested, not begun"
        if state["unreached"] and ports is not None and not ports.accepts_connections():
            return False, "not answering (restarting)"
        state["unreached"] = False
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
            state["unreached"] = True  # the next poll asks the port first
            return False, "not answering (restarting)"
        if uptime is not None:
            reset = uptime_before is not None and uptime < uptime_before
            if reset or uptime + 1 <= now - requested:  # booted after the request
                return True, f"answering again (uptime {uptime} s)"
            return False, f"still up (uptime {uptime} s), restart not begun"
        if state["down"]:  # no uptime to tell: down, then answering, is all there is
            return True, "answering again"
        return False, "still up, restart not begun"

    return back


def _failure_status(action: Action, exc: ExopsError) -> StepStatus:
    """Ansible's distinction: a peer that could not be reached at all is
    ``unreachable``; a wait or verify that ran out of time is a failure (a
    timeout), not an unreachable peer."""
    if isinstance(exc, TimeoutError_) and action.kind in (ActionKind.WAIT, ActionKind.VERIFY):
        return StepStatus.FAILED
    return StepStatus.UNREACHABLE if isinstance(exc, TransportError) else StepStatus.FAILED


def _unexplained(
    current: ClusterSettings, writes: Any, after: ClusterSettings, found: ClusterSettings
) -> bool:
    """The read after a write differs from the plan in a way neither the write nor
    replication explains. Every field the write set must read as planned; a
    cluster-database field the write did not set may have moved meanwhile (a peer
    whose list now names the cluster takes the primary's cluster name by replication,
    domain 3.2 step 3: exops never writes it there)."""
    from exops.plan.planner import replicated_fields

    if found == after:
        return False
    c, w = current.model_dump(mode="json"), apply_writes(current, writes).model_dump(mode="json")
    a, f = after.model_dump(mode="json"), found.model_dump(mode="json")
    written = {k for k in w if w[k] != c[k]}
    replicated = set(replicated_fields())
    return any(a[k] != f[k] and (k in written or k not in replicated) for k in a)


def _progressed(before: ClusterSettings, current: ClusterSettings, after: ClusterSettings) -> bool:
    """Every field that moved since planning moved to its planned value."""
    b, c, a = (s.model_dump(mode="json") for s in (before, current, after))
    return all(c[k] == a[k] for k in c if c[k] != b[k])


def describe_diff(expected: ClusterSettings, found: ClusterSettings) -> str:
    """'<field> expected X, found Y' for every field (peer slot) that differs."""
    return "; ".join(settings_diff(expected, found)) or "no difference"

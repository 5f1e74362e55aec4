"""Plan a runbook: a pure forward simulation of its steps over the gathered facts.

``plan_runbook(runbook, facts, params)`` does no I/O. It walks the steps in
order, keeping a predicted state per peer (saved settings, settings in
force, restart pending) that each step updates exactly as the appliance
would (docs/contract.md section 6), so that:

- a configure step becomes the minimal writes from the *predicted* settings
  (nothing when they already match: the idempotence record is a Skipped);
- ``restart: {when: pending}`` restarts exactly the peers whose restart is
  pending after the earlier steps (read from the restart-required alarm for
  what was already pending before this run: a failed run finishes the job on
  the next one);
- a change of a replicated setting (spread "cluster" in knowledge.toml) on the
  primary lands on the in-sync subordinates (so their restarts are planned);
  which saved changes need a restart is the table's ``effect`` column;
- waits and verifies are planned only once something has changed before
  them (a re-run of a satisfied runbook is an empty plan);
- a backup of each peer is planned before its first change;
- emptying a peer's list (the factory-reset hazard) is refused unless the
  step says it decommissions that peer.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypeVar

from pydantic_core import to_jsonable_python

from exops.appliance import knowledge
from exops.appliance.base import Command, apply_writes, settings_writes
from exops.core.errors import ExopsError, RunbookFileError, UsageError
from exops.core.models import (
    MAX_PEERS,
    ClusterFacts,
    ClusterSettings,
    PeerFacts,
    address_key,
    is_fqdn,
    is_ip,
)
from exops.facts.address import names_of, same_peer
from exops.facts.gather import PLAN_FACTS, Fact, needs_of
from exops.facts.health import in_maintenance, restart_alarm, restart_pending
from exops.facts.view import ClusterView
from exops.plan.model import (
    BLOCKING,
    Action,
    ActionKind,
    CheckOutcome,
    CheckResult,
    Plan,
    Skipped,
    digest,
)
from exops.plan.preflight import (
    ACCEPT_PARAM,
    ACCEPTED_PREFIX,
    accepted_names,
    checks_facts,
    foreign_refusal,
    run_checks,
    tls_name_problems,
)
from exops.runbook.expr import ExpressionError, evaluate, render
from exops.runbook.schema import Runbook, Step

NOMINAL_RESTART_S = 300.0  # a real appliance restart: "several minutes"


def replicated_fields() -> tuple[str, ...]:
    """What a save on the primary changes on its in-sync subordinates: the peer-model
    fields in a cluster-database table (knowledge.toml spread "cluster")."""
    return knowledge.cluster_fields()


def restart_alarms() -> tuple[str, ...]:
    """Alarms expected while a peer restarts (its peers lose it): the communication class."""
    return tuple(sorted(knowledge.alarm_ids("communication")))


class Refused(Exception):
    """A safety rule refuses the plan (becomes ``Plan.refused``)."""


@dataclass
class Predicted:
    """What one peer will look like at this point of the plan."""

    host: str
    reachable: bool
    saved: ClusterSettings | None
    in_force: ClusterSettings | None  # None: unknown (a restart was already pending)
    pending: bool
    names: frozenset[str]  # addresses that designate this peer (address_key form)
    # Why a restart will be required, when this plan causes it (not read from alarm 20007).
    cause: str = ""

    def self_entry(self, settings: ClusterSettings | None) -> str | None:
        if settings is None:
            return None
        return next((a.lower() for a in settings.peers if a and address_key(a) in self.names), None)

    def restart_causes(self) -> list[str]:
        """The saved settings not in force that only a restart puts in force."""
        if self.in_force is None or self.saved is None:
            return []
        s, a = self.saved, self.in_force
        out = [f"TLS mode {s.tls_mode.value}"] if s.tls_mode != a.tls_mode else []
        out += [f"IP version {s.ip_version.value}"] if s.ip_version != a.ip_version else []
        if self.self_entry(s) != self.self_entry(a):
            out.append(f"address it lists itself under ({self.self_entry(s) or 'none'})")
        return out

    def restart_needed(self) -> bool:
        """A saved change of a setting whose effect is "restart" (knowledge.toml) is
        not in force yet; of the peer list, only this peer's own entry counts."""
        if self.in_force is None or self.saved is None:
            return self.pending
        s, a = self.saved, self.in_force
        for f in knowledge.restart_fields():
            if f == "peers":
                if self.self_entry(s) != self.self_entry(a):
                    return True
            elif getattr(s, f) != getattr(a, f):
                return True
        return False


@dataclass
class _Draft:
    actions: list[Action] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    backed_up: set[str] = field(default_factory=set)

    @property
    def changed(self) -> bool:
        return any(a.changes_appliance for a in self.actions)

    def add(self, **kw: Any) -> Action:
        action = Action(id=str(len(self.actions) + 1), **kw)
        self.actions.append(action)
        return action


def plan_runbook(
    runbook: Runbook,
    facts: ClusterFacts,
    params: dict[str, Any],
    *,
    now: datetime,
    exops_version: str,
) -> Plan:
    """The plan of ``runbook`` on the cluster ``facts`` describe (pure).

    Raises:
        UsageError: a parameter is unknown, missing or malformed.
        RunbookFileError: an expression of the runbook fails on these facts.
    """
    return _Planner(runbook, facts, params).plan(now=now, exops_version=exops_version)


def plan_facts(runbook: Runbook) -> frozenset[Fact]:
    """What planning ``runbook`` reads (``Session.gather(..., needs=...)``): what the
    planner itself uses (``facts.PLAN_FACTS``), what its preflight checks declare,
    and, when it names a new peer, what the new-peer TLS check declares (it runs
    when the cluster is in TLS Enforce mode, which only the facts tell)."""
    return needs_of(
        PLAN_FACTS,
        checks_facts(runbook.preflight),
        NEW_PEER_TLS_FACTS if runbook.preflight_new_peer else (),
    )


def basis_of(facts: ClusterFacts) -> dict[str, dict[str, Any]]:
    """The facts a plan depends on: per peer, reachability, settings, pending restart."""
    return {
        p.host: {
            "reachable": p.reachable,
            "settings": p.settings.model_dump(mode="json") if p.settings else None,
            "restart_pending": restart_pending(p),
        }
        for p in facts.peers
    }


class _Planner:
    def __init__(self, runbook: Runbook, facts: ClusterFacts, params: dict[str, Any]):
        self.runbook = runbook
        self.facts = facts
        self.view = ClusterView(facts)
        self.state = {p.host: _predict(p) for p in facts.peers}
        self.draft = _Draft()
        given = dict(params)
        # ``--accept NAME``: prerequisites the operator overrides, kept in the plan's params.
        self.accepted = accepted_names(given.pop(ACCEPT_PARAM, None), runbook.preflight)
        self.params = coerce_params(runbook, given, self.view)
        self.base_context: dict[str, Any] = {
            "cluster": self.view,
            "cluster_name": facts.cluster,
            "params": self.params,
            "state": lambda host: self.state[host].saved,
            **self.params,
        }
        if self.accepted:
            self.params[ACCEPT_PARAM] = list(self.accepted)

    # -- the plan -----------------------------------------------------------------
    def plan(self, *, now: datetime, exops_version: str) -> Plan:
        basis = basis_of(self.facts)
        refused: str | None = None
        preflight: tuple[CheckResult, ...] = ()
        try:
            self._readable()
            self._not_foreign()
            preflight = self._preflight(now)
            failed = [c for c in preflight if c.outcome in BLOCKING and c.name not in self.accepted]
            if failed:
                raise Refused(
                    "preflight failed: " + "; ".join(f"{c.name}: {c.summary}" for c in failed)
                )
            self._refusals()
            self._steps(self.runbook.steps, self.base_context, prefix="")
            self._no_restart_beside_maintenance()
        except Refused as exc:
            refused = str(exc)
        d = self.draft
        return Plan(
            runbook=self.runbook.name,
            cluster=self.facts.cluster,
            params=self.params,
            created_at=now,
            exops_version=exops_version,
            facts_digest=digest(basis),
            basis=basis,
            preflight=preflight,
            actions=() if refused else tuple(d.actions),
            skipped=() if refused else tuple(d.skipped),
            warnings=tuple(dict.fromkeys(d.warnings)),
            refused=refused,
        )

    def _readable(self) -> None:
        """A cluster exops cannot read at all is not an empty cluster."""
        if not any(p.reachable for p in self.state.values()):
            first = self.facts.peers[0] if self.facts.peers else None
            detail = f": {first.host}: {first.error}" if first else ""
            raise Refused(f"no peer of cluster {self.facts.cluster} could be read{detail}")

    def _not_foreign(self) -> None:
        """A peer joining this cluster (add-peer, create-cluster) must not be a member of
        another one: refused before any check, and no ``--accept`` overrides it."""
        if not self.runbook.preflight_new_peer:
            return
        new = self._eval(self.runbook.preflight_new_peer, self.base_context, "preflight")
        if isinstance(new, str) and new in self.state:
            why = foreign_refusal(self.facts, new)
            if why:
                raise Refused(why)

    def _no_restart_beside_maintenance(self) -> None:
        """Safety rule R9 at planning (the executor checks it again on the fresh read):
        no restart of a peer while another is in maintenance mode (an alarm of the
        table's class "maintenance"), in plan order: a drained peer restarted leaves
        maintenance (the vendor's rule), so the restarts after its own are not refused;
        a peer the cluster does not list yet (add-peer's new one) or the leaver a
        remove-peer decommissions (unlisted before its restart, R2a) serves nothing.
        Refused here, before a write the refused restarts would leave half done."""
        drained = {p.host: in_maintenance(p) for p in self.facts.peers if in_maintenance(p)}
        for action in self.draft.actions:
            if action.kind is not ActionKind.RESTART or action.host is None:
                continue
            if action.decommission or not self.view.listed(action.host):
                continue  # the leaver (remove-peer) or a peer joining (add-peer): no service
            others = sorted(h for h in drained if h != action.host)
            if others:
                other = others[0]
                raise Refused(
                    f"{other} is in maintenance mode (alarm {', '.join(drained[other])}): "
                    f"restarting {action.host} would leave two peers of cluster "
                    f"{self.facts.cluster} out of service (safety rule R9); take {other} "
                    "out of maintenance on its web page first, or restart only it "
                    f"(exops restart -c {self.facts.cluster} --peer {other})"
                )
            drained.pop(action.host, None)

    def _refusals(self) -> None:
        for rule in self.runbook.refuse:
            if self._eval(rule.when, self.base_context, "refuse"):
                raise Refused(str(self._eval(rule.reason, self.base_context, "refuse")))

    def _preflight(self, now: datetime) -> tuple[CheckResult, ...]:
        if not self.runbook.preflight:
            return ()
        new_peer = leaving = None
        if self.runbook.preflight_new_peer:
            new_peer = self._eval(self.runbook.preflight_new_peer, self.base_context, "preflight")
        if self.runbook.preflight_leaving_peer:
            leaving = self._eval(
                self.runbook.preflight_leaving_peer, self.base_context, "preflight"
            )
        results = run_checks(
            self.facts,
            self.runbook.preflight,
            new_peer=new_peer or None,
            leaving=leaving if isinstance(leaving, str) and leaving else None,
        )
        if (
            new_peer
            and isinstance(new_peer, str)
            and new_peer in self.view.hosts
            and self.view.tls_enforced
            and not self.view.listed(new_peer)
        ):
            # A peer joining a cluster in TLS Enforce: its name must be in its certificate
            # and trust must be mutual, or every peer goes database Failed (domain 3.4).
            results = (*results, new_peer_tls_names(self.view, new_peer, now))
        results = tuple(self._accept(c) for c in results)
        for c in results:
            if c.outcome is CheckOutcome.WARN or (
                c.outcome in BLOCKING and c.name in self.accepted
            ):
                self.draft.warnings.append(f"{c.name}: {c.summary}")
        return results

    def _accept(self, check: CheckResult) -> CheckResult:
        """A failed or unknown check the operator accepted by name: it stays failed in
        the plan (the evidence is kept), marked accepted, and no longer refuses it."""
        if check.name not in self.accepted or check.outcome not in BLOCKING:
            return check
        summary = f"{ACCEPTED_PREFIX} (--accept {check.name}): {check.outcome.value}: "
        return check.model_copy(update={"summary": summary + check.summary})

    # -- steps --------------------------------------------------------------------------
    def _steps(self, steps: tuple[Step, ...], context: dict[str, Any], prefix: str) -> None:
        for step in steps:
            if step.steps is not None:
                self._block(step, context, prefix)
                continue
            name = str(self._eval(step.name, context, step.name)) if "{" in step.name else step.name
            if step.on is None:
                if step.kind in ("wait", "verify"):
                    self._wait(step, name, None, context)
                    continue
                raise RunbookFileError(
                    f"{self.runbook.source}: step '{name}': {step.kind} needs on: (which peers)"
                )
            for host in self._targets(step, name, context):
                ctx = {**context, "target": host, "current": self.state[host].saved}
                self._one(step, name, host, ctx)

    def _block(self, step: Step, context: dict[str, Any], prefix: str) -> None:
        steps = _given(step.steps, "a block's steps")
        if step.when is not None and not self._eval(step.when, context, step.name):
            self.draft.skipped.append(Skipped(step=step.name, host=None, reason="not needed"))
            return
        items = self._eval(step.foreach, context, step.name) if step.foreach else [None]
        for item in items or []:
            ctx = {**context, step.as_: item} if step.foreach else context
            self._steps(steps, ctx, prefix)

    def _one(self, step: Step, name: str, host: str, ctx: dict[str, Any]) -> None:
        peer = self.state[host]
        if not peer.reachable and step.kind != "wait":
            reason = f"{host} is unreachable ({self.facts.peer(host).error})"
            if step.reachable_only and step.decommission and self._reset_leaver(host):
                done = f"{host} is decommissioned: unlisted, and it answers as a reset peer does"
                self.draft.skipped.append(Skipped(step=name, host=host, reason=done))
                return
            if step.reachable_only:
                self.draft.skipped.append(
                    Skipped(step=name, host=host, reason=reason, in_place=False)
                )
                self.draft.warnings.append(f"step '{name}' skips {reason}")
                return
            raise Refused(f"step '{name}' needs {reason}")
        if step.when is not None and not self._eval(step.when, ctx, name):
            self.draft.skipped.append(Skipped(step=name, host=host, reason="not needed"))
            return
        if step.configure is not None:
            self._configure(step, name, host, ctx)
        elif step.restart is not None:
            self._restart(step, name, host, ctx)
        elif step.command is not None:
            self._command(step, name, host, ctx)
        elif step.backup is not None:
            self._backup(host, name)
        else:
            self._wait(step, name, host, ctx)

    def _reset_leaver(self, host: str) -> bool:
        """A leaver no member lists any more that answers with an untrusted certificate:
        what a factory reset leaves (X12.6+ removes the server certificate), so the
        decommission is done, not skipped."""
        peer = self.facts.peer(host)
        listed = any(
            p.settings and p.settings.slot_of(a) is not None
            for p in self.facts.peers
            if p.host != host
            for a in {peer.address, peer.fqdn} - {""}
        )
        return peer.unreachable_kind == "tls" and not listed

    # -- kinds ----------------------------------------------------------------------------
    def _configure(self, step: Step, name: str, host: str, ctx: dict[str, Any]) -> None:
        peer = self.state[host]
        configure, saved = _given(step.configure, "configure"), _given(peer.saved, "settings")
        values = self._render(configure, ctx, name)
        try:
            wanted = desired_settings(saved, values)
        except ValueError as exc:
            raise RunbookFileError(
                f"{self.runbook.source}: step '{name}' on {host}: {exc}"
            ) from exc
        writes = settings_writes(saved, wanted)
        if not writes:
            self.draft.skipped.append(Skipped(step=name, host=host, reason="already as wanted"))
            return
        held = _in_place(saved, wanted, values)
        if wanted.is_empty and not saved.is_empty and not step.decommission:
            raise Refused(
                f"step '{name}' would empty every peer slot of {host}: it would factory reset "
                "at its next restart (only remove-peer decommissions a peer on purpose)"
            )
        self._backup(host, name)
        if apply_writes(saved, writes) != wanted:  # never an assert: gone under python -O
            raise Refused(
                f"step '{name}' on {host}: the writes exops would send do not produce the "
                "settings it wants; nothing is planned (report this to the exops maintainers)"
            )
        action = self.draft.add(
            step=name,
            kind=ActionKind.CONFIGURE,
            host=host,
            writes=writes,
            before=saved,
            after=wanted,
            reason=_reason(saved, wanted),
            advice=self._advice(step, ctx, name),
        )
        if held:  # the whole intended end state in the plan, not only what is written
            self.draft.skipped.append(Skipped(step=name, host=host, reason=f"in place: {held}"))
        was_primary = self._primary() == host
        peer.saved = wanted
        pending_before = peer.pending
        peer.pending = peer.restart_needed()
        if peer.pending and not pending_before:
            causes = peer.restart_causes()
            if causes:
                peer.cause = f"the {', '.join(causes)} saved in step {action.id}"
        if was_primary:
            self._replicate(host)

    def _restart(self, step: Step, name: str, host: str, ctx: dict[str, Any]) -> None:
        spec = _given(step.restart, "restart")
        peer = self.state[host]
        if spec.unless_booted_after:
            since = self._eval(spec.unless_booted_after, ctx, name)
            if since and self.view.booted_after(host, str(since)):
                reason = f"already restarted since {since}"
                self.draft.skipped.append(Skipped(step=name, host=host, reason=reason))
                return
        if spec.when == "pending" and not peer.pending:
            self.draft.skipped.append(Skipped(step=name, host=host, reason="no restart pending"))
            return
        if peer.saved is not None and peer.saved.is_empty and not step.decommission:
            # Safety rule R4 at planning (the executor checks it again on a fresh read):
            # whatever the settings in force, a peer whose saved list is empty is
            # factory reset by a restart, or is not clustered at all.
            raise Refused(
                f"step '{name}': {host} has every peer slot empty; restarting it would "
                f"factory reset it. Undo first: exops restore -c {self.facts.cluster} "
                f"--peer {host}"
            )
        if self._primary() == host and len(self._members()) > 1:
            self.draft.warnings.append(
                f"restarting the configuration primary {host}: replication pauses until it is back"
            )
        if restart_pending(self.facts.peer(host)):
            reason = f"restart pending (alarm {restart_alarm()})"  # read from the appliance
        elif peer.pending:  # predicted: nothing is pending yet
            reason = f"will be required by {peer.cause or 'the changes before this step'}"
        else:
            reason = "restart requested"
        self.draft.add(
            step=name,
            kind=ActionKind.RESTART,
            host=host,
            timeout_s=spec.timeout,
            expected_downtime_s=NOMINAL_RESTART_S,
            expected_alarms=restart_alarms(),
            reason=reason,
            advice=self._advice(step, ctx, name),
            decommission=bool(step.decommission and peer.saved and peer.saved.is_empty),
        )
        peer.in_force = peer.saved
        peer.pending = False
        if spec.gate:
            args = to_jsonable_python(self._render(dict(spec.gate_args), ctx, name))
            args.setdefault("hosts", self._members() if spec.gate != "peer_healthy" else [host])
            self.draft.add(
                step=f"{name}: {spec.gate}",
                kind=ActionKind.WAIT,
                host=host,
                condition=spec.gate,
                condition_args=args,
                timeout_s=spec.timeout,
                expected_alarms=restart_alarms(),
                reason=f"health gate after restarting {host}",
                advice=self._advice(step, ctx, name),
            )

    def _command(self, step: Step, name: str, host: str, ctx: dict[str, Any]) -> None:
        command = _given(step.command, "command")
        self._backup(host, name)
        self.draft.add(
            step=name,
            kind=ActionKind.COMMAND,
            host=host,
            command=Command(command),
            reason=f"xCommand {command}",
            advice=self._advice(step, ctx, name),
        )

    def _backup(self, host: str, name: str) -> None:
        if host in self.draft.backed_up:
            return
        self.draft.backed_up.add(host)
        self.draft.add(
            step=f"back up {host} before '{name}'",
            kind=ActionKind.BACKUP,
            host=host,
            reason="settings saved locally before any change (exops restore)",
        )

    def _wait(self, step: Step, name: str, host: str | None, ctx: dict[str, Any]) -> None:
        spec = _given(step.wait or step.verify, "wait or verify")
        if not self.draft.changed and not spec.always:
            return  # nothing changed before it: nothing to wait for
        args = to_jsonable_python(self._render(dict(spec.args), ctx, name))
        if "hosts" not in args:
            args["hosts"] = [host] if host else self._members()
        self.draft.add(
            step=name,
            kind=ActionKind.WAIT if step.wait else ActionKind.VERIFY,
            host=host,
            condition=spec.condition,
            condition_args=args,
            timeout_s=spec.timeout,
            expected_alarms=tuple(spec.expected_alarms),
            reason=f"until {spec.condition}",
            advice=self._advice(step, ctx, name),
        )

    # -- predicted cluster ---------------------------------------------------------------
    def _primary(self) -> str | None:
        """The peer that names itself primary in its predicted saved settings."""
        for host, peer in self.state.items():
            s = peer.saved
            if s and s.primary_address and address_key(s.primary_address) in peer.names:
                return host
        return self.view.primary

    def _members(self) -> list[str]:
        primary = self._primary()
        settings = self.state[primary].saved if primary else None
        if settings is None:
            return list(self.view.members)
        return [h for a in settings.peers if a and (h := self.view.host_of(a))]

    def _replicate(self, primary: str) -> None:
        """A replicated change on the primary lands on its in-sync subordinates."""
        source = _given(self.state[primary].saved, "the primary's settings")
        address = source.primary_address
        for host in self._members():
            peer = self.state[host]
            if host == primary or not peer.reachable or peer.saved is None:
                continue
            if not same_peer(self.facts, peer.saved.primary_address or "", address or ""):
                continue
            fields = replicated_fields()
            update = {f: getattr(source, f) for f in fields}
            before = peer.saved
            pending_before = peer.pending
            peer.saved = peer.saved.model_copy(update=update)
            peer.pending = peer.restart_needed()
            if peer.pending and not pending_before:
                causes = peer.restart_causes()
                peer.cause = f"the {', '.join(causes)} replicated from {primary}" if causes else ""
            moved = [f for f in fields if getattr(before, f) != getattr(peer.saved, f)]
            then = f"; a restart will then be required (alarm {restart_alarm()})"
            if moved:  # a change review must see what replication will do, not only writes
                self.draft.warnings.append(
                    f"{host}: replication from {primary} will change "
                    + ", ".join(f"{f} to {_shown(getattr(peer.saved, f))}" for f in moved)
                    + (then if peer.pending else "")
                )

    # -- expressions and targets -------------------------------------------------------
    def _targets(self, step: Step, name: str, ctx: dict[str, Any]) -> list[str]:
        on = step.on or ""
        if on == "primary":
            primary = self._primary()
            if primary is None:
                raise Refused(f"step '{name}': the cluster has no configuration primary")
            return [primary]
        if on == "members":
            return self._members()
        if on == "subordinates":
            return [h for h in self._members() if h != self._primary()]
        if on == "all":
            return list(self.view.hosts)
        value = on if on in self.state else self._eval(on, ctx, name)
        hosts = [value] if isinstance(value, str) else list(value or [])
        for h in hosts:
            if h not in self.state:
                raise UsageError(
                    f"step '{name}': {h!r} is not a peer of cluster {self.facts.cluster} "
                    f"(peers: {', '.join(self.view.hosts)})"
                )
        return hosts

    def _render(self, value: Any, context: dict[str, Any], where: str) -> Any:
        try:
            return render(value, context)
        except ExpressionError as exc:
            raise RunbookFileError(f"{self.runbook.source}: step '{where}': {exc}") from exc

    def _advice(self, step: Step, context: dict[str, Any], where: str) -> str | None:
        """The step's advice, its expressions rendered (a remedy names the real command)."""
        if step.advice is None:
            return None
        return str(self._render(step.advice, context, where))

    def _eval(self, text: str, context: dict[str, Any], where: str) -> Any:
        try:
            return evaluate(text, context)
        except ExpressionError as exc:
            raise RunbookFileError(f"{self.runbook.source}: step '{where}': {exc}") from exc


# What ``new_peer_tls_names`` reads: the members' and the new peer's certificates
# and trust stores (the cluster view finds the members).
NEW_PEER_TLS_FACTS: frozenset[Fact] = frozenset({Fact.SETTINGS, Fact.CERTIFICATE})


def new_peer_tls_names(view: ClusterView, host: str, now: datetime) -> CheckResult:
    """The TLS-names check for a peer about to join a cluster in TLS Enforce mode:
    the name it will be listed under is an FQDN in its certificate's SANs, its
    certificate is valid and CA-signed, and it and the members trust each other's CA."""
    p = view.peer(host)
    name = view.listing(host)
    cert = p.certificate
    if cert is None:
        seen = f"unreachable: {p.error}" if not p.reachable else "no certificate read"
        return CheckResult(
            name="tls_names",
            outcome=CheckOutcome.FAIL,
            summary=f"TLS Enforce: cannot verify the certificate of the new peer {host}",
            evidence={host: seen},
        )
    members = [view.peer(h) for h in view.members if h != host]
    issuers = sorted({m.certificate.issuer for m in members if m.certificate})
    problems = tls_name_problems(
        name,
        cert,
        now,
        issuers,
        p.trust_store,
        f"would be listed as IP {name}: set its fqdn in the inventory",
    )
    distrust = [m.host for m in members if m.reachable and cert.issuer not in m.trust_store]
    if distrust:
        problems.append(f"its issuer {cert.issuer} is not trusted by {', '.join(distrust)}")
    evidence = {host: "; ".join(problems) or f"{name} in SANs, issuer {cert.issuer}, valid"}
    return CheckResult(
        name="tls_names",
        outcome=CheckOutcome.FAIL if problems else CheckOutcome.PASS,
        summary=(
            f"TLS Enforce would break when {host} joins: {'; '.join(problems)}"
            if problems
            else f"{host} would be listed as {name}, in its certificate, trusted both ways"
        ),
        evidence=evidence,
    )


def _predict(p: PeerFacts) -> Predicted:
    names = set(names_of(p))
    if p.system is not None:
        names |= {address_key(a) for a in (p.system.lan1, p.system.lan2) if a}
    pending = restart_pending(p)
    return Predicted(
        host=p.host,
        reachable=p.reachable and p.settings is not None,
        saved=p.settings,
        in_force=None if pending else p.settings,
        pending=pending,
        names=frozenset(names - {""}),
    )


T = TypeVar("T")


def _given(value: T | None, what: str) -> T:
    """``value``, which the runbook schema and the dispatch guarantee; an internal error
    otherwise (never an ``assert``: asserts vanish under ``python -O``)."""
    if value is None:
        raise ExopsError(f"internal error: {what} missing where the runbook schema requires it")
    return value


def desired_settings(current: ClusterSettings, values: dict[str, Any]) -> ClusterSettings:
    """``current`` with the runbook's values laid over it (validated).

    Raises:
        ValueError: a value has the wrong type or shape.
    """
    data = current.model_dump(mode="json")
    for key, value in values.items():
        if key == "peers":
            peers = _peer_list(value)
            if len(peers) > MAX_PEERS:
                raise ValueError(f"peers: {len(peers)} addresses; a cluster holds {MAX_PEERS}")
            data["peers"] = peers + [""] * (MAX_PEERS - len(peers))
        elif key == "mapping":
            data["mapping"] = _mapping_rows(value)
        elif key == "mapping_enabled":
            data[key] = _bool(value)
        else:
            data[key] = value
    try:
        return ClusterSettings.model_validate(data)
    except Exception as exc:  # pydantic ValidationError -> one line
        first = str(exc).splitlines()
        raise ValueError(" ".join(first[1:3]) if len(first) > 2 else str(exc)) from exc


def _peer_list(value: Any) -> list[str]:
    """A runbook's peer list: strings only; None or a number is never turned into text."""
    if not isinstance(value, list | tuple):
        raise ValueError(f"peers: expected a list of addresses, got {value!r}")
    for i, a in enumerate(value, start=1):
        if not isinstance(a, str):
            raise ValueError(f"peers: slot {i}: {a!r} is not an address ('' leaves it empty)")
    return list(value)


def _mapping_rows(value: Any) -> list[dict[str, str]]:
    """FQDN -> IP pairs: each name an FQDN, each address an IP address."""
    pairs = list(value.items()) if isinstance(value, dict) else value
    if not isinstance(pairs, list | tuple):
        raise ValueError(f"mapping: expected FQDN -> IP pairs, got {value!r}")
    if len(pairs) > MAX_PEERS:
        raise ValueError(
            f"mapping: {len(pairs)} FQDN -> IP pairs; the cluster address mapping holds at "
            f"most {MAX_PEERS} (one row per peer)"
        )
    rows = []
    for i, pair in enumerate(pairs, start=1):
        if not isinstance(pair, list | tuple) or len(pair) != 2:
            raise ValueError(f"mapping: row {i}: {pair!r} is not an FQDN -> IP pair")
        name, address = pair
        if not isinstance(name, str) or not is_fqdn(name):
            raise ValueError(f"mapping: row {i}: {name!r} is not an FQDN")
        if not isinstance(address, str) or not is_ip(address):
            raise ValueError(f"mapping: row {i}: {address!r} is not an IP address")
        rows.append({"name": name, "address": address})
    return rows


def _in_place(before: ClusterSettings, wanted: ClusterSettings, asked: dict[str, Any]) -> str:
    """The settings a configure step asks for that already hold their target, shown so a
    reviewer sees the whole intended end state ("tls_mode Permissive, ip_version IPv4")."""
    held = [
        k
        for k in asked
        if k in ClusterSettings.model_fields and getattr(before, k) == getattr(wanted, k)
    ]
    return ", ".join(f"{k} {_shown_value(getattr(wanted, k))}" for k in held)


def _shown_value(value: Any) -> str:
    if value == "":
        return "(empty)"
    if isinstance(value, tuple) and all(isinstance(v, str) for v in value):
        return "[" + ", ".join(a for a in value if a) + "]"
    return _shown(getattr(value, "value", value))


def _shown(value: Any) -> str:
    if isinstance(value, tuple):
        return f"{len(value)} row(s)"
    return str(value)


def _reason(before: ClusterSettings, after: ClusterSettings) -> str:
    a, b = before.model_dump(mode="json"), after.model_dump(mode="json")
    return "differs: " + ", ".join(k for k in a if a[k] != b[k])


def _bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("1", "true", "yes", "on"):
        return True
    if text in ("0", "false", "no", "off", ""):
        return False
    raise ValueError(f"{value!r} is not true/false")


def coerce_params(runbook: Runbook, given: dict[str, Any], view: ClusterView) -> dict[str, Any]:
    """The runbook's parameters, typed, with defaults; refuses unknown or missing ones.

    Raises:
        UsageError: one line naming the parameter and the runbook.
    """
    unknown = sorted(set(given) - set(runbook.params))
    if unknown:
        known = ", ".join(runbook.params) or "none"
        raise UsageError(
            f"runbook {runbook.name}: unknown parameter {unknown[0]!r} (known: {known})"
        )
    out: dict[str, Any] = {}
    context = {"cluster": view, "cluster_name": view.facts.cluster}
    for name, spec in runbook.params.items():
        value = given.get(name)
        if value is None and spec.default is not None:
            try:
                value = render(spec.default, {**context, **out})
            except ExpressionError as exc:
                raise RunbookFileError(f"{runbook.source}: params.{name}.default: {exc}") from exc
        if value is None:
            if spec.required:
                raise UsageError(f"runbook {runbook.name}: parameter {name!r} is required")
            out[name] = None
            continue
        try:
            out[name] = _coerce(spec.type, value, spec.choices, view)
        except ValueError as exc:
            raise UsageError(f"runbook {runbook.name}: parameter {name!r}: {exc}") from exc
    return out


def _coerce(kind: str, value: Any, choices: tuple[str, ...], view: ClusterView) -> Any:
    if kind == "bool":
        return _bool(value)
    if kind == "int":
        return int(value)
    if kind == "peer":
        if str(value) not in view.hosts:
            raise ValueError(
                f"{value!r} is not a peer of cluster {view.facts.cluster} "
                f"(peers: {', '.join(view.hosts)})"
            )
        return str(value)
    if kind == "choice":
        for c in choices:
            if str(value).lower() == c.lower():
                return c
        raise ValueError(f"{value!r} is not one of {', '.join(choices)}")
    if kind == "mapping":
        if isinstance(value, dict):
            return {str(k): str(v) for k, v in value.items()}
        pairs = [p.partition("=") for p in str(value).split(",") if p.strip()]
        if any(not sep for _, sep, _ in pairs):
            raise ValueError("expected FQDN=IP pairs separated by commas")
        return {k.strip(): v.strip() for k, _, v in pairs}
    if kind == "time":
        return datetime.fromisoformat(str(value)).isoformat()
    return str(value)

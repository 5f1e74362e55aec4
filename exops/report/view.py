"""The review view of a plan: what a change reviewer needs, derived once (pure).

Every output format (text, Markdown, HTML) renders the same ``PlanView``, so
the terminal dry run and the change-review document cannot disagree. Values
are pre-formatted strings; templates only lay them out. Secrets are masked
here (``exops.core.redact``'s rule, ``flags=True``), before any template sees them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from exops.core.models import CAPACITY_PEERS, MAX_PEERS, ClusterSettings, TlsMode, address_key
from exops.core.redact import redact
from exops.plan.model import Action, ActionKind, CheckOutcome, Plan
from exops.report.rollback import RanSteps, Rollback, rollback, settings_before


def mask_secrets(value: Any) -> Any:
    """``value`` as a report shows it: every secret masked (``exops.core.redact``'s
    rule; in reports also a secret-named ``None`` or boolean)."""
    return redact(value, flags=True)


def fmt_duration(seconds: float | None) -> str:
    """``None`` -> "unknown", 45 -> "45 s", 330 -> "5 min 30 s"."""
    if seconds is None:
        return "unknown"
    total = round(seconds)
    if total < 60:
        return f"{total} s"
    minutes, secs = divmod(total, 60)
    if minutes < 60:
        return f"{minutes} min {secs} s" if secs else f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes} min" if minutes else f"{hours} h"


def _show(value: str) -> str:
    return value if value else "(empty)"


@dataclass(frozen=True)
class FieldChange:
    field: str
    before: str
    after: str


@dataclass(frozen=True)
class PeerChange:
    host: str
    actions: tuple[str, ...]  # ids of the configure actions on this peer
    changes: tuple[FieldChange, ...]


@dataclass(frozen=True)
class CheckView:
    name: str
    outcome: str
    summary: str
    evidence: tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class ActionView:
    id: str
    kind: str
    host: str
    step: str
    reason: str
    details: tuple[str, ...]  # writes, downtime, condition, alarms: one line each


@dataclass(frozen=True)
class RestartView:
    order: int
    action_id: str
    host: str
    downtime: str
    is_primary: bool


@dataclass(frozen=True)
class Risk:
    title: str
    detail: str


@dataclass(frozen=True)
class PlanView:
    runbook: str
    cluster: str
    created: str
    version: str
    digest: str
    refused: str | None
    params: tuple[tuple[str, str], ...]
    preflight: tuple[CheckView, ...]
    actions: tuple[ActionView, ...]
    skipped: tuple[tuple[str, str, str], ...]  # step, host, reason: already in place
    not_done: tuple[tuple[str, str, str], ...]  # skipped without being done (unreachable)
    warnings: tuple[str, ...]
    peer_changes: tuple[PeerChange, ...]
    restarts: tuple[RestartView, ...]
    total_downtime: str
    risks: tuple[Risk, ...]
    rollbacks: tuple[Rollback, ...]  # commands to type, in order
    rollback_note: str  # what they do, or that there is no automatic way back (and the manual one)
    to_change: int
    restart_count: int
    in_place: int
    has_changes: bool
    summary: str
    counts: dict[str, int] = field(default_factory=dict)  # preflight outcome -> count


def settings_diff(before: ClusterSettings, after: ClusterSettings) -> tuple[FieldChange, ...]:
    """The clustering-page fields that differ, one row per field (peer slots one each)."""
    rows: list[FieldChange] = []

    def add(label: str, b: str, a: str) -> None:
        if b != a:
            rows.append(FieldChange(label, _show(b), _show(a)))

    add("cluster name", before.cluster_name, after.cluster_name)
    add("configuration primary", _slot(before.primary), _slot(after.primary))
    add("cluster IP version", before.ip_version.value, after.ip_version.value)
    add("TLS verification mode", before.tls_mode.value, after.tls_mode.value)
    for slot in range(1, MAX_PEERS + 1):
        add(f"peer {slot} address", before.peers[slot - 1], after.peers[slot - 1])
    add(
        "cluster address mapping",
        "On" if before.mapping_enabled else "Off",
        "On" if after.mapping_enabled else "Off",
    )
    add("address mappings", _mappings(before), _mappings(after))
    return tuple(rows)


def _slot(value: int) -> str:
    return str(value) if value else ""


def _mappings(settings: ClusterSettings) -> str:
    return ", ".join(f"{m.name} = {m.address}" for m in settings.mapping)


def _action_details(a: Action) -> tuple[str, ...]:
    out: list[str] = []
    if a.kind is ActionKind.BACKUP:
        out.append("save this peer's cluster settings locally before any change")
    out += [w.describe() for w in a.writes]
    if a.command is not None:
        out.append(f"xCommand {a.command.value}")
    if a.kind is ActionKind.RESTART:
        basis = (
            "measured in the journal" if "downtime measured" in a.reason else "first-time default"
        )
        out.append(f"expected downtime {fmt_duration(a.expected_downtime_s)} ({basis})")
    if a.condition:
        verb = "until" if a.kind is ActionKind.WAIT else "check"
        args = "; ".join(
            f"{k}={_param(v)}" for k, v in sorted(mask_secrets(a.condition_args).items())
        )  # hosts=c1-p2, c1-p3: never a Python list
        cond = f"{a.condition}({args})" if args else a.condition
        timeout = f" (timeout {fmt_duration(a.timeout_s)})" if a.timeout_s is not None else ""
        out.append(f"{verb} {cond}{timeout}")
    elif a.timeout_s is not None:
        out.append(f"timeout {fmt_duration(a.timeout_s)}")
    if a.expected_alarms:
        out.append("expected transient alarms: " + ", ".join(a.expected_alarms))
    return tuple(out)


def _peer_changes(plan: Plan) -> tuple[PeerChange, ...]:
    first: dict[str, ClusterSettings] = {}
    last: dict[str, ClusterSettings] = {}
    ids: dict[str, list[str]] = {}
    for a in plan.actions:
        if a.kind is not ActionKind.CONFIGURE or a.host is None:
            continue
        if a.before is not None:
            first.setdefault(a.host, a.before)
        if a.after is not None:
            last[a.host] = a.after
        ids.setdefault(a.host, []).append(a.id)
    out = []
    for host, action_ids in ids.items():
        before, after = first.get(host), last.get(host)
        changes = settings_diff(before, after) if before and after else ()
        out.append(PeerChange(host, tuple(action_ids), changes))
    return tuple(out)


def _host_address(plan: Plan, host: str) -> str | None:
    basis = plan.basis.get(host) or {}
    for key in ("address", "fqdn"):
        if isinstance(basis.get(key), str) and basis[key]:
            return str(basis[key])
    return None


def _is_primary(plan: Plan, host: str, primary_address: str | None) -> bool:
    if not primary_address:
        return False
    address = _host_address(plan, host)
    p = address_key(primary_address)
    if address:
        return address_key(address) == p
    return host.lower() in (p, p.split(".")[0])


def _risks(plan: Plan, restarts: tuple[RestartView, ...]) -> tuple[Risk, ...]:
    risks: list[Risk] = []
    current = settings_before(plan)
    primary_addr = current.primary_address if current else None
    for r in restarts:
        if r.is_primary:
            risks.append(
                Risk(
                    f"restart of the configuration primary {r.host}",
                    f"{r.host} ({primary_addr}) is the configuration primary: replication "
                    "stops while it is down and a replication alarm can take 10-20 minutes "
                    "to clear after it is back",
                )
            )
    for a in plan.actions:
        if a.kind is not ActionKind.CONFIGURE or a.before is None or a.after is None:
            continue
        host = a.host or "(cluster)"
        if a.after.is_empty and not a.before.is_empty:
            risks.append(
                Risk(
                    f"factory reset hazard on {host}",
                    f"action {a.id} leaves every peer address slot of {host} empty: "
                    f"{host} factory resets itself at its next restart (all configuration "
                    "except basic LAN1 network settings is deleted)",
                )
            )
        if a.after.tls_mode is TlsMode.ENFORCE and a.before.tls_mode is not TlsMode.ENFORCE:
            risks.append(
                Risk(
                    f"TLS verification mode goes to Enforce on {host}",
                    "in Enforce mode a peer whose certificate does not name its cluster "
                    "address, or whose CA is not trusted by the others, stops clustering",
                )
            )
    sizes = [len(a.after.listed) for a in plan.actions if a.after is not None]
    if sizes and max(sizes) > CAPACITY_PEERS:
        risks.append(
            Risk(
                f"a cluster of {max(sizes)} peers",
                "a cluster adds capacity up to 4 peers only: peers 5 and 6 add resilience, "
                "no call capacity",
            )
        )
    return tuple(dict.fromkeys(risks))


def _summary(plan: Plan, to_change: int, restarts: int, in_place: int) -> str:
    if plan.refused:
        return f"Refused: {plan.refused}"
    if not plan.has_changes:
        return "No changes. The cluster matches the runbook."
    return (
        f"Plan: {to_change} to change, {restarts} restart{'s' if restarts != 1 else ''}, "
        f"{in_place} already in place."
    )


def plan_view(plan: Plan) -> PlanView:
    """Derive everything a reviewer needs from ``plan`` (pure)."""
    current = settings_before(plan)
    primary_addr = current.primary_address if current else None
    restarts = tuple(
        RestartView(
            i,
            a.id,
            a.host or "(cluster)",
            fmt_duration(a.expected_downtime_s),
            bool(a.host) and _is_primary(plan, a.host or "", primary_addr),
        )
        for i, a in enumerate(plan.restarts, start=1)
    )
    downtimes = [a.expected_downtime_s for a in plan.restarts]
    total = None if any(d is None for d in downtimes) else sum(d or 0 for d in downtimes)
    to_change = sum(
        1 for a in plan.actions if a.changes_appliance and a.kind is not ActionKind.RESTART
    )
    counts = {o.value: 0 for o in CheckOutcome}
    for c in plan.preflight:
        counts[c.outcome.value] += 1
    params = mask_secrets(dict(plan.params))
    return PlanView(
        runbook=plan.runbook,
        cluster=plan.cluster,
        created=plan.created_at.isoformat(timespec="seconds"),
        version=plan.exops_version,
        digest=plan.facts_digest,
        refused=plan.refused,
        params=tuple((str(k), _param(v)) for k, v in sorted(params.items()) if v is not None),
        preflight=tuple(
            CheckView(c.name, c.outcome.value, c.summary, tuple(sorted(c.evidence.items())))
            for c in plan.preflight
        ),
        actions=tuple(
            ActionView(
                a.id, a.kind.value, a.host or "(cluster)", a.step, a.reason, _action_details(a)
            )
            for a in plan.actions
        ),
        skipped=tuple(
            (s.step, s.host or "(cluster)", s.reason) for s in plan.skipped if s.in_place
        ),
        not_done=tuple(
            (s.step, s.host or "(cluster)", s.reason) for s in plan.skipped if not s.in_place
        ),
        warnings=plan.warnings,
        peer_changes=_peer_changes(plan),
        restarts=restarts,
        total_downtime=fmt_duration(total) if restarts else "none",
        risks=_risks(plan, restarts),
        rollbacks=rollback(plan)[0],
        rollback_note=rollback(plan)[1],
        to_change=to_change,
        restart_count=len(restarts),
        in_place=sum(1 for s in plan.skipped if s.in_place),
        has_changes=plan.has_changes,
        summary=_summary(
            plan, to_change, len(restarts), sum(1 for s in plan.skipped if s.in_place)
        ),
        counts=counts,
    )


def _param(value: Any) -> str:
    if isinstance(value, list | tuple):
        return ", ".join(str(v) for v in value)
    if isinstance(value, dict):
        return ", ".join(f"{k}={v}" for k, v in value.items())
    return str(value)


@dataclass(frozen=True)
class StepView:
    seq: str
    action_id: str
    step: str
    kind: str
    host: str
    status: str
    started: str
    duration: str
    notes: tuple[tuple[str, str], ...]  # ("detail" | "error" | "what to do", text)


@dataclass(frozen=True)
class RunView:
    run_id: str
    runbook: str
    cluster: str
    status: str
    exit_code: str
    user: str
    host: str
    started: str
    finished: str
    params: tuple[tuple[str, str], ...]
    steps: tuple[StepView, ...]
    failures: tuple[StepView, ...]
    counts: dict[str, int]
    rollbacks: tuple[Rollback, ...]
    rollback_note: str
    plan: PlanView | None
    summary: str


def _text(value: Any, default: str = "-") -> str:
    if value is None or value == "":
        return default
    if hasattr(value, "isoformat"):
        return str(value.isoformat(timespec="seconds"))
    return str(value)


def _step_view(s: Mapping[str, Any]) -> StepView:
    notes = tuple(
        (label, str(s[key]))
        for key, label in (("detail", "detail"), ("error", "error"), ("advice", "what to do"))
        if s.get(key)
    )
    try:
        duration = f"{float(s.get('duration_s') or 0):.1f} s"
    except (TypeError, ValueError):
        duration = "-"
    return StepView(
        seq=_text(s.get("seq")),
        action_id=_text(s.get("action_id")),
        step=_text(s.get("step")),
        kind=_text(s.get("kind")),
        host=_text(s.get("host"), "(cluster)"),
        status=_text(s.get("status"), "unknown"),
        started=_text(s.get("started")),
        duration=duration,
        notes=notes,
    )


def run_view(run: Mapping[str, Any]) -> RunView:
    """Derive a run report from a journal record (``Journal.get_run``'s dict)."""
    plan: Plan | None = None
    raw_plan = run.get("plan")
    if isinstance(raw_plan, Mapping):
        try:
            plan = Plan.model_validate(raw_plan)
        except ValueError:
            plan = None
    steps = tuple(_step_view(s) for s in run.get("steps") or ())
    counts: dict[str, int] = {}
    for s in steps:
        counts[s.status] = counts.get(s.status, 0) + 1
    cluster = _text(run.get("cluster"))
    if plan is not None:
        rollbacks, rollback_note = rollback(plan, RanSteps.of(list(run.get("steps") or ())))
    else:
        rollbacks, rollback_note = (), "No automatic way back: the run's plan is not readable."
    params = mask_secrets(dict(run.get("params") or {}))
    parts = [f"{n} {status}" for status, n in sorted(counts.items())]
    summary = f"Run {_text(run.get('status'), 'unknown')}: " + (
        ", ".join(parts) if parts else "no steps recorded"
    )
    return RunView(
        run_id=_text(run.get("run_id")),
        runbook=_text(run.get("runbook")),
        cluster=cluster,
        status=_text(run.get("status"), "unknown"),
        exit_code=_text(run.get("exit_code")),
        user=_text(run.get("user"), "?"),
        host=_text(run.get("host"), "?"),
        started=_text(run.get("started")),
        finished=_text(run.get("finished"), "(not finished)"),
        params=tuple((str(k), _param(v)) for k, v in sorted(params.items()) if v is not None),
        steps=steps,
        failures=tuple(s for s in steps if s.status in ("failed", "unreachable")),
        counts=counts,
        rollbacks=rollbacks,
        rollback_note=rollback_note,
        plan=plan_view(plan) if plan else None,
        summary=summary,
    )

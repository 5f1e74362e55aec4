"""The plan: what a runbook will do, predicted from facts, before doing it.

A plan is data. The dry run prints it, ``exops plan --out`` saves it,
reports render it and apply executes exactly its actions, so the dry run is
what apply does. A plan carries the digest of the facts it was computed from,
so a saved plan applied later is refused when those facts no longer hold.

A saved plan file states its format (``exops.plan/2``) and carries a sha256
digest of its own canonical JSON (without the digest field):
``load_plan_file`` refuses a file that is too large, not JSON, of an unknown
format or from a newer exops (exit 2), and one edited by hand (exit 3).
``compare_plans`` names what differs between a saved plan and a fresh one.

``stale_lines`` is the stale-plan rule (docs/safety.md): before the first write
of any run, what the plan expects to find (its basis, and each action's
``before``) is compared with fresh facts; any difference refuses the run.
"""

from __future__ import annotations

import difflib
import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from pathlib import Path
from typing import Any

from pydantic import Field as PydField
from pydantic import ValidationError, model_validator

from exops.appliance.base import Command, Write
from exops.core.errors import PreconditionError, UsageError
from exops.core.files import read_capped
from exops.core.models import ClusterFacts, ClusterSettings, Frozen
from exops.facts.health import restart_alarm, restart_pending

PLAN_FORMAT = "exops.plan/2"
PLAN_FORMAT_PREFIX = "exops.plan/"
MAX_PLAN_BYTES = 1024 * 1024  # a plan of 6 peers is a few tens of KiB


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
    format: str = PLAN_FORMAT
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

    @model_validator(mode="before")
    @classmethod
    def _file_digest(cls, data: Any) -> Any:
        """A plan file's digest is not part of the plan (journal records hold it too)."""
        if isinstance(data, dict) and "digest" in data:
            return {k: v for k, v in data.items() if k != "digest"}
        return data

    @property
    def has_changes(self) -> bool:
        return any(a.changes_appliance for a in self.actions)

    @property
    def restarts(self) -> tuple[Action, ...]:
        return tuple(a for a in self.actions if a.kind is ActionKind.RESTART)

    def to_json(self) -> str:
        """The plan file: its format, its content and the digest of that content."""
        doc = self.model_dump(mode="json")
        doc["format"] = PLAN_FORMAT
        doc["digest"] = content_digest(doc)  # in the file only: not a field of the plan
        return json.dumps(doc, indent=2, ensure_ascii=False) + "\n"

    @classmethod
    def from_json(cls, text: str) -> Plan:
        """Parse plan JSON (no checks: saved files go through ``load_plan_file``)."""
        doc = json.loads(text)
        if isinstance(doc, dict):
            doc.pop("digest", None)
        return cls.model_validate(doc)


def digest(basis: dict[str, dict[str, Any]]) -> str:
    """A stable digest of the facts a plan depends on."""
    blob = json.dumps(basis, sort_keys=True, default=str).encode()
    return hashlib.sha256(blob).hexdigest()[:16]


class PlanEditedError(PreconditionError):
    """A saved plan file's content does not match its digest: edited by hand (exit 3)."""


def content_digest(doc: dict[str, Any]) -> str:
    """sha256 over the canonical JSON of a plan document, without its digest field."""
    body = {k: v for k, v in doc.items() if k != "digest"}
    blob = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()


def _version_tuple(text: str) -> tuple[int, ...]:
    return tuple(int(n) for n in re.findall(r"\d+", text)[:4])


def load_plan_file(path: Path, *, exops_version: str | None = None) -> Plan:
    """Read a saved plan, refusing anything but an unedited plan this exops understands.

    Raises:
        UsageError: unreadable, too large, not JSON, not a plan, an unknown format,
            or written by a newer exops (exit 2, one line).
        PlanEditedError: the content does not match its digest (exit 3).
    """
    if exops_version is None:
        from exops.core.version import __version__

        exops_version = __version__
    raw = read_capped(path, MAX_PLAN_BYTES, "plan file")
    try:
        doc = json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise UsageError(f"{path}: not an exops plan (not UTF-8 at byte {exc.start})") from exc
    except (ValueError, RecursionError) as exc:
        raise UsageError(f"{path}: not an exops plan (not JSON: {str(exc)[:120]})") from exc
    if not isinstance(doc, dict):
        raise UsageError(f"{path}: not an exops plan (expected a JSON object)")
    fmt = doc.get("format")
    if not isinstance(fmt, str) or not fmt.startswith(PLAN_FORMAT_PREFIX):
        raise UsageError(
            f"{path}: not an exops plan of a known format (format {fmt!r}; this exops reads "
            f"{PLAN_FORMAT}); make a new plan with `exops plan --out`"
        )
    if fmt != PLAN_FORMAT:
        raise UsageError(
            f"{path}: plan format {fmt} is not one this exops {exops_version} reads "
            f"({PLAN_FORMAT}); use the exops that wrote it, or make a new plan"
        )
    written_by = doc.get("exops_version")
    if isinstance(written_by, str) and _version_tuple(written_by) > _version_tuple(exops_version):
        raise UsageError(
            f"{path}: written by a newer exops ({written_by}; this is {exops_version}); "
            "make a new plan with this exops"
        )
    given = doc.get("digest")
    if not isinstance(given, str) or given != content_digest(doc):
        raise PlanEditedError(
            f"{path}: the plan's content does not match its digest: the file was edited by "
            "hand or damaged; make a new plan with `exops plan --out`"
        )
    try:
        return Plan.model_validate({k: v for k, v in doc.items() if k != "digest"})
    except ValidationError as exc:
        err = exc.errors()[0]
        where = ".".join(str(p) for p in err["loc"])
        raise UsageError(f"{path}: not a valid exops plan: {where}: {err['msg']}") from exc


def _action_line(a: Action) -> str:
    what = f"{a.kind.value} {a.host or 'cluster'}"
    if a.writes:
        what += ": " + ", ".join(w.describe() for w in a.writes)
    if a.command is not None:
        what += f": xCommand {a.command.value}"
    if a.condition:
        what += f": {a.condition}"
    if a.decommission:
        what += " (decommission)"
    return what


def compare_plans(saved: Plan, fresh: Plan) -> list[str]:
    """One line per difference in actions, refusals and preflight verdicts; [] when equal.

    ``created_at``, ``digest``, ``basis`` and ``facts_digest`` are not compared:
    a saved plan stands when planning again from fresh facts gives the same plan.
    """
    out: list[str] = []
    for name in ("runbook", "cluster"):
        a, b = getattr(saved, name), getattr(fresh, name)
        if a != b:
            out.append(f"{name}: was {a}, now {b}")
    if saved.params != fresh.params:
        out.append(f"parameters: were {saved.params}, now {fresh.params}")
    out += _refusal_changes(saved, fresh)
    out += _preflight_changes(saved, fresh)
    out += _action_changes(saved, fresh)
    return out


def _refusal_changes(saved: Plan, fresh: Plan) -> list[str]:
    if saved.refused == fresh.refused:
        return []
    if fresh.refused and not saved.refused:
        return [f"refused now: {fresh.refused}"]
    if saved.refused and not fresh.refused:
        return [f"no longer refused (was: {saved.refused})"]
    return [f"refusal changed: was {saved.refused}; now {fresh.refused}"]


# Verdicts that let a plan run: a move between them (a measured round trip now under
# its warning level, or now too large to bound the peers' own: a manual check, n/a)
# changes nothing the plan does, so it does not make a plan stale.
_PASSING = frozenset(set(CheckOutcome) - BLOCKING)


def _preflight_changes(saved: Plan, fresh: Plan) -> list[str]:
    out = []
    was = {c.name: c.outcome for c in saved.preflight}
    now = {c.name: c.outcome for c in fresh.preflight}
    for name in list(dict.fromkeys([*was, *now])):
        if {was.get(name), now.get(name)} <= _PASSING:
            continue
        if was.get(name) != now.get(name):
            summary = next((c.summary for c in fresh.preflight if c.name == name), "")
            before = was[name].value if name in was else "not run"
            after = now[name].value if name in now else "not run"
            out.append(
                f"preflight {name}: was {before}, now {after}"
                + (f" ({summary})" if summary else "")
            )
    return out


def _action_changes(saved: Plan, fresh: Plan) -> list[str]:
    out = []
    a_lines = [_action_line(a) for a in saved.actions]
    b_lines = [_action_line(a) for a in fresh.actions]
    matcher = difflib.SequenceMatcher(a=a_lines, b=b_lines, autojunk=False)
    for op, i1, i2, j1, j2 in matcher.get_opcodes():
        if op == "equal":
            continue
        for k in range(i1, i2):
            out.append(f"action {saved.actions[k].id} no longer planned: {a_lines[k]}")
        for k in range(j1, j2):
            out.append(f"new action {fresh.actions[k].id}: {b_lines[k]}")
    return out


# -- the stale-plan rule ---------------------------------------------------------------
# A peer's own cluster fields: never replicated nor spread by the cluster database
# (docs/contract.md section 6), so nothing but a write to that peer changes them.
LOCAL_FIELDS = ("peers", "primary")


@dataclass(frozen=True)
class Expectation:
    """What a run expects to find on one peer before its first write."""

    host: str
    where: str  # "step 4 'name'" (the first step that changes the peer) or the plan's facts
    reachable: bool | None  # None: not known to the plan
    settings: ClusterSettings | None
    restart_pending: bool | None
    fields: tuple[str, ...]  # the settings fields that must match


def expectations(plan: Plan) -> list[Expectation]:
    """Per peer of the plan's basis (and per peer an action names), what must hold
    before the run's first write: the basis (reachability, settings, restart
    pending) and, for a peer the plan configures, the ``before`` of its first
    configure step. A configure step after an earlier one that changes a cluster-wide
    (replicated) field is held to the peer's own fields only: replication may
    have landed by then (that step checks the rest itself, right before it writes)."""
    out: dict[str, Expectation] = {}
    first_change: dict[str, Action] = {}
    first_configure: dict[str, tuple[Action, bool]] = {}
    spreading = False  # an earlier configure changes a replicated field
    for a in plan.actions:
        if a.host and a.changes_appliance:
            first_change.setdefault(a.host, a)
        if a.kind is ActionKind.CONFIGURE and a.host:
            if a.host not in first_configure:
                first_configure[a.host] = (a, spreading)
            if a.before is not None and a.after is not None:
                changed = _changed_fields(a.before, a.after)
                spreading = spreading or any(f not in LOCAL_FIELDS for f in changed)
    hosts = list(dict.fromkeys([*plan.basis, *first_change]))
    for host in hosts:
        basis = plan.basis.get(host, {})
        settings = _settings_of(basis.get("settings"))
        fields: tuple[str, ...] = tuple(ClusterSettings.model_fields)
        change = first_change.get(host)
        where = (
            f"step {change.id} '{change.step}'" if change else "the facts the plan was made from"
        )
        configured = first_configure.get(host)
        if configured is not None and configured[0].before is not None:
            action, after_spread = configured
            settings = action.before
            where = f"step {action.id} '{action.step}'"
            if after_spread:
                fields = LOCAL_FIELDS
        reachable = basis.get("reachable")
        pending = basis.get("restart_pending")
        out[host] = Expectation(
            host=host,
            where=where,
            reachable=reachable if isinstance(reachable, bool) else None,
            settings=settings,
            restart_pending=pending if isinstance(pending, bool) else None,
            fields=fields,
        )
    return list(out.values())


def stale_lines(plan: Plan, fresh: ClusterFacts) -> list[str]:
    """One line per difference between what ``plan`` expects to find and ``fresh``
    facts (step, peer, expected, found); [] when the plan still holds."""
    lines: list[str] = []
    now = {p.host: p for p in fresh.peers}
    for e in expectations(plan):
        head = f"{e.where} on {e.host}"
        p = now.get(e.host)
        if p is None:
            lines.append(f"{head}: expected a peer of cluster {plan.cluster}, found none")
            continue
        readable = p.reachable and p.settings is not None
        if e.reachable is not None and e.reachable != p.reachable:
            was = "reachable" if e.reachable else "unreachable"
            found = "reachable" if p.reachable else f"unreachable ({p.error or 'no answer'})"
            lines.append(f"{head}: expected {was}, found {found}")
            continue
        if e.settings is not None:
            if not readable:
                lines.append(
                    f"{head}: expected its cluster settings, found them unreadable "
                    f"({p.error or 'no answer'})"
                )
                continue
            read = p.settings
            if read is not None:
                lines += [f"{head}: {d}" for d in settings_diff(e.settings, read, e.fields)]
        pending = restart_pending(p)
        if e.restart_pending is not None and readable and e.restart_pending != pending:
            alarm = f"a restart pending (alarm {restart_alarm()})"
            lines.append(
                f"{head}: expected "
                + (alarm if e.restart_pending else "no restart pending")
                + ", found "
                + (alarm if pending else "none pending")
            )
    for host in now:
        if plan.basis and host not in plan.basis:
            lines.append(f"{host}: found in cluster {plan.cluster}, not in the plan's facts")
    return lines


def local_changes(expected: Mapping[str, ClusterSettings], fresh: ClusterFacts) -> list[str]:
    """Peers whose own fields (peer list, primary) are no longer what the run left
    them as: one line per difference ("peer: what, expected, found"). Peers exops
    cannot read now are left to the step that needs them."""
    lines = []
    for p in fresh.peers:
        want = expected.get(p.host)
        if want is None or not p.reachable or p.settings is None:
            continue
        lines += [f"{p.host}: {d}" for d in settings_diff(want, p.settings, LOCAL_FIELDS)]
    return lines


def settings_diff(
    expected: ClusterSettings, found: ClusterSettings, fields: tuple[str, ...] | None = None
) -> list[str]:
    """'<what> expected X, found Y' for every field (peer slot) that differs."""
    out = []
    for name in fields or tuple(ClusterSettings.model_fields):
        a, b = getattr(expected, name), getattr(found, name)
        if a == b:
            continue
        if name == "peers":
            for i, (x, y) in enumerate(zip(a, b, strict=True), start=1):
                if x != y:
                    out.append(f"peer {i} address expected {_slot(x)}, found {_slot(y)}")
        elif name == "primary":
            out.append(f"configuration primary expected slot {a}, found slot {b}")
        else:
            shown = {"mapping": lambda v: [f"{m.name}={m.address}" for m in v]}.get(name, str)
            out.append(f"{name} expected {shown(a)!r}, found {shown(b)!r}")
    return out


def _slot(address: str) -> str:
    return repr(address) if address else "empty"


def _changed_fields(a: ClusterSettings, b: ClusterSettings) -> list[str]:
    return [f for f in ClusterSettings.model_fields if getattr(a, f) != getattr(b, f)]


def _settings_of(doc: Any) -> ClusterSettings | None:
    if doc is None:
        return None
    try:
        return ClusterSettings.model_validate(doc)
    except ValidationError:
        return None


def run_command(plan: Plan, *, yes: bool = True) -> str:
    """The direct command that plans ``plan``'s runbook again from the real state and
    runs it (what finishes a run that stopped, or replaces a stale saved plan)."""
    tail = " --yes" if yes else ""
    if plan.runbook == "restore":
        peer = plan.params.get("peer")
        backup = plan.params.get("backup")
        extra = f" --backup {backup}" if backup else ""
        return f"exops restore -c {plan.cluster} --peer {peer}{extra}{tail}"
    flags = _flags(plan)
    if flags is None:
        return f"exops run {_generic_args(plan)}{tail}"
    return " ".join([f"exops {plan.runbook} -c {plan.cluster}", *flags]) + tail


def plan_command(plan: Plan, out: str) -> str:
    """The command that saves a new plan of ``plan``'s runbook and parameters."""
    if plan.runbook == "restore":
        return run_command(plan, yes=False) + " --dry-run"
    flags = _flags(plan)
    if flags is None:
        return f"exops plan {_generic_args(plan)} --out {out}"
    return " ".join([f"exops plan {plan.runbook} -c {plan.cluster}", *flags, f"--out {out}"])


def _generic_args(plan: Plan) -> str:
    pairs = [f"-P {k}={_param_text(v)}" for k, v in plan.params.items() if v is not None]
    return " ".join([plan.runbook, "-c", plan.cluster, *pairs])


def _flags(plan: Plan) -> list[str] | None:
    """A shipped runbook's own flags for ``plan.params`` (None: not a shipped runbook)."""
    from exops.runbook.catalog import shipped

    meta = shipped().get(plan.runbook)
    if meta is None:
        return None
    parts = []
    for p in meta.params:
        value = plan.params.get(p.name)
        if p.hidden or value is None or (p.default is not None and value == p.default):
            continue
        flag = p.flag or "--" + p.name.replace("_", "-")
        if p.type == "bool":
            on, _, off = flag.partition("/")
            parts.append(on if value else (off or "--no-" + on[2:]))
        elif p.type == "mapping" and isinstance(value, dict):
            parts += [f"{flag} {k}={v}" for k, v in value.items()]
        else:
            parts.append(f"{flag} {value}")
    return parts


def _param_text(value: Any) -> str:
    if isinstance(value, dict):
        return ",".join(f"{k}={v}" for k, v in value.items())
    return str(value)

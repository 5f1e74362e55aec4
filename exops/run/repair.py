"""Finish a write sequence a killed run left half done, from the journal (issue 19).

Moving a peer to another slot (remove-peer compacting a list, restore putting an
entry back) writes the new slot before it clears the old one, so a run killed in
between leaves one address in two slots: the peer reads as unreadable (safety rule
R6) and every later plan is refused. exops knows from its own journal which write
sequence it was in: the most recent run of the cluster did not finish, and its first
action without an outcome is that configure. When the peer's raw slots are exactly
what the first writes of that action make of its planned ``before``, the next run
sends the remaining writes of that action, and only those, then reads the peer back
(it must now read as the action's planned ``after``). Any other state, exops did
not create: it is left alone (and reported unreadable, as before).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from exops.appliance.base import Appliance, Field, Write
from exops.apply.safety import check_write
from exops.core.errors import DivergenceError, DuplicateSlotsError, ExopsError
from exops.core.models import ClusterFacts
from exops.plan.model import Action, ActionKind, Plan
from exops.state.base import JournalStore

UNFINISHED = ("interrupted", "running", "failed")
DONE = ("ok", "changed", "skipped")


class Cluster(Protocol):
    def appliance(self, host: str) -> Appliance: ...
    def gather(
        self, cluster: str, hosts: list[str] | None = None, *, light: bool = False
    ) -> ClusterFacts: ...


@dataclass(frozen=True)
class Interrupted:
    """The configure action a killed run was in, and the run it was in."""

    run_id: str
    runbook: str
    action: Action

    @property
    def host(self) -> str:
        return self.action.host or ""


def interrupted_configure(journal: JournalStore, cluster: str) -> Interrupted | None:
    """The configure action the cluster's most recent run did not finish, if that run
    did not finish well; None otherwise (a finished run, or another kind of step)."""
    runs = journal.list_runs(cluster=cluster, limit=1)
    if not runs or runs[0].get("status") not in UNFINISHED:
        return None
    run = journal.get_run(str(runs[0]["run_id"]))
    if run is None or not isinstance(run.get("plan"), dict):
        return None
    try:
        plan = Plan.model_validate(run["plan"])
    except ValueError:
        return None
    done = {str(s.get("action_id")) for s in run.get("steps", []) if s.get("status") in DONE}
    action = next((a for a in plan.actions if a.id not in done), None)
    if action is None or action.kind is not ActionKind.CONFIGURE or not action.host:
        return None
    if action.before is None or action.after is None or len(action.writes) < 2:
        return None
    return Interrupted(str(run["run_id"]), plan.runbook, action)


def slots_after(action: Action, count: int) -> tuple[str, ...]:
    """The peer slots once the first ``count`` writes of ``action`` landed (raw: a
    half-done move lists one address twice, which ``ClusterSettings`` refuses)."""
    if action.before is None:  # a journalled configure always records it
        return ()
    slots = list(action.before.peers)
    for w in action.writes[:count]:
        if w.field is Field.PEER_ADDRESS and w.index is not None:
            slots[w.index - 1] = str(w.value)
    return tuple(slots)


def remaining_writes(pending: Interrupted, slots: tuple[str, ...]) -> tuple[Write, ...] | None:
    """The writes still to send when ``slots`` are a state the action's own first writes
    made (not none, not all); None when exops did not create this state."""
    seen = tuple(a.lower() for a in slots)
    for count in range(1, len(pending.action.writes)):
        if tuple(a.lower() for a in slots_after(pending.action, count)) == seen:
            return pending.action.writes[count:]
    return None


def duplicate_slots(exc: BaseException) -> tuple[str, ...] | None:
    cause: BaseException | None = exc
    while cause is not None:
        if isinstance(cause, DuplicateSlotsError):
            return cause.slots
        cause = cause.__cause__ or cause.__context__
    return None


def finish_interrupted(
    journal: JournalStore, session: Cluster, cluster: str
) -> str | None:
    """Finish the killed run's half-done move, when the peer is in a state that move
    made; returns what was done (for the new plan's warnings), or None.

    Raises:
        SafetyError: the remaining writes break a safety rule on a fresh read.
        DivergenceError: the peer does not read as planned once they are sent.
    """
    pending = interrupted_configure(journal, cluster)
    if pending is None:
        return None
    app = session.appliance(pending.host)
    try:
        app.read_settings()
        return None  # readable: the new plan starts from the real state
    except ExopsError as exc:
        slots = duplicate_slots(exc)
    if slots is None:
        return None
    rest = remaining_writes(pending, slots)
    if rest is None:
        return None
    if pending.action.before is None or pending.action.after is None:
        return None
    check_write(
        pending.host,
        pending.action.before,
        rest,
        pending.action.after,
        session.gather(cluster, light=True),
        decommission=None,
    )
    app.write(rest)
    found = app.read_settings()
    if found != pending.action.after:
        raise DivergenceError(
            f"finishing step {pending.action.id} of run {pending.run_id}: {pending.host} "
            "does not read as that step planned",
            host=pending.host,
            operation="configure",
        )
    return describe(pending, rest)


def describe(pending: Interrupted, rest: tuple[Write, ...]) -> str:
    return (
        f"{pending.host}: finished step {pending.action.id} '{pending.action.step}' of the "
        f"interrupted {pending.runbook} run {pending.run_id} (it had listed an address twice "
        f"mid-move): {'; '.join(w.describe() for w in rest)}"
    )


def explain_refusal(journal: JournalStore, cluster: str, refused: str) -> str:
    """A dry run refused because a peer lists an address twice: say whether the next
    run will finish the move exops was making there (from the journal)."""
    pending = interrupted_configure(journal, cluster)
    if pending is None or pending.host not in refused:
        return refused
    return (
        f"{refused}; the interrupted {pending.runbook} run {pending.run_id} was moving it "
        f"(step {pending.action.id}): the next run (without --dry-run) finishes that write "
        "sequence first"
    )


__all__ = ["Interrupted", "finish_interrupted", "interrupted_configure", "remaining_writes"]


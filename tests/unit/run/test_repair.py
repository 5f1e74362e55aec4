"""A move a killed run left half done is finished from the journal (issue 19 item 7)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from exops.appliance.base import Write, apply_writes, settings_writes
from exops.core.errors import DuplicateSlotsError
from exops.core.models import EMPTY_SLOTS, ClusterFacts, ClusterSettings, ClusterStatus, PeerFacts
from exops.plan.model import Action, ActionKind, Plan
from exops.run.repair import finish_interrupted, interrupted_configure, remaining_writes

A = ["10.0.0.11", "10.0.0.12", "10.0.0.13"]
THREE = ClusterSettings(peers=(*A, *EMPTY_SLOTS[3:]), primary=1)
COMPACTED = ClusterSettings(peers=(A[0], A[2], *EMPTY_SLOTS[2:]), primary=1)
NOW = datetime(2026, 12, 1, tzinfo=UTC)


def action(
    host: str = "p1", before: ClusterSettings = THREE, after: ClusterSettings = COMPACTED
) -> Action:
    return Action(
        id="2",
        step="remove p2 from the primary's list",
        kind=ActionKind.CONFIGURE,
        host=host,
        writes=settings_writes(before, after),
        before=before,
        after=after,
    )


def plan_doc(*actions: Action) -> dict[str, Any]:
    plan = Plan(
        runbook="remove-peer",
        cluster="c1",
        params={"peer": "p2"},
        created_at=NOW,
        exops_version="test",
        facts_digest="0",
        basis={},
        actions=actions,
    )
    import json

    return json.loads(plan.to_json())


class Journal:
    def __init__(self, status: str, steps: list[dict[str, Any]], *actions: Action) -> None:
        self.run = {"run_id": "r1", "status": status, "plan": plan_doc(*actions), "steps": steps}

    def list_runs(self, *, cluster: str | None = None, limit: int = 20) -> list[dict[str, Any]]:
        return [self.run]

    def get_run(self, run_id: str) -> dict[str, Any] | None:
        return self.run


BACKUP = Action(id="1", step="back up p1", kind=ActionKind.BACKUP, host="p1")


class Peer:
    """One appliance; ``slots`` set: it lists an address twice (a killed move)."""

    def __init__(self, settings: ClusterSettings, slots: tuple[str, ...] | None = None) -> None:
        self.settings, self.slots, self.writes = settings, slots, []

    def read_settings(self) -> ClusterSettings:
        if self.slots is not None:
            raise DuplicateSlotsError("lists an address twice", slots=self.slots)
        return self.settings

    def write(self, writes: tuple[Write, ...]) -> None:
        self.writes += writes
        assert self.slots is not None
        slots = list(self.slots)
        for w in writes:
            slots[(w.index or 0) - 1] = str(w.value)
        self.slots = None
        self.settings = ClusterSettings(peers=tuple(slots), primary=self.settings.primary)


class Session:
    def __init__(self, peers: dict[str, Peer]) -> None:
        self.peers = peers

    def appliance(self, host: str) -> Peer:
        return self.peers[host]

    def gather(
        self, cluster: str, hosts: list[str] | None = None, *, light: bool = False
    ) -> ClusterFacts:
        facts = []
        for i, (host, p) in enumerate(self.peers.items()):
            settings = p.settings if p.slots is None else None
            facts.append(
                PeerFacts(
                    host=host,
                    address=A[i],
                    reachable=True,
                    settings=settings,
                    status=ClusterStatus(database="Active"),
                )
            )
        return ClusterFacts(cluster="c1", peers=tuple(facts), gathered_at=NOW)


HALF = (A[0], A[2], A[2], "", "", "")  # slot 2 written, slot 3 not yet cleared


def test_the_first_configure_without_an_outcome_is_the_interrupted_one() -> None:
    journal = Journal("interrupted", [{"action_id": "1", "status": "ok"}], BACKUP, action())
    found = interrupted_configure(journal, "c1")  # type: ignore[arg-type]
    assert found is not None and found.action.id == "2" and found.host == "p1"
    assert interrupted_configure(Journal("ok", [], BACKUP, action()), "c1") is None  # type: ignore[arg-type]


def test_only_a_state_the_actions_own_first_writes_made_is_finished() -> None:
    found = interrupted_configure(Journal("interrupted", [], action()), "c1")  # type: ignore[arg-type]
    assert found is not None
    rest = remaining_writes(found, HALF)
    assert rest is not None and [w.describe() for w in rest] == ["peer_address 3 = ''"]
    # The same address twice in other slots: not what this move made. Left alone.
    assert remaining_writes(found, (A[0], A[0], A[2], "", "", "")) is None
    assert remaining_writes(found, (A[2], A[2], A[0], "", "", "")) is None


def test_the_next_run_finishes_the_move_and_reads_the_planned_end() -> None:
    p1 = Peer(THREE, slots=HALF)
    session = Session({"p1": p1, "p2": Peer(THREE), "p3": Peer(THREE)})
    journal = Journal("interrupted", [{"action_id": "1", "status": "ok"}], BACKUP, action())
    done = finish_interrupted(journal, session, "c1")  # type: ignore[arg-type]
    assert done is not None and "finished step 2" in done and "run r1" in done
    assert [w.describe() for w in p1.writes] == ["peer_address 3 = ''"]
    assert p1.read_settings() == COMPACTED


@pytest.mark.parametrize(
    ("status", "slots"),
    [("ok", HALF), ("interrupted", (A[0], A[0], A[2], "", "", "")), ("interrupted", None)],
    ids=["finished run", "a state exops did not create", "readable"],
)
def test_nothing_is_written_otherwise(status: str, slots: tuple[str, ...] | None) -> None:
    p1 = Peer(THREE, slots=slots)
    session = Session({"p1": p1, "p2": Peer(THREE), "p3": Peer(THREE)})
    journal = Journal(status, [], action())
    assert finish_interrupted(journal, session, "c1") is None  # type: ignore[arg-type]
    assert p1.writes == []


def test_apply_writes_agrees_with_the_finished_state() -> None:
    assert apply_writes(THREE, settings_writes(THREE, COMPACTED)) == COMPACTED

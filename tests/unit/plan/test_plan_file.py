"""Saved plan files: format, digest, bounded reading, and comparison with a fresh plan."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from exops.appliance.base import Field, Write
from exops.core.errors import PreconditionError, UsageError
from exops.core.exitcodes import ExitCode
from exops.core.models import EMPTY_SLOTS, Alarm, ClusterFacts, ClusterSettings, PeerFacts
from exops.plan.model import (
    MAX_PLAN_BYTES,
    PLAN_FORMAT,
    Action,
    ActionKind,
    CheckOutcome,
    CheckResult,
    Plan,
    PlanEditedError,
    compare_plans,
    content_digest,
    load_plan_file,
    plan_command,
    run_command,
    stale_lines,
)

NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
BEFORE = ClusterSettings(peers=("10.0.0.11", "10.0.0.12", *EMPTY_SLOTS[2:]), primary=1)
AFTER = ClusterSettings(peers=("10.0.0.11", "10.0.0.12", "10.0.0.13", *EMPTY_SLOTS[3:]), primary=1)
WRITE = Write(field=Field.PEER_ADDRESS, index=3, value="10.0.0.13")


def a_plan(**kw: object) -> Plan:
    base: dict[str, object] = {
        "runbook": "add-peer",
        "cluster": "c1",
        "params": {"peer": "p3"},
        "created_at": NOW,
        "exops_version": "0.1.0",
        "facts_digest": "abc",
        "basis": {"p1": {"reachable": True}},
        "preflight": (CheckResult(name="size", outcome=CheckOutcome.PASS, summary="2 of 6"),),
        "actions": (
            Action(id="1", step="back up", kind=ActionKind.BACKUP, host="p1"),
            Action(
                id="2",
                step="list p3",
                kind=ActionKind.CONFIGURE,
                host="p1",
                writes=(WRITE,),
                before=BEFORE,
                after=AFTER,
            ),
            Action(id="3", step="restart p3", kind=ActionKind.RESTART, host="p3"),
        ),
    }
    base.update(kw)
    return Plan.model_validate(base)


def saved(tmp_path: Path, plan: Plan | None = None) -> Path:
    path = tmp_path / "plan.json"
    path.write_text((plan or a_plan()).to_json())
    return path


def test_plan_file_states_its_format_and_digest(tmp_path: Path) -> None:
    doc = json.loads(a_plan().to_json())
    assert doc["format"] == PLAN_FORMAT == "exops.plan/2"
    assert len(doc["digest"]) == 64 and doc["digest"] == content_digest(doc)


def test_round_trip(tmp_path: Path) -> None:
    plan = a_plan()
    loaded = load_plan_file(saved(tmp_path, plan))
    assert loaded.actions == plan.actions and loaded.preflight == plan.preflight
    assert compare_plans(plan, loaded) == []


def test_edited_plan_is_refused_as_edited(tmp_path: Path) -> None:
    path = saved(tmp_path)
    path.write_text(path.read_text().replace('"10.0.0.13"', '"10.0.0.99"'))
    with pytest.raises(PlanEditedError) as exc:
        load_plan_file(path)
    assert isinstance(exc.value, PreconditionError) and exc.value.exit_code == ExitCode.REFUSED
    assert "edited by hand" in str(exc.value) and "\n" not in str(exc.value)


def test_a_plan_without_digest_is_refused_as_edited(tmp_path: Path) -> None:
    path = saved(tmp_path)
    doc = json.loads(path.read_text())
    del doc["digest"]
    path.write_text(json.dumps(doc))
    with pytest.raises(PlanEditedError):
        load_plan_file(path)


def test_decommission_flag_added_by_hand_is_refused(tmp_path: Path) -> None:
    path = saved(tmp_path)
    doc = json.loads(path.read_text())
    doc["actions"][2]["decommission"] = True
    path.write_text(json.dumps(doc))
    with pytest.raises(PlanEditedError):
        load_plan_file(path)


def test_reformatting_a_plan_keeps_it_valid(tmp_path: Path) -> None:
    """The digest is over canonical JSON: indentation or key order do not matter."""
    path = saved(tmp_path)
    doc = json.loads(path.read_text())
    path.write_text(json.dumps(dict(reversed(list(doc.items())))))
    assert load_plan_file(path).runbook == "add-peer"


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (b"not json", "not JSON"),
        (b"\xff\xfe\x00garbage", "not UTF-8"),
        (b"[1, 2]", "expected a JSON object"),
        (b'{"runbook": "x"}', "known format"),
        (b'{"format": "exops.plan/1"}', "exops.plan/1"),
        (b'{"format": "exops.plan/3"}', "exops.plan/3"),
        (b"[" * 100_000, "not JSON"),
    ],
)
def test_malformed_plan_files_are_one_line_usage_errors(
    tmp_path: Path, content: bytes, expected: str
) -> None:
    path = tmp_path / "plan.json"
    path.write_bytes(content)
    with pytest.raises(UsageError) as exc:
        load_plan_file(path)
    assert expected in str(exc.value) and "\n" not in str(exc.value)
    assert exc.value.exit_code == ExitCode.USAGE


def test_unreadable_and_too_large_plan_files(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="cannot read plan file"):
        load_plan_file(tmp_path / "missing.json")
    with pytest.raises(UsageError, match="plan file is a directory, not a regular file"):
        load_plan_file(tmp_path)
    big = tmp_path / "big.json"
    big.write_bytes(b" " * (MAX_PLAN_BYTES + 1))
    with pytest.raises(UsageError, match="larger than"):
        load_plan_file(big)
    with pytest.raises(UsageError, match="character device, not a regular file"):
        load_plan_file(Path("/dev/zero"))


def test_plan_from_a_newer_exops_is_refused(tmp_path: Path) -> None:
    path = saved(tmp_path, a_plan(exops_version="9.0.0"))
    with pytest.raises(UsageError, match="newer exops"):
        load_plan_file(path, exops_version="0.1.0")
    assert load_plan_file(saved(tmp_path, a_plan(exops_version="0.0.9")), exops_version="0.1.0")


def test_a_valid_digest_over_an_invalid_plan_is_a_usage_error(tmp_path: Path) -> None:
    doc = json.loads(a_plan().to_json())
    doc["actions"][1]["after"]["peers"][3] = "None"
    doc["digest"] = content_digest(doc)
    path = tmp_path / "plan.json"
    path.write_text(json.dumps(doc))
    with pytest.raises(UsageError, match="not a valid exops plan"):
        load_plan_file(path)


# -- compare_plans ------------------------------------------------------------------------
def test_equal_plans_compare_empty_whatever_their_time_and_basis() -> None:
    fresh = a_plan(created_at=datetime(2027, 1, 1, tzinfo=UTC), basis={}, facts_digest="zzz")
    assert compare_plans(a_plan(), fresh) == []


def test_a_changed_write_is_named() -> None:
    other = Write(field=Field.PEER_ADDRESS, index=3, value="exp3.example.com")
    actions = list(a_plan().actions)
    actions[1] = actions[1].model_copy(update={"writes": (other,)})
    lines = compare_plans(a_plan(), a_plan(actions=tuple(actions)))
    assert len(lines) == 2
    assert "no longer planned" in lines[0] and "10.0.0.13" in lines[0]
    assert lines[1].startswith("new action 2") and "exp3.example.com" in lines[1]


def test_a_new_and_a_missing_action_are_named() -> None:
    actions = a_plan().actions
    extra = Action(id="4", step="restart p1", kind=ActionKind.RESTART, host="p1")
    assert compare_plans(a_plan(), a_plan(actions=(*actions, extra))) == [
        "new action 4: restart p1"
    ]
    assert compare_plans(a_plan(), a_plan(actions=actions[:2])) == [
        "action 3 no longer planned: restart p3"
    ]


def test_a_preflight_verdict_change_is_named() -> None:
    failing = (CheckResult(name="size", outcome=CheckOutcome.FAIL, summary="6 of 6"),)
    lines = compare_plans(a_plan(), a_plan(preflight=failing))
    assert lines == ["preflight size: was pass, now fail (6 of 6)"]


def test_a_warning_that_comes_and_goes_does_not_make_a_plan_stale() -> None:
    """The latency check warns or passes with exops's own round trips (a loaded
    machine): neither blocks, the plan does the same; only a blocking change counts."""
    warn = (CheckResult(name="size", outcome=CheckOutcome.WARN, summary="5 of 6"),)
    assert compare_plans(a_plan(), a_plan(preflight=warn)) == []
    assert compare_plans(a_plan(preflight=warn), a_plan()) == []
    unknown = (CheckResult(name="size", outcome=CheckOutcome.UNKNOWN, summary="?"),)
    assert compare_plans(a_plan(preflight=warn), a_plan(preflight=unknown)) == [
        "preflight size: was warn, now unknown (?)"
    ]


def test_a_manual_latency_check_that_comes_and_goes_does_not_make_a_plan_stale() -> None:
    """Under load exops's own round trips add up past 80 ms: latency moves from pass to
    n/a (a manual check; issue 19). It never blocked, the plan does the same (CI saw
    `exops apply` refuse a fresh plan with "preflight latency: was pass, now n/a")."""
    manual = (CheckResult(name="latency", outcome=CheckOutcome.NOT_APPLICABLE, summary="m"),)
    passed = (CheckResult(name="latency", outcome=CheckOutcome.PASS, summary="ok"),)
    assert compare_plans(a_plan(preflight=passed), a_plan(preflight=manual)) == []
    assert compare_plans(a_plan(preflight=manual), a_plan(preflight=passed)) == []


def test_a_refusal_change_is_named() -> None:
    assert compare_plans(a_plan(), a_plan(refused="no")) == ["refused now: no"]
    assert compare_plans(a_plan(refused="no"), a_plan()) == ["no longer refused (was: no)"]


def test_a_decommission_flag_is_a_difference() -> None:
    actions = list(a_plan().actions)
    actions[2] = actions[2].model_copy(update={"decommission": True})
    assert compare_plans(a_plan(), a_plan(actions=tuple(actions))) != []


# -- the stale-plan rule (stale_lines): what a plan expects to find, on fresh facts -----


NEW = ClusterSettings()  # p3, not yet clustered


def facts_of(**peers: ClusterSettings | None) -> ClusterFacts:
    return ClusterFacts(
        cluster="c1",
        peers=tuple(
            PeerFacts(
                host=h,
                address=f"10.0.0.1{i}",
                reachable=s is not None,
                settings=s,
                error=None if s is not None else "connection refused",
            )
            for i, (h, s) in enumerate(peers.items(), start=1)
        ),
        gathered_at=NOW,
    )


def basis_of(**peers: ClusterSettings) -> dict[str, dict[str, object]]:
    return {
        h: {"reachable": True, "settings": s.model_dump(mode="json"), "restart_pending": False}
        for h, s in peers.items()
    }


def test_a_plan_holds_on_the_facts_it_was_made_from() -> None:
    plan = a_plan(basis=basis_of(p1=BEFORE, p2=BEFORE, p3=NEW))
    assert stale_lines(plan, facts_of(p1=BEFORE, p2=BEFORE, p3=NEW)) == []


def test_an_edited_peer_is_one_line_per_difference_naming_step_peer_expected_found() -> None:
    plan = a_plan(basis=basis_of(p1=BEFORE, p2=BEFORE, p3=NEW))
    by_name = BEFORE.model_copy(update={"peers": ("10.0.0.11", "p2.example.com", *EMPTY_SLOTS[2:])})
    moved = BEFORE.model_copy(update={"primary": 2})
    assert stale_lines(plan, facts_of(p1=by_name, p2=moved, p3=NEW)) == [
        "step 2 'list p3' on p1: peer 2 address expected '10.0.0.12', found 'p2.example.com'",
        "the facts the plan was made from on p2: configuration primary expected slot 1, found slot 2",
    ]


def test_a_peer_unreachable_now_or_new_to_the_cluster_is_a_difference() -> None:
    plan = a_plan(basis=basis_of(p1=BEFORE, p2=BEFORE, p3=NEW))
    lines = stale_lines(plan, facts_of(p1=BEFORE, p2=None, p3=NEW, p4=BEFORE))
    assert lines == [
        "the facts the plan was made from on p2: expected reachable, found unreachable "
        "(connection refused)",
        "p4: found in cluster c1, not in the plan's facts",
    ]


def test_a_step_after_a_cluster_wide_change_is_held_to_the_peers_own_fields() -> None:
    """After a step that changes a replicated field, a later step on another peer may
    find replication landed: only that peer's list and primary must hold then."""
    named = BEFORE.model_copy(update={"cluster_name": "c1.example.com"})
    plan = a_plan(
        basis=basis_of(p1=BEFORE, p2=BEFORE, p3=NEW),
        actions=(
            Action(
                id="1",
                step="name",
                kind=ActionKind.CONFIGURE,
                host="p1",
                writes=(Write(field=Field.CLUSTER_NAME, value="c1.example.com"),),
                before=BEFORE,
                after=named,
            ),
            Action(
                id="2",
                step="p2",
                kind=ActionKind.CONFIGURE,
                host="p2",
                writes=(WRITE,),
                before=named,
                after=named.model_copy(update={"peers": AFTER.peers}),
            ),
        ),
    )
    assert stale_lines(plan, facts_of(p1=BEFORE, p2=BEFORE, p3=NEW)) == []
    moved = BEFORE.model_copy(update={"primary": 2})
    assert stale_lines(plan, facts_of(p1=BEFORE, p2=moved, p3=NEW)) == [
        "step 2 'p2' on p2: configuration primary expected slot 1, found slot 2"
    ]


def test_a_restart_pending_since_planning_is_a_difference() -> None:
    plan = a_plan(basis=basis_of(p1=BEFORE, p3=NEW))
    facts = facts_of(p1=BEFORE, p3=NEW)
    pending = facts.peers[0].model_copy(update={"alarms": (Alarm(id="20007"),)})
    lines = stale_lines(plan, facts.model_copy(update={"peers": (pending, facts.peers[1])}))
    assert lines == [
        "step 2 'list p3' on p1: expected no restart pending, found a restart pending (alarm 20007)"
    ]


def test_the_commands_that_replace_a_stale_plan() -> None:
    plan = a_plan(runbook="switch-primary", params={"peer": "c1-p2"})
    assert run_command(plan) == "exops switch-primary -c c1 --peer c1-p2 --yes"
    assert (
        plan_command(plan, "p.json") == "exops plan switch-primary -c c1 --peer c1-p2 --out p.json"
    )
    custom = a_plan(runbook="my-book", params={"x": "1", "y": None})
    assert run_command(custom, yes=False) == "exops run my-book -c c1 -P x=1"

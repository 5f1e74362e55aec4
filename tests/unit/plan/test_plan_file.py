"""Saved plan files: format, digest, bounded reading, and comparison with a fresh plan."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from exops.appliance.base import Field, Write
from exops.core.errors import PreconditionError, UsageError
from exops.core.exitcodes import ExitCode
from exops.core.models import EMPTY_SLOTS, ClusterSettings
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
    with pytest.raises(UsageError, match="cannot read plan file"):
        load_plan_file(tmp_path)  # a directory
    big = tmp_path / "big.json"
    big.write_bytes(b" " * (MAX_PLAN_BYTES + 1))
    with pytest.raises(UsageError, match="larger than"):
        load_plan_file(big)
    with pytest.raises(UsageError, match="larger than"):
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


def test_a_refusal_change_is_named() -> None:
    assert compare_plans(a_plan(), a_plan(refused="no")) == ["refused now: no"]
    assert compare_plans(a_plan(refused="no"), a_plan()) == ["no longer refused (was: no)"]


def test_a_decommission_flag_is_a_difference() -> None:
    actions = list(a_plan().actions)
    actions[2] = actions[2].model_copy(update={"decommission": True})
    assert compare_plans(a_plan(), a_plan(actions=tuple(actions))) != []

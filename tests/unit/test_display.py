"""What a person reads: step lines, the plan summary, the recap (plain data in, text out)."""

from __future__ import annotations

import io
from datetime import UTC, datetime

from rich.console import Console

from exops.cli.display import TerminalDisplay, outcome_line, render_recap, step_line
from exops.plan import Action, ActionKind, Plan
from exops.results import RunResult, RunStatus, StepResult, StepStatus
from exops.run.observers import RunInfo


def _text(markup: str) -> str:
    out = io.StringIO()
    Console(file=out, width=200, highlight=False).print(markup)
    return out.getvalue().rstrip("\n")


def _step(status: StepStatus, host: str | None = "c1-p2", **kw: object) -> StepResult:
    action = Action(id="3", step="restart [c1-p2]", kind=ActionKind.RESTART, host=host)
    return StepResult(action, status, datetime.now(UTC), 1.25, **kw)  # type: ignore[arg-type]


def test_a_step_line_names_status_peer_step_and_time_and_is_never_markup() -> None:
    assert _text(step_line(_step(StepStatus.CHANGED))) == "changed: [c1-p2] restart [c1-p2] (1.2s)"
    assert _text(step_line(_step(StepStatus.OK, host=None))).startswith("ok: [cluster] ")


def _plan() -> Plan:
    return Plan(
        runbook="restart",
        cluster="c1",
        params={},
        created_at=datetime.now(UTC),
        exops_version="0",
        facts_digest="x",
        basis={},
    )


def test_plain_display_prints_one_line_per_finished_step_and_hides_skips() -> None:
    out = io.StringIO()
    display = TerminalDisplay(Console(file=out, width=200), live=False)
    run = RunInfo("r1", "c1", "restart", _plan())
    display.step_finished(run, _step(StepStatus.CHANGED))
    display.step_finished(run, _step(StepStatus.SKIPPED, detail="not reached"))
    assert out.getvalue().splitlines() == ["changed: [c1-p2] restart [c1-p2] (1.2s)"]


def test_recap_counts_an_unreached_peer_and_ends_with_one_sentence() -> None:
    result = RunResult(
        "c1",
        "switch-primary",
        RunStatus.PARTIAL,
        6,
        plan=_plan(),
        run_id="r1",
        steps=[_step(StepStatus.CHANGED)],
        unreached=("c1-p1",),
        message="partial: c1-p1 did not answer and was skipped; re-run when it answers",
    )
    text = "\n".join(_text(line) for line in render_recap(result))
    assert "UNREACHABLE c1-p1: skipped, NOT done" in text
    assert "c1-p1                    : ok=0 changed=0 unreachable=1" in text
    assert _text(outcome_line(result)).endswith("re-run when it answers (exit 6)")

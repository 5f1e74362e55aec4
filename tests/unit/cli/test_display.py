"""What a person reads: step lines, the plan summary, the recap (plain data in, text out)."""

from __future__ import annotations

import io
import time
from collections.abc import Callable
from datetime import UTC, datetime

from rich.console import Console

from exops.apply.results import RunResult, RunStatus, StepResult, StepStatus
from exops.cli.display import (
    PeerWait,
    TerminalDisplay,
    outcome_line,
    render_recap,
    render_summary,
    step_line,
)
from exops.plan.model import Action, ActionKind, Plan
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


def test_the_waiting_line_names_the_peers_not_yet_read_after_a_second() -> None:
    wait = PeerWait(Console(file=io.StringIO()), ["c1-p1", "c1-p2", "c1-p3"], after=1.0)
    start = wait.started
    assert wait.line(start + 0.5) == ""  # a quick read shows nothing
    wait.done("c1-p1")
    assert wait.line(start + 2.25) == "waiting for c1-p2, c1-p3 (2.2s); 1 of 3 peers read"
    wait.done("c1-p2")
    wait.done("c1-p3")
    assert wait.line(start + 3) == ""


def test_the_waiting_line_stays_short_on_a_big_cluster() -> None:
    hosts = [f"c1-p{i}" for i in range(1, 7)]
    wait = PeerWait(Console(file=io.StringIO()), hosts, after=0, most=4)
    assert wait.line(wait.started + 61).startswith(
        "waiting for c1-p1, c1-p2, c1-p3, c1-p4 and 2 more (1m01s); 0 of 6 peers read"
    )


def test_off_a_terminal_the_waiting_line_prints_nothing() -> None:
    out = io.StringIO()
    with PeerWait(Console(file=out), ["c1-p1"], after=0) as wait:
        assert wait.line()  # it would say something...
    assert out.getvalue() == ""  # ...but not to a file or a pipe


def _console_maker(made: list[Console], **options: object) -> Callable[[], Console]:
    def make() -> Console:
        made.append(Console(file=io.StringIO(), **options))  # type: ignore[arg-type]
        return made[-1]

    return make


def test_a_quick_read_makes_no_console_for_the_waiting_line() -> None:
    """Given a function that makes the console (``exops status``: rich is imported
    when something is drawn), a read that ends before ``after`` never makes it."""
    made: list[Console] = []
    with PeerWait(_console_maker(made), ["c1-p1"], after=3600) as wait:
        timer = wait._timer
        wait.done("c1-p1")
    assert timer is not None
    timer.join(30)  # cancelled at the end of the read: it ends without firing
    assert not timer.is_alive() and made == []


def test_a_read_done_when_the_line_is_due_makes_no_console() -> None:
    made: list[Console] = []
    wait = PeerWait(_console_maker(made), ["c1-p1"], after=0)
    wait.done("c1-p1")
    with wait:
        timer = wait._timer
        assert timer is not None
        timer.join(30)
    assert made == []


def test_a_slow_read_draws_the_waiting_line_on_a_console_made_then() -> None:
    """Peers still unread after ``after`` seconds: the console is made (on the timer's
    thread) and, on a terminal, the live line is drawn, then cleared at the end."""
    made: list[Console] = []
    with PeerWait(_console_maker(made, force_terminal=True), ["c1-p1"], after=0) as wait:
        deadline = time.monotonic() + 30
        while wait._live is None and time.monotonic() < deadline:
            time.sleep(0.01)
        assert len(made) == 1 and wait._live is not None
    assert wait._live is None  # stopped with the read
    drawn = made[0].file.getvalue()  # type: ignore[attr-defined]
    assert "waiting for c1-p1" in drawn


def test_the_summary_says_one_at_a_time_only_for_several_restarts() -> None:
    def plan_restarting(*hosts: str) -> Plan:
        actions = tuple(
            Action(id=str(i), step=f"restart {h}", kind=ActionKind.RESTART, host=h)
            for i, h in enumerate(hosts, start=1)
        )
        return _plan().model_copy(update={"actions": actions})

    one = render_summary(plan_restarting("c1-p2")).splitlines()[0]
    assert one == "plan: restart on c1: 1 action; 0 configuration changes; restarts c1-p2"
    two = render_summary(plan_restarting("c1-p1", "c1-p2"))
    assert "restarts c1-p1, c1-p2 (one at a time)" in two


def test_the_summary_names_the_wait_limits_the_settings_cap() -> None:
    actions = (
        Action(id="1", step="restart c1-p2", kind=ActionKind.RESTART, host="c1-p2"),
        Action(id="2", step="gate", kind=ActionKind.WAIT, host="c1-p2"),  # no own timeout
        Action(id="3", step="settle", kind=ActionKind.WAIT, timeout_s=1200),
    )
    plan = _plan().model_copy(update={"actions": actions})
    first = render_summary(plan, restart_limit=600, settle_limit=1800).splitlines()[0]
    assert first.endswith("; waits up to 10m00s per restart, 30m00s per health wait"), first
    capped = render_summary(plan, restart_limit=600, settle_limit=300).splitlines()[0]
    assert capped.endswith("10m00s per restart, 5m00s per health wait"), capped

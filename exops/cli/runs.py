"""Runbook commands: build a runner with the right observers, render its result.

Output streams: human text goes to stdout, or to stderr whenever stdout
carries JSON (``--json``, ``--events -``), so ``... --events - | jq .`` and
``... --json | jq .`` always parse. A dry run prints the full plan; a real
run prints a short summary (the full plan with ``-v``), a line per finished
step, the recap, and on failure one line on stderr.
"""

from __future__ import annotations

import io
import json
import sys
import threading
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from exops.apply.results import RunResult, RunStatus, StepResult
from exops.cli.screen import console, escape
from exops.core.errors import UsageError
from exops.core.exitcodes import ExitCode
from exops.core.files import check_writable_target, open_for_write, write_text
from exops.plan.model import Action, Plan
from exops.run.env import Env
from exops.run.observers import EventsObserver, Observer, RunInfo
from exops.run.runner import RestartHook, Runner

if TYPE_CHECKING:
    # Imported where used (issue 22: start-up): rich and the run's display when a run
    # draws (a dry run's plan is plain text), the fleet for several clusters.
    from rich.console import Console

    from exops.run.fleet import FleetItem

PlanNotes = Callable[[Plan], list[str]]
"""Lines a command adds after a dry run's plan (text only; ``restart --drain``)."""


@dataclass(frozen=True)
class RunOptions:
    dry_run: bool = False
    yes: bool = False
    json_out: bool = False
    events: str | None = None
    fmt: str | None = None  # None: text on screen, the --out file's suffix decides its format
    out: Path | None = None
    lock_timeout: float | None = None
    detailed_exitcode: bool = False
    verbose: bool = False

    @property
    def stdout_is_json(self) -> bool:
        return self.json_out or self.events == "-"

    @property
    def screen_format(self) -> str:
        """What is printed: JSON with --json, else --format (default text)."""
        return "json" if self.json_out else (self.fmt or "text")

    @property
    def file_format(self) -> str:
        """What ``--out`` holds: --format when given, else the file's suffix decides."""
        from exops.report import file_format

        return file_format(self.fmt, self.out)


def human(opts: RunOptions) -> Console:
    return console(stderr=opts.stdout_is_json)


def err() -> Console:
    return console(stderr=True)


def show_plan(plan: Plan, opts: RunOptions, out: TextIO | None = None) -> None:
    """The full plan (dry run, ``exops plan``, ``-v``), and ``--out`` saved."""
    from exops.report import render_plan

    text = render_plan(plan, opts.screen_format)
    save_plan(plan, opts)
    stream = out or sys.stdout
    stream.write(text if text.endswith("\n") else text + "\n")


def save_plan(plan: Plan, opts: RunOptions) -> None:
    """``--out FILE``: the plan in the format ``--format`` names (else FILE's suffix's)."""
    from exops.report import render_plan

    if opts.out is None:
        return
    # Never through a symbolic link nor into another user's file (core.files).
    write_text(opts.out, render_plan(plan, opts.file_format), "--out")


class _Summary(Observer):
    """Prints the plan summary (or the full plan with -v) once, before the first step."""

    def __init__(self, out: Console, opts: RunOptions, shown: set[str], env: Env):
        self.out, self.opts, self.shown, self.env = out, opts, shown, env

    def run_started(self, run: RunInfo) -> None:
        if "plan" in self.shown:  # already shown before the confirmation
            return
        self.shown.add("plan")
        _print_plan_briefly(self.out, run.plan, self.opts, self.env)


def _print_plan_briefly(out: Console, plan: Plan, opts: RunOptions, env: Env) -> None:
    from exops.cli.display import render_summary

    if opts.verbose and not opts.json_out:
        buffer = io.StringIO()
        show_plan(plan, replace(opts, out=None), buffer)
        out.print(buffer.getvalue(), markup=False, highlight=False, end="")
    else:
        settings = env.settings
        summary = render_summary(
            plan, restart_limit=settings.restart_timeout, settle_limit=settings.settle_timeout
        )
        out.print(escape(summary), soft_wrap=True)


def _confirm(
    out: Console | Callable[[], Console], opts: RunOptions, shown: set[str], env: Env
) -> Callable[[Plan], bool] | None:
    if not sys.stdin.isatty():
        return None
    if callable(out):
        out = out()

    def ask(plan: Plan) -> bool:
        _print_plan_briefly(out, plan, opts, env)
        shown.add("plan")
        restarts = ", ".join(a.host or "?" for a in plan.restarts)
        return yes_or_no(out, f"Restart {restarts} as planned?")

    return ask


def yes_or_no(out: Console, question: str) -> bool:
    """Ask on the terminal; only y/yes confirms. End of input (Ctrl-D) is a no;
    Ctrl-C propagates as KeyboardInterrupt (exit 130, like Ctrl-C anywhere).

    The answer is awaited in short ``select`` slices, not one blocking read: the
    kernel may hand Ctrl-C's SIGINT to another thread (an SSH transport's), and a
    main thread blocked in read() would then not see it until Enter is pressed.
    """
    import select

    out.print(f"{escape(question)} \\[y/N]: ", end="")
    out.file.flush()
    stdin = sys.stdin
    while not select.select([stdin], [], [], 0.2)[0]:
        pass  # a signal's handler runs between slices
    answer = stdin.readline()
    if not answer:  # end of input
        out.print()
        return False
    return answer.strip().lower() in ("y", "yes")


class _Once:
    """``make()`` called once, on first use, whichever thread asks first."""

    def __init__(self, make: Callable[[], Any]):
        self._make = make
        self._made: Any = None
        self._lock = threading.Lock()

    def __call__(self) -> Any:
        with self._lock:
            if self._made is None:
                self._made = self._make()
            return self._made


class _MadeOnUse(Observer):
    """An observer made on its first event: a run's console and display (rich) are
    made when the run has something to show, after its reads (issue 22: start-up).
    Every hook of ``Observer`` is passed on (tests/unit/cli/test_runs_observers.py)."""

    def __init__(self, make: Callable[[], Observer]):
        self._observer = _Once(make)

    def run_started(self, run: RunInfo) -> None:
        self._observer().run_started(run)

    def step_started(self, run: RunInfo, action: Action) -> None:
        self._observer().step_started(run, action)

    def waiting(self, run: RunInfo, what: str, detail: str, elapsed: float, timeout: float) -> None:
        self._observer().waiting(run, what, detail, elapsed, timeout)

    def waited(self, run: RunInfo, what: str, elapsed: float) -> None:
        self._observer().waited(run, what, elapsed)

    def restarting(self, run: RunInfo, host: str, action_id: str) -> None:
        self._observer().restarting(run, host, action_id)

    def step_finished(self, run: RunInfo, result: StepResult) -> None:
        self._observer().step_finished(run, result)

    def run_finished(self, run: RunInfo, result: RunResult) -> None:
        self._observer().run_finished(run, result)


def _observers(
    opts: RunOptions,
    out: Console | Callable[[], Console],
    stack: ExitStack,
    shown: set[str],
    env: Env,
) -> list[Observer]:
    """The run's observers; given a function that makes the console (``_interactive``),
    the summary and the display are made on their first event, with it."""

    def display() -> Observer:
        from exops.cli.display import TerminalDisplay

        return TerminalDisplay(out() if callable(out) else out)

    def summary() -> Observer:
        return _Summary(out() if callable(out) else out, opts, shown, env)

    observers: list[Observer] = []
    if not opts.json_out:
        observers.append(_MadeOnUse(summary) if callable(out) else summary())
    observers.append(_MadeOnUse(display) if callable(out) else display())
    if opts.events == "-":
        observers.append(EventsObserver(sys.stdout))
    elif opts.events:
        stream = stack.enter_context(open_for_write(Path(opts.events), "--events", append=True))
        observers.append(EventsObserver(stream))
    return observers


def _interactive(
    env: Env,
    opts: RunOptions,
    act: Callable[[Runner], RunResult],
    restart_hook: RestartHook | None = None,
) -> int:
    """Run ``act`` with a runner that shows progress, may ask before restarts, and
    writes events (``restart_hook``: around each restart step); render its result;
    return the exit code."""
    if opts.out is not None:  # refused before anything is read or changed
        check_writable_target(opts.out, "--out")
    out = _Once(lambda: human(opts))  # made when there is something to show
    shown: set[str] = set()
    with ExitStack() as stack:
        runner = Runner(
            env,
            observers=_observers(opts, out, stack, shown, env),
            confirm=_confirm(out, opts, shown, env),
            restart_hook=restart_hook,
        )
        result = act(runner)
    return finish(result, opts, out())


def run_one(
    env: Env,
    ref: str,
    cluster: str,
    params: dict[str, Any],
    opts: RunOptions,
    *,
    resume: bool = False,
    restart_hook: RestartHook | None = None,
    plan_notes: PlanNotes | None = None,
) -> int:
    """One runbook on one cluster from the command line; returns the exit code.
    ``restart_hook``: around each restart step of the run; ``plan_notes``: lines after
    the dry run's plan (``restart --drain``)."""
    return _plan_or_run(
        env,
        opts,
        lambda r: r.plan(ref, cluster, params, resume=resume),
        lambda r: r.run(
            ref, cluster, params, yes=opts.yes, lock_timeout=opts.lock_timeout, resume=resume
        ),
        restart_hook=restart_hook,
        plan_notes=plan_notes,
    )


def _plan_or_run(
    env: Env,
    opts: RunOptions,
    plan: Callable[[Runner], RunResult],
    run: Callable[[Runner], RunResult],
    *,
    restart_hook: RestartHook | None = None,
    plan_notes: PlanNotes | None = None,
) -> int:
    """``--dry-run``: the plan, rendered; otherwise the confirmed, rendered run."""
    if opts.dry_run:
        return _planned(plan(Runner(env)), opts, plan_notes)
    return _interactive(env, opts, run, restart_hook)


def plan_one(env: Env, ref: str, cluster: str, params: dict[str, Any], opts: RunOptions) -> int:
    if opts.out is not None:
        check_writable_target(opts.out, "--out")
    return _planned(Runner(env).plan(ref, cluster, params), opts)


def _planned(result: RunResult, opts: RunOptions, notes: PlanNotes | None = None) -> int:
    from exops.cli.display import refusal_lines

    if result.plan is None:
        raise UsageError("no plan was made")
    show_plan(result.plan, opts)
    if notes is not None and opts.screen_format == "text" and not result.plan.refused:
        sys.stdout.write("".join(f"{line}\n" for line in notes(result.plan)))
    if result.status is RunStatus.REFUSED:
        err().print(escape(refusal_lines(result.plan)[1]), soft_wrap=True)
        return result.exit_code
    if opts.detailed_exitcode and result.plan.has_changes:
        return int(ExitCode.CHANGES_PENDING)
    return int(ExitCode.OK)


def apply_saved(env: Env, path: Path, opts: RunOptions) -> int:
    return _interactive(
        env, opts, lambda r: r.apply_saved(path, yes=opts.yes, lock_timeout=opts.lock_timeout)
    )


def restore(env: Env, cluster: str, host: str, backup: Path | None, opts: RunOptions) -> int:
    return _plan_or_run(
        env,
        opts,
        lambda r: r.restore(cluster, host, backup, dry_run=True),
        lambda r: r.restore(cluster, host, backup, yes=opts.yes, lock_timeout=opts.lock_timeout),
    )


def finish(result: RunResult, opts: RunOptions, out: Console) -> int:
    """Render a finished run: JSON document or recap; one stderr line on failure."""
    from exops.cli.display import refusal_lines, render_recap

    if result.plan is not None and not opts.dry_run:
        save_plan(result.plan, opts)
    if opts.json_out:
        sys.stdout.write(json.dumps(result.to_doc(), indent=2, default=str) + "\n")
    elif result.status is RunStatus.REFUSED and not result.steps:
        _print_refusal_evidence(out, result)  # the reason itself: once, on stderr below
    elif result.status is RunStatus.NOTHING_TO_CHANGE:
        journalled = f" (run {result.run_id})" if result.run_id else ""
        out.print(f"nothing to change: the cluster already matches the runbook{journalled}")
    else:
        for line in render_recap(result):
            out.print(line, soft_wrap=True)
    if result.status in (RunStatus.FAILED, RunStatus.REFUSED, RunStatus.PARTIAL):
        # One line on stderr: what cron mails and schedulers log.
        message = result.message
        if result.status is RunStatus.REFUSED and not result.steps and result.plan is not None:
            message = refusal_lines(result.plan)[1]
        err().print(f"exops: error: {escape(message)}", soft_wrap=True, markup=True)
    print_warnings(result)
    if result.status is RunStatus.INTERRUPTED:
        raise KeyboardInterrupt
    return result.exit_code


def print_warnings(result: RunResult) -> None:
    """Each warning of a run (a journal write that failed) on stderr, one line each."""
    for warning in result.warnings:
        err().print(f"exops: warning: {escape(warning)}", soft_wrap=True, markup=True)


def _print_refusal_evidence(out: Console, result: RunResult) -> None:
    """Why it refused: each cause once, with the fix that fits it (display.refusal_lines)."""
    from exops.cli.display import refusal_lines

    if result.plan is None:
        return
    for line in refusal_lines(result.plan)[0]:
        out.print(escape(line), soft_wrap=True)


# -- fleet: one runbook on several clusters (exops.run.fleet), rendered here --------


def run_fleet(
    env: Env,
    ref: str,
    clusters: list[str],
    params_for: Callable[[str], dict[str, Any]],
    opts: RunOptions,
    *,
    resume: bool = False,
) -> int:
    """Run ``ref`` on every cluster concurrently; each cluster's output is held in
    its own buffer and printed whole when it finishes; the worst exit code wins.

    Raises:
        UsageError: a cluster is named twice or unknown, or restarts without --yes.
    """
    from rich.console import Console

    from exops.cli.display import FleetBoard, TerminalDisplay
    from exops.run import fleet as fleet_mod
    from exops.run.fleet import check_fleet

    check_fleet(env, clusters, yes=opts.yes, dry_run=opts.dry_run)
    if opts.out is not None:
        raise UsageError("--out takes one cluster; run `exops plan` per cluster to save plans")
    params = {c: params_for(c) for c in clusters}  # bad input fails before any thread starts
    lock = threading.Lock()
    out = human(opts)
    with ExitStack() as stack:
        events = _events_stream(opts, stack)
        # A person at a terminal sees every cluster's progress while they run (one
        # live line each; plain lines on TERM=dumb); each cluster's full text follows
        # when it finishes.
        board = (
            stack.enter_context(FleetBoard(out, clusters))
            if out.is_terminal and not opts.dry_run
            else None
        )

        def observers_for(item: FleetItem) -> list[Observer]:
            item.context["text"] = text = io.StringIO()
            buffered = Console(file=text, width=200, highlight=False, soft_wrap=True)
            item.context["console"] = buffered
            shown: list[Observer] = [TerminalDisplay(buffered, live=False)]
            if board is not None:
                shown.append(board.observer(item.cluster))
            if events is not None:
                shown.append(EventsObserver(events, lock=lock))
            return shown

        def on_done(item: FleetItem) -> None:
            problems = _fleet_render(item, opts)
            if not opts.json_out:
                target = sys.stderr if opts.stdout_is_json else sys.stdout
                text = item.context["text"].getvalue()
                target.write(f"\n=== cluster {item.cluster}: exit {item.exit_code} ===\n{text}")
                target.flush()
            sys.stderr.write(problems)

        fleet = fleet_mod.run_fleet(
            env,
            ref,
            params,
            dry_run=opts.dry_run,
            yes=opts.yes,
            lock_timeout=opts.lock_timeout,
            resume=resume,
            observers_for=observers_for,
            on_done=on_done,
        )
    if opts.json_out:
        runs = [
            {
                "cluster": i.cluster,
                "exit_code": i.exit_code,
                "result": _fleet_doc(i.result, dry_run=opts.dry_run),
                "error": i.context.get("problems") or None,
            }
            for i in fleet.items
        ]
        doc = {"schema": "exops.fleet/1", "runbook": ref, "runs": runs}
        sys.stdout.write(json.dumps(doc, indent=2, default=str) + "\n")
    summary = ", ".join(f"{i.cluster}={i.exit_code}" for i in fleet.items)
    err().print(f"fleet: {len(clusters)} clusters; exit codes {summary}", soft_wrap=True)
    if fleet.interrupted:
        raise KeyboardInterrupt
    return fleet.exit_code


def _fleet_render(item: FleetItem, opts: RunOptions) -> str:
    """Render a finished cluster into its buffer; returns its problem lines (stderr).
    A dry run with ``--detailed-exitcode`` and changes pending exits 5."""
    from exops.cli.display import render_recap

    result, buffered = item.result, item.context["console"]
    if item.error is not None:
        problems = f"exops: error: {item.cluster}: {item.error}\n"
    elif result is not None and result.message and result.status is not RunStatus.OK:
        problems = f"exops: {item.cluster}: {result.message}\n"
    else:
        problems = ""
    if result is not None:
        problems += "".join(f"exops: warning: {item.cluster}: {w}\n" for w in result.warnings)
    if result is not None and not opts.json_out:
        if opts.dry_run and result.plan is not None:
            show_plan(result.plan, replace(opts, out=None), item.context["text"])
        elif not opts.dry_run:
            for line in render_recap(result):
                buffered.print(line)
    pending = result is not None and result.plan is not None and result.plan.has_changes
    if opts.dry_run and opts.detailed_exitcode and pending:
        item.exit_code = int(ExitCode.CHANGES_PENDING)
    item.context["problems"] = problems.strip()
    return problems


def _fleet_doc(result: RunResult | None, *, dry_run: bool) -> Any:
    """A cluster's JSON in a fleet document: as the single-cluster command prints it
    (a dry run: the plan; a run: the ``exops.run/1`` document)."""
    if result is None:
        return None
    if dry_run and result.plan is not None:
        return json.loads(result.plan.to_json())
    return result.to_doc()


def _events_stream(opts: RunOptions, stack: ExitStack) -> TextIO | None:
    if opts.events == "-":
        return sys.stdout
    if not opts.events:
        return None
    return stack.enter_context(open_for_write(Path(opts.events), "--events", append=True))

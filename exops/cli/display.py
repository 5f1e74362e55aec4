"""What a person sees while a run goes and after it: observers and renderers.

- ``TerminalDisplay``: in a terminal, a live spinner for the step in progress
  and one persistent line per finished step (Ansible's task lines); without a
  terminal, short human lines (never raw JSON).
- ``PeerWait``: while ``status`` or ``check`` reads, a live line naming the
  peers it still waits for (in a terminal only); it, ``console`` and
  ``status_table`` live in ``exops.cli.screen`` (light: the status path) and are
  re-exported here.
- ``render_summary`` / ``render_recap``: the plan summary shown before the
  confirmation, and the recap after the run.

Human text goes to ``human`` (stdout, or stderr when stdout carries JSON).
"""

from __future__ import annotations

import re
import threading
import time
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.text import Text

from exops.apply.results import RunResult, RunStatus, StepResult, StepStatus
from exops.cli.screen import LiveArea
from exops.cli.screen import PeerWait as PeerWait  # noqa: PLC0414 (re-exported)
from exops.cli.screen import can_draw_live as can_draw_live  # noqa: PLC0414
from exops.cli.screen import console as console  # noqa: PLC0414
from exops.cli.screen import fmt_s as fmt_s  # noqa: PLC0414
from exops.cli.screen import status_table as status_table  # noqa: PLC0414
from exops.plan.model import Action, ActionKind, Plan
from exops.run.events import IN_FLIGHT, NOT_STARTED
from exops.run.observers import Observer, RunInfo

STATUS_STYLE = {
    StepStatus.OK: "green",
    StepStatus.CHANGED: "yellow",
    StepStatus.SKIPPED: "cyan",
    StepStatus.FAILED: "red",
    StepStatus.UNREACHABLE: "red",
}


def step_line(result: StepResult) -> str:
    """``changed: [c1-p2] list c1-p4 on the primary (0.3s)``: one finished step."""
    host = result.action.host or "cluster"
    style = STATUS_STYLE[result.status]
    word = result.status.value
    if (result.error or "").startswith(IN_FLIGHT):
        style, word = "yellow", "interrupted"
    text = (
        f"[{style}]{word}[/]: {escape(f'[{host}]')} "
        f"{escape(result.action.step)} ({fmt_s(result.duration_s)})"
    )
    if result.status is StepStatus.SKIPPED and result.detail:
        text += f" [dim]{escape(result.detail)}[/]"
    return text


def step_of(run: RunInfo, action: Action) -> str:
    """``step 2 of 4``: where the run is."""
    ids = [a.id for a in run.plan.actions]
    n = ids.index(action.id) + 1 if action.id in ids else 0
    return f"step {n} of {len(ids)}" if n else f"{len(ids)} steps"


class TerminalDisplay(Observer):
    """Progress for a person: a live line in a terminal (the step, where the run is,
    what the wait sees, elapsed time and its limit), plain lines otherwise (also on a
    terminal that cannot redraw a line, TERM=dumb)."""

    def __init__(self, out: Console, *, live: bool | None = None, quiet_skips: bool = True):
        self.out = out
        self.live = can_draw_live(out) if live is None else live
        self.quiet_skips = quiet_skips
        self._progress: Any = None
        self._task: Any = None
        self._last_plain: dict[str, float] = {}

    # -- live spinner for the step in progress ----------------------------------
    def _start_live(self, text: str) -> None:
        from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

        self._stop_live()
        self._progress = Progress(
            SpinnerColumn(),
            TextColumn("{task.description}"),
            TimeElapsedColumn(),
            TextColumn("{task.fields[limit]}"),
            TextColumn("[dim]{task.fields[detail]}"),
            console=self.out,
            transient=True,
        )
        self._progress.start()
        self._task = self._progress.add_task(text, detail="", limit="")

    def _stop_live(self) -> None:
        if self._progress is not None:
            self._progress.stop()
        self._progress = self._task = None

    def step_started(self, run: RunInfo, action: Action) -> None:
        if self.live:
            host = f"[{action.host}] " if action.host else ""
            where = step_of(run, action)
            self._start_live(escape(f"{where}: {host}{action.step}"))  # [host] is no markup

    def waiting(self, run: RunInfo, what: str, detail: str, elapsed: float, timeout: float) -> None:
        if self.live and self._progress is not None:
            self._progress.update(
                self._task, detail=escape(detail[:70]), limit=f"of {fmt_s(timeout)}"
            )
            return
        # Plain: one line when what is seen changes, else at most every 30 s.
        now = time.monotonic()
        key = f"{what}|{detail}"
        if key not in self._last_plain or now - self._last_plain[key] >= 30:
            self._last_plain[key] = now
            self.out.print(
                f"  waiting for {escape(what)}: {escape(detail)} "
                f"({fmt_s(elapsed)} of {fmt_s(timeout)})",
                soft_wrap=True,
            )

    def step_finished(self, run: RunInfo, result: StepResult) -> None:
        self._stop_live()
        if self.quiet_skips and result.status is StepStatus.SKIPPED:
            return
        self.out.print(step_line(result), soft_wrap=True)

    def run_finished(self, run: RunInfo, result: RunResult) -> None:
        self._stop_live()


class FleetBoard(LiveArea):
    """Several clusters at once (``exops restart -c c1 -c c2 --yes``): while they
    run, one live line per cluster (its step n of m, the peer, what its wait sees,
    elapsed and limit); on a terminal that cannot redraw (TERM=dumb), plain lines
    prefixed with the cluster. ``observer(cluster)`` feeds it (from worker threads).
    """

    def __init__(self, out: Console, clusters: list[str], *, live: bool | None = None):
        self.out = out
        self.live = can_draw_live(out) if live is None else live
        self.lines: dict[str, str] = dict.fromkeys(clusters, "planning")
        self.width = max((len(c) for c in clusters), default=1)
        self._lock = threading.Lock()
        self._started: dict[str, float] = {}
        self._last_plain: dict[str, float] = {}

    def observer(self, cluster: str) -> Observer:
        return _FleetLine(self, cluster)

    def set(self, cluster: str, text: str, *, plain: str | None = None) -> None:
        with self._lock:
            self.lines[cluster] = text
        if not self.live and plain is not None:
            self.out.print(escape(f"[{cluster}] {plain}"), soft_wrap=True, highlight=False)

    def waited(self, cluster: str, key: str) -> bool:
        """True at most every 30 s per cluster and wait (plain lines)."""
        now = time.monotonic()
        with self._lock:
            if key in self._last_plain and now - self._last_plain[key] < 30:
                return False
            self._last_plain[key] = now
            return True

    def __rich__(self) -> Any:
        from rich.console import Group

        with self._lock:
            rows = [
                Text.assemble((f"{c:<{self.width}}  ", "bold"), (line, ""))
                for c, line in self.lines.items()
            ]
        return Group(*rows)

    def __enter__(self) -> FleetBoard:
        self._draw(self.live)
        return self


class _FleetLine(Observer):
    def __init__(self, board: FleetBoard, cluster: str):
        self.board, self.cluster = board, cluster
        self.step = ""
        self.t0 = time.monotonic()

    def run_started(self, run: RunInfo) -> None:
        n = len(run.plan.actions)
        self.board.set(self.cluster, f"{n} steps planned", plain=f"{run.runbook}: {n} steps")

    def step_started(self, run: RunInfo, action: Action) -> None:
        host = f"[{action.host}] " if action.host else ""
        self.step = f"{step_of(run, action)}: {host}{action.step}"
        self.t0 = time.monotonic()
        self.board.set(self.cluster, self.step, plain=self.step)

    def waiting(self, run: RunInfo, what: str, detail: str, elapsed: float, timeout: float) -> None:
        seen = f"{detail[:60]} ({fmt_s(elapsed)} of {fmt_s(timeout)})"
        plain = None
        if self.board.waited(self.cluster, f"{self.cluster}|{what}|{detail}"):
            plain = f"  waiting for {what}: {seen}"
        self.board.set(self.cluster, f"{self.step}  {seen}", plain=plain)

    def step_finished(self, run: RunInfo, result: StepResult) -> None:
        if result.status is StepStatus.SKIPPED:
            return
        word = result.status.value
        line = f"{word}: {self.step} ({fmt_s(result.duration_s)})"
        self.board.set(self.cluster, line, plain=line)

    def run_finished(self, run: RunInfo, result: RunResult) -> None:
        self.board.set(self.cluster, f"finished: {result.status.value} (exit {result.exit_code})")


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}{'' if n == 1 else 's'}"


def render_summary(
    plan: Plan, *, restart_limit: float | None = None, settle_limit: float | None = None
) -> str:
    """A short plan summary (counts, restarts, how long each may take) and the
    plan's risks and warnings: shown before asking, so the question never hides
    what it risks. ``restart_limit``/``settle_limit`` are the run's settings
    (``--restart-timeout``/``--settle-timeout``), which cap every wait."""
    from exops.report.view import plan_view

    changes = [a for a in plan.actions if a.kind is ActionKind.CONFIGURE]
    peers = sorted({a.host for a in changes if a.host})
    restarts = [a.host or "?" for a in plan.restarts]
    waits = [a for a in plan.actions if a.kind in (ActionKind.WAIT, ActionKind.VERIFY)]
    restart_wait = max((_limit(a.timeout_s, restart_limit) for a in plan.restarts), default=0)
    health_wait = max((_limit(a.timeout_s, settle_limit) for a in waits), default=0)
    limits = []
    if restart_wait:
        limits.append(f"{fmt_s(restart_wait)} per restart")
    if health_wait:
        limits.append(f"{fmt_s(health_wait)} per health wait")
    lines = [
        f"plan: {plan.runbook} on {plan.cluster}: {_count(len(plan.actions), 'action')}; "
        f"{_count(len(changes), 'configuration change')}"
        + (f" on {', '.join(peers)}" if peers else "")
        + (f"; restarts {', '.join(restarts)}" if restarts else "; no restart")
        + (" (one at a time)" if len(restarts) > 1 else "")
        + (f"; waits up to {', '.join(limits)}" if limits else "")
    ]
    lines += [f"risk: {r.title}: {r.detail}" for r in plan_view(plan).risks]
    lines += [f"warning: {w}" for w in plan.warnings]
    lines.append("(the full plan: --dry-run, or -v)")
    return "\n".join(lines)


def _limit(own: float | None, setting: float | None) -> float:
    """What the executor waits at most: the step's own timeout capped by the setting."""
    if setting is None:
        return own or 0
    return min(own or setting, setting)


def _step_name(s: StepResult) -> str:
    return f"{s.action.id} '{s.action.step}' on {s.action.host or 'cluster'}"


def interruption_lines(result: RunResult) -> list[str]:
    """An interrupted run as it stood: what was done, what was in flight (and what
    of it happened), what was planned and not started."""
    done = [s for s in result.steps if not s.failed and s.detail != NOT_STARTED]
    flight = [s for s in result.steps if s.failed]
    waiting = [s for s in result.steps if s.status is StepStatus.SKIPPED and s not in done]
    lines = ["[yellow]INTERRUPTED[/] (Ctrl-C or a stop signal)"]
    lines.append(
        "  done: "
        + (
            "; ".join(escape(f"{_step_name(s)} ({s.status.value})") for s in done)
            if done
            else "nothing"
        )
    )
    for s in flight:
        lines.append(f"  in flight: {escape(_step_name(s))}")
        lines.append(f"    {escape(s.error or '')}")
    lines.append(
        "  not started: "
        + ("; ".join(escape(_step_name(s)) for s in waiting) if waiting else "nothing")
    )
    lines.append(f"  what to do: {_rerun(result)}")
    return lines


def _rerun(result: RunResult) -> str:
    """How to finish an interrupted run: ``--resume`` for a runbook that would
    otherwise redo what was done (restart), else the same command."""
    from exops.runbook.catalog import shipped

    meta = shipped().get(result.runbook)
    if meta is not None and meta.resumable:
        return (
            "re-run the same command with --resume: it skips the peers already restarted "
            "(without it every peer restarts again)"
        )
    return "re-run the same command; it plans again from what the peers read"


def render_recap(result: RunResult) -> list[str]:
    """The failure details and the recap table, as rich markup lines."""
    lines: list[str] = []
    if result.status is RunStatus.INTERRUPTED:
        lines += interruption_lines(result)
    for s in result.steps:
        if s.failed and result.status is not RunStatus.INTERRUPTED:
            lines.append(
                f"[red]{s.status.value.upper()}[/] step {escape(s.action.id)} "
                f"'{escape(s.action.step)}' on {escape(s.action.host or 'cluster')}"
            )
            lines.append(f"  {escape(s.error or '')}")
            if s.advice:
                lines.append(f"  what to do: {escape(s.advice)}")
    for host in result.unreached:
        lines.append(
            f"[red]UNREACHABLE[/] {escape(host)}: skipped, NOT done; re-run when it answers"
        )
    title = f"PLAY RECAP (run {result.run_id})" if result.run_id else "PLAY RECAP"
    if result.warnings:  # e.g. the journal lost writes: the run is not fully recorded
        n = len(result.warnings)
        title += f" [yellow]{n} warning{'s' if n > 1 else ''} on stderr[/]"
    lines.append(f"\n{title} " + "*" * 40)
    for host, counts in sorted(result.recap().items()):
        parts = " ".join(f"{k}={v}" for k, v in counts.items())
        colour = (
            "red"
            if counts["failed"] or counts["unreachable"]
            else ("yellow" if counts["changed"] else "green")
        )
        lines.append(f"[{colour}]{escape(host):<24}[/] : {parts}")
    lines.append(outcome_line(result))
    return lines


def outcome_line(result: RunResult) -> str:
    """One closing sentence: what happened, in words."""
    texts = {
        RunStatus.OK: "[green]done[/]: the cluster reads as the runbook wants",
        RunStatus.NOTHING_TO_CHANGE: "[green]nothing to change[/]: the cluster already matches",
        RunStatus.PARTIAL: f"[yellow]{escape(result.message)}[/]",
        RunStatus.FAILED: "[red]failed[/]: re-run the same command once the cause is fixed",
        RunStatus.REFUSED: f"[red]{escape(result.message or 'refused')}[/]",
        RunStatus.INTERRUPTED: "[yellow]interrupted[/]: " + escape(_rerun(result)),
        RunStatus.PLANNED: "planned; nothing was changed",
    }
    return f"{texts[result.status]} (exit {result.exit_code})"


# -- a refusal: each cause once, with the fix that fits it ------------------------------

UNREACHABLE = "unreachable: "


def refusal_lines(plan: Plan) -> tuple[list[str], str]:
    """What a plan's refusal prints (plain text lines) and its one stderr line.

    A peer that cannot be read fails or leaves unknown every check that needs it:
    its cause is said once (with the fix that fits it), and those checks are named
    on one line, instead of the same cause under each check. Every other failed
    check keeps its evidence, and the fix when exops knows one.
    """
    from exops.plan.model import CheckOutcome

    failing = [c for c in plan.preflight if c.outcome is not CheckOutcome.PASS]
    failing = [c for c in failing if c.outcome.value not in ("warn", "n/a")]
    causes: dict[str, str] = {}
    for check in failing:
        for host, seen in check.evidence.items():
            if seen.startswith(UNREACHABLE):
                causes.setdefault(host, seen[len(UNREACHABLE) :])
    lines: list[str] = []
    for host, cause in causes.items():
        what, _, fix = cause.partition("; ")
        lines.append(f"{host} cannot be read: {_without_host(what, host)}")
        if fix:
            lines.append(f"  fix: {fix}")
    # A check only blocked by unreadable peers names no other peer in its summary.
    others = [h for h in plan.basis if h not in causes]
    blocked = [
        c.name
        for c in failing
        if causes
        and any(s.startswith(UNREACHABLE) for s in c.evidence.values())
        and not any(re.search(rf"\b{re.escape(h)}\b", c.summary) for h in others)
    ]
    if blocked:
        lines.append(
            f"  so these checks could not be made: {', '.join(blocked)} (nothing was changed)"
        )
    shown = [c for c in failing if c.name not in blocked]
    for check in shown:
        lines.append(f"preflight {check.name}: {check.outcome.value}: {check.summary}")
        for host, seen in check.evidence.items():
            if host in causes and seen.startswith(UNREACHABLE):
                continue
            lines.append(f"  {host}: {seen}")
        remedy = _check_fix(plan, check)
        if remedy:
            lines.append(f"  fix: {remedy}")
    reasons = [
        f"{h} cannot be read ({_without_host(c.partition('; ')[0], h)})" for h, c in causes.items()
    ]
    reasons += [f"{c.name}: {c.summary}" for c in shown]
    if plan.refused and not plan.refused.startswith("preflight failed"):
        reasons.insert(0, plan.refused)  # a runbook's own refusal (e.g. "run switch-primary")
    one = "refused: " + ("; ".join(reasons) if reasons else (plan.refused or "refused"))
    return lines, one


def _without_host(text: str, host: str) -> str:
    """``c1-p3 read configuration/x: HTTPS ...`` -> ``HTTPS ...`` (the host is said)."""
    head, sep, rest = text.partition(": ")
    return rest if sep and head.startswith(host) else text


def _check_fix(plan: Plan, check: Any) -> str | None:
    """The fix for a failed check, when one command is it."""
    evidence = " ".join(check.evidence.values())
    if check.name == "tls_names" and "not an FQDN" in evidence:
        return (
            f"TLS Enforce needs every peer listed by an FQDN: run `exops convert-fqdn -c "
            f"{plan.cluster}` first, then enforce-tls again"
        )
    return None

"""Plan, confirm, lock, apply, journal, report: one runbook run end to end.

Data flow: inventory -> facts -> plan -> (dry run stops here) -> apply ->
verify -> report. Dry run is one flag read here, and the plan printed in a
dry run is exactly the list of actions apply executes.
"""

from __future__ import annotations

import json
import os
import socket
import sys
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from rich.markup import escape

from exops import __version__
from exops.cli.read import Env, stderr, stdout
from exops.errors import PreconditionError, StalePlanError, UsageError
from exops.exitcodes import ExitCode
from exops.plan import Plan


@dataclass
class RunOptions:
    dry_run: bool = False
    yes: bool = False
    json_out: bool = False
    events: str | None = None
    fmt: str = "text"
    out: Path | None = None
    lock_timeout: float | None = None
    detailed_exitcode: bool = False
    fleet: bool = False  # one of several clusters run at once: no progress on stderr
    cancel: threading.Event | None = None  # set by a fleet run on Ctrl-C: waits stop


def utc_now() -> datetime:
    return datetime.now(UTC)


def make_plan(env: Env, runbook_ref: str, cluster: str, params: dict[str, Any]) -> Plan:
    """Gather facts and plan (no change is made)."""
    from exops.runbook.loader import load_runbook
    from exops.runbook.planner import plan_runbook

    env.inventory.cluster(cluster)
    runbook = load_runbook(runbook_ref)
    with env.session([cluster]) as session:
        facts = session.gather(cluster)
    return plan_runbook(runbook, facts, params, now=utc_now(), exops_version=__version__)


def show_plan(plan: Plan, opts: RunOptions) -> None:
    from exops.report import render_plan

    fmt = "json" if opts.json_out else opts.fmt
    if fmt not in ("text", "md", "html", "json"):
        raise UsageError(f"--format: {fmt!r} is not one of text, md, html, json")
    text = render_plan(plan, fmt)
    if opts.out:
        out_fmt = "json" if opts.out.suffix == ".json" else fmt
        opts.out.write_text(render_plan(plan, out_fmt) if out_fmt != fmt else text)
    sys.stdout.write(text if text.endswith("\n") else text + "\n")


def plan_only(
    env: Env, runbook_ref: str, cluster: str, params: dict[str, Any], opts: RunOptions
) -> int:
    plan = make_plan(env, runbook_ref, cluster, params)
    show_plan(plan, opts)
    return plan_exit_code(plan, opts)


def plan_exit_code(plan: Plan, opts: RunOptions) -> int:
    if plan.refused:
        stderr().print(f"[red]refused:[/] {escape(plan.refused)}")
        return int(ExitCode.REFUSED)
    if opts.detailed_exitcode and plan.has_changes:
        return int(ExitCode.CHANGES_PENDING)
    return int(ExitCode.OK)


def run(env: Env, runbook_ref: str, cluster: str, params: dict[str, Any], opts: RunOptions) -> int:
    """Plan and (unless --dry-run) apply one runbook on one cluster."""
    if opts.dry_run:
        return plan_only(env, runbook_ref, cluster, params, opts)
    with cluster_lock(env, cluster, runbook_ref, opts):
        plan = make_plan(env, runbook_ref, cluster, params)
        if opts.json_out:  # one JSON document on stdout: the run's result, plan inside
            if opts.out:
                opts.out.write_text(plan.to_json())
        else:
            show_plan(plan, opts)
        if plan.refused or not plan.actions:
            if not plan.refused:
                stderr().print("nothing to change: the cluster already matches the runbook")
            if opts.json_out:
                _write_json(_run_doc(plan, None, ""))
            return plan_exit_code(plan, RunOptions())
        if not plan.has_changes:  # only read-only checks (verify steps marked always)
            stderr().print("nothing to change; checking that the cluster is as it should be")
            return apply_plan(env, plan, opts)
        _confirm(plan, opts)
        return apply_plan(env, plan, opts)


def apply_saved(env: Env, path: Path, opts: RunOptions) -> int:
    """Apply a saved plan exactly, refusing it when its facts no longer hold."""
    try:
        saved = Plan.from_json(path.read_text())
    except (OSError, ValueError) as exc:
        raise UsageError(f"{path}: not a readable exops plan ({str(exc).splitlines()[0]})") from exc
    env.inventory.cluster(saved.cluster)
    with cluster_lock(env, saved.cluster, saved.runbook, opts):
        fresh = make_plan(env, saved.runbook, saved.cluster, dict(saved.params))
        changed = stale_reasons(saved, fresh)
        if changed:
            raise StalePlanError(
                f"{path}: the cluster changed since this plan was made ({'; '.join(changed)}); "
                "make a new plan"
            )
        if saved.refused:
            raise PreconditionError(f"{path}: this plan was refused: {saved.refused}")
        if not saved.has_changes:
            stderr().print("nothing to change: the saved plan has no changes")
            return int(ExitCode.OK)
        return apply_plan(env, saved, opts)


def stale_reasons(saved: Plan, fresh: Plan) -> list[str]:
    """What differs between the facts a saved plan was built on and now."""
    if saved.facts_digest == fresh.facts_digest:
        return []
    reasons = []
    for host in sorted(set(saved.basis) | set(fresh.basis)):
        a, b = saved.basis.get(host, {}), fresh.basis.get(host, {})
        for key in sorted(set(a) | set(b)):
            if a.get(key) != b.get(key):
                reasons.append(f"{host} {key}: was {a.get(key)!r}, now {b.get(key)!r}")
    return reasons or ["facts digest differs"]


def _confirm(plan: Plan, opts: RunOptions) -> None:
    restarts = [a.host for a in plan.restarts]
    if not restarts or opts.yes:
        return
    if not sys.stdin.isatty():
        raise UsageError(
            f"this plan restarts {', '.join(h or '?' for h in restarts)}; "
            "pass --yes to confirm in an unattended run"
        )
    import typer

    if not typer.confirm(
        f"Restart {', '.join(h or '?' for h in restarts)} as planned?", default=False
    ):
        raise UsageError("not confirmed; nothing was changed")


@contextmanager
def cluster_lock(env: Env, cluster: str, runbook: str, opts: RunOptions) -> Iterator[None]:
    from exops.lock import acquire

    timeout = opts.lock_timeout if opts.lock_timeout is not None else env.settings.lock_timeout
    with acquire(cluster, runbook=runbook, timeout_s=timeout, lock_dir=env.settings.lock_dir):
        yield


def _events_stream(opts: RunOptions) -> Any:
    if opts.events == "-":
        return nullcontext(sys.stdout)
    if opts.events:
        return open(opts.events, "a", encoding="utf-8")
    return nullcontext(None)


def apply_plan(env: Env, plan: Plan, opts: RunOptions) -> int:
    from exops.apply import ApplyOptions, Executor
    from exops.events import JsonLinesSink, MultiSink, NullSink
    from exops.journal import Journal
    from exops.runbook.conditions import CONDITIONS
    from exops.waits import Waiter

    run_id = uuid.uuid4().hex[:12]
    journal = Journal(env.settings.journal_path)
    journal_id = journal.start_run(
        run_id=run_id,
        cluster=plan.cluster,
        runbook=plan.runbook,
        params=plan.params,
        plan=json.loads(plan.to_json()),
        user=_user(),
        host=socket.gethostname(),
    )
    try:
        with _events_stream(opts) as stream:
            sinks: list[Any] = (
                [JsonLinesSink(stream, run_id=run_id, cluster=plan.cluster)] if stream else []
            )
            reporter = None
            if not sys.stderr.isatty():
                # No terminal: wait progress as JSON lines (to --events, else stderr).
                progress = sinks or (
                    []
                    if opts.fleet
                    else [JsonLinesSink(sys.stderr, run_id=run_id, cluster=plan.cluster)]
                )
                reporter = _EventReporter(progress)
            events = MultiSink(sinks) if sinks else NullSink()
            with env.session([plan.cluster]) as session, _progress(reporter) as rep:
                waiter = Waiter(
                    rep,
                    max_poll=env.settings.max_poll_interval,
                    cancel=opts.cancel or threading.Event(),
                )
                executor = Executor(
                    session,
                    plan,
                    conditions=CONDITIONS,
                    waiter=waiter,
                    events=events,
                    options=ApplyOptions(
                        restart_timeout=env.settings.restart_timeout,
                        settle_timeout=env.settings.settle_timeout,
                        backup_dir=env.settings.backup_dir,
                        run_id=run_id,
                    ),
                    on_outcome=lambda o: journal.record_outcome(journal_id, o),
                )
                events.emit("run_started", runbook=plan.runbook, actions=len(plan.actions))
                applied = executor.run()
                events.emit("done", failed=applied.failed, changed=applied.changed)
    except BaseException:
        # Interrupted (Ctrl-C, SIGTERM) or a bug: the journal says so, then it propagates.
        journal.finish_run(journal_id, "interrupted", int(ExitCode.INTERRUPTED))
        raise
    code = ExitCode.FAILED if applied.failed else ExitCode.OK
    journal.finish_run(journal_id, "failed" if applied.failed else "ok", int(code))
    _print_recap(plan, applied, opts, run_id)
    failed = next((o for o in applied.outcomes if o.status in ("failed", "unreachable")), None)
    if failed is not None:  # one line on stderr too: what cron mails and schedulers log
        stderr().print(
            f"exops: error: step {failed.action.id} '{failed.action.step}' {failed.status} "
            f"on {failed.action.host or 'the cluster'}: {failed.error}",
            soft_wrap=True,
            markup=False,
        )
    return int(code)


def _user() -> str:
    import getpass

    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no passwd entry (containers)
        return os.environ.get("USER", "?")


class _EventReporter:
    """Wait progress as structured events (when stderr is not a terminal).

    One ``waiting`` event when what is seen changes (e.g. "not answering" ->
    "answering again"), else at most one per 1% of the timeout (>= 1 s), and
    one ``waited`` event at the end: enough for a scheduler to see life
    without flooding a log shipper.
    """

    def __init__(self, sinks: list[Any]):
        self.sinks = sinks
        self._last: dict[str, tuple[float, str]] = {}

    def waiting(self, what: str, detail: str, elapsed: float, timeout: float) -> None:
        last_time, last_detail = self._last.get(what, (-1e9, ""))
        if detail != last_detail or elapsed - last_time >= max(1.0, timeout / 100):
            self._last[what] = (elapsed, detail)
            self._emit(
                "waiting", what=what, detail=detail, elapsed_s=round(elapsed, 1), timeout_s=timeout
            )

    def finished(self, what: str, elapsed: float) -> None:
        self._last.pop(what, None)
        self._emit("waited", what=what, elapsed_s=round(elapsed, 1))

    def _emit(self, event: str, **fields: Any) -> None:
        for s in self.sinks:
            s.emit(event, **fields)


@contextmanager
def _progress(reporter: Any) -> Iterator[Any]:
    if reporter is not None:
        yield reporter
        return
    from exops.waits import RichReporter

    rich = RichReporter(stderr())
    with rich.active():
        yield rich


def _print_recap(plan: Plan, applied: Any, opts: RunOptions, run_id: str) -> None:
    recap: dict[str, dict[str, int]] = {}
    for o in applied.outcomes:
        host = o.action.host or "(cluster)"
        recap.setdefault(host, {"ok": 0, "changed": 0, "failed": 0, "unreachable": 0, "skipped": 0})
        recap[host][o.status] = recap[host].get(o.status, 0) + 1
    if opts.json_out:
        _write_json(_run_doc(plan, applied, run_id, recap))
        return
    console = stdout()
    for o in applied.outcomes:
        if o.status in ("failed", "unreachable"):
            console.print(
                f"[red]{o.status.upper()}[/] step {o.action.id} '{o.action.step}' "
                f"on {o.action.host or 'cluster'}"
            )
            console.print(f"  {escape(o.error or '')}")
            if o.advice:
                console.print(f"  what to do: {escape(o.advice)}")
    console.print(f"\nPLAY RECAP (run {run_id}) " + "*" * 40)
    for host, counts in sorted(recap.items()):
        parts = " ".join(f"{k}={v}" for k, v in counts.items())
        colour = (
            "red"
            if counts.get("failed") or counts.get("unreachable")
            else ("yellow" if counts.get("changed") else "green")
        )
        console.print(f"[{colour}]{host:<24}[/] : {parts}")


def _run_doc(
    plan: Plan, applied: Any, run_id: str, recap: dict[str, dict[str, int]] | None = None
) -> dict[str, Any]:
    """The --json result of a run (schema exops.run/1); ``applied`` None: nothing applied."""
    outcomes = applied.outcomes if applied is not None else []
    return {
        "schema": "exops.run/1",
        "run_id": run_id or None,
        "cluster": plan.cluster,
        "runbook": plan.runbook,
        "refused": plan.refused,
        "failed": bool(applied and applied.failed),
        "changed": bool(applied and applied.changed),
        "recap": recap or {},
        "outcomes": [
            {
                "action": o.action.id,
                "step": o.action.step,
                "kind": o.action.kind.value,
                "host": o.action.host,
                "status": o.status,
                "duration_s": round(o.duration_s, 3),
                "detail": o.detail,
                "error": o.error,
                "advice": o.advice,
            }
            for o in outcomes
        ],
        "plan": json.loads(plan.to_json()),
    }


def _write_json(doc: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(doc, indent=2, default=str) + "\n")


def parse_params(pairs: list[str]) -> dict[str, Any]:
    """``NAME=VALUE`` pairs from ``--param``; values stay strings (the runbook types them).

    Raises:
        UsageError: a pair has no ``=`` or an empty name.
    """
    params: dict[str, Any] = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name.strip():
            raise UsageError(f"--param {pair!r}: expected NAME=VALUE")
        params[name.strip()] = value
    return params


def runbook_params(runbook: str, cli: dict[str, Any], env: Env, cluster: str) -> dict[str, Any]:
    """Turn one runbook command's own flags into runbook parameters.

    Raises:
        UsageError: an unknown peer or a malformed --map pair.
    """
    spec = env.inventory.cluster(cluster)
    params = {k: v for k, v in cli.items() if v is not None}
    if params.get("peer"):
        spec.peer(str(params["peer"]))
    if "mapping" in params:
        params["mapping"] = _mapping_pairs(params["mapping"])
    if params.pop("resume", False):
        from exops.journal import Journal

        last = Journal(env.settings.journal_path).last_failed_run(cluster, runbook)
        if last is None:
            raise UsageError(
                f"--resume: no failed {runbook} run of cluster {cluster} in the journal"
            )
        params["since"] = last["started"]
    return params


def _mapping_pairs(pairs: list[str]) -> dict[str, str]:
    from exops.inventory import _is_ip, is_fqdn

    mapping: dict[str, str] = {}
    for pair in pairs:
        name, sep, ip = pair.partition("=")
        if not sep or not is_fqdn(name) or not _is_ip(ip):
            raise UsageError(
                f"--map {pair!r}: expected FQDN=IP, e.g. exp-e-1.example.com=192.0.2.11"
            )
        mapping[name.lower()] = ip
    return mapping

"""``exops drain``: parse, hand off to exops.tools.drain, render (and ``--restart``)."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from typing import Annotated, Any

import typer

from exops.cli import options as o
from exops.cli.screen import escape
from exops.core.exitcodes import ExitCode


def drain(
    env: Any,
    cluster: o.Cluster,
    peer: Annotated[str, typer.Option("--peer", "-p", help="The peer to drain.", metavar="PEER")],
    max_calls: o.MaxCalls = 0,
    max_registrations: o.MaxRegistrations = 0,
    drain_timeout: o.DrainTimeout = 1800.0,
    accept: o.DrainAccept = None,
    restart: Annotated[
        bool,
        typer.Option(
            "--restart",
            help="Once drained, restart the peer (the restart runbook, health-gated) and "
            "check that maintenance mode is off again.",
        ),
    ] = False,
    dry_run: o.DryRun = False,
    yes: o.Yes = False,
    json_out: o.Json = False,
    lock_timeout: o.LockTimeout = None,
) -> int:
    """Drain a peer before maintenance: the manual maintenance-mode step, then wait.

    Maintenance mode is set on the web page only (no REST or command-line form): exops
    prints the step exactly, then waits until the peer reads as in maintenance and its
    calls and registrations are at or under --max-calls/--max-registrations. Unattended
    (--yes or no terminal) the manual step is refused (exit 3) unless accepted with
    --accept manual-maintenance. Exit 0 drained (or already), 1 timed out, 3 refused.
    """
    from exops.appliance.maintenance import ACCEPT_UNVERIFIED
    from exops.cli.display import console
    from exops.tools import drain as tool

    out = console(stderr=json_out)
    given = (max_calls, max_registrations, drain_timeout, list(accept or ()))
    opts = drain_options(given, yes, dry_run, lock_timeout)
    result = tool.drain(
        env,
        cluster,
        peer,
        opts,
        say=lambda line: out.print(escape(line), soft_wrap=True),
        reporter=o.WaitLines(out),
    )
    doc = result.to_json()
    code = result.exit_code
    if result.status in ("refused", "failed"):
        console(stderr=True).print(f"exops: error: {escape(result.message)}", soft_wrap=True)
    else:
        out.print(escape(result.message), soft_wrap=True)
    if restart and code == 0 and not dry_run:
        code, doc["restart"] = _restart(
            env,
            cluster,
            peer,
            yes=yes,
            json_out=json_out,
            lock_timeout=lock_timeout,
            unverified_ok=ACCEPT_UNVERIFIED in opts.accept,
        )
    elif restart and dry_run and code == 0:
        out.print(
            f"then: restart {escape(peer)} (exops restart -c {escape(cluster)} --peer "
            f"{escape(peer)}) and check that maintenance mode is off again"
        )
    if json_out:
        sys.stdout.write(json.dumps(doc, indent=2) + "\n")
    return code


def _restart(
    env: Any,
    cluster: str,
    peer: str,
    *,
    yes: bool,
    json_out: bool,
    lock_timeout: float | None,
    unverified_ok: bool,
) -> tuple[int, dict[str, Any]]:
    """The restart runbook on ``peer``, rendered as `exops restart` does, then the
    maintenance-mode check (the vendor's rule: off after a restart). A mode that
    cannot be read fails it unless --accept unverified-maintenance was given."""
    from exops.cli.display import TerminalDisplay, console, render_recap
    from exops.cli.runs import RunOptions, _confirm
    from exops.run.runner import Runner
    from exops.tools import drain as tool

    out = console(stderr=json_out)
    opts = RunOptions(yes=yes, json_out=json_out)
    runner = Runner(env, observers=[TerminalDisplay(out)], confirm=_confirm(out, opts, set(), env))
    result = runner.run("restart", cluster, {"peer": peer}, yes=yes, lock_timeout=lock_timeout)
    for line in render_recap(result):
        out.print(line, soft_wrap=True)
    doc: dict[str, Any] = {"run": result.to_doc(), "maintenance_mode_off": None}
    if result.exit_code != 0:
        console(stderr=True).print(f"exops: error: {escape(result.message)}", soft_wrap=True)
        return result.exit_code, doc
    check = tool.verify_off(env, cluster, peer, timeout_s=min(env.settings.settle_timeout, 120.0))
    doc["maintenance_mode_off"] = check.off
    doc["maintenance_mode_message"] = check.message
    if check.off is True or (check.off is None and unverified_ok):
        out.print(escape(check.message), soft_wrap=True)
        return int(ExitCode.OK), doc
    console(stderr=True).print(f"exops: error: {escape(check.message)}", soft_wrap=True)
    return int(ExitCode.FAILED), doc


def drain_options(
    given: tuple[int, int, float, list[str]], yes: bool, dry_run: bool, lock_timeout: float | None
) -> Any:
    """The drain options (``given``: --max-calls, --max-registrations, --drain-timeout,
    the drain's --accept names) of ``drain``, ``upgrade --drain``, ``restart --drain``
    (exops.tools.drain.DrainOptions; unattended: --yes or no terminal), checked (exit 2
    on a bad one)."""
    from exops.tools.drain import DrainOptions

    max_calls, max_registrations, drain_timeout, accept = given
    opts = DrainOptions(
        max_calls=max_calls,
        max_registrations=max_registrations,
        timeout_s=drain_timeout,
        accept=frozenset(accept),
        unattended=yes or not sys.stdin.isatty(),
        dry_run=dry_run,
        lock_timeout=lock_timeout,
    )
    opts.check()
    return opts


def restart_drained(
    env: Any,
    clusters: list[str],
    params: dict[str, Any],
    opts: Any,
    drains: Any,
    *,
    resume: bool = False,
) -> int:
    """``exops restart --drain``: the restart runbook with each peer drained right before
    its own restart and read out of maintenance mode after it (exops.tools.drain
    .DrainHook injected into the runner). One cluster at a time: exit 2 for several.
    Unattended, a manual step not accepted by name is refused (exit 3) before anything
    is changed."""
    from exops.appliance.maintenance import instruction, web_url
    from exops.cli import runs
    from exops.cli.display import console
    from exops.core.errors import UsageError
    from exops.tools import drain as tool

    if len(clusters) != 1:
        raise UsageError("--drain takes one cluster (-c once): peers are drained one at a time")
    cluster = clusters[0]
    spec = env.inventory.cluster(cluster)
    out = runs.human(opts)

    def notes(plan: Any) -> list[str]:
        restarts = []
        for a in plan.restarts:
            peer = spec.peer(a.host)
            steps = instruction(a.host, web_url(peer.hostname, peer.port))
            restarts.append((a.id, a.host, steps))
        return tool.restart_plan_lines(restarts, drains)

    if not opts.dry_run:
        hosts = [params["peer"]] if params.get("peer") else [p.name for p in spec.peers]
        refused = tool.restart_refusal(env, cluster, hosts, drains)
        if refused:
            console(stderr=True).print(f"exops: error: {escape(refused)}", soft_wrap=True)
            return int(ExitCode.REFUSED)
    hook = tool.DrainHook(
        env, drains, say=lambda line: out.print(escape(line), soft_wrap=True),
        reporter=o.WaitLines(out),
    )  # fmt: skip
    return runs.run_one(
        env, "restart", cluster, params, opts, resume=resume, restart_hook=hook, plan_notes=notes
    )


def register(command: Callable[..., Callable[[Callable[..., int]], Any]], conn: list[Any]) -> None:
    """Add ``drain`` to the app through its ``_command`` decorator; ``conn``: the
    connection options of a run (with --state-url and the timeouts)."""
    command("drain", conn=conn)(drain)

"""The ``exops`` command line: parse, build objects, hand off, print.

Heavy modules (Nornir, httpx, paramiko, pydantic models) are imported inside
the commands so that ``exops --help`` stays instant. An ``ExopsError``
becomes one clear line on stderr and its exit code; only real bugs show a
traceback.
"""

from __future__ import annotations

import inspect
import sys
from pathlib import Path
from typing import Annotated

import typer

from exops.cli import options as o

app = typer.Typer(
    name="exops",
    help="Idempotent, dry-run-first runbooks for Cisco Expressway / VCS clusters.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)
logs_app = typer.Typer(help="Expressway log analysis.", no_args_is_help=True)
app.add_typer(logs_app, name="logs")


def main() -> None:
    """Console entry point: map exops errors to one line and an exit code."""
    import signal

    from exops.errors import ExopsError

    def terminated(signum: int, frame: object) -> None:
        raise KeyboardInterrupt  # systemd stop / kill: end like Ctrl-C (journal, locks)

    signal.signal(signal.SIGTERM, terminated)
    try:
        # Without standalone mode click returns a command's typer.Exit code.
        code = app(standalone_mode=False)
    except ExopsError as exc:
        _fail(exc)
    except KeyboardInterrupt:
        print("exops: interrupted", file=sys.stderr)
        sys.exit(130)
    except typer.Exit as exc:
        code = exc.exit_code
    except typer.Abort:
        print("exops: aborted", file=sys.stderr)
        sys.exit(1)
    except Exception as exc:  # click usage errors arrive here in non-standalone mode
        # typer may vendor click (typer._click): recognise its exceptions by shape.
        message = getattr(exc, "format_message", None)
        code = getattr(exc, "exit_code", None)
        if callable(message) and isinstance(code, int):
            print(f"exops: error: {message()} (see --help)", file=sys.stderr)
            sys.exit(code)
        raise
    code = code if isinstance(code, int) else 0
    if code == 130:  # Ctrl-C inside a command: typer turns it into exit 130, silently
        print("exops: interrupted", file=sys.stderr)
    sys.exit(code)


def _fail(exc: Exception) -> None:
    from exops.errors import ExopsError

    code = exc.exit_code if isinstance(exc, ExopsError) else 1
    print(f"exops: error: {exc}", file=sys.stderr)
    sys.exit(code)


# -- read side --------------------------------------------------------------


@app.command()
def status(
    cluster: o.Clusters = None,
    json_out: o.Json = False,
    inventory: o.Inventory = None,
    ca_bundle: o.CaBundle = None,
    insecure: o.Insecure = False,
    transport: o.Transport = None,
    accept_new_host_keys: o.AcceptHostKeys = False,
) -> None:
    """Show each cluster's peers, primary, replication, alarms and a verdict."""
    from exops.cli import read

    env = read.Env.build(
        inventory=inventory,
        ca_bundle=ca_bundle,
        insecure=insecure,
        transport=transport,
        accept_new_host_keys=accept_new_host_keys,
    )
    raise typer.Exit(read.status(env, cluster, json_out=json_out))


@app.command()
def check(
    cluster: o.Cluster,
    peer: Annotated[
        str | None, typer.Option("--peer", help="Check the prerequisites for adding this peer.")
    ] = None,
    json_out: o.Json = False,
    inventory: o.Inventory = None,
    ca_bundle: o.CaBundle = None,
    insecure: o.Insecure = False,
    transport: o.Transport = None,
    accept_new_host_keys: o.AcceptHostKeys = False,
) -> None:
    """Run the clustering prerequisites (domain checks) with evidence per peer."""
    from exops.cli import read

    env = read.Env.build(
        inventory=inventory,
        ca_bundle=ca_bundle,
        insecure=insecure,
        transport=transport,
        accept_new_host_keys=accept_new_host_keys,
    )
    raise typer.Exit(read.check(env, cluster, peer, json_out=json_out))


# -- runbooks ---------------------------------------------------------------
# Every runbook command shares the run and connection options; each adds its
# own parameters. The commands are built from this table so the shared
# options are declared once.

_KW = inspect.Parameter.KEYWORD_ONLY


def _p(name: str, annotation: object, default: object = None) -> inspect.Parameter:
    return inspect.Parameter(name, _KW, annotation=annotation, default=default)


def _peer_opt(help_text: str, required: bool = False) -> inspect.Parameter:
    ann = (
        Annotated[str, typer.Option("--peer", "-p", help=help_text)]
        if required
        else Annotated[str | None, typer.Option("--peer", "-p", help=help_text)]
    )
    return _p("peer", ann, inspect.Parameter.empty if required else None)


_RUN_OPTIONS = [
    _p("dry_run", o.DryRun, False),
    _p("yes", o.Yes, False),
    _p("json_out", o.Json, False),
    _p("events", o.Events, None),
    _p("fmt", o.Format, "text"),
    _p("out", o.Out, None),
    _p("lock_timeout", o.LockTimeout, None),
    _p("detailed_exitcode", o.DetailedExit, False),
]
_CONN_OPTIONS = [
    _p("inventory", o.Inventory, None),
    _p("ca_bundle", o.CaBundle, None),
    _p("insecure", o.Insecure, False),
    _p("transport", o.Transport, None),
    _p("accept_new_host_keys", o.AcceptHostKeys, False),
]
_CONN_KEYS = [p.name for p in _CONN_OPTIONS]
_RUN_KEYS = [p.name for p in _RUN_OPTIONS]

RUNBOOK_COMMANDS: dict[str, tuple[str, list[inspect.Parameter]]] = {
    "create-cluster": (
        "Form a one-peer cluster on the future primary, then restart it (domain 3.1).",
        [
            _peer_opt("The future primary (default: the inventory's slot 1)."),
            _p(
                "tls_mode",
                Annotated[str | None, typer.Option("--tls-mode", help="Permissive or Enforce.")],
            ),
        ],
    ),
    "add-peer": (
        "Add a peer: list it on every member, configure it, restart it (domain 3.2).",
        [_peer_opt("The peer to add.", required=True)],
    ),
    "remove-peer": (
        "Remove a peer, compact the lists, decommission it (domain 3.3).",
        [_peer_opt("The peer to remove (not the primary).", required=True)],
    ),
    "enforce-tls": (
        "Set TLS verification to Enforce and restart every peer in order (domain 3.4).",
        [],
    ),
    "switch-primary": (
        "Make another peer the configuration primary; works with the old one down (3.5).",
        [_peer_opt("The new configuration primary.", required=True)],
    ),
    "convert-fqdn": (
        "Convert peer addresses from IP to FQDN, slot by slot (domain 3.6).",
        [],
    ),
    "address-mapping": (
        "Turn cluster address mapping on (FQDN -> IP per peer) or off (domain 3.7).",
        [
            _p(
                "enable",
                Annotated[bool, typer.Option("--enable/--disable", help="Mapping on or off.")],
                True,
            ),
            _p(
                "mapping",
                Annotated[
                    list[str] | None,
                    typer.Option(
                        "--map",
                        help="FQDN=IP pair; repeat. Default: each member's inventory fqdn=address.",
                    ),
                ],
            ),
        ],
    ),
    "restart": (
        "Ordered restart: primary first, each health-gated; or one peer (domain 3.8).",
        [
            _peer_opt("Restart only this peer."),
            _p(
                "resume",
                Annotated[
                    bool,
                    typer.Option(
                        "--resume",
                        help="Skip peers already restarted since the last failed restart run.",
                    ),
                ],
                False,
            ),
        ],
    ),
    "repair-replication": (
        "ForceConfigUpdate on out-of-sync subordinates, then verify (domain 4).",
        [_peer_opt("Only this subordinate.")],
    ),
}


def _make_runbook_command(name: str, help_text: str, own: list[inspect.Parameter]) -> None:
    def command(**kwargs: object) -> None:
        from exops.cli import execute, read

        env = read.Env.build(**{k: kwargs.pop(k) for k in _CONN_KEYS})  # type: ignore[arg-type]
        opts = execute.RunOptions(**{k: kwargs.pop(k) for k in _RUN_KEYS})  # type: ignore[arg-type]
        clusters = [str(c) for c in kwargs.pop("cluster")]  # type: ignore[attr-defined]
        if len(clusters) == 1:
            params = execute.runbook_params(name, kwargs, env, clusters[0])
            raise typer.Exit(execute.run(env, name, clusters[0], params, opts))
        from exops.cli.fleet import run_fleet

        def params_for(cluster: str) -> dict[str, object]:
            return execute.runbook_params(name, dict(kwargs), env, cluster)

        raise typer.Exit(run_fleet(env, name, clusters, params_for, opts))

    command.__signature__ = inspect.Signature(  # type: ignore[attr-defined]
        [
            _p("cluster", o.RunClusters, inspect.Parameter.empty),
            *own,
            *_RUN_OPTIONS,
            *_CONN_OPTIONS,
        ]
    )
    command.__doc__ = help_text
    command.__name__ = name.replace("-", "_")
    app.command(name)(command)


for _name, (_help, _own) in RUNBOOK_COMMANDS.items():
    _make_runbook_command(_name, _help, _own)


def _generic(kind: str) -> None:
    """`exops run FILE` and `exops plan RUNBOOK`: any runbook with --param k=v."""

    def command(**kwargs: object) -> None:
        from exops.cli import execute, read

        env = read.Env.build(**{k: kwargs.pop(k) for k in _CONN_KEYS})  # type: ignore[arg-type]
        opts = execute.RunOptions(**{k: kwargs.pop(k) for k in _RUN_KEYS})  # type: ignore[arg-type]
        params = execute.parse_params(kwargs.pop("param") or [])  # type: ignore[arg-type]
        ref, cluster = str(kwargs.pop("runbook")), str(kwargs.pop("cluster"))
        if kind == "plan":
            raise typer.Exit(execute.plan_only(env, ref, cluster, params, opts))
        raise typer.Exit(execute.run(env, ref, cluster, params, opts))

    own = [
        _p(
            "runbook",
            Annotated[str, typer.Argument(help="A shipped runbook name or a runbook file.")],
            inspect.Parameter.empty,
        ),
        _p("cluster", o.Cluster, inspect.Parameter.empty),
        _p(
            "param",
            Annotated[
                list[str] | None,
                typer.Option("--param", "-P", help="Runbook parameter NAME=VALUE; repeat."),
            ],
        ),
    ]
    command.__signature__ = inspect.Signature([*own, *_RUN_OPTIONS, *_CONN_OPTIONS])  # type: ignore[attr-defined]
    command.__doc__ = (
        "Plan a runbook and print or save the plan (no change is made)."
        if kind == "plan"
        else "Run any runbook (a shipped name or your own file)."
    )
    command.__name__ = f"{kind}_command"
    app.command(kind)(command)


_generic("run")
_generic("plan")


@app.command("apply")
def apply_plan(
    plan_file: Annotated[Path, typer.Argument(help="A plan saved with `exops plan --out`.")],
    yes: o.Yes = False,
    json_out: o.Json = False,
    events: o.Events = None,
    lock_timeout: o.LockTimeout = None,
    inventory: o.Inventory = None,
    ca_bundle: o.CaBundle = None,
    insecure: o.Insecure = False,
    transport: o.Transport = None,
    accept_new_host_keys: o.AcceptHostKeys = False,
) -> None:
    """Apply exactly a saved plan; refused when the cluster changed since."""
    from exops.cli import execute, read

    env = read.Env.build(
        inventory=inventory,
        ca_bundle=ca_bundle,
        insecure=insecure,
        transport=transport,
        accept_new_host_keys=accept_new_host_keys,
    )
    opts = execute.RunOptions(yes=True, json_out=json_out, events=events, lock_timeout=lock_timeout)
    raise typer.Exit(execute.apply_saved(env, plan_file, opts))


# -- safety and records ------------------------------------------------------


@app.command()
def restore(
    cluster: o.Cluster,
    peer: Annotated[str, typer.Option("--peer", "-p", help="The peer to restore.")],
    backup: Annotated[
        Path | None, typer.Option("--backup", help="Backup file (default: the newest).")
    ] = None,
    dry_run: o.DryRun = False,
    yes: o.Yes = False,
    json_out: o.Json = False,
    events: o.Events = None,
    fmt: o.Format = "text",
    lock_timeout: o.LockTimeout = None,
    inventory: o.Inventory = None,
    ca_bundle: o.CaBundle = None,
    insecure: o.Insecure = False,
    transport: o.Transport = None,
    accept_new_host_keys: o.AcceptHostKeys = False,
) -> None:
    """Put a peer's cluster settings back (a backup, or the cluster's own list)."""
    from exops.cli import execute, read, restore

    env = read.Env.build(
        inventory=inventory,
        ca_bundle=ca_bundle,
        insecure=insecure,
        transport=transport,
        accept_new_host_keys=accept_new_host_keys,
    )
    opts = execute.RunOptions(
        dry_run=dry_run,
        yes=yes,
        json_out=json_out,
        events=events,
        fmt=fmt,
        lock_timeout=lock_timeout,
    )
    raise typer.Exit(restore.restore(env, cluster, peer, backup, opts))


@app.command()
def unlock(
    cluster: Annotated[str, typer.Argument(help="The cluster whose lock to remove.")],
) -> None:
    """Remove a cluster lock left by a run that died (shows who held it)."""
    from exops.cli import records

    raise typer.Exit(records.unlock(cluster))


@app.command()
def history(
    cluster: o.Clusters = None,
    limit: Annotated[int, typer.Option("--limit", help="How many runs.")] = 20,
    json_out: o.Json = False,
) -> None:
    """List past runs from the journal."""
    from exops.cli import records

    raise typer.Exit(records.history(cluster, limit, json_out=json_out))


@app.command()
def show(
    run_id: Annotated[str, typer.Argument(help="A run id from `exops history`.")],
    json_out: o.Json = False,
    fmt: o.Format = "text",
) -> None:
    """Show one run: its plan and every step's outcome."""
    from exops.cli import records

    raise typer.Exit(records.show(run_id, json_out=json_out, fmt=fmt))


@logs_app.command("analyze")
def logs_analyze(
    files: Annotated[
        list[Path] | None,
        typer.Argument(help="Log files or pasted excerpts, '-' for stdin (default: fetch)."),
    ] = None,
    cluster: o.Clusters = None,
    lines: Annotated[int, typer.Option("--lines", help="Lines to fetch per peer.")] = 2000,
    since: Annotated[
        str | None,
        typer.Option("--since", help="Only entries at or after this ISO time or date."),
    ] = None,
    until: Annotated[
        str | None,
        typer.Option(
            "--until", help="Only entries at or before this ISO time or date (date: whole day)."
        ),
    ] = None,
    peer: Annotated[
        list[str] | None,
        typer.Option(
            "--peer", help="Only entries logged by this peer (as the log names it); repeat."
        ),
    ] = None,
    problems: Annotated[
        bool,
        typer.Option("--problems", help="Only alarms, failures, restarts and TLS changes."),
    ] = False,
    summary: Annotated[
        bool,
        typer.Option("--summary", help="One block per peer: counts, times, open alarms, verdict."),
    ] = False,
    json_out: o.Json = False,
    inventory: o.Inventory = None,
    ca_bundle: o.CaBundle = None,
    insecure: o.Insecure = False,
) -> None:
    """Timeline and verdict per peer from Expressway logs (files, or fetched from peers).

    Times without an offset in --since/--until are read as the log's own local time.
    Exit 1 when some peer's log could not be fetched (the analysis is incomplete).
    """
    from exops.cli import logs

    filters = logs.Filters(since=since, until=until, peers=tuple(peer or ()), problems=problems)
    raise typer.Exit(
        logs.analyze_logs(
            files or [],
            cluster,
            lines,
            filters,
            summary=summary,
            json_out=json_out,
            conn={"inventory": inventory, "ca_bundle": ca_bundle, "insecure": insecure},
        )
    )


if __name__ == "__main__":  # pragma: no cover
    main()

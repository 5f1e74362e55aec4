"""The ``exops`` command line: parse, build objects, hand off, render.

Heavy modules (Nornir, httpx, paramiko, pydantic models) are imported inside
the commands so that ``exops --help`` stays instant. An ``ExopsError``
becomes one clear line on stderr and its exit code; only real bugs show a
traceback. Each runbook command is generated from the runbook file's own
``params`` (exops/runbook/catalog.py): its options and help are declared
once, in the YAML.
"""

from __future__ import annotations

import copy
import dataclasses
import inspect
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import typer

from exops.cli import options as o
from exops.cli.helptext import epilog, runbook_examples, short_help


def _docs_dir() -> Path:
    """Where the documentation is: exops/docs in an installed package (the wheel
    ships docs/ as exops.docs), docs/ beside the package in a source tree."""
    package = Path(__file__).resolve().parent.parent
    installed = package / "docs"
    return installed if installed.is_dir() else package.parent / "docs"


# \b keeps click from re-wrapping the lines.
EPILOG = (
    f"\b\nDocumentation, an index of every document:\n  {_docs_dir() / 'README.md'}\n"
    "The lab (exops rehearse, the demo): python -m exops.lab --help; pip install 'exops[lab]'"
)

class _App(typer.Typer):
    """The root command group. Its runbook commands are made from the runbook files
    (``exops.runbook.catalog``: every shipped runbook's YAML parsed) when its command
    list is first read after this module's import (typer builds the command line from
    it, e.g. ``app()`` or a test's ``CliRunner``), at their place in the list: importing
    this module never parses them, nor does the exops command for one command that is
    not a runbook (``main``; issue 22: start-up)."""

    _late: Callable[[], None] | None = None
    _registered: list[Any]

    @property
    def registered_commands(self) -> list[Any]:
        late, self._late = self._late, None
        if late is not None:
            try:
                late()
            except BaseException:
                self._late = late
                raise
        return self._registered

    @registered_commands.setter
    def registered_commands(self, value: list[Any]) -> None:
        self._registered = value


app = _App(
    name="exops",
    help="Idempotent, dry-run-first runbooks for Cisco Expressway / VCS clusters.",
    epilog=EPILOG,
    no_args_is_help=True,
    add_completion=True,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)
logs_app = typer.Typer(help="Expressway log analysis.", no_args_is_help=True)
app.add_typer(logs_app, name="logs")
state_app = typer.Typer(help="The state store (journal, locks, backups).", no_args_is_help=True)
app.add_typer(state_app, name="state")

EXTRA_ARGS = {"allow_extra_args": True, "ignore_unknown_options": True}


def _names_not_types() -> None:
    """Help lists an argument by its name (``RUNBOOK``), never with its Python type
    (``RUNBOOK <str>``, ``FILE <list[Path]>``). Typer 0.29 appends the type to every
    argument and offers no setting for it; options already show their metavar."""
    from typer.core import TyperArgument

    def no_type(self: TyperArgument, ctx: Any) -> None:
        return None

    TyperArgument.display_type_rich = no_type  # type: ignore[method-assign,assignment]


_names_not_types()


def main() -> None:
    """Console entry point: map exops errors to one line and an exit code."""
    import signal

    from exops.cli.lean import defer_param_coercion, skip_httpx_cli
    from exops.core.errors import ExopsError

    skip_httpx_cli()
    defer_param_coercion()

    def terminated(signum: int, frame: object) -> None:
        raise KeyboardInterrupt  # systemd stop / kill: end like Ctrl-C (journal, locks)

    signal.signal(signal.SIGTERM, terminated)
    try:
        # Without standalone mode click returns a command's typer.Exit code.
        code = _for_argv(sys.argv[1:])(standalone_mode=False)
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
        # typer vendors click (typer._click): recognise its exceptions by shape.
        message = getattr(exc, "format_message", None)
        code = getattr(exc, "exit_code", None)
        if callable(message) and isinstance(code, int):
            print(f"exops: error: {message()} (see --help)", file=sys.stderr)
            sys.exit(code)
        raise
    code = code if isinstance(code, int) else 0
    if code == 130:  # Ctrl-C inside a command: typer turns it into exit 130, silently
        print("exops: interrupted", file=sys.stderr)
    _exit(code)


def _command_name(args: list[str]) -> str | None:
    """The command a command line runs, when that is certain: the first argument after
    the root's options (``--inventory DIR``, ``-i DIR``, ``--inventory=DIR``, ``-iDIR``);
    None for any other option before it (``--help``, ``--version``, completion), for no
    command, and while the shell completes a command line."""
    if any(k.startswith("_") and k.endswith("_COMPLETE") for k in os.environ):
        return None
    i = 0
    while i < len(args):
        arg = args[i]
        if arg in ("--inventory", "-i"):
            i += 2
        elif arg.startswith("--inventory=") or (arg.startswith("-i") and arg[2:3] != "-"):
            i += 1
        elif arg.startswith("-"):
            return None
        else:
            return arg
    return None


def _shipped_runbook_file(name: str) -> Path | None:
    """The shipped runbook file named ``name`` (exops.runbooks), None when there is none."""
    import importlib.util
    import re

    if not re.fullmatch(r"[a-z0-9][a-z0-9_-]*", name):
        return None
    spec = importlib.util.find_spec("exops.runbooks")
    for place in (spec.submodule_search_locations or []) if spec else []:
        path = Path(place) / f"{name}.yaml"
        if path.is_file():
            return path
    return None


def _for_argv(args: list[str]) -> typer.Typer:
    """The app to build for this command line: only the command it runs, when that is
    certain (typer builds every command it holds, their options and their types, when
    it starts: 30 commands and the runbook files for one), else the whole app (help,
    completion, an unknown command: what click says then names the other commands).
    Building one command or all of them gives that command the same options, help,
    behaviour and exit codes; only the work of building the others is skipped."""
    name = _command_name(args)
    if name is None:
        return app
    own = [c for c in app._registered if _name_of(c) == name and c.callback not in _RUNBOOK_MADE]
    groups = [g for g in app.registered_groups if g.name == name]
    runbook = _shipped_runbook_file(name)
    lean = copy.copy(app)
    lean._late = None
    lean.registered_groups = groups
    if runbook is not None and not own and not groups:
        from exops.runbook.catalog import meta_of_text

        lean.registered_commands = []
        _make_runbook_command(meta_of_text(runbook.read_text(encoding="utf-8"), name), lean)
        return lean
    if runbook is not None or len(own) + len(groups) != 1:
        return app  # none, or a name a runbook shares: as the whole app resolves it
    lean.registered_commands = own
    return lean


def _name_of(info: Any) -> str:
    """A registered command's name, as typer names it."""
    return str(info.name or typer.main.get_command_name(info.callback.__name__))


def _exit(code: int) -> None:
    """Exit once the command has returned, without the interpreter's teardown.

    Threads are joined and atexit handlers run (logging, temporary files) and the
    standard streams are flushed, as at a normal exit; what is skipped is freeing
    every module and object one by one, which with pydantic, httpx, paramiko and
    rich loaded takes 0.05-0.5 s (docs/benchmarks.md). Every file exops writes is
    closed by the time a command returns.
    """
    import atexit
    import contextlib
    import os
    import threading

    shutdown = getattr(threading, "_shutdown", None)  # what a normal exit runs first
    if callable(shutdown):
        shutdown()
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError):  # a closed pipe: nothing to add
            stream.flush()
    os._exit(code)


def _fail(exc: Exception) -> None:
    from exops.core.errors import ExopsError

    code = exc.exit_code if isinstance(exc, ExopsError) else 1
    print(f"exops: error: {exc}", file=sys.stderr)
    sys.exit(code)


def _version(value: bool) -> None:
    if value:
        from exops import __version__

        print(f"exops {__version__}")
        raise typer.Exit(0)


# Options given before the command (`exops --inventory DIR status`), for this
# invocation only: the root callback sets them on every call.
_global_options: dict[str, Any] = {}


@app.callback()
def _root(
    version: Annotated[
        bool,
        typer.Option("--version", callback=_version, is_eager=True, help="Print the version."),
    ] = False,
    inventory: Annotated[
        Path | None,
        typer.Option(
            "--inventory",
            "-i",
            help="Inventory directory for the command that follows (the same as its own "
            "--inventory, which wins) [env EXOPS_INVENTORY].",
            show_default=False,
            metavar="DIR",
        ),
    ] = None,
) -> None:
    """Idempotent, dry-run-first runbooks for Cisco Expressway / VCS clusters."""
    _global_options.clear()
    _global_options["inventory"] = inventory


def _global_inventory(given: Path | None) -> Path | None:
    """A command's own --inventory, else the one given before the command."""
    return given if given is not None else _global_options.get("inventory")


def _env(**conn: Any) -> Any:
    """Settings and inventory from the connection flags; warns loudly about --insecure
    and says once when the default ./inventory is exops's example inventory."""
    from exops.run.env import Env

    if "inventory" in conn:
        conn["inventory"] = _global_inventory(conn["inventory"])
    env = Env.build(**conn)
    note = env.example_note()
    if note:
        print(f"exops: {note}", file=sys.stderr)
    _record_manifest(env)
    if env.settings.insecure:
        from exops.cli.screen import console

        console(stderr=True).print(
            "[bold red]WARNING:[/] HTTPS certificate verification is OFF (--insecure): "
            "anyone on the path can impersonate the appliances and read the admin password."
        )
    return env


def _record_manifest(env: Any) -> None:
    """With EXOPS_RECORD_DIR, the transcript says which peer belongs to which cluster."""
    import os

    if os.environ.get("EXOPS_RECORD_DIR"):
        from exops.appliance import record

        recorder = record.active()
        if recorder is not None:
            recorder.write_manifest(record.manifest_of(env.inventory))


# -- shared options ------------------------------------------------------------
# Declared once; each command takes the groups it needs (``_command`` appends
# them to the command's own parameters and turns them into an Env / RunOptions).

_KW = inspect.Parameter.KEYWORD_ONLY


def _p(name: str, annotation: object, default: object = None) -> inspect.Parameter:
    return inspect.Parameter(name, _KW, annotation=annotation, default=default)


_READ_CONN = [
    _p("inventory", o.Inventory, None),
    _p("ca_bundle", o.CaBundle, None),
    _p("insecure", o.Insecure, False),
    _p("transport", o.Transport, None),
    _p("accept_new_host_keys", o.AcceptHostKeys, False),
    _p("read_timeout", o.ReadTimeout, None),
]
_CONN_OPTIONS = [
    *_READ_CONN,
    _p("restart_timeout", o.RestartTimeout, None),
    _p("settle_timeout", o.SettleTimeout, None),
    _p("state_url", o.StateUrl, None),
]
_RUN_OPTIONS = [
    _p("dry_run", o.DryRun, False),
    _p("yes", o.Yes, False),
    _p("json_out", o.Json, False),
    _p("events", o.Events, None),
    _p("fmt", o.Format, None),
    _p("out", o.Out, None),
    _p("lock_timeout", o.LockTimeout, None),
    _p("detailed_exitcode", o.DetailedExit, False),
    _p("verbose", o.Verbose, False),
]
_PLAN_OPTIONS = [
    _p("json_out", o.Json, False),
    _p("fmt", o.Format, None),
    _p("out", o.Out, None),
    _p("detailed_exitcode", o.DetailedExit, False),
]
_APPLY_OPTIONS = [
    p for p in _RUN_OPTIONS if p.name in ("yes", "json_out", "events", "lock_timeout", "verbose")
]
_RESTORE_OPTIONS = [
    p for p in _RUN_OPTIONS if p.name in ("dry_run", "yes", "json_out", "events", "fmt")
] + [_p("lock_timeout", o.LockTimeout, None)]
_METAVARS = {"peer": "PEER", "time": "TIME", "int": "N", "mapping": "FQDN=IP", "str": "TEXT"}


def _split(kwargs: dict[str, Any], keys: list[str]) -> dict[str, Any]:
    return {k: kwargs.pop(k) for k in keys if k in kwargs}


def _command(
    name: str,
    *,
    conn: list[inspect.Parameter],
    run: list[inspect.Parameter] | None = None,
    extra_args: bool = False,
    app_: typer.Typer = app,
) -> Callable[[Callable[..., int]], Callable[..., int]]:
    """Register ``fn(env, [opts,] **own) -> exit code`` as a command whose options are
    its own parameters plus the shared groups: ``conn`` becomes ``env`` (settings +
    inventory), ``run`` becomes ``opts`` (exops.cli.runs.RunOptions)."""

    def decorate(fn: Callable[..., int]) -> Callable[..., int]:
        own = [
            p.replace(kind=_KW)
            for p in inspect.signature(fn, eval_str=True).parameters.values()
            if p.name not in ("env", "opts")
        ]

        def command(**kwargs: Any) -> None:
            env = _env(**_split(kwargs, [p.name for p in conn]))
            if run is not None:
                from exops.cli.runs import RunOptions

                kwargs["opts"] = RunOptions(**_split(kwargs, [p.name for p in run]))
            raise typer.Exit(fn(env=env, **kwargs))

        command.__signature__ = inspect.Signature([*own, *(run or []), *conn])  # type: ignore[attr-defined]
        command.__doc__ = fn.__doc__
        command.__name__ = fn.__name__
        settings = EXTRA_ARGS if extra_args else None
        app_.command(
            name, context_settings=settings, short_help=short_help(fn.__doc__), epilog=epilog(name)
        )(command)
        return fn

    return decorate


# -- read side --------------------------------------------------------------


@_command("status", conn=_READ_CONN)
def status(env: Any, cluster: o.Clusters = None, json_out: o.Json = False) -> int:
    """Show each cluster's peers, primary, replication, alarms and a verdict."""
    from exops.cli import read

    return read.status(env, cluster, json_out=json_out)


@_command("check", conn=_READ_CONN)
def check(
    env: Any,
    cluster: o.Clusters = None,
    peer: Annotated[
        str | None,
        typer.Option(
            "--peer", "-p", help="Check the prerequisites for adding this peer.", metavar="PEER"
        ),
    ] = None,
    json_out: o.Json = False,
) -> int:
    """Run the clustering prerequisites (domain checks) with evidence per peer."""
    from exops.cli import read

    return read.check(env, cluster, peer, json_out=json_out)


# -- runbooks ---------------------------------------------------------------
# Each runbook command's own options come from the runbook file's params.


def _param_option(meta: Any) -> inspect.Parameter:
    """The Typer option of one runbook parameter (exops.runbook.catalog.ParamMeta)."""
    flag = meta.flag or "--" + meta.name.replace("_", "-")
    names = [flag]
    if meta.type == "peer":
        names.append("-p")
    help_text = meta.help + (f" One of: {', '.join(meta.choices)}." if meta.choices else "")
    if meta.type == "bool":
        default = bool(meta.default) if meta.default is not None else False
        return _p(meta.name, Annotated[bool, typer.Option(*names, help=help_text)], default)
    metavar = "|".join(meta.choices) if meta.choices else _METAVARS.get(meta.type, "TEXT")
    if meta.type == "mapping":
        option = typer.Option(*names, help=help_text + " Repeat for several.", metavar=metavar)
        return _p(meta.name, Annotated[list[str] | None, option], None)
    if meta.required:
        option = typer.Option(*names, help=help_text, metavar=metavar)
        return _p(meta.name, Annotated[str, option], inspect.Parameter.empty)
    # A default computed from the cluster ("{{ cluster.first_host }}") is told in the help
    # text itself; only a plain value is shown as [default: ...].
    plain = meta.default not in (None, "") and "{{" not in str(meta.default)
    default_note = f" [default: {meta.default}]" if plain else ""
    option = typer.Option(*names, help=help_text + default_note, metavar=metavar)
    return _p(meta.name, Annotated[str | None, option], None)


# The functions of the runbook commands made so far (``_make_runbook_command``).
_RUNBOOK_MADE: set[Callable[..., Any]] = set()


def _make_runbook_command(meta: Any, into: typer.Typer = app) -> None:
    visible = [p for p in meta.params if not p.hidden]

    def command(**kwargs: Any) -> None:
        from exops.cli import runs

        env = _env(**_split(kwargs, [p.name for p in _CONN_OPTIONS]))
        opts = runs.RunOptions(**_split(kwargs, [p.name for p in _RUN_OPTIONS]))
        clusters = [str(c) for c in kwargs.pop("cluster")]
        resume = bool(kwargs.pop("resume", False))
        accept = kwargs.pop("accept", None)
        drains = _drain_options(meta, kwargs, accept, opts)
        if drains is not None:
            accept = [a for a in accept or () if a not in drains.accept] or None

        def params_for(cluster: str) -> dict[str, Any]:
            return with_accepted(cli_params(meta, dict(kwargs), env, cluster), accept)

        if drains is not None:
            from exops.cli.drain import restart_drained

            params = params_for(clusters[0]) if len(clusters) == 1 else {}
            code = restart_drained(env, clusters, params, opts, drains, resume=resume)
        elif len(clusters) == 1:
            code = runs.run_one(
                env, meta.name, clusters[0], params_for(clusters[0]), opts, resume=resume
            )
        else:
            code = runs.run_fleet(env, meta.name, clusters, params_for, opts, resume=resume)
        raise typer.Exit(code)

    own = [_param_option(p) for p in visible]
    if meta.name in DRAINED:
        own += [
            _p("drain", o.Drain, False),
            _p("max_calls", o.MaxCalls, 0),
            _p("max_registrations", o.MaxRegistrations, 0),
            _p("drain_timeout", o.DrainTimeout, 1800.0),
        ]
    if meta.preflight:
        own.append(_p("accept", DRAINED.get(meta.name, o.Accept), None))
    if meta.resumable:
        own.append(
            _p(
                "resume",
                Annotated[
                    bool,
                    typer.Option(
                        "--resume",
                        help="Skip peers already restarted since the last failed run began.",
                    ),
                ],
                False,
            )
        )
    command.__signature__ = inspect.Signature(  # type: ignore[attr-defined]
        [_p("cluster", o.RunClusters, inspect.Parameter.empty), *own, *_RUN_OPTIONS, *_CONN_OPTIONS]
    )
    command.__doc__ = meta.description
    command.__name__ = meta.name.replace("-", "_")
    required = [p.flag or "--" + p.name.replace("_", "-") for p in visible if p.required]
    _RUNBOOK_MADE.add(command)
    into.command(
        meta.name,
        short_help=short_help(meta.description),
        epilog=epilog(meta.name, runbook_examples(meta.name, required)),
    )(command)


# Runbooks whose restarts `--drain` may drain first, with their --accept (the
# preflight checks and the drain's own names).
DRAINED: dict[str, Any] = {
    "restart": Annotated[
        list[str] | None,
        typer.Option(
            "--accept",
            help=o.ACCEPT_HELP + " With --drain also: manual-maintenance, "
            "unverified-maintenance (see exops drain --help).",
            metavar="NAME",
        ),
    ]
}


def _drain_options(meta: Any, kwargs: dict[str, Any], accept: Any, opts: Any) -> Any:
    """``--drain`` and its options taken out of ``kwargs``: exops.tools.drain.DrainOptions
    (the drain's --accept names among ``accept``), or None without --drain."""
    if meta.name not in DRAINED:
        return None
    from exops.appliance.maintenance import ACCEPT_MANUAL, ACCEPT_UNVERIFIED
    from exops.cli.drain import drain_options
    from exops.core.errors import UsageError

    own = _split(kwargs, ["drain", "max_calls", "max_registrations", "drain_timeout"])
    names = [a for a in accept or () if a in (ACCEPT_MANUAL, ACCEPT_UNVERIFIED)]
    if not own.get("drain"):
        if names:
            raise UsageError(f"--accept {names[0]}: only with --drain (it accepts a drain step)")
        return None
    given = (own["max_calls"], own["max_registrations"], own["drain_timeout"], names)
    return drain_options(given, opts.yes, opts.dry_run, opts.lock_timeout)


def with_accepted(params: dict[str, Any], accept: list[str] | None) -> dict[str, Any]:
    """``--accept NAME...`` joins the runbook parameters (the planner validates the names
    and keeps them in the plan's params, so the journal records them)."""
    return {**params, "accept": list(accept)} if accept else params


def cli_params(meta: Any, given: dict[str, Any], env: Any, cluster: str) -> dict[str, Any]:
    """A runbook command's own flags as runbook parameters (typed by the runbook).

    Raises:
        UsageError: an unknown peer or a malformed ``FQDN=IP`` pair.
    """
    spec = env.inventory.cluster(cluster)
    types = {p.name: p for p in meta.params}
    params: dict[str, Any] = {}
    for name, value in given.items():
        if value is None or name not in types:
            continue
        kind = types[name].type
        if kind == "peer":
            spec.peer(str(value))
        if kind == "mapping":
            params[name] = _mapping_pairs(types[name].flag or f"--{name}", list(value))
        else:
            params[name] = value
    return params


def _mapping_pairs(flag: str, pairs: list[str]) -> dict[str, str]:
    from exops.core.errors import UsageError
    from exops.core.models import MAX_PEERS
    from exops.inventory import is_address, is_fqdn

    if len(pairs) > MAX_PEERS:
        raise UsageError(
            f"{flag}: {len(pairs)} FQDN=IP pairs given; the cluster address mapping holds at "
            f"most {MAX_PEERS} (one row per peer)"
        )
    mapping: dict[str, str] = {}
    for pair in pairs:
        name, sep, ip = pair.partition("=")
        if not sep or not is_fqdn(name) or not is_address(ip) or is_fqdn(ip):
            raise UsageError(
                f"{flag} {pair!r}: expected FQDN=IP, e.g. exp-e-1.example.com=192.0.2.11"
            )
        mapping[name.lower()] = ip
    return mapping


def _register_runbooks() -> None:
    """The runbook commands, in the command list where they were registered at import
    before (after ``check``): on the first read of the list (``_App``)."""
    from exops.runbook.catalog import shipped

    commands = app._registered
    end = len(commands)
    for meta in shipped().values():
        _make_runbook_command(meta)
    added = commands[end:]
    del commands[end:]
    commands[_RUNBOOKS_AT:_RUNBOOKS_AT] = added


_RUNBOOKS_AT = len(app.registered_commands)


def extra_params(meta: Any, args: list[str], env: Any, cluster: str) -> dict[str, Any]:
    """``--name value`` flags after ``exops plan/run RUNBOOK``, typed by the runbook.

    Raises:
        UsageError: a flag the runbook does not declare, or a missing value.
    """
    from exops.core.errors import UsageError

    by_flag: dict[str, tuple[Any, Any]] = {}
    for p in meta.params:
        if p.hidden:
            continue
        flags = (p.flag or "--" + p.name.replace("_", "-")).split("/")
        if p.type == "bool":
            by_flag[flags[0]] = (p, True)
            by_flag[flags[1] if len(flags) > 1 else "--no-" + flags[0][2:]] = (p, False)
        else:
            by_flag[flags[0]] = (p, None)
            if p.type == "peer":
                by_flag["-p"] = (p, None)
    given: dict[str, Any] = {}
    i = 0
    while i < len(args):
        token, _, inline = args[i].partition("=")
        if token not in by_flag:
            known = ", ".join(sorted(f for f in by_flag if f.startswith("--"))) or "none"
            raise UsageError(f"{args[i]}: not a parameter of runbook {meta.name} (known: {known})")
        p, fixed = by_flag[token]
        if fixed is not None:
            given[p.name] = fixed
            i += 1
            continue
        if inline:
            value = inline
        elif i + 1 < len(args):
            i += 1
            value = args[i]
        else:
            raise UsageError(f"{token}: needs a value")
        given[p.name] = [*given.get(p.name, []), value] if p.type == "mapping" else value
        i += 1
    return cli_params(meta, given, env, cluster)


def _file_meta(ref: str) -> Any:
    from exops.runbook.catalog import meta_from, shipped

    if ref in shipped():
        return shipped()[ref]
    from exops.runbook.loader import load_runbook

    runbook = load_runbook(ref)
    data = {
        "description": runbook.description,
        "params": {n: dataclasses.asdict(s) for n, s in runbook.params.items()},
    }
    return meta_from(data, runbook.name)


def _generic_params(
    ref: str, pairs: list[str] | None, extra: list[str], env: Any, cluster: str
) -> dict[str, Any]:
    from exops.cli.params import parse_params

    params = parse_params(pairs or [])
    if extra:
        params.update(extra_params(_file_meta(ref), extra, env, cluster))
    return params


_RUNBOOK_ARG = Annotated[
    str, typer.Argument(help="A shipped runbook name or a runbook file.", metavar="RUNBOOK")
]
_PARAM_OPT = Annotated[
    list[str] | None,
    typer.Option(
        "--param",
        "-P",
        help="Runbook parameter NAME=VALUE; repeat. The runbook's own flags work too "
        "(e.g. --peer P).",
        metavar="NAME=VALUE",
    ),
]


def _generic(name: str, conn: list[inspect.Parameter], run: list[inspect.Parameter]) -> None:
    """``exops run`` / ``exops plan``: any runbook by name or file, its parameters as
    ``-P NAME=VALUE`` or its own flags."""

    def command(
        env: Any,
        opts: Any,
        ctx: typer.Context,
        runbook: _RUNBOOK_ARG,
        cluster: o.Cluster,
        param: _PARAM_OPT = None,
        accept: o.Accept = None,
    ) -> int:
        from exops.cli import runs

        params = with_accepted(
            _generic_params(runbook, param, list(ctx.args), env, cluster), accept
        )
        act = runs.run_one if name == "run" else runs.plan_one
        return act(env, runbook, cluster, params, opts)

    command.__name__ = f"{name}_command"
    command.__doc__ = {
        "run": "Run any runbook (a shipped name or your own file).",
        "plan": "Plan a runbook and print or save the plan (no change is made).",
    }[name]
    _command(name, conn=conn, run=run, extra_args=True)(command)


_generic("run", _CONN_OPTIONS, _RUN_OPTIONS)
_generic("plan", _READ_CONN, _PLAN_OPTIONS)


@_command("apply", conn=_CONN_OPTIONS, run=_APPLY_OPTIONS)
def apply_command(
    env: Any,
    opts: Any,
    plan_file: Annotated[
        Path, typer.Argument(help="A plan saved with `exops plan --out`.", metavar="PLAN")
    ],
) -> int:
    """Apply exactly a saved plan, after planning again: refused when anything changed."""
    from exops.cli import runs

    return runs.apply_saved(env, plan_file, opts)


# -- safety and records ------------------------------------------------------


@_command("restore", conn=_CONN_OPTIONS, run=_RESTORE_OPTIONS)
def restore(
    env: Any,
    opts: Any,
    cluster: o.Cluster,
    peer: Annotated[str, typer.Option("--peer", "-p", help="The peer to restore.", metavar="PEER")],
    backup: Annotated[
        Path | None,
        typer.Option("--backup", help="Backup file (default: the newest).", metavar="FILE"),
    ] = None,
) -> int:
    """Put a peer's peer list back (a backup, or the cluster's own list); never a
    cluster-wide setting, never a primary the cluster does not agree on."""
    from exops.cli import runs

    return runs.restore(env, cluster, peer, backup, opts)


def _register_lifecycle() -> None:
    """``snapshot`` and ``diff`` (exops/cli/snapshots.py), ``drain`` (exops/cli/drain.py)."""
    from exops.cli import drain, snapshots

    snapshots.register(_command, _READ_CONN)
    drain.register(_command, _CONN_OPTIONS)


_register_lifecycle()


def _register_upgrade() -> None:
    """``upgrade`` (exops/cli/upgrade.py)."""
    from exops.cli import upgrade

    upgrade.register(_command, _CONN_OPTIONS)


_register_upgrade()
def _register_certs() -> None:
    """``renew-cert`` (exops/cli/renewcert.py)."""
    from exops.cli import renewcert

    renewcert.register(_command, _CONN_OPTIONS, app)


_register_certs()


@app.command(short_help=short_help(
    "Remove a cluster lock whose holder died; a live holder only with --force."
), epilog=epilog("unlock"))
def unlock(
    cluster_arg: Annotated[
        str | None,
        typer.Argument(
            help="Deprecated: the cluster as an argument (use -c CLUSTER).",
            metavar="CLUSTER",
            show_default=False,
        ),
    ] = None,
    cluster: Annotated[
        str | None,
        typer.Option(
            "--cluster", "-c", help="The cluster whose lock to remove.", metavar="CLUSTER"
        ),
    ] = None,
    force: Annotated[
        bool,
        typer.Option(
            "--force",
            help="Also end a holder that is still alive (it is shown first; refused without).",
        ),
    ] = False,
    state_url: o.StateUrl = None,
) -> None:
    """Remove a cluster lock whose holder died; a live holder only with --force."""
    from exops.cli import records
    from exops.core.errors import UsageError

    if cluster and cluster_arg and cluster != cluster_arg:
        raise UsageError(f"unlock: two clusters given ({cluster_arg}, -c {cluster}); give one")
    if not (cluster or cluster_arg):
        raise UsageError("unlock: which cluster? give -c CLUSTER")
    if cluster_arg and not cluster:
        print(
            f"exops: note: `exops unlock {cluster_arg}` is deprecated; "
            f"use `exops unlock -c {cluster_arg}`",
            file=sys.stderr,
        )
    raise typer.Exit(records.unlock(str(cluster or cluster_arg), force=force, state_url=state_url))


@app.command(
    short_help="List past runs from the journal, newest first.", epilog=epilog("history")
)
def history(
    cluster: o.Clusters = None,
    limit: Annotated[
        int,
        typer.Option("--limit", help="How many runs (1-100000).", metavar="N", min=1, max=100_000),
    ] = 20,
    runbook: Annotated[
        str | None,
        typer.Option("--runbook", "-r", help="Only runs of this runbook.", metavar="NAME"),
    ] = None,
    status: Annotated[
        o.RunStatusName | None,
        typer.Option("--status", help="Only runs that ended so.", metavar="STATUS"),
    ] = None,
    since: Annotated[
        str | None,
        typer.Option(
            "--since",
            help="Only runs started at or after: an ISO date or time (local unless it has an "
            "offset) or an age (30m, 2h, 7d).",
            metavar="TIME",
        ),
    ] = None,
    until: Annotated[
        str | None,
        typer.Option(
            "--until",
            help="Only runs started at or before (a date: the whole day).",
            metavar="TIME",
        ),
    ] = None,
    json_out: o.Json = False,
    state_url: o.StateUrl = None,
) -> None:
    """List past runs from the journal, newest first (every host's, in team mode):
    when, parameters, outcome, how long, how many changes."""
    from exops.cli import records

    raise typer.Exit(
        records.history(
            cluster,
            limit,
            json_out=json_out,
            state_url=state_url,
            runbook=runbook,
            status=status,
            since=since,
            until=until,
        )
    )


@app.command(
    short_help="Show one run: outcome, failure and what to do, steps, plan, rollback.",
    epilog=epilog("show"),
)
def show(
    run_id: Annotated[
        str,
        typer.Argument(
            help="A run id from `exops history`, or enough of its start to name one run.",
            metavar="RUN",
        ),
    ],
    json_out: o.Json = False,
    fmt: o.Format = None,
    state_url: o.StateUrl = None,
) -> None:
    """Show one run: parameters, outcome, duration, a failure's error and what to do,
    every step's outcome, the plan it applied and how to roll back."""
    from exops.cli import records

    raise typer.Exit(records.show(run_id, json_out=json_out, fmt=fmt, state_url=state_url))


@state_app.command("migrate", epilog=epilog("migrate"))
def state_migrate(
    src: Annotated[
        str, typer.Option("--from", help="The store to copy: sqlite:///DIR.", metavar="URL")
    ],
    dst: Annotated[
        str,
        typer.Option("--to", help="The team store: postgresql://USER@HOST/DB.", metavar="URL"),
    ],
) -> None:
    """Copy a journal and its backups into another store (idempotent: nothing twice)."""
    from exops.cli import records

    raise typer.Exit(records.state_migrate(src, dst))


@app.command(
    "config",
    short_help="Show the effective settings and where each came from.",
    epilog=epilog("config"),
)
def config_command(json_out: o.Json = False) -> None:
    """Show the effective settings and where each came from (flag, env, file, default)."""
    from exops.cli import config

    raise typer.Exit(config.show(json_out=json_out))


@logs_app.command(
    "analyze",
    short_help="Timeline and verdict per peer from Expressway logs.",
    epilog=epilog("analyze"),
)
def logs_analyze(
    files: Annotated[
        list[Path] | None,
        typer.Argument(
            help="Log files or pasted excerpts, '-' for stdin (default: fetch).", metavar="FILE"
        ),
    ] = None,
    cluster: o.Clusters = None,
    lines: Annotated[
        int, typer.Option("--lines", help="Lines to fetch per peer.", metavar="N")
    ] = 2000,
    since: Annotated[
        str | None,
        typer.Option(
            "--since", help="Only entries at or after this ISO time or date.", metavar="TIME"
        ),
    ] = None,
    until: Annotated[
        str | None,
        typer.Option(
            "--until",
            help="Only entries at or before this ISO time or date (date: whole day).",
            metavar="TIME",
        ),
    ] = None,
    peer: Annotated[
        list[str] | None,
        typer.Option(
            "--peer",
            help="Only entries logged by this peer (as the log names it); repeat.",
            metavar="PEER",
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
            conn={
                "inventory": _global_inventory(inventory),
                "ca_bundle": ca_bundle,
                "insecure": insecure,
            },
        )
    )


# -- first contact and rehearsal (exops/cli/probe.py) -------------------------------

_RECORD_OPT = Annotated[
    Path | None,
    typer.Option(
        "--record",
        help="Save every request and answer as replayable transcripts in DIR (secrets removed) "
        "[env EXOPS_RECORD_DIR].",
        metavar="DIR",
    ),
]


@_command("probe", conn=_READ_CONN)
def probe_command(
    env: Any,
    cluster: o.Cluster,
    peer: Annotated[
        str | None, typer.Option("--peer", "-p", help="Probe only this peer.", metavar="PEER")
    ] = None,
    json_out: o.Json = False,
    record: _RECORD_OPT = None,
) -> int:
    """Read-only first contact: interfaces, fields read, and which runbooks can run.

    Exit 0 when every peer was read fully, 1 when some peer could not be.
    """
    from exops.cli import probe

    return probe.probe(env, cluster, peer=peer, json_out=json_out, record=record)


@_command("rehearse", conn=_READ_CONN, extra_args=True)
def rehearse_command(
    env: Any,
    ctx: typer.Context,
    runbook: _RUNBOOK_ARG,
    cluster: o.Cluster,
    param: _PARAM_OPT = None,
    time_scale: Annotated[
        float,
        typer.Option(
            "--time-scale",
            help="Clone seconds per real second (0.01: 100x faster).",
            min=0.001,
            metavar="FACTOR",
        ),
    ] = 0.01,
    inject: Annotated[
        list[str] | None,
        typer.Option(
            "--inject",
            help="FAULT[:PEER]@STEP: unreachable | restart_hang | replication_error, "
            "injected when the step (action id or step name) starts; repeat.",
            metavar="FAULT@STEP",
        ),
    ] = None,
    fmt: o.Format = None,
    json_out: o.Json = False,
    out: o.Out = None,
    keep: Annotated[
        Path | None,
        typer.Option(
            "--keep", help="Keep the clone's directory (spec, lab, logs) here.", metavar="DIR"
        ),
    ] = None,
) -> int:
    """Rehearse a runbook on a simulated clone of the cluster (the real one is only read)."""
    from exops.cli import probe

    params = _generic_params(runbook, param, list(ctx.args), env, cluster)
    return probe.rehearse(
        env,
        runbook,
        cluster,
        params,
        time_scale=time_scale,
        inject=inject,
        fmt=fmt,
        json_out=json_out,
        out=out,
        keep=keep,
    )


app._late = _register_runbooks  # every command above is registered: the runbooks join on use


if __name__ == "__main__":  # pragma: no cover
    main()

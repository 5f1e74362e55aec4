"""``exops snapshot`` and ``exops diff``: parse, hand off to exops.tools.snapshot, render.

Registered on the app by ``register`` (exops/cli/app.py calls it once), so the
commands live here and app.py only names them.
"""

from __future__ import annotations

import inspect
import json
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Annotated, Any

import typer

from exops.cli import options as o
from exops.cli.screen import escape
from exops.core.errors import UsageError
from exops.core.exitcodes import ExitCode

if TYPE_CHECKING:
    from rich.console import Console

    from exops.cli.display import PeerWait


def console(*, stderr: bool = False) -> Console:
    """exops.cli.display's console, imported on first use: the display pulls in the
    run stack, which `exops --help` must not load (bench/startup.py)."""
    from exops.cli.display import console as make

    return make(stderr=stderr)


Snap = Annotated[
    list[str] | None,
    typer.Argument(
        help="Snapshot ids (or the ids of the runs that took them), from `exops snapshot "
        "--list` or `exops history`.",
        metavar="SNAP",
        show_default=False,
    ),
]
Limit = Annotated[
    int,
    typer.Option(
        "--limit", help="How many snapshots to list (1-100000).", metavar="N", min=1, max=100_000
    ),
]


def _wait(env: Any, clusters: list[str], json_out: bool) -> PeerWait:
    from exops.cli.display import PeerWait

    names = [p.name for c in env.inventory.select(clusters) for p in c.peers]
    return PeerWait(console(stderr=True), names)


Clusters = Annotated[
    list[str] | None,
    typer.Option(
        "--cluster",
        "-c",
        help="Cluster to snapshot (inventory group); repeat for several. With --list: "
        "only its snapshots.",
        metavar="CLUSTER",
    ),
]


def snapshot(
    env: Any,
    cluster: Clusters = None,
    list_: Annotated[
        bool, typer.Option("--list", help="List stored snapshots (of -c C, or all).")
    ] = False,
    show: Annotated[
        str | None,
        typer.Option("--show", help="Print one stored snapshot, every setting.", metavar="SNAP"),
    ] = None,
    limit: Limit = 20,
    json_out: o.Json = False,
    lock_timeout: o.LockTimeout = None,
) -> int:
    """Store each peer's configuration (what its interfaces read) in the state store.

    Takes a snapshot of each -c cluster (a run of its own, listed by `exops history`);
    --list lists the stored ones, --show one of them. Secrets are never stored; the
    appliance's own encrypted backup is another thing (docs/snapshots.md).
    Exit 0, or 6 when some peer could not be read whole (stored all the same).
    """
    from exops.tools import snapshot as tool

    if list_ or show:
        if list_ and show:
            raise UsageError("--list and --show: give one of them")
        if show:
            return _show(tool.show(env, show), json_out)
        return _list(tool.listed(env, cluster, limit), json_out)
    if not cluster:
        raise UsageError("exops snapshot: name the cluster(s) with -c CLUSTER (or --list)")
    code = 0
    docs = []
    for name in cluster:
        with _wait(env, [name], json_out) as wait:
            taken = tool.take(env, name, lock_timeout=lock_timeout, on_peer=wait.done)
        code = max(code, taken.exit_code)
        docs.append(taken.to_json())
        if not json_out:
            _taken(taken)
    if json_out:
        sys.stdout.write(json.dumps(docs[0] if len(docs) == 1 else docs, indent=2) + "\n")
    return code


def _taken(taken: Any) -> None:
    out = console()
    settings = sum(len(p["values"]) for p in taken.peers)
    out.print(
        f"snapshot {taken.snapshot_id} of cluster {escape(taken.cluster)}: "
        f"{len(taken.peers)} peers, {settings} settings, stored {taken.taken_at} "
        f"(run {taken.run_id}; compare later: exops diff {taken.snapshot_id} -c "
        f"{escape(taken.cluster)})"
    )
    offered: dict[str, list[str]] = {}
    for p in taken.peers:
        groups = {k: v for k, v in p["unknown"].items() if k not in p["values"]}
        if groups:
            missing = "; ".join(f"{k}: {v}" for k, v in groups.items())
            out.print(f"  [red]{escape(p['host'])}: not read[/]: {escape(missing)}")
        for key in p["unknown"]:
            if key in p["values"]:
                offered.setdefault(key, []).append(p["host"])
    for key, hosts in offered.items():
        why = next(p["unknown"][key] for p in taken.peers if key in p["unknown"])
        out.print(f"  unknown {escape(key)} ({escape(why)}): {escape(', '.join(hosts))}")


def _list(rows: list[dict[str, Any]], json_out: bool) -> int:
    from rich.table import Table

    if json_out:
        doc = {"schema": "exops.snapshots/1", "snapshots": rows}
        sys.stdout.write(json.dumps(doc, indent=2) + "\n")
        return int(ExitCode.OK)
    table = Table(title="exops snapshots", title_justify="left")
    for col in ("snapshot", "taken", "cluster", "peers", "run", "user"):
        table.add_column(col)
    for r in rows:
        table.add_row(
            str(r["snapshot_id"]),
            str(r["taken_at"]),
            str(r["cluster"]),
            str(r["peer_count"]),
            str(r["run_id"]),
            f"{r['user']}@{r['host']}",
        )
    console().print(table)
    return int(ExitCode.OK)


def _show(snap: dict[str, Any], json_out: bool) -> int:
    from rich.table import Table

    from exops.report.diff import snapshot_json

    if json_out:
        sys.stdout.write(snapshot_json(snap))
        return int(ExitCode.OK)
    out = console()
    out.print(
        f"snapshot {snap['snapshot_id']} of cluster {escape(str(snap['cluster']))}, taken "
        f"{snap['taken_at']} by {escape(str(snap['user']))}@{escape(str(snap['host']))} "
        f"(run {snap['run_id']})"
    )
    for p in snap["peers"]:
        table = Table(title=f"{p['host']} ({p['address']})", title_justify="left")
        table.add_column("setting")
        table.add_column("value")
        for key, value in p["values"].items():
            table.add_row(escape(key), "[red]unknown[/]" if value is None else escape(value))
        for key, why in p["unknown"].items():
            if key not in p["values"]:
                table.add_row(escape(key), f"[red]not read[/]: {escape(why)}")
        out.print(table)
    return int(ExitCode.OK)


def diff(
    env: Any,
    snap: Snap = None,
    cluster: Annotated[
        str | None,
        typer.Option(
            "--cluster", "-c", help="Compare with this cluster read now (live).", metavar="CLUSTER"
        ),
    ] = None,
    all_rows: Annotated[
        bool, typer.Option("--all", help="Also list the settings that did not change.")
    ] = False,
    json_out: o.Json = False,
    detailed_exitcode: Annotated[
        bool, typer.Option("--detailed-exitcode", help="Exit 5 when there is drift.")
    ] = False,
) -> int:
    """Show configuration drift per peer and setting.

    exops diff SNAP1 SNAP2: between two snapshots; exops diff SNAP -c C: a snapshot
    against the cluster read now; exops diff -c C: its latest snapshot against now.
    Exit 0 (or 5 with --detailed-exitcode when there is drift); 6 when a peer or a
    group of its settings could not be read on a side (the diff is incomplete).
    """
    from exops.tools import snapshot as tool

    refs = list(snap or [])
    if cluster is not None and len(refs) < 2:
        with _wait(env, [cluster], json_out) as wait:
            result = tool.diff(env, refs, cluster, on_peer=wait.done)
    else:
        result = tool.diff(env, refs, cluster)
    if json_out:
        sys.stdout.write(json.dumps(result.to_json(all_rows=all_rows), indent=2) + "\n")
    else:
        render_diff(result, all_rows=all_rows)
    return tool.diff_exit_code(result, detailed=detailed_exitcode)


_STYLE = {"changed": "yellow", "added": "green", "removed": "red", "unknown": "red", "same": "dim"}


def render_diff(result: Any, *, all_rows: bool = False) -> None:
    from rich.table import Table

    out = console()
    b, a = result.before, result.after
    title = f"cluster {b.cluster}: {b.label} ({b.taken_at}) -> {a.label}" + (
        f" ({a.taken_at})" if a.taken_at else ""
    )
    rows = [r for r in result.rows if all_rows or r.shown]
    out.print(escape(title))
    if rows:
        table = Table()
        for col in ("peer", "setting", "before", "after", "change"):
            table.add_column(col)
        for r in rows:
            style = _STYLE[r.change.value]
            change = f"[{style}]{r.change.value}[/]" + (f": {escape(r.note)}" if r.note else "")
            table.add_row(
                escape(r.host),
                escape(r.setting),
                "-" if r.before is None else escape(r.before),
                "-" if r.after is None else escape(r.after),
                change,
            )
        out.print(table)
    peers = sorted({r.host for r in result.drift})
    if result.drift:
        out.print(
            f"drift: {len(result.drift)} setting(s) on {len(peers)} peer(s): "
            f"{escape(', '.join(peers))}"
        )
    else:
        out.print(f"no drift: {result.compared} setting(s) compared, all equal")
    both = sum(1 for r in result.unknown if r.unknown_both)
    one = len(result.unknown) - both
    if one:
        out.print(f"[red]not compared[/]: {one} setting(s) or group(s) unknown on one side")
    if both:
        hint = "" if all_rows else " (listed with --all)"
        out.print(f"not offered on either side: {both} setting(s){hint}")
    for note in result.notes:
        out.print(f"note: {escape(note)}")


def register(command: Callable[..., Callable[[Callable[..., int]], Any]], conn: list[Any]) -> None:
    """Add ``snapshot`` and ``diff`` to the app through its ``_command`` decorator;
    ``conn``: the connection options (the read ones plus --state-url)."""
    state_url = inspect.Parameter(
        "state_url", inspect.Parameter.KEYWORD_ONLY, annotation=o.StateUrl, default=None
    )
    command("snapshot", conn=[*conn, state_url])(snapshot)
    command("diff", conn=[*conn, state_url])(diff)

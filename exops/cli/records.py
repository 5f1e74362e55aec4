"""``exops unlock``, ``history``, ``show`` and ``state migrate``."""

from __future__ import annotations

import json
import sys
from typing import Any

from rich.table import Table

from exops.cli.read import stderr, stdout
from exops.core.exitcodes import ExitCode
from exops.core.settings import load_settings


def _settings(state_url: str | None) -> Any:
    return load_settings({"state_url": state_url})


def lock_names(cluster: str) -> list[str]:
    """The lock names ``exops unlock CLUSTER`` may mean: the cluster's host-wide lock key
    when the inventory knows it (its name and members' digest), then the name as given
    (a lock key from a refusal, or a lock taken before locks were keyed so)."""
    from exops.core.errors import ExopsError
    from exops.inventory import load_inventory

    settings = load_settings()
    try:
        spec = load_inventory(settings.inventory, settings).clusters.get(cluster)
    except ExopsError:  # no inventory here: the name as given
        spec = None
    return [spec.lock_key, cluster] if spec is not None else [cluster]


def unlock(cluster: str, *, force: bool = False, state_url: str | None = None) -> int:
    """Remove ``cluster``'s lock when its holder is gone; with ``force`` also a live
    holder's (exit 3 without ``--force`` while the holder runs)."""
    from exops.state import open_state

    store = open_state(_settings(state_url))
    try:
        holder = None
        for name in lock_names(cluster):
            holder = store.unlock(name, force=force)
            if holder is not None:
                break
    finally:
        store.close()
    if holder is None:
        stderr().print(f"cluster {cluster} was not locked", markup=False)
    else:
        stderr().print(f"removed the lock on {cluster} held by {holder}", markup=False)
    return int(ExitCode.OK)


def history(
    clusters: list[str] | None, limit: int, *, json_out: bool, state_url: str | None = None
) -> int:
    from exops.state import open_state

    store = open_state(_settings(state_url))
    try:
        runs: list[dict[str, Any]] = []
        for cluster in clusters or [None]:  # type: ignore[list-item]
            runs += store.journal.list_runs(cluster=cluster, limit=limit)
    finally:
        store.close()
    if json_out:
        sys.stdout.write(
            json.dumps({"schema": "exops.history/1", "runs": runs}, indent=2, default=str) + "\n"
        )
        return int(ExitCode.OK)
    table = Table(title="exops runs", title_justify="left")
    for col in ("run", "started", "cluster", "runbook", "status", "exit", "user"):
        table.add_column(col)
    for r in runs:
        table.add_row(
            str(r.get("run_id")),
            str(r.get("started")),
            str(r.get("cluster")),
            str(r.get("runbook")),
            str(r.get("status")),
            str(r.get("exit_code")),
            f"{r.get('user')}@{r.get('host')}",
        )
    stdout().print(table)
    return int(ExitCode.OK)


def show(run_id: str, *, json_out: bool, fmt: str, state_url: str | None = None) -> int:
    from exops.core.errors import UsageError
    from exops.state import open_state

    store = open_state(_settings(state_url))
    try:
        run = store.journal.get_run(run_id)
    finally:
        store.close()
    if run is None:
        raise UsageError(f"no run {run_id!r} in the journal (see `exops history`)")
    if json_out:
        sys.stdout.write(json.dumps(run, indent=2, default=str) + "\n")
        return int(ExitCode.OK)
    if fmt in ("md", "html"):
        from exops.report import render_run

        sys.stdout.write(render_run(run, fmt))
        return int(ExitCode.OK)
    console = stdout()
    console.print(
        f"run {run_id}: {run.get('runbook')} on {run.get('cluster')} - {run.get('status')} "
        f"({run.get('user')}@{run.get('host')})"
    )
    table = Table(title="steps", title_justify="left")
    for col in ("#", "action", "host", "kind", "status", "seconds", "detail"):
        table.add_column(col)
    for s in run.get("steps", []):
        table.add_row(
            str(s.get("seq")),
            str(s.get("action_id")),
            str(s.get("host") or "-"),
            str(s.get("kind")),
            str(s.get("status")),
            f"{float(s.get('duration_s') or 0):.1f}",
            str(s.get("detail") or ""),
        )
    console.print(table)
    return int(ExitCode.OK)


def state_migrate(src: str, dst: str) -> int:
    """``exops state migrate --from sqlite:///PATH --to postgresql://...``."""
    from exops.state.migrate import migrate

    done = migrate(src, dst, connect_timeout_s=load_settings().connect_timeout)
    stderr().print(f"state migrate: {done.summary()}", markup=False)
    return int(ExitCode.OK)

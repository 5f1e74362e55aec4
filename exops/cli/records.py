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


def when(flag: str, value: str | None, *, end: bool = False) -> str | None:
    """``--since``/``--until`` as a UTC ISO time (the journal's form).

    Takes an ISO date (``2024-05-01``: the whole day) or time, with or without an
    offset (without: this machine's local time), or an age: ``30m``, ``2h``, ``7d``.

    Raises:
        UsageError: anything else (one line naming the flag).
    """
    import re
    from datetime import UTC, datetime, time, timedelta

    from exops.core.errors import UsageError

    if value is None:
        return None
    text = value.strip()
    age = re.fullmatch(r"(\d{1,6})\s*([smhdw])", text)
    if age:
        unit = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}
        moment = datetime.now(UTC) - timedelta(**{unit[age[2]]: int(age[1])})
    else:
        try:
            moment = datetime.fromisoformat(text.replace(" ", "T", 1))
        except ValueError:
            raise UsageError(
                f"{flag} {value!r}: expected an ISO date or time (2024-05-01, "
                "2024-05-01T22:30, 2024-05-01T22:30+02:00) or an age (30m, 2h, 7d)"
            ) from None
        if re.fullmatch(r"\d{4}-\d{2}-\d{2}", text):  # a date: the whole day
            moment = datetime.combine(moment.date(), time.max if end else time.min)
        if moment.tzinfo is None:
            moment = moment.astimezone()  # local time
    return moment.astimezone(UTC).isoformat(timespec="milliseconds")


def history(
    clusters: list[str] | None,
    limit: int,
    *,
    json_out: bool,
    state_url: str | None = None,
    runbook: str | None = None,
    status: str | None = None,
    since: str | None = None,
    until: str | None = None,
) -> int:
    from exops.report.text import took
    from exops.state import open_state
    from exops.state.base import RunQuery

    query = RunQuery(
        runbook=runbook,
        status=status,
        since=when("--since", since),
        until=when("--until", until, end=True),
    )
    store = open_state(_settings(state_url))
    try:
        runs: list[dict[str, Any]] = []
        for cluster in clusters or [None]:  # type: ignore[list-item]
            runs += store.journal.list_runs(cluster=cluster, limit=limit, query=query)
    finally:
        store.close()
    if clusters and len(clusters) > 1:  # newest first across the clusters named
        runs = sorted(runs, key=lambda r: str(r.get("started")), reverse=True)[:limit]
    for r in runs:
        r["duration_s"] = _seconds(r.get("started"), r.get("finished"))
    if json_out:
        sys.stdout.write(
            json.dumps({"schema": "exops.history/1", "runs": runs}, indent=2, default=str) + "\n"
        )
        return int(ExitCode.OK)
    table = Table(title="exops runs", title_justify="left")
    for col in ("run", "started (UTC)", "cluster", "runbook", "params", "status", "exit"):
        table.add_column(col, overflow="fold")
    table.add_column("took", no_wrap=True)
    table.add_column("changed", justify="right")
    table.add_column("by", overflow="fold")
    for r in runs:
        table.add_row(
            str(r.get("run_id")),
            _short_time(r.get("started")),
            str(r.get("cluster")),
            str(r.get("runbook")),
            _params(r.get("params")),
            str(r.get("status")),
            "-" if r.get("exit_code") is None else str(r.get("exit_code")),
            took(str(r.get("started")), str(r.get("finished"))),
            str(r.get("changed", "-")),
            f"{r.get('user')}@{r.get('host')}",
        )
    stdout().print(table)
    if not runs:
        stderr().print("no run in the journal matches", markup=False)
    return int(ExitCode.OK)


def _seconds(started: Any, finished: Any) -> float | None:
    from datetime import datetime

    try:
        delta = datetime.fromisoformat(str(finished)) - datetime.fromisoformat(str(started))
    except ValueError:
        return None
    return round(delta.total_seconds(), 3)


def _short_time(value: Any) -> str:
    """``2024-05-01 10:00:00`` from the journal's ``2024-05-01T10:00:00.000+00:00``."""
    text = str(value)
    return text[:19].replace("T", " ") if len(text) >= 19 else text


def _params(params: Any) -> str:
    if not isinstance(params, dict) or not params:
        return "-"
    shown = []
    for name, value in params.items():
        if value is None:
            continue
        if isinstance(value, dict):
            text = ",".join(f"{k}={v}" for k, v in value.items())
        elif isinstance(value, list | tuple):
            text = ",".join(str(v) for v in value)
        else:
            text = str(value)
        shown.append(f"{name}={text}")
    return " ".join(shown) or "-"


def resolve_run_id(journal: Any, given: str) -> str:
    """The run id ``given`` names: itself, or the one run whose id starts with it.

    Raises:
        UsageError: no run, or several (listed, newest first).
    """
    from exops.core.errors import UsageError

    matches = journal.match_run_ids(given, limit=11)
    if given in matches or len(matches) == 1:
        return given if given in matches else str(matches[0])
    if not matches:
        raise UsageError(f"no run {given!r} in the journal (see `exops history`)")
    listed = ", ".join(matches[:10]) + (", ..." if len(matches) > 10 else "")
    raise UsageError(f"run id {given!r} is ambiguous: it starts {listed}; give more of it")


def show(
    run_id: str, *, json_out: bool, fmt: str | None = None, state_url: str | None = None
) -> int:
    """One run from the journal: text (with its plan), md, html or json."""
    from exops.report import render_run
    from exops.state import open_state

    store = open_state(_settings(state_url))
    try:
        run = store.journal.get_run(resolve_run_id(store.journal, run_id))
    finally:
        store.close()
    if run is None:  # resolved above; gone since (another host's migrate or prune)
        from exops.core.errors import UsageError

        raise UsageError(f"no run {run_id!r} in the journal")
    sys.stdout.write(render_run(run, "json" if json_out else (fmt or "text")))
    return int(ExitCode.OK)


def state_migrate(src: str, dst: str) -> int:
    """``exops state migrate --from sqlite:///PATH --to postgresql://...``."""
    from exops.state.migrate import migrate

    done = migrate(src, dst, connect_timeout_s=load_settings().connect_timeout)
    stderr().print(f"state migrate: {done.summary()}", markup=False)
    return int(ExitCode.OK)


def run_in_progress(cluster: str, settings: Any) -> str | None:
    """One line naming the run that holds ``cluster`` now and its step, from the
    journal (its record and its plan), or None when no run of it is going on.

    ``exops status`` prints it first, so a peer that does not answer because the
    run is restarting it reads as the run's doing. A store that cannot be read
    here is no error: status still reads the cluster.
    """
    from exops.core.errors import ExopsError
    from exops.state import open_state
    from exops.state.base import RunQuery

    if settings.state_url is None and not settings.journal_path.exists():
        return None  # no run ever journalled here: nothing to open (or create)
    try:
        store = open_state(settings)
        try:
            running = store.journal.list_runs(
                cluster=cluster, limit=1, query=RunQuery(status="running")
            )
            run = store.journal.get_run(str(running[0]["run_id"])) if running else None
        finally:
            store.close()
    except (ExopsError, OSError):
        return None
    if run is None:
        return None
    since = _short_time(run.get("started"))[11:] or "?"
    head = (
        f"run {run['run_id']} ({run.get('runbook')} by {run.get('user')}@{run.get('host')}, "
        f"since {since} UTC) holds cluster {cluster}"
    )
    actions = (run.get("plan") or {}).get("actions") or []
    done = len(run.get("steps") or [])
    if done >= len(actions):
        return head + ": finishing"
    action = actions[done]
    host = action.get("host")
    doing = f"step {done + 1} of {len(actions)}, {action.get('step')}"
    if action.get("kind") == "restart" and host:
        doing += f" ({host} does not answer while it restarts)"
    return f"{head}: {doing}"


# How long after a run's end its restarts still echo in the logs (alarms clearing).
RESTART_ECHO_S = 300.0


def planned_restarts(
    settings: Any, clusters: list[str] | None, first: Any, last: Any
) -> list[tuple[Any, Any, str]]:
    """``(start, end, label)`` of every journalled run that restarted peers between
    ``first`` and ``last`` (aware datetimes): from its first restart to its end plus
    a few minutes. ``exops logs analyze`` tells these apart from faults. A store that
    cannot be read yields none (the analysis is still made)."""
    from datetime import datetime, timedelta

    from exops.core.errors import ExopsError
    from exops.state import open_state
    from exops.state.base import RunQuery

    if first is None or last is None:
        return []
    if settings.state_url is None and not settings.journal_path.exists():
        return []
    since = (first - timedelta(days=1)).astimezone().isoformat(timespec="milliseconds")
    query = RunQuery(since=when("--since", since), until=when("--until", last.isoformat()))
    windows = []
    try:
        store = open_state(settings)
        try:
            runs = []
            for cluster in clusters or [None]:  # type: ignore[list-item]
                runs += store.journal.list_runs(cluster=cluster, limit=1000, query=query)
            records = [store.journal.get_run(str(r["run_id"])) for r in runs if r.get("changed")]
        finally:
            store.close()
    except (ExopsError, OSError):
        return []
    for run in records:
        if not run:
            continue
        restarts = [
            s for s in run.get("steps") or () if s.get("kind") == "restart" and s.get("started")
        ]
        if not restarts:
            continue
        try:
            start = min(datetime.fromisoformat(str(s["started"])) for s in restarts)
            ends = [
                datetime.fromisoformat(str(s["started"]))
                + timedelta(seconds=float(s.get("duration_s") or 0))
                for s in run.get("steps") or ()
                if s.get("started")
            ]
            end = datetime.fromisoformat(str(run["finished"])) if run.get("finished") else max(ends)
        except (TypeError, ValueError):
            continue
        hosts = ", ".join(dict.fromkeys(str(s.get("host")) for s in restarts))
        label = f"{run.get('runbook')} run {run.get('run_id')} restarted {hosts}"
        windows.append((start, end + timedelta(seconds=RESTART_ECHO_S), label))
    return windows

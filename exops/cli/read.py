"""``exops status`` and ``exops check``: read-only commands."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.markup import escape

from exops.cli.screen import PeerWait, console, status_table
from exops.core.exitcodes import ExitCode
from exops.report.status import SCHEMA, ClusterReport, PeerRow, RunHolder, Verdict
from exops.run.env import Env

if TYPE_CHECKING:  # the check command's models: imported by check only (issue 22)
    from exops.plan.model import CheckResult

__all__ = ["Env", "check", "status", "stderr", "stdout"]

VERDICT_STYLE = {
    Verdict.HEALTHY: "green",
    Verdict.DEGRADED: "yellow",
    Verdict.BROKEN: "bold red",
    Verdict.UNCLUSTERED: "cyan",
    Verdict.UNKNOWN: "bold red",
}


def stdout() -> Console:
    return console()


def stderr() -> Console:
    return console(stderr=True)


def status(env: Env, clusters: list[str] | None, *, json_out: bool) -> ExitCode:
    """Print status; exit 0 when every cluster is healthy or unclustered, 1 otherwise
    (degraded, broken, or unknown: too little could be read to decide)."""
    from exops.run import read

    with _peer_wait(env, clusters) as wait:
        reports = read.status(env, clusters, on_peer=wait.done)
    specs = {c.name: c for c in env.inventory.select(clusters)}
    reports = [
        r.model_copy(update={"run_in_progress": run_holder(specs[r.cluster], env.settings)})
        if r.cluster in specs
        else r
        for r in reports
    ]
    if json_out:
        doc = {"schema": SCHEMA, "clusters": [r.model_dump(mode="json") for r in reports]}
        sys.stdout.write(json.dumps(doc, indent=2) + "\n")
    else:
        from exops.cli.records import run_in_progress

        console = stdout()
        for report in reports:
            held = report.run_in_progress  # a run holds it: say so first, with its step
            if held is not None:
                line = run_in_progress(report.cluster, env.settings) or _holder_line(
                    report.cluster, held
                )
                console.print(f"[yellow]{escape(line)}[/]", soft_wrap=True)
            print_report(console, report)
    return ExitCode.OK if all(read.is_healthy(r) for r in reports) else ExitCode.FAILED


def run_holder(spec: Any, settings: Any) -> RunHolder | None:
    """The run holding ``spec``'s cluster lock now, or None. Cheap by design: with the
    SQLite store it is one open of the cluster's lock file (``flock``'s holder record,
    by the inventory's lock key); the journal is opened only when a live holder is
    found, for the run id. With PostgreSQL it is the journal's running run, whose
    status is the lock table's (``exops_locks``). A store that cannot be read is no
    error: status still reads the cluster (the run is then not named)."""
    from exops.core.errors import ExopsError
    from exops.state.flock import SYSTEM_LOCK_DIR, lock_path

    if settings.state_url is not None:
        return _journal_holder(spec.name, settings, None)
    dirs = (
        [settings.lock_dir]
        if settings.lock_dir
        else [SYSTEM_LOCK_DIR, settings.state_dir / "locks"]
    )
    for directory in dirs:
        try:
            holder = _lock_file_holder(lock_path(spec.lock_key, Path(directory)))
        except ExopsError:
            return None
        if holder is not None:
            return _journal_holder(spec.name, settings, holder)
    return None


def _lock_file_holder(path: Path) -> dict[str, Any] | None:
    """The holder a lock file records, when it may still hold it (never takes the lock:
    a status must not make a starting run wait or refuse). A released lock's file is
    gone or empty; a holder whose process is dead on this host is stale (None)."""
    from exops.state.base import process_alive

    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    except OSError:
        return None
    try:
        raw = os.pread(fd, 64 * 1024, 0)
    except OSError:
        return None
    finally:
        os.close(fd)
    try:
        holder = json.loads(raw.decode("utf-8")) if raw.strip() else None
    except (UnicodeDecodeError, ValueError):
        return None
    if not isinstance(holder, dict):
        return None
    pid = holder.get("pid")
    if process_alive(str(holder.get("host", "")), pid if isinstance(pid, int) else None) is False:
        return None
    return holder


def _journal_holder(cluster: str, settings: Any, lock: dict[str, Any] | None) -> RunHolder | None:
    """The lock's holder with the run id of the journal's running run of ``cluster``
    (the one with the holder's host and pid when the lock names them)."""
    from exops.core.errors import ExopsError
    from exops.state import open_state
    from exops.state.base import RunQuery

    run: dict[str, Any] | None = None
    if settings.state_url is not None or settings.journal_path.exists():
        try:
            store = open_state(settings)
            try:
                runs = store.journal.list_runs(
                    cluster=cluster, limit=5, query=RunQuery(status="running")
                )
            finally:
                store.close()
        except (ExopsError, OSError):
            runs = []
        if lock is not None:
            runs = [
                r
                for r in runs
                if (r.get("host"), r.get("pid")) == (lock.get("host"), lock.get("pid"))
            ]
        run = runs[0] if runs else None
    if lock is None and run is None:
        return None
    src = lock if lock is not None else run or {}
    pid = src.get("pid")
    return RunHolder(
        runbook=str(src.get("runbook") or (run or {}).get("runbook") or "") or None,
        run_id=str(run["run_id"]) if run else None,
        since=str(src.get("started") or "") or None,
        user=str(src.get("user") or "") or None,
        host=str(src.get("host") or "") or None,
        pid=pid if isinstance(pid, int) else None,
    )


def _holder_line(cluster: str, held: RunHolder) -> str:
    """The compact line when the journal does not give the run's step."""
    since = (held.since or "")[11:19] or "?"
    return (
        f"run {held.run_id or '(id not journalled)'} ({held.runbook or '?'} by "
        f"{held.user or '?'}@{held.host or '?'}, since {since} UTC) holds cluster {cluster}"
    )


def _peer_wait(env: Env, clusters: list[str] | None) -> PeerWait:
    """The live "waiting for c1-p3" line on stderr while the peers are read."""
    return PeerWait(stderr(), [p.name for c in env.inventory.select(clusters) for p in c.peers])


def print_report(console: Console, r: ClusterReport) -> None:
    console.print(status_table(r, console.width))  # fitted to the terminal (display.py)
    style = VERDICT_STYLE[r.verdict]
    said = r.reasons[0] if r.verdict is Verdict.HEALTHY and r.reasons else r.root_cause
    console.print(f"verdict: [{style}]{r.verdict.value}[/] - {escape(said)}")
    if r.verdict is not Verdict.HEALTHY and len(r.reasons) > 1:
        for reason in r.reasons:
            console.print(f"  - {escape(reason)}")
    for note in r.alarms:
        fix = f" -> {note.fix}" if note.fix else ""
        console.print(f"alarm {note.id} on {escape(note.host)}: {escape(note.title)}{escape(fix)}")
    console.print(escape(r.capacity.note))  # "capacity x3", "single peer: no resilience"
    servers = servers_line(r.peers)
    if servers:
        console.print(escape(servers))  # wrapped to the terminal like the rest
    for p in r.peers:
        if p.error:
            console.print(f"[dim]{p.host}: {p.error}[/]")
    console.print()


def servers_line(peers: tuple[PeerRow, ...]) -> str:
    """The DNS and NTP servers in one line: once when every peer read has the same,
    else per peer; unknown with why. Empty when no peer answered."""
    read = [p for p in peers if p.reachable]
    if not read:
        return ""

    def one(p: PeerRow) -> str:
        parts = []
        for label, servers, why in (
            ("DNS", p.dns_servers, p.dns_servers_unknown),
            ("NTP", p.ntp_servers, p.ntp_servers_unknown),
        ):
            shown = ",".join(servers) or "none" if servers is not None else f"unknown ({why})"
            parts.append(f"{label} {shown}")
        return " ".join(parts)

    said = {one(p) for p in read}
    if len(said) == 1:
        return f"servers: {said.pop()}" + (" (every peer)" if len(read) > 1 else "")
    return "servers: " + "; ".join(f"{p.host} {one(p)}" for p in read)


def check(
    env: Env, clusters: list[str] | None, new_peer: str | None, *, json_out: bool
) -> ExitCode:
    """Run the prerequisite checks on each cluster; exit 3 when any fails."""
    from exops.run.read import passed

    results = check_results(env, clusters, new_peer)
    failed = not all(passed(rs) for rs in results.values())
    if json_out:
        docs = [
            {
                "schema": "exops.check/1",
                "cluster": n,
                "new_peer": new_peer,
                "checks": [c.model_dump(mode="json") for c in rs],
            }
            for n, rs in results.items()
        ]
        sys.stdout.write(json.dumps(docs[0] if len(docs) == 1 else docs, indent=2) + "\n")
    else:
        for n, rs in results.items():
            print_checks(stdout(), n, rs)
    return ExitCode.REFUSED if failed else ExitCode.OK


def check_results(
    env: Env, clusters: list[str] | None, new_peer: str | None
) -> dict[str, tuple[CheckResult, ...]]:
    """``exops.run.read.check`` with the live peer line on stderr."""
    from exops.run import read

    names = read.check_peers(env, clusters, new_peer)
    with _peer_wait(env, names) as wait:
        return read.check(env, names, new_peer=new_peer, on_peer=wait.done)


def print_checks(out: Console, cluster: str, results: tuple[CheckResult, ...]) -> None:
    from rich.table import Table

    from exops.plan.model import CheckOutcome

    table = Table(title=f"prerequisites for cluster {cluster}", title_justify="left")
    for col in ("check", "result", "summary", "evidence"):
        table.add_column(col)
    colour = {
        CheckOutcome.PASS: "green",
        CheckOutcome.WARN: "yellow",
        CheckOutcome.FAIL: "red",
        CheckOutcome.UNKNOWN: "red",
        CheckOutcome.NOT_APPLICABLE: "dim",
    }
    for c in results:
        evidence = "\n".join(f"{h}: {v}" for h, v in c.evidence.items())
        table.add_row(c.name, f"[{colour[c.outcome]}]{c.outcome.value}[/]", c.summary, evidence)
    out.print(table)

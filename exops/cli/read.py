"""``exops status`` and ``exops check``: read-only commands."""

from __future__ import annotations

import json
import sys
from typing import TYPE_CHECKING

from exops.cli.screen import PeerWait, console, escape, status_table
from exops.core.exitcodes import ExitCode
from exops.report.status import SCHEMA, ClusterReport, PeerRow, RunHolder, Verdict
from exops.run.env import Env

if TYPE_CHECKING:  # the check command's models: imported by check only (issue 22)
    from rich.console import Console  # rich: imported when something is drawn

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


def _holder_line(cluster: str, held: RunHolder) -> str:
    """The compact line when the journal does not give the run's step."""
    since = (held.since or "")[11:19] or "?"
    return (
        f"run {held.run_id or '(id not journalled)'} ({held.runbook or '?'} by "
        f"{held.user or '?'}@{held.host or '?'}, since {since} UTC) holds cluster {cluster}"
    )


def _peer_wait(env: Env, clusters: list[str] | None) -> PeerWait:
    """The live "waiting for c1-p3" line on stderr while the peers are read (its console
    made once the line can show: a quick read imports no rich before its reads)."""
    return PeerWait(stderr, [p.name for c in env.inventory.select(clusters) for p in c.peers])


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

"""``exops status`` and ``exops check``: read-only commands."""

from __future__ import annotations

import json
import sys
from typing import TYPE_CHECKING

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from exops.cli.display import PeerWait, console, status_table
from exops.plan.model import BLOCKING, CheckOutcome, CheckResult
from exops.report.status import SCHEMA, ClusterReport, Verdict, summarize
from exops.run.env import Env

if TYPE_CHECKING:
    from exops.facts.session import Session

__all__ = ["Env", "check", "status", "stderr", "stdout"]

VERDICT_STYLE = {
    Verdict.HEALTHY: "green",
    Verdict.DEGRADED: "yellow",
    Verdict.BROKEN: "bold red",
    Verdict.UNCLUSTERED: "cyan",
}


def stdout() -> Console:
    return console()


def stderr() -> Console:
    return console(stderr=True)


def status(env: Env, clusters: list[str] | None, *, json_out: bool) -> int:
    """Print status; exit 0 when every cluster is healthy or unclustered, 1 otherwise."""
    from exops.facts.gather import STATUS_FACTS

    with env.session(clusters) as session:
        names = list(session.clusters)
        with _peer_wait(session) as wait:
            facts = session.gather_many(names, needs=STATUS_FACTS, on_peer=wait.done)
    reports = [summarize(facts[n]) for n in names]
    if json_out:
        doc = {"schema": SCHEMA, "clusters": [r.model_dump(mode="json") for r in reports]}
        sys.stdout.write(json.dumps(doc, indent=2) + "\n")
    else:
        from exops.cli.records import run_in_progress

        console = stdout()
        for report in reports:
            holder = run_in_progress(report.cluster, env.settings)  # a run holds it: say so first
            if holder:
                console.print(f"[yellow]{escape(holder)}[/]", soft_wrap=True)
            print_report(console, report)
    bad = [r for r in reports if r.verdict in (Verdict.DEGRADED, Verdict.BROKEN)]
    return 1 if bad else 0


def _peer_wait(session: Session) -> PeerWait:
    """The live "waiting for c1-p3" line on stderr while the peers are read."""
    return PeerWait(stderr(), list(session.specs))


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
    for p in r.peers:
        if p.error:
            console.print(f"[dim]{p.host}: {p.error}[/]")
    console.print()


def check(env: Env, clusters: list[str] | None, new_peer: str | None, *, json_out: bool) -> int:
    """Run the prerequisite checks on each cluster; exit 3 when any fails."""
    from exops.core.exitcodes import ExitCode

    results = check_results(env, clusters, new_peer)
    failed = any(c.outcome in BLOCKING for rs in results.values() for c in rs)
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
    return int(ExitCode.REFUSED) if failed else int(ExitCode.OK)


def check_results(
    env: Env, clusters: list[str] | None, new_peer: str | None
) -> dict[str, tuple[CheckResult, ...]]:
    """The prerequisite checks of each selected cluster (those that hold ``new_peer``)."""
    from exops.core.errors import UsageError
    from exops.plan.preflight import run_checks

    names = [c.name for c in env.inventory.select(clusters)]
    if new_peer:
        owners = [n for n in names if new_peer in {p.name for p in env.inventory.cluster(n).peers}]
        if not owners:
            if len(names) == 1:
                env.inventory.cluster(names[0]).peer(new_peer)  # its message lists the peers
            raise UsageError(f"--peer {new_peer!r} is not a peer of {', '.join(names)}")
        names = owners
    with env.session(names) as session, _peer_wait(session) as wait:
        gathered = session.gather_many(names, on_peer=wait.done)
    return {n: run_checks(gathered[n], None, new_peer=new_peer) for n in names}


def print_checks(out: Console, cluster: str, results: tuple[CheckResult, ...]) -> None:
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

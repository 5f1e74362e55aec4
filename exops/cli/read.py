"""``exops status`` and ``exops check``: read-only commands."""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from exops.inventory import Inventory, load_inventory
from exops.session import Session
from exops.settings import Settings, load_settings
from exops.status import SCHEMA, ClusterReport, Verdict, summarize

VERDICT_STYLE = {
    Verdict.HEALTHY: "green",
    Verdict.DEGRADED: "yellow",
    Verdict.BROKEN: "bold red",
    Verdict.UNCLUSTERED: "cyan",
}


def stdout() -> Console:
    # Not a terminal (a log, a pipe, CI): wide enough that tables never elide.
    width = None if sys.stdout.isatty() else 200
    return Console(highlight=False, soft_wrap=False, width=width)


def stderr() -> Console:
    # One message, one line (never wrapped): cron mails, log shippers and grep.
    return Console(stderr=True, highlight=False, soft_wrap=True)


@dataclass
class Env:
    settings: Settings
    inventory: Inventory

    @classmethod
    def build(
        cls,
        *,
        inventory: Path | None = None,
        ca_bundle: str | None = None,
        insecure: bool = False,
        transport: str | None = None,
        accept_new_host_keys: bool = False,
        **extra: Any,
    ) -> Env:
        """Resolve settings (flag > env > file > default) and load the inventory.

        Raises:
            UsageError: a bad setting; InventoryError: a bad inventory.
        """
        flags = {
            "inventory": inventory,
            "ca_bundle": ca_bundle,
            "insecure": True if insecure else None,
            "transport": transport,
            "accept_new_host_keys": True if accept_new_host_keys else None,
            **extra,
        }
        settings = load_settings(flags)
        if settings.transport and settings.transport not in ("rest", "ssh", "auto"):
            from exops.errors import UsageError

            raise UsageError(f"--transport: {settings.transport!r} is not one of rest, ssh, auto")
        if settings.insecure:
            stderr().print(
                "[bold red]WARNING:[/] HTTPS certificate verification is OFF (--insecure): "
                "anyone on the path can impersonate the appliances and read the admin password."
            )
        return cls(settings=settings, inventory=load_inventory(settings.inventory, settings))

    def session(self, clusters: list[str] | None) -> Session:
        return Session(self.inventory, self.settings, self.inventory.select(clusters))


def status(env: Env, clusters: list[str] | None, *, json_out: bool) -> int:
    """Print status; exit 0 when every cluster is healthy or unclustered, 1 otherwise."""
    with env.session(clusters) as session:
        names = list(session.clusters)
        facts = session.gather_many(names)
    reports = [summarize(facts[n]) for n in names]
    if json_out:
        doc = {"schema": SCHEMA, "clusters": [r.model_dump(mode="json") for r in reports]}
        sys.stdout.write(json.dumps(doc, indent=2) + "\n")
    else:
        console = stdout()
        for report in reports:
            print_report(console, report)
    bad = [r for r in reports if r.verdict in (Verdict.DEGRADED, Verdict.BROKEN)]
    return 1 if bad else 0


def print_report(console: Console, r: ClusterReport) -> None:
    table = Table(title=f"cluster {r.cluster}", title_justify="left", expand=False)
    for col in ("slot", "peer", "address", "up", "primary", "state", "database", "replication"):
        table.add_column(col)
    for col in ("tls", "alarms", "restart", "version", "via"):
        table.add_column(col)
    for p in r.peers:
        table.add_row(
            str(p.slot or "-"),
            p.host,
            p.address,
            "yes" if p.reachable else "[red]NO[/]",
            "*" if p.is_primary else "",
            p.state or "-",
            p.database or "-",
            p.replication or "-",
            p.tls_mode or "-",
            ",".join(p.alarms) or "-",
            "pending" if p.restart_pending else "",
            p.version or "-",
            p.transport or "-",
        )
    console.print(table)
    style = VERDICT_STYLE[r.verdict]
    console.print(f"verdict: [{style}]{r.verdict.value}[/] - {'; '.join(r.reasons)}")
    console.print(f"capacity: {r.capacity.note}")
    for p in r.peers:
        if p.error:
            console.print(f"[dim]{p.host}: {p.error}[/]")
    console.print()


def check(env: Env, cluster: str, new_peer: str | None, *, json_out: bool) -> int:
    """Run the prerequisite checks; exit 3 when any fails."""
    from exops.checks import run_checks
    from exops.exitcodes import ExitCode
    from exops.plan import CheckOutcome

    spec = env.inventory.cluster(cluster)
    if new_peer:
        spec.peer(new_peer)
    with env.session([cluster]) as session:
        facts = session.gather(cluster)
    results = run_checks(facts, None, new_peer=new_peer)
    if json_out:
        doc = {
            "schema": "exops.check/1",
            "cluster": cluster,
            "new_peer": new_peer,
            "checks": [c.model_dump(mode="json") for c in results],
        }
        sys.stdout.write(json.dumps(doc, indent=2) + "\n")
    else:
        console = stdout()
        table = Table(title=f"prerequisites for cluster {cluster}", title_justify="left")
        table.add_column("check")
        table.add_column("result")
        table.add_column("summary")
        table.add_column("evidence")
        colour = {CheckOutcome.PASS: "green", CheckOutcome.WARN: "yellow", CheckOutcome.FAIL: "red"}
        for c in results:
            evidence = "\n".join(f"{h}: {v}" for h, v in c.evidence.items())
            table.add_row(c.name, f"[{colour[c.outcome]}]{c.outcome.value}[/]", c.summary, evidence)
        console.print(table)
    failed = any(c.outcome is CheckOutcome.FAIL for c in results)
    return int(ExitCode.REFUSED) if failed else int(ExitCode.OK)

"""Options shared by many commands, declared once (Typer ``Annotated`` aliases)."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Annotated, Any, Literal

import typer

Inventory = Annotated[
    Path | None,
    typer.Option(
        "--inventory",
        "-i",
        help="Inventory directory [env EXOPS_INVENTORY].",
        show_default=False,
        metavar="DIR",
    ),
]
CaBundle = Annotated[
    str | None,
    typer.Option(
        "--ca-bundle",
        help="PEM file of CAs to trust for HTTPS [env EXOPS_CA_BUNDLE].",
        metavar="FILE",
    ),
]
Insecure = Annotated[
    bool,
    typer.Option(
        "--insecure",
        help="Do NOT verify HTTPS certificates (dangerous; prints a warning) [env EXOPS_INSECURE].",
    ),
]
Transport = Annotated[
    str | None,
    typer.Option(
        "--transport",
        help="rest | ssh | auto: override the inventory [env EXOPS_TRANSPORT].",
        metavar="rest|ssh|auto",
    ),
]
AcceptHostKeys = Annotated[
    bool,
    typer.Option(
        "--accept-new-host-keys",
        help="Trust and record SSH host keys not yet in known_hosts "
        "[env EXOPS_ACCEPT_NEW_HOST_KEYS].",
    ),
]
Clusters = Annotated[
    list[str] | None,
    typer.Option(
        "--cluster",
        "-c",
        help="Cluster (inventory group); repeat for several. Default: all.",
        metavar="CLUSTER",
    ),
]
Cluster = Annotated[
    str, typer.Option("--cluster", "-c", help="Cluster (inventory group).", metavar="CLUSTER")
]
RunClusters = Annotated[
    list[str],
    typer.Option(
        "--cluster",
        "-c",
        help="Cluster (inventory group); repeat to run on several clusters at once "
        "(each locked, planned, applied and journalled on its own; needs --yes or --dry-run).",
        metavar="CLUSTER",
    ),
]
Json = Annotated[bool, typer.Option("--json", help="Print the result as one JSON document.")]
# The names are exops.plan.preflight.ACCEPTABLE (tests/unit/cli/test_cli_help.py pins them).
ACCEPT_HELP = (
    "Run despite this failed or unknown prerequisite (repeat for several): latency, "
    "platform, no_nat, option_keys, base_network, e_nic. Shown in the plan, journalled "
    "and printed in the report."
)
Accept = Annotated[list[str] | None, typer.Option("--accept", help=ACCEPT_HELP, metavar="CHECK")]
DryRun = Annotated[bool, typer.Option("--dry-run", "-n", help="Show the plan; change nothing.")]
Yes = Annotated[
    bool, typer.Option("--yes", "-y", help="Do not ask before restarts (unattended runs).")
]
Events = Annotated[
    str | None,
    typer.Option(
        "--events",
        help="Write line-delimited JSON events to FILE, or - for stdout (then human output "
        "goes to stderr).",
        metavar="FILE|-",
    ),
]


# The longest wait any timeout option accepts: a week (a longer one is a typo).
MAX_SECONDS = 7 * 24 * 3600.0


def finite_seconds(value: float | None) -> float | None:
    """Refuse nan, infinity, a negative or an absurd number of seconds (exit 2)."""
    if value is not None and not (math.isfinite(value) and 0 <= value <= MAX_SECONDS):
        raise typer.BadParameter(f"{value} is not a number of seconds from 0 to {MAX_SECONDS:g}")
    return value


def _seconds(flag: str, what: str) -> Any:
    """A timeout option ``--x-timeout SECONDS``, also settable as EXOPS_X_TIMEOUT;
    unset by default (the settings decide)."""
    env = "EXOPS_" + flag.removeprefix("--").replace("-", "_").upper()
    return typer.Option(
        flag, help=f"Seconds {what} [env {env}].", metavar="SECONDS", callback=finite_seconds
    )


LockTimeout = Annotated[
    float | None, _seconds("--lock-timeout", "to wait for another run's cluster lock (default 0)")
]
# How a run ended, as the journal records it (``exops history --status``).
RunStatusName = Literal[
    "ok", "nothing_to_change", "partial", "failed", "refused", "interrupted", "running"
]
# The report formats: a closed choice (anything else is bad input, exit 2).
FormatName = Literal["text", "md", "html", "json"]
Format = Annotated[
    FormatName | None,
    typer.Option(
        "--format",
        "-f",
        help="Output: text | md | html | json (default text; with --out, the file's "
        "suffix decides: .md, .html, .json, else text).",
        metavar="text|md|html|json",
        show_default=False,
    ),
]
DetailedExit = Annotated[
    bool,
    typer.Option(
        "--detailed-exitcode",
        help="Exit 0 when nothing would change, 5 when changes are pending.",
    ),
]
Out = Annotated[
    Path | None,
    typer.Option(
        "--out",
        "-o",
        help="Also write the plan to this file, in the --format given (else by its suffix).",
        metavar="FILE",
    ),
]
Verbose = Annotated[
    bool, typer.Option("--verbose", "-v", help="Print the full plan before a real run.")
]
RestartTimeout = Annotated[
    float | None, _seconds("--restart-timeout", "a peer may take to restart")
]
SettleTimeout = Annotated[float | None, _seconds("--settle-timeout", "a health wait may take")]
ReadTimeout = Annotated[float | None, _seconds("--read-timeout", "to wait for one answer")]
StateUrl = Annotated[
    str | None,
    typer.Option(
        "--state-url",
        help="Journal, locks and backups: sqlite:///DIR (default: the state directory) or "
        "postgresql://USER@HOST/DB for a team [env EXOPS_STATE_URL].",
        metavar="URL",
    ),
]

# -- draining a peer (exops drain, upgrade --drain, restart --drain) ----------------
MaxCalls = Annotated[
    int,
    typer.Option(
        "--max-calls", help="Drained when its current calls are at most N.", metavar="N", min=0
    ),
]
MaxRegistrations = Annotated[
    int,
    typer.Option(
        "--max-registrations",
        help="Drained when its current registrations are at most N.",
        metavar="N",
        min=0,
    ),
]
DrainTimeout = Annotated[
    float,
    typer.Option(
        "--drain-timeout",
        help="Seconds to wait for the peer to drain [env EXOPS_DRAIN_TIMEOUT].",
        metavar="SECONDS",
        envvar="EXOPS_DRAIN_TIMEOUT",
        callback=finite_seconds,
    ),
]
DRAIN_ACCEPT_HELP = (
    "Accept a step by name in an unattended run: manual-maintenance (wait for "
    "the operator's web-page step), unverified-maintenance (maintenance mode cannot "
    "be read: wait on calls and registrations alone). Repeat for both."
)
DrainAccept = Annotated[
    list[str] | None, typer.Option("--accept", help=DRAIN_ACCEPT_HELP, metavar="NAME")
]
Drain = Annotated[
    bool,
    typer.Option(
        "--drain",
        help="Drain each peer right before its restart (the manual maintenance-mode step, "
        "then wait until its calls and registrations are at most --max-calls/"
        "--max-registrations), and check that maintenance mode is off again after it.",
    ),
]


class WaitLines:
    """Wait progress as plain lines: one whenever what is seen changes."""

    def __init__(self, out: Any):
        self.out, self.last = out, ""

    def waiting(self, what: str, detail: str, elapsed: float, timeout: float) -> None:
        if detail != self.last:
            from rich.markup import escape

            self.last = detail
            self.out.print(f"  {elapsed:6.1f}s  {escape(detail)}", soft_wrap=True)

    def finished(self, what: str, elapsed: float) -> None:
        return None

"""``exops upgrade``: parse, hand off to exops.tools.upgrade, render."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable
from typing import Annotated, Any

import typer

from exops.cli import helptext
from exops.cli import options as o
from exops.cli.screen import escape

EXAMPLES = [
    "exops upgrade -c c1 --image s42700x15_3_0.tar.gz --sha512 HEX "
    "--sftp sftp://exops@files.example.com/images --dry-run",
    "EXOPS_SFTP_PASSWORD=... exops upgrade -c e1 -c c1 --image IMAGE --sha512 HEX "
    "--sftp URL --yes   # Expressway-E clusters first",
]
CODES = (
    "0 every peer runs the target version and the clusters are healthy (or nothing to do); "
    "1 a peer's upgrade failed (its upgradestatus state), timed out, or the alarms did not "
    "clear, or (--drain) a peer did not drain in time or reads in maintenance after its "
    "reboot; 2 bad input; 3 refused (preflight: versions, health, alarms, downgrade, a peer "
    "older than X14.2, no confirmation; --drain: the manual step in an unattended run "
    "without --accept manual-maintenance, another peer in maintenance); 4 the cluster is "
    "locked by another run; 130 interrupted"
)


def upgrade(
    env: Any,
    clusters: o.RunClusters,
    image: Annotated[
        str,
        typer.Option("--image", help="The image's file name on the SFTP server.", metavar="NAME"),
    ],
    sha512: Annotated[
        str,
        typer.Option("--sha512", help="The image's SHA-512 (128 hex digits).", metavar="HEX"),
    ],
    sftp: Annotated[
        str,
        typer.Option(
            "--sftp",
            help="Where each peer pulls the image: sftp://USER@HOST[:PORT]/DIRECTORY (the "
            "password from EXOPS_SFTP_PASSWORD).",
            metavar="URL",
        ),
    ],
    to_version: Annotated[
        str | None,
        typer.Option(
            "--to-version",
            help="The version the image installs (default: read from the image's name).",
            metavar="VERSION",
        ),
    ] = None,
    peer_timeout: Annotated[
        float,
        typer.Option(
            "--peer-timeout",
            help="Seconds one peer may take: download, install, reboot, rejoin.",
            metavar="SECONDS",
            callback=o.finite_seconds,
        ),
    ] = 2700.0,
    allow_alarm: Annotated[
        list[str] | None,
        typer.Option(
            "--allow-alarm",
            help="An alarm id raised before the upgrade that preflight may accept (repeat).",
            metavar="ID",
        ),
    ] = None,
    drain: Annotated[
        bool,
        typer.Option(
            "--drain",
            help="Drain each peer right before its upgrade (the manual maintenance-mode "
            "step, then wait until its calls and registrations are at most --max-calls/"
            "--max-registrations), and check that maintenance mode is off after its reboot.",
        ),
    ] = False,
    max_calls: o.MaxCalls = 0,
    max_registrations: o.MaxRegistrations = 0,
    drain_timeout: o.DrainTimeout = 1800.0,
    accept: o.DrainAccept = None,
    dry_run: o.DryRun = False,
    yes: o.Yes = False,
    json_out: o.Json = False,
    lock_timeout: o.LockTimeout = None,
) -> int:
    """Upgrade clusters peer by peer over REST: primary first, one peer at a time.

    Each peer pulls the image from your SFTP server, checks its SHA-512, installs it and
    reboots; exops follows its upgrade status and waits until it is back on the new version
    before the next peer. Expressway-E clusters go before Expressway-C clusters. A snapshot of
    every peer is stored first. A re-run resumes: peers already on the version are skipped.
    After the last peer the mixed-version alarms must clear within --settle-timeout.

    With --drain each peer is drained first (maintenance mode is set on the web page only:
    exops prints the step and waits; unattended, --accept manual-maintenance lets it wait)
    and read out of maintenance mode after its reboot.
    """
    from pydantic import SecretStr

    from exops.cli.display import console
    from exops.cli.drain import drain_options
    from exops.core.errors import UsageError
    from exops.tools import upgrade as tool

    if accept and not drain:
        raise UsageError(f"--accept {accept[0]}: only with --drain (it accepts a drain step)")
    out = console(stderr=json_out)
    drains = None
    if drain:
        given = (max_calls, max_registrations, drain_timeout, list(accept or ()))
        drains = drain_options(given, yes, dry_run, lock_timeout)
    opts = tool.UpgradeOptions(
        image=image,
        sha512=sha512,
        sftp=sftp,
        sftp_password=SecretStr(os.environ.get(tool.PASSWORD_ENV, "")),
        to_version=to_version,
        peer_timeout_s=peer_timeout,
        settle_timeout_s=env.settings.settle_timeout,  # --settle-timeout: alarms clear
        allow_alarms=frozenset(allow_alarm or ()),
        dry_run=dry_run,
        yes=yes,
        lock_timeout=lock_timeout,
        drain=drains,
    )

    def confirm(text: str) -> bool:
        if not sys.stdin.isatty():
            return False
        out.print(escape(text), soft_wrap=True)
        return bool(typer.confirm("Upgrade these peers now?", default=False))

    result = tool.upgrade(
        env,
        list(clusters),
        opts,
        say=lambda line: out.print(escape(line), soft_wrap=True),
        reporter=o.WaitLines(out),
        confirm=confirm,
    )
    if result.status in ("refused", "failed"):
        console(stderr=True).print(f"exops: error: {escape(result.message)}", soft_wrap=True)
    else:
        out.print(escape(result.message), soft_wrap=True)
    if json_out:
        sys.stdout.write(json.dumps(result.to_json(), indent=2) + "\n")
    return result.exit_code


def register(command: Callable[..., Callable[[Callable[..., int]], Any]], conn: list[Any]) -> None:
    """Add ``upgrade`` to the app (its examples and exit codes into the help)."""
    helptext.EXAMPLES.setdefault("upgrade", EXAMPLES)
    helptext.CODES.setdefault("upgrade", CODES)
    command("upgrade", conn=conn)(upgrade)

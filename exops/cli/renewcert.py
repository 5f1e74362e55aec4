"""``exops renew-cert``: parse, hand off to exops.tools.renewcert, render."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import typer

from exops.cli import options as o
from exops.cli.screen import escape

EXAMPLES = [
    "exops renew-cert -c c1 --peer c1-p2 --csr-out ./csr --dry-run   # what the CSR will name",
    "exops renew-cert -c c1 --peer c1-p2 --csr-out ./csr             # ./csr/c1-p2.csr",
    "exops renew-cert -c c1 --peer c1-p2 --cert c1-p2.pem --chain ca.pem --dry-run",
    "exops renew-cert -c c1 --peer c1-p1 --peer c1-p2 --cert-dir ./signed --yes",
]
CODES = [
    "0 done, or nothing to change (also a dry run)",
    "1 a step failed (the run stops; the same command picks up where it stopped)",
    "2 bad input (options, an unreadable or non-PEM file)",
    "3 refused before any upload (a wrong name, expired or too short, another key, no "
    "pending CSR, a CA no peer can be given)",
    "4 the cluster is locked by another run",
    "130 interrupted (Ctrl-C, SIGTERM)",
]
EPILOG = "\n".join(
    ["\b", "Examples:", *(f"  {e}" for e in EXAMPLES), "", "\b", "Exit codes:"]
    + [f"  {c}" for c in CODES]
)

DirOpt = Annotated[
    Path | None,
    typer.Option(
        "--csr-out",
        help="Phase 1: generate (or reuse) each peer's CSR on the peer and write it to "
        "DIR/PEER.csr.",
        metavar="DIR",
    ),
]


def renew_cert(
    env: Any,
    cluster: o.Cluster,
    peer: Annotated[
        list[str],
        typer.Option("--peer", "-p", help="A peer to renew (repeat for several).", metavar="PEER"),
    ],
    csr_out: DirOpt = None,
    cert: Annotated[
        Path | None,
        typer.Option(
            "--cert",
            help="Phase 2: the signed certificate (PEM) for the one --peer.",
            metavar="FILE",
        ),
    ] = None,
    chain: Annotated[
        Path | None,
        typer.Option(
            "--chain",
            help="The CA chain (PEM: intermediates and root) of the certificate(s).",
            metavar="FILE",
        ),
    ] = None,
    cert_dir: Annotated[
        Path | None,
        typer.Option(
            "--cert-dir",
            help="Phase 2: a folder of signed certificates named by peer (PEER.pem, .crt or .cer).",
            metavar="DIR",
        ),
    ] = None,
    min_days: Annotated[
        int,
        typer.Option(
            "--min-days",
            help="Refuse a certificate valid for fewer days than this.",
            metavar="DAYS",
            min=0,
        ),
    ] = 30,
    subject: Annotated[
        str | None,
        typer.Option(
            "--subject",
            help="CSR subject fields, e.g. C=GB,ST=London,L=London,O=Example,OU=Video "
            "(default: those of the peer's current certificate).",
            metavar="FIELDS",
        ),
    ] = None,
    key_length: Annotated[
        int,
        typer.Option("--key-length", help="RSA key length made on the peer.", metavar="BITS"),
    ] = 2048,
    digest: Annotated[
        str,
        typer.Option("--digest", help="CSR digest algorithm.", metavar="NAME"),
    ] = "sha256",
    dry_run: o.DryRun = False,
    yes: o.Yes = False,
    json_out: o.Json = False,
    lock_timeout: o.LockTimeout = None,
) -> int:
    """Renew peers' server certificates: the key and CSR made on the peer, then the
    signed certificate checked, uploaded and put in force one peer at a time.

    Phase 1 (--csr-out DIR) makes each peer's CSR naming what the cluster needs (its
    listed address, its FQDN and, on TLS Enforce, every name the other peers use for
    it). Phase 2 (--cert FILE or --cert-dir DIR) checks before any upload that each
    certificate carries the pending CSR's key, is valid for --min-days, names those
    names and chains to a CA every other peer trusts (adding the CA first where it is
    missing), then uploads, restarts (health-gated) and verifies peer by peer. A
    private key is never uploaded (the appliance has no such API).
    """
    from exops.cli.display import TerminalDisplay, console
    from exops.tools import renewcert as tool

    out = console(stderr=json_out)
    opts = tool.RenewOptions(
        peers=tuple(peer),
        csr_out=csr_out,
        cert=cert,
        chain=chain,
        cert_dir=cert_dir,
        min_days=min_days,
        subject=tool.parse_subject(subject) if subject else (),
        key_length=key_length,
        digest=digest,
        dry_run=dry_run,
        lock_timeout=lock_timeout,
    )
    result = tool.renew(
        env,
        cluster,
        opts,
        say=lambda line: out.print(escape(line), soft_wrap=True),
        reporter=o.WaitLines(out),
        observers=[TerminalDisplay(out)],
        confirm=None if yes or dry_run or not sys.stdin.isatty() else _ask(out),
    )
    _render(out, result)
    if json_out:
        sys.stdout.write(json.dumps(result.to_json(), indent=2) + "\n")
    return result.exit_code


def _ask(out: Any) -> Callable[[Any], bool]:
    from exops.cli.runs import yes_or_no

    def ask(result: Any) -> bool:
        _steps(out, result)
        return yes_or_no(out, "Renew as planned?")

    return ask


def _steps(out: Any, result: Any) -> None:
    for host, names in result.names.items():
        out.print(f"{escape(host)} needs: {escape(', '.join(names))}", soft_wrap=True)
    for s in result.steps:
        mark = "" if s.status == "planned" else f"[{s.status}] "
        detail = f" - {s.detail}" if s.detail and s.status != "planned" else ""
        out.print(f"  {escape(mark + s.text + detail)}", soft_wrap=True)


def _render(out: Any, result: Any) -> None:
    from exops.cli.display import console

    if result.status != "planned":
        _steps(out, result)
    elif result.steps:
        out.print(f"plan ({result.tls_mode or 'TLS mode unknown'}):")
        _steps(out, result)
    if result.status in ("refused", "failed"):
        console(stderr=True).print(f"exops: error: {escape(result.message)}", soft_wrap=True)
    elif result.status != "planned":
        out.print(escape(result.message), soft_wrap=True)


def register(
    command: Callable[..., Callable[[Callable[..., int]], Any]], conn: list[Any], app: Any
) -> None:
    """Add ``renew-cert`` through app.py's ``_command`` decorator, with its own
    examples and exit codes."""
    command("renew-cert", conn=conn)(renew_cert)
    app.registered_commands[-1].epilog = EPILOG

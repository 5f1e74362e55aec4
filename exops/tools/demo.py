"""The demo: a 4-peer mock lab taken from unclustered to a healthy TLS-enforced cluster.

Runs the real ``exops`` command line against the bundled mock lab (real
HTTPS with a lab CA, real SSH), one chapter per step: what it does and why,
the command, and what exops printed (a plan summary, a line per finished
step, the recap). ``--full-plans`` also shows each full dry-run plan first.

exops never imports the simulator: the demo starts it through its documented
command line (``python -m exops.lab up``) and reads its documented
``lab.env``. It picks a free loopback subnet and free ports itself (or takes
``--subnet``, ``--https-port``, ``--ssh-port``), so it runs beside another lab.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shlex
import subprocess
import sys
import time
from pathlib import Path

from rich.console import Console
from rich.rule import Rule

from exops.tools.labcli import free_port, free_subnet, read_lab_env

console = Console(highlight=False)

# One chapter per paragraph: its title, why, and the exops command line it runs.
_CHAPTERS = """
Where we start
Four unclustered peers: status reads each one.
$ exops status

Create the cluster
A one-peer cluster on the future primary, then its restart (domain 3.1).
$ exops create-cluster -c c1 --yes

Rehearse adding c1-p2
The same run on a simulated clone of this cluster: predicted timeline and downtime.
$ exops rehearse add-peer -c c1 --peer c1-p2

Add c1-p2
Listed on every member, configured like the primary, restarted, health-gated.
$ exops add-peer -c c1 --peer c1-p2 --yes

Add c1-p3
The same procedure, one peer at a time.
$ exops add-peer -c c1 -p c1-p3 --yes

Add c1-p4
The fourth peer: capacity x4.
$ exops add-peer -c c1 -p c1-p4 --yes

Run it again
A second run plans nothing and sends no write; it still verifies.
$ exops add-peer -c c1 --peer c1-p4 --yes

Peer addresses to FQDNs
Slot by slot, each slot's peer restarted before the next (domain 3.6).
$ exops convert-fqdn -c c1 --yes

Enforce TLS verification
Enforce on the primary; it spreads; ordered restarts (domain 3.4).
$ exops enforce-tls -c c1 --yes

Switch the configuration primary
c1-p2 becomes the primary; every peer points at it (domain 3.5).
$ exops switch-primary -c c1 --peer c1-p2 --yes

Ordered restart
Primary first, each restart health-gated.
$ exops restart -c c1 --yes

Where we end
A healthy, TLS-enforced cluster of four.
$ exops status

The journal
Every run, step by step, for the morning after.
$ exops history
"""
CHAPTERS: tuple[tuple[str, str, tuple[str, ...]], ...] = tuple(
    (title, why, tuple(shlex.split(command.removeprefix("$ exops "))))
    for title, why, command in (p.split("\n") for p in _CHAPTERS.strip().split("\n\n"))
)


def _exops(args: tuple[str, ...], env: dict[str, str], *, check: bool = True) -> int:
    shown = " ".join(shlex.quote(a) for a in args)
    console.print(f"[bold cyan]$ exops {shown}[/]")
    code = subprocess.call([sys.executable, "-m", "exops", *args], env=env)
    if check and code != 0:
        console.print(f"[red]exops exited {code}[/]")
        raise SystemExit(code)
    return code


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m exops.tools.demo", description=__doc__)
    parser.add_argument("--state-dir", type=Path, default=Path(".lab/demo"))
    parser.add_argument("--time-scale", type=float, default=0.01)
    parser.add_argument(
        "--subnet", help="loopback /16 for the lab, e.g. 127.77 (default: a free one)"
    )
    parser.add_argument("--https-port", type=int, help="HTTPS port of every peer (default: free)")
    parser.add_argument("--ssh-port", type=int, help="SSH port of every peer (default: free)")
    parser.add_argument("--full-plans", action="store_true", help="show each full plan first")
    parser.add_argument("--keep", action="store_true", help="leave the lab running at the end")
    args = parser.parse_args(argv)
    state = args.state_dir.resolve()
    if args.subnet:
        first = f"{args.subnet}.1.11"
        subnet = args.subnet
        https = args.https_port or free_port(first)
        ssh = args.ssh_port or free_port(first)
    else:
        subnet, https, ssh = free_subnet(
            4, first=150, last=239, https_port=args.https_port, ssh_port=args.ssh_port
        )
    mock = [sys.executable, "-m", "exops.lab"]
    subprocess.call([*mock, "down", "--state-dir", str(state)], stderr=subprocess.DEVNULL)
    console.print(Rule(f"a mock lab: 1 cluster x 4 unclustered peers on {subnet}.1.11-14"))
    lab_up = [
        *mock, "up", "--clusters", "1", "--peers", "4", "--time-scale", str(args.time_scale),
        "--state-dir", str(state), "--subnet", subnet,
        "--https-port", str(https), "--ssh-port", str(ssh),
    ]  # fmt: skip
    subprocess.check_call(lab_up)
    env = {**os.environ, **read_lab_env(state / "lab.env"), "EXOPS_STATE_DIR": str(state / "exops")}
    started = time.monotonic()
    try:
        for number, (title, why, command) in enumerate(CHAPTERS, 1):
            console.print(Rule(f"{number}. {title}"))
            console.print(f"[italic]{why}[/]")
            if args.full_plans and {"--yes", "-y"} & set(command):
                _exops((*[a for a in command if a not in ("--yes", "-y")], "--dry-run"), env)
            _exops(command, env, check=command[0] != "history")
    finally:
        if not args.keep:
            with contextlib.suppress(OSError):
                subprocess.call([*mock, "down", "--state-dir", str(state)])
    console.print(Rule(f"demo finished in {time.monotonic() - started:.0f} s"))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""The demo: a 4-peer mock lab taken from unclustered to a healthy TLS-enforced cluster.

Runs the real ``exops`` command line against the bundled mock lab (real
HTTPS with a lab CA, real SSH), one chapter per step: what it does and why,
the command, and what exops printed (a plan summary, a line per finished
step, the recap). ``--full-plans`` also shows each full dry-run plan first.

exops never imports the simulator: the demo starts it through its documented
command line (``python -m exops.lab up``) and reads its documented
``lab.env``. It picks a free loopback subnet and free ports itself (or takes
``--subnet``, ``--https-port``, ``--ssh-port``), so it runs beside another lab.

Each demo keeps everything in a directory of its own (a new temporary one
unless ``--state-dir``): the lab, the journal, the backups and the cluster
locks. So a second demo does not wait on the first one's lock, and the demo
never takes the host-wide lock of a real cluster that happens to be named c1.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path

from rich.console import Console
from rich.rule import Rule

from exops.tools.labcli import free_port, free_subnet, lab_missing, read_lab_env

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

Rolling upgrade
Each peer pulls the image from the lab's SFTP server and reboots: primary first, one at a time.
$ exops upgrade -c c1 --image $EXOPS_LAB_IMAGE --sha512 $EXOPS_LAB_IMAGE_SHA512 \\
    --sftp $EXOPS_LAB_SFTP --yes

Where we end
A healthy, TLS-enforced cluster of four.
$ exops status

The journal
Every run, step by step, for the morning after.
$ exops history
"""
CHAPTERS: tuple[tuple[str, str, tuple[str, ...]], ...] = tuple(
    (title, why, tuple(shlex.split(command.removeprefix("$ exops "))))
    for title, why, command in (
        p.replace("\\\n", " ").split("\n") for p in _CHAPTERS.strip().split("\n\n")
    )
)


def expand(args: tuple[str, ...], env: Mapping[str, str]) -> tuple[str, ...]:
    """A chapter's ``$EXOPS_LAB_*`` words from the lab's environment (the upgrade's
    image, its SHA-512 and the SFTP server the lab started)."""
    return tuple(env.get(a[1:], a) if a.startswith("$EXOPS_LAB_") else a for a in args)


def _exops(args: tuple[str, ...], env: dict[str, str], *, check: bool = True) -> int:
    args = expand(args, env)
    shown = " ".join(shlex.quote(a) for a in args)
    console.print(f"[bold cyan]$ exops {shown}[/]")
    code = subprocess.call([sys.executable, "-m", "exops", *args], env=env)
    if check and code != 0:
        console.print(f"[red]exops exited {code}[/]")
        raise SystemExit(code)
    return code


def time_scale_lines(time_scale: float) -> list[str]:
    """What the demo says first: its times are the lab's, compressed."""
    factor = 1 / time_scale
    restart = 180 * time_scale  # the lab's restart: 180 s of appliance time, scaled
    return [
        f"Time scale: the lab runs {factor:g}x faster than real appliances "
        f"(--time-scale {time_scale:g}).",
        f"A restart shown as about {restart:.1f} s takes a real Expressway about 3 to 5 minutes",
        f"(vendor note; docs/domain.md section 1). Multiply the times shown by {factor:g}.",
    ]


def demo_env(state: Path, lab_env: Mapping[str, str], environ: Mapping[str, str]) -> dict[str, str]:
    """The environment of the demo's exops runs: the lab's, and the demo's own state.

    No EXOPS_* setting of the caller's shell or settings file reaches the demo (a
    team store, a lock directory, an inventory): the journal, the backups and the
    cluster locks live under ``state``, so the demo's cluster c1 shares a lock
    with no other c1 on the host, not even another demo's.
    """
    env = {k: v for k, v in environ.items() if not k.startswith("EXOPS_")}
    env.update(lab_env)
    env.update(
        {
            "EXOPS_STATE_DIR": str(state / "exops"),
            "EXOPS_LOCK_DIR": str(state / "locks"),
            "EXOPS_CONFIG": str(state / "no-settings-file.yaml"),  # never created
        }
    )
    return env


def _chapters(spec: str | None) -> list[int]:
    """``1-3,5`` -> [1, 2, 3, 5], ``12-`` -> 12 to the last (1-based); None: every one."""
    if not spec:
        return list(range(1, len(CHAPTERS) + 1))
    numbers: list[int] = []
    for part in spec.split(","):
        first, dash, last = part.strip().partition("-")
        try:
            end = int(last) if last else len(CHAPTERS) if dash else int(first)
            numbers += range(int(first), end + 1)
        except ValueError:
            raise SystemExit(f"--chapters {spec!r}: expected numbers like 1-3,5") from None
    if not numbers or not all(1 <= n <= len(CHAPTERS) for n in numbers):
        raise SystemExit(f"--chapters {spec!r}: chapters are 1-{len(CHAPTERS)}")
    return numbers


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m exops.tools.demo", description=__doc__)
    parser.add_argument(
        "--state-dir", type=Path, help="the demo's own directory (default: a new temporary one)"
    )
    parser.add_argument(
        "--time-scale",
        type=float,
        default=0.01,
        help="the lab's speed: 0.01 (default) runs 100x faster than real appliances",
    )
    parser.add_argument(
        "--subnet", help="loopback /16 for the lab, e.g. 127.77 (default: a free one)"
    )
    parser.add_argument("--https-port", type=int, help="HTTPS port of every peer (default: free)")
    parser.add_argument("--ssh-port", type=int, help="SSH port of every peer (default: free)")
    parser.add_argument("--full-plans", action="store_true", help="show each full plan first")
    parser.add_argument("--chapters", help="only these chapters, e.g. 1-3,5 (default: all)")
    parser.add_argument("--keep", action="store_true", help="leave the lab running at the end")
    args = parser.parse_args(argv)
    if not 0 < args.time_scale <= 1:
        raise SystemExit(f"--time-scale {args.time_scale}: must be in (0, 1]")
    chapters = _chapters(args.chapters)
    missing = lab_missing()
    if missing:
        print(f"the demo runs on the bundled lab, which {missing}", file=sys.stderr)
        return 2
    for line in time_scale_lines(args.time_scale):
        console.print(line, soft_wrap=True)
    own = args.state_dir is None
    state = Path(tempfile.mkdtemp(prefix="exops-demo-")) if own else args.state_dir.resolve()
    try:
        return _run(args, state, chapters)
    finally:
        if own and not args.keep:
            shutil.rmtree(state, ignore_errors=True)


def _run(args: argparse.Namespace, state: Path, chapters: list[int]) -> int:
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
    env = demo_env(state, read_lab_env(state / "lab.env"), os.environ)
    started = time.monotonic()
    try:
        for number in chapters:
            title, why, command = CHAPTERS[number - 1]
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
    if args.keep:
        console.print(
            f"the lab is still running: its environment is {state / 'lab.env'}, the demo's "
            f"journal EXOPS_STATE_DIR={env['EXOPS_STATE_DIR']}; "
            f"stop it with: python -m exops.lab down --state-dir {state}"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

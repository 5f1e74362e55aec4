"""The demo: a 4-peer mock lab taken from unclustered to a healthy TLS-enforced cluster.

Runs the real ``exops`` command line against the bundled mock lab (real
HTTPS with a lab CA, real SSH), showing each plan before applying it:
create-cluster -> add-peer x3 -> convert-fqdn -> enforce-tls ->
switch-primary -> ordered restart -> status, then a second run of add-peer
to show that nothing changes.
"""

from __future__ import annotations

import argparse
import os
import shlex
import subprocess
import sys
import time
from pathlib import Path

from rich.console import Console
from rich.rule import Rule

console = Console(highlight=False)


def read_lab_env(path: Path) -> dict[str, str]:
    """``KEY=value`` lines of the lab's documented ``lab.env`` (exops never imports the mock)."""
    env = {}
    for line in path.read_text().splitlines():
        key, sep, value = line.strip().partition("=")
        if sep and key and not key.startswith("#"):
            env[key.removeprefix("export ").strip()] = value.strip().strip("'\"")
    return env


def _exops(args: list[str], env: dict[str, str], *, check: bool = True) -> int:
    shown = " ".join(shlex.quote(a) for a in args)
    console.print(f"\n[bold cyan]$ exops {shown}[/]")
    code = subprocess.call([sys.executable, "-m", "exops", *args], env=env)
    if check and code not in (0,):
        console.print(f"[red]exops exited {code}[/]")
        raise SystemExit(code)
    return code


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m exops.demo", description=__doc__)
    parser.add_argument("--state-dir", type=Path, default=Path(".lab/demo"))
    parser.add_argument("--time-scale", type=float, default=0.01)
    parser.add_argument("--keep", action="store_true", help="leave the lab running at the end")
    args = parser.parse_args(argv)
    state = args.state_dir.resolve()
    up = [sys.executable, "-m", "mock_server"]
    subprocess.call([*up, "down", "--state-dir", str(state)], stderr=subprocess.DEVNULL)
    console.print(Rule("starting a mock lab: 1 cluster x 4 unclustered peers"))
    subprocess.check_call(
        [
            *up,
            "up",
            "--clusters",
            "1",
            "--peers",
            "4",
            "--time-scale",
            str(args.time_scale),
            "--state-dir",
            str(state),
        ]
    )
    env = {**os.environ, **read_lab_env(state / "lab.env"), "EXOPS_STATE_DIR": str(state / "exops")}
    started = time.monotonic()
    try:
        _exops(["status"], env)
        _exops(["create-cluster", "-c", "c1", "--dry-run"], env)
        _exops(["create-cluster", "-c", "c1", "--yes"], env)
        for peer in ("c1-p2", "c1-p3", "c1-p4"):
            _exops(["add-peer", "-c", "c1", "--peer", peer, "--dry-run"], env)
            _exops(["add-peer", "-c", "c1", "--peer", peer, "--yes"], env)
        console.print(Rule("re-running add-peer: nothing to change"))
        _exops(["add-peer", "-c", "c1", "--peer", "c1-p4", "--yes"], env)
        _exops(["convert-fqdn", "-c", "c1", "--yes"], env)
        _exops(["enforce-tls", "-c", "c1", "--dry-run", "--format", "md"], env)
        _exops(["enforce-tls", "-c", "c1", "--yes"], env)
        _exops(["switch-primary", "-c", "c1", "--peer", "c1-p2", "--yes"], env)
        _exops(["restart", "-c", "c1", "--yes"], env)
        _exops(["status"], env)
        _exops(["history"], env, check=False)
    finally:
        if not args.keep:
            subprocess.call([*up, "down", "--state-dir", str(state)])
    console.print(Rule(f"demo finished in {time.monotonic() - started:.0f} s"))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

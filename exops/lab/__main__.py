"""python -m exops.lab up|down|serve: start and stop a lab of simulated appliances."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import yaml


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m exops.lab", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    for name in ("up", "serve"):
        p = sub.add_parser(
            name,
            help="start a lab: up in the background (returns once every listener is ready), "
            "serve in the foreground",
        )
        p.add_argument(
            "--clusters", type=int, default=1, help="how many clusters (1..250; default 1)"
        )
        p.add_argument("--peers", type=int, default=4, help="peers per cluster (1..6; default 4)")
        p.add_argument(
            "--time-scale",
            type=float,
            default=0.01,
            help="multiplies the appliance's real durations (restart, replication): "
            "0.01 makes a 4-minute restart 2.4 s (default 0.01)",
        )
        p.add_argument(
            "--restart-grace",
            type=float,
            default=None,
            metavar="SECONDS",
            help="simulated seconds a peer goes on answering after it accepts a restart "
            "(scaled by --time-scale like every duration; default 10; 0: down at once)",
        )
        p.add_argument(
            "--state-dir",
            type=Path,
            required=True,
            help="DIR for the lab's files: lab.env, inventory/, ca.pem, known_hosts, "
            "server.log, pid",
        )
        p.add_argument(
            "--preset",
            choices=("unclustered", "formed"),
            default="unclustered",
            help="the peers' starting state: factory fresh, or each cluster already "
            "formed and healthy (default unclustered)",
        )
        p.add_argument(
            "--spec",
            type=Path,
            help="YAML: per-peer overrides (name or 'all' -> fields), or a whole cloned "
            "cluster (a 'clusters' key, as exops rehearse writes)",
        )
        p.add_argument(
            "--subnet",
            default="127.77",
            help="first two octets of the peer addresses, loopback only (default 127.77)",
        )
        p.add_argument(
            "--https-port",
            type=int,
            default=8443,
            help="the HTTPS port every peer listens on (default 8443)",
        )
        p.add_argument(
            "--ssh-port",
            type=int,
            default=8022,
            help="the SSH port every peer listens on (default 8022)",
        )
        p.add_argument(
            "--transport",
            choices=("rest", "ssh", "auto"),
            default="auto",
            help="the transport written into the generated inventory (default auto)",
        )
        p.add_argument(
            "--cdb-rest",
            choices=("on", "off"),
            default="off",
            help="the cluster database REST interface on every peer (off: the X14.2+ default)",
        )
        p.add_argument(
            "--server-list-form",
            choices=("documented", "list", "undocumented"),
            default="documented",
            help="the shape of the DNS/NTP server (and option-key) answers: the guide's "
            "(default), a JSON list of rows, or a shape no source shows (tests)",
        )
        p.add_argument(
            "--timeout", type=float, default=60.0, help="up: seconds to wait for ready (default 60)"
        )
        p.add_argument(
            "--replay",
            type=Path,
            help="DIR of recorded transcripts (exops --record DIR): every peer answers "
            "with the recorded answers; the peers come from DIR/manifest.json",
        )
    down = sub.add_parser("down", help="stop a lab")
    down.add_argument(
        "--state-dir",
        type=Path,
        required=True,
        help="DIR the lab was started with (up --state-dir)",
    )
    return parser


def _config(args: argparse.Namespace) -> dict[str, object]:
    if not 1 <= args.clusters <= 250 or not 1 <= args.peers <= 6:
        raise SystemExit("exops.lab: --clusters must be 1..250 and --peers 1..6")
    grace = args.restart_grace
    if grace is not None and not 0 <= grace < float("inf"):
        raise SystemExit("exops.lab: --restart-grace must be 0 or more seconds")
    parts = args.subnet.split(".")
    if (
        len(parts) != 2
        or parts[0] != "127"
        or not parts[1].isdigit()
        or not 0 <= int(parts[1]) <= 255
    ):
        raise SystemExit("exops.lab: --subnet must look like 127.N (loopback only)")
    spec = yaml.safe_load(args.spec.read_text()) if args.spec else {}
    replay = None
    if args.replay:
        from exops.lab.replay import Replay, ReplayError, spec_from

        try:
            spec = spec_from(Replay(args.replay))
        except (OSError, ReplayError) as exc:
            raise SystemExit(f"exops.lab: --replay {args.replay}: {exc}") from exc
        replay = str(args.replay.resolve())
    elif spec and "clusters" in spec:
        from exops.lab.clone import CloneSpecError, check_spec

        try:
            check_spec(spec)
        except CloneSpecError as exc:
            raise SystemExit(f"exops.lab: --spec {args.spec}: {exc}") from exc
    return {
        "replay": replay,
        "clusters": args.clusters,
        "peers": args.peers,
        "time_scale": args.time_scale,
        "restart_grace": grace,
        "preset": args.preset,
        "spec": spec or {},
        "subnet": args.subnet,
        "https_port": args.https_port,
        "ssh_port": args.ssh_port,
        "transport": args.transport,
        "cdb_rest": args.cdb_rest == "on",
        "server_list_form": args.server_list_form,
    }


def up(args: argparse.Namespace) -> int:
    state: Path = args.state_dir.resolve()
    state.mkdir(parents=True, exist_ok=True)
    for stale in ("ready", "pid", "control.url"):
        (state / stale).unlink(missing_ok=True)
    argv = [sys.executable, "-m", "exops.lab", "serve", *sys.argv[sys.argv.index("up") + 1 :]]
    log = open(state / "server.log", "ab")  # noqa: SIM115 - handed to the child
    proc = subprocess.Popen(
        argv, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True
    )
    (state / "pid").write_text(str(proc.pid))
    deadline = time.monotonic() + args.timeout
    while time.monotonic() < deadline:
        if (state / "ready").exists():
            try:
                info = json.loads((state / "ready").read_text())
            except ValueError:  # a lab of an older version writing it in place
                time.sleep(0.05)
                continue
            shape = f"{args.clusters} x {args.peers} peers"
            if args.spec or args.replay:  # a clone or a replay: its own peers
                hosts = yaml.safe_load((state / "inventory" / "hosts.yaml").read_text()) or {}
                shape = f"{len(hosts)} peers ({'replay' if args.replay else 'spec'})"
            print(f"lab up: {shape} in {info['seconds']:.1f} s; source {state / 'lab.env'}")
            return 0
        if proc.poll() is not None:
            print(
                f"exops.lab: the lab exited ({proc.returncode}); see {state / 'server.log'}",
                file=sys.stderr,
            )
            return 1
        time.sleep(0.05)
    proc.terminate()
    print(
        f"exops.lab: not ready after {args.timeout:.0f} s; see {state / 'server.log'}",
        file=sys.stderr,
    )
    return 1


def _exited(pid: int) -> bool:
    """The process has exited and waits to be reaped (Linux: state Z in /proc)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rpartition(")")[2].split()[:1] == ["Z"]


def down(args: argparse.Namespace) -> int:
    pid_file = args.state_dir / "pid"
    if not pid_file.exists():
        return 0
    pid = int(pid_file.read_text())
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        pid_file.unlink(missing_ok=True)
        return 0
    for _ in range(200):
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            break
        if _exited(pid):  # a zombie: it has exited, its reaper has not come by yet
            break
        time.sleep(0.05)
    else:
        os.kill(pid, signal.SIGKILL)
    pid_file.unlink(missing_ok=True)
    (args.state_dir / "ready").unlink(missing_ok=True)
    return 0


def _missing_extra() -> list[str]:
    """The lab's own dependencies (the `lab` extra of exops) that are not installed."""
    import importlib.util

    return [m for m in ("aiohttp", "asyncssh") if importlib.util.find_spec(m) is None]


def main() -> int:
    args = _parser().parse_args()
    missing = _missing_extra() if args.command in ("up", "serve") else []
    if missing:
        print(
            f"exops.lab: needs {', '.join(missing)}, not installed: pip install 'exops[lab]'",
            file=sys.stderr,
        )
        return 2
    if args.command == "up":
        _config(args)
        return up(args)
    if args.command == "down":
        return down(args)
    from exops.lab.server import serve

    state = args.state_dir.resolve()
    state.mkdir(parents=True, exist_ok=True)
    asyncio.run(serve(_config(args), state))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Shared bench helpers: start a lab, run a command, measure wall/CPU/peak memory."""

from __future__ import annotations

import argparse
import json
import os
import platform
import shlex
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import psutil

from exops.lab.client import read_lab_env

ROOT = Path(__file__).resolve().parents[1]
PY = sys.executable

# The 1-minute load average, sampled every 5 s while a benchmark runs: each row of
# the table of record carries the range seen during its script (the machine is
# shared, so a wall figure means little without it; ratios survive load).
LOADS: list[float] = []


def _sample_load() -> None:
    while True:
        LOADS.append(os.getloadavg()[0])
        time.sleep(5)


threading.Thread(target=_sample_load, daemon=True).start()


def load_range() -> str:
    """The 1-minute load average seen so far in this script: "min-max"."""
    seen = [*LOADS, os.getloadavg()[0]]
    return f"{min(seen):.1f}-{max(seen):.1f}"


@dataclass
class Measure:
    label: str
    wall_s: float
    cpu_s: float
    peak_mib: float
    exit_code: int
    requests: int = 0

    def line(self) -> str:
        return (
            f"{self.label:<34} wall {self.wall_s:8.2f} s   cpu {self.cpu_s:8.2f} s   "
            f"peak {self.peak_mib:7.1f} MiB   exit {self.exit_code}"
        )


def machine() -> str:
    return (
        f"{platform.node()} {platform.machine()} {os.cpu_count()} cores "
        f"{psutil.virtual_memory().total / 2**30:.0f} GiB, Python {platform.python_version()}, "
        f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC"
    )


def add_lab_options(parser: argparse.ArgumentParser, subnet: str) -> None:
    """``--subnet``/``--https-port``/``--ssh-port``: run beside another lab."""
    parser.add_argument("--subnet", default=subnet, help=f"lab subnet 127.N (default {subnet})")
    parser.add_argument("--https-port", type=int, default=8443)
    parser.add_argument("--ssh-port", type=int, default=8022)


@contextmanager
def lab(
    state_dir: Path,
    where: argparse.Namespace,
    *,
    clusters: int,
    peers: int,
    time_scale: float = 1.0,
    preset: str = "formed",
    cdb_rest: bool = False,
    transport: str = "auto",
    restart_grace: float | None = None,
) -> Iterator[dict[str, str]]:
    """Start a mock lab and yield the environment exops needs for it (the exops
    and exops.lab of this checkout, byte-compiled, first on PYTHONPATH).
    ``where`` holds the lab options (``add_lab_options``): subnet and ports.
    ``restart_grace``: the lab's ``--restart-grace`` (simulated seconds a peer goes
    on answering after it accepts a restart; None: the lab's default, 0: down at once)."""
    compiled()
    https_port, ssh_port = where.https_port, where.ssh_port
    subnet = free_subnet(where.subnet, https_port, ssh_port)
    base = {**os.environ, "PYTHONPATH": os.pathsep.join(_paths())}
    down = [PY, "-m", "exops.lab", "down", "--state-dir", str(state_dir)]
    subprocess.call(down, stderr=subprocess.DEVNULL, stdout=subprocess.DEVNULL, env=base)
    state_dir.mkdir(parents=True, exist_ok=True)
    argv = [
        *(PY, "-m", "exops.lab", "up", "--state-dir", str(state_dir)),
        *("--clusters", str(clusters), "--peers", str(peers)),
        *("--time-scale", str(time_scale), "--preset", preset, "--subnet", subnet),
        *("--https-port", str(https_port), "--ssh-port", str(ssh_port)),
        *("--transport", transport, "--cdb-rest", "on" if cdb_rest else "off"),
    ]
    if restart_grace is not None:
        argv += ["--restart-grace", str(restart_grace)]
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=300, check=False, env=base)
    if proc.returncode != 0:
        log = state_dir / "server.log"
        tail = log.read_text()[-3000:] if log.exists() else ""
        raise RuntimeError(f"mock lab did not start: {proc.stderr}\n{tail}")
    try:
        env = read_lab_env(state_dir / "lab.env")
        yield {**base, **env, "EXOPS_STATE_DIR": str(state_dir / "exops")}
    finally:
        subprocess.call(down, stderr=subprocess.DEVNULL, stdout=subprocess.DEVNULL, env=base)


# The test suite's labs take 127.100-239 (one share per xdist worker): benchmarks
# default below or above it, and move on when a subnet is taken.
TEST_SUBNETS = range(100, 240)


def free_subnet(subnet: str, https_port: int, ssh_port: int) -> str:
    """``subnet`` if its first peer's ports are free, else the next free 127.N
    outside the test suite's range (another lab, a test run, may hold it)."""
    first = int(subnet.split(".")[1])
    order = [first, *range(first + 1, 255), *range(2, first)]
    for n in (n for n in order if n == first or n not in TEST_SUBNETS):
        if all(_free(f"127.{n}.1.11", port) for port in (https_port, ssh_port)):
            if n != first:
                print(f"lab subnet 127.{first} is taken: using 127.{n}", flush=True)
            return f"127.{n}"
    raise RuntimeError("no free 127.N subnet for a lab")


def _free(address: str, port: int) -> bool:
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the lab binds
        try:
            s.bind((address, port))
        except OSError:
            return False
    return True


def _paths() -> list[str]:
    """This checkout first, then whatever PYTHONPATH held."""
    rest = [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]
    return [str(ROOT), *(p for p in rest if Path(p).resolve() != ROOT)]


def contenders(before: str | None, work: Path) -> dict[str, Path | None]:
    """Label -> exops tree: ``before (<ref>)`` when asked for, then this checkout
    (``None``: the tree on PYTHONPATH already)."""
    trees: dict[str, Path | None] = {}
    if before:
        trees[f"before ({before})"] = before_tree(before, work)
    trees["after"] = None
    return trees


def before_tree(ref: str, work: Path) -> Path:
    """The ``exops`` package as of git ``ref``, for a side-by-side "before" run
    (``PYTHONPATH=<this>``; the mock and the bench stay as checked out)."""
    out = work / f"before-{ref.replace('/', '_')}"
    out.mkdir(parents=True, exist_ok=True)
    archive = subprocess.run(
        ["git", "-C", str(ROOT), "archive", ref, "exops"], capture_output=True, check=True
    )
    subprocess.run(["tar", "-x", "-C", str(out)], input=archive.stdout, check=True)
    return compiled(out)


def compiled(tree: Path = ROOT) -> Path:
    """Byte-compile ``tree``'s exops package, as an install does. Without it, where
    PYTHONDONTWRITEBYTECODE is set (this machine) or the tree is fresh, every
    process compiles exops from source: ~0.1-0.2 s of each start-up."""
    subprocess.run([PY, "-m", "compileall", "-q", str(tree / "exops")], check=True)
    return tree


def inject(env: dict[str, str], fault: dict[str, object]) -> str:
    """Inject a lab fault (``POST /faults``); returns its id."""
    request = urllib.request.Request(
        env["EXOPS_LAB_CONTROL"] + "/faults",
        data=json.dumps(fault).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=30) as r:
        return str(json.load(r)["id"])


def clear_faults(env: dict[str, str]) -> None:
    request = urllib.request.Request(env["EXOPS_LAB_CONTROL"] + "/faults", method="DELETE")
    with urllib.request.urlopen(request, timeout=30) as r:
        r.read()


def measure(label: str, argv: list[str], env: dict[str, str], *, quiet: bool = True) -> Measure:
    """Run a command; sample the RSS of its whole process tree for the peak."""
    start = time.perf_counter()
    proc = psutil.Popen(
        argv,
        env=env,
        stdout=subprocess.DEVNULL if quiet else None,
        stderr=subprocess.DEVNULL if quiet else None,
    )
    peak = 0
    done = threading.Event()

    def sample() -> None:
        nonlocal peak
        while not done.is_set():
            try:
                procs = [proc, *proc.children(recursive=True)]
                rss = sum(p.memory_info().rss for p in procs if p.is_running())
                peak = max(peak, rss)
            except psutil.Error:
                pass
            done.wait(0.02)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    before = os.times()
    code = proc.wait()
    wall = time.perf_counter() - start
    done.set()
    sampler.join()
    after = os.times()
    cpu = (after.children_user - before.children_user) + (
        after.children_system - before.children_system
    )
    return Measure(label, wall, cpu, peak / 2**20, code)


def lab_metrics(env: dict[str, str]) -> dict:
    """The mock's /metrics: request count, restarts and their downtime, waits."""
    with urllib.request.urlopen(env["EXOPS_LAB_CONTROL"] + "/metrics", timeout=30) as r:
        return json.load(r)


def lab_requests(env: dict[str, str], since: int) -> list[dict]:
    """The lab's request log after sequence number ``since``."""
    url = f"{env['EXOPS_LAB_CONTROL']}/requests?since={since}"
    with urllib.request.urlopen(url, timeout=30) as r:
        return json.load(r)


def first_request(label: str, argv: list[str], env: dict[str, str]) -> tuple[Measure, float]:
    """Run a command; seconds from its launch to the first request the lab logged."""
    since = lab_metrics(env)["requests"]
    start = time.time()
    result = measure(label, argv, env)
    reqs = lab_requests(env, since)
    return result, (reqs[0]["ts"] - start) if reqs else float("nan")


def exops_argv(*args: str) -> list[str]:
    """The installed `exops` entry point (or `python -m exops` without one)."""
    exe = Path(PY).parent / "exops"
    return [str(exe), *args] if exe.exists() else [PY, "-m", "exops", *args]


def command_line() -> str:
    """How this benchmark was run (for the table of record)."""
    return shlex.join(["bench/" + Path(sys.argv[0]).name, *sys.argv[1:]])


def record(goal: str, figure: str, met: str, *, before: str = "") -> None:
    """One row of the table of record (bench/table.py), appended to the JSON-lines
    file $BENCH_RESULTS when set (bench/run_all.sh sets it); printed either way."""
    row = {
        "goal": goal,
        "before": before,
        "figure": figure,
        "met": met,
        "load": load_range(),
        "command": command_line(),
    }
    print(f"RESULT {goal}: {figure} -> {met} (load average {row['load']})")
    path = os.environ.get("BENCH_RESULTS")
    if path:
        with open(path, "a", encoding="utf-8") as f:
            f.write(json.dumps(row) + "\n")


def verdict(ok: bool) -> str:
    return "yes" if ok else "no"

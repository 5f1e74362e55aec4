"""Shared bench helpers: start a lab, run a command, measure wall/CPU/peak memory."""

from __future__ import annotations

import json
import os
import platform
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

from mock_server.client import start_lab

ROOT = Path(__file__).resolve().parents[1]
PY = sys.executable


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


@contextmanager
def lab(
    state_dir: Path,
    *,
    clusters: int,
    peers: int,
    time_scale: float,
    preset: str,
    subnet: str = "127.90",
) -> Iterator[dict[str, str]]:
    """Start a mock lab and yield the environment exops needs for it."""
    subprocess.call(
        [PY, "-m", "mock_server", "down", "--state-dir", str(state_dir)], stderr=subprocess.DEVNULL
    )
    running = start_lab(
        state_dir,
        subnet=subnet,
        clusters=clusters,
        peers=peers,
        time_scale=time_scale,
        preset=preset,
    )
    try:
        yield {**os.environ, **running.env, "EXOPS_STATE_DIR": str(state_dir / "exops")}
    finally:
        running.stop()


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


def exops_argv(*args: str) -> list[str]:
    """The installed `exops` entry point (or `python -m exops` without one)."""
    exe = Path(PY).parent / "exops"
    return [str(exe), *args] if exe.exists() else [PY, "-m", "exops", *args]

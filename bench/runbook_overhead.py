"""Benchmark 2: runbook overhead, exops wall time / the mandatory waits the lab imposed.

    .venv/bin/python bench/runbook_overhead.py [--time-scale 0.01] [--runs 1]
        [--only restart|add-peer] [--restart-grace SECONDS]

On a mock lab at a compressed time scale:

- restart: a formed 6-peer cluster, `exops restart -c c1 --yes` (ordered,
  primary first, each restart health-gated);
- add-peer: an unclustered 6-peer lab; set up with `exops create-cluster` and
  `exops add-peer` of peers 2..5 (not timed), then `exops add-peer -c c1
  --peer c1-p6 --yes` is timed.

Mandatory waits = the sum, over the restarts the timed run caused, of each
restart's wait as the mock's `GET /metrics` reports it: from the restart
request to the boot, i.e. the lab's restart grace (the peer goes on
answering after it accepts a restart, as a real appliance does: `down_at -
requested_at`) plus the downtime (`downtime_s`, boot minus going down). The
lab's figures are read, not assumed: `--restart-grace 0` makes the grace
nil. Replication intervals are not added: the mock replicates a
rebooted peer on its first tick after boot and marks a newly listed peer
Unknown (not Failed) for one interval, neither of which the runbooks must
sit out beyond the restart (see bench/README.md). The breakdown shows where
the rest of the wall time went, from the lab's request log.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
import common
from common import Measure, add_lab_options, exops_argv, lab, lab_metrics, machine, measure


def lab_requests(env: dict[str, str], since: int) -> list[dict]:
    url = f"{env['EXOPS_LAB_CONTROL']}/requests?since={since}"
    with urllib.request.urlopen(url, timeout=30) as r:
        return json.load(r)


def last_seq(env: dict[str, str]) -> int:
    return lab_metrics(env)["requests"]


CLUSTER_ALARMS = {"20004", "20006", "20007", "20101", "20102", "20105"}


def lab_healthy(state: dict) -> bool:
    """The lab's own view: every clustered peer up, synchronised, sees all Active."""
    for peer in state["peers"].values():
        if not peer["running"]:
            return False
        if peer["database"] == "Inactive":
            continue  # not clustered (yet)
        if peer["database"] != "Active" or peer["replication"] != "Synchronised":
            return False
        if any(v != "Active" for v in peer["states"].values()):
            return False
        if CLUSTER_ALARMS & set(peer["alarms"]):
            return False
    return True


class Watcher:
    """Samples the lab's /state every `period` s: when was the lab healthy."""

    def __init__(self, env: dict[str, str], period: float = 0.03):
        self.url = env["EXOPS_LAB_CONTROL"] + "/state"
        self.period = period
        self.samples: list[tuple[float, bool]] = []
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)

    def run(self) -> None:
        while not self.stop.is_set():
            try:
                with urllib.request.urlopen(self.url, timeout=5) as r:
                    state = json.load(r)
                self.samples.append((time.time(), lab_healthy(state)))
            except OSError:
                pass
            self.stop.wait(self.period)

    def healthy_after(self, t: float) -> float | None:
        """The first sample after t at which the lab was healthy."""
        return next((ts for ts, ok in self.samples if ts >= t and ok), None)

    def __enter__(self) -> Watcher:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.thread.join()


def timed_run(label: str, argv: list[str], env: dict[str, str]) -> dict:
    """Run one timed exops command; return wall, mandatory waits and a breakdown."""
    before = lab_metrics(env)
    seq0 = before["requests"]
    with Watcher(env) as watcher:
        t_start = time.time()
        result: Measure = measure(label, argv, env)
        t_end = time.time()
    after = lab_metrics(env)
    restarts = after["restarts"][len(before["restarts"]) :]
    # Each restart's wait as the lab measured it: the grace (request -> down) + downtime.
    graces = [r["down_at"] - r["requested_at"] for r in restarts]
    mandatory = sum(r["downtime_s"] for r in restarts) + sum(graces)
    reqs = lab_requests(env, seq0)
    writes = [q for q in reqs if "restart" in q["path"] and q["method"] != "GET"]
    # A breakdown: start-up (process start to its first request), then per
    # restart: exops's first answer after the previous boot to the restart
    # request (settle + health gate + next step), the lab's grace (request ->
    # down), the downtime, boot to exops's first answer (poll latency); then the tail.
    phases: list[tuple[str, float]] = []
    if reqs:
        phases.append(("start-up: process start -> first request", reqs[0]["ts"] - t_start))
    cursor = reqs[0]["ts"] if reqs else t_start
    settle = 0.0
    for w, r, grace in zip(writes, restarts, graces, strict=False):
        peer = w["peer"]
        phases.append(
            (f"start-up reads, plan or settle/gate -> restart request to {peer}", w["ts"] - cursor)
        )
        boot = r["down_at"] + r["downtime_s"]
        phases.append((f"  request -> {peer} goes down (the lab's grace, mandatory)", grace))
        phases.append((f"  {peer} down (mandatory)", r["downtime_s"]))
        healthy = watcher.healthy_after(boot)
        if healthy is not None:
            settle += healthy - boot
        seen = [q for q in reqs if q["peer"] == peer and q["ts"] >= boot]
        cursor = seen[0]["ts"] if seen else boot
        phases.append((f"  boot -> exops's first answer from {peer} (poll)", cursor - boot))
        if healthy is not None:
            phases.append(
                ("    (boot -> lab healthy again, /state sampled every 30 ms)", healthy - boot)
            )
    if reqs:
        phases.append(
            ("settle/gate/verify after the last restart -> last request", reqs[-1]["ts"] - cursor)
        )
        phases.append(("last request -> process exit", t_end - reqs[-1]["ts"]))
    return {
        "measure": result,
        "mandatory": mandatory,
        "settle": settle,
        "nominal": (after["restart_downtime_s"] + after.get("restart_grace_s", 0.0))
        * len(restarts),
        "restarts": len(restarts),
        "requests": len(reqs),
        "phases": phases,
    }


def lab_figures(env: dict[str, str]) -> None:
    """The lab's own restart and replication figures (wall seconds), from /metrics."""
    m = lab_metrics(env)
    print(
        f"lab: time scale {m['time_scale']}, restart downtime {m['restart_downtime_s']:.2f} s, "
        f"restart grace {m.get('restart_grace_s', 0.0):.2f} s, "
        f"replication interval {m['replication_interval_s']:.2f} s"
    )


def must(argv: list[str], env: dict[str, str]) -> None:
    m = measure(" ".join(argv[-5:]), argv, env)
    if m.exit_code != 0:
        raise SystemExit(f"setup step failed (exit {m.exit_code}): {' '.join(argv)}")


def report(name: str, runs: list[dict], time_scale: float) -> None:
    print(f"\n== {name}")
    for i, run in enumerate(runs, 1):
        m = run["measure"]
        ratio = m.wall_s / run["mandatory"] if run["mandatory"] else float("nan")
        print(
            f"run {i}: exops wall {m.wall_s:6.2f} s  cpu {m.cpu_s:5.2f} s  "
            f"peak {m.peak_mib:5.1f} MiB  exit {m.exit_code}  | {run['restarts']} restarts, "
            f"mandatory {run['mandatory']:6.2f} s (nominal {run['nominal']:.2f} s)  "
            f"requests {run['requests']}  | wall / mandatory {ratio:.3f}x"
        )
        if m.exit_code != 0:
            print(f"WARNING: exit {m.exit_code}: this run is not comparable")
    best = min(runs, key=lambda r: r["measure"].wall_s / max(r["mandatory"], 1e-9))
    ratios = [r["measure"].wall_s / max(r["mandatory"], 1e-9) for r in runs]
    print(
        f"{name}: exops wall / mandatory waits: best {min(ratios):.3f}x, "
        f"median {statistics.median(ratios):.3f}x (target <= 1.10x)"
    )
    print("breakdown of the best run (s; indented lines in parentheses overlap others):")
    for label, seconds in best["phases"]:
        print(f"  {seconds:7.3f}  {label}")
    overhead = best["measure"].wall_s - best["mandatory"]
    print(f"  {overhead:7.3f}  = overhead beyond the mandatory waits")
    with_settle = best["mandatory"] + best["settle"]
    start = next((sec for label, sec in best["phases"] if label.startswith("start-up")), None)
    common.record(
        f"{name}, time scale {time_scale}: exops wall / mandatory waits <= 1.10x",
        f"best {min(ratios):.3f}x, median {statistics.median(ratios):.3f}x "
        f"(best: wall {best['measure'].wall_s:.2f} s, {best['restarts']} restarts "
        f"{best['mandatory']:.2f} s, overhead {overhead:.2f} s"
        + (f", of which start-up {start:.2f} s" if start is not None else "")
        + f"; {best['requests']} requests)",
        common.verdict(min(ratios) <= 1.10),
    )
    print(
        f"counting the lab's post-boot settling as mandatory too "
        f"(+{best['settle']:.2f} s): "
        f"wall / (downtime + settle) {best['measure'].wall_s / with_settle:.3f}x"
    )


def bench_restart(work: Path, args: argparse.Namespace) -> list[dict]:
    runs = []
    with lab(
        work / "restart",
        args,
        clusters=1,
        peers=6,
        time_scale=args.time_scale,
        restart_grace=args.restart_grace,
    ) as env:
        lab_figures(env)
        for _ in range(args.runs):
            argv = exops_argv("restart", "-c", "c1", "--yes")
            runs.append(timed_run("exops restart -c c1 --yes", argv, env))
    return runs


def bench_add_peer(work: Path, args: argparse.Namespace) -> list[dict]:
    runs = []
    for i in range(args.runs):
        with lab(
            work / f"add-peer-{i}",
            args,
            clusters=1,
            peers=6,
            time_scale=args.time_scale,
            preset="unclustered",
            restart_grace=args.restart_grace,
        ) as env:
            if i == 0:
                lab_figures(env)
            must(exops_argv("create-cluster", "-c", "c1", "--yes"), env)
            for n in range(2, 6):
                must(exops_argv("add-peer", "-c", "c1", "--peer", f"c1-p{n}", "--yes"), env)
            argv = exops_argv("add-peer", "-c", "c1", "--peer", "c1-p6", "--yes")
            runs.append(timed_run("exops add-peer -c c1 --peer c1-p6", argv, env))
    return runs


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--time-scale", type=float, default=0.01)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--only", choices=("restart", "add-peer"))
    parser.add_argument(
        "--restart-grace", type=float, help="the lab's --restart-grace (simulated s; 0: instant)"
    )
    add_lab_options(parser, "127.92")
    args = parser.parse_args()
    print(f"runbook overhead: time scale {args.time_scale} (the lab's figures: see each lab)")
    print(f"machine: {machine()}")
    work = Path(tempfile.mkdtemp(prefix="exops-bench-"))
    try:
        if args.only in (None, "restart"):
            report("ordered restart, 6-peer cluster", bench_restart(work, args), args.time_scale)
        if args.only in (None, "add-peer"):
            report("add-peer (6th peer)", bench_add_peer(work, args), args.time_scale)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

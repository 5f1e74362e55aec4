"""Benchmark 3: fleet runbook, ordered restart of N clusters at once vs one cluster alone.

    .venv/bin/python bench/fleet_runbook.py [--clusters 50] [--sizes 10] [--time-scale 0.01]
        [--restart-grace 0] [--goal 1.5] [--profile FILE] [--before REF]

Starts one lab of --clusters formed 6-peer clusters at a compressed time
scale. Then, on that same lab: `exops restart -c c1 --yes` alone, and, for
each size N (--sizes, then --clusters), N concurrent processes
`exops restart -c cK --yes` (K = 1..N), all sharing one EXOPS_STATE_DIR (the
lock is per cluster, as an operator's machine would run them), and the same N
clusters in ONE process (`exops restart -c c1 -c c2 ... --yes`, the fleet
mode: one thread per cluster, start-up paid once). Prints the
wall from launch to the last exit, the total CPU and the peak RSS of all the
processes together, the requests the lab served (HTTPS requests and CLI commands:
a count, unlike CPU seconds, that the machine's load does not move), and the ratio
fleet wall / single-cluster wall.
--restart-grace is the lab's (simulated seconds a peer goes on answering after
it accepts a restart; 0: down at once), so the mandatory waits are the
downtime alone. --profile FILE: after the measurement, the one-process fleet
once more under cProfile (not timed), its top functions by own time printed:
what bounds the ratio when the goal is not met (``PROFILE_TIMER=cpu`` in the
environment: each thread's CPU time instead of wall time, bench/profile_cli.py).
--before REF: the same rows (one cluster alone, then the fleet) for exops as of
git REF first, on the same lab, then for this checkout: side by side in one run;
then this checkout's and REF's once more, in that order (A B B A: the machine's
load drifts during a run, and the same tree run twice in a row measured 0.38 then
0.49 s CPU per cluster), each figure the mean of its two rounds (--once: one round).
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import psutil

sys.path.insert(0, str(Path(__file__).parent))
from common import (
    PY,
    add_lab_options,
    contenders,
    exops_argv,
    lab,
    lab_metrics,
    machine,
    record,
    verdict,
)


def cpu_of(proc: psutil.Process | None) -> float:
    if proc is None:
        return 0.0
    t = proc.cpu_times()
    return t.user + t.system


def run_many(
    argvs: list[list[str]], env: dict[str, str], mock: psutil.Process | None = None
) -> dict:
    """Start every command at once; wall to the last exit, CPU, peak RSS of the tree."""
    mock_before = cpu_of(mock)
    served = lab_metrics(env)["requests"]
    before = os.times()
    start = time.perf_counter()
    procs = [
        psutil.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        for argv in argvs
    ]
    peak = 0
    done = threading.Event()

    def sample() -> None:
        nonlocal peak
        while not done.is_set():
            total = 0
            for p in procs:
                try:
                    total += p.memory_info().rss
                    total += sum(c.memory_info().rss for c in p.children(recursive=True))
                except psutil.Error:
                    pass
            peak = max(peak, total)
            done.wait(0.05)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    walls, codes, errors = [], [], []
    pending = dict(enumerate(procs))
    ends: dict[int, float] = {}
    while pending:
        for i, p in list(pending.items()):
            if p.poll() is not None:
                ends[i] = time.perf_counter() - start
                del pending[i]
        time.sleep(0.01)
    wall = time.perf_counter() - start
    done.set()
    sampler.join()
    after = os.times()
    mock_cpu = cpu_of(mock) - mock_before
    served = lab_metrics(env)["requests"] - served
    for i, p in enumerate(procs):
        walls.append(ends[i])
        codes.append(p.returncode)
        if p.returncode != 0:
            errors.append((argvs[i][-3], p.stderr.read().decode(errors="replace")[-400:]))
        p.stderr.close()
    cpu = (after.children_user - before.children_user) + (
        after.children_system - before.children_system
    )
    return {
        "n": len(argvs),
        "wall": wall,
        "walls": walls,
        "cpu": cpu,
        "mock_cpu": mock_cpu,
        "peak_mib": peak / 2**20,
        "requests": served,
        "failed": sum(c != 0 for c in codes),
        "errors": errors,
    }


def profile(out: Path, fleet: list[str], env: dict[str, str]) -> None:
    """The one-process fleet once more under cProfile; print its top functions."""
    import pstats

    # The lab's clusters are healthy again after the measured runs' restarts.
    script = str(Path(__file__).parent / "profile_cli.py")  # every thread, not the main alone
    argv = [PY, script, str(out), "restart", *fleet, "--yes"]
    start = time.perf_counter()
    proc = subprocess.run(
        argv, check=False, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )
    code = proc.returncode
    print(f"\nprofile (exit {code}, {time.perf_counter() - start:.1f} s under cProfile): {out}")
    if code != 0:  # what went wrong, in the command's own words
        text = proc.stdout.decode(errors="replace")
        print("\n".join(ln for ln in text.splitlines() if "exit" in ln or "refused" in ln)[-3000:])
    if not out.exists():
        print("no profile written")
        return
    stats = pstats.Stats(str(out))
    stats.sort_stats("tottime").print_stats(30)
    stats.sort_stats("cumulative").print_stats(50)


def run_befores(
    trees: dict[str, Path | None], clusters: int, env: dict[str, str], mock: psutil.Process
) -> list[tuple[str, dict, dict]]:
    """(label, one cluster alone, the fleet in one process) for each "before" tree."""
    out = []
    fleet = [x for k in range(1, clusters + 1) for x in ("-c", f"c{k}")]
    for label, tree in trees.items():
        if tree is None:
            continue
        old = {**env, "PYTHONPATH": str(tree)}
        one = run_many([exops_argv("restart", "-c", "c1", "--yes")], old, mock)
        print(line(f"{label}: 1 cluster", one), flush=True)
        many = run_many([exops_argv("restart", *fleet, "--yes")], old, mock)
        print(line(f"{label}: {clusters}, 1 proc", many), flush=True)
        out.append((label, one, many))
    return out


def mean_of(a: dict, b: dict) -> dict:
    """Two rounds of one measurement as one: walls, CPU and counts averaged."""
    out = dict(a)
    for key in ("wall", "cpu", "mock_cpu", "requests"):
        out[key] = (a[key] + b[key]) / 2
    out["walls"] = [(x + y) / 2 for x, y in zip(a["walls"], b["walls"], strict=True)]
    out["peak_mib"] = max(a["peak_mib"], b["peak_mib"])
    out["failed"] = a["failed"] + b["failed"]
    out["errors"] = a["errors"] + b["errors"]
    return out


def second_rounds(
    args: argparse.Namespace,
    trees: dict[str, Path | None],
    results: list[tuple[str, dict]],
    befores: list[tuple[str, dict, dict]],
    env: dict[str, str],
    mock: psutil.Process,
) -> tuple[list[tuple[str, dict]], list[tuple[str, dict, dict]]]:
    """A B B A: this checkout's single and fleet rows again, then each before tree's;
    every figure becomes the mean of its two rounds (the machine drifts during a
    run: the same tree run twice in a row measured 0.38 then 0.49 s CPU per cluster)."""
    print("second rounds (after, then before): each figure is the mean of two")
    fleet = [x for k in range(1, args.clusters + 1) for x in ("-c", f"c{k}")]
    single2 = run_many([exops_argv("restart", "-c", "c1", "--yes")], env, mock)
    print(line("1 cluster alone (2)", single2), flush=True)
    fleet2 = run_many([exops_argv("restart", *fleet, "--yes")], env, mock)
    print(line(f"{args.clusters} clusters, 1 proc (2)", fleet2), flush=True)
    label = f"{args.clusters} clusters, 1 proc"
    merged = [
        (k, mean_of(r, single2) if i == 0 else mean_of(r, fleet2) if k == label else r)
        for i, (k, r) in enumerate(results)
    ]
    again = run_befores(trees, args.clusters, env, mock)
    return merged, [
        (name, mean_of(one, one2), mean_of(many, many2))
        for (name, one, many), (_, one2, many2) in zip(befores, again, strict=True)
    ]


def summarise_befores(befores: list[tuple[str, dict, dict]], clusters: int) -> str:
    before = ""
    for label, one, many in befores:
        ratio = many["wall"] / one["wall"]
        before = (
            f"{label}: {ratio:.2f}x (wall {many['wall']:.1f} s vs {one['wall']:.1f} s; CPU "
            f"{many['cpu'] / clusters:.2f} s per cluster, one cluster alone {one['cpu']:.2f} s; "
            f"lab requests per cluster {many['requests'] / clusters:.0f})"
        )
        print(before)
    return before


def line(label: str, r: dict) -> str:
    w = r["walls"]
    return (
        f"{label:<26} wall {r['wall']:7.2f} s  (per process min {min(w):.2f} / median "
        f"{statistics.median(w):.2f} / max {max(w):.2f})  cpu {r['cpu']:7.2f} s  "
        f"peak {r['peak_mib']:7.1f} MiB  failed {r['failed']}  (lab's own cpu {r['mock_cpu']:.1f} s, "
        f"{r['requests']} requests served)"
    )


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--clusters", type=int, default=50)
    parser.add_argument("--peers", type=int, default=6)
    parser.add_argument("--time-scale", type=float, default=0.01)
    parser.add_argument(
        "--sizes",
        default="5,10",
        help="smaller fleet sizes to run too, comma-separated ('' for none)",
    )
    parser.add_argument(
        "--skip-procs",
        action="store_true",
        help="only the one-process fleet (-c repeated), not N concurrent processes",
    )
    parser.add_argument(
        "--restart-grace", type=float, help="the lab's --restart-grace (simulated s; 0: instant)"
    )
    parser.add_argument("--goal", type=float, default=1.5, help="goal: fleet / single wall")
    parser.add_argument(
        "--cdb-rest",
        choices=("on", "off"),
        default="off",
        help="the lab's CDB REST API (off, the X14.2+ default: cluster reads over SSH)",
    )
    parser.add_argument("--profile", type=Path, help="cProfile the one-process fleet into FILE")
    parser.add_argument(
        "--before",
        help="also run exops as of this git ref (side by side: before, after, after, before)",
    )
    parser.add_argument(
        "--once", action="store_true", help="with --before: one round each (before, after)"
    )
    add_lab_options(parser, "127.94")
    return parser.parse_args()


def main() -> int:
    args = parse_args()
    sizes = sorted({int(x) for x in args.sizes.split(",") if x.strip()} | {args.clusters})
    sizes = [n for n in sizes if n <= args.clusters]
    print(
        f"fleet runbook: ordered restart, {args.clusters} clusters x {args.peers} peers, "
        f"time scale {args.time_scale}"
    )
    print(f"machine: {machine()}")
    work = Path(tempfile.mkdtemp(prefix="exops-bench-"))
    trees = contenders(args.before, work)
    results = []
    with lab(
        work / "lab",
        args,
        clusters=args.clusters,
        peers=args.peers,
        time_scale=args.time_scale,
        restart_grace=args.restart_grace,
        cdb_rest=args.cdb_rest == "on",
    ) as env:
        metrics = lab_metrics(env)
        grace = metrics.get("restart_grace_s", 0.0)
        mandatory = (metrics["restart_downtime_s"] + grace) * args.peers
        print(
            f"lab: restart downtime {metrics['restart_downtime_s']:.2f} s, "
            f"grace {grace:.2f} s (wall seconds)"
        )
        mock = psutil.Process(int((work / "lab" / "pid").read_text()))
        befores = run_befores(trees, args.clusters, env, mock)
        single = run_many([exops_argv("restart", "-c", "c1", "--yes")], env, mock)
        results.append(("1 cluster alone", single))
        print(line("1 cluster alone", single), flush=True)
        for n in sizes:
            if not args.skip_procs:
                argvs = [exops_argv("restart", "-c", f"c{k}", "--yes") for k in range(1, n + 1)]
                r = run_many(argvs, env, mock)
                results.append((f"{n} clusters, {n} procs", r))
                print(line(f"{n} clusters, {n} procs", r), flush=True)
            fleet = [x for k in range(1, n + 1) for x in ("-c", f"c{k}")]
            r = run_many([exops_argv("restart", *fleet, "--yes")], env, mock)
            results.append((f"{n} clusters, 1 proc", r))
            print(line(f"{n} clusters, 1 proc", r), flush=True)
        if befores and not args.once:
            results, befores = second_rounds(args, trees, results, befores, env, mock)
            single = results[0][1]
        if args.profile:
            fleet = [x for k in range(1, args.clusters + 1) for x in ("-c", f"c{k}")]
            profile(args.profile, fleet, env)
    shutil.rmtree(work, ignore_errors=True)
    print(f"mandatory waits per cluster (nominal): {mandatory:.2f} s")
    for label, r in results:
        note = f"fleet / single wall {r['wall'] / single['wall']:.2f}x (target <= {args.goal:g}x)"
        if r is single:
            note = "single"
        print(f"{label:<26} {note};  wall / mandatory {r['wall'] / mandatory:.2f}x")
        for cluster, err in r["errors"][:3]:
            print(f"   {cluster} failed: {err.strip().splitlines()[-1] if err.strip() else ''}")
    before = summarise_befores(befores, args.clusters)
    fleet = dict(results).get(f"{args.clusters} clusters, 1 proc")
    if fleet is not None:
        ratio = fleet["wall"] / single["wall"]
        record(
            f"fleet ordered restart, {args.clusters} clusters x {args.peers} in one process "
            f"/ one cluster (time scale {args.time_scale}, restart {mandatory / args.peers:.2f} s "
            f"with grace, CDB REST {args.cdb_rest}): <= {args.goal:g}x",
            f"{ratio:.2f}x (wall {fleet['wall']:.1f} s vs {single['wall']:.1f} s; mandatory "
            f"waits per cluster {mandatory:.1f} s; CPU {fleet['cpu'] / args.clusters:.2f} s per "
            f"cluster, one cluster alone {single['cpu']:.2f} s; lab requests per cluster "
            f"{fleet['requests'] / args.clusters:.0f}; peak {fleet['peak_mib']:.0f} MiB; "
            f"failed {fleet['failed']})",
            verdict(ratio <= args.goal and not fleet["failed"] and not single["failed"]),
            before=before,
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

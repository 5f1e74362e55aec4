"""Benchmark 5: what appliance latency costs `exops status`, before and after a change.

    .venv/bin/python bench/status_latency.py [--clusters 20] [--peers 6]
        [--latency 0.2,0.5] [--before REF] [--runs 1] [--subnet 127.91]

A formed lab with the cluster database REST API on (every read is HTTPS, as
with `transport: rest`). For each latency L, a `slow` fault on every peer
delays each REST answer by L seconds (TLS handshakes are not delayed); then
`exops status --json` of the checked-out tree and, with --before, of the
`exops` package at git REF (PYTHONPATH), run interleaved. Prints the wall of
each and the latency cost in round trips: (wall(L) - wall(0)) / L. On a busy
machine wall(0) is itself waiting for CPU and hides latency, so the lab's own
request log gives a second, noise-free count: per peer, the answers of one
round trip come within L/2 of each other, so the rounds a peer's gather took
are 1 + the gaps of more than L/2 between its answers (median and max).
"""

from __future__ import annotations

import argparse
import itertools
import shutil
import statistics
import sys
import tempfile
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).parent))
from common import (
    Measure,
    add_lab_options,
    clear_faults,
    contenders,
    exops_argv,
    inject,
    lab,
    lab_metrics,
    lab_requests,
    machine,
    measure,
    record,
    verdict,
)

# (contender, latency) -> each run's round trips per peer from the lab's log: the
# structure of the gather, which the machine's CPU noise does not blur.
ROUNDS: dict[tuple[str, float], list[str]] = {}


def rounds(requests: list[dict], latency: float) -> str:
    """Round trips per peer, from the times the lab answered (see the docstring)."""
    by_peer: dict[str, list[float]] = {}
    for r in requests:
        by_peer.setdefault(r["peer"], []).append(r["ts"])
    counts = []
    for times in by_peer.values():
        times.sort()
        counts.append(1 + sum(b - a > latency / 2 for a, b in itertools.pairwise(times)))
    if not counts:
        return ""
    return f"   rounds/peer median {statistics.median(counts):g} max {max(counts)}"


def run_one(
    label: str,
    latency: float,
    tree: Path | None,
    env: dict[str, str],
    workers: int | None,
    peers: int,
) -> Measure:
    """One `exops status --json`; prints its figures and the rounds per peer."""
    run_env = dict(env)
    if workers:
        run_env["EXOPS_WORKERS"] = str(workers)
    if tree is not None:
        run_env["PYTHONPATH"] = str(tree)
    before = lab_metrics(env)["requests"]
    m = measure(f"{label} L={latency}", exops_argv("status", "--json"), run_env)
    requests = lab_metrics(env)["requests"] - before
    trips = rounds(lab_requests(env, before), latency) if latency else ""
    ROUNDS.setdefault((label, latency), []).append(trips.strip().removeprefix("rounds/peer "))
    print(f"{m.line()}   requests {requests} ({requests / peers:.1f}/peer){trips}", flush=True)
    if m.exit_code not in (0, 1):
        print(f"WARNING: {label} exited {m.exit_code}: not comparable")
    return m


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--clusters", type=int, default=20)
    parser.add_argument("--peers", type=int, default=6)
    parser.add_argument("--latency", default="0.2,0.5", help="seconds per REST answer")
    parser.add_argument("--before", help="git ref of the 'before' exops (e.g. main)")
    parser.add_argument("--runs", type=int, default=1, help="runs of each (best kept)")
    parser.add_argument("--workers", type=int, help="EXOPS_WORKERS for every run")
    add_lab_options(parser, "127.91")
    args = parser.parse_args()
    latencies = [0.0, *(float(x) for x in args.latency.split(",") if x)]
    work = Path(tempfile.mkdtemp(prefix="exops-bench-"))
    peers = args.clusters * args.peers
    print(
        f"status latency: {args.clusters} clusters x {args.peers} peers, CDB REST on, "
        f"EXOPS_WORKERS={args.workers or 'default'}"
    )
    print(f"machine: {machine()}")
    trees = contenders(args.before, work)
    walls: dict[tuple[str, float], float] = {}
    with lab(
        work / "lab",
        args,
        clusters=args.clusters,
        peers=args.peers,
        cdb_rest=True,
    ) as env:
        names = list(yaml.safe_load((Path(env["EXOPS_INVENTORY"]) / "hosts.yaml").read_text()))
        for latency in latencies:
            clear_faults(env)
            if latency:
                for name in names:
                    inject(env, {"kind": "slow", "peer": name, "seconds": latency, "iface": "rest"})
            for _ in range(args.runs):
                for label, tree in trees.items():
                    m = run_one(label, latency, tree, env, args.workers, peers)
                    key = (label, latency)
                    walls[key] = min(walls.get(key, m.wall_s), m.wall_s)
        clear_faults(env)
    shutil.rmtree(work, ignore_errors=True)
    print()
    print(f"{'contender':<24} " + " ".join(f"{'L=' + str(x) + ' s':>10}" for x in latencies))
    for label in trees:
        cells = " ".join(f"{walls[(label, x)]:9.2f}s" for x in latencies)
        print(f"{label:<24} {cells}")
    trips: dict[tuple[str, float], float] = {}
    for label in trees:
        for latency in latencies[1:]:
            trips[(label, latency)] = (walls[(label, latency)] - walls[(label, 0.0)]) / latency
            cost = trips[(label, latency)]
            print(f"{label}: latency {latency} s costs {cost:.1f} round trips (goal <= 3)")
    before = next((c for c in trees if c != "after"), None)
    for latency in latencies[1:]:
        size = f"{args.clusters} x {args.peers}"

        def figure(label: str, latency: float = latency) -> str:
            return (
                f"{trips[(label, latency)]:+.1f} round trips "
                f"(wall {walls[(label, 0.0)]:.2f} -> {walls[(label, latency)]:.2f} s); "
                f"rounds per peer in the lab's log: {'; '.join(ROUNDS[(label, latency)])}"
            )

        record(
            f"status {size} under {latency} s per REST answer: latency cost <= 3 round trips",
            figure("after"),
            verdict(trips[("after", latency)] <= 3),
            before=figure(before) if before else "",
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

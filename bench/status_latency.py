"""Benchmark 5: what appliance latency costs `exops status`, before and after a change.

    .venv/bin/python bench/status_latency.py [--clusters 20] [--peers 6]
        [--latency 0.2,0.5] [--iface rest|ssh] [--before REF] [--runs 1] [--subnet 127.91]

--iface rest (default): a formed lab with the cluster database REST API on
(every read is HTTPS, as with `transport: rest`), and for each latency L a
`slow` fault on every peer delays each REST answer by L seconds (TLS
handshakes are not delayed). --iface ssh: the default path of X14.2+ (CDB
REST off, so the cluster's settings and status are read over SSH), and the
`slow` fault delays each SSH answer (every CLI line) by L seconds. Then
`exops status --json` of the checked-out tree and, with --before, of the
`exops` package at git REF (PYTHONPATH), run interleaved. Prints the wall of
each and the latency cost in round trips: (wall(L) - wall(0)) / L. On a busy
machine wall(0) is itself waiting for CPU and hides latency, so the lab's own
request log gives a second, noise-free count: per peer, the answers of one
round trip come within L/2 of each other, so the rounds a peer's gather took
on the delayed interface are 1 + the gaps of more than L/2 between its
answers there (median and max).
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
FAILED: list[str] = []  # runs that exited other than 0/1: their walls are not comparable


def rounds(requests: list[dict], latency: float, iface: str) -> str:
    """Round trips per peer on ``iface``, from the times the lab answered (see the
    docstring)."""
    by_peer: dict[str, list[float]] = {}
    for r in requests:
        if r.get("iface") != iface:
            continue
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
    iface: str,
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
    trips = rounds(lab_requests(env, before), latency, iface) if latency else ""
    ROUNDS.setdefault((label, latency), []).append(trips.strip().removeprefix("rounds/peer "))
    print(f"{m.line()}   requests {requests} ({requests / peers:.1f}/peer){trips}", flush=True)
    if m.exit_code not in (0, 1):
        print(f"WARNING: {label} exited {m.exit_code}: not comparable")
        FAILED.append(f"{label} L={latency} exit {m.exit_code}")
    return m


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--clusters", type=int, default=20)
    parser.add_argument("--peers", type=int, default=6)
    parser.add_argument("--latency", default="0.2,0.5", help="seconds per answer")
    parser.add_argument(
        "--iface",
        choices=("rest", "ssh"),
        default="rest",
        help="rest: CDB REST on, every REST answer delayed; ssh: CDB REST off (the "
        "X14.2+ default path), every SSH answer delayed",
    )
    parser.add_argument("--before", help="git ref of the 'before' exops (e.g. main)")
    parser.add_argument("--runs", type=int, default=1, help="runs of each (best kept)")
    parser.add_argument("--workers", type=int, help="EXOPS_WORKERS for every run")
    add_lab_options(parser, "127.91")
    args = parser.parse_args()
    latencies = [0.0, *(float(x) for x in args.latency.split(",") if x)]
    work = Path(tempfile.mkdtemp(prefix="exops-bench-"))
    peers = args.clusters * args.peers
    cdb_rest = args.iface == "rest"
    print(
        f"status latency: {args.clusters} clusters x {args.peers} peers, "
        f"CDB REST {'on' if cdb_rest else 'off'}, every {args.iface.upper()} answer delayed, "
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
        cdb_rest=cdb_rest,
    ) as env:
        names = list(yaml.safe_load((Path(env["EXOPS_INVENTORY"]) / "hosts.yaml").read_text()))
        for latency in latencies:
            clear_faults(env)
            if latency:
                for name in names:
                    fault = {"kind": "slow", "peer": name, "seconds": latency, "iface": args.iface}
                    inject(env, fault)
            for _ in range(args.runs):
                for label, tree in trees.items():
                    m = run_one(label, latency, tree, env, args.workers, peers, args.iface)
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

        where = (
            "per REST answer (CDB REST on: every read over HTTPS)"
            if cdb_rest
            else "per SSH answer (CDB REST off: the default path, cluster reads over SSH)"
        )
        record(
            f"status {size}, {latency} s {where}: latency cost <= 3 round trips",
            figure("after"),
            verdict(trips[("after", latency)] <= 3 and not FAILED)
            + (f" (runs failed: {', '.join(FAILED)})" if FAILED else ""),
            before=figure(before) if before else "",
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

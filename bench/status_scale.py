"""Benchmark 6: the scale curve of `exops status`: wall, CPU and peak RSS, 6 -> N peers.

    .venv/bin/python bench/status_scale.py [--clusters 50] [--sizes 1,5,10,25,50]
        [--before REF] [--split 2] [--runs 1] [--subnet 127.96]

One formed lab of --clusters x 6 peers (CDB REST on). For each size S,
`exops status --json -c c1 ... -c cS` of the checked-out tree, of the
`exops` package at git REF (--before), and (--split P) the same clusters
over P concurrent `exops status` processes (each a share of the clusters:
what spreading clusters over worker processes would give at best, with the
start-up of each process included). Wall is launch to the last exit; CPU and
peak RSS are of the whole process tree.
"""

from __future__ import annotations

import argparse
import os
import shlex
import shutil
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
import common
from common import add_lab_options, contenders, exops_argv, lab, lab_metrics, machine, measure


def clusters_argv(names: list[str]) -> list[str]:
    return [a for n in names for a in ("-c", n)]


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--clusters", type=int, default=50)
    parser.add_argument("--sizes", default="1,5,10,25,50", help="cluster counts (6 peers each)")
    parser.add_argument("--before", help="git ref of the 'before' exops")
    parser.add_argument("--split", type=int, default=0, help="also: P concurrent processes")
    parser.add_argument("--runs", type=int, default=1)
    parser.add_argument(
        "--cdb-rest",
        choices=("on", "off"),
        default="on",
        help="the lab's CDB REST API (off: the X14.2+ default path, cluster reads over SSH)",
    )
    add_lab_options(parser, "127.96")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",") if s]
    work = Path(tempfile.mkdtemp(prefix="exops-bench-"))
    print(f"status scale curve: sizes {sizes} clusters x 6 peers, CDB REST {args.cdb_rest}")
    print(f"machine: {machine()}")
    trees = contenders(args.before, work)
    rows: list[str] = []
    best: dict[tuple[str, int], common.Measure] = {}  # (contender, peers) -> the best run
    with lab(
        work / "lab",
        args,
        clusters=args.clusters,
        peers=6,
        cdb_rest=args.cdb_rest == "on",
    ) as env:
        for size in sizes:
            names = [f"c{i}" for i in range(1, size + 1)]
            for _ in range(args.runs):
                for label, tree in trees.items():
                    run_env = dict(env)
                    if tree is not None:
                        run_env["PYTHONPATH"] = str(tree)
                    argv = exops_argv("status", "--json", *clusters_argv(names))
                    line, m = row(f"{label}", size, argv, run_env)
                    rows.append(line)
                    key = (label, size * 6)
                    if key not in best or m.wall_s < best[key].wall_s:
                        best[key] = m
                if args.split > 1 and size >= args.split:
                    shares = [names[i :: args.split] for i in range(args.split)]
                    cmds = [
                        shlex.join(exops_argv("status", "--json", *clusters_argv(s)))
                        + " >/dev/null"
                        for s in shares
                    ]
                    script = " & ".join(cmds) + " & wait"
                    rows.append(
                        row(f"after, {args.split} processes", size, ["sh", "-c", script], env)[0]
                    )
    shutil.rmtree(work, ignore_errors=True)
    print()
    print(
        f"{'contender':<24} {'peers':>6} {'wall s':>8} {'cpu s':>8} {'peak MiB':>9} {'req/peer':>9}"
    )
    for line in rows:
        print(line)
    summarise(best, trees, args.cdb_rest)
    return 0


def summarise(
    best: dict[tuple[str, int], common.Measure], trees: dict[str, Path | None], cdb_rest: str
) -> None:
    """The curve (wall, CPU, peak per size) as one row of the table of record."""

    def curve(label: str) -> str:
        points = sorted((p, m) for (c, p), m in best.items() if c == label)
        return "; ".join(
            f"{p} peers {m.wall_s:.2f} s, {m.cpu_s:.2f} s CPU, {m.peak_mib:.0f} MiB"
            for p, m in points
        )

    top = max(p for _, p in best)
    peak = best[("after", top)].peak_mib
    failed = [m for (c, _), m in best.items() if c == "after" and m.exit_code not in (0, 1)]
    before = next((t for t in trees if t != "after"), None)
    common.record(
        f"status scale curve (wall, CPU, peak RSS), CDB REST {cdb_rest}"
        f"{' (the default path: cluster reads over SSH)' if cdb_rest == 'off' else ''}: "
        f"peak < 250 MiB at {top} peers",
        curve("after"),
        common.verdict(peak < 250 and not failed),
        before=curve(before) if before else "",
    )


def row(label: str, size: int, argv: list[str], env: dict[str, str]) -> tuple[str, common.Measure]:
    before = lab_metrics(env)["requests"]
    m = measure(label, argv, env)
    requests = lab_metrics(env)["requests"] - before
    peers = size * 6
    flag = "" if m.exit_code in (0, 1) else f"  (exit {m.exit_code}: not comparable)"
    line = (
        f"{label:<24} {peers:>6} {m.wall_s:8.2f} {m.cpu_s:8.2f} {m.peak_mib:9.1f} "
        f"{requests / peers:9.1f}{flag}"
    )
    print(line, flush=True)
    return line, m


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    raise SystemExit(main())

"""Benchmark 4: start-up, `exops --help` and `exops status -c c1` (one peer) vs `ansible --version`.

    .venv/bin/python bench/startup.py [--runs 15]

Starts a one-peer lab, then runs the three commands interleaved (so the
machine's noise spreads evenly over them), --runs times each, and prints the
best and the median wall time of each side by side.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from common import PY, exops_argv, lab, machine, measure


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=15)
    args = parser.parse_args()
    print(f"start-up: best and median of {args.runs} interleaved runs")
    print(f"machine: {machine()}")
    ansible = shutil.which("ansible") or str(Path(PY).parent / "ansible")
    commands = {
        "exops --help": exops_argv("--help"),
        "exops status -c c1 (1 peer)": exops_argv("status", "-c", "c1"),
        "ansible --version": [ansible, "--version"],
    }
    work = Path(tempfile.mkdtemp(prefix="exops-bench-"))
    walls: dict[str, list[float]] = {k: [] for k in commands}
    failed: dict[str, int] = {k: 0 for k in commands}
    with lab(
        work / "lab", clusters=1, peers=1, time_scale=1.0, preset="formed", subnet="127.95"
    ) as env:
        for label, argv in commands.items():  # warm the page cache once
            measure(label, argv, env)
        for _ in range(args.runs):
            for label, argv in commands.items():
                m = measure(label, argv, env)
                walls[label].append(m.wall_s)
                failed[label] += m.exit_code != 0
    shutil.rmtree(work, ignore_errors=True)
    print(f"{'command':<30} {'best':>8} {'median':>8} {'max':>8}")
    for label, w in walls.items():
        note = f"   ({failed[label]} runs exited non-zero)" if failed[label] else ""
        print(f"{label:<30} {min(w):7.3f}s {statistics.median(w):7.3f}s {max(w):7.3f}s{note}")
    best = {k: min(v) for k, v in walls.items()}
    print(
        f"exops --help: best {best['exops --help']:.3f} s (target <= 0.25 s); "
        f"ansible --version / exops --help: "
        f"{best['ansible --version'] / best['exops --help']:.2f}x"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Benchmark 4: start-up, `exops --help` and `exops status -c c1` (one peer) vs `ansible --version`.

    .venv/bin/python bench/startup.py [--runs 15] [--before REF] [--subnet 127.95]

Starts a one-peer lab, then runs the three commands interleaved (so the
machine's noise spreads evenly over them), --runs times each, and prints the
best and the median wall time of each side by side. Then the start-up of a
runbook: launch to the first request the lab sees, for a dry run
(`exops restart -c c1 --dry-run`) and a real run that changes nothing
(`exops add-peer -c c1 --peer c1-p1 --yes` on a formed cluster: state store,
lock, reads, plan), of the checked-out tree and of git REF (--before): the two
trees run back to back in each round, in turn first, and the median of the
rounds' paired differences of CPU is printed too.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))
from common import (
    PY,
    add_lab_options,
    before_tree,
    exops_argv,
    first_request,
    lab,
    machine,
    measure,
    record,
    verdict,
)


def cpu_to_first_connect(args: list[str], env: dict[str, str]) -> float:
    """CPU seconds exops spent before its first connection to an appliance."""
    argv = [PY, str(Path(__file__).parent / "first_connect.py"), *args]
    done = subprocess.run(argv, env=env, capture_output=True, text=True, check=False)
    found = re.search(r"FIRST-CONNECT cpu ([0-9.]+)", done.stderr)
    return float(found.group(1)) if found else float("nan")


def summarise(
    before_ref: str | None,
    runbooks: list[str],
    firsts: dict[str, list[float]],
    cpus: dict[str, list[float]],
    walls: dict[str, list[float]],
) -> None:
    """The rows of the table of record: `exops --help`, then wall and CPU to the first
    request. Each goal is judged on the median of the runs (best, median and the
    `python -c pass` yardstick of the same runs are shown: the machine's load)."""
    runs = len(walls["exops --help"])
    yard = walls["python -c pass (yardstick)"]
    help_ = walls["exops --help"]
    record(
        "`exops --help`: <= 0.25 s (median of the runs)",
        f"median {statistics.median(help_):.3f} s, best {min(help_):.3f} s of {runs} runs "
        f"(`python -c pass`: median {statistics.median(yard):.3f} s)",
        verdict(statistics.median(help_) <= 0.25),
    )
    label = f"before ({before_ref})"
    for rb_label in runbooks:
        after = firsts[f"after: {rb_label}"]
        before = firsts.get(f"{label}: {rb_label}")
        cpu_after = cpus[f"after: {rb_label}"]
        cpu_before = cpus.get(f"{label}: {rb_label}")
        record(
            f"start-up CPU before the first connect, {rb_label}: <= 0.3 s on an idle core",
            f"best {min(cpu_after):.3f} s, median {statistics.median(cpu_after):.3f} s",
            verdict(statistics.median(cpu_after) <= 0.3),
            before=f"best {min(cpu_before):.3f} s, median {statistics.median(cpu_before):.3f} s"
            if cpu_before
            else "",
        )
        record(
            f"start-up to first request, {rb_label} (1-peer lab): <= 0.3 s (median)",
            f"median {statistics.median(after):.3f} s, best {min(after):.3f} s of {len(after)} runs",
            verdict(statistics.median(after) <= 0.3),
            before=f"best {min(before):.3f} s, median {statistics.median(before):.3f} s"
            if before
            else "",
        )


def in_turn(items: list[Any], round_: int) -> list[Any]:
    """``items`` as they are in even rounds, reversed in odd ones: of the trees measured
    back to back, neither is always the first."""
    return items if round_ % 2 == 0 else items[::-1]


def print_paired(
    before_ref: str | None, runbooks: list[str], cpus: dict[str, list[float]]
) -> None:
    """The median of the rounds' paired differences of CPU before the first connect:
    the load drifts between rounds, and the two trees of one round ran back to back."""
    if before_ref is None:
        return
    print("paired: CPU before the first connect, after - before, in the same round")
    for rb_label in runbooks:
        after_cpu, before_cpu = cpus[f"after: {rb_label}"], cpus[f"before ({before_ref}): {rb_label}"]
        pairs = [a - b for a, b in zip(after_cpu, before_cpu, strict=True)]
        less = sum(d < 0 for d in pairs)
        print(
            f"  {rb_label:<46} median {statistics.median(pairs) * 1000:+.0f} ms "
            f"(after used less in {less} of {len(pairs)} rounds)"
        )


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--before", help="git ref of the 'before' exops (runbook start-up)")
    add_lab_options(parser, "127.95")
    args = parser.parse_args()
    print(f"start-up: best and median of {args.runs} interleaved runs")
    print(f"machine: {machine()}")
    ansible = shutil.which("ansible") or str(Path(PY).parent / "ansible")
    commands = {
        "python -c pass (yardstick)": [PY, "-c", "pass"],
        "exops --help": exops_argv("--help"),
        "exops status -c c1 (1 peer)": exops_argv("status", "-c", "c1"),
    }
    if Path(ansible).exists():
        commands["ansible --version"] = [ansible, "--version"]
    else:
        print("ansible not found (pip install '.[bench]'): left out")
    work = Path(tempfile.mkdtemp(prefix="exops-bench-"))
    walls: dict[str, list[float]] = {k: [] for k in commands}
    failed: dict[str, int] = {k: 0 for k in commands}
    firsts: dict[str, list[float]] = {}
    trees: dict[str, Path | None] = {"after": None}
    if args.before:
        trees = {f"before ({args.before})": before_tree(args.before, work), **trees}
    runbook_args = {
        "status": ["status", "-c", "c1"],
        "restart --dry-run": ["restart", "-c", "c1", "--dry-run"],
        "add-peer (no change) --yes": ["add-peer", "-c", "c1", "--peer", "c1-p1", "--yes"],
    }
    runbooks = {label: exops_argv(*a) for label, a in runbook_args.items()}
    cpus: dict[str, list[float]] = {}
    with lab(
        work / "lab",
        args,
        clusters=1,
        peers=1,
    ) as env:
        for label, argv in commands.items():  # warm the page cache once
            measure(label, argv, env)
        for round_ in range(args.runs):
            for label, argv in commands.items():
                m = measure(label, argv, env)
                walls[label].append(m.wall_s)
                failed[label] += m.exit_code != 0
            for tree_label, tree in in_turn(list(trees.items()), round_):
                run_env = {**env, "PYTHONPATH": str(tree)} if tree else env
                for rb_label, argv in runbooks.items():
                    _, seconds = first_request(rb_label, argv, run_env)
                    firsts.setdefault(f"{tree_label}: {rb_label}", []).append(seconds)
                    cpu = cpu_to_first_connect(runbook_args[rb_label], run_env)
                    cpus.setdefault(f"{tree_label}: {rb_label}", []).append(cpu)
    shutil.rmtree(work, ignore_errors=True)
    print(f"{'command':<30} {'best':>8} {'median':>8} {'max':>8}")
    for label, w in walls.items():
        note = f"   ({failed[label]} runs exited non-zero)" if failed[label] else ""
        print(f"{label:<30} {min(w):7.3f}s {statistics.median(w):7.3f}s {max(w):7.3f}s{note}")
    print(f"{'runbook: launch -> first request':<48} {'best':>8} {'median':>8} {'max':>8}")
    for label, w in firsts.items():
        print(f"{label:<48} {min(w):7.3f}s {statistics.median(w):7.3f}s {max(w):7.3f}s")
    print(f"{'runbook: CPU seconds before the first connect':<48} {'best':>8} {'median':>8}")
    for label, c in cpus.items():
        print(f"{label:<48} {min(c):7.3f}s {statistics.median(c):7.3f}s")
    print_paired(args.before, list(runbooks), cpus)
    best = {k: min(v) for k, v in walls.items()}
    print(
        f"exops --help: median {statistics.median(walls['exops --help']):.3f} s, "
        f"best {best['exops --help']:.3f} s (target <= 0.25 s)"
    )
    print(f"load average at the end: {', '.join(f'{x:.1f}' for x in os.getloadavg())}")
    if "ansible --version" in best:
        ratio = best["ansible --version"] / best["exops --help"]
        print(f"ansible --version / exops --help: {ratio:.2f}x")
    summarise(args.before, list(runbooks), firsts, cpus, walls)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

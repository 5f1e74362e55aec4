"""Benchmark 7: the inventory's cost: load, validate and build Nornir's inventory.

    .venv/bin/python bench/inventory_load.py [--hosts 300,1500] [--before REF] [--runs 5]

Writes an inventory of N peers (6 per cluster, as the lab writes them), then
in a fresh process each: `Env.build` (parse and validate the three files)
plus `Session.nornir()` (Nornir's inventory: SimpleInventory re-reading the
files before, built in memory after), for the checked-out tree and for git
REF. No lab and no network. Prints the best of --runs, in ms.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from common import PY, contenders, machine

PROBE = """
import json, os, sys, time
from pathlib import Path
t0 = time.perf_counter()
from exops.run.env import Env
t1 = time.perf_counter()
env = Env.build(inventory=Path(sys.argv[1]))
t2 = time.perf_counter()
session = env.session(None)
session.nornir()
t3 = time.perf_counter()
print(json.dumps({"import": t1 - t0, "load": t2 - t1, "nornir": t3 - t2}))
"""


def write_inventory(path: Path, hosts: int) -> None:
    path.mkdir(parents=True, exist_ok=True)
    clusters = (hosts + 5) // 6
    lines, groups = [], []
    for c in range(1, clusters + 1):
        groups.append(f"c{c}:\n  data:\n    cluster_name: c{c}.lab.example.com\n")
        for p in range(1, 7):
            if (c - 1) * 6 + p > hosts:
                break
            ip = f"127.{90 + c // 250}.{c % 250}.{10 + p}"
            lines.append(
                f"c{c}-p{p}:\n  hostname: {ip}\n  port: 8443\n  groups:\n  - c{c}\n"
                f"  data:\n    fqdn: c{c}-p{p}.lab.example.com\n    role: Expressway-C\n"
                f"    ssh_port: 8022\n    slot: {p}\n"
            )
    (path / "hosts.yaml").write_text("".join(lines))
    (path / "groups.yaml").write_text("".join(groups))
    (path / "defaults.yaml").write_text("username: admin\n")


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--hosts", default="300,1500")
    parser.add_argument("--before", help="git ref of the 'before' exops")
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="exops-bench-"))
    print(f"inventory load: best of {args.runs}, ms")
    print(f"machine: {machine()}")
    trees = contenders(args.before, work)
    env = {**os.environ, "EXOPS_PASSWORD": "bench-only", "EXOPS_STATE_DIR": str(work / "state")}
    print(f"{'contender':<22} {'peers':>6} {'load+validate':>14} {'nornir':>8} {'total':>8}")
    for n in (int(x) for x in args.hosts.split(",") if x):
        inv = work / f"inv{n}"
        write_inventory(inv, n)
        for label, tree in trees.items():
            run_env = {**env, "PYTHONPATH": str(tree)} if tree else env
            best: dict[str, float] | None = None
            for _ in range(args.runs):
                out = subprocess.run(
                    [PY, "-c", PROBE, str(inv)],
                    env=run_env,
                    capture_output=True,
                    text=True,
                    check=True,
                    cwd=work,
                )
                got = json.loads(out.stdout)
                if best is None or got["load"] + got["nornir"] < best["load"] + best["nornir"]:
                    best = got
            assert best is not None
            total = best["load"] + best["nornir"]
            print(
                f"{label:<22} {n:>6} {best['load'] * 1000:13.1f} "
                f"{best['nornir'] * 1000:8.1f} {total * 1000:8.1f}"
            )
    shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

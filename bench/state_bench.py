"""State store cost per operation, SQLite and PostgreSQL side by side.

    .venv/bin/python bench/state_bench.py [--iterations N] [--json]

Starts a throwaway PostgreSQL (tests/kits/pgserver.py, fsync on, 127.0.0.1)
and a SQLite store in a temporary directory, then measures, on each backend:

* lock: one cluster lock acquired and released (``with store.lock(...)``);
  PostgreSQL opens a dedicated session per lock, as a run does;
* step: one ``journal.record_step`` (what every finished step of a run costs);
* run: ``start_run`` + ``finish_run`` of an empty run.

Prints median and p95 in milliseconds over N iterations (after 10 warm-ups).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests" / "state"))

import pgserver  # noqa: E402

from exops.plan.model import ActionKind  # noqa: E402
from exops.state import StateStore, open_url  # noqa: E402


@dataclass
class _Action:
    id: str
    step: str
    kind: ActionKind
    host: str | None


@dataclass
class _Step:
    action: _Action
    status: str
    started: datetime
    duration_s: float
    detail: str
    error: str | None = None
    advice: str | None = None


def _timed(fn: Callable[[int], None], n: int) -> list[float]:
    for i in range(10):
        fn(-1 - i)
    out = []
    for i in range(n):
        t0 = time.perf_counter()
        fn(i)
        out.append((time.perf_counter() - t0) * 1000)
    return out


def _stats(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    return {"median_ms": round(statistics.median(ordered), 3), "p95_ms": round(p95, 3)}


def measure(store: StateStore, n: int) -> dict[str, dict[str, float]]:
    def lock(_: int) -> None:
        with store.lock("bench", runbook="restart", timeout_s=0):
            pass

    jid = store.journal.start_run(
        run_id=f"bench-{os.getpid()}-{store.backend}",
        cluster="bench",
        runbook="restart",
        params={"peer": "exp1"},
        plan={"actions": []},
        user="bench",
        host="bench",
    )
    action = _Action("1", "restart exp1", ActionKind.RESTART, "exp1")

    def step(i: int) -> None:
        store.journal.record_step(
            jid, _Step(action, "changed", datetime.now(UTC), 1.0, f"restarted; back after {i} s")
        )

    def run(i: int) -> None:
        rid = store.journal.start_run(
            run_id=f"b{os.getpid()}-{i}",
            cluster="bench",
            runbook="status",
            params={},
            plan={},
            user="bench",
            host="bench",
        )
        store.journal.finish_run(rid, "ok", 0)

    return {
        "lock acquire+release": _stats(_timed(lock, n)),
        "journal write per step": _stats(_timed(step, n)),
        "run start+finish": _stats(_timed(run, n)),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--iterations", type=int, default=200)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    results: dict[str, dict[str, dict[str, float]]] = {}
    with tempfile.TemporaryDirectory(prefix="exops-bench-") as tmp:
        base = Path(tmp)
        sqlite = open_url(None, state_dir=base / "state", lock_dir=base / "locks")
        results["sqlite"] = measure(sqlite, args.iterations)
        sqlite.close()
        with pgserver.running_server(durable=True) as server:
            os.environ["EXOPS_STATE_PASSWORD"] = server.password
            pg = open_url(server.url, state_dir=base)
            results["postgresql"] = measure(pg, args.iterations)
            pg.close()
    if args.json:
        print(json.dumps({"iterations": args.iterations, "results": results}, indent=2))
        return 0
    print(f"state store, {args.iterations} iterations each (ms)")
    print(f"{'operation':<26}{'sqlite median':>15}{'p95':>9}{'postgresql median':>20}{'p95':>9}")
    for op in results["sqlite"]:
        s, p = results["sqlite"][op], results["postgresql"][op]
        print(
            f"{op:<26}{s['median_ms']:>15.2f}{s['p95_ms']:>9.2f}"
            f"{p['median_ms']:>20.2f}{p['p95_ms']:>9.2f}"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

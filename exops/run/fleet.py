"""One runbook on several clusters at once: a pool of runners, results as data.

    from exops.run import load_env
    from exops.run.fleet import run_fleet

    fleet = run_fleet(load_env(), "restart", {"c1": {}, "c2": {}}, yes=True)
    for item in fleet.items:              # in the order the clusters were given
        print(item.cluster, item.exit_code, item.error)
    print(fleet.exit_code)                # the most serious of them

Each cluster gets its own ``Runner`` (its own lock, session, plan and journal
entry) on a thread of its own; ``on_done`` is called as each one finishes,
so a caller can render it then. Ctrl-C (``KeyboardInterrupt`` in the calling
thread) sets the shared cancel event: every cluster's wait stops at its next
poll, is journalled as interrupted and releases its lock; the fleet result
then says ``interrupted`` (the CLI exits 130).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from typing import Any

from exops.apply.results import RunResult
from exops.core.errors import ExopsError, UsageError
from exops.core.exitcodes import ExitCode
from exops.run.env import Env
from exops.run.observers import Observer
from exops.run.runner import Runner

# When clusters end differently, the fleet's exit code reports the most serious.
SEVERITY = (
    ExitCode.INTERRUPTED,
    ExitCode.FAILED,
    ExitCode.LOCKED,
    ExitCode.USAGE,
    ExitCode.REFUSED,
    ExitCode.PARTIAL,
    ExitCode.CHANGES_PENDING,
    ExitCode.OK,
)


@dataclass
class FleetItem:
    """One cluster's outcome: its result, or the error that stopped it before one."""

    cluster: str
    exit_code: int
    result: RunResult | None = None
    error: str | None = None
    context: dict[str, Any] = field(default_factory=dict)  # the caller's (e.g. a buffer)


@dataclass
class FleetResult:
    runbook: str
    items: list[FleetItem]
    interrupted: bool = False

    @property
    def exit_code(self) -> int:
        codes = [i.exit_code for i in self.items]
        return int(next(s for s in SEVERITY if s in codes) if codes else ExitCode.OK)


def check_fleet(env: Env, clusters: Sequence[str], *, yes: bool, dry_run: bool) -> None:
    """Every cluster named once and known to the inventory; a real run has ``yes``.

    Raises:
        UsageError: a cluster is named twice or is unknown; a real run without ``yes``.
    """
    if len(set(clusters)) != len(clusters):
        raise UsageError("--cluster: a cluster is named twice")
    for c in clusters:
        env.inventory.cluster(c)
    if not (yes or dry_run):
        raise UsageError(
            f"{len(clusters)} clusters: pass --yes to run unattended, or --dry-run to see the plans"
        )


def run_fleet(
    env: Env,
    ref: str,
    params: Mapping[str, dict[str, Any]],
    *,
    dry_run: bool = False,
    yes: bool = False,
    lock_timeout: float | None = None,
    resume: bool = False,
    observers_for: Callable[[FleetItem], Sequence[Observer]] = lambda item: (),
    on_done: Callable[[FleetItem], None] = lambda item: None,
    sessions: Callable[[list[str]], Any] | None = None,
) -> FleetResult:
    """Plan (``dry_run``) or run ``ref`` on each cluster of ``params`` (cluster ->
    its parameters) concurrently. A real run never asks: it needs ``yes``.
    ``sessions`` is the runners' session seam (tests pass fake appliances).

    Raises:
        UsageError: a cluster named twice or unknown; a real run without ``yes``.
    """
    clusters = list(params)
    check_fleet(env, clusters, yes=yes, dry_run=dry_run)
    cancel = threading.Event()
    items = {c: FleetItem(c, int(ExitCode.OK)) for c in clusters}

    def one(item: FleetItem) -> FleetItem:
        runner = Runner(env, observers=observers_for(item), cancel=cancel, sessions=sessions)
        try:
            if dry_run:
                item.result = runner.plan(ref, item.cluster, params[item.cluster], resume=resume)
            else:
                item.result = runner.run(
                    ref,
                    item.cluster,
                    params[item.cluster],
                    yes=True,
                    lock_timeout=lock_timeout,
                    resume=resume,
                )
        except ExopsError as exc:
            item.exit_code, item.error = exc.exit_code, str(exc)
            return item
        item.exit_code = item.result.exit_code
        return item

    with ThreadPoolExecutor(max_workers=max(1, len(clusters))) as pool:
        futures = {pool.submit(one, items[c]): c for c in clusters}
        for done in _completed(futures, cancel):
            on_done(done.result())
    return FleetResult(ref, [items[c] for c in clusters], interrupted=cancel.is_set())


def _completed(futures: dict[Future[Any], str], cancel: threading.Event) -> Iterator[Future[Any]]:
    """Futures as they finish; on Ctrl-C every cluster's wait stops at its next poll
    (each run is then journalled as interrupted and its lock released)."""
    try:
        yield from as_completed(futures)
    except KeyboardInterrupt:
        cancel.set()
        yield from as_completed(futures)

"""The runner's restart hook (``exops restart --drain``) on fakes: called right before
each restart step and after it; its refusal or failure fails that step cleanly."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from runkit import FakeSession, cluster, make_env

from exops.apply.results import RunStatus, StepStatus
from exops.core.errors import ExopsError, PreconditionError
from exops.run import Runner


class Hook:
    def __init__(self, peers: dict[str, Any], refuse: str = "", fail_after: str = ""):
        self.peers, self.refuse, self.fail_after = peers, refuse, fail_after
        self.calls: list[tuple[str, str, int]] = []  # (when, host, its restarts so far)

    def before_restart(
        self, session: Any, cluster: str, host: str, check_lock: Callable[[], None]
    ) -> None:
        check_lock()  # the run still holds its lock
        self.calls.append(("before", host, self.peers[host].restarts))
        if host == self.refuse:
            raise PreconditionError(f"drain {host}: c1 has another peer in maintenance")

    def after_restart(self, session: Any, cluster: str, host: str) -> str:
        self.calls.append(("after", host, self.peers[host].restarts))
        if host == self.fail_after:
            raise ExopsError(f"{host}: maintenance mode is still ON after its restart")
        return f"{host}: maintenance mode is off again"


def _runner(tmp_path: Path, peers: dict[str, Any], hook: Hook) -> Runner:
    return Runner(
        make_env(tmp_path),
        sessions=lambda clusters: FakeSession(peers),  # type: ignore[arg-type,return-value]
        restart_hook=hook,
    )


def test_the_hook_runs_right_before_and_after_each_restart_in_order(tmp_path: Path) -> None:
    peers = cluster()
    hook = Hook(peers)
    result = _runner(tmp_path, peers, hook).run("restart", "c1", {}, yes=True)
    assert result.status is RunStatus.OK, result.message
    assert hook.calls == [
        (when, host, n) for host in ("p1", "p2", "p3") for when, n in (("before", 0), ("after", 1))
    ]
    restarts = [s for s in result.steps if s.action.kind.value == "restart"]
    assert [s.detail.endswith("maintenance mode is off again") for s in restarts] == [True] * 3


def test_a_refusal_before_a_restart_fails_that_step_as_refused_and_restarts_nothing_more(
    tmp_path: Path,
) -> None:
    peers = cluster()
    hook = Hook(peers, refuse="p2")
    result = _runner(tmp_path, peers, hook).run("restart", "c1", {}, yes=True)
    assert result.status is RunStatus.REFUSED and result.exit_code == 3
    assert [peers[h].restarts for h in ("p1", "p2", "p3")] == [1, 0, 0]
    failed = result.first_failure
    assert failed is not None and failed.action.host == "p2" and failed.refused
    assert "another peer in maintenance" in result.message
    assert [s.status for s in result.steps][-1] is StepStatus.SKIPPED  # not reached


def test_a_failed_check_after_a_restart_fails_that_step_and_stops_the_run(tmp_path: Path) -> None:
    peers = cluster()
    hook = Hook(peers, fail_after="p1")
    result = _runner(tmp_path, peers, hook).run("restart", "c1", {}, yes=True)
    assert result.status is RunStatus.FAILED and result.exit_code == 1
    assert [peers[h].restarts for h in ("p1", "p2", "p3")] == [1, 0, 0]
    failed = result.first_failure
    assert failed is not None and failed.action.kind.value == "restart"
    assert failed.status is StepStatus.FAILED and "still ON" in (failed.error or "")
    assert all(s.status is StepStatus.SKIPPED for s in result.steps[1:])
    assert ("before", "p2", 0) not in hook.calls


def test_without_a_hook_nothing_changes(tmp_path: Path) -> None:
    peers = cluster()
    runner = Runner(make_env(tmp_path), sessions=lambda clusters: FakeSession(peers))  # type: ignore[arg-type,return-value]
    assert runner.run("restart", "c1", {"peer": "p2"}, yes=True).status is RunStatus.OK


def test_the_restart_step_time_leaves_out_the_drain_before_it(tmp_path: Path) -> None:
    """The journal's measured downtime comes from restart steps: a drain (minutes of
    waiting for calls to move) must not count as the peer's restart time."""
    peers = cluster()
    drain_s = 1.0

    class Slow(Hook):
        def before_restart(
            self, session: Any, cluster: str, host: str, check_lock: Callable[[], None]
        ) -> None:
            time.sleep(drain_s)  # the drain's wait

    t0 = time.monotonic()
    result = _runner(tmp_path, peers, Slow(peers)).run("restart", "c1", {"peer": "p2"}, yes=True)
    elapsed = time.monotonic() - t0
    assert result.status is RunStatus.OK
    [restart] = [s for s in result.steps if s.action.kind.value == "restart"]
    # Holds whatever the load: the drain and the restart happened one after the other
    # inside the run; counting the drain in the step would exceed the run's own time.
    assert restart.duration_s + drain_s <= elapsed

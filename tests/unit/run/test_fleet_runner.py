"""The fleet (exops.run.fleet) on plain data: one runner per cluster, results as data."""

from __future__ import annotations

import dataclasses
import threading
from pathlib import Path
from typing import Any

import pytest
from runkit import FakePeer, FakeSession, cluster, make_env

from exops.apply.results import RunStatus
from exops.core.errors import UsageError
from exops.core.exitcodes import ExitCode
from exops.run.env import Env
from exops.run.fleet import SEVERITY, FleetItem, FleetResult, check_fleet, run_fleet


def two_clusters(tmp_path: Path) -> Env:
    env = make_env(tmp_path)
    c1 = env.inventory.clusters["c1"]
    c2 = dataclasses.replace(
        c1, name="c2", peers=tuple(dataclasses.replace(p, cluster="c2") for p in c1.peers)
    )
    clusters = {"c1": c1, "c2": c2}
    return dataclasses.replace(env, inventory=dataclasses.replace(env.inventory, clusters=clusters))


def fleet_sessions(peers: dict[str, dict[str, FakePeer]]) -> Any:
    sessions = {c: FakeSession(p) for c, p in peers.items()}
    opened: list[str] = []
    lock = threading.Lock()

    def open_session(hosts: list[str]) -> FakeSession:
        # The runner opens a session for one cluster's peers; a thread per cluster.
        with lock:
            name = "c1" if "c1" not in opened else "c2"
            opened.append(name)
        return sessions[name]

    return open_session, sessions


def test_each_cluster_runs_on_its_own_runner_and_the_result_is_data(tmp_path: Path) -> None:
    env = two_clusters(tmp_path)
    peers = {"c1": cluster(), "c2": cluster()}
    open_session, _ = fleet_sessions(peers)
    done: list[str] = []
    fleet = run_fleet(
        env,
        "restart",
        {"c1": {}, "c2": {}},
        yes=True,
        sessions=open_session,
        on_done=lambda item: done.append(item.cluster),
    )
    assert [i.cluster for i in fleet.items] == ["c1", "c2"]  # the order given
    assert sorted(done) == ["c1", "c2"]
    assert all(i.result is not None and i.result.status is RunStatus.OK for i in fleet.items)
    assert fleet.exit_code == 0 and not fleet.interrupted
    assert [p.restarts for c in peers.values() for p in c.values()] == [1] * 6


def test_a_dry_run_fleet_plans_and_changes_nothing(tmp_path: Path) -> None:
    env = two_clusters(tmp_path)
    peers = {"c1": cluster(), "c2": cluster()}
    open_session, _ = fleet_sessions(peers)
    fleet = run_fleet(env, "restart", {"c1": {}, "c2": {}}, dry_run=True, sessions=open_session)
    assert all(i.result is not None and i.result.plan is not None for i in fleet.items)
    assert [p.restarts for c in peers.values() for p in c.values()] == [0] * 6


@pytest.mark.parametrize(
    ("clusters", "yes", "message"),
    [
        (["c1", "nope"], True, "nope"),
        (["c1", "c2"], False, "pass --yes"),
    ],
)
def test_bad_fleets_are_refused_before_anything_runs(
    tmp_path: Path, clusters: list[str], yes: bool, message: str
) -> None:
    env = two_clusters(tmp_path)
    with pytest.raises(UsageError, match=message):
        run_fleet(env, "restart", {c: {} for c in clusters}, yes=yes, sessions=None)


def test_a_cluster_named_twice_is_refused(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="named twice"):
        check_fleet(two_clusters(tmp_path), ["c1", "c2", "c1"], yes=True, dry_run=False)


def test_the_fleet_exit_code_is_the_most_serious() -> None:
    def fleet(*codes: int) -> FleetResult:
        return FleetResult("x", [FleetItem(f"c{i}", c) for i, c in enumerate(codes)])

    assert fleet().exit_code == 0
    assert fleet(0, 5).exit_code == ExitCode.CHANGES_PENDING
    assert fleet(0, 3, 6).exit_code == ExitCode.REFUSED
    assert fleet(4, 1).exit_code == ExitCode.FAILED
    assert fleet(130, 1).exit_code == ExitCode.INTERRUPTED
    assert list(SEVERITY)[-1] == ExitCode.OK

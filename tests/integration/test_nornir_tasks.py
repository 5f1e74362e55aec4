"""exops's Nornir tasks in a real Nornir run against the real lab (exops.tools.nornir_tasks).

``changed`` is pinned to the lab's own request log: true exactly when the lab saw
a write or a restart; a dry run and the read tasks send none.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

import pytest
from clikit import cli_for, last_seq, writes_since
from labkit import lock_key

from exops.apply.results import RunResult, RunStatus
from exops.plan.model import CheckOutcome
from exops.report.status import ClusterReport, Verdict
from exops.run.env import load_env
from exops.state.flock import acquire
from exops.tools.nornir_tasks import apply_plan, check, cluster_nornir, run_runbook, status

pytestmark = pytest.mark.integration


def use_lab(lab: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The user's shell: the lab's EXOPS_* settings and a state store of this test."""
    for name, value in cli_for(lab, tmp_path).env.items():
        if name.startswith("EXOPS_"):
            monkeypatch.setenv(name, value)


def test_runbook_task_forms_a_cluster_then_changes_nothing(
    fresh_lab: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    use_lab(fresh_lab, tmp_path, monkeypatch)
    nr = cluster_nornir()
    assert list(nr.inventory.hosts) == ["c1"]

    # The dry run (Nornir's dry_run): the plan as the diff, nothing sent.
    seq = last_seq(fresh_lab)
    agg = nr.run(task=run_runbook, runbook="create-cluster", dry_run=True)
    res = agg["c1"][0]
    assert not res.failed and res.changed  # would change
    assert isinstance(res.result, RunResult) and res.result.status is RunStatus.PLANNED
    assert "c1-p1" in res.diff and res.exit_code == 0
    assert writes_since(fresh_lab, seq) == []

    # The run: a restart confirmed with yes=True; changed, the cluster formed.
    seq = last_seq(fresh_lab)
    agg = nr.run(task=run_runbook, runbook="create-cluster", yes=True)
    res = agg["c1"][0]
    assert not agg.failed, res.result
    assert res.changed and res.result.status is RunStatus.OK
    assert writes_since(fresh_lab, seq) != []
    assert fresh_lab.control.peer_state("c1-p1")["is_primary"]

    # Again: nothing to change, not changed, no write.
    seq = last_seq(fresh_lab)
    res = nr.run(task=run_runbook, runbook="create-cluster", yes=True)["c1"][0]
    assert not res.failed and not res.changed
    assert res.result.status in (RunStatus.OK, RunStatus.NOTHING_TO_CHANGE)  # verifies ran
    assert not res.result.plan.has_changes
    assert writes_since(fresh_lab, seq) == []

    # The run was journalled where the CLI looks.
    history = cli_for(fresh_lab, tmp_path).json("history")["runs"]
    assert [r["runbook"] for r in history] == ["create-cluster", "create-cluster"]


def test_read_tasks_on_a_peer_level_nornir_run_once_per_cluster(
    formed_lab: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The user's own Nornir on the exops inventory files (one host per peer)."""
    from nornir import InitNornir

    use_lab(formed_lab, tmp_path, monkeypatch)
    inv = formed_lab.inventory_dir
    nr = InitNornir(
        inventory={
            "plugin": "SimpleInventory",
            "options": {
                "host_file": str(inv / "hosts.yaml"),
                "group_file": str(inv / "groups.yaml"),
                "defaults_file": str(inv / "defaults.yaml"),
            },
        },
        logging={"enabled": False},
    )
    monkeypatch.delenv("EXOPS_INVENTORY")  # the task finds the inventory from Nornir's
    seq = last_seq(formed_lab)
    agg = nr.run(task=status)
    assert not agg.failed
    report = agg["c1-p1"][0].result
    assert isinstance(report, ClusterReport) and report.verdict is Verdict.HEALTHY
    assert [p.host for p in report.peers] == ["c1-p1", "c1-p2", "c1-p3"]
    for other in ("c1-p2", "c1-p3"):
        assert agg[other][0].result == "cluster c1: run on c1-p1"
        assert not agg[other][0].changed

    checks = nr.run(task=check)["c1-p1"][0]
    assert not checks.failed and not checks.changed
    assert {c.outcome for c in checks.result} <= {CheckOutcome.PASS, CheckOutcome.NOT_APPLICABLE}
    assert writes_since(formed_lab, seq) == []

    # A degraded cluster: status fails honestly (exops status exits 1).
    formed_lab.control.inject("unreachable", peer="c1-p3")
    res = nr.run(task=status)["c1-p1"][0]
    assert res.failed and res.exit_code == 1
    by_host = {p.host: p for p in res.result.peers}
    assert not by_host["c1-p3"].reachable


def test_failures_carry_exops_one_line_and_exit_code(
    formed_lab: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    use_lab(formed_lab, tmp_path, monkeypatch)
    env = load_env()
    # A failed host is left out of Nornir's next runs unless on_failed=True.
    nr = cluster_nornir(env)
    run = functools.partial(nr.run, on_failed=True)
    seq = last_seq(formed_lab)

    res = run(task=run_runbook, runbook="restart", peer="nope", env=env)["c1"][0]
    assert res.failed and res.exit_code == 2 and "nope" in res.result
    assert "Traceback" not in res.result

    res = run(task=run_runbook, runbook="restart", env=env)["c1"][0]  # no yes=True
    assert res.failed and res.exit_code == 2 and "restarts" in res.result

    locks = tmp_path / "exops-state" / "locks"
    with acquire(lock_key(formed_lab, "c1"), runbook="restart", timeout_s=0, lock_dir=locks):
        res = run(task=run_runbook, runbook="restart", yes=True, env=env)["c1"][0]
    assert res.failed and res.exit_code == 4 and "locked" in res.result
    assert not res.changed
    assert writes_since(formed_lab, seq) == []

    # A saved plan applied as a task: restarts c1-p2 only, changed.
    plan = run(task=run_runbook, runbook="restart", peer="c1-p2", dry_run=True)["c1"][0]
    saved = tmp_path / "plan.json"
    saved.write_text(plan.result.plan.to_json())
    res = run(task=apply_plan, plan_file=saved, yes=True)["c1"][0]
    assert not res.failed and res.changed, res.result
    assert [r["peer"] for r in formed_lab.control.metrics()["restarts"]] == ["c1-p2"]

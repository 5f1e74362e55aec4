"""The runner on plain data: a fake appliance cluster, no sockets.

The runner is the library entry point (``exops.run``): plan, confirm, lock,
journal, apply, verify, result. These tests pin what it returns as data
(status, exit code, per-step results), what observers see, and what it
refuses to do, with an in-memory cluster of fake appliances.
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from runkit import ADDRS, FakePeer, FakeSession, cluster, formed, make_env

from exops.apply.results import RunResult, RunStatus, StepResult, StepStatus
from exops.core.errors import LockedError, UsageError
from exops.core.exitcodes import ExitCode
from exops.core.models import (
    ClusterSettings,
)
from exops.facts.gather import Fact
from exops.plan.model import Action, Plan
from exops.run import Observer, RunInfo, Runner
from exops.run.env import Env


class Recorder(Observer):
    def __init__(self) -> None:
        self.calls: list[str] = []
        self.results: list[StepResult] = []

    def run_started(self, run: RunInfo) -> None:
        self.calls.append("run_started")

    def step_started(self, run: RunInfo, action: Action) -> None:
        self.calls.append(f"step_started {action.id}")

    def restarting(self, run: RunInfo, host: str, action_id: str) -> None:
        self.calls.append(f"restarting {host}")

    def step_finished(self, run: RunInfo, result: StepResult) -> None:
        self.calls.append(f"step_finished {result.action.id} {result.status.value}")
        self.results.append(result)

    def run_finished(self, run: RunInfo, result: RunResult) -> None:
        self.calls.append(f"run_finished {result.status.value}")


def runner(env: Env, peers: dict[str, FakePeer], **kw: Any) -> tuple[Runner, FakeSession]:
    session = FakeSession(peers)
    return Runner(env, sessions=lambda clusters: session, **kw), session  # type: ignore[arg-type, return-value]


def test_ordered_restart_returns_data_and_tells_observers_in_order(tmp_path: Path) -> None:
    peers = cluster()
    rec = Recorder()
    run, session = runner(make_env(tmp_path), peers, observers=[rec])
    result = run.run("restart", "c1", {}, yes=True)
    assert result.status is RunStatus.OK and result.exit_code == 0
    assert [p.restarts for p in peers.values()] == [1, 1, 1]
    restarts = [s for s in result.steps if s.action.kind.value == "restart"]
    assert [s.host for s in restarts] == ["p1", "p2", "p3"]  # primary first
    assert all(s.status is StepStatus.CHANGED for s in restarts)
    assert rec.calls[0] == "run_started" and rec.calls[-1] == "run_finished ok"
    assert rec.calls.index("restarting p1") < rec.calls.index("restarting p2")
    assert session.opened == 1  # one session per run
    recap = result.recap()
    assert recap["p1"]["changed"] == 1 and recap["p1"]["failed"] == 0


def test_the_run_is_journalled_with_every_step(tmp_path: Path) -> None:
    from exops.state.sqlite import SqliteJournal

    env = make_env(tmp_path)
    run, _ = runner(env, cluster())
    result = run.run("restart", "c1", {"peer": "p2"}, yes=True)
    stored = SqliteJournal(env.settings.journal_path).get_run(str(result.run_id))
    assert stored is not None and stored["status"] == "ok" and stored["exit_code"] == 0
    assert [s["status"] for s in stored["steps"]] == [s.status.value for s in result.steps]


def test_a_dry_run_plans_and_changes_nothing(tmp_path: Path) -> None:
    peers = cluster()
    run, _ = runner(make_env(tmp_path), peers)
    result = run.plan("restart", "c1", {})
    assert result.status is RunStatus.PLANNED and result.exit_code == 0
    assert result.plan is not None and len(result.plan.restarts) == 3
    assert all(p.restarts == 0 and not p.writes for p in peers.values())


def test_a_plan_reads_only_the_facts_its_runbook_uses(tmp_path: Path) -> None:
    from exops.plan.planner import plan_facts
    from exops.runbook.loader import load_runbook

    run, session = runner(make_env(tmp_path), cluster())
    run.plan("restart", "c1", {})
    run.run("restart", "c1", {"peer": "p2"}, yes=True)
    wanted = plan_facts(load_runbook("restart"))
    assert session.needs == [wanted, wanted]
    assert wanted == {Fact.SETTINGS, Fact.STATUS, Fact.ALARMS, Fact.IDENTITY}


def test_restarts_need_yes_or_a_confirmation(tmp_path: Path) -> None:
    peers = cluster()
    env = make_env(tmp_path)
    with pytest.raises(UsageError, match="--yes"):
        runner(env, peers)[0].run("restart", "c1", {})
    asked: list[Plan] = []

    def no(plan: Plan) -> bool:
        asked.append(plan)
        return False

    with pytest.raises(UsageError, match="not confirmed"):
        runner(env, peers, confirm=no)[0].run("restart", "c1", {})
    assert len(asked) == 1 and all(p.restarts == 0 for p in peers.values())
    assert runner(env, peers, confirm=lambda p: True)[0].run("restart", "c1", {}).exit_code == 0


def test_a_refused_plan_changes_nothing_and_exits_3(tmp_path: Path) -> None:
    peers = cluster(p3={"settings": ClusterSettings()})  # p3 listed but emptied: hazard
    run, _ = runner(make_env(tmp_path), peers)
    result = run.run("restart", "c1", {}, yes=True)
    assert result.status is RunStatus.REFUSED and result.exit_code == int(ExitCode.REFUSED)
    assert "factory" in result.message and not result.steps
    assert all(p.restarts == 0 for p in peers.values())


def test_an_unreachable_member_skipped_makes_the_run_partial(tmp_path: Path) -> None:
    # switch-primary with the old primary down: done where possible, exit 6, not 0.
    peers = cluster(p1={"reachable": False})
    run, _ = runner(make_env(tmp_path), peers)
    result = run.run("switch-primary", "c1", {"peer": "p2"}, yes=True)
    assert result.status is RunStatus.PARTIAL and result.exit_code == int(ExitCode.PARTIAL) == 6
    assert result.unreached == ("p1",)
    assert result.recap()["p1"]["unreachable"] == 1
    assert "p1" in result.message and "re-run" in result.message
    assert peers["p2"].settings.primary == 2 and peers["p3"].settings.primary == 2


def test_a_peer_that_never_comes_back_is_unreachable(tmp_path: Path) -> None:
    peers = cluster(p2={"never_back": True})
    env = make_env(tmp_path, restart_timeout=0.3)
    result = runner(env, peers)[0].run("restart", "c1", {"peer": "p2"}, yes=True)
    assert result.status is RunStatus.FAILED and result.exit_code == 1
    failed = result.first_failure
    assert failed is not None and failed.host == "p2"
    assert failed.status is StepStatus.UNREACHABLE  # the peer never answered again
    assert "p2" in result.message and failed.advice


def test_a_health_wait_that_times_out_is_a_failure_not_unreachable(tmp_path: Path) -> None:
    peers = cluster(p2={"db_after_restart": "Failed"})
    env = make_env(tmp_path, settle_timeout=0.3)
    result = runner(env, peers)[0].run("restart", "c1", {"peer": "p2"}, yes=True)
    failed = result.first_failure
    assert failed is not None and failed.action.kind.value == "wait"
    assert failed.status is StepStatus.FAILED and "gave up waiting" in (failed.error or "")
    assert "database Failed" in (failed.error or "")


def test_an_interrupted_run_is_journalled_interrupted(tmp_path: Path) -> None:
    from exops.state.sqlite import SqliteJournal

    env = make_env(tmp_path)
    cancel = threading.Event()
    cancel.set()  # Ctrl-C arrived: every wait stops at its first poll
    peers = cluster(p2={"never_back": True})
    result = runner(env, peers, cancel=cancel)[0].run("restart", "c1", {"peer": "p2"}, yes=True)
    assert result.status is RunStatus.INTERRUPTED and result.exit_code == 130
    stored = SqliteJournal(env.settings.journal_path).get_run(str(result.run_id))
    assert stored is not None and stored["status"] == "interrupted"


def test_a_held_lock_refuses_with_exit_4(tmp_path: Path) -> None:
    from exops.state.flock import acquire

    env = make_env(tmp_path)
    peers = cluster()
    key = env.inventory.cluster("c1").lock_key  # the cluster's name and members' digest
    with (
        acquire(key, runbook="other", timeout_s=0, lock_dir=env.settings.lock_dir),
        pytest.raises(LockedError) as caught,
    ):
        runner(env, peers)[0].run("restart", "c1", {}, yes=True)
    assert caught.value.exit_code == 4 and all(p.restarts == 0 for p in peers.values())
    # The holder line names the cluster by what identifies it: its members' addresses.
    members = ", ".join(env.inventory.cluster("c1").members)
    assert str(caught.value).startswith(f"cluster c1 ({members}) is locked by "), caught.value


def test_a_cluster_of_the_same_name_elsewhere_does_not_lock_this_one(tmp_path: Path) -> None:
    """Two inventories (two sites, two labs) both call a cluster c1: one's run does not
    lock the other out; the same cluster in an inventory copy still does."""
    import dataclasses

    from exops.state.flock import acquire

    env = make_env(tmp_path)
    spec = env.inventory.cluster("c1")
    other_site = dataclasses.replace(
        spec,
        peers=tuple(
            dataclasses.replace(p, address=f"192.0.2.{i}") for i, p in enumerate(spec.peers, 1)
        ),
    )
    assert other_site.lock_key != spec.lock_key and other_site.lock_key.startswith("c1.")
    copy = dataclasses.replace(spec, data={"copied": True})
    assert copy.lock_key == spec.lock_key
    peers = cluster()
    with acquire(other_site.lock_key, runbook="other", timeout_s=0, lock_dir=env.settings.lock_dir):
        result = runner(env, peers)[0].run("restart", "c1", {"peer": "p3"}, yes=True)
    assert result.exit_code == 0


def test_result_document_has_schema_and_outcomes(tmp_path: Path) -> None:
    result = runner(make_env(tmp_path), cluster())[0].run("restart", "c1", {"peer": "p3"}, yes=True)
    doc = result.to_doc()
    assert doc["schema"] == "exops.run/1" and doc["status"] == "ok" and doc["exit_code"] == 0
    assert {o["status"] for o in doc["outcomes"]} <= {"ok", "changed"}
    assert doc["plan"]["runbook"] == "restart"


def test_expected_downtime_comes_from_the_peers_measured_restarts(tmp_path: Path) -> None:
    env = make_env(tmp_path)
    first = runner(env, cluster())[0].plan("restart", "c1", {"peer": "p2"})
    assert first.plan is not None
    (nominal,) = first.plan.restarts
    assert nominal.expected_downtime_s == 300.0 and "measured" not in nominal.reason
    runner(env, cluster())[0].run("restart", "c1", {"peer": "p2"}, yes=True)
    again = runner(env, cluster())[0].plan("restart", "c1", {"peer": "p2"})
    assert again.plan is not None
    (measured,) = again.plan.restarts
    assert measured.expected_downtime_s is not None and measured.expected_downtime_s < 300.0
    assert "downtime measured: median of 1 past restarts" in measured.reason


def test_refused_credentials_after_a_restart_stop_the_wait_soon(tmp_path: Path) -> None:
    # Logging in again at every poll would lock the admin account on a real appliance.
    peers = cluster(p2={"refuse_after_restart": True})
    result = runner(make_env(tmp_path), peers)[0].run("restart", "c1", {"peer": "p2"}, yes=True)
    assert result.status is RunStatus.FAILED
    assert peers["p2"].logins_refused == 3  # at most 3 refused logins, then it stops
    failed = result.first_failure
    assert failed is not None and failed.status is StepStatus.UNREACHABLE
    assert "credentials refused" in (failed.error or "")


def test_apply_of_a_saved_plan_that_restarts_needs_yes(tmp_path: Path) -> None:
    # Before: `exops apply PLAN` restarted peers with no terminal and no --yes.
    env = make_env(tmp_path)
    planned = runner(env, cluster())[0].plan("restart", "c1", {"peer": "p2"})
    assert planned.plan is not None
    path = tmp_path / "restart.json"
    path.write_text(planned.plan.to_json())
    peers = cluster()
    with pytest.raises(UsageError, match="--yes"):
        runner(env, peers)[0].apply_saved(path)
    assert all(p.restarts == 0 for p in peers.values())
    assert runner(env, peers)[0].apply_saved(path, yes=True).exit_code == 0
    assert peers["p2"].restarts == 1


def test_restore_after_a_switch_primary_keeps_the_agreed_primary(tmp_path: Path) -> None:
    # Before: restoring a backup taken before switch-primary set the old primary slot on
    # that one peer, and the cluster then disagreed on its primary.
    from exops.plan.restore import RestoreSource, plan_restore

    peers = cluster()
    for p in peers.values():
        p.settings = formed(primary=2)  # the cluster switched to p2
    facts = FakeSession(peers).gather("c1")
    backup = formed(primary=1).model_copy(
        update={"peers": (ADDRS["p1"], ADDRS["p2"], "", "", "", "")}
    )
    plan = plan_restore(
        facts, "p3", RestoreSource(backup, "backup.json"), now=datetime.now(UTC), exops_version="0"
    )
    assert plan.refused is None
    (configure,) = [a for a in plan.actions if a.kind.value == "configure"]
    assert configure.after is not None and configure.after.primary == 2
    assert any("agrees on 10.0.0.12" in w for w in plan.warnings)


def test_restore_refuses_a_backup_without_the_agreed_primary(tmp_path: Path) -> None:
    from exops.plan.restore import RestoreSource, plan_restore

    peers = cluster()
    for p in peers.values():
        p.settings = formed(primary=3)
    facts = FakeSession(peers).gather("c1")
    backup = formed(primary=1).model_copy(
        update={"peers": (ADDRS["p1"], ADDRS["p2"], "", "", "", "")}
    )
    plan = plan_restore(
        facts, "p2", RestoreSource(backup, "backup.json"), now=datetime.now(UTC), exops_version="0"
    )
    assert plan.refused is not None and "disagree on the primary" in plan.refused


def test_resume_after_a_crash_picks_up_the_run_left_running(tmp_path: Path) -> None:
    """A run killed mid-way (kill -9, power loss) never journalled its end: it reads
    "running". `--resume` resumes it: it skips the peers booted since it began."""
    from exops.state.base import NewRun
    from exops.state.sqlite import SqliteJournal

    env = make_env(tmp_path)
    journal = SqliteJournal(env.settings.journal_path)
    crashed = NewRun(
        run_id="crashed",
        cluster="c1",
        runbook="restart",
        params={},
        plan={"runbook": "restart", "actions": []},
        user="alice",
        host="jump1",
    )
    journal.start_run(crashed)  # and nothing after: the process died
    started = journal.get_run("crashed")
    assert started is not None and started["status"] == "running"
    result = runner(env, cluster())[0].plan("restart", "c1", {}, resume=True)
    assert result.plan is not None and result.plan.refused is None
    since = datetime.fromisoformat(str(result.plan.params["since"]))
    assert since == datetime.fromisoformat(started["started"])


class _FailsAtStep(Recorder):
    """An observer whose call at the start of step N raises an exops error (a journal
    or event sink that breaks mid-run): the run must end as a failure of that step."""

    def __init__(self, n: int) -> None:
        super().__init__()
        self.n = n

    def step_started(self, run: RunInfo, action: Action) -> None:
        super().step_started(run, action)
        if len([c for c in self.calls if c.startswith("step_started")]) == self.n:
            from exops.core.errors import ExopsError

            raise ExopsError("the journal broke")


def test_an_exops_error_escaping_a_step_fails_that_step_not_interrupted(tmp_path: Path) -> None:
    """CI once showed "interrupted: [c1-p2] back up c1-p2 ..." and exit 1 with no FAILED
    header: an exops error raised outside a step's own error handling was reported as
    an interruption. It is the failure of the step in flight, with its message."""
    env = make_env(tmp_path)
    rec = _FailsAtStep(1)
    result = runner(env, cluster(), observers=[rec])[0].run(
        "restart", "c1", {"peer": "p2"}, yes=True
    )
    assert result.status is RunStatus.FAILED and result.exit_code == 1, result
    failed = result.first_failure
    assert failed is not None and failed.status is StepStatus.FAILED
    assert "the journal broke" in (failed.error or "") and not failed.refused
    assert "interrupted" not in (failed.error or "")
    assert result.message.startswith(f"step {failed.action.id} "), result.message
    rest = result.steps[result.steps.index(failed) + 1 :]
    assert rest and all(s.status is StepStatus.SKIPPED for s in rest)
    assert rec.calls[-1] == "run_finished failed"


class LoggedSession(FakeSession):
    """Logs each gather: ("plan" | "light", hosts)."""

    def __init__(self, peers: dict[str, FakePeer]) -> None:
        super().__init__(peers)
        self.log: list[tuple[str, tuple[str, ...] | None]] = []

    def gather(self, cluster: str, hosts: list[str] | None = None, **kw: Any) -> Any:
        self.log.append(("light" if kw.get("light") else "plan", tuple(hosts) if hosts else None))
        return super().gather(cluster, hosts, **kw)


def test_the_stale_plan_rule_judges_the_read_just_planned_from_unless_someone_was_asked(
    tmp_path: Path,
) -> None:
    """An unattended run (--yes): the read the plan was just made from is the freshest
    there is; the stale-plan rule judges it, and the restart reads the cluster anew
    right before it. An operator asked first (minutes may pass): the rule reads anew."""
    env = make_env(tmp_path)
    session = LoggedSession(cluster())
    run = Runner(env, sessions=lambda clusters: session)  # type: ignore[arg-type, return-value]
    assert run.run("restart", "c1", {"peer": "p2"}, yes=True).exit_code == 0
    # plan read, then the restart's own fresh read of the whole cluster.
    assert session.log[:2] == [("plan", None), ("light", None)]
    assert session.log[2] != ("light", None)
    asked = LoggedSession(cluster())
    run = Runner(env, sessions=lambda clusters: asked, confirm=lambda plan: True)  # type: ignore[arg-type, return-value]
    assert run.run("restart", "c1", {"peer": "p2"}).exit_code == 0
    assert asked.log[:3] == [("plan", None), ("light", None), ("light", None)]

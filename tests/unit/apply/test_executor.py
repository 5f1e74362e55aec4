"""The executor: exact writes, divergence stops, restart detection, waits."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

import pytest

from exops.appliance.base import Command, Write, apply_writes, settings_writes
from exops.apply.executor import Applied, ApplyOptions, Executor
from exops.apply.results import StepResult
from exops.apply.waits import Waiter
from exops.core.errors import StalePlanError, TransportError
from exops.core.models import (
    EMPTY_SLOTS,
    Alarm,
    ClusterFacts,
    ClusterSettings,
    ClusterStatus,
    PeerFacts,
    Role,
    SystemInfo,
    TlsMode,
)
from exops.facts.gather import Fact
from exops.plan.model import Action, ActionKind, Plan
from exops.state.backups import FileBackups, read_backup_file


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


class FakeCancel:
    """Stands in for threading.Event: waiting advances the fake clock. A wait that
    pauses for nothing again and again (polling on at its timeout) fails here at
    once, rather than spin until pytest's timeout."""

    def __init__(self, clock: FakeClock) -> None:
        self.clock = clock
        self.idle = 0

    def wait(self, seconds: float) -> bool:
        self.idle = self.idle + 1 if seconds <= 0 else 0
        assert self.idle < 100, f"a wait polls on and on at {self.clock.now} s without pausing"
        self.clock.now += seconds
        return False


class FakeAppliance:
    host = "p1"

    def __init__(
        self, clock: FakeClock, settings: ClusterSettings, restart_s: float = 30.0
    ) -> None:
        self.clock = clock
        self.settings = settings
        self.restart_s = restart_s
        self.down_until = -1.0
        self.boot_at = -1000.0
        self.writes: list[Write] = []
        self.pending = False

    def _up(self) -> None:
        if self.clock.now < self.down_until:
            raise TransportError("connection refused", host=self.host, operation="read")

    def read_settings(self) -> ClusterSettings:
        self._up()
        return self.settings

    def read_system(self) -> SystemInfo:
        self._up()
        return SystemInfo(
            name="p1",
            version="X15.2.1",
            role=Role.EXPRESSWAY_C,
            platform="medium",
            uptime_s=int(self.clock.now - self.boot_at),
        )

    def read_uptime(self) -> int | None:
        self._up()
        return int(self.clock.now - self.boot_at)

    def write(self, writes: Sequence[Write]) -> None:
        self._up()
        self.writes += writes
        self.settings = apply_writes(self.settings, writes)
        self.pending = True

    def restart(self) -> None:
        self._up()
        self.down_until = self.clock.now + self.restart_s
        self.boot_at = self.down_until
        self.pending = False

    def command(self, command: Command) -> str:
        return "OK"


class FakeCluster:
    def __init__(self, app: FakeAppliance) -> None:
        self.app = app

    def appliance(self, host: str) -> FakeAppliance:
        return self.app

    def gather(
        self,
        cluster: str,
        hosts: list[str] | None = None,
        *,
        light: bool = False,
        needs: frozenset[Fact] | None = None,
    ) -> ClusterFacts:
        try:
            settings = self.app.read_settings()
        except TransportError as exc:
            peer = PeerFacts(host="p1", address="10.0.0.11", reachable=False, error=str(exc))
        else:
            alarms = (Alarm(id="20007"),) if self.app.pending else ()
            peer = PeerFacts(
                host="p1",
                address="10.0.0.11",
                reachable=True,
                settings=settings,
                alarms=alarms,
                status=ClusterStatus(database="Active"),
            )
        return ClusterFacts(cluster="c1", peers=(peer,), gathered_at=datetime.now(UTC))


BEFORE = ClusterSettings()
AFTER = ClusterSettings(
    peers=("10.0.0.11", *EMPTY_SLOTS[1:]), primary=1, cluster_name="c1.example.com"
)


def make_plan(*actions: Action) -> Plan:
    return Plan(
        runbook="test",
        cluster="c1",
        params={},
        created_at=datetime.now(UTC),
        exops_version="0",
        facts_digest="x",
        basis={},
        actions=actions,
    )


def executor(
    tmp_path: Path, app: FakeAppliance, plan: Plan, clock: FakeClock, conditions=None
) -> Executor:
    events: list[tuple[str, dict[str, object]]] = []

    class Sink:
        def emit(self, event: str, **fields: object) -> None:
            events.append((event, fields))

    ex = Executor(
        FakeCluster(app),
        plan,
        conditions=conditions or {},
        waiter=Waiter(clock=clock, cancel=FakeCancel(clock), max_poll=5.0),  # type: ignore[arg-type]
        events=Sink(),
        options=ApplyOptions(restart_timeout=600, settle_timeout=600, backups=FileBackups(tmp_path)),
    )
    ex.events_seen = events  # type: ignore[attr-defined]
    return ex


def configure() -> Action:
    return Action(
        id="1",
        step="configure",
        kind=ActionKind.CONFIGURE,
        host="p1",
        writes=settings_writes(BEFORE, AFTER),
        before=BEFORE,
        after=AFTER,
    )


def test_configure_writes_exactly_the_plan(tmp_path: Path) -> None:
    clock = FakeClock()
    app = FakeAppliance(clock, BEFORE)
    result = executor(tmp_path, app, make_plan(configure()), clock).run()
    assert [o.status for o in result.outcomes] == ["changed"]
    assert tuple(app.writes) == settings_writes(BEFORE, AFTER)
    assert app.settings == AFTER


def test_configure_already_done_writes_nothing(tmp_path: Path) -> None:
    """Replication brought the planned (cluster-wide) value after the run began: the
    step finds it done and writes nothing."""
    clock = FakeClock()
    unnamed = AFTER.model_copy(update={"cluster_name": ""})
    action = configure().model_copy(
        update={"before": unnamed, "writes": settings_writes(unnamed, AFTER)}
    )
    app = FakeAppliance(clock, unnamed)
    ex = executor(tmp_path, app, make_plan(action), clock)
    ex.check_fresh()
    app.settings = AFTER
    result = ex.run()
    assert [o.status for o in result.outcomes] == ["ok"]
    assert app.writes == []


def test_the_executor_tells_only_what_the_runner_forwards(tmp_path: Path) -> None:
    """Step results reach the runner as data (``on_outcome``); the event channel
    carries only what has no result: a step starting, a restart going out."""
    clock = FakeClock()
    app = FakeAppliance(clock, BEFORE, restart_s=300)
    restart = Action(id="2", step="restart", kind=ActionKind.RESTART, host="p1")
    ex = executor(tmp_path, app, make_plan(configure(), restart), clock)
    result = ex.run()
    assert [o.status for o in result.outcomes] == ["changed", "changed"]
    seen = [event for event, _ in ex.events_seen]  # type: ignore[attr-defined]
    assert seen == ["step_started", "step_started", "restarting"]


def test_a_stale_plan_is_refused_before_any_write(tmp_path: Path) -> None:
    """The stale-plan rule: a peer that no longer reads as the plan expects refuses
    the whole run before its first action, one line per difference (step, peer,
    expected, found); nothing is written or restarted."""
    clock = FakeClock()
    other = ClusterSettings(peers=("10.0.0.99", *EMPTY_SLOTS[1:]), primary=1)
    app = FakeAppliance(clock, other)
    restart = Action(id="2", step="restart", kind=ActionKind.RESTART, host="p1")
    ex = executor(tmp_path, app, make_plan(configure(), restart), clock)
    with pytest.raises(StalePlanError) as refused:
        ex.run()
    assert refused.value.exit_code == 3
    lines = str(refused.value).splitlines()
    assert "step 1 'configure' on p1: peer 1 address expected empty, found '10.0.0.99'" in [
        ln.strip() for ln in lines
    ], lines
    assert "step 1 'configure' on p1: configuration primary expected slot 0, found slot 1" in [
        ln.strip() for ln in lines
    ], lines
    assert app.writes == [] and app.down_until < 0
    assert ex.events_seen == []  # type: ignore[attr-defined]  # no step even started


def test_a_peer_changed_during_the_run_stops_it_before_its_next_write(tmp_path: Path) -> None:
    """Another administrator edits the peer between the start check and its step: the
    run stops before writing (refused, exit 3), says what was written so far and the
    command that finishes the job; the rest is not reached."""
    clock = FakeClock()
    app = FakeAppliance(clock, BEFORE)
    restart = Action(id="2", step="restart", kind=ActionKind.RESTART, host="p1")
    ex = executor(tmp_path, app, make_plan(configure(), restart), clock)
    ex.check_fresh()
    app.settings = ClusterSettings(peers=("10.0.0.99", *EMPTY_SLOTS[1:]), primary=1)
    result = ex.run()
    assert [o.status for o in result.outcomes] == ["failed", "skipped"]
    first = result.outcomes[0]
    assert first.refused
    assert "changed during this run" in (first.error or "") and "10.0.0.99" in (first.error or "")
    assert "written so far: nothing" in (first.advice or "")
    assert "`exops run test -c c1 --yes`" in (first.advice or "")
    assert app.writes == [] and app.down_until < 0


def test_restart_waits_until_back_and_pending_cleared(tmp_path: Path) -> None:
    clock = FakeClock()
    app = FakeAppliance(clock, AFTER, restart_s=300)
    app.pending = True
    restart = Action(id="1", step="restart", kind=ActionKind.RESTART, host="p1")
    result = executor(tmp_path, app, make_plan(restart), clock).run()
    assert [o.status for o in result.outcomes] == ["changed"]
    # Noticed within 5 % of the wait (tight, bounded polling), never before it came back.
    assert 300 <= clock.now <= 300 * 1.06


def test_restart_that_never_returns_times_out(tmp_path: Path) -> None:
    clock = FakeClock()
    app = FakeAppliance(clock, AFTER, restart_s=10_000)
    restart = Action(id="1", step="restart", kind=ActionKind.RESTART, host="p1", timeout_s=120)
    result = executor(tmp_path, app, make_plan(restart), clock).run()
    assert result.failed
    assert "gave up waiting for p1 to restart" in (result.outcomes[0].error or "")


def test_wait_uses_registered_condition(tmp_path: Path) -> None:
    clock = FakeClock()
    app = FakeAppliance(clock, AFTER)
    calls = []

    def settled(facts: ClusterFacts, action: Action) -> tuple[bool, str]:
        calls.append(clock.now)
        return clock.now >= 20, "still settling"

    wait = Action(id="1", step="settle", kind=ActionKind.WAIT, condition="settled", timeout_s=100)
    result = executor(tmp_path, app, make_plan(wait), clock, {"settled": settled}).run()
    assert [o.status for o in result.outcomes] == ["ok"]
    assert len(calls) > 3


def test_backup_is_readable(tmp_path: Path) -> None:
    clock = FakeClock()
    app = FakeAppliance(clock, AFTER)
    backup = Action(id="0", step="backup", kind=ActionKind.BACKUP, host="p1")
    result = executor(tmp_path, app, make_plan(backup), clock).run()
    assert result.outcomes[0].status == "ok"
    files = list((tmp_path / "c1" / "p1").glob("*.json"))
    assert len(files) == 1
    assert ClusterSettings.model_validate(read_backup_file(files[0])["settings"]) == AFTER


@pytest.mark.parametrize("elapsed", [0.0, 1.0, 60.0, 3600.0])
def test_poll_interval_bounds(elapsed: float) -> None:
    from exops.apply.waits import poll_interval

    interval = poll_interval(elapsed, 5.0)
    assert 0.05 <= interval <= 5.0
    assert interval <= max(0.05, elapsed * 0.05)


# -- safety rules through the executor (fresh reads, right before the action) ----------------
ADDRS = ("10.0.0.11", "10.0.0.12", "10.0.0.13")
LISTED = ClusterSettings(peers=(*ADDRS, *EMPTY_SLOTS[3:]), primary=1)


class FakePeers:
    """Several fake appliances; gather reads each one fresh (a peer may be down)."""

    def __init__(self, clock: FakeClock, settings: dict[str, ClusterSettings]) -> None:
        self.apps = {}
        for i, (host, s) in enumerate(settings.items()):
            app = FakeAppliance(clock, s)
            app.host = host
            app.address = ADDRS[i]
            self.apps[host] = app
        self.database: dict[str, str] = {}
        self.commands: list[str] = []

    def appliance(self, host: str) -> FakeAppliance:
        return self.apps[host]

    def gather(
        self,
        cluster: str,
        hosts: list[str] | None = None,
        *,
        light: bool = False,
        needs: frozenset[Fact] | None = None,
    ) -> ClusterFacts:
        peers = []
        for host, app in self.apps.items():
            if hosts is not None and host not in hosts:
                continue
            addr = app.address
            try:
                s = app.read_settings()
            except TransportError as exc:
                peers.append(PeerFacts(host=host, address=addr, reachable=False, error=str(exc)))
                continue
            peers.append(
                PeerFacts(
                    host=host,
                    address=addr,
                    reachable=True,
                    settings=s,
                    status=ClusterStatus(database=self.database.get(host, "Active")),
                )
            )
        return ClusterFacts(cluster="c1", peers=tuple(peers), gathered_at=datetime.now(UTC))


def run_on(
    tmp_path: Path, peers: FakePeers, clock: FakeClock, *actions: Action, decommission=None
) -> tuple[Executor, Applied]:
    class Sink:
        def emit(self, event: str, **fields: object) -> None:
            pass

    ex = Executor(
        peers,  # type: ignore[arg-type]
        make_plan(*actions),
        conditions={},
        waiter=Waiter(clock=clock, cancel=FakeCancel(clock), max_poll=5.0),  # type: ignore[arg-type]
        events=Sink(),
        options=ApplyOptions(
            restart_timeout=600, settle_timeout=600, backups=FileBackups(tmp_path), decommission=decommission
        ),
    )
    return ex, ex.run()


def conf(host: str, before: ClusterSettings, after: ClusterSettings, **kw: object) -> Action:
    return Action(
        id="1",
        step="configure",
        kind=ActionKind.CONFIGURE,
        host=host,
        writes=settings_writes(before, after),
        before=before,
        after=after,
        **kw,  # type: ignore[arg-type]
    )


def three(clock: FakeClock) -> FakePeers:
    return FakePeers(clock, {"p1": LISTED, "p2": LISTED, "p3": LISTED})


def test_r1_executor_refuses_emptying_a_list(tmp_path: Path) -> None:
    """A plan (a custom runbook's decommission: true, or an edited plan file) that
    empties a non-leaver's list is stopped before the write."""
    clock = FakeClock()
    peers = three(clock)
    action = conf("p3", LISTED, ClusterSettings(), decommission=True)
    _, result = run_on(tmp_path, peers, clock, action, decommission=None)
    assert [o.status for o in result.outcomes] == ["failed"]
    assert "safety rule R1" in (result.outcomes[0].error or "")
    assert peers.apps["p3"].writes == [] and result.outcomes[0].refused  # the runner exits 3


def test_r1_executor_lets_the_trusted_leaver_be_emptied(tmp_path: Path) -> None:
    clock = FakeClock()
    compacted = ClusterSettings(peers=(ADDRS[0], ADDRS[1], *EMPTY_SLOTS[2:]), primary=1)
    peers = FakePeers(clock, {"p1": compacted, "p2": compacted, "p3": LISTED})
    action = conf("p3", LISTED, ClusterSettings(), decommission=True)
    _, result = run_on(tmp_path, peers, clock, action, decommission="p3")
    assert [o.status for o in result.outcomes] == ["changed"]
    assert peers.apps["p3"].settings.is_empty and not result.outcomes[0].refused


def test_r3_executor_refuses_ip_on_fqdn_cluster(tmp_path: Path) -> None:
    clock = FakeClock()
    by_fqdn = ClusterSettings(
        peers=("exp1.example.com", "exp2.example.com", *EMPTY_SLOTS[2:]), primary=1
    )
    peers = FakePeers(clock, {"p1": by_fqdn, "p2": by_fqdn, "p3": ClusterSettings()})
    after = by_fqdn.model_copy(update={"peers": (*by_fqdn.peers[:2], ADDRS[2], *EMPTY_SLOTS[3:])})
    _ex, result = run_on(tmp_path, peers, clock, conf("p1", by_fqdn, after))
    assert "safety rule R3" in (result.outcomes[0].error or "")
    assert peers.apps["p1"].writes == []


def test_r5_executor_refuses_primary_on_empty_slot(tmp_path: Path) -> None:
    clock = FakeClock()
    peers = three(clock)
    _ex, result = run_on(
        tmp_path, peers, clock, conf("p2", LISTED, LISTED.model_copy(update={"primary": 4}))
    )
    assert "safety rule R5" in (result.outcomes[0].error or "")
    assert peers.apps["p2"].writes == []


def test_r8_executor_refuses_to_list_a_foreign_peer(tmp_path: Path) -> None:
    """A plan made while p3 was unclustered; by the time of the write p3 has joined
    another cluster (its fresh list names c2's peers): the primary's write is refused."""
    clock = FakeClock()
    two = ClusterSettings(peers=(ADDRS[0], ADDRS[1], *EMPTY_SLOTS[2:]), primary=1)
    other = ClusterSettings(
        peers=("10.0.2.11", ADDRS[2], *EMPTY_SLOTS[2:]), primary=1, cluster_name="c2.example"
    )
    peers = FakePeers(clock, {"p1": two, "p2": two, "p3": other})
    _ex, result = run_on(tmp_path, peers, clock, conf("p1", two, LISTED))
    assert "safety rule R8" in (result.outcomes[0].error or "")
    assert "10.0.2.11" in (result.outcomes[0].error or "")
    assert peers.apps["p1"].writes == [] and result.outcomes[0].refused


def restart(host: str, **kw: object) -> Action:
    return Action(id="1", step="restart", kind=ActionKind.RESTART, host=host, **kw)  # type: ignore[arg-type]


def test_r2_executor_refuses_restart_with_member_down(tmp_path: Path) -> None:
    clock = FakeClock()
    peers = three(clock)
    peers.apps["p3"].down_until = 10_000.0  # p3 does not answer
    _ex, result = run_on(tmp_path, peers, clock, restart("p2"))
    error = result.outcomes[0].error or ""
    assert "safety rule R2" in error and "p3" in error and "unreachable" in error
    assert peers.apps["p2"].down_until < 0  # never restarted


def test_r2_executor_refuses_restart_with_member_database_failed(tmp_path: Path) -> None:
    clock = FakeClock()
    peers = three(clock)
    peers.database["p1"] = "Failed"
    _ex, result = run_on(tmp_path, peers, clock, restart("p2"))
    assert "safety rule R2" in (result.outcomes[0].error or "")
    assert peers.apps["p2"].down_until < 0


def test_r2_executor_restarts_in_a_healthy_cluster(tmp_path: Path) -> None:
    clock = FakeClock()
    peers = three(clock)
    _ex, result = run_on(tmp_path, peers, clock, restart("p2"))
    assert [o.status for o in result.outcomes] == ["changed"]
    assert peers.apps["p2"].down_until > 0


class CachingPeers(FakePeers):
    """A cluster read that, once, hands the wait a read taken before the restart (a
    cache, a slow proxy): stamped with the time it was really read."""

    def __init__(self, clock: FakeClock, settings: dict[str, ClusterSettings]) -> None:
        super().__init__(clock, settings)
        self.cached: ClusterFacts | None = None
        self.wait_reads = 0

    def gather(
        self,
        cluster: str,
        hosts: list[str] | None = None,
        *,
        light: bool = False,
        needs: frozenset[Fact] | None = None,
    ) -> ClusterFacts:
        facts = super().gather(cluster, hosts, light=light)
        now = datetime.now(UTC)
        facts = facts.model_copy(
            update={"peers": tuple(p.model_copy(update={"gathered_at": now}) for p in facts.peers)}
        )
        if hosts is not None and len(hosts) > 1:
            self.wait_reads += 1
            if self.cached is not None and self.wait_reads == 1:
                return self.cached
        return facts


def test_a_wait_never_judges_a_read_taken_before_the_restart(tmp_path: Path) -> None:
    """Issue 19: a wait that returns on its first poll right after a restart must have
    read the state after the restart; a read that began before it is read again."""
    clock = FakeClock()
    peers = CachingPeers(clock, {"p1": LISTED, "p2": LISTED, "p3": LISTED})
    peers.cached = peers.gather("c1", ["p1", "p2", "p3"])  # read before the restart
    peers.wait_reads = 0
    judged: list[ClusterFacts] = []

    def anything(facts: ClusterFacts, action: Action) -> tuple[bool, str]:
        judged.append(facts)
        return True, "holds"

    wait = Action(
        id="2",
        step="wait",
        kind=ActionKind.WAIT,
        condition="anything",
        condition_args={"hosts": ["p1", "p2", "p3"]},
    )

    class Sink:
        def emit(self, event: str, **fields: object) -> None:
            pass

    ex = Executor(
        peers,  # type: ignore[arg-type]
        make_plan(restart("p2"), wait),
        conditions={"anything": anything},
        waiter=Waiter(clock=clock, cancel=FakeCancel(clock), max_poll=5.0),  # type: ignore[arg-type]
        events=Sink(),
        options=ApplyOptions(restart_timeout=600, settle_timeout=600, backups=FileBackups(tmp_path)),
    )
    result = ex.run()
    assert [o.status for o in result.outcomes] == ["changed", "ok"]
    assert peers.wait_reads == 2  # the stale read was not judged: read again
    assert ex.restarted_at is not None
    assert all(p.gathered_at and p.gathered_at >= ex.restarted_at for f in judged for p in f.peers)


def test_r4_executor_refuses_restart_of_empty_peer(tmp_path: Path) -> None:
    """Holds for any plan, even one whose Action says decommission."""
    clock = FakeClock()
    peers = FakePeers(clock, {"p1": LISTED, "p2": LISTED, "p3": ClusterSettings()})
    _ex, result = run_on(tmp_path, peers, clock, restart("p3", decommission=True))
    assert "safety rule R4" in (result.outcomes[0].error or "")
    assert peers.apps["p3"].down_until < 0


def test_r4_executor_restarts_the_trusted_leaver(tmp_path: Path) -> None:
    clock = FakeClock()
    compacted = ClusterSettings(peers=(ADDRS[0], ADDRS[1], *EMPTY_SLOTS[2:]), primary=1)
    peers = FakePeers(clock, {"p1": compacted, "p2": compacted, "p3": ClusterSettings()})
    _ex, result = run_on(
        tmp_path, peers, clock, restart("p3", decommission=True), decommission="p3"
    )
    assert [o.status for o in result.outcomes] == ["changed"]
    assert "decommissioned" in result.outcomes[0].detail


def test_r7_executor_refuses_command_on_primary(tmp_path: Path) -> None:
    clock = FakeClock()
    peers = three(clock)
    cmd = Action(
        id="1", step="fcu", kind=ActionKind.COMMAND, host="p1", command=Command.FORCE_CONFIG_UPDATE
    )
    _ex, result = run_on(tmp_path, peers, clock, cmd)
    assert "safety rule R7" in (result.outcomes[0].error or "")
    ok = cmd.model_copy(update={"host": "p2"})
    _ex, result = run_on(tmp_path, peers, clock, ok)
    assert [o.status for o in result.outcomes] == ["changed"]


def test_r1_executor_ignores_an_action_decommission_flag_on_a_non_leaver(tmp_path: Path) -> None:
    """No member lists p3 any more, but this run decommissions nobody: the Action's
    (or a runbook step's) decommission flag grants nothing."""
    clock = FakeClock()
    compacted = ClusterSettings(peers=(ADDRS[0], ADDRS[1], *EMPTY_SLOTS[2:]), primary=1)
    peers = FakePeers(clock, {"p1": compacted, "p2": compacted, "p3": LISTED})
    action = conf("p3", LISTED, ClusterSettings(), decommission=True)
    _ex, result = run_on(tmp_path, peers, clock, action, decommission=None)
    assert "safety rule R1" in (result.outcomes[0].error or "")
    assert peers.apps["p3"].writes == [] and not peers.apps["p3"].settings.is_empty


def test_rules_judge_the_writes_not_the_predicted_after(tmp_path: Path) -> None:
    """A plan whose writes empty the list while its 'after' claims otherwise (an edited
    plan) is judged by what would really be written."""
    clock = FakeClock()
    peers = three(clock)
    lie = Action(
        id="1",
        step="harmless",
        kind=ActionKind.CONFIGURE,
        host="p3",
        writes=settings_writes(LISTED, ClusterSettings()),
        before=LISTED,
        after=LISTED.model_copy(update={"primary": 2}),
    )
    _ex, result = run_on(tmp_path, peers, clock, lie)
    assert "safety rule R1" in (result.outcomes[0].error or "")
    assert peers.apps["p3"].writes == []


class IgnoringAppliance(FakeAppliance):
    """Accepts every write (HTTP 200) but applies none: the re-read must notice."""

    def write(self, writes: Sequence[Write]) -> None:
        self._up()
        self.writes += writes


def test_a_write_accepted_but_not_applied_is_a_divergence(tmp_path: Path) -> None:
    clock = FakeClock()
    app = IgnoringAppliance(clock, BEFORE)
    restart = Action(id="2", step="restart", kind=ActionKind.RESTART, host="p1")
    result = executor(tmp_path, app, make_plan(configure(), restart), clock).run()
    assert [o.status for o in result.outcomes] == ["failed", "skipped"]
    assert "after writing, expected" in (result.outcomes[0].error or "")
    assert app.down_until < 0  # the restart after it is not reached


def test_another_peer_changed_mid_run_stops_before_the_next_write(tmp_path: Path) -> None:
    """A switch of the primary, p2 then p1: after p2 is written, another administrator
    lists p3 differently on p3 itself. The run stops before writing p1, names what was
    written (p2's primary) and the direct command; p1 is untouched."""
    clock = FakeClock()
    peers = three(clock)
    to_p2 = LISTED.model_copy(update={"primary": 2})
    first = conf("p2", LISTED, to_p2)
    second = conf("p1", LISTED, to_p2).model_copy(update={"id": "2", "step": "point p1"})

    class Sink:
        def emit(self, event: str, **fields: object) -> None:
            pass

    def between_the_two_steps(outcome: StepResult) -> None:
        if outcome.host == "p2":  # another administrator edits p3 after p2's write
            edited = LISTED.model_copy(
                update={"peers": (*ADDRS[:2], "p3.example.com", *EMPTY_SLOTS[3:])}
            )
            peers.apps["p3"].settings = edited

    ex = Executor(
        peers,  # type: ignore[arg-type]
        make_plan(first, second).model_copy(
            update={"runbook": "switch-primary", "params": {"peer": "p2"}}
        ),
        conditions={},
        waiter=Waiter(clock=clock, cancel=FakeCancel(clock), max_poll=5.0),  # type: ignore[arg-type]
        events=Sink(),
        options=ApplyOptions(
            restart_timeout=600, settle_timeout=600, backups=FileBackups(tmp_path), saved_plan="p.json"
        ),
        on_outcome=between_the_two_steps,
    )
    result = ex.run()
    assert [o.status for o in result.outcomes] == ["changed", "failed"]
    stopped = result.outcomes[1]
    assert stopped.refused
    assert "p3: peer 3 address expected '10.0.0.13', found 'p3.example.com'" in (
        stopped.error or ""
    )
    assert "written so far: p2: primary = 2" in (stopped.advice or ""), stopped.advice
    assert "`exops switch-primary -c c1 --peer p2 --yes`" in (stopped.advice or "")
    assert peers.apps["p1"].writes == []


def test_a_peer_unreachable_during_its_backup_is_not_told_to_check_the_backup_directory(
    tmp_path: Path,
) -> None:
    clock = FakeClock()
    app = FakeAppliance(clock, AFTER)
    backup = Action(id="1", step="backup", kind=ActionKind.BACKUP, host="p1")
    ex = executor(tmp_path, app, make_plan(backup), clock)
    ex.check_fresh()
    app.down_until = 10_000.0  # gone after the start check, before its backup
    result = ex.run()
    outcome = result.outcomes[0]
    assert outcome.status == "unreachable"
    assert "backup directory" not in (outcome.advice or "")
    assert "did not answer" in (outcome.advice or "") and "exops status -c c1" in (
        outcome.advice or ""
    )


def test_a_backup_store_that_cannot_write_still_says_so(tmp_path: Path) -> None:
    clock = FakeClock()
    app = FakeAppliance(clock, AFTER)
    (tmp_path / "c1").write_text("not a directory")  # the store cannot make c1/p1/
    backup = Action(id="1", step="backup", kind=ActionKind.BACKUP, host="p1")
    result = executor(tmp_path, app, make_plan(backup), clock).run()
    assert "backup directory" in (result.outcomes[0].advice or "")
# -- a restart wait ends only on a read that proves the restart happened --------------------
class GracefulAppliance(FakeAppliance):
    """A real appliance's restart: it accepts the request and goes on answering, its
    uptime still counting and its restart still pending, for ``grace`` seconds; then it
    is down for ``restart_s``; then it answers again with its uptime from 0 (or, with
    ``services_s``, that much later: its uptime counts from the kernel's boot, its web
    service starts after). ``blips``: the reads (counted from the request, 1-based)
    that time out while it goes down."""

    def __init__(
        self,
        clock: FakeClock,
        settings: ClusterSettings,
        *,
        grace: float = 20.0,
        restart_s: float = 30.0,
        blips: tuple[int, ...] = (),
        uptime_known: bool = True,
        services_s: float = 0.0,
    ) -> None:
        super().__init__(clock, settings, restart_s)
        self.grace = grace
        self.services_s = services_s
        self.blips = blips
        self.uptime_known = uptime_known
        self.down_from = -1.0
        self.old_boot = self.boot_at
        self.requested_at: float | None = None
        self.reads_since_request = 0
        self.uptime_reads: list[tuple[float, int | None]] = []
        self._pending = False

    @property  # type: ignore[override]
    def pending(self) -> bool:  # a pending restart clears only when it boots
        return self._pending and not self.booted

    @pending.setter
    def pending(self, value: bool) -> None:
        self._pending = value

    @property
    def booted(self) -> bool:
        return self.requested_at is not None and self.clock.now >= self.down_until

    def _up(self) -> None:
        if self.requested_at is None:
            return
        if self.down_from <= self.clock.now < self.down_until + self.services_s:
            raise TransportError("connection refused", host=self.host, operation="read")

    def read_uptime(self) -> int | None:
        self._up()
        if self.requested_at is not None:
            self.reads_since_request += 1
            if self.reads_since_request in self.blips:
                raise TransportError("read timed out", host=self.host, operation="read uptime")
        boot = self.boot_at if self.booted or self.requested_at is None else self.old_boot
        uptime = int(self.clock.now - boot) if self.uptime_known else None
        self.uptime_reads.append((self.clock.now, uptime))
        return uptime

    def restart(self) -> None:
        self._up()
        if self.requested_at is not None and not self.booted:
            return  # already going down: the same restart
        self.requested_at = self.clock.now
        self.old_boot = self.boot_at
        self.down_from = self.clock.now + self.grace
        self.down_until = self.down_from + self.restart_s
        self.boot_at = self.down_until


def test_a_restart_wait_does_not_end_while_the_peer_still_answers_from_before() -> None:
    """A healthy peer (no restart pending) restarted on purpose: it answers for 20 s after
    accepting, then is down 30 s. The step ends only on a read taken after it booted:
    treating the first answer after the request as "back" would restart the next peer
    while this one is about to go down."""
    clock = FakeClock()
    app = GracefulAppliance(clock, AFTER, grace=20, restart_s=30)
    restart = Action(id="1", step="restart", kind=ActionKind.RESTART, host="p1")
    result = executor(Path("/nonexistent"), app, make_plan(restart), clock).run()
    assert [o.status for o in result.outcomes] == ["changed"], result.outcomes[0].error
    assert app.booted and clock.now >= 50  # it ended after the boot, never before
    proof_at, proof_uptime = app.uptime_reads[-1]  # the read that ended the wait
    assert proof_at >= 50 and proof_uptime is not None and proof_uptime <= proof_at - 50
    assert result.outcomes[0].duration_s >= 50


def test_a_read_that_times_out_while_the_peer_goes_down_is_not_the_restart() -> None:
    """One read times out during the grace (the peer is busy stopping its services),
    the next answers with its old uptime: that is not a restart either."""
    clock = FakeClock()
    app = GracefulAppliance(clock, AFTER, grace=20, restart_s=30, blips=(1, 2))
    restart = Action(id="1", step="restart", kind=ActionKind.RESTART, host="p1")
    result = executor(Path("/nonexistent"), app, make_plan(restart), clock).run()
    assert [o.status for o in result.outcomes] == ["changed"], result.outcomes[0].error
    assert app.booted and clock.now >= 50
    assert app.uptime_reads[-1][0] >= 50


def test_a_peer_restarted_soon_after_its_last_boot_is_known_by_its_boot_time() -> None:
    """Booted 5 s before the request; back with an uptime of 60 s (its web service starts
    a minute after the kernel): not below the uptime read before, but a boot 110 s
    after the request proves it."""
    clock = FakeClock()
    app = GracefulAppliance(clock, AFTER, grace=20, restart_s=30, services_s=60)
    app.boot_at = -5.0
    restart = Action(id="1", step="restart", kind=ActionKind.RESTART, host="p1")
    result = executor(Path("/nonexistent"), app, make_plan(restart), clock).run()
    assert [o.status for o in result.outcomes] == ["changed"], result.outcomes[0].error
    proof_at, proof_uptime = app.uptime_reads[-1]
    assert proof_at >= 110 and proof_uptime is not None and proof_uptime >= 60
    assert clock.now < 110 * 1.06 + 1  # noticed at once, not at the timeout


def test_without_an_uptime_down_then_up_is_the_evidence() -> None:
    """An appliance that reports no uptime: only "went down, answers again" tells."""
    clock = FakeClock()
    app = GracefulAppliance(clock, AFTER, grace=20, restart_s=30, uptime_known=False)
    restart = Action(id="1", step="restart", kind=ActionKind.RESTART, host="p1")
    result = executor(Path("/nonexistent"), app, make_plan(restart), clock).run()
    assert [o.status for o in result.outcomes] == ["changed"], result.outcomes[0].error
    assert app.booted and clock.now >= 50


class ProbedAppliance(GracefulAppliance):
    """A GracefulAppliance whose ports can be probed (``PortProbe``): the port refuses
    TCP while the peer is down and accepts from ``listening_s`` after it went down;
    its full read works only once the peer is up again (``down_until`` + ``services_s``):
    in between, the port accepts while TLS and the web service are not ready yet."""

    def __init__(self, clock: FakeClock, settings: ClusterSettings, **kw: float) -> None:
        self.listening_s = kw.pop("listening_s")
        super().__init__(clock, settings, **kw)  # type: ignore[arg-type]
        self.probes: list[tuple[float, bool]] = []
        self.reads: list[tuple[float, str]] = []  # every full read: when, and how it went

    def accepts_connections(self) -> bool:
        down = self.requested_at is not None and (
            self.down_from <= self.clock.now < self.down_from + self.listening_s
        )
        self.probes.append((self.clock.now, not down))
        return not down

    def read_uptime(self) -> int | None:
        try:
            uptime = super().read_uptime()
        except TransportError:
            self.reads.append((self.clock.now, "no connection"))
            raise
        self.reads.append((self.clock.now, f"uptime {uptime}"))
        return uptime


def test_a_restart_wait_asks_the_port_while_the_peer_is_down_and_ends_only_on_a_full_read() -> None:
    """Down 30 s after a 20 s grace; its port accepts TCP from 25 s after it went down
    (t=45), its web service answers from t=60 (services_s 10 past the boot at t=50).
    While the port refuses, a poll is a TCP connect only (no TLS handshake, no login);
    an accepted connection is never "back" by itself: the wait goes on reading fully,
    and ends only on a read that proves the boot, as soon as without the probe."""
    clock = FakeClock()
    app = ProbedAppliance(clock, AFTER, grace=20, restart_s=30, services_s=10, listening_s=25)
    restart = Action(id="1", step="restart", kind=ActionKind.RESTART, host="p1")
    result = executor(Path("/nonexistent"), app, make_plan(restart), clock).run()
    assert [o.status for o in result.outcomes] == ["changed"], result.outcomes[0].error
    # Never a probe before the first read that got no connection (the grace: it answers).
    first_miss = next(t for t, how in app.reads if how == "no connection")
    assert first_miss >= 20 and all(t > first_miss for t, _ in app.probes)
    # While the port refuses: probes only, no full read at all.
    refused = [t for t, ok in app.probes if not ok]
    assert refused, "no poll asked the port"
    assert not [t for t, _ in app.reads if first_miss < t < 45]
    # The port accepts from t=45 while the service is not ready: full reads, no success.
    early = [(t, how) for t, how in app.reads if 45 <= t < 60]
    assert early and all(how == "no connection" for _, how in early)
    # The wait ended on a full read taken after the boot, never on an accepted connect.
    proof_at, proof = app.reads[-1]
    assert proof_at >= 60 and proof.startswith("uptime ")
    assert app.uptime_reads[-1][0] == proof_at
    ended = clock.now
    # The same restart without a port probe ends no sooner.
    clock2 = FakeClock()
    plain = GracefulAppliance(clock2, AFTER, grace=20, restart_s=30, services_s=10)
    again = executor(Path("/nonexistent"), plain, make_plan(restart), clock2).run()
    assert [o.status for o in again.outcomes] == ["changed"]
    assert ended <= clock2.now


def test_a_port_that_never_opens_times_the_restart_wait_out_without_full_reads(
    tmp_path: Path,
) -> None:
    """A peer that never comes back: the wait times out as before (its message names
    what it waited for), having polled the port, not logged in, while it was down."""
    clock = FakeClock()
    app = ProbedAppliance(clock, AFTER, grace=0, restart_s=10_000, listening_s=10_000)
    restart = Action(id="1", step="restart", kind=ActionKind.RESTART, host="p1")
    ex = executor(tmp_path, app, make_plan(restart), clock)
    ex.options.restart_timeout = 120
    result = ex.run()
    assert "gave up waiting for p1 to restart and answer after 120 s" in (
        result.outcomes[0].error or ""
    )
    # The uptime before the request, then one read that found it down; probes since.
    assert [how for _, how in app.reads] == ["uptime 1000", "no connection"]
    assert len(app.probes) > 10 and not any(ok for _, ok in app.probes)


def test_a_rolling_restart_never_has_two_peers_down(tmp_path: Path) -> None:
    """Restart p2 then p3 of a healthy cluster whose peers answer for a while after
    accepting: p3's restart is asked only once p2 has booted."""
    clock = FakeClock()
    peers = three(clock)
    for i, host in enumerate(("p1", "p2", "p3")):
        app = GracefulAppliance(clock, LISTED, grace=20, restart_s=30)
        app.host, app.address = host, ADDRS[i]
        peers.apps[host] = app
    second = restart("p3").model_copy(update={"id": "2"})
    _ex, result = run_on(tmp_path, peers, clock, restart("p2"), second)
    assert [o.status for o in result.outcomes] == ["changed", "changed"], result.outcomes
    p2, p3 = peers.apps["p2"], peers.apps["p3"]
    assert p3.requested_at is not None and p3.requested_at >= p2.down_until


def test_the_restart_wait_is_capped_by_the_operator_restart_timeout(tmp_path: Path) -> None:
    """A runbook's restart timeout above EXOPS_RESTART_TIMEOUT is capped by it."""
    clock = FakeClock()
    app = FakeAppliance(clock, AFTER, restart_s=10_000)
    restart = Action(id="1", step="restart", kind=ActionKind.RESTART, host="p1", timeout_s=5000)
    ex = executor(tmp_path, app, make_plan(restart), clock)
    ex.options.restart_timeout = 120
    result = ex.run()
    assert "gave up waiting for p1 to restart and answer after 120 s" in (
        result.outcomes[0].error or ""
    )
    assert clock.now == pytest.approx(120)


def test_a_runbook_wait_is_capped_by_the_operator_settle_timeout(tmp_path: Path) -> None:
    """A runbook's own timeout_s above EXOPS_SETTLE_TIMEOUT is capped by it."""
    clock = FakeClock()
    app = FakeAppliance(clock, AFTER)
    wait = Action(id="1", step="settle", kind=ActionKind.WAIT, condition="never", timeout_s=5000)
    never = {"never": lambda facts, action: (False, "still settling")}
    ex = executor(tmp_path, app, make_plan(wait), clock, never)
    ex.options.settle_timeout = 90
    result = ex.run()
    assert [o.status for o in result.outcomes] == ["failed"]
    assert "after 90 s" in (result.outcomes[0].error or "")
    assert clock.now == pytest.approx(90)
    # ... and a runbook timeout below the cap is its own.
    clock.now = 0.0
    short = wait.model_copy(update={"timeout_s": 30})
    ex = executor(tmp_path, app, make_plan(short), clock, never)
    ex.options.settle_timeout = 90
    assert "after 30 s" in (ex.run().outcomes[0].error or "")
    assert clock.now == pytest.approx(30)


def test_r3_executor_refuses_an_ip_list_on_a_new_peer_of_an_enforce_cluster(
    tmp_path: Path,
) -> None:
    """add-peer's write onto the new peer (empty list, Permissive) in an Enforce cluster
    whose primary lists a member by IP: refused right before the write."""
    clock = FakeClock()
    enforce = ClusterSettings(
        peers=(*ADDRS[:2], *EMPTY_SLOTS[2:]), primary=1, tls_mode=TlsMode.ENFORCE
    )
    peers = FakePeers(clock, {"p1": enforce, "p2": enforce, "p3": ClusterSettings()})
    joined = ClusterSettings(peers=(*ADDRS, *EMPTY_SLOTS[3:]), primary=1)
    _, result = run_on(tmp_path, peers, clock, conf("p3", ClusterSettings(), joined))
    assert [o.status for o in result.outcomes] == ["failed"]
    assert "safety rule R3" in (result.outcomes[0].error or "")
    assert "TLS Enforce" in (result.outcomes[0].error or "")
    assert peers.apps["p3"].writes == [] and result.outcomes[0].refused


# -- reads: one read where two in a row would learn nothing new -----------------------


class CountingCluster(FakeCluster):
    """Counts the cluster gathers and the single-peer settings reads."""

    def __init__(self, app: FakeAppliance) -> None:
        super().__init__(app)
        self.gathers = 0

    def gather(
        self,
        cluster: str,
        hosts: list[str] | None = None,
        *,
        light: bool = False,
        needs: frozenset[Fact] | None = None,
    ) -> ClusterFacts:
        self.gathers += 1
        return super().gather(cluster, hosts, light=light)


def counting_executor(
    tmp_path: Path, plan: Plan, clock: FakeClock, *, reuse: float, conditions=None
) -> tuple[Executor, CountingCluster]:
    app = FakeAppliance(clock, AFTER, restart_s=30.0)
    cluster = CountingCluster(app)
    ex = Executor(
        cluster,
        plan,
        conditions=conditions or {"ok": lambda facts, action: (True, "ok")},
        waiter=Waiter(clock=clock, cancel=FakeCancel(clock), max_poll=5.0),  # type: ignore[arg-type]
        events=type("Sink", (), {"emit": lambda self, event, **f: None})(),
        options=ApplyOptions(
            restart_timeout=600,
            settle_timeout=600,
            backups=FileBackups(tmp_path),
            reuse_within_s=reuse,
        ),
    )
    return ex, cluster


def gate_then_restart() -> Plan:
    gate = Action(id="1", step="gate", kind=ActionKind.WAIT, condition="ok", timeout_s=100)
    restart = Action(id="2", step="restart", kind=ActionKind.RESTART, host="p1")
    return make_plan(gate, restart)


def test_a_gate_read_of_the_whole_cluster_is_the_next_restarts_fresh_read(
    tmp_path: Path,
) -> None:
    """A health gate that found the cluster healthy, then the restart right after it:
    the gate's read (of every peer, just made) is the restart's fresh read; the cluster
    is not read twice in a row. (check_fresh 1, gate 1, settled 1: three gathers.)"""
    clock = FakeClock()
    ex, cluster = counting_executor(tmp_path, gate_then_restart(), clock, reuse=1.0)
    result = ex.run()
    assert [o.status for o in result.outcomes] == ["ok", "changed"]
    assert cluster.gathers == 3


def test_without_a_reuse_window_every_restart_reads_the_cluster_anew(tmp_path: Path) -> None:
    clock = FakeClock()
    ex, cluster = counting_executor(tmp_path, gate_then_restart(), clock, reuse=0.0)
    assert [o.status for o in ex.run().outcomes] == ["ok", "changed"]
    assert cluster.gathers == 4


def test_a_gate_read_older_than_the_window_is_read_again(tmp_path: Path) -> None:
    """Time passed between the gate's read and the restart (a slow step boundary):
    the restart reads the cluster anew."""
    clock = FakeClock()
    ex, cluster = counting_executor(tmp_path, gate_then_restart(), clock, reuse=1.0)
    ex.before_each = lambda action: setattr(clock, "now", clock.now + 2.0)
    assert [o.status for o in ex.run().outcomes] == ["ok", "changed"]
    assert cluster.gathers == 4


def test_a_gate_that_did_not_hold_hands_nothing_over(tmp_path: Path) -> None:
    """Only a read that found the condition holding can serve; a gate whose last read
    failed ends the run anyway, and a read that failed never passes on."""
    clock = FakeClock()
    seen = []

    def flaky(facts: ClusterFacts, action: Action) -> tuple[bool, str]:
        seen.append(clock.now)
        return len(seen) > 1, "not yet"

    ex, cluster = counting_executor(
        tmp_path, gate_then_restart(), clock, reuse=1.0, conditions={"ok": flaky}
    )
    assert [o.status for o in ex.run().outcomes] == ["ok", "changed"]
    assert cluster.gathers == 4  # check_fresh, gate twice, settled; the restart reused


def test_a_read_of_part_of_the_cluster_is_not_the_clusters_fresh_read(tmp_path: Path) -> None:
    """A wait on other peers than the whole cluster (here: none of its peers) never
    serves as the fresh read of the whole cluster."""
    clock = FakeClock()
    gate = Action(
        id="1",
        step="gate",
        kind=ActionKind.WAIT,
        condition="ok",
        timeout_s=100,
        condition_args={"hosts": ["p9"]},
    )
    restart = Action(id="2", step="restart", kind=ActionKind.RESTART, host="p1")
    ex, cluster = counting_executor(tmp_path, make_plan(gate, restart), clock, reuse=1.0)

    class Partial(CountingCluster):
        def gather(
            self,
            cluster: str,
            hosts: list[str] | None = None,
            *,
            light: bool = False,
            needs: frozenset[Fact] | None = None,
        ) -> ClusterFacts:
            facts = super().gather(cluster, hosts, light=light)
            return facts.model_copy(update={"peers": ()}) if hosts == ["p9"] else facts

    partial = Partial(cluster.app)
    ex.cluster = partial
    assert [o.status for o in ex.run().outcomes] == ["ok", "changed"]
    assert partial.gathers == 4


def test_a_change_seen_by_the_handed_over_read_still_stops_the_restart(tmp_path: Path) -> None:
    """The handed-over read is judged like any fresh read: a peer another administrator
    changed stops the restart before it is sent."""
    clock = FakeClock()
    ex, cluster = counting_executor(tmp_path, gate_then_restart(), clock, reuse=1.0)
    ex.check_fresh()
    cluster.app.settings = ClusterSettings(peers=("10.0.0.99", *EMPTY_SLOTS[1:]), primary=1)
    result = ex.run()
    assert [o.status for o in result.outcomes] == ["ok", "failed"]
    assert "changed during this run" in (result.outcomes[1].error or "")
    assert cluster.app.down_until < 0  # never restarted
    assert cluster.gathers == 2  # check_fresh, gate (the restart: the gate's read)


def test_a_restart_reads_the_targets_settings_once(tmp_path: Path) -> None:
    """The restart's safety rules judge the target's settings as the fresh read of
    its cluster found them: no second read of the same peer right after."""
    clock = FakeClock()
    restart = Action(id="1", step="restart", kind=ActionKind.RESTART, host="p1")
    ex, cluster = counting_executor(tmp_path, make_plan(restart), clock, reuse=0.0)
    app = cluster.app
    reads = []
    real = app.read_settings

    def counted() -> ClusterSettings:
        reads.append(clock.now)
        return real()

    app.read_settings = counted  # type: ignore[method-assign]
    assert [o.status for o in ex.run().outcomes] == ["changed"]
    # The fake's gather reads the peer's settings once: every read was a gather's.
    assert len(reads) == cluster.gathers


def test_check_fresh_judges_the_facts_it_is_given(tmp_path: Path) -> None:
    """The read the plan was just made from serves the stale-plan rule (no second read);
    a difference in it still refuses the run."""
    clock = FakeClock()
    ex, cluster = counting_executor(tmp_path, gate_then_restart(), clock, reuse=1.0)
    facts = cluster.gather("c1")
    cluster.gathers = 0
    ex.check_fresh(facts)
    assert cluster.gathers == 0
    stale = make_plan(configure())
    ex2, cluster2 = counting_executor(tmp_path, stale, clock, reuse=1.0)
    with pytest.raises(StalePlanError):
        ex2.check_fresh(cluster2.gather("c1"))


def test_a_slow_gate_read_still_serves_when_it_just_ended(tmp_path: Path) -> None:
    """The window counts from the end of the read (a loaded fleet reads slowly): a read
    that took 2 s and ended just now is as fresh as a new 2-second read would be."""
    clock = FakeClock()
    ex, cluster = counting_executor(tmp_path, gate_then_restart(), clock, reuse=1.0)

    class Slow(CountingCluster):
        def gather(
            self,
            cluster: str,
            hosts: list[str] | None = None,
            *,
            light: bool = False,
            needs: frozenset[Fact] | None = None,
        ) -> ClusterFacts:
            facts = super().gather(cluster, hosts, light=light)
            clock.now += 2.0
            return facts

    slow = Slow(cluster.app)
    ex.cluster = slow
    assert [o.status for o in ex.run().outcomes] == ["ok", "changed"]
    assert slow.gathers == 3  # check_fresh, gate, settled: the restart took the gate's


def test_a_configure_reads_its_peers_settings_once_before_the_write(tmp_path: Path) -> None:
    """The write is computed and judged on the peer's settings as the fresh read of its
    cluster just found them; the only read of the peer alone is the one after the write
    (which proves it)."""
    clock = FakeClock()
    app = FakeAppliance(clock, BEFORE)
    cluster = CountingCluster(app)
    reads = []
    real = app.read_settings

    def counted() -> ClusterSettings:
        reads.append(clock.now)
        return real()

    app.read_settings = counted  # type: ignore[method-assign]
    ex = executor(tmp_path, app, make_plan(configure()), clock)
    ex.cluster = cluster
    assert [o.status for o in ex.run().outcomes] == ["changed"]
    assert app.settings == AFTER
    assert len(reads) == cluster.gathers + 1


def test_the_end_of_a_restart_is_read_from_the_peers_alarms(tmp_path: Path) -> None:
    """After the peer answers again, the restart is over when its restart-required
    alarm is cleared: that poll reads the peer's alarms (any answer proves it up), not
    its settings and status (the health gate after it reads the whole cluster)."""
    clock = FakeClock()
    app = FakeAppliance(clock, AFTER, restart_s=30.0)
    app.pending = True
    asked: list[tuple[list[str] | None, frozenset[Fact] | None]] = []

    class Logged(FakeCluster):
        def gather(
            self,
            cluster: str,
            hosts: list[str] | None = None,
            *,
            light: bool = False,
            needs: frozenset[Fact] | None = None,
        ) -> ClusterFacts:
            asked.append((hosts, needs))
            return super().gather(cluster, hosts, light=light)

    restart = Action(id="1", step="restart", kind=ActionKind.RESTART, host="p1")
    ex = executor(tmp_path, app, make_plan(restart), clock)
    ex.cluster = Logged(app)
    assert [o.status for o in ex.run().outcomes] == ["changed"]
    assert asked[-1] == (["p1"], frozenset({Fact.ALARMS}))
    assert [h for h, _ in asked] == [None, None, ["p1"]]  # check_fresh, fresh, end


def test_the_poll_at_the_moment_of_the_request_reads_nothing() -> None:
    """No read can prove a restart the instant it is asked (the peer cannot have
    booted yet): the wait's first poll makes none (after ``restart`` it would open a
    new connection, a TLS handshake or an SSH login, for an answer known in advance).
    The reads that follow still decide, as before."""
    clock = FakeClock()
    app = GracefulAppliance(clock, AFTER, grace=20, restart_s=30)
    restart = Action(id="1", step="restart", kind=ActionKind.RESTART, host="p1")
    result = executor(Path("/nonexistent"), app, make_plan(restart), clock).run()
    assert [o.status for o in result.outcomes] == ["changed"], result.outcomes[0].error
    asked = app.requested_at
    assert asked is not None
    at_request = [t for t, _ in app.uptime_reads if t == asked]
    assert len(at_request) == 1  # the uptime read before the request, and no other
    assert any(t > asked for t, _ in app.uptime_reads)
    proof_at, _ = app.uptime_reads[-1]
    assert proof_at >= 50

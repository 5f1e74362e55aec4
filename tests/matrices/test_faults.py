"""Fault matrix: a fault injected at a given step stops the run cleanly; a re-run finishes it.

Each case runs the real CLI in a background process with ``--events FILE``.
A tiny wrapper around ``exops.cli.app.main`` holds the run right after it
emits its N-th ``step_started`` event until the test has injected the fault
(through the mock's control API), so "a fault at step N" is deterministic
instead of a race with steps that take milliseconds. Then every case checks:

- exit code 1, exactly one ``failed`` event at step N or later, naming the
  step and a peer the fault is about; the text recap names step and peer;
- nothing was written past the failed step (request log vs the dry-run plan);
- the mock's true state is not corrupted: no peer lost its address list, no
  factory reset pending;
- once the fault is cleared, a plain re-run exits 0 and the documented end
  state holds on the mock.

Timeouts are shrunk through the environment so a fault costs seconds.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from clikit import Cli, as_in_a_terminal, cli_for, last_seq, writes_since

pytestmark = pytest.mark.integration

SCALE = 0.003
FAST = {
    "EXOPS_RESTART_TIMEOUT": "5",
    "EXOPS_SETTLE_TIMEOUT": "3",
    "EXOPS_READ_TIMEOUT": "2",
    "EXOPS_CONNECT_TIMEOUT": "2",
    "EXOPS_MAX_POLL_INTERVAL": "0.2",
}
PEERS = ("c1-p1", "c1-p2", "c1-p3")

# Runs the real CLI; pauses after the N-th step_started event until GO exists.
WRAPPER = """
import os, sys, time
from exops.run.events import JsonLinesSink

pause_at, go = int(os.environ["FT_PAUSE_AT"]), os.environ["FT_GO"]
seen = [0]
emit = JsonLinesSink.emit

def paused_emit(self, event, **fields):
    emit(self, event, **fields)
    if event == "step_started":
        seen[0] += 1
        if seen[0] == pause_at:
            deadline = time.monotonic() + 60
            while not os.path.exists(go) and time.monotonic() < deadline:
                time.sleep(0.005)

JsonLinesSink.emit = paused_emit
sys.argv = ["exops", *sys.argv[1:]]
from exops.cli.app import main
main()
"""


# -- helpers -------------------------------------------------------------------


def planned_requests(actions: list[dict[str, Any]]) -> Counter[str]:
    count: Counter[str] = Counter()
    for a in actions:
        if a["kind"] == "configure":
            count[a["host"]] += len(a["writes"])
        elif a["kind"] in ("restart", "command"):
            count[a["host"]] += 1
    return count


def read_events(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    # The run may be writing its last line right now: only whole lines are events.
    text = path.read_text()
    whole = text[: text.rfind("\n") + 1]
    return [json.loads(line) for line in whole.splitlines() if line.strip()]


def snapshot(lab: Any) -> dict[str, dict[str, Any]]:
    return {p: lab.control.peer_state(p) for p in lab.peers}


def assert_not_corrupted(lab: Any, before: dict[str, dict[str, Any]]) -> None:
    """No peer lost its list (the factory-reset trap), no configuration dropped."""
    for peer, now in snapshot(lab).items():
        was = before[peer]
        assert not now["factory_reset_pending"], (peer, now["saved"])
        assert "20107" not in now["alarms"], (peer, now["alarms"])
        if any(was["saved"]["peers"]):
            assert any(now["saved"]["peers"]), f"{peer} lost its address list"
            # Every address still listed, or replaced by its FQDN/IP twin: nothing dropped.
            assert sum(bool(a) for a in now["saved"]["peers"]) >= sum(
                bool(a) for a in was["saved"]["peers"]
            ), (peer, was["saved"]["peers"], now["saved"]["peers"])
        if was["saved"]["name"]:
            assert now["saved"]["name"] == was["saved"]["name"], peer


def eventually(check: Callable[[], tuple[bool, str]], timeout: float = 6.0) -> None:
    """The lab converges in compressed time (a replication interval is 0.5 s)."""
    deadline = time.monotonic() + timeout
    ok, detail = check()
    while not ok and time.monotonic() < deadline:
        time.sleep(0.1)
        ok, detail = check()
    assert ok, detail


def healthy_with(lab: Any, expect: Callable[[str, dict[str, Any]], str | None]) -> None:
    def check() -> tuple[bool, str]:
        problems = []
        for peer in PEERS:
            s = lab.control.peer_state(peer)
            if s["database"] != "Active" or s["alarms"]:
                problems.append(f"{peer}: database {s['database']}, alarms {s['alarms']}")
            wrong = expect(peer, s)
            if wrong:
                problems.append(f"{peer}: {wrong}")
        return not problems, "; ".join(problems)

    eventually(check)


def add_peer_end_state(lab: Any) -> None:
    ips = [lab.peers[p] for p in PEERS]

    def expect(peer: str, s: dict[str, Any]) -> str | None:
        if s["saved"]["peers"] != [*ips, "", "", ""] or s["saved"]["master"] != 1:
            return f"saved {s['saved']['peers']} master {s['saved']['master']}"
        return None

    healthy_with(lab, expect)


def enforce_end_state(lab: Any) -> None:
    fqdns = [lab.fqdns[p] for p in PEERS]

    def expect(peer: str, s: dict[str, Any]) -> str | None:
        if s["saved"]["tls"] != "Enforce" or s["active"]["tls"] != "Enforce":
            return f"tls saved {s['saved']['tls']} active {s['active']['tls']}"
        if s["saved"]["peers"][:3] != fqdns:
            return f"peers {s['saved']['peers']}"
        return None

    healthy_with(lab, expect)


@dataclass
class Scenario:
    """A lab shaped for one runbook, the run's arguments, its end state."""

    args: tuple[str, ...]
    end_state: Callable[[Any], None]


def add_peer_lab(lab_factory: Any, tmp_path: Path, **env: str) -> tuple[Any, Cli, Scenario]:
    """A two-peer cluster (p1 primary, p2) and an unclustered p3 to add."""
    lab = lab_factory(clusters=1, peers=3, time_scale=SCALE, preset="unclustered")
    cli = cli_for(lab, tmp_path, **{**FAST, **env})
    cli("create-cluster", "-c", "c1", "--yes")
    cli("add-peer", "-c", "c1", "--peer", "c1-p2", "--yes")
    return lab, cli, Scenario(("add-peer", "-c", "c1", "--peer", "c1-p3"), add_peer_end_state)


def enforce_lab(lab_factory: Any, tmp_path: Path, **env: str) -> tuple[Any, Cli, Scenario]:
    """A formed three-peer cluster converted to FQDN addresses (what Enforce needs)."""
    lab = lab_factory(clusters=1, peers=3, time_scale=SCALE, preset="formed")
    cli = cli_for(lab, tmp_path, **{**FAST, **env})
    cli("convert-fqdn", "-c", "c1", "--yes")
    return lab, cli, Scenario(("enforce-tls", "-c", "c1"), enforce_end_state)


@dataclass
class Faulted:
    code: int
    stdout: str
    stderr: str
    events: list[dict[str, Any]]
    plan: dict[str, Any]
    writes: list[dict[str, Any]]


def start_paused(
    cli: Cli, tmp_path: Path, args: tuple[str, ...], n: int, tag: str = "run"
) -> tuple[subprocess.Popen[str], Path, Path]:
    """Start a run that holds after its N-th step_started until ``go`` exists."""
    wrapper = tmp_path / "paused_exops.py"
    wrapper.write_text(WRAPPER)
    events, go = tmp_path / f"{tag}-events.jsonl", tmp_path / f"{tag}-go"
    env = {**cli.env, "FT_PAUSE_AT": str(n), "FT_GO": str(go)}
    proc = subprocess.Popen(
        [sys.executable, str(wrapper), *args, "--yes", "--events", str(events)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        text=True,
        preexec_fn=as_in_a_terminal,  # noqa: PLW1509 - only resets one signal
    )
    return proc, events, go


def wait_for_event(
    proc: subprocess.Popen[str], events: Path, match: Callable[[list[dict[str, Any]]], bool]
) -> None:
    deadline = time.monotonic() + 60
    while not match(read_events(events)):
        if proc.poll() is not None:
            out, err = proc.communicate()
            raise AssertionError(f"run ended (exit {proc.returncode}) first\n{out}\n{err}")
        assert time.monotonic() < deadline, "event never came"
        time.sleep(0.01)


def step_started(n: int) -> Callable[[list[dict[str, Any]]], bool]:
    return lambda evs: sum(e["event"] == "step_started" for e in evs) >= n


def run_with_fault(
    lab: Any,
    cli: Cli,
    tmp_path: Path,
    args: tuple[str, ...],
    n: int,
    inject: Callable[[dict[str, Any]], None],
) -> Faulted:
    """Run ``args``; when step N starts, call ``inject(action)``; let it finish."""
    plan = cli.json(*args, "--dry-run")
    assert plan["refused"] is None, plan["refused"]
    assert len(plan["actions"]) >= n, [a["step"] for a in plan["actions"]]
    seq = last_seq(lab)
    proc, events, go = start_paused(cli, tmp_path, args, n)
    try:
        wait_for_event(proc, events, step_started(n))
        inject(plan["actions"][n - 1])
        go.touch()
        out, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    return Faulted(proc.returncode, out, err, read_events(events), plan, writes_since(lab, seq))


def assert_clean_stop(result: Faulted, n: int, blame: tuple[str, ...]) -> dict[str, Any]:
    """Exit 1, one failure at step N or later naming a blamed peer; nothing written after it."""
    assert result.code == 1, (result.code, result.stdout[-3000:], result.stderr[-3000:])
    assert "Traceback" not in result.stderr, result.stderr
    failed = [e for e in result.events if e["event"] == "failed"]
    assert len(failed) == 1, failed
    fail = failed[0]
    assert int(fail["action"]) >= n, (fail, n)
    assert any(p in fail["error"] for p in blame), (blame, fail["error"])
    assert "\n" not in fail["error"], fail["error"]
    assert fail["advice"], fail
    status = str(fail.get("status") or "failed").upper()  # FAILED, or UNREACHABLE (transport)
    header = f"{status} step {fail['action']} '{fail['step']}' on {fail['host'] or 'cluster'}"
    assert header in result.stdout, (header, result.stdout[-3000:], result.stderr[-3000:])
    # Nothing past the failed step: per peer, at most the requests planned up to it.
    upto = [a for a in result.plan["actions"] if int(a["id"]) <= int(fail["action"])]
    allowed = planned_requests(upto)
    sent = Counter(w["peer"] for w in result.writes)
    for peer, count in sent.items():
        assert count <= allowed[peer], (peer, sent, allowed, result.writes)
    later = [e for e in result.events if e["event"] == "step_started"]
    assert int(later[-1]["action"]) == int(fail["action"]), "a step started after the failure"
    done = [e for e in result.events if e["event"] == "done"]
    assert done and done[0]["failed"] is True
    return fail


def rerun_reaches_end_state(lab: Any, cli: Cli, scenario: Scenario) -> None:
    # A restart the failed run did start (e.g. its answer came too late) finishes first.
    eventually(
        lambda: (
            all(s["running"] and s["reachable"] for s in snapshot(lab).values()),
            "a peer is still restarting",
        )
    )
    # The re-run is about converging, not about timing: on a loaded machine a restart
    # can outlast the fault runs' short timeouts, so it waits as long as it needs.
    patient = Cli({**cli.env, "EXOPS_RESTART_TIMEOUT": "120", "EXOPS_SETTLE_TIMEOUT": "60"})
    patient(*scenario.args, "--yes")
    scenario.end_state(lab)
    again = patient.json(*scenario.args, "--dry-run")
    changing = [a for a in again["actions"] if a["kind"] in ("configure", "restart", "command")]
    assert changing == [], changing


def on_host(action: dict[str, Any], default: str) -> str:
    return action["host"] or default


# -- each step of add-peer: the step's peer goes unreachable ---------------------

# 9 actions: 3 x (backup, configure), restart, wait, verify.
ADD_PEER_STEPS = list(range(1, 10))


@pytest.mark.parametrize("n", ADD_PEER_STEPS)
def test_add_peer_peer_unreachable_at_step(lab_factory: Any, tmp_path: Path, n: int) -> None:
    lab, cli, scenario = add_peer_lab(lab_factory, tmp_path)
    before = snapshot(lab)
    faults: list[str] = []
    target: list[str] = []

    def inject(action: dict[str, Any]) -> None:
        target.append(on_host(action, "c1-p2"))
        faults.append(lab.control.inject("unreachable", peer=target[0]))

    result = run_with_fault(lab, cli, tmp_path, scenario.args, n, inject)
    assert [a["kind"] for a in result.plan["actions"]] == [
        "backup",
        "configure",
        "backup",
        "configure",
        "backup",
        "configure",
        "restart",
        "wait",
        "verify",
    ]
    assert_clean_stop(result, n, (target[0],))
    assert_not_corrupted(lab, before)
    lab.control.clear(faults[0])
    rerun_reaches_end_state(lab, cli, scenario)


# -- each step of enforce-tls: the step's peer answers 500 -------------------------

ENFORCE_STEPS = range(1, 12)  # backup, configure, wait, (restart, gate) x 3, verify x 2


@pytest.mark.parametrize("n", ENFORCE_STEPS)
def test_enforce_tls_http_500_at_step(lab_factory: Any, tmp_path: Path, n: int) -> None:
    lab, cli, scenario = enforce_lab(lab_factory, tmp_path)
    before = snapshot(lab)
    faults: list[str] = []
    target: list[str] = []

    def inject(action: dict[str, Any]) -> None:
        target.append(on_host(action, "c1-p2"))
        faults.append(lab.control.inject("http_error", peer=target[0], status=500))

    result = run_with_fault(lab, cli, tmp_path, scenario.args, n, inject)
    assert len(result.plan["actions"]) == 11, [a["step"] for a in result.plan["actions"]]
    # CDB REST is off (the X14.2+ default): settings and status are read over SSH,
    # HTTPS carries the restart (and its uptime reads). A 500 on the peer's HTTPS
    # stops the run when that peer is restarted at step N or later; otherwise
    # nothing exops still needs goes through it, and the run finishes on fresh reads.
    restarted_later = any(
        a["kind"] == "restart" and a["host"] == target[0] and int(a["id"]) >= n
        for a in result.plan["actions"]
    )
    if restarted_later:
        assert_clean_stop(result, n, (target[0],))
        assert_not_corrupted(lab, before)
        lab.control.clear(faults[0])
        rerun_reaches_end_state(lab, cli, scenario)
    else:
        assert result.code == 0, (result.code, result.stdout[-3000:], result.stderr[-3000:])
        scenario.end_state(lab)
        lab.control.clear(faults[0])


# -- one representative case per remaining fault kind ----------------------------


@dataclass
class Case:
    name: str
    lab: Callable[..., tuple[Any, Cli, Scenario]]
    n: int
    inject: Callable[[Any, dict[str, Any]], Callable[[], None]]  # returns "clear"
    blame: tuple[str, ...]
    env: dict[str, str]
    remedy: tuple[str, ...] = ()  # a documented command to run before the re-run
    drain: str | None = None  # a peer whose held (slow) restart request must land first


def _fault(kind: str, **spec: Any) -> Callable[[Any, dict[str, Any]], Callable[[], None]]:
    def inject(lab: Any, action: dict[str, Any]) -> Callable[[], None]:
        fid = lab.control.inject(kind, **spec)
        return lambda: lab.control.clear(fid)

    return inject


def _partition(a: str, b: str) -> Callable[[Any, dict[str, Any]], Callable[[], None]]:
    """Cut the link, then wait until the lab shows it (a peer state leaves Active)."""

    def inject(lab: Any, action: dict[str, Any]) -> Callable[[], None]:
        fid = lab.control.inject("partition", a=a, b=b)
        eventually(
            lambda: (
                lab.control.peer_state(a)["states"].get(lab.peers[b]) != "Active",
                f"{a} still sees {b} Active",
            )
        )
        return lambda: lab.control.clear(fid)

    return inject


def _cert(peer: str, mode: str) -> Callable[[Any, dict[str, Any]], Callable[[], None]]:
    def inject(lab: Any, action: dict[str, Any]) -> Callable[[], None]:
        lab.control.patch_peer(peer, cert=mode)
        return lambda: lab.control.patch_peer(peer, cert="ok")

    return inject


SSH = {"EXOPS_TRANSPORT": "ssh"}
CASES = [
    # add-peer step 8: wait until the cluster database is healthy
    Case("partition", add_peer_lab, 8, _partition("c1-p1", "c1-p3"), PEERS, {}),
    # add-peer step 7: restart the new peer; it never comes back
    Case("restart_hang", add_peer_lab, 7, _fault("restart_hang", peer="c1-p3"), ("c1-p3",), {}),
    # add-peer step 7: restart the new peer; every answer slower than the read timeout
    Case(
        "slow",
        add_peer_lab,
        7,
        _fault("slow", peer="c1-p3", seconds=2.5, iface="rest"),
        ("c1-p3",),
        {},
        # exops gave up on the restart request, but the peer still gets it and restarts.
        drain="c1-p3",
    ),
    # add-peer step 7 over SSH: restart the new peer; the connection drops mid-command
    # (the drop is matched on the boot command itself: the reads before it answer).
    Case(
        "ssh_drop",
        add_peer_lab,
        7,
        _fault("drop", peer="c1-p3", iface="ssh", path_prefix="xCommand Boot"),
        ("c1-p3",),
        SSH,
    ),
    # add-peer step 7 over SSH: the new peer restarts, then refuses the credentials when
    # exops logs in again. An SSH session opened before the fault stays up (as on a real
    # appliance), and one run uses one session: the restart is the first new login.
    # exops stops at once instead of logging in again at every poll (account lockout).
    Case(
        "ssh_auth_reject",
        add_peer_lab,
        7,
        _fault("ssh_auth_reject", peer="c1-p3"),
        ("c1-p3",),
        SSH,
    ),
    # add-peer step 7 (restart the new peer): its HTTPS answers trickle, a byte every
    # half second, headers first (each byte well within the read timeout): exops gives
    # up at the exchange's total deadline (connect + read timeout) instead of reading
    # for minutes (issue 26).
    Case(
        "trickle",
        add_peer_lab,
        7,
        _fault("trickle", peer="c1-p3", iface="rest", interval=0.5),
        ("c1-p3",),
        {},
    ),
    # add-peer step 7: every HTTPS request of the new peer is carried out at once and
    # answered after the deadline.
    Case(
        "late",
        add_peer_lab,
        7,
        _fault("late", peer="c1-p3", iface="rest", seconds=8),
        ("c1-p3",),
        {},
    ),
    # add-peer step 7 over SSH: every answer of the new peer trickles (its login too):
    # the fresh reads before the restart give up at their deadlines.
    Case(
        "ssh_trickle",
        add_peer_lab,
        7,
        _fault("trickle", peer="c1-p3", iface="ssh", interval=0.5),
        ("c1-p3",),
        SSH,
    ),
    # add-peer step 7 over SSH: xCommand Boot is carried out, its answer comes late.
    Case(
        "ssh_late",
        add_peer_lab,
        7,
        _fault("late", peer="c1-p3", iface="ssh", path_prefix="xCommand Boot", seconds=8),
        ("c1-p3",),
        SSH,
        drain="c1-p3",
    ),
    # enforce-tls step 4 (restart the primary): c1-p3's certificate names another host
    Case("tls_wrong_name", enforce_lab, 4, _cert("c1-p3", "wrong_name"), ("c1-p3",), {}),
    # enforce-tls step 3 (wait for Enforce to replicate): c1-p3 stops replicating
    Case(
        "replication_error",
        enforce_lab,
        3,
        _fault("replication_error", peer="c1-p3"),
        ("c1-p3",),
        {},
        remedy=("repair-replication", "-c", "c1", "--yes"),  # 20101 stays until then
    ),
]


def _restart_landed(lab: Any, peer: str) -> None:
    """Wait until the mock has answered the restart request it held, and the peer is back."""

    def check() -> tuple[bool, str]:
        landed = any(
            r["peer"] == peer and ("restart" in r["path"] or r["path"].startswith("xCommand Boot"))
            for r in lab.control.requests(since=0)
        )
        running = lab.control.peer_state(peer)["running"]
        return landed and running, f"{peer}: restart landed {landed}, running {running}"

    eventually(check, timeout=15.0)


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_fault_kind(lab_factory: Any, tmp_path: Path, case: Case) -> None:
    lab, cli, scenario = case.lab(lab_factory, tmp_path, **case.env)
    before = snapshot(lab)
    clear: list[Callable[[], None]] = []

    def inject(action: dict[str, Any]) -> None:
        clear.append(case.inject(lab, action))

    result = run_with_fault(lab, cli, tmp_path, scenario.args, case.n, inject)
    assert_clean_stop(result, case.n, case.blame)
    assert_not_corrupted(lab, before)
    clear[0]()
    if case.drain:
        _restart_landed(lab, case.drain)
    if case.remedy:
        cli(*case.remedy)
    rerun_reaches_end_state(lab, cli, scenario)


# -- a concurrent run on the same cluster ---------------------------------------


def test_concurrent_run_is_refused_and_changes_nothing(lab_factory: Any, tmp_path: Path) -> None:
    lab, cli, scenario = add_peer_lab(lab_factory, tmp_path)
    proc, events, go = start_paused(cli, tmp_path, scenario.args, 2, tag="first")
    try:
        wait_for_event(proc, events, step_started(2))
        seq = last_seq(lab)
        second = cli(*scenario.args, "--yes", expect=4)
        assert writes_since(lab, seq) == []
        lines = [line for line in second.stderr.splitlines() if line.strip()]
        assert len(lines) == 1 and "c1" in lines[0] and "lock" in lines[0].lower(), lines
        assert str(proc.pid) in lines[0] or "pid" in lines[0], lines
        go.touch()
        out, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0, (out, err)
    add_peer_end_state(lab)


# -- Ctrl-C in the middle of a wait ----------------------------------------------


def test_interrupted_mid_wait_releases_lock_and_resumes(lab_factory: Any, tmp_path: Path) -> None:
    # The restart is held until the interrupt: a wait that gave up first (a loaded
    # machine, 5 s) would end the run before the Ctrl-C this test is about.
    lab, cli, scenario = add_peer_lab(lab_factory, tmp_path, EXOPS_RESTART_TIMEOUT="300")
    before = snapshot(lab)
    # Hold the new peer's restart so the run sits in "wait for c1-p3 to restart".
    proc, events, go = start_paused(cli, tmp_path, scenario.args, 7, tag="int")
    fault = None
    try:
        wait_for_event(proc, events, step_started(7))
        assert read_events(events)[-1]["kind"] == "restart"
        fault = lab.control.inject("restart_hang", peer="c1-p3")
        go.touch()
        wait_for_event(proc, events, lambda evs: any(e["event"] == "waiting" for e in evs))
        os.kill(proc.pid, signal.SIGINT)
        out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 130, (proc.returncode, out[-2000:], err[-2000:])
    # Typer turns KeyboardInterrupt into a silent exit 130 (see the report: no message).
    assert "Traceback" not in err, err
    assert_not_corrupted(lab, before)
    # The journal shows the run as not ok.
    runs = cli.json("history")["runs"]
    assert runs and runs[0]["runbook"] == "add-peer", runs
    assert runs[0]["status"] == "interrupted", runs[0]
    assert runs[0]["exit_code"] == 130, runs[0]
    steps = cli.json("show", runs[0]["run_id"])["steps"]
    assert [s["status"] for s in steps][:6] == ["ok", "changed"] * 3, steps
    # The lock was released: a changing run takes it at once.
    assert fault is not None
    lab.control.clear(fault)
    cli(*scenario.args, "--yes", "--lock-timeout", "0")
    add_peer_end_state(lab)

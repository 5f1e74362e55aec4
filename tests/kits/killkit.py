"""Kill exops (SIGKILL) right after its N-th accepted write, then check convergence.

A tiny wrapper around ``exops.cli.app.main`` counts the writes the lab has
accepted (the lab's own request log, ``/requests``, ``write: true``) after
every request exops sends that could be a write (a REST request other than
GET, an SSH line sent as a command), and as soon as the count reaches N the
process sends itself SIGKILL: no ``finally``, no lock release, no journal
close, exactly what a power cut or ``kill -9`` leaves. The count is the lab's,
so a request the appliance refused is not a write; the kill lands before
exops sends anything else, so "killed after write N" is deterministic instead
of a race with a poller.

The checks after a kill are the ones issue 11 item 4 asks for: a re-run with
``--yes`` reaches the documented end state on the mock's true state, no peer
is in a factory-reset state except an intended leaver, and a third run plans
no write.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from clikit import Cli, last_seq, writes_since

WRAPPER = """
import json, os, signal, sys, urllib.request

N = int(os.environ["KK_AFTER"])
SINCE = int(os.environ["KK_SINCE"])
URL = os.environ["KK_CONTROL"]
OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def _check():
    with OPENER.open(f"{URL}/requests?since={SINCE}", timeout=30) as resp:
        log = json.loads(resp.read() or b"[]")
    if sum(1 for r in log if r.get("write")) >= N:
        os.kill(os.getpid(), signal.SIGKILL)


from exops.appliance import rest, ssh

_send_once = rest.RestAppliance._send_once
_ssh_send = ssh.SshAppliance._send


def send_once(self, method, *args, **kwargs):
    try:
        return _send_once(self, method, *args, **kwargs)
    finally:
        if method.upper() != "GET":
            _check()


def ssh_send(self, command, *args, read=True, **kwargs):
    try:
        return _ssh_send(self, command, *args, read=read, **kwargs)
    finally:
        if not read:
            _check()


rest.RestAppliance._send_once = send_once
ssh.SshAppliance._send = ssh_send
sys.argv = ["exops", *sys.argv[1:]]
from exops.cli.app import main
main()
"""

RESTART_PATHS = ("restart", "boot")


@dataclass
class Killed:
    """What one killed run left: its exit status and the writes the lab accepted."""

    code: int
    writes: list[dict[str, Any]]
    stdout: str
    stderr: str

    @property
    def killed(self) -> bool:
        return self.code == -signal.SIGKILL


def run_killed(lab: Any, cli: Cli, tmp_path: Path, args: Iterable[str], n: int) -> Killed:
    """Run ``exops ARGS --yes`` and SIGKILL it right after the lab accepted write N."""
    wrapper = tmp_path / "killed_exops.py"
    wrapper.write_text(WRAPPER)
    seq = last_seq(lab)
    env = {
        **cli.env,
        "KK_AFTER": str(n),
        "KK_SINCE": str(seq),
        "KK_CONTROL": lab.control.url,
    }
    proc = subprocess.run(  # noqa: PLW1510 - the caller checks the code
        [sys.executable, str(wrapper), *args, "--yes"],
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
        stdin=subprocess.DEVNULL,
    )
    return Killed(proc.returncode, writes_since(lab, seq), proc.stdout, proc.stderr)


def count_writes(lab: Any, since: int) -> int:
    return len(writes_since(lab, since))


def poll(check: Callable[[], tuple[bool, str]], timeout: float) -> tuple[bool, str]:
    """Poll the lab's true state until ``check`` holds or ``timeout`` passes
    (compressed time); the last ``(ok, detail)``."""
    deadline = time.monotonic() + timeout
    ok, detail = check()
    while not ok and time.monotonic() < deadline:
        time.sleep(0.05)
        ok, detail = check()
    return ok, detail


def eventually(check: Callable[[], tuple[bool, str]], timeout: float = 15.0) -> None:
    """``check`` holds within ``timeout``."""
    ok, detail = poll(check, timeout)
    assert ok, detail


def _restarts_begun(lab: Any) -> tuple[bool, str]:
    """Every restart request the lab accepted has begun (else: the peers still to go).

    The lab accepts a restart, answers, and only then takes the peer down (as
    a real appliance does): right after a kill, every peer can still read
    running while a restart is about to begin, so "running" alone is not
    "settled". Once begun, the peer reads not running until it has booted."""
    asked = Counter(
        r["peer"]
        for r in writes_since(lab, 0)
        if any(k in str(r.get("path", "")).lower() for k in RESTART_PATHS)
    )
    begun = Counter(r["peer"] for r in lab.control.metrics()["restarts"])
    late = sorted(p for p, n in asked.items() if begun[p] < n)
    return not late, f"restart not begun on {', '.join(late)}"


def settled(lab: Any) -> None:
    """Every peer is running and answering (a restart the killed run sent has finished),
    and the communication alarms that restart raised on the others have had their
    chance to clear, as an operator would see in `exops status` before re-running.
    A cluster the kill left unhealthy for good is the re-run's to fix: after a
    bounded wait the re-run goes ahead anyway."""
    eventually(lambda: _restarts_begun(lab))
    eventually(
        lambda: (
            all(s["running"] and s["reachable"] for s in lab.control.state()["peers"].values()),
            "a peer is still restarting",
        )
    )
    poll(
        lambda: (
            not any(
                {"20004", "20006"} & set(s["alarms"]) for s in lab.control.state()["peers"].values()
            ),
            "communication alarms raised",
        ),
        timeout=5.0,
    )


def reset_peers(lab: Any, leavers: Iterable[str] = ()) -> list[str]:
    """Peers in a factory-reset state (saved list empty over a non-empty one in force,
    alarm 20107, or reset by a restart: self-signed certificate, empty lists) that are
    not intended leavers."""
    allowed = set(leavers)
    bad = []
    for name, s in lab.control.state()["peers"].items():
        if name in allowed:
            continue
        if s["factory_reset_pending"] or "20107" in s["alarms"]:
            bad.append(f"{name}: factory reset pending ({s['saved']['peers']})")
        elif s["cert"] == "self_signed":  # what a factory reset leaves (X12.6+)
            bad.append(f"{name}: factory reset (self-signed certificate, lists cleared)")
    return bad


def assert_no_reset(
    lab: Any, leavers: Iterable[str] = (), was_clustered: Iterable[str] = ()
) -> None:
    """No factory-reset state on any peer but an intended leaver; a peer that was a
    member and is not a leaver still lists peers."""
    bad = reset_peers(lab, leavers)
    peers = lab.control.state()["peers"]
    for name in set(was_clustered) - set(leavers):
        if not any(peers[name]["saved"]["peers"]):
            bad.append(f"{name}: every peer slot empty")
    assert not bad, "; ".join(bad)


def plans_no_write(cli: Cli, args: Iterable[str]) -> None:
    again = cli.json(*args, "--dry-run")
    assert again["refused"] is None, again["refused"]
    changing = [
        (a["step"], a["host"])
        for a in again["actions"]
        if a["kind"] in ("configure", "restart", "command")
    ]
    assert changing == [], changing


def writes_of(plan: dict[str, Any]) -> int:
    """Accepted writes a plan sends: one per setting written, restart and command."""
    total = 0
    for a in plan["actions"]:
        if a["kind"] == "configure":
            total += len(a["writes"])
        elif a["kind"] in ("restart", "command"):
            total += 1
    return total

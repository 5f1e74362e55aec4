"""Another administrator at work while exops runs: hold a run between two steps, and
edit a peer over SSH the way a second operator would (issue 30).

``run_paused`` runs the real CLI through a tiny wrapper around
``exops.cli.app.main`` that holds the run right after its N-th ``step_started``
event until the test has done what it wants in that moment, so "an edit
between step N-1 and step N" is deterministic instead of a race.

``toggle_form`` lists one member of a peer's list by its other form (IP <->
FQDN, the same peer) over OpenSSH: ``xConfiguration Alternates Peer N
Address: "..."`` as a second administrator types it. It never touches the
peer's own entry or the primary's slot (those are other findings: a restart
needed, an address compared literally), and ``undo`` puts the text back.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from clikit import Cli
from labkit import cli as ssh_cli

PAUSED = """
import os, sys, time
from exops.run.events import JsonLinesSink

pause_at, go = int(os.environ["PK_PAUSE_AT"]), os.environ["PK_GO"]
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


def started_steps(events: Path) -> int:
    if not events.exists():
        return 0
    text = events.read_text()  # only whole lines: the run may be writing the last one
    lines = [ln for ln in text[: text.rfind("\n") + 1].splitlines() if ln.strip()]
    return sum(json.loads(ln)["event"] == "step_started" for ln in lines)


def run_paused(
    cli: Cli,
    tmp_path: Path,
    args: tuple[str, ...],
    n: int,
    meanwhile: Callable[[], Any],
    *,
    timeout: float = 180,
) -> subprocess.CompletedProcess[str]:
    """Run ``exops ARGS --yes``; when its step N starts, call ``meanwhile()`` and let it
    go on. A run that ends before step N (nothing to do) is returned as it ended."""
    tag = f"{int(time.monotonic() * 1000)}"
    wrapper, events, go = (
        tmp_path / "paused_exops.py",
        tmp_path / f"events-{tag}.jsonl",
        tmp_path / f"go-{tag}",
    )
    wrapper.write_text(PAUSED)
    env = {**cli.env, "PK_PAUSE_AT": str(n), "PK_GO": str(go)}
    argv = [sys.executable, str(wrapper), *args, "--yes", "--events", str(events)]
    proc = subprocess.Popen(
        argv,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        text=True,
    )
    try:
        deadline = time.monotonic() + 60
        while started_steps(events) < n and proc.poll() is None:
            if time.monotonic() > deadline:
                raise AssertionError(f"step {n} of exops {' '.join(args)} never started")
            time.sleep(0.01)
        if proc.poll() is None:
            meanwhile()
        go.touch()
        out, err = proc.communicate(timeout=timeout)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    return subprocess.CompletedProcess(argv, proc.returncode, out, err)


@dataclass
class Edit:
    """One address another administrator re-typed on one peer."""

    peer: str
    slot: int
    was: str
    now: str

    def undo(self, lab: Any) -> None:
        """Put the text back as it was (the other administrator's own undo)."""
        ssh_cli(lab, self.peer, f'xConfiguration Alternates Peer {self.slot} Address: "{self.was}"')


def toggle_form(lab: Any, peer: str) -> Edit | None:
    """On ``peer``, list another member (not itself, not the primary) by its other form
    (IP <-> FQDN); None when its list has no such entry."""
    state = lab.control.peer_state(peer)
    saved = state["saved"]
    own = {lab.peers[peer], lab.fqdns[peer].lower()}
    for slot, address in enumerate(saved["peers"], start=1):
        if not address or address.lower() in own or slot == saved["master"]:
            continue
        other = next(
            (p for p in lab.peers if address.lower() in {lab.peers[p], lab.fqdns[p].lower()}),
            None,
        )
        if other is None:
            continue
        now = lab.fqdns[other] if address == lab.peers[other] else lab.peers[other]
        ssh_cli(lab, peer, f'xConfiguration Alternates Peer {slot} Address: "{now}"')
        return Edit(peer, slot, address, now)
    return None

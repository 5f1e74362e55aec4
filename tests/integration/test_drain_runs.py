"""`exops upgrade --drain` and `exops restart --drain` through the real CLI on the lab.

The test plays the operator on the web page: when exops prints a peer's manual step,
the lab's control API sets that peer's maintenance mode (the evidence shows no
machine form; exops never writes one). The lab moves the peer's calls and
registrations to the other peers over time, and turns maintenance mode off when the
peer restarts (the vendor's rule), which exops reads and says."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import pytest
from clikit import Cli, cli_for, last_seq, writes_since
from killkit import eventually
from lifekit import upgrade_args

pytestmark = pytest.mark.integration

MANUAL = re.compile(r"manual step: on peer ([^,\s]+),")
ORDER = ["c1-p1", "c1-p2", "c1-p3"]
# Waits bounded well under the test's own timeout: a missed step fails fast, named.
ACCEPT = ("--accept", "manual-maintenance", "--drain-timeout", "120")


class Operator:
    """``exops ARGS`` in the background; each peer's manual step, once printed, is done
    on the lab (maintenance mode On), after checking that no other peer is in
    maintenance at that moment (never two peers out of service)."""

    def __init__(self, lab: Any, cli: Cli, *args: str):
        self.lab = lab
        self.done: list[str] = []
        self.others_in_maintenance: list[tuple[str, list[str]]] = []
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "exops", *args],
            env=cli.env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.err: list[str] = []
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self.err.append(line)
            found = MANUAL.search(line)
            if found:
                peer = found[1]
                peers = self.lab.control.state()["peers"]
                on = [n for n, p in peers.items() if p["maintenance_mode"] and n != peer]
                self.others_in_maintenance.append((peer, on))
                self.lab.control.patch_peer(peer, maintenance_mode=True)
                self.done.append(peer)

    def finish(self, timeout: float = 600) -> tuple[int, str, str]:
        assert self.proc.stdout is not None
        out = self.proc.stdout.read()  # stderr is the reader thread's alone
        self.proc.wait(timeout=timeout)
        self.reader.join(timeout=10)
        for pipe in (self.proc.stdout, self.proc.stderr):
            if pipe is not None:
                pipe.close()
        return self.proc.returncode, out, "".join(self.err)


def seed(lab: Any) -> None:
    for peer in ORDER:
        lab.control.patch_peer(
            peer, calls={"Traversal": 2, "CollaborationEdge": 1}, registrations=3
        )


def _seeded(lab_factory: Any, tmp_path: Path, transport: str) -> tuple[Any, Cli, int]:
    """A formed 3-peer cluster carrying calls and registrations; the CLI over
    ``transport``; the lab's last write before the test."""
    lab = lab_factory(clusters=1, peers=3, time_scale=0.004, preset="formed", cdb_rest=True)
    cli = cli_for(lab, tmp_path, EXOPS_TRANSPORT=transport)
    seed(lab)
    return lab, cli, last_seq(lab)


def _maintenance(lab: Any) -> dict[str, bool]:
    return {n: p["maintenance_mode"] for n, p in lab.control.state()["peers"].items()}


@pytest.mark.parametrize("transport", ["rest", "ssh"])
def test_upgrade_drain_drains_each_peer_then_reads_maintenance_off(
    lab_factory: Any, tmp_path: Path, transport: str
) -> None:
    lab, cli, seq = _seeded(lab_factory, tmp_path, transport)

    # Unattended without --accept manual-maintenance: refused before anything (exit 3).
    proc = cli(*upgrade_args(lab, "--drain", "--yes"), expect=3)
    assert "--accept manual-maintenance" in proc.stderr and "Maintenance mode" in proc.stderr
    assert "nothing was changed" in proc.stderr and "Traceback" not in proc.stderr
    assert writes_since(lab, seq) == []
    assert cli.json("history", "-c", "c1")["runs"] == []  # no snapshot, no run
    cli(*upgrade_args(lab, "--accept", "manual-maintenance"), expect=2)  # only with --drain

    # The dry run shows the drain step and the check after each peer's reboot.
    dry = cli(*upgrade_args(lab, "--drain", "--dry-run")).stdout
    for i, peer in enumerate(ORDER, start=1):
        assert f"  {i}. {peer} (" in dry
        assert re.search(rf"  {i}\. {peer} .*drain first: manual step: .*{peer}", dry), dry
        assert re.search(rf"  {i}\. {peer} .*maintenance mode must read off", dry), dry
    assert writes_since(lab, seq) == []

    run = Operator(
        lab,
        cli,
        *upgrade_args(lab, "--drain", "--yes", "--accept", "manual-maintenance", "--json"),
    )
    code, out, err = run.finish()
    assert code == 0, err
    doc = json.loads(out)
    assert doc["status"] == "ok", doc
    assert run.done == ORDER  # one manual step per peer, in the upgrade order
    assert all(not on for _, on in run.others_in_maintenance), run.others_in_maintenance
    assert [(s["peer"], s["status"], s["maintenance_mode_off"]) for s in doc["order"]] == [
        (p, "ok", True) for p in ORDER
    ]
    assert err.count("maintenance mode is off again after its restart") == 3
    assert _maintenance(lab) == dict.fromkeys(ORDER, False)
    target = lab.env["EXOPS_LAB_IMAGE_VERSION"]
    assert {p["version"] for p in lab.control.state()["peers"].values()} == {target}
    # exops wrote no maintenance mode: only the upgrade's own requests.
    paths = {w["path"] for w in writes_since(lab, seq)}
    assert paths == {
        "/api/v1/provisioning/common/sftpconfig",
        "/api/v1/provisioning/common/upgrade",
    }
    upgrade_run = next(
        r for r in cli.json("history", "-c", "c1")["runs"] if r["runbook"] == "upgrade"
    )
    steps = cli.json("show", upgrade_run["run_id"])["steps"]
    kinds = [(s["kind"], s["host"]) for s in steps if s["kind"] in ("manual", "verify")]
    assert kinds == [(k, p) for p in ORDER for k in ("manual", "verify")]


def test_upgrade_drain_resumes_on_a_peer_left_drained(lab_factory: Any, tmp_path: Path) -> None:
    """A killed run drained c1-p1 but never upgraded it: the re-run finds it drained,
    waits for nothing, and upgrades it (then the others)."""
    lab = lab_factory(clusters=1, peers=3, time_scale=0.004, preset="formed", cdb_rest=True)
    cli = cli_for(lab, tmp_path)
    lab.control.patch_peer("c1-p1", maintenance_mode=True)  # the killed run's drain
    calls = lambda: lab.control.peer_state("c1-p1")["calls_total"]  # noqa: E731
    eventually(lambda: (not calls(), f"c1-p1 still carries {calls()} calls"), timeout=60)
    run = Operator(lab, cli, *upgrade_args(lab, "--drain", "--yes", *ACCEPT, "--json"))
    code, out, err = run.finish()
    assert code == 0, err + out
    assert "c1-p1 is drained" in err and "nothing to redo" in err
    assert run.done == ["c1-p2", "c1-p3"]  # no manual step for c1-p1 again
    assert _maintenance(lab) == dict.fromkeys(ORDER, False)


@pytest.mark.parametrize("transport", ["rest", "ssh"])
def test_restart_drain_drains_one_peer_at_a_time_and_reads_maintenance_off(
    lab_factory: Any, tmp_path: Path, transport: str
) -> None:
    lab, cli, seq = _seeded(lab_factory, tmp_path, transport)

    # Unattended without --accept manual-maintenance: refused before anything (exit 3).
    proc = cli("restart", "-c", "c1", "--drain", "--yes", expect=3)
    assert "--accept manual-maintenance" in proc.stderr and "nothing was changed" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert writes_since(lab, seq) == [] and lab.control.metrics()["restarts"] == []
    assert cli.json("history", "-c", "c1")["runs"] == []
    cli("restart", "-c", "c1", "--accept", "manual-maintenance", "--yes", expect=2)

    # The dry run shows the drain right before each restart and the check after it.
    dry = cli("restart", "-c", "c1", "--drain", "--dry-run").stdout
    shown = [line for line in dry.splitlines() if line.startswith("  before step")]
    assert [re.search(r"\(restart (\S+)\)", line)[1] for line in shown] == ORDER  # type: ignore[index]
    assert dry.count("must read off") == 3 and "manual step: on peer c1-p1," in dry
    assert writes_since(lab, seq) == []

    run = Operator(lab, cli, "restart", "-c", "c1", "--drain", "--yes", *ACCEPT, "--json")
    code, out, err = run.finish()
    assert code == 0, err
    doc = json.loads(out)
    assert doc["status"] == "ok", doc
    assert run.done == ORDER  # drained in the restart order, one manual step each
    # Never two peers in maintenance: when each was asked for, no other peer was in it.
    assert run.others_in_maintenance == [(p, []) for p in ORDER]
    restarts = [s for s in doc["outcomes"] if s["kind"] == "restart"]
    assert [s["host"] for s in restarts] == ORDER
    assert all("maintenance mode is off again" in s["detail"] for s in restarts), restarts
    assert all("drained in" in s["detail"] for s in restarts), restarts
    assert [r["peer"] for r in lab.control.metrics()["restarts"]] == ORDER
    assert _maintenance(lab) == dict.fromkeys(ORDER, False)
    # exops wrote no maintenance mode (only the restarts themselves went out).
    assert not [w for w in writes_since(lab, seq) if "maintenance" in json.dumps(w)]


def test_restart_drain_refuses_a_peer_while_another_is_in_maintenance(
    lab_factory: Any, tmp_path: Path
) -> None:
    lab = lab_factory(clusters=1, peers=3, time_scale=0.004, preset="formed", cdb_rest=True)
    cli = cli_for(lab, tmp_path)
    lab.control.patch_peer("c1-p3", maintenance_mode=True)
    proc = cli(
        "restart", "-c", "c1", "--peer", "c1-p2", "--drain", "--yes", *ACCEPT, "--json", expect=3
    )
    text = proc.stdout + proc.stderr  # refused at planning (R9), before the drain
    assert "c1-p3 is in maintenance mode" in text and "R9" in text, text
    assert not [s for s in json.loads(proc.stdout)["outcomes"] if s["status"] == "ok"]
    assert lab.control.metrics()["restarts"] == []  # refused before the restart was sent


def test_restart_refuses_another_peer_while_one_is_in_maintenance(
    lab_factory: Any, tmp_path: Path
) -> None:
    """Safety rule R9, without --drain: c1-p3's maintenance alarm refuses the restart
    of c1-p2 (two peers out of service) at planning; the executor checks it again on
    the fresh read right before the restart (tests/unit/apply/test_safety.py)."""
    lab = lab_factory(clusters=1, peers=3, time_scale=0.004, preset="formed")
    cli = cli_for(lab, tmp_path)
    lab.control.patch_peer("c1-p3", maintenance_mode=True)
    proc = cli("restart", "-c", "c1", "--peer", "c1-p2", "--yes", "--json", expect=3)
    text = proc.stdout + proc.stderr
    assert "c1-p3 is in maintenance mode" in text and "R9" in text, text
    assert not [s for s in json.loads(proc.stdout)["outcomes"] if s["status"] == "ok"]
    assert lab.control.metrics()["restarts"] == []  # refused before the restart was sent

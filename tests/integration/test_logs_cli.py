"""`exops logs analyze` through the real CLI: on files, and fetched from a real mock lab."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from clikit import cli_for
from paths import FIXTURES as FIXTURES_ROOT

pytestmark = pytest.mark.integration

FIXTURES = FIXTURES_ROOT / "logs"


def exops(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("EXOPS_")}
    return subprocess.run(  # noqa: PLW1510 - callers check the code
        [sys.executable, "-m", "exops", *args],
        env={**env, "COLUMNS": "200"},
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_files_filters_and_bad_input() -> None:
    log = str(FIXTURES / "incident.log")
    wrapped = str(FIXTURES / "incident-wrapped.txt")

    proc = exops("logs", "analyze", log, "--summary")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == (FIXTURES / "incident.summary.txt").read_text()

    # A pasted excerpt from stdin and the log file agree on what vcs-a logged then.
    doc = json.loads(
        exops("logs", "analyze", "-", "--json", stdin=Path(wrapped).read_text()).stdout
    )
    full = json.loads(
        exops(
            "logs", "analyze", log, "--json", "--peer", "vcs-a",
            "--since", "2024-03-05T10:12", "--until", "2024-03-05T10:12:59",
        ).stdout
    )  # fmt: skip

    def when(d: dict[str, Any]) -> list[tuple[str, str]]:
        return [(e["ts"], e["kind"]) for e in d["peers"][0]["timeline"]]

    assert when(doc) == when(full) and len(when(doc)) == 11  # + 1 line of kind "other"
    assert doc["events"] == full["events"] == 12
    assert doc["skipped_lines"] == 5 and doc["filters"]["since"] is None
    assert full["filters"] == {
        "since": "2024-03-05T10:12",
        "until": "2024-03-05T10:12:59",
        "peers": ["vcs-a"],
        "problems": False,
    }
    # The verdict judges everything up to --until: the lost peer, alarms still raised.
    assert full["peers"][0]["verdict"] == "disconnected"

    proc = exops("logs", "analyze", log, "--problems", "--peer", "vcs-b")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("showing: peer vcs-b, problems only\n")
    assert " sync " not in proc.stdout and "vcs-a" not in proc.stdout.split("TIME")[1]
    assert "restart           Restart requested by admin" in proc.stdout

    for args, message in [
        (["--peer", "vcs-z"], "--peer vcs-z: no entry from that peer in the log"),
        (["--since", "monday"], "--since: 'monday' is not an ISO date"),
        (
            ["--since", "2024-03-06", "--until", "2024-03-05"],
            "--until 2024-03-05 is before --since 2024-03-06",
        ),
    ]:
        proc = exops("logs", "analyze", log, *args)
        assert proc.returncode == 2, proc.stdout
        assert proc.stderr.startswith(f"exops: error: {message}"), proc.stderr
        assert "Traceback" not in proc.stderr
    proc = exops("logs", "analyze", str(FIXTURES / "missing.log"))
    assert proc.returncode == 2 and "missing.log: cannot read" in proc.stderr


def _until(what: str, ok: Any, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not ok():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting until {what}")
        time.sleep(0.05)


def test_fetched_logs_of_a_cluster_that_lost_a_peer(lab_factory: Any, tmp_path: Path) -> None:
    lab = lab_factory(clusters=1, peers=3, time_scale=0.004, preset="formed")
    cli = cli_for(lab, tmp_path)

    def alarms() -> list[str]:
        return sorted(lab.control.peer_state("c1-p1")["alarms"])

    _until("the formed cluster is quiet", lambda: "20004" not in alarms())
    # The formed preset starts with an empty log: the role is in the log only once
    # c1-p1 has run replication (one interval after the lab is up).
    _until(
        "c1-p1 logs a replication run as primary",
        lambda: "This peer is the cluster master" in lab.control.logs("c1-p1"),
    )
    lab.control.inject("unreachable", peer="c1-p3")
    _until("c1-p1 raises 20004 and 20006", lambda: {"20004", "20006"} <= set(alarms()))

    # c1-p3's log cannot be fetched: the analysis of the others is printed, exit 1.
    # (Fetched again if the lab's alarms moved while the logs were read.)
    for _ in range(5):
        before = alarms()
        proc = cli("logs", "analyze", "-c", "c1", "--json", expect=1)
        after = alarms()
        if before == after:
            break
    else:
        pytest.fail(f"c1-p1's alarms kept changing during five fetches ({before} -> {after})")
    assert "c1-p3: could not fetch logs" in proc.stderr
    doc = json.loads(proc.stdout)
    assert doc["schema"] == "exops.logs/1" and set(doc["fetch_errors"]) == {"c1-p3"}
    peers = {p["host"]: p for p in doc["peers"]}
    assert set(peers) == {"c1-p1", "c1-p2"}
    # What the log says is raised at its end is what the lab holds raised.
    opened = sorted(a.split()[0] for a in peers["c1-p1"]["open_alarms"])
    assert opened == after, peers["c1-p1"]["timeline"]
    assert peers["c1-p1"]["verdict"] == "disconnected"
    assert peers["c1-p1"]["role"] == "primary"
    assert lab.password not in proc.stdout + proc.stderr

    lab.control.clear()
    proc = cli("logs", "analyze", "-c", "c1", "--peer", "c1-p1", "--problems", "--summary")
    assert proc.stdout.startswith("showing: peer c1-p1, problems only\n")
    assert "c1-p1: " in proc.stdout and "c1-p2: " not in proc.stdout
    assert "alarm_raised" in proc.stdout
    assert "sync_start" not in proc.stdout  # --problems: only alarms, failures, restarts, TLS


def _bounded(args: list[str], stdin: Any) -> subprocess.CompletedProcess[str]:
    """The real CLI under a 2 GiB address-space limit: an unbounded read dies of it."""
    import resource

    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (2 << 30, 2 << 30))

    env = {k: v for k, v in os.environ.items() if not k.startswith("EXOPS_")}
    return subprocess.run(  # noqa: PLW1510 - callers check the code
        [sys.executable, "-m", "exops", *args],
        env=env,
        stdin=stdin,
        capture_output=True,
        text=True,
        timeout=120,
        preexec_fn=limit,
    )


@pytest.mark.parametrize(
    ("args", "source", "says"),
    [
        (["/dev/zero"], None, "/dev/zero: cannot read (not a regular file)"),
        (["-"], "/dev/zero", "standard input: not text (a NUL byte at offset 0); refused"),
        (["-"], "/dev/urandom", "standard input: not text"),
    ],
)
def test_endless_or_binary_input_is_refused_in_bounded_memory(
    args: list[str], source: str | None, says: str
) -> None:
    with open(source or os.devnull, "rb") as stdin:
        proc = _bounded(["logs", "analyze", *args], stdin)
    assert proc.returncode == 2, proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and says in lines[0], lines

"""What an operator sees in a terminal during a run (issue 32): an interruption's
recap, the confirmation prompt, risks above the question, progress."""

from __future__ import annotations

import json
import os
import pty
import re
import select
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from clikit import as_in_a_terminal, cli_for

pytestmark = pytest.mark.integration


def _wait_for(path: Path, text: str, proc: subprocess.Popen[Any], timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while not (path.exists() and text in path.read_text()):
        if proc.poll() is not None:
            out, err = proc.communicate()  # its pipes closed, its words in the failure
            raise AssertionError(
                f"exops ended ({proc.returncode}) before {text!r}\n--- stdout\n{out[-3000:]}"
                f"\n--- stderr\n{err[-3000:]}"
            )
        if time.monotonic() > deadline:
            proc.kill()
            proc.communicate()
            raise AssertionError(f"never saw {text!r} in {path}")
        time.sleep(0.05)


def _interrupt_at_prompt(args: list[str], env: dict[str, str], prompt: bytes) -> tuple[int, str]:
    """Run ``exops ARGS`` on a terminal; once ``prompt`` is on the screen, press
    Ctrl-C (SIGINT, as the terminal sends it). Returns the exit code and the screen."""
    master, slave = pty.openpty()
    proc = subprocess.Popen(
        [sys.executable, "-m", "exops", *args],
        stdin=slave,
        stdout=slave,
        stderr=slave,
        env={**env, "TERM": "xterm", "COLUMNS": "120", "PYTHONFAULTHANDLER": "1"},
        preexec_fn=as_in_a_terminal,  # noqa: PLW1509 - only resets one signal
    )
    os.close(slave)
    screen = bytearray()
    sent = False
    deadline = time.monotonic() + 40
    while time.monotonic() < deadline:
        ready, _, _ = select.select([master], [], [], 0.2)
        if ready:
            try:
                data = os.read(master, 65536)
            except OSError:
                data = b""
            if not data:
                break
            screen += data
        if not sent and prompt in screen:
            proc.send_signal(signal.SIGINT)
            sent = True
        if not ready and proc.poll() is not None:
            break
    try:
        code = proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        proc.send_signal(signal.SIGABRT)
        time.sleep(2)
        while select.select([master], [], [], 0.5)[0]:
            try:
                data = os.read(master, 65536)
            except OSError:
                break
            if not data:
                break
            screen += data
        proc.kill()
        raise AssertionError(f"exops did not end: {screen.decode(errors='replace')}") from None
    finally:
        os.close(master)
    assert sent, screen.decode(errors="replace")
    return code, re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", screen.decode(errors="replace"))


# -- interruptions ----------------------------------------------------------------------


def test_ctrl_c_at_the_confirmation_exits_130_and_changes_nothing(
    formed_lab: Any, tmp_path: Path
) -> None:
    cli = cli_for(formed_lab, tmp_path)
    code, screen = _interrupt_at_prompt(
        ["restart", "-c", "c1", "--peer", "c1-p2"], cli.env, b"[y/N]: "
    )
    assert code == 130, screen
    assert "exops: interrupted" in screen and "aborted" not in screen
    assert formed_lab.control.metrics()["restarts"] == []


def test_an_interrupted_run_says_what_was_done_in_flight_and_not_started(
    lab_factory: Any, tmp_path: Path
) -> None:
    """Ctrl-C while the primary restarts: the restart was sent (it happens), the
    health gate and the subordinate's restart were not started; the recap and the
    journal say so, step by step."""
    lab = lab_factory(clusters=1, peers=2, time_scale=0.05, preset="formed")
    cli = cli_for(lab, tmp_path)
    events = tmp_path / "events.jsonl"
    proc = subprocess.Popen(
        [sys.executable, "-m", "exops", "restart", "-c", "c1", "--yes", "--events", str(events)],
        env=cli.env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=as_in_a_terminal,  # noqa: PLW1509 - only resets one signal
    )
    _wait_for(events, '"restarting"', proc)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    # The restart in flight did happen: the peer goes down once its answering grace
    # (after it accepted the restart) is over.
    deadline = time.monotonic() + 60
    restarted: list[str] = []
    while not restarted and time.monotonic() < deadline:
        restarted = [r["peer"] for r in lab.control.metrics()["restarts"]]
        time.sleep(0.1)
    assert restarted == ["c1-p1"]

    recap = out[out.index("INTERRUPTED") :]
    assert "done: nothing" in recap, recap
    in_flight = re.search(r"in flight: 1 'restart the primary' on c1-p1\n +(.*)\n", recap)
    assert in_flight and "WAS sent" in in_flight[1], recap
    not_started = re.search(r"not started: (.*)\n", recap)
    assert not_started and "on c1-p2" in not_started[1], recap
    assert "interrupted: re-run the same command with --resume" in recap
    assert "interrupted: [c1-p1] restart the primary" in out

    run = cli.json("history")["runs"][0]
    assert run["status"] == "interrupted"
    steps = cli.json("show", run["run_id"])["steps"]
    assert steps[0]["host"] == "c1-p1" and "WAS sent" in steps[0]["error"]
    assert len(steps) == len(json.loads(json.dumps(cli.json("show", run["run_id"])["plan"]))["actions"])
    assert all(s["detail"] == "not started: the run was interrupted" for s in steps[1:])
    text = cli("show", run["run_id"]).stdout
    assert "WAS sent" in text and "not started" in text


# -- risks above the question --------------------------------------------------------------


def test_the_confirmation_shows_the_plans_risks_above_the_question(
    formed_lab: Any, tmp_path: Path
) -> None:
    from clikit import run_in_pty

    cli = cli_for(formed_lab, tmp_path)
    code, screen, _ = run_in_pty(
        ["remove-peer", "-c", "c1", "--peer", "c1-p3"], cli.env, answer=(b"[y/N]: ", b"n\n")
    )
    assert code == 2, screen
    screen = screen.replace("\r\n", "\n")
    risk = screen.index("risk: factory reset hazard on c1-p3")
    assert risk < screen.index("Restart c1-p3 as planned? [y/N]"), screen
    assert "c1-p3 factory resets itself at its next restart" in screen[risk:]
    assert formed_lab.control.metrics()["restarts"] == []


def test_the_help_of_a_destructive_runbook_says_what_it_destroys(
    formed_lab: Any, tmp_path: Path
) -> None:
    cli = cli_for(formed_lab, tmp_path)
    text = " ".join(cli("remove-peer", "--help").stdout.split())
    assert "DESTROYS the removed peer's configuration" in text
    assert "factory-resets at its restart" in text
    assert "every peer restarts" in " ".join(cli("enforce-tls", "--help").stdout.split())


# -- progress ---------------------------------------------------------------------------


def test_several_clusters_show_live_progress_per_cluster(
    lab_factory: Any, tmp_path: Path
) -> None:
    """Each cluster's line (step n of m, peer, what the wait sees, elapsed and limit)
    is on the screen while they run, before any cluster's final text."""
    from clikit import run_in_pty

    lab = lab_factory(clusters=2, peers=2, time_scale=0.02, preset="formed")
    cli = cli_for(lab, tmp_path)
    code, screen, _ = run_in_pty(["restart", "-c", "c1", "-c", "c2", "--yes"], cli.env, timeout=400)
    assert code == 0, screen[-3000:]
    first_final = screen.index("=== cluster")
    live = screen[:first_final]
    for cluster in ("c1", "c2"):
        assert re.search(rf"{cluster} +step 1 of 4: \[{cluster}-p1\] restart the primary", live), (
            live[-3000:]
        )
    assert re.search(r"\(\d+\.\ds of 30m00s\)", live), live[-3000:]  # elapsed and the limit
    assert "=== cluster c1: exit 0 ===" in screen and "=== cluster c2: exit 0 ===" in screen


def test_on_a_dumb_terminal_progress_is_plain_lines(formed_lab: Any, tmp_path: Path) -> None:
    from clikit import run_in_pty

    cli = cli_for(formed_lab, tmp_path)
    code, screen, _ = run_in_pty(
        ["restart", "-c", "c1", "--peer", "c1-p2", "--yes"], cli.env, term="dumb"
    )
    assert code == 0, screen[-3000:]
    assert re.search(r"  waiting for c1-p2 to restart and answer: .* of 30m00s\)", screen), screen
    assert "\x1b" not in screen and "⠋" not in screen  # no redrawn line, no spinner
    assert "changed: [c1-p2] restart c1-p2 (" in screen


def test_the_live_line_and_the_summary_name_the_step_and_the_limits(
    formed_lab: Any, tmp_path: Path
) -> None:
    from clikit import run_in_pty

    cli = cli_for(formed_lab, tmp_path)
    code, screen, _ = run_in_pty(["restart", "-c", "c1", "--peer", "c1-p2", "--yes"], cli.env)
    assert code == 0, screen[-3000:]
    assert "restarts c1-p2; waits up to 30m00s per restart, 30m00s per health wait" in screen
    assert "step 1 of 2: [c1-p2] restart c1-p2" in screen, screen[-3000:]
    assert re.search(r"of 30m00s", screen)


def test_status_during_a_run_names_the_run_and_its_step(lab_factory: Any, tmp_path: Path) -> None:
    lab = lab_factory(clusters=1, peers=2, time_scale=0.05, preset="formed")
    cli = cli_for(lab, tmp_path)
    events = tmp_path / "events.jsonl"
    proc = subprocess.Popen(
        [sys.executable, "-m", "exops", "restart", "-c", "c1", "--peer", "c1-p2", "--yes",
         "--events", str(events)],
        env=cli.env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )  # fmt: skip
    try:
        _wait_for(events, '"restarting"', proc)
        shown = cli("status", "-c", "c1", expect=None).stdout
    finally:
        _, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    first = shown.splitlines()[0]
    assert re.fullmatch(
        r"run [0-9a-f]{12} \(restart by \S+@\S+, since \d\d:\d\d:\d\d UTC\) holds cluster c1: "
        r"step 1 of 2, restart c1-p2 \(c1-p2 does not answer while it restarts\)",
        first,
    ), shown
    after = cli("status", "-c", "c1", expect=None).stdout
    assert "holds cluster" not in after  # the run is over: nothing said

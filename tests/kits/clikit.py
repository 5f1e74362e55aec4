"""Helpers for integration tests: run the real `exops` CLI against a real mock lab."""

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
from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass
class Cli:
    """Runs `python -m exops ...` with the lab's environment, like an operator would."""

    env: dict[str, str]

    def __call__(
        self, *args: str, expect: int | None = 0, timeout: float = 240
    ) -> subprocess.CompletedProcess[str]:
        proc = subprocess.run(  # noqa: PLW1510 - callers check the code
            [sys.executable, "-m", "exops", *args],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
            stdin=subprocess.DEVNULL,
        )
        if expect is not None and proc.returncode != expect:
            raise AssertionError(
                f"exops {' '.join(args)} exited {proc.returncode}, expected {expect}\n"
                f"--- stdout\n{proc.stdout[-4000:]}\n--- stderr\n{proc.stderr[-4000:]}"
            )
        return proc

    def json(self, *args: str, expect: int | None = 0) -> Any:
        return json.loads(self(*args, "--json", expect=expect).stdout)


def cli_for(lab: Any, tmp_path: Path, **extra: str) -> Cli:
    env = {k: v for k, v in os.environ.items() if not k.startswith("EXOPS_")}
    env.update(lab.env)
    env.update(
        {
            "EXOPS_STATE_DIR": str(tmp_path / "exops-state"),
            # Each test's own locks: parallel tests (and other sessions) on this host
            # never share the system-wide lock directory.
            "EXOPS_LOCK_DIR": str(tmp_path / "exops-state" / "locks"),
            "COLUMNS": "200",
            **extra,
        }
    )
    return Cli(env)


def writes_since(lab: Any, seq: int) -> list[dict[str, Any]]:
    return [r for r in lab.control.requests(since=seq) if r.get("write")]


def last_seq(lab: Any) -> int:
    reqs = lab.control.requests(since=0)
    return max((r["seq"] for r in reqs), default=0)


def run_in_pty(
    args: list[str],
    env: dict[str, str],
    timeout: float = 180,
    *,
    stdout_pipe: bool = False,
    answer: tuple[bytes, bytes] | None = None,
    term: str = "xterm",
    columns: int = 120,
) -> tuple[int, str, str]:
    """Run ``exops ARGS`` with a terminal (``term``, ``columns`` wide) on stderr, on
    stdout unless ``stdout_pipe`` (then stdout is read apart), and on stdin when
    ``answer`` is ``(prompt, reply)``: the reply is typed once the prompt is on the screen.

    Returns the exit code, the terminal's text (escape codes removed) and stdout.
    """
    master, slave = pty.openpty()
    proc = subprocess.Popen(
        [sys.executable, "-m", "exops", *args],
        stdin=slave if answer else subprocess.DEVNULL,
        stdout=subprocess.PIPE if stdout_pipe else slave,
        stderr=slave,
        env={**env, "TERM": term, "COLUMNS": str(columns), "LINES": "40"},
        close_fds=True,
    )
    os.close(slave)
    pipe = proc.stdout.fileno() if proc.stdout is not None else None
    read: dict[int, bytearray] = {master: bytearray()}
    if pipe is not None:
        read[pipe] = bytearray()
    open_fds = set(read)
    deadline = time.monotonic() + timeout
    while open_fds and time.monotonic() < deadline:
        ready, _, _ = select.select(list(open_fds), [], [], 0.5)
        for fd in ready:
            try:
                data = os.read(fd, 65536)
            except OSError:  # EIO: the child closed the terminal
                data = b""
            if data:
                read[fd] += data
            else:
                open_fds.discard(fd)
        if answer and answer[0] in read[master]:
            os.write(master, answer[1])
            answer = None
        if not ready and proc.poll() is not None:
            break
    code = proc.wait(timeout=30)
    os.close(master)
    stdout = read[pipe].decode() if pipe is not None else ""
    if proc.stdout is not None:
        proc.stdout.close()
    screen = read[master].decode("utf-8", "replace")
    return code, re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", screen), stdout  # colours, cursor moves


def as_in_a_terminal() -> None:
    """``preexec_fn`` for a child that a test interrupts with SIGINT: Ctrl-C in an
    operator's terminal is delivered, whatever this test process inherited (a suite
    started in the background by a non-interactive shell ignores SIGINT, and its
    children would too)."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)

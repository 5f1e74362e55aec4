"""Helpers for integration tests: run the real `exops` CLI against a real mock lab."""

from __future__ import annotations

import json
import os
import subprocess
import sys
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

"""Processes that hold a cluster lock through the store, as another operator would."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from paths import REPO

# Opens the store from the settings (env), holds a cluster lock, records a run
# as SIM_HOST/SIM_USER when asked (SIM_GETHOSTNAME: as if on that machine), says "held", then waits for stdin to close.
HOLDER = """
import os, socket, sys
if os.environ.get("SIM_GETHOSTNAME"):  # this process plays another machine
    socket.gethostname = lambda: os.environ["SIM_GETHOSTNAME"]
from exops.core.settings import load_settings
from exops.state.base import NewRun
from exops.state import open_state
cluster, runbook = sys.argv[1], sys.argv[2]
store = open_state(load_settings())
with store.lock(cluster, runbook=runbook, timeout_s=float(os.environ.get("HOLD_WAIT", "0"))):
    if os.environ.get("SIM_HOST"):
        jid = store.journal.start_run(NewRun(run_id=os.environ["SIM_RUN"], cluster=cluster,
            runbook=runbook, params={}, plan={}, user=os.environ["SIM_USER"],
            host=os.environ["SIM_HOST"]))
        if not os.environ.get("SIM_NOFINISH"):
            store.journal.finish_run(jid, "ok", 0)
    print("held", flush=True)
    sys.stdin.read()
store.close()
"""


def operator_env(home: Path, url: str | None, **extra: str) -> dict[str, str]:
    """The environment of an operator with their own HOME and state directory."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("EXOPS_")}
    home.mkdir(parents=True, exist_ok=True)
    env.update(
        {
            "HOME": str(home),
            "XDG_STATE_HOME": str(home / ".local" / "state"),
            "EXOPS_STATE_DIR": str(home / "state"),
            "PYTHONPATH": str(REPO),
            **extra,
        }
    )
    if url:
        env["EXOPS_STATE_URL"] = url
    if os.environ.get("EXOPS_STATE_PASSWORD"):
        env["EXOPS_STATE_PASSWORD"] = os.environ["EXOPS_STATE_PASSWORD"]
    return env


def spawn_holder(
    env: dict[str, str], cluster: str = "c1", runbook: str = "add-peer"
) -> subprocess.Popen[str]:
    proc = subprocess.Popen(
        [sys.executable, "-c", HOLDER, cluster, runbook],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    assert proc.stdout is not None
    line = proc.stdout.readline().strip()
    if line != "held":
        _, err = proc.communicate(timeout=10)
        raise AssertionError(f"holder did not take the lock: {line!r} {err}")
    return proc


def finish(proc: subprocess.Popen[str]) -> None:
    if proc.poll() is None:
        proc.communicate(input="", timeout=10)
    else:
        proc.communicate(timeout=10)


def exops(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    """Run the real CLI as that operator."""
    return subprocess.run(
        [sys.executable, "-m", "exops", *args],
        check=False,
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )

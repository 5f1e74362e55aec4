"""The lifecycle commands (drain, snapshot, upgrade, renew-cert) take the same cluster
lock as the runbooks: the inventory's lock key (cluster name and a digest of its
members, issue 19.6), not the bare cluster name. Before, drain, snapshot and upgrade
locked by the name, so an upgrade and a restart of the same cluster could run at once
(two peers down)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from clikit import cli_for, last_seq, writes_since
from labkit import lock_key

from exops.state.flock import acquire


def _commands(lab: Any, tmp_path: Path) -> dict[str, list[str]]:
    env = lab.env
    return {
        "snapshot": ["snapshot", "-c", "c1"],
        "drain": [
            *("drain", "-c", "c1", "--peer", "c1-p2", "--yes"),
            *("--accept", "manual-maintenance", "--drain-timeout", "5"),
        ],
        "upgrade": [
            *("upgrade", "-c", "c1", "--image", env["EXOPS_LAB_IMAGE"], "--yes"),
            *("--sha512", env["EXOPS_LAB_IMAGE_SHA512"], "--sftp", env["EXOPS_LAB_SFTP"]),
        ],
        "renew-cert": [
            *("renew-cert", "-c", "c1", "--peer", "c1-p2", "--yes"),
            *("--csr-out", str(tmp_path)),
        ],
    }


@pytest.mark.parametrize("command", ["snapshot", "drain", "upgrade", "renew-cert"])
def test_a_lifecycle_command_waits_for_the_runbooks_lock(
    lab_factory: Any, tmp_path: Path, command: str
) -> None:
    lab = lab_factory(clusters=1, peers=3, time_scale=0.004, preset="formed", cdb_rest=True)
    locks = tmp_path / "locks"
    cli = cli_for(lab, tmp_path, EXOPS_LOCK_DIR=str(locks))
    seq = last_seq(lab)
    with acquire(lock_key(lab, "c1"), runbook="restart", timeout_s=0, lock_dir=locks):
        held = cli(*_commands(lab, tmp_path)[command], "--lock-timeout", "0", expect=4)
    assert "restart" in held.stdout + held.stderr  # the holder is named
    assert writes_since(lab, seq) == []  # nothing written on any peer

"""Where the inventory comes from, as the real CLI says it.

``exops --inventory DIR status`` (the option before the command) reads a real lab;
no inventory is one line naming the path exops looked at and where that came from;
the shipped example inventory, used as the default ./inventory, is said once.
Every command runs in a working directory of its own (never the repository's,
which holds the example inventory).
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from clikit import cli_for
from paths import REPO

pytestmark = pytest.mark.integration


def _exops(
    env: dict[str, str], cwd: Path, *args: str, expect: int | None = 0
) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(  # noqa: PLW1510 - checked below
        [sys.executable, "-m", "exops", *args],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=240,
        stdin=subprocess.DEVNULL,
    )
    if expect is not None:
        assert proc.returncode == expect, (args, proc.returncode, proc.stdout[-2000:], proc.stderr)
    return proc


def _lab_env(lab_factory: Any, tmp_path: Path) -> dict[str, str]:
    lab = lab_factory(clusters=1, peers=2, time_scale=0.01, preset="formed")
    env = dict(cli_for(lab, tmp_path).env)
    env["LAB_INVENTORY"] = env.pop("EXOPS_INVENTORY")  # given on the command line instead
    return env


def test_inventory_before_the_command(lab_factory: Any, tmp_path: Path) -> None:
    env = _lab_env(lab_factory, tmp_path)
    inv = env["LAB_INVENTORY"]
    before = _exops(env, tmp_path, "--inventory", inv, "status", "-c", "c1", "--json")
    after = _exops(env, tmp_path, "status", "-c", "c1", "--json", "--inventory", inv)
    assert '"c1-p1"' in before.stdout and '"c1-p1"' in after.stdout
    assert _exops(env, tmp_path, "-i", inv, "check", "-c", "c1", expect=None).returncode in (0, 3)
    # the command's own --inventory wins over the one before the command
    wins = _exops(env, tmp_path, "--inventory", "nowhere", "status", "-c", "c1", "--inventory", inv)
    assert "c1-p1" in wins.stdout


def test_no_inventory_says_where_it_looked(tmp_path: Path) -> None:
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "COLUMNS": "200"}
    proc = _exops(env, tmp_path, "status", "-c", "c1", expect=2)
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in proc.stderr, proc.stderr
    assert lines[0].startswith(
        f"exops: error: {tmp_path / 'inventory'}: inventory directory not found "
        "(the default, inventory/ in the current directory)"
    ), lines[0]
    assert "exops --inventory DIR status" in lines[0] and "EXOPS_INVENTORY=DIR" in lines[0]
    given = _exops(env, tmp_path, "--inventory", "rel/inv", "status", expect=2).stderr
    assert (
        f"{tmp_path / 'rel/inv'}: inventory directory not found (given with --inventory)" in given
    )
    from_env = _exops({**env, "EXOPS_INVENTORY": "e/inv"}, tmp_path, "status", expect=2).stderr
    assert f"{tmp_path / 'e/inv'}: inventory directory not found (from EXOPS_INVENTORY)" in from_env


def test_the_example_inventory_is_said_once(tmp_path: Path) -> None:
    work = tmp_path / "work"
    shutil.copytree(REPO / "inventory", work / "inventory")
    env = {
        "PATH": "/usr/bin:/bin",
        "HOME": str(tmp_path),
        "EXOPS_STATE_DIR": str(tmp_path / "state"),
        "COLUMNS": "200",
    }
    first = _exops(env, work, "status", "-c", "no-such-cluster", expect=2)
    second = _exops(env, work, "status", "-c", "no-such-cluster", expect=2)
    note = [ln for ln in first.stderr.splitlines() if "example inventory" in ln]
    assert len(note) == 1, first.stderr
    assert f"{work / 'inventory'} is exops's example inventory (clusters core-c, edge-e)" in note[0]
    assert "example inventory" not in second.stderr, second.stderr
    assert "no-such-cluster" in second.stderr  # then the real error, as before

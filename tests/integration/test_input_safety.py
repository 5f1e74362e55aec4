"""Input that still hurt (issue 30), through the real CLI on a real lab: one line,
exit 2, no traceback, nothing written to any appliance, nothing written through
a planted link.

The lab is shared by the module; nothing here may change it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from clikit import Cli, cli_for, last_seq, writes_since

from exops.lab.pytest_plugin import start_lab

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    running = start_lab(
        tmp_path_factory.mktemp("inputlab"), clusters=1, peers=3, time_scale=0.004, preset="formed"
    )
    yield running
    running.stop()


def one_line(proc: subprocess.CompletedProcess[str]) -> str:
    assert "Traceback" not in proc.stderr, proc.stderr
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1, lines
    return lines[0]


def refused(cli: Cli, lab: Any, *args: str, code: int = 2, timeout: float = 60) -> str:
    seq = last_seq(lab)
    proc = cli(*args, expect=code, timeout=timeout)
    assert writes_since(lab, seq) == [], "bad input reached an appliance"
    return one_line(proc)


MAPS = [f"--map=h{i}.example.com=192.0.2.{i}" for i in range(1, 8)]


def test_seven_mapping_pairs_are_refused_with_the_limit(lab: Any, tmp_path: Path) -> None:
    """Seven --map pairs: an AssertionError traceback before; under python -O the
    seventh pair was dropped without a word. Now exit 2 with the limit, also under -O."""
    cli = cli_for(lab, tmp_path)
    line = refused(cli, lab, "address-mapping", "-c", "c1", *MAPS, "--yes")
    assert "--map: 7 FQDN=IP pairs given" in line and "at most 6" in line, line
    seq = last_seq(lab)
    optimised = subprocess.run(
        [sys.executable, "-O", "-m", "exops", "address-mapping", "-c", "c1", *MAPS, "--yes"],
        env=cli.env,
        capture_output=True,
        text=True,
        timeout=60,
        stdin=subprocess.DEVNULL,
        check=False,
    )
    assert optimised.returncode == 2, optimised.stderr
    assert "at most 6" in one_line(optimised)
    assert writes_since(lab, seq) == []


def test_a_runbook_file_that_is_a_fifo_is_refused_at_once(lab: Any, tmp_path: Path) -> None:
    fifo = tmp_path / "mine.yaml"
    os.mkfifo(fifo)
    line = refused(cli_for(lab, tmp_path), lab, "run", str(fifo), "-c", "c1", timeout=30)
    assert str(fifo) in line and "FIFO (named pipe), not a regular file" in line, line


def test_a_host_given_twice_in_hosts_yaml_is_refused(lab: Any, tmp_path: Path) -> None:
    """The later entry silently replaced the earlier; status said "healthy - 3 peers"
    without that peer. Now exit 2 naming both lines."""
    inv = tmp_path / "inventory"
    inv.mkdir()
    for name in ("groups.yaml", "defaults.yaml"):
        (inv / name).write_text((lab.inventory_dir / name).read_text())
    hosts = (lab.inventory_dir / "hosts.yaml").read_text()
    first = hosts.split("\nc1-p2:")[0]  # the c1-p1 entry
    (inv / "hosts.yaml").write_text(hosts + first + "\n")
    cli = cli_for(lab, tmp_path, EXOPS_INVENTORY=str(inv))
    line = refused(cli, lab, "status", "-c", "c1")
    assert "hosts.yaml:" in line and "duplicate key 'c1-p1' (first at line 1)" in line, line


@pytest.mark.parametrize("kind", ["sparse", "text", "plan"])
def test_restore_from_a_file_that_is_not_a_backup(lab: Any, tmp_path: Path, kind: str) -> None:
    """A 1 GiB sparse file took 2.17 GB of memory and exit 1; now it is refused from
    its size. An ordinary text file, or a plan file, is not a backup: exit 2."""
    path = tmp_path / "backup.json"
    if kind == "sparse":
        with path.open("wb") as fh:
            fh.truncate(1 << 30)
    elif kind == "text":
        path.write_text("notes from the change window\n")
    else:
        path.write_text(json.dumps({"format": "exops.plan/2", "actions": []}))
    started = time.monotonic()
    args = ("restore", "-c", "c1", "--peer", "c1-p2", "--backup", str(path), "--yes")
    line = refused(cli_for(lab, tmp_path), lab, *args)
    assert str(path) in line
    assert ("larger than 64 KiB" if kind == "sparse" else "not an exops backup") in line, line
    assert time.monotonic() - started < 60


@pytest.mark.parametrize("option", ["--out", "--events"])
def test_a_planted_link_is_never_written_through(lab: Any, tmp_path: Path, option: str) -> None:
    """Another user planted ``plan.json`` -> a file of ours in a shared sticky
    directory: exops refuses it (exit 2) and the target is untouched."""
    target = tmp_path / "precious.txt"
    target.write_text("precious\n")
    link = tmp_path / "shared" / "plan.json"
    link.parent.mkdir()
    link.symlink_to(target)
    cli = cli_for(lab, tmp_path)
    if option == "--out":
        line = refused(cli, lab, "plan", "restart", "-c", "c1", "--out", str(link))
    else:
        # without --yes: were the link not refused, the run would stop before any change
        line = refused(cli, lab, "restart", "-c", "c1", "--events", str(link))
    assert f"{option} {link} is a symbolic link" in line, line
    assert target.read_text() == "precious\n"

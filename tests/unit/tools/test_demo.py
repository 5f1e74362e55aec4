"""The demo's own directory and environment, its chapters and its time-scale lines."""

from __future__ import annotations

from pathlib import Path

import pytest

from exops.state.flock import SYSTEM_LOCK_DIR
from exops.tools.demo import CHAPTERS, _chapters, demo_env, time_scale_lines

LAB_ENV = {"EXOPS_INVENTORY": "/lab/inventory", "EXOPS_CA_BUNDLE": "/lab/ca.pem"}
SHELL = {
    "PATH": "/usr/bin",
    "EXOPS_STATE_URL": "postgresql://exops@db.example.com/exops",  # a team store
    "EXOPS_LOCK_DIR": "/run/lock/exops",
    "EXOPS_STATE_DIR": "/home/op/.local/state/exops",
    "EXOPS_INVENTORY": "/etc/exops/inventory",
}


def test_two_demos_never_share_a_lock_or_a_journal(tmp_path: Path) -> None:
    first = demo_env(tmp_path / "a", LAB_ENV, SHELL)
    second = demo_env(tmp_path / "b", LAB_ENV, SHELL)
    assert first["EXOPS_LOCK_DIR"] != second["EXOPS_LOCK_DIR"]
    assert first["EXOPS_STATE_DIR"] != second["EXOPS_STATE_DIR"]
    for env, own in ((first, tmp_path / "a"), (second, tmp_path / "b")):
        assert Path(env["EXOPS_LOCK_DIR"]).is_relative_to(own)
        assert Path(env["EXOPS_LOCK_DIR"]) != SYSTEM_LOCK_DIR
        assert Path(env["EXOPS_STATE_DIR"]).is_relative_to(own)


def test_nothing_of_the_operators_settings_reaches_the_demo(tmp_path: Path) -> None:
    env = demo_env(tmp_path, LAB_ENV, SHELL)
    assert "EXOPS_STATE_URL" not in env  # never the team store's lock of a real c1
    assert env["EXOPS_INVENTORY"] == "/lab/inventory"
    assert not Path(env["EXOPS_CONFIG"]).exists()  # no settings file
    assert env["PATH"] == "/usr/bin"


def test_the_time_scale_is_said_with_what_a_real_restart_takes() -> None:
    lines = time_scale_lines(0.01)
    assert "100x faster" in lines[0] and "--time-scale 0.01" in lines[0]
    assert "1.8 s" in lines[1] and "3 to 5 minutes" in lines[1] and "by 100" in lines[2]
    assert all(len(line) <= 80 for line in lines)
    assert "1000x" in time_scale_lines(0.001)[0]


def test_chapters() -> None:
    assert _chapters(None) == list(range(1, len(CHAPTERS) + 1))
    assert _chapters("1-3,5") == [1, 2, 3, 5]
    assert _chapters("12-") == list(range(12, len(CHAPTERS) + 1))
    for bad in ("0", f"{len(CHAPTERS) + 1}", "x", "-2", "3-1"):
        with pytest.raises(SystemExit):
            _chapters(bad)


def test_the_upgrade_chapter_takes_its_image_from_the_lab() -> None:
    from exops.tools.demo import expand

    _title, _, command = next(c for c in CHAPTERS if c[0] == "Rolling upgrade")
    env = {"EXOPS_LAB_IMAGE": "s42700x15_3_0.tar.gz", "EXOPS_LAB_IMAGE_SHA512": "ab" * 64}
    env["EXOPS_LAB_SFTP"] = "sftp://lab@127.0.0.1:2222/images"
    args = expand(command, env)
    assert args[:3] == ("upgrade", "-c", "c1") and "--yes" in args
    assert args[args.index("--image") + 1] == "s42700x15_3_0.tar.gz"
    assert args[args.index("--sftp") + 1] == "sftp://lab@127.0.0.1:2222/images"
    assert not any(a.startswith("$") for a in args)

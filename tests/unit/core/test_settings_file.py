"""The settings file (EXOPS_CONFIG) as hostile input: binary, NUL bytes, huge (issue 26)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from exops.core.errors import UsageError
from exops.core.exitcodes import ExitCode
from exops.core.settings import load_settings


def _refusal(path: Path) -> str:
    with pytest.raises(UsageError) as exc:
        load_settings(environ={}, config_file=path)
    message = str(exc.value)
    assert "\n" not in message and message.startswith(f"{path}:"), message
    assert exc.value.exit_code == ExitCode.USAGE
    return message


def test_a_binary_settings_file_is_one_line(tmp_path: Path) -> None:
    path = tmp_path / "config.yaml"
    path.write_bytes(b"read_timeout: 3\n\xcd\x8f\xff binary\n")
    message = _refusal(path)
    assert "not valid UTF-8" in message and message.startswith(f"{path}:2:"), message


def test_nul_bytes_are_not_text(tmp_path: Path) -> None:
    path = tmp_path / "config.yaml"
    path.write_bytes(b"read_timeout: 3\x00\n")
    assert "NUL" in _refusal(path)


def test_an_oversized_settings_file_is_refused_without_reading_it_all(tmp_path: Path) -> None:
    from exops.core.settings import MAX_SETTINGS_BYTES

    path = tmp_path / "config.yaml"
    path.write_bytes(b"# " + b"x" * MAX_SETTINGS_BYTES + b"\n")
    assert "larger than" in _refusal(path)


def test_a_good_settings_file_still_loads(tmp_path: Path) -> None:
    path = tmp_path / "config.yaml"
    path.write_text("read_timeout: 2.5  # seconds\n")
    assert load_settings(environ={}, config_file=path).read_timeout == 2.5


def test_cli_with_a_binary_settings_file_exits_2_in_one_line(tmp_path: Path) -> None:
    path = tmp_path / "config.bin"
    path.write_bytes(bytes(range(256)) * 8)
    env = {k: v for k, v in os.environ.items() if not k.startswith("EXOPS_")}
    env.update(EXOPS_CONFIG=str(path), EXOPS_STATE_DIR=str(tmp_path / "state"))
    proc = subprocess.run(
        [sys.executable, "-m", "exops", "history"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 2, (proc.returncode, proc.stderr)
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and str(path) in lines[0], proc.stderr
    assert "Traceback" not in proc.stderr

"""exops's side of the bundled lab's documented interface (its command line and files).

exops never imports the simulator: the demo and ``exops rehearse`` start it with
``python -m exops.lab up`` and read its ``lab.env``. They also pick a loopback
subnet and ports nobody holds, so a lab runs beside another one.
"""

from __future__ import annotations

import importlib.util
import socket
from pathlib import Path

from exops.core.errors import UsageError

# What the lab needs beyond exops's own dependencies: the `lab` extra of pyproject.toml.
LAB_MODULES = ("aiohttp", "asyncssh")
LAB_INSTALL = "pip install 'exops[lab]'"


def lab_missing() -> str | None:
    """Why the bundled lab cannot start in this install, as the end of a sentence
    ("is not installed (missing aiohttp): pip install 'exops[lab]'"), or None."""
    absent = [m for m in LAB_MODULES if importlib.util.find_spec(m) is None]
    if not absent:
        return None
    return f"is not installed (missing {', '.join(absent)}): {LAB_INSTALL}"


def bindable(ip: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        try:
            s.bind((ip, port))
        except OSError:
            return False
    return True


def free_port(ip: str) -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((ip, 0))
        return int(s.getsockname()[1])


def free_subnet(
    peers: int,
    *,
    first: int = 240,
    last: int = 254,
    https_port: int | None = None,
    ssh_port: int | None = None,
) -> tuple[str, int, int]:
    """A loopback ``127.N`` whose peer addresses can take two free ports (https, ssh).

    Raises:
        UsageError: no free subnet in ``127.first..127.last``.
    """
    for n in range(first, last + 1):
        ips = [f"127.{n}.1.{10 + k}" for k in range(1, peers + 1)]
        try:
            https, ssh = https_port or free_port(ips[0]), ssh_port or free_port(ips[0])
        except OSError:
            continue
        if https != ssh and all(bindable(ip, https) and bindable(ip, ssh) for ip in ips):
            return f"127.{n}", https, ssh
    raise UsageError(f"no free loopback subnet in 127.{first}-{last}: pass --subnet")


def read_lab_env(path: Path) -> dict[str, str]:
    """The ``KEY=value`` lines of a lab's documented ``lab.env``."""
    env: dict[str, str] = {}
    for line in path.read_text().splitlines():
        key, sep, value = line.strip().partition("=")
        if sep and key and not key.startswith("#"):
            env[key.removeprefix("export ").strip()] = value.strip().strip("'\"")
    return env

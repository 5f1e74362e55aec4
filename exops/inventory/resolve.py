"""Name resolution as exops sees it: an optional hosts file, then DNS.

The hosts file (``EXOPS_HOSTS_FILE``, /etc/hosts format) lets a lab or a
change window pin names without touching the system resolver; it is
consulted first, like the cluster address mapping on the appliances.
"""

from __future__ import annotations

import socket
from functools import lru_cache
from pathlib import Path

from exops.core.files import read_capped

MAX_HOSTS_FILE_BYTES = 4 * 1024 * 1024


@lru_cache(maxsize=8)
def _hosts_table(path: str) -> dict[str, tuple[str, ...]]:
    """The hosts file's names -> addresses: a regular file, read bounded (core.files)."""
    table: dict[str, list[str]] = {}
    raw = read_capped(path, MAX_HOSTS_FILE_BYTES, "hosts file (EXOPS_HOSTS_FILE)")
    for line in raw.decode("utf-8", errors="replace").splitlines():
        fields = line.split("#", 1)[0].split()
        if len(fields) >= 2:
            for name in fields[1:]:
                table.setdefault(name.lower(), []).append(fields[0])
    return {k: tuple(v) for k, v in table.items()}


def resolve(name: str, *, hosts_file: str | None = None) -> tuple[str, ...]:
    """Every address ``name`` resolves to; empty when it does not resolve."""
    if not name:
        return ()
    if hosts_file and Path(hosts_file).is_file():
        hit = _hosts_table(hosts_file).get(name.lower())
        if hit:
            return hit
    try:
        infos = socket.getaddrinfo(name, None, proto=socket.IPPROTO_TCP)
    except (OSError, UnicodeError):
        return ()
    return tuple(dict.fromkeys(str(info[4][0]) for info in infos))

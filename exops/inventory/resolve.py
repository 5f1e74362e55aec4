"""Name resolution as exops sees it: an optional hosts file, then the system resolver.

The hosts file (``EXOPS_HOSTS_FILE``, /etc/hosts format) lets a lab or a
change window pin names without touching the system resolver; it is
consulted first, like the cluster address mapping on the appliances, for
both kinds of names exops looks up:

- a peer's management ``hostname`` (the name exops connects to): the hosts
  file's first address for it is where exops connects, while TLS and SSH
  still verify the name itself (certificate SNI and names, known_hosts
  entries under that name); a name the hosts file lacks goes to the system
  resolver (DNS, /etc/hosts, as every other program on the host);
- a peer's cluster FQDN (``data.fqdn``), for the checks that compare what it
  resolves to with the peer's own addresses (``fqdn_resolves``, ``no_nat``).

A name that does not resolve is refused with one line naming the resolver
asked: "the hosts file PATH", or "the system resolver" with why the hosts file
did not answer (not set, not listing the name, not a readable file).
"""

from __future__ import annotations

import socket
from functools import lru_cache
from pathlib import Path

from exops.core.models import is_ip

MAX_HOSTS_BYTES = 4 * 1024 * 1024  # a hosts file larger than this is no hosts file


@lru_cache(maxsize=8)
def _hosts_table(path: str) -> dict[str, tuple[str, ...]]:
    with Path(path).open("rb") as f:
        raw = f.read(MAX_HOSTS_BYTES + 1)
    if len(raw) > MAX_HOSTS_BYTES:
        raise ValueError(f"larger than {MAX_HOSTS_BYTES // (1024 * 1024)} MiB")
    table: dict[str, list[str]] = {}
    for line in raw.decode("utf-8", "replace").splitlines():
        fields = line.split("#", 1)[0].split()
        if len(fields) >= 2:
            for name in fields[1:]:
                table.setdefault(name.lower(), []).append(fields[0])
    return {k: tuple(v) for k, v in table.items()}


def _from_file(name: str, hosts_file: str | None) -> tuple[tuple[str, ...], str]:
    """(addresses the hosts file gives ``name``, why none when empty)."""
    if not hosts_file:
        return (), "no EXOPS_HOSTS_FILE set"
    try:
        if not Path(hosts_file).is_file():
            raise OSError("not a file")
        hit = _hosts_table(hosts_file).get(name.lower(), ())
    except (OSError, ValueError):
        return (), f"the hosts file {hosts_file} is not a readable file"
    return hit, "" if hit else f"{name} is not in the hosts file {hosts_file}"


def resolve(name: str, *, hosts_file: str | None = None) -> tuple[str, ...]:
    """Every address ``name`` resolves to; empty when it does not resolve."""
    if not name:
        return ()
    hit, _ = _from_file(name, hosts_file)
    if hit:
        return hit
    try:
        infos = socket.getaddrinfo(name, None, proto=socket.IPPROTO_TCP)
    except (OSError, UnicodeError):
        return ()
    return tuple(dict.fromkeys(str(info[4][0]) for info in infos))


def management_address(hostname: str, hosts_file: str | None) -> tuple[str | None, str]:
    """Where exops connects for ``hostname``: ``(address, resolver)``.

    ``address`` is the hosts file's (first) address for the name, or None when
    the name is an IP address or left to the system resolver; ``resolver`` says
    who answers for the name, for error messages ("" for an IP address).
    """
    if is_ip(hostname.strip("[]")):
        return None, ""
    hit, why = _from_file(hostname, hosts_file)
    if hit:
        return hit[0], f"the hosts file {hosts_file}"
    return None, f"the system resolver ({why})"

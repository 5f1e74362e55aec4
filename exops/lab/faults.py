"""One fault hook for both front ends (REST and SSH).

A front end asks ``fault_gate`` once per request (REST) or CLI line (SSH),
before it checks credentials, and gets a ``Gate``: how long to wait, whether
to drop the connection, and how to send the answer once it is made: ``late_s``
(hold the finished answer that long: the request took effect, its answer comes
after the client's deadline) and ``trickle_s`` (send it one byte per that many
seconds: REST status line, headers and body; SSH the answer text). After the
credentials pass it asks ``fault_answer`` for an injected error answer
(``http_error``, ``cdb_unavailable``), and after the handler ran, ``garbage``
for a body to swap in; SSH asks ``auth_rejected`` when it checks credentials.
Faults with a ``count`` are used up here, so a front end never touches
``Lab.faults`` itself.

Matching rules: ``peer`` must match; ``iface`` (``rest`` / ``ssh``) matches
when the fault names none or the same one; ``path_prefix`` matches the
request path (REST) or the CLI line (SSH) by prefix, case-sensitive.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from exops.lab.lab import Lab, Peer

CDB_PREFIX = "/api/management/"
CDB_UNAVAILABLE_MESSAGE = "Cluster database is not fully running"  # MOCK-DEFINED text


@dataclass(frozen=True)
class Gate:
    """What faults do to one request before it is answered."""

    delay_s: float = 0.0
    drop: bool = False
    late_s: float = 0.0  # ``late``: the answer, once made, is held this long
    trickle_s: float = 0.0  # ``trickle``: the answer goes out one byte per this interval


def _matches(f: dict[str, Any], peer: Peer, iface: str, path: str, default_prefix: str) -> bool:
    if f.get("peer") != peer.name:
        return False
    if f.get("iface") not in (None, iface):
        return False
    return path.startswith(str(f.get("path_prefix", default_prefix)))


def _first(lab: Lab, kind: str, peer: Peer, iface: str, path: str, prefix: str = "") -> Any:
    return next((f for f in lab.faults_of(kind) if _matches(f, peer, iface, path, prefix)), None)


def fault_gate(lab: Lab, peer: Peer, iface: str, path: str, write: bool) -> Gate:
    """Delay (``latency`` REST only, ``slow``), ``drop``, ``late`` and ``trickle`` for
    one request or CLI line (also dropped: every request to a peer that is down).

    ``path`` is the REST path with its query, or the CLI line (``""``: the SSH
    welcome, which only a fault without a ``path_prefix`` matches). A ``drop``,
    ``late`` or ``trickle`` with a count is used up by this call.
    """
    delay = lab.latency_ms(peer.name) / 2000.0 if iface == "rest" else 0.0
    slow = _first(lab, "slow", peer, iface, path)
    if slow is not None:
        delay += float(slow.get("seconds", 1.0))
    drop = _first(lab, "drop", peer, iface, path)
    if drop is not None:
        lab.use_fault(drop)
    # A peer down for a restart (or made unreachable) answers nothing, also in the
    # instant before its listeners are closed: never "uptime 0" from a peer that is down.
    down = not lab.reachable(peer)
    late = _first(lab, "late", peer, iface, path)
    if late is not None:
        lab.use_fault(late)
    trickle = _first(lab, "trickle", peer, iface, path)
    if trickle is not None:
        lab.use_fault(trickle)
    return Gate(
        delay_s=delay,
        drop=drop is not None or down,
        late_s=float(late.get("seconds", 10.0)) if late is not None else 0.0,
        trickle_s=float(trickle.get("interval", 1.0)) if trickle is not None else 0.0,
    )


def welcome_trickle(lab: Lab, peer: Peer) -> float:
    """The interval of an SSH ``trickle`` without a ``path_prefix`` (it trickles the
    welcome too: a login that never ends), or 0. Its count is not used up here."""
    f = next(
        (
            f
            for f in lab.faults_of("trickle")
            if f.get("peer") == peer.name
            and f.get("iface") in (None, "ssh")
            and not f.get("path_prefix")
        ),
        None,
    )
    return float(f.get("interval", 1.0)) if f is not None else 0.0


def auth_rejected(lab: Lab, peer: Peer) -> bool:
    """``ssh_auth_reject``: the peer's SSH refuses every credential (the right ones too)."""
    return lab.fault_for("ssh_auth_reject", peer.name) is not None


def fault_answer(
    lab: Lab, peer: Peer, iface: str, path: str, write: bool
) -> tuple[int, str] | None:
    """An injected error answer ``(status, message)`` after the auth check, or None.

    ``cdb_unavailable`` answers ``status`` (503, or 408) on the cluster
    database paths, reads and writes alike, as a real CDB that is not fully
    running does; ``http_error`` answers ``status`` (500) under its prefix.
    """
    if iface != "rest":
        return None
    busy = _first(lab, "cdb_unavailable", peer, iface, path, CDB_PREFIX)
    if busy is not None:
        lab.use_fault(busy)
        return int(busy.get("status", 503)), CDB_UNAVAILABLE_MESSAGE
    failing = _first(lab, "http_error", peer, iface, path, "/")
    if failing is not None:
        lab.use_fault(failing)
        return int(failing.get("status", 500)), "Internal server error (injected)"
    return None


def garbage(lab: Lab, peer: Peer, path: str, write: bool) -> str | None:
    """The ``garbage`` mode (``junk``/``truncated``/``oversized``) for this REST GET, or None."""
    if write:
        return None
    f = _first(lab, "garbage", peer, "rest", path, "/api/")
    if f is None:
        return None
    lab.use_fault(f)
    return str(f.get("mode", "junk"))

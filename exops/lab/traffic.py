"""Calls and registrations per peer, and what maintenance mode does to them.

What the lab models (evidence interface-2026-12.md, Table A "maintenance mode:
effect" and "calls/registrations per peer", CONFIRMED effects):

* each peer carries current calls by type (the ``ResourceUsage`` tree's
  ``Calls Traversal/NonTraversal/CollaborationEdge/Cloud/MicrosoftContent/
  MicrosoftIMP``) and current registrations, with ``Max`` and ``Total``;
* a peer in maintenance mode takes no new calls or registrations; its existing
  calls run on and end over time (half of them, rounded up, every ``STEP_S``
  simulated seconds), and as they end the callers' new calls land on the other
  peers of its cluster; its registrations expire and re-register on the other
  peers (half, rounded up, every step); MRA calls (``CollaborationEdge``)
  through it drop when maintenance mode is switched on (they re-establish
  elsewhere);
* a peer that restarts drops its calls (re-established elsewhere), its
  registrations move, and it comes back with maintenance mode off ("Maintenance
  mode is automatically disabled if the peer is restarted.").

Maintenance mode is set the way the evidence shows: on the web page only. The
lab's control API plays the operator on that page (``PATCH /peers/<peer>``
``{"maintenance_mode": true}``, a web-change log line); the cluster database
REST write that ``exops.lab.rest`` also accepts is unverified and exops never
sends it. ``xStatus ResourceUsage`` renders ``resource_usage_tree``; the CDB
``configuration/system.maintenance_mode`` record (``exops.lab.rest``) shows the
flag (``on``/``off``: MOCK-DEFINED values, docs/contract.md section 13).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from exops.lab.lab import Lab, Peer

CALL_TYPES = (
    "Traversal",
    "NonTraversal",
    "CollaborationEdge",
    "Cloud",
    "MicrosoftContent",
    "MicrosoftIMP",
)
MRA = "CollaborationEdge"
STEP_S = 30.0  # simulated seconds between two drain steps


@dataclass
class Usage:
    """One peer's current calls by type and registrations, with Max and Total."""

    calls: dict[str, int] = field(default_factory=lambda: dict.fromkeys(CALL_TYPES, 0))
    registrations: int = 0
    max_calls: dict[str, int] = field(default_factory=lambda: dict.fromkeys(CALL_TYPES, 0))
    total_calls: dict[str, int] = field(default_factory=lambda: dict.fromkeys(CALL_TYPES, 0))
    max_registrations: int = 0
    total_registrations: int = 0
    booted_at: float = 0.0  # the peer's boot time when last seen (a restart is noticed)
    last_step: float = 0.0

    def add_calls(self, kind: str, n: int) -> None:
        if n <= 0:
            return
        self.calls[kind] += n
        self.total_calls[kind] += n
        self.max_calls[kind] = max(self.max_calls[kind], self.calls[kind])

    def add_registrations(self, n: int) -> None:
        if n <= 0:
            return
        self.registrations += n
        self.total_registrations += n
        self.max_registrations = max(self.max_registrations, self.registrations)


class Traffic:
    """The calls and registrations of every peer of one lab."""

    def __init__(self, lab: Lab):
        self.lab = lab
        self.usage: dict[str, Usage] = {
            name: Usage(booted_at=p.boot_time) for name, p in lab.peers.items()
        }

    def of(self, peer: Peer) -> Usage:
        return self.usage.setdefault(peer.name, Usage(booted_at=peer.boot_time))

    @property
    def step_s(self) -> float:
        return STEP_S * self.lab.time_scale

    # -- the operator's hand -------------------------------------------------------
    def seed(self, peer: Peer, calls: dict[str, Any] | None, registrations: Any) -> None:
        """Set a peer's current calls (by type) and registrations (control API)."""
        u = self.of(peer)
        for kind, n in (calls or {}).items():
            if kind not in CALL_TYPES or not isinstance(n, int) or n < 0:
                raise ValueError(f"calls: {kind}={n!r} (types: {', '.join(CALL_TYPES)})")
            u.calls[kind] = 0
            u.add_calls(kind, n)
        if registrations is not None:
            if not isinstance(registrations, int) or registrations < 0:
                raise ValueError(f"registrations: {registrations!r} is not a count")
            u.registrations = 0
            u.add_registrations(registrations)

    def set_maintenance(self, peer: Peer, on: bool, now: float) -> None:
        """Maintenance mode set on the web page (Maintenance > Maintenance mode, Save)."""
        if peer.maintenance_mode == on:
            return
        peer.maintenance_mode = on
        peer.emit(
            "httpd",
            Event="System Configuration Changed",
            Detail=f"maintenance mode - changed to: {'On' if on else 'Off'}",
        )
        self.lab.evaluate(peer)  # the maintenance alarm, raised or lowered at once
        u = self.of(peer)
        u.last_step = now
        if on:  # MRA calls through the peer are dropped; the clients call again elsewhere
            self._move_calls(peer, MRA, u.calls[MRA])

    # -- time ----------------------------------------------------------------------
    def tick(self, now: float) -> None:
        for peer in self.lab.peers.values():
            u = self.of(peer)
            if peer.boot_time != u.booted_at:  # it restarted: the vendor's rule
                u.booted_at = peer.boot_time
                peer.maintenance_mode = False
            if not peer.running:
                self._shed(peer, everything=True)
                continue
            if peer.maintenance_mode and now - u.last_step >= self.step_s * (1 - 1e-9):
                u.last_step = now
                self._shed(peer, everything=False)

    def _shed(self, peer: Peer, *, everything: bool) -> None:
        u = self.of(peer)
        for kind in CALL_TYPES:
            n = u.calls[kind] if everything else math.ceil(u.calls[kind] / 2)
            self._move_calls(peer, kind, n)
        n = u.registrations if everything else math.ceil(u.registrations / 2)
        targets = self._others(peer)
        u.registrations -= n
        for i in range(n):  # re-register, spread over the other peers
            if targets:
                self.of(targets[i % len(targets)]).add_registrations(1)

    def _move_calls(self, peer: Peer, kind: str, n: int) -> None:
        """``n`` calls end on ``peer``; the callers' new calls go to the other peers."""
        u = self.of(peer)
        n = min(n, u.calls[kind])
        u.calls[kind] -= n
        targets = self._others(peer)
        for i in range(n):
            if targets:
                self.of(targets[i % len(targets)]).add_calls(kind, 1)

    def _others(self, peer: Peer) -> list[Peer]:
        """The peers of its cluster that take new calls: running, not in maintenance."""
        return [
            p
            for p in self.lab.peers.values()
            if p is not peer
            and p.cluster == peer.cluster
            and (p.group or "") == (peer.group or "")
            and p.running
            and not p.maintenance_mode
        ]

    # -- what the interfaces show ----------------------------------------------------
    def resource_usage_tree(self, peer: Peer) -> dict[str, Any]:
        """``xStatus ResourceUsage`` after the real X8.11.3 tree (Calls by type, each
        Current/Max/Total, then Registrations)."""
        u = self.of(peer)
        calls = {
            kind: {
                "Current": str(u.calls[kind]),
                "Max": str(u.max_calls[kind]),
                "Total": str(u.total_calls[kind]),
            }
            for kind in CALL_TYPES
        }
        return {
            "Calls": calls,
            "Registrations": {
                "Current": str(u.registrations),
                "Max": str(u.max_registrations),
                "Total": str(u.total_registrations),
            },
        }

    def state(self, peer: Peer) -> dict[str, Any]:
        u = self.of(peer)
        return {
            "maintenance_mode": peer.maintenance_mode,
            "calls": dict(u.calls),
            "calls_total": sum(u.calls.values()),
            "registrations": u.registrations,
        }


def traffic_of(lab: Lab) -> Traffic:
    """The lab's traffic model (created on first use)."""
    found = getattr(lab, "traffic", None)
    if not isinstance(found, Traffic):
        found = Traffic(lab)
        lab.traffic = found  # type: ignore[attr-defined]
    return found

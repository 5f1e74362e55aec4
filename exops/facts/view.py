"""The cluster as runbook expressions see it: members, primary, helpers (pure, read-only).

``ClusterView`` is built once from the gathered facts at the start of planning
(the cluster as it *is*); per-target values come from the planner's predicted
state (``target``). Jinja expressions in runbook files call these helpers.
"""

from __future__ import annotations

from typing import Any

from exops.core.models import (
    MAX_PEERS,
    ClusterFacts,
    ClusterSettings,
    PeerFacts,
    TlsMode,
    is_fqdn,
)
from exops.facts.address import designates
from exops.facts.address import host_of as _host_of

CLOCK_RESOLUTION_S = 1  # SystemTime and Uptime are whole seconds


class ClusterView:
    def __init__(self, facts: ClusterFacts):
        self.facts = facts
        self.hosts = [p.host for p in facts.peers]
        self._ref = _reference(facts)
        self.settings: ClusterSettings = (
            self._ref.settings if self._ref and self._ref.settings else ClusterSettings()
        )

    # -- identity -------------------------------------------------------------
    def peer(self, host: str) -> PeerFacts:
        return self.facts.peer(host)

    def address(self, host: str) -> str:
        return self.peer(host).address

    def fqdn(self, host: str) -> str:
        return self.peer(host).fqdn

    def host_of(self, addr: str) -> str | None:
        """The inventory host an address designates (exops.facts.address)."""
        return _host_of(self.facts, addr)

    # -- addressing ----------------------------------------------------------------
    @property
    def cluster_fqdn(self) -> str:
        """The inventory group's cluster name (an FQDN), or "" when not known."""
        return self.facts.cluster_name

    @property
    def tls_enforced(self) -> bool:
        return self.settings.tls_mode is TlsMode.ENFORCE

    @property
    def by_fqdn(self) -> bool:
        """Members are listed by FQDN (every listed address), or the cluster is in
        TLS Enforce mode: a peer must then be listed by its FQDN (domain 3.2, 3.4)."""
        listed = self.settings.listed
        return self.tls_enforced or (bool(listed) and all(is_fqdn(a) for a in listed))

    def listing(self, host: str) -> str:
        """The address ``host`` is (or would be) listed under on this cluster: its
        inventory FQDN when the members are listed by FQDN or TLS is enforced,
        its inventory address otherwise."""
        slot = self.slot_of(host)
        if slot is not None:
            return self.settings.peers[slot - 1]
        if self.by_fqdn and self.fqdn(host):
            return self.fqdn(host)
        return self.address(host)

    # -- membership (as the reference peer lists it) ----------------------------
    @property
    def clustered(self) -> bool:
        return not self.settings.is_empty

    @property
    def primary_slot(self) -> int:
        return self.settings.primary

    @property
    def primary(self) -> str | None:
        addr = self.settings.primary_address
        return self.host_of(addr) if addr else None

    @property
    def members(self) -> list[str]:
        """Hosts listed in the cluster, in slot order (unknown addresses skipped)."""
        out = []
        for a in self.settings.peers:
            host = self.host_of(a) if a else None
            if host:
                out.append(host)
        return out

    @property
    def waiting_restart(self) -> list[str]:
        """Members that answered with a restart pending (the restart-required alarm)."""
        from exops.facts.health import restart_pending

        return [
            h for h in self.members if (p := self.facts.peer(h)).reachable and restart_pending(p)
        ]

    @property
    def unreachable_members(self) -> list[str]:
        return [h for h in self.members if not self.facts.peer(h).reachable]

    @property
    def subordinates(self) -> list[str]:
        return [h for h in self.members if h != self.primary]

    @property
    def size(self) -> int:
        return len(self.settings.listed)

    def slot_of(self, host: str) -> int | None:
        p = self.peer(host)
        for i, a in enumerate(self.settings.peers, start=1):
            if a and designates(p, a):
                return i
        return None

    def listed(self, host: str) -> bool:
        return self.slot_of(host) is not None

    def lists(self, settings: ClusterSettings | None, host: str) -> bool:
        """True when ``settings`` (one peer's own list, e.g. ``current``) list ``host``.

        The per-target form of ``listed``: a step that must run on every peer
        still listing ``host`` asks each target's own list, never the
        reference peer's (a re-run after a kill finds them disagreeing).
        """
        if settings is None:
            return False
        p = self.peer(host)
        return any(
            settings.slot_of(a) is not None for a in (p.address, p.fqdn, *self._lans(p)) if a
        )

    @staticmethod
    def _lans(p: PeerFacts) -> tuple[str, ...]:
        return tuple(a for a in (p.system.lan1, p.system.lan2) if a) if p.system else ()

    def host_at(self, slot: int) -> str | None:
        a = self.settings.peers[slot - 1] if 1 <= slot <= MAX_PEERS else ""
        return self.host_of(a) if a else None

    @property
    def slots(self) -> list[int]:
        return [i for i, a in enumerate(self.settings.peers, start=1) if a]

    @property
    def first_host(self) -> str:
        """The inventory's first peer (slot order): the default future primary."""
        return self.hosts[0]

    # -- list helpers for `settings:` values -------------------------------------
    def peers_with(self, host: str) -> list[str]:
        """The cluster's peer list with ``host`` in the first empty slot (unchanged if listed)."""
        peers = list(self.settings.peers)
        if self.listed(host):
            return peers
        for i, a in enumerate(peers):
            if not a:
                peers[i] = self.listing(host)
                return peers
        return peers  # full: the size check refuses the plan

    def peers_without(self, host: str) -> list[str]:
        """The list without ``host``, compacted (no gaps, same order)."""
        p = self.peer(host)
        kept = [a for a in self.settings.peers if a and not designates(p, a)]
        return kept + [""] * (MAX_PEERS - len(kept))

    def primary_slot_without(self, host: str) -> int:
        """The primary's slot number once ``host`` is removed and the list compacted."""
        primary = self.primary
        if primary is None:
            return 0
        kept = [a for a in self.peers_without(host) if a]
        for i, a in enumerate(kept, start=1):
            if self.host_of(a) == primary:
                return i
        return 0

    def own_only(self, host: str) -> list[str]:
        """A one-peer list naming only ``host`` by its address (create-cluster)."""
        return [self.address(host)] + [""] * (MAX_PEERS - 1)

    def replace_slot(self, peers: Any, slot: int, address: str) -> list[str]:
        out = list(peers)
        out[slot - 1] = address
        return out

    def fqdn_for_slot(self, slot: int) -> str:
        host = self.host_at(slot)
        if not host or not self.fqdn(host):
            return self.settings.peers[slot - 1]
        return self.fqdn(host)

    def mapping_from_inventory(self) -> list[tuple[str, str]]:
        """One (FQDN, IP) pair per member, from the inventory."""
        pairs = []
        for h in self.members:
            system = self.peer(h).system
            lan1 = system.lan1 if system and system.lan1 else None
            if self.fqdn(h):
                pairs.append((self.fqdn(h), lan1 or self.address(h)))
        return pairs

    @property
    def reachable_members(self) -> list[str]:
        return [h for h in self.members if self.peer(h).reachable]

    @property
    def out_of_sync(self) -> list[str]:
        """Subordinates raising a replication-error alarm (repair-replication targets)."""
        from exops.facts.health import replication_alarms

        return [
            h
            for h in self.subordinates
            if {a.id for a in self.peer(h).raised_alarms} & replication_alarms()
        ]

    @property
    def primaries_named(self) -> list[str]:
        """The distinct configuration primaries the reachable, clustered peers name
        (more than one: the peers disagree on the primary)."""
        return sorted(
            {
                (p.settings.primary_address or "none").lower()
                for p in self.facts.peers
                if p.reachable and p.settings is not None and not p.settings.is_empty
            }
        )

    def others(self, *exclude: str | None) -> list[str]:
        return [h for h in self.members if h not in exclude]

    def booted_after(self, host: str, since: str | None) -> bool:
        """True when ``host`` restarted after ``since`` (ISO time): --resume support.

        The boot time is read on the appliance's own clock: its system time
        minus its uptime, both from the same answer (so a lab in compressed
        time, or an exops host whose clock is not the appliance's, gives the
        right answer). Without a system time (an answer that does not offer
        it), exops's own clock stands in: ``gathered_at - uptime``.
        """
        from datetime import UTC, datetime, timedelta

        p = self.peer(host)
        if not since or not p.system or p.system.uptime_s is None:
            return False
        now = p.system.system_time or p.gathered_at
        if now is None:
            return False
        boot = now - timedelta(seconds=p.system.uptime_s)
        start = datetime.fromisoformat(since)
        if start.tzinfo is None:
            start = start.replace(tzinfo=UTC)
        if boot.tzinfo is None:
            boot = boot.replace(tzinfo=UTC)
        # Both clocks read in whole seconds: a boot within a second of the start is
        # not known to be after it, and a restart too many beats one skipped.
        return boot > start + timedelta(seconds=CLOCK_RESOLUTION_S)


def _reference(facts: ClusterFacts) -> PeerFacts | None:
    """The peer whose settings stand for the cluster: the agreed primary.

    The same consensus ``exops status`` uses: it works when the primary
    itself is down (switch-primary).
    """
    from exops.facts.health import consensus_settings_peer

    return consensus_settings_peer(facts)

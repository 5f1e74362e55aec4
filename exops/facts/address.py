"""Does this address designate that peer: the one rule, for every stage.

A peer is designated by its inventory address (usually its IP) and by its
inventory FQDN, compared case-insensitively with a trailing dot ignored
(``exops.core.models.address_key``): when the facts know both, a list naming
the peer by FQDN and one naming it by IP name the same peer. Status,
preflight, the planner, the safety rules and the verify conditions all ask
these functions, so they cannot disagree on who an address is.
"""

from __future__ import annotations

from collections.abc import Iterable

from exops.core.models import ClusterFacts, PeerFacts, address_key


def names_of(peer: PeerFacts) -> frozenset[str]:
    """The compared forms of the addresses that designate ``peer``."""
    return frozenset({address_key(peer.address), address_key(peer.fqdn)} - {""})


def designates(peer: PeerFacts, address: str) -> bool:
    """True when ``address`` names ``peer`` (its inventory address or FQDN)."""
    key = address_key(address)
    return bool(key) and key in names_of(peer)


def peer_of(peers: ClusterFacts | Iterable[PeerFacts], address: str) -> PeerFacts | None:
    """The peer ``address`` designates, or None."""
    found = peers.peers if isinstance(peers, ClusterFacts) else peers
    return next((p for p in found if designates(p, address)), None)


def host_of(peers: ClusterFacts | Iterable[PeerFacts], address: str) -> str | None:
    """The inventory host ``address`` designates, or None."""
    p = peer_of(peers, address)
    return p.host if p else None


def same_peer(peers: ClusterFacts | Iterable[PeerFacts], a: str, b: str) -> bool:
    """``a`` and ``b`` name the same peer: one peer both designate, or the same address
    (two empty addresses are the same: both name no peer)."""
    if address_key(a) == address_key(b):
        return True
    if not a or not b:
        return False
    found = tuple(peers.peers if isinstance(peers, ClusterFacts) else peers)
    host = host_of(found, a)
    return host is not None and host == host_of(found, b)

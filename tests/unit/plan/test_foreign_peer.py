"""A peer that belongs to another cluster is never pulled in (issue 19).

The vendor rule: a peer joins only once it lists no other peers. add-peer and
create-cluster read the new peer's own list first and refuse when it names an
address that is not a member of the target cluster (its cluster-wide settings
would otherwise spread through the other cluster's database).
"""

from __future__ import annotations

import pytest
from factkit import ADDR, cluster, peer, plan

from exops.core.models import ClusterSettings
from exops.plan.preflight import foreign_addresses


def _foreign(i: int, listed: list[int], *, primary: int = 1, name: str = "c2.example.com"):  # type: ignore[no-untyped-def]
    """Peer i, a live member of another cluster listing ``listed`` (indices into ADDR)."""
    p = peer(i, listed, primary=primary)
    assert p.settings is not None
    settings = ClusterSettings(
        peers=p.settings.peers, primary=p.settings.primary, cluster_name=name
    )
    return p.model_copy(update={"settings": settings})


def test_add_peer_refuses_a_member_of_another_cluster() -> None:
    # p3 is a member of c2 (it lists itself and two peers no inventory host of c1 is).
    facts = cluster(peer(0, [0, 1]), peer(1, [0, 1]), _foreign(2, [4, 2, 5]))
    p = plan("add-peer", facts, peer="p3")
    assert p.refused is not None
    assert p.actions == ()
    assert "p3 belongs to another cluster" in p.refused
    assert "c2.example.com" in p.refused and f"primary {ADDR[4]}" in p.refused
    assert f"{ADDR[4]}, {ADDR[5]}" in p.refused
    assert "exops remove-peer -c CLUSTER --peer p3" in p.refused


def test_add_peer_refuses_it_on_a_cluster_of_one_too() -> None:
    """One member against the other cluster's primary: a tie the consensus must not
    settle in the other cluster's favour (the judged peer has no vote)."""
    facts = cluster(peer(0, [0]), _foreign(1, [1, 4], primary=1))
    p = plan("add-peer", facts, peer="p2")
    assert p.refused and "p2 belongs to another cluster" in p.refused


def test_create_cluster_refuses_a_member_of_another_cluster() -> None:
    facts = cluster(_foreign(0, [4, 0]), peer(1, []), peer(2, []))
    p = plan("create-cluster", facts, peer="p1")
    assert p.refused and "p1 belongs to another cluster" in p.refused
    assert p.actions == ()


@pytest.mark.parametrize(
    "facts",
    [
        # a new peer with an empty list: the normal case
        cluster(peer(0, [0, 1]), peer(1, [0, 1]), peer(2, [])),
        # a re-run after the new peer was configured (it lists exactly the cluster)
        cluster(peer(0, [0, 1, 2]), peer(1, [0, 1, 2]), peer(2, [0, 1, 2])),
        # a re-run killed before the subordinate listed it: the new peer lists the
        # cluster as the primary does
        cluster(peer(0, [0, 1, 2]), peer(1, [0, 1]), peer(2, [0, 1, 2])),
    ],
)
def test_a_new_peer_listing_only_members_is_not_foreign(facts) -> None:  # type: ignore[no-untyped-def]
    assert foreign_addresses(facts, "p3") == ()
    p = plan("add-peer", facts, peer="p3")
    assert p.refused is None, p.refused


def test_a_member_listed_by_fqdn_is_not_foreign() -> None:
    """The cluster lists p2 by IP, the new peer by its FQDN (a convert-fqdn half done):
    the same member."""
    p3 = peer(2, [0, 1, 2])
    assert p3.settings is not None
    peers = (ADDR[0], "exp2.example.com", ADDR[2], "", "", "")
    p3 = p3.model_copy(update={"settings": p3.settings.model_copy(update={"peers": peers})})
    facts = cluster(peer(0, [0, 1]), peer(1, [0, 1]), p3)
    assert foreign_addresses(facts, "p3") == ()

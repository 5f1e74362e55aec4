"""settings_writes / apply_writes: minimal, exact, and never empty a list by accident."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from exops.appliance.base import Field, apply_writes, settings_writes
from exops.models import AddressMapping, ClusterSettings, IpVersion, TlsMode

POOL = ["10.0.0.11", "10.0.0.12", "10.0.0.13", "p4.example.com"]
# Six slots: distinct addresses (an appliance never lists one twice) and empty slots.
peer_slots = st.lists(st.sampled_from(POOL), unique=True, max_size=4).flatmap(
    lambda named: st.permutations([*named, *[""] * (6 - len(named))])
)
mapping = st.lists(
    st.builds(
        AddressMapping,
        name=st.sampled_from(["a.example.com", "b.example.com"]),
        address=st.sampled_from(["192.0.2.1", "192.0.2.2"]),
    ),
    max_size=3,
)
settings = st.builds(
    ClusterSettings,
    peers=peer_slots.map(tuple),
    primary=st.integers(0, 6),
    cluster_name=st.sampled_from(["", "c1.example.com"]),
    ip_version=st.sampled_from(list(IpVersion)),
    tls_mode=st.sampled_from(list(TlsMode)),
    mapping_enabled=st.booleans(),
    mapping=mapping.map(tuple),
)


@given(settings, settings)
def test_writes_reach_exactly_the_target(before: ClusterSettings, after: ClusterSettings) -> None:
    writes = settings_writes(before, after)
    assert apply_writes(before, writes) == after
    assert settings_writes(after, after) == ()


@given(settings, settings)
def test_no_intermediate_state_empties_every_slot(
    before: ClusterSettings, after: ClusterSettings
) -> None:
    """Written one at a time, no prefix of the writes leaves all slots empty
    unless both ends are empty (the factory-reset hazard, domain 3.9)."""
    state = list(before.peers)  # slot by slot (a transient duplicate is not a model state)
    for w in settings_writes(before, after):
        if w.field is Field.PEER_ADDRESS and w.index:
            state[w.index - 1] = str(w.value)
            if not any(state):
                assert before.is_empty or after.is_empty


@given(settings, settings)
def test_no_intermediate_state_lists_an_address_twice(
    before: ClusterSettings, after: ClusterSettings
) -> None:
    """A run killed between two writes leaves a list the appliance can hold: never the
    same address in two slots (which reads as a garbled answer), except in the one case
    where it cannot be avoided without emptying the list: the only listed address
    moving to another slot."""
    state = list(before.peers)
    for w in settings_writes(before, after):
        if w.field is Field.PEER_ADDRESS and w.index:
            state[w.index - 1] = str(w.value)
            named = [a.lower() for a in state if a]
            assert len(named) == len(set(named)) or len(set(named)) == 1, state


def test_compacting_clears_the_moved_address_first_and_the_primary_last() -> None:
    # remove-peer of slot 2: [11, 12, 13] -> [11, 13]. Writing slot 2 first would list
    # 13 twice; clearing slot 3 first never does, and never empties the list.
    before = ClusterSettings(peers=("10.0.0.11", "10.0.0.12", "10.0.0.13", "", "", ""), primary=3)
    after = ClusterSettings(peers=("10.0.0.11", "10.0.0.13", "", "", "", ""), primary=2)
    writes = settings_writes(before, after)
    assert [(w.field, w.index, w.value) for w in writes] == [
        (Field.PEER_ADDRESS, 3, ""),
        (Field.PEER_ADDRESS, 2, "10.0.0.13"),
        (Field.PRIMARY, None, 2),
    ]


def test_two_peers_swapping_slots_pass_through_a_cleared_slot() -> None:
    before = ClusterSettings(peers=("10.0.0.11", "10.0.0.12", "", "", "", ""), primary=1)
    after = ClusterSettings(peers=("10.0.0.12", "10.0.0.11", "", "", "", ""), primary=2)
    writes = [(w.index, w.value) for w in settings_writes(before, after)][:-1]
    assert writes == [(1, ""), (2, "10.0.0.11"), (1, "10.0.0.12")]

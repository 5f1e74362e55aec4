"""settings_writes / apply_writes: minimal, exact, and never empty a list by accident."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from exops.appliance.base import Field, apply_writes, settings_writes
from exops.core.models import AddressMapping, ClusterSettings, IpVersion, TlsMode

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
def test_no_intermediate_state_drops_a_peer_both_ends_list(
    before: ClusterSettings, after: ClusterSettings
) -> None:
    """A run killed between two writes never leaves a peer that both the old and the
    new list name out of the list (a peer silently dropped from the cluster)."""
    kept = {a.lower() for a in before.peers if a} & {a.lower() for a in after.peers if a}
    state = list(before.peers)
    for w in settings_writes(before, after):
        if w.field is Field.PEER_ADDRESS and w.index:
            state[w.index - 1] = str(w.value)
            assert kept <= {a.lower() for a in state if a}, state


def test_order_fills_before_clears_and_primary_last() -> None:
    # remove-peer of slot 2: [11, 12, 13] -> [11, 13]: 13 is written in its new slot
    # before its old one is cleared (a short duplicate, never a dropped peer).
    before = ClusterSettings(peers=("10.0.0.11", "10.0.0.12", "10.0.0.13", "", "", ""), primary=3)
    after = ClusterSettings(peers=("10.0.0.11", "10.0.0.13", "", "", "", ""), primary=2)
    writes = settings_writes(before, after)
    assert [(w.field, w.index, w.value) for w in writes] == [
        (Field.PEER_ADDRESS, 2, "10.0.0.13"),
        (Field.PEER_ADDRESS, 3, ""),
        (Field.PRIMARY, None, 2),
    ]

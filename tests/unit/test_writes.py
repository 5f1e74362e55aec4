"""settings_writes / apply_writes: minimal, exact, and never empty a list by accident."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from exops.appliance.base import Field, apply_writes, settings_writes
from exops.models import AddressMapping, ClusterSettings, IpVersion, TlsMode

addresses = st.sampled_from(["", "", "10.0.0.11", "10.0.0.12", "10.0.0.13", "p4.example.com"])
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
    peers=st.tuples(*[addresses] * 6),
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
    writes = settings_writes(before, after)
    state = before
    for w in writes:
        state = apply_writes(state, [w])
        if state.is_empty:
            assert before.is_empty or after.is_empty


def test_order_fills_before_clears_and_primary_last() -> None:
    before = ClusterSettings(peers=("10.0.0.11", "10.0.0.12", "10.0.0.13", "", "", ""), primary=3)
    after = ClusterSettings(peers=("10.0.0.11", "10.0.0.13", "", "", "", ""), primary=2)
    writes = settings_writes(before, after)
    assert [(w.field, w.index, w.value) for w in writes] == [
        (Field.PEER_ADDRESS, 2, "10.0.0.13"),
        (Field.PEER_ADDRESS, 3, ""),
        (Field.PRIMARY, None, 2),
    ]

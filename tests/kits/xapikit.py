"""The answer of ``xConfiguration Alternates`` as the CLI prints it, for fakes."""

from __future__ import annotations

from collections.abc import Sequence


def alternates_answer(peers: Sequence[str], master: int, name: str = "") -> str:
    """Six peer slots, the primary, the cluster name, Permissive, IPv4, no mapping, OK."""
    slots = [*peers, *[""] * (6 - len(peers))]
    return (
        "".join(
            f'*c xConfiguration Alternates Peer {i} Address: "{a}"\n'
            for i, a in enumerate(slots, 1)
        )
        + f'*c xConfiguration Alternates ConfigurationMaster: "{master}"\n'
        + f'*c xConfiguration Alternates Cluster Name: "{name}"\n'
        + '*c xConfiguration Alternates Cluster TLSVerify Mode: "Permissive"\n'
        + '*c xConfiguration Alternates Cluster IpVersion: "IPv4"\n'
        + '*c xConfiguration Alternates Cluster AddressMapping Mode: "Off"\n'
        + "".join(
            f'*c xConfiguration Alternates Cluster AddressMapping {i} {f}: ""\n'
            for i in range(1, 7)
            for f in ("Name", "Address")
        )
        + "OK\n"
    )

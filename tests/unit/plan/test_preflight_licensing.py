"""The option-key and DNS/NTP prerequisites on facts (issue 24).

Option keys: a rule of VCS and of Expressway before X14.2. Expressway X14.2 and
later have no option keys at all (Expressway Select Release Note X14.2.5:
"Product Activation Keys (PAK) Licensing (Option Keys) are removed from Cisco
Expressway X14.2 release"), so there the check is n/a with that reason; it never
fails or passes because an option-key read returned nothing. DNS/NTP: a server
list exops could not read is unknown (the reason names the answer's shape),
never "missing".
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from exops.core.models import (
    EMPTY_SLOTS,
    ClusterFacts,
    ClusterSettings,
    OptionKey,
    PeerFacts,
    Role,
    SystemInfo,
)
from exops.plan.model import BLOCKING, CheckOutcome
from exops.plan.preflight import run_checks

ADDR = ("10.0.0.11", "10.0.0.12", "10.0.0.13")
KEYS = (
    OptionKey(key="116341-1", description="Encryption"),
    OptionKey(key="116342-1", description="Traversal Calls", count=10),
)


def _peer(i: int, **system: Any) -> PeerFacts:
    fields: dict[str, Any] = {
        "name": f"p{i}",
        "version": "X15.2.1",
        "role": Role.EXPRESSWAY_C,
        "platform": "medium",
        "dns_servers": ("192.0.2.53",),
        "ntp_servers": ("192.0.2.123",),
        "h323_enabled": True,
        "option_keys": (),
        **system,
    }
    unknown = {
        f"system.{k}": f"reason for {k}" for k, v in fields.items() if v is None and k != "platform"
    }
    return PeerFacts(
        host=f"p{i + 1}",
        address=ADDR[i],
        reachable=True,
        settings=ClusterSettings(peers=ADDR + EMPTY_SLOTS[3:], primary=1, cluster_name="c"),
        system=SystemInfo(**fields),
        unknown=unknown,
        rtt_ms=1.0,
    )


def _check(name: str, peers: list[PeerFacts]) -> Any:
    facts = ClusterFacts(cluster="c1", peers=tuple(peers), gathered_at=datetime.now(UTC))
    (result,) = run_checks(facts, [name])
    return result


# -- option keys ---------------------------------------------------------------------


@pytest.mark.parametrize("version", ["X14.2", "X14.2.5", "X15.2.1"])
@pytest.mark.parametrize("keys", [(), None, KEYS], ids=["none read", "unknown", "some"])
def test_expressway_x142_and_later_have_no_option_keys(version: str, keys: Any) -> None:
    peers = [_peer(i, version=version, option_keys=keys) for i in range(3)]
    result = _check("option_keys", peers)
    assert result.outcome is CheckOutcome.NOT_APPLICABLE
    assert "X14.2 and later have no option keys" in result.summary
    assert "Release Note X14.2.5" in result.summary
    assert result.evidence["p1"] == f"Expressway-C {version}: no option keys (Smart Licensing only)"


@pytest.mark.parametrize(
    ("role", "version"), [(Role.VCS, "X8.11.3"), (Role.VCS, "X14.3"), (Role.EXPRESSWAY_E, "X12.7")]
)
def test_vcs_and_older_expressway_compare_their_keys(role: Role, version: str) -> None:
    same = [_peer(i, role=role, version=version, option_keys=KEYS) for i in range(3)]
    result = _check("option_keys", same)
    assert result.outcome is CheckOutcome.PASS, result
    assert result.evidence["p1"].endswith("(option keys): Encryption")  # counts excepted
    differ = list(same)
    differ[2] = _peer(2, role=role, version=version, option_keys=KEYS[1:])
    result = _check("option_keys", differ)
    assert result.outcome is CheckOutcome.FAIL
    assert "p3 lacks Encryption" in result.summary
    # Licence counts may differ per peer (domain doc 2): not a failure.
    counted = list(same)
    counted[1] = _peer(1, role=role, version=version, option_keys=(KEYS[0],))
    assert _check("option_keys", counted).outcome is CheckOutcome.PASS


def test_keys_that_could_not_be_read_are_unknown_never_none() -> None:
    peers = [_peer(i, role=Role.VCS, version="X8.11.3", option_keys=KEYS) for i in range(3)]
    peers[1] = _peer(1, role=Role.VCS, version="X8.11.3", option_keys=None)
    result = _check("option_keys", peers)
    assert result.outcome is CheckOutcome.UNKNOWN and result.outcome in BLOCKING
    assert "p2" in result.summary
    assert "reason for option_keys" in result.evidence["p2"]


@pytest.mark.parametrize(
    "system",
    [{"role": None}, {"version": None}, {"version": "fifteen"}],
    ids=["role unknown", "version unknown", "version not a version"],
)
def test_which_rule_applies_unknown_is_unknown(system: dict[str, Any]) -> None:
    peers = [_peer(i) for i in range(3)]
    peers[0] = _peer(0, **system)
    result = _check("option_keys", peers)
    assert result.outcome is CheckOutcome.UNKNOWN
    assert "p1" in result.summary


def test_peers_under_different_licensing_are_unknown_not_failed() -> None:
    peers = [_peer(0, version="X14.0.7", option_keys=KEYS), _peer(1), _peer(2)]
    result = _check("option_keys", peers)
    assert result.outcome is CheckOutcome.UNKNOWN
    assert "some peers use option keys" in result.summary
    assert result.evidence["p1"] == "Expressway-C X14.0.7 (option keys)"


# -- DNS and NTP servers ----------------------------------------------------------------


def test_servers_read_in_any_documented_shape_pass() -> None:
    result = _check("base_network", [_peer(i) for i in range(3)])
    assert result.outcome is CheckOutcome.PASS
    assert result.evidence["p1"] == "DNS 192.0.2.53; NTP 192.0.2.123"


@pytest.mark.parametrize("field", ["dns_servers", "ntp_servers"])
def test_an_unreadable_server_list_is_unknown_with_its_reason(field: str) -> None:
    peers = [_peer(i) for i in range(3)]
    peers[1] = _peer(1, **{field: None})
    result = _check("base_network", peers)
    assert result.outcome is CheckOutcome.UNKNOWN and result.outcome in BLOCKING
    assert "p2" in result.summary and "missing" not in result.summary
    assert f"unknown: reason for {field}" in result.evidence["p2"]


def test_none_configured_fails_and_outranks_unknown() -> None:
    peers = [_peer(0, dns_servers=()), _peer(1, ntp_servers=None), _peer(2)]
    result = _check("base_network", peers)
    assert result.outcome is CheckOutcome.FAIL
    assert result.summary == "DNS servers missing on p1"  # issue 19: what is missing
    assert result.evidence["p1"] == "DNS none; NTP 192.0.2.123"

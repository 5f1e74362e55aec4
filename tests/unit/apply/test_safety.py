"""Safety rules (exops/apply/safety.py) on plain data: one test group per rule."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from pydantic import ValidationError

from exops.appliance.base import Field, Write, apply_writes, settings_writes
from exops.apply.safety import (
    RULES,
    SafetyError,
    check_command,
    check_restart,
    check_write,
    members,
)
from exops.core.errors import PreconditionError
from exops.core.exitcodes import ExitCode
from exops.core.models import (
    EMPTY_SLOTS,
    Alarm,
    ClusterFacts,
    ClusterSettings,
    ClusterStatus,
    IpVersion,
    PeerFacts,
    PeerState,
    PeerStatusEntry,
    TlsMode,
)
from exops.facts.health import maintenance_alarms

ADDR = ["10.0.0.11", "10.0.0.12", "10.0.0.13", "10.0.0.14"]
FQDN = ["exp1.example.com", "exp2.example.com", "exp3.example.com", "exp4.example.com"]
NOW = datetime(2026, 11, 30, tzinfo=UTC)


def slots(*names: str) -> tuple[str, ...]:
    return tuple(names) + EMPTY_SLOTS[len(names) :]


def settings(*names: str, primary: int = 1, **kw: Any) -> ClusterSettings:
    return ClusterSettings(peers=slots(*names), primary=primary if names else 0, **kw)


def peer(
    i: int,
    listed: ClusterSettings | None,
    *,
    reachable: bool = True,
    database: str = "Active",
    failed: tuple[str, ...] = (),
) -> PeerFacts:
    entries = tuple(
        PeerStatusEntry(
            slot=n,
            address=a,
            state=PeerState.FAILED if a in failed else PeerState.ACTIVE,
        )
        for n, a in enumerate(listed.listed if listed else (), start=1)
    )
    return PeerFacts(
        host=f"p{i + 1}",
        address=ADDR[i],
        fqdn=FQDN[i],
        reachable=reachable,
        error=None if reachable else "connection refused",
        settings=listed if reachable else None,
        status=ClusterStatus(database=database, peers=entries) if reachable else None,
        gathered_at=NOW,
    )


def facts(*peers: PeerFacts) -> ClusterFacts:
    return ClusterFacts(cluster="c1", peers=peers, gathered_at=NOW)


THREE = settings(*ADDR[:3])
HEALTHY = facts(peer(0, THREE), peer(1, THREE), peer(2, THREE))


def write(host: str, current: ClusterSettings, after: ClusterSettings, f: ClusterFacts, **kw: Any):
    writes = settings_writes(current, after)
    return check_write(host, current, writes, apply_writes(current, writes), f, **kw)


def rule_of(exc: pytest.ExceptionInfo[SafetyError]) -> str:
    return exc.value.rule


# -- the table -----------------------------------------------------------------------------
def test_rule_table_is_complete_and_unique() -> None:
    ids = [r.id for r in RULES]
    assert ids == sorted(set(ids), key=ids.index) and len(ids) >= 6
    for r in RULES:
        assert r.text and r.enforced and r.unit_test


def test_safety_error_is_a_refusal_with_one_line() -> None:
    err = SafetyError("R1", "p2", "evidence here", operation="configure")
    assert isinstance(err, PreconditionError) and err.exit_code == ExitCode.REFUSED
    assert str(err) == "p2 configure: safety rule R1 refused: evidence here"
    assert "\n" not in str(err)


# -- R1: never empty a list, except the trusted leaver -------------------------------------------
def test_r1_refuses_emptying_a_list() -> None:
    with pytest.raises(SafetyError) as exc:
        write("p2", THREE, ClusterSettings(), HEALTHY, decommission=None)
    assert rule_of(exc) == "R1" and "p2" in str(exc.value) and "10.0.0.11" in str(exc.value)


def test_r1_refuses_emptying_a_peer_that_is_not_the_leaver() -> None:
    compacted = settings(ADDR[0], ADDR[2])
    f = facts(peer(0, compacted), peer(1, THREE), peer(2, compacted))
    with pytest.raises(SafetyError) as exc:
        write("p3", compacted, ClusterSettings(), f, decommission="p2")
    assert rule_of(exc) == "R1" and "not the peer this run decommissions" in str(exc.value)


def test_r1_allows_the_leaver_once_no_member_lists_it() -> None:
    compacted = settings(ADDR[0], ADDR[2])
    f = facts(peer(0, compacted), peer(1, THREE), peer(2, compacted))
    write("p2", THREE, ClusterSettings(), f, decommission="p2")


def test_r1_refuses_the_leaver_while_a_member_still_lists_it() -> None:
    f = facts(peer(0, settings(ADDR[0], ADDR[2])), peer(1, THREE), peer(2, THREE))
    with pytest.raises(SafetyError) as exc:
        write("p2", THREE, ClusterSettings(), f, decommission="p2")
    assert rule_of(exc) == "R1" and "still listed by p3" in str(exc.value)


def test_r1_allows_a_write_that_keeps_an_address() -> None:
    write("p2", THREE, settings(ADDR[0], ADDR[2]), HEALTHY, decommission=None)


# -- R3: addresses valid and following the cluster's addressing ------------------------------------
@pytest.mark.parametrize("bad", ["None", "12", "not an address", "-x.example.com", "10.0.0.300"])
def test_r3_refuses_an_invalid_address(bad: str) -> None:
    w = Write(field=Field.PEER_ADDRESS, index=4, value=bad)
    with pytest.raises(SafetyError) as exc:
        check_write("p1", THREE, [w], THREE, HEALTHY, decommission=None)
    assert rule_of(exc) == "R3" and repr(bad) in str(exc.value)


def test_r3_refuses_a_number_value() -> None:
    w = Write(field=Field.PEER_ADDRESS, index=4, value=12)
    with pytest.raises(SafetyError) as exc:
        check_write("p1", THREE, [w], THREE, HEALTHY, decommission=None)
    assert rule_of(exc) == "R3"


def test_r3_refuses_a_new_gap() -> None:
    gap = ClusterSettings(peers=(ADDR[0], "", ADDR[2], "", "", ""), primary=1)
    with pytest.raises(SafetyError) as exc:
        write("p1", THREE, gap, HEALTHY, decommission=None)
    assert rule_of(exc) == "R3" and "empty slot before a listed one" in str(exc.value)


def test_r3_refuses_an_ip_on_a_cluster_listed_by_fqdn() -> None:
    by_fqdn = settings(*FQDN[:2])
    f = facts(peer(0, by_fqdn), peer(1, by_fqdn), peer(2, ClusterSettings()))
    with pytest.raises(SafetyError) as exc:
        write("p1", by_fqdn, settings(FQDN[0], FQDN[1], ADDR[2]), f, decommission=None)
    assert rule_of(exc) == "R3" and "by FQDN" in str(exc.value)
    write("p1", by_fqdn, settings(*FQDN[:3]), f, decommission=None)  # by FQDN: fine


def test_r3_refuses_an_ip_in_tls_enforce_mode() -> None:
    enforce = settings(FQDN[0], ADDR[1], tls_mode=TlsMode.ENFORCE)
    f = facts(peer(0, enforce), peer(1, enforce), peer(2, ClusterSettings()))
    after = settings(FQDN[0], ADDR[1], ADDR[2], tls_mode=TlsMode.ENFORCE)
    with pytest.raises(SafetyError) as exc:
        write("p1", enforce, after, f, decommission=None)
    assert rule_of(exc) == "R3" and "TLS Enforce" in str(exc.value)


def test_r3_the_new_peer_follows_the_cluster_not_its_own_empty_list() -> None:
    by_fqdn = settings(*FQDN[:2])
    f = facts(peer(0, by_fqdn), peer(1, by_fqdn), peer(2, ClusterSettings()))
    with pytest.raises(SafetyError):
        write("p3", ClusterSettings(), settings(FQDN[0], FQDN[1], ADDR[2]), f, decommission=None)
    write("p3", ClusterSettings(), settings(*FQDN[:3]), f, decommission=None)


def test_r3_refuses_an_address_of_the_other_ip_version() -> None:
    with pytest.raises(SafetyError) as exc:
        write("p1", THREE, settings(*ADDR[:3], "2001:db8::4"), HEALTHY, decommission=None)
    assert rule_of(exc) == "R3" and "IPv6" in str(exc.value)
    v6 = settings("2001:db8::1", ip_version=IpVersion.IPV6)
    write(
        "p1",
        v6,
        settings("2001:db8::1", "2001:db8::2", ip_version=IpVersion.IPV6),
        facts(peer(0, v6).model_copy(update={"address": "2001:db8::1"})),
        decommission=None,
    )


def test_r3_allows_ips_on_an_ip_cluster() -> None:
    write("p1", THREE, settings(*ADDR[:4]), HEALTHY, decommission=None)


# -- R5: the primary names a listed slot ------------------------------------------------------------
def test_r5_refuses_a_primary_on_an_empty_slot() -> None:
    with pytest.raises(SafetyError) as exc:
        write("p1", THREE, settings(*ADDR[:3], primary=5), HEALTHY, decommission=None)
    assert rule_of(exc) == "R5" and "slot 5" in str(exc.value)


def test_r5_refuses_clearing_the_slot_the_primary_names() -> None:
    current = settings(*ADDR[:3], primary=3)
    with pytest.raises(SafetyError) as exc:
        write("p1", current, settings(*ADDR[:2], primary=3), HEALTHY, decommission=None)
    assert rule_of(exc) == "R5"


def test_r5_allows_a_primary_on_a_listed_slot() -> None:
    write("p1", THREE, settings(*ADDR[:3], primary=2), HEALTHY, decommission=None)


# -- R2: no restart while another member is down -------------------------------------------------
def test_r2_allows_a_restart_in_a_healthy_cluster() -> None:
    check_restart("p2", THREE, HEALTHY, decommission=None)


def test_r2_refuses_when_another_member_is_unreachable() -> None:
    f = facts(peer(0, THREE), peer(1, THREE), peer(2, THREE, reachable=False))
    with pytest.raises(SafetyError) as exc:
        check_restart("p2", THREE, f, decommission=None)
    assert rule_of(exc) == "R2" and "p3" in str(exc.value) and "unreachable" in str(exc.value)


def test_r2_refuses_when_another_member_database_is_not_active() -> None:
    f = facts(peer(0, THREE), peer(1, THREE), peer(2, THREE, database="Failed", failed=(ADDR[0],)))
    with pytest.raises(SafetyError) as exc:
        check_restart("p2", THREE, f, decommission=None)
    assert rule_of(exc) == "R2" and "database Failed" in str(exc.value)


def test_r2_refuses_when_another_member_is_unreadable() -> None:
    unread = peer(2, THREE).model_copy(update={"status": None, "error": "garbled answer"})
    with pytest.raises(SafetyError) as exc:
        check_restart("p2", THREE, facts(peer(0, THREE), peer(1, THREE), unread), decommission=None)
    assert rule_of(exc) == "R2" and "unreadable" in str(exc.value)


def test_r2_unreachable_peer_that_is_not_a_member_does_not_block() -> None:
    two = settings(*ADDR[:2])
    f = facts(peer(0, two), peer(1, two), peer(2, None, reachable=False))
    check_restart("p2", two, f, decommission=None)


def test_r2b_a_member_failing_only_because_of_the_target_does_not_block() -> None:
    """add-peer: the primary lists the new peer, which is Failed until it restarts."""
    f = facts(
        peer(0, THREE, database="Failed", failed=(ADDR[2],)),
        peer(1, THREE, database="Failed", failed=(ADDR[2],)),
        peer(2, THREE, database="Failed", failed=(ADDR[0], ADDR[1])),
    )
    check_restart("p3", THREE, f, decommission=None)
    with pytest.raises(SafetyError):  # but p2 may not restart: p1 misses p3, not p2
        check_restart("p2", THREE, f, decommission=None)


def _drained(p: PeerFacts) -> PeerFacts:
    (alarm,) = sorted(maintenance_alarms())  # the table's class "maintenance"
    return p.model_copy(update={"alarms": (Alarm(id=alarm),)})


def test_r9_refuses_a_restart_while_another_member_is_in_maintenance() -> None:
    f = facts(peer(0, THREE), _drained(peer(1, THREE)), peer(2, THREE))
    with pytest.raises(SafetyError) as exc:
        check_restart("p1", THREE, f, decommission=None)
    text = str(exc.value)
    assert rule_of(exc) == "R9" and "p2" in text and "maintenance mode" in text
    assert "two peers" in text and "out of service" in text


def test_r9_allows_the_drained_peer_itself_to_restart() -> None:
    # Draining a peer before its own restart is what maintenance mode is for.
    check_restart(
        "p2",
        THREE,
        facts(peer(0, THREE), _drained(peer(1, THREE)), peer(2, THREE)),
        decommission=None,
    )


def test_r2_refuses_a_listed_address_no_inventory_peer_designates() -> None:
    odd = settings(*ADDR[:2], "10.9.9.9")
    f = facts(peer(0, odd), peer(1, odd))
    with pytest.raises(SafetyError) as exc:
        check_restart("p2", odd, f, decommission=None)
    assert rule_of(exc) == "R2" and "10.9.9.9" in str(exc.value)


def test_r2a_the_leaver_restarts_whatever_the_members_state() -> None:
    compacted = settings(ADDR[0], ADDR[2])
    f = facts(
        peer(0, compacted, database="Failed", failed=(ADDR[2],)),
        peer(1, ClusterSettings()),
        peer(2, compacted, reachable=False),
    )
    check_restart("p2", ClusterSettings(), f, decommission="p2")


def test_r2_members_are_what_the_fresh_primary_lists() -> None:
    f = facts(peer(0, THREE), peer(1, THREE), peer(2, THREE), peer(3, ClusterSettings()))
    assert members(f) == (["p1", "p2", "p3"], [])


# -- R4: no restart of an empty peer ----------------------------------------------------------------
def test_r4_refuses_restarting_a_peer_with_an_empty_list() -> None:
    f = facts(peer(0, THREE), peer(1, ClusterSettings()), peer(2, THREE))
    with pytest.raises(SafetyError) as exc:
        check_restart("p2", ClusterSettings(), f, decommission=None)
    assert rule_of(exc) == "R4" and "factory reset" in str(exc.value)
    assert "exops restore -c c1 --peer p2" in str(exc.value)


def test_r4_refuses_an_empty_peer_that_is_not_the_leaver() -> None:
    f = facts(peer(0, THREE), peer(1, ClusterSettings()), peer(2, THREE))
    with pytest.raises(SafetyError) as exc:
        check_restart("p2", ClusterSettings(), f, decommission="p3")
    assert rule_of(exc) == "R4"


def test_r4_refuses_the_leaver_while_still_listed() -> None:
    f = facts(peer(0, THREE), peer(1, ClusterSettings()), peer(2, THREE))
    with pytest.raises(SafetyError) as exc:
        check_restart("p2", ClusterSettings(), f, decommission="p2")
    assert rule_of(exc) == "R4" and "still listed" in str(exc.value)


# -- R6: malformed settings are refused, never normalised --------------------------------------------
@pytest.mark.parametrize(
    ("peers", "primary", "why"),
    [
        ((ADDR[0], *EMPTY_SLOTS[1:]), 7, "primary"),
        ((ADDR[0], *EMPTY_SLOTS[1:]), -1, "primary"),
        ((ADDR[0], *EMPTY_SLOTS[1:]), "1", "primary"),
        ((ADDR[0], *EMPTY_SLOTS[1:]), None, "primary"),
        ((ADDR[0], *EMPTY_SLOTS[2:]), 1, "exactly 6"),
        ((ADDR[0], *EMPTY_SLOTS), 1, "exactly 6"),
        ((ADDR[0], None, "", "", "", ""), 1, "not an address string"),
        ((ADDR[0], 12, "", "", "", ""), 1, "not an address string"),
        ((ADDR[0], "None", "", "", "", ""), 1, "is not an IPv4/IPv6 address or FQDN"),
        ((FQDN[0], FQDN[0].upper(), "", "", "", ""), 1, "also in slot 1"),
        ((ADDR[0], "", ADDR[0], "", "", ""), 1, "also in slot 1"),
        ("10.0.0.11", 1, "expected a list"),
    ],
)
def test_r6_malformed_settings_are_refused(peers: Any, primary: Any, why: str) -> None:
    with pytest.raises(ValidationError) as exc:
        ClusterSettings.model_validate({"peers": peers, "primary": primary})
    assert why in str(exc.value)


def test_r6_well_formed_settings_are_accepted() -> None:
    s = ClusterSettings.model_validate({"peers": [ADDR[0], FQDN[1], "", "", "", ""], "primary": 2})
    assert s.primary_address == FQDN[1]
    assert ClusterSettings.model_validate_json(s.model_dump_json()) == s


# -- R7: xCommand never on the primary ------------------------------------------------------------------
def test_r7_refuses_force_config_update_on_the_primary() -> None:
    with pytest.raises(SafetyError) as exc:
        check_command("p1", "ForceConfigUpdate", HEALTHY)
    assert rule_of(exc) == "R7" and "configuration primary" in str(exc.value)


def test_r7_refuses_an_unreachable_target() -> None:
    f = facts(peer(0, THREE), peer(1, THREE, reachable=False), peer(2, THREE))
    with pytest.raises(SafetyError) as exc:
        check_command("p2", "ForceConfigUpdate", f)
    assert rule_of(exc) == "R7" and "unreachable" in str(exc.value)


def test_r7_allows_a_subordinate() -> None:
    check_command("p2", "ForceConfigUpdate", HEALTHY)


def test_r7_refuses_while_the_peers_disagree_on_the_primary() -> None:
    """After switch-primary with the old primary down, the old primary comes back still
    naming itself: ForceConfigUpdate (wipe and pull) is refused on every peer."""
    new = settings(*ADDR[:3], primary=2)
    f = facts(peer(0, THREE), peer(1, new), peer(2, new))
    for host in ("p1", "p3"):
        with pytest.raises(SafetyError) as exc:
            check_command(host, "ForceConfigUpdate", f)
        assert rule_of(exc) == "R7" and "disagree on the configuration primary" in str(exc.value)
        assert "exops switch-primary -c c1 --peer p2" in str(exc.value)


# -- bounded input: timeouts are finite and positive (issue 11, item 7) ---------------------------
@pytest.mark.parametrize("raw", ["nan", "NaN", "inf", "-inf", "0", "-5", "", "abc", "1e400"])
@pytest.mark.parametrize(
    ("name", "var"),
    [
        ("connect_timeout", "EXOPS_CONNECT_TIMEOUT"),
        ("read_timeout", "EXOPS_READ_TIMEOUT"),
        ("restart_timeout", "EXOPS_RESTART_TIMEOUT"),
        ("settle_timeout", "EXOPS_SETTLE_TIMEOUT"),
        ("max_poll_interval", "EXOPS_MAX_POLL_INTERVAL"),
    ],
)
def test_timeouts_must_be_finite_and_positive(tmp_path: Any, name: str, var: str, raw: str) -> None:
    from exops.core.errors import UsageError
    from exops.core.settings import load_settings

    if raw == "":  # an empty variable means "not set"
        assert load_settings(environ={var: raw}, config_file=tmp_path / "none.yaml")
        return
    with pytest.raises(UsageError) as exc:
        load_settings(environ={var: raw}, config_file=tmp_path / "none.yaml")
    message = str(exc.value)
    assert message.startswith(f"{var}: {name}: ") and "\n" not in message
    assert exc.value.exit_code == ExitCode.USAGE


def test_settings_file_timeouts_name_the_file(tmp_path: Any) -> None:
    from exops.core.errors import UsageError
    from exops.core.settings import load_settings

    path = tmp_path / "config.yaml"
    path.write_text("read_timeout: .nan\n")
    with pytest.raises(UsageError) as exc:
        load_settings(environ={}, config_file=path)
    assert str(exc.value).startswith(f"{path}: read_timeout: ")


def test_lock_timeout_may_be_zero_but_not_negative_or_nan(tmp_path: Any) -> None:
    from exops.core.errors import UsageError
    from exops.core.settings import load_settings

    none = tmp_path / "none.yaml"
    assert load_settings(environ={"EXOPS_LOCK_TIMEOUT": "0"}, config_file=none).lock_timeout == 0
    for raw in ("-1", "nan", "inf"):
        with pytest.raises(UsageError, match="EXOPS_LOCK_TIMEOUT: lock_timeout"):
            load_settings(environ={"EXOPS_LOCK_TIMEOUT": raw}, config_file=none)


def test_good_timeouts_load(tmp_path: Any) -> None:
    from exops.core.settings import load_settings

    s = load_settings(
        environ={"EXOPS_READ_TIMEOUT": "2.5", "EXOPS_WORKERS": "4"},
        config_file=tmp_path / "none.yaml",
    )
    assert s.read_timeout == 2.5 and s.workers == 4


def test_r2_names_the_unreachable_member_before_one_that_misses_it() -> None:
    f = facts(
        peer(0, THREE, database="Failed", failed=(ADDR[2],)),
        peer(1, THREE),
        peer(2, THREE, reachable=False),
    )
    with pytest.raises(SafetyError) as exc:
        check_restart("p2", THREE, f, decommission=None)
    assert "another member, p3, is unreachable" in str(exc.value)


# -- the decommission exception comes from the shipped remove-peer runbook only -------------------
def test_trusted_decommission_is_the_shipped_remove_peer_parameter() -> None:
    from exops.apply.safety import trusted_decommission
    from exops.runbook.loader import load_runbook

    assert trusted_decommission(load_runbook("remove-peer"), {"peer": "p2"}) == "p2"
    assert trusted_decommission(load_runbook("remove-peer"), {"peer": None}) is None
    for other in ("add-peer", "restart", "switch-primary"):
        assert trusted_decommission(load_runbook(other), {"peer": "p2"}) is None


def test_a_runbook_file_named_remove_peer_is_not_trusted(tmp_path: Any) -> None:
    from importlib.resources import files

    from exops.apply.safety import trusted_decommission
    from exops.runbook.loader import load_runbook

    text = (files("exops.runbooks") / "remove-peer.yaml").read_text()
    same = tmp_path / "remove-peer.yaml"
    same.write_text(text)  # the same content, from a file: not the shipped runbook
    assert trusted_decommission(load_runbook(str(same)), {"peer": "p2"}) is None
    edited = tmp_path / "runbooks"
    edited.mkdir()
    (edited / "remove-peer.yaml").write_text(text.replace("compact", "squash"))
    rb = load_runbook(str(edited / "remove-peer.yaml")).model_copy(
        update={"source": "runbooks/remove-peer.yaml"}
    )
    assert trusted_decommission(rb, {"peer": "p2"}) is None  # edited: not the shipped one


@pytest.mark.parametrize("value", [0, 7])
def test_r3_refuses_a_falsy_or_numeric_value(value: int) -> None:
    w = Write(field=Field.PEER_ADDRESS, index=4, value=value)
    with pytest.raises(SafetyError) as exc:
        check_write("p1", THREE, [w], THREE, HEALTHY, decommission=None)
    assert rule_of(exc) == "R3"


def test_r2b_a_member_that_misses_another_peer_too_blocks() -> None:
    f = facts(
        peer(0, THREE, database="Failed", failed=(ADDR[1], ADDR[2])),
        peer(1, THREE),
        peer(2, THREE),
    )
    with pytest.raises(SafetyError) as exc:
        check_restart("p3", THREE, f, decommission=None)
    assert rule_of(exc) == "R2" and "p1" in str(exc.value)


def test_r3_a_new_peer_joining_an_enforce_cluster_is_refused_an_ip_list() -> None:
    """The new peer's own settings say Permissive and list nobody; the cluster it joins
    (its reference peer, the fresh primary) is in TLS Enforce and lists a member by IP,
    so the FQDN half of the rule does not fire: only the cluster's Enforce mode tells
    that an IP written onto the new peer breaks the cluster (domain 3.4)."""
    enforce = settings(*ADDR[:2], tls_mode=TlsMode.ENFORCE)
    new = ClusterSettings()  # empty list, TLS Permissive
    assert new.tls_mode is TlsMode.PERMISSIVE
    f = facts(peer(0, enforce), peer(1, enforce), peer(2, new))
    joined = settings(*ADDR[:3])  # its TLS mode is not written yet: still Permissive
    assert joined.tls_mode is TlsMode.PERMISSIVE
    with pytest.raises(SafetyError) as exc:
        write("p3", new, joined, f, decommission=None)
    assert rule_of(exc) == "R3" and "TLS Enforce" in str(exc.value)
    assert ADDR[0] in str(exc.value)
    # By FQDN it may join; and the same IP list on a Permissive cluster is fine.
    write("p3", new, settings(*FQDN[:3]), f, decommission=None)
    permissive = settings(*ADDR[:2])
    on_permissive = facts(peer(0, permissive), peer(1, permissive), peer(2, new))
    write("p3", new, joined, on_permissive, decommission=None)


# -- R8: never list a peer that belongs to another cluster ------------------------------------
OTHER = settings("10.0.2.11", ADDR[2], "10.0.2.12", cluster_name="c2.example.com")


def test_r8_refuses_listing_a_member_of_another_cluster() -> None:
    """The primary lists p3, which lists two peers of cluster c2: refused, on its fresh list."""
    two = settings(*ADDR[:2])
    f = facts(peer(0, two), peer(1, two), peer(2, OTHER))
    with pytest.raises(SafetyError) as exc:
        write("p1", two, settings(*ADDR[:3]), f, decommission=None)
    assert rule_of(exc) == "R8"
    assert "p3 belongs to another cluster" in str(exc.value)
    assert "10.0.2.11, 10.0.2.12" in str(exc.value) and "c2.example.com" in str(exc.value)


def test_r8_refuses_writing_the_foreign_peer_itself() -> None:
    """A re-run after the members listed p3: writing p3 (its fresh list is c2's) is refused."""
    f = facts(peer(0, THREE), peer(1, THREE), peer(2, OTHER))
    with pytest.raises(SafetyError) as exc:
        write("p3", OTHER, settings(*ADDR[:3]), f, decommission=None)
    assert rule_of(exc) == "R8" and "p3 belongs to another cluster" in str(exc.value)


def test_r8_allows_adding_a_peer_with_an_empty_list_and_configuring_it() -> None:
    two = settings(*ADDR[:2])
    f = facts(peer(0, two), peer(1, two), peer(2, settings()))
    write("p1", two, settings(*ADDR[:3]), f, decommission=None)
    f = facts(peer(0, THREE), peer(1, THREE), peer(2, settings()))
    write("p3", settings(), THREE, f, decommission=None)


def test_r8_allows_writes_that_add_no_address() -> None:
    """Compaction (remove-peer) and primary changes list nothing new: a subordinate still
    listing the leaver the primary no longer lists is not 'foreign'."""
    compacted = settings(ADDR[0], ADDR[2])
    f = facts(peer(0, compacted), peer(1, THREE), peer(2, THREE))
    write("p3", THREE, compacted, f, decommission="p2")


def test_r8_allows_listing_a_member_by_its_fqdn() -> None:
    """convert-fqdn: slot 2 becomes p2's FQDN; p2 is a member already."""
    f = facts(peer(0, THREE), peer(1, THREE), peer(2, THREE))
    write("p1", THREE, settings(ADDR[0], FQDN[1], ADDR[2]), f, decommission=None)


def test_r8_allows_building_a_cluster_from_one_peer() -> None:
    """Add-peer on a cluster of one: the primary lists p2, then p2 is configured like it
    (the primary is the whole cluster: no other peer agrees on its list)."""
    one, two = settings(ADDR[0]), settings(*ADDR[:2])
    write("p1", one, two, facts(peer(0, one), peer(1, settings())), decommission=None)
    write("p2", settings(), two, facts(peer(0, two), peer(1, settings())), decommission=None)


def test_r8_refuses_the_other_clusters_primary_on_a_cluster_of_one() -> None:
    """p2 names itself primary of c2: its vote must not make c2's list 'the cluster'."""
    one = settings(ADDR[0])
    c2 = settings(ADDR[1], "10.0.2.11", cluster_name="c2.example.com")
    with pytest.raises(SafetyError) as exc:
        write("p1", one, settings(*ADDR[:2]), facts(peer(0, one), peer(1, c2)), decommission=None)
    assert rule_of(exc) == "R8" and "p2 belongs to another cluster" in str(exc.value)


def test_r8_the_judged_peer_has_no_vote_on_what_the_cluster_is() -> None:
    """p2 and p3 are members of c2 (p2 its primary): listing p2 on c1's only member must
    be judged against c1's list, not against c2's majority (p2's own vote excluded)."""
    one = settings(ADDR[0])
    c2 = settings(ADDR[1], ADDR[2], cluster_name="c2.example.com")
    f = facts(peer(0, one), peer(1, c2), peer(2, c2))
    with pytest.raises(SafetyError) as exc:
        write("p1", one, settings(*ADDR[:2]), f, decommission=None)
    assert rule_of(exc) == "R8" and "p2 belongs to another cluster" in str(exc.value)

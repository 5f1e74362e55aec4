"""Every runbook's waits and verifies can fail (issue 19 item 2).

For each shipped runbook that changes something, its plan's checks are evaluated on
the state *before* the change (and on the half-done states a restart or replication
would finish): at least one must fail there, or the run could say "done" for a change
that never happened.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from factkit import ADDR, FQDN, cluster, peer, plan

from exops.apply.verify import CONDITIONS, SYNCHRONISED
from exops.core.models import (
    AddressMapping,
    ClusterFacts,
    PeerFacts,
    PeerState,
    TlsMode,
)
from exops.plan.model import Action, ActionKind, Plan


def checks(p: Plan) -> list[Action]:
    return [a for a in p.actions if a.kind in (ActionKind.WAIT, ActionKind.VERIFY)]


def holds(facts: ClusterFacts, action: Action) -> tuple[bool, str]:
    assert action.condition is not None
    return CONDITIONS[action.condition](facts, action)


def all_hold(facts: ClusterFacts, p: Plan) -> bool:
    return all(holds(facts, a)[0] for a in checks(p))


def with_settings(p: PeerFacts, **update: Any) -> PeerFacts:
    assert p.settings is not None
    return p.model_copy(update={"settings": p.settings.model_copy(update=update)})


def with_status(p: PeerFacts, **update: Any) -> PeerFacts:
    assert p.status is not None
    return p.model_copy(update={"status": p.status.model_copy(update=update)})


NAME = "c1.example.com"


def named(p: PeerFacts) -> PeerFacts:
    return with_settings(p, cluster_name=NAME) if p.settings and p.settings.listed else p


# -- add-peer: evidence only replication produces ----------------------------------------------
def test_add_peer_checks_fail_before_the_peer_joined() -> None:
    before = cluster(named(peer(0, [0, 1])), named(peer(1, [0, 1])), peer(2, []))
    p = plan("add-peer", before, peer="p3")
    assert checks(p)[-1].condition == "joined"
    assert not all_hold(before, p)


def _configured_not_replicated() -> ClusterFacts:
    """p3 listed everywhere, configured like the primary, restarted and Active, but
    replication has not run: it reports Pending and lacks the primary's cluster name."""
    p3 = with_status(peer(2, [0, 1, 2]), replication="Pending")
    return cluster(named(peer(0, [0, 1, 2])), named(peer(1, [0, 1, 2])), p3)


def test_joined_fails_until_replication_reached_the_new_peer() -> None:
    facts = _configured_not_replicated()
    p = plan(
        "add-peer", cluster(named(peer(0, [0, 1])), named(peer(1, [0, 1])), peer(2, [])), peer="p3"
    )
    joined = checks(p)[-1]
    ok, seen = holds(facts, joined)
    assert not ok
    assert "p3 replication Pending" in seen and "cluster_name=''" in seen
    # what the old last step compared: exops's own writes on p3, which hold already
    assert facts.peer("p3").settings.tls_mode is TlsMode.PERMISSIVE  # type: ignore[union-attr]
    done = cluster(*(named(peer(i, [0, 1, 2])) for i in range(3)))
    assert holds(done, joined) == (
        True,
        f"p3 joined: Active on every peer, replication {SYNCHRONISED}",
    )


def test_joined_fails_while_a_member_sees_the_new_peer_failed() -> None:
    p3 = named(peer(2, [0, 1, 2]))
    p1 = named(peer(0, [0, 1, 2]))
    assert p1.status is not None
    entries = tuple(
        e.model_copy(update={"state": PeerState.FAILED}) if e.address == ADDR[2] else e
        for e in p1.status.peers
    )
    facts = cluster(with_status(p1, peers=entries), named(peer(1, [0, 1, 2])), p3)
    action = Action(
        id="1",
        step="v",
        kind=ActionKind.VERIFY,
        condition="joined",
        condition_args={"peer": "p3", "hosts": ["p1", "p2", "p3"]},
    )
    ok, seen = holds(facts, action)
    assert not ok and f"p1 sees {ADDR[2]} Failed" in seen


# -- convert-fqdn, enforce-tls, remove-peer, address-mapping, create-cluster, repair --------
def test_convert_fqdn_checks_fail_while_the_cluster_is_listed_by_ip() -> None:
    before = cluster(*(peer(i, [0, 1, 2]) for i in range(3)))
    p = plan("convert-fqdn", before)
    assert not all_hold(before, p)
    after = cluster(*(peer(i, [0, 1, 2], by_fqdn=True) for i in range(3)))
    assert holds(after, checks(p)[-1])[0]


def test_enforce_tls_checks_fail_while_restarts_are_pending() -> None:
    """Enforce saved (it replicated) but not restarted anywhere: not in force yet."""
    before = cluster(*(peer(i, [0, 1, 2], by_fqdn=True) for i in range(3)))
    p = plan("enforce-tls", before)
    assert not all_hold(before, p)
    saved = cluster(
        *(
            peer(i, [0, 1, 2], by_fqdn=True, tls=TlsMode.ENFORCE, alarms=("20007",))
            for i in range(3)
        )
    )
    assert not all_hold(saved, p)
    done = cluster(*(peer(i, [0, 1, 2], by_fqdn=True, tls=TlsMode.ENFORCE) for i in range(3)))
    assert all_hold(done, p)


def test_remove_peer_checks_fail_while_a_member_still_lists_the_leaver() -> None:
    before = cluster(*(peer(i, [0, 1, 2]) for i in range(3)))
    p = plan("remove-peer", before, peer="p2")
    assert not all_hold(before, p)
    done = cluster(peer(0, [0, 2]), peer(1, []), peer(2, [0, 2]))
    assert all_hold(done, p)


def _mapped(p: PeerFacts, rows: tuple[tuple[str, str], ...]) -> PeerFacts:
    mapping = tuple(AddressMapping(name=n, address=a) for n, a in rows)
    return with_settings(p, mapping_enabled=True, mapping=mapping)


def test_address_mapping_checks_fail_until_the_asked_rows_are_everywhere() -> None:
    """Mapping already on with old rows: the plan writes new rows on the primary; a
    check of 'mapping on' alone held before anything was written."""
    old = ((FQDN[0], "192.0.2.1"), (FQDN[1], "192.0.2.2"))
    before = cluster(_mapped(peer(0, [0, 1]), old), _mapped(peer(1, [0, 1]), old))
    p = plan("address-mapping", before)
    assert p.refused is None and p.has_changes
    assert not all_hold(before, p)
    new = ((FQDN[0], ADDR[0]), (FQDN[1], ADDR[1]))
    only_primary = cluster(_mapped(peer(0, [0, 1]), new), _mapped(peer(1, [0, 1]), old))
    assert not all_hold(only_primary, p)
    done = cluster(_mapped(peer(0, [0, 1]), new), _mapped(peer(1, [0, 1]), new))
    assert all_hold(done, p)


def test_create_cluster_verify_reads_this_system_as_peer_1() -> None:
    before = cluster(peer(0, []), peer(1, []))
    p = plan("create-cluster", before, peer="p1")
    assert not all_hold(before, p)
    verify = checks(p)[-1]
    assert verify.condition_args["self_slot"] == 1
    done = cluster(peer(0, [0]), peer(1, []))
    assert holds(done, verify)[0]
    not_itself = cluster(with_status(peer(0, [0]), local_slot=0), peer(1, []))
    ok, seen = holds(not_itself, verify)
    assert not ok and "shows itself as slot none" in seen


def test_repair_replication_needs_synchronised_not_only_a_cleared_alarm() -> None:
    before = cluster(peer(0, [0, 1, 2]), peer(1, [0, 1, 2]), peer(2, [0, 1, 2], alarms=("20101",)))
    p = plan("repair-replication", before)
    assert not all_hold(before, p)
    cleared = cluster(
        peer(0, [0, 1, 2]),
        peer(1, [0, 1, 2]),
        with_status(peer(2, [0, 1, 2]), replication="Pending"),
    )
    ok, seen = holds(cleared, checks(p)[-1])
    assert not ok and "p3 replication Pending" in seen


def test_switch_primary_checks_fail_before_the_switch() -> None:
    before = cluster(*(peer(i, [0, 1, 2]) for i in range(3)))
    p = plan("switch-primary", before, peer="p2")
    assert not all_hold(before, p)


@pytest.mark.parametrize("alarm", ["20102", "20105"])
def test_switch_primary_checks_fail_while_the_mismatch_alarm_stays(alarm: str) -> None:
    before = cluster(*(peer(i, [0, 1, 2]) for i in range(3)))
    p = plan("switch-primary", before, peer="p2")
    switched = cluster(*(peer(i, [0, 1, 2], primary=2, alarms=(alarm,)) for i in range(3)))
    assert not all_hold(switched, p)


# -- no wait judges a read taken before the restart it follows ---------------------------
def test_read_before_names_reads_that_began_before_a_restart_ended() -> None:
    from exops.apply.executor import read_before

    t0 = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
    facts = cluster(peer(0, [0, 1]), peer(1, [0, 1]))  # factkit reads at NOW
    stamped = facts.model_copy(
        update={
            "peers": (
                facts.peers[0].model_copy(update={"gathered_at": t0 - timedelta(seconds=1)}),
                facts.peers[1].model_copy(update={"gathered_at": t0 + timedelta(seconds=1)}),
            )
        }
    )
    assert read_before(stamped, t0) == "p1"
    assert read_before(stamped, None) == ""

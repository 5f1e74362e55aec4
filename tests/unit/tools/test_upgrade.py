"""The rolling upgrade's pure parts: options, preflight, rejoin, failed states, the
upgradestatus parser (exops/tools/upgrade.py, exops/appliance/rest.py UPGRADE)."""

from __future__ import annotations

import pytest
from factkit import cluster, peer
from pydantic import SecretStr

from exops.appliance.base import UpgradeStatus
from exops.appliance.rest import UPGRADE, parse_upgrade_status
from exops.core.errors import ApplianceError, UsageError
from exops.core.models import PeerState, PeerStatusEntry
from exops.facts.health import maintenance_alarms
from exops.tools.upgrade import (
    UpgradeOptions,
    _failed_state,
    maintenance_refusal,
    preflight,
    rejoin_problems,
    version_key,
)

SHA = "ab" * 64
TARGET = (15, 3, 0)
ALL = [0, 1, 2]


def opts(**kw: object) -> UpgradeOptions:
    base: dict[str, object] = {
        "image": "s42700x15_3_0.tar.gz",
        "sha512": SHA,
        "sftp": "sftp://exops@files.example.com:2222/images",
        "sftp_password": SecretStr("pw"),
    }
    return UpgradeOptions(**{**base, **kw})  # type: ignore[arg-type]


def test_options_name_the_bad_one() -> None:
    opts().check()
    config, directory = opts().server()
    assert (config.server, config.username, directory) == (
        "files.example.com:2222",
        "exops",
        "/images",
    )
    assert (
        opts(sftp="sftp://exops@files.example.com/images").server()[0].server == "files.example.com"
    )
    assert opts().target() == TARGET
    assert opts(to_version="X15.4.1", image="image.tar.gz").target() == (15, 4, 1)
    for kw, word in (
        ({"sha512": "abc"}, "--sha512"),
        ({"image": "dir/x.tar.gz"}, "--image"),
        ({"image": "image.tar.gz"}, "--to-version"),
        ({"sftp": "https://h/x"}, "--sftp"),
        ({"sftp": "sftp://h/x"}, "--sftp"),  # no user
        ({"sftp": "sftp://u:secret@h/x"}, "EXOPS_SFTP_PASSWORD"),
        ({"sftp_password": SecretStr("")}, "EXOPS_SFTP_PASSWORD"),
    ):
        with pytest.raises(UsageError, match=word) as err:
            opts(**kw).check()
        assert "secret" not in str(err.value)


def test_version_key() -> None:
    assert version_key("X15.2.1") == (15, 2, 1)
    assert version_key("X14.2") == (14, 2, 0)
    assert version_key("garbage") is None and version_key(None) is None


def test_preflight_passes_a_healthy_cluster_on_one_version() -> None:
    assert preflight(cluster(*(peer(i, ALL) for i in ALL)), TARGET, frozenset()) is None


def test_preflight_refuses_downgrade_old_versions_mixed_and_alarms() -> None:
    newer = cluster(peer(0, ALL, version="X15.4.0"), *(peer(i, ALL) for i in (1, 2)))
    assert "downgrade" in (preflight(newer, TARGET, frozenset()) or "")
    old = cluster(*(peer(i, ALL, version="X14.0.2") for i in ALL))
    refused = preflight(old, TARGET, frozenset()) or ""
    assert "from X14.2" in refused and "tandberg-image.tar.gz" in refused  # the manual route
    mixed = cluster(peer(0, ALL, version="X15.1.0"), *(peer(i, ALL) for i in (1, 2)))
    assert "different versions" in (preflight(mixed, TARGET, frozenset()) or "")
    alarm = cluster(peer(0, ALL, alarms=("20007",)), *(peer(i, ALL) for i in (1, 2)))
    assert "20007" in (preflight(alarm, TARGET, frozenset()) or "")
    assert preflight(alarm, TARGET, frozenset({"20007"})) is None
    silent = cluster(peer(0, ALL), peer(1, ALL, reachable=False), peer(2, ALL))
    assert "p2 unreachable" in (preflight(silent, TARGET, frozenset()) or "")


def test_preflight_resumes_a_mixed_cluster_with_only_the_known_alarms() -> None:
    known = tuple(UPGRADE.mixed_version_alarms)
    resumed = cluster(
        peer(0, ALL, version="X15.3.0", alarms=known),
        *(peer(i, ALL, alarms=known) for i in (1, 2)),
    )
    assert preflight(resumed, TARGET, frozenset()) is None
    other = cluster(peer(0, ALL, version="X15.3.0", alarms=("20101",)), peer(1, ALL), peer(2, ALL))
    assert "20101" in (preflight(other, TARGET, frozenset()) or "")


def test_preflight_resuming_a_killed_run_whose_last_peer_is_back() -> None:
    # A killed run asked the last peer; it rebooted onto the target before the re-run
    # read the cluster: one version again, but the peers still raise the cluster
    # alarms of its reboot (they clear "typically within 10 minutes of the complete
    # upgrade"). Resuming the journal's unfinished run, they are known: the re-run's
    # waits judge them (nothing is rebooted: every peer runs the target already).
    known = tuple(UPGRADE.mixed_version_alarms)
    done = cluster(*(peer(i, ALL, version="X15.3.0", alarms=known) for i in ALL))
    assert "20004" in (preflight(done, TARGET, frozenset()) or "")  # no unfinished run
    assert preflight(done, TARGET, frozenset(), resuming=True) is None
    stray = cluster(
        peer(0, ALL, version="X15.3.0", alarms=("20101",)),
        *(peer(i, ALL, version="X15.3.0") for i in (1, 2)),
    )
    assert "20101" in (preflight(stray, TARGET, frozenset(), resuming=True) or "")
    # Every peer still on the old version: the cluster's alarms are its own (an
    # unfinished run may be days old), never excused by it.
    old = cluster(*(peer(i, ALL, alarms=known) for i in ALL))
    assert "20004" in (preflight(old, TARGET, frozenset(), resuming=True) or "")


def test_a_resumed_run_keeps_the_snapshot_the_stopped_run_took_before_its_first_peer() -> None:
    from types import SimpleNamespace

    from exops.tools.upgrade import _stopped_runs_snapshot

    def store(status: str, plan: dict[str, object], stored: set[str]) -> object:
        run = {"run_id": "r1", "status": status, "started": "2026-12-07T01:00:00+00:00"}
        journal = SimpleNamespace(get_run=lambda rid: {**run, "plan": plan})
        snapshots = SimpleNamespace(get=lambda sid: {"snapshot_id": sid} if sid in stored else None)
        return SimpleNamespace(journal=journal, snapshots=snapshots), run

    # Killed (or Ctrl-C) after a peer was upgraded: the next may be rebooting now, so
    # a new snapshot could not be whole; the one taken before that run's first peer
    # is the state before this upgrade.
    s, run = store("interrupted", {"snapshot": "s1"}, {"s1"})
    assert _stopped_runs_snapshot(s, run, begun=True) == "s1"
    # Nothing upgraded yet: a new snapshot is the state before (the stopped run may
    # be days old).
    assert _stopped_runs_snapshot(s, run, begun=False) is None
    # A run that failed ended knowing its state: a new snapshot is taken.
    s, run = store("failed", {"snapshot": "s1"}, {"s1"})
    assert _stopped_runs_snapshot(s, run, begun=True) is None
    # A run that took none, or whose snapshot is gone: a new one.
    s, run = store("interrupted", {}, {"s1"})
    assert _stopped_runs_snapshot(s, run, begun=True) is None
    s, run = store("interrupted", {"snapshot": "s1"}, set())
    assert _stopped_runs_snapshot(s, run, begun=True) is None
    assert _stopped_runs_snapshot(s, None, begun=True) is None


def test_a_drained_peer_passes_preflight_only_as_the_next_to_upgrade() -> None:
    # The maintenance alarm (class maintenance in knowledge.toml) says a peer was
    # drained on purpose, as the vendor's upgrade order asks: not a stray alarm. But
    # never two peers out of service: only the peer upgraded next may be drained.
    (maint,) = sorted(maintenance_alarms())
    first = cluster(peer(0, ALL, alarms=(maint,)), peer(1, ALL), peer(2, ALL))
    assert preflight(first, TARGET, frozenset()) is None
    assert maintenance_refusal(first, ["p1", "p2", "p3"], TARGET) is None
    later = cluster(peer(0, ALL), peer(1, ALL, alarms=(maint,)), peer(2, ALL))
    assert preflight(later, TARGET, frozenset()) is None
    refused = maintenance_refusal(later, ["p1", "p2", "p3"], TARGET) or ""
    assert "p2 is in maintenance mode" in refused and "p1" in refused
    assert "two peers out of service" in refused
    # p1 already upgraded (a resumed run): p2 is the next one, so it may be drained.
    resumed = cluster(peer(0, ALL, version="X15.3.0"), peer(1, ALL, alarms=(maint,)), peer(2, ALL))
    assert maintenance_refusal(resumed, ["p1", "p2", "p3"], TARGET) is None
    two = cluster(peer(0, ALL, alarms=(maint,)), peer(1, ALL, alarms=(maint,)), peer(2, ALL))
    assert "p1, p2" in (maintenance_refusal(two, ["p1", "p2", "p3"], TARGET) or "")


def _sees(p: object, address_state: dict[str, PeerState]) -> object:
    status = p.status  # type: ignore[attr-defined]
    entries = tuple(
        PeerStatusEntry(slot=e.slot, address=e.address, state=address_state.get(e.address, e.state))
        for e in status.peers
    )
    return p.model_copy(update={"status": status.model_copy(update={"peers": entries})})  # type: ignore[attr-defined]


def test_rejoin_accepts_the_mixed_version_alarms_as_known() -> None:
    known = tuple(UPGRADE.mixed_version_alarms)
    up = _sees(peer(0, ALL, version="X15.3.0", alarms=known), {"10.0.0.12": PeerState.FAILED})
    facts = cluster(up, peer(1, ALL, alarms=known), peer(2, ALL, alarms=known))  # type: ignore[arg-type]
    problems, seen = rejoin_problems(facts, "p1", TARGET)
    assert problems == [] and seen == {"p1": list(known), "p2": list(known), "p3": list(known)}
    # Two peers on the target must see each other Active.
    a = _sees(peer(0, ALL, version="X15.3.0"), {"10.0.0.12": PeerState.FAILED})
    b = peer(1, ALL, version="X15.3.0")
    problems, _ = rejoin_problems(cluster(a, b, peer(2, ALL)), "p2", TARGET)  # type: ignore[arg-type]
    assert problems == ["p1 sees p2 Failed"]
    # Not yet on the target, another cluster alarm, a silent peer: not back.
    assert rejoin_problems(cluster(*(peer(i, ALL) for i in ALL)), "p1", TARGET)[0]
    bad = cluster(peer(0, ALL, version="X15.3.0", alarms=("20101",)), peer(1, ALL), peer(2, ALL))
    assert rejoin_problems(bad, "p1", TARGET)[0] == ["p1 alarms 20101"]
    quiet = cluster(peer(0, ALL, version="X15.3.0"), peer(1, ALL, reachable=False), peer(2, ALL))
    assert "p2 unreachable" in rejoin_problems(quiet, "p1", TARGET)[0][0]
    # All on the target: the mixed-version alarms are no longer known.
    done = cluster(*(peer(i, ALL, version="X15.3.0", alarms=known) for i in ALL))
    assert rejoin_problems(done, "p1", TARGET)[0]


def test_failed_states_of_this_attempt_only() -> None:
    old = UpgradeStatus(state="UPGD_FAILED", updated="26-12-01T10-00-00")
    assert _failed_state(old, old) is None  # left from an earlier attempt
    new = UpgradeStatus(state="UPGD_FAILED", updated="26-12-06T10-00-00")
    assert _failed_state(new, old) == "UPGD_FAILED"
    dl = UpgradeStatus(state="UPGD_FILE_DOWNLOADFAILED")
    assert _failed_state(dl, None) == "UPGD_FILE_DOWNLOADFAILED"
    assert _failed_state(UpgradeStatus(state="UPGD_STARTED"), None) is None


def test_parse_upgrade_status_the_guide_form_and_garbage() -> None:
    body = [{"StatusUpdateTime": "22-05-18T13-23-36", "UpgradeStatus": "UPGD_STARTED"}]
    assert parse_upgrade_status(body) == UpgradeStatus(
        state="UPGD_STARTED", updated="22-05-18T13-23-36"
    )
    assert parse_upgrade_status([]) is None
    for bad in ("text", [1], [{"StatusUpdateTime": "x"}], [{"UpgradeStatus": ""}]):
        with pytest.raises(ApplianceError, match="upgradestatus"):
            parse_upgrade_status(bad)
    assert "UPGD_SUCCESSFUL" in UPGRADE.states and UPGRADE.success_state == "UPGD_SUCCESSFUL"


def test_the_expected_time_per_peer_is_measured_when_the_journal_has_restarts() -> None:
    from types import SimpleNamespace

    from exops.tools.upgrade import REBOOT_S, _expected

    journal = SimpleNamespace(restart_durations=lambda cluster, host: [40.0, 60.0, 50.0])
    assert _expected(SimpleNamespace(journal=journal), "c1", "p1") == (50.0, "measured")
    empty = SimpleNamespace(restart_durations=lambda cluster, host: [])
    assert _expected(SimpleNamespace(journal=empty), "c1", "p1") == (REBOOT_S, "documented")
    assert _expected(None, "c1", "p1") == (REBOOT_S, "documented")


def test_the_dry_run_shows_the_drain_before_and_the_check_after_each_peer() -> None:
    from exops.tools.drain import DrainOptions, plan_line
    from exops.tools.upgrade import PeerStep, UpgradeResult, plan_text

    drains = DrainOptions(max_calls=1, timeout_s=60)
    result = UpgradeResult(["c1"], "X15.3.0")
    step = PeerStep("c1", "c1-p1", True, "X15.2.1", "upgrade", 300, "documented")
    step.drain = plan_line("c1-p1", "on peer c1-p1, open ...", True, drains)
    result.steps = [step, PeerStep("c1", "c1-p2", False, "X15.3.0", "skip", 300, "documented")]
    lines = plan_text(result, opts(drain=drains)).splitlines()
    assert lines[1].startswith("  1. c1-p1 (primary, c1): drain first: manual step: on peer c1-p1")
    assert "at most 1 calls and 0 registrations (timeout 60 s)" in lines[1]
    assert lines[2].startswith("  1. c1-p1 (primary, c1): X15.2.1 -> X15.3.0")
    assert "maintenance mode must read off" in lines[3]
    assert lines[4] == "  2. c1-p2 (subordinate, c1): already on X15.3.0: skipped"
    assert step.to_json()["drain"] == step.drain  # only with --drain
    assert "drain" not in result.steps[1].to_json()
    with pytest.raises(UsageError, match="--accept bogus"):
        opts(drain=DrainOptions(accept=frozenset({"bogus"}))).check()


@pytest.mark.parametrize("gone", [True, False], ids=["went-down", "answers-other-reads"])
def test_a_peer_that_goes_down_before_its_status_read_is_followed_never_asked(
    monkeypatch: pytest.MonkeyPatch, gone: bool
) -> None:
    """Found up by the read before, then no answer to upgradestatus: gone entirely (a
    killed run's upgrade rebooting it), it is followed and never asked; still answering
    other reads, it is not started (exit 1, as before)."""
    from types import SimpleNamespace

    from exops.core.errors import TransportError
    from exops.tools import upgrade as up

    def refused(session: object, host: str) -> None:
        raise TransportError("cannot connect ([Errno 111] Connection refused)", host=host)

    monkeypatch.setattr(up, "_status", refused)
    later = cluster(peer(0, ALL), peer(1, ALL, reachable=not gone), peer(2, ALL))
    journalled: list[tuple[object, ...]] = []
    ctx = up._Ctx(
        env=SimpleNamespace(),
        session=SimpleNamespace(gather=lambda c, hosts=None, needs=None: later),
        store=SimpleNamespace(check_lock=lambda c: None),
        cluster="c1",
        result=up.UpgradeResult(["c1"], "X15.3.0"),
        opts=opts(),
        say=lambda line: None,
        reporter=None,
        run=SimpleNamespace(step=lambda *a: journalled.append(a)),  # type: ignore[arg-type]
    )
    step = up.PeerStep("c1", "p2", False, "X15.2.1", "upgrade", 300.0, "documented")
    run = up._PeerRun(ctx, 2, step)
    me = cluster(peer(0, ALL), peer(1, ALL), peer(2, ALL)).peer("p2")
    if gone:
        run.start(me)  # no request: it follows (never asks a peer it cannot read)
        assert step.action == "follow" and run.before is None and journalled == []
    else:
        with pytest.raises(up._Stop) as stop:
            run.start(me)
        assert "upgradestatus cannot be read" in stop.value.message
        assert "not starting" in stop.value.message and step.action == "upgrade"

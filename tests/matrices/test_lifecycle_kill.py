"""Kill matrix of the lifecycle commands (issue 25): `exops upgrade`, `renew-cert --cert`
and `drain`, each SIGKILLed at a step boundary of a real run on the real lab, then re-run.

Each cell, on a fresh lab: run the real CLI and SIGKILL it at the named point
(``lifekit``: checked inside exops right where it happens: the lab accepted the N-th
write; a write about to leave; the lab says the peer is rebooting; the peer's download
is held midway; a wait has polled), then check on the lab's own record and the journal:

- the lab never had two peers of the cluster down at once (its restart log);
- ``exops history`` lists the killed run as interrupted (never ok), and ``exops show``
  journals only the steps that really finished before the kill;
- a re-run with the same arguments exits 0 and the documented end state holds on the
  lab (every peer on the new version / the new certificate shown and served / the
  peer drained), without asking any peer twice (one upgrade request, one upload each);
- a third run changes nothing.
"""

from __future__ import annotations

import hashlib
import socket
import ssl
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from clikit import Cli, cli_for, last_seq, writes_since
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from killkit import eventually
from lifekit import SftpRelay, down_together, journal, run_at, steps_of, upgrade_args

pytestmark = pytest.mark.integration

SCALE = 0.003
FAST = {
    "EXOPS_RESTART_TIMEOUT": "60",  # generous: only a failing run waits it out
    "EXOPS_SETTLE_TIMEOUT": "30",
    "EXOPS_READ_TIMEOUT": "3",
    "EXOPS_CONNECT_TIMEOUT": "2",
    "EXOPS_MAX_POLL_INTERVAL": "0.2",
}
P = ("c1-p1", "c1-p2", "c1-p3")
UPGRADE_POST = "/api/v1/provisioning/common/upgrade"
SFTPCONFIG = "/api/v1/provisioning/common/sftpconfig"
SERVER = "/api/provisioning/certs/server"


def _settled(lab: Any) -> None:
    """Every peer running again (a reboot the killed run set off has finished)."""
    eventually(
        lambda: (
            all(s["running"] and s["reachable"] for s in lab.control.state()["peers"].values()),
            "a peer is still restarting",
        ),
        timeout=60,
    )


def _hold_reboot(lab: Any, point: dict[str, Any]) -> str | None:
    """For a kill "while PEER is down": PEER's next restart stays down until released
    (fault restart_hang), so the kill meets it down whatever the machine's load."""
    if "down" not in point:
        return None
    return str(lab.control.inject("restart_hang", peer=point["down"]))


def _release_reboot(lab: Any, point: dict[str, Any], hang: str | None) -> None:
    """The killed run left PEER down in its restart; let it boot."""
    if hang is None:
        return
    assert lab.control.peer_state(point["down"])["lifecycle"] == "restarting"
    lab.control.clear(hang)
    _settled(lab)


def _interrupted(cli: Cli, runbook: str) -> dict[str, Any]:
    """The killed run (the newest of its runbook), as the journal tells it: interrupted,
    no exit code."""
    runs = journal(cli, "c1", runbook)
    assert runs, f"no {runbook} run journalled"
    killed = runs[0]
    assert (killed["status"], killed["exit_code"]) == ("interrupted", None), killed
    return killed


# -- exops upgrade -------------------------------------------------------------------


def _on_target(lab: Any) -> tuple[bool, str]:
    target = lab.env["EXOPS_LAB_IMAGE_VERSION"]
    bad = {
        n: (p["version"], p["running"], p["alarms"])
        for n, p in lab.control.state()["peers"].items()
        if p["version"] != target or not p["running"] or p["alarms"]
    }
    return not bad, f"not every peer on {target}, running, alarm-free: {bad}"


# (cell id, kill point, peers whose upgrade the killed run had asked for, the peer in
# the middle of its upgrade when killed (its journal step must not be there))
UPGRADE_CELLS = [
    ("after-sftpconfig", {"writes": 1}, (), "c1-p1"),
    ("after-upgrade-post", {"writes": 2}, ("c1-p1",), "c1-p1"),
    ("mid-download", {"upgrade_state": ["c1-p1", "UPGD_FILE_DOWNLOADING"]}, ("c1-p1",), "c1-p1"),
    ("reboot-of-peer-1", {"down": "c1-p1"}, ("c1-p1",), "c1-p1"),
    ("reboot-of-peer-2", {"down": "c1-p2"}, ("c1-p1", "c1-p2"), "c1-p2"),
    ("reboot-of-peer-3", {"down": "c1-p3"}, P, "c1-p3"),
]


@pytest.fixture
def relay_pool() -> Iterator[list[SftpRelay]]:
    relays: list[SftpRelay] = []
    yield relays
    for r in relays:
        r.close()


@pytest.mark.parametrize(
    ("point", "asked", "victim"),
    [c[1:] for c in UPGRADE_CELLS],
    ids=[c[0] for c in UPGRADE_CELLS],
)
def test_upgrade_killed_then_rerun_converges(
    lab_factory: Any,
    tmp_path: Path,
    relay_pool: list[SftpRelay],
    point: dict[str, Any],
    asked: tuple[str, ...],
    victim: str,
) -> None:
    lab = lab_factory(clusters=1, peers=3, time_scale=SCALE, preset="formed")
    cli = cli_for(lab, tmp_path, **FAST)
    sftp = lab.env["EXOPS_LAB_SFTP"]
    relay = None
    if "upgrade_state" in point:  # the download is held midway until the kill has landed
        relay = SftpRelay(sftp, hold_after=64 * 1024)
        relay_pool.append(relay)
        sftp = relay.url
    args = tuple(upgrade_args(lab, "--yes", sftp=sftp))
    hang = _hold_reboot(lab, point)

    killed = run_at(lab, cli, tmp_path, args, point)
    assert killed.killed, (killed.code, killed.stdout[-2000:], killed.stderr[-2000:])
    posts = [w["peer"] for w in killed.writes if w["path"] == UPGRADE_POST]
    assert posts == list(asked), killed.writes
    if relay is not None:  # the relay holds the image's last bytes: still downloading
        assert lab.control.peer_state("c1-p1")["upgrade"]["state"] == "UPGD_FILE_DOWNLOADING"
        relay.release()
    _release_reboot(lab, point, hang)

    # The journal tells the truth about the killed run: interrupted, and no step for the
    # peer it was in the middle of (nor any later one); each earlier peer: rebooted, done.
    run = _interrupted(cli, "upgrade")
    done = P[: P.index(victim)]
    steps = steps_of(cli, run["run_id"])
    assert [s for s in steps if s[0] == "upgrade"] == [("upgrade", p, "changed") for p in done]
    # A reboot exops saw (the peer did not answer for a while) is journalled as a restart
    # with its measured downtime; one too short for its polls to see is not.
    assert {s for s in steps if s[0] != "upgrade"} <= {("restart", p, "ok") for p in done}

    seq = last_seq(lab)
    if victim == P[-1]:  # the last peer comes back on its own: the re-run finds no peer to do
        eventually(lambda: _on_target(lab), timeout=60)
    rerun = cli(*args, expect=None)
    assert rerun.returncode == 0, (rerun.stdout[-3000:], rerun.stderr[-3000:])
    eventually(lambda: _on_target(lab), timeout=30)
    assert down_together(lab, P) == []
    # Never asked twice: one upgrade request per peer over both runs; the re-run asked
    # only the peers the killed run had not.
    assert Counter(w["peer"] for w in writes_since(lab, 0) if w["path"] == UPGRADE_POST) == {
        p: 1 for p in P
    }
    reposted = [w["peer"] for w in writes_since(lab, seq) if w["path"] == UPGRADE_POST]
    assert reposted == [p for p in P if p not in asked]
    assert sorted(r["peer"] for r in lab.control.metrics()["restarts"]) == list(P)

    seq = last_seq(lab)
    third = cli(*args)
    assert "nothing to do" in third.stdout
    assert writes_since(lab, seq) == []
    # The re-run is journalled ok, also when it found every peer back on the version
    # (it closes the killed run: a later upgrade must not take a silent peer for this
    # one's reboot); the third run had nothing to do and journalled nothing.
    runs = [r["status"] for r in journal(cli, "c1", "upgrade")]
    assert runs == ["ok", "interrupted"], runs


# -- exops renew-cert --cert -----------------------------------------------------------


def _served_sha256(lab: Any, peer: str) -> str:
    ctx = ssl.create_default_context(cafile=str(lab.ca_path))
    with (
        socket.create_connection((lab.peers[peer], lab.https_port), timeout=5) as raw,
        ctx.wrap_socket(raw, server_hostname=lab.fqdns[peer]) as tls,
    ):
        der = tls.getpeercert(binary_form=True)
    assert der is not None
    return hashlib.sha256(der).hexdigest()


def _leaf_sha256(pem: str) -> str:
    return x509.load_pem_x509_certificates(pem.encode())[0].fingerprint(hashes.SHA256()).hex()


RENEWED = ("c1-p2", "c1-p3")
# (cell id, kill point, uploads the killed run made, journalled steps of the killed run,
# the re-run's status)
RENEW_CELLS = [
    ("before-upload", {"before": SERVER}, (), [("snapshot", None, "ok")], "ok"),
    # killed before it read the upload back: the journal does not claim it
    ("after-upload-before-restart", {"writes": 1}, ("c1-p2",), [("snapshot", None, "ok")], "ok"),
    (
        "during-restart",
        {"down": "c1-p2"},
        ("c1-p2",),
        [("snapshot", None, "ok"), ("upload", "c1-p2", "changed")],
        "ok",
    ),
    # killed during the last peer's restart: the re-run finds everything in force, has
    # nothing to do, and closes the killed run in the journal
    (
        "during-last-restart",
        {"down": "c1-p3"},
        RENEWED,
        [
            ("snapshot", None, "ok"),
            ("upload", "c1-p2", "changed"),
            ("restart", "c1-p2", "changed"),
            ("verify", "c1-p2", "ok"),
            ("upload", "c1-p3", "changed"),
        ],
        "nothing_to_change",
    ),
]


@pytest.mark.parametrize(
    ("point", "uploaded", "journalled", "status"),
    [c[1:] for c in RENEW_CELLS],
    ids=[c[0] for c in RENEW_CELLS],
)
def test_renew_cert_killed_then_rerun_converges(
    lab_factory: Any,
    tmp_path: Path,
    point: dict[str, Any],
    uploaded: tuple[str, ...],
    journalled: list[tuple[str, str | None, str]],
    status: str,
) -> None:
    lab = lab_factory(clusters=1, peers=3, time_scale=0.004, preset="formed", cdb_rest=True)
    cli = cli_for(lab, tmp_path, **FAST)
    csrs, signed = tmp_path / "csr", tmp_path / "signed"
    csrs.mkdir()
    signed.mkdir()
    peers = [a for p in RENEWED for a in ("--peer", p)]
    cli("renew-cert", "-c", "c1", *peers, "--csr-out", str(csrs), "--yes")
    for p in RENEWED:
        (signed / f"{p}.crt").write_text(lab.control.sign((csrs / f"{p}.csr").read_text()))
    args = ("renew-cert", "-c", "c1", *peers, "--cert-dir", str(signed), "--yes")

    hang = _hold_reboot(lab, point)
    killed = run_at(lab, cli, tmp_path, args, point)
    assert killed.killed, (killed.code, killed.stdout[-2000:], killed.stderr[-2000:])
    assert [w["peer"] for w in killed.writes if w["path"] == SERVER] == list(uploaded)
    _release_reboot(lab, point, hang)
    _settled(lab)
    run = _interrupted(cli, "renew-cert")
    assert steps_of(cli, run["run_id"]) == journalled, steps_of(cli, run["run_id"])

    seq = last_seq(lab)
    rerun = cli.json(*args, expect=None)
    assert (rerun["status"], rerun["exit_code"]) == (status, 0), rerun
    # Never a second upload (the pending CSR is used up by the first).
    assert Counter(w["peer"] for w in writes_since(lab, 0) if w["path"] == SERVER) == {
        p: 1 for p in RENEWED
    }
    assert [w["peer"] for w in writes_since(lab, seq) if w["path"] == SERVER] == [
        p for p in RENEWED if p not in uploaded
    ]
    for p in RENEWED:
        assert lab.control.peer_state(p)["cert"] == "uploaded", p
        assert _served_sha256(lab, p) == _leaf_sha256((signed / f"{p}.crt").read_text()), p
    for p in P:
        s = lab.control.peer_state(p)
        assert s["database"] == "Active" and not s["alarms"], (p, s["alarms"])
    assert down_together(lab, P) == []

    seq = last_seq(lab)
    third = cli.json(*args)
    assert third["status"] == "nothing_to_change", third
    assert writes_since(lab, seq) == []
    # newest first: the re-run (it changed something, or it closed the killed run),
    # the killed run, the CSR run; the third run journalled nothing
    runs = [r["status"] for r in journal(cli, "c1", "renew-cert")]
    assert runs == ["ok", "interrupted", "ok"], runs


# -- exops drain ----------------------------------------------------------------------


def test_drain_killed_during_the_wait_then_rerun_drains(lab_factory: Any, tmp_path: Path) -> None:
    """Killed while it waits for the operator's web step: nothing was changed, the
    journal says interrupted; once the operator has set maintenance mode, the same
    command finds the peer drained, and a third run has nothing to do."""
    lab = lab_factory(clusters=1, peers=3, time_scale=SCALE, preset="formed", cdb_rest=True)
    cli = cli_for(lab, tmp_path, **FAST)
    lab.control.patch_peer("c1-p2", calls={"Traversal": 2, "NonTraversal": 1}, registrations=3)
    args = ("drain", "-c", "c1", "-p", "c1-p2", "--yes", "--accept", "manual-maintenance")
    seq = last_seq(lab)
    killed = run_at(lab, cli, tmp_path, args, {"wait": "drained", "polls": 2})
    assert killed.killed, (killed.code, killed.stdout[-2000:], killed.stderr[-2000:])
    assert "manual step:" in killed.stdout + killed.stderr
    assert writes_since(lab, seq) == []
    truth = lab.control.peer_state("c1-p2")
    assert (truth["maintenance_mode"], truth["calls_total"], truth["registrations"]) == (
        False,
        3,
        3,
    )
    run = _interrupted(cli, "drain")
    assert ("wait", "c1-p2", "ok") not in steps_of(cli, run["run_id"])

    lab.control.patch_peer("c1-p2", maintenance_mode=True)  # the operator, on the web page
    rerun = cli.json(*args)
    # drained by the time it reads it (nothing to do), or once it waited for the calls
    assert rerun["status"] in ("ok", "nothing_to_change"), rerun
    assert rerun["maintenance_mode_verified"] is True, rerun
    truth = lab.control.peer_state("c1-p2")
    assert (truth["maintenance_mode"], truth["calls_total"], truth["registrations"]) == (
        True,
        0,
        0,
    )
    third = cli.json(*args)
    assert third["status"] == "nothing_to_change", third
    assert writes_since(lab, seq) == []
    assert lab.control.metrics()["restarts"] == []
    runs = [r["status"] for r in journal(cli, "c1", "drain")]
    assert runs == (["ok", "interrupted"] if rerun["status"] == "ok" else ["interrupted"]), runs

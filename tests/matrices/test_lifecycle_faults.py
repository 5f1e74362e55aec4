"""Fault matrix of the lifecycle commands (issue 25): `exops upgrade`, `renew-cert` and
`drain` meet an appliance fault at a given step (HTTP 500, a timeout, a dropped
connection: the lab's control API, as tests/matrices/test_faults.py injects them), or a
fault of their own (an image that fails its hash, an SFTP server that is not there, a
certificate with a wrong name / expired / for another key, a maintenance step that is
never done, an unattended drain).

A fault is placed at its step by the request it hits (the step's own path on the step's
own peer), or, for a fault that must begin mid-step, by ``lifekit`` at the moment exops
has made that step's write. Each cell asserts:

- the documented exit code and one ``exops: error:`` line naming the peer and the
  problem, no traceback;
- the lab's own record: nothing was sent past the failed step (no other peer touched,
  no upload before a refusal), never two peers down;
- the state left is unchanged or safely resumable: with the fault gone, the same
  command reaches the documented end state without asking any peer twice (that a
  further run is a no-op is the kill matrix's to show: test_lifecycle_kill.py).
"""

from __future__ import annotations

from collections import Counter
from ipaddress import ip_address
from pathlib import Path
from typing import Any

import lifekit
import pytest
from clikit import Cli, cli_for, last_seq, writes_since
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from killkit import eventually
from lifekit import closed_port, down_together, journal, run_at, steps_of

pytestmark = pytest.mark.integration

SCALE = 0.003
FAST = {
    "EXOPS_RESTART_TIMEOUT": "60",
    "EXOPS_SETTLE_TIMEOUT": "30",
    "EXOPS_READ_TIMEOUT": "2",
    "EXOPS_CONNECT_TIMEOUT": "2",
    "EXOPS_MAX_POLL_INTERVAL": "0.2",
}
P = ("c1-p1", "c1-p2", "c1-p3")
SFTPCONFIG = "/api/v1/provisioning/common/sftpconfig"
UPGRADE_POST = "/api/v1/provisioning/common/upgrade"
STATUS = "/api/v1/status/common/upgradestatus"
SERVER = "/api/provisioning/certs/server"
ROOT = "/api/provisioning/certs/root"
RESTART = "/api/provisioning/restart"


def one_error(proc: Any, *words: str) -> str:
    """Exactly one ``exops: error:`` line, naming every one of ``words``; no traceback."""
    stderr = proc.stderr
    assert "Traceback" not in stderr, stderr
    lines = [line for line in stderr.splitlines() if line.startswith("exops: error:")]
    assert len(lines) == 1, stderr[-3000:]
    for w in words:
        assert w in lines[0], (w, lines[0])
    return lines[0]


def running(lab: Any) -> None:
    eventually(
        lambda: (
            all(s["running"] and s["reachable"] for s in lab.control.state()["peers"].values()),
            "a peer is still restarting",
        ),
        timeout=60,
    )


# -- exops upgrade ---------------------------------------------------------------------


def upgrade_args(lab: Any, *, sha512: str | None = None, sftp: str | None = None) -> list[str]:
    return lifekit.upgrade_args(lab, "--yes", sha512=sha512, sftp=sftp)


def versions(lab: Any) -> dict[str, str]:
    return {n: p["version"] for n, p in lab.control.state()["peers"].items()}


def on_target(lab: Any) -> tuple[bool, str]:
    target = lab.env["EXOPS_LAB_IMAGE_VERSION"]
    bad = {
        n: (p["version"], p["running"], p["alarms"])
        for n, p in lab.control.state()["peers"].items()
        if p["version"] != target or not p["running"] or p["alarms"]
    }
    return not bad, f"not every peer on {target}, running, alarm-free: {bad}"


def upgrade_resumes(lab: Any, cli: Cli, args: list[str], failed: tuple[str, ...] = ()) -> None:
    """The same command converges; no peer was asked twice but one whose upgrade had
    failed (``failed``: asked once more); never two down."""
    running(lab)
    rerun = cli(*args, expect=None)
    assert rerun.returncode == 0, (rerun.stdout[-3000:], rerun.stderr[-3000:])
    eventually(lambda: on_target(lab), timeout=30)
    posts = Counter(w["peer"] for w in writes_since(lab, 0) if w["path"] == UPGRADE_POST)
    assert posts == {p: 2 if p in failed else 1 for p in P}, posts
    assert down_together(lab, P) == []


# The line for an upgrade request that got no answer: the peer may have carried it out
# (it would be upgrading now), so it never says "refused".
NO_ANSWER = ("no answer to the upgrade request", "may have started", "run the same command")
# (cell id, fault on c1-p2's request of that step, words of the error line)
UPGRADE_STEP_FAULTS = [
    (
        "sftpconfig-http-500",
        {"kind": "http_error", "status": 500, "path_prefix": SFTPCONFIG},
        ("refused", "sftpconfig", "HTTP 500"),
    ),
    (
        # No answer to the SFTP settings: nothing was asked yet, so never "refused" or
        # "may have started" (an upgrade request that got no answer may have).
        "sftpconfig-dropped",
        {"kind": "drop", "path_prefix": SFTPCONFIG},
        ("no answer to the SFTP settings request", "no upgrade was asked", "run the same"),
    ),
    (
        "upgrade-post-http-500",
        {"kind": "http_error", "status": 500, "path_prefix": UPGRADE_POST},
        ("refused", "start upgrade", "HTTP 500"),
    ),
    (
        "upgradestatus-dropped",
        {"kind": "drop", "path_prefix": STATUS},
        ("upgradestatus cannot be read", "not starting"),
    ),
]


@pytest.mark.parametrize(
    ("fault", "words"),
    [c[1:] for c in UPGRADE_STEP_FAULTS],
    ids=[c[0] for c in UPGRADE_STEP_FAULTS],
)
def test_upgrade_step_fault_stops_before_the_next_peer(
    lab_factory: Any, tmp_path: Path, fault: dict[str, Any], words: tuple[str, ...]
) -> None:
    """The second peer's step fails: the run stops there (exit 1), the first peer is on
    the new version, the second and third on the old one, the third never asked."""
    lab = lab_factory(clusters=1, peers=3, time_scale=SCALE, preset="formed")
    cli = cli_for(lab, tmp_path, **FAST)
    old, target = versions(lab)["c1-p2"], lab.env["EXOPS_LAB_IMAGE_VERSION"]
    args = upgrade_args(lab)
    fid = lab.control.inject(peer="c1-p2", **fault)
    seq = last_seq(lab)
    failed = cli(*args, expect=1)
    one_error(failed, "c1-p2", *words)
    assert versions(lab) == {"c1-p1": target, "c1-p2": old, "c1-p3": old}
    sent = writes_since(lab, seq)
    assert not [w for w in sent if w["peer"] == "c1-p3"], sent
    assert not [w for w in sent if w["peer"] == "c1-p2" and w["path"] == UPGRADE_POST]
    assert [r["peer"] for r in lab.control.metrics()["restarts"]] == ["c1-p1"]
    run = journal(cli, "c1", "upgrade")[0]
    assert (run["status"], run["exit_code"]) == ("failed", 1), run
    assert ("upgrade", "c1-p2", "failed") in steps_of(cli, run["run_id"])
    lab.control.clear(fid)
    upgrade_resumes(lab, cli, args)


def test_upgrade_post_answer_late_is_followed_not_asked_again(
    lab_factory: Any, tmp_path: Path
) -> None:
    """The second peer carries the upgrade request out but answers after exops's deadline
    (a timeout; a dropped connection takes the same path): exit 1 naming the peer, never
    "refused"; the peer upgrades by itself; the re-run follows it or finds it done, and
    never sends it a second request."""
    lab = lab_factory(clusters=1, peers=3, time_scale=SCALE, preset="formed")
    cli = cli_for(lab, tmp_path, **FAST)
    args = upgrade_args(lab)
    fid = lab.control.inject(
        "late", peer="c1-p2", iface="rest", path_prefix=UPGRADE_POST, seconds=5, count=1
    )
    seq = last_seq(lab)
    failed = cli(*args, expect=1)
    assert "refused" not in one_error(failed, "c1-p2", *NO_ANSWER)
    eventually(  # the late answer is logged once it went out
        lambda: (
            any(w["path"] == UPGRADE_POST and w["peer"] == "c1-p2" for w in writes_since(lab, seq)),
            "the late request is not on record",
        ),
        timeout=30,
    )
    assert not [w for w in writes_since(lab, seq) if w["peer"] == "c1-p3"]
    lab.control.clear(fid)
    upgrade_resumes(lab, cli, args)


def test_upgradestatus_500_while_following_times_out_then_resumes(
    lab_factory: Any, tmp_path: Path
) -> None:
    """Right after the second peer accepted its upgrade, its upgradestatus answers 500:
    exops never reads the state it waits for, gives up at --peer-timeout (exit 1, the
    peer and the wait named), and starts nothing on the third peer."""
    lab = lab_factory(clusters=1, peers=3, time_scale=SCALE, preset="formed")
    cli = cli_for(lab, tmp_path, **FAST)
    args = upgrade_args(lab)
    fault = {"kind": "http_error", "peer": "c1-p2", "status": 500, "path_prefix": STATUS}
    seq = last_seq(lab)
    failed = run_at(
        lab, cli, tmp_path, [*args, "--peer-timeout", "10"], {"writes": 4, "inject": fault}
    )
    assert failed.code == 1, (failed.stdout[-3000:], failed.stderr[-3000:])
    one_error(failed, "c1-p2", "gave up")
    # A 500 is an answer: said as such, not as a reboot; the peer is named once.
    assert "answers upgradestatus with an error" in failed.stderr, failed.stderr
    assert "rebooting?" not in failed.stderr and "c1-p2: c1-p2" not in failed.stderr
    assert not [w for w in writes_since(lab, seq) if w["peer"] == "c1-p3"]
    lab.control.clear()
    upgrade_resumes(lab, cli, args)


def test_an_image_that_fails_its_hash(lab_factory: Any, tmp_path: Path) -> None:
    """UPGD_FAILED on the first peer: exit 1 with the state, no other peer touched, no
    peer rebooted; with the right hash the same command then converges."""
    lab = lab_factory(clusters=1, peers=3, time_scale=SCALE, preset="formed")
    cli = cli_for(lab, tmp_path, **FAST)
    before = versions(lab)
    seq = last_seq(lab)
    failed = cli(*upgrade_args(lab, sha512="ab" * 64), expect=1)
    one_error(failed, "c1-p1", "UPGD_FAILED", lab.env["EXOPS_LAB_IMAGE"])
    assert {w["peer"] for w in writes_since(lab, seq)} == {"c1-p1"}
    assert versions(lab) == before
    assert lab.control.metrics()["restarts"] == []
    assert journal(cli, "c1", "upgrade")[0]["status"] == "failed"
    upgrade_resumes(lab, cli, upgrade_args(lab), failed=("c1-p1",))


def test_an_sftp_server_that_is_not_there(lab_factory: Any, tmp_path: Path) -> None:
    """The peer cannot fetch the image: UPGD_FILE_DOWNLOADFAILED, exit 1, nothing else
    touched; the right server given, the same command converges."""
    lab = lab_factory(clusters=1, peers=3, time_scale=SCALE, preset="formed")
    cli = cli_for(lab, tmp_path, **FAST)
    before = versions(lab)
    nowhere = f"sftp://exops@127.0.0.1:{closed_port()}/images"
    seq = last_seq(lab)
    failed = cli(*upgrade_args(lab, sftp=nowhere), expect=1)
    one_error(failed, "c1-p1", "UPGD_FILE_DOWNLOADFAILED")
    assert {w["peer"] for w in writes_since(lab, seq)} == {"c1-p1"}
    assert versions(lab) == before
    assert lab.control.metrics()["restarts"] == []
    upgrade_resumes(lab, cli, upgrade_args(lab), failed=("c1-p1",))


# -- exops renew-cert ------------------------------------------------------------------


def other_key_csr(lab: Any) -> str:
    """A CSR naming c1-p3 correctly, made with a key that is not the one pending on it."""
    key = ec.generate_private_key(ec.SECP256R1())
    names = [x509.DNSName(lab.fqdns["c1-p3"]), x509.IPAddress(ip_address(lab.peers["c1-p3"]))]
    csr = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, lab.fqdns["c1-p3"])]))
        .add_extension(x509.SubjectAlternativeName(names), critical=False)
        .sign(key, hashes.SHA256())
    )
    return csr.public_bytes(serialization.Encoding.PEM).decode()


# (cell id, how the lab CA signs: the CSR pending on c1-p3 or one of another key, with
# these options; words of the error line)
REFUSALS = [
    ("wrong-san", "pending", {"names": ["wrong.example.com"]}, "does not name"),
    ("expired", "pending", {"days": -3}, "expired on"),
    ("other-key", "other", {}, "does not match the CSR pending"),
]


def test_renew_cert_refused_before_any_upload(lab_factory: Any, tmp_path: Path) -> None:
    """A certificate for c1-p3 that names another host, has expired, or carries another
    key than the CSR pending on it: exit 3, one line naming the file and the problem;
    the lab's request log shows no upload (accepted or not) and no write at all. The
    cells share one lab and one pending CSR (the appliance makes its key: costly)."""
    lab = lab_factory(clusters=1, peers=3, time_scale=SCALE, preset="formed", cdb_rest=True)
    cli = cli_for(lab, tmp_path, **FAST)
    out = tmp_path / "csr"
    out.mkdir()
    cli("renew-cert", "-c", "c1", "-p", "c1-p3", "--csr-out", str(out), "--yes")
    pending = (out / "c1-p3.csr").read_text()
    for name, csr, sign, words in REFUSALS:
        cert = tmp_path / f"{name}.pem"
        cert.write_text(
            lab.control.sign(pending if csr == "pending" else other_key_csr(lab), **sign)
        )
        seq = last_seq(lab)
        proc = cli("renew-cert", "-c", "c1", "-p", "c1-p3", "--cert", str(cert), "--yes", expect=3)
        one_error(proc, str(cert), words)
        sent = lab.control.requests(since=seq)
        assert [r for r in sent if r["method"] != "GET"] == [], (name, sent)
        assert lab.control.peer_state("c1-p3")["cert"] == "ok", name


# (cell id, the step's write, the fault on c1-p2 that meets it, uploads the lab accepted).
# Each fault is injected the moment exops is about to send that write (the certificate's
# path is also read before and after the upload: a fault set before the run would hit
# those reads instead), and is used up by it (count 1).
RENEW_STEP_FAULTS = [
    ("upload-http-500", SERVER, {"kind": "http_error", "status": 500}, 0),
    ("upload-dropped", SERVER, {"kind": "drop"}, 0),
    # carried out, answered after the deadline: the re-run finds it shown, never re-sends
    ("upload-answer-late", SERVER, {"kind": "late", "seconds": 5}, 1),
    ("restart-http-500", RESTART, {"kind": "http_error", "status": 500}, 1),
]


@pytest.mark.parametrize(
    ("step", "fault", "accepted"),
    [c[1:] for c in RENEW_STEP_FAULTS],
    ids=[c[0] for c in RENEW_STEP_FAULTS],
)
def test_renew_cert_step_fault_then_rerun_finishes(
    lab_factory: Any, tmp_path: Path, step: str, fault: dict[str, Any], accepted: int
) -> None:
    lab = lab_factory(clusters=1, peers=3, time_scale=0.004, preset="formed", cdb_rest=True)
    cli = cli_for(lab, tmp_path, EXOPS_TRANSPORT="rest", **FAST)
    out = tmp_path / "csr"
    out.mkdir()
    cli("renew-cert", "-c", "c1", "-p", "c1-p2", "--csr-out", str(out), "--yes")
    cert = tmp_path / "c1-p2.pem"
    cert.write_text(lab.control.sign((out / "c1-p2.csr").read_text()))
    args = ("renew-cert", "-c", "c1", "-p", "c1-p2", "--cert", str(cert), "--yes")
    inject = {**fault, "peer": "c1-p2", "iface": "rest", "path_prefix": step, "count": 1}
    seq = last_seq(lab)
    failed = run_at(lab, cli, tmp_path, args, {"before": step, "inject": inject})
    assert failed.code == 1, (failed.stdout[-3000:], failed.stderr[-3000:])
    one_error(failed, "c1-p2", "run the same command again")
    eventually(  # a late answer is on record once it went out
        lambda: (
            sum(w["path"] == SERVER for w in writes_since(lab, seq)) == accepted,
            f"uploads on record: {writes_since(lab, seq)}",
        ),
        timeout=30,
    )
    assert not [w for w in writes_since(lab, seq) if w["peer"] != "c1-p2"]
    assert lab.control.metrics()["restarts"] == []  # nothing restarted on a failed step
    run = journal(cli, "c1", "renew-cert")[0]
    assert (run["status"], run["exit_code"]) == ("failed", 1), run
    lab.control.clear()
    done = cli.json(*args)
    assert (done["status"], done["exit_code"]) == ("ok", 0), done
    assert sum(w["path"] == SERVER for w in writes_since(lab, seq)) == 1  # never twice
    assert lab.control.peer_state("c1-p2")["cert"] == "uploaded"
    for p in P:
        s = lab.control.peer_state(p)
        assert s["database"] == "Active" and not s["alarms"], (p, s["alarms"])


# -- exops drain ------------------------------------------------------------------------


def drain_lab(lab_factory: Any, tmp_path: Path) -> tuple[Any, Cli]:
    lab = lab_factory(clusters=1, peers=3, time_scale=SCALE, preset="formed", cdb_rest=True)
    lab.control.patch_peer("c1-p2", calls={"Traversal": 2, "NonTraversal": 1}, registrations=3)
    return lab, cli_for(lab, tmp_path, **FAST)


def unchanged(lab: Any) -> None:
    s = lab.control.peer_state("c1-p2")
    assert (s["maintenance_mode"], s["calls_total"], s["registrations"]) == (False, 3, 3)
    assert lab.control.metrics()["restarts"] == []


DRAIN = ("drain", "-c", "c1", "-p", "c1-p2")


def test_drain_step_never_done_times_out(lab_factory: Any, tmp_path: Path) -> None:
    """Nobody sets maintenance mode on the web page: exit 1 at the timeout, the line
    names the peer and what was last seen; nothing changed; the journal says failed."""
    lab, cli = drain_lab(lab_factory, tmp_path)
    seq = last_seq(lab)
    proc = cli(*DRAIN, "--yes", "--accept", "manual-maintenance", "--drain-timeout", "1", expect=1)
    one_error(proc, "c1-p2", "gave up waiting", "maintenance mode off")
    assert writes_since(lab, seq) == []
    unchanged(lab)
    run = journal(cli, "c1", "drain")[0]
    assert (run["status"], run["exit_code"]) == ("failed", 1), run
    assert ("wait", "c1-p2", "failed") in steps_of(cli, run["run_id"])


@pytest.mark.parametrize("how", ["--yes", "no-terminal"])
def test_drain_unattended_is_refused(lab_factory: Any, tmp_path: Path, how: str) -> None:
    """Unattended (--yes, or no terminal) without --accept: exit 3, one line with the
    manual step and the way to accept it; nothing changed, nothing journalled."""
    lab, cli = drain_lab(lab_factory, tmp_path)
    seq = last_seq(lab)
    proc = cli(*DRAIN, *(["--yes"] if how == "--yes" else []), expect=3)
    one_error(proc, "c1-p2", "Maintenance > Maintenance mode", "--accept manual-maintenance")
    assert writes_since(lab, seq) == []
    unchanged(lab)
    assert cli.json("history")["runs"] == []


def test_drain_peer_unreachable_mid_wait(lab_factory: Any, tmp_path: Path) -> None:
    """The peer stops answering while exops waits: unknown never passes: exit 1 at the
    timeout naming the peer; nothing changed; once it answers and the operator has done
    the step, the same command finds it drained."""
    lab, cli = drain_lab(lab_factory, tmp_path)
    args = (*DRAIN, "--yes", "--accept", "manual-maintenance")
    fault = {"kind": "unreachable", "peer": "c1-p2"}
    seq = last_seq(lab)
    failed = run_at(
        lab, cli, tmp_path, [*args, "--drain-timeout", "2"], {"wait": "drained", "inject": fault}
    )
    assert failed.code == 1, (failed.stdout[-3000:], failed.stderr[-3000:])
    one_error(failed, "c1-p2", "gave up waiting")
    assert writes_since(lab, seq) == []
    lab.control.clear()
    unchanged(lab)
    lab.control.patch_peer("c1-p2", maintenance_mode=True)
    done = cli.json(*args)
    assert done["status"] in ("ok", "nothing_to_change") and done["maintenance_mode_verified"]
    assert writes_since(lab, seq) == []

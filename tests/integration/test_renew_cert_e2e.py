"""`exops renew-cert` through the real CLI on the real lab: the CSR made on the peer,
signed by a CA in the test, checked, uploaded, put in force by a health-gated restart
and accepted by every peer; refusals before any upload; a CA the peers do not trust
added to their lists first."""

from __future__ import annotations

import hashlib
import socket
import ssl
from pathlib import Path
from typing import Any

import httpx
import pytest
from clikit import Cli, cli_for, last_seq, writes_since
from cryptography import x509
from cryptography.hazmat.primitives import hashes

from exops.lab import certs_api
from exops.lab.certs import LabCA

pytestmark = pytest.mark.integration

SERVER = "/api/provisioning/certs/server"
ROOT = "/api/provisioning/certs/root"
CSR = "/api/provisioning/certs/generate_csr"
# A failure shows in minutes, not the half hour a real appliance is given.
QUICK = {"EXOPS_RESTART_TIMEOUT": "120", "EXOPS_SETTLE_TIMEOUT": "120"}


def posts(lab: Any, seq: int, path: str) -> list[dict[str, Any]]:
    """Every POST to ``path`` since ``seq``, accepted or not (the lab's request log)."""
    return [
        r
        for r in lab.control.requests(since=seq)
        if r["method"] == "POST" and r["path"].split("?")[0] == path
    ]


def served_sha256(lab: Any, peer: str, cafile: Path) -> str:
    ctx = ssl.create_default_context(cafile=str(cafile))
    with (
        socket.create_connection((lab.peers[peer], lab.https_port), timeout=5) as raw,
        ctx.wrap_socket(raw, server_hostname=lab.fqdns[peer]) as tls,
    ):
        der = tls.getpeercert(binary_form=True)
    assert der is not None
    return hashlib.sha256(der).hexdigest()


def leaf_sha256(pem: str) -> str:
    return x509.load_pem_x509_certificates(pem.encode())[0].fingerprint(hashes.SHA256()).hex()


def csr_names(pem: str) -> set[str]:
    csr = x509.load_pem_x509_csr(pem.encode())
    san = csr.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    return set(san.get_values_for_type(x509.DNSName))


def make_csr(cli: Cli, tmp_path: Path, *peers: str) -> dict[str, str]:
    out = tmp_path / "csr"
    out.mkdir(exist_ok=True)
    args = [a for p in peers for a in ("--peer", p)]
    cli("renew-cert", "-c", "c1", *args, "--csr-out", str(out), "--yes")
    return {p: (out / f"{p}.csr").read_text() for p in peers}


def enforce(cli: Cli) -> None:
    cli("convert-fqdn", "-c", "c1", "--yes")
    cli("enforce-tls", "-c", "c1", "--yes")


@pytest.mark.parametrize("transport", ["rest", "ssh"])
def test_renew_on_an_enforce_cluster_then_rerun_is_a_no_op(
    lab_factory: Any, tmp_path: Path, transport: str
) -> None:
    lab = lab_factory(
        clusters=1, peers=3, time_scale=0.004, preset="formed", cdb_rest=transport == "rest"
    )
    cli = cli_for(lab, tmp_path, EXOPS_TRANSPORT=transport, **QUICK)
    enforce(cli)
    seq = last_seq(lab)
    out = tmp_path / "csr"
    out.mkdir()
    plan = cli.json("renew-cert", "-c", "c1", "--peer", "c1-p2", "--csr-out", str(out), "-n")
    assert plan["status"] == "planned" and plan["tls_mode"] == "Enforce"
    assert [s["kind"] for s in plan["steps"]] == ["generate_csr", "write_csr"]
    assert writes_since(lab, seq) == [] and not (out / "c1-p2.csr").exists()

    pem = make_csr(cli, tmp_path, "c1-p2")["c1-p2"]
    assert lab.fqdns["c1-p2"] in csr_names(pem)
    assert "PRIVATE" not in pem
    seq = last_seq(lab)
    again = cli.json("renew-cert", "-c", "c1", "--peer", "c1-p2", "--csr-out", str(out))
    assert again["status"] == "nothing_to_change", again
    assert writes_since(lab, seq) == [] and (out / "c1-p2.csr").read_text() == pem

    signed = tmp_path / "c1-p2.pem"
    signed.write_text(lab.control.sign(pem))
    seq = last_seq(lab)
    dry = cli.json("renew-cert", "-c", "c1", "--peer", "c1-p2", "--cert", str(signed), "-n")
    assert [s["kind"] for s in dry["steps"]] == ["snapshot", "upload", "restart", "verify"], dry
    assert writes_since(lab, seq) == []

    done = cli.json("renew-cert", "-c", "c1", "--peer", "c1-p2", "--cert", str(signed), "--yes")
    assert done["status"] == "ok" and done["exit_code"] == 0, done
    sent = [(r["peer"], r["path"]) for r in writes_since(lab, seq)]
    restart = "/api/provisioning/restart" if transport == "rest" else "xCommand Boot"
    assert sent == [("c1-p2", SERVER), ("c1-p2", restart)], sent
    state = lab.control.peer_state("c1-p2")
    assert state["cert"] == "uploaded"
    assert served_sha256(lab, "c1-p2", lab.ca_path) == leaf_sha256(signed.read_text())
    for peer in ("c1-p1", "c1-p2", "c1-p3"):
        s = lab.control.peer_state(peer)
        assert s["database"] == "Active" and not s["alarms"], (peer, s["alarms"])

    seq = last_seq(lab)
    rerun = cli.json("renew-cert", "-c", "c1", "--peer", "c1-p2", "--cert", str(signed), "--yes")
    assert rerun["status"] == "nothing_to_change", rerun
    assert writes_since(lab, seq) == []
    history = cli("history", "-c", "c1", "--runbook", "renew-cert").stdout
    assert history.count("renew-cert") >= 2


def test_refused_before_any_upload(lab_factory: Any, tmp_path: Path) -> None:
    lab = lab_factory(clusters=1, peers=3, time_scale=0.004, preset="formed", cdb_rest=True)
    cli = cli_for(lab, tmp_path, **QUICK)
    csrs = make_csr(cli, tmp_path, "c1-p2", "c1-p3")
    cases = {
        "wrong-san.pem": (
            lab.control.sign(csrs["c1-p3"], names=["wrong.example.com"]),
            "does not name",
        ),
        "expired.pem": (lab.control.sign(csrs["c1-p3"], days=-3), "expired on"),
        "short.pem": (lab.control.sign(csrs["c1-p3"], days=10), "less than --min-days 30"),
        "other-key.pem": (lab.control.sign(csrs["c1-p2"]), "does not match the CSR pending"),
    }
    for name, (pem, words) in cases.items():
        path = tmp_path / name
        path.write_text(pem)
        seq = last_seq(lab)
        proc = cli(
            "renew-cert", "-c", "c1", "--peer", "c1-p3", "--cert", str(path), "--yes", expect=3
        )
        error = [line for line in proc.stderr.splitlines() if line.startswith("exops: error:")]
        assert len(error) == 1 and str(path) in error[0] and words in error[0], proc.stderr
        assert "Traceback" not in proc.stderr
        assert posts(lab, seq, SERVER) == [] and writes_since(lab, seq) == []
    assert lab.control.peer_state("c1-p3")["cert"] == "ok"
    # A CSR made on the peer by hand, without the names the cluster needs: never reused,
    # never discarded (no form for that): refused with the way out.
    r = httpx.post(
        f"https://{lab.peers['c1-p1']}:{lab.https_port}{CSR}",
        auth=("admin", lab.password),
        headers={"X-CSRF-Header": "exops"},
        json={"Country": "GB"},
        verify=ssl.create_default_context(cafile=str(lab.ca_path)),
        trust_env=False,
    )
    assert r.status_code == 200, r.text
    seq = last_seq(lab)
    out = str(tmp_path / "csr")
    proc = cli("renew-cert", "-c", "c1", "--peer", "c1-p1", "--csr-out", out, expect=3)
    assert f"lacks {lab.peers['c1-p1']}" in proc.stderr and "web page" in proc.stderr
    assert writes_since(lab, seq) == [] and not (tmp_path / "csr" / "c1-p1.csr").exists()
    key = tmp_path / "with-key.pem"
    key.write_text("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n")
    proc = cli("renew-cert", "-c", "c1", "--peer", "c1-p3", "--cert", str(key), expect=2)
    assert "never uploads" in proc.stderr and "AAAA" not in proc.stderr + proc.stdout


def test_a_ca_the_peers_do_not_trust_is_added_first(lab_factory: Any, tmp_path: Path) -> None:
    lab = lab_factory(clusters=1, peers=3, time_scale=0.004, preset="formed", cdb_rest=True)
    other = LabCA("customer issuing CA")
    bundle = tmp_path / "bundle.pem"  # exops must trust the new CA to reach the peer after
    bundle.write_bytes(Path(lab.ca_path).read_bytes() + other.pem)
    cli = cli_for(lab, tmp_path, EXOPS_CA_BUNDLE=str(bundle), **QUICK)
    pem = make_csr(cli, tmp_path, "c1-p2")["c1-p2"]
    leaf = certs_api.sign_csr(other, pem.encode()).split(b"-----END CERTIFICATE-----")[0]
    cert = tmp_path / "c1-p2.pem"
    cert.write_bytes(leaf + b"-----END CERTIFICATE-----\n")
    chain = tmp_path / "chain.pem"
    chain.write_bytes(other.pem)
    args = ["renew-cert", "-c", "c1", "--peer", "c1-p2", "--cert", str(cert)]
    # Without the CA the certificate cannot be trusted: refused, nothing sent.
    seq = last_seq(lab)
    proc = cli(*args, "--yes", expect=3)
    assert "give the CA chain with --chain" in proc.stderr and writes_since(lab, seq) == []
    plan = cli.json(*args, "--chain", str(chain), "-n")
    kinds = [(s["kind"], s["host"]) for s in plan["steps"]]
    assert kinds == [
        ("snapshot", ""),
        ("add_ca", "c1-p1"),
        ("add_ca", "c1-p3"),
        ("upload", "c1-p2"),
        ("restart", "c1-p2"),
        ("verify", "c1-p2"),
    ], kinds
    seq = last_seq(lab)
    done = cli.json(*args, "--chain", str(chain), "--yes")
    assert done["status"] == "ok", done
    sent = [(r["peer"], r["path"]) for r in writes_since(lab, seq)]
    assert sent[:3] == [("c1-p1", ROOT), ("c1-p3", ROOT), ("c1-p2", SERVER)], sent
    for peer in ("c1-p1", "c1-p3"):
        roots = trusted_subjects(lab, peer, bundle)
        assert "CN=customer issuing CA" in roots
    assert served_sha256(lab, "c1-p2", bundle) == leaf_sha256(cert.read_text())
    seq = last_seq(lab)
    again = cli.json(*args, "--chain", str(chain), "--yes")
    assert again["status"] == "nothing_to_change" and writes_since(lab, seq) == []


def trusted_subjects(lab: Any, peer: str, bundle: Path) -> list[str]:
    ctx = ssl.create_default_context(cafile=str(bundle))
    r = httpx.get(
        f"https://{lab.peers[peer]}:{lab.https_port}{ROOT}",
        auth=("admin", lab.password),
        verify=ctx,
        trust_env=False,
    )
    certs = x509.load_pem_x509_certificates(r.content)
    return [c.subject.rfc4514_string() for c in certs]


def test_a_run_killed_after_the_upload_restarts_and_verifies_only(
    lab_factory: Any, tmp_path: Path
) -> None:
    """What a run killed between the upload and the restart leaves: the peer shows the
    new certificate but does not serve it yet. The re-run restarts and verifies, and
    sends no second upload (the pending CSR was used up: a second one would fail)."""
    lab = lab_factory(clusters=1, peers=3, time_scale=0.004, preset="formed", cdb_rest=True)
    cli = cli_for(lab, tmp_path, **QUICK)
    pem = make_csr(cli, tmp_path, "c1-p3")["c1-p3"]
    cert = tmp_path / "c1-p3.pem"
    cert.write_text(lab.control.sign(pem))
    r = httpx.post(
        f"https://{lab.peers['c1-p3']}:{lab.https_port}{SERVER}",
        auth=("admin", lab.password),
        headers={"X-CSRF-Header": "exops"},
        files={"file": ("c.pem", cert.read_bytes(), "application/x-pem-file")},
        verify=ssl.create_default_context(cafile=str(lab.ca_path)),
        trust_env=False,
    )
    assert r.status_code == 200, r.text
    args = ["renew-cert", "-c", "c1", "--peer", "c1-p3", "--cert", str(cert)]
    plan = cli.json(*args, "-n")
    assert [s["kind"] for s in plan["steps"]] == ["snapshot", "restart", "verify"], plan
    seq = last_seq(lab)
    done = cli.json(*args, "--yes")
    assert done["status"] == "ok", done
    sent = [(r["peer"], r["path"]) for r in writes_since(lab, seq)]
    assert sent == [("c1-p3", "/api/provisioning/restart")], sent
    assert served_sha256(lab, "c1-p3", lab.ca_path) == leaf_sha256(cert.read_text())


def test_a_failed_restart_stops_the_run_and_the_rerun_finishes(
    lab_factory: Any, tmp_path: Path
) -> None:
    """The restart of the first peer fails (the peer answers 500): the run stops there
    (exit 1, the second peer untouched), and the same command then finishes the job
    without a second upload."""
    lab = lab_factory(clusters=1, peers=3, time_scale=0.004, preset="formed", cdb_rest=True)
    cli = cli_for(lab, tmp_path, EXOPS_TRANSPORT="rest", **QUICK)
    csrs = make_csr(cli, tmp_path, "c1-p2", "c1-p3")
    signed = tmp_path / "signed"
    signed.mkdir()
    for peer, pem in csrs.items():
        (signed / f"{peer}.crt").write_text(lab.control.sign(pem))
    args = ["renew-cert", "-c", "c1", "--peer", "c1-p2", "--peer", "c1-p3"]
    args += ["--cert-dir", str(signed)]
    lab.control.inject(
        "http_error", peer="c1-p2", path_prefix="/api/provisioning/restart", status=500, count=1
    )
    seq = last_seq(lab)
    failed = cli.json(*args, "--yes", expect=1)
    assert failed["status"] == "failed" and "restart" in failed["message"], failed
    assert "run the same command again" in failed["message"]
    statuses = [s["status"] for s in failed["steps"]]
    assert statuses[:3] == ["ok", "changed", "failed"], failed["steps"]
    assert posts(lab, seq, SERVER) and all(r["peer"] == "c1-p2" for r in posts(lab, seq, SERVER))
    lab.control.clear()
    plan = cli.json(*args, "-n")
    assert [(s["kind"], s["host"]) for s in plan["steps"]] == [
        ("snapshot", ""),
        ("restart", "c1-p2"),
        ("verify", "c1-p2"),
        ("upload", "c1-p3"),
        ("restart", "c1-p3"),
        ("verify", "c1-p3"),
    ], plan["steps"]
    seq = last_seq(lab)
    done = cli.json(*args, "--yes")
    assert done["status"] == "ok", done
    assert [r["peer"] for r in posts(lab, seq, SERVER)] == ["c1-p3"]
    for peer in ("c1-p2", "c1-p3"):
        cert = (signed / f"{peer}.crt").read_text()
        assert served_sha256(lab, peer, lab.ca_path) == leaf_sha256(cert)

"""The mock's certificate renewal forms (exops/lab/certs_api.py) over real sockets:
a CSR made on the peer with a real key, an upload accepted only for that key, the
new certificate really served by the HTTPS listener after the restart, the trusted
CA list read and extended."""

from __future__ import annotations

import datetime as dt
import hashlib
import socket
import ssl
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from labkit import Rest, wait_for

from exops.lab import certs_api
from exops.lab.certs import LabCA

pytestmark = pytest.mark.integration

CSR = "/api/provisioning/certs/generate_csr"
SERVER = "/api/provisioning/certs/server"
ROOT = "/api/provisioning/certs/root"
BODY = {
    "Additional_FQDNS": ["c1-p2.alias.example.com"],
    "Country": "GB",
    "KeyLength": 2048,
    "DigestAlgorithm": "sha256",
    "Province": "London",
    "Locality": "London",
    "Organization": "Example",
    "OrganizationalUnit": "Video",
    "Email": "",
}


@pytest.fixture
def lab(lab_factory: Any) -> Any:
    return lab_factory(peers=2, time_scale=0.004, preset="formed", restart_grace=0)


@pytest.fixture
def rest(lab: Any) -> Iterator[Rest]:
    client = Rest(lab)
    yield client
    client.close()


def served_sha256(lab: Any, peer: str, cafile: Path) -> str:
    """The certificate the peer's HTTPS listener presents (a real handshake)."""
    ctx = ssl.create_default_context(cafile=str(cafile))
    with (
        socket.create_connection((lab.peers[peer], lab.https_port), timeout=5) as raw,
        ctx.wrap_socket(raw, server_hostname=lab.fqdns[peer]) as tls,
    ):
        der = tls.getpeercert(binary_form=True)
    assert der is not None
    return hashlib.sha256(der).hexdigest()


def leaf_sha256(pem: str) -> str:
    cert = x509.load_pem_x509_certificates(pem.encode())[0]
    return cert.fingerprint(hashes.SHA256()).hex()


def upload(rest: Rest, peer: str, pem: str, path: str = SERVER) -> Any:
    return rest.post(peer, path, files={"file": ("cert.pem", pem.encode(), "application/x-pem")})


def test_csr_made_on_the_peer_once_then_conflict(lab: Any, rest: Rest) -> None:
    assert rest.get("c1-p2", CSR).status_code == 404  # none pending
    r = rest.post("c1-p2", CSR, json=BODY)
    assert r.status_code == 200 and r.json() == {"Message": "OK"}, r.text
    pem = rest.get("c1-p2", CSR).text
    csr = x509.load_pem_x509_csr(pem.encode())
    assert csr.is_signature_valid
    sans = csr.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert sans.get_values_for_type(x509.DNSName) == [
        lab.fqdns["c1-p2"],
        "c1-p2.alias.example.com",
    ]
    assert csr.subject.get_attributes_for_oid(NameOID.COUNTRY_NAME)[0].value == "GB"
    assert "PRIVATE" not in pem
    again = rest.post("c1-p2", CSR, json=BODY)
    assert again.status_code == 409 and again.json() == {"Message": "Conflict"}
    assert rest.get("c1-p2", CSR).text == pem  # the key was not made again
    bad = rest.post("c1-p2", CSR, json={**BODY, "Subject": "x"})
    assert bad.status_code == 400 and "Subject" in bad.json()["Message"]


def test_upload_only_for_the_pending_key_and_served_after_restart(
    lab: Any, rest: Rest, tmp_path: Path
) -> None:
    old = rest.get("c1-p2", SERVER).text
    no_csr = upload(rest, "c1-p2", rest.get("c1-p1", SERVER).text)
    assert no_csr.status_code == 400 and no_csr.json()["Message"] == certs_api.NO_CSR
    assert rest.post("c1-p2", CSR, json=BODY).status_code == 200
    # A certificate for another key (a CSR of c1-p1's) is refused, nothing stored.
    assert rest.post("c1-p1", CSR, json=BODY).status_code == 200
    other = lab.control.sign(rest.get("c1-p1", CSR).text)
    refused = upload(rest, "c1-p2", other)
    assert refused.status_code == 400
    assert refused.json()["Message"] == certs_api.KEY_MISMATCH
    assert rest.get("c1-p2", SERVER).text == old
    assert upload(rest, "c1-p2", "not a certificate").status_code == 400
    # The right one: stored at once, served after the restart.
    signed = lab.control.sign(rest.get("c1-p2", CSR).text)
    ok = upload(rest, "c1-p2", signed)
    assert ok.status_code == 200 and ok.json() == {"Message": "OK"}, ok.text
    assert leaf_sha256(rest.get("c1-p2", SERVER).text) == leaf_sha256(signed)
    assert rest.get("c1-p2", CSR).status_code == 404  # the pending request is used up
    assert served_sha256(lab, "c1-p2", lab.ca_path) == leaf_sha256(old)
    rest.restart("c1-p2")
    wait_for(
        lambda: _served(lab, "c1-p2") == leaf_sha256(signed) or None,
        "c1-p2 to serve the new certificate",
        timeout=60,
    )
    assert lab.control.peer_state("c1-p2")["cert"] == "uploaded"


def _served(lab: Any, peer: str) -> str | None:
    try:
        return served_sha256(lab, peer, lab.ca_path)
    except OSError:
        return None


def test_trusted_list_read_and_extended(lab: Any, rest: Rest) -> None:
    before = rest.get("c1-p1", ROOT).text
    assert "BEGIN CERTIFICATE" in before
    other = LabCA("another CA")
    r = upload(rest, "c1-p1", other.pem.decode(), ROOT)
    assert r.status_code == 200 and r.json() == {"Message": "Root Certificate updated."}
    after = rest.get("c1-p1", ROOT).text
    names = [c.subject.rfc4514_string() for c in x509.load_pem_x509_certificates(after.encode())]
    assert names == ["CN=exops lab CA", "CN=another CA"]
    assert upload(rest, "c1-p1", other.pem.decode(), ROOT).status_code == 200
    assert rest.get("c1-p1", ROOT).text == after  # added once
    leaf = other.issue("x.example.com", "127.0.0.1").cert_pem.split(b"-----END CERTIFICATE-----")[0]
    not_ca = upload(rest, "c1-p1", (leaf + b"-----END CERTIFICATE-----\n").decode(), ROOT)
    assert not_ca.status_code == 400 and not_ca.json()["Message"] == certs_api.NOT_CA


def test_an_uploaded_certificate_is_trusted_only_through_a_listed_ca() -> None:
    lab_ca, other = LabCA(), LabCA("another CA")
    key = ec.generate_private_key(ec.SECP256R1())
    csr = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "a.example.com")]))
        .sign(key, hashes.SHA256())
        .public_bytes(serialization.Encoding.PEM)
    )
    chain = certs_api.sign_csr(other, csr, names=["a.example.com"])
    issued = certs_api.Issued(chain, b"", ("a.example.com",), True, "uploaded")
    assert not certs_api.trusted(issued, [lab_ca.pem], lab_ca.pem)
    assert certs_api.trusted(issued, [lab_ca.pem, other.pem], lab_ca.pem)
    expired = x509.load_pem_x509_certificates(certs_api.sign_csr(lab_ca, csr, days=-5))[0]
    assert expired.not_valid_after_utc < dt.datetime.now(dt.UTC)

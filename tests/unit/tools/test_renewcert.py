"""exops.tools.renewcert's checks, without a lab: which names a certificate needs,
the refusals before an upload (key, validity, names, self-signed), chain validation."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from factkit import cluster, peer

from exops.core.errors import UsageError
from exops.core.models import AddressMapping, TlsMode
from exops.facts.view import ClusterView
from exops.lab.certs import LabCA
from exops.tools import renewcert as rc

NOW = dt.datetime.now(dt.UTC)


def _csr(key: ec.EllipticCurvePrivateKey) -> x509.CertificateSigningRequest:
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "exp2.example.com")])
    return x509.CertificateSigningRequestBuilder().subject_name(name).sign(key, hashes.SHA256())


def _cert(
    ca: LabCA,
    key: ec.EllipticCurvePrivateKey,
    names: list[str],
    *,
    days: int = 365,
    start: int = -1,
) -> x509.Certificate:
    return (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0])]))
        .issuer_name(ca.cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(NOW + dt.timedelta(days=start))
        .not_valid_after(NOW + dt.timedelta(days=days))
        .add_extension(
            x509.SubjectAlternativeName([x509.DNSName(n) for n in names]), critical=False
        )
        .sign(ca.key, hashes.SHA256())
    )


def test_names_on_permissive_are_the_listed_name_and_fqdn_ip_listed_is_not_a_name() -> None:
    facts = cluster(*(peer(i, [0, 1, 2]) for i in range(3)))  # listed by IP
    view = ClusterView(facts)
    assert rc.required_names(view, facts, "p2") == ["exp2.example.com"]
    assert rc.required_names(view, facts, "p2", "10.0.0.12") == ["exp2.example.com", "10.0.0.12"]


def test_names_on_enforce_include_every_name_other_peers_use_and_mappings() -> None:
    peers = [peer(i, [0, 1, 2], tls=TlsMode.ENFORCE, by_fqdn=True) for i in range(3)]
    # p3 lists p2 under another name (replication not done yet), p1 maps a public name.
    s3 = peers[2].settings
    assert s3 is not None
    slots = list(s3.peers)
    slots[1] = "exp2-alt.example.com"
    peers[2] = peers[2].model_copy(
        update={"settings": s3.model_copy(update={"peers": tuple(slots)})}
    )
    s1 = peers[0].settings
    assert s1 is not None
    mapped = s1.model_copy(
        update={
            "mapping_enabled": True,
            "mapping": (AddressMapping(name="public2.example.com", address="exp2.example.com"),),
        }
    )
    peers[0] = peers[0].model_copy(update={"settings": mapped})
    facts = cluster(*peers)
    names = rc.required_names(ClusterView(facts), facts, "p2")
    assert names == ["exp2.example.com", "public2.example.com", "exp2-alt.example.com"]


def test_a_peer_not_listed_is_refused() -> None:
    facts = cluster(*(peer(i, [0, 1]) for i in range(3)))
    with pytest.raises(rc.Refused, match="p3 is not listed"):
        rc.required_names(ClusterView(facts), facts, "p3")


@pytest.mark.parametrize(
    ("kind", "words"),
    [
        ("ok", None),
        ("other-key", "does not match the CSR pending on p2"),
        ("expired", "expired on"),
        ("future", "not valid before"),
        ("short", "less than --min-days 30"),
        ("wrong-name", "does not name exp2.example.com"),
        ("no-csr", "no certificate signing request is pending on p2"),
    ],
)
def test_checks_before_an_upload(kind: str, words: str | None) -> None:
    ca, key = LabCA(), ec.generate_private_key(ec.SECP256R1())
    csr = _csr(key).public_bytes(serialization.Encoding.PEM).decode()
    names = ["exp2.example.com"]
    cert = {
        "ok": lambda: _cert(ca, key, names),
        "other-key": lambda: _cert(ca, ec.generate_private_key(ec.SECP256R1()), names),
        "expired": lambda: _cert(ca, key, names, days=-2, start=-30),
        "future": lambda: _cert(ca, key, names, start=2),
        "short": lambda: _cert(ca, key, names, days=10),
        "wrong-name": lambda: _cert(ca, key, ["wrong.example.com"]),
        "no-csr": lambda: _cert(ca, key, names),
    }[kind]()
    pending = None if kind == "no-csr" else csr
    path = Path("/x/c.pem")
    if words is None:
        rc.check_certificate(path, "p2", cert, names, pending, 30, NOW)
        return
    with pytest.raises(rc.Refused) as caught:
        rc.check_certificate(path, "p2", cert, names, pending, 30, NOW)
    assert caught.value.message.startswith("/x/c.pem: ") and words in caught.value.message
    assert caught.value.exit_code == 3


def test_chain_validation_needs_a_trusted_ca() -> None:
    ca, other = LabCA(), LabCA("another CA")
    key = ec.generate_private_key(ec.SECP256R1())
    leaf = _cert(ca, key, ["exp2.example.com"])
    assert rc.chain_problem(leaf, [], [ca.cert], NOW) is None
    assert rc.chain_problem(leaf, [], [other.cert], NOW) is not None
    assert rc.chain_problem(leaf, [], [], NOW) == "the trusted CA list is empty"


def test_subject_option() -> None:
    assert rc.parse_subject("C=GB, O=Example ,OU=Video") == (
        ("Country", "GB"),
        ("Organization", "Example"),
        ("OrganizationalUnit", "Video"),
    )
    for bad in ("CN=x", "C=GBR", "O"):
        with pytest.raises(UsageError):
            rc.parse_subject(bad)


def test_options_must_name_one_phase() -> None:
    with pytest.raises(UsageError, match="exactly one of"):
        rc.RenewOptions(peers=("p1",)).check()
    with pytest.raises(UsageError, match="one --peer"):
        rc.RenewOptions(peers=("p1", "p2"), cert=Path("x")).check()
    with pytest.raises(UsageError, match="--key-length 1024"):
        rc.RenewOptions(peers=("p1",), csr_out=Path("."), key_length=1024).check()

"""The lab CA and per-peer server certificates (EC P-256: fast for 300 peers)."""

from __future__ import annotations

import datetime as dt
import ipaddress
from dataclasses import dataclass

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

CERT_MODES = ("ok", "missing_san", "wrong_name", "expired", "self_signed")


@dataclass(frozen=True)
class Issued:
    cert_pem: bytes
    key_pem: bytes
    dns_names: tuple[str, ...]
    valid: bool  # signed by the lab CA and within its validity
    mode: str


def _key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def _pem_key(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


class LabCA:
    def __init__(self, name: str = "exops lab CA") -> None:
        self.key = _key()
        now = dt.datetime.now(dt.UTC)
        subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
        self.cert = (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(subject)
            .public_key(self.key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(days=1))
            .not_valid_after(now + dt.timedelta(days=3650))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=True,
                    key_cert_sign=True,
                    crl_sign=True,
                    content_commitment=False,
                    key_encipherment=False,
                    data_encipherment=False,
                    key_agreement=False,
                    encipher_only=False,
                    decipher_only=False,
                ),
                critical=True,
            )
            .sign(self.key, hashes.SHA256())
        )
        self.pem = self.cert.public_bytes(serialization.Encoding.PEM)

    def issue(self, fqdn: str, ip: str, mode: str = "ok") -> Issued:
        """A server certificate for one peer, in one of CERT_MODES."""
        if mode not in CERT_MODES:
            raise ValueError(f"unknown certificate mode {mode!r}")
        key = _key()
        now = dt.datetime.now(dt.UTC)
        dns = {
            "ok": [fqdn],
            "missing_san": [],
            "wrong_name": [f"wrong-{fqdn}"],
            "expired": [fqdn],
            "self_signed": [fqdn],
        }[mode]
        sans: list[x509.GeneralName] = [x509.DNSName(d) for d in dns]
        sans.append(x509.IPAddress(ipaddress.ip_address(ip)))
        subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, fqdn)])
        issuer_name, signer = (
            (subject, key) if mode == "self_signed" else (self.cert.subject, self.key)
        )
        start, end = now - dt.timedelta(days=1), now + dt.timedelta(days=825)
        if mode == "expired":
            start, end = now - dt.timedelta(days=400), now - dt.timedelta(days=10)
        cert = (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(issuer_name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(start)
            .not_valid_after(end)
            .add_extension(x509.SubjectAlternativeName(sans), critical=False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(
                x509.ExtendedKeyUsage(
                    [x509.ExtendedKeyUsageOID.SERVER_AUTH, x509.ExtendedKeyUsageOID.CLIENT_AUTH]
                ),
                critical=False,
            )
            .sign(signer, hashes.SHA256())
        )
        pem = cert.public_bytes(serialization.Encoding.PEM)
        chain = pem if mode == "self_signed" else pem + self.pem
        return Issued(
            chain, _pem_key(key), tuple(dns), mode in ("ok", "missing_san", "wrong_name"), mode
        )


def self_signed(fqdn: str, ip: str) -> Issued:
    """What a peer generates for itself after a factory reset (X12.6+)."""
    return LabCA(name=f"{fqdn} temporary").issue(fqdn, ip, "self_signed")

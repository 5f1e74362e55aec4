"""Certificate facts from PEM text (cryptography), for checks such as TLS Enforce names.

``cryptography.x509`` is imported by the functions that parse (about 25 ms):
most commands never read a certificate (status, restart, the waits).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from exops.core.errors import ApplianceError
from exops.core.models import Certificate

if TYPE_CHECKING:
    from cryptography import x509


def _cn(name: x509.Name) -> str | None:
    from cryptography.x509.oid import NameOID

    attrs = name.get_attributes_for_oid(NameOID.COMMON_NAME)
    return str(attrs[0].value) if attrs else None


def parse_certificate(pem: str) -> Certificate:
    """The leaf (first) certificate of a PEM chain.

    Raises:
        ApplianceError: no PEM certificate in the text.
    """
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes

    try:
        certs = x509.load_pem_x509_certificates(pem.encode())
    except ValueError as exc:
        raise ApplianceError(f"server certificate is not valid PEM: {exc}") from exc
    leaf = certs[0]
    try:
        san = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        sans = tuple(san.get_values_for_type(x509.DNSName)) + tuple(
            str(ip) for ip in san.get_values_for_type(x509.IPAddress)
        )
    except x509.ExtensionNotFound:
        sans = ()
    return Certificate(
        subject_cn=_cn(leaf.subject),
        sans=sans,
        issuer=_cn(leaf.issuer) or leaf.issuer.rfc4514_string(),
        not_before=leaf.not_valid_before_utc,
        not_after=leaf.not_valid_after_utc,
        self_signed=leaf.issuer == leaf.subject,
        fingerprint_sha256=leaf.fingerprint(hashes.SHA256()).hex(),
    )


def trust_store_names(pem: str) -> tuple[str, ...]:
    """Subject CNs of the CA certificates in a trust-store PEM bundle (may be empty)."""
    if "BEGIN CERTIFICATE" not in pem:
        return ()
    from cryptography import x509

    try:
        certs = x509.load_pem_x509_certificates(pem.encode())
    except ValueError as exc:
        raise ApplianceError(f"trust store is not valid PEM: {exc}") from exc
    return tuple(_cn(c.subject) or c.subject.rfc4514_string() for c in certs)

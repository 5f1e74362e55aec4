"""Server certificate renewal on a mock peer: the REST forms of the evidence
(docs/contract.md section 15; exops/appliance/knowledge.toml ``[certs]``).

- ``POST /api/provisioning/certs/generate_csr`` (JSON ``Additional_FQDNS, Country,
  KeyLength, DigestAlgorithm, Province, Locality, Organization, OrganizationalUnit,
  Email``): the peer makes a real RSA key pair, keeps the private key, and holds the
  CSR as pending. A second request while one is pending: 409 ``{"Message":
  "Conflict"}`` (the client fixture of the evidence).
- ``GET .../certs/generate_csr``: the pending CSR as PEM, 404 when there is none.
- ``POST /api/provisioning/certs/server`` (multipart ``file``, PEM, leaf first, chain
  after): accepted only when the leaf's public key is the pending CSR's; then the
  peer stores it (``GET .../certs/server`` shows it at once) and puts it in force
  (its HTTPS listener, the cluster's TLS) at its next restart (``on_boot``).
- ``POST /api/provisioning/certs/root`` (multipart ``file``): adds CA certificates
  to the trusted list; ``GET`` reads it (exops/lab/rest.py).

What no source shows is the lab's own (MOCK-DEFINED): the CSR's subject (CN = the
peer's FQDN) and SANs (its FQDN, then each ``Additional_FQDNS`` entry), the error
answers' texts, and that an upload takes effect at the next restart.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import functools
import ipaddress
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from aiohttp import web
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

from exops.lab.certs import Issued, LabCA

if TYPE_CHECKING:
    from exops.lab.lab import Lab, Peer

CSR_PATH = "/api/provisioning/certs/generate_csr"
SERVER_PATH = "/api/provisioning/certs/server"
ROOT_PATH = "/api/provisioning/certs/root"
CSR_FIELDS = frozenset(
    {
        "Additional_FQDNS",
        "Country",
        "KeyLength",
        "DigestAlgorithm",
        "Province",
        "Locality",
        "Organization",
        "OrganizationalUnit",
        "Email",
    }
)
KEY_LENGTHS = (1024, 2048, 3072, 4096)
DIGESTS = {
    "sha1": hashes.SHA1,
    "sha256": hashes.SHA256,
    "sha384": hashes.SHA384,
    "sha512": hashes.SHA512,
}
SUBJECT = (
    ("Country", NameOID.COUNTRY_NAME),
    ("Province", NameOID.STATE_OR_PROVINCE_NAME),
    ("Locality", NameOID.LOCALITY_NAME),
    ("Organization", NameOID.ORGANIZATION_NAME),
    ("OrganizationalUnit", NameOID.ORGANIZATIONAL_UNIT_NAME),
    ("Email", NameOID.EMAIL_ADDRESS),
)
# Answers: the client fixtures of the evidence (INFERRED) ...
OK = {"Message": "OK"}
ROOT_UPDATED = {"Message": "Root Certificate updated."}
CONFLICT = "Conflict"
# ... and the lab's own (MOCK-DEFINED: no source shows these errors).
NO_CSR = "No pending certificate signing request"
KEY_MISMATCH = "The certificate does not match the private key of the pending request"
NOT_PEM = "The file is not a PEM certificate"
NOT_CA = "The file holds a certificate that is not a CA certificate"


@dataclass
class PendingCsr:
    """A CSR generated on the peer: the private key never leaves it."""

    key: rsa.RSAPrivateKey
    pem: bytes


def _error(status: int, message: str) -> web.Response:
    return web.json_response({"Message": message}, status=status)


def add_routes(router: web.UrlDispatcher, lab: Lab, peer: Peer) -> None:
    router.add_get(CSR_PATH, lambda q: _pending(peer))
    router.add_post(CSR_PATH, lambda q: _generate(peer, q))
    router.add_post(SERVER_PATH, lambda q: _upload(peer, q))
    router.add_post(ROOT_PATH, lambda q: _add_root(peer, q))


def server_pem(peer: Peer) -> str:
    """``GET certs/server``: the uploaded certificate once stored, else the one in force."""
    cert = peer.next_cert or peer.cert
    return (cert.cert_pem if cert else b"").decode()


def on_boot(lab: Lab, peer: Peer) -> None:
    """A restart puts an uploaded certificate in force (listener and cluster TLS)."""
    if peer.next_cert is None:
        return
    peer.cert, peer.next_cert = peer.next_cert, None
    peer.cert_mode = "uploaded"
    lab.on_cert(peer)


def forget(peer: Peer) -> None:
    """A factory reset drops a pending CSR and an upload not yet in force."""
    peer.csr = None
    peer.next_cert = None


# -- generate_csr ---------------------------------------------------------------------


async def _pending(peer: Peer) -> web.Response:
    pending: PendingCsr | None = peer.csr
    if pending is None:
        return _error(404, NO_CSR)
    return web.Response(text=pending.pem.decode(), content_type="application/x-pem-file")


def _bad_body(data: Any) -> str | None:
    if not isinstance(data, dict):
        return "Body must be a JSON object"
    unknown = sorted(set(data) - CSR_FIELDS)
    if unknown:
        return f"Unknown field: {unknown[0]}"
    names = data.get("Additional_FQDNS", [])
    if not isinstance(names, list) or not all(isinstance(n, str) and n for n in names):
        return "Additional_FQDNS must be a list of names"
    if data.get("KeyLength", 2048) not in KEY_LENGTHS:
        return f"KeyLength must be one of {', '.join(map(str, KEY_LENGTHS))}"
    if str(data.get("DigestAlgorithm", "sha256")).lower() not in DIGESTS:
        return f"DigestAlgorithm must be one of {', '.join(DIGESTS)}"
    country = data.get("Country", "")
    if not isinstance(country, str) or len(country) not in (0, 2):
        return "Country must be a two-letter code"
    for name, _ in SUBJECT:
        if not isinstance(data.get(name, ""), str):
            return f"{name} must be text"
    return None


def _make_csr(fqdn: str, data: dict[str, Any]) -> PendingCsr:
    key = rsa.generate_private_key(public_exponent=65537, key_size=int(data.get("KeyLength", 2048)))
    attrs = [x509.NameAttribute(NameOID.COMMON_NAME, fqdn)]
    attrs += [x509.NameAttribute(oid, str(data[f])) for f, oid in SUBJECT if data.get(f)]
    sans: list[x509.GeneralName] = []
    seen: set[str] = set()
    for name in [fqdn, *data.get("Additional_FQDNS", [])]:
        if name.lower() in seen:
            continue
        seen.add(name.lower())
        try:
            sans.append(x509.IPAddress(ipaddress.ip_address(name)))
        except ValueError:
            sans.append(x509.DNSName(name))
    digest = DIGESTS[str(data.get("DigestAlgorithm", "sha256")).lower()]()
    csr = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(x509.Name(attrs))
        .add_extension(x509.SubjectAlternativeName(sans), critical=False)
        .sign(key, digest)
    )
    return PendingCsr(key, csr.public_bytes(serialization.Encoding.PEM))


async def _generate(peer: Peer, request: web.Request) -> web.Response:
    try:
        data = await request.json()
    except (ValueError, UnicodeDecodeError):
        return _error(400, "Body is not valid JSON")
    bad = _bad_body(data)
    if bad:
        return _error(400, bad)
    if peer.csr is not None:
        return _error(409, CONFLICT)
    fqdn = f"{peer.hostname}.{peer.domain}" if peer.hostname and peer.domain else peer.fqdn
    # RSA key generation takes a while: off the event loop (other peers keep answering).
    peer.csr = await asyncio.get_running_loop().run_in_executor(None, _make_csr, fqdn, data)
    return web.json_response(OK)


# -- uploads ------------------------------------------------------------------------


async def _file(request: web.Request) -> bytes | None:
    try:
        form = await request.post()
    except (ValueError, web.HTTPException):
        return None
    item = form.get("file")
    if item is None:
        return None
    if isinstance(item, web.FileField):
        return bytes(item.file.read())
    return str(item).encode()


def _certs(data: bytes | None) -> list[x509.Certificate]:
    if not data or b"BEGIN CERTIFICATE" not in data:
        return []
    try:
        return x509.load_pem_x509_certificates(data)
    except ValueError:
        return []


def _pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


def _dns_names(cert: x509.Certificate) -> tuple[str, ...]:
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return ()
    return tuple(san.get_values_for_type(x509.DNSName))


async def _upload(peer: Peer, request: web.Request) -> web.Response:
    certs = _certs(await _file(request))
    if not certs:
        return _error(400, NOT_PEM)
    pending: PendingCsr | None = peer.csr
    if pending is None:
        return _error(400, NO_CSR)
    leaf = certs[0]
    public = serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    if leaf.public_key().public_bytes(*public) != pending.key.public_key().public_bytes(*public):
        return _error(400, KEY_MISMATCH)
    now = dt.datetime.now(dt.UTC)
    in_time = leaf.not_valid_before_utc <= now <= leaf.not_valid_after_utc
    key_pem = pending.key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    peer.next_cert = Issued(
        cert_pem=b"".join(_pem(c) for c in certs),
        key_pem=key_pem,
        dns_names=_dns_names(leaf),
        valid=in_time and leaf.issuer != leaf.subject,
        mode="uploaded",
    )
    peer.csr = None
    return web.json_response(OK)


async def _add_root(peer: Peer, request: web.Request) -> web.Response:
    certs = _certs(await _file(request))
    if not certs:
        return _error(400, NOT_PEM)
    for cert in certs:
        try:
            ca = cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
        except x509.ExtensionNotFound:
            ca = False
        if not ca:
            return _error(400, NOT_CA)
    for cert in certs:
        pem = _pem(cert)
        if pem not in peer.trust_store:
            peer.trust_store.append(pem)
    return web.json_response(ROOT_UPDATED)


# -- trust (the lab's TLS Enforce rule for uploaded certificates) --------------------------


def trusted(cert: Issued, trust_store: list[bytes], lab_ca: bytes) -> bool:
    """Does a peer with ``trust_store`` trust ``cert``: the lab's own certificates are
    signed by the lab CA; an uploaded one must chain (its own chain, then the store)
    to a CA in the store, each signature checked."""
    if cert.mode != "uploaded":
        return lab_ca in trust_store
    return _chains(cert.cert_pem, tuple(trust_store))


@functools.lru_cache(maxsize=1024)
def _chains(chain_pem: bytes, store: tuple[bytes, ...]) -> bool:
    chain = _certs(chain_pem)
    anchors = [c for pem in store for c in _certs(pem)]
    if not chain:
        return False
    current, extra = chain[0], chain[1:]
    for _ in range(6):
        for ca in anchors:
            if _issued_by(current, ca):
                return True
        step = next((c for c in extra if _issued_by(current, c)), None)
        if step is None or step == current:
            return False
        current = step
    return False


def _issued_by(cert: x509.Certificate, ca: x509.Certificate) -> bool:
    try:
        cert.verify_directly_issued_by(ca)
    except (ValueError, TypeError, InvalidSignature):
        return False
    return True


# -- the lab CA signs a CSR (control API, tests only: POST /ca/sign) ----------------------


def sign_csr(
    ca: LabCA, csr_pem: bytes, *, names: list[str] | None = None, days: int = 825
) -> bytes:
    """A server certificate for the CSR's key, signed by the lab CA: the CSR's subject
    and SANs, or ``names`` instead (a wrong-SAN certificate); ``days`` < 0 gives one
    that expired. Returns the certificate then the CA (a chain, PEM)."""
    csr = x509.load_pem_x509_csr(csr_pem)
    if not csr.is_signature_valid:
        raise ValueError("the CSR's signature does not verify")
    if names is None:
        try:
            sans = list(csr.extensions.get_extension_for_class(x509.SubjectAlternativeName).value)
        except x509.ExtensionNotFound:
            sans = []
    else:
        sans = [x509.DNSName(n) for n in names]
    now = dt.datetime.now(dt.UTC)
    start, end = now - dt.timedelta(days=1), now + dt.timedelta(days=days)
    if days < 0:
        start, end = now + dt.timedelta(days=days - 365), now + dt.timedelta(days=days)
    builder = (
        x509.CertificateBuilder()
        .subject_name(csr.subject)
        .issuer_name(ca.cert.subject)
        .public_key(csr.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(end)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.ExtendedKeyUsage(
                [x509.ExtendedKeyUsageOID.SERVER_AUTH, x509.ExtendedKeyUsageOID.CLIENT_AUTH]
            ),
            critical=False,
        )
    )
    if sans:
        builder = builder.add_extension(x509.SubjectAlternativeName(sans), critical=False)
    cert = builder.sign(ca.key, hashes.SHA256())
    return _pem(cert) + ca.pem


async def sign_handler(lab: Lab, request: web.Request) -> web.Response:
    body = await request.json()
    try:
        chain = sign_csr(
            lab.ca,
            str(body["csr"]).encode(),
            names=body.get("names"),
            days=int(body.get("days", 825)),
        )
    except (KeyError, ValueError, TypeError) as exc:
        return web.json_response({"error": str(exc)}, status=400)
    return web.json_response({"certificate": chain.decode()})

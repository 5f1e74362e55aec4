"""``exops renew-cert``: renew peers' server certificates on the forms the appliance
really has (docs/contract.md section 15; knowledge.toml ``[certs]``).

The private key is generated on the appliance (``generate_csr``); exops never sees
a private key and never uploads one (that is a web page only). Two phases, each
journalled (runbook ``renew-cert``) and safe to re-run:

1. ``--csr-out DIR``: on each peer, a CSR naming what the cluster needs: the address
   the peer is listed under (a name; a peer listed by IP on a Permissive cluster is
   not checked by name), its FQDN, and on a TLS Enforce cluster every name the other
   peers list it under (and the address-mapping names that point at it). A pending
   CSR that already names all of them is reused (no new key); one that does not is
   refused (exit 3: the evidence shows no form to discard it). Written to
   ``DIR/<peer>.csr``, read back from the peer.
2. ``--cert FILE [--chain FILE]`` or ``--cert-dir DIR``: before anything is sent, on
   fresh reads, each certificate must carry the pending CSR's public key, be valid
   now and for ``--min-days`` more, name every required name, and chain (checked
   by ``cryptography``'s path validation) to a CA every other peer trusts; a CA that
   a peer does not trust yet is added to that peer's trusted list first (only a CA
   the files hold). A snapshot of the cluster is taken first (``exops snapshot``).
   Then, one peer at a time: upload, restart (the restart runbook,
   health-gated), and verify on fresh reads that the peer shows and serves the new
   certificate and every peer of the cluster is healthy (on Enforce: they accept it).
   A peer whose certificate is already shown and served is not touched again.

Any refusal (a wrong name, an expired certificate, another key) is one line naming
the file and the problem, exit 3, nothing sent.
"""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from exops.appliance.rest import (
    add_trusted_cas,
    cert_forms,
    generate_csr,
    read_pending_csr,
    read_server_pem,
    read_trusted_pem,
    rest_of,
    served_certificate,
    upload_server_certificate,
)
from exops.apply.waits import Reporter, Waiter
from exops.core.errors import (
    ApplianceError,
    ExopsError,
    LockedError,
    PreconditionError,
    TimeoutError_,
    UsageError,
)
from exops.core.exitcodes import ExitCode
from exops.core.files import read_capped, write_atomic
from exops.core.models import ClusterFacts, PeerFacts, TlsMode, is_ip
from exops.facts.gather import Fact
from exops.facts.health import settled_problems
from exops.facts.view import ClusterView
from exops.run.env import Env
from exops.tools.journalled import (
    JournalledRun,
    close_unfinished,
    cluster_lock,
    ended,
    state_store,
)

if TYPE_CHECKING:
    from cryptography import x509

RUNBOOK = "renew-cert"
CERT_FILE_LIMIT = 64 * 1024
CERT_SUFFIXES = (".pem", ".crt", ".cer")
SUBJECT_KEYS = {
    "C": "Country",
    "ST": "Province",
    "L": "Locality",
    "O": "Organization",
    "OU": "OrganizationalUnit",
    "EMAIL": "Email",
}


@dataclass(frozen=True)
class RenewOptions:
    peers: tuple[str, ...]
    csr_out: Path | None = None
    cert: Path | None = None
    chain: Path | None = None
    cert_dir: Path | None = None
    min_days: int = 30
    subject: tuple[tuple[str, str], ...] = ()  # (generate_csr field, value) overrides
    key_length: int = 2048
    digest: str = "sha256"
    dry_run: bool = False
    lock_timeout: float | None = None

    @property
    def phase(self) -> str:
        return "csr" if self.csr_out is not None else "install"

    def check(self) -> None:
        """Raises UsageError for a combination of options that means nothing."""
        if not self.peers:
            raise UsageError("--peer: name at least one peer")
        if len(set(self.peers)) != len(self.peers):
            raise UsageError("--peer: a peer is named twice")
        given = [
            n
            for n, v in (
                ("--csr-out", self.csr_out),
                ("--cert", self.cert),
                ("--cert-dir", self.cert_dir),
            )
            if v is not None
        ]
        if len(given) != 1:
            raise UsageError(
                "give exactly one of --csr-out DIR (phase 1), --cert FILE or --cert-dir DIR "
                f"(phase 2); got {', '.join(given) or 'none'}"
            )
        if self.cert is not None and len(self.peers) != 1:
            raise UsageError("--cert FILE is for one --peer; for several use --cert-dir DIR")
        if self.chain is not None and self.csr_out is not None:
            raise UsageError("--chain goes with --cert or --cert-dir, not --csr-out")
        if self.min_days < 0:
            raise UsageError(f"--min-days {self.min_days}: a number of days, 0 or more")
        forms = cert_forms()
        if self.key_length not in forms["key_lengths"]:
            allowed = ", ".join(str(k) for k in forms["key_lengths"])
            raise UsageError(f"--key-length {self.key_length}: one of {allowed}")
        if self.digest not in forms["digests"]:
            raise UsageError(f"--digest {self.digest}: one of {', '.join(forms['digests'])}")


def parse_subject(text: str) -> tuple[tuple[str, str], ...]:
    """``C=GB,ST=London,L=London,O=Example,OU=Video,EMAIL=pki@example.com`` as
    generate_csr fields. Raises UsageError naming the bad part."""
    out: dict[str, str] = {}
    for part in [p.strip() for p in text.split(",") if p.strip()]:
        key, sep, value = part.partition("=")
        name = SUBJECT_KEYS.get(key.strip().upper())
        if not sep or name is None:
            raise UsageError(
                f"--subject {part!r}: expected KEY=VALUE with KEY one of {', '.join(SUBJECT_KEYS)}"
            )
        out[name] = value.strip()
    country = out.get("Country", "")
    if country and (len(country) != 2 or not country.isalpha()):
        raise UsageError(f"--subject C={country}: a two-letter country code")
    return tuple(out.items())


@dataclass
class Step:
    """One step of the plan, then of the run (status planned/ok/changed/failed/skipped)."""

    id: str
    kind: (
        str  # generate_csr | reuse_csr | write_csr | snapshot | add_ca | upload | restart | verify
    )
    host: str
    text: str
    status: str = "planned"
    detail: str = ""

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "kind": self.kind,
            "host": self.host,
            "step": self.text,
            "status": self.status,
            "detail": self.detail or None,
        }


@dataclass
class RenewResult:
    cluster: str
    phase: str
    status: str  # planned | nothing_to_change | ok | refused | failed | interrupted
    exit_code: int
    message: str
    steps: list[Step] = field(default_factory=list)
    names: dict[str, list[str]] = field(default_factory=dict)
    tls_mode: str = ""
    run_id: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "schema": "exops.renew-cert/1",
            "cluster": self.cluster,
            "phase": self.phase,
            "status": self.status,
            "exit_code": self.exit_code,
            "message": self.message,
            "tls_mode": self.tls_mode or None,
            "names": self.names,
            "steps": [s.to_json() for s in self.steps],
            "run_id": self.run_id,
        }


class Refused(PreconditionError):
    """A precondition does not hold: nothing is sent (exit 3)."""


# -- what the cluster needs a peer's certificate to name --------------------------------------


def _connect(ctx: _Ctx, host: str) -> str:
    """The address exops connects to for ``host`` (inventory ``hostname``)."""
    return ctx.env.inventory.cluster(ctx.cluster).peer(host).hostname


def _fqdn(p: PeerFacts) -> str:
    if p.system is not None and p.system.hostname and p.system.domain:
        return p.system.fqdn
    return p.fqdn


def required_names(
    view: ClusterView, facts: ClusterFacts, host: str, connect: str = ""
) -> list[str]:
    """The names ``host``'s certificate must carry (see the module docstring), and
    ``connect``, the address exops itself connects to (an IP or a name): a
    certificate that does not name it would lock exops out of the peer (HTTPS
    verification stays on).

    Raises:
        Refused: the peer is not listed, or the cluster's settings cannot be read.
    """
    p = facts.peer(host)
    slot = view.slot_of(host)
    if not slot:
        raise Refused(f"{host} is not listed in cluster {facts.cluster}'s peer list")
    names: list[str] = []

    def add(name: str) -> None:
        if name and not is_ip(name) and name.lower() not in [n.lower() for n in names]:
            names.append(name)

    add(view.settings.peers[slot - 1])
    add(_fqdn(p))
    if view.settings.tls_mode is TlsMode.ENFORCE:
        for q in facts.peers:
            if q.settings is None or q.host == host:
                continue
            add(q.settings.peers[slot - 1])
            if q.settings.mapping_enabled:
                listed = {view.settings.peers[slot - 1].lower(), p.address.lower()}
                for m in q.settings.mapping:
                    if m.address.lower() in listed:
                        add(m.name)
    if not names:
        raise Refused(f"{host}: no FQDN known (inventory fqdn, or the peer's DNS settings)")
    if connect and connect.lower() not in [n.lower() for n in names]:
        names.append(connect)
    return names


# -- certificate files and checks (cryptography) -------------------------------------------


def _load(path: Path, what: str) -> list[x509.Certificate]:
    from cryptography import x509

    data = read_capped(path, CERT_FILE_LIMIT, what)
    if b"PRIVATE KEY" in data:
        raise UsageError(
            f"{path}: holds a private key; exops never uploads one (the key is made on the "
            "peer): give the certificate only"
        )
    try:
        certs = x509.load_pem_x509_certificates(data)
    except ValueError as exc:
        raise UsageError(f"{path}: not a PEM certificate ({exc})") from exc
    return certs


def _sha256(cert: x509.Certificate) -> str:
    from cryptography.hazmat.primitives import hashes

    return cert.fingerprint(hashes.SHA256()).hex()


def _spki(key: Any) -> bytes:
    from cryptography.hazmat.primitives import serialization

    return bytes(
        key.public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )


def cert_names(cert: x509.Certificate | x509.CertificateSigningRequest) -> list[str]:
    """DNS and IP SANs, and the CN (the domain's rule: "CN or a SAN")."""
    from cryptography import x509
    from cryptography.x509.oid import NameOID

    names: list[str] = []
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        names += san.get_values_for_type(x509.DNSName)
        names += [str(ip) for ip in san.get_values_for_type(x509.IPAddress)]
    except x509.ExtensionNotFound:
        pass
    names += [str(a.value) for a in cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)]
    unique: list[str] = []
    for n in names:
        if n.lower() not in [u.lower() for u in unique]:
            unique.append(n)
    return unique


def _is_ca(cert: x509.Certificate) -> bool:
    from cryptography import x509

    try:
        return bool(cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca)
    except x509.ExtensionNotFound:
        return False


def chain_problem(
    leaf: x509.Certificate,
    intermediates: Sequence[x509.Certificate],
    anchors: Sequence[x509.Certificate],
    now: datetime,
) -> str | None:
    """None when ``leaf`` chains (signatures, validity, CA constraints) through
    ``intermediates`` to one of ``anchors``; else the validator's reason."""
    from cryptography import x509
    from cryptography.x509 import verification as v

    if not anchors:
        return "the trusted CA list is empty"
    builder = (
        v.PolicyBuilder()
        .store(v.Store(list(anchors)))
        .time(now)
        .extension_policies(
            # Enterprise CAs often lack what the Web PKI profile demands (an authority
            # key identifier, ...): only what a chain needs is required (signatures,
            # validity, basicConstraints cA on every issuer).
            ca_policy=v.ExtensionPolicy.permit_all().require_present(
                x509.BasicConstraints, v.Criticality.AGNOSTIC, _asserts_ca
            ),
            ee_policy=v.ExtensionPolicy.permit_all(),
        )
    )
    try:
        builder.build_client_verifier().verify(leaf, list(intermediates))
    except v.VerificationError as exc:
        return str(exc).splitlines()[0][:200]
    return None


def _asserts_ca(_policy: Any, _cert: Any, value: Any) -> None:
    if value is None or not value.ca:
        raise ValueError("basicConstraints does not assert a CA")


def _pem_certs(text: str) -> list[x509.Certificate]:
    from cryptography import x509

    if "BEGIN CERTIFICATE" not in text:
        return []
    try:
        return x509.load_pem_x509_certificates(text.encode())
    except ValueError as exc:
        raise ApplianceError(f"trusted CA list is not valid PEM: {exc}") from exc


@dataclass
class Install:
    """One peer's certificate, checked: what its run must do."""

    host: str
    path: Path
    leaf: x509.Certificate
    extra: list[x509.Certificate]
    names: list[str]
    uploaded: bool = False  # GET certs/server shows it already
    served: bool = False  # the HTTPS listener presents it already

    @property
    def sha256(self) -> str:
        return _sha256(self.leaf)

    def pem(self) -> str:
        from cryptography.hazmat.primitives import serialization

        return "".join(
            c.public_bytes(serialization.Encoding.PEM).decode() for c in [self.leaf, *self.extra]
        )


def _cert_path(opts: RenewOptions, host: str) -> Path:
    if opts.cert is not None:
        return opts.cert
    folder = opts.cert_dir or Path(".")
    for suffix in CERT_SUFFIXES:
        candidate = folder / f"{host}{suffix}"
        if candidate.exists():
            return candidate
    raise UsageError(
        f"{folder}: no certificate for {host} (expected {host}.pem, {host}.crt or {host}.cer)"
    )


def check_certificate(
    path: Path,
    host: str,
    leaf: x509.Certificate,
    names: list[str],
    csr_pem: str | None,
    min_days: int,
    now: datetime,
    *,
    uploaded: bool = False,
) -> None:
    """The checks before an upload that do not depend on other peers (``uploaded``:
    the peer shows this certificate already, so there is no CSR left to match; the
    other checks still hold before its restart puts it in force).

    Raises:
        Refused: one line, naming the file and the problem.
    """
    from cryptography import x509

    if csr_pem is None and not uploaded:
        raise Refused(
            f"{path}: no certificate signing request is pending on {host}; run "
            f"`exops renew-cert --peer {host} --csr-out DIR` first (the key is made on the peer)"
        )
    csr = x509.load_pem_x509_csr(csr_pem.encode()) if csr_pem and not uploaded else None
    if csr is not None and _spki(leaf.public_key()) != _spki(csr.public_key()):
        raise Refused(
            f"{path}: its key does not match the CSR pending on {host} (a certificate for "
            "another request)"
        )
    if leaf.not_valid_before_utc > now:
        raise Refused(f"{path}: not valid before {leaf.not_valid_before_utc:%Y-%m-%d %H:%M} UTC")
    if leaf.not_valid_after_utc <= now:
        raise Refused(f"{path}: expired on {leaf.not_valid_after_utc:%Y-%m-%d}")
    left = leaf.not_valid_after_utc - now
    if left < dt.timedelta(days=min_days):
        raise Refused(
            f"{path}: valid only until {leaf.not_valid_after_utc:%Y-%m-%d} ({left.days} days), "
            f"less than --min-days {min_days}"
        )
    if leaf.issuer == leaf.subject:
        raise Refused(f"{path}: self-signed; have the CA sign the CSR")
    has = {n.lower() for n in cert_names(leaf)}
    missing = [n for n in names if n.lower() not in has]
    if missing:
        raise Refused(
            f"{path}: does not name {', '.join(missing)}, needed for {host} (the names the "
            "cluster lists it under and the address exops connects to; its names: "
            f"{', '.join(cert_names(leaf)) or 'none'})"
        )


# -- the run ------------------------------------------------------------------------------


@dataclass
class _Ctx:
    env: Env
    cluster: str
    opts: RenewOptions
    session: Any
    say: Callable[[str], None]


def _read(ctx: _Ctx) -> tuple[ClusterFacts, ClusterView]:
    facts = ctx.session.gather(
        ctx.cluster, needs=frozenset({Fact.SETTINGS, Fact.SYSTEM, Fact.STATUS, Fact.ALARMS})
    )
    for host in ctx.opts.peers:
        p = facts.peer(host)
        if not p.reachable:
            raise Refused(f"{host} does not answer ({p.error}): exops renews only a peer it reads")
    view = ClusterView(facts)
    if not any(view.settings.peers):
        raise Refused(
            f"cluster {ctx.cluster}: its peer list cannot be read or is empty; exops "
            "cannot tell which names the certificates need"
        )
    return facts, view


def renew(
    env: Env,
    cluster: str,
    opts: RenewOptions,
    *,
    say: Callable[[str], None] = lambda line: None,
    reporter: Reporter | None = None,
    observers: Sequence[Any] = (),
    cancel: threading.Event | None = None,
    confirm: Callable[[RenewResult], bool] | None = None,
) -> RenewResult:
    """Phase 1 or 2 (see the module docstring) on ``opts.peers`` of ``cluster``.

    Raises:
        UsageError: bad options, an unknown cluster or peer, an unreadable file.
        LockedError: another run holds the cluster.
        KeyboardInterrupt: interrupted (journalled as interrupted).
    """
    opts.check()
    spec = env.inventory.cluster(cluster)
    for host in opts.peers:
        spec.peer(host)
    result = RenewResult(cluster, opts.phase, "planned", 0, "")
    with state_store(env, skip=opts.dry_run) as store, env.session([cluster]) as session:
        ctx = _Ctx(env, cluster, opts, session, say)
        try:
            if opts.phase == "csr":
                return _csr_phase(ctx, store, result, confirm)
            return _install_phase(ctx, store, result, reporter, observers, cancel, confirm)
        except Refused as exc:
            return ended(result, "refused", ExitCode.REFUSED, exc.message)


def _journalled(store: Any, ctx: _Ctx, result: RenewResult) -> JournalledRun:
    """The run as the journal records it (one run, its steps as they finish)."""
    run = JournalledRun(
        store,
        ctx.cluster,
        RUNBOOK,
        params=_params(ctx),
        plan={"steps": [s.to_json() for s in result.steps], "forms": _forms()},
    )
    result.run_id = run.run_id
    return run


def _params(ctx: _Ctx) -> dict[str, Any]:
    return {
        "peers": list(ctx.opts.peers),
        "phase": ctx.opts.phase,
        "csr_out": str(ctx.opts.csr_out) if ctx.opts.csr_out else None,
        "cert": str(ctx.opts.cert) if ctx.opts.cert else None,
        "chain": str(ctx.opts.chain) if ctx.opts.chain else None,
        "cert_dir": str(ctx.opts.cert_dir) if ctx.opts.cert_dir else None,
        "min_days": ctx.opts.min_days,
    }


def _record(run: JournalledRun, step: Step, started: datetime, error: str | None = None) -> None:
    run.step(
        step.id, step.text, step.kind, step.host or None, step.status, started, None,
        step.detail, error,
    )  # fmt: skip


def _forms() -> dict[str, str]:
    return {row["name"]: f"{row['form']} ({row['mark']})" for row in cert_forms()["form"]}


def _lock(store: Any, ctx: _Ctx) -> Any:
    return cluster_lock(store, ctx.env, ctx.cluster, RUNBOOK, ctx.opts.lock_timeout)


def _run_steps(
    store: Any,
    ctx: _Ctx,
    result: RenewResult,
    work: Callable[[Step], str],
    *,
    success: str,
) -> RenewResult:
    """Do each planned step in order, journalled; stop at the first failure."""
    with _journalled(store, ctx, result) as journal:
        for step in result.steps:
            started = datetime.now(UTC)
            ctx.say(f"{step.text} ...")
            try:
                step.detail = work(step)
                step.status = "skipped" if step.detail.startswith("skipped") else "changed"
                if step.kind in ("verify", "reuse_csr", "snapshot"):
                    step.status = "ok"
                _record(journal, step, started)
            except KeyboardInterrupt:
                step.status = "interrupted"
                _record(journal, step, started, "interrupted")
                journal.finish("interrupted", ExitCode.INTERRUPTED)
                raise
            except (UsageError, LockedError) as exc:  # bad input (2), held lock (4): as raised
                step.status, step.detail = "refused", str(exc)
                _record(journal, step, started, str(exc))
                journal.finish("refused", exc.exit_code)
                raise
            except Refused as exc:
                step.status, step.detail = "refused", exc.message
                _record(journal, step, started, exc.message)
                journal.finish("refused", ExitCode.REFUSED)
                return ended(result, "refused", ExitCode.REFUSED, exc.message)
            except ExopsError as exc:
                step.status, step.detail = "failed", str(exc)
                _record(journal, step, started, str(exc))
                journal.finish("failed", ExitCode.FAILED)
                advice = (
                    "; once the cause is fixed, run the same command again (it picks up "
                    "where this run stopped)"
                )
                return ended(result, "failed", ExitCode.FAILED, f"{step.text}: {exc}{advice}")
        journal.finish("ok", ExitCode.OK)
    return ended(result, "ok", ExitCode.OK, success)


# -- phase 1: CSRs -------------------------------------------------------------------------


def _subject_body(ctx: _Ctx, host: str) -> dict[str, Any]:
    """generate_csr subject fields: the current certificate's, then --subject's."""
    from cryptography import x509
    from cryptography.x509.oid import NameOID

    body: dict[str, Any] = {k: "" for k in SUBJECT_KEYS.values()}
    current = read_server_pem(rest_of(ctx.session.appliance(host)))
    if "BEGIN CERTIFICATE" in current:
        leaf = x509.load_pem_x509_certificates(current.encode())[0]
        for name, oid in (
            ("Country", NameOID.COUNTRY_NAME),
            ("Province", NameOID.STATE_OR_PROVINCE_NAME),
            ("Locality", NameOID.LOCALITY_NAME),
            ("Organization", NameOID.ORGANIZATION_NAME),
            ("OrganizationalUnit", NameOID.ORGANIZATIONAL_UNIT_NAME),
            ("Email", NameOID.EMAIL_ADDRESS),
        ):
            attrs = leaf.subject.get_attributes_for_oid(oid)
            if attrs:
                body[name] = str(attrs[0].value)
    body.update(dict(ctx.opts.subject))
    return body


def _csr_covers(csr_pem: str, names: list[str]) -> list[str]:
    """The required names a CSR lacks."""
    from cryptography import x509

    csr = x509.load_pem_x509_csr(csr_pem.encode())
    has = {n.lower() for n in cert_names(csr)}
    return [n for n in names if n.lower() not in has]


def _plan_csrs(
    ctx: _Ctx, facts: ClusterFacts, view: ClusterView, result: RenewResult, out: Path
) -> None:
    for n, host in enumerate(ctx.opts.peers, start=1):
        names = required_names(view, facts, host, _connect(ctx, host))
        result.names[host] = names
        pending = read_pending_csr(rest_of(ctx.session.appliance(host)))
        path = out / f"{host}.csr"
        if pending is not None:
            missing = _csr_covers(pending, names)
            if missing:
                raise Refused(
                    f"{host}: a certificate signing request is already pending and lacks "
                    f"{', '.join(missing)}; exops has no form to discard it (none in the "
                    "evidence): discard it on the peer's server-certificate web page, then "
                    "run again"
                )
            result.steps.append(
                Step(f"c{n}", "reuse_csr", host, f"reuse the CSR pending on {host}")
            )
        else:
            result.steps.append(
                Step(
                    f"c{n}",
                    "generate_csr",
                    host,
                    f"generate a key and CSR on {host} naming {', '.join(names)} "
                    f"(RSA {ctx.opts.key_length}, {ctx.opts.digest})",
                )
            )
        same = pending is not None and path.is_file() and _same_file(path, pending)
        text = f"write {host}'s CSR to {path}" + (" (already there)" if same else "")
        result.steps.append(Step(f"w{n}", "write_csr", host, text))


def _csr_work(ctx: _Ctx, facts: ClusterFacts, result: RenewResult, out: Path, step: Step) -> str:
    app = rest_of(ctx.session.appliance(step.host))
    names = result.names[step.host]
    if step.kind == "reuse_csr":
        return "the pending CSR names every required name"
    if step.kind == "generate_csr":
        if read_pending_csr(app) is not None:  # made since the plan (or by a killed run)
            return "skipped: a CSR is pending already"
        fqdn = _fqdn(facts.peer(step.host))
        body = {
            "Additional_FQDNS": [n for n in names if n.lower() != fqdn.lower()],
            "KeyLength": ctx.opts.key_length,
            "DigestAlgorithm": ctx.opts.digest,
            **_subject_body(ctx, step.host),
        }
        message = generate_csr(app, body)
        return f"generated on {step.host} ({message})"
    pending = read_pending_csr(app)  # write_csr: what the peer holds, read back
    if pending is None:
        raise ApplianceError(f"{step.host}: no CSR pending after generate_csr")
    missing = _csr_covers(pending, names)
    if missing:
        raise Refused(
            f"{step.host}: the CSR the peer made lacks {', '.join(missing)} (the peer "
            "did not put Additional_FQDNS into it): discard it on the peer's "
            "server-certificate web page"
        )
    path = out / f"{step.host}.csr"
    if path.is_file() and _same_file(path, pending):
        return "skipped: the file holds this CSR already"
    write_atomic(path, pending.encode(), "CSR file", mode=0o644)
    return f"wrote {path}"


def _csr_phase(
    ctx: _Ctx, store: Any, result: RenewResult, confirm: Callable[[RenewResult], bool] | None
) -> RenewResult:
    out = ctx.opts.csr_out or Path(".")
    if not out.is_dir():
        raise UsageError(f"--csr-out {out}: not a directory")
    facts, view = _read(ctx)
    result.tls_mode = view.settings.tls_mode.value
    _plan_csrs(ctx, facts, view, result, out)
    if all(s.kind == "reuse_csr" or "(already there)" in s.text for s in result.steps):
        return ended(
            result,
            "nothing_to_change",
            ExitCode.OK,
            "every CSR is pending on its peer and written: have your CA sign them, then "
            "run with --cert / --cert-dir",
        )
    if ctx.opts.dry_run:
        return ended(result, "planned", ExitCode.OK, _plan_text(result))
    if confirm is not None and not confirm(result):
        return ended(result, "refused", ExitCode.REFUSED, "not confirmed: nothing changed")
    with _lock(store, ctx):
        return _run_steps(
            store,
            ctx,
            result,
            lambda step: _csr_work(ctx, facts, result, out, step),
            success=f"CSRs written to {out}: have your CA sign them, then run with "
            "--cert FILE (one peer) or --cert-dir DIR",
        )


def _same_file(path: Path, text: str) -> bool:
    try:
        return read_capped(path, CERT_FILE_LIMIT, "CSR file").decode().strip() == text.strip()
    except (UsageError, UnicodeDecodeError):
        return False


# -- phase 2: install -----------------------------------------------------------------------


def _install_phase(
    ctx: _Ctx,
    store: Any,
    result: RenewResult,
    reporter: Reporter | None,
    observers: Sequence[Any],
    cancel: threading.Event | None,
    confirm: Callable[[RenewResult], bool] | None,
) -> RenewResult:
    facts, view = _read(ctx)
    result.tls_mode = view.settings.tls_mode.value
    now = datetime.now(UTC)
    installs, add_ca = _check_installs(ctx, facts, view, result, now)
    _plan_install(result, installs, add_ca)
    if all(s.kind == "verify" for s in result.steps) and _healthy(ctx, facts) is None:
        result.steps = []
        said = "every certificate is installed, served and accepted"
        closed = None
        if not ctx.opts.dry_run:  # a killed run's last step done: close it in the journal
            closed = close_unfinished(
                store, ctx.env, ctx.cluster, RUNBOOK, params=_params(ctx),
                detail=f"{said} (read now)", lock_timeout=ctx.opts.lock_timeout,
            )  # fmt: skip
        return ended(
            result,
            "nothing_to_change",
            ExitCode.OK,
            f"{said}: nothing to do" + (f"; {closed}" if closed else ""),
        )
    if any(s.kind != "verify" for s in result.steps):
        result.steps.insert(
            0,
            Step(
                "s0",
                "snapshot",
                "",
                f"snapshot every peer's configuration of cluster {ctx.cluster} first "
                "(exops snapshot; certificates' public parts included)",
            ),
        )
    if ctx.opts.dry_run:
        return ended(result, "planned", ExitCode.OK, _plan_text(result))
    if confirm is not None and not confirm(result):
        return ended(result, "refused", ExitCode.REFUSED, "not confirmed: nothing changed")
    by_host = {i.host: i for i in installs}
    waiter = Waiter(reporter, max_poll=ctx.env.settings.max_poll_interval, cancel=cancel)

    def work(step: Step) -> str:
        if step.kind == "snapshot":
            return _do_snapshot(ctx)
        if step.kind == "add_ca":
            return _do_add_ca(ctx, step.host, add_ca[step.host], by_host, now)
        item = by_host[step.host]
        if step.kind == "upload":
            return _do_upload(ctx, item, now)
        if step.kind == "restart":
            return _do_restart(ctx, item, observers)
        return _do_verify(ctx, item, waiter)

    # The cluster lock is held for each check-and-write step; each restart runs as the
    # restart runbook, which takes the lock itself (and journals its own run).
    return _run_steps(
        store,
        ctx,
        result,
        lambda step: _locked(store, ctx, step, work),
        success="new certificate"
        + ("s" if len(installs) > 1 else "")
        + f" installed on {', '.join(i.host for i in installs)}: shown, served and accepted "
        "by every peer",
    )


def _check_installs(
    ctx: _Ctx, facts: ClusterFacts, view: ClusterView, result: RenewResult, now: datetime
) -> tuple[list[Install], dict[str, list[x509.Certificate]]]:
    """Each certificate checked on fresh reads (Refused at the first problem), and the
    CAs each other peer must be given first."""
    chain_extra = _load(ctx.opts.chain, "chain file") if ctx.opts.chain else []
    files = {h: _cert_path(ctx.opts, h) for h in ctx.opts.peers}
    loaded = {h: _load(p, "certificate file") for h, p in files.items()}
    members = view.members
    stores = {h: _pem_certs(read_trusted_pem(rest_of(ctx.session.appliance(h)))) for h in members}
    installs: list[Install] = []
    add_ca: dict[str, list[x509.Certificate]] = {}
    for host in ctx.opts.peers:
        names = required_names(view, facts, host, _connect(ctx, host))
        result.names[host] = names
        leaf, extra = loaded[host][0], [*loaded[host][1:], *chain_extra]
        item = Install(host, files[host], leaf, extra, names)
        app = rest_of(ctx.session.appliance(host))
        shown = _pem_certs(read_server_pem(app))
        item.uploaded = bool(shown) and _sha256(shown[0]) == item.sha256
        if item.uploaded:
            item.served = _served_sha256(ctx, host) == item.sha256
        if not item.served:
            pending = None if item.uploaded else read_pending_csr(app)
            check_certificate(
                item.path,
                host,
                leaf,
                names,
                pending,
                ctx.opts.min_days,
                now,
                uploaded=item.uploaded,
            )
        for other in members:
            if other == host or chain_problem(leaf, extra, stores[other], now) is None:
                continue
            have = add_ca.setdefault(other, [])
            for ca in _cas_to_add(item, now):
                if all(_sha256(ca) != _sha256(c) for c in have):
                    have.append(ca)
        installs.append(item)
    return installs, add_ca


def _do_snapshot(ctx: _Ctx) -> str:
    """``exops snapshot`` (its own journalled run, under the cluster lock)."""
    from exops.tools.snapshot import take

    taken = take(ctx.env, ctx.cluster, lock_timeout=ctx.opts.lock_timeout)
    missing = f"; not read whole: {', '.join(taken.incomplete)}" if taken.incomplete else ""
    return f"snapshot {taken.snapshot_id}{missing}"


def _locked(store: Any, ctx: _Ctx, step: Step, work: Callable[[Step], str]) -> str:
    if step.kind in ("restart", "snapshot"):  # runs that take the cluster lock themselves
        return work(step)
    with _lock(store, ctx):
        return work(step)


def _cas_to_add(item: Install, now: datetime) -> list[x509.Certificate]:
    """The CA certificates of the files that complete ``item``'s chain (its root and
    intermediates). Raises Refused when the files hold no CA it chains to."""
    cas = [c for c in item.extra if _is_ca(c)]
    roots = [c for c in cas if c.issuer == c.subject]
    if not roots or chain_problem(item.leaf, cas, roots, now) is not None:
        problem = chain_problem(item.leaf, cas, roots, now) if roots else "no root CA given"
        raise Refused(
            f"{item.path}: its issuer ({item.leaf.issuer.rfc4514_string()}) is not trusted by "
            f"every other peer, and the files hold no CA it chains to ({problem}): give the "
            "CA chain with --chain"
        )
    return cas


def _plan_install(
    result: RenewResult, installs: list[Install], add_ca: dict[str, list[x509.Certificate]]
) -> None:
    n = 0
    for host, cas in add_ca.items():
        n += 1
        subjects = "; ".join(c.subject.rfc4514_string() for c in cas)
        result.steps.append(
            Step(f"a{n}", "add_ca", host, f"add CA {subjects} to {host}'s trusted CA list")
        )
    for item in installs:
        n += 1
        expiry = f"{item.leaf.not_valid_after_utc:%Y-%m-%d}"
        if not item.uploaded:
            result.steps.append(
                Step(
                    f"u{n}",
                    "upload",
                    item.host,
                    f"upload {item.path} to {item.host} (sha256 {item.sha256[:16]}, names "
                    f"{', '.join(cert_names(item.leaf))}, valid until {expiry})",
                )
            )
        if not item.served:
            result.steps.append(
                Step(
                    f"r{n}",
                    "restart",
                    item.host,
                    f"restart {item.host} (the restart runbook, health-gated) to put the "
                    "new certificate in force",
                )
            )
        result.steps.append(
            Step(
                f"v{n}",
                "verify",
                item.host,
                f"verify {item.host} shows and serves sha256 {item.sha256[:16]} and every "
                "peer of the cluster is healthy",
            )
        )


def _plan_text(result: RenewResult) -> str:
    return "plan: " + "; ".join(s.text for s in result.steps)


def _served_sha256(ctx: _Ctx, host: str) -> str | None:
    from cryptography import x509

    target = getattr(rest_of(ctx.session.appliance(host)), "target", None)
    if target is None:
        return None
    try:
        der = served_certificate(target)
    except ExopsError:
        return None
    return _sha256(x509.load_der_x509_certificate(der))


def _do_add_ca(
    ctx: _Ctx,
    host: str,
    cas: list[x509.Certificate],
    by_host: dict[str, Install],
    now: datetime,
) -> str:
    from cryptography.hazmat.primitives import serialization

    app = rest_of(ctx.session.appliance(host))
    needing = [i for i in by_host.values() if i.host != host]

    def missing() -> list[Install]:
        store = _pem_certs(read_trusted_pem(app))
        return [i for i in needing if chain_problem(i.leaf, i.extra, store, now) is not None]

    if not missing():
        return "skipped: trusts the new certificates already"
    pem = "".join(c.public_bytes(serialization.Encoding.PEM).decode() for c in cas)
    message = add_trusted_cas(app, pem)
    still = missing()  # a fresh read: the CA must be in the list now
    if still:
        raise ApplianceError(
            f"{host} still does not trust the certificate of {still[0].host} after the CA was "
            f"added ({message})",
            host=host,
        )
    return f"added ({message}); read back: trusted"


def _do_upload(ctx: _Ctx, item: Install, now: datetime) -> str:
    app = rest_of(ctx.session.appliance(item.host))
    shown = _pem_certs(read_server_pem(app))
    if shown and _sha256(shown[0]) == item.sha256:
        return "skipped: the peer shows this certificate already"
    # Fresh reads right before the write: the pending CSR is still this key's.
    check_certificate(
        item.path, item.host, item.leaf, item.names, read_pending_csr(app), ctx.opts.min_days, now
    )
    message = upload_server_certificate(app, item.pem())
    shown = _pem_certs(read_server_pem(app))
    if not shown or _sha256(shown[0]) != item.sha256:
        raise ApplianceError(
            f"{item.host} accepted the upload ({message}) but does not show the new certificate",
            host=item.host,
        )
    return f"uploaded ({message}); the peer shows it"


def _do_restart(ctx: _Ctx, item: Install, observers: Sequence[Any]) -> str:
    from exops.run.runner import Runner

    if _served_sha256(ctx, item.host) == item.sha256:
        return "skipped: the peer serves the new certificate already"
    runner = Runner(ctx.env, observers=list(observers))
    run = runner.run(
        "restart",
        ctx.cluster,
        {"peer": item.host},
        yes=True,
        lock_timeout=ctx.opts.lock_timeout,
    )
    if run.exit_code != 0:
        raise ExopsError(f"the restart run {run.run_id} ended {run.status}: {run.message}")
    return f"restarted (run {run.run_id})"


def _healthy(ctx: _Ctx, facts: ClusterFacts | None = None) -> str | None:
    """None when every member is healthy and settled; else what is not."""
    facts = facts or ctx.session.gather(ctx.cluster, light=True)
    view = ClusterView(facts)
    problems = [x for h in view.members for x in settled_problems(facts.peer(h))]
    return "; ".join(problems) if problems else None


def _do_verify(ctx: _Ctx, item: Install, waiter: Waiter) -> str:
    app = rest_of(ctx.session.appliance(item.host))

    def check() -> tuple[bool, str]:
        try:
            shown = _pem_certs(read_server_pem(app))
        except ExopsError as exc:
            return False, f"{item.host}: {exc}"
        if not shown or _sha256(shown[0]) != item.sha256:
            return False, f"{item.host} does not show the new certificate"
        if _served_sha256(ctx, item.host) != item.sha256:
            return False, f"{item.host}'s HTTPS listener does not present the new certificate"
        unhealthy = _healthy(ctx)
        if unhealthy:
            return False, unhealthy
        return True, "shown, served, cluster healthy"

    try:
        waited = waiter.until(
            f"{item.host}'s new certificate accepted",
            check,
            timeout=ctx.env.settings.settle_timeout,
            host=item.host,
        )
    except TimeoutError_ as exc:
        enforce = ClusterView(ctx.session.gather(ctx.cluster, light=True)).settings.tls_mode
        if enforce is TlsMode.ENFORCE:
            raise TimeoutError_(
                f"{exc.message}; in TLS Enforce mode the other peers may refuse {item.host}'s "
                "certificate: stop here (no further peer is touched) and check its names and CA",
                host=item.host,
                operation="verify",
            ) from exc
        raise
    return f"shown, served and the cluster healthy after {waited:.1f} s"

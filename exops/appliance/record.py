"""Recorded sessions: every request and answer of a run, as a replayable transcript.

``--record DIR`` (or ``EXOPS_RECORD_DIR``) makes every transport write what
it sent and what came back, one JSON line per exchange, one file per peer
(``DIR/<peer>.jsonl``), in the transcript form ``python -m exops.lab up
--replay DIR`` serves back. REST lines hold the method, the path (with its
query), the form body of a write, the status, the answer's headers and its
body; SSH lines hold the command line and its answer.

Secrets never reach a recorded byte: Authorization, Cookie and Set-Cookie
headers are dropped, form fields named like a password are blanked, PEM
private key blocks are cut out, and every secret the recorder was told about
(the peers' passwords) is replaced wherever it appears, in any field.

The transports call :func:`recorder_for` once per connection; it is ``None``
unless recording was switched on (:func:`start` or ``EXOPS_RECORD_DIR``).
"""

from __future__ import annotations

import base64
import json
import os
import re
import threading
from collections import deque
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from exops.core.files import open_for_write, write_text

TRANSCRIPT_SCHEMA = "exops.transcript/1"
MANIFEST = "manifest.json"
ENV_VAR = "EXOPS_RECORD_DIR"
REDACTED = "<redacted>"
KEEP_IN_MEMORY = 500  # exchanges per peer (a long run polls thousands of times)

_DROP_HEADERS = frozenset(
    {"authorization", "proxy-authorization", "cookie", "set-cookie", "x-csrf-token"}
)
_SECRET_FIELD = re.compile(r"pass(word|wd|phrase)?|secret|token|private|credential", re.I)
_PRIVATE_KEY = re.compile(
    r"-----BEGIN ([A-Z0-9 ]*)PRIVATE KEY-----.*?-----END \1PRIVATE KEY-----", re.S
)


def scrub_text(text: str, secrets: Iterable[str] = ()) -> str:
    """``text`` with PEM private keys and every given secret replaced."""
    out = _PRIVATE_KEY.sub(f"-----{REDACTED} PRIVATE KEY-----", text)
    for secret in sorted({s for s in secrets if s}, key=len, reverse=True):
        out = out.replace(secret, REDACTED)
        # A secret also travels base64-encoded (Basic auth) and URL-encoded.
        for form in _encodings(secret):
            out = out.replace(form, REDACTED)
    return out


def _encodings(secret: str) -> set[str]:
    from urllib.parse import quote, quote_plus

    forms = {quote(secret, safe=""), quote_plus(secret)}
    forms.add(base64.b64encode(secret.encode()).decode().rstrip("="))
    return {f for f in forms if f and f != secret and len(f) >= 4}


def scrub_headers(headers: Mapping[str, str], secrets: Iterable[str] = ()) -> dict[str, str]:
    """Headers without authorization and cookies; secrets replaced in the rest."""
    keep = list(secrets)
    return {
        k.lower(): scrub_text(str(v), keep)
        for k, v in headers.items()
        if k.lower() not in _DROP_HEADERS
    }


def scrub_form(form: Mapping[str, str] | None, secrets: Iterable[str] = ()) -> dict[str, str]:
    keep = list(secrets)
    out: dict[str, str] = {}
    for k, v in (form or {}).items():
        out[k] = REDACTED if _SECRET_FIELD.search(k) else scrub_text(str(v), keep)
    return out


class PeerRecorder:
    """Appends one peer's exchanges to ``DIR/<peer>.jsonl`` (thread-safe)."""

    def __init__(
        self, path: Path | None, peer: str, secrets: Iterable[str], header: dict[str, Any]
    ):
        """``path`` None: kept in memory only (the probe's view of raw answers)."""
        self.path = path
        self.peer = peer
        self.secrets = [s for s in secrets if s]
        self._lock = threading.Lock()
        # The last exchanges are also kept in memory: the probe reads raw answers here.
        self.exchanges: deque[dict[str, Any]] = deque(maxlen=KEEP_IN_MEMORY)
        if path is not None and not path.exists():
            self._append({"schema": TRANSCRIPT_SCHEMA, **header})

    def _append(self, doc: dict[str, Any]) -> None:
        if self.path is None:
            return
        line = json.dumps(doc, sort_keys=False)
        line = scrub_text(line, self.secrets)  # last guard: no secret in any field
        with self._lock:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            # Owner-only, never through a symbolic link nor into another user's file.
            with open_for_write(self.path, "transcript", append=True, mode=0o600) as f:
                f.write(line + "\n")

    def rest(
        self,
        method: str,
        path: str,
        status: int,
        headers: Mapping[str, str],
        body: bytes,
        form: Mapping[str, str] | None = None,
    ) -> None:
        doc = {
            "iface": "rest",
            "method": method,
            "path": scrub_text(path, self.secrets),
            "form": scrub_form(form, self.secrets) if form else None,
            "status": status,
            "headers": scrub_headers(headers, self.secrets),
            "body": scrub_text(body.decode("utf-8", "replace"), self.secrets),
            "ts": _now(),
        }
        self.exchanges.append(doc)
        self._append(doc)

    def ssh(self, command: str, answer: str) -> None:
        doc = {
            "iface": "ssh",
            "command": scrub_text(command, self.secrets),
            "answer": scrub_text(answer, self.secrets),
            "ts": _now(),
        }
        self.exchanges.append(doc)
        self._append(doc)

    def rest_error(self, method: str, path: str, error: str) -> None:
        """A request that got no HTTP answer (kept in memory only: nothing to replay)."""
        self.exchanges.append(
            {"iface": "rest", "method": method, "path": path, "status": None, "error": error}
        )


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


class Recording:
    """One recording directory: a recorder per peer, created on first use."""

    def __init__(self, directory: Path, *, keep_files: bool = True):
        self.directory = directory
        self.keep_files = keep_files
        self._peers: dict[str, PeerRecorder] = {}
        self._lock = threading.Lock()

    def for_peer(
        self, peer: str, *, secrets: Iterable[str] = (), header: dict[str, Any] | None = None
    ) -> PeerRecorder:
        with self._lock:
            rec = self._peers.get(peer)
            if rec is None:
                safe = re.sub(r"[^A-Za-z0-9_.-]", "_", peer)
                rec = PeerRecorder(
                    self.directory / f"{safe}.jsonl", peer, secrets, header or {"peer": peer}
                )
                self._peers[peer] = rec
            else:
                rec.secrets = sorted(set(rec.secrets) | {s for s in secrets if s})
            return rec

    def write_manifest(self, clusters: list[dict[str, Any]]) -> Path:
        """``DIR/manifest.json``: the clusters and peers recorded (no secret)."""
        self.directory.mkdir(parents=True, exist_ok=True)
        path = self.directory / MANIFEST
        doc = {"schema": TRANSCRIPT_SCHEMA, "clusters": clusters}
        write_text(path, json.dumps(doc, indent=2), "transcript manifest")
        return path


_active: Recording | None = None
_active_lock = threading.Lock()


def start(directory: Path) -> Recording:
    """Record every connection opened from now on into ``directory``."""
    global _active
    with _active_lock:
        directory.mkdir(parents=True, exist_ok=True)
        _active = Recording(directory)
        return _active


def stop() -> None:
    global _active
    with _active_lock:
        _active = None


def active() -> Recording | None:
    """The recording in force: started here, or named by ``EXOPS_RECORD_DIR``."""
    global _active
    with _active_lock:
        if _active is None and os.environ.get(ENV_VAR):
            _active = Recording(Path(os.environ[ENV_VAR]).expanduser())
        return _active


def recorder_for(target: Any) -> PeerRecorder | None:
    """The recorder of one ``ConnectionTarget`` (None when nothing is recorded)."""
    recording = active()
    if recording is None:
        return None
    password = target.password.get_secret_value() if target.password else ""
    header = {
        "peer": target.host,
        "hostname": target.hostname,
        "port": target.port,
        "ssh_port": target.ssh_port,
    }
    return recording.for_peer(target.host, secrets=[password], header=header)


def manifest_of(inventory: Any, clusters: list[str] | None = None) -> list[dict[str, Any]]:
    """The manifest rows of an inventory: clusters, their peers and how to find them."""
    out = []
    for spec in inventory.select(clusters):
        out.append(
            {
                "name": spec.name,
                "cluster_name": spec.cluster_name,
                "peers": [
                    {
                        "name": p.name,
                        "address": p.address,
                        "fqdn": p.fqdn,
                        "role": p.role.value if p.role else None,
                        "slot": p.slot,
                        "transport": p.transport,
                    }
                    for p in spec.peers
                ],
            }
        )
    return out


def load_transcript(path: Path) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """A transcript file -> (header, exchanges). Raises ValueError on a bad file."""
    lines = [ln for ln in path.read_text(encoding="utf-8").splitlines() if ln.strip()]
    if not lines:
        raise ValueError(f"{path}: empty transcript")
    header = json.loads(lines[0])
    if header.get("schema") != TRANSCRIPT_SCHEMA:
        raise ValueError(f"{path}: not an {TRANSCRIPT_SCHEMA} transcript")
    return header, [json.loads(ln) for ln in lines[1:]]

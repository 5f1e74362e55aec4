"""known_hosts looked up by name without comparing every entry (issue 22: n peers in
one file made n x n comparisons at each status), giving what paramiko gives."""

from __future__ import annotations

from pathlib import Path

import paramiko
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519

from exops.appliance.ssh import KnownHosts


def _ed25519() -> str:
    return (
        ed25519.Ed25519PrivateKey.generate()
        .public_key()
        .public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH)
        .decode()
    )


def _ecdsa() -> str:
    return (
        ec.generate_private_key(ec.SECP256R1())
        .public_key()
        .public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH)
        .decode()
    )


def _as_dict(keys: object) -> dict[str, str]:
    if keys is None:
        return {}
    return {t: k.get_base64() for t, k in keys.items()}  # type: ignore[attr-defined]


@pytest.fixture
def known(tmp_path: Path) -> Path:
    hashed = paramiko.HostKeys.hash_host("[10.0.0.9]:8022")
    lines = [
        "# a comment",
        "",
        f"10.0.0.1 {_ed25519()}",
        f"10.0.0.1 {_ed25519()}",  # the same type again: the first one counts
        f"10.0.0.1 {_ecdsa()}",  # another type: both
        f"[10.0.0.2]:8022,peer-2.example.com {_ed25519()}",
        f"{hashed} {_ed25519()}",
        f"{hashed} {_ecdsa()}",
        "garbage",
        *(f"[10.1.{i // 250}.{i % 250}]:8022 {_ed25519()}" for i in range(40)),
    ]
    path = tmp_path / "known_hosts"
    path.write_text("\n".join(lines) + "\n")
    return path


NAMES = [
    "10.0.0.1",
    "[10.0.0.2]:8022",
    "peer-2.example.com",
    "[10.0.0.9]:8022",
    "10.0.0.9",
    "[10.1.0.7]:8022",
    "nowhere",
]


@pytest.mark.parametrize("name", NAMES)
def test_keys_for_gives_what_paramiko_lookup_gives(known: Path, name: str) -> None:
    ours = {t: k.get_base64() for t, k in KnownHosts(str(known)).keys_for(name).items()}
    assert ours == _as_dict(paramiko.HostKeys(str(known)).lookup(name))


def test_a_lookup_compares_only_the_hashed_entries(
    known: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Old code: every lookup compared the name with every entry (paramiko's
    ``_hostname_matches``), 2 lookups per peer, for each of n peers."""
    parsed = KnownHosts(str(known))
    compared: list[str] = []
    real = paramiko.HostKeys.hash_host

    def counting(hostname: str, salt: str | None = None) -> str:
        compared.append(hostname)
        return real(hostname, salt)

    monkeypatch.setattr(paramiko.HostKeys, "hash_host", staticmethod(counting))
    for i in range(40):
        assert parsed.keys_for(f"[10.1.0.{i}]:8022")
    assert len(compared) == 40 * 2  # the two hashed entries, nothing else
    assert len(parsed.by_name) > 40


def test_a_line_with_a_broken_key_names_the_line(tmp_path: Path) -> None:
    """paramiko raises InvalidHostKey (not an SSHException) for it; exops says which
    line, and the peer's connect turns it into one clear error naming the file."""
    path = tmp_path / "known_hosts"
    path.write_text(f"10.0.0.1 {_ed25519()}\n10.0.0.3 ssh-ed25519 not-base64!!\n")
    with pytest.raises(paramiko.SSHException, match="line 2 holds no valid key"):
        KnownHosts(str(path))

"""The lab's SFTP server: the operator's image store that upgrading peers pull from.

The evidence (interface-2026-12.md Table A, "upgrade: upload/install" (c)): over
REST (X14.2+) the appliance pulls the image from an SFTP server named in its
``sftpconfig``; there is no upload endpoint. So the lab runs a real SFTP server
(asyncssh) on a free port of 127.0.0.1, password login for one user, serving
``<state>/sftp`` read-only (``/images`` holds the images). Started with the lab;
``lab.env`` names it (``EXOPS_LAB_SFTP``, ``EXOPS_SFTP_PASSWORD``) and the image it
holds (``EXOPS_LAB_IMAGE``, ``EXOPS_LAB_IMAGE_SHA512``, ``EXOPS_LAB_IMAGE_VERSION``:
newer than every peer's version).

An image is a real ``tar.gz`` (the appliance's format: ``tandberg-image.tar.gz``)
whose member ``VERSION`` names the software it installs, padded with random
bytes so the transfer is real (the lab's own form: MOCK-DEFINED contents).
"""

from __future__ import annotations

import hashlib
import io
import os
import secrets
import tarfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncssh

USER = "exops"
IMAGE_BYTES = 256 * 1024  # random padding in each image (a real transfer, quickly)
VERSION_MEMBER = "VERSION"


def version_tuple(version: str) -> tuple[int, ...]:
    """``X15.2.1`` -> (15, 2, 1); non-numeric parts end the tuple."""
    out: list[int] = []
    for part in version.lstrip("Xx").split("."):
        if not part.isdigit():
            break
        out.append(int(part))
    return tuple(out)


def next_version(versions: list[str]) -> str:
    """A version newer than every one given: the next minor release, ``X<M>.<m+1>.0``."""
    newest = max((version_tuple(v) for v in versions), default=(15, 2))
    major = newest[0] if newest else 15
    minor = newest[1] if len(newest) > 1 else 0
    return f"X{major}.{minor + 1}.0"


def image_name(version: str) -> str:
    """The file name of an Expressway image of ``version``: ``s42700x15_3_0.tar.gz``."""
    parts = [str(p) for p in version_tuple(version)] or ["0"]
    return f"s42700x{'_'.join(parts)}.tar.gz"


def make_image(version: str) -> bytes:
    """A tar.gz whose ``VERSION`` member is ``version``, padded with random bytes."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for name, data in (
            (VERSION_MEMBER, version.encode() + b"\n"),
            ("payload.bin", os.urandom(IMAGE_BYTES)),
        ):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def image_version(data: bytes) -> str | None:
    """The version an image installs (None: not an image the lab can install)."""
    try:
        with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
            member = tar.extractfile(VERSION_MEMBER)
            if member is None:
                return None
            text = member.read(64).decode().strip()
    except (tarfile.TarError, OSError, KeyError, UnicodeDecodeError, EOFError):
        return None
    return text if version_tuple(text) else None


@dataclass
class Image:
    name: str
    version: str
    sha512: str
    path: Path


@dataclass
class SftpStore:
    """The running server: where it listens and what it holds."""

    host: str
    port: int
    user: str
    password: str
    root: Path
    images: list[Image]
    acceptor: Any = None

    @property
    def url(self) -> str:
        return f"sftp://{self.user}@{self.host}:{self.port}/images"

    def close(self) -> None:
        if self.acceptor is not None:
            self.acceptor.close()


def write_images(root: Path, version: str) -> list[Image]:
    """The image of ``version`` in ``root/images`` (kept if already there)."""
    folder = root / "images"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / image_name(version)
    if not path.exists():
        path.write_bytes(make_image(version))
    data = path.read_bytes()
    return [Image(path.name, version, hashlib.sha512(data).hexdigest(), path)]


class _Server(asyncssh.SSHServer):
    def __init__(self, password: str):
        self._password = password

    def begin_auth(self, username: str) -> bool:
        return True

    def password_auth_supported(self) -> bool:
        return True

    def validate_password(self, username: str, password: str) -> bool:
        return username == USER and secrets.compare_digest(password, self._password)


class _ReadOnly(asyncssh.SFTPServer):
    """Serves ``root`` as ``/``; opening for writing or removing is refused."""

    root = b"/"

    def __init__(self, chan: asyncssh.SSHServerChannel):
        super().__init__(chan, chroot=self.root)

    def open(self, path: bytes, pflags: int, attrs: asyncssh.SFTPAttrs) -> object:
        if pflags & ~asyncssh.FXF_READ:
            raise asyncssh.SFTPPermissionDenied("read-only image store")
        return super().open(path, pflags, attrs)

    def remove(self, path: bytes) -> None:
        raise asyncssh.SFTPPermissionDenied("read-only image store")

    def rename(self, oldpath: bytes, newpath: bytes) -> None:
        raise asyncssh.SFTPPermissionDenied("read-only image store")

    def mkdir(self, path: bytes, attrs: asyncssh.SFTPAttrs) -> None:
        raise asyncssh.SFTPPermissionDenied("read-only image store")


async def start(state: Path, version: str, host: str = "127.0.0.1") -> SftpStore:
    """Start the SFTP server on a free port of ``host``, holding the image of ``version``."""
    root = state / "sftp"
    images = write_images(root, version)
    password = secrets.token_urlsafe(12)
    key = asyncssh.generate_private_key("ssh-ed25519")
    handler = type("_Rooted", (_ReadOnly,), {"root": str(root).encode()})
    acceptor = await asyncssh.listen(
        host,
        0,
        server_host_keys=[key],
        server_factory=lambda: _Server(password),
        sftp_factory=handler,
        allow_scp=False,
        reuse_address=True,
    )
    port = acceptor.get_port()
    return SftpStore(host, port, USER, password, root, images, acceptor)

"""File safety: every file exops reads or writes goes through these helpers.

Reading (``read_capped``): only a regular file is read (a FIFO would block
forever, a device never ends), at most ``limit`` bytes (a 1 GiB sparse file is
refused from its size, never loaded), one line and exit 2 otherwise.

Writing (``open_for_write``, ``write_atomic``): never through a symbolic link,
never into a file another user owns (a link or a file planted in a shared
sticky directory such as /tmp would otherwise redirect what exops writes), never
into anything but a regular file. Private state (the state directory, backups,
the journal) is created readable by its owner only (``private_dir``: 0700,
files 0600), and a state directory or ``backups/`` that is a symbolic link or
belongs to another user is refused.

Every refusal is a ``UsageError`` (exit 2) naming the file and the reason.
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat
from pathlib import Path
from typing import Any, TextIO

from exops.core.errors import ExopsError, UsageError

PRIVATE_DIR = 0o700
PRIVATE_FILE = 0o600


def _size(limit: int) -> str:
    return f"{limit // 1024} KiB" if limit % 1024 == 0 else f"{limit} bytes"


def _kind(mode: int) -> str:
    for test, name in (
        (stat.S_ISDIR, "a directory"),
        (stat.S_ISFIFO, "a FIFO (named pipe)"),
        (stat.S_ISCHR, "a character device"),
        (stat.S_ISBLK, "a block device"),
        (stat.S_ISSOCK, "a socket"),
        (stat.S_ISLNK, "a symbolic link"),
    ):
        if test(mode):
            return name
    return "not a regular file"


def read_capped(path: Any, limit: int, what: str, error: type[ExopsError] = UsageError) -> bytes:
    """The bytes of the regular file at ``path``: at most ``limit`` of them.

    Opened without blocking (a FIFO answers at once, and is refused), checked
    to be a regular file, refused from its size before it is read.

    Raises:
        UsageError: unreadable, or not a regular file (a FIFO, a device, a directory).
        ``error``: larger than ``limit`` (``<what> larger than <size>; refused``).
    """
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except OSError as exc:
        raise UsageError(f"{path}: cannot read {what} ({exc.strerror or exc})") from exc
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise UsageError(f"{path}: {what} is {_kind(st.st_mode)}, not a regular file")
        if st.st_size > limit:
            raise error(f"{path}: {what} larger than {_size(limit)}; refused")
        chunks, total = [], 0
        while total <= limit:
            chunk = os.read(fd, min(1 << 16, limit + 1 - total))
            if not chunk:
                break
            chunks.append(chunk)
            total += len(chunk)
    except OSError as exc:
        raise UsageError(f"{path}: cannot read {what} ({exc.strerror or exc})") from exc
    finally:
        os.close(fd)
    raw = b"".join(chunks)
    if len(raw) > limit:  # it grew while we read it
        raise error(f"{path}: {what} larger than {_size(limit)}; refused")
    return raw


def _check_target(path: Path, st: os.stat_result, what: str) -> None:
    if stat.S_ISLNK(st.st_mode):
        raise UsageError(f"{what} {path} is a symbolic link; refused (write to the real file)")
    if not stat.S_ISREG(st.st_mode):
        raise UsageError(f"{what} {path} is {_kind(st.st_mode)}; refused")
    if st.st_uid != os.geteuid():
        raise UsageError(f"{what} {path} belongs to uid {st.st_uid}, not to you; refused")


def check_writable_target(path: Path, what: str) -> None:
    """Refuse ``path`` as a file to write when it exists and is a symbolic link, not a
    regular file, or owned by another user (nothing is created or changed).

    Raises:
        UsageError: one line naming the file and the reason.
    """
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return
    except OSError as exc:
        raise UsageError(f"{what} {path}: cannot check ({exc.strerror})") from exc
    _check_target(path, st, what)


def open_for_write(path: Path, what: str, *, append: bool = False, mode: int = 0o666) -> TextIO:
    """A text stream writing (or appending) to ``path``, never through a symbolic link
    nor into another user's file or a non-regular file. A new file gets ``mode``
    (cut by the umask).

    Raises:
        UsageError: a symbolic link, another user's file, not a regular file, or
            the file cannot be opened (one line).
    """
    flags = os.O_WRONLY | os.O_CREAT | os.O_NOFOLLOW | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0)
    flags |= os.O_APPEND if append else 0
    check_writable_target(Path(path), what)  # clear words first; fstat below is the guard
    try:
        fd = os.open(path, flags, mode)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise UsageError(f"{what} {path} is a symbolic link; refused") from exc
        raise UsageError(f"{what} {path}: cannot open ({exc.strerror})") from exc
    try:
        _check_target(Path(path), os.fstat(fd), what)
        if not append:
            os.ftruncate(fd, 0)
        os.set_blocking(fd, True)
        return os.fdopen(fd, "a" if append else "w", encoding="utf-8")
    except BaseException:
        os.close(fd)
        raise


def write_text(path: Path, text: str, what: str) -> None:
    """Replace ``path``'s content with ``text`` (see ``open_for_write``).

    Raises:
        UsageError: refused or not writable (one line).
    """
    try:
        with open_for_write(path, what) as fh:
            fh.write(text)
    except OSError as exc:
        raise UsageError(f"{what} {path}: cannot write ({exc.strerror})") from exc


def write_atomic(path: Path, data: bytes, what: str, *, mode: int = PRIVATE_FILE) -> None:
    """Write ``data`` to a new temporary file beside ``path`` (created exclusively,
    ``mode``), sync it and rename it over ``path``: a reader sees the old file or
    the new one, never half of one. An existing ``path`` that is a symbolic link,
    not a regular file, or another user's is refused.

    Raises:
        UsageError: refused; OSError: the directory cannot be written.
    """
    check_writable_target(path, what)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, mode)
    try:
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise


def private_dir(path: Path, what: str, *, create: bool = True, follow: bool = False) -> None:
    """Make sure ``path`` is a directory of ours, not a symbolic link (``follow``: a
    link to a directory of ours is fine, e.g. a state directory set up elsewhere);
    created (with its missing parents) readable by its owner only (0700).

    Raises:
        UsageError: cannot be created, is a symbolic link or not a directory, or
            belongs to another user (one line).
    """
    if create:
        try:
            path.mkdir(mode=PRIVATE_DIR, parents=True, exist_ok=True)
        except OSError as exc:
            raise UsageError(f"{what} {path} cannot be created ({exc.strerror})") from exc
    try:
        st = os.stat(path) if follow else os.lstat(path)
    except FileNotFoundError:
        return
    except OSError as exc:
        raise UsageError(f"{what} {path}: cannot check ({exc.strerror})") from exc
    if stat.S_ISLNK(st.st_mode):
        raise UsageError(f"{what} {path} is a symbolic link; refused (use the real directory)")
    if not stat.S_ISDIR(st.st_mode):
        raise UsageError(f"{what} {path} is not a directory")
    if st.st_uid != os.geteuid():
        raise UsageError(f"{what} {path} belongs to uid {st.st_uid}, not to you; refused")

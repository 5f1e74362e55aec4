"""Pre-change backups as files: the one backup file format and its reader.

``<backup_dir>/<cluster>/<host>/<stamp>.json``, written atomically (tmp +
rename), owner-only (directories 0700, files 0600), never through a symbolic
link (``exops.core.files``). The team store (``postgres.py``) keeps the same
documents (``base.backup_doc``) in a table; ``read_backup_file`` is the one
reader of a file, used for the store's own files and for ``exops restore
--backup FILE``: a regular file of at most ``MAX_BACKUP_BYTES``, read with that
limit (a 1 GiB file is refused from its size), strict UTF-8 JSON, checked by
``check_backup`` - the check the team store applies to its rows too, so both
readers give the same answer for the same document.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from exops.core.errors import ExopsError, UsageError
from exops.core.files import private_dir, read_capped, write_atomic
from exops.core.models import ClusterSettings
from exops.state import base

MAX_BACKUP_BYTES = 64 * 1024  # one peer's cluster settings: about 1 KiB
BACKUP_KEYS = ("cluster", "host", "taken_at", "settings")


class FileBackups:
    """Pre-change backups as JSON files: ``<backup_dir>/<cluster>/<host>/<stamp>.json``."""

    def __init__(self, backup_dir: Path):
        self.backup_dir = backup_dir

    def save(self, cluster: str, host: str, settings: dict[str, Any], run_id: str) -> str:
        doc = base.backup_doc(cluster, host, settings, run_id)
        folder = self.backup_dir / cluster / host
        path = folder / f"{doc['taken_at']}.json"
        for directory in (self.backup_dir, folder.parent, folder):
            private_dir(directory, "backup directory")
        try:
            write_atomic(path, (json.dumps(doc, indent=2) + "\n").encode(), "backup")
        except OSError as exc:
            raise ExopsError(f"backup {path} cannot be written ({exc.strerror})") from exc
        return str(path)

    def latest(self, cluster: str, host: str) -> tuple[str, dict[str, Any]] | None:
        folder = (
            self.backup_dir / base.check_name("cluster", cluster) / base.check_name("host", host)
        )
        files = sorted(folder.glob("*.json")) if folder.is_dir() else []
        if not files:
            return None
        return str(files[-1]), self.read(str(files[-1]))

    def read(self, location: str) -> dict[str, Any]:
        """The settings of the backup file at ``location``.

        Raises:
            UsageError: not a readable exops backup.
        """
        doc = read_backup_file(Path(location))
        return dict(doc["settings"])

    def export(self) -> Iterator[dict[str, Any]]:
        """Every backup document, oldest first (for ``exops state migrate``)."""
        if not self.backup_dir.is_dir():
            return
        for path in sorted(self.backup_dir.glob("*/*/*.json")):
            yield read_backup_file(path)


def read_backup_file(path: Path) -> dict[str, Any]:
    """The backup document in the file at ``path`` (see the module docstring).

    Raises:
        UsageError: unreadable, not a regular file, larger than ``MAX_BACKUP_BYTES``,
            or not an exops backup (exit 2, one line).
    """
    raw = read_capped(path, MAX_BACKUP_BYTES, "backup file")
    try:
        doc = json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise UsageError(f"{path}: not an exops backup (not UTF-8 at byte {exc.start})") from exc
    except (ValueError, RecursionError) as exc:
        raise UsageError(f"{path}: not an exops backup (not JSON: {str(exc)[:120]})") from exc
    return check_backup(doc, str(path))


def check_backup(doc: Any, location: str) -> dict[str, Any]:
    """``doc`` when it is an exops backup document: an object with ``cluster``,
    ``host``, ``taken_at`` and ``settings``, the settings complete and valid
    (safety rule R6). The one check of both backup readers (file and team store).

    Raises:
        UsageError: ``<location>: not an exops backup (<why>)``.
    """
    if not isinstance(doc, dict):
        raise UsageError(f"{location}: not an exops backup (expected a JSON object)")
    missing = [k for k in BACKUP_KEYS if k not in doc]
    if missing:
        raise UsageError(f"{location}: not an exops backup (no {', '.join(missing)})")
    settings = doc["settings"]
    if not isinstance(settings, dict):
        raise UsageError(f"{location}: not an exops backup (settings is not an object)")
    absent = [k for k in ClusterSettings.model_fields if k not in settings]
    if absent:
        raise UsageError(f"{location}: not an exops backup (settings without {', '.join(absent)})")
    try:
        ClusterSettings.model_validate(settings)
    except ValidationError as exc:
        err = exc.errors()[0]
        where = ".".join(str(p) for p in err["loc"])
        raise UsageError(
            f"{location}: not an exops backup (settings.{where}: {err['msg']})"
        ) from exc
    return doc

"""Pre-change backups as files: the one backup file format and its reader.

``<backup_dir>/<cluster>/<host>/<stamp>.json``, written atomically (tmp +
rename). The team store (``postgres.py``) keeps the same documents
(``base.backup_doc``) in a table; ``read_backup_file`` is the one reader of a
file, used for the store's own files and for ``exops restore --backup FILE``.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from exops.core.errors import ExopsError, UsageError
from exops.state import base


class FileBackups:
    """Pre-change backups as JSON files: ``<backup_dir>/<cluster>/<host>/<stamp>.json``."""

    def __init__(self, backup_dir: Path):
        self.backup_dir = backup_dir

    def save(self, cluster: str, host: str, settings: dict[str, Any], run_id: str) -> str:
        doc = base.backup_doc(cluster, host, settings, run_id)
        folder = self.backup_dir / cluster / host
        path = folder / f"{doc['taken_at']}.json"
        try:
            folder.mkdir(parents=True, exist_ok=True)
            tmp = path.with_suffix(".tmp")
            tmp.write_text(json.dumps(doc, indent=2) + "\n")
            tmp.replace(path)
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
    try:
        doc = json.loads(path.read_text())
        if not isinstance(doc, dict) or not isinstance(doc.get("settings"), dict):
            raise ValueError("no settings")
    except (OSError, ValueError) as exc:
        raise UsageError(f"{path}: not a readable exops backup ({exc})") from exc
    return doc

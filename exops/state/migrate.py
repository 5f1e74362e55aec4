"""``exops state migrate``: copy an embedded (SQLite) journal, its backups and its
configuration snapshots into the PostgreSQL team store.

Idempotent: a run is copied only when its ``run_id`` is not in the target yet
(with all its steps, in one transaction), a backup only when the target has no
backup of the same cluster, host and time, a snapshot only when its id is not
there yet; re-running copies nothing twice.
What is copied was redacted when it was first stored.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from exops.core.errors import UsageError


@dataclass(frozen=True)
class Migrated:
    runs_copied: int
    runs_present: int
    backups_copied: int
    backups_present: int
    snapshots_copied: int = 0
    snapshots_present: int = 0

    def summary(self) -> str:
        text = (
            f"copied {self.runs_copied} run(s) ({self.runs_present} already there) and "
            f"{self.backups_copied} backup(s) ({self.backups_present} already there)"
        )
        if self.snapshots_copied or self.snapshots_present:
            text += (
                f"; {self.snapshots_copied} snapshot(s) ({self.snapshots_present} already there)"
            )
        return text


def migrate(src: str, dst: str, *, connect_timeout_s: float = 5.0) -> Migrated:
    """Copy runs, steps and backups from ``src`` (``sqlite:///DIR`` or
    ``sqlite:///DIR/journal.sqlite``) to ``dst`` (``postgresql://...``).

    Raises:
        UsageError: a URL of the wrong kind, no journal at ``src``, or ``dst`` unusable.
    """
    from exops.state import sqlite_dir
    from exops.state.backups import FileBackups
    from exops.state.postgres import PostgresStore, safe_url
    from exops.state.snapshots import SqliteSnapshots, from_export
    from exops.state.sqlite import SqliteJournal

    if not src.lower().startswith("sqlite:"):
        raise UsageError(f"--from {safe_url(src)!r}: expected sqlite:///PATH")
    if not dst.lower().startswith(("postgresql:", "postgres:")):
        raise UsageError(f"--to {safe_url(dst)!r}: expected postgresql://user@host:port/db")
    state_dir = sqlite_dir(src)
    journal_path = state_dir / "journal.sqlite"
    if not journal_path.is_file():
        raise UsageError(f"--from: no journal at {journal_path}")
    source = SqliteJournal(Path(journal_path))
    backups = FileBackups(state_dir / "backups")
    target = PostgresStore(dst, connect_timeout_s=connect_timeout_s)
    try:
        runs = [target.import_run(doc) for doc in source.export_runs()]
        saved = [target.import_backup(doc) for doc in backups.export()]
        snaps = [
            target.snapshots.import_snapshot(from_export(doc))
            for doc in SqliteSnapshots(source).export()
        ]
    finally:
        target.close()
    return Migrated(
        runs_copied=sum(runs),
        runs_present=len(runs) - sum(runs),
        backups_copied=sum(saved),
        backups_present=len(saved) - sum(saved),
        snapshots_copied=sum(snaps),
        snapshots_present=len(snaps) - sum(snaps),
    )

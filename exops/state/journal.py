"""The run journal of the embedded (SQLite) store, kept for ``history``/``show``/``--resume``.

The implementation lives in ``exops.state.sqlite`` (``SqliteJournal``); the
PostgreSQL team store has the same interface (``exops.state``). This module
keeps the original entry point, ``Journal(path)``, with ``record_outcome``.

Run status is ``running`` from ``start_run`` until ``finish_run`` sets the
final one (``ok`` / ``failed``). A run whose process died before finishing is
*reported* as ``interrupted`` when it was started on this host by a pid that no
longer exists; the stored row is left as it is (reads never write), and a run
from another host that never finished keeps showing ``running``.
"""

from __future__ import annotations

from exops.state.base import StepLike
from exops.state.sqlite import SCHEMA_VERSION, SqliteJournal

__all__ = ["SCHEMA_VERSION", "Journal"]


class Journal(SqliteJournal):
    """``SqliteJournal`` plus the historical ``record_outcome`` name."""

    def record_outcome(self, journal_id: int, outcome: StepLike) -> None:
        self.record_step(journal_id, outcome)

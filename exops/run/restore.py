"""Where a restore's settings come from (I/O: backup files and the state store).

An explicit backup (``--backup FILE``, or a team store's ``URL#backup=N`` as a run
report names it); for a peer found with an empty
list that the cluster still lists, the cluster's own list (the undo of domain
doc 3.9); otherwise the latest backup exops took. The pure ``plan_restore``
(``exops.plan.restore``) turns the source into a plan.
"""

from __future__ import annotations

from pathlib import Path

from exops.core.errors import UsageError
from exops.core.models import ClusterFacts, ClusterSettings
from exops.facts.view import ClusterView
from exops.plan.restore import RestoreSource
from exops.state.backups import read_backup_file
from exops.state.base import BackupStore


def restore_source(
    facts: ClusterFacts, host: str, backup: Path | None, backups: BackupStore
) -> RestoreSource:
    """What to put back on ``host``.

    Raises:
        UsageError: no backup of the peer exists; ExopsError: a backup is unreadable.
    """
    if backup is not None:
        if "#backup=" in str(backup) and not backup.exists():  # a team store's backup
            raw = backups.read(str(backup))
        else:
            raw = read_backup_file(backup)["settings"]
        return RestoreSource(_settings(str(backup), raw), str(backup), str(backup))
    current = facts.peer(host).settings
    view = ClusterView(facts)
    if (
        current is not None
        and current.is_empty
        and view.listed(host)
        and view.primary
        and view.primary != host
    ):
        return RestoreSource(view.settings, f"the cluster's list on {view.primary}")
    latest = backups.latest(facts.cluster, host)
    if latest is None:
        raise UsageError(f"no backup of {host} of cluster {facts.cluster} in the state store")
    location, doc = latest
    return RestoreSource(_settings(location, doc), location)


def _settings(location: str, doc: object) -> ClusterSettings:
    """The one validation of a backup's settings (a file or the store): exit 2."""
    try:
        return ClusterSettings.model_validate(doc)
    except ValueError as exc:
        raise UsageError(f"{location}: not a readable exops backup ({exc})") from exc

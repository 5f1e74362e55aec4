"""``exops restore``: put one peer's cluster settings back (the undo of a change).

The source is an explicit backup file; for a peer found with an empty list
that the cluster still lists, the cluster's own list (the undo of domain doc
3.9); otherwise the latest backup exops took of the peer before changing it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from exops import __version__
from exops.cli.execute import (
    RunOptions,
    apply_plan,
    cluster_lock,
    plan_exit_code,
    show_plan,
    utc_now,
)
from exops.cli.read import Env
from exops.errors import PreconditionError, UsageError
from exops.exitcodes import ExitCode
from exops.models import ClusterSettings
from exops.plan import Plan


def restore_plan(env: Env, cluster: str, host: str, backup: Path | None) -> Plan:
    """A plan that puts one peer's cluster settings back from a backup.

    Raises:
        UsageError: no backup found; PreconditionError: the backup is empty.
    """
    from exops.appliance.base import settings_writes
    from exops.plan import Action, ActionKind, Skipped, digest

    env.inventory.cluster(cluster).peer(host)
    with env.session([cluster]) as session:
        facts = session.gather(cluster)
    peer = facts.peer(host)
    if not peer.reachable or peer.settings is None:
        raise PreconditionError(
            f"{host} is unreachable: {peer.error}", host=host, operation="restore"
        )
    wanted, source = _restore_source(env, facts, host, backup)
    if wanted.is_empty:
        raise PreconditionError(
            f"{source}: it has every peer slot empty; restoring it would "
            f"factory reset {host} at its next restart"
        )
    current = peer.settings
    writes = settings_writes(current, wanted)
    basis = {host: {"settings": current.model_dump(mode="json")}}
    actions: tuple[Action, ...] = ()
    skipped: tuple[Skipped, ...] = ()
    if writes:
        actions = (
            Action(id="1", step="back up current settings", kind=ActionKind.BACKUP, host=host),
            Action(
                id="2",
                step=f"restore settings from {source}",
                kind=ActionKind.CONFIGURE,
                host=host,
                writes=writes,
                before=current,
                after=wanted,
                reason=f"restore from {source}",
            ),
        )
    else:
        skipped = (Skipped(step="restore", host=host, reason="already as in the backup"),)
    return Plan(
        runbook="restore",
        cluster=cluster,
        params={"peer": host, "backup": str(backup) if backup else None, "source": source},
        created_at=utc_now(),
        exops_version=__version__,
        facts_digest=digest(basis),
        basis=basis,
        actions=actions,
        skipped=skipped,
        warnings=("a restart may be needed afterwards: see `exops status` (alarm 20007)",),
    )


def _restore_source(
    env: Env, facts: Any, host: str, backup: Path | None
) -> tuple[ClusterSettings, str]:
    """What to put back: an explicit backup; for a peer found with an empty list
    that the cluster still lists, the cluster's own list (the undo of domain
    3.9); otherwise the latest backup exops took of it."""
    from exops.apply import latest_backup, read_backup
    from exops.runbook.view import ClusterView

    if backup is not None:
        return read_backup(backup), str(backup)
    current = facts.peer(host).settings
    view = ClusterView(facts)
    if current.is_empty and view.listed(host) and view.primary and view.primary != host:
        wanted = current.model_copy(
            update={"peers": view.settings.peers, "primary": view.settings.primary}
        )
        return wanted, f"the cluster's list on {view.primary}"
    path = latest_backup(env.settings.backup_dir, facts.cluster, host)
    if path is None:
        raise UsageError(f"no backup of {host} in {env.settings.backup_dir / facts.cluster / host}")
    return read_backup(path), str(path)


def restore(env: Env, cluster: str, host: str, backup: Path | None, opts: RunOptions) -> int:
    if opts.dry_run:
        plan = restore_plan(env, cluster, host, backup)
        show_plan(plan, opts)
        return plan_exit_code(plan, opts)
    with cluster_lock(env, cluster, "restore", opts):
        plan = restore_plan(env, cluster, host, backup)
        show_plan(plan, opts)
        if not plan.has_changes:
            return int(ExitCode.OK)
        return apply_plan(env, plan, opts)

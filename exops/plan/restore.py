"""Plan a restore: put one peer's peer list back (pure, like every other plan).

``exops.run.restore.restore_source`` finds what to put back (it reads files
and the state store); ``plan_restore`` turns it into a plan. A restore is per peer, so it never
flips what belongs to the whole cluster:

- the peer list comes from the source;
- the configuration primary is the one the cluster agrees on now (a backup
  taken before a switch-primary names the old primary: restoring it as it is
  would make the peers disagree); a restore that cannot name the agreed
  primary is refused;
- cluster-wide settings (knowledge.toml spread "cluster": name, TLS mode, IP
  version, address mapping) are cluster-database tables that spread at once to
  every peer: they are kept as they are, and the plan says so when the source
  differs.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from exops.appliance.base import settings_writes
from exops.appliance.knowledge import cluster_fields
from exops.core.models import ClusterFacts, ClusterSettings
from exops.facts.health import restart_alarm
from exops.facts.view import ClusterView
from exops.plan.model import Action, ActionKind, Plan, Skipped, digest
from exops.plan.planner import basis_of


@dataclass(frozen=True)
class RestoreSource:
    settings: ClusterSettings
    label: str  # shown to the operator: a file, or "the cluster's list on P"
    backup: str | None = None  # the file given with --backup


def plan_restore(
    facts: ClusterFacts,
    host: str,
    source: RestoreSource,
    *,
    now: datetime,
    exops_version: str,
) -> Plan:
    """The plan that puts ``source``'s peer list back on ``host`` (pure)."""
    basis = basis_of(facts)
    base: dict[str, Any] = {
        "runbook": "restore",
        "cluster": facts.cluster,
        "params": {"peer": host, "backup": source.backup, "source": source.label},
        "created_at": now,
        "exops_version": exops_version,
        "facts_digest": digest(basis),
        "basis": basis,
    }
    peer = facts.peer(host)
    if not peer.reachable or peer.settings is None:
        return Plan(**base, refused=f"{host} cannot be read: {peer.error or 'unreachable'}")
    current = peer.settings
    wanted, refusal, warnings = _wanted(facts, host, current, source)
    if refusal:
        return Plan(**base, refused=refusal, warnings=tuple(warnings))
    writes = settings_writes(current, wanted)
    if not writes:
        skipped = (Skipped(step="restore", host=host, reason=f"already as in {source.label}"),)
        return Plan(**base, skipped=skipped, warnings=tuple(warnings))
    actions = (
        Action(
            id="1",
            step=f"back up {host} before the restore",
            kind=ActionKind.BACKUP,
            host=host,
            reason="settings saved locally before any change (exops restore)",
        ),
        Action(
            id="2",
            step=f"restore the peer list of {host} from {source.label}",
            kind=ActionKind.CONFIGURE,
            host=host,
            writes=writes,
            before=current,
            after=wanted,
            reason=f"restore from {source.label}",
        ),
    )
    warnings.append(
        f"a restart may be needed afterwards: `exops status` shows alarm {restart_alarm()} if so "
        f"(then `exops restart -c {facts.cluster} --peer {host}`)"
    )
    return Plan(**base, actions=actions, warnings=tuple(warnings))


def _wanted(
    facts: ClusterFacts, host: str, current: ClusterSettings, source: RestoreSource
) -> tuple[ClusterSettings, str | None, list[str]]:
    view = ClusterView(facts)
    warnings = [
        f"{source.label} has {field} {getattr(source.settings, field)!r}; cluster-wide "
        f"settings are not restored on one peer (kept {getattr(current, field)!r})"
        for field in cluster_fields()
        if getattr(source.settings, field) != getattr(current, field)
    ]
    peers = source.settings.peers
    if not any(peers):
        return (
            current,
            (
                f"{source.label} has every peer slot empty; restoring it would factory reset "
                f"{host} at its next restart"
            ),
            warnings,
        )
    wanted = current.model_copy(update={"peers": peers, "primary": source.settings.primary})
    agreed = view.settings.primary_address if view.clustered else None
    if agreed:
        slot = wanted.slot_of(agreed)
        if slot is None:
            return (
                current,
                (
                    f"{source.label} does not list the cluster's configuration primary {agreed}: "
                    f"restoring it on {host} would make the peers disagree on the primary"
                ),
                warnings,
            )
        if slot != source.settings.primary:
            warnings.append(
                f"{source.label} names primary slot {source.settings.primary}; the cluster "
                f"agrees on {agreed} (slot {slot}): restored with slot {slot}"
            )
        wanted = wanted.model_copy(update={"primary": slot})
    return wanted, None, warnings

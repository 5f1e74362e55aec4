"""How to roll back a plan or a run: commands that, typed as shown, return the
cluster to the state before it, or plain words when there is no automatic way.

Per runbook (pure; the journal's steps say what a run really changed and where
each peer's backup went):

- add-peer: remove-peer of the added peer (it factory-resets: said plainly);
- remove-peer: no automatic way back once the peer was decommissioned;
- switch-primary: switch-primary back to the old primary;
- enforce-tls / permissive-tls: each other;
- convert-fqdn: no automatic way back (exops never writes an IP into an FQDN cluster);
- address-mapping: address-mapping with the mapping as it was;
- restore: restore again from the backup the restore took first (``--backup``);
- create-cluster, repair-replication: no automatic way back (why, and the manual way);
- restart: nothing to roll back;
- any other runbook: restore pinned to each changed peer's own backup of the run,
  plus the cluster-wide fields it changed, to set back by hand.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from exops.core.models import ClusterSettings
from exops.plan.model import ActionKind, Plan

# How a backup step's detail names where the backup went (exops.apply.executor).
SAVED_TO = "cluster settings saved to "
CLUSTER_WIDE = {
    "cluster_name": "cluster name",
    "tls_mode": "TLS verification mode",
    "ip_version": "cluster IP version",
    "mapping_enabled": "cluster address mapping",
    "mapping": "address mappings",
}


@dataclass(frozen=True)
class Rollback:
    host: str
    command: str
    backup: str  # what the command does, or which backup it uses


@dataclass(frozen=True)
class RanSteps:
    """What a run did, from its journal steps."""

    changed: frozenset[tuple[str, str]]  # (kind, host) of steps that changed something
    backups: Mapping[str, str]  # host -> its first backup's location in this run

    @classmethod
    def of(cls, steps: Sequence[Mapping[str, Any]]) -> RanSteps:
        changed = frozenset(
            (str(s.get("kind")), str(s.get("host") or "(cluster)"))
            for s in steps
            if s.get("status") == "changed"
        )
        backups: dict[str, str] = {}
        for s in steps:
            detail = str(s.get("detail") or "")
            if s.get("kind") == ActionKind.BACKUP.value and detail.startswith(SAVED_TO):
                backups.setdefault(str(s.get("host")), detail[len(SAVED_TO) :].strip())
        return cls(changed, backups)

    def did(self, kind: ActionKind, host: str | None = None) -> bool:
        return any(k == kind.value and (host is None or h == host) for k, h in self.changed)


# Runbooks whose way back is another runbook: (inverse, note).
INVERSE = {
    "enforce-tls": (
        "permissive-tls",
        "Sets TLS verification back to Permissive on the primary (it replicates) and restarts "
        "every peer in order, as enforce-tls did.",
    ),
    "permissive-tls": (
        "enforce-tls",
        "Sets TLS verification back to Enforce and restarts every peer in order.",
    ),
}
# Runbooks with nothing to type: why.
FIXED = {
    "restart": "Nothing to roll back: a restart changes no setting.",
    "repair-replication": (
        "No way back, and none needed: ForceConfigUpdate replaced each repaired subordinate's "
        "configuration with the primary's (that is the repair); no other setting changed."
    ),
}


def rollback(plan: Plan, ran: RanSteps | None = None) -> tuple[tuple[Rollback, ...], str]:
    """The commands to type, in order, and a sentence saying what they do or, when
    there is no automatic way back, what the manual one is. ``ran`` is a run's
    journal (None: the plan before it runs)."""
    if ran is not None and not ran.changed:
        return (), "Nothing to roll back: the run changed nothing."
    if ran is None and not plan.has_changes:
        return (), "Nothing to roll back: the plan changes nothing."
    name = plan.runbook
    if name in FIXED:
        return (), FIXED[name]
    if name in INVERSE:
        inverse, note = INVERSE[name]
        return (Rollback("(cluster)", f"exops {inverse} -c {plan.cluster}", inverse),), note
    handlers = {
        "add-peer": _add_peer,
        "remove-peer": _remove_peer,
        "switch-primary": _switch_primary,
        "address-mapping": _address_mapping,
        "create-cluster": _create_cluster,
        "restore": _restore,
        "convert-fqdn": _convert_fqdn,
    }
    return handlers.get(name, _by_backups)(plan, ran)


def _convert_fqdn(plan: Plan, ran: RanSteps | None) -> tuple[tuple[Rollback, ...], str]:
    before = settings_before(plan)
    slots = (
        "; ".join(f"slot {i}: {a}" for i, a in enumerate(before.peers, start=1) if a)
        if before is not None
        else "as your records show"
    )
    return (), (
        "No automatic way back: exops never writes an IP address into a cluster that lists "
        "its members by FQDN (safety rule R3: a mixed list breaks TLS verification). The "
        "manual way, slot by slot as convert-fqdn went: on every peer's clustering page put "
        f"slot i's address back ({slots}), save, restart slot i's peer, and wait until the "
        "cluster alarms clear before the next slot."
    )


def _create_cluster(plan: Plan, ran: RanSteps | None) -> tuple[tuple[Rollback, ...], str]:
    host = str(plan.params.get("peer") or "the peer")
    return (), (
        f"No automatic way back: un-forming the cluster means emptying {host}'s peer list, "
        "and a peer with an empty list factory-resets at its next restart (everything but "
        "its basic network settings is deleted); exops never does that to a primary. If "
        f"that is what you want: on {host}'s clustering page clear the peer addresses and "
        "the cluster name, save, and restart it."
    )


def _add_peer(plan: Plan, ran: RanSteps | None) -> tuple[tuple[Rollback, ...], str]:
    c, peer = plan.cluster, str(plan.params.get("peer") or "")
    configured = ran is None or ran.did(ActionKind.CONFIGURE, peer)
    command = Rollback(peer, f"exops remove-peer -c {c} --peer {peer}", "lists it off everywhere")
    if not configured:
        return (command,), (
            f"Takes {peer} off every peer's list again; {peer} itself was not configured "
            "yet, so it is not restarted or reset."
        )
    return (command,), (
        f"Takes {peer} off every peer's list and decommissions it: {peer} factory-resets at "
        "its restart and comes back unclustered, as it was before add-peer, but with only "
        "its basic network settings (anything else configured on it is deleted; export "
        "it first if you need it)."
    )


def _remove_peer(plan: Plan, ran: RanSteps | None) -> tuple[tuple[Rollback, ...], str]:
    c, peer = plan.cluster, str(plan.params.get("peer") or "")
    decommissioned = ran is None or any(
        ran.did(kind, peer) for kind in (ActionKind.CONFIGURE, ActionKind.RESTART)
    )
    add = f"exops add-peer -c {c} --peer {peer}"
    if not decommissioned:
        return (Rollback(peer, add, "lists it again everywhere"),), (
            f"{peer} was not decommissioned (its own list is intact): add-peer lists it on "
            "every peer again and restarts it."
        )
    return (), (
        f"No automatic way back: {peer} was decommissioned and factory-reset at its "
        "restart (its configuration except its basic network settings is gone: DNS, NTP, "
        "from X12.6 on its server certificate and trusted CAs too). The manual way: "
        f"configure {peer} again (those and whatever else it had, from your own export), "
        f"then `{add}` lists it in the cluster again."
    )


def _switch_primary(plan: Plan, ran: RanSteps | None) -> tuple[tuple[Rollback, ...], str]:
    # The runbook's own step "point the old primary at P" runs on (or skips) the old primary.
    steps = [(a.step, a.host) for a in plan.actions] + [(s.step, s.host) for s in plan.skipped]
    old = next((h for step, h in steps if step.startswith("point the old primary at")), None)
    if not old:
        return (), (
            "No automatic way back: the primary before the run is not known from the plan; "
            "`exops switch-primary -c CLUSTER --peer OLD` makes OLD the primary again."
        )
    return (Rollback(old, f"exops switch-primary -c {plan.cluster} --peer {old}", "primary"),), (
        f"Makes {old} the configuration primary again, as it was before the run."
    )


def _address_mapping(plan: Plan, ran: RanSteps | None) -> tuple[tuple[Rollback, ...], str]:
    before = settings_before(plan)
    after = _settings_after(plan)
    if before is None:
        return (), "No automatic way back: the mapping before the run is not known."
    c = plan.cluster
    if not before.mapping_enabled:
        kept = (
            " The pairs this run wrote stay stored, unused while mapping is Off."
            if after is not None and after.mapping != before.mapping
            else ""
        )
        return (Rollback("(cluster)", f"exops address-mapping -c {c} --disable", "Off"),), (
            "Turns cluster address mapping Off again, as it was before the run." + kept
        )
    pairs = " ".join(f"--map {m.name}={m.address}" for m in before.mapping)
    command = f"exops address-mapping -c {c}" + (f" {pairs}" if pairs else "")
    return (Rollback("(cluster)", command, "the pairs as they were"),), (
        "Sets cluster address mapping On with the pairs it had before the run."
    )


def _restore(plan: Plan, ran: RanSteps | None) -> tuple[tuple[Rollback, ...], str]:
    host = str(plan.params.get("peer") or "")
    backup = ran.backups.get(host) if ran is not None else None
    file = backup or "FILE"
    command = f"exops restore -c {plan.cluster} --peer {host} --backup {file}"
    note = (
        f"Puts {host}'s peer list back as it was before this restore, from the backup the "
        "restore took first."
    )
    if backup is None:
        note += " FILE: that backup (the run's report names it)."
    return (Rollback(host, command, "the backup taken before the restore"),), note


def _by_backups(plan: Plan, ran: RanSteps | None) -> tuple[tuple[Rollback, ...], str]:
    """Any other runbook: each changed peer's peer list from its own backup of this
    run, and the cluster-wide fields it changed, to set back by hand."""
    out: list[Rollback] = []
    wide: dict[str, tuple[str, str]] = {}
    seen: set[str] = set()
    for a in plan.actions:
        if a.kind is not ActionKind.CONFIGURE or a.host is None or a.before is None:
            continue
        if ran is not None and not ran.did(ActionKind.CONFIGURE, a.host):
            continue
        if a.after is not None:
            for field, label in CLUSTER_WIDE.items():
                was, now = getattr(a.before, field), getattr(a.after, field)
                if was != now:
                    wide.setdefault(label, (_text(was), _text(now)))
        if a.host in seen:
            continue
        seen.add(a.host)
        lists_changed = a.after is None or (a.before.peers, a.before.primary) != (
            a.after.peers,
            a.after.primary,
        )
        if not lists_changed:
            continue
        if a.before.is_empty:
            out.append(
                Rollback(
                    a.host,
                    f"exops remove-peer -c {plan.cluster} --peer {a.host}",
                    "it was not clustered before (its empty backup cannot be restored)",
                )
            )
            continue
        backup = ran.backups.get(a.host) if ran is not None else None
        out.append(
            Rollback(
                a.host,
                f"exops restore -c {plan.cluster} --peer {a.host} --backup {backup or 'FILE'}",
                "its backup from this run" if backup else "FILE: the backup this run takes first",
            )
        )
    words = []
    if out:
        words.append("Puts each changed peer's peer list back from its own backup of this run.")
    if wide:
        words.append(
            "No automatic way back for the cluster-wide settings (restore keeps them): set them "
            "back by hand on the primary: "
            + "; ".join(f"{label} {was} (now {now})" for label, (was, now) in wide.items())
            + "."
        )
    return tuple(out), " ".join(words) or "Nothing to roll back: no peer setting was changed."


def _text(value: Any) -> str:
    if isinstance(value, tuple):
        return ", ".join(f"{m.name}={m.address}" for m in value) or "(none)"
    text = str(getattr(value, "value", value))
    return text or "(empty)"


def settings_before(plan: Plan) -> ClusterSettings | None:
    """The settings the cluster holds before the plan: the first known "before" of a
    configure step, else the first non-empty peer settings of the plan's basis (what
    the rollback restores and what the plan's views compare against)."""
    for a in plan.actions:
        if a.kind is ActionKind.CONFIGURE and a.before is not None and not a.before.is_empty:
            return a.before
    for facts in plan.basis.values():
        raw = facts.get("settings")
        if isinstance(raw, dict):
            try:
                settings = ClusterSettings.model_validate(raw)
            except ValueError:
                continue
            if not settings.is_empty:
                return settings
    return None


def _settings_after(plan: Plan) -> ClusterSettings | None:
    after = [a.after for a in plan.actions if a.kind is ActionKind.CONFIGURE and a.after]
    return after[-1] if after else None

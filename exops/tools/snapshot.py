"""``exops snapshot`` and ``exops diff``: each peer's configuration kept in the state
store with the run that took it, and the drift since (docs/snapshots.md).

``take`` reads every peer of a cluster (``exops.report.diff.SNAPSHOT_FACTS``),
journals a run of its own (runbook ``snapshot``, one step per peer, so `exops
history` lists it) under the cluster's lock, and stores the snapshot under the
run's id. ``diff`` compares two stored snapshots, or a stored one with the live
cluster read now. Reading changes nothing on any peer.
"""

from __future__ import annotations

import socket
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from exops.core.errors import UsageError
from exops.core.exitcodes import ExitCode
from exops.report.diff import (
    SNAPSHOT_FACTS,
    Diff,
    Side,
    compare,
    complete,
    peer_doc,
    snapshot_side,
)
from exops.run.env import Env
from exops.state import StateStore, open_state
from exops.state.base import current_user
from exops.state.snapshots import NewSnapshot
from exops.tools.journalled import (
    JournalAction,
    JournalledRun,
    JournalStep,
    cluster_lock,
    state_store,
)

RUNBOOK = "snapshot"
OnPeer = Callable[[str], None]


@dataclass
class Taken:
    """One snapshot taken: its id (the run's id), the peers' documents, the outcome."""

    snapshot_id: str
    run_id: str
    cluster: str
    taken_at: str
    peers: list[dict[str, Any]]
    incomplete: list[str] = field(default_factory=list)  # peers not read whole

    @property
    def exit_code(self) -> int:
        """0 when every peer was read whole; 6 (partial) otherwise: stored all the same."""
        return int(ExitCode.PARTIAL if self.incomplete else ExitCode.OK)

    def to_json(self) -> dict[str, Any]:
        return {
            "schema": "exops.snapshot/1",
            "snapshot_id": self.snapshot_id,
            "run_id": self.run_id,
            "cluster": self.cluster,
            "taken_at": self.taken_at,
            "incomplete": self.incomplete,
            "peers": self.peers,
        }


def read_live(env: Env, cluster: str, on_peer: OnPeer | None = None) -> list[dict[str, Any]]:
    """Every peer of ``cluster`` read now, as snapshot documents (inventory order).

    Raises:
        UsageError: an unknown cluster.
    """
    env.inventory.cluster(cluster)
    with env.session([cluster]) as session:
        facts = session.gather_many([cluster], needs=SNAPSHOT_FACTS, on_peer=on_peer)[cluster]
    return [peer_doc(p) for p in facts.peers]


def _step(index: int, doc: dict[str, Any]) -> JournalStep:
    started = doc.get("gathered_at")
    when = datetime.fromisoformat(started) if started else datetime.now(UTC)
    whole = complete(doc)
    missing = ", ".join(sorted(doc.get("unknown") or {}))
    detail = f"{len(doc.get('values') or {})} settings read" + (
        f"; not read: {missing}" if missing else ""
    )
    return JournalStep(
        action=JournalAction(f"s{index}", f"snapshot {doc['host']}", RUNBOOK, str(doc["host"])),
        status="ok" if whole else ("unreachable" if not doc.get("reachable") else "partial"),
        started=when,
        duration_s=max(0.0, (datetime.now(UTC) - when).total_seconds()),
        detail=detail,
        error=None if whole else (doc.get("error") or None),
    )


def save(
    store: StateStore, cluster: str, run_id: str, peers: list[dict[str, Any]], snapshot_id: str
) -> NewSnapshot:
    """Store ``peers`` as one snapshot of ``cluster`` taken by run ``run_id`` (also for
    a runbook that takes one inside its own run, e.g. before an upgrade)."""
    snapshot = NewSnapshot(
        snapshot_id=snapshot_id,
        run_id=run_id,
        cluster=cluster,
        peers=peers,
        user=current_user(),
        host=socket.gethostname(),
    )
    store.snapshots.save(snapshot)
    return snapshot


def take(
    env: Env, cluster: str, *, lock_timeout: float | None = None, on_peer: OnPeer | None = None
) -> Taken:
    """Read every peer of ``cluster`` and store the snapshot, journalled as a run.

    Raises:
        UsageError: an unknown cluster, or the state store cannot be used (nothing read).
        LockedError: another run holds the cluster (exit 4).
    """
    env.inventory.cluster(cluster)
    run_id = uuid.uuid4().hex[:12]
    with (
        state_store(env) as store,
        cluster_lock(store, env, cluster, RUNBOOK, lock_timeout),
        JournalledRun(
            store,
            cluster,
            RUNBOOK,
            params={},
            plan={"snapshot_id": run_id, "facts": sorted(f.value for f in SNAPSHOT_FACTS)},
            run_id=run_id,
        ) as run,
    ):
        peers = read_live(env, cluster, on_peer)
        stored = save(store, cluster, run.run_id, peers, run.run_id)
        for i, doc in enumerate(peers, start=1):
            run.record(_step(i, doc))
        taken = Taken(
            snapshot_id=run.run_id,
            run_id=run.run_id,
            cluster=cluster,
            taken_at=stored.taken_at,
            peers=peers,
            incomplete=[str(p["host"]) for p in peers if not complete(p)],
        )
        run.finish("partial" if taken.incomplete else "ok", taken.exit_code)
        return taken


def listed(env: Env, clusters: list[str] | None, limit: int) -> list[dict[str, Any]]:
    """Stored snapshots (headers), newest first, of the given clusters or all."""
    store = open_state(env.settings)
    try:
        out: list[dict[str, Any]] = []
        targets: list[str | None] = list(clusters) if clusters else [None]
        for cluster in targets:
            out += store.snapshots.list(cluster=cluster, limit=limit)
    finally:
        store.close()
    return sorted(out, key=lambda s: str(s["taken_at"]), reverse=True)[:limit]


def _find(store: StateStore, ref: str) -> dict[str, Any]:
    found = store.snapshots.get(ref)
    if found is None:
        raise UsageError(f"no snapshot {ref!r} in the state store (see `exops snapshot --list`)")
    return found


def show(env: Env, ref: str) -> dict[str, Any]:
    """One stored snapshot with its peers.

    Raises:
        UsageError: no such snapshot.
    """
    store = open_state(env.settings)
    try:
        return _find(store, ref)
    finally:
        store.close()


def diff(
    env: Env,
    refs: list[str],
    cluster: str | None,
    *,
    on_peer: OnPeer | None = None,
) -> Diff:
    """The drift between two snapshots (``refs`` = [A, B]), or between a snapshot
    and the live cluster (``refs`` = [A] with ``cluster``; ``refs`` = [] with
    ``cluster``: the cluster's latest snapshot).

    Raises:
        UsageError: more than two refs, no cluster for a live side, an unknown
            snapshot or cluster, or snapshots of different clusters.
    """
    if len(refs) > 2:
        raise UsageError("exops diff takes at most two snapshots (SNAP1 SNAP2, or SNAP -c C)")
    if len(refs) == 2 and cluster is not None:
        raise UsageError("-c: give two snapshots or one snapshot and -c C, not both")
    if len(refs) < 2 and cluster is None:
        raise UsageError("exops diff: name two snapshots, or a snapshot (or none) and -c CLUSTER")
    if cluster is not None:
        env.inventory.cluster(cluster)
    named = cluster or ""  # one snapshot or none: the checks above make a cluster given
    store = open_state(env.settings)
    try:
        if refs:
            before = _find(store, refs[0])
        else:
            latest = store.snapshots.latest(named)
            if latest is None:
                raise UsageError(
                    f"no snapshot of cluster {cluster} yet: take one with `exops snapshot -c "
                    f"{cluster}`"
                )
            before = latest
        after = _find(store, refs[1]) if len(refs) == 2 else None
    finally:
        store.close()
    if after is not None:
        if after["cluster"] != before["cluster"]:
            raise UsageError(
                f"snapshots {refs[0]} ({before['cluster']}) and {refs[1]} ({after['cluster']}) "
                "are of different clusters"
            )
        return compare(snapshot_side(before), before["peers"], snapshot_side(after), after["peers"])
    if before["cluster"] != named:
        raise UsageError(
            f"snapshot {before['snapshot_id']} is of cluster {before['cluster']}, not {cluster}"
        )
    now = datetime.now(UTC).isoformat(timespec="milliseconds")
    live = read_live(env, named, on_peer)
    return compare(snapshot_side(before), before["peers"], Side("live", named, now), live)


def diff_exit_code(result: Diff, *, detailed: bool) -> int:
    """6 (partial) when a peer or a group of settings could not be read on a side: the
    diff is incomplete; else 5 with ``detailed`` when there is drift; else 0. A single
    value a peer does not offer (unknown on that side) is shown, not counted here."""
    if result.unread:
        return int(ExitCode.PARTIAL)
    if detailed and result.drift:
        return int(ExitCode.CHANGES_PENDING)
    return int(ExitCode.OK)

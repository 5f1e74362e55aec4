"""The read-only getters: a cluster's status and its prerequisite checks, as data.

    import exops

    env = exops.load_env("inventory/")
    for report in exops.status(env):              # every cluster of the inventory
        print(report.cluster, report.verdict.value, report.root_cause)
    checks = exops.check(env, "c1", new_peer="c1-p4")["c1"]
    print(all(c.outcome.value in ("pass", "n/a") for c in checks))

Both read every selected peer at once over one session and change nothing;
a peer that does not answer is data in the result (``reachable`` false, an
``unknown`` check), never an exception. ``exops status`` and ``exops check``
call these and only render what they return.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from exops.core.errors import UsageError
from exops.report.status import ClusterReport, Verdict
from exops.run.env import Env

if TYPE_CHECKING:  # the check's models: imported by check only (status: issue 22)
    from exops.plan.model import CheckResult

OnPeer = Callable[[str], None]
Clusters = str | Sequence[str] | None

__all__ = ["Clusters", "OnPeer", "check", "check_peers", "is_healthy", "passed", "status"]


def _names(env: Env, clusters: Clusters) -> list[str]:
    """The selected clusters' names (all when None), each known to the inventory."""
    wanted = [clusters] if isinstance(clusters, str) else clusters
    return [c.name for c in env.inventory.select(list(wanted) if wanted is not None else None)]


def status(
    env: Env, clusters: Clusters = None, *, on_peer: OnPeer | None = None
) -> list[ClusterReport]:
    """Each selected cluster's status (``exops status``): peers, primary,
    replication, alarms, the verdict and the run holding the cluster now, if any, in
    the inventory's order.

    Args:
        env: settings and inventory (``load_env``).
        clusters: a cluster name, several, or None for every cluster.
        on_peer: called with each peer's name as it is read (from worker threads).

    Raises:
        UsageError: an unknown cluster; ExopsError: a credential cannot be resolved.
    """
    from exops.facts.gather import STATUS_FACTS
    from exops.report.status import summarize
    from exops.run.holder import run_holder

    names = _names(env, clusters)
    with env.session(names) as session:
        facts = session.gather_many(names, needs=STATUS_FACTS, on_peer=on_peer, release=True)
    reports = [summarize(facts[n]) for n in names]
    # The run holding each cluster now, if any (after the read: it names who was
    # changing the cluster while it was read).
    return [
        r.model_copy(
            update={"run_in_progress": run_holder(env.inventory.cluster(r.cluster), env.settings)}
        )
        for r in reports
    ]


def check_peers(env: Env, clusters: Clusters, new_peer: str | None) -> list[str]:
    """The clusters whose prerequisites are checked: the selected ones, or those
    of them that hold ``new_peer``.

    Raises:
        UsageError: an unknown cluster, or ``new_peer`` is a peer of none of them.
    """
    names = _names(env, clusters)
    if not new_peer:
        return names
    owners = [n for n in names if new_peer in {p.name for p in env.inventory.cluster(n).peers}]
    if not owners:
        if len(names) == 1:
            env.inventory.cluster(names[0]).peer(new_peer)  # its message lists the peers
        raise UsageError(f"--peer {new_peer!r} is not a peer of {', '.join(names)}")
    return owners


def check(
    env: Env,
    clusters: Clusters = None,
    *,
    new_peer: str | None = None,
    on_peer: OnPeer | None = None,
) -> dict[str, tuple[CheckResult, ...]]:
    """The clustering prerequisites of each selected cluster (``exops check``),
    with evidence per peer; with ``new_peer``, for adding that peer (only the
    clusters that hold it are checked).

    Raises:
        UsageError: an unknown cluster, or ``new_peer`` is in none of them.
    """
    from exops.plan import preflight

    names = check_peers(env, clusters, new_peer)
    with env.session(names) as session:
        gathered = session.gather_many(names, on_peer=on_peer)
    return {n: preflight.run_checks(gathered[n], None, new_peer=new_peer) for n in names}


def passed(results: Sequence[CheckResult]) -> bool:
    """No check failed or is unknown (``exops check`` exits 3 otherwise)."""
    from exops.plan.model import BLOCKING

    return not any(c.outcome in BLOCKING for c in results)


def is_healthy(report: ClusterReport) -> bool:
    """Healthy or not yet clustered (``exops status`` exits 1 otherwise, also when the
    verdict is unknown: a failed read is never a state)."""
    return report.verdict in (Verdict.HEALTHY, Verdict.UNCLUSTERED)

"""Nornir tasks: exops runbooks, status and checks inside a user's own Nornir script.

    from nornir import InitNornir
    from exops.tools.nornir_tasks import cluster_nornir, run_runbook, status

    nr = cluster_nornir()                                  # one host per cluster
    print(nr.run(task=status)["c1"].result.verdict)        # a ClusterReport
    agg = nr.filter(name="c1").run(task=run_runbook, runbook="restart", yes=True)
    print(agg["c1"].changed, agg["c1"].failed, agg["c1"][0].result.status)

A Nornir host here is an exops **cluster**: ``cluster_nornir()`` builds a
Nornir with one host per cluster of the exops inventory. A Nornir that loaded
the exops inventory files itself (``SimpleInventory``: one host per peer, one
group per cluster) works too: a task acts on the host's cluster once, on the
first selected peer of each cluster; the other peers' results say which peer
ran it (``changed`` and ``failed`` false).

Each task returns a Nornir ``Result`` whose ``result`` is exops data
(``RunResult``, ``ClusterReport``, the ``CheckResult`` tuple) and whose flags
are honest: ``changed`` only when a write or a restart happened (in a dry run:
when the plan has changes, Nornir's and NAPALM's meaning, and ``diff`` is the
plan); ``failed`` when exops would exit non-zero, with exops's one line in
``result`` and its exit code in ``exit_code``. Each run takes the cluster lock
and writes the journal of the state store the settings name, as ``exops`` does.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from exops.apply.results import RunResult, RunStatus
from exops.core.errors import ExopsError, UsageError
from exops.core.exitcodes import ExitCode
from exops.run import read
from exops.run.env import Env, load_env

if TYPE_CHECKING:
    from nornir.core import Nornir
    from nornir.core.inventory import Host
    from nornir.core.task import Result, Task

__all__ = ["apply_plan", "check", "cluster_nornir", "cluster_of", "run_runbook", "status"]

CLUSTER_KEY = "exops_cluster"  # host data of cluster_nornir's hosts
INVENTORY_KEY = "exops_inventory"
SUCCESS = (RunStatus.OK, RunStatus.NOTHING_TO_CHANGE, RunStatus.PLANNED)


def cluster_nornir(
    env: Env | None = None, clusters: list[str] | None = None, *, workers: int | None = None
) -> Nornir:
    """A Nornir whose hosts are the clusters of the exops inventory (all, or
    ``clusters``), run ``workers`` at a time (default: the ``workers`` setting).

    Raises:
        UsageError, InventoryError: bad settings, inventory or cluster name.
    """
    from nornir.core import Nornir
    from nornir.core.configuration import Config, LoggingConfig
    from nornir.core.inventory import Defaults, Groups, Host, Hosts, Inventory
    from nornir.core.state import GlobalState
    from nornir.plugins.runners import ThreadedRunner

    env = env or load_env()
    hosts = Hosts()
    defaults = Defaults()
    for spec in env.inventory.select(clusters):
        hosts[spec.name] = Host(
            name=spec.name,
            hostname=spec.cluster_name,
            data={
                CLUSTER_KEY: spec.name,
                INVENTORY_KEY: str(env.inventory.path),
                "cluster_name": spec.cluster_name,
                "peers": [p.name for p in spec.peers],
            },
            defaults=defaults,
        )
    return Nornir(
        inventory=Inventory(hosts=hosts, groups=Groups(), defaults=defaults),
        runner=ThreadedRunner(num_workers=workers or env.settings.workers),
        config=Config(logging=LoggingConfig(enabled=False)),
        data=GlobalState(dry_run=False),
    )


def cluster_of(host: Host, env: Env) -> str:
    """The exops cluster a Nornir host stands for: its own name (a host of
    ``cluster_nornir``), or the cluster group a peer host belongs to.

    Raises:
        UsageError: the host is neither a cluster nor a peer of the inventory.
    """
    name = host.data.get(CLUSTER_KEY) or host.name
    if name in env.inventory.clusters:
        return str(name)
    clusters = [
        c.name for c in env.inventory.clusters.values() if _is_peer_of(env, host.name, c.name)
    ]
    if len(clusters) != 1:
        raise UsageError(f"nornir host {host.name!r} is no cluster or peer of {env.inventory.path}")
    return clusters[0]


def _env(task: Task, env: Env | None) -> Env:
    """The given env, else the settings from the environment (EXOPS_*) with the
    inventory directory the Nornir host came from."""
    if env is not None:
        return env
    where = task.host.data.get(INVENTORY_KEY)
    if where is None:  # a SimpleInventory of the exops files: its own directory
        options = task.nornir.config.inventory.options or {}
        host_file = options.get("host_file")
        where = str(Path(host_file).parent) if host_file else None
    return load_env(where)


def _runs_here(task: Task, env: Env, cluster: str) -> str | None:
    """None when this host runs the cluster's task, else the peer that does."""
    if task.host.name == cluster:
        return None
    for name in task.nornir.inventory.hosts:
        if name == cluster or _is_peer_of(env, name, cluster):
            return None if name == task.host.name else str(name)
    return None


def _is_peer_of(env: Env, name: str, cluster: str) -> bool:
    return any(p.name == name for p in env.inventory.clusters[cluster].peers)


def _result(task: Task, **fields: Any) -> Result:
    from nornir.core.task import Result

    return Result(host=task.host, **fields)


def _error(task: Task, exc: ExopsError) -> Result:
    return _result(task, result=str(exc), failed=True, exception=exc, exit_code=exc.exit_code)


def _elsewhere(task: Task, cluster: str, peer: str) -> Result:
    return _result(task, result=f"cluster {cluster}: run on {peer}", exit_code=0)


def _of_run(task: Task, run: RunResult, *, dry_run: bool) -> Result:
    from exops.report import render_plan

    plan = run.plan
    diff = render_plan(plan, "text") if plan is not None and plan.has_changes else ""
    return _result(
        task,
        result=run,
        changed=(plan is not None and plan.has_changes) if dry_run else run.changed,
        failed=run.status not in SUCCESS,
        diff=diff,
        exit_code=run.exit_code,
    )


def run_runbook(
    task: Task,
    runbook: str,
    params: Mapping[str, Any] | None = None,
    *,
    dry_run: bool | None = None,
    yes: bool = False,
    lock_timeout: float | None = None,
    env: Env | None = None,
    **more: Any,
) -> Result:
    """Run ``runbook`` (a shipped name or a file) on the host's cluster with
    ``params`` (and any other keyword arguments as parameters).

    ``dry_run`` (default: Nornir's global ``dry_run``) only plans; a plan that
    restarts peers needs ``yes=True``; ``lock_timeout`` waits for a held lock.
    """
    try:
        env = _env(task, env)
        cluster = cluster_of(task.host, env)
        other = _runs_here(task, env, cluster)
        if other is not None:
            return _elsewhere(task, cluster, other)
        from exops.run.runner import Runner

        runner = Runner(env)
        args = {**(params or {}), **more}
        if task.is_dry_run(dry_run):
            return _of_run(task, runner.plan(runbook, cluster, args), dry_run=True)
        run = runner.run(runbook, cluster, args, yes=yes, lock_timeout=lock_timeout)
        return _of_run(task, run, dry_run=False)
    except ExopsError as exc:
        return _error(task, exc)


def apply_plan(
    task: Task,
    plan_file: str | Path,
    *,
    yes: bool = False,
    lock_timeout: float | None = None,
    env: Env | None = None,
) -> Result:
    """Apply a saved plan (``exops apply``): refused (failed, exit 3) unless a
    fresh plan equals it. The plan must be for the host's cluster."""
    try:
        env = _env(task, env)
        cluster = cluster_of(task.host, env)
        other = _runs_here(task, env, cluster)
        if other is not None:
            return _elsewhere(task, cluster, other)
        from exops.plan.model import load_plan_file
        from exops.run.runner import Runner

        path = Path(plan_file)
        saved = load_plan_file(path)
        if saved.cluster != cluster:
            raise UsageError(f"{path}: a plan for cluster {saved.cluster}, not {cluster}")
        run = Runner(env).apply_saved(path, yes=yes, lock_timeout=lock_timeout)
        return _of_run(task, run, dry_run=False)
    except ExopsError as exc:
        return _error(task, exc)


def status(task: Task, *, env: Env | None = None) -> Result:
    """The host's cluster status (a ``ClusterReport``); failed when it is degraded
    or broken (``exops status`` exits 1); never changed."""
    try:
        env = _env(task, env)
        cluster = cluster_of(task.host, env)
        other = _runs_here(task, env, cluster)
        if other is not None:
            return _elsewhere(task, cluster, other)
        report = read.status(env, cluster)[0]
    except ExopsError as exc:
        return _error(task, exc)
    healthy = read.is_healthy(report)
    code = ExitCode.OK if healthy else ExitCode.FAILED
    return _result(task, result=report, failed=not healthy, exit_code=int(code))


def check(task: Task, *, new_peer: str | None = None, env: Env | None = None) -> Result:
    """The host's cluster prerequisites (a tuple of ``CheckResult``), for adding
    ``new_peer`` when given; failed when one fails or is unknown (exit 3)."""
    try:
        env = _env(task, env)
        cluster = cluster_of(task.host, env)
        other = _runs_here(task, env, cluster)
        if other is not None:
            return _elsewhere(task, cluster, other)
        results = read.check(env, cluster, new_peer=new_peer)[cluster]
    except ExopsError as exc:
        return _error(task, exc)
    ok = read.passed(results)
    code = ExitCode.OK if ok else ExitCode.REFUSED
    return _result(task, result=results, failed=not ok, exit_code=int(code))

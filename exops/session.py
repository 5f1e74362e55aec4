"""A session: the inventory, the settings and open connections, run through Nornir.

Nornir runs the per-peer work on its threaded runner and keeps one appliance
connection per peer (the ``exops_appliance`` connection plugin) for the whole
session, so polling during waits reuses keep-alive HTTPS connections and SSH
shells instead of reconnecting.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, TypeVar

from exops.appliance.base import Appliance, ConnectionTarget
from exops.errors import ExopsError
from exops.facts import cluster_facts, read_peer_facts
from exops.inventory import ClusterSpec, Inventory, PeerSpec, connection_target
from exops.models import ClusterFacts, PeerFacts
from exops.resolve import resolve
from exops.settings import Settings

if TYPE_CHECKING:
    from nornir.core import Nornir
    from nornir.core.task import Task

T = TypeVar("T")
CONNECTION = "exops_appliance"


class Session:
    """Connections to the peers of the selected clusters."""

    def __init__(
        self,
        inventory: Inventory,
        settings: Settings,
        clusters: list[ClusterSpec],
        *,
        environ: Mapping[str, str] | None = None,
    ):
        self.inventory = inventory
        self.settings = settings
        self.clusters = {c.name: c for c in clusters}
        self.specs: dict[str, PeerSpec] = {p.name: p for c in clusters for p in c.peers}
        # Resolve every credential before the first connection: a missing
        # password fails the run before anything is touched.
        self.targets: dict[str, ConnectionTarget] = {
            name: connection_target(spec, settings, environ) for name, spec in self.specs.items()
        }
        self._nornir: Nornir | None = None

    # -- Nornir plumbing -------------------------------------------------
    def nornir(self) -> Nornir:
        if self._nornir is None:
            self._nornir = _init_nornir(self)
        return self._nornir

    def appliance(self, host: str) -> Appliance:
        """The open connection to one peer (opened on first use).

        Raises:
            ExopsError: the connection could not be opened.
        """
        nr = self.nornir()
        h = nr.inventory.hosts[host]
        conn: Appliance = h.get_connection(CONNECTION, nr.config)
        return conn

    def run_each(self, hosts: list[str], work: Callable[[str], T]) -> dict[str, T | ExopsError]:
        """Run ``work(host)`` for many peers in parallel on Nornir's runner.

        An ``ExopsError`` on one host is returned as that host's value; the
        others carry on (a failure on one host is data).
        """
        if not hosts:
            return {}
        nr = self.nornir().filter(filter_func=lambda h: h.name in set(hosts))

        def task(t: Task) -> Any:
            from nornir.core.task import Result

            try:
                value: Any = work(t.host.name)
            except ExopsError as exc:
                value = exc
            return Result(host=t.host, result=value)

        agg = nr.run(task=task, on_failed=True)
        out: dict[str, T | ExopsError] = {}
        for name, multi in agg.items():
            res = multi[0]
            if res.exception is not None and not isinstance(res.result, ExopsError):
                raise res.exception  # a bug: show it
            out[name] = res.result
        return out

    # -- facts -------------------------------------------------------------
    def gather_peer(self, host: str, *, light: bool = False) -> PeerFacts:
        spec = self.specs[host]
        try:
            app = self.appliance(host)
        except ExopsError as exc:
            facts = read_peer_facts(None, spec, open_error=str(exc))
        else:
            facts = read_peer_facts(app, spec, light=light)
        if spec.fqdn and not light:
            resolved = resolve(spec.fqdn, hosts_file=self.settings.hosts_file)
            facts = facts.model_copy(update={"fqdn_addresses": resolved})
        return facts

    def gather(
        self, cluster: str, hosts: list[str] | None = None, *, light: bool = False
    ) -> ClusterFacts:
        """Facts of every peer of one cluster (or the given subset), in parallel.

        ``light``: only what waits and verifies poll (see ``facts.LIGHT_READS``).
        """
        return self.gather_many([cluster], hosts=hosts, light=light)[cluster]

    def gather_many(
        self, clusters: list[str], hosts: list[str] | None = None, *, light: bool = False
    ) -> dict[str, ClusterFacts]:
        wanted = [
            p.name
            for c in clusters
            for p in self.clusters[c].peers
            if hosts is None or p.name in hosts
        ]
        results = self.run_each(wanted, lambda h: self.gather_peer(h, light=light))
        out = {}
        for c in clusters:
            peers = [results[p.name] for p in self.clusters[c].peers if p.name in results]
            out[c] = cluster_facts(c, [p for p in peers if isinstance(p, PeerFacts)])
        return out

    def close(self) -> None:
        if self._nornir is not None:
            self._nornir.close_connections(on_good=True, on_failed=True)
            self._nornir = None

    def __enter__(self) -> Session:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _init_nornir(session: Session) -> Nornir:
    from nornir import InitNornir
    from nornir.core.inventory import ConnectionOptions

    from exops.appliance.connection import register

    register()
    path = session.inventory.path
    nr = InitNornir(
        runner={"plugin": "threaded", "options": {"num_workers": session.settings.workers}},
        inventory={
            "plugin": "SimpleInventory",
            "options": {
                "host_file": str(path / "hosts.yaml"),
                "group_file": str(path / "groups.yaml"),
                "defaults_file": str(path / "defaults.yaml"),
            },
        },
        logging={"enabled": False},
    )
    nr = nr.filter(filter_func=lambda h: h.name in session.targets)
    for name, host in nr.inventory.hosts.items():
        # The connection plugin takes the whole resolved target; the secret
        # stays a SecretStr and never lands in Nornir's own host fields.
        host.connection_options[CONNECTION] = ConnectionOptions(
            extras={"target": session.targets[name]}
        )
    return nr

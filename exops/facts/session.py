"""A session: the inventory, the settings and open connections.

Nornir keeps one appliance connection per peer (the ``exops_appliance``
connection plugin) for the whole session, so polling during waits reuses
keep-alive HTTPS connections and SSH shells instead of reconnecting; its
inventory is built in memory from the inventory exops already validated.
Facts are read by ``exops.facts.gather.Gatherer``: every peer at once, a few
requests per peer at once.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, TypeVar

from exops.appliance.base import PEER_CONCURRENCY, Appliance, ConnectionTarget
from exops.core.errors import ExopsError
from exops.core.models import ClusterFacts, PeerFacts
from exops.core.settings import Settings
from exops.facts.gather import (
    ALL_FACTS,
    LIGHT_READS,
    Fact,
    Gatherer,
    PeerRead,
    cluster_facts,
)
from exops.inventory import (
    ClusterSpec,
    Inventory,
    PeerSpec,
    connection_target,
    nornir_inventory,
)
from exops.inventory.resolve import resolve

if TYPE_CHECKING:
    from nornir.core import Nornir
    from nornir.core.task import Task

T = TypeVar("T")
CONNECTION = "exops_appliance"
# A one-shot read (``release``) of a big fleet reads at most this many x ``workers``
# peers at once; each finished peer (its connections closed) admits the next. Every
# peer in flight holds an SSH session and its transport thread and an HTTPS pool.
# 1,500 peers over SSH on one lab (docs/benchmarks.md, 2026-12-06): all at once,
# 317 MiB, 230 s and 596 peers unreachable (~1,900 threads: the GIL and the kernel's
# scheduler set the pace and logins timed out); 2 x 100 at once, 163 MiB, 41 s, every
# peer read. 2: a fleet of up to 200 peers (default workers) is read as before.
READ_AT_ONCE = 2


def _room_for_files(connections: int) -> None:
    """Raise the soft open-files limit (often 1,024) towards the hard one when a
    session may hold more sockets than it allows (a fleet of hundreds of peers)."""
    try:
        import resource
    except ImportError:  # not POSIX
        return
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = connections + 256  # files, the state store, the pool's own
    if soft == resource.RLIM_INFINITY or soft >= want:
        return
    new = want if hard == resource.RLIM_INFINITY else min(want, hard)
    if new > soft:  # on refusal the limit stays; a gather over it fails per peer, as data
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (new, hard))


def _wanted(light: bool, needs: frozenset[Fact] | None) -> frozenset[Fact]:
    if needs is not None:
        return needs
    return LIGHT_READS if light else ALL_FACTS


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
        # The open connection of each peer once Nornir opened it: Nornir returns the
        # same object until close(), and its lookup, on every call, adds up over a
        # run's polls (some 90 calls per cluster in an ordered restart).
        self._open: dict[str, Appliance] = {}
        # Each peer may hold PEER_CONCURRENCY HTTPS connections and an SSH one.
        _room_for_files(len(self.targets) * (PEER_CONCURRENCY + 1))

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
        conn = self._open.get(host)
        if conn is None:
            nr = self.nornir()
            conn = nr.inventory.hosts[host].get_connection(CONNECTION, nr.config)
            self._open[host] = conn
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
    def gather_peer(
        self, host: str, *, light: bool = False, needs: frozenset[Fact] | None = None
    ) -> PeerFacts:
        return self._gather([host], _wanted(light, needs))[0]

    def gather(
        self,
        cluster: str,
        hosts: list[str] | None = None,
        *,
        light: bool = False,
        needs: frozenset[Fact] | None = None,
    ) -> ClusterFacts:
        """Facts of every peer of one cluster (or the given subset), read concurrently.

        ``light``: only what waits and verifies poll (``facts.LIGHT_READS``);
        ``needs``: exactly these facts (default: everything).
        """
        return self.gather_many([cluster], hosts=hosts, light=light, needs=needs)[cluster]

    def gather_many(
        self,
        clusters: list[str],
        hosts: list[str] | None = None,
        *,
        light: bool = False,
        needs: frozenset[Fact] | None = None,
        on_peer: Callable[[str], None] | None = None,
        release: bool = False,
    ) -> dict[str, ClusterFacts]:
        """Facts of the peers of many clusters in one gather (all peers at once);
        ``on_peer(host)`` as each peer is read (``Gatherer.gather``).

        ``release``: a one-shot read (``exops status``): each peer's connections
        (its SSH session and transport thread, its HTTPS pool) are closed as soon as
        its facts are complete, so a big fleet never holds them all open at once.
        """
        members = {c: [p.name for p in self.clusters[c].peers] for c in clusters}
        wanted = [h for c in clusters for h in members[c] if hosts is None or h in hosts]
        window = None
        if release:
            on_peer = self._releasing(on_peer)
            # Released peers hold nothing once read: read at most READ_AT_ONCE x
            # workers of them at once (docs/benchmarks.md: 1,500 peers over SSH).
            window = READ_AT_ONCE * self.settings.workers
        read = self._gather(wanted, _wanted(light, needs), on_peer, window)
        facts = dict(zip(wanted, read, strict=True))
        return {c: cluster_facts(c, [facts[h] for h in members[c] if h in facts]) for c in clusters}

    def _gather(
        self,
        hosts: list[str],
        needs: frozenset[Fact],
        on_peer: Callable[[str], None] | None = None,
        window: int | None = None,
    ) -> list[PeerFacts]:
        peers = []
        for host in hosts:  # connections are opened here, in one thread (Nornir's cache)
            spec = self.specs[host]
            try:
                app: Appliance | None = self.appliance(host)
                error = None
            except ExopsError as exc:
                app, error = None, str(exc)
            peers.append(PeerRead(spec, app, error, self._resolver(spec, needs)))
        workers = self.settings.workers * PEER_CONCURRENCY
        gatherer = Gatherer(workers=workers, per_peer=PEER_CONCURRENCY, peers=window)
        return gatherer.gather(peers, needs, on_peer)

    def _releasing(self, on_peer: Callable[[str], None] | None) -> Callable[[str], None]:
        """``on_peer`` that first closes the peer's open connections. Only for a read
        after which this session reads that peer no more (its HTTPS client stays
        closed); ``close`` at the end closes it again, harmlessly."""

        def done(host: str) -> None:
            opened = self.nornir().inventory.hosts[host].connections.get(CONNECTION)
            if opened is not None:  # never opened: its error is the peer's fact already
                opened.close()
            if on_peer is not None:
                on_peer(host)

        return done

    def _resolver(
        self, spec: PeerSpec, needs: frozenset[Fact]
    ) -> Callable[[], tuple[str, ...]] | None:
        if not spec.fqdn or Fact.FQDN not in needs:
            return None
        fqdn, hosts_file = spec.fqdn, self.settings.hosts_file
        return lambda: tuple(resolve(fqdn, hosts_file=hosts_file))

    def close(self) -> None:
        self._open.clear()
        if self._nornir is not None:
            self._nornir.close_connections(on_good=True, on_failed=True)
            self._nornir = None

    def __enter__(self) -> Session:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _init_nornir(session: Session) -> Nornir:
    """Nornir on the inventory already validated, built in memory (no file is
    read again, no plugin entry points are scanned: exops registers its own
    connection plugin)."""
    from nornir.core import Nornir
    from nornir.core.configuration import Config, LoggingConfig
    from nornir.core.state import GlobalState
    from nornir.plugins.runners import ThreadedRunner

    from exops.appliance.connection import register

    register()
    # The connection plugin takes the whole resolved target; the secret stays a
    # SecretStr and never lands in Nornir's own host fields.
    options = {name: {CONNECTION: {"target": t}} for name, t in session.targets.items()}
    return Nornir(
        inventory=nornir_inventory(list(session.clusters.values()), options),
        runner=ThreadedRunner(num_workers=session.settings.workers),
        config=Config(logging=LoggingConfig(enabled=False)),
        data=GlobalState(dry_run=False),
    )

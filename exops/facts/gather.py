"""Gather facts: read peers concurrently into ``PeerFacts`` / ``ClusterFacts``.

What is read. A command declares the facts it needs (``Fact``; ``STATUS_FACTS``,
``LIGHT_READS``, ``PLAN_FACTS`` with each check's ``exops.plan.preflight.CHECK_FACTS``,
``ALL_FACTS``) and the gather reads those and nothing else, each resource once.

How it is read. Every read of every peer is a job on the process's worker
threads (``WORKERS``: reused from one gather to the next); a peer
has at most ``PEER_CONCURRENCY`` (5) requests in flight, and its first job
runs alone: it proves the peer answers and accepts the credentials before
any other request is sent (a wrong password costs one refused login per peer
and gather, never four: appliances lock accounts after repeated failures).
Over REST each resource is its own request (the four CDB tables of the
cluster settings go out together); the appliance answers them concurrently,
so the latency cost of a gather is a few round trips instead of one per
resource. A peer's SSH shell is one channel: everything a peer reads over
SSH is one job whose commands run one after another (``Job.ssh``), beside
its HTTPS requests.

Failure semantics (unchanged). Each read is separate, so a peer that answers
some questions and garbles others still yields what it answered; the first
error, in reading order, is kept on the peer (``PeerFacts.error``). A
transport failure (unreachable, timeout, refused credentials, TLS) on any
read marks the peer unreachable and no further read of it starts: a peer
that stops answering half-way is not one to plan changes on.
"""

from __future__ import annotations

import contextlib
import threading
import time
from abc import ABC, abstractmethod
from collections import deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from functools import partial
from queue import Empty, SimpleQueue
from typing import TYPE_CHECKING, Any

from exops.appliance.base import PEER_CONCURRENCY, Appliance
from exops.core import errors as fail
from exops.core.models import ClusterFacts, PeerFacts, SystemInfo
from exops.inventory import PeerSpec

if TYPE_CHECKING:
    from exops.appliance.factory import RoutedAppliance


class Fact(StrEnum):
    """What a command can ask of a peer (each maps to a ``PeerFacts`` field)."""

    RTT = "rtt_ms"  # the probe: round-trip time of one cheap authenticated request
    SETTINGS = "settings"  # cluster settings (4 CDB tables, or one CLI command)
    STATUS = "status"  # cluster status and database (2 CDB tables)
    ALARMS = "alarms"
    IDENTITY = "identity"  # SystemInfo from sysinfo only: name, version, role, platform...
    SYSTEM = "system"  # the whole SystemInfo: + DNS, NTP, option keys, H.323 mode
    # IDENTITY's SystemInfo with the DNS and NTP server lists (REST: their two reads;
    # SSH: the system read has them): what `exops status` shows; SYSTEM includes it.
    SERVERS = "servers"
    CERTIFICATE = "certificate"  # server certificate and trust store
    FQDN = "fqdn_addresses"  # what exops resolves the peer's FQDN to (no appliance read)


ALL_FACTS: frozenset[Fact] = frozenset(Fact) - {Fact.IDENTITY, Fact.SERVERS}  # in SYSTEM
# What waits and verifies poll (exops/apply/verify.py, the executor's checks
# on fresh reads): settings, cluster status, alarms; any answer proves the peer
# reachable, so no probe (tests/unit/plan/test_plan_facts.py checks the conditions).
LIGHT_READS: frozenset[Fact] = frozenset({Fact.SETTINGS, Fact.STATUS, Fact.ALARMS})
# What `exops status` shows (exops/report/status.py): the DNS and NTP servers as
# `exops check` reads them, no option keys, H.323, certificates or probe; the reads
# themselves prove reachability.
STATUS_FACTS: frozenset[Fact] = frozenset(
    {Fact.SETTINGS, Fact.STATUS, Fact.ALARMS, Fact.IDENTITY, Fact.SERVERS}
)
# What planning any runbook reads besides its checks (exops/plan/planner.py,
# view.py): the cluster view (settings), a pending restart and out-of-sync
# subordinates (alarms), the LAN addresses that designate a peer and its uptime
# (identity). Each check declares its own facts (exops/plan/preflight.py CHECK_FACTS;
# the new-peer TLS check: exops/plan/planner.py); ``plan_facts(runbook)``
# is the union, and tests/unit/plan/test_plan_facts.py proves it exact.
PLAN_FACTS: frozenset[Fact] = frozenset({Fact.SETTINGS, Fact.ALARMS, Fact.IDENTITY})


def needs_of(*groups: Iterable[Fact]) -> frozenset[Fact]:
    """The union of fact sets; IDENTITY and SERVERS are dropped where SYSTEM (their
    superset) is read; SERVERS brings IDENTITY (the servers complete its SystemInfo)."""
    out = frozenset(f for g in groups for f in g)
    if Fact.SYSTEM in out:
        return out - {Fact.IDENTITY, Fact.SERVERS}
    return out | {Fact.IDENTITY} if Fact.SERVERS in out else out


# -- jobs --------------------------------------------------------------------------

Read = tuple[str, Callable[[], Any]]  # (key, call): one request or one CLI command


@dataclass(frozen=True)
class Job:
    """Reads run one after another in one worker; a job uses one of the peer's slots.

    ``ssh``: the reads go over the peer's SSH shell, which is one channel: a peer
    has at most one SSH job, so its CLI commands never overlap.
    """

    reads: tuple[Read, ...]
    ssh: bool = False


@dataclass
class _Outcome:
    values: dict[str, Any] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)  # read key -> message


class _Plan(ABC):
    """The jobs for one peer and how their answers become ``PeerFacts`` fields.

    ``initial()`` gives the first jobs (the first of them runs alone);
    ``after(outcome)`` may add jobs once an answer is known (the route: is the
    cluster database REST on?); ``assemble()`` builds the fields.
    """

    order: tuple[str, ...] = ()  # read keys in reading order (for "the first error")

    @abstractmethod
    def initial(self) -> list[Job]: ...

    def after(self, outcome: _Outcome) -> list[Job]:
        return []

    @abstractmethod
    def assemble(self, out: _Outcome) -> tuple[dict[str, Any], str | None, dict[str, str]]: ...


_PUBLIC: tuple[tuple[Fact, str], ...] = (
    (Fact.RTT, "probe"),
    (Fact.SETTINGS, "read_settings"),
    (Fact.STATUS, "read_status"),
    (Fact.ALARMS, "read_alarms"),
    (Fact.SYSTEM, "read_system"),
    (Fact.CERTIFICATE, "read_certificate"),
)


class _PublicPlan(_Plan):
    """Any ``Appliance``: one read per fact through its public methods.

    The reads are assumed safe to run concurrently unless the appliance says its
    transport is ``ssh``: then they run in one job, in order (one shell).
    """

    def __init__(self, app: Appliance, needs: frozenset[Fact]):
        self.app = app
        wanted = needs_of(needs, {Fact.SYSTEM} if needs & {Fact.IDENTITY, Fact.SERVERS} else ())
        self.reads: list[Read] = [
            (fact.value, getattr(app, method)) for fact, method in _PUBLIC if fact in wanted
        ]
        self.order = tuple(k for k, _ in self.reads)

    def initial(self) -> list[Job]:
        if str(getattr(self.app, "transport_name", "")) == "ssh":
            return [Job(tuple(self.reads), ssh=True)] if self.reads else []
        return [Job((r,)) for r in self.reads]

    def assemble(self, out: _Outcome) -> tuple[dict[str, Any], str | None, dict[str, str]]:
        values = dict(out.values)
        cert = values.pop(Fact.CERTIFICATE.value, None)
        if cert is not None:
            values["certificate"], values["trust_store"] = cert
        unknown: dict[str, str] = {}
        if Fact.SYSTEM.value in values:
            unknown = dict(getattr(self.app, "last_unknown", None) or {})
        return values, _first(out.errors, self.order), unknown


_SETTINGS_TABLES = ("alternates", "master", "cluster", "mapping")
_STATUS_TABLES = ("database", "peer_status")
_SYSTEM_PATHS = ("sysinfo", "dns", "dns_servers", "ntp_servers", "optionkey")
_SERVER_PATHS = ("dns_servers", "ntp_servers")  # Fact.SERVERS over REST
# SystemInfo fields only SYSTEM reads (IDENTITY is sysinfo alone).
NOT_IN_IDENTITY = (
    "hostname",
    "domain",
    "dns_servers",
    "ntp_servers",
    "h323_enabled",
    "option_keys",
)


class _RoutedPlan(_Plan):
    """A ``RoutedAppliance``: each REST resource its own request; SSH in one job.

    Mirrors ``RoutedAppliance``'s routing: cluster settings, status and alarms
    over the CDB REST API when the transport is ``rest``, or ``auto`` and the
    CDB REST API answers; over the CLI otherwise. H.323 mode from the CDB when
    it answers, else from the CLI.
    """

    def __init__(self, app: RoutedAppliance, needs: frozenset[Fact]):
        self.app = app
        self.transport = app.target.transport
        self.needs = needs
        self.cluster_facts = [f for f in (Fact.SETTINGS, Fact.STATUS, Fact.ALARMS) if f in needs]
        self.order = (
            "route",
            "probe",
            *(f"cdb {t}" for t in (*_SETTINGS_TABLES, *_STATUS_TABLES)),
            "alarms",
            "ssh settings",
            "ssh status",
            "ssh alarms",
            *_SYSTEM_PATHS,
            "h323",
            "ssh h323",
            "ssh system",
            "certificate",
        )
        self.route: bool | None = None  # True: cluster reads over the CDB REST API
        self.system_reads: list[Read] = []  # the system resources over REST
        # The master table as the route's read brought it (``cdb_route``): the
        # settings take it from there, not from a second request.
        self.master: tuple[Any] | None = None

    def _rest_json(self, what: str, path: str, *, cdb: bool = False) -> Callable[[], Any]:
        from exops.appliance.rest import OPTIONAL_SYSTEM_PATHS

        rest = self.app.rest
        optional = path in OPTIONAL_SYSTEM_PATHS  # an error there: that fact unknown
        return lambda: rest.get_json(path, operation=f"read {what}", cdb=cdb, refused_ok=optional)

    def _cdb(self, table: str) -> Read:
        from exops.appliance.knowledge import CDB

        # Errors name the operation as the appliance's own read_settings/read_status do.
        what = "settings" if table in _SETTINGS_TABLES else "status"
        return f"cdb {table}", self._rest_json(what, CDB.read(getattr(CDB, table)), cdb=True)

    def initial(self) -> list[Job]:
        from exops.appliance.knowledge import REST

        if self.transport == "ssh":
            ssh = self.app.ssh
            reads: list[Read] = []
            if Fact.RTT in self.needs:
                reads.append(("probe", ssh.probe))
            reads += [
                (f"ssh {f.value}", getattr(ssh, f"read_{f.value}")) for f in self.cluster_facts
            ]
            if self.needs & {Fact.SYSTEM, Fact.IDENTITY, Fact.SERVERS}:
                reads.append(("ssh system", ssh.read_system))  # the servers are in it
            jobs = [Job(tuple(reads), ssh=True)] if reads else []
            if Fact.CERTIFICATE in self.needs:
                jobs.append(Job((("certificate", self.app.read_certificate),)))
            return jobs
        jobs = []
        # The route first (it runs alone: it also proves the peer answers).
        need_route = (self.cluster_facts and self.transport == "auto") or Fact.SYSTEM in self.needs
        if need_route:
            jobs.append(Job((("route", self.app.rest.cdb_route),)))
        else:
            self.route = True  # transport rest: the CDB REST API, whatever it answers
        if Fact.RTT in self.needs:
            jobs.append(Job((("probe", self.app.rest.probe),)))
        if self.needs & {Fact.SYSTEM, Fact.IDENTITY, Fact.SERVERS}:
            paths = (
                _SYSTEM_PATHS
                if Fact.SYSTEM in self.needs
                else ("sysinfo", *(_SERVER_PATHS if Fact.SERVERS in self.needs else ()))
            )
            for name in paths:
                what = name.replace("_", " ") if name != "optionkey" else "option keys"
                self.system_reads.append((name, self._rest_json(what, getattr(REST, name))))
            if not need_route:  # else queued with the route's answer (``after``)
                jobs += [Job((r,)) for r in self.system_reads]
        if Fact.CERTIFICATE in self.needs:
            jobs.append(Job((("certificate", self.app.rest.read_certificate),)))
        if self.route:
            jobs[len(jobs) :] = self._cluster_jobs()
        return jobs

    def _cluster_jobs(self) -> list[Job]:
        if self.route:
            reads: list[Read] = []
            if Fact.SETTINGS in self.needs:
                had = ("master",) if self.master is not None else ()
                reads += [self._cdb(t) for t in _SETTINGS_TABLES if t not in had]
            if Fact.STATUS in self.needs:
                reads += [self._cdb(t) for t in _STATUS_TABLES]
            if Fact.ALARMS in self.needs:
                reads.append(("alarms", self.app.rest.read_alarms))
            return [Job((r,)) for r in reads]
        ssh = self.app.ssh
        cli: list[Read] = [
            (f"ssh {f.value}", getattr(ssh, f"read_{f.value}")) for f in self.cluster_facts
        ]
        return [Job(tuple(cli), ssh=True)] if cli else []

    def after(self, outcome: _Outcome) -> list[Job]:
        if "route" not in outcome.values:
            if "route" in outcome.errors:  # no route: the system reads go all the same
                return [Job((r,)) for r in self.system_reads]
            return []
        cdb, master = outcome.values["route"]
        self.route = cdb or self.transport == "rest"
        if cdb and Fact.SETTINGS in self.needs:
            self.master = master
        jobs = self._cluster_jobs() if self.cluster_facts else []
        if Fact.SYSTEM in self.needs:
            if cdb:
                jobs.append(Job((("h323", self.app.rest.read_h323),)))
            else:  # no REST form of the H.323 mode without the CDB REST API
                h323: Read = ("ssh h323", self.app.ssh.read_h323)
                ssh = [j for j in jobs if j.ssh]  # the peer's one SSH job takes it too
                jobs = [j for j in jobs if not j.ssh]
                jobs.append(Job((*(ssh[0].reads if ssh else ()), h323), ssh=True))
        if any(j.ssh for j in jobs):
            # The cluster goes over SSH, a chain of CLI rounds: the REST system reads
            # fit beside it one after another on one kept-alive connection, not one
            # TLS handshake each (issue 22: the CPU of both ends).
            jobs += [Job(tuple(self.system_reads))] if self.system_reads else []
        else:
            jobs += [Job((r,)) for r in self.system_reads]
        return jobs

    def assemble(self, out: _Outcome) -> tuple[dict[str, Any], str | None, dict[str, str]]:
        from exops.appliance.rest import parse_settings, parse_status

        v, errors = out.values, dict(out.errors)
        if self.master is not None:
            v = {**v, "cdb master": self.master[0]}
        host = self.app.host
        values: dict[str, Any] = {}
        unknown: dict[str, str] = {}

        def parse(
            key: str, operation: str, parts: Sequence[str], build: Callable[..., Any]
        ) -> None:
            if all(p in v for p in parts):
                try:
                    values[key] = build(*(v[p] for p in parts))
                except fail.ApplianceError as exc:
                    errors[parts[0]] = str(_located(exc, host, operation))

        if "probe" in v:
            values["rtt_ms"] = v["probe"]
        for fact in self.cluster_facts:
            if f"ssh {fact.value}" in v:
                values[fact.value] = v[f"ssh {fact.value}"]
        parse("settings", "read settings", [f"cdb {t}" for t in _SETTINGS_TABLES], parse_settings)
        parse("status", "read status", [f"cdb {t}" for t in _STATUS_TABLES], parse_status)
        if "alarms" in v:
            values["alarms"] = v["alarms"]
        self._system(v, errors, values, unknown, parse)
        if "certificate" in v:
            values["certificate"], values["trust_store"] = v["certificate"]
        return values, _first(errors, self.order), unknown

    def _system(
        self,
        v: Mapping[str, Any],
        errors: Mapping[str, str],
        values: dict[str, Any],
        unknown: dict[str, str],
        parse: Callable[[str, str, Sequence[str], Callable[..., Any]], None],
    ) -> None:
        from exops.appliance.rest import parse_system

        if "ssh system" in v:
            values["system"] = v["ssh system"]
        elif Fact.SYSTEM in self.needs:
            if "h323" in errors or "ssh h323" in errors:
                return  # the error is kept; the SystemInfo stays unknown as a whole
            h323 = v.get("h323", v.get("ssh h323"))

            def whole(info: Any, dns: Any, servers: Any, ntp: Any, keys: Any) -> Any:
                return parse_system(info, dns, servers, ntp, keys, h323, unknown)

            parse("system", "read system", _SYSTEM_PATHS, whole)
        elif self.needs & {Fact.IDENTITY, Fact.SERVERS}:
            servers = Fact.SERVERS in self.needs  # read as `exops check` reads them

            def identity(info: Any) -> Any:
                system = parse_system(info, {}, [], [], [], False, unknown)
                unread = {"h323_enabled": None, "dns_servers": None, "ntp_servers": None}
                return system.model_copy(update=unread)

            parse("system", "read system", ("sysinfo",), identity)
            if "system" in values:
                note = "not read (not needed by this command)"
                unread = [n for n in NOT_IN_IDENTITY if not (servers and n in _SERVER_PATHS)]
                unknown.update({f"system.{n}": note for n in unread})
                if servers:
                    values["system"] = _with_servers(values["system"], v, unknown)


def _with_servers(system: SystemInfo, v: Mapping[str, Any], unknown: dict[str, str]) -> SystemInfo:
    """IDENTITY's SystemInfo with the DNS and NTP server lists read over REST, parsed as
    the whole system read parses them (``parse_servers``: every documented shape; any
    other shape or a refused read is *unknown* with why, never "no servers")."""
    from exops.appliance.knowledge import SERVER_LISTS
    from exops.appliance.rest import parse_servers

    update: dict[str, Any] = {}
    for name in _SERVER_PATHS:
        if name not in v:  # its read failed: the error is the peer's; unknown here
            unknown[f"system.{name}"] = "not read"
            continue
        try:
            update[name], why = parse_servers(v[name], SERVER_LISTS[name])
        except fail.ApplianceError as exc:  # a garbled answer: this fact unknown only
            update[name], why = None, exc.message
        if update[name] is None:
            unknown[f"system.{name}"] = why
    return system.model_copy(update=update)


def _located(exc: fail.ExopsError, host: str, operation: str) -> fail.ExopsError:
    if exc.host is None:
        exc.host = host
    if exc.operation is None:
        exc.operation = operation
    return exc


def _first(errors: Mapping[str, str], order: Sequence[str]) -> str | None:
    for key in order:
        if key in errors:
            return errors[key]
    return next(iter(errors.values()), None)


def plan_for(app: Appliance, needs: frozenset[Fact]) -> _Plan:
    from exops.appliance.factory import RoutedAppliance

    if isinstance(app, RoutedAppliance):
        return _RoutedPlan(app, needs)
    return _PublicPlan(app, needs)


# -- the gather ----------------------------------------------------------------------


@dataclass
class PeerRead:
    """One peer to read: its inventory entry and its appliance (or why none opened)."""

    spec: PeerSpec
    appliance: Appliance | None
    open_error: str | None = None
    resolve: Callable[[], tuple[str, ...]] | None = None  # FQDN -> addresses (no appliance)


class _Run:
    def __init__(self, index: int, peer: PeerRead, plan: _Plan | None):
        self.index = index
        self.peer = peer
        self.plan = plan
        jobs = plan.initial() if plan else []
        # The first job stays first (it runs alone); then the SSH job, the longest chain.
        self.queue: deque[Job] = deque(jobs[:1] + sorted(jobs[1:], key=lambda j: not j.ssh))
        self.in_flight = 0
        self.answered = False  # the first job came back without a transport failure
        self.failure: fail.TransportError | None = None
        self.failed_after: float | None = None  # seconds from the peer's first read
        self.outcome = _Outcome()
        self.started = datetime.now(UTC)
        self.t0 = time.monotonic()
        self.resolved: tuple[str, ...] | None = None
        self.pending_local = 1 if peer.resolve else 0


class Workers:
    """Worker threads shared by every gather of the process, reused across gathers.

    A gather used to start a thread pool of its own: an ordered restart gathers
    ~15 times per cluster, and in a fleet each thread start also scans every live
    non-daemon thread (``threading._maintain_shutdown_locks``): 5,241 threads and
    0.1 s of CPU per cluster at 50 clusters (issue 22). Here a task goes to an idle
    worker when there is one, else to a new one: a task never waits for a busy
    worker, so a task that itself submits (and waits for) another can never
    deadlock. The number of threads is what was ever in flight at once, not the
    number of gathers. A worker idle for ``idle_s`` ends, and so does one that would
    be idle beside ``max_idle`` others (a burst, such as the first read of a whole
    fleet, leaves no crowd of threads behind it: memory); workers are daemon threads
    (a gather waits for its own tasks, so an exiting process never leaves a read
    half done behind it; only idle workers are left to end with it).

    Limits (requests in flight per gather, per peer) are the gather's own
    (``_Gather``): this only runs what it is given.
    """

    def __init__(self, *, idle_s: float = 30.0, max_idle: int = 64, name: str = "exops-gather"):
        self.idle_s = idle_s
        self.max_idle = max_idle
        self.name = name
        self._lock = threading.Lock()
        self._tasks: SimpleQueue[Callable[[], None]] = SimpleQueue()
        self._idle = 0  # workers waiting for a task, less the tasks queued for them
        self.started = 0  # threads ever started (a test bounds it)
        self.alive = 0

    def submit(self, task: Callable[[], None]) -> None:
        """Run ``task`` on an idle worker, or on a new one: never later than now."""
        with self._lock:
            if self._idle > 0:
                self._idle -= 1
                self._tasks.put(task)
                return
            self.started += 1
            self.alive += 1
            number = self.started
        thread = threading.Thread(
            target=self._serve, args=(task,), name=f"{self.name}_{number}", daemon=True
        )
        try:
            thread.start()
        except Exception:  # not started (an interrupt may come once it has)
            with self._lock:
                self.alive -= 1
            raise

    def _serve(self, task: Callable[[], None] | None) -> None:
        while True:
            if task is not None:
                with contextlib.suppress(BaseException):  # the task keeps its own errors
                    task()
                task = None
            with self._lock:
                if self._idle >= self.max_idle:  # enough idle workers already
                    self.alive -= 1
                    return
                self._idle += 1
            try:
                task = self._tasks.get(timeout=self.idle_s)
                continue  # submit counted this worker out of the idle ones
            except Empty:
                pass
            with self._lock:
                try:  # a task queued as the wait ran out: ours to run
                    task = self._tasks.get_nowait()
                except Empty:  # none queued: the idle count includes this worker
                    self._idle -= 1
                    self.alive -= 1
                    return


WORKERS = Workers()


class Gatherer:
    """Reads many peers at once, at most ``workers`` requests in flight.

    ``workers``: requests in flight in all (across every peer);
    ``per_peer``: requests in flight to one peer (``PEER_CONCURRENCY``);
    ``peers``: peers read at once (default: all of them). A peer's connections
    (an SSH session and its transport thread, an HTTPS pool) live while it is
    read, so a big fleet's memory follows this; each finished peer admits the
    next waiting one, in the order given. The threads are the process's
    (``WORKERS``), reused from one gather to the next.
    """

    def __init__(
        self,
        *,
        workers: int = 400,
        per_peer: int = PEER_CONCURRENCY,
        peers: int | None = None,
        pool: Workers | None = None,
    ):
        if workers < 1 or per_peer < 1 or (peers is not None and peers < 1):
            raise ValueError("workers, per_peer and peers must be at least 1")
        self.workers = workers
        self.per_peer = per_peer
        self.peers = peers
        self.pool = pool

    def gather(
        self,
        peers: Sequence[PeerRead],
        needs: frozenset[Fact],
        on_peer: Callable[[str], None] | None = None,
    ) -> list[PeerFacts]:
        """``PeerFacts`` of every peer, in the order given. Never raises for
        appliance or transport trouble. ``on_peer(host)`` is called (from a
        worker thread) as each peer's facts are complete: progress for a display.
        Interrupted (Ctrl-C), no new read starts and the reads in flight are
        waited for (each has its deadline) before the interrupt goes on."""
        if not peers:
            return []
        runs = [
            _Run(i, p, plan_for(p.appliance, needs) if p.appliance is not None else None)
            for i, p in enumerate(peers)
        ]
        limit = max(1, min(self.workers, len(runs) * (self.per_peer + 1)))
        # More connections to a peer than its share of the threads would sit
        # idle and only cost TLS handshakes (a big fleet: 300 peers on 400
        # threads get 2 each, not 4). The share is of the peers read at once.
        at_once = min(len(runs), self.peers or len(runs))
        per_peer = max(1, min(self.per_peer, -(-self.workers // at_once)))
        gather = _Gather(self.pool or WORKERS, limit, runs, per_peer, on_peer, self.peers)
        return gather.run()


class _Gather:
    """One gather: the per-peer queues, on the shared workers with at most ``limit``
    tasks in flight (more wait in ``backlog``, first in first out, as a bounded
    pool of its own queued them); ``run()`` waits for every peer."""

    def __init__(
        self,
        pool: Workers,
        limit: int,
        runs: list[_Run],
        per_peer: int,
        on_peer: Callable[[str], None] | None = None,
        window: int | None = None,
    ):
        self.pool = pool
        self.limit = limit
        self.runs = runs
        self.per_peer = per_peer
        self.on_peer = on_peer
        # Peers not yet started, in the order given (``Gatherer.gather``: at most
        # ``window`` peers are read at once; each finished peer admits the next).
        self.waiting: deque[_Run] = deque(runs)
        self.window = len(runs) if window is None else max(1, window)
        self.results: list[PeerFacts | None] = [None] * len(runs)
        self.lock = threading.Lock()
        self.left = len(runs)
        self.done = threading.Event()
        self.bugs: list[BaseException] = []
        # Tasks of this gather on a worker (``limit`` at most) and those waiting for
        # one; ``closed``: interrupted, nothing new starts (``_stop``).
        self.running = 0
        self.active = 0  # tasks of this gather running now
        self.backlog: deque[Callable[[], None]] = deque()
        self.closed = False
        self.idle = threading.Condition(self.lock)

    def run(self) -> list[PeerFacts]:
        try:
            with self.lock:
                settled = self._admit(self.window)
            for run in settled:
                self._finish(run)
            # Woken every 0.25 s: a Ctrl-C that lands just before a blocking wait
            # begins does not interrupt it (CPython runs the handler only when the
            # wait returns), and the reads in flight may take their whole deadline.
            while not self.done.wait(0.25):
                pass
        except BaseException:
            self._stop()
            raise
        if self.bugs:
            raise self.bugs[0]
        return [r for r in self.results if r is not None]

    def _stop(self) -> None:
        """Interrupted: no task starts any more; the ones running are waited for.
        (Counted as they begin, not as they are handed to a worker: an interrupt
        can cut a thread's start short after the thread has begun.)"""
        with self.lock:
            self.closed = True
            self.backlog.clear()
            while self.active:
                self.idle.wait()

    def _submit(self, task: Callable[[], None]) -> None:
        """Start ``task`` now if this gather is under its limit, else when a task of
        it ends (under the lock)."""
        if self.closed:
            return
        if self.running >= self.limit:
            self.backlog.append(task)
            return
        self.running += 1
        try:
            self.pool.submit(lambda: self._slot(task))
        except Exception:  # no thread to run it (an interrupt may come once one runs)
            self.running -= 1
            raise

    def _slot(self, task: Callable[[], None]) -> None:
        """One of this gather's ``limit`` places: runs its task, then the next
        waiting one, as a pool's worker would; once ``closed``, none."""
        while True:
            with self.lock:
                if self.closed:
                    self.running -= 1
                    return
                self.active += 1
            try:
                task()
            except BaseException as exc:  # a bug outside the reads: raise it at the end
                self.bugs.append(exc)
            with self.lock:
                self.active -= 1
                if self.closed:
                    if self.active == 0:
                        self.idle.notify_all()
                elif self.backlog:
                    task = self.backlog.popleft()
                    continue
                self.running -= 1
                return

    def _admit(self, count: int) -> list[_Run]:
        """Start the next ``count`` waiting peers (under the lock); the ones that are
        settled at once (nothing to read: never connected) are returned, for
        ``_finish`` outside the lock. A peer's clock starts when it is admitted: its
        ``gathered_at`` is when its reads began, not when the gather did."""
        settled: list[_Run] = []
        for _ in range(min(count, len(self.waiting))):
            run = self.waiting.popleft()
            run.started, run.t0 = datetime.now(UTC), time.monotonic()
            if run.peer.resolve is not None:
                self._submit(partial(self._local, run))
            self._pump(run)
            if self._settled(run):
                settled.append(run)
        return settled

    @staticmethod
    def _settled(run: _Run) -> bool:
        return not run.queue and run.in_flight == 0 and run.pending_local == 0

    def _pump(self, run: _Run) -> None:
        """Start what the peer's limits allow (under the lock). Until its first job
        has come back, a peer has one request in flight."""
        if run.failure is not None:
            run.queue.clear()
        while run.queue and run.in_flight < (self.per_peer if run.answered else 1):
            job = run.queue.popleft()
            run.in_flight += 1
            self._submit(partial(self._work, run, job))

    def _work(self, run: _Run, job: Job) -> None:
        try:
            outcome, failure = _execute(job)
        except BaseException as exc:  # a bug: stop this peer, raise it at the end
            self.bugs.append(exc)
            outcome, failure = _Outcome(), fail.TransportError(f"internal error: {exc!r}")
        with self.lock:
            run.in_flight -= 1
            run.outcome.values.update(outcome.values)
            run.outcome.errors.update(outcome.errors)
            if failure is not None and run.failure is None:
                run.failure = failure
                run.failed_after = time.monotonic() - run.t0
            if run.failure is None:
                run.answered = True
                if run.plan is not None:
                    for new in run.plan.after(outcome):
                        # The SSH job is the longest chain (login, then one command
                        # after another): start it first.
                        (run.queue.appendleft if new.ssh else run.queue.append)(new)
            self._pump(run)
            last = self._settled(run)
        if last:
            self._finish(run)

    def _local(self, run: _Run) -> None:
        resolve = run.peer.resolve
        try:
            if resolve is None:  # only queued when there is a resolver: never an assert
                raise LookupError("no resolver")
            resolved = resolve()
        except BaseException as exc:
            self.bugs.append(exc)
            resolved = ()
        with self.lock:
            run.resolved = resolved
            run.pending_local = 0
            last = self._settled(run)
        if last:
            self._finish(run)

    def _finish(self, run: _Run) -> None:  # outside the lock: parsing takes CPU
        todo = [run]
        while todo:  # a loop, not recursion: a long row of never-connected peers
            run = todo.pop()
            try:
                self.results[run.index] = _facts_of(run)
                if self.on_peer is not None:
                    self.on_peer(run.peer.spec.name)
            except BaseException as exc:
                self.bugs.append(exc)
            with self.lock:
                self.left -= 1
                if self.left == 0:
                    self.done.set()
                todo += self._admit(1)  # this peer's place goes to the next one


def _execute(job: Job) -> tuple[_Outcome, fail.TransportError | None]:
    out = _Outcome()
    for key, call in job.reads:
        try:
            out.values[key] = call()
        except fail.TransportError as exc:
            # Unreachable, timed out, refused credentials or TLS: stop reading.
            return out, exc
        except fail.ApplianceError as exc:
            out.errors[key] = str(exc)
        except Exception as exc:  # an unmapped surprise on one peer is still data
            out.errors[key] = f"{key}: unexpected {type(exc).__name__}: {exc}"
    return out, None


def _facts_of(run: _Run) -> PeerFacts:
    spec = run.peer.spec
    base: dict[str, Any] = {"host": spec.name, "address": spec.address, "fqdn": spec.fqdn}
    if run.resolved is not None:
        base["fqdn_addresses"] = run.resolved
    app = run.peer.appliance
    if app is None or run.plan is None:
        return PeerFacts(
            **base,
            reachable=False,
            error=run.peer.open_error or "not connected",
            gathered_at=run.started,
        )
    if run.failure is not None:
        return PeerFacts(
            **base,
            reachable=False,
            error=_failure_text(run),
            unreachable_kind=unreachable_kind(run.failure),
            gathered_at=run.started,
        )
    values, error, unknown = run.plan.assemble(run.outcome)
    return PeerFacts(
        **base,
        reachable=True,
        error=error,
        transport=str(getattr(app, "transport_name", "")),
        gathered_at=run.started,
        unknown={**unknown_fields(app, values.get("system")), **unknown},
        **values,
    )


def _failure_text(run: _Run) -> str:
    """Why the peer is unreachable; a slow peer also with the time exops gave it
    (every exchange has a total deadline: a peer cannot hold a gather for ever)."""
    text = str(run.failure)
    if isinstance(run.failure, fail.TimeoutError_) and run.failed_after is not None:
        text += f" (gave up after {run.failed_after:.1f} s)"
    return text


def read_peer_facts(
    appliance: Appliance | None,
    spec: PeerSpec,
    *,
    open_error: str | None = None,
    light: bool = False,
    needs: frozenset[Fact] | None = None,
    per_peer: int = PEER_CONCURRENCY,
) -> PeerFacts:
    """Read one peer (``light``: only what waits poll; ``needs``: exactly these
    facts; default: everything). Never raises for appliance or transport trouble."""
    wanted = needs if needs is not None else (LIGHT_READS if light else ALL_FACTS)
    peer = PeerRead(spec, appliance, open_error)
    return Gatherer(workers=per_peer + 1, per_peer=per_peer).gather([peer], wanted)[0]


SYSTEM_FIELDS = (
    "version", "role", "platform", "h323_enabled", "dns_servers", "ntp_servers", "option_keys"
)


def unknown_fields(appliance: Appliance, system: SystemInfo | None) -> dict[str, str]:
    """Every system fact the peer did not give, with why (never a guessed default)."""
    if system is None:
        return {}
    said = dict(getattr(appliance, "last_unknown", {}) or {})
    out = {}
    for name in SYSTEM_FIELDS:
        if getattr(system, name) is None:
            key = f"system.{name}"
            out[key] = said.get(key, "not offered by this appliance or transport")
    return out


def unreachable_kind(exc: fail.TransportError) -> str:
    """``tls`` | ``auth`` | ``timeout`` | ``connect``: why a peer did not answer."""
    for kind, cls in (
        ("tls", fail.TlsError),
        ("auth", fail.AuthError),
        ("timeout", fail.TimeoutError_),
    ):
        if isinstance(exc, cls):
            return kind
    return "connect"


def cluster_facts(
    cluster: str, peers: list[PeerFacts], params: dict[str, Any] | None = None
) -> ClusterFacts:
    return ClusterFacts(
        cluster=cluster,
        peers=tuple(peers),
        gathered_at=datetime.now(UTC),
        params=params or {},
    )

"""``exops upgrade``: a rolling software upgrade of one or more clusters, peer by peer,
on the forms the evidence shows (knowledge.toml ``[upgrade]``; docs/contract.md
"Rolling upgrade").

The appliance upgrades itself, one node per request, over REST from X14.2: exops
names the operator's SFTP server (``PUT .../sftpconfig``), asks for the upgrade
(``POST .../upgrade``, ``ClusterUpgrade`` "no"), and follows
``GET .../upgradestatus`` until the peer has rebooted on the new version. The
evidence has no SSH form, so this runs over REST whatever the inventory transport.

Order (CONFIRMED): Expressway-E clusters before Expressway-C clusters; in each, the
primary first, then the subordinates one at a time. Before anything: every peer
answers and runs one version (or, resuming, that version and the target), the
cluster database is healthy, no alarm but the allowed ones, no downgrade, no peer
older than X14.2 (refused with the manual route), and a snapshot of every peer
(``exops snapshot``) is stored. Per peer, on fresh reads: every other peer answers
(never two peers down), a peer already on the target version is skipped, an upgrade
the peer is already running (a killed run's) is followed rather than asked again;
then the status is followed, bounded: a failed state stops the run with the state
(exit 1); then the peer must be back on the target version with the same-version
peers Active as it sees them. While versions are mixed, the cluster communication
and replication alarms (20004, 20006) are expected (CONFIRMED texts) and reported as
known; after the last peer they must clear within ``--settle-timeout`` or the run
fails naming them. The appliance's version is the truth: a re-run after a kill
resumes where the peers are. Resuming a killed run once some peer runs the target,
that run's snapshot is kept (a new one could catch the next peer rebooting), its
mixed-version alarms are known even when every peer runs the target already (its
last reboot may have just ended), and a peer that stops answering between the read
that found it up and its upgradestatus read is followed, never asked. Journalled
as a run (runbook ``upgrade``) under each cluster's lock; each peer's reboot is a
``restart`` step, so the next dry run's expected time per peer is measured.
"""

from __future__ import annotations

import contextlib
import re
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

from pydantic import SecretStr

from exops.appliance.base import SftpConfig, Upgrader, UpgradeRequest, UpgradeStatus
from exops.appliance.maintenance import (
    ACCEPT_MANUAL,
    ACCEPT_UNVERIFIED,
    MAINTENANCE,
    instruction,
    web_url,
)
from exops.appliance.rest import UPGRADE, RestAppliance
from exops.apply.waits import Reporter, Waiter
from exops.core.errors import ExopsError, TimeoutError_, TransportError, UsageError
from exops.core.exitcodes import ExitCode
from exops.core.models import ClusterFacts, PeerFacts, PeerState, Role
from exops.facts.gather import STATUS_FACTS
from exops.facts.health import (
    cluster_alarms,
    in_maintenance,
    maintenance_alarms,
    peer_problems,
    unreadable,
)
from exops.facts.view import ClusterView
from exops.run.env import Env
from exops.tools.drain import (
    DrainOptions,
    check_off,
    journal_steps,
    plan_line,
    prepare,
    read_peers,
    unattended_refusal,
    wait_drained,
)
from exops.tools.journalled import (
    JournalledRun,
    close_unfinished,
    cluster_lock,
    ended,
    state_store,
    unfinished_run,
)

RUNBOOK = "upgrade"
SCHEMA = "exops.upgrade/1"
REBOOT_S = 300.0  # "A reboot takes approximately 5 minutes" (docs/contract.md section 5)
SHA512 = re.compile(r"[0-9a-fA-F]{128}")
VERSION = re.compile(r"[Xx]?(\d+)\.(\d+)(?:\.(\d+))?")
IMAGE_VERSION = re.compile(r"[xX](\d+)_(\d+)(?:_(\d+))?")  # s42700x15_3_0.tar.gz (MOCK-DEFINED)
PASSWORD_ENV = "EXOPS_SFTP_PASSWORD"

Say = Callable[[str], None]


def version_key(text: str | None) -> tuple[int, int, int] | None:
    """``X15.2.1`` -> (15, 2, 1); None when no version can be read from it."""
    m = VERSION.search(text or "")
    if not m:
        return None
    return int(m[1]), int(m[2]), int(m[3] or 0)


def show_version(key: tuple[int, int, int]) -> str:
    return f"X{key[0]}.{key[1]}.{key[2]}"


@dataclass(frozen=True)
class UpgradeOptions:
    image: str
    sha512: str
    sftp: str  # sftp://user@host[:port]/path
    sftp_password: SecretStr = field(default_factory=lambda: SecretStr(""))
    to_version: str | None = None
    peer_timeout_s: float = 2700.0  # download + install + reboot of one peer
    settle_timeout_s: float = UPGRADE.clear_within_s * 1.5
    allow_alarms: frozenset[str] = frozenset()
    snapshot: bool = True
    dry_run: bool = False
    yes: bool = False
    lock_timeout: float | None = None
    drain: DrainOptions | None = None  # --drain: drain each peer before its upgrade

    def check(self) -> None:
        """Raises UsageError naming the bad option (nothing is read or changed)."""
        if self.drain is not None:
            self.drain.check()
        if not self.image or "/" in self.image or self.image in (".", ".."):
            raise UsageError(f"--image {self.image!r}: the image's file name on the SFTP server")
        if not SHA512.fullmatch(self.sha512 or ""):
            raise UsageError(
                f"--sha512: {len(self.sha512 or '')} characters; the image's SHA-512 is 128 "
                "hexadecimal digits (sha512sum IMAGE)"
            )
        self.server()
        if not self.sftp_password.get_secret_value():
            raise UsageError(
                f"{PASSWORD_ENV} is not set: the SFTP user's password, which each peer "
                "needs to pull the image (never on the command line)"
            )
        self.target()
        for flag, value in (
            ("--peer-timeout", self.peer_timeout_s),
            ("--settle-timeout", self.settle_timeout_s),
        ):
            if not value > 0:
                raise UsageError(f"{flag} {value}: seconds, more than 0")

    def server(self) -> tuple[SftpConfig, str]:
        """The sftpconfig to send and the image's directory, from ``--sftp``."""
        url = urlsplit(self.sftp or "")
        try:
            port = url.port
        except ValueError as exc:
            raise UsageError(f"--sftp {self.sftp!r}: {exc}") from exc
        if url.scheme != "sftp" or not url.hostname or not url.username:
            raise UsageError(f"--sftp {self.sftp!r}: expected sftp://USER@HOST[:PORT]/DIRECTORY")
        if url.password is not None:
            raise UsageError(f"--sftp: no password in the URL; set {PASSWORD_ENV}")
        host = f"[{url.hostname}]" if ":" in url.hostname else url.hostname
        where = host if port in (None, 22) else f"{host}:{port}"
        config = SftpConfig(server=where, username=url.username, password=self.sftp_password)
        return config, url.path or "/"

    def target(self) -> tuple[int, int, int]:
        """The version the image installs: --to-version, else from the image's name."""
        if self.to_version:
            key = version_key(self.to_version)
            if key is None:
                raise UsageError(f"--to-version {self.to_version!r}: not a version (X15.3.0)")
            return key
        m = IMAGE_VERSION.search(self.image)
        if not m:
            raise UsageError(
                f"--image {self.image!r}: its name does not say its version; give --to-version"
            )
        return int(m[1]), int(m[2]), int(m[3] or 0)

    def url(self) -> str:
        """``--sftp`` as given (it holds no password: check() refuses one)."""
        return self.sftp


@dataclass
class PeerStep:
    cluster: str
    host: str
    primary: bool
    version: str
    action: str  # upgrade | skip (already on the target) | follow (an upgrade under way)
    expected_s: float
    expected_from: str  # "measured" (the journal's restarts) | "documented"
    status: str = "planned"  # planned | ok | skipped | failed
    detail: str = ""
    seconds: float = 0.0
    drain: str = ""  # --drain: what draining it takes (the dry run's line)
    maintenance_off: bool | None = None  # --drain: read off after its reboot (None: unknown)
    drain_manual: bool = False  # --drain: not in maintenance mode when planned
    drain_unknown: bool = False  # --drain: its maintenance mode could not be read

    def to_json(self) -> dict[str, Any]:
        doc = self._doc()
        if self.drain:  # only with --drain: the document is unchanged without it
            doc["drain"] = self.drain
            doc["maintenance_mode_off"] = self.maintenance_off
        return doc

    def _doc(self) -> dict[str, Any]:
        return {
            "cluster": self.cluster,
            "peer": self.host,
            "primary": self.primary,
            "version": self.version,
            "action": self.action,
            "expected_s": round(self.expected_s),
            "expected_from": self.expected_from,
            "status": self.status,
            "detail": self.detail,
            "seconds": round(self.seconds, 1),
        }


@dataclass
class UpgradeResult:
    clusters: list[str]
    target: str
    status: str = "planned"  # planned | nothing_to_change | ok | refused | failed
    exit_code: int = 0
    message: str = ""
    steps: list[PeerStep] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    known_alarms: dict[str, list[str]] = field(default_factory=dict)  # peer -> ids seen
    snapshots: dict[str, str] = field(default_factory=dict)  # cluster -> snapshot id
    run_ids: dict[str, str] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "schema": SCHEMA,
            "clusters": self.clusters,
            "target_version": self.target,
            "status": self.status,
            "exit_code": self.exit_code,
            "message": self.message,
            "order": [s.to_json() for s in self.steps],
            "notes": self.notes,
            "known_alarms": self.known_alarms,
            "snapshots": self.snapshots,
            "run_ids": self.run_ids,
        }


class _Stop(Exception):
    """The run stops here: (status, exit code, one line)."""

    def __init__(self, status: str, code: int, message: str):
        super().__init__(message)
        self.status, self.code, self.message = status, int(code), message


# -- reads ---------------------------------------------------------------------------


def _version(p: PeerFacts) -> tuple[int, int, int] | None:
    return version_key(p.system.version) if p.reachable and p.system else None


def _role(facts: ClusterFacts, env: Env, cluster: str) -> Role | None:
    for p in facts.peers:
        if p.system and p.system.role:
            return p.system.role
    roles = {s.role for s in env.inventory.cluster(cluster).peers if s.role}
    return roles.pop() if len(roles) == 1 else None


def _upgrader(session: Any, host: str) -> Upgrader:
    """The peer's REST connection (the only upgrade form: REST, whatever the transport)."""
    return RestAppliance(session.targets[host])


def _status(session: Any, host: str) -> UpgradeStatus | None:
    app = _upgrader(session, host)
    try:
        return app.read_upgrade_status()
    finally:
        app.close()


def _order(view: ClusterView, hosts: list[str]) -> list[str]:
    """The primary first, then the subordinates in slot order (CONFIRMED)."""
    members = view.members
    primary = view.primary
    rest = [h for h in members if h != primary] + [h for h in hosts if h not in members]
    return ([primary] if primary else []) + rest


def _expected(store: Any, cluster: str, host: str) -> tuple[float, str]:
    measured = store.journal.restart_durations(cluster, host) if store is not None else []
    if measured:
        return float(statistics.median(measured)), "measured"
    return REBOOT_S, "documented"


# -- judgements (pure) -----------------------------------------------------------------


def _version_refusal(cluster: str, versions: dict[str, Any], target: tuple[int, int, int]) -> str:
    floor = version_key(UPGRADE.rest_from)
    for host, v in versions.items():
        if v > target:
            return (
                f"{cluster}: {host} runs {show_version(v)}, newer than the image's "
                f"{show_version(target)}: a downgrade is not supported"
            )
        if floor is not None and v < floor:
            return (
                f"{cluster}: {host} runs {show_version(v)}: the REST upgrade exists from "
                f"{UPGRADE.rest_from}; upgrade it by hand ({UPGRADE.manual_route})"
            )
    if len({v for v in versions.values() if v != target}) > 1:
        shown = ", ".join(f"{h} {show_version(v)}" for h, v in versions.items())
        return f"{cluster}: the peers run different versions ({shown}): not one cluster version"
    return ""


def preflight(
    facts: ClusterFacts,
    target: tuple[int, int, int],
    allowed: frozenset[str],
    *,
    resuming: bool = False,
) -> str | None:
    """Why this cluster may not be upgraded now (None: it may). Unknown never passes.
    ``resuming``: the journal's last upgrade run of the cluster did not finish. When
    every peer already runs the target, that run's last reboot may have just ended, so
    the mixed-version alarms are known as while versions are mixed (nothing is rebooted
    from here: the run's waits judge them). Never when every peer is on the old version."""
    cluster = facts.cluster
    versions: dict[str, tuple[int, int, int]] = {}
    for p in facts.peers:
        why = unreadable(p)
        v = _version(p)
        if why or v is None:
            why = why or f"{p.host}'s version cannot be read"
            return f"{cluster}: {why}: exops upgrades only a cluster it reads whole"
        versions[p.host] = v
    refused = _version_refusal(cluster, versions, target)
    if refused:
        return refused
    mixed = len(set(versions.values())) > 1  # resuming: the old version and the target
    mixed = mixed or (resuming and set(versions.values()) == {target})
    known = set(UPGRADE.mixed_version_alarms) if mixed else set()
    known |= maintenance_alarms()  # drained on purpose: maintenance_refusal judges it
    for p in facts.peers:
        stray = sorted({a.id for a in p.raised_alarms} - known - allowed)
        if stray:
            return (
                f"{cluster}: {p.host} raises alarm {', '.join(stray)}: clear it first "
                "(exops status), or pass --allow-alarm ID if it is known to be harmless"
            )
        problems = [] if mixed else peer_problems(p, ignore=allowed)
        if problems:
            return f"{cluster}: not healthy: {'; '.join(problems)}"
    return None


def maintenance_refusal(
    facts: ClusterFacts, order: list[str], target: tuple[int, int, int]
) -> str | None:
    """Never two peers out of service: a peer in maintenance mode (its maintenance
    alarm, class ``maintenance`` in knowledge.toml: drained on purpose, as the vendor's
    upgrade order asks) may only be the next one of ``order`` still to upgrade; any
    other would be out of service while another peer reboots. None: nothing refused."""
    drained = [p.host for p in facts.peers if in_maintenance(p)]
    if not drained:
        return None
    todo = [h for h in order if _version(facts.peer(h)) != target]
    off = f"take it out of maintenance on its web page ({MAINTENANCE.set_page}, Off)"
    if len(drained) > 1:
        return (
            f"{facts.cluster}: {', '.join(drained)} are in maintenance mode: never two "
            f"peers out of service; leave at most the next peer to upgrade drained ({off})"
        )
    host = drained[0]
    if todo and host != todo[0]:
        return (
            f"{facts.cluster}: {host} is in maintenance mode, but {todo[0]} is upgraded "
            f"before it: its reboot would leave two peers out of service; {off}, or "
            f"drain each peer right before its own upgrade (--drain)"
        )
    return None


def rejoin_problems(
    facts: ClusterFacts, host: str, target: tuple[int, int, int]
) -> tuple[list[str], dict[str, list[str]]]:
    """What keeps ``host`` (upgraded) from counting as back in its cluster, and the
    known mixed-version alarms seen (peer -> ids). Every peer must answer; the peers
    on the target version must see one another Active; cluster alarms other than the
    mixed-version ones fail it; while versions are mixed those are known."""
    view = ClusterView(facts)
    problems: list[str] = []
    known: dict[str, list[str]] = {}
    same = {p.host for p in facts.peers if _version(p) == target}
    mixed = len(same) < len(facts.peers)
    me = facts.peer(host)
    if _version(me) != target:
        seen = (me.system.version if me.system else None) if me.reachable else None
        return [f"{host} runs {seen or 'unknown (no answer)'}"], known
    for p in facts.peers:
        why = unreadable(p)
        if why or p.status is None:
            problems.append(why or f"{p.host} status unknown")
            continue
        raised = {a.id for a in p.raised_alarms} & cluster_alarms()
        expected = raised & set(UPGRADE.mixed_version_alarms) if mixed else set()
        if expected:
            known[p.host] = sorted(expected)
        if raised - expected:
            problems.append(f"{p.host} alarms {', '.join(sorted(raised - expected))}")
        if p.host in same:
            problems += [
                f"{p.host} sees {other} {e.state.value}"
                for e in p.status.peers
                if (other := view.host_of(e.address)) in same
                and other != p.host
                and e.state is not PeerState.ACTIVE
            ]
    return problems, known


def _fresh(now: UpgradeStatus | None, before: UpgradeStatus | None) -> bool:
    """``now`` is not the answer read before the request (an earlier attempt's)."""
    if now is None:
        return False
    return before is None or (before.state, before.updated) != (now.state, now.updated)


def _failed_state(now: UpgradeStatus | None, before: UpgradeStatus | None) -> str | None:
    """A failed state of THIS upgrade (not one left from an earlier attempt)."""
    if now is None or now.state not in UPGRADE.failed_states or not _fresh(now, before):
        return None
    return now.state


# -- the run -------------------------------------------------------------------------------


def upgrade(
    env: Env,
    clusters: list[str],
    opts: UpgradeOptions,
    *,
    say: Say = lambda line: None,
    reporter: Reporter | None = None,
    confirm: Callable[[str], bool] | None = None,
) -> UpgradeResult:
    """Upgrade ``clusters`` (see the module docstring).

    Raises:
        UsageError: a bad option, an unknown cluster, or an unusable state store.
        LockedError: another run holds a cluster (exit 4).
        KeyboardInterrupt: interrupted (journalled as interrupted).
    """
    opts.check()
    specs = [env.inventory.cluster(c) for c in dict.fromkeys(clusters)]
    target = opts.target()
    result = UpgradeResult([s.name for s in specs], show_version(target))
    if any(p.transport == "ssh" for s in specs for p in s.peers):
        result.notes.append(
            "transport ssh: the upgrade itself goes over REST (HTTPS): the evidence shows "
            "no SSH upgrade form"
        )
    try:
        with (
            state_store(env, optional=opts.dry_run) as store,  # a dry run only reads from it
            env.session([s.name for s in specs]) as session,
        ):
            facts = {s.name: session.gather(s.name, needs=STATUS_FACTS) for s in specs}
            _settle_silent(env, session, store, facts, opts, reporter)
            healthy = _plan(env, store, facts, result, opts, target)
            if opts.drain is not None:
                _plan_drains(env, session, result, opts.drain)
            if all(s.action == "skip" for s in result.steps) and healthy:
                closed = [] if opts.dry_run else _close_killed(env, store, result, opts)
                return ended(
                    result,
                    "nothing_to_change",
                    ExitCode.OK,
                    f"every peer of {', '.join(result.clusters)} runs {result.target}: "
                    "nothing to do" + "".join(f"; {line}" for line in closed),
                )
            if opts.dry_run:
                return ended(result, "planned", ExitCode.OK, plan_text(result, opts))
            if opts.drain is not None:
                _drain_refusal(env, result, opts.drain)
            if not opts.yes and not (confirm and confirm(plan_text(result, opts))):
                raise _Stop(
                    "refused",
                    ExitCode.REFUSED,
                    "an upgrade reboots every peer, one at a time: confirm it, or pass --yes",
                )
            for cluster in result.clusters:
                _run_cluster(_Ctx(env, session, store, cluster, result, opts, say, reporter))
    except _Stop as stop:
        return ended(result, stop.status, stop.code, stop.message)
    done = [s.host for s in result.steps if s.status == "ok"]
    skipped = [s.host for s in result.steps if s.status == "skipped"]
    return ended(
        result,
        "ok",
        ExitCode.OK,
        f"every peer of {', '.join(result.clusters)} runs {result.target} and the clusters are "
        f"healthy (upgraded: {', '.join(done) or 'none'}; already there: "
        f"{', '.join(skipped) or 'none'})",
    )


def _plan(
    env: Env,
    store: Any,
    facts: dict[str, ClusterFacts],
    result: UpgradeResult,
    opts: UpgradeOptions,
    target: tuple[int, int, int],
) -> bool:
    """Order the clusters (Expressway-E first) and their peers, refuse on preflight;
    True when every peer is healthy now."""
    ordered = sorted(facts, key=lambda c: _role(facts[c], env, c) is not Role.EXPRESSWAY_E)
    result.clusters = ordered
    for cluster in ordered:
        resuming = unfinished_run(store, cluster, RUNBOOK) is not None
        refused = preflight(facts[cluster], target, opts.allow_alarms, resuming=resuming)
        if refused:
            raise _Stop("refused", ExitCode.REFUSED, refused)
    for cluster in ordered:
        view = ClusterView(facts[cluster])
        hosts = _order(view, [p.name for p in env.inventory.cluster(cluster).peers])
        refused = maintenance_refusal(facts[cluster], hosts, target)
        if refused:
            raise _Stop("refused", ExitCode.REFUSED, refused)
        for host in hosts:
            v = _version(facts[cluster].peer(host))
            expected, source = _expected(store, cluster, host)
            shown = show_version(v) if v else "unknown"
            action = "skip" if v == target else "upgrade"
            primary = host == view.primary
            result.steps.append(PeerStep(cluster, host, primary, shown, action, expected, source))
    return all(
        not peer_problems(p, ignore=opts.allow_alarms) for f in facts.values() for p in f.peers
    )


def _plan_drains(env: Env, session: Any, result: UpgradeResult, opts: DrainOptions) -> None:
    """--drain: each peer to upgrade, read now (maintenance mode, calls, registrations):
    what draining it takes, for the plan (``PeerStep.drain``). Changes nothing."""
    for cluster in result.clusters:
        reads = read_peers(session, env, cluster)
        for step in result.steps:
            if step.cluster != cluster or step.action == "skip":
                continue
            seen = reads.get(step.host)
            spec = env.inventory.cluster(cluster).peer(step.host)
            steps = instruction(step.host, web_url(spec.hostname, spec.port))
            manual = seen is None or seen.mode.on is not True
            now = f" (now: {seen.describe()})" if seen is not None else ""
            step.drain = plan_line(step.host, steps, manual, opts) + now
            step.drain_manual = manual
            step.drain_unknown = seen is not None and seen.reachable and seen.mode.on is None


def _drain_refusal(env: Env, result: UpgradeResult, opts: DrainOptions) -> None:
    """Before anything is changed (no snapshot, no upgrade): an unattended run refuses
    when a peer needs the manual step that was not accepted by name, and any run
    refuses a peer whose maintenance mode cannot be read unless that was accepted."""
    todo = [s for s in result.steps if s.drain]
    for step in todo:
        if step.drain_unknown and ACCEPT_UNVERIFIED not in opts.accept:
            raise _Stop(
                "refused",
                ExitCode.REFUSED,
                f"{step.host}: maintenance mode cannot be read (the cluster database REST "
                f"API is off?): pass --accept {ACCEPT_UNVERIFIED} to wait on its calls and "
                "registrations alone (maintenance mode then stays unverified); nothing changed",
            )
    manual = [s for s in todo if s.drain_manual]
    if manual and opts.unattended and ACCEPT_MANUAL not in opts.accept:
        first = manual[0]
        spec = env.inventory.cluster(first.cluster).peer(first.host)
        steps = instruction(first.host, web_url(spec.hostname, spec.port))
        raise _Stop(
            "refused",
            ExitCode.REFUSED,
            unattended_refusal(first.host, steps) + "; nothing was changed",
        )


def _settle_silent(
    env: Env,
    session: Any,
    store: Any,
    facts: dict[str, ClusterFacts],
    opts: UpgradeOptions,
    reporter: Reporter | None,
) -> None:
    """A peer that does not answer because a killed run's upgrade is rebooting it (the
    journal's last upgrade run of its cluster did not finish) is waited for, bounded;
    any other silent peer is left to preflight (refused)."""
    for cluster, f in list(facts.items()):
        silent = [p.host for p in f.peers if not p.reachable]
        if not silent or opts.dry_run or unfinished_run(store, cluster, RUNBOOK) is None:
            continue  # not a killed upgrade's peer: preflight refuses it, named
        waiter = Waiter(reporter, max_poll=env.settings.max_poll_interval)

        def back(c: str = cluster) -> tuple[bool, str]:
            facts[c] = session.gather(c, needs=STATUS_FACTS)
            quiet = [p.host for p in facts[c].peers if not p.reachable]
            return not quiet, f"no answer from {', '.join(quiet)} (a killed run's upgrade?)"

        with contextlib.suppress(TimeoutError_):  # preflight refuses, naming the peer
            waiter.until(f"{cluster}: every peer answers", back, timeout=opts.peer_timeout_s)


def _stopped_runs_snapshot(store: Any, run: dict[str, Any] | None, *, begun: bool) -> str | None:
    """The snapshot a stopped upgrade run took before its first peer, when the re-run
    resumes it: the run was killed or interrupted, some peer already runs the target
    (``begun``: the state before this upgrade is gone, and the next peer may be
    rebooting now, so a new snapshot could not be whole) and that snapshot is still
    stored. None (take a new one): no such run, a run that failed (it ended knowing
    its state), nothing upgraded yet (a new snapshot is the state before), a run that
    took none, or a snapshot no longer stored."""
    if store is None or run is None or not begun:
        return None
    if run.get("status") not in ("interrupted", "running"):
        return None
    full = store.journal.get_run(run["run_id"])
    sid = (full or {}).get("plan", {}).get("snapshot")
    if not isinstance(sid, str) or store.snapshots.get(sid) is None:
        return None
    return sid


def _params(opts: UpgradeOptions, target: str) -> dict[str, Any]:
    return {
        "image": opts.image,
        "sha512": opts.sha512,
        "sftp": opts.url(),
        "to_version": target,
        "peer_timeout_s": opts.peer_timeout_s,
        "settle_timeout_s": opts.settle_timeout_s,
    }


def _close_killed(env: Env, store: Any, result: UpgradeResult, opts: UpgradeOptions) -> list[str]:
    """Every peer runs the target and the cluster is healthy: a killed upgrade run that
    is still the journal's last is closed (``_settle_silent`` would otherwise take a
    later silent peer for its reboot and wait for it). The lines that say so."""
    lines = []
    for cluster in result.clusters:
        line = close_unfinished(
            store,
            env,
            cluster,
            RUNBOOK,
            params=_params(opts, result.target),
            detail=f"every peer runs {result.target} and the cluster is healthy (read now)",
            lock_timeout=opts.lock_timeout,
        )
        if line:
            lines.append(line)
    return lines


def plan_text(result: UpgradeResult, opts: UpgradeOptions) -> str:
    """The dry run: the order and the expected time per peer."""
    lines = [
        f"upgrade {', '.join(result.clusters)} to {result.target}: image {opts.image} "
        f"(SHA-512 {opts.sha512[:16]}...) pulled by each peer from {opts.url()}; "
        "one peer at a time, never two down",
        *result.notes,
    ]
    for i, s in enumerate(result.steps, start=1):
        who = f"{s.host} ({'primary' if s.primary else 'subordinate'}, {s.cluster})"
        if s.action == "skip":
            lines.append(f"  {i}. {who}: already on {result.target}: skipped")
            continue
        how = (
            "measured restarts in the journal"
            if s.expected_from == "measured"
            else "the documented ~5 min reboot"
        )
        if s.drain:
            lines.append(f"  {i}. {who}: drain first: {s.drain}")
        lines.append(
            f"  {i}. {who}: {s.version} -> {result.target}; expected reboot ~{s.expected_s:.0f} s "
            f"({how}) plus the image download and install (bounded: {opts.peer_timeout_s:.0f} s)"
        )
        if s.drain:
            lines.append(
                f"  {i}. {who}: after its reboot: maintenance mode must read off (the vendor's "
                "rule: a restart turns it off)"
            )
    lines.append(
        f"then: alarms {', '.join(UPGRADE.mixed_version_alarms)} (expected while versions are "
        f"mixed) must clear within {opts.settle_timeout_s:.0f} s of the last peer"
    )
    return "\n".join(lines)


@dataclass
class _Ctx:
    """One cluster's run: what every step needs."""

    env: Env
    session: Any
    store: Any
    cluster: str
    result: UpgradeResult
    opts: UpgradeOptions
    say: Say
    reporter: Reporter | None
    run: JournalledRun | None = None

    @property
    def target(self) -> tuple[int, int, int]:
        return self.opts.target()

    def waiter(self) -> Waiter:
        return Waiter(self.reporter, max_poll=self.env.settings.max_poll_interval)

    def gather(self, hosts: list[str] | None = None) -> ClusterFacts:
        self.store.check_lock(self.cluster)
        facts: ClusterFacts = self.session.gather(self.cluster, hosts=hosts, needs=STATUS_FACTS)
        return facts

    @property
    def journal(self) -> JournalledRun:
        """This cluster's run in the journal (started under its lock)."""
        if self.run is None:
            raise ExopsError(f"{self.cluster}: the upgrade run is not in the journal yet")
        return self.run


def _run_cluster(ctx: _Ctx) -> None:
    env, store, cluster, result, opts = ctx.env, ctx.store, ctx.cluster, ctx.result, ctx.opts
    if store is None:
        raise _Stop("failed", ExitCode.FAILED, "the state store could not be opened")
    if opts.snapshot:
        _snapshot(ctx)
    steps = [s for s in result.steps if s.cluster == cluster]
    with (
        cluster_lock(store, env, cluster, RUNBOOK, opts.lock_timeout),
        JournalledRun(
            store,
            cluster,
            RUNBOOK,
            params=_params(opts, result.target),
            plan={
                "order": [s.host for s in steps],
                "target_version": result.target,
                "forms": [UPGRADE.sftpconfig, UPGRADE.upgrade, UPGRADE.status],
                "snapshot": result.snapshots.get(cluster),  # what a resumed run keeps
            },
        ) as run,
    ):
        result.run_ids[cluster] = run.run_id
        ctx.run = run
        try:
            for i, step in enumerate(steps, start=1):
                _peer(ctx, i, step)
            _settle(ctx)
        except _Stop as stop:
            run.finish("failed", stop.code)
            raise
        run.finish("ok", 0)


def _snapshot(ctx: _Ctx) -> None:
    """The snapshot before the upgrade: taken now, or, resuming a killed run, the one
    that run took before its first peer (``_stopped_runs_snapshot``)."""
    from exops.tools import snapshot

    cluster, result = ctx.cluster, ctx.result
    stopped = unfinished_run(ctx.store, cluster, RUNBOOK)
    begun = any(s.cluster == cluster and s.action == "skip" for s in result.steps)
    kept = _stopped_runs_snapshot(ctx.store, stopped, begun=begun)
    if kept is not None and stopped is not None:
        result.snapshots[cluster] = kept
        ctx.say(
            f"{cluster}: resuming the stopped run {stopped['run_id']}: its snapshot {kept}, "
            f"taken before its first peer, is the state before this upgrade (exops diff {kept})"
        )
        return
    taken = snapshot.take(ctx.env, cluster, lock_timeout=ctx.opts.lock_timeout)
    if taken.exit_code != 0:
        raise _Stop(
            "refused",
            ExitCode.REFUSED,
            f"{cluster}: the snapshot before the upgrade is incomplete "
            f"({', '.join(taken.incomplete)}): nothing was upgraded",
        )
    result.snapshots[cluster] = taken.snapshot_id
    ctx.say(f"{cluster}: snapshot {taken.snapshot_id} stored (exops diff {taken.snapshot_id})")


class _PeerRun:
    """One peer: fresh reads, start (or follow) its upgrade, wait for it to come back."""

    def __init__(self, ctx: _Ctx, index: int, step: PeerStep):
        self.ctx, self.index, self.step = ctx, index, step
        self.host = step.host
        self.name = f"upgrade {step.host} to {ctx.result.target}"
        self.started, self.mono = datetime.now(UTC), time.monotonic()
        self.before: UpgradeStatus | None = None
        self.down_at: float | None = None
        self.up_at: float | None = None

    def fail(self, message: str) -> _Stop:
        s = self.step
        s.status, s.detail, s.seconds = "failed", message, time.monotonic() - self.mono
        self.ctx.journal.step(
            f"u{self.index}", self.name, "upgrade", self.host, "failed", self.started,
            s.seconds, message, message,
        )  # fmt: skip
        return _Stop("failed", ExitCode.FAILED, message)

    def wait(self, what: str, check: Callable[[], tuple[bool, str]], timeout: float) -> None:
        try:
            self.ctx.waiter().until(what, check, timeout=timeout, host=self.host)
        except TimeoutError_ as exc:  # exc names the host and "wait": said once here
            raise self.fail(f"{self.host}: {exc.message}") from exc

    def others_answer(self) -> PeerFacts:
        """Every other peer answers (never two down) and none is in maintenance mode
        (never two out of service: checked on this fresh read, where the reboot is
        decided); this peer's fresh facts."""
        seen: list[ClusterFacts] = []

        def check() -> tuple[bool, str]:
            seen[:] = [self.ctx.gather()]
            quiet = [p.host for p in seen[0].peers if p.host != self.host and not p.reachable]
            return not quiet, f"no answer from {', '.join(quiet)} (never two peers down)"

        limit = min(self.ctx.opts.peer_timeout_s, REBOOT_S * 2)
        self.wait(f"every peer of {self.ctx.cluster} but {self.host} answers", check, limit)
        me = seen[0].peer(self.host)
        if _version(me) != self.ctx.target:
            refused = maintenance_refusal(seen[0], [self.host], self.ctx.target)
            if refused:
                raise _Stop("refused", ExitCode.REFUSED, refused)
        return me

    def answers(self) -> PeerFacts:
        """Wait (bounded) until this peer answers again; its fresh facts."""
        seen: list[PeerFacts] = []

        def check() -> tuple[bool, str]:
            seen[:] = [self.ctx.gather([self.host]).peer(self.host)]
            return seen[0].reachable, f"{self.host} does not answer ({seen[0].error}); rebooting?"

        self.wait(f"{self.host} answers", check, self.ctx.opts.peer_timeout_s)
        return seen[0]

    def start(self, me: PeerFacts) -> None:
        """Ask for the upgrade, unless one is under way (a killed run's): never twice."""
        ctx, host = self.ctx, self.host
        down = not me.reachable
        try:
            self.before = None if down else _status(ctx.session, host)
        except ExopsError as exc:
            # No answer at all since the read that found it up: it went down in between
            # (a killed run's upgrade rebooting it) and is followed, never asked. A peer
            # that answers other reads but not upgradestatus is not started.
            down = isinstance(exc, TransportError) and not ctx.gather([host]).peer(host).reachable
            if not down:
                raise self.fail(
                    f"{host}: upgradestatus cannot be read ({exc}): not starting"
                ) from exc
        final = (*UPGRADE.failed_states, UPGRADE.success_state)
        if down or (self.before is not None and self.before.state not in final):
            self.step.action = "follow"
            state = self.before.state if self.before else "no answer"
            ctx.say(f"{host}: an upgrade is under way ({state}): following it")
            return
        if ctx.opts.drain is not None:
            self.drain(ctx.opts.drain)
        else:
            spec = ctx.env.inventory.cluster(ctx.cluster).peer(host)
            ctx.say(
                f"{host}: drain it first if it carries calls: "
                f"{instruction(host, web_url(spec.hostname, spec.port))} "
                f"(exops drain -c {ctx.cluster} --peer {host}); the reboot ends its calls"
            )
        config, directory = ctx.opts.server()
        request = UpgradeRequest(
            location=directory, file_name=ctx.opts.image, sha512=ctx.opts.sha512
        )
        app = _upgrader(ctx.session, host)
        asked = False
        try:
            app.put_sftp_config(config)
            asked = True
            answer = app.start_upgrade(request)
        except ExopsError as exc:
            if asked and isinstance(exc, TransportError):  # the peer may be upgrading now
                raise self.fail(
                    f"{host}: no answer to the upgrade request ({exc}): it may have started; "
                    "run the same command again (it follows an upgrade under way, never asks "
                    "twice)"
                ) from exc
            if not asked and isinstance(exc, TransportError):  # nothing asked of it yet
                raise self.fail(
                    f"{host}: no answer to the SFTP settings request ({exc}): no upgrade was "
                    "asked of it; run the same command again"
                ) from exc
            raise self.fail(f"{host}: the upgrade request was refused: {exc}") from exc
        finally:
            app.close()
        self.step.action = "upgrade"
        ctx.say(f"{host}: upgrade requested ({answer or 'no message'}); following upgradestatus")

    def drain(self, opts: DrainOptions) -> None:
        """--drain: the peer drained before its upgrade is asked for, inside this run
        (its lock, its session), journalled as the steps ``m<i>`` (the manual step) and
        ``d<i>`` (the wait). A peer found drained (a killed run's) is not drained again.
        A refusal stops the run (exit 3), a timeout fails it (exit 1): not upgraded."""
        ctx, host = self.ctx, self.host
        started = datetime.now(UTC)
        found = prepare(ctx.session, ctx.env, ctx.cluster, host, opts)
        if found.status == "refused":
            ctx.journal.step(
                f"d{self.index}", f"drain {host}", "wait", host, "refused", started, None,
                found.message, found.message,
            )  # fmt: skip
            raise _Stop("refused", ExitCode.REFUSED, f"{host}: {found.message}; not upgraded")
        if found.status == "nothing_to_change":
            ctx.say(f"{host}: {found.message}: nothing to redo")
            ctx.journal.step(
                f"d{self.index}", f"drain {host}", "wait", host, "ok", started, None,
                found.message,
            )  # fmt: skip
            return
        check_lock = lambda: ctx.store.check_lock(ctx.cluster)  # noqa: E731
        ids = (f"m{self.index}", f"d{self.index}")
        try:
            done = wait_drained(
                ctx.session, ctx.env, found, opts,
                check_lock=check_lock, say=lambda line: ctx.say(f"{host}: {line}"),
                reporter=ctx.reporter,
            )  # fmt: skip
        except KeyboardInterrupt:
            journal_steps(ctx.journal, found, started, "interrupted", "interrupted", ids=ids)
            raise
        error = None if done.status == "ok" else done.message
        journal_steps(ctx.journal, done, started, done.status, error, ids=ids)
        if done.status != "ok":
            self.step.status, self.step.detail = "failed", f"not drained: {done.message}"
            raise _Stop("failed", ExitCode.FAILED, f"{host}: {done.message}; not upgraded")
        ctx.say(f"{host}: {done.message}")

    def maintenance_off(self) -> None:
        """--drain: after the reboot, maintenance mode reads off (the vendor's rule),
        said and journalled (step ``o<i>``); still on, or unknown without --accept
        unverified-maintenance, fails the run (exit 1)."""
        ctx, host, opts = self.ctx, self.host, self.ctx.opts.drain
        if opts is None:
            return
        started = datetime.now(UTC)
        timeout = min(ctx.env.settings.settle_timeout, 120.0)
        check = check_off(ctx.session, ctx.env, ctx.cluster, host, timeout_s=timeout)
        self.step.maintenance_off = check.off
        passed = check.off is True or (check.off is None and ACCEPT_UNVERIFIED in opts.accept)
        ctx.journal.step(
            f"o{self.index}", f"maintenance mode off on {host}", "verify", host,
            "ok" if passed else "failed", started, None, check.message,
            None if passed else check.message,
        )  # fmt: skip
        if not passed:
            self.step.status, self.step.detail = "failed", check.message
            raise _Stop("failed", ExitCode.FAILED, check.message)
        ctx.say(check.message)

    def upgraded(self) -> tuple[bool, str]:
        """One poll: the state (a failed state stops the run) and the running version."""
        ctx, host = self.ctx, self.host
        try:
            now = _status(ctx.session, host)
        except TransportError as exc:
            self.down_at = self.down_at or time.monotonic()
            return False, f"{host} does not answer ({exc}); rebooting?"
        except ExopsError as exc:  # an answer, but an error: up, not rebooting
            return False, f"{host} answers upgradestatus with an error ({exc}); asking again"
        failed = _failed_state(now, self.before)
        if failed:
            raise self.fail(
                f"{host}: the upgrade failed: upgradestatus {failed} (image "
                f"{ctx.opts.image}); {host} keeps its version"
            )
        if self.down_at and not self.up_at:
            self.up_at = time.monotonic()
        v = _version(ctx.gather([host]).peer(host))
        state = now.state if now else "no upgrade on record"
        success = now is not None and now.state == UPGRADE.success_state
        if success and _fresh(now, self.before) and v is not None and v != ctx.target:
            raise self.fail(
                f"{host}: upgradestatus {state}, but it runs {show_version(v)}, not "
                f"{ctx.result.target}: the image installs another version (check --image, "
                "or give --to-version)"
            )
        done = v == ctx.target and success
        return done, f"upgradestatus {state}; running {show_version(v) if v else 'unknown'}"

    def rejoin(self) -> dict[str, list[str]]:
        seen: dict[str, list[str]] = {}

        def check() -> tuple[bool, str]:
            problems, known = rejoin_problems(self.ctx.gather(), self.host, self.ctx.target)
            seen.clear()
            seen.update(known)
            return not problems, "; ".join(problems) or "back"

        left = max(self.ctx.opts.peer_timeout_s - (time.monotonic() - self.mono), 1.0)
        self.wait(f"{self.host} back in {self.ctx.cluster}", check, left)
        return seen

    def run(self) -> None:
        ctx, step, host, target = self.ctx, self.step, self.host, self.ctx.result.target
        me = self.others_answer()
        if not me.reachable:  # rebooting (a killed run's upgrade?): decide once it answers
            me = self.answers()
        if _version(me) == ctx.target:
            step.action = "skip"
        else:
            self.start(me)
            self.wait(f"{host} on {target}", self.upgraded, ctx.opts.peer_timeout_s)
            if self.down_at and self.up_at:
                down = self.up_at - self.down_at
                ctx.journal.step(
                    f"r{self.index}", f"reboot of {host} (upgrade)", "restart", host, "ok",
                    self.started, down, f"no answer for {down:.1f} s",
                )  # fmt: skip
            self.maintenance_off()
        known = self.rejoin()
        for peer, ids in known.items():
            ctx.result.known_alarms[peer] = sorted(
                set(ctx.result.known_alarms.get(peer, [])) | set(ids)
            )
        if known:
            ctx.say(
                f"{ctx.cluster}: known while versions are mixed: "
                + "; ".join(f"{p} alarms {', '.join(ids)}" for p, ids in sorted(known.items()))
                + " (cluster communication/replication; they clear once every peer is upgraded)"
            )
        step.seconds = time.monotonic() - self.mono
        skipped = step.action == "skip"
        step.status = "skipped" if skipped else "ok"
        step.detail = (
            f"already on {target}"
            if skipped
            else f"on {target} and back in {ctx.cluster} after {step.seconds:.0f} s"
        )
        ctx.say(f"{host}: {step.detail}")
        ctx.journal.step(
            f"u{self.index}", self.name, "upgrade", host, "skipped" if skipped else "changed",
            self.started, step.seconds, step.detail,
        )  # fmt: skip


def _peer(ctx: _Ctx, index: int, step: PeerStep) -> None:
    _PeerRun(ctx, index, step).run()


def _settle(ctx: _Ctx) -> None:
    """After the last peer: every peer on the target, healthy, alarms cleared (bounded)."""
    started, mono = datetime.now(UTC), time.monotonic()

    def healthy() -> tuple[bool, str]:
        f = ctx.gather()
        problems = [
            f"{p.host} runs {p.system.version if p.system else 'unknown'}"
            for p in f.peers
            if _version(p) != ctx.target
        ]
        for p in f.peers:
            problems += peer_problems(p, ignore=ctx.opts.allow_alarms)
        return not problems, "; ".join(problems) or "healthy"

    what = f"{ctx.cluster} healthy on {ctx.result.target} (mixed-version alarms cleared)"
    try:
        waited = ctx.waiter().until(what, healthy, timeout=ctx.opts.settle_timeout_s)
    except TimeoutError_ as exc:
        message = f"{ctx.cluster}: every peer was upgraded, but {exc}"
        ctx.journal.step(
            "s1", what, "wait", None, "failed", started, time.monotonic() - mono, message, message
        )
        raise _Stop("failed", ExitCode.FAILED, message) from exc
    ctx.journal.step("s1", what, "wait", None, "ok", started, waited, "healthy")
    ctx.say(f"{ctx.cluster}: every peer runs {ctx.result.target}; cluster healthy, alarms clear")

"""``exops drain``: take one peer out of service before maintenance, on the interfaces
the appliance really has (docs/contract.md section 13).

Maintenance mode has no machine interface that sets it (web page only), so exops
never invents one: it prints the manual step exactly (the page, the setting, the
peer and its address) and waits, reading the peer's maintenance mode (cluster
database) and its calls and registrations (``xStatus ResourceUsage``) until the
peer reads as in maintenance and its calls and registrations are at or under the
thresholds, bounded by a timeout. Before that, on fresh reads of every peer of
the cluster: the peer must answer; no other peer may be in maintenance mode or
silent (its calls and registrations would have nowhere to go); an unattended run
(``--yes`` or no terminal) refuses the manual step with exit 3 and the
instruction unless it was accepted by name (``--accept manual-maintenance``).
Where maintenance mode cannot be read at all (the cluster database REST API is
off: the X14.2+ default), exops refuses unless ``--accept unverified-maintenance``
says to rely on calls and registrations alone, and it says so in the result.

``verify_off`` is the check after a restart: maintenance mode turns off by
itself when a peer restarts (the vendor's rule); exops reads it and says so.

A drain is journalled as a run (runbook ``drain``) under the cluster's lock, one
step for the manual step and one for the wait; it changes nothing on any peer.
Re-running it on a drained peer finds nothing to do.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from exops.appliance.maintenance import (
    ACCEPT_MANUAL,
    ACCEPT_UNVERIFIED,
    MAINTENANCE,
    USAGE,
    ModeRead,
    UsageRead,
    instruction,
    read_mode,
    read_usage,
    web_url,
)
from exops.apply.waits import Reporter, Waiter
from exops.core.errors import ExopsError, PreconditionError, TimeoutError_, UsageError
from exops.core.exitcodes import ExitCode
from exops.run.env import Env
from exops.tools.journalled import JournalledRun, cluster_lock, ended, state_store

RUNBOOK = "drain"
ACCEPTABLE = (ACCEPT_MANUAL, ACCEPT_UNVERIFIED)


@dataclass(frozen=True)
class DrainOptions:
    max_calls: int = 0
    max_registrations: int = 0
    timeout_s: float = 1800.0
    accept: frozenset[str] = frozenset()
    unattended: bool = False  # --yes, or no terminal: nobody to do the web step live
    dry_run: bool = False
    lock_timeout: float | None = None

    def check(self) -> None:
        """Raises UsageError for a negative threshold or an unknown --accept name."""
        for flag, value in (
            ("--max-calls", self.max_calls),
            ("--max-registrations", self.max_registrations),
        ):
            if value < 0:
                raise UsageError(f"{flag} {value}: a count, 0 or more")
        unknown = sorted(self.accept - set(ACCEPTABLE))
        if unknown:
            raise UsageError(
                f"--accept {unknown[0]}: not a step exops knows (one of: {', '.join(ACCEPTABLE)})"
            )


@dataclass(frozen=True)
class PeerRead:
    host: str
    address: str
    reachable: bool
    mode: ModeRead
    usage: UsageRead
    error: str = ""

    def describe(self) -> str:
        if not self.reachable:
            return f"does not answer ({self.error})"
        return f"maintenance mode {self.mode.describe()}; {self.usage.describe()}"

    def to_json(self) -> dict[str, Any]:
        return {
            "host": self.host,
            "reachable": self.reachable,
            "maintenance_mode": self.mode.on,
            "maintenance_mode_raw": self.mode.raw,
            "maintenance_mode_unknown": self.mode.why or None,
            "calls": self.usage.calls,
            "registrations": self.usage.registrations,
            "usage_unknown": self.usage.why or None,
            "error": self.error or None,
        }


@dataclass
class DrainResult:
    cluster: str
    peer: str
    status: str  # planned | nothing_to_change | ok | refused | failed | interrupted
    exit_code: int
    message: str
    instruction: str = ""
    manual_step: bool = False  # the operator had (or has) to do the web step
    verified: bool = True  # False: maintenance mode could not be read (accepted)
    seen: PeerRead | None = None
    waited_s: float = 0.0
    run_id: str | None = None
    others: list[PeerRead] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "schema": "exops.drain/1",
            "cluster": self.cluster,
            "peer": self.peer,
            "status": self.status,
            "exit_code": self.exit_code,
            "message": self.message,
            "manual_step": self.manual_step,
            "instruction": self.instruction or None,
            "maintenance_mode_verified": self.verified,
            "seen": self.seen.to_json() if self.seen else None,
            "others": [o.to_json() for o in self.others],
            "waited_s": round(self.waited_s, 3),
            "run_id": self.run_id,
        }


def _silent(host: str, address: str, error: str) -> PeerRead:
    return PeerRead(
        host,
        address,
        False,
        ModeRead(None, None, "no answer"),
        UsageRead(None, None, why="no answer"),
        error,
    )


def _read(session: Any, host: str, address: str) -> PeerRead:
    try:
        app = session.appliance(host)
        mode = read_mode(app)
        usage = read_usage(app)
    except ExopsError as exc:  # no answer, refused credentials, or no connection at all
        return _silent(host, address, str(exc))
    return PeerRead(host, address, True, mode, usage)


def read_peers(session: Any, env: Env, cluster: str) -> dict[str, PeerRead]:
    """Every peer of ``cluster`` read now (maintenance mode, calls, registrations)."""
    spec = env.inventory.cluster(cluster)
    addresses = {p.name: p.address for p in spec.peers}
    found = session.run_each(list(addresses), lambda h: _read(session, h, addresses[h]))
    out: dict[str, PeerRead] = {}
    for host, address in addresses.items():
        value = found.get(host)
        if not isinstance(value, PeerRead):
            value = _silent(host, address, str(value))
        out[host] = value
    return out


def _drained(seen: PeerRead, opts: DrainOptions) -> tuple[bool, str]:
    """(drained?, what was seen). Unknown never passes."""
    if not seen.reachable:
        return False, f"{seen.host} {seen.describe()}"
    mode_ok = seen.mode.on is True or (seen.mode.on is None and ACCEPT_UNVERIFIED in opts.accept)
    u = seen.usage
    usage_ok = (
        u.calls is not None
        and u.registrations is not None
        and u.calls <= opts.max_calls
        and u.registrations <= opts.max_registrations
    )
    return mode_ok and usage_ok, seen.describe()


def _refusal(
    cluster: str, peer: str, target: PeerRead, reads: dict[str, PeerRead], opts: DrainOptions
) -> str | None:
    """Why exops will not start draining ``peer`` (None: it may)."""
    if not target.reachable:
        return f"{peer} does not answer ({target.error}): exops drains only a peer it can read"
    if target.mode.on is None and ACCEPT_UNVERIFIED not in opts.accept:
        return (
            f"{peer}: maintenance mode cannot be read: {target.mode.why}; switch the cluster "
            f"database REST API on for {peer}, or pass --accept {ACCEPT_UNVERIFIED} to wait "
            "on its calls and registrations alone (maintenance mode then stays unverified)"
        )
    for host, other in reads.items():
        if host == peer:
            continue
        if not other.reachable:
            return (
                f"{host} does not answer ({other.error}): with {peer} in maintenance too, "
                f"cluster {cluster}'s calls and registrations would have nowhere to go"
            )
        if other.mode.on is True:
            return (
                f"{host} is in maintenance mode: take it out of maintenance (web page "
                f"{MAINTENANCE.set_page}, Off) before draining {peer}; never two peers of "
                "a cluster out of service"
            )
    return None


def drain(
    env: Env,
    cluster: str,
    peer: str,
    opts: DrainOptions,
    *,
    say: Callable[[str], None] = lambda line: None,
    reporter: Reporter | None = None,
    cancel: threading.Event | None = None,
) -> DrainResult:
    """Drain ``peer`` of ``cluster`` (see the module docstring).

    Raises:
        UsageError: an unknown cluster or peer, a bad option, or an unusable state store.
        LockedError: another run holds the cluster (exit 4).
        KeyboardInterrupt: interrupted (journalled as interrupted).
    """
    opts.check()
    env.inventory.cluster(cluster).peer(peer)
    with state_store(env, skip=opts.dry_run) as store:
        lock = (
            cluster_lock(store, env, cluster, RUNBOOK, opts.lock_timeout)
            if store
            else nullcontext()
        )
        with lock, env.session([cluster]) as session:
            result = prepare(session, env, cluster, peer, opts)
            if result.status != "planned" or opts.dry_run:
                return result
            if store is None:  # only a dry run opens none
                raise ExopsError("drain: the state store was not opened")
            with JournalledRun(
                store,
                cluster,
                RUNBOOK,
                params={
                    "peer": peer,
                    "max_calls": opts.max_calls,
                    "max_registrations": opts.max_registrations,
                    "timeout_s": opts.timeout_s,
                    "accept": sorted(opts.accept),
                },
                plan={"peer": peer, "instruction": result.instruction, "forms": _forms()},
            ) as run:
                result.run_id = run.run_id
                started = datetime.now(UTC)
                try:
                    wait_drained(
                        session,
                        env,
                        result,
                        opts,
                        check_lock=lambda: store.check_lock(cluster),
                        say=say,
                        reporter=reporter,
                        cancel=cancel,
                    )
                except KeyboardInterrupt:
                    journal_steps(run, result, started, "interrupted", "interrupted")
                    run.finish("interrupted", ExitCode.INTERRUPTED)
                    raise
                ok = result.status == "ok"
                journal_steps(run, result, started, result.status, None if ok else result.message)
                run.finish(result.status, result.exit_code)
                return result


def prepare(session: Any, env: Env, cluster: str, peer: str, opts: DrainOptions) -> DrainResult:
    """Every peer of ``cluster`` read now, and what draining ``peer`` takes: status
    ``refused`` (exit 3, why), ``nothing_to_change`` (drained already) or ``planned``
    (the dry run's text in the message). Unattended, a manual step not accepted by name
    is refused here, before anything is waited for. Changes nothing; takes no lock."""
    spec = env.inventory.cluster(cluster).peer(peer)
    steps = instruction(peer, web_url(spec.hostname, spec.port))
    reads = read_peers(session, env, cluster)
    target = reads[peer]
    others = [r for h, r in reads.items() if h != peer]
    result = DrainResult(
        cluster, peer, "planned", 0, "", instruction=steps, seen=target, others=others
    )
    result.verified = target.mode.on is not None
    refused = _refusal(cluster, peer, target, reads, opts)
    if refused:
        return ended(result, "refused", ExitCode.REFUSED, refused)
    done, seen = _drained(target, opts)
    if done:
        return ended(result, "nothing_to_change", ExitCode.OK, f"{peer} is drained: {seen}")
    result.manual_step = target.mode.on is not True
    if opts.dry_run:
        return ended(result, "planned", ExitCode.OK, _plan_text(result, opts))
    if result.manual_step and opts.unattended and ACCEPT_MANUAL not in opts.accept:
        return ended(result, "refused", ExitCode.REFUSED, unattended_refusal(peer, steps))
    return ended(result, "planned", ExitCode.OK, _plan_text(result, opts))


def unattended_refusal(peer: str, steps: str) -> str:
    """Why an unattended run does not wait for the manual web-page step (exit 3)."""
    return (
        f"draining {peer} needs a manual step, and this run is unattended (--yes or "
        f"no terminal): {steps}; then run again, or pass --accept {ACCEPT_MANUAL} to "
        "let this run wait for it"
    )


def _plan_text(result: DrainResult, opts: DrainOptions) -> str:
    return plan_line(result.peer, result.instruction, result.manual_step, opts)


def plan_line(peer: str, steps: str, manual: bool, opts: DrainOptions) -> str:
    """What draining ``peer`` takes, as the dry run says it."""
    first = f"manual step: {steps}" if manual else f"{peer} is in maintenance mode already"
    return (
        f"{first}; then wait until {peer} reads as in maintenance with at most "
        f"{opts.max_calls} calls and {opts.max_registrations} registrations "
        f"(timeout {opts.timeout_s:g} s)"
    )


def wait_drained(
    session: Any,
    env: Env,
    result: DrainResult,
    opts: DrainOptions,
    *,
    check_lock: Callable[[], None] = lambda: None,
    say: Callable[[str], None] = lambda line: None,
    reporter: Reporter | None = None,
    cancel: threading.Event | None = None,
) -> DrainResult:
    """The manual step said, then the bounded wait until ``result.peer`` is drained,
    inside whatever run holds the cluster (``check_lock`` raises when it lost its lock).
    ``result`` comes from ``prepare`` (status ``planned``); it ends ``ok`` or
    ``failed`` (timed out, exit 1, what was last seen). Journals nothing itself.

    Raises:
        KeyboardInterrupt: interrupted (``result.waited_s`` says how long it waited).
    """
    cluster, peer = result.cluster, result.peer
    address = env.inventory.cluster(cluster).peer(peer).address
    if result.manual_step:
        say(f"manual step: {result.instruction}")
    say(
        f"waiting until {peer} reads as in maintenance with at most {opts.max_calls} calls and "
        f"{opts.max_registrations} registrations (timeout {opts.timeout_s:g} s)"
    )
    last: list[PeerRead] = [result.seen] if result.seen else []

    def check() -> tuple[bool, str]:
        check_lock()
        seen = _read(session, peer, address)
        last[:] = [seen]
        return _drained(seen, opts)

    waiter = Waiter(reporter, max_poll=env.settings.max_poll_interval, cancel=cancel)
    mono = time.monotonic()
    try:
        result.waited_s = waiter.until(f"{peer} drained", check, timeout=opts.timeout_s, host=peer)
    except TimeoutError_ as exc:
        result.waited_s = time.monotonic() - mono
        result.seen = last[0] if last else result.seen
        return ended(result, "failed", ExitCode.FAILED, str(exc))
    except KeyboardInterrupt:
        result.waited_s = time.monotonic() - mono
        raise
    result.seen = last[0] if last else result.seen
    result.verified = bool(result.seen and result.seen.mode.on is True)
    note = "" if result.verified else " (maintenance mode NOT verified: it cannot be read)"
    seen = result.seen.describe() if result.seen else "?"
    return ended(
        result, "ok", ExitCode.OK, f"{peer} drained in {result.waited_s:.0f} s: {seen}{note}"
    )


def journal_steps(
    run: JournalledRun,
    result: DrainResult,
    started: datetime,
    status: str,
    error: str | None,
    *,
    ids: tuple[str, str] = ("m1", "w1"),
) -> None:
    """A drain's steps in ``run``'s journal: the manual step (when there was one), then
    the wait, with what was last seen."""
    peer = result.peer
    seen = result.seen.describe() if result.seen else ""
    if result.manual_step:
        manual_ok = bool(result.seen and result.seen.mode.on is True)
        run.step(
            ids[0],
            f"manual: maintenance mode On on {peer}",
            "manual",
            peer,
            "ok" if manual_ok else ("skipped" if status == "ok" else status),
            started,
            result.waited_s,
            result.instruction if manual_ok else f"not seen: {seen}",
        )
    run.step(
        ids[1],
        f"wait until {peer} is drained",
        "wait",
        peer,
        status,
        started,
        result.waited_s,
        seen,
        error,
    )


def _forms() -> dict[str, str]:
    return {
        "set": f"web page {MAINTENANCE.set_page} ({MAINTENANCE.set_mark})",
        "read": f"CDB {MAINTENANCE.table}.{MAINTENANCE.field} ({MAINTENANCE.read_mark}; "
        f"values {MAINTENANCE.values_mark})",
        "usage": f"{USAGE.command} ({USAGE.mark})",
    }


@dataclass(frozen=True)
class OffCheck:
    """Maintenance mode after a restart: off (True), still on (False), unknown (None)."""

    off: bool | None
    message: str


def verify_off(env: Env, cluster: str, peer: str, *, timeout_s: float = 120.0) -> OffCheck:
    """Read ``peer``'s maintenance mode after its restart in a session of its own
    (see ``check_off``)."""
    with env.session([cluster]) as session:
        return check_off(session, env, cluster, peer, timeout_s=timeout_s)


def check_off(
    session: Any,
    env: Env,
    cluster: str,
    peer: str,
    *,
    timeout_s: float = 120.0,
    reporter: Reporter | None = None,
) -> OffCheck:
    """Read ``peer``'s maintenance mode after its restart (the vendor's rule: a restart
    turns it off). Polls, bounded, while the peer does not answer or still reads on;
    a mode that cannot be read at all is reported unknown at once."""
    address = env.inventory.cluster(cluster).peer(peer).address
    last: list[PeerRead] = []

    def check() -> tuple[bool, str]:
        seen = _read(session, peer, address)
        last[:] = [seen]
        return seen.reachable and seen.mode.on is not True, seen.describe()

    with contextlib.suppress(TimeoutError_):  # judged from the last read below
        Waiter(reporter, max_poll=env.settings.max_poll_interval).until(
            f"{peer} maintenance mode off", check, timeout=timeout_s, host=peer
        )
    seen = last[0] if last else None
    if seen is not None and seen.mode.on is False:
        return OffCheck(
            True,
            f"{peer}: maintenance mode is off again after its restart (the vendor's rule: "
            "a restart turns it off)",
        )
    if seen is not None and seen.mode.on is True:
        return OffCheck(
            False,
            f"{peer}: maintenance mode is still ON after its restart (the vendor says a "
            f"restart turns it off): turn it off on the web page {MAINTENANCE.set_page}",
        )
    why = seen.describe() if seen else "not read"
    return OffCheck(None, f"{peer}: maintenance mode after the restart NOT verified: {why}")


# -- restart --drain: the runner's restart hook (exops.run.runner.RestartHook) ----------


@dataclass
class DrainHook:
    """``exops restart --drain``: right before each restart step, drain its peer inside
    the restart run (its lock, its session): refused (another peer in maintenance, a
    peer that does not answer, a manual step an unattended run did not accept) fails
    the step as refused before the restart is sent; a drain that times out fails it.
    After the restart, maintenance mode must read off (the vendor's rule); unknown
    fails the step unless ``--accept unverified-maintenance``."""

    env: Env
    opts: DrainOptions
    say: Callable[[str], None] = lambda line: None
    reporter: Reporter | None = None
    cancel: threading.Event | None = None
    drained: dict[str, DrainResult] = field(default_factory=dict)

    def before_restart(
        self, session: Any, cluster: str, host: str, check_lock: Callable[[], None]
    ) -> None:
        found = prepare(session, self.env, cluster, host, self.opts)
        if found.status == "refused":
            raise PreconditionError(f"drain {host}: {found.message}; not restarted")
        if found.status == "planned":
            found = wait_drained(
                session,
                self.env,
                found,
                self.opts,
                check_lock=check_lock,
                say=lambda line: self.say(f"{host}: {line}"),
                reporter=self.reporter,
                cancel=self.cancel,
            )
            if found.status != "ok":  # a plain error: the step failed (not "unreachable")
                raise ExopsError(f"drain {host}: {found.message}; not restarted")
        self.drained[host] = found
        self.say(f"{host}: {found.message}")

    def after_restart(self, session: Any, cluster: str, host: str) -> str:
        timeout = min(self.env.settings.settle_timeout, 120.0)
        check = check_off(session, self.env, cluster, host, timeout_s=timeout)
        unverified_ok = ACCEPT_UNVERIFIED in self.opts.accept
        if not (check.off is True or (check.off is None and unverified_ok)):
            raise ExopsError(check.message)
        self.say(check.message)
        drained = self.drained.get(host)
        return f"{drained.message}; {check.message}" if drained else check.message


def restart_refusal(env: Env, cluster: str, hosts: list[str], opts: DrainOptions) -> str | None:
    """``restart --drain``, before anything is changed: why the run may not start (None:
    it may). Unattended, a peer to restart that is not in maintenance mode now needs
    the manual step, refused unless accepted by name; a peer whose maintenance mode
    cannot be read is refused unless --accept unverified-maintenance."""
    with env.session([cluster]) as session:
        reads = read_peers(session, env, cluster)
    for host in hosts:
        seen = reads[host]
        if seen.reachable and seen.mode.on is None and ACCEPT_UNVERIFIED not in opts.accept:
            return (
                f"{host}: maintenance mode cannot be read: {seen.mode.why}; pass --accept "
                f"{ACCEPT_UNVERIFIED} to wait on its calls and registrations alone; nothing "
                "was changed"
            )
    if not opts.unattended or ACCEPT_MANUAL in opts.accept:
        return None
    for host in hosts:
        if reads[host].mode.on is not True:
            spec = env.inventory.cluster(cluster).peer(host)
            steps = instruction(host, web_url(spec.hostname, spec.port))
            return unattended_refusal(host, steps) + "; nothing was changed"
    return None


def restart_plan_lines(restarts: list[tuple[str, str, str]], opts: DrainOptions) -> list[str]:
    """The dry run of ``restart --drain``: for each restart step (its id, its peer, the
    peer's manual step), the drain right before it and the check right after it."""
    lines = ["Drain (--drain): one peer at a time, right before its own restart"]
    for aid, host, steps in restarts:
        lines.append(f"  before step {aid} (restart {host}): {plan_line(host, steps, True, opts)}")
        lines.append(
            f"  after step {aid}: maintenance mode of {host} must read off (the vendor's "
            "rule: a restart turns it off)"
        )
    return lines

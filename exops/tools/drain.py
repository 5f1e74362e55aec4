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
import socket
import threading
import time
import uuid
from collections.abc import Callable
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
from exops.core.errors import ExopsError, TimeoutError_, UsageError
from exops.core.exitcodes import ExitCode
from exops.run.env import Env
from exops.state import open_state
from exops.state.base import NewRun, current_user

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


@dataclass
class _Action:
    id: str
    step: str
    kind: str
    host: str | None


@dataclass
class _Step:
    action: _Action
    status: str
    started: datetime
    duration_s: float
    detail: str
    error: str | None = None
    advice: str | None = None


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
    spec = env.inventory.cluster(cluster)
    target_spec = spec.peer(peer)
    steps = instruction(peer, web_url(target_spec.hostname, target_spec.port))
    store = None if opts.dry_run else open_state(env.settings)
    try:
        wait = opts.lock_timeout if opts.lock_timeout is not None else env.settings.lock_timeout
        lock = store.lock(cluster, runbook=RUNBOOK, timeout_s=wait) if store else None
        with lock if lock is not None else _nothing(), env.session([cluster]) as session:
            reads = read_peers(session, env, cluster)
            target = reads[peer]
            others = [r for h, r in reads.items() if h != peer]
            result = DrainResult(
                cluster, peer, "planned", 0, "", instruction=steps, seen=target, others=others
            )
            result.verified = target.mode.on is not None
            refused = _refusal(cluster, peer, target, reads, opts)
            if refused:
                return _done(result, "refused", ExitCode.REFUSED, refused)
            done, seen = _drained(target, opts)
            if done:
                return _done(result, "nothing_to_change", ExitCode.OK, f"{peer} is drained: {seen}")
            result.manual_step = target.mode.on is not True
            if opts.dry_run:
                return _done(result, "planned", ExitCode.OK, _plan_text(result, opts))
            if result.manual_step and opts.unattended and ACCEPT_MANUAL not in opts.accept:
                return _done(
                    result,
                    "refused",
                    ExitCode.REFUSED,
                    f"draining {peer} needs a manual step, and this run is unattended (--yes or "
                    f"no terminal): {steps}; then run again, or pass --accept {ACCEPT_MANUAL} to "
                    "let this run wait for it",
                )
            if store is None:  # the manual branch opened it above
                raise ExopsError("drain: the state store was not opened")
            return _wait(store, session, env, result, opts, say, reporter, cancel)
    finally:
        if store is not None:
            store.close()


class _nothing:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> None:
        return None


def _done(result: DrainResult, status: str, code: int, message: str) -> DrainResult:
    result.status, result.exit_code, result.message = status, int(code), message
    return result


def _plan_text(result: DrainResult, opts: DrainOptions) -> str:
    first = (
        f"manual step: {result.instruction}"
        if result.manual_step
        else f"{result.peer} is in maintenance mode already"
    )
    return (
        f"{first}; then wait until {result.peer} reads as in maintenance with at most "
        f"{opts.max_calls} calls and {opts.max_registrations} registrations "
        f"(timeout {opts.timeout_s:g} s)"
    )


def _wait(
    store: Any,
    session: Any,
    env: Env,
    result: DrainResult,
    opts: DrainOptions,
    say: Callable[[str], None],
    reporter: Reporter | None,
    cancel: threading.Event | None,
) -> DrainResult:
    cluster, peer = result.cluster, result.peer
    address = env.inventory.cluster(cluster).peer(peer).address
    run_id = uuid.uuid4().hex[:12]
    result.run_id = run_id
    journal = store.journal
    jid = journal.start_run(
        NewRun(
            run_id=run_id,
            cluster=cluster,
            runbook=RUNBOOK,
            params={
                "peer": peer,
                "max_calls": opts.max_calls,
                "max_registrations": opts.max_registrations,
                "timeout_s": opts.timeout_s,
                "accept": sorted(opts.accept),
            },
            plan={"peer": peer, "instruction": result.instruction, "forms": _forms()},
            user=current_user(),
            host=socket.gethostname(),
        )
    )
    started = datetime.now(UTC)
    if result.manual_step:
        say(f"manual step: {result.instruction}")
    say(
        f"waiting until {peer} reads as in maintenance with at most {opts.max_calls} calls and "
        f"{opts.max_registrations} registrations (timeout {opts.timeout_s:g} s)"
    )
    last: list[PeerRead] = [result.seen] if result.seen else []

    def check() -> tuple[bool, str]:
        store.check_lock(cluster)
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
        _journal(journal, jid, result, started, "failed", str(exc))
        journal.finish_run(jid, "failed", int(ExitCode.FAILED))
        return _done(result, "failed", ExitCode.FAILED, str(exc))
    except KeyboardInterrupt:
        result.waited_s = time.monotonic() - mono
        _journal(journal, jid, result, started, "interrupted", "interrupted")
        journal.finish_run(jid, "interrupted", int(ExitCode.INTERRUPTED))
        raise
    except BaseException:
        journal.finish_run(jid, "failed", int(ExitCode.FAILED))
        raise
    result.seen = last[0] if last else result.seen
    result.verified = bool(result.seen and result.seen.mode.on is True)
    _journal(journal, jid, result, started, "ok", None)
    journal.finish_run(jid, "ok", 0)
    note = "" if result.verified else " (maintenance mode NOT verified: it cannot be read)"
    seen = result.seen.describe() if result.seen else "?"
    return _done(
        result, "ok", ExitCode.OK, f"{peer} drained in {result.waited_s:.0f} s: {seen}{note}"
    )


def _journal(
    journal: Any, jid: int, result: DrainResult, started: datetime, status: str, error: str | None
) -> None:
    peer = result.peer
    seen = result.seen.describe() if result.seen else ""
    if result.manual_step:
        manual_ok = bool(result.seen and result.seen.mode.on is True)
        journal.record_step(
            jid,
            _Step(
                _Action("m1", f"manual: maintenance mode On on {peer}", "manual", peer),
                "ok" if manual_ok else ("skipped" if status == "ok" else status),
                started,
                result.waited_s,
                result.instruction if manual_ok else f"not seen: {seen}",
            ),
        )
    journal.record_step(
        jid,
        _Step(
            _Action("w1", f"wait until {peer} is drained", "wait", peer),
            status,
            started,
            result.waited_s,
            seen,
            error,
        ),
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
    """Read ``peer``'s maintenance mode after its restart (the vendor's rule: a restart
    turns it off). Polls, bounded, while the peer does not answer or still reads on;
    a mode that cannot be read at all is reported unknown at once."""
    address = env.inventory.cluster(cluster).peer(peer).address
    last: list[PeerRead] = []
    with env.session([cluster]) as session:

        def check() -> tuple[bool, str]:
            seen = _read(session, peer, address)
            last[:] = [seen]
            return seen.reachable and seen.mode.on is not True, seen.describe()

        with contextlib.suppress(TimeoutError_):  # judged from the last read below
            Waiter(max_poll=env.settings.max_poll_interval).until(
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

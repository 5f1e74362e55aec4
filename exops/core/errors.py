"""The exception tree of exops.

Library exceptions (httpx, paramiko, yaml, pydantic) are translated at the
boundary into one of these, raised ``from`` the original, carrying the host and
the operation so the CLI can print one clear line. Messages never hold secrets.
"""

from __future__ import annotations

from exops.core.exitcodes import ExitCode


class ExopsError(Exception):
    """Base of every error exops reports to the operator (``exit_code``: the process's)."""

    exit_code: ExitCode = ExitCode.FAILED

    def __init__(self, message: str, *, host: str | None = None, operation: str | None = None):
        super().__init__(message)
        self.message = message
        self.host = host
        self.operation = operation

    def __str__(self) -> str:
        where = " ".join(p for p in (self.host, self.operation) if p)
        return f"{where}: {self.message}" if where else self.message


class UsageError(ExopsError):
    """Bad flags, unknown cluster or peer, bad parameter values."""

    exit_code = ExitCode.USAGE


class InventoryError(UsageError):
    """The inventory is malformed; the message names file and key."""


class RunbookFileError(UsageError):
    """A runbook file is malformed; the message names file:line."""


class TransportError(ExopsError):
    """The appliance could not be reached or did not answer in time."""


class AuthError(TransportError):
    """Credentials were refused."""


class TlsError(TransportError):
    """The HTTPS certificate or SSH host key could not be verified."""


class TimeoutError_(TransportError, TimeoutError):
    """An operation or a wait ran out of time (also a builtin ``TimeoutError``)."""


class ApplianceError(ExopsError):
    """The appliance answered, but with an error or a garbled answer.

    ``status_code`` is the HTTP status of an error answer (None otherwise).
    """

    def __init__(
        self,
        message: str,
        *,
        host: str | None = None,
        operation: str | None = None,
        status_code: int | None = None,
    ):
        super().__init__(message, host=host, operation=operation)
        self.status_code = status_code


class DuplicateSlotsError(ApplianceError):
    """A peer's list names one address in two slots (safety rule R6: unreadable).

    ``slots`` are the six slot values as the appliance answered them: what a run
    killed in the middle of moving a peer to another slot leaves (the new slot
    written, the old not yet cleared), so the next run can tell whether it is a
    state exops's own journalled write sequence created (``exops.run.repair``).
    """

    def __init__(self, message: str, *, slots: tuple[str, ...]):
        super().__init__(message)
        self.slots = slots


class PreconditionError(ExopsError):
    """A preflight check or a safety rule refused the run."""

    exit_code = ExitCode.REFUSED


class LockedError(ExopsError):
    """Another run holds the cluster lock."""

    exit_code = ExitCode.LOCKED


class StalePlanError(ExopsError):
    """A saved plan no longer matches the cluster it was computed from."""

    exit_code = ExitCode.REFUSED


class DivergenceError(ExopsError):
    """During apply, the appliance differs from what the plan predicted."""


"""Process exit codes of the exops command line (documented in the README)."""

from enum import IntEnum


class ExitCode(IntEnum):
    OK = 0
    """Success, or nothing to change."""
    FAILED = 1
    """A run failed (a step, a peer, a wait), or status found a degraded/broken cluster."""
    USAGE = 2
    """Bad input: flags, inventory, runbook file, unknown cluster or peer."""
    REFUSED = 3
    """A preflight check or safety rule refused the run; or a saved plan is stale."""
    LOCKED = 4
    """Another run holds the cluster lock."""
    CHANGES_PENDING = 5
    """With --detailed-exitcode: the plan has changes."""
    PARTIAL = 6
    """Done where possible, but a member was unreachable and skipped: re-run when it answers."""
    INTERRUPTED = 130

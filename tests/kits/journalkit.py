"""A run as the journal tests record it: one shape for both state backends' tests."""

from __future__ import annotations

from exops.state.base import NewRun

PASSWORD = "Hunter2-s3cret"  # must never reach the journal


def sample_run(run_id: str, cluster: str = "c1", runbook: str = "add-peer") -> NewRun:
    """A run whose params and plan carry a password (the journal must redact it)."""
    return NewRun(
        run_id=run_id,
        cluster=cluster,
        runbook=runbook,
        params={"peer": "exp3", "password": PASSWORD},
        plan={"runbook": runbook, "actions": [{"id": "1", "admin_password": PASSWORD}]},
        user="alice",
        host="jump1",
    )

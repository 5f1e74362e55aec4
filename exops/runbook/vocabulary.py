"""The names a runbook file may use, as the loader validates them.

The registries that give these names meaning live in later stages (the checks
in ``exops.plan.preflight.CHECKS``, the conditions in ``exops.apply.verify
.CONDITIONS``); the runbook language sits below both, so it keeps the names
only. ``tests/unit/runbook/test_vocabulary.py`` pins each tuple to its registry.
"""

from __future__ import annotations

CHECK_NAMES: tuple[str, ...] = (
    "reachable",
    "size",
    "role",
    "version",
    "platform",
    "h323",
    "option_keys",
    "base_network",
    "e_nic",
    "tls_names",
    "latency",
    "cluster_health",
    "factory_reset",
    "fqdn_resolves",
    "no_nat",
)

CONDITION_NAMES: tuple[str, ...] = (
    "cluster_healthy",
    "peer_healthy",
    "replicated",
    "primary_agreed",
    "in_sync",
    "reachable",
    "joined",
)

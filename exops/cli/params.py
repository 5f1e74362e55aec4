"""``--param NAME=VALUE`` pairs (``exops run``/``plan``)."""

from __future__ import annotations

from typing import Any

from exops.core.errors import UsageError


def parse_params(pairs: list[str]) -> dict[str, Any]:
    """``NAME=VALUE`` pairs from ``--param``; values stay strings (the runbook types them).

    Raises:
        UsageError: a pair has no ``=`` or an empty name.
    """
    params: dict[str, Any] = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name.strip():
            raise UsageError(f"--param {pair!r}: expected NAME=VALUE")
        params[name.strip()] = value
    return params

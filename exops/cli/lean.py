"""What the exops command's own process skips at start-up (never ``import exops``)."""

from __future__ import annotations

import sys
import types


def skip_httpx_cli() -> None:
    """httpx's package imports its command-line client (``httpx._main``: click, rich's
    progress and syntax, pygments' lexers) whenever those are installed, as they are
    beside typer: 60-200 ms of every start-up that reads over HTTPS. exops never runs
    that client: a placeholder module makes httpx's import of it fail, and httpx
    keeps its fallback ``main`` (its own ``except ImportError``). Called by the exops
    command only, before any command runs; a program that imports exops gets httpx
    as installed."""
    if "httpx" not in sys.modules:
        sys.modules.setdefault("httpx._main", types.ModuleType("httpx._main"))

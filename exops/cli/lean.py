"""What the exops command's own process skips at start-up (never ``import exops``)."""

from __future__ import annotations

import sys
import types


def skip_unused_imports() -> None:
    """Two libraries import optional packages that exops never uses, at every start-up
    of a command that reads (called by the exops command only, before any command
    runs; a program that imports exops gets both libraries as installed):

    - httpx's package imports its command-line client (``httpx._main``: click, rich's
      progress and syntax, pygments' lexers) whenever those are installed, as they are
      beside typer: 60-200 ms. A placeholder module makes httpx's import of it fail,
      and httpx keeps its fallback ``main`` (its own ``except ImportError``).
    - paramiko's ``config`` imports ``invoke`` (and with it ``unittest.mock`` and
      asyncio) when installed, as the bench extra's ansible-core brings it: 30-45 ms
      of every SSH read. paramiko uses it only for ``Match exec`` in an OpenSSH
      config file (``paramiko.SSHConfig``), which exops never reads: paramiko logs in
      with exops's own settings. ``None`` in ``sys.modules`` makes its import fail,
      and paramiko keeps the error to raise only if such a ``Match`` is evaluated.
    """
    if "httpx" not in sys.modules:
        sys.modules.setdefault("httpx._main", types.ModuleType("httpx._main"))
    if "paramiko" not in sys.modules:
        sys.modules.setdefault("invoke", None)  # type: ignore[arg-type]


# The name exops.cli.app calls (it skipped only httpx's client at first).
skip_httpx_cli = skip_unused_imports

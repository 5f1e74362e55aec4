"""What the exops command's own process skips at start-up (never ``import exops``)."""

from __future__ import annotations

import sys
import types
from typing import Any


def skip_unused_imports() -> None:
    """Three libraries import optional packages that exops never uses, at every start-up
    of a command that reads (called by the exops command only, before any command
    runs; a program that imports exops gets these libraries as installed):

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
    - httpcore imports ``anyio`` (and tries ``trio``) for its async connection pool's
      locks: ~10 ms of every HTTPS start-up. exops's HTTPS is httpx's sync client
      only, which never uses them; ``None`` in ``sys.modules`` makes httpcore keep its
      own ``except ImportError`` fallback (its async pool would then need trio).
    """
    if "httpx" not in sys.modules:
        sys.modules.setdefault("httpx._main", types.ModuleType("httpx._main"))
    if "httpcore" not in sys.modules:
        sys.modules.setdefault("anyio", None)  # type: ignore[arg-type]
    if "paramiko" not in sys.modules:
        sys.modules.setdefault("invoke", None)  # type: ignore[arg-type]


_UNSET = object()
# The typer series whose internals ``defer_param_coercion`` was tested against
# (tests/unit/cli/test_lean_commands.py compares every command with and without it).
TESTED_TYPER = "0.29."


def unchanged(annotation: Any, info: Any, value: Any) -> Any:
    """``value`` itself where typer's pydantic coercion of it is the identity: a ``str``,
    ``int`` or ``float`` parameter (no parser) given a value of exactly that type (a
    number within the parameter's bounds), a ``list[str]`` given strings (a new list
    of the same strings); ``_UNSET`` for anything else (typer coerces it as before)."""
    if getattr(info, "parser", None) is not None or getattr(info, "click_type", None):
        return _UNSET
    if annotation is str and type(value) is str:
        return value
    if annotation in (int, float) and type(value) is annotation:
        low, high = info.min, info.max
        if (low is None or value >= low) and (high is None or value <= high):
            return value  # within its bounds (NaN never is): unchanged, clamped or not
        return _UNSET
    strings = type(value) in (list, tuple) and all(type(item) is str for item in value)
    if annotation == list[str] and strings:
        return list(value)
    return _UNSET


def defer_param_coercion() -> None:
    """typer builds a pydantic ``TypeAdapter`` for each option of the command being
    run, given or not: 8-30 of them (with pydantic's schema machinery and typer's
    adapter module), most for a default ``None`` that typer then returns without
    using it. Called by the exops command only, before any command runs: the adapter
    is built when a value needs it, and a value its coercion leaves as it is
    (``unchanged``) is taken as it is. What a command receives, and every error
    message for a bad value, stay typer's own. It leans on typer's internals, so it
    is used only with the typer series it was tested against (``TESTED_TYPER``);
    with any other typer nothing changes (only start-up is slower)."""
    import typer

    if not typer.__version__.startswith(TESTED_TYPER):
        return
    try:
        from typer import core
        from typer._coercion import RuntimeParam, TypeDescriptor, build_runtime_param
    except ImportError:
        return
    if getattr(core, "build_runtime_param", None) is not build_runtime_param:
        return  # not typer's own (already deferred, or another typer)

    class Deferred(RuntimeParam):
        """typer's coercion of one parameter, built on its first value that needs it."""

        def _coerce_value(self, value: Any, param: Any, ctx: Any) -> Any:
            same = unchanged(self.annotation, self.parameter_info, value)
            if same is not _UNSET:
                return same
            real = self.__dict__.get("_real")
            if real is None:
                real = build_runtime_param(
                    TypeDescriptor(self.annotation, self.parameter_info, None)
                )
                object.__setattr__(self, "_real", real)
            return real._coerce_value(value, param=param, ctx=ctx)

    def deferred(descriptor: TypeDescriptor) -> RuntimeParam:
        if descriptor.file_annotation is not None:
            return build_runtime_param(descriptor)
        return Deferred(parameter_info=descriptor.parameter_info, annotation=descriptor.annotation)

    core.build_runtime_param = deferred  # type: ignore[attr-defined]


# The name exops.cli.app calls (it skipped only httpx's client at first).
skip_httpx_cli = skip_unused_imports

"""``exops config``: the effective settings and where each value came from."""

from __future__ import annotations

import json
import sys
from typing import Any

from rich.table import Table

from exops.cli.display import console
from exops.core.exitcodes import ExitCode
from exops.core.settings import SETTINGS, resolve


def sources(environ: dict[str, str] | None = None) -> dict[str, tuple[Any, str]]:
    """Each setting's value and its source (``exops.core.settings.resolve``):
    ``environment (VAR)``, ``file (PATH)`` or ``default`` (no flag applies to
    ``exops config`` itself)."""
    return {name: (r.value, r.source) for name, r in resolve(environ=environ).items()}


def show(*, json_out: bool) -> int:
    table = sources()
    if json_out:
        doc = {
            "schema": "exops.config/1",
            "settings": {k: {"value": v, "source": s} for k, (v, s) in table.items()},
        }
        sys.stdout.write(json.dumps(doc, indent=2, default=str) + "\n")
        return int(ExitCode.OK)
    t = Table(title="exops settings (flag > environment > file > default)", title_justify="left")
    for col in ("setting", "value", "source", "variable"):
        t.add_column(col)
    for name, (value, where) in table.items():
        t.add_row(name, "" if value is None else str(value), where, SETTINGS[name].envvar)
    console().print(t)
    return int(ExitCode.OK)

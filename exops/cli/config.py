"""``exops config``: the effective settings and where each value came from."""

from __future__ import annotations

import json
import os
import sys
from dataclasses import asdict
from pathlib import Path
from typing import Any

from rich.table import Table

from exops.cli.display import console
from exops.core.exitcodes import ExitCode
from exops.core.settings import SETTINGS, load_settings, read_settings_file


def sources(environ: dict[str, str] | None = None) -> dict[str, tuple[Any, str]]:
    """Each setting's value and its source: ``environment (VAR)``, ``file (PATH)``,
    or ``default`` (no flag applies to ``exops config`` itself)."""
    env = dict(os.environ if environ is None else environ)
    settings = load_settings(environ=env)
    path = Path(env.get("EXOPS_CONFIG") or Path.home() / ".config" / "exops" / "config.yaml")
    in_file = set(read_settings_file(path))
    out: dict[str, tuple[Any, str]] = {}
    values = asdict(settings)
    for name, setting in SETTINGS.items():
        if env.get(setting.envvar) not in (None, ""):
            where = f"environment ({setting.envvar})"
        elif name in in_file:
            where = f"file ({path})"
        else:
            where = "default"
        out[name] = (values.get(name), where)
    return out


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

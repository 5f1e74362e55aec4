"""The shipped runbooks' names, descriptions and parameters, read fast for the CLI.

Only what the command line needs (no schema validation, no Jinja): building
``exops --help`` must stay instant. ``loader.load_runbook`` still validates a
runbook fully before it runs. Both read the YAML with the one reader of exops
(``exops.core.yamldoc``: YAML 1.2 booleans, duplicate keys refused), so what
``--help`` shows is what a run reads.
"""

from __future__ import annotations

import importlib.resources
from dataclasses import dataclass
from functools import cache
from typing import Any, Literal

from exops.core import yamldoc
from exops.core.errors import RunbookFileError

ParamType = Literal["str", "bool", "int", "peer", "mapping", "time", "choice"]


@dataclass(frozen=True)
class ParamSpec:
    """One runbook parameter; its runbook command gets an option from it.

    ``flag`` overrides the option's spelling (``--enable/--disable`` for a bool,
    ``--map`` for a mapping given as repeated ``FQDN=IP``); ``hidden`` keeps a
    parameter off the command line (``since`` is set by ``--resume``). The one
    definition: ``schema.Runbook`` validates the file's ``params`` against it.
    """

    __pydantic_config__ = {"extra": "forbid"}  # read by pydantic (schema.py) only

    type: ParamType = "str"
    required: bool = False
    default: Any = None
    choices: tuple[str, ...] = ()
    help: str = ""
    flag: str | None = None
    hidden: bool = False


@dataclass(frozen=True)
class ParamMeta(ParamSpec):
    """A parameter with its name, as the command line builder reads it."""

    name: str = ""


@dataclass(frozen=True)
class RunbookMeta:
    name: str
    description: str
    params: tuple[ParamMeta, ...]
    preflight: tuple[str, ...] = ()  # its checks (a runbook with checks takes --accept)

    @property
    def resumable(self) -> bool:
        """A runbook with a ``since`` time parameter supports ``--resume``."""
        return any(p.name == "since" and p.type == "time" for p in self.params)


def meta_from(data: dict[str, Any], name: str) -> RunbookMeta:
    params = []
    for pname, raw in (data.get("params") or {}).items():
        spec = raw if isinstance(raw, dict) else {}
        params.append(
            ParamMeta(
                name=str(pname),
                type=spec.get("type", "str"),
                required=bool(spec.get("required", False)),
                default=spec.get("default"),
                choices=tuple(str(c) for c in spec.get("choices") or ()),
                help=str(spec.get("help", "")),
                flag=spec.get("flag"),
                hidden=bool(spec.get("hidden", False)),
            )
        )
    checks = data.get("preflight")
    preflight = tuple(str(c) for c in checks) if isinstance(checks, list) else ()
    return RunbookMeta(
        name, str(data.get("description", "")).strip(), tuple(params), preflight=preflight
    )


def meta_of_text(text: str, name: str) -> RunbookMeta:
    """A runbook file's command-line metadata, read as ``loader`` reads the file."""
    data = yamldoc.parse(text, f"runbooks/{name}.yaml", error=RunbookFileError).data
    return meta_from(data if isinstance(data, dict) else {}, name)


@cache
def shipped() -> dict[str, RunbookMeta]:
    """Every runbook shipped with exops, by name."""
    root = importlib.resources.files("exops.runbooks")
    out = {}
    for entry in sorted(root.iterdir(), key=lambda e: e.name):
        if entry.name.endswith(".yaml"):
            name = entry.name[:-5]
            out[name] = meta_of_text(entry.read_text(encoding="utf-8"), name)
    return out

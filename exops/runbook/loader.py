"""Load a runbook (a shipped name or a file) and refuse a malformed one with file:line.

Everything that can be checked without facts is checked here, before any
appliance is contacted: YAML syntax, the schema, every Jinja2 expression's
syntax, and the names of checks, conditions and commands.
"""

from __future__ import annotations

import importlib.resources
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from jinja2 import TemplateSyntaxError
from pydantic import ValidationError

from exops.core import yamldoc
from exops.core.errors import RunbookFileError, UsageError
from exops.core.files import read_capped
from exops.runbook.expr import ENV, BoundsError, check_template, is_template
from exops.runbook.schema import TARGET_KEYWORDS, Runbook, Step
from exops.runbook.vocabulary import CHECK_NAMES, CONDITION_NAMES

Loc = tuple[str | int, ...]

# Bounded input: a runbook is a few KiB of YAML. Anything past these limits is
# refused with one line before it is parsed further (alias bombs, deep nesting,
# /dev/zero, a FIFO, a binary file). The YAML rules (1.2 booleans, duplicate keys
# refused with both lines, alias and depth bounds) are exops.core.yamldoc's, the
# same for the catalog behind --help, the inventory and the settings file.
MAX_RUNBOOK_BYTES = 256 * 1024
MAX_ALIASES = yamldoc.MAX_ALIASES
MAX_DEPTH = yamldoc.MAX_DEPTH


def bundled() -> list[str]:
    """Names of the runbooks shipped with exops."""
    root = importlib.resources.files("exops.runbooks")
    return sorted(p.name[:-5] for p in root.iterdir() if p.name.endswith(".yaml"))


def load_runbook(ref: str) -> Runbook:
    """A runbook by shipped name (``add-peer``) or by path (``./mine.yaml``).

    Raises:
        UsageError: unknown name or unreadable file.
        RunbookFileError: the file is malformed (message starts with file:line).
    """
    path = Path(ref)
    if path.suffix in (".yaml", ".yml") or path.exists() or "/" in ref:
        return parse_runbook(read_bounded(path), str(path))
    return load_shipped(ref)


def load_shipped(ref: str) -> Runbook:
    """A runbook shipped with exops, by name only (never a file of that name).

    Raises:
        UsageError: no shipped runbook has that name.
    """
    resource = importlib.resources.files("exops.runbooks") / f"{ref}.yaml"
    if "/" in ref or not resource.is_file():
        raise UsageError(f"unknown runbook {ref!r}; shipped: {', '.join(bundled())}")
    return parse_runbook(resource.read_text(encoding="utf-8"), f"runbooks/{ref}.yaml")


def read_bounded(path: Path, limit: int = MAX_RUNBOOK_BYTES) -> str:
    """A runbook file's text: a regular file, at most ``limit`` bytes read, strict UTF-8.

    Raises:
        UsageError: unreadable or not a regular file (a FIFO would block forever);
            RunbookFileError: larger than the limit, or not UTF-8 (one line).
    """
    raw = read_capped(path, limit, "runbook file", RunbookFileError)
    return yamldoc.decode(raw, str(path), RunbookFileError)


def parse_runbook(text: str, source: str) -> Runbook:
    if len(text.encode("utf-8", "surrogatepass")) > MAX_RUNBOOK_BYTES:
        raise RunbookFileError(f"{source}: runbook larger than {MAX_RUNBOOK_BYTES // 1024} KiB")
    doc = yamldoc.parse(text, source, error=RunbookFileError)
    data = doc.data
    lines = yamldoc.line_table(doc.node)
    if not isinstance(data, dict):
        raise RunbookFileError(f"{source}:1: a runbook is a mapping with name and steps")
    try:
        runbook = Runbook.model_validate({**data, "source": source})
    except ValidationError as exc:
        err = exc.errors()[0]
        loc = tuple(err["loc"])
        where = ".".join(str(p) for p in loc if p not in ("function-after[_one_kind()]",))
        msg = err["msg"].removeprefix("Value error, ")
        raise RunbookFileError(
            f"{source}:{_line_for(lines, loc)}: {where or 'runbook'}: {msg}"
        ) from exc
    _check_names_and_expressions(runbook, data, lines, source)
    return runbook


def _line_for(lines: dict[Loc, int], loc: Loc) -> int:
    clean = tuple(p for p in loc if not (isinstance(p, str) and p.startswith("function-")))
    while clean:
        if clean in lines:
            return lines[clean]
        clean = clean[:-1]
    return 1


def _check_names_and_expressions(
    runbook: Runbook, data: dict[str, Any], lines: dict[Loc, int], source: str
) -> None:
    def fail(loc: Loc, message: str) -> None:
        raise RunbookFileError(f"{source}:{_line_for(lines, loc)}: {message}")

    for i, name in enumerate(runbook.preflight):
        if name not in CHECK_NAMES:
            fail(("preflight", i), f"unknown check {name!r} (known: {', '.join(CHECK_NAMES)})")
    for loc, step in _walk_steps(runbook.steps, ("steps",)):
        for spec_name in ("wait", "verify"):
            spec = getattr(step, spec_name)
            if spec is not None and spec.condition not in CONDITION_NAMES:
                fail(
                    (*loc, spec_name, "condition"),
                    f"unknown condition {spec.condition!r} (known: {', '.join(CONDITION_NAMES)})",
                )
        if step.restart and step.restart.gate and step.restart.gate not in CONDITION_NAMES:
            fail((*loc, "restart", "gate"), f"unknown condition {step.restart.gate!r}")
    _check_expressions(data, fail)


EXPRESSION_KEYS = (
    "when",
    "foreach",
    "on",
    "preflight_new_peer",
    "preflight_leaving_peer",
    "unless_booted_after",
)


def _check_expressions(data: dict[str, Any], fail: Callable[[Loc, str], None]) -> None:
    """Parse every expression and template (syntax only; values need facts)."""
    for loc, text in _strings(data, ()):
        bare = bool(loc) and loc[-1] in EXPRESSION_KEYS
        if (bare and loc[-1] == "on" and text in TARGET_KEYWORDS) or not (
            bare or is_template(text)
        ):
            continue
        try:
            check_template(ENV.parse(text if is_template(text) else "{{ " + text + " }}"))
        except TemplateSyntaxError as exc:
            fail(loc, f"{'.'.join(map(str, loc))}: expression error: {exc.message}")
        except BoundsError as exc:
            fail(loc, f"{'.'.join(map(str, loc))}: {exc}")


def _walk_steps(steps: tuple[Step, ...], loc: Loc) -> Iterator[tuple[Loc, Step]]:
    for i, step in enumerate(steps):
        yield (*loc, i), step
        if step.steps:
            yield from _walk_steps(step.steps, (*loc, i, "steps"))


def _strings(data: Any, loc: Loc) -> Iterator[tuple[Loc, str]]:
    if isinstance(data, str):
        yield loc, data
    elif isinstance(data, dict):
        for k, v in data.items():
            yield from _strings(v, (*loc, k))
    elif isinstance(data, list):
        for i, v in enumerate(data):
            yield from _strings(v, (*loc, i))

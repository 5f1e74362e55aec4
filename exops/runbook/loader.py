"""Load a runbook (a shipped name or a file) and refuse a malformed one with file:line.

Everything that can be checked without facts is checked here, before any
appliance is contacted: YAML syntax, the schema, every Jinja2 expression's
syntax, and the names of checks, conditions and commands.
"""

from __future__ import annotations

import importlib.resources
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import yaml
from jinja2 import TemplateSyntaxError
from pydantic import ValidationError

from exops.core.errors import RunbookFileError, UsageError, read_capped
from exops.runbook.expr import ENV, BoundsError, check_template, is_template
from exops.runbook.schema import TARGET_KEYWORDS, Runbook, Step
from exops.runbook.vocabulary import CHECK_NAMES, CONDITION_NAMES

Loc = tuple[str | int, ...]

# Bounded input: a runbook is a few KiB of YAML. Anything past these limits is
# refused with one line before it is parsed further (alias bombs, deep nesting,
# /dev/zero, a binary file).
MAX_RUNBOOK_BYTES = 256 * 1024
MAX_ALIASES = 16
MAX_DEPTH = 24


class _Yaml12Loader(yaml.SafeLoader):
    """Safe YAML where only true/false are booleans (YAML 1.2): ``on:`` stays a key,
    and a key given twice in one mapping is an error (a copy-paste never silently
    drops the first ``configure:``)."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: set[Any] = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    None, None, f"duplicate key {key!r}", key_node.start_mark
                )
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


_Yaml12Loader.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers if tag != "tag:yaml.org,2002:bool"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_Yaml12Loader.add_implicit_resolver(
    "tag:yaml.org,2002:bool",
    re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"),
    list("tTfF"),
)


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
    """A runbook file's text: at most ``limit`` bytes read, strict UTF-8.

    Raises:
        UsageError: unreadable, larger than the limit, or not UTF-8 (one line).
    """
    raw = read_capped(path, limit, "runbook file", RunbookFileError)
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise RunbookFileError(
            f"{path}:{line}: not valid UTF-8 (byte {exc.start}: {raw[exc.start : exc.start + 1]!r})"
        ) from exc


def _check_bounds(text: str, source: str) -> None:
    """Refuse alias bombs and deep nesting before the document is built."""
    if len(text.encode("utf-8", "surrogatepass")) > MAX_RUNBOOK_BYTES:
        raise RunbookFileError(f"{source}: runbook larger than {MAX_RUNBOOK_BYTES // 1024} KiB")
    aliases = depth = 0
    try:
        for event in yaml.parse(text, Loader=_Yaml12Loader):
            aliases += isinstance(event, yaml.AliasEvent)
            depth += isinstance(event, yaml.CollectionStartEvent)
            depth -= isinstance(event, yaml.CollectionEndEvent)
            if aliases > MAX_ALIASES:
                why = f"more than {MAX_ALIASES} YAML aliases; refused (alias expansion)"
            elif depth > MAX_DEPTH:
                why = f"nested deeper than {MAX_DEPTH} levels; refused"
            else:
                continue
            raise RunbookFileError(f"{source}:{_line_of(event)}: {why}")
    except yaml.YAMLError:
        return  # reported with its line by the full parse below


def _line_of(event: yaml.Event) -> int:
    mark = event.start_mark
    return mark.line + 1 if mark is not None else 1


def parse_runbook(text: str, source: str) -> Runbook:
    _check_bounds(text, source)
    try:
        node = yaml.compose(text, Loader=_Yaml12Loader)
        data = yaml.load(text, Loader=_Yaml12Loader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else 1
        if line > max(len(text.splitlines()), 1):  # '<stream end>': point at the opening
            context = getattr(exc, "context_mark", None)
            line = context.line + 1 if context is not None else len(text.splitlines())
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise RunbookFileError(f"{source}:{line}: YAML: {problem}") from exc
    lines = _line_table(node) if node is not None else {}
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


def _line_table(node: yaml.Node) -> dict[Loc, int]:
    """Map every path (keys and list indices) in the document to its 1-based line."""
    table: dict[Loc, int] = {}

    def walk(n: yaml.Node, loc: Loc) -> None:
        table[loc] = n.start_mark.line + 1
        if isinstance(n, yaml.MappingNode):
            for k, v in n.value:
                key = k.value
                table[(*loc, key)] = k.start_mark.line + 1
                walk(v, (*loc, key))
                table[(*loc, key)] = k.start_mark.line + 1
        elif isinstance(n, yaml.SequenceNode):
            for i, v in enumerate(n.value):
                walk(v, (*loc, i))

    walk(node, ())
    return table


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

"""The one YAML reader of exops: runbook files, the shipped runbook catalog
(``exops --help``), the inventory (hosts.yaml, groups.yaml) and the settings file.

One set of rules for every YAML input, so that what ``--help`` shows is what a
run reads and an inventory key means what a runbook key means:

- YAML 1.2 booleans: only ``true``/``false`` (any case) are booleans; ``on``,
  ``yes``, ``off`` stay text (``on:`` is a runbook's target key);
- a key given twice in one mapping is refused, naming both lines (a copy-paste
  never silently replaces the first host or the first ``configure:``);
- at most ``MAX_ALIASES`` aliases and ``MAX_DEPTH`` levels of nesting, checked on
  the event stream before the document is built (alias bombs, deep nesting);
- errors are one line ``SOURCE:LINE: not valid YAML: problem`` of the caller's
  exception class (exit 2).

libyaml parses when PyYAML has it (about 40x faster on a 300-host inventory);
the resolver and the constructor are the same Python classes either way.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from exops.core.errors import ExopsError, UsageError
from exops.core.files import read_capped

MAX_ALIASES = 16
MAX_DEPTH = 24

_BASE: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class DuplicateKeyError(yaml.constructor.ConstructorError):
    """A key given twice in one mapping; ``first`` is the line of its first use."""

    def __init__(self, key: Any, first: int, mark: yaml.Mark):
        super().__init__(
            None, None, f"duplicate key {key!r} (first at line {first})", problem_mark=mark
        )
        self.first = first


class _Rules:
    """Duplicate keys refused, naming both lines (mixed into both loaders)."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: dict[Any, int] = {}
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)  # type: ignore[attr-defined]
            try:
                first = seen.get(key)
            except TypeError:  # an unhashable key: the base class says so
                break
            if first is not None:
                raise DuplicateKeyError(key, first, key_node.start_mark)
            seen[key] = key_node.start_mark.line + 1
        return super().construct_mapping(node, deep=deep)  # type: ignore[misc,no-any-return]


class Loader(_Rules, _BASE):  # type: ignore[misc]
    """Safe YAML with YAML 1.2 booleans and duplicate keys refused (libyaml when there)."""


class _PyLoader(_Rules, yaml.SafeLoader):
    """The same rules in pure Python: its messages name the offending character."""


_RESOLVERS = {
    first: [(tag, rx) for tag, rx in resolvers if tag != "tag:yaml.org,2002:bool"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
for _cls in (Loader, _PyLoader):
    _cls.yaml_implicit_resolvers = {k: list(v) for k, v in _RESOLVERS.items()}
    _cls.add_implicit_resolver(
        "tag:yaml.org,2002:bool",
        re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"),
        list("tTfF"),
    )


@dataclass(frozen=True)
class Document:
    """A parsed YAML document: its data and its node tree (lines of every key)."""

    data: Any
    node: yaml.Node | None
    source: str


def parse(
    text: str,
    source: str,
    *,
    error: type[ExopsError] = UsageError,
    max_aliases: int = MAX_ALIASES,
) -> Document:
    """Parse ``text`` (named ``source`` in errors) by the rules above.

    Raises:
        ``error``: one line ``source:line: not valid YAML: ...`` (or the bound refused).
    """
    _check_bounds(text, source, error, max_aliases)
    try:
        node, data = _load(Loader, text)
    except yaml.YAMLError:
        try:  # again in pure Python, for its clearer message (libyaml: "found character")
            node, data = _load(_PyLoader, text)
        except yaml.YAMLError as exc:
            raise error(f"{source}:{_line(exc, text)}: not valid YAML: {_problem(exc)}") from exc
    return Document(data, node, source)


def _load(cls: Any, text: str) -> tuple[yaml.Node | None, Any]:
    loader = cls(text)
    try:
        node = loader.get_single_node()
        return node, (loader.construct_document(node) if node is not None else None)
    finally:
        loader.dispose()


def read(
    path: Path,
    limit: int,
    what: str,
    *,
    error: type[ExopsError] = UsageError,
    max_aliases: int = MAX_ALIASES,
) -> Document:
    """Read a YAML file: a regular file, at most ``limit`` bytes, strict UTF-8 (the
    line of the first bad byte is named), parsed by the rules above.

    Raises:
        UsageError: unreadable, not a regular file; ``error``: too large, not
            UTF-8, not valid YAML.
    """
    text = decode(read_capped(path, limit, what, error), str(path), error)
    return parse(text, str(path), error=error, max_aliases=max_aliases)


def decode(raw: bytes, source: str, error: type[ExopsError] = UsageError) -> str:
    """Strict UTF-8 text without NUL bytes, naming the line of the first bad byte."""
    if b"\0" in raw:
        line = raw[: raw.index(b"\0")].count(b"\n") + 1
        raise error(f"{source}:{line}: not text: a NUL byte (binary data?)")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        bad = raw[exc.start : exc.start + 1]
        raise error(f"{source}:{line}: not valid UTF-8 (byte {exc.start}: {bad!r})") from exc


def _check_bounds(text: str, source: str, error: type[ExopsError], max_aliases: int) -> None:
    """Refuse alias bombs and deep nesting before the document is built."""
    aliases = depth = 0
    try:
        for event in yaml.parse(text, Loader=Loader):
            aliases += isinstance(event, yaml.AliasEvent)
            depth += isinstance(event, yaml.CollectionStartEvent)
            depth -= isinstance(event, yaml.CollectionEndEvent)
            if aliases > max_aliases:
                why = f"more than {max_aliases} YAML aliases; refused (alias expansion)"
            elif depth > MAX_DEPTH:
                why = f"nested deeper than {MAX_DEPTH} levels; refused"
            else:
                continue
            mark = event.start_mark
            raise error(f"{source}:{mark.line + 1 if mark is not None else 1}: {why}")
    except yaml.YAMLError:
        return  # reported with its line by the full parse


def _line(exc: yaml.YAMLError, text: str) -> int:
    mark = getattr(exc, "problem_mark", None)
    line = mark.line + 1 if mark is not None else 1
    if line > max(len(text.splitlines()), 1):  # '<stream end>': point at the opening
        context = getattr(exc, "context_mark", None)
        line = context.line + 1 if context is not None else len(text.splitlines())
    return line


def _problem(exc: yaml.YAMLError) -> str:
    problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
    return str(problem)


def line_table(node: yaml.Node | None) -> dict[tuple[str | int, ...], int]:
    """Every path (mapping keys and list indices) of a document -> its 1-based line."""
    table: dict[tuple[str | int, ...], int] = {}

    def walk(n: yaml.Node, loc: tuple[str | int, ...]) -> None:
        table[loc] = n.start_mark.line + 1
        if isinstance(n, yaml.MappingNode):
            for k, v in n.value:
                key = (*loc, str(k.value))
                walk(v, key)
                table[key] = k.start_mark.line + 1
        elif isinstance(n, yaml.SequenceNode):
            for i, v in enumerate(n.value):
                walk(v, (*loc, i))

    if node is not None:
        walk(node, ())
    return table

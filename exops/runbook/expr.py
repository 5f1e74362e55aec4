"""Jinja2 expressions in runbooks: native values, strict undefined, no I/O, bounded.

``"{{ cluster.peers_with(peer) }}"`` renders to a real list (NativeEnvironment),
so settings keep their types. A bare ``when: not cluster.clustered`` is an
expression too. An undefined name is an error, never an empty string.

Expressions are bounded (a runbook file is untrusted input): string and list
multiplication, concatenation and powers are limited (``MAX_SEQUENCE``),
``range`` yields at most ``MAX_RANGE`` numbers, numbers passed to calls and
filters are at most ``MAX_INT_ARG``, ``%`` string formatting is refused, the
rendered output is capped (``MAX_OUTPUT``), and templates may not define
macros or nest more than ``MAX_LOOP_DEPTH`` loops.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator
from typing import Any

from jinja2 import StrictUndefined, Template, Undefined, UndefinedError, nodes
from jinja2.nativetypes import NativeEnvironment, native_concat
from jinja2.runtime import Context
from jinja2.sandbox import SandboxedEnvironment

from exops.core.models import ip_family

MAX_RANGE = 1000
MAX_SEQUENCE = 4096  # characters or items one operation may produce
MAX_OUTPUT = 64 * 1024  # characters (or items) one template may produce
MAX_INT_ARG = 100_000
MAX_POWER = 64
MAX_LOOP_DEPTH = 2


class ExpressionError(Exception):
    """An expression failed while planning (the planner adds file and step)."""


class BoundsError(ExpressionError):
    """An expression exceeds a limit on runbook input."""


def _size(value: Any) -> int:
    return len(value) if isinstance(value, str | bytes | list | tuple | dict | set) else 0


def _check_number(value: Any, what: str) -> None:
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) > MAX_INT_ARG:
        raise BoundsError(f"{what}: number {value} is larger than {MAX_INT_ARG}")


class _Env(SandboxedEnvironment, NativeEnvironment):
    """Sandboxed (a runbook file cannot reach Python internals), native-typed, bounded."""

    intercepted_binops = frozenset({"*", "**", "+", "%", "//"})

    def call_binop(self, context: Context, operator: str, left: Any, right: Any) -> Any:
        if operator == "*":
            for seq, n in ((left, right), (right, left)):
                sized = isinstance(seq, str | list | tuple) and isinstance(n, int)
                if sized and len(seq) * max(n, 0) > MAX_SEQUENCE:
                    raise BoundsError(
                        f"'*' would make {len(seq)} x {n} items (limit {MAX_SEQUENCE})"
                    )
        elif operator == "**":
            if isinstance(right, int | float) and abs(right) > MAX_POWER:
                raise BoundsError(f"'**' exponent {right} is larger than {MAX_POWER}")
            if isinstance(left, int | float) and abs(left) > MAX_INT_ARG:
                raise BoundsError(f"'**' base {left} is larger than {MAX_INT_ARG}")
        elif operator == "%" and isinstance(left, str):
            raise BoundsError("'%' string formatting is not allowed in runbooks; use ~ or join")
        elif operator == "+" and _size(left) + _size(right) > MAX_SEQUENCE:
            raise BoundsError(f"'+' would make {_size(left) + _size(right)} items")
        return super().call_binop(context, operator, left, right)

    def call(__self, __context: Context, __obj: Any, *args: Any, **kwargs: Any) -> Any:
        for value in (*args, *kwargs.values()):
            _check_number(value, getattr(__obj, "__name__", "call"))
        result = super().call(__context, __obj, *args, **kwargs)
        if _size(result) > MAX_OUTPUT:
            raise BoundsError(f"a call produced {_size(result)} items (limit {MAX_OUTPUT})")
        return result


def _bounded_filter(name: str, func: Callable[..., Any]) -> Callable[..., Any]:
    def bounded(*args: Any, **kwargs: Any) -> Any:
        for value in (*args[1:], *kwargs.values()):
            _check_number(value, f"filter {name}")
        result = func(*args, **kwargs)
        if _size(result) > MAX_OUTPUT:
            raise BoundsError(f"filter {name} produced {_size(result)} items (limit {MAX_OUTPUT})")
        return result

    for attr in ("jinja_pass_arg",):  # keep @pass_context / @pass_environment markers
        if hasattr(func, attr):
            setattr(bounded, attr, getattr(func, attr))
    return bounded


def _range(*args: Any) -> range:
    for value in args:
        _check_number(value, "range")
    r = range(*args)
    if len(r) > MAX_RANGE:
        raise BoundsError(f"range of {len(r)} numbers (limit {MAX_RANGE})")
    return r


ENV = _Env(undefined=StrictUndefined)
ENV.filters = {name: _bounded_filter(name, f) for name, f in ENV.filters.items()}
ENV.filters.pop("format", None)  # printf-style widths: use ~ or join
ENV.globals.update(
    range=_range,
    ip_family=lambda a: (ip_family(a) or "IPv4").__str__(),
)


def check_template(ast: nodes.Template, source: str = "") -> None:
    """Refuse macros, call blocks and loops nested deeper than ``MAX_LOOP_DEPTH``.

    Raises:
        BoundsError: naming the construct.
    """
    for node in ast.find_all((nodes.Macro, nodes.CallBlock)):
        raise BoundsError(f"{type(node).__name__.lower()} is not allowed in runbook expressions")

    def depth(node: nodes.Node, level: int) -> None:
        if isinstance(node, nodes.For):
            level += 1
            if level > MAX_LOOP_DEPTH:
                raise BoundsError(f"loops nested deeper than {MAX_LOOP_DEPTH}")
        for child in node.iter_child_nodes():
            depth(child, level)

    depth(ast, 0)


def is_template(text: str) -> bool:
    return "{{" in text or "{%" in text


def evaluate(text: str, context: dict[str, Any]) -> Any:
    """The value of a bare expression or of a ``{{ }}`` template."""
    source = text if is_template(text) else "{{ " + text + " }}"
    return render(source, context)


@functools.lru_cache(maxsize=512)
def _template(source: str) -> Template:
    check_template(ENV.parse(source), source)
    return ENV.from_string(source)


def _capped(chunks: Iterator[Any]) -> Iterator[Any]:
    total = 0
    for chunk in chunks:
        total += _size(chunk) if isinstance(chunk, str) else max(_size(chunk), 1)
        if total > MAX_OUTPUT:
            raise BoundsError(f"output larger than {MAX_OUTPUT} characters")
        yield chunk


def render(value: Any, context: dict[str, Any]) -> Any:
    """Render every template string inside ``value`` (dicts and lists walked)."""
    if isinstance(value, str):
        if not is_template(value):
            return value
        try:
            template = _template(value)
            result = native_concat(
                _capped(template.root_render_func(template.new_context(context)))
            )
            if isinstance(result, Undefined):  # a lone undefined name renders natively
                result._fail_with_undefined_error()
            return result
        except UndefinedError as exc:
            raise ExpressionError(f"{value!r}: {exc.message}") from exc
        except BoundsError as exc:
            raise BoundsError(f"{_short(value)}: {exc}") from exc
        except RecursionError as exc:
            raise BoundsError(f"{_short(value)}: nested too deeply") from exc
        except Exception as exc:
            raise ExpressionError(f"{value!r}: {exc}") from exc
    if isinstance(value, dict):
        return {k: render(v, context) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [render(v, context) for v in value]
    return value


def _short(text: str) -> str:
    return repr(text if len(text) <= 80 else text[:77] + "...")

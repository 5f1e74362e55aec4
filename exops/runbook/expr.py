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

Calls whose output can be far larger than their input (``lipsum(n=...)``,
``indent``, ``replace``, ``center``, ``expandtabs``, ``batch``, ``slice`` and the
string methods of the same kind) are bounded *before* they run, from their
arguments (``_GROWTH``): ``lipsum(n=100000)`` is refused at once instead of
building 45 M items first.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from jinja2 import StrictUndefined, Template, Undefined, UndefinedError, nodes
from jinja2.nativetypes import NativeEnvironment, native_concat
from jinja2.runtime import Context
from jinja2.sandbox import SandboxedEnvironment
from jinja2.utils import generate_lorem_ipsum

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


def _int(value: Any, default: int) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else default


def _text(value: Any) -> str:
    return value if isinstance(value, str) else ""


def _replaced(a: Mapping[str, Any]) -> int:
    s, old, new = _text(a.get("s")), _text(a.get("old")), _text(a.get("new"))
    hits = len(s) + 1 if not old else s.count(old)
    count = a.get("count")
    if isinstance(count, int) and not isinstance(count, bool) and count >= 0:
        hits = min(hits, count)
    return len(s) + hits * max(len(new) - len(old), 0)


def _width(a: Mapping[str, Any], default: int) -> int:
    width = a.get("width", default)
    return len(width) if isinstance(width, str) else _int(width, default)


def _sized(value: Any) -> int:
    return len(value) if isinstance(value, str | list | tuple | dict) else 0


# name -> an upper bound of the output's size from the call's arguments (bound by name).
_GROWTH: dict[str, Callable[[Mapping[str, Any]], int]] = {
    "lipsum": lambda a: _int(a.get("n"), 5) * _int(a.get("max"), 100) * 16,
    "indent": lambda a: (
        len(_text(a.get("s"))) * 2 + (_text(a.get("s")).count("\n") + 1) * _width(a, 4)
    ),
    "replace": _replaced,
    "center": lambda a: max(_sized(a.get("s")), _width(a, 80)),
    "ljust": lambda a: max(_sized(a.get("s")), _width(a, 0)),
    "rjust": lambda a: max(_sized(a.get("s")), _width(a, 0)),
    "zfill": lambda a: max(_sized(a.get("s")), _width(a, 0)),
    "expandtabs": lambda a: (
        len(_text(a.get("s"))) + _text(a.get("s")).count("\t") * _int(a.get("tabsize"), 8)
    ),
    "batch": lambda a: _sized(a.get("s")) + _int(a.get("linecount"), 1),
    "slice": lambda a: _sized(a.get("s")) + _int(a.get("slices"), 1) * 2,
}

# str methods by position: their parameters after ``self`` (called as "x".replace(...)).
_METHOD_PARAMS = {
    "replace": ("old", "new", "count"),
    "center": ("width", "fillchar"),
    "ljust": ("width", "fillchar"),
    "rjust": ("width", "fillchar"),
    "zfill": ("width",),
    "expandtabs": ("tabsize",),
}


def _bound_before(name: str, arguments: Mapping[str, Any]) -> None:
    """Refuse a call whose output would exceed ``MAX_OUTPUT``, before it runs."""
    growth = _GROWTH.get(name)
    if growth is None:
        return
    size = growth(arguments)
    if size > MAX_OUTPUT:
        raise BoundsError(
            f"{name}(...) would produce about {size} characters or items (limit {MAX_OUTPUT})"
        )


def _arguments(
    func: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]
) -> dict[str, Any]:
    """A filter call's arguments by parameter name; the filtered value is also ``s``.
    A filter marked ``pass_eval_context`` / ``pass_environment`` gets that object
    first, whether or not its (wrapped) signature names it."""
    try:
        params = list(inspect.signature(func).parameters)
    except (TypeError, ValueError):
        return {}
    if getattr(func, "jinja_pass_arg", None) is not None and args:
        if not params or params[0] not in _PASSED:
            args = args[1:]
        else:
            params = params[1:]
            args = args[1:]
            func = functools.partial(func, None)
    try:
        named = dict(inspect.signature(func).bind_partial(*args, **kwargs).arguments)
    except (TypeError, ValueError):
        return {}
    if params and params[0] in named:
        named["s"] = named[params[0]]
    return named


_PASSED = frozenset({"eval_ctx", "environment", "env", "context", "ctx"})


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
        name = getattr(__obj, "__name__", "call")
        for value in (*args, *kwargs.values()):
            _check_number(value, name)
        owner = getattr(__obj, "__self__", None)
        if isinstance(owner, str) and name in _METHOD_PARAMS:  # "x".replace(...)
            named = dict(zip(_METHOD_PARAMS[name], args, strict=False))
            _bound_before(name, {**named, **kwargs, "s": owner})
        result = super().call(__context, __obj, *args, **kwargs)
        if _size(result) > MAX_OUTPUT:
            raise BoundsError(f"a call produced {_size(result)} items (limit {MAX_OUTPUT})")
        return result


def _bounded_filter(name: str, func: Callable[..., Any]) -> Callable[..., Any]:
    def bounded(*args: Any, **kwargs: Any) -> Any:
        for value in (*args[1:], *kwargs.values()):
            _check_number(value, f"filter {name}")
        if name in _GROWTH:
            _bound_before(name, _arguments(func, args, kwargs))
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


def _lipsum(n: int = 5, html: bool = True, min: int = 20, max: int = 100) -> Any:
    """Jinja's ``lipsum``, bounded before it runs (``n * max`` words)."""
    _bound_before("lipsum", {"n": n, "max": max})
    return generate_lorem_ipsum(n=n, html=html, min=min, max=max)


ENV.globals.update(
    lipsum=_lipsum,
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

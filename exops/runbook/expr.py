"""Jinja2 expressions in runbooks: native values, strict undefined, no I/O.

``"{{ cluster.peers_with(peer) }}"`` renders to a real list (NativeEnvironment),
so settings keep their types. A bare ``when: not cluster.clustered`` is an
expression too. An undefined name is an error, never an empty string.
"""

from __future__ import annotations

from typing import Any

from jinja2 import StrictUndefined, Undefined, UndefinedError
from jinja2.nativetypes import NativeEnvironment
from jinja2.sandbox import SandboxedEnvironment

from exops.models import ip_family


class _Env(SandboxedEnvironment, NativeEnvironment):
    """Sandboxed (a runbook file cannot reach Python internals) and native-typed."""


ENV = _Env(undefined=StrictUndefined)
ENV.globals.update(ip_family=lambda a: (ip_family(a) or "IPv4").__str__())


class ExpressionError(Exception):
    """An expression failed while planning (the planner adds file and step)."""


def is_template(text: str) -> bool:
    return "{{" in text or "{%" in text


def evaluate(text: str, context: dict[str, Any]) -> Any:
    """The value of a bare expression or of a ``{{ }}`` template."""
    source = text if is_template(text) else "{{ " + text + " }}"
    return render(source, context)


def render(value: Any, context: dict[str, Any]) -> Any:
    """Render every template string inside ``value`` (dicts and lists walked)."""
    if isinstance(value, str):
        if not is_template(value):
            return value
        try:
            result = ENV.from_string(value).render(context)
            if isinstance(result, Undefined):  # a lone undefined name renders natively
                result._fail_with_undefined_error()
            return result
        except UndefinedError as exc:
            raise ExpressionError(f"{value!r}: {exc.message}") from exc
        except Exception as exc:
            raise ExpressionError(f"{value!r}: {exc}") from exc
    if isinstance(value, dict):
        return {k: render(v, context) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [render(v, context) for v in value]
    return value

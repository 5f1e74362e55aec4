"""Mask secrets before anything is persisted or printed.

The journal, the event stream and reports outlive the run and are shared with
other people, so every value that reaches them passes through here first.
Redaction errs on the side of masking: a masked harmless value costs a line of
context, a leaked password costs a credential rotation on every peer.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

from pydantic import BaseModel, SecretBytes, SecretStr

MASK = "********"

# Key names are normalised to snake_case first (``SharedSecret`` ->
# ``shared_secret``, ``api-key`` -> ``api_key``) so one pattern covers the
# appliance's CamelCase, YAML's snake_case and HTTP's kebab-case. The word must
# stand alone between underscores: ``password_file`` and ``admin_token`` are
# secrets, ``option_keys`` and ``tokenizer`` are not.
SECRET_KEY = re.compile(
    r"(^|_)(password|passwd|pwd|passphrase|secret|token|api_?key|private_?key|"
    r"secret_?key|access_?key|authorization|credentials?)($|_)"
)

_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")


def _quoted_mask(match: re.Match[str]) -> str:
    value = match.group(2)
    quote = value[0] if value[:1] in "\"'" else ""
    return f"{match.group(1)}{quote}{MASK}{quote}"


def _auth_mask(match: re.Match[str]) -> str:
    scheme = f"{match.group(2)} " if match.group(2) else ""
    return f"{match.group(1)}{scheme}{MASK}"


_Replacement = str | Callable[[re.Match[str]], str]

_TEXT_PATTERNS: tuple[tuple[re.Pattern[str], _Replacement], ...] = (
    # Authorization: Basic dXNlcjpwYXNz / Authorization: Bearer eyJ...
    (
        re.compile(
            r"(?i)\b(authorization[\"']?\s*[:=]\s*[\"']?)"
            r"(?:(basic|bearer|digest|token)\s+)?[^\s\"',;]+"
        ),
        _auth_mask,
    ),
    # A bare bearer token or basic credential anywhere else.
    (re.compile(r"(?i)\b(bearer|basic)\s+[A-Za-z0-9._~+/=-]{8,}"), r"\1 " + MASK),
    # password=..., "password": "...", api_key: ..., SharedSecret=... (only the value is
    # consumed: a leading [\w]* for "admin_password" would backtrack quadratically)
    (
        re.compile(
            r"(?i)((?:password|passwd|pwd|passphrase|secret|token|api_?key|private_?key"
            r"|access_?key)[\w-]{0,64}[\"']?\s*[=:]\s*)(\"[^\"]*\"|'[^']*'|[^\s,;&\"')}\]]+)"
        ),
        _quoted_mask,
    ),
    # Credentials in a URL: https://admin:hunter2@host/
    (
        re.compile(r"(?i)\b([a-z][a-z0-9+.-]{0,15}://[^/\s:@]{1,128}:)[^/\s@]{1,256}@"),
        r"\1" + MASK + "@",
    ),
)


def is_secret_key(name: object) -> bool:
    """True when a mapping key names a secret (see ``SECRET_KEY``)."""
    text = _CAMEL.sub("_", str(name)).lower().replace("-", "_").replace(" ", "_")
    return SECRET_KEY.search(text) is not None


def redact_text(text: str) -> str:
    """``text`` with credentials that look like ``key=value`` or auth headers masked."""
    for pattern, replacement in _TEXT_PATTERNS:
        text = pattern.sub(replacement, text)
    return text


def is_secret(key: object, value: Any = None, *, flags: bool = False) -> bool:
    """The one decision whether a value is a secret, for the journal, events and reports.

    A ``SecretStr``/``SecretBytes`` anywhere is; so is any value under a
    secret-looking key name (``is_secret_key``), except ``None`` and booleans
    unless ``flags``: in the journal and events ``password_set: true`` carries no
    secret and stays useful; reports (``flags=True``) mask those too.
    """
    if isinstance(value, SecretStr | SecretBytes):
        return True
    if not is_secret_key(key):
        return False
    return flags or (value is not None and not isinstance(value, bool))


def redact(obj: Any, *, flags: bool = False) -> Any:
    """A deep copy of ``obj`` with secret values (``is_secret``) replaced by ``MASK``.

    Masks values under secret-looking keys, pydantic ``SecretStr``/``SecretBytes``
    anywhere, and credentials inside strings. Pydantic models become their JSON
    dump (the form they are persisted in). Other scalars are returned as they are.
    """
    if isinstance(obj, SecretStr | SecretBytes):
        return MASK
    if isinstance(obj, str):
        return redact_text(obj)
    if isinstance(obj, BaseModel):
        return redact(obj.model_dump(mode="json"), flags=flags)
    if isinstance(obj, Mapping):
        return {key: redact_item(key, value, flags=flags) for key, value in obj.items()}
    if isinstance(obj, list | tuple | set | frozenset):
        items = [redact(v, flags=flags) for v in obj]
        return tuple(items) if isinstance(obj, tuple) else items
    return obj


def redact_item(key: object, value: Any, *, flags: bool = False) -> Any:
    """``value`` as it may be shown under ``key``: the mask when it is a secret."""
    return MASK if is_secret(key, value, flags=flags) else redact(value, flags=flags)


def secret_values(params: Mapping[str, Any]) -> tuple[str, ...]:
    """The plain values of the secrets in ``params`` (``is_secret``), to scrub from any
    rendered text; values shorter than 3 characters are left (they would mask noise)."""
    out: list[str] = []
    for k, v in params.items():
        if isinstance(v, SecretStr):
            out.append(v.get_secret_value())
        elif isinstance(v, Mapping):
            out += secret_values(v)
        elif is_secret(k, v):
            out.append(str(v))
    return tuple(s for s in out if len(s) >= 3)


def scrub(text: str, secrets: tuple[str, ...]) -> str:
    """``text`` with every occurrence of a secret value replaced by the mask."""
    for s in sorted(secrets, key=len, reverse=True):
        text = text.replace(s, MASK)
    return text

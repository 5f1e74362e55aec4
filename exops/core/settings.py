"""Every exops setting, declared once: type, default, environment variable.

Precedence is flag > environment > settings file > default (as Nornir's
``Parameter(envvar=...)``). The settings file is YAML (``EXOPS_CONFIG``,
default ``~/.config/exops/config.yaml``) with the setting names as keys.
Secrets are not settings: credentials come from ``exops.inventory``.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from exops.core import yamldoc
from exops.core.errors import UsageError

MAX_SETTINGS_BYTES = 64 * 1024  # a settings file is a dozen lines


def _state_home() -> Path:
    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "exops"


def _bool(raw: str) -> bool:
    low = raw.strip().lower()
    if low in {"1", "true", "yes", "on"}:
        return True
    if low in {"0", "false", "no", "off", ""}:
        return False
    raise ValueError(f"{raw!r} is not a boolean (use true/false)")


def _number(kind: Callable[[str], Any], *, allow_zero: bool = False) -> Callable[[str], Any]:
    """A finite number greater than 0 (or at least 0): NaN and infinity refused."""

    def parse(raw: str) -> Any:
        try:
            value = kind(str(raw).strip())
        except (TypeError, ValueError):
            raise ValueError(f"{raw!r} is not a number") from None
        if isinstance(value, float) and not math.isfinite(value):
            raise ValueError(f"{raw!r} is not a finite number")
        if value < 0 or (value == 0 and not allow_zero):
            bound = "0 or more" if allow_zero else "greater than 0"
            raise ValueError(f"{raw!r} must be {bound}")
        return value

    return parse


def _positive(kind: Callable[[str], Any]) -> Callable[[str], Any]:
    return _number(kind)


@dataclass(frozen=True)
class Setting:
    name: str
    parse: Callable[[str], Any]
    help: str

    @property
    def envvar(self) -> str:
        return f"EXOPS_{self.name.upper()}"


# name (env var EXOPS_<NAME>), parser, help. Defaults live on the Settings dataclass.
SETTINGS: dict[str, Setting] = {
    s.name: s
    for s in (
        Setting("inventory", Path, "inventory directory (Nornir SimpleInventory)"),
        Setting("ca_bundle", str, "PEM file of CAs trusted for HTTPS"),
        Setting("insecure", _bool, "disable HTTPS certificate verification"),
        Setting("known_hosts", str, "SSH known_hosts file"),
        Setting(
            "accept_new_host_keys", _bool, "trust and record SSH host keys not yet in known_hosts"
        ),
        Setting("hosts_file", str, "hosts-format file consulted before DNS"),
        Setting("state_dir", Path, "journal and backups (SQLite store)"),
        Setting("state_url", str, "state store: sqlite:///DIR or postgresql://user@host/db"),
        Setting("lock_dir", Path, "cluster lock files (default /run/lock/exops, host-wide)"),
        Setting("workers", _positive(int), "peers handled in parallel"),
        Setting("connect_timeout", _positive(float), "seconds"),
        Setting("read_timeout", _positive(float), "seconds"),
        Setting("transport", str, "rest | ssh | auto (overrides inventory)"),
        Setting("username", str, "admin account (overrides inventory)"),
        Setting("restart_timeout", _positive(float), "seconds"),
        Setting("settle_timeout", _positive(float), "seconds"),
        Setting("max_poll_interval", _positive(float), "seconds"),
        Setting("lock_timeout", _number(float, allow_zero=True), "seconds to wait for a lock"),
    )
}


@dataclass(frozen=True)
class Settings:
    inventory: Path = Path("inventory")
    ca_bundle: str | None = None
    insecure: bool = False
    known_hosts: str | None = None
    accept_new_host_keys: bool = False
    hosts_file: str | None = None
    state_dir: Path = field(default_factory=_state_home)
    workers: int = 100
    connect_timeout: float = 5.0
    read_timeout: float = 20.0
    transport: str | None = None
    username: str | None = None
    restart_timeout: float = 1800.0  # real appliances take several minutes
    settle_timeout: float = 1800.0  # replication alarms clear within 10-20 min
    max_poll_interval: float = 5.0
    lock_timeout: float = 0.0
    state_url: str | None = None  # None: the SQLite store in state_dir
    lock_dir: Path | None = None  # None: exops.state.flock.resolve_lock_dir decides

    @property
    def journal_path(self) -> Path:
        return self.state_dir / "journal.sqlite"

    @property
    def backup_dir(self) -> Path:
        return self.state_dir / "backups"


def _coerce(name: str, raw: Any, source: str) -> Any:
    setting = SETTINGS[name]
    try:
        return setting.parse(str(raw))
    except ValueError as exc:
        raise UsageError(f"{source}: {name}: {exc}") from exc


@dataclass(frozen=True)
class Resolved:
    """One setting's effective value and where it came from."""

    value: Any
    source: str  # "flag (--NAME)", "environment (EXOPS_NAME)", "file (PATH)" or "default"


def read_settings_file(path: Path) -> dict[str, Any]:
    """The settings file's mapping ({} when there is none): read by exops's one YAML
    reader (a regular file, bounded, YAML 1.2 booleans, duplicate keys refused with
    both lines).

    Raises:
        UsageError: not a regular file, too large, not valid YAML, not a mapping.
    """
    if not path.exists() and not path.is_symlink():
        return {}
    data = yamldoc.read(path, MAX_SETTINGS_BYTES, "settings file").data
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise UsageError(f"{path}: expected a mapping of setting names")
    return data


def config_path(environ: Mapping[str, str] | None = None) -> Path:
    """The settings file: ``EXOPS_CONFIG``, else ``~/.config/exops/config.yaml``."""
    env = os.environ if environ is None else environ
    return Path(env.get("EXOPS_CONFIG") or Path.home() / ".config" / "exops" / "config.yaml")


def resolve(
    flags: Mapping[str, Any] | None = None,
    *,
    environ: Mapping[str, str] | None = None,
    config_file: Path | None = None,
) -> dict[str, Resolved]:
    """Every setting with its value and source: flag > environment > settings file >
    default. The one place the precedence is worked out (``load_settings`` and
    ``exops config`` both read it).

    Raises:
        UsageError: a value does not parse, naming where it came from.
    """
    env = os.environ if environ is None else environ
    defaults = Settings()
    out = {name: Resolved(getattr(defaults, name, None), "default") for name in SETTINGS}
    path = config_file or config_path(env)
    for key, raw in read_settings_file(path).items():
        if key not in SETTINGS:
            raise UsageError(f"{path}: unknown setting {key!r}")
        out[key] = Resolved(_coerce(key, raw, str(path)), f"file ({path})")
    for name, setting in SETTINGS.items():
        if env.get(setting.envvar) not in (None, ""):
            value = _coerce(name, env[setting.envvar], setting.envvar)
            out[name] = Resolved(value, f"environment ({setting.envvar})")
    for name, raw in (flags or {}).items():
        if raw is not None:
            if name not in SETTINGS:
                raise UsageError(f"unknown setting {name!r}")
            # Flags go through the same parser: --restart-timeout nan is refused too.
            flag = "--" + name.replace("_", "-")
            value = raw if isinstance(raw, bool) else _coerce(name, raw, flag)
            out[name] = Resolved(value, f"flag ({flag})")
    return out


def load_settings(
    flags: Mapping[str, Any] | None = None,
    *,
    environ: Mapping[str, str] | None = None,
    config_file: Path | None = None,
) -> Settings:
    """Resolve every setting: flag > environment > settings file > default (``resolve``).

    Raises:
        UsageError: a value does not parse, naming where it came from.
    """
    resolved = resolve(flags, environ=environ, config_file=config_file)
    known = {f.name for f in fields(Settings)}
    given = {k: r.value for k, r in resolved.items() if k in known and r.source != "default"}
    return replace(Settings(), **given)

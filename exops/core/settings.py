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

import yaml

from exops.core.errors import UsageError


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


MAX_CONFIG_BYTES = 1024 * 1024  # a settings file is a few lines; refuse what is not one


def _read_config(path: Path) -> str:
    """The settings file's text: at most ``MAX_CONFIG_BYTES`` read, strict UTF-8, no NUL.

    Raises:
        UsageError: one line naming the file and what is wrong with it.
    """
    try:
        with path.open("rb") as f:
            raw = f.read(MAX_CONFIG_BYTES + 1)
    except OSError as exc:
        raise UsageError(f"{path}: cannot read the settings file ({exc.strerror or exc})") from exc
    if len(raw) > MAX_CONFIG_BYTES:
        raise UsageError(f"{path}: settings file larger than {MAX_CONFIG_BYTES // 1024} KiB")
    if b"\0" in raw:
        line = raw.count(b"\n", 0, raw.index(b"\0")) + 1
        raise UsageError(f"{path}: not a settings file: NUL byte on line {line} (binary data?)")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        raise UsageError(
            f"{path}: not UTF-8 text (byte 0x{raw[exc.start]:02x} on line {line}): "
            "a settings file is YAML text"
        ) from exc


def _coerce(name: str, raw: Any, source: str) -> Any:
    setting = SETTINGS[name]
    try:
        return setting.parse(str(raw))
    except ValueError as exc:
        raise UsageError(f"{source}: {name}: {exc}") from exc


def load_settings(
    flags: Mapping[str, Any] | None = None,
    *,
    environ: Mapping[str, str] | None = None,
    config_file: Path | None = None,
) -> Settings:
    """Resolve every setting: flag > environment > settings file > default.

    Raises:
        UsageError: a value does not parse, naming where it came from.
    """
    env = os.environ if environ is None else environ
    values: dict[str, Any] = {}
    path = config_file or Path(
        env.get("EXOPS_CONFIG") or Path.home() / ".config" / "exops" / "config.yaml"
    )
    if path.is_file():
        try:
            data = yaml.safe_load(_read_config(path)) or {}
        except yaml.YAMLError as exc:
            raise UsageError(f"{path}: not valid YAML: {exc}") from exc
        if not isinstance(data, dict):
            raise UsageError(f"{path}: expected a mapping of setting names")
        for key, raw in data.items():
            if key not in SETTINGS:
                raise UsageError(f"{path}: unknown setting {key!r}")
            values[key] = _coerce(key, raw, str(path))
    for name, setting in SETTINGS.items():
        if env.get(setting.envvar) not in (None, ""):
            values[name] = _coerce(name, env[setting.envvar], setting.envvar)
    for name, raw in (flags or {}).items():
        if raw is not None:
            if name not in SETTINGS:
                raise UsageError(f"unknown setting {name!r}")
            # Flags go through the same parser: --restart-timeout nan is refused too.
            flag = "--" + name.replace("_", "-")
            values[name] = raw if isinstance(raw, bool) else _coerce(name, raw, flag)
    known = {f.name for f in fields(Settings)}
    return replace(Settings(), **{k: v for k, v in values.items() if k in known})

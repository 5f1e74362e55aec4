"""The environment of a run: resolved settings and the validated inventory.

Built once per process (``Env.build``) and shared by every run in it; the
runner and the read commands take it. Nothing here prints: the CLI warns
about ``--insecure`` itself.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from exops.core.errors import UsageError
from exops.core.settings import Settings, load_settings
from exops.facts.session import Session
from exops.inventory import Inventory, load_inventory

TRANSPORTS = ("rest", "ssh", "auto")


@dataclass(frozen=True)
class Env:
    settings: Settings
    inventory: Inventory

    @classmethod
    def build(cls, **flags: Any) -> Env:
        """Resolve settings (flag > env > file > default) and load the inventory.

        ``flags`` are setting names (``inventory``, ``ca_bundle``, ``insecure``, ...);
        ``None`` and ``False`` mean "not given on the command line".

        Raises:
            UsageError: a bad setting; InventoryError: a bad inventory.
        """
        given = {k: (None if v is False else v) for k, v in flags.items()}
        settings = load_settings(given)
        if settings.transport and settings.transport not in TRANSPORTS:
            raise UsageError(
                f"--transport: {settings.transport!r} is not one of {', '.join(TRANSPORTS)}"
            )
        return cls(settings=settings, inventory=load_inventory(settings.inventory, settings))

    def session(self, clusters: list[str] | None) -> Session:
        """Connections to the peers of ``clusters`` (all when None); opened lazily."""
        return Session(self.inventory, self.settings, self.inventory.select(clusters))


def load_env(inventory: str | Path | None = None, **settings: Any) -> Env:
    """The library entry point: ``load_env("inventory/")`` for ``Runner(env)``."""
    return Env.build(inventory=Path(inventory) if inventory else None, **settings)

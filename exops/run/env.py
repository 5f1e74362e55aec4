"""The environment of a run: resolved settings and the validated inventory.

Built once per process (``Env.build``) and shared by every run in it; the
runner and the read commands take it. Nothing here prints: the CLI warns
about ``--insecure`` itself.
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from exops.core.errors import InventoryError, UsageError
from exops.core.settings import Settings, load_settings
from exops.facts.session import Session
from exops.inventory import Inventory, load_inventory

TRANSPORTS = ("rest", "ssh", "auto")
# The first line of the example inventory's hosts.yaml (inventory/ in the source tree).
EXAMPLE_MARK = "# exops example inventory"
_EXAMPLE_NOTED = "example-inventory-noted"  # in the state directory: said once


@dataclass(frozen=True)
class Env:
    settings: Settings
    inventory: Inventory
    # Where the inventory directory came from: "--inventory", "EXOPS_INVENTORY",
    # "settings file", "default" (./inventory), or "given" (built by a caller).
    inventory_origin: str = "given"

    @classmethod
    def build(cls, **flags: Any) -> Env:
        """Resolve settings (flag > env > file > default) and load the inventory.

        ``flags`` are setting names (``inventory``, ``ca_bundle``, ``insecure``, ...);
        ``None`` and ``False`` mean "not given on the command line".

        Raises:
            UsageError: a bad setting; InventoryError: no inventory, or a bad one (the
                message says where exops looked and where that path came from).
        """
        given = {k: (None if v is False else v) for k, v in flags.items()}
        settings = load_settings(given)
        if settings.transport and settings.transport not in TRANSPORTS:
            raise UsageError(
                f"--transport: {settings.transport!r} is not one of {', '.join(TRANSPORTS)}"
            )
        origin = _inventory_origin(given, settings)
        if not settings.inventory.is_dir():
            raise InventoryError(_no_inventory(settings.inventory, origin))
        inventory = load_inventory(settings.inventory, settings)
        return cls(settings=settings, inventory=inventory, inventory_origin=origin)

    def example_note(self) -> str | None:
        """One line for the operator when the default ``./inventory`` is exops's example
        inventory (its hosts.yaml still starts with ``EXAMPLE_MARK``), the first time
        only (a mark file in the state directory); None otherwise. Nothing is printed
        here: the CLI prints it on stderr."""
        if self.inventory_origin != "default":
            return None
        try:
            with (self.inventory.path / "hosts.yaml").open() as f:
                if not f.readline().startswith(EXAMPLE_MARK):
                    return None
        except OSError:
            return None
        said = self.settings.state_dir / _EXAMPLE_NOTED
        if said.exists():
            return None
        with contextlib.suppress(OSError):  # unwritable state directory: say it every time
            said.parent.mkdir(parents=True, exist_ok=True)
            said.touch()
        clusters = ", ".join(self.inventory.clusters) or "none"
        return (
            f"note: {self.inventory.path.resolve()} is exops's example inventory "
            f"(clusters {clusters}), not yours: name your own with --inventory DIR "
            "or EXOPS_INVENTORY=DIR (said once)"
        )

    def session(self, clusters: list[str] | None) -> Session:
        """Connections to the peers of ``clusters`` (all when None); opened lazily."""
        return Session(self.inventory, self.settings, self.inventory.select(clusters))


def load_env(inventory: str | Path | None = None, **settings: Any) -> Env:
    """The library entry point: ``load_env("inventory/")`` for ``Runner(env)``."""
    return Env.build(inventory=Path(inventory) if inventory else None, **settings)


def _inventory_origin(flags: dict[str, Any], settings: Settings) -> str:
    if flags.get("inventory") is not None:
        return "--inventory"
    if os.environ.get("EXOPS_INVENTORY"):
        return "EXOPS_INVENTORY"
    return "default" if settings.inventory == Settings().inventory else "settings file"


def _no_inventory(path: Path, origin: str) -> str:
    """The one line for a missing inventory: where exops looked, why there, what to do."""
    why = {
        "--inventory": "given with --inventory",
        "EXOPS_INVENTORY": "from EXOPS_INVENTORY",
        "settings file": "from the settings file's inventory:",
        "default": f"the default, {Settings().inventory}/ in the current directory",
    }[origin]
    found = "is not a directory" if path.exists() else "inventory directory not found"
    return (
        f"{path.resolve()}: {found} ({why}); name yours with --inventory DIR "
        "(before or after the command: exops --inventory DIR status) or EXOPS_INVENTORY=DIR"
    )

"""Maintenance mode and calls/registrations of one peer: the reads `exops drain` polls.

The forms are data in ``knowledge.toml`` (``[maintenance_mode]``,
``[resource_usage]``), each with its mark and source (docs/contract.md section 13):

* maintenance mode is **set on the web page only** (Maintenance > Maintenance
  mode): exops never writes it; ``instruction(...)`` is the step it prints;
* it is **read** from the cluster database, ``configuration/system`` field
  ``maintenance_mode`` (CONFIRMED field; values MOCK-DEFINED: ``on``/``off``,
  anything else is unknown). The cluster database REST API is the only form, so
  with it switched off (the X14.2+ default) the mode is unknown, never guessed;
* calls and registrations come from ``xStatus ResourceUsage`` over SSH (INFERRED
  CLI output of the CONFIRMED tree): the sum of every ``Calls <type> Current`` and
  ``Registrations Current``. A missing or non-numeric count is unknown.

Every read is one fresh request; none is retried past the transport's own
policy. A peer that does not answer raises ``TransportError`` (the caller
decides: a restarting peer is unknown, not drained).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any

from exops.appliance.base import Appliance
from exops.appliance.knowledge import section
from exops.core.errors import ApplianceError


@dataclass(frozen=True)
class MaintenanceForm:
    set_page: str
    set_steps: str
    set_mark: str
    set_source: str
    table: str
    field: str
    read_mark: str
    read_source: str
    on_values: tuple[str, ...]
    off_values: tuple[str, ...]
    values_mark: str
    values_source: str
    off_after_restart: str


@dataclass(frozen=True)
class UsageForm:
    command: str
    calls: str  # "Calls * Current": every call type's Current
    registrations: str  # "Registrations Current"
    known_call_types: tuple[str, ...]
    mark: str
    source: str


@functools.cache
def _load() -> tuple[MaintenanceForm, UsageForm]:
    """The forms, read from knowledge.toml on first use (a runbook imports this module
    before its first request and needs the forms only after it: issue 22)."""
    m: dict[str, Any] = dict(section("maintenance_mode"))
    u: dict[str, Any] = dict(section("resource_usage"))
    for key in ("on_values", "off_values"):
        m[key] = tuple(str(v).lower() for v in m[key])
    u["known_call_types"] = tuple(u["known_call_types"])
    return MaintenanceForm(**m), UsageForm(**u)


def _mode() -> MaintenanceForm:
    return _load()[0]


def _usage() -> UsageForm:
    return _load()[1]


def __getattr__(name: str) -> Any:
    """``MAINTENANCE`` and ``USAGE``: the forms, read on first use."""
    if name == "MAINTENANCE":
        return _mode()
    if name == "USAGE":
        return _usage()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
ACCEPT_MANUAL = "manual-maintenance"  # --accept: the unattended run may wait for the web step
ACCEPT_UNVERIFIED = "unverified-maintenance"  # --accept: the mode cannot be read; usage only


def web_url(hostname: str, port: int = 443) -> str:
    """The peer's web interface (an IPv6 address bracketed; the port when not 443)."""
    host = f"[{hostname}]" if ":" in hostname and not hostname.startswith("[") else hostname
    return f"https://{host}{'' if port == 443 else f':{port}'}/"


def instruction(peer: str, url: str) -> str:
    """The manual step, exactly: where, what, on which peer."""
    return (
        f"on peer {peer}, open its web interface at {url} and go to "
        f"{_mode().set_page}; {_mode().set_steps} "
        "(there is no REST or command-line form for it)"
    )


@dataclass(frozen=True)
class ModeRead:
    """Maintenance mode as read: True on, False off, None unknown (``why`` says)."""

    on: bool | None
    raw: str | None
    why: str = ""

    def describe(self) -> str:
        if self.on is None:
            return f"unknown ({self.why})"
        return "on" if self.on else "off"


@dataclass(frozen=True)
class UsageRead:
    """Current calls (all types) and registrations; None = unknown (``why`` says)."""

    calls: int | None
    registrations: int | None
    by_type: tuple[tuple[str, int], ...] = ()
    why: str = ""

    def describe(self) -> str:
        if self.calls is None or self.registrations is None:
            return f"calls/registrations unknown ({self.why})"
        return f"{self.calls} calls, {self.registrations} registrations"


def mode_value(raw: Any) -> ModeRead:
    """A ``maintenance_mode`` field's value as on/off, or unknown with why."""
    if not isinstance(raw, str):
        return ModeRead(None, None, f"maintenance_mode is {type(raw).__name__}, not text")
    word = raw.strip().lower()
    if word in _mode().on_values:
        return ModeRead(True, raw)
    if word in _mode().off_values:
        return ModeRead(False, raw)
    known = "/".join((*_mode().on_values, *_mode().off_values))
    return ModeRead(None, raw, f"maintenance_mode reads {raw[:40]!r}, not a known value ({known})")


def read_mode(app: Appliance) -> ModeRead:
    """Maintenance mode of one peer, from its cluster database.

    Raises:
        TransportError: the peer did not answer.
    """
    from exops.appliance.factory import RoutedAppliance
    from exops.appliance.knowledge import CDB
    from exops.appliance.rest import one_record

    if not isinstance(app, RoutedAppliance):
        return ModeRead(None, None, "this appliance offers no cluster-database read")
    try:
        if not app.rest.cdb_available():
            return ModeRead(
                None,
                None,
                "the cluster database REST API is off on this peer (the X14.2+ default); "
                "it is the only interface that shows maintenance mode",
            )
        data = app.rest.get_json(
            CDB.read(_mode().table), operation="read maintenance mode", cdb=True
        )
        record = one_record(data, _mode().table)
    except ApplianceError as exc:
        return ModeRead(None, None, str(exc))
    if _mode().field not in record:
        return ModeRead(None, None, f"{_mode().table} has no {_mode().field}")
    return mode_value(record[_mode().field])


@functools.cache
def _paths() -> tuple[tuple[str, str, str], tuple[str, str]]:
    calls = _usage().calls.split()
    regs = _usage().registrations.split()
    if len(calls) != 3 or calls[1] != "*" or len(regs) != 2:
        raise ValueError(
            "knowledge.toml [resource_usage]: calls 'Node * Leaf', registrations 'Node Leaf'"
        )
    return (calls[0], calls[1], calls[2]), (regs[0], regs[1])


def usage_from_tree(tree: Any) -> UsageRead:
    """``xStatus ResourceUsage``'s tree -> the counts (unknown when not all numbers)."""
    (calls_node, _, leaf), (reg_node, reg_leaf) = _paths()
    if not isinstance(tree, dict):
        return UsageRead(None, None, why="no ResourceUsage tree")
    calls = tree.get(calls_node)
    regs = tree.get(reg_node)
    if not isinstance(calls, dict) or not calls:
        return UsageRead(None, None, why=f"ResourceUsage has no {calls_node}")
    by_type: list[tuple[str, int]] = []
    for kind, node in calls.items():
        value = node.get(leaf) if isinstance(node, dict) else None
        if not (isinstance(value, str) and value.strip().isdecimal()):
            return UsageRead(None, None, why=f"{calls_node} {kind} {leaf} is {value!r}")
        by_type.append((kind, int(value)))
    value = regs.get(reg_leaf) if isinstance(regs, dict) else None
    if not (isinstance(value, str) and value.strip().isdecimal()):
        return UsageRead(None, None, why=f"{reg_node} {reg_leaf} is {value!r}")
    return UsageRead(sum(n for _, n in by_type), int(value), tuple(by_type))


def read_usage(app: Appliance) -> UsageRead:
    """Current calls and registrations of one peer over its SSH admin shell.

    Raises:
        TransportError: the peer did not answer.
    """
    from exops.appliance.factory import RoutedAppliance
    from exops.appliance.ssh import SshAppliance

    ssh = app.ssh if isinstance(app, RoutedAppliance) else app
    if not isinstance(ssh, SshAppliance):
        return UsageRead(None, None, why="this appliance offers no SSH status read")
    try:
        tree = ssh._single(_usage().command)
    except ApplianceError as exc:
        return UsageRead(None, None, why=str(exc))
    return usage_from_tree(tree)

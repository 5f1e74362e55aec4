"""The public API: what ``import exops`` offers (httpx's tests/test_exported_members.py).

The list below is the contract with users' scripts: a name added to or removed
from ``exops.__all__`` must be a deliberate change of this test (and of docs/api.md).
"""

from __future__ import annotations

import ast
import inspect
import subprocess
import sys
from pathlib import Path

import pytest

import exops

PUBLIC = [
    "Action",
    "ActionKind",
    "ApplianceError",
    "AuthError",
    "CheckOutcome",
    "CheckResult",
    "ClusterReport",
    "DivergenceError",
    "Env",
    "EventsObserver",
    "ExitCode",
    "ExopsError",
    "FleetItem",
    "FleetResult",
    "Inventory",
    "InventoryError",
    "JournalObserver",
    "LockLostError",
    "LockedError",
    "Observer",
    "Plan",
    "PlanEditedError",
    "PreconditionError",
    "RunInfo",
    "RunResult",
    "RunStatus",
    "RunbookFileError",
    "Runner",
    "Settings",
    "StalePlanError",
    "StepResult",
    "StepStatus",
    "TimeoutError_",
    "TlsError",
    "TransportError",
    "UsageError",
    "Verdict",
    "__version__",
    "check",
    "load_env",
    "load_inventory",
    "load_plan_file",
    "load_settings",
    "render_plan",
    "run_fleet",
    "status",
]

ERRORS = [n for n in PUBLIC if n.endswith(("Error", "Error_"))]


def test_all_is_the_pinned_list_sorted() -> None:
    assert exops.__all__ == PUBLIC
    assert exops.__all__ == sorted(exops.__all__)


@pytest.mark.parametrize("name", PUBLIC)
def test_each_public_name_resolves_to_an_exops_object(name: str) -> None:
    value = getattr(exops, name)
    assert value is not None
    if name == "__version__":
        assert value == exops.__version__ and value.count(".") == 2
        return
    assert inspect.getmodule(value).__name__.startswith("exops."), name  # type: ignore[union-attr]
    assert inspect.getdoc(value), f"exops.{name} has no docstring"
    # `from exops import X` gives the same object as the module that defines it.
    namespace: dict[str, object] = {}
    exec(f"from exops import {name} as got", namespace)
    assert namespace["got"] is value


@pytest.mark.parametrize("name", ERRORS)
def test_every_exported_error_is_an_exops_error_with_an_exit_code(name: str) -> None:
    error = getattr(exops, name)
    assert issubclass(error, exops.ExopsError)
    assert int(error.exit_code) in {int(c) for c in exops.ExitCode}


def test_every_subclass_of_exops_error_in_the_library_is_exported_or_internal() -> None:
    """A caller can catch what ``Runner`` and the getters raise by its exported name:
    every ``ExopsError`` subclass of the stages is exported, except those that never
    leave the stage that raises them (turned into a step's result there)."""
    import exops.appliance.rest
    import exops.appliance.ssh
    import exops.apply.executor
    import exops.run.runner

    # Become a failed step of the run (its error and advice), never raised out of it.
    internal = {"SafetyError", "CommandRefused", "ChangedDuringRun", "CertificateProblem"}
    # Caught as the exported ApplianceError (a peer that lists one address twice).
    internal.add("DuplicateSlotsError")
    # renew-cert's refusal: caught as the exported PreconditionError (exit 3).
    internal.add("Refused")

    def subclasses(cls: type) -> set[type]:
        return {s for c in cls.__subclasses__() for s in (c, *subclasses(c))}

    found = {
        c.__name__
        for c in subclasses(exops.ExopsError)
        if c.__module__.startswith("exops.") and not c.__module__.startswith("exops.lab")
    }
    assert found - internal <= set(ERRORS), found - internal - set(ERRORS)


def test_an_unknown_name_is_an_attribute_error() -> None:
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        _ = exops.nope  # type: ignore[attr-defined]
    assert not hasattr(exops, "Session")  # internal names are not offered


def test_import_exops_loads_nothing_else() -> None:
    """`import exops` (and so `exops --help`) stays cheap: the names load on first use."""
    code = (
        "import sys, exops; "
        "print(sorted(m for m in sys.modules if m.startswith('exops') "
        "or m.split('.')[0] in ('typing', 'httpx', 'nornir', 'paramiko', 'pydantic', 'yaml')))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert out.strip() == "['exops']"


def test_what_mypy_sees_is_what_getattr_loads() -> None:
    """The ``if TYPE_CHECKING`` imports (types for users' checkers) and the lazy
    table name the same objects from the same modules."""
    tree = ast.parse(Path(exops.__file__).read_text())
    block = next(
        n
        for n in tree.body
        if isinstance(n, ast.If) and isinstance(n.test, ast.Name) and n.test.id == "TYPE_CHECKING"
    )
    typed = {
        alias.name: node.module
        for node in block.body
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("exops")
        for alias in node.names
    }
    assert typed == exops._EXPORTS
    assert sorted(typed) == PUBLIC

"""exops: idempotent, dry-run-first runbooks for Cisco Expressway / VCS clusters.

The public Python API (``docs/api.md``)::

    import exops

    env = exops.load_env("inventory/")
    print([r.verdict.value for r in exops.status(env)])          # read only
    plan = exops.Runner(env).plan("add-peer", "c1", {"peer": "c1-p4"}).plan
    result = exops.Runner(env).run("add-peer", "c1", {"peer": "c1-p4"}, yes=True)
    print(result.status, result.exit_code, result.changed)

Every name in ``__all__`` is loaded on first use (a module-level
``__getattr__``): ``import exops`` and ``exops --help`` import nothing heavy.
Anything not listed here is internal and may change between releases.
"""

from __future__ import annotations

import importlib

# Not typing.TYPE_CHECKING: importing typing would double the cost of `import exops`
# (mypy treats any constant of this name as true).
TYPE_CHECKING = False

# Public name -> the module that defines it. Resolved by importlib on first use,
# so the stage packages are not imported (and not seen as imported by the
# layer contract) before a script asks for them.
_EXPORTS: dict[str, str] = {
    "__version__": "exops.core.version",
    # settings, inventory, environment
    "Env": "exops.run.env",
    "load_env": "exops.run.env",
    "Settings": "exops.core.settings",
    "load_settings": "exops.core.settings",
    "Inventory": "exops.inventory",
    "load_inventory": "exops.inventory",
    # the read-only getters
    "status": "exops.run.read",
    "check": "exops.run.read",
    "ClusterReport": "exops.report.status",
    "Verdict": "exops.report.status",
    "CheckResult": "exops.plan.model",
    "CheckOutcome": "exops.plan.model",
    # plans
    "Plan": "exops.plan.model",
    "Action": "exops.plan.model",
    "ActionKind": "exops.plan.model",
    "load_plan_file": "exops.plan.model",
    "render_plan": "exops.report",
    # runs and their results
    "Runner": "exops.run.runner",
    "RunResult": "exops.apply.results",
    "RunStatus": "exops.apply.results",
    "StepResult": "exops.apply.results",
    "StepStatus": "exops.apply.results",
    "run_fleet": "exops.run.fleet",
    "FleetResult": "exops.run.fleet",
    "FleetItem": "exops.run.fleet",
    # observers
    "Observer": "exops.run.observers",
    "RunInfo": "exops.run.observers",
    "EventsObserver": "exops.run.observers",
    "JournalObserver": "exops.run.observers",
    # exit codes and errors
    "ExitCode": "exops.core.exitcodes",
    "ExopsError": "exops.core.errors",
    "UsageError": "exops.core.errors",
    "InventoryError": "exops.core.errors",
    "RunbookFileError": "exops.core.errors",
    "TransportError": "exops.core.errors",
    "AuthError": "exops.core.errors",
    "TlsError": "exops.core.errors",
    "TimeoutError_": "exops.core.errors",
    "ApplianceError": "exops.core.errors",
    "PreconditionError": "exops.core.errors",
    "LockedError": "exops.core.errors",
    "StalePlanError": "exops.core.errors",
    "DivergenceError": "exops.core.errors",
    "PlanEditedError": "exops.plan.model",
    "LockLostError": "exops.state.base",
}

__all__ = [
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

if TYPE_CHECKING:  # what mypy and editors see; at run time __getattr__ imports
    from typing import Any

    from exops.apply.results import RunResult, RunStatus, StepResult, StepStatus
    from exops.core.errors import (
        ApplianceError,
        AuthError,
        DivergenceError,
        ExopsError,
        InventoryError,
        LockedError,
        PreconditionError,
        RunbookFileError,
        StalePlanError,
        TimeoutError_,
        TlsError,
        TransportError,
        UsageError,
    )
    from exops.core.exitcodes import ExitCode
    from exops.core.settings import Settings, load_settings
    from exops.core.version import __version__
    from exops.inventory import Inventory, load_inventory
    from exops.plan.model import (
        Action,
        ActionKind,
        CheckOutcome,
        CheckResult,
        Plan,
        PlanEditedError,
        load_plan_file,
    )
    from exops.report import render_plan
    from exops.report.status import ClusterReport, Verdict
    from exops.run.env import Env, load_env
    from exops.run.fleet import FleetItem, FleetResult, run_fleet
    from exops.run.observers import EventsObserver, JournalObserver, Observer, RunInfo
    from exops.run.read import check, status
    from exops.run.runner import Runner
    from exops.state.base import LockLostError


def __getattr__(name: str) -> Any:
    """Import a public name on first use (PEP 562) and keep it in the module."""
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'exops' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})

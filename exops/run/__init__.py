"""Run runbooks from Python: the library API that the ``exops`` command uses.

    from exops.run import Runner, load_env

    env = load_env("inventory/")                      # settings: env vars / config file
    result = Runner(env).run("add-peer", "core-c", {"peer": "exp-c-4"}, yes=True)
    print(result.status, result.exit_code)            # RunStatus.OK 0
    for step in result.steps:                          # StepResult per action
        print(step.action.step, step.host, step.status, step.duration_s)

``Runner.plan`` is the dry run; ``apply_saved`` applies a saved plan after
re-planning; observers (``Observer`` subclasses) watch a run as it goes;
``run_fleet`` runs one runbook on several clusters, a runner each.
"""

from __future__ import annotations

import importlib

# Not typing.TYPE_CHECKING (see exops/__init__.py): mypy treats this name as true.
TYPE_CHECKING = False

# Public name -> its module, imported on first use (PEP 562): a module of this
# package (``exops.run.observers``, which the display imports for `exops status`)
# no longer pulls in the runner and the fleet with their own imports.
_EXPORTS: dict[str, str] = {
    "Env": "exops.run.env",
    "load_env": "exops.run.env",
    "FleetItem": "exops.run.fleet",
    "FleetResult": "exops.run.fleet",
    "run_fleet": "exops.run.fleet",
    "EventsObserver": "exops.run.observers",
    "JournalObserver": "exops.run.observers",
    "Observer": "exops.run.observers",
    "RunInfo": "exops.run.observers",
    "Runner": "exops.run.runner",
    "RunResult": "exops.apply.results",
    "RunStatus": "exops.apply.results",
    "StepResult": "exops.apply.results",
    "StepStatus": "exops.apply.results",
}

if TYPE_CHECKING:  # what mypy and editors see; at run time __getattr__ imports
    from typing import Any

    from exops.apply.results import RunResult, RunStatus, StepResult, StepStatus
    from exops.run.env import Env, load_env
    from exops.run.fleet import FleetItem, FleetResult, run_fleet
    from exops.run.observers import EventsObserver, JournalObserver, Observer, RunInfo
    from exops.run.runner import Runner

__all__ = [
    "Env",
    "EventsObserver",
    "FleetItem",
    "FleetResult",
    "JournalObserver",
    "Observer",
    "RunInfo",
    "RunResult",
    "RunStatus",
    "Runner",
    "StepResult",
    "StepStatus",
    "load_env",
    "run_fleet",
]


def __getattr__(name: str) -> Any:
    """Import a public name on first use (PEP 562) and keep it in the module."""
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'exops.run' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})

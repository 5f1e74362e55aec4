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

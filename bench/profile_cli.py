"""Profile one exops command, every thread of it: ``python bench/profile_cli.py OUT ARGS...``
= ``exops ARGS...`` with a cProfile profiler in each thread (the fleet runs a
cluster per thread, the gather a pool of them: a plain ``python -m cProfile``
sees the main thread alone, and the CLI's exit without the interpreter's
teardown, ``os._exit``, would skip writing its file). The merged statistics are
written to OUT (``pstats`` format) when the command exits.

``PROFILE_TIMER=cpu``: each thread's own CPU time (``time.thread_time``) instead
of wall time, so the statistics say where the CPU goes (a fleet run under the GIL
is bound by its CPU; wall time counts every thread's waits many times over).
"""

from __future__ import annotations

import cProfile
import os
import pstats
import runpy
import sys
import threading
import time
from typing import Any, NoReturn

PROFILES: list[cProfile.Profile] = []
TIMER = time.thread_time if os.environ.get("PROFILE_TIMER") == "cpu" else time.perf_counter


def _profile() -> cProfile.Profile:
    return cProfile.Profile(TIMER)


_run = threading.Thread.run


def _profiled_run(self: threading.Thread) -> None:
    profile = _profile()
    PROFILES.append(profile)
    profile.enable()
    try:
        _run(self)
    finally:
        profile.disable()


def _dump(out: str) -> None:
    stats = pstats.Stats(PROFILES[0])
    for profile in PROFILES[1:]:
        try:
            stats.add(profile)
        except (TypeError, ValueError):  # a thread still running: no statistics yet
            continue
    stats.dump_stats(out)


def main() -> None:
    out, args = sys.argv[1], sys.argv[2:]
    threading.Thread.run = _profiled_run  # type: ignore[method-assign]
    main_profile = _profile()
    PROFILES.insert(0, main_profile)
    real_exit = os._exit

    def exit_(code: int) -> NoReturn:
        main_profile.disable()
        _dump(out)
        real_exit(code)

    os._exit = exit_  # type: ignore[assignment]
    sys.argv = ["exops", *args]
    main_profile.enable()
    try:
        runpy.run_module("exops", run_name="__main__", alter_sys=True)
    except SystemExit as exc:
        main_profile.disable()
        _dump(out)
        code: Any = exc.code
        raise SystemExit(code) from None


if __name__ == "__main__":
    main()

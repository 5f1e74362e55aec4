"""A run's console and display are made on their first event (exops/cli/runs.py,
issue 22: start-up), and every hook still reaches them."""

from __future__ import annotations

import inspect
import threading
from typing import Any

from exops.cli import runs
from exops.run.observers import Observer

HOOKS = sorted(
    name
    for name, value in vars(Observer).items()
    if not name.startswith("_") and inspect.isfunction(value)
)


class Recorder(Observer):
    def __init__(self) -> None:
        self.calls: list[tuple[str, tuple[Any, ...]]] = []

    def __getattribute__(self, name: str) -> Any:
        if name in HOOKS:
            calls = object.__getattribute__(self, "calls")
            return lambda *args: calls.append((name, args))
        return object.__getattribute__(self, name)


def test_every_hook_of_an_observer_is_passed_on_to_the_one_made_on_use() -> None:
    made: list[Recorder] = []

    def make() -> Observer:
        made.append(Recorder())
        return made[-1]

    lazy = runs._MadeOnUse(make)
    assert made == []  # nothing made before its first event
    for name in HOOKS:
        assert name in vars(runs._MadeOnUse), f"_MadeOnUse does not pass on {name}"
        params = list(inspect.signature(getattr(Observer, name)).parameters)[1:]
        getattr(lazy, name)(*(f"{name}:{p}" for p in params))
    assert len(made) == 1  # made once, on the first event
    assert [c[0] for c in made[0].calls] == HOOKS
    for name, args in made[0].calls:
        params = list(inspect.signature(getattr(Observer, name)).parameters)[1:]
        assert args == tuple(f"{name}:{p}" for p in params)


def test_the_observer_is_made_once_whichever_thread_asks_first() -> None:
    made: list[int] = []
    start = threading.Barrier(8)

    def make() -> Observer:
        made.append(1)
        return Recorder()

    lazy = runs._MadeOnUse(make)

    def event() -> None:
        start.wait()
        lazy.waited("run", "what", 1.0)  # type: ignore[arg-type]

    threads = [threading.Thread(target=event) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert made == [1]

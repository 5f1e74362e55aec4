"""pytest fixtures for the mock lab: real servers, real sockets, one subnet each.

``lab_factory(clusters=, peers=, time_scale=, preset=, spec=, cdb_rest=False,
restart_grace=None, server_list_form="documented")`` starts a lab in its own process
(``python -m exops.lab up``)
on a loopback subnet no other lab of this test session uses (so pytest-xdist
workers never collide, and a subnet another session holds is skipped), and stops
it at the end of the test. ``restart_grace``: simulated seconds a peer goes on
answering after it accepts a restart, as a real appliance does (None: the lab's
default, 10 s; 0: the instant form, down at once). The returned
:class:`RunningLab` holds the environment that points exops at it and a client
for the control API (``exops.lab.client``).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from exops.lab import client
from exops.lab.client import Control, RunningLab

__all__ = ["Control", "RunningLab", "lab_factory", "start_lab"]


FIRST, LAST = 100, 239  # 127.240-254 are left to `exops rehearse` clones


def _subnets() -> Iterator[str]:
    """One /16 of 127/8 per lab: the range 127.100-239 is shared out evenly between
    the xdist workers (``PYTEST_XDIST_WORKER_COUNT``), so any number of workers fits."""
    worker = os.environ.get("PYTEST_XDIST_WORKER", "gw0")
    index = int(worker[2:]) if worker[2:].isdigit() else 0
    count = max(1, int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1") or 1))
    share = max(1, (LAST - FIRST + 1) // count)
    base = FIRST + (index % count) * share
    n = 0
    while True:
        yield f"127.{base + n % share}"
        n += 1


_SUBNETS = _subnets()


def start_lab(state_dir: Path, *, subnet: str | None = None, **options: Any) -> RunningLab:
    """A lab on ``subnet``, or on the next free subnet of this test worker."""
    if subnet is not None:
        return client.start_lab(state_dir, subnet=subnet, **options)
    return client.start_lab_anywhere(state_dir, _SUBNETS, **options)


@pytest.fixture
def lab_factory(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """Start labs on demand; every lab started is stopped after the test."""
    started: list[RunningLab] = []

    def factory(**kwargs: Any) -> RunningLab:
        lab = start_lab(tmp_path_factory.mktemp("lab"), **kwargs)
        started.append(lab)
        return lab

    yield factory
    for lab in started:
        lab.stop()

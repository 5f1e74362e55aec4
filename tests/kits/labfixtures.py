"""Integration fixtures: labs shaped for the runbook scenarios.

The lab's cluster-database REST interface is off by default, as on a real
X14.2+ appliance (so exops reads and writes cluster settings over SSH); a test
parametrised with ``transport="rest"`` gets a lab with it switched on.
"""

from __future__ import annotations

from typing import Any

import pytest


def _cdb_rest(request: pytest.FixtureRequest) -> bool:
    callspec = getattr(request.node, "callspec", None)
    return bool(callspec and callspec.params.get("transport") == "rest")


@pytest.fixture
def formed_lab(lab_factory: Any, request: pytest.FixtureRequest) -> Any:
    return lab_factory(
        clusters=1, peers=3, time_scale=0.004, preset="formed", cdb_rest=_cdb_rest(request)
    )


@pytest.fixture
def fresh_lab(lab_factory: Any, request: pytest.FixtureRequest) -> Any:
    return lab_factory(
        clusters=1, peers=4, time_scale=0.004, preset="unclustered", cdb_rest=_cdb_rest(request)
    )

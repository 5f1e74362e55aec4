"""Integration fixtures: labs shaped for the runbook scenarios."""

from __future__ import annotations

from typing import Any

import pytest


@pytest.fixture
def formed_lab(lab_factory: Any) -> Any:
    return lab_factory(clusters=1, peers=3, time_scale=0.004, preset="formed")


@pytest.fixture
def fresh_lab(lab_factory: Any) -> Any:
    return lab_factory(clusters=1, peers=4, time_scale=0.004, preset="unclustered")

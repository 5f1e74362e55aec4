"""The names the runbook loader accepts are exactly the registries' names.

The runbook language sits below the plan and apply stages, so it keeps the
check and condition names as tuples (``exops.runbook.vocabulary``); this pins
each tuple to the registry that gives the names their meaning.
"""

from __future__ import annotations

import pytest

from exops.apply.verify import CONDITIONS
from exops.core.errors import RunbookFileError
from exops.plan.preflight import CHECKS
from exops.runbook.loader import parse_runbook
from exops.runbook.vocabulary import CHECK_NAMES, CONDITION_NAMES


def test_check_names_are_the_preflight_registry() -> None:
    assert tuple(CHECKS) == CHECK_NAMES


def test_condition_names_are_the_verify_registry() -> None:
    assert tuple(CONDITIONS) == CONDITION_NAMES


def test_the_loader_refuses_a_name_outside_the_vocabulary() -> None:
    text = "name: x\ndescription: x\npreflight: [no_such_check]\nsteps: []\n"
    with pytest.raises(RunbookFileError, match="unknown check 'no_such_check'"):
        parse_runbook(text, "x.yaml")

"""A pytest plugin for a collection run (``-p collectkit``): writes every collected
test as JSON to the file ``COLLECTKIT_OUT`` names: its file, its function name, and
whether a skip marker that holds here would skip it. Used to check that the tests a
document names as proof exist and run (tests/unit/apply/test_rule_table.py)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest


def _skipped_here(item: pytest.Item) -> bool:
    for mark in item.iter_markers():
        if mark.name == "skip":
            return True
        if mark.name == "skipif":
            conditions = [*mark.args, mark.kwargs.get("condition")]
            if any(c is True for c in conditions):
                return True
    return False


def pytest_collection_finish(session: pytest.Session) -> None:
    out = os.environ.get("COLLECTKIT_OUT")
    if not out:
        return
    rows: list[dict[str, Any]] = [
        {
            "file": item.nodeid.split("::", 1)[0],
            "name": getattr(item, "originalname", None) or item.name,
            "skipped": _skipped_here(item),
        }
        for item in session.items
    ]
    Path(out).write_text(json.dumps(rows))

"""Shared test fixtures: the mock lab (from mock_server) and hygiene."""

from __future__ import annotations

import pytest

pytest_plugins = ["mock_server.pytest_plugin"]


@pytest.fixture(autouse=True)
def _clean_exops_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """No EXOPS_* variable leaks from the developer's shell into a test."""
    import os

    for name in list(os.environ):
        if name.startswith("EXOPS_"):
            monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("COLUMNS", "120")

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


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """Print the fault matrix's size and outcome (issue 7 asks for it)."""
    counts: dict[str, int] = {}
    for outcome in ("passed", "failed", "xfailed", "xpassed", "error"):
        for report in terminalreporter.stats.get(outcome, []):
            nodeid = getattr(report, "nodeid", "")
            if "test_faults.py" in nodeid and getattr(report, "when", "call") == "call":
                counts[outcome] = counts.get(outcome, 0) + 1
    if counts:
        total = sum(counts.values())
        detail = ", ".join(f"{n} {k}" for k, n in counts.items())
        terminalreporter.write_line(f"fault matrix: {total} cells ({detail})")

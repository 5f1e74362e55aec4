"""Shared test fixtures: the mock lab (from exops.lab) and hygiene."""

from __future__ import annotations

import pytest

# The lab fixture (exops.lab) and the lab shapes the CLI scenarios use (kits/labfixtures.py).
pytest_plugins = ["exops.lab.pytest_plugin", "labfixtures"]


@pytest.fixture(autouse=True)
def _clean_exops_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """No EXOPS_* variable leaks from the developer's shell into a test."""
    import os

    for name in list(os.environ):
        if name.startswith("EXOPS_"):
            monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("COLUMNS", "120")


# The longest tests first, so that pytest-xdist (``--dist load``, one or two tests
# queued per worker: scripts/test.sh's ``--maxschedchunk``) starts them while the
# quick ones still fill the other workers, instead of ending the run with a long
# tail on one worker. Measured order (``--durations``): the kill matrix's runbooks
# (each of them several labs at once, so they alternate with other long tests),
# the stateful test, the slowest integration files; then the rest of the matrices
# and integration tests, the lab, state and contract tests; unit tests last.
_KILL = "tests/matrices/test_kill_matrix.py::test_kill_after_each_write_then_rerun_converges"
_FIRST = (
    f"{_KILL}[convert-fqdn]",
    "tests/matrices/test_stateful.py::test_random_operator_sessions_converge",
    f"{_KILL}[add-peer]",
    "tests/integration/test_ansible.py",
    f"{_KILL}[switch-primary]",
    "tests/integration/test_secrets.py",
    f"{_KILL}[enforce-tls]",
    "tests/integration/test_snapshots_cli.py",
    f"{_KILL}[restore]",
    "tests/integration/test_upgrade_e2e.py",
    f"{_KILL}[remove-peer]",
    "tests/integration/test_renew_cert_e2e.py",
    f"{_KILL}[create-cluster]",
    "tests/integration/test_rollback.py",
    _KILL,  # address-mapping, the shortest, and any runbook added later
    "tests/matrices/test_lifecycle_faults.py",
    "tests/matrices/test_faults.py",
)
_THEN = ("tests/matrices/", "tests/integration/", "tests/lab/", "tests/state/", "tests/contract/")


def _rank(nodeid: str) -> int:
    for i, prefix in enumerate((*_FIRST, *_THEN)):
        if nodeid.startswith(prefix):
            return i
    return len(_FIRST) + len(_THEN)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Order the tests longest first (a stable sort: the same order on every worker)."""
    items.sort(key=lambda item: _rank(item.nodeid))


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
    _property_lines(terminalreporter)


def _property_lines(terminalreporter: pytest.TerminalReporter) -> None:
    """The kill matrix's and the stateful test's sizes (issue 11 items 4 and 8)."""
    sums: dict[str, int] = {}
    outcome_of: dict[str, str] = {}
    for outcome in ("passed", "failed", "error"):
        for report in terminalreporter.stats.get(outcome, []):
            if getattr(report, "when", "call") != "call":
                continue
            for key, value in getattr(report, "user_properties", ()):
                if key.startswith(("kill_", "stateful_")):
                    sums[key] = sums.get(key, 0) + int(value)
                    outcome_of[key.partition("_")[0]] = outcome
    if "kill_cells" in sums:
        terminalreporter.write_line(
            f"kill matrix: {sums['kill_cells']} cells over {sums.get('kill_runbooks', 0)} "
            f"runbooks ({sums.get('kill_known', 0)} known findings; {outcome_of['kill']})"
        )
    if "stateful_sequences" in sums:
        terminalreporter.write_line(
            f"stateful test: {sums['stateful_sequences']} sequences, "
            f"{sums.get('stateful_steps', 0)} steps ({outcome_of['stateful']}; "
            + ", ".join(
                f"{k.removeprefix('stateful_rule_')} {n}"
                for k, n in sorted(sums.items())
                if k.startswith("stateful_rule_")
            )
            + ")"
        )

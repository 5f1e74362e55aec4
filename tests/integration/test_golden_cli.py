"""What the CLI prints, against golden files (``EXOPS_UPDATE_GOLDEN=1`` rewrites them).

Each text is the real command's output on a fresh formed lab, normalised
(``tests/kits/goldenkit.py``: times, run ids, digests, the lab's subnet, step
durations; the progress lines of a wait, whose number depends on how fast
the lab moves, are left out). Nothing here waits for replication: the lab is
read as it was formed, and the runs change nothing that spreads.
"""

from __future__ import annotations

import io
import re
from pathlib import Path
from typing import Any

import pytest
from clikit import cli_for, run_in_pty
from goldenkit import GOLDEN, check_golden, normalise
from rich.console import Console

pytestmark = pytest.mark.integration

CLI_GOLDEN = GOLDEN / "cli"


def _golden(name: str, text: str) -> None:
    check_golden(name, normalise(text), directory=CLI_GOLDEN)


def _streams(proc: Any) -> str:
    """stdout, then stderr under a marker: both streams are part of what is read."""
    return f"{proc.stdout}--- stderr\n{proc.stderr}"


def test_status_of_a_healthy_cluster(formed_lab: Any, tmp_path: Path) -> None:
    proc = cli_for(formed_lab, tmp_path)("status", "-c", "c1")
    _golden("status-healthy.txt", _streams(proc))


def test_check_of_a_healthy_cluster_shows_not_applicable_rows(
    formed_lab: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """In-process (the same functions the command calls), with the round trips
    exops measured pinned before the checks run: they are wall-clock figures
    (above 80 ms the latency check becomes a manual check: n/a, never a warning)."""
    import exops.plan.preflight
    from exops.cli.read import check_results, print_checks
    from exops.run.env import load_env

    run_checks = exops.plan.preflight.run_checks

    def pinned(facts: Any, *args: Any, **kwargs: Any) -> Any:
        peers = tuple(
            p.model_copy(update={"rtt_ms": 4.0 + i}) if p.rtt_ms is not None else p
            for i, p in enumerate(facts.peers)
        )
        return run_checks(facts.model_copy(update={"peers": peers}), *args, **kwargs)

    monkeypatch.setattr(exops.plan.preflight, "run_checks", pinned)
    for name, value in cli_for(formed_lab, tmp_path).env.items():
        if name.startswith("EXOPS_"):
            monkeypatch.setenv(name, value)
    results = check_results(load_env(), ["c1"], None)["c1"]
    out = io.StringIO()
    print_checks(Console(file=out, width=200, highlight=False), "c1", results)
    assert {c.outcome.value for c in results} == {"pass", "n/a"}
    _golden("check-healthy.txt", out.getvalue())


def test_dry_run_prints_the_full_plan(formed_lab: Any, tmp_path: Path) -> None:
    proc = cli_for(formed_lab, tmp_path)("restart", "-c", "c1", "--peer", "c1-p2", "--dry-run")
    _golden("restart-dry-run.txt", _streams(proc))


def test_real_run_prints_the_summary_the_step_lines_and_the_recap(
    formed_lab: Any, tmp_path: Path
) -> None:
    proc = cli_for(formed_lab, tmp_path)("restart", "-c", "c1", "--peer", "c1-p2", "--yes")
    _golden("restart-run.txt", _streams(proc))


def test_a_refusal_prints_the_evidence_and_one_line(formed_lab: Any, tmp_path: Path) -> None:
    proc = cli_for(formed_lab, tmp_path)("enforce-tls", "-c", "c1", "--yes", expect=3)
    _golden("enforce-tls-refused.txt", _streams(proc))


def test_a_real_run_in_a_terminal_shows_the_summary_then_asks(
    formed_lab: Any, tmp_path: Path
) -> None:
    """The operator answers no: nothing is changed, and the screen is the summary,
    the question and one line."""
    cli = cli_for(formed_lab, tmp_path)
    code, screen, _ = run_in_pty(
        ["restart", "-c", "c1", "--peer", "c1-p2"], cli.env, answer=(b"[y/N]: ", b"n\n")
    )
    assert code == 2, screen
    _golden("restart-asks.txt", screen.replace("\r\n", "\n"))


@pytest.mark.parametrize(("width", "name"), [(100, "status-100-columns.txt"), (60, "status-60-columns.txt")])
def test_status_fits_a_narrow_terminal(
    formed_lab: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, width: int, name: str
) -> None:
    """At 100 columns the table keeps the columns that matter, every value whole; at
    60, one block per peer. In-process (the function the command prints with)."""
    from exops.cli.read import print_report
    from exops.facts.gather import STATUS_FACTS
    from exops.report.status import summarize
    from exops.run.env import load_env

    for key, value in cli_for(formed_lab, tmp_path).env.items():
        if key.startswith("EXOPS_"):
            monkeypatch.setenv(key, value)
    with load_env().session(["c1"]) as session:
        facts = session.gather_many(["c1"], needs=STATUS_FACTS)["c1"]
    out = io.StringIO()
    print_report(Console(file=out, width=width, highlight=False), summarize(facts))
    text = out.getvalue()
    assert max(len(line) for line in text.splitlines()) <= width, text
    assert "…" not in text  # nothing elided
    for peer in ("c1-p1", "c1-p2", "c1-p3"):
        assert re.search(rf"127\.\d+\.1\.1{peer[-1]}", text)  # the listed address, whole
    _golden(name, text)

"""docs/api.md's examples, run as they are written against the real lab.

Every ```python block of the page runs in order, in one namespace (as a user
pasting them into one interpreter would), with the lab's EXOPS_* settings in
the environment; then what the examples claim is checked against the lab.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from clikit import cli_for
from paths import REPO

pytestmark = pytest.mark.integration

DOC = REPO / "docs" / "api.md"


def blocks() -> list[str]:
    return re.findall(r"```python\n(.*?)```", DOC.read_text(), re.S)


def test_the_page_has_examples_for_every_part_of_the_api() -> None:
    code = "\n".join(blocks())
    for name in (
        "load_env",
        "status",
        "check",
        "Runner",
        "load_plan_file",
        "apply_saved",
        "Observer",
        "UsageError",
        "run_fleet",
        "render_plan",
        "cluster_nornir",
    ):
        assert name in code, name


def test_every_example_runs_against_the_lab(
    lab_factory: Any,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    lab = lab_factory(clusters=2, peers=3, time_scale=0.004, preset="formed")
    cli = cli_for(lab, tmp_path)
    for name, value in cli.env.items():
        if name.startswith("EXOPS_"):
            monkeypatch.setenv(name, value)
    monkeypatch.chdir(tmp_path)
    namespace: dict[str, Any] = {"__name__": "docs_api"}
    for number, code in enumerate(blocks(), 1):
        try:
            exec(compile(code, f"docs/api.md block {number}", "exec"), namespace)
        except Exception as exc:
            raise AssertionError(f"docs/api.md block {number} failed:\n{code}") from exc
    out = capsys.readouterr().out

    # What the examples printed is what the lab holds.
    assert "['c1', 'c2']" in out
    assert "c1 healthy" in out and "c2 healthy" in out
    assert "planned 0" in out and "exops plan: restart" in out
    assert "'nope' is not a peer of cluster c1 (peers: c1-p1, c1-p2, c1-p3) -> 2" in out
    assert "UsageError 2 USAGE" in out
    # The saved plan restarted c1-p2, the observed run c1-p3; the fleet and Nornir
    # examples were dry runs: nothing else was restarted.
    assert [r["peer"] for r in lab.control.metrics()["restarts"]] == ["c1-p2", "c1-p3"]
    assert "c1 1 restart c1-p3: changed" in out  # the observer, as the step finished
    assert "True exops plan: restart on cluster c2" in out  # Nornir's dry run: the diff
    # The runs are in the journal the command line reads.
    runs = cli.json("history")["runs"]
    assert sorted(r["runbook"] for r in runs) == ["restart", "restart"]
    assert {r["run_id"] for r in runs} >= {namespace["result"].run_id}

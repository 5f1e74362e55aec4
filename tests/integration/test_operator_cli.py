"""What an operator meets after a run (issue 32), through the real CLI on the lab:
closed output formats, `show` and `history` of the journal, refused and
"nothing to change" runs journalled."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from clikit import cli_for

pytestmark = pytest.mark.integration


# -- formats: a closed choice, and --out writes what --format names -------------------


@pytest.mark.parametrize(
    "args",
    [
        ("show", "0123456789ab", "--format", "xml"),
        ("restart", "-c", "c1", "--dry-run", "--format", "xml"),
        ("plan", "restart", "-c", "c1", "--format", "pdf"),
        ("restore", "-c", "c1", "--peer", "c1-p2", "--dry-run", "-f", "yaml"),
        ("rehearse", "restart", "-c", "c1", "--format", "docx"),
    ],
)
def test_an_unknown_format_is_bad_input(
    formed_lab: Any, tmp_path: Path, args: tuple[str, ...]
) -> None:
    proc = cli_for(formed_lab, tmp_path)(*args, expect=2)
    assert proc.stdout == ""
    assert proc.stderr.count("\n") == 1, proc.stderr
    assert "--format" in proc.stderr and "'text', 'md', 'html', 'json'" in proc.stderr


def test_out_writes_the_format_named_and_show_prints_json(formed_lab: Any, tmp_path: Path) -> None:
    cli = cli_for(formed_lab, tmp_path)
    html, md, plain = tmp_path / "x.html", tmp_path / "x.json", tmp_path / "plan.json"
    run = cli(
        "restart", "-c", "c1", "--peer", "c1-p2", "--yes", "--format", "html", "--out", str(html)
    )
    assert html.read_text().lstrip().startswith("<!DOCTYPE html>"), html.read_text()[:200]
    assert "PLAY RECAP" in run.stdout  # the screen keeps the recap
    # --format wins over the suffix; without --format the suffix decides.
    cli("restart", "-c", "c1", "--peer", "c1-p3", "--dry-run", "-f", "md", "--out", str(md))
    assert md.read_text().startswith("# "), md.read_text()[:200]
    cli("plan", "restart", "-c", "c1", "--peer", "c1-p3", "--out", str(plain))
    assert json.loads(plain.read_text())["format"].startswith("exops.plan/")

    run_id = cli.json("history")["runs"][0]["run_id"]
    shown = cli("show", run_id, "--format", "json").stdout
    doc = json.loads(shown)
    assert doc["run_id"] == run_id and doc["steps"]
    assert json.loads(cli("show", run_id, "--json").stdout) == doc
    assert cli("show", run_id, "--format", "html").stdout.lstrip().startswith("<!DOCTYPE html>")

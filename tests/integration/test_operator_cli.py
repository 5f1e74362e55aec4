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


# -- show and history: what the journal knows, printed ------------------------------------


def test_show_of_a_failed_run_and_history_with_filters(formed_lab: Any, tmp_path: Path) -> None:
    lab, cli = formed_lab, cli_for(formed_lab, tmp_path)
    ok = cli.json("restart", "-c", "c1", "--peer", "c1-p2", "--yes")["run_id"]
    lab.control.inject("restart_hang", peer="c1-p3")
    failed = cli.json(
        "restart", "-c", "c1", "--peer", "c1-p3", "--yes", "--restart-timeout", "3", expect=1
    )["run_id"]

    # A unique prefix names the run; the text shows what failed and what to do.
    text = cli("show", failed[:6]).stdout
    assert text.startswith(f"exops run {failed}: restart on cluster c1 - failed"), text
    assert "exit 1  took " in text and "params  peer=c1-p3" in text
    failure = text[text.index("UNREACHABLE step 1 'restart c1-p3'") : text.index("Steps")]
    assert "c1-p3" in failure and "error: " in failure and "what to do: " in failure, failure
    assert "Plan (as it was applied)" in text and "restart  c1-p3  restart c1-p3" in text

    table = cli("history").stdout
    for column in ("params", "took", "changed"):
        assert column in table
    assert "peer=c1-p3" in table and "peer=c1-p2" in table

    def listed(*args: str) -> list[str]:
        return [r["run_id"] for r in cli.json("history", *args)["runs"]]

    assert listed("--status", "failed") == [failed]
    assert listed("--status", "ok", "--runbook", "restart") == [ok]
    assert listed("--runbook", "add-peer") == []
    assert listed("--since", "1h") == [failed, ok]
    assert listed("--until", "2000-01-01") == []
    runs = cli.json("history")["runs"]
    assert [(r["changed"], r["duration_s"] is not None) for r in runs] == [(0, True), (1, True)]
    bad = cli("history", "--since", "yesterday-ish", expect=2).stderr
    assert bad.count("\n") == 1 and "--since" in bad
    assert cli("history", "--status", "maybe", expect=2).stderr.count("\n") == 1


def test_an_ambiguous_or_unknown_run_id_is_bad_input(formed_lab: Any, tmp_path: Path) -> None:
    cli = cli_for(formed_lab, tmp_path)
    first = cli.json("restart", "-c", "c1", "--peer", "c1-p2", "--yes")["run_id"]
    second = cli.json("restart", "-c", "c1", "--peer", "c1-p3", "--yes")["run_id"]
    common = next(
        (first[:n] for n in range(len(first), -1, -1) if second.startswith(first[:n])), ""
    )
    err = cli("show", common, expect=2).stderr
    assert "ambiguous" in err and first in err and second in err and err.count("\n") == 1
    assert "no run" in cli("show", "zzzz", expect=2).stderr


# -- every run is journalled: refused and "nothing to change" too ------------------------


def test_refused_and_nothing_to_change_runs_are_journalled(
    formed_lab: Any, tmp_path: Path
) -> None:
    from pathlib import Path as P

    cli = cli_for(formed_lab, tmp_path)
    refused = cli.json("enforce-tls", "-c", "c1", "--yes", expect=3)
    assert refused["status"] == "refused" and refused["run_id"]
    example = P(__file__).parents[2] / "docs" / "examples" / "set-cluster-name.yaml"
    args = ("run", str(example), "-c", "c1", "-P", "value=core.example.com", "--yes")
    cli(*args)
    idle = cli(*args)
    assert "nothing to change" in idle.stdout and "(run " in idle.stdout
    cli("enforce-tls", "-c", "c1", "--dry-run", expect=3)  # a dry run is no run: not journalled

    runs = cli.json("history")["runs"]
    assert [(r["runbook"], r["status"], r["exit_code"]) for r in runs] == [
        ("set-cluster-name", "nothing_to_change", 0),
        ("set-cluster-name", "ok", 0),
        ("enforce-tls", "refused", 3),
    ]
    text = cli("show", refused["run_id"]).stdout
    assert "- refused" in text.splitlines()[0]
    assert "REFUSED: preflight failed: tls_names" in text, text
    assert "listed as IP" in text  # the evidence of the failed check, from the stored plan
    record = cli.json("show", refused["run_id"])
    assert record["steps"] == [] and record["plan"]["refused"]


# -- words: a refusal says each cause once, with the fix that fits ------------------------


def test_a_refusal_says_one_cause_once_with_the_fix_that_fits(
    fresh_lab: Any, tmp_path: Path
) -> None:
    """c1-p2 presents a self-signed certificate (as after a factory reset) while the CA
    bundle is given: one cause, said once, with the fix for a self-signed certificate
    (not "give the CA with --ca-bundle"), and the checks it kept from being made."""
    lab, cli = fresh_lab, cli_for(fresh_lab, tmp_path)
    cli("create-cluster", "-c", "c1", "--yes")
    lab.control.patch_peer("c1-p2", cert="self_signed")
    proc = cli("add-peer", "-c", "c1", "--peer", "c1-p2", "--yes", expect=3)
    out = proc.stdout
    assert out.count("self-signed certificate") == 2, out  # the cause, and its fix
    assert out.count("c1-p2 cannot be read") == 1, out
    assert "install its CA-signed certificate again" in out
    assert "give the CA with --ca-bundle" not in out + proc.stderr
    assert "so these checks could not be made: " in out
    assert len(out.splitlines()) <= 8, out
    assert proc.stderr.count("\n") == 1 and "c1-p2 cannot be read" in proc.stderr


def test_enforce_tls_refused_for_ip_names_names_convert_fqdn(
    formed_lab: Any, tmp_path: Path
) -> None:
    proc = cli_for(formed_lab, tmp_path)("enforce-tls", "-c", "c1", "--yes", expect=3)
    assert "fix: TLS Enforce needs every peer listed by an FQDN: run `exops convert-fqdn -c c1`" in (
        proc.stdout
    )


def test_probe_says_what_its_verdicts_mean_and_explains_its_marks(
    formed_lab: Any, tmp_path: Path
) -> None:
    text = cli_for(formed_lab, tmp_path)("probe", "-c", "c1").stdout
    assert "runbooks: whether the interfaces each one needs answer (not whether it would run" in (
        text
    )
    assert "enforce-tls          interfaces answer" in text  # its preflight would refuse
    assert "can run" not in text and "SETTING_RULES[" not in text
    legend = text[text.index("evidence marks") :]
    for mark in ("CONFIRMED", "MOCK-DEFINED"):
        if f"({mark})" in text:
            assert f"  {mark}: " in legend, legend
    assert "MOCK-DEFINED: no public form exists" in legend


def test_a_failed_rehearsal_reads_as_a_rehearsal_with_the_outcome_on_top(
    lab_factory: Any, tmp_path: Path
) -> None:
    lab = lab_factory(clusters=1, peers=2, time_scale=0.004, preset="unclustered")
    cli = cli_for(lab, tmp_path)
    cli("create-cluster", "-c", "c1", "--yes")
    out = tmp_path / "rehearsal.html"
    cli("rehearse", "add-peer", "-c", "c1", "--peer", "c1-p2", "--time-scale", "0.004",
        "--inject", "restart_hang@restart c1-p2", "--format", "html", "--out", str(out),
        expect=1)  # fmt: skip
    page = out.read_text()
    assert "<title>Rehearsal of add-peer on a clone of c1</title>" in page
    assert "Change review" not in page
    outcome = page.index("Outcome on the clone: FAILED")
    assert outcome < page.index("The plan rehearsed:") < page.index("Timeline (predicted")
    # The clone's own seconds are apart from the predictions at real time.
    timeline = page[page.index("Timeline (predicted") : page.index("The clone (simulated time)")]
    assert "clone" not in timeline, timeline
    assert "simulated time, not a prediction" in page[page.index("The clone (simulated time)") :]


def test_logs_analyze_tells_exops_planned_restarts_from_faults(
    formed_lab: Any, tmp_path: Path
) -> None:
    """After a clean ordered restart every peer's log shows communication failures;
    with the journal that ran it they are named as planned, never 'flapping'."""
    cli = cli_for(formed_lab, tmp_path)
    run = cli.json("restart", "-c", "c1", "--yes")["run_id"]
    blind = cli_for(formed_lab, tmp_path / "no-journal")  # the same logs, no journal
    unjournalled = blind.json("logs", "analyze", "-c", "c1")
    journalled = cli.json("logs", "analyze", "-c", "c1")

    def verdicts(doc: dict[str, Any]) -> dict[str, str]:
        return {p["host"]: p["verdict"] for p in doc["peers"]}

    assert "flapping" in verdicts(unjournalled).values(), unjournalled  # what it was before
    assert "flapping" not in verdicts(journalled).values(), journalled
    reasons = " ".join(r for p in journalled["peers"] for r in p["reasons"])
    assert f"exops's own planned restarts, not counted as faults: restart run {run}" in reasons

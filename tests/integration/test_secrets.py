"""The lab password never leaves the process; HTTPS is verified by default.

A run that succeeds and one that fails are driven through every output
exops has (stdout/stderr, ``--json``, ``--events``, md/html/json plans with
``--out``, ``history``, ``show``), then every byte exops wrote (the events
files, the journal database and its WAL, the backups, the plans, the whole
state directory) is scanned for the password.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from clikit import cli_for, last_seq, writes_since

pytestmark = pytest.mark.integration

FAST = {
    "EXOPS_RESTART_TIMEOUT": "5",
    "EXOPS_SETTLE_TIMEOUT": "4",
    "EXOPS_READ_TIMEOUT": "2",
    "EXOPS_CONNECT_TIMEOUT": "2",
}


def _files(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if p.is_file()]


def test_password_never_appears_anywhere(lab_factory: Any, tmp_path: Path) -> None:
    lab = lab_factory(clusters=1, peers=3, time_scale=0.004, preset="formed")
    secret = lab.password
    assert len(secret) >= 8
    cli = cli_for(lab, tmp_path, **FAST)
    out = tmp_path / "out"
    out.mkdir()
    texts: list[str] = []

    def keep(proc: Any) -> Any:
        texts.extend([proc.stdout, proc.stderr])
        return proc

    # Plans in every format, printed and saved.
    for fmt in ("text", "md", "html", "json"):
        keep(
            cli(
                "convert-fqdn",
                "-c",
                "c1",
                "--dry-run",
                "--format",
                fmt,
                "--out",
                str(out / f"plan.{fmt}"),
            )
        )
    keep(cli("plan", "convert-fqdn", "-c", "c1", "--out", str(out / "saved-plan.json")))
    # A run that succeeds, with events and JSON.
    keep(cli("convert-fqdn", "-c", "c1", "--yes", "--json", "--events", str(out / "ok.jsonl")))
    # A run that fails: the restart request answers 500.
    fault = lab.control.inject("http_error", peer="c1-p2", path_prefix="/api/provisioning/restart")
    failed = keep(
        cli(
            "restart",
            "-c",
            "c1",
            "--peer",
            "c1-p2",
            "--yes",
            "--events",
            str(out / "bad.jsonl"),
            expect=1,
        )
    )
    keep(cli("restart", "-c", "c1", "--peer", "c1-p2", "--yes", "--json", expect=1))
    lab.control.clear(fault)
    assert "c1-p2" in failed.stdout
    # A run that is refused, and a connection that is refused (wrong password).
    keep(cli("enforce-tls", "-c", "c1", "--dry-run", "--format", "md", expect=None))
    wrong = cli_for(lab, tmp_path, **FAST, EXOPS_PASSWORD=secret[::-1])
    keep(wrong("status", "-c", "c1", expect=None))
    keep(wrong("restart", "-c", "c1", "--peer", "c1-p3", "--yes", expect=None))
    # The records.
    history = cli.json("history")
    keep(cli("history"))
    runs = [r["run_id"] for r in history["runs"]]
    assert len(runs) >= 3
    for run_id in runs:
        keep(cli("show", run_id, "--json"))
        keep(cli("show", run_id))
        keep(cli("show", run_id, "--format", "md"))
        keep(cli("show", run_id, "--format", "html"))
    keep(cli("status", "-c", "c1", "--json", expect=None))
    keep(cli("check", "-c", "c1", "--json", expect=None))

    for i, text in enumerate(texts):
        assert secret not in text, f"password in output #{i}: {text[:200]}"
    state = tmp_path / "exops-state"
    written = _files(out) + _files(state)
    names = {p.name for p in written}
    assert "journal.sqlite" in names and any(p.suffix == ".json" for p in _files(state / "backups"))
    assert {
        "ok.jsonl",
        "bad.jsonl",
        "plan.md",
        "plan.html",
        "plan.json",
        "saved-plan.json",
    } <= names
    for path in written:
        data = path.read_bytes()
        assert secret.encode() not in data, f"password in {path}"
        assert secret.encode("utf-16-le") not in data, f"password (utf-16) in {path}"


def test_https_is_verified_by_default(lab_factory: Any, tmp_path: Path) -> None:
    lab = lab_factory(clusters=1, peers=3, time_scale=0.004, preset="formed")
    cli = cli_for(lab, tmp_path, **FAST)
    lab.control.patch_peer("c1-p3", cert="self_signed")
    seq = last_seq(lab)
    status = cli("status", "-c", "c1", expect=1)
    assert "c1-p3" in status.stdout and "--ca-bundle" in status.stdout, status.stdout
    assert "certificate" in status.stdout.lower()
    refused = cli("convert-fqdn", "-c", "c1", "--yes", expect=3)
    both = refused.stdout + refused.stderr
    # Named as what it is (issue 19), with the fix that keeps verification on.
    assert "c1-p3" in refused.stderr and "self-signed" in refused.stderr, refused.stderr
    assert "--insecure" not in refused.stderr
    assert "certificate" in both.lower() and "--ca-bundle" in both, both
    assert "Traceback" not in refused.stderr
    assert writes_since(lab, seq) == []
    # Without the lab CA, even the good peers are refused.
    env = {k: v for k, v in cli.env.items() if k != "EXOPS_CA_BUNDLE"}
    no_ca = cli_for(lab, tmp_path, **FAST)
    no_ca.env = env
    plain = no_ca("status", "-c", "c1", expect=1)
    assert plain.stdout.count("--ca-bundle") >= 3, plain.stdout
    assert writes_since(lab, seq) == []


def test_insecure_is_explicit_and_warned_about(lab_factory: Any, tmp_path: Path) -> None:
    lab = lab_factory(clusters=1, peers=2, time_scale=0.004, preset="formed")
    cli = cli_for(lab, tmp_path, **FAST)
    lab.control.patch_peer("c1-p2", cert="self_signed")
    proc = cli("status", "-c", "c1", "--insecure", expect=None)
    assert "--ca-bundle" not in proc.stdout  # the self-signed peer answered
    assert "insecure" in proc.stderr.lower() or "verification" in proc.stderr.lower(), proc.stderr

"""Plan and run reports against golden files (``EXOPS_UPDATE_GOLDEN=1`` rewrites them)."""

from __future__ import annotations

import re

import goldenkit
import pytest
from reportkit import P1, P2, P3, SECRET, _settings, add_peer_plan, run_record

from exops.appliance.base import Field, Write
from exops.core.models import ClusterSettings, TlsMode
from exops.plan.model import Action, ActionKind, CheckOutcome, CheckResult, Plan
from exops.report import render_plan, render_run


def clean(text: str) -> str:
    """Mask timestamps; fail on any secret (the cleaner proves none leaks)."""
    assert SECRET not in text, "a secret leaked into a report"
    return goldenkit.STAMP.sub("<TIMESTAMP>", text)


def check_golden(name: str, text: str) -> None:
    goldenkit.check_golden(name, clean(text))


@pytest.mark.parametrize(
    ("fmt", "name"), [("md", "plan.md"), ("html", "plan.html"), ("text", "plan.txt")]
)
def test_plan_golden(fmt: str, name: str) -> None:
    check_golden(name, render_plan(add_peer_plan(), fmt))


def test_run_golden() -> None:
    check_golden("run.md", render_run(run_record(), "md"))


@pytest.mark.parametrize("fmt", ["text", "md", "html", "json"])
def test_run_other_formats_render_without_secret(fmt: str) -> None:
    out = render_run(run_record(), fmt)
    assert SECRET not in out
    assert "a1b2c3d4e5f6" in out


def test_text_plan_lines() -> None:
    text = render_plan(add_peer_plan(), "text")
    assert re.search(r"\n  1  backup +c1-p1 +back up settings\n", text)
    assert re.search(r"\n  5  restart +c1-p3 +restart the new peer\n +- why: restart pending", text)
    assert "peer_address 3 = '10.0.0.13'" in text
    assert "expected downtime 4 min" in text
    assert "until cluster_healthy (timeout 10 min)" in text
    assert "expected transient alarms: 20004, 20006, 20007" in text
    assert "ok: add the new peer on c1-p2: slot 3 already holds 10.0.0.13" in text
    assert "WARN  latency" in text
    assert "admin_password=********" in text
    assert text.rstrip().endswith("Plan: 2 to change, 1 restart, 1 already in place.")


def test_json_is_the_plan() -> None:
    plan = add_peer_plan()
    assert Plan.from_json(render_plan(plan, "json")) == plan


def test_no_change_plan() -> None:
    plan = add_peer_plan(actions=(), preflight=(), warnings=())
    text = render_plan(plan, "text")
    assert text.rstrip().endswith("No changes. The cluster matches the runbook.")
    md = render_plan(plan, "md")
    assert "No peer is restarted." in md
    assert "Nothing to roll back" in md


def test_refused_plan_shows_reason() -> None:
    plan = add_peer_plan(actions=(), refused="the cluster already has 6 peers")
    for fmt in ("text", "md", "html"):
        assert "the cluster already has 6 peers" in render_plan(plan, fmt)


def test_risks_are_derived() -> None:
    six = _settings(P1, P2, P3, "10.0.0.14", "10.0.0.15", "10.0.0.16")
    enforce = six.model_copy(update={"tls_mode": TlsMode.ENFORCE})
    plan = add_peer_plan(
        actions=(
            Action(
                id="1",
                step="enforce",
                kind=ActionKind.CONFIGURE,
                host="c1-p1",
                writes=(Write(field=Field.TLS_MODE, value="Enforce"),),
                before=six,
                after=enforce,
            ),
            Action(
                id="2",
                step="decommission",
                kind=ActionKind.CONFIGURE,
                host="c1-p2",
                before=six,
                after=ClusterSettings(),
            ),
            Action(id="3", step="restart", kind=ActionKind.RESTART, host="c1-p1"),
        )
    )
    md = render_plan(plan, "md")
    assert "restart of the configuration primary c1-p1" in md
    assert "factory reset hazard on c1-p2" in md
    assert "TLS verification mode goes to Enforce on c1-p1" in md
    assert "a cluster of 6 peers" in md
    assert "exops remove-peer -c c1 --peer c1-p3" in md  # add-peer's way back (rollback.py)
    assert "| TLS verification mode | `Permissive` | `Enforce` |" in md


def test_html_escapes_values() -> None:
    plan = add_peer_plan(warnings=("<script>alert(1)</script>",))
    html = render_plan(plan, "html")
    assert "<script>" not in html
    assert "&lt;script&gt;" in html


def test_unknown_format() -> None:
    with pytest.raises(ValueError, match="unknown report format"):
        render_plan(add_peer_plan(), "pdf")


def test_md_cells_escape_pipes() -> None:
    plan = add_peer_plan(
        skipped=(),
        warnings=(),
        preflight=(CheckResult(name="a|b", outcome=CheckOutcome.FAIL, summary="x | y"),),
    )
    md = render_plan(plan, "md")
    assert "| a\\|b | **FAIL** | x \\| y |" in md


@pytest.mark.parametrize(
    ("fmt", "name", "expected"),
    [
        (None, None, "text"),
        (None, "plan.json", "json"),
        (None, "review.MD", "md"),
        (None, "review.htm", "html"),
        (None, "notes.txt", "text"),
        ("html", "x.json", "html"),  # --format names what the file holds
        ("text", "plan.json", "text"),
    ],
)
def test_the_out_file_format(fmt: str | None, name: str | None, expected: str) -> None:
    from pathlib import PurePath

    from exops.report import file_format

    assert file_format(fmt, PurePath(name) if name else None) == expected

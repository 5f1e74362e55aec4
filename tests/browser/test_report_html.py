"""The HTML change review as a real browser parses it (headless chromium)."""

from __future__ import annotations

import html
import shutil
import subprocess
from pathlib import Path

import pytest
from reportkit import SECRET, add_peer_plan, run_record

from exops.report import render_plan, render_run

pytestmark = pytest.mark.browser

CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")


def _chromium() -> str:
    for name in CHROMIUM_NAMES:
        found = shutil.which(name)
        if found:
            return found
    pytest.skip(f"no headless browser: none of {', '.join(CHROMIUM_NAMES)} is on PATH")


def dump_dom(page: Path) -> str:
    """The DOM chromium builds from ``page`` (serialised after parsing)."""
    proc = subprocess.run(
        [
            _chromium(),
            "--headless=new",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--no-first-run",
            f"--user-data-dir={page.parent / 'profile'}",
            "--dump-dom",
            page.as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 0, f"chromium failed ({proc.returncode}): {proc.stderr[-2000:]}"
    assert "<html" in proc.stdout, f"no DOM from chromium: {proc.stderr[-2000:]}"
    return proc.stdout


def _common_checks(dom: str) -> None:
    assert "Undefined" not in dom
    assert "{{" not in dom and "{%" not in dom
    assert SECRET not in dom
    for tag in ("<script", "<link", "src=", "http://", "https://"):
        assert tag not in dom, f"the report must be self-contained, found {tag!r}"


def test_plan_html_in_browser(tmp_path: Path) -> None:
    page = tmp_path / "plan.html"
    page.write_text(render_plan(add_peer_plan(), "html"), encoding="utf-8")
    dom = dump_dom(page)
    _common_checks(dom)
    for heading in (
        "Summary",
        "Preflight evidence",
        "Actions",
        "Restart order",
        "Risks",
        "How to roll back",
        "Already in place",
        "Warnings",
    ):
        assert f">{heading}</h2>" in dom, heading
    assert "Settings per peer (before → after)</h2>" in html.unescape(dom)
    assert '<td class="warn">WARN</td>' in dom
    assert "<td>latency</td>" in dom
    assert "<td>peer 3 address</td>" in dom
    assert '<td class="after"><code>10.0.0.13</code></td>' in dom
    assert "exops remove-peer -c c1 --peer c1-p3" in dom  # add-peer's way back (issue 32)
    assert "Plan: 2 to change, 1 restart, 1 already in place." in dom
    assert "<code>peer_address 3 = '10.0.0.13'</code>" in html.unescape(dom)
    assert dom.count("<tr>") >= 1 + 3 + 1 + 6  # preflight, actions (header + rows)


def test_run_html_in_browser(tmp_path: Path) -> None:
    page = tmp_path / "run.html"
    page.write_text(render_run(run_record(), "html"), encoding="utf-8")
    dom = dump_dom(page)
    _common_checks(dom)
    for heading in ("Summary", "Steps", "How to roll back"):
        assert f">{heading}</h2>" in dom, heading
    assert '<td class="changed">changed</td>' in dom
    assert "a1b2c3d4e5f6" in dom

"""Reports: a plan for review (text, Markdown, HTML, JSON) and a run after apply.

``render_plan(plan, fmt)`` is what the dry run prints and what ``--out``
saves; ``render_run(run, fmt)`` renders one journal record. Text, Markdown and
HTML render the same derived view (``exops.report.view``), so they agree.
Secret-looking parameters are masked, and their values scrubbed from the
rendered text. JSON of a plan is the plan itself (``Plan.to_json``), the
document ``exops apply`` reads back.

The renderers (Jinja2, the views) are imported when a report is rendered: the
status path imports ``exops.report.status``, which runs this package's
``__init__``, and must not pay for Jinja2 (issue 22: start-up).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import PurePath
from typing import TYPE_CHECKING, Any

from exops.core.redact import scrub, secret_values

if TYPE_CHECKING:
    from exops.plan.model import Plan

__all__ = ["FORMATS", "file_format", "render_plan", "render_run"]

FORMATS = ("text", "md", "html", "json")
_SUFFIXES = {".json": "json", ".md": "md", ".markdown": "md", ".html": "html", ".htm": "html"}


def file_format(fmt: str | None, path: PurePath | None) -> str:
    """The format a file is written in: ``fmt`` when given, else its suffix's
    (``.json``, ``.md``, ``.html``), else text."""
    if fmt:
        return fmt
    if path is None:
        return "text"
    return _SUFFIXES.get(path.suffix.lower(), "text")


def _check(fmt: str) -> None:
    if fmt not in FORMATS:
        raise ValueError(f"unknown report format {fmt!r} (expected one of {', '.join(FORMATS)})")


def render_plan(plan: Plan, fmt: str) -> str:
    """Render ``plan`` as ``fmt`` (text | md | html | json).

    Raises:
        ValueError: ``fmt`` is not a known format.
    """
    _check(fmt)
    if fmt == "json":
        return plan.to_json()
    from exops.report.templating import render
    from exops.report.text import plan_text
    from exops.report.view import plan_view

    view = plan_view(plan)
    out = plan_text(view) if fmt == "text" else render(f"plan.{fmt}.j2", plan=view)
    return scrub(out, secret_values(plan.params))


def render_run(run: Mapping[str, Any], fmt: str) -> str:
    """Render one run record (``Journal.get_run``'s dict) as ``fmt``.

    Raises:
        ValueError: ``fmt`` is not a known format.
    """
    _check(fmt)
    from exops.report.templating import render
    from exops.report.text import run_text
    from exops.report.view import mask_secrets, run_view

    secrets = secret_values(run.get("params") or {})
    plan = run.get("plan")
    if isinstance(plan, Mapping):
        secrets += secret_values(plan.get("params") or {})
    if fmt == "json":
        out = json.dumps(mask_secrets(dict(run)), indent=2, default=str) + "\n"
    elif fmt == "text":
        out = run_text(run_view(run))
    else:
        out = render(f"run.{fmt}.j2", run=run_view(run))
    return scrub(out, secrets)

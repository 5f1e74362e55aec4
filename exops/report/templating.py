"""Jinja2 environments for the review documents (Markdown and HTML).

Templates ship as package data (``templates/`` is the package
``exops.templates``). Both environments use ``StrictUndefined``: a template
naming a missing value fails loudly instead of printing an empty cell. HTML
autoescapes; Markdown escapes table cells with the ``cell`` filter.
"""

from __future__ import annotations

import functools
from typing import Any

import jinja2
from markupsafe import Markup

# Inline on purpose: the HTML report is one self-contained file (no external
# resources, no script) that can be attached to a change ticket.
STYLE = Markup("""
body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; margin: 2em auto;
       max-width: 72em; color: #1b1f23; line-height: 1.4; padding: 0 1em; }
h1 { font-size: 1.5em; border-bottom: 2px solid #d0d7de; padding-bottom: .3em; }
h2 { font-size: 1.2em; margin-top: 1.6em; border-bottom: 1px solid #d0d7de; }
h3 { font-size: 1em; margin-bottom: .3em; }
table { border-collapse: collapse; margin: .5em 0 1em; width: 100%; }
th, td { border: 1px solid #d0d7de; padding: .3em .6em; text-align: left;
         vertical-align: top; }
th { background: #f6f8fa; }
code, pre { font-family: ui-monospace, "SFMono-Regular", Menlo, monospace; font-size: .9em; }
ul.plain { padding-left: 1.2em; margin: 0; }
dl.meta { display: grid; grid-template-columns: max-content auto; gap: .2em 1em; }
dl.meta dt { font-weight: 600; }
dl.meta dd { margin: 0; }
.pass, .ok { color: #1a7f37; font-weight: 600; }
.warn, .skipped { color: #9a6700; font-weight: 600; }
.fail, .failed, .refused { color: #cf222e; font-weight: 600; }
.changed { color: #0969da; font-weight: 600; }
.summary { font-size: 1.1em; font-weight: 600; padding: .5em .8em; background: #f6f8fa;
           border-left: 4px solid #0969da; }
.risk { border-left: 4px solid #cf222e; padding: .2em .8em; margin: .4em 0;
        background: #fff8f8; }
.before { color: #82071e; }
.after { color: #116329; }
""")


def md_cell(value: Any) -> str:
    """One Markdown table cell: no line breaks, pipes escaped."""
    text = " ".join(str(value).split())
    return text.replace("\\", "\\\\").replace("|", "\\|") or " "


@functools.cache
def environment(kind: str) -> jinja2.Environment:
    """The environment for ``kind`` ("md" or "html")."""
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("exops.templates", ""),
        undefined=jinja2.StrictUndefined,
        autoescape=kind == "html",
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters["cell"] = md_cell
    env.globals["style"] = STYLE
    return env


def render(template: str, **context: Any) -> str:
    kind = "html" if template.endswith(".html.j2") else "md"
    return environment(kind).get_template(template).render(**context)

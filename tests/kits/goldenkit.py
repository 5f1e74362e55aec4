"""Golden files: what an operator reads, compared after normalising what changes
from run to run (times, run ids, digests, the lab's subnet, durations).

``EXOPS_UPDATE_GOLDEN=1 pytest ...`` rewrites the golden files; review the diff
(``git diff tests/golden``) before committing it.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
from paths import GOLDEN

# Read at import: the autouse fixture in conftest.py clears EXOPS_* before each test.
UPDATE = os.environ.get("EXOPS_UPDATE_GOLDEN") == "1"

STAMP = re.compile(r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2}(?:[.,]\d+)?(?:Z|[+-]\d{2}:\d{2})?")
_RULES = (
    (STAMP, "<TIMESTAMP>"),
    (re.compile(r"\brun [0-9a-f]{12}\b"), "run <RUN_ID>"),
    (re.compile(r"\bfacts [0-9a-f]{16}\b"), "facts <DIGEST>"),
    (re.compile(r"\bexops \d+\.\d+\.\d+\S*"), "exops <VERSION>"),
    # The lab's subnet (127.100-239): three digits, so tables keep their widths.
    (re.compile(r"\b127\.\d{3}\.(?=\d+\.\d+\b)"), "127.SUB."),
    # A step's duration: "(1.1s)", "(2m05s)".
    (re.compile(r"\((?:\d+\.\ds|\d+m\d{2}s)\)"), "(<DURATION>)"),
)
# Progress while a wait polls: how many lines depends on how fast the lab moves.
_PROGRESS = re.compile(r"^\s+waiting for .*\n", re.MULTILINE)


def normalise(text: str) -> str:
    """The text with what varies between runs replaced by placeholders, and no
    trailing spaces (a table's title line is padded to the console width)."""
    text = _PROGRESS.sub("", text)
    for pattern, placeholder in _RULES:
        text = pattern.sub(placeholder, text)
    return "\n".join(line.rstrip() for line in text.split("\n"))


def check_golden(name: str, text: str, *, directory: Path = GOLDEN) -> None:
    """Compare ``text`` with the golden file ``name`` (or write it when updating)."""
    path = directory / name
    if UPDATE:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    elif not path.exists():
        pytest.fail(f"{path} is missing: run with EXOPS_UPDATE_GOLDEN=1 to create it")
    assert text == path.read_text(), (
        f"{name} differs from its golden file (EXOPS_UPDATE_GOLDEN=1 rewrites it):\n{text}"
    )

"""Every test the safety rule table names as proof exists, is collected by pytest and
is not skipped here: in ``exops.apply.safety.RULES`` and in the table of docs/safety.md.

A table cell names tests as ``path::name`` (``name`` may hold ``*``), ``path`` (the
whole file), or ``name`` / ``::name`` (in the file named last before it).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from fnmatch import fnmatchcase

import pytest
from paths import REPO

from exops.apply.safety import RULES

Ref = tuple[str, str]  # (file, name pattern; "" for the whole file)


def refs_in(cell: str) -> list[Ref]:
    """The tests one table cell names, in order."""
    items = re.findall(r"`([^`]+)`", cell) or [
        part.strip() for part in re.split(r"[;,]", cell) if part.strip()
    ]
    refs: list[Ref] = []
    last = ""
    for item in items:
        path, sep, name = item.partition("::")
        if path.endswith(".py"):
            last = path
            refs.append((path, name if sep else ""))
        elif item.startswith("test_") or item.startswith("::"):
            assert last, f"{item!r} names no file and follows none"
            refs.append((last, item.removeprefix("::")))
    return refs


def code_refs() -> list[tuple[str, Ref]]:
    return [
        (rule.id, ref)
        for rule in RULES
        for cell in (rule.unit_test, rule.integration_test)
        for ref in refs_in(cell)
    ]


def doc_refs() -> list[tuple[str, Ref]]:
    text = (REPO / "docs" / "safety.md").read_text()
    found = []
    for line in text.splitlines():
        if not re.match(r"\| R\d+ \|", line):
            continue
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        rule, unit, integration = cells[0], cells[3], cells[4]
        found += [(rule, ref) for cell in (unit, integration) for ref in refs_in(cell)]
    return found


@pytest.fixture(scope="module")
def collected(tmp_path_factory: pytest.TempPathFactory) -> list[dict[str, object]]:
    files = sorted({f for _, (f, _) in code_refs() + doc_refs() if (REPO / f).is_file()})
    out = tmp_path_factory.mktemp("collect") / "items.json"
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "--collect-only",
            "-q",
            "-p",
            "collectkit",
            "-p",
            "no:randomly",
            "-p",
            "no:cacheprovider",
            *files,
        ],
        cwd=REPO,
        env={**os.environ, "COLLECTKIT_OUT": str(out)},
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    items: list[dict[str, object]] = json.loads(out.read_text())
    return items


def _missing(refs: list[tuple[str, Ref]], items: list[dict[str, object]]) -> list[str]:
    problems = []
    for rule, (path, pattern) in refs:
        if not (REPO / path).is_file():
            problems.append(f"{rule}: {path} does not exist")
            continue
        matches = [
            i for i in items if i["file"] == path and fnmatchcase(str(i["name"]), pattern or "*")
        ]
        if not matches:
            problems.append(f"{rule}: no collected test {path}::{pattern}")
        elif all(i["skipped"] for i in matches):
            problems.append(f"{rule}: {path}::{pattern} is skipped here")
    return problems


def test_the_rule_table_names_only_tests_that_exist_and_run(
    collected: list[dict[str, object]],
) -> None:
    refs = code_refs()
    assert {rule for rule, _ in refs} == {r.id for r in RULES}
    assert _missing(refs, collected) == []
    # Every rule names at least one unit test, and R1-R3 one on the lab too.
    for rule in RULES:
        assert refs_in(rule.unit_test), rule.id
    assert all(RULES[i].integration_test for i in range(3))


def test_the_safety_doc_table_names_only_tests_that_exist_and_run(
    collected: list[dict[str, object]],
) -> None:
    refs = doc_refs()
    assert {rule for rule, _ in refs} == {r.id for r in RULES}
    assert _missing(refs, collected) == []


def test_a_table_cell_is_read_as_written() -> None:
    cell = "`tests/a.py::test_x_*`, `test_y_*`, `::test_z`; `tests/b.py` (all of it)"
    assert refs_in(cell) == [
        ("tests/a.py", "test_x_*"),
        ("tests/a.py", "test_y_*"),
        ("tests/a.py", "test_z"),
        ("tests/b.py", ""),
    ]
    assert refs_in("tests/a.py::test_r1_*; tests/c.py::test_q") == [
        ("tests/a.py", "test_r1_*"),
        ("tests/c.py", "test_q"),
    ]
    assert _missing([("R9", ("tests/integration/test_safety.py", "test_custom"))], []) == [
        "R9: tests/integration/test_safety.py does not exist"
    ]

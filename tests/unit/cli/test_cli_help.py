"""Every command's ``--help`` names its values (``RUNBOOK``, ``PLAN``, ``FILE``, ``PEER``,
``SECONDS``) and never shows a Python type (``<str>``, ``<path>``, ``<list[Path]>``)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from typer.main import get_command
from typer.testing import CliRunner

from exops.cli.app import app
from exops.core.errors import UsageError

# A type as Typer prints it: <str>, <int>, <path>, <list[str]>, <list[Path]>, <float range> ...
PYTHON_TYPE = re.compile(r"<[^<>\s][^<>\n]*>")


def _commands(command: Any, path: tuple[str, ...] = ()) -> Iterator[tuple[tuple[str, ...], Any]]:
    yield path, command
    for name, sub in sorted(getattr(command, "commands", {}).items()):
        yield from _commands(sub, (*path, name))


COMMANDS = dict(_commands(get_command(app)))


def _id(path: tuple[str, ...]) -> str:
    return " ".join(path) or "exops"


def _help(path: tuple[str, ...]) -> str:
    result = CliRunner().invoke(app, [*path, "--help"])
    assert result.exit_code == 0, result.output
    return result.output


def test_the_walk_finds_every_kind_of_command() -> None:
    names = {" ".join(path) for path in COMMANDS}
    assert {
        "status",
        "check",
        "plan",
        "apply",
        "add-peer",
        "logs analyze",
        "state migrate",
    } <= names
    assert len(names) > 20


@pytest.mark.parametrize("path", list(COMMANDS), ids=_id)
def test_help_shows_names_not_python_types(path: tuple[str, ...]) -> None:
    text = _help(path)
    assert not PYTHON_TYPE.findall(text), f"exops {' '.join(path)} --help:\n{text}"


@pytest.mark.parametrize("path", list(COMMANDS), ids=_id)
def test_every_value_has_a_name(path: tuple[str, ...]) -> None:
    """Every argument and every option that takes a value declares its metavar."""
    unnamed = [
        p.name
        for p in COMMANDS[path].params
        if not getattr(p, "is_flag", False) and not p.hidden and p.metavar is None
    ]
    assert not unnamed, f"exops {' '.join(path)}: no metavar for {unnamed}"


@pytest.mark.parametrize(
    ("path", "line"),
    [
        (("plan",), "RUNBOOK  A shipped runbook name"),
        (("apply",), "PLAN  A plan saved with"),
        (("logs", "analyze"), "FILE  Log files"),
        (("restore",), "--backup FILE"),
        (("add-peer",), "--peer PEER"),
        (("restart",), "--lock-timeout SECONDS"),
    ],
)
def test_the_names_an_operator_reads(path: tuple[str, ...], line: str) -> None:
    assert line in _help(path)


# -- issue 32: examples, exit codes, whole summaries, no raw templates -----------------

LEAVES = [path for path, command in COMMANDS.items() if not hasattr(command, "commands")]


@pytest.mark.parametrize("path", LEAVES, ids=_id)
def test_every_command_shows_examples_and_its_exit_codes(path: tuple[str, ...]) -> None:
    text = _help(path)
    examples = text[text.index("Examples:") :]
    assert re.search(r"^\s+exops ", examples, re.M), text
    codes = text[text.index("Exit codes:") :]
    assert re.search(r"^\s+0 ", codes, re.M) and re.search(r"^\s+2 bad input", codes, re.M)
    assert "{{" not in text  # never a raw runbook template (create-cluster's default peer)


def test_the_command_list_never_cuts_a_summary() -> None:
    listing = _help(())
    commands = listing[listing.index("Commands:") :]
    assert "..." not in commands, commands
    assert "which runbooks can run." in " ".join(commands.split())


def test_unlock_takes_c_and_keeps_the_positional_as_a_deprecated_alias(
    tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("EXOPS_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.setenv("EXOPS_LOCK_DIR", str(tmp_path / "locks"))
    runner = CliRunner()
    new = runner.invoke(app, ["unlock", "-c", "c1"])
    assert new.exit_code == 0 and "cluster c1 was not locked" in new.output
    assert "deprecated" not in new.output
    old = runner.invoke(app, ["unlock", "c1"])
    assert old.exit_code == 0 and "cluster c1 was not locked" in old.output
    assert "`exops unlock c1` is deprecated; use `exops unlock -c c1`" in old.output
    for bad in (["unlock"], ["unlock", "c1", "-c", "c2"]):  # exops.cli.app.main: exit 2
        error = runner.invoke(app, bad).exception
        assert isinstance(error, UsageError) and error.exit_code == 2, error
def test_accept_help_names_every_check_that_may_be_overridden() -> None:
    from exops.cli.options import ACCEPT_HELP
    from exops.plan.preflight import ACCEPTABLE

    listed = ACCEPT_HELP.split(": ", 1)[1].split(". ")[0]
    assert listed.split(", ") == list(ACCEPTABLE)

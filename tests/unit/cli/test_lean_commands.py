"""The exops command builds only the command it runs (issue 22: start-up), and typer's
pydantic coercion only for a value that needs it: both give that command exactly what
the whole app gives it (options, help, values, errors)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from typer.main import get_command
from typer.testing import CliRunner

from exops.cli import app as cli
from exops.cli.lean import _UNSET, unchanged

FULL = get_command(cli.app)
NAMES = sorted(FULL.commands)  # type: ignore[attr-defined]


def _described(command: Any) -> list[tuple[Any, ...]]:
    return [
        (
            p.name,
            tuple(p.opts),
            tuple(p.secondary_opts),
            p.default,
            p.required,
            p.multiple,
            getattr(p, "help", None),
            getattr(p, "metavar", None),
            p.type_descriptor.annotation,
        )
        for p in command.params
    ]


@pytest.mark.parametrize(
    ("argv", "name"),
    [
        (["status", "-c", "c1"], "status"),
        (["-i", "inv", "status"], "status"),
        (["--inventory", "inv", "restart", "--dry-run"], "restart"),
        (["--inventory=inv", "logs", "analyze"], "logs"),
        (["-iinv", "add-peer"], "add-peer"),
        (["--help"], None),
        (["--version", "status"], None),
        (["--install-completion"], None),
        (["-i"], None),
        ([], None),
    ],
)
def test_the_command_a_command_line_runs(argv: list[str], name: str | None) -> None:
    assert cli._command_name(argv) == name


def test_while_the_shell_completes_the_whole_app_is_built(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("_EXOPS_COMPLETE", "bash_complete")
    assert cli._command_name(["status"]) is None
    assert cli._for_argv(["status"]) is cli.app


@pytest.mark.parametrize("name", NAMES)
def test_one_command_built_alone_is_the_command_of_the_whole_app(name: str) -> None:
    lean = cli._for_argv([name, "--help"])
    assert lean is not cli.app
    built = get_command(lean)
    assert list(built.commands) == [name]  # type: ignore[attr-defined]
    alone = built.commands[name]  # type: ignore[attr-defined]
    whole = FULL.commands[name]  # type: ignore[attr-defined]
    assert _described(alone) == _described(whole)
    assert _described(built) == _described(FULL)  # the root's own options
    runner = CliRunner()
    for args in ([name, "--help"], [name, "--no-such-option"]):
        got, want = runner.invoke(lean, args), runner.invoke(cli.app, args)
        assert (got.exit_code, got.output) == (want.exit_code, want.output)


@pytest.mark.parametrize("argv", [["no-such-command"], ["--help"], ["../runbooks/restart"]])
def test_an_unknown_or_uncertain_command_gets_the_whole_app(argv: list[str]) -> None:
    assert cli._for_argv(argv) is cli.app


def test_a_runbook_command_alone_reads_only_its_own_file() -> None:
    """`exops restart ...` in its own process: the restart command is made from
    runbooks/restart.yaml; the catalog of every runbook is never read."""
    code = (
        "import sys\n"
        "import exops.cli.app as cli\n"
        "from exops.runbook import catalog\n"
        "from typer.main import get_command\n"
        "built = get_command(cli._for_argv(['restart', '-c', 'c1', '--dry-run']))\n"
        "print(list(built.commands), catalog.shipped.cache_info().misses)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "['restart'] 0"


def test_importing_the_cli_reads_no_runbook_file() -> None:
    code = "import sys, exops.cli.app; print('exops.runbook.catalog' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "False"


def test_the_whole_app_lists_the_runbooks_in_their_place() -> None:
    assert NAMES and list(FULL.commands)[:4] == ["status", "check", "add-peer", "address-mapping"]  # type: ignore[attr-defined]


# -- typer's coercion, deferred -----------------------------------------------------------


def _adapter_result(annotation: Any, value: Any, **info: Any) -> Any:
    from typer._adapters import build_adapter
    from typer.models import OptionInfo

    return build_adapter(annotation, OptionInfo(**info)).validate_python(value)


@pytest.mark.parametrize(
    ("annotation", "value"),
    [
        (str, "c1"),
        (str, ""),
        (int, 0),
        (int, 7),
        (float, 1800.0),
        (list[str], ("c1", "c2")),
        (list[str], ["c1"]),
        (list[str], ()),
    ],
)
def test_a_value_taken_as_it_is_is_what_typer_makes_of_it(annotation: Any, value: Any) -> None:
    same = unchanged(annotation, _info(), value)
    want = _adapter_result(annotation, value)
    assert same == want and type(same) is type(want)


@pytest.mark.parametrize(
    ("annotation", "value", "info"),
    [
        (int, 0, {"min": 0}),
        (int, 100_000, {"min": 1, "max": 100_000}),
        (int, 5, {"min": 1, "max": 10, "clamp": True}),
        (float, 1800.0, {"min": 0}),
        (float, 0.001, {"min": 0.001}),
    ],
)
def test_a_number_within_its_bounds_is_what_typer_makes_of_it(
    annotation: Any, value: Any, info: dict[str, Any]
) -> None:
    same = unchanged(annotation, _info(**info), value)
    want = _adapter_result(annotation, value, **info)
    assert same == want and type(same) is type(want)


def _info(**kw: Any) -> Any:
    from typer.models import OptionInfo

    return OptionInfo(**kw)


@pytest.mark.parametrize(
    ("annotation", "value", "info"),
    [
        (int, "5", {}),  # a string to parse: typer's own coercion
        (int, True, {}),
        (float, 1, {}),
        (int, 0, {"min": 1}),  # out of bounds: typer's error (or clamp)
        (int, 11, {"min": 1, "max": 10, "clamp": True}),
        (float, 0.5, {"max": 0.1}),
        (float, float("nan"), {"min": 0}),
        (str, "x", {"parser": str.upper}),
        (Path, "x", {}),
        (list[str], ("a", 1), {}),
        (list[int], ("1",), {}),
    ],
)
def test_any_other_value_goes_to_typer(annotation: Any, value: Any, info: dict[str, Any]) -> None:
    assert unchanged(annotation, _info(**info), value) is _UNSET


_TYPER_APP = (
    "import sys, typer\n"
    "from typing import Annotated\n"
    "from pathlib import Path\n"
    "from typer.testing import CliRunner\n"
    "from exops.cli.lean import defer_param_coercion\n"
    "if sys.argv[1] == 'deferred':\n"
    "    defer_param_coercion()\n"
    "app = typer.Typer()\n"
    "@app.command()\n"
    "def main(c: Annotated[list[str] | None, typer.Option('-c')] = None,\n"
    "         n: Annotated[int, typer.Option('-n')] = 3,\n"
    "         m: Annotated[int | None, typer.Option('-m', min=1)] = None,\n"
    "         t: Annotated[float | None, typer.Option('-t')] = None,\n"
    "         p: Annotated[Path | None, typer.Option('-p')] = None) -> None:\n"
    "    print(repr((c, n, m, t, p)))\n"
    "r = CliRunner()\n"
    "print(r.invoke(app, []).output.strip())\n"
    "print('adapters', 'typer._adapters' in sys.modules)\n"
    "for args in (['-c', 'a', '-c', 'b', '-n', '2', '-m', '4', '-t', '1.5', '-p', 'x'],\n"
    "             ['-n', 'abc'], ['-m', '0'], ['-t', 'x'], ['-c', 'a', '-n', '-2']):\n"
    "    got = r.invoke(app, args)\n"
    "    print(got.exit_code, got.output.strip())\n"
)


def test_deferred_coercion_keeps_typers_values_and_errors() -> None:
    """In processes of their own (the exops command patches typer): the values a
    command receives and typer's errors for bad values are those of typer's own
    coercion, and defaults build no pydantic adapter."""

    def run(mode: str) -> list[str]:
        argv = [sys.executable, "-c", _TYPER_APP, mode]
        done = subprocess.run(argv, capture_output=True, text=True, check=True)
        return done.stdout.strip().splitlines()

    deferred, typers = run("deferred"), run("typer")
    assert deferred[0] == typers[0] == "(None, 3, None, None, None)"
    assert (deferred[1], typers[1]) == ("adapters False", "adapters True")
    assert deferred[2:] == typers[2:]
    assert deferred[2] == "0 (['a', 'b'], 2, 4, 1.5, PosixPath('x'))"
    assert sum(line.startswith("2 Usage: ") for line in deferred) == 3  # -n abc, -m 0, -t x


def test_another_typer_series_is_left_as_it_is(monkeypatch: pytest.MonkeyPatch) -> None:
    """The deferral leans on typer's internals: with a typer of another series than the
    one tested, typer is not touched (start-up is slower, nothing else changes)."""
    import typer
    from typer import core

    from exops.cli import lean

    monkeypatch.setattr(typer, "__version__", "0.30.0")
    before = core.build_runtime_param
    lean.defer_param_coercion()
    assert core.build_runtime_param is before

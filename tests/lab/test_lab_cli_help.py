"""The simulator's own command line documents every option (issue 21)."""

from __future__ import annotations

import argparse

import pytest

from exops.lab.__main__ import _parser


@pytest.mark.parametrize("command", ["up", "serve", "down"])
def test_every_option_of_every_command_has_a_help_text(command: str) -> None:
    sub = next(a for a in _parser()._actions if isinstance(a, argparse._SubParsersAction))
    parser = sub.choices[command]
    for action in parser._actions:
        if action.option_strings and action.dest != "help":
            assert action.help, f"python -m exops.lab {command} {action.option_strings[0]}"

"""One exit-code source: every error class's exit code is an ExitCode member."""

from __future__ import annotations

import inspect

from exops.core import errors
from exops.core.exitcodes import ExitCode


def _classes() -> list[type[errors.ExopsError]]:
    return [
        c
        for _, c in inspect.getmembers(errors, inspect.isclass)
        if issubclass(c, errors.ExopsError)
    ]


def test_every_error_class_exits_with_an_exitcode_member() -> None:
    assert len(_classes()) >= 10
    for cls in _classes():
        assert type(cls.exit_code) is ExitCode, cls.__name__
    assert errors.ExopsError.exit_code is ExitCode.FAILED
    assert errors.UsageError.exit_code is errors.RunbookFileError.exit_code is ExitCode.USAGE
    assert errors.PreconditionError.exit_code is errors.StalePlanError.exit_code is ExitCode.REFUSED
    assert errors.LockedError.exit_code is ExitCode.LOCKED
    assert errors.AuthError("x").exit_code == 1  # still the documented number


def test_status_and_check_return_exitcode_members() -> None:
    from exops.cli import read

    for fn in (read.status, read.check):
        assert inspect.signature(fn).return_annotation in ("ExitCode", ExitCode)

"""A journal write that fails is reported: in the run's result and on stderr.

The run goes on (a failed write never stops a restart half-way), but it must
never look recorded when it was not.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from runkit import FakeSession, cluster, make_env

from exops.apply.results import RunStatus
from exops.cli import runs
from exops.core.errors import ExopsError
from exops.run import Runner
from exops.state.sqlite import SqliteJournal


def _failing_writes(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every journal write after the run's start fails, as a locked database does."""

    def locked(*args: Any) -> None:
        raise ExopsError("state database: database is locked\nsecond line")

    monkeypatch.setattr(SqliteJournal, "record_step", locked)
    monkeypatch.setattr(SqliteJournal, "finish_run", locked)


def test_a_failed_journal_write_reaches_the_result(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    env = make_env(tmp_path)
    peers = cluster()
    _failing_writes(monkeypatch)
    runner = Runner(env, sessions=lambda clusters: FakeSession(peers))  # type: ignore[arg-type]
    result = runner.run("restart", "c1", {"peer": "p2"}, yes=True)
    assert result.status is RunStatus.OK and peers["p2"].restarts == 1  # the work was done
    [warning] = result.warnings
    assert f"the journal did not record run {result.run_id} completely" in warning
    steps = len(result.steps)
    assert f"({steps + 1} writes failed: step 1 (" in warning
    assert "the run's end (ok, exit 0): state database: database is locked" in warning
    assert "second line" not in warning
    assert result.to_doc()["warnings"] == [warning]
    # what the journal holds: a run that never finished, no steps
    monkeypatch.undo()
    stored = SqliteJournal(env.settings.journal_path).get_run(str(result.run_id))
    assert stored is not None and stored["status"] != "ok" and stored["steps"] == []


def test_a_journal_that_records_everything_gives_no_warning(tmp_path: Path) -> None:
    runner = Runner(make_env(tmp_path), sessions=lambda clusters: FakeSession(cluster()))  # type: ignore[arg-type]
    result = runner.run("restart", "c1", {"peer": "p2"}, yes=True)
    assert result.warnings == [] and result.to_doc()["warnings"] == []


@pytest.mark.parametrize("json_out", [False, True])
def test_the_cli_prints_the_warning_on_stderr(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    json_out: bool,
) -> None:
    env = make_env(tmp_path)
    peers = cluster()
    _failing_writes(monkeypatch)
    monkeypatch.setattr(
        runs,
        "Runner",
        lambda env, **kw: Runner(env, sessions=lambda clusters: FakeSession(peers), **kw),  # type: ignore[arg-type]
    )
    code = runs.run_one(
        env, "restart", "c1", {"peer": "p2"}, runs.RunOptions(yes=True, json_out=json_out)
    )
    out, err = capsys.readouterr()
    assert code == 0
    warnings = [line for line in err.splitlines() if line.startswith("exops: warning: ")]
    assert len(warnings) == 1 and "did not record run" in warnings[0], err
    assert "database is locked" in warnings[0]
    if json_out:
        assert json.loads(out)["warnings"][0] in warnings[0]
    else:
        assert "1 warning on stderr" in out  # the recap does not look recorded

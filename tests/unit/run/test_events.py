"""JSON-lines events: one parseable, redacted, flushed line per event, thread-safe."""

from __future__ import annotations

import io
import json
import logging
import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr

from exops.plan.model import ActionKind
from exops.run.events import EVENTS, JsonLinesSink, MultiSink, NullSink

SECRET = "Hunter2-s3cret"


def _lines(text: str) -> list[dict[str, Any]]:
    assert text.endswith("\n")
    return [json.loads(line) for line in text.splitlines()]


def test_each_event_is_one_json_line_with_the_envelope() -> None:
    out = io.StringIO()
    sink = JsonLinesSink(out, run_id="abc123", cluster="c1")
    sink.emit("run_started", runbook="add-peer", actions=4)
    sink.emit("ok", action="1", step="back up", kind=ActionKind.BACKUP, host="exp1", duration_s=0.5)
    first, second = _lines(out.getvalue())
    assert list(first)[:4] == ["ts", "event", "run_id", "cluster"]
    assert first["event"] == "run_started" and first["actions"] == 4
    assert (first["run_id"], first["cluster"]) == ("abc123", "c1")
    ts = datetime.fromisoformat(first["ts"])
    assert ts.utcoffset() is not None and ts.utcoffset().total_seconds() == 0  # type: ignore[union-attr]
    assert len(first["ts"].split(".")[1].split("+")[0]) == 3  # milliseconds
    assert second == second | {"event": "ok", "kind": "backup", "host": "exp1", "duration_s": 0.5}


def test_fields_are_redacted_and_made_json_safe() -> None:
    out = io.StringIO()
    sink = JsonLinesSink(out, run_id="r", cluster="c1")
    when = datetime(2024, 5, 1, tzinfo=UTC)
    sink.emit(
        "failed",
        error=f"exp1 login: Authorization: Basic {SECRET} refused",
        advice=f"retry with password={SECRET}",
        params={"password": SECRET, "peer": "exp3", "nested": [{"token": SECRET}]},
        cred=SecretStr(SECRET),
        path=Path("/tmp/x"),
        when=when,
        hosts={"exp1"},
    )
    text = out.getvalue()
    assert SECRET not in text
    (line,) = _lines(text)
    assert line["params"] == {
        "password": "********",
        "peer": "exp3",
        "nested": [{"token": "********"}],
    }
    assert line["error"] == "exp1 login: Authorization: Basic ******** refused"
    assert line["cred"] == "********"
    assert line["path"] == "/tmp/x" and line["when"] == str(when) and line["hosts"] == ["exp1"]


def test_envelope_keys_cannot_be_overridden_by_fields() -> None:
    out = io.StringIO()
    JsonLinesSink(out, run_id="r", cluster="c1").emit("done", cluster="other", run_id="x")
    (line,) = _lines(out.getvalue())
    assert (line["cluster"], line["run_id"], line["event"]) == ("c1", "r", "done")


class _Recording(io.StringIO):
    def __init__(self) -> None:
        super().__init__()
        self.flushed_lines: list[int] = []

    def flush(self) -> None:
        self.flushed_lines.append(self.getvalue().count("\n"))
        super().flush()


def test_flushed_after_each_line() -> None:
    out = _Recording()
    sink = JsonLinesSink(out, run_id="r", cluster="c1")
    for _ in range(3):
        sink.emit("waiting", what="restart exp1", elapsed_s=1.0, timeout_s=1800)
    assert out.flushed_lines == [1, 2, 3]


def test_threads_never_interleave_lines() -> None:
    out = io.StringIO()
    sink = JsonLinesSink(out, run_id="r", cluster="c1")
    payload = "x" * 2000

    def worker(n: int) -> None:
        for i in range(50):
            sink.emit("waiting", worker=n, i=i, detail=payload)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    lines = _lines(out.getvalue())
    assert len(lines) == 400
    assert {(d["worker"], d["i"]) for d in lines} == {(n, i) for n in range(8) for i in range(50)}


class BrokenPipe(io.StringIO):
    """A stream whose reader went away: every write fails; counts the attempts."""

    def __init__(self, fail: type[Exception] = BrokenPipeError) -> None:
        super().__init__()
        self.fail = fail
        self.attempts = 0

    def write(self, s: str) -> int:
        self.attempts += 1
        raise self.fail("the reader went away")


@pytest.mark.parametrize("fail", [BrokenPipeError, ValueError])  # ValueError: a closed file
def test_a_broken_stream_disables_the_sink_instead_of_failing_the_run(
    fail: type[Exception], caplog: pytest.LogCaptureFixture
) -> None:
    out = BrokenPipe(fail)
    sink = JsonLinesSink(out, run_id="r", cluster="c1")
    with caplog.at_level(logging.WARNING, logger="exops.run.events"):
        sink.emit("step_started", action="1")  # no exception
        sink.emit("restarting", host="exp2", action="1")
        sink.emit("done", failed=False, changed=True)
    assert out.attempts == 1  # disabled after the first failure: never tried again
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "stopped writing events" in warnings[0]


def test_multisink_fans_out_and_nullsink_discards() -> None:
    a, b = io.StringIO(), io.StringIO()
    got: list[tuple[str, dict[str, Any]]] = []

    class Recorder:
        def emit(self, event: str, **fields: Any) -> None:
            got.append((event, fields))

    sink = MultiSink(
        [
            JsonLinesSink(a, run_id="r", cluster="c1"),
            JsonLinesSink(b, run_id="r", cluster="c1"),
            Recorder(),
            NullSink(),
        ]
    )
    sink.emit("restarting", host="exp2", action="3")
    assert _lines(a.getvalue())[0]["host"] == "exp2"
    assert _lines(b.getvalue())[0]["action"] == "3"
    assert got == [("restarting", {"host": "exp2", "action": "3"})]
    assert NullSink().emit("done", failed=False) is None
    MultiSink([]).emit("done")


def test_documented_event_names() -> None:
    assert set(EVENTS) == {
        "run_started",
        "step_started",
        "changed",
        "ok",
        "skipped",
        "failed",
        "waiting",
        "restarting",
        "waited",
        "done",
        "interrupted",
    }

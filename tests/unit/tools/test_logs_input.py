"""``logs analyze`` reads its input as a bounded stream (issue 26: an endless stream
of zero bytes once took 24 GB of memory): size, NUL bytes and line length are refused
at the first chunk that crosses them, with the limit named."""

from __future__ import annotations

import io

import pytest

from exops.tools import logs
from exops.tools.logs import LogInputError, read_log_stream


class Endless(io.RawIOBase):
    """A stream that never ends (like /dev/zero or `yes`), counting what was read."""

    def __init__(self, pattern: bytes):
        self.pattern = pattern
        self.served = 0

    def readable(self) -> bool:
        return True

    def read(self, n: int = -1) -> bytes:
        assert n > 0, "an unbounded read of an endless stream never returns"
        out = (self.pattern * (n // len(self.pattern) + 1))[:n]
        self.served += n
        return out


def test_zero_bytes_are_refused_at_the_first_chunk() -> None:
    stream = Endless(b"\0")
    with pytest.raises(LogInputError, match=r"zero: not text \(a NUL byte at offset 0\)"):
        read_log_stream(stream, "zero")  # type: ignore[arg-type]
    assert stream.served <= 1024 * 1024


def test_an_endless_text_stream_stops_at_the_size_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(logs, "MAX_LOG_BYTES", 3 * 1024 * 1024)
    stream = Endless(b"2026-12-06T10:00:00Z p1 replication: ok\n")
    with pytest.raises(LogInputError, match=r"yes: larger than 3 MiB; refused"):
        read_log_stream(stream, "yes")  # type: ignore[arg-type]
    assert stream.served <= 4 * 1024 * 1024


def test_a_line_longer_than_the_limit_is_refused_with_its_number() -> None:
    text = b"short line\n" + b"x" * (logs.MAX_LINE_CHARS + 1) + b"\n"
    with pytest.raises(LogInputError, match=r"f.log: line 2 is longer than 65536"):
        read_log_stream(io.BytesIO(text), "f.log")


def test_a_long_line_split_across_chunks_is_counted_whole() -> None:
    endless_line = Endless(b"y")  # no newline ever: refused once it passes the limit
    with pytest.raises(LogInputError, match="line 1 is longer"):
        read_log_stream(endless_line, "one-line")  # type: ignore[arg-type]
    assert endless_line.served <= 1024 * 1024 + logs.MAX_LINE_CHARS


def test_ordinary_text_passes_whole_and_bad_utf8_is_replaced() -> None:
    text = b"2026-12-06T10:00:00Z p1 a\n" * 50_000 + b"caf\xe9\n"
    out = read_log_stream(io.BytesIO(text), "ok.log")
    assert out.count("\n") == 50_001 and out.endswith("caf\ufffd\n")

"""Expressway log lines -> events -> a per-peer diagnosis (for ``exops logs analyze``).

Line form (domain doc section 5, the vendor note's samples)::

    TIMESTAMP HOST [PROCESS[pid]: ...] key="value" key="value" ...

for example ``2020-08-12T14:57:43.524-05:00 expc01 alarm: Level="WARN"
Event="Alarm Raised" Id="20006" ...``. The process tag is optional (the
cluster database logs ``Node="clusterdb@host" PID="<0.345.0>"`` instead),
there may be several (``httpd[15060]: web:``), a value may be followed by a
stray colon (``Level="INFO":``), a key may repeat (``Node`` names the local
node first, then the remote one), and a value may hold quotes of its own
(escaped, or balanced as in ``Reason="{ badrpc, ... }"``).

Text copied from a document is often wrapped: entries run together on one
line, are cut mid-token (``Dst-`` / ``ip="..."``) and even inside a timestamp
(``2020-07-`` / blank line / ``21T15:16:50.330-05:00``). :func:`unwrap` joins
the text into one stream and splits it at each entry header, so a log file
and a pasted excerpt parse alike. Text that is not a log entry (prose around
the excerpt, garbage) never becomes an event: an entry needs a readable
timestamp, a host, and a process tag or at least one ``key="value"``.

Which lines mean what is data (``RULES``), each with the source of its form:
``seed`` = the vendor note's samples, ``mock`` = a form only ``exops.lab``
defines (no public sample shows the real appliance's wording).

Parsing never raises: unreadable input lines are counted (``ParsedLines.skipped``).
"""

from __future__ import annotations

import bisect
import json
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, time, timedelta, timezone, tzinfo
from enum import StrEnum
from typing import Any, BinaryIO

from exops.appliance.knowledge import alarm_id, alarm_ids

SCHEMA = "exops.logs/1"


class LogKind(StrEnum):
    SYNC_START = "sync_start"  # "Starting synchronisation"
    SYNC_PEERS = "sync_peers"  # ConfigurationMasterIndex / LocalPeerIndex (0-based)
    SYNC_PRIMARY = "sync_primary"  # "This peer is the cluster master, ..."
    SYNC_SUBORDINATE = "sync_subordinate"  # "This peer is not the cluster master, ..."
    SYNC_COMPLETE = "sync_complete"  # "Synchronisation completed successfully"
    DISCONNECT = "disconnect"  # mnesia_down from a peer's database node
    DB_INCONSISTENT = "db_inconsistent"  # "Inconsistent Database"
    CONNECT_FAILED = "connect_failed"  # "Failed connecting to node"
    H323_RETRANSMIT = "h323_retransmit"  # RAS LRQ/SCI retransmits to port 1719
    H323_TIMEOUT = "h323_timeout"  # RAS timeouts, "gatekeeper timed out"
    PEER_DNS = "peer_dns"  # peer name resolution re-run for peers that failed DNS
    ALARM_RAISED = "alarm_raised"
    ALARM_CLEARED = "alarm_cleared"
    TLS_MODE_CHANGE = "tls_mode_change"  # tls_verify - changed from: X to: Y
    CONFIG_CHANGE = "config_change"  # other "System Configuration Changed"
    RESTART = "restart"
    STARTED = "started"
    FACTORY_RESET = "factory_reset"
    OTHER = "other"


@dataclass(frozen=True)
class Rule:
    kind: LogKind
    key: str  # the field the pattern is matched against
    pattern: re.Pattern[str]
    source: str  # where this form is documented: seed | mock


# First match wins: the TLS change is also a "System Configuration Changed".
# One rule per line: kind, where the form is documented (seed | mock), the
# field the pattern is matched against, and the pattern (the rest of the line).
_RULES = r"""
ALARM_RAISED      seed  Event                     ^Alarm Raised$
ALARM_CLEARED     mock  Event                     ^Alarm Lowered$
TLS_MODE_CHANGE   seed  Detail                    tls_verify - changed from:
CONFIG_CHANGE     seed  Event                     ^System Configuration Changed$
RESTART           mock  Event                     ^System Restart$
STARTED           mock  Event                     ^System Start$
FACTORY_RESET     mock  Event                     ^Factory Reset$
H323_TIMEOUT      seed  Event                     ^External Server Communications Failure$
H323_TIMEOUT      seed  Detail                    ^Sending RAS \w+\b.*\bTimeout=True
H323_RETRANSMIT   seed  Detail                    ^Sending RAS \w+\b.*\bRetransmit=True
SYNC_START        seed  Detail                    ^Starting synchronisation
SYNC_PRIMARY      seed  Detail                    ^This peer is the cluster master
SYNC_SUBORDINATE  seed  Detail                    ^This peer is not the cluster master
SYNC_COMPLETE     seed  Detail                    ^Synchronisation completed successfully
SYNC_PEERS        seed  ConfigurationMasterIndex  ^\d+$
DISCONNECT        seed  Detail                    \bmnesia_down\b
DB_INCONSISTENT   seed  Detail                    ^Inconsistent Database
CONNECT_FAILED    seed  Detail                    ^Failed connecting to node
PEER_DNS          seed  Detail                    \bpeers which failed DNS\b
"""
RULES: tuple[Rule, ...] = tuple(
    Rule(LogKind[kind], key, re.compile(pattern), source)
    for kind, source, key, pattern in (
        line.split(maxsplit=3) for line in _RULES.strip().splitlines()
    )
)

# Disruption events: they open a communication episode on the peer that logs them.
_DISRUPTIONS = frozenset({LogKind.DISCONNECT, LogKind.DB_INCONSISTENT, LogKind.CONNECT_FAILED})
_SYNC = frozenset(
    {
        LogKind.SYNC_START,
        LogKind.SYNC_PEERS,
        LogKind.SYNC_PRIMARY,
        LogKind.SYNC_SUBORDINATE,
        LogKind.SYNC_COMPLETE,
    }
)
# What ``--problems`` keeps: alarms, failures, restarts and TLS changes.
PROBLEM_KINDS = frozenset(
    {
        LogKind.ALARM_RAISED,
        LogKind.ALARM_CLEARED,
        LogKind.DISCONNECT,
        LogKind.DB_INCONSISTENT,
        LogKind.CONNECT_FAILED,
        LogKind.H323_TIMEOUT,
        LogKind.PEER_DNS,
        LogKind.TLS_MODE_CHANGE,
        LogKind.RESTART,
        LogKind.STARTED,
        LogKind.FACTORY_RESET,
    }
)

# -- the entry header ----------------------------------------------------------
# A wrapped timestamp may be broken by whitespace after any of its separators
# (``2020-07-`` newline ``21T15:...``), never between two digits.
_TS = (
    r"\d{4}-\s*\d{2}-\s*\d{2}\s*T\s*\d{2}:\s*\d{2}:\s*\d{2}"
    r"(?:\.\s*\d{1,9})?(?:Z|[+-]\s*\d{2}:?\s*\d{2})?"
)
_HOST = r"[A-Za-z0-9][A-Za-z0-9_.\-]*"
_HEADER = re.compile(rf"(?<!\S)(?P<ts>{_TS})\s+(?P<host>{_HOST})(?=\s|$)")
_TS_AT_START = re.compile(_TS)
_PROCESS = re.compile(r"\s*([A-Za-z_][\w.\-]*(?:\[\d+\])?):(?=\s|$)")
_KEY = re.compile(r"\s*([A-Za-z_][\w.\-]*)=\"")
_UTCTIME = re.compile(r"^(\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2})(?:,(\d{1,6}))?$")
_TLS_CHANGE = re.compile(r"changed from: '?(?P<old>[\w-]+)'? to: '?(?P<new>[\w-]+)'?")
_IP_PORT = re.compile(r"(\d{1,3}(?:\.\d{1,3}){3}):(\d+)")
_ALTERNATE = re.compile(r"\((\d{1,3}(?:\.\d{1,3}){3})\s+([A-Za-z0-9][\w.\-]*)\)")
_RAS = re.compile(r"^Sending RAS (\w+)")


@dataclass(frozen=True)
class LogEvent:
    ts: datetime  # timezone-aware, in the offset the line was logged with
    host: str  # the peer that logged the line
    kind: LogKind
    detail: str  # a one-line summary for people
    raw: str
    process: str = ""
    fields: tuple[tuple[str, str], ...] = ()  # in line order; keys may repeat
    peer: str | None = None  # the other peer concerned (disconnects, H.323)
    alarm_id: str | None = None

    def get(self, key: str, default: str | None = None) -> str | None:
        """The first value of ``key``."""
        for k, v in self.fields:
            if k == key:
                return v
        return default


class ParsedLines(list[LogEvent]):
    """The events of some log text, plus how many non-blank input lines held no entry."""

    skipped: int = 0


# -- reading: bounded ------------------------------------------------------------

# What ``logs analyze`` reads from one file or stream. A day of an Expressway
# peer's event log is a few MiB; the analysis holds the text and its events in
# memory (about 20x the text), so 64 MiB of text stays near 1.5 GiB at worst.
MAX_LOG_BYTES = 64 * 1024 * 1024
# The longest line kept: a log entry is well under 8 KiB; a longer "line" is
# not a log (a binary file, a dump without newlines).
MAX_LINE_CHARS = 64 * 1024
_CHUNK = 1024 * 1024


class LogInputError(ValueError):
    """A log input refused before it is analysed: which limit, and where."""


def read_log_stream(stream: BinaryIO, name: str) -> str:
    """The text of one log input, read in chunks and refused at the first limit.

    Refuses (``LogInputError``, naming ``name`` and the limit): more than
    ``MAX_LOG_BYTES``, a NUL byte (not text: a binary file or ``/dev/zero``), a
    line longer than ``MAX_LINE_CHARS``. Undecodable bytes are replaced, as a
    log copied from a terminal may carry some.
    """
    chunks: list[bytes] = []
    size = 0
    line = 0  # length of the line in progress
    lineno = 1
    while True:
        chunk = stream.read(_CHUNK)
        if not chunk:
            break
        size += len(chunk)
        if size > MAX_LOG_BYTES:
            raise LogInputError(
                f"{name}: larger than {MAX_LOG_BYTES // (1024 * 1024)} MiB; refused "
                "(analyse a smaller part: split the file, or fetch fewer --lines)"
            )
        nul = chunk.find(b"\0")
        if nul >= 0:
            raise LogInputError(
                f"{name}: not text (a NUL byte at offset {size - len(chunk) + nul}); refused"
            )
        for piece in chunk.split(b"\n")[:-1]:
            if line + len(piece) > MAX_LINE_CHARS:
                raise LogInputError(
                    f"{name}: line {lineno} is longer than {MAX_LINE_CHARS} characters; "
                    "not a log, refused"
                )
            line = 0
            lineno += 1
        line += len(chunk) - (chunk.rfind(b"\n") + 1)
        if line > MAX_LINE_CHARS:
            raise LogInputError(
                f"{name}: line {lineno} is longer than {MAX_LINE_CHARS} characters; "
                "not a log, refused"
            )
        chunks.append(chunk)
    return b"".join(chunks).decode("utf-8", errors="replace")


# -- unwrapping ------------------------------------------------------------------


def _join(text: str) -> tuple[str, list[tuple[int, int]]]:
    """All non-blank lines as one stream, and each input line's span in it.

    A line ending in a hyphen right after a token (``2020-07-``, ``Dst-``) was
    cut inside that token: the next line continues it without a space, unless
    the next line starts with a timestamp of its own (a new entry).
    """
    parts: list[str] = []
    spans: list[tuple[int, int]] = []
    size = 0
    for raw in text.splitlines():
        line = raw.strip()
        if not line:
            continue
        if parts:
            last = parts[-1]
            glued = last.endswith("-") and len(last) >= 2 and not last[-2].isspace()
            if not glued or _TS_AT_START.match(line) is not None:
                parts.append(" ")
                size += 1
        spans.append((size, size + len(line)))
        parts.append(line)
        size += len(line)
    return "".join(parts), spans


def _value_end(text: str, start: int, stop: int) -> int | None:
    """Index of the quote that closes the value starting at ``start``.

    The closing quote is followed by whitespace, the end, or a stray colon;
    quotes inside the value are either escaped or balanced. Without a balanced
    candidate the first plausible one is taken; without any, None.
    """
    inner = 0
    fallback: int | None = None
    i = start
    while (j := text.find('"', i, stop)) >= 0:
        i = j + 1
        if j > start and text[j - 1] == "\\":
            continue
        nxt = j + 2 if text.startswith(":", j + 1) else j + 1
        if nxt >= stop or text[nxt].isspace():
            if inner % 2 == 0:
                return j
            fallback = j if fallback is None else fallback
        inner += 1
    return fallback


@dataclass(frozen=True)
class _Scan:
    ts: str
    host: str
    processes: tuple[str, ...]
    pairs: tuple[tuple[str, str], ...]
    message: str  # free text after the header when there are no pairs
    end: int  # where the entry ends in the stream
    text: str  # the entry, one line
    when: datetime


def _scan(stream: str, header: re.Match[str], stop: int) -> _Scan | None:
    """Read one entry from its header up to ``stop`` (the next header); None if not an entry."""
    pos = header.end()
    processes: list[str] = []
    while (p := _PROCESS.match(stream, pos, stop)) is not None:
        processes.append(p.group(1))
        pos = p.end()
    pairs: list[tuple[str, str]] = []
    while (k := _KEY.match(stream, pos, stop)) is not None:
        close = _value_end(stream, k.end(), stop)
        if close is None:
            break
        pairs.append((k.group(1), stream[k.end() : close].replace('\\"', '"')))
        pos = close + 2 if stream.startswith(":", close + 1) else close + 1
    message = ""
    if not pairs:
        if not processes:
            return None  # a timestamp and a word in prose are not a log entry
        message = stream[pos:stop].strip()
        pos = stop
    stamp = re.sub(r"\s+", "", header["ts"])
    when = _timestamp(stamp, dict(pairs))
    if when is None:
        return None
    text = stamp + stream[header.end("ts") : pos].rstrip()
    return _Scan(stamp, header["host"], tuple(processes), tuple(pairs), message, pos, text, when)


def _scan_all(text: str) -> tuple[list[_Scan], list[tuple[int, int]], list[tuple[int, int]]]:
    stream, lines = _join(text)
    headers = list(_HEADER.finditer(stream))
    stops = [h.start() for h in headers[1:]] + [len(stream)] * bool(headers)
    scans: list[_Scan] = []
    used: list[tuple[int, int]] = []
    for header, stop in zip(headers, stops, strict=True):
        scan = _scan(stream, header, stop)
        if scan is not None:
            scans.append(scan)
            used.append((header.start(), scan.end))
    return scans, used, lines


def _untouched(lines: list[tuple[int, int]], used: list[tuple[int, int]]) -> int:
    """How many lines share no character with any entry."""
    starts = [a for a, _ in used]
    count = 0
    for a, b in lines:
        i = bisect.bisect_right(starts, b - 1) - 1  # the last entry starting before b
        if i < 0 or used[i][1] <= a:
            count += 1
    return count


def unwrap(text: str) -> list[str]:
    """Wrapped or run-together log text -> one entry per string, prose dropped.

    ``"2020-07-\\n\\n21T15:16:50.330-05:00 expc01 replication: ..."`` gives
    ``["2020-07-21T15:16:50.330-05:00 expc01 replication: ..."]``.
    """
    return [s.text for s in _scan_all(text)[0]]


# -- one entry -> an event ---------------------------------------------------------


_STAMP = re.compile(
    r"^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})(?:\.(\d+))?(?:(Z)|([+-]\d{2}):?(\d{2}))?$"
)


def _timestamp(stamp: str, fields: dict[str, str]) -> datetime | None:
    """The header time, aware; a header without offset takes UTCTime, else UTC."""
    m = _STAMP.match(re.sub(r"\s+", "", stamp))
    if m is None:
        return None
    frac = (m.group(2) or "0")[:6].ljust(6, "0")
    offset = "+00:00" if m.group(3) else (f"{m.group(4)}:{m.group(5)}" if m.group(4) else "")
    try:
        ts = datetime.fromisoformat(f"{m.group(1)}.{frac}{offset}")
    except ValueError:
        return None
    if ts.tzinfo is not None:
        return ts
    u = _UTCTIME.match(fields.get("UTCTime", ""))
    if u:
        ufrac = (u.group(2) or "0").ljust(6, "0")
        try:
            return datetime.fromisoformat(f"{u.group(1)}.{ufrac}").replace(tzinfo=UTC)
        except ValueError:
            pass
    return ts.replace(tzinfo=UTC)


def _classify(first: dict[str, str]) -> LogKind:
    for rule in RULES:
        value = first.get(rule.key)
        if value is not None and rule.pattern.search(value):
            return rule.kind
    return LogKind.OTHER


def _node_name(value: str) -> str:
    return value.split("@", 1)[-1]


def _remote(kind: LogKind, pairs: Sequence[tuple[str, str]]) -> str | None:
    """The other peer a line is about: the second Node, a Dst-ip, a gatekeeper address."""
    if kind in _DISRUPTIONS:
        nodes = [v for k, v in pairs if k == "Node"]
        others = [n for n in nodes[1:] if n != nodes[0]]
        return _node_name(others[-1]) if others else None
    if kind in (LogKind.H323_RETRANSMIT, LogKind.H323_TIMEOUT):
        for k, v in pairs:
            if k == "Dst-ip":
                return v
        for k, v in pairs:
            m = _IP_PORT.search(v) if k == "Detail" else None
            if m:
                return m.group(1)
    return None


def _title(detail: str) -> str:
    """An alarm's title: its Detail up to the first colon."""
    return detail.split(":", 1)[0].strip()


def _ras(f: dict[str, str], what: str) -> str:
    m = _RAS.match(f.get("Detail", ""))
    msg = m.group(1) if m else "RAS"
    where = ":".join(x for x in (f.get("Dst-ip"), f.get("Dst-port")) if x)
    return f"H.323 RAS {msg} {what} to {where}".strip()


def _summary(kind: LogKind, f: dict[str, str], peer: str | None) -> str:
    detail = f.get("Detail", "")
    if kind is LogKind.ALARM_RAISED:
        return f"alarm {f.get('Id', '?')} raised: {_title(detail)}"
    if kind is LogKind.ALARM_CLEARED:
        return f"alarm {f.get('Id', '?')} lowered: {_title(detail)}"
    if kind is LogKind.TLS_MODE_CHANGE:
        m = _TLS_CHANGE.search(detail)
        return f"TLS verification {m['old']} -> {m['new']}" if m else detail
    if kind in (LogKind.SYNC_PEERS, LogKind.SYNC_PRIMARY, LogKind.SYNC_SUBORDINATE):
        idx = [f"{k}={f[k]}" for k in ("ConfigurationMasterIndex", "LocalPeerIndex") if k in f]
        return " ".join([detail, *idx]).strip()
    if kind is LogKind.H323_RETRANSMIT:
        return _ras(f, "retransmitted")
    if kind is LogKind.H323_TIMEOUT and detail.startswith("Sending"):
        return _ras(f, "timed out")
    if kind is LogKind.H323_TIMEOUT:
        return f"{f.get('Event', '')}: {f.get('Reason', '')} ({detail})"
    if kind is LogKind.PEER_DNS:
        queue = f.get("Queue-Time-ms", "")
        again = f", next run in {int(queue) // 1000} s" if queue.isdigit() else ""
        return f"peer DNS resolution failed for some peers, forced update{again}"
    if peer and kind in _DISRUPTIONS:
        return f"{detail} ({peer})"
    return detail or f.get("Event", "") or " ".join(f"{k}={v}" for k, v in list(f.items())[:3])


def _event(scan: _Scan) -> LogEvent:
    first: dict[str, str] = {}
    for k, v in scan.pairs:
        first.setdefault(k, v)
    kind = _classify(first)
    peer = _remote(kind, scan.pairs)
    alarm = first.get("Id") if kind in (LogKind.ALARM_RAISED, LogKind.ALARM_CLEARED) else None
    detail = _summary(kind, first, peer) if scan.pairs else scan.message[:200]
    return LogEvent(
        ts=scan.when,
        host=scan.host,
        kind=kind,
        detail=detail,
        raw=scan.text,
        process=" ".join(scan.processes),
        fields=scan.pairs,
        peer=peer,
        alarm_id=alarm,
    )


def parse_record(record: str) -> LogEvent | None:
    """One entry (as :func:`unwrap` gives them) -> an event, or None when it is not one."""
    events = parse_text(record)
    return events[0] if events else None


def parse_text(text: str) -> ParsedLines:
    """Log text (a file, or a wrapped excerpt) -> events, in input order. Never raises."""
    scans, used, lines = _scan_all(text)
    events = ParsedLines()
    events.extend(_event(scan) for scan in scans)
    events.skipped = _untouched(lines, used)
    return events


def parse_lines(lines: Iterable[str]) -> ParsedLines:
    """Parse log lines into events (see :func:`parse_text`)."""
    return parse_text("\n".join(lines))


# -- selection --------------------------------------------------------------------


@dataclass(frozen=True)
class Window:
    """``--since``/``--until``: aware bounds compare instants, naive ones wall-clock time."""

    since: datetime | None = None
    until: datetime | None = None

    def holds(self, ts: datetime) -> bool:
        return (self.since is None or _cmp(ts, self.since) >= 0) and (
            self.until is None or _cmp(ts, self.until) <= 0
        )


def _cmp(ts: datetime, bound: datetime) -> int:
    left = ts if bound.tzinfo is not None else ts.replace(tzinfo=None)
    return (left > bound) - (left < bound)


def parse_bound(text: str, *, end: bool) -> datetime:
    """An ISO time or a date for ``--since``/``--until``; a date ends at its last instant.

    Raises:
        ValueError: ``text`` is neither an ISO date nor an ISO date and time.
    """
    value = text.strip()
    if re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
        day = date.fromisoformat(value)
        return datetime.combine(day, time.max if end else time.min)
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(
            f"{text!r} is not an ISO date (2020-08-12) or time (2020-08-12T14:57:00-05:00)"
        ) from None


def same_peer(host: str, name: str) -> bool:
    """``expc02`` names ``expc02.apolo.local`` and the other way round."""
    a, b = host.lower(), name.lower()
    return a == b or a.split(".", 1)[0] == b or b.split(".", 1)[0] == a


def select(
    events: Iterable[LogEvent],
    *,
    window: Window | None = None,
    peers: Sequence[str] = (),
    problems: bool = False,
) -> ParsedLines:
    """The events logged by ``peers`` (all when empty) inside ``window``, problems only if asked."""
    out = ParsedLines()
    out.skipped = events.skipped if isinstance(events, ParsedLines) else 0
    for e in events:
        if window is not None and not window.holds(e.ts):
            continue
        if peers and not any(same_peer(e.host, p) for p in peers):
            continue
        if problems and e.kind not in PROBLEM_KINDS:
            continue
        out.append(e)
    return out


# -- analysis ---------------------------------------------------------------------


class Verdict(StrEnum):
    HEALTHY = "healthy"
    UNKNOWN = "unknown"  # nothing in the log says either way
    ALARM_OPEN = "alarm-open"  # another alarm is raised and not lowered
    RESTART_PENDING = "restart-pending"
    FLAPPING = "flapping"
    OUT_OF_SYNC = "out-of-sync"
    DISCONNECTED = "disconnected"


# Worst last: a peer's verdict is the worst of its findings.
_SEVERITY = {v: i for i, v in enumerate(Verdict)}


class Clock:
    """Formats times as the log wrote them when all lines share one offset, else in UTC."""

    def __init__(self, events: Iterable[LogEvent]) -> None:
        zones = {e.ts.utcoffset() for e in events}
        offset = zones.pop() if len(zones) == 1 else None
        self.tz: tzinfo = timezone(offset) if offset is not None else UTC
        self.label = "UTC" if offset is None or not offset else f"UTC{_offset(offset)}"
        self.as_logged = offset is not None

    def at(self, ts: datetime | None, fmt: str = "%Y-%m-%d %H:%M:%S") -> str:
        return ts.astimezone(self.tz).strftime(fmt) if ts else "(no time)"

    def hour(self, ts: datetime) -> datetime:
        return ts.astimezone(self.tz).replace(minute=0, second=0, microsecond=0)


def _offset(delta: timedelta) -> str:
    minutes = int(delta.total_seconds() // 60)
    sign = "+" if minutes >= 0 else "-"
    return f"{sign}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"


@dataclass
class SyncRuns:
    """The synchronisation runs of one peer in one hour (folded in the text timeline)."""

    host: str
    first: datetime
    last: datetime
    started: int = 0
    completed: int = 0
    role: str | None = None
    indexes: str = ""

    @property
    def runs(self) -> int:
        return max(self.started, self.completed)

    @property
    def failed(self) -> int:
        return self.runs - self.completed

    def describe(self) -> str:
        n = self.runs
        what = f"{n} synchronisation run{'s' if n != 1 else ''}"
        if self.role:
            what += f" as {self.role}"
        if self.indexes:
            what += f" ({self.indexes})"
        if self.failed == 0:
            return f"{what}, {'all ' if n > 1 else ''}successful"
        return f"{what}, {self.failed} did not complete"


@dataclass
class PeerAnalysis:
    host: str
    verdict: Verdict = Verdict.UNKNOWN
    reasons: list[str] = field(default_factory=list)
    role: str | None = None  # primary | subordinate, from the replication log
    primary_slot: int | None = None  # 1-based (the log's index is 0-based)
    local_slot: int | None = None
    last_sync: datetime | None = None
    open_alarms: list[str] = field(default_factory=list)  # "20004 Cluster communication failure"
    lost_peers: list[str] = field(default_factory=list)
    episodes: int = 0  # communication episodes (disconnect ... recovered)
    timeline: list[LogEvent] = field(default_factory=list)
    first: datetime | None = None
    last: datetime | None = None
    entries: int = 0
    counts: Counter[str] = field(default_factory=Counter)
    sync_runs: list[SyncRuns] = field(default_factory=list)

    def flag(self, verdict: Verdict, reason: str) -> None:
        self.reasons.append(reason)
        if _SEVERITY[verdict] > _SEVERITY[self.verdict]:
            self.verdict = verdict


@dataclass
class Analysis:
    peers: dict[str, PeerAnalysis]
    events: int
    skipped: int
    first: datetime | None
    last: datetime | None
    clock: Clock
    findings: list[str] = field(default_factory=list)  # cluster-wide


class _Names:
    """Names of the peers as the log calls them: FQDNs and addresses -> host names."""

    def __init__(self, events: Sequence[LogEvent]) -> None:
        self.hosts = {e.host for e in events}
        self.by_ip: dict[str, str] = {}
        for e in events:
            for ip, name in _ALTERNATE.findall(e.get("AlternateIPAddresses") or ""):
                self.by_ip.setdefault(ip, name)
                self.hosts.add(name)

    def __call__(self, name: str) -> str:
        name = self.by_ip.get(name, name)
        short = name.split(".", 1)[0]
        return short if name not in self.hosts and short in self.hosts else name


@dataclass(frozen=True)
class PlannedWindow:
    """A stretch of time in which exops itself restarted peers (from its journal):
    communication failures then are its planned restarts, not faults."""

    start: datetime  # timezone-aware
    end: datetime
    label: str  # "restart run 3f9c2a1b7d4e (c1-p1, c1-p2)"

    def holds(self, ts: datetime) -> bool:
        return self.start <= ts <= self.end


class _PeerState:
    """Walks one peer's events in time order."""

    def __init__(
        self, host: str, clock: Clock, planned: Sequence[PlannedWindow] = ()
    ) -> None:
        self.p = PeerAnalysis(host)
        self.clock = clock
        self.planned = planned
        self.planned_seen: dict[str, int] = {}  # window label -> interruptions inside it
        self.open: dict[str, LogEvent] = {}
        self.in_episode = False
        self.sync_open: LogEvent | None = None
        self.sync_broken: list[LogEvent] = []
        self.lost_at: LogEvent | None = None  # the first disruption of the current episode
        self.recovered_at: datetime | None = None
        self.last_tls: LogEvent | None = None
        self.last_restart: LogEvent | None = None
        # Alarms that mean "cannot talk to a peer" (domain doc section 4) and the one a
        # saved change raises until a restart: classes of knowledge.toml's catalogue.
        self.communication = alarm_ids("communication")
        self.restart_required = alarm_id("restart-required")

    def feed(self, e: LogEvent) -> None:
        p = self.p
        p.entries += 1
        p.first = p.first or e.ts
        p.last = e.ts
        if e.kind is not LogKind.OTHER:
            p.timeline.append(e)
            p.counts[e.kind.value] += 1
        self._indexes(e)
        self._sync(e)
        if e.kind is LogKind.TLS_MODE_CHANGE:
            self.last_tls = e
        elif e.kind in (LogKind.RESTART, LogKind.STARTED):
            self.last_restart = e
            self.open.pop(self.restart_required, None)
        self._alarms(e)
        if e.kind in _DISRUPTIONS or (
            e.kind is LogKind.ALARM_RAISED and e.alarm_id in self.communication
        ):
            self._disrupted(e)
        elif e.kind is LogKind.H323_TIMEOUT and self.in_episode:
            # RAS timeouts to the lost peer's port 1719 follow a disconnect (domain 5);
            # outside an episode they may concern any H.323 neighbour, not a peer.
            self._lost(e.peer)

    def _indexes(self, e: LogEvent) -> None:
        """The log's 0-based indexes, kept 1-based like the clustering page."""
        master, local = e.get("ConfigurationMasterIndex"), e.get("LocalPeerIndex")
        if master is not None and master.isdigit():
            self.p.primary_slot = int(master) + 1
        if local is not None and local.isdigit():
            self.p.local_slot = int(local) + 1

    def _runs(self, e: LogEvent) -> SyncRuns:
        hour = self.clock.hour(e.ts)
        runs = self.p.sync_runs
        if not runs or self.clock.hour(runs[-1].first) != hour:
            runs.append(SyncRuns(self.p.host, e.ts, e.ts))
        runs[-1].last = e.ts
        return runs[-1]

    def _sync(self, e: LogEvent) -> None:
        p = self.p
        if e.kind not in _SYNC:
            return
        runs = self._runs(e)
        if e.get("ConfigurationMasterIndex") is not None:
            runs.indexes = ", ".join(
                f"{k} {e.get(k)}"
                for k in ("ConfigurationMasterIndex", "LocalPeerIndex")
                if e.get(k)
            )
        if e.kind is LogKind.SYNC_PRIMARY:
            p.role = runs.role = "primary"
        elif e.kind is LogKind.SYNC_SUBORDINATE:
            p.role = runs.role = "subordinate"
        elif e.kind is LogKind.SYNC_START:
            runs.started += 1
            if self.sync_open is not None:
                self.sync_broken.append(self.sync_open)
            self.sync_open = e
        elif e.kind is LogKind.SYNC_COMPLETE:
            runs.completed += 1
            self.sync_open = None
            self.sync_broken.clear()
            p.last_sync = e.ts
            self._recovered(e.ts)

    def _alarms(self, e: LogEvent) -> None:
        if e.alarm_id is None:
            return
        if e.kind is LogKind.ALARM_RAISED:
            self.open[e.alarm_id] = e
        elif e.kind is LogKind.ALARM_CLEARED:
            self.open.pop(e.alarm_id, None)
            if not self.communication & set(self.open):
                self._recovered(e.ts)

    def _disrupted(self, e: LogEvent) -> None:
        window = next((w for w in self.planned if w.holds(e.ts)), None)
        if window is not None:  # exops's own restart: expected, not an episode
            self.planned_seen[window.label] = self.planned_seen.get(window.label, 0) + 1
            return
        if not self.in_episode:
            self.p.episodes += 1
            self.in_episode = True
            self.lost_at = e
        self._lost(e.peer)
        if e.kind is LogKind.CONNECT_FAILED and self.sync_open is not None:
            self.sync_broken.append(self.sync_open)
            self.sync_open = None

    def _lost(self, peer: str | None) -> None:
        if peer and peer not in self.p.lost_peers:
            self.p.lost_peers.append(peer)

    def _recovered(self, ts: datetime) -> None:
        if self.in_episode:
            self.recovered_at = ts
        self.in_episode = False

    def finish(self) -> PeerAnalysis:
        p = self.p
        p.open_alarms = [f"{a} {_title(e.get('Detail') or '')}" for a, e in self.open.items()]
        self._communication()
        self._replication()
        if self.restart_required in self.open:
            e = self.open[self.restart_required]
            why = f" after {self.last_tls.detail}" if self.last_tls else ""
            p.flag(
                Verdict.RESTART_PENDING,
                f"alarm {self.restart_required} Restart required raised at "
                f"{self.clock.at(e.ts)}{why}; "
                "no restart in this log since",
            )
        if not p.reasons:
            self._quiet()
        if self.planned_seen:
            p.reasons.append(
                "communication failures during exops's own planned restarts, not counted as "
                "faults: " + "; ".join(self.planned_seen)
            )
        if self.last_restart is not None:
            when = self.clock.at(self.last_restart.ts)
            p.reasons.append(
                f"system started at {when}"
                if self.last_restart.kind is LogKind.STARTED
                else f"restart requested at {when}; no start logged since"
            )
        if p.episodes == 1 and not (self.in_episode or self.communication & set(self.open)):
            at = self.lost_at.ts if self.lost_at else None
            back = self.clock.at(self.recovered_at)
            p.reasons.append(f"{self._who()} at {self.clock.at(at)}; recovered at {back}")
        return p

    def _who(self) -> str:
        lost = self.p.lost_peers
        return f"lost contact with {', '.join(lost)}" if lost else "lost contact"

    def _communication(self) -> None:
        p = self.p
        comm_open = sorted(self.communication & set(self.open))
        who = self._who()
        if self.in_episode or comm_open:
            at = self.lost_at.ts if self.lost_at else None
            alarms = f"; alarms {', '.join(comm_open)} raised" if comm_open else ""
            alarms = alarms.replace("alarms", "alarm") if len(comm_open) == 1 else alarms
            p.flag(
                Verdict.DISCONNECTED,
                f"{who} at {self.clock.at(at)}{alarms}; not lowered in this log"
                if comm_open
                else f"{who} at {self.clock.at(at)}; no recovery in this log",
            )
        if p.episodes >= 2:
            p.flag(Verdict.FLAPPING, f"{p.episodes} separate communication failures ({who})")

    def _replication(self) -> None:
        p = self.p
        for aid, e in self.open.items():
            if "replication" in e.detail.lower() and aid not in self.communication:
                p.flag(Verdict.OUT_OF_SYNC, f"replication alarm still raised: {e.detail}")
        if self.sync_broken:
            p.flag(
                Verdict.OUT_OF_SYNC,
                f"synchronisation started at {self.clock.at(self.sync_broken[-1].ts)} "
                "did not complete",
            )

    def _quiet(self) -> None:
        p = self.p
        if p.open_alarms:
            p.flag(Verdict.ALARM_OPEN, "alarms still raised: " + "; ".join(p.open_alarms))
        elif p.last_sync is not None:
            role = f" as {p.role}" if p.role else ""
            p.verdict = Verdict.HEALTHY
            p.reasons.append(
                f"last synchronisation{role} completed at {self.clock.at(p.last_sync)}"
            )
        else:
            p.reasons.append("no completed replication run in the log")


def _renamed(e: LogEvent, name: str) -> LogEvent:
    """``e`` about the peer ``name`` (an address keeps its place in the detail)."""
    if e.peer is None or name == e.peer:
        return e
    if re.fullmatch(r"[\d.]+", e.peer):
        return replace(e, peer=name, detail=f"{e.detail} ({name})")
    return replace(e, peer=name, detail=e.detail.replace(e.peer, name))


def _sorted(events: list[LogEvent]) -> list[LogEvent]:
    """By time; equal times keep their input order."""
    return [e for _, _, e in sorted((e.ts, i, e) for i, e in enumerate(events))]


def _walk(
    events: list[LogEvent], clock: Clock, planned: Sequence[PlannedWindow] = ()
) -> dict[str, PeerAnalysis]:
    states: dict[str, _PeerState] = {}
    for e in _sorted(events):
        states.setdefault(e.host, _PeerState(e.host, clock, planned)).feed(e)
    return {h: s.finish() for h, s in sorted(states.items())}


def _shown(p: PeerAnalysis, shown: PeerAnalysis | None) -> None:
    """Keep ``p``'s verdict (from the whole history) and take what is shown from ``shown``."""
    s = shown or PeerAnalysis(p.host)
    p.timeline, p.counts, p.sync_runs = s.timeline, s.counts, s.sync_runs
    p.entries, p.first, p.last = s.entries, s.first, s.last


def analyze(
    events: Iterable[LogEvent],
    *,
    history: Iterable[LogEvent] | None = None,
    planned: Sequence[PlannedWindow] = (),
) -> Analysis:
    """A per-peer timeline and verdict (healthy, restart-pending, flapping, ...) with reasons.

    ``history`` (default: ``events``) is what the verdicts are judged on: with
    filters, every entry of the selected peers up to the end of the window, so
    an alarm raised before ``--since`` and never lowered still shows as raised;
    the timeline, counts and times come from ``events`` alone.

    Other peers a line is about (``clusterdb@expc02.apolo.local``, ``10.15.13.16``)
    are named as the log names its hosts when the log says so (host names,
    ``AlternateIPAddresses``).

    ``planned``: when exops itself restarted peers (its journal): a communication
    failure then is named as planned and never counted as a fault (flapping).
    """
    items = list(events)
    skipped = events.skipped if isinstance(events, ParsedLines) else 0
    past = items if history is None else list(history)
    names = _Names([*past, *items])
    items = [_renamed(e, names(e.peer)) if e.peer else e for e in items]
    past = items if history is None else [_renamed(e, names(e.peer)) if e.peer else e for e in past]
    clock = Clock(past or items)
    peers = _walk(past, clock, planned)
    if history is not None:
        shown = _walk(items, clock, planned)
        for host, p in peers.items():
            _shown(p, shown.get(host))
    analysis = Analysis(
        peers=peers,
        events=len(items),
        skipped=skipped,
        first=min((e.ts for e in items), default=None),
        last=max((e.ts for e in items), default=None),
        clock=clock,
    )
    primaries = {p.primary_slot for p in peers.values() if p.primary_slot is not None}
    if len(primaries) > 1:
        seen = ", ".join(
            f"{p.host}: {p.primary_slot}" for p in peers.values() if p.primary_slot is not None
        )
        analysis.findings.append(f"peers disagree on the configuration primary slot ({seen})")
        for p in peers.values():
            if p.primary_slot is not None:
                p.flag(Verdict.OUT_OF_SYNC, "the configuration primary differs between peers")
    return analysis


# -- rendering -----------------------------------------------------------------------


def _iso(ts: datetime | None) -> str | None:
    return ts.isoformat(timespec="milliseconds") if ts else None


def _event_doc(e: LogEvent) -> dict[str, Any]:
    return {
        "ts": _iso(e.ts),
        "kind": e.kind.value,
        "detail": e.detail,
        "peer": e.peer,
        "alarm_id": e.alarm_id,
    }


def _runs_doc(r: SyncRuns) -> dict[str, Any]:
    return {
        "first": _iso(r.first),
        "last": _iso(r.last),
        "runs": r.runs,
        "completed": r.completed,
        "role": r.role,
        "summary": r.describe(),
    }


def analysis_doc(analysis: Analysis) -> dict[str, Any]:
    """The JSON document of an analysis (schema ``exops.logs/1``)."""
    return {
        "schema": SCHEMA,
        "events": analysis.events,
        "skipped_lines": analysis.skipped,
        "first": _iso(analysis.first),
        "last": _iso(analysis.last),
        "findings": analysis.findings,
        "peers": [
            {
                "host": p.host,
                "verdict": p.verdict.value,
                "reasons": p.reasons,
                "role": p.role,
                "primary_slot": p.primary_slot,
                "local_slot": p.local_slot,
                "last_sync": _iso(p.last_sync),
                "open_alarms": p.open_alarms,
                "lost_peers": p.lost_peers,
                "communication_failures": p.episodes,
                "first": _iso(p.first),
                "last": _iso(p.last),
                "entries": p.entries,
                "counts": dict(sorted(p.counts.items())),
                "sync_runs": [_runs_doc(r) for r in p.sync_runs],
                "timeline": [_event_doc(e) for e in p.timeline],
            }
            for p in analysis.peers.values()
        ],
    }


@dataclass(frozen=True)
class _Row:
    ts: datetime
    host: str
    what: str
    detail: str
    order: int


def _rows(p: PeerAnalysis, order: int, clock: Clock) -> list[_Row]:
    """One peer's timeline for people: sync runs folded per hour, repeats folded."""
    rows: list[_Row] = []
    for r in p.sync_runs:
        span = (
            f", {clock.at(r.first, '%H:%M')} to {clock.at(r.last, '%H:%M')}" if r.runs > 1 else ""
        )
        rows.append(_Row(r.first, p.host, "sync", r.describe() + span, order))
    run: list[LogEvent] = []
    for e in [*(e for e in p.timeline if e.kind not in _SYNC), None]:
        if run and (e is None or (e.kind, e.detail) != (run[0].kind, run[0].detail)):
            more = _repeats(run, clock)
            rows.append(_Row(run[0].ts, p.host, run[0].kind.value, run[0].detail + more, order))
            run = []
        if e is not None:
            run.append(e)
    return rows


def _repeats(run: list[LogEvent], clock: Clock) -> str:
    if len(run) == 1:
        return ""
    first, last = clock.at(run[0].ts, "%H:%M:%S"), clock.at(run[-1].ts, "%H:%M:%S")
    return f" (x{len(run)})" if first == last else f" (x{len(run)}, until {last})"


def _header(analysis: Analysis) -> str:
    hosts = ", ".join(analysis.peers)
    zone = "as logged, " if analysis.clock.as_logged else ""
    span = (
        f"; {analysis.clock.at(analysis.first)} .. {analysis.clock.at(analysis.last)} "
        f"({zone}{analysis.clock.label})"
        if analysis.first
        else ""
    )
    return (
        f"{analysis.events} log entries from {len(analysis.peers)} peer"
        f"{'s' if len(analysis.peers) != 1 else ''}"
        f"{f' ({hosts})' if hosts else ''}{span}; "
        f"{analysis.skipped} other lines ignored"
    )


def _verdicts(analysis: Analysis) -> list[str]:
    if not analysis.peers:
        return []
    width = max(len(h) for h in analysis.peers)
    out = ["", f"{'PEER':<{width}}  {'VERDICT':<15}  {'ROLE':<11}  WHY"]
    for p in analysis.peers.values():
        for i, reason in enumerate(p.reasons):
            lead = (p.host, p.verdict.value, p.role or "-") if i == 0 else ("", "", "")
            out.append(f"{lead[0]:<{width}}  {lead[1]:<15}  {lead[2]:<11}  {reason}")
    out += [f"! {f}" for f in analysis.findings]
    return out


def _timeline(analysis: Analysis) -> list[str]:
    rows = [r for i, p in enumerate(analysis.peers.values()) for r in _rows(p, i, analysis.clock)]
    rows.sort(key=lambda r: (r.ts, r.order))
    if not rows:
        return ["", "(no notable events)"]
    width = max(len(r.host) for r in rows)
    out = ["", f"{'TIME':<23}  {'PEER':<{width}}  {'WHAT':<16}  DETAIL"]
    for r in rows:
        when = analysis.clock.at(r.ts, "%Y-%m-%d %H:%M:%S.%f")[:-3]
        out.append(f"{when:<23}  {r.host:<{width}}  {r.what:<16}  {r.detail}")
    return out


def _block(p: PeerAnalysis, clock: Clock) -> list[str]:
    role = p.role or "role unknown"
    if p.primary_slot is not None:
        role += f", ConfigurationMasterIndex {p.primary_slot - 1}"
    if p.local_slot is not None:
        role += f", LocalPeerIndex {p.local_slot - 1}"
    out = ["", f"{p.host}: {p.verdict.value} ({role})"]
    out += [f"  verdict: {r}" for r in p.reasons]
    out.append(f"  entries: {p.entries}, first {clock.at(p.first)}, last {clock.at(p.last)}")
    counts = ", ".join(f"{k} {n}" for k, n in sorted(p.counts.items()))
    out.append(f"  counts: {counts or 'nothing notable'}")
    out.append(f"  alarms still raised at the end: {'; '.join(p.open_alarms) or 'none'}")
    runs = sum(r.runs for r in p.sync_runs)
    failed = sum(r.failed for r in p.sync_runs)
    if runs:
        ok = (
            f"{failed} did not complete"
            if failed
            else "all successful"
            if runs > 1
            else "successful"
        )
        out.append(
            f"  synchronisation: {runs} run{'s' if runs != 1 else ''}, {ok}; "
            f"last completed {clock.at(p.last_sync)}"
        )
    if p.lost_peers:
        times = "once" if p.episodes == 1 else f"{p.episodes} separate times"
        out.append(f"  lost contact with: {', '.join(p.lost_peers)} ({times})")
    return out


def render_analysis(analysis: Analysis, fmt: str, *, summary: bool = False) -> str:
    """``analysis`` as ``fmt``: "text" (verdicts and a timeline, or with ``summary``
    one block per peer) or "json".

    Raises:
        ValueError: ``fmt`` is neither "text" nor "json".
    """
    if fmt == "json":
        return json.dumps(analysis_doc(analysis), indent=2) + "\n"
    if fmt != "text":
        raise ValueError(f"unknown log analysis format {fmt!r} (expected text or json)")
    out = [_header(analysis)]
    if summary:
        for p in analysis.peers.values():
            out += _block(p, analysis.clock)
        out += [f"! {f}" for f in analysis.findings]
    else:
        out += _verdicts(analysis) + _timeline(analysis)
    return "\n".join(out) + "\n"

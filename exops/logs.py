"""Expressway log lines -> events -> a per-peer diagnosis (for ``exops logs analyze``).

Line form (domain doc section 5, seed samples)::

    TIMESTAMP HOST [PROCESS[pid]: ...] key="value" key="value" ...

for example ``2020-08-12T14:57:43.524-05:00 expc01 alarm: Level="WARN"
Event="Alarm Raised" Id="20006" ...``. A key may repeat (``Node`` names the
local node first, then the remote one), and values never hold a double quote.
Which lines mean what is data (``RULES``), each with the source of its form:
``seed`` = the vendor note's samples, ``mock`` = a form only ``mock_server``
defines (no public sample shows the real appliance's wording).

Parsing never raises: a line without the timestamp and host header is skipped
and counted (``ParsedLines.skipped``).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

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


def _r(kind: LogKind, key: str, pattern: str, source: str = "seed") -> Rule:
    return Rule(kind, key, re.compile(pattern), source)


# First match wins: the TLS change is also a "System Configuration Changed".
RULES: tuple[Rule, ...] = (
    _r(LogKind.ALARM_RAISED, "Event", r"^Alarm Raised$"),
    _r(LogKind.ALARM_CLEARED, "Event", r"^Alarm Lowered$", "mock"),
    _r(LogKind.TLS_MODE_CHANGE, "Detail", r"tls_verify - changed from:"),
    _r(LogKind.CONFIG_CHANGE, "Event", r"^System Configuration Changed$"),
    _r(LogKind.RESTART, "Event", r"^System Restart$", "mock"),
    _r(LogKind.STARTED, "Event", r"^System Start$", "mock"),
    _r(LogKind.FACTORY_RESET, "Event", r"^Factory Reset$", "mock"),
    _r(LogKind.H323_TIMEOUT, "Event", r"^External Server Communications Failure$"),
    _r(LogKind.H323_TIMEOUT, "Detail", r"^Sending RAS \w+\b.*\bTimeout=True"),
    _r(LogKind.H323_RETRANSMIT, "Detail", r"^Sending RAS \w+\b.*\bRetransmit=True"),
    _r(LogKind.SYNC_START, "Detail", r"^Starting synchronisation"),
    _r(LogKind.SYNC_PRIMARY, "Detail", r"^This peer is the cluster master"),
    _r(LogKind.SYNC_SUBORDINATE, "Detail", r"^This peer is not the cluster master"),
    _r(LogKind.SYNC_COMPLETE, "Detail", r"^Synchronisation completed successfully"),
    _r(LogKind.SYNC_PEERS, "ConfigurationMasterIndex", r"^\d+$"),
    _r(LogKind.DISCONNECT, "Detail", r"\bmnesia_down\b"),
    _r(LogKind.DB_INCONSISTENT, "Detail", r"^Inconsistent Database"),
    _r(LogKind.CONNECT_FAILED, "Detail", r"^Failed connecting to node"),
)

# Alarms that mean "cannot talk to a peer" (domain doc section 4).
COMMUNICATION_ALARMS = frozenset({"20004", "20006"})
RESTART_REQUIRED = "20007"
# Disruption events: they open a communication episode on the peer that logs them.
_DISRUPTIONS = frozenset({LogKind.DISCONNECT, LogKind.DB_INCONSISTENT, LogKind.CONNECT_FAILED})

_TS = r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:Z|[+-]\d{2}:?\d{2})?"
_HEADER = re.compile(rf"(?P<ts>{_TS})\s+(?P<host>[^\s=\"]+)(?=\s|$)")
_PAIR = re.compile(r'(?P<key>[A-Za-z][\w.\-]*)="(?P<value>[^"]*)"')
_PROCESS = re.compile(r"[A-Za-z][\w.\-]*(?:\[\d+\])?:(?=\s|$)")
_UTCTIME = re.compile(r"^(\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2})(?:,(\d{1,6}))?$")
_TLS_CHANGE = re.compile(r"changed from: '?(?P<old>[\w-]+)'? to: '?(?P<new>[\w-]+)'?")
_IP_PORT = re.compile(r"(\d{1,3}(?:\.\d{1,3}){3}):\d+")


@dataclass(frozen=True)
class LogEvent:
    ts: datetime | None  # UTC; None when the line carries no readable time
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
    """The events of some log lines, plus how many lines could not be read."""

    skipped: int = 0


def _records(line: str) -> list[str]:
    """Split one line into records (several may share a line, e.g. a pasted dump)."""
    quoted = [m.span() for m in _PAIR.finditer(line)]
    starts = []
    for m in _HEADER.finditer(line):
        pos = m.start()
        if any(a <= pos < b for a, b in quoted):
            continue
        if pos == 0 or line[pos - 1].isspace():
            starts.append(pos)
    if not starts or starts[0] != 0:
        starts.insert(0, 0)
    return [line[a:b].strip() for a, b in zip(starts, [*starts[1:], len(line)], strict=True)]


def _timestamp(stamp: str, fields: dict[str, str]) -> datetime | None:
    try:
        ts = datetime.fromisoformat(stamp)
    except ValueError:
        ts = None
    if ts is not None and ts.tzinfo is not None:
        return ts.astimezone(UTC)
    m = _UTCTIME.match(fields.get("UTCTime", ""))
    if m:
        frac = (m.group(2) or "0").ljust(6, "0")
        return datetime.fromisoformat(f"{m.group(1)}.{frac}").replace(tzinfo=UTC)
    return ts.replace(tzinfo=UTC) if ts is not None else None


def _classify(pairs: list[tuple[str, str]]) -> LogKind:
    first: dict[str, str] = {}
    for k, v in pairs:
        first.setdefault(k, v)
    for rule in RULES:
        value = first.get(rule.key)
        if value is not None and rule.pattern.search(value):
            return rule.kind
    return LogKind.OTHER


def _node_name(value: str) -> str:
    return value.split("@", 1)[-1]


def _remote(kind: LogKind, pairs: list[tuple[str, str]]) -> str | None:
    """The other peer a line is about: the second Node, a Dst-ip, a gatekeeper name."""
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


def _summary(kind: LogKind, f: dict[str, str], peer: str | None, rest: str) -> str:
    detail = f.get("Detail", "")
    if kind in (LogKind.ALARM_RAISED, LogKind.ALARM_CLEARED):
        return f"{f.get('Id', '?')} {detail}".strip()
    if kind is LogKind.TLS_MODE_CHANGE:
        m = _TLS_CHANGE.search(detail)
        return f"TLS verification {m['old']} -> {m['new']}" if m else detail
    if kind in (LogKind.SYNC_PEERS, LogKind.SYNC_PRIMARY, LogKind.SYNC_SUBORDINATE):
        idx = [f"{k}={f[k]}" for k in ("ConfigurationMasterIndex", "LocalPeerIndex") if k in f]
        return " ".join([detail, *idx]).strip()
    if kind is LogKind.H323_TIMEOUT and not detail.startswith("Sending"):
        return f"{f.get('Event', '')}: {f.get('Reason', '')} ({detail})"
    if peer and kind in _DISRUPTIONS:
        return f"{detail} ({peer})"
    if not f:
        return rest
    return detail or f.get("Event", "") or " ".join(f"{k}={v}" for k, v in list(f.items())[:3])


def parse_record(record: str) -> LogEvent | None:
    """One record -> an event, or None when it has no timestamp and host header."""
    m = _HEADER.match(record)
    if m is None:
        return None
    rest = record[m.end() :].strip()
    process: list[str] = []
    while (p := _PROCESS.match(rest)) is not None:
        process.append(p.group(0)[:-1])
        rest = rest[p.end() :].lstrip()
    pairs = [(pm["key"], pm["value"]) for pm in _PAIR.finditer(rest)]
    first: dict[str, str] = {}
    for k, v in pairs:
        first.setdefault(k, v)
    kind = _classify(pairs)
    peer = _remote(kind, pairs)
    alarm = first.get("Id") if kind in (LogKind.ALARM_RAISED, LogKind.ALARM_CLEARED) else None
    return LogEvent(
        ts=_timestamp(m["ts"], first),
        host=m["host"],
        kind=kind,
        detail=_summary(kind, first, peer, rest),
        raw=record,
        process=" ".join(process),
        fields=tuple(pairs),
        peer=peer,
        alarm_id=alarm,
    )


def parse_lines(lines: Iterable[str]) -> ParsedLines:
    """Parse log lines into events, in input order; unreadable lines are counted, not raised."""
    events = ParsedLines()
    for line in lines:
        if not line.strip():
            continue
        for record in _records(line.strip()):
            event = parse_record(record)
            if event is None:
                events.skipped += 1
            else:
                events.append(event)
    return events


# -- analysis ----------------------------------------------------------------


class Verdict(StrEnum):
    HEALTHY = "healthy"
    UNKNOWN = "unknown"  # nothing in the log says either way
    ALARM_OPEN = "alarm-open"  # another alarm is raised and not cleared
    RESTART_PENDING = "restart-pending"
    FLAPPING = "flapping"
    OUT_OF_SYNC = "out-of-sync"
    DISCONNECTED = "disconnected"


# Worst last: a peer's verdict is the worst of its findings.
_SEVERITY = {v: i for i, v in enumerate(Verdict)}


@dataclass
class PeerAnalysis:
    host: str
    verdict: Verdict = Verdict.UNKNOWN
    reasons: list[str] = field(default_factory=list)
    role: str | None = None  # primary | subordinate, from the replication log
    primary_slot: int | None = None  # 1-based (the log's index is 0-based)
    local_slot: int | None = None
    last_sync: datetime | None = None
    open_alarms: list[str] = field(default_factory=list)
    lost_peers: list[str] = field(default_factory=list)
    episodes: int = 0  # communication episodes (disconnect ... recovered)
    timeline: list[LogEvent] = field(default_factory=list)

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
    findings: list[str] = field(default_factory=list)  # cluster-wide


def _t(ts: datetime | None) -> str:
    return ts.strftime("%Y-%m-%d %H:%M:%S UTC") if ts else "(no time)"


def _sorted(events: list[LogEvent]) -> list[LogEvent]:
    """By time; events without a time keep their place after the previous one."""
    keyed = []
    last = datetime.min.replace(tzinfo=UTC)
    for i, e in enumerate(events):
        last = e.ts or last
        keyed.append((last, i, e))
    return [e for _, _, e in sorted(keyed, key=lambda k: (k[0], k[1]))]


class _PeerState:
    """Walks one peer's events in time order."""

    def __init__(self, host: str) -> None:
        self.p = PeerAnalysis(host)
        self.open: dict[str, LogEvent] = {}
        self.raised: dict[str, int] = {}
        self.in_episode = False
        self.sync_open: LogEvent | None = None
        self.sync_broken: list[LogEvent] = []
        self.last_disruption: LogEvent | None = None
        self.last_tls: LogEvent | None = None

    def feed(self, e: LogEvent) -> None:
        if e.kind is not LogKind.OTHER:
            self.p.timeline.append(e)
        self._indexes(e)
        self._sync(e)
        if e.kind is LogKind.TLS_MODE_CHANGE:
            self.last_tls = e
        elif e.kind in (LogKind.RESTART, LogKind.STARTED):
            self.open.pop(RESTART_REQUIRED, None)
        self._alarms(e)
        if e.kind in _DISRUPTIONS or (
            e.kind is LogKind.ALARM_RAISED and e.alarm_id in COMMUNICATION_ALARMS
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

    def _sync(self, e: LogEvent) -> None:
        p = self.p
        if e.kind is LogKind.SYNC_PRIMARY:
            p.role = "primary"
        elif e.kind is LogKind.SYNC_SUBORDINATE:
            p.role = "subordinate"
        elif e.kind is LogKind.SYNC_START:
            if self.sync_open is not None:
                self.sync_broken.append(self.sync_open)
            self.sync_open = e
        elif e.kind is LogKind.SYNC_COMPLETE:
            self.sync_open = None
            self.sync_broken.clear()
            p.last_sync = e.ts
            self._recovered()

    def _alarms(self, e: LogEvent) -> None:
        if e.alarm_id is None:
            return
        if e.kind is LogKind.ALARM_RAISED:
            self.open[e.alarm_id] = e
            self.raised[e.alarm_id] = self.raised.get(e.alarm_id, 0) + 1
        elif e.kind is LogKind.ALARM_CLEARED:
            self.open.pop(e.alarm_id, None)
            if not COMMUNICATION_ALARMS & set(self.open):
                self._recovered()

    def _disrupted(self, e: LogEvent) -> None:
        if not self.in_episode:
            self.p.episodes += 1
            self.in_episode = True
        self.last_disruption = e
        self._lost(e.peer)
        if e.kind is LogKind.CONNECT_FAILED and self.sync_open is not None:
            self.sync_broken.append(self.sync_open)
            self.sync_open = None

    def _lost(self, peer: str | None) -> None:
        if peer and peer not in self.p.lost_peers:
            self.p.lost_peers.append(peer)

    def _recovered(self) -> None:
        self.in_episode = False

    def finish(self) -> PeerAnalysis:
        p = self.p
        p.open_alarms = [f"{a} {e.detail.split(' ', 1)[-1]}" for a, e in self.open.items()]
        comm_open = sorted(COMMUNICATION_ALARMS & set(self.open))
        lost = f" (lost: {', '.join(p.lost_peers)})" if p.lost_peers else ""
        if self.in_episode or comm_open:
            since = self.last_disruption.ts if self.last_disruption else None
            what = f"alarm {', '.join(comm_open)} open" if comm_open else "no recovery logged"
            p.flag(Verdict.DISCONNECTED, f"cluster communication lost at {_t(since)}{lost}; {what}")
        if p.episodes >= 2:
            p.flag(Verdict.FLAPPING, f"{p.episodes} separate communication failures{lost}")
        for aid, e in self.open.items():
            if "replication" in e.detail.lower() and aid not in COMMUNICATION_ALARMS:
                p.flag(Verdict.OUT_OF_SYNC, f"replication alarm open: {e.detail}")
        if self.sync_broken:
            p.flag(
                Verdict.OUT_OF_SYNC,
                f"synchronisation started at {_t(self.sync_broken[-1].ts)} did not complete",
            )
        if RESTART_REQUIRED in self.open:
            e = self.open[RESTART_REQUIRED]
            why = f" after {self.last_tls.detail}" if self.last_tls else ""
            p.flag(
                Verdict.RESTART_PENDING,
                f"alarm 20007 Restart required raised at {_t(e.ts)}{why}, no restart logged since",
            )
        if not p.reasons:
            if p.open_alarms:
                p.flag(Verdict.ALARM_OPEN, "open alarms: " + "; ".join(p.open_alarms))
            elif p.last_sync is not None:
                role = f" as {p.role}" if p.role else ""
                p.verdict = Verdict.HEALTHY
                p.reasons.append(f"last synchronisation{role} completed at {_t(p.last_sync)}")
            else:
                p.reasons.append("no completed replication run in the log")
        return p


def analyze(events: Iterable[LogEvent]) -> Analysis:
    """A per-peer timeline and verdict (healthy, restart-pending, flapping, ...) with reasons."""
    items = list(events)
    skipped = events.skipped if isinstance(events, ParsedLines) else 0
    states: dict[str, _PeerState] = {}
    for e in _sorted(items):
        states.setdefault(e.host, _PeerState(e.host)).feed(e)
    peers = {h: s.finish() for h, s in sorted(states.items())}
    analysis = Analysis(
        peers=peers,
        events=len(items),
        skipped=skipped,
        first=min((e.ts for e in items if e.ts), default=None),
        last=max((e.ts for e in items if e.ts), default=None),
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


# -- rendering ---------------------------------------------------------------


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
                "timeline": [_event_doc(e) for e in p.timeline],
            }
            for p in analysis.peers.values()
        ],
    }


def _text(analysis: Analysis) -> str:
    out = [
        f"{analysis.events} events from {len(analysis.peers)} peers, "
        f"{analysis.skipped} unreadable lines skipped; "
        f"{_t(analysis.first)} .. {_t(analysis.last)}"
    ]
    if analysis.peers:
        width = max(len(h) for h in analysis.peers)
        out += ["", f"{'PEER':<{width}}  {'VERDICT':<15}  ROLE         REASON"]
        for p in analysis.peers.values():
            role = p.role or "-"
            for i, reason in enumerate(p.reasons):
                if i == 0:
                    out.append(f"{p.host:<{width}}  {p.verdict.value:<15}  {role:<11}  {reason}")
                else:
                    out.append(f"{'':<{width}}  {'':<15}  {'':<11}  {reason}")
    out += [f"! {f}" for f in analysis.findings]
    for p in analysis.peers.values():
        out += ["", f"{p.host} timeline"]
        if not p.timeline:
            out.append("  (no notable events)")
        for e in p.timeline:
            ts = e.ts.strftime("%Y-%m-%d %H:%M:%S.%f")[:-3] if e.ts else "-" * 23
            out.append(f"  {ts}  {e.kind.value:<16}  {e.detail}")
    return "\n".join(out) + "\n"


def render_analysis(analysis: Analysis, fmt: str) -> str:
    """``analysis`` as ``fmt``: "text" (a table and timelines) or "json".

    Raises:
        ValueError: ``fmt`` is neither "text" nor "json".
    """
    if fmt == "json":
        return json.dumps(analysis_doc(analysis), indent=2) + "\n"
    if fmt == "text":
        return _text(analysis)
    raise ValueError(f"unknown log analysis format {fmt!r} (expected text or json)")

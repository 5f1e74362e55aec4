"""Log parsing, unwrapping and analysis (``exops logs analyze``).

Unit tests use fixtures written for exops in the appliance's line shape
(``tests/fixtures/logs/``: a 3-peer incident on 2024-03-05, +01:00, and a
wrapped excerpt of it pasted among prose). ``test_vendor_seed`` checks the
vendor note's own log samples (``tests/fixtures/vendor-note/``: the note's log
section, verbatim, with its source).
``EXOPS_UPDATE_GOLDEN=1`` rewrites the golden outputs.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta, timezone

import pytest
from goldenkit import check_golden
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from paths import FIXTURES as FIXTURES_ROOT

from exops.tools.logs import (
    SCHEMA,
    LogKind,
    Verdict,
    Window,
    analyze,
    parse_bound,
    parse_lines,
    parse_record,
    parse_text,
    render_analysis,
    same_peer,
    select,
    unwrap,
)

FIXTURES = FIXTURES_ROOT / "logs"
VENDOR_NOTE = FIXTURES_ROOT / "vendor-note" / "clustering-logs.fr.txt"
CET = timezone(timedelta(hours=1))

INCIDENT = (FIXTURES / "incident.log").read_text()
WRAPPED = (FIXTURES / "incident-wrapped.txt").read_text()
LINES = INCIDENT.splitlines()


def at(h: int, m: int, s: int, ms: int = 0) -> datetime:
    return datetime(2024, 3, 5, h, m, s, ms * 1000, tzinfo=CET)


def until(hhmm: str) -> list[str]:
    """The fixture's lines up to (excluding) the given local time."""
    return [line for line in LINES if line[11:16] < hhmm]


# -- parsing ---------------------------------------------------------------------


def test_every_fixture_line_is_one_entry() -> None:
    events = parse_text(INCIDENT)
    assert events.skipped == 0
    assert [e.raw for e in events] == LINES
    assert {e.host for e in events} == {"vcs-a", "vcs-b", "vcs-c"}
    assert all(e.ts.utcoffset() == timedelta(hours=1) for e in events)
    first = events[0]
    assert first.ts == at(9, 0, 10, 250) == datetime(2024, 3, 5, 8, 0, 10, 250000, tzinfo=UTC)
    assert first.process == "replication" and first.kind is LogKind.SYNC_START
    assert first.get("CodeLocation") == "clusterconfigurationsynchroniser(270)"


def test_kinds_in_the_fixture() -> None:
    counts: dict[LogKind, int] = {}
    for e in parse_text(INCIDENT):
        counts[e.kind] = counts.get(e.kind, 0) + 1
    assert counts == {
        LogKind.SYNC_START: 21,
        LogKind.SYNC_PEERS: 21,
        LogKind.SYNC_PRIMARY: 7,
        LogKind.SYNC_SUBORDINATE: 13,
        LogKind.SYNC_COMPLETE: 20,
        LogKind.DISCONNECT: 1,
        LogKind.DB_INCONSISTENT: 1,
        LogKind.CONNECT_FAILED: 1,
        LogKind.OTHER: 1,  # "Connecting database on mnesia running_partitioned_network event"
        LogKind.ALARM_RAISED: 5,
        LogKind.ALARM_CLEARED: 2,
        LogKind.H323_RETRANSMIT: 3,
        LogKind.H323_TIMEOUT: 2,
        LogKind.PEER_DNS: 1,
        LogKind.TLS_MODE_CHANGE: 4,
        LogKind.RESTART: 1,
        LogKind.STARTED: 2,
    }


def test_cluster_database_line_without_process_tag() -> None:
    e = parse_record(next(line for line in LINES if "Failed connecting" in line))
    assert e is not None and e.process == ""
    assert e.kind is LogKind.CONNECT_FAILED
    # Node repeats: the local node first, then the one it failed to reach.
    assert [v for k, v in e.fields if k == "Node"] == [
        "clusterdb@vcs-a.lab.example",
        "clusterdb@vcs-b.lab.example",
    ]
    assert e.peer == "vcs-b.lab.example"
    assert e.get("PID") == "<0.20931.112>"
    assert (e.get("Reason") or "").startswith("{ badrpc, { EXIT, { timeout,")


def test_process_tags_stray_colon_and_quotes_in_values() -> None:
    web = parse_record(next(line for line in LINES if "httpd[2214]" in line))
    assert web is not None and web.process == "httpd[2214] web"
    assert web.kind is LogKind.TLS_MODE_CHANGE and web.get("User") == "admin"
    assert web.detail == "TLS verification Permissive -> Enforcing"
    ras = parse_record(next(line for line in LINES if "Timeout=True" in line))
    assert ras is not None and ras.get("Level") == "INFO"  # 'Level="INFO":' keeps its value
    assert ras.get("Action") == "Sent" and ras.get("Dst-port") == "1719"
    assert ras.kind is LogKind.H323_TIMEOUT and ras.peer == "192.0.2.12"
    line = (
        '2024-03-05T11:00:00.000+01:00 vcs-a management: Detail="user \\"ops\\" saved" '
        'Reason="{ error, "timeout", [ peer ] }": Level="WARN"'
    )
    e = parse_record(line)
    assert e is not None
    assert e.fields == (
        ("Detail", 'user "ops" saved'),
        ("Reason", '{ error, "timeout", [ peer ] }'),
        ("Level", "WARN"),
    )


def test_mock_lab_line_form() -> None:
    """The form exops.lab's ``Peer.emit`` writes today: process tag, UTCTime first."""
    line = (
        '2024-05-01T10:00:01.000+00:00 c1-p1 alarm: UTCTime="2024-05-01 10:00:01,000" '
        'Level="WARN" Event="Alarm Raised" Id="20004" UUID="3bca6888-f622-11df-93be-07cc953d7b99" '
        'Severity="warning" Detail="Cluster communication failure"'
    )
    e = parse_record(line)
    assert e is not None and (e.host, e.process, e.alarm_id) == ("c1-p1", "alarm", "20004")
    assert e.ts == datetime(2024, 5, 1, 10, 0, 1, tzinfo=UTC)


def test_header_without_offset_takes_utctime() -> None:
    e = parse_record(
        '2024-03-05T10:00:00.5 vcs-a replication: UTCTime="2024-03-05 09:00:00,500" Detail="x"'
    )
    assert e is not None and e.ts == datetime(2024, 3, 5, 9, 0, 0, 500000, tzinfo=UTC)


def test_unwrap_the_wrapped_excerpt() -> None:
    assert "2024-03-\n\n05T10:12:06.026" in WRAPPED  # the fixture does break a timestamp
    block = [line for line in LINES if "T10:12:" in line]
    assert unwrap(WRAPPED) == block
    events = parse_text(WRAPPED)
    assert [e.raw for e in events] == block
    assert events.skipped == 5  # the five lines of prose around the excerpt


def test_timestamp_broken_anywhere_after_a_separator() -> None:
    text = '2024-03-\n\n05T10:\n12:05.611+\n01:00 vcs-a alarm: Event="Alarm Raised" Id="20004"'
    (e,) = parse_text(text)
    assert e.ts == at(10, 12, 5, 611) and e.alarm_id == "20004"


def test_a_line_ending_in_a_hyphen_does_not_swallow_the_next_entry() -> None:
    text = (
        "2024-03-05T10:00:00.000+01:00 vcs-a kernel: eth0 link state-\n"
        "2024-03-05T10:00:01.000+01:00 vcs-a kernel: eth0 link up\n"
    )
    events = parse_text(text)
    assert [(e.detail, e.ts) for e in events] == [
        ("eth0 link state-", at(10, 0, 0)),
        ("eth0 link up", at(10, 0, 1)),
    ]


@pytest.mark.parametrize(
    "text",
    [
        "Le 2024-03-05T10:00:00+01:00 nous avons redemarre le cluster.",
        "2024-03-05T10:00:00+01:00 is when it happened",
        "2024-13-45T10:00:00+01:00 vcs-a kernel: not a date",
        "garbage line",
        'Detail="x"',
    ],
)
def test_prose_and_garbage_are_not_entries(text: str) -> None:
    events = parse_text(text)
    assert list(events) == [] and events.skipped == 1


# -- analysis --------------------------------------------------------------------


def test_incident_verdicts() -> None:
    analysis = analyze(parse_text(INCIDENT))
    a, b, c = (analysis.peers[h] for h in ("vcs-a", "vcs-b", "vcs-c"))
    assert (a.role, a.primary_slot, a.local_slot) == ("primary", 1, 1)
    assert (b.role, b.primary_slot, b.local_slot) == ("subordinate", 1, 2)
    assert (c.role, c.primary_slot, c.local_slot) == ("subordinate", 1, 3)

    assert a.verdict is Verdict.RESTART_PENDING
    assert a.reasons == [
        "alarm 20007 Restart required raised at 2024-03-05 10:30:00 after TLS verification "
        "Permissive -> Enforcing; no restart in this log since",
        "lost contact with vcs-b at 2024-03-05 10:12:05; recovered at 2024-03-05 10:16:40",
    ]
    # The FQDN of the database node and the H.323 address both name vcs-b.
    assert a.lost_peers == ["vcs-b"] and a.episodes == 1
    assert a.open_alarms == ["20007 Restart required"]

    assert b.verdict is Verdict.HEALTHY and b.open_alarms == []
    assert b.reasons == [
        "last synchronisation as subordinate completed at 2024-03-05 10:44:03",
        "system started at 2024-03-05 10:43:10",
    ]
    assert c.verdict is Verdict.RESTART_PENDING


def test_open_disconnect() -> None:
    a = analyze(parse_lines(until("10:14"))).peers["vcs-a"]
    assert a.verdict is Verdict.DISCONNECTED
    assert a.reasons == [
        "lost contact with vcs-b at 2024-03-05 10:12:05; alarms 20004, 20006 raised; "
        "not lowered in this log"
    ]
    assert sorted(a.open_alarms) == [
        "20004 Cluster communication failure",
        "20006 Cluster database communication failure",
    ]


def test_sync_runs_fold_per_hour() -> None:
    peers = analyze(parse_text(INCIDENT)).peers
    runs = {h: [(r.first.hour, r.describe()) for r in p.sync_runs] for h, p in peers.items()}
    idx = "ConfigurationMasterIndex 0, LocalPeerIndex"
    assert runs == {
        "vcs-a": [
            (9, f"6 synchronisation runs as primary ({idx} 0), all successful"),
            (10, f"1 synchronisation run as primary ({idx} 0), successful"),
        ],
        "vcs-b": [
            (9, f"6 synchronisation runs as subordinate ({idx} 1), all successful"),
            (10, f"2 synchronisation runs as subordinate ({idx} 1), all successful"),
        ],
        "vcs-c": [(9, f"6 synchronisation runs as subordinate ({idx} 2), 1 did not complete")],
    }
    # A later successful run means the subordinate caught up: no out-of-sync verdict.
    assert peers["vcs-c"].verdict is Verdict.RESTART_PENDING


def test_interrupted_sync_is_out_of_sync() -> None:
    c = [line for line in until("09:41") if " vcs-c " in line]
    c = c[: c.index(next(line for line in c if "T09:40" in line)) + 1]  # 09:40 only starts
    p = analyze(parse_lines(c)).peers["vcs-c"]
    assert p.verdict is Verdict.OUT_OF_SYNC
    assert p.reasons == ["synchronisation started at 2024-03-05 09:30:15 did not complete"]


def test_flapping() -> None:
    """Two communication failures, each recovered by a completed sync, is flapping."""
    a = [line for line in until("10:30") if " vcs-a " in line]
    later = [re.sub(r"T10:1(\d)", r"T10:2\1", line) for line in a if "T10:1" in line]
    p = analyze(parse_lines(a + later)).peers["vcs-a"]
    assert p.episodes == 2 and p.lost_peers == ["vcs-b"]
    assert p.verdict is Verdict.FLAPPING
    assert p.reasons == ["2 separate communication failures (lost contact with vcs-b)"]


def test_peers_disagreeing_on_primary() -> None:
    lines = [
        line.replace('ConfigurationMasterIndex="0"', 'ConfigurationMasterIndex="1"')
        if " vcs-c " in line
        else line
        for line in until("10:00")
    ]
    analysis = analyze(parse_lines(lines))
    assert analysis.findings == ["peers disagree on the configuration primary slot "
                                 "(vcs-a: 1, vcs-b: 1, vcs-c: 2)"]  # fmt: skip
    assert {p.verdict for p in analysis.peers.values()} == {Verdict.OUT_OF_SYNC}


def test_restart_clears_restart_required() -> None:
    b = analyze(parse_text(INCIDENT)).peers["vcs-b"]
    kinds = [e.kind for e in b.timeline if e.ts >= at(10, 30, 0)]
    assert LogKind.ALARM_RAISED in kinds and LogKind.RESTART in kinds
    assert "20007" not in " ".join(b.open_alarms)


def test_times_shown_as_logged_or_in_utc_when_offsets_differ() -> None:
    one = '2024-03-05T10:00:00.000+01:00 vcs-a kernel: Event="System Start" Detail="up"'
    two = '2024-03-05T04:00:01.000-05:00 vcs-b kernel: Event="System Start" Detail="up"'
    assert "(as logged, UTC+01:00)" in render_analysis(analyze(parse_lines([one])), "text")
    text = render_analysis(analyze(parse_lines([one, two])), "text")
    assert "2024-03-05 09:00:00 .. 2024-03-05 09:00:01 (UTC)" in text
    assert "2024-03-05 09:00:01.000  vcs-b  started" in text


def test_empty_input() -> None:
    analysis = analyze(parse_text(""))
    assert analysis.peers == {} and analysis.events == 0
    assert json.loads(render_analysis(analysis, "json"))["peers"] == []
    assert render_analysis(analysis, "text").startswith("0 log entries from 0 peers; ")


# -- selection -------------------------------------------------------------------


def test_window_naive_is_wall_clock_aware_is_instant() -> None:
    events = parse_text(INCIDENT)
    naive = select(events, window=Window(parse_bound("2024-03-05T10:41", end=False)))
    assert min(e.ts for e in naive) == at(10, 41, 2)
    aware = select(events, window=Window(parse_bound("2024-03-05T09:41:00Z", end=False)))
    assert [e.raw for e in aware] == [e.raw for e in naive]
    day = parse_bound("2024-03-05", end=True)
    assert len(select(events, window=Window(until=day))) == len(events)
    assert select(events, window=Window(until=parse_bound("2024-03-04", end=True))) == []
    with pytest.raises(ValueError, match="not an ISO date"):
        parse_bound("yesterday", end=False)


def test_select_peers_and_problems() -> None:
    events = parse_text(INCIDENT)
    only_b = select(events, peers=["vcs-b.lab.example"])
    assert {e.host for e in only_b} == {"vcs-b"}
    problems = select(events, problems=True)
    assert {e.kind for e in problems} == {
        LogKind.DISCONNECT,
        LogKind.DB_INCONSISTENT,
        LogKind.CONNECT_FAILED,
        LogKind.ALARM_RAISED,
        LogKind.ALARM_CLEARED,
        LogKind.H323_TIMEOUT,
        LogKind.PEER_DNS,
        LogKind.TLS_MODE_CHANGE,
        LogKind.RESTART,
        LogKind.STARTED,
    }
    assert same_peer("expc02", "expc02.apolo.local") and not same_peer("expc02", "expc03")


def test_verdict_judges_the_history_before_the_window() -> None:
    """An alarm raised before --since and never lowered is still raised at the end."""
    events = parse_lines(until("10:14"))
    window = Window(parse_bound("2024-03-05T10:12:18", end=False))
    shown = select(events, window=window, problems=True)
    assert all(e.ts >= at(10, 12, 18) for e in shown)
    a = analyze(shown, history=events).peers["vcs-a"]
    assert a.verdict is Verdict.DISCONNECTED and "20004" in a.reasons[0]
    kinds = [e.kind for e in a.timeline]
    assert kinds == [LogKind.H323_TIMEOUT, LogKind.H323_TIMEOUT, LogKind.PEER_DNS]
    assert a.entries == 3 and a.first == at(10, 12, 18, 700)


# -- rendering -------------------------------------------------------------------


def test_golden_timeline() -> None:
    check_golden(
        "incident.timeline.txt",
        render_analysis(analyze(parse_text(INCIDENT)), "text"),
        directory=FIXTURES,
    )


def test_golden_summary() -> None:
    text = render_analysis(analyze(parse_text(INCIDENT)), "text", summary=True)
    check_golden("incident.summary.txt", text, directory=FIXTURES)


def test_render_json() -> None:
    doc = json.loads(render_analysis(analyze(parse_text(INCIDENT)), "json"))
    assert doc["schema"] == SCHEMA == "exops.logs/1"
    assert doc["events"] == len(LINES) and doc["skipped_lines"] == 0
    peers = {p["host"]: p for p in doc["peers"]}
    assert peers["vcs-a"]["verdict"] == "restart-pending"
    assert peers["vcs-a"]["lost_peers"] == ["vcs-b"]
    assert peers["vcs-a"]["timeline"][0] == {
        "ts": "2024-03-05T09:00:10.250+01:00",
        "kind": "sync_start",
        "detail": "Starting synchronisation",
        "peer": None,
        "alarm_id": None,
    }
    assert peers["vcs-c"]["sync_runs"][0]["runs"] == 6
    assert peers["vcs-c"]["sync_runs"][0]["completed"] == 5
    with pytest.raises(ValueError, match="unknown log analysis format"):
        render_analysis(analyze([]), "xml")


# -- the vendor note -------------------------------------------------------------


def _seed() -> str:
    """The vendor note's log section (its source: tests/fixtures/vendor-note/README.md)."""
    return VENDOR_NOTE.read_text(encoding="utf-8")


def test_vendor_seed() -> None:
    events = parse_text(_seed())
    assert len(events) == 49 and {e.host for e in events} == {"expc01", "expc02"}
    raised = sorted((e.host, e.alarm_id) for e in events if e.kind is LogKind.ALARM_RAISED)
    assert raised == [
        ("expc01", "20004"),
        ("expc01", "20006"),
        ("expc01", "20007"),
        ("expc02", "20007"),
    ]
    tls = {(e.host, e.detail) for e in events if e.kind is LogKind.TLS_MODE_CHANGE}
    assert tls == {
        ("expc01", "TLS verification Permissive -> Enforcing"),
        ("expc02", "TLS verification Permissive -> Enforcing"),
    }
    analysis = analyze(events)
    one, two = analysis.peers["expc01"], analysis.peers["expc02"]
    assert one.lost_peers == ["expc02"] and one.verdict is Verdict.DISCONNECTED
    assert one.reasons[0] == (
        "lost contact with expc02 at 2020-08-12 14:57:43; alarms 20004, 20006 raised; "
        "not lowered in this log"
    )
    disconnect = next(e for e in events if e.kind is LogKind.DISCONNECT)
    assert (disconnect.host, disconnect.peer) == ("expc01", "expc02.apolo.local")
    assert disconnect.ts == datetime(2020, 8, 12, 19, 57, 43, 353000, tzinfo=UTC)
    peers_lines = {e.host: e for e in events if e.kind is LogKind.SYNC_PEERS}
    assert peers_lines["expc01"].get("ConfigurationMasterIndex") == "0"
    assert peers_lines["expc01"].get("LocalPeerIndex") == "0"
    assert peers_lines["expc02"].get("LocalPeerIndex") == "1"
    assert (one.role, one.primary_slot, one.local_slot) == ("primary", 1, 1)
    assert (two.role, two.primary_slot, two.local_slot) == ("subordinate", 1, 2)
    assert [r.describe() for r in one.sync_runs] == [
        "1 synchronisation run as primary "
        "(ConfigurationMasterIndex 0, LocalPeerIndex 0), successful"
    ]
    assert two.verdict is Verdict.RESTART_PENDING


# -- properties ------------------------------------------------------------------

PROSE = st.text(
    alphabet=st.sampled_from("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ éè.,;:()'!?-\n"),
    max_size=200,
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.text(max_size=400))
def test_parser_never_raises_and_entries_are_real(text: str) -> None:
    events = parse_text(text)
    for e in events:
        assert e.ts.tzinfo is not None
        assert re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.\-]*", e.host)
        assert e.process or e.fields
        # The entry's time is in the text: digits in order, maybe broken by whitespace.
        digits = re.sub(r"\D", "", e.raw.split(" ", 1)[0])
        assert digits in re.sub(r"\D", "", text)
    assert 0 <= events.skipped <= len(text.splitlines())


@settings(max_examples=200, deadline=None)
@given(PROSE)
def test_prose_never_becomes_an_entry(text: str) -> None:
    events = parse_text(text)
    assert list(events) == []
    assert events.skipped == sum(1 for line in text.splitlines() if line.strip())


def _wrap(text: str, width: int) -> list[str]:
    """Wrap like a PDF extraction: at spaces, or after a hyphen inside a token."""
    out, cur = [], ""
    for tok in re.findall(r"[^\s-]*-(?=\S)|\S+|\s+", text):
        if tok.isspace():
            if len(cur) >= width:
                out.append(cur)
                cur = ""
            else:
                cur += tok
        else:
            cur += tok
    return [*out, cur] if cur else out


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(
        st.tuples(st.sampled_from(LINES), PROSE, st.integers(20, 140), st.booleans()),
        min_size=1,
        max_size=6,
    )
)
def test_wrapped_entries_among_prose_parse_as_the_lines(
    parts: list[tuple[str, str, int, bool]],
) -> None:
    """Entries run together, wrapped at any width, blank lines and prose between: the same
    entries come out, and nothing else."""
    text: list[str] = []
    for line, prose, width, blank in parts:
        for piece in _wrap(line, width):
            text += [piece, ""] if blank else [piece]
        text += [prose, ""]
    assert [e.raw for e in parse_lines(text)] == [line for line, *_ in parts]

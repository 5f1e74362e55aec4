"""``exops logs analyze``: read logs (files, or fetched from the peers), select, diagnose."""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from exops.cli.read import Env, stderr
from exops.core.errors import ExopsError, UsageError
from exops.core.exitcodes import ExitCode
from exops.tools.logs import (
    LogInputError,
    ParsedLines,
    PlannedWindow,
    Window,
    analysis_doc,
    analyze,
    parse_bound,
    parse_lines,
    parse_text,
    read_log_stream,
    render_analysis,
    same_peer,
    select,
)


@dataclass(frozen=True)
class Filters:
    """What ``logs analyze`` shows: ``--since``, ``--until``, ``--peer``, ``--problems``."""

    since: str | None = None
    until: str | None = None
    peers: Sequence[str] = ()
    problems: bool = False

    def window(self) -> Window:
        """Raises: UsageError: a bound that is not an ISO date or time, or until before since."""
        since = _bound("--since", self.since, end=False)
        until = _bound("--until", self.until, end=True)
        if (
            since is not None
            and until is not None
            and (since.tzinfo is None) == (until.tzinfo is None)
            and until < since
        ):
            raise UsageError(f"--until {self.until} is before --since {self.since}")
        return Window(since, until)

    def describe(self) -> str:
        """One line naming the active filters ("" without any)."""
        parts = [
            f"since {self.since}" if self.since else "",
            f"until {self.until}" if self.until else "",
        ]
        parts += [f"peer {', '.join(self.peers)}" if self.peers else ""]
        parts += ["problems only" if self.problems else ""]
        shown = ", ".join(p for p in parts if p)
        return f"showing: {shown}\n" if shown else ""


def _bound(option: str, text: str | None, *, end: bool) -> datetime | None:
    if text is None:
        return None
    try:
        return parse_bound(text, end=end)
    except ValueError as exc:
        raise UsageError(f"{option}: {exc}") from None


@dataclass
class _Read:
    events: ParsedLines = field(default_factory=ParsedLines)
    failed: dict[str, str] = field(default_factory=dict)  # peer -> why its log is missing

    def add(self, parsed: ParsedLines) -> None:
        self.events += parsed
        self.events.skipped += parsed.skipped




def _read_files(files: Sequence[Path]) -> _Read:
    read = _Read()
    for path in files:
        try:
            if str(path) == "-":
                text = read_log_stream(sys.stdin.buffer, "standard input")
            else:
                if not path.is_file():
                    what = "no such file" if not path.exists() else "not a regular file"
                    raise UsageError(f"{path}: cannot read ({what})")
                with path.open("rb") as stream:
                    text = read_log_stream(stream, str(path))
        except LogInputError as exc:
            raise UsageError(str(exc)) from None
        except OSError as exc:
            raise UsageError(f"{path}: cannot read ({exc.strerror})") from exc
        read.add(parse_text(text))
    return read


def _fetch(
    clusters: list[str] | None, peers: Sequence[str], lines: int, conn: dict[str, Any]
) -> _Read:
    env = Env.build(**conn)
    read = _Read()
    with env.session(clusters) as session:
        hosts = [h for h in session.specs if not peers or any(same_peer(h, p) for p in peers)]
        if not hosts:
            known = ", ".join(session.specs) or "none"
            raise UsageError(f"--peer {', '.join(peers)}: no such peer (peers: {known})")
        fetched = session.run_each(hosts, lambda h: session.appliance(h).read_log(lines))
    for host, value in fetched.items():
        if isinstance(value, Exception):
            read.failed[host] = str(value)
            stderr().print(f"[yellow]{host}: could not fetch logs: {value}[/]")
        else:
            read.add(parse_lines(value))
    if read.failed and len(read.failed) == len(fetched):
        raise ExopsError(f"could not fetch logs from any peer ({', '.join(sorted(read.failed))})")
    return read


def _planned(clusters: list[str] | None, events: Sequence[Any]) -> list[PlannedWindow]:
    """exops's own restarts in the logs' time span, from the journal."""
    from exops.cli.records import planned_restarts
    from exops.core.settings import load_settings

    if not events:
        return []
    first, last = min(e.ts for e in events), max(e.ts for e in events)
    return [
        PlannedWindow(start, end, label)
        for start, end, label in planned_restarts(load_settings(), clusters, first, last)
    ]


def analyze_logs(
    files: Sequence[Path],
    clusters: list[str] | None,
    lines: int,
    filters: Filters,
    *,
    summary: bool,
    json_out: bool,
    conn: dict[str, Any],
) -> int:
    """Print the analysis; exit 1 when some peer's log could not be fetched (it is incomplete).

    Raises:
        UsageError: unreadable file, bad --since/--until, a --peer the log never names.
        ExopsError: no peer's log could be fetched.
    """
    window = filters.window()
    read = _read_files(files) if files else _fetch(clusters, filters.peers, lines, conn)
    if files and filters.peers:
        hosts = sorted({e.host for e in read.events})
        unknown = [p for p in filters.peers if not any(same_peer(h, p) for h in hosts)]
        if unknown:
            raise UsageError(
                f"--peer {', '.join(unknown)}: no entry from that peer in the log "
                f"(hosts in the log: {', '.join(hosts) or 'none'})"
            )
    chosen = select(read.events, window=window, peers=filters.peers, problems=filters.problems)
    # Verdicts judge everything the chosen peers logged up to the end of the window.
    history = select(read.events, window=Window(None, window.until), peers=filters.peers)
    analysis = analyze(chosen, history=history, planned=_planned(clusters, history))
    if json_out:
        doc = analysis_doc(analysis)
        doc["filters"] = {
            "since": filters.since,
            "until": filters.until,
            "peers": list(filters.peers),
            "problems": filters.problems,
        }
        doc["fetch_errors"] = read.failed
        sys.stdout.write(json.dumps(doc, indent=2) + "\n")
    else:
        sys.stdout.write(filters.describe() + render_analysis(analysis, "text", summary=summary))
    return int(ExitCode.FAILED if read.failed else ExitCode.OK)

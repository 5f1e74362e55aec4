"""What the read commands draw (``status``, ``check``, snapshots) and every command's
console: the console, the live "waiting for" line, the status table.

Light by design: rich only, so ``exops status`` reaches its first request without
the run stack that ``exops.cli.display`` (the run's observers and renderers)
imports (issue 22: start-up). ``exops.cli.display`` re-exports these names. rich
itself is imported when something is drawn (a console made, a table, a live line):
``exops status`` reads its peers first (``PeerWait`` makes its console once its
line can show), so rich is not on its way to the first request.
"""

from __future__ import annotations

import io
import sys
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rich.console import Console
    from rich.text import Text

__all__ = ["PeerWait", "can_draw_live", "console", "escape", "fmt_s", "status_table"]


def console(*, stderr: bool = False) -> Console:
    """A console that never wraps a message and, off a terminal, never elides a table."""
    from rich.console import Console

    stream = sys.stderr if stderr else sys.stdout
    width = None if stream.isatty() else 200
    return Console(stderr=stderr, highlight=False, soft_wrap=stderr, width=width)


def escape(markup: str) -> str:
    """rich's ``escape`` (``[`` in a value is text, not markup), rich imported on first
    use: the commands' modules use it without importing rich (issue 22: start-up)."""
    from rich.markup import escape as rich_escape

    return rich_escape(markup)


def fmt_s(seconds: float) -> str:
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, secs = divmod(int(seconds + 0.5), 60)
    return f"{minutes}m{secs:02d}s"


def can_draw_live(out: Console) -> bool:
    """A live (redrawn) line needs a terminal that moves the cursor: not TERM=dumb
    (Emacs shells, some CI and serial consoles), where plain lines are printed."""
    return out.is_terminal and not out.is_dumb_terminal


class LiveArea:
    """A renderable (``self``) redrawn in place while its ``with`` block runs (rich
    ``Live``, 4 times a second, cleared at the end); nothing is drawn unless asked."""

    out: Console
    _live: Any = None

    def _draw(self, draw: bool, **options: Any) -> None:
        if draw:
            from rich.live import Live

            area: Any = self  # a subclass is the renderable (``__rich__``)
            self._live = Live(
                area, console=self.out, refresh_per_second=4, transient=True, **options
            )
            self._live.start()

    def __exit__(self, *exc: object) -> None:
        if self._live is not None:
            self._live.stop()
            self._live = None


class PeerWait(LiveArea):
    """While a read waits on peers: in a terminal, one live line naming the peers
    not yet read and for how long (``waiting for c1-p3 (4.2s); 3 of 4 peers read``).

    Shown only when ``out`` is a terminal and only after ``after`` seconds (a
    quick read shows nothing); the line is transient, so nothing of it stays on
    the screen or reaches a file or a pipe. ``done(host)`` is the gather's
    ``on_peer`` callback (called from worker threads).

    ``out`` may be a function that makes the console: it is then called only once
    ``after`` seconds have passed with peers still unread (a timer thread; the line
    says nothing before then), so a quick read makes no console and imports no
    rich before its first request (issue 22: start-up).
    """

    def __init__(
        self,
        out: Console | Callable[[], Console],
        hosts: list[str],
        *,
        after: float = 1.0,
        most: int = 4,
    ):
        self._make: Callable[[], Console] | None = None
        if callable(out):
            self._make = out
        else:
            self.out = out
        self.hosts = list(hosts)
        self.after = after
        self.most = most
        self._read: set[str] = set()
        self._lock = threading.Lock()
        self._live_lock = threading.Lock()  # the line's start (timer) against its end
        self._timer: threading.Timer | None = None
        self._ended = False
        self.started = time.monotonic()

    def done(self, host: str) -> None:
        with self._lock:
            self._read.add(host)

    def line(self, now: float | None = None) -> str:
        """The line as it reads at ``now`` ("" before ``after`` or once all are read)."""
        elapsed = (time.monotonic() if now is None else now) - self.started
        with self._lock:
            waiting = [h for h in self.hosts if h not in self._read]
        if elapsed < self.after or not waiting:
            return ""
        names = ", ".join(waiting[: self.most])
        if len(waiting) > self.most:
            names += f" and {len(waiting) - self.most} more"
        read = len(self.hosts) - len(waiting)
        return f"waiting for {names} ({fmt_s(elapsed)}); {read} of {len(self.hosts)} peers read"

    def __rich__(self) -> Text:
        from rich.text import Text

        return Text(self.line(), style="dim")

    def __enter__(self) -> PeerWait:
        self.started = time.monotonic()
        self._ended = False
        if self._make is None:
            self._draw(can_draw_live(self.out), redirect_stdout=False, redirect_stderr=False)
            return self
        self._timer = threading.Timer(self.after, self._late_start)
        self._timer.daemon = True
        self._timer.start()
        return self

    def _late_start(self) -> None:
        """The timer's end: the console made, the line drawn when it can show (and the
        read still on)."""
        with self._live_lock:
            if self._ended or self._make is None:
                return
            with self._lock:
                if set(self.hosts) <= self._read:
                    return  # every peer read: nothing to say
            self.out = self._make()
            self._draw(can_draw_live(self.out), redirect_stdout=False, redirect_stderr=False)

    def __exit__(self, *exc: object) -> None:
        with self._live_lock:
            self._ended = True
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None
            super().__exit__(*exc)


# -- the status table, fitted to the terminal's width ------------------------------------


def status_table(r: Any, width: int) -> Any:
    """``exops status``'s per-peer view of ``r`` (a ``report.status.ClusterReport``)
    that fits ``width`` columns: the full table when it fits; else the table with
    the columns that matter first (the primary's mark on the peer, up/down in the
    state, a pending restart with the alarms); else one block per peer, every
    value whole (never "127.…", "Acti…")."""
    from rich.console import Console, Group
    from rich.measure import Measurement
    from rich.text import Text

    name = f" ({r.cluster_name})" if r.cluster_name else ""
    title = f"cluster {r.cluster}{name}"
    probe = Console(width=10_000, file=io.StringIO())
    for table in (_full_table(r, title), _narrow_table(r, title)):
        if Measurement.get(probe, probe.options, table).maximum <= width:
            return table
    blocks: list[Any] = [Text(title, style="italic")]
    for p in r.peers:
        blocks += _peer_block(p, width)
    return Group(*blocks)


def _listed(p: Any) -> str:
    return str(p.listed_as) if p.listed_as else f"[dim]{escape(p.address)} (not listed)[/]"


def _drained(p: Any) -> bool:
    """In maintenance mode (status's ``maintenance``: an alarm of that class)."""
    return bool(getattr(p, "maintenance", False))


def _up(p: Any) -> str:
    """Answers: yes; drained on purpose: "maint" (the verdict line says what it means)."""
    if not p.reachable:
        return "[red]NO[/]"
    return "[yellow]maint[/]" if _drained(p) else "yes"


def _full_table(r: Any, title: str) -> Any:
    from rich.table import Table

    table = Table(title=title, title_justify="left", expand=False)
    for col in ("slot", "peer", "listed as", "up", "primary", "state", "database", "replication"):
        table.add_column(col)
    for col in ("tls", "alarms", "restart", "version", "via"):
        table.add_column(col)
    for p in r.peers:
        table.add_row(
            str(p.slot or "-"),
            p.host,
            _listed(p),
            _up(p),
            "*" if p.is_primary else "",
            p.state or "-",
            p.database or "-",
            p.replication or "-",
            p.tls_mode or "-",
            ",".join(p.alarms) or "-",
            "pending" if p.restart_pending else "",
            p.version or "-",
            p.transport or "-",
        )
    return table


def _narrow_table(r: Any, title: str) -> Any:
    from rich.table import Table

    table = Table(title=title, title_justify="left", expand=False, box=None, pad_edge=False)
    for col in ("slot", "peer", "listed as", "state", "database", "replication", "tls", "alarms"):
        table.add_column(col, no_wrap=True)
    for p in r.peers:
        alarms = list(p.alarms) + (["restart pending"] if p.restart_pending else [])
        table.add_row(
            str(p.slot or "-"),
            f"{p.host} *" if p.is_primary else p.host,
            _listed(p),
            ((p.state or "-") + (" [yellow]maint[/]" if _drained(p) else ""))
            if p.reachable
            else "[red]DOWN[/]",
            p.database or "-",
            p.replication or "-",
            p.tls_mode or "-",
            ",".join(alarms) or "-",
        )
    table.caption = "* configuration primary; version and interface: --json or a wider terminal"
    table.caption_justify = "left"
    return table


def _peer_block(p: Any, width: int) -> list[Any]:
    """One peer: its name, then "key value" pairs, never split across lines."""
    from rich.text import Text

    head = f"{p.host}" + (" (primary)" if p.is_primary else "") + f"  slot {p.slot or '-'}"
    values = [
        ("listed as", _listed(p)),
        ("up", _up(p)),
        ("state", p.state or "-"),
        ("database", p.database or "-"),
        ("replication", p.replication or "-"),
        ("tls", p.tls_mode or "-"),
        ("alarms", ",".join(p.alarms) or "-"),
        ("restart", "pending" if p.restart_pending else "-"),
        ("version", p.version or "-"),
        ("via", p.transport or "-"),
    ]
    lines: list[Any] = [Text(head, style="bold")]
    line = Text("  ")
    for key, value in values:
        pair = Text.from_markup(f"[dim]{key}[/] {value}")
        if len(line) > 2 and len(line) + 2 + len(pair) > width:
            lines.append(line)
            line = Text("  ")
        if len(line) > 2:
            line.append("  ")
        line.append_text(pair)
    lines.append(line)
    return lines

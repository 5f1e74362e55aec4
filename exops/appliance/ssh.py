"""The appliance over its SSH admin shell (paramiko), one command at a time.

An interactive shell (``invoke_shell``, so under a pty) is opened once per
peer. The welcome does not reliably end in ``OK``, so right after login exops
sends one read and discards everything before its answer: the session's first
command itself when its answer always opens with a line it can recognise
(``xConfiguration Alternates``: every answer lists the peer slots, or it is an
error block), else a cheap read (``CLI.sync``). The first read costs no round
of its own: a status gather is three answers per peer, not four. Each
command is then sent in full (never abbreviated), ended like the Enter key
(CR), and its answer read up to its final ``OK`` or ``ERROR`` line within a
deadline (the read timeout, in all: a peer that trickles its answer cannot
stretch it) and a size cap; CRLF line ends and the echo of the command are
removed. The login as a whole (TCP connect, banner, key exchange, password,
shell, the first answer) ends within connect timeout + read timeout: a watchdog
closes the connection when that passes, since paramiko waits for a shell and a
pty without any timeout of its own. A timed-out command is not tried again on
a new session: the peer is slow, and a second try would only double the wait.
Host keys are checked against known_hosts; an unknown key is accepted (and
recorded) only when the operator opted in. The file is parsed once per content
(path, size, modification time) for the whole process and each login gets its
peer's keys from it: a fleet's file holds a line per peer, and parsing it at
every login made a gather cost peers x peers key parses.
"""

from __future__ import annotations

import re
import socket
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Protocol, TypeVar

import paramiko
from paramiko.util import constant_time_bytes_eq

from exops.appliance import xapi
from exops.appliance.base import Command, ConnectionTarget, Write, tcp_accepts
from exops.appliance.knowledge import (
    CLI,
    CLI_COMMANDS,
    END_LINE,
    ERROR_OPEN,
    MAX_ANSWER_BYTES,
    option_keys_removed,
)
from exops.appliance.record import PeerRecorder, recorder_for
from exops.core.errors import ApplianceError, AuthError, TimeoutError_, TlsError, TransportError
from exops.core.files import open_for_write
from exops.core.models import Alarm, Certificate, ClusterSettings, ClusterStatus, SystemInfo

_T = TypeVar("_T")


class ShellSession(Protocol):
    def send(self, command: str) -> str:
        """The answer to one command, up to and including its OK/ERROR line."""
        ...

    def close(self) -> None: ...


class UnknownHostKey(paramiko.SSHException):
    """The server's host key is not in known_hosts (raised by ``_RejectUnknown``)."""


class _RejectUnknown(paramiko.MissingHostKeyPolicy):
    """Refuse a host key that known_hosts does not hold, with a dedicated exception
    (so no error text is matched to tell this case apart)."""

    def missing_host_key(
        self, client: paramiko.SSHClient, hostname: str, key: paramiko.PKey
    ) -> None:
        raise UnknownHostKey(f"host key for {hostname} is not in known_hosts")


_CR_LF = re.compile(r"\r+\n")


def normalise(raw: bytes) -> str:
    """Decoded text with CRLF (and CR CR LF, as some ptys print) turned into LF."""
    return _CR_LF.sub("\n", raw.decode("utf-8", "replace"))


def strip_echo(answer: str, command: str) -> str:
    """The answer without leading blank lines and the echo of the command."""
    lines = answer.split("\n")
    while lines and not lines[0].strip():
        lines.pop(0)
    if lines and lines[0].strip() == command.strip():
        lines.pop(0)
    return "\n".join(lines)


class _AcceptAndRecord(paramiko.MissingHostKeyPolicy):
    """Trust a new host key and write it to the known_hosts file (explicit opt-in only)."""

    def __init__(self, path: Path):
        self.path = path

    def missing_host_key(
        self, client: paramiko.SSHClient, hostname: str, key: paramiko.PKey
    ) -> None:
        client.get_host_keys().add(hostname, key.get_name(), key)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        # Never through a symbolic link nor into another user's file (core.files).
        with open_for_write(self.path, "known_hosts file", append=True, mode=0o600) as f:
            f.write(f"{hostname} {key.get_name()} {key.get_base64()}\n")


_KNOWN_LOCK = threading.Lock()
class KnownHosts:
    """A parsed known_hosts file, looked up by name in constant time.

    paramiko's ``HostKeys.lookup`` compares the name with every entry: a fleet of n
    peers in one file made n x n comparisons (1,500 peers: millions, seconds of CPU;
    issue 22). Plain names are indexed; only hashed entries (``|1|salt|hash``) are
    compared one by one, as paramiko does. ``keys_for`` gives what ``lookup`` gives:
    per key type, the key of the first matching entry in file order."""

    def __init__(self, path: str):
        # Read as paramiko's HostKeys.load reads it (a line it cannot take is skipped),
        # without its check of each line against every earlier one (n x n again).
        entries = []
        with open(path, encoding="utf-8") as f:
            for lineno, raw in enumerate(f, 1):
                line = raw.strip()
                if not line or line.startswith("#"):
                    continue
                try:
                    entry = paramiko.hostkeys.HostKeyEntry.from_line(line, lineno)
                except paramiko.SSHException:
                    continue
                except paramiko.hostkeys.InvalidHostKey as exc:  # paramiko raises it too
                    raise paramiko.SSHException(f"line {lineno} holds no valid key") from exc
                if entry is not None and entry.hostnames:
                    entries.append(entry)
        self.by_name: dict[str, list[tuple[int, paramiko.hostkeys.HostKeyEntry]]] = {}
        self.hashed: list[tuple[int, paramiko.hostkeys.HostKeyEntry]] = []
        for i, e in enumerate(entries):
            for h in e.hostnames:
                if h.startswith("|1|"):
                    self.hashed.append((i, e))
                else:
                    self.by_name.setdefault(h, []).append((i, e))

    def keys_for(self, name: str) -> dict[str, paramiko.PKey]:
        found = list(self.by_name.get(name, ()))
        if not name.startswith("|1|"):
            found += [
                (i, e)
                for i, e in self.hashed
                if any(
                    h.startswith("|1|")
                    and constant_time_bytes_eq(paramiko.HostKeys.hash_host(name, h), h)
                    for h in e.hostnames
                )
            ]
        keys: dict[str, paramiko.PKey] = {}
        for _, e in sorted(found, key=lambda f: f[0]):
            if e.key is not None:
                keys.setdefault(e.key.get_name(), e.key)
        return keys


_KNOWN: dict[tuple[str, int, int], KnownHosts] = {}


def _parsed_known_hosts(known: Path) -> KnownHosts:
    """known_hosts parsed, once per content (path, size, mtime) for the process;
    the keys of a file that changed (a key recorded) are parsed again."""
    st = known.stat()
    key = (str(known), st.st_size, st.st_mtime_ns)
    with _KNOWN_LOCK:
        keys = _KNOWN.get(key)
        if keys is None:
            keys = KnownHosts(str(known))
            _KNOWN.clear()  # one file per process in practice: keep the newest only
            _KNOWN[key] = keys
        return keys


class ParamikoShell:
    """A ``ShellSession`` over paramiko."""

    def __init__(self, target: ConnectionTarget):
        self.target = target
        self.host = target.host
        self._client: paramiko.SSHClient | None = None
        self._chan: paramiko.Channel | None = None
        # --record DIR / EXOPS_RECORD_DIR: every command and answer (exops.appliance.record).
        self.recorder: PeerRecorder | None = recorder_for(target)

    def _known_hosts(self) -> Path:
        return Path(self.target.known_hosts or Path.home() / ".ssh" / "known_hosts").expanduser()

    def _host_keys(self, client: paramiko.SSHClient, known: Path) -> None:
        """This peer's keys from known_hosts (under the names paramiko looks it up by:
        ``[host]:port``, and ``host`` for port 22); a file that cannot be read means no
        host key can be verified."""
        t = self.target
        try:
            if known.exists():
                parsed = _parsed_known_hosts(known)
                mine = client.get_host_keys()
                for name in (t.hostname, f"[{t.hostname}]:{t.ssh_port}"):
                    for keytype, key in parsed.keys_for(name).items():
                        mine.add(name, keytype, key)
        except (OSError, UnicodeDecodeError, paramiko.SSHException) as exc:
            reason = getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
            raise TlsError(
                f"cannot read the SSH known_hosts file {known} ({reason}): no host key "
                "can be verified (EXOPS_KNOWN_HOSTS names a file)",
                host=self.host,
                operation="ssh connect",
            ) from exc

    def _connect(self, first: str | None = None) -> tuple[paramiko.Channel, str | None]:
        """Log in and open the shell, all within connect timeout + read timeout. With
        ``first`` (a command that may open a session, ``_opening_marker``), that
        command is the login's read and its answer is returned; else ``CLI.sync``."""
        t = self.target
        client = paramiko.SSHClient()
        known = self._known_hosts()
        self._host_keys(client, known)
        client.set_missing_host_key_policy(
            _AcceptAndRecord(known) if t.accept_new_host_keys else _RejectUnknown()
        )
        bound_s = t.connect_timeout_s + t.read_timeout_s
        expired = threading.Event()

        def expire() -> None:
            expired.set()
            client.close()  # wakes every paramiko wait: the socket and the channel events

        watchdog = threading.Timer(bound_s, expire)
        watchdog.daemon = True
        watchdog.start()
        try:
            chan, answer = self._login(client, known, time.monotonic() + bound_s, expired, first)
        except Exception as exc:
            if expired.is_set():
                self.close()
                raise TimeoutError_(
                    f"SSH login not complete within {bound_s:.0f} s (connect timeout + read "
                    "timeout): the peer answers too slowly",
                    host=self.host,
                    operation="ssh connect",
                ) from exc
            raise
        finally:
            watchdog.cancel()
        if expired.is_set():  # it fired as the login finished: the connection is gone
            self.close()
            raise TimeoutError_(
                f"SSH login not complete within {bound_s:.0f} s", host=self.host, operation="login"
            )
        return chan, answer

    def _login(
        self,
        client: paramiko.SSHClient,
        known: Path,
        deadline: float,
        expired: threading.Event,
        first: str | None = None,
    ) -> tuple[paramiko.Channel, str | None]:
        t = self.target
        op = "ssh connect"
        try:
            # EXOPS_HOSTS_FILE named the host: connect to its address, verify the name.
            sock = (
                socket.create_connection((t.address, t.ssh_port), timeout=t.connect_timeout_s)
                if t.address
                else None
            )
            client.connect(
                t.hostname,
                sock=sock,
                port=t.ssh_port,
                username=t.username,
                password=t.password.get_secret_value(),
                look_for_keys=False,
                allow_agent=False,
                timeout=t.connect_timeout_s,
                banner_timeout=t.connect_timeout_s,
                auth_timeout=t.connect_timeout_s,
                channel_timeout=t.connect_timeout_s,
            )
        except paramiko.AuthenticationException as exc:
            raise AuthError("SSH credentials refused", host=self.host, operation=op) from exc
        except paramiko.BadHostKeyException as exc:
            raise TlsError(
                f"SSH host key does not match {known}: possible impersonation",
                host=self.host,
                operation=op,
            ) from exc
        except UnknownHostKey as exc:
            client.close()
            raise TlsError(
                f"SSH host key unknown (not in {known}); verify it, add it, or pass "
                "--accept-new-host-keys",
                host=self.host,
                operation=op,
            ) from exc
        except paramiko.SSHException as exc:
            raise TransportError(f"SSH failed: {exc}", host=self.host, operation=op) from exc
        except TimeoutError as exc:
            raise TimeoutError_("SSH connection timed out", host=self.host, operation=op) from exc
        except socket.gaierror as exc:
            raise TransportError(
                f"cannot connect over SSH: {t.hostname} does not resolve ({exc.strerror or exc}; "
                f"asked {t.resolver or 'the system resolver'})",
                host=self.host,
                operation=op,
            ) from exc
        except OSError as exc:
            raise TransportError(
                f"cannot connect over SSH ({exc.strerror or exc})", host=self.host, operation=op
            ) from exc
        except EOFError as exc:  # the peer closed the connection (e.g. it is restarting)
            client.close()
            raise TransportError(
                "SSH connection closed by the peer", host=self.host, operation=op
            ) from exc
        self._client = client
        self._in_time(expired, deadline, op)
        try:
            chan = client.invoke_shell(width=250, height=1000)
        except (OSError, paramiko.SSHException, EOFError) as exc:
            # paramiko re-raises what ended its transport: EOFError when the peer hung up.
            self.close()
            raise TransportError(
                f"SSH shell could not be opened ({type(exc).__name__})",
                host=self.host,
                operation=op,
            ) from exc
        chan.settimeout(0.2)
        self._chan = chan
        marker = _opening_marker(first) if first is not None else None
        sync = first if first is not None and marker else CLI.sync
        opening = marker or CLI.sync_marker
        try:
            chan.sendall((sync + CLI.line_end).encode())
            # The first answer: within the read timeout, and within what is left of the login.
            until = min(deadline, time.monotonic() + t.read_timeout_s)
            text = self._read(chan, "login", lambda text: _synced(text, opening), until)
            answer = _sync_answer(text, opening)
            self._note(sync, answer)
        except (TransportError, ApplianceError):  # first: TimeoutError_ is an OSError too
            self.close()
            raise
        except (OSError, paramiko.SSHException) as exc:
            self.close()
            raise TransportError(
                "SSH session lost after login", host=self.host, operation=op
            ) from exc
        return chan, (answer if marker else None)

    def _in_time(self, expired: threading.Event, deadline: float, op: str) -> None:
        """Connected: the login's deadline has not passed. When the watchdog fired
        before the transport had started (its close found nothing to close: a loaded
        client, hundreds of logins at once), paramiko would wait for the shell and the
        pty with no timeout; once connected, the transport is active and a later close
        wakes those waits."""
        if expired.is_set() or time.monotonic() >= deadline:
            self.close()
            raise TimeoutError_(
                "SSH login not complete: the deadline passed during the connect",
                host=self.host,
                operation=op,
            )

    def _read_answer(self, chan: paramiko.Channel, command: str) -> str:
        return strip_echo(self._read(chan, command, _complete), command)

    def _read(
        self,
        chan: paramiko.Channel,
        command: str,
        done: Callable[[str], bool],
        deadline: float | None = None,
    ) -> str:
        """Read until ``done(text)``, within the deadline (default: the read timeout from
        now, in all however the bytes trickle) and the size cap."""
        deadline = deadline or time.monotonic() + self.target.read_timeout_s
        span = max(deadline - time.monotonic(), 0.0)
        buf = b""
        while True:
            text = normalise(buf)
            if done(text):
                return text
            if len(buf) > MAX_ANSWER_BYTES:
                raise ApplianceError(
                    f"answer to '{command}' is too large", host=self.host, operation=command
                )
            if time.monotonic() > deadline:
                raise TimeoutError_(
                    f"no complete answer to '{command}' within {span:.0f} s"
                    + (" (the answer was still arriving)" if buf else ""),
                    host=self.host,
                    operation=command,
                )
            try:
                chunk = chan.recv(65536)
            except TimeoutError:
                continue
            except (OSError, paramiko.SSHException, EOFError) as exc:
                raise TransportError(
                    f"SSH session lost during '{command}'", host=self.host, operation=command
                ) from exc
            if not chunk:
                raise TransportError(
                    f"SSH session closed during '{command}'", host=self.host, operation=command
                )
            buf += chunk

    def send(self, command: str) -> str:
        if self._chan is not None and not self._chan.closed:
            chan = self._chan
        else:
            chan, answer = self._connect(first=command)
            if answer is not None:  # the command was the login's own read
                return answer
        try:
            chan.sendall((command + CLI.line_end).encode())
        except (OSError, paramiko.SSHException) as exc:
            self.close()
            raise TransportError(
                f"SSH session lost sending '{command}'", host=self.host, operation=command
            ) from exc
        try:
            answer = self._read_answer(chan, command)
        except (TransportError, ApplianceError):
            self.close()  # a late or oversized answer would be read as the next one's
            raise
        self._note(command, answer)
        return answer

    def _note(self, command: str, answer: str) -> None:
        if self.recorder is not None:
            self.recorder.ssh(command, answer)

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
        self._client = None
        self._chan = None


def _complete(text: str) -> bool:
    """A whole answer: its last non-blank line is OK or ERROR, and a newline ends it."""
    tail = [ln for ln in text.split("\n") if ln.strip()]
    return text.endswith("\n") and bool(tail) and END_LINE.match(tail[-1]) is not None


def _opening_marker(command: str) -> str | None:
    """The line that opens every answer to ``command`` when it may be the session's
    first command (the login's read), else None. Only reads whose answer always
    holds such a line qualify: ``xConfiguration Alternates`` lists the peer slots in
    every answer (the ``*c xConfiguration <path>`` framing is CONFIRMED; an empty
    slot still prints its line). A status read may answer with no line at all (no
    warnings), so it never opens a session: the login would wait for a line that
    never comes."""
    if command == CLI.sync:
        return CLI.sync_marker
    if command == CLI.read_alternates:
        return f"*c {CLI.read_alternates} "
    return None


def _sync_answer(text: str, marker: str = CLI.sync_marker) -> str:
    """The answer to the login's read out of the login text (the welcome before it
    dropped): from the line opening with ``marker`` or an error block."""
    lines = text.split("\n")
    for i, line in enumerate(lines):
        if line.startswith(marker) or line.startswith(ERROR_OPEN):
            return "\n".join(lines[i:])
    return text


def _synced(text: str, marker: str = CLI.sync_marker) -> bool:
    """The answer to the login's read has arrived (whatever the welcome held before it)."""
    lines = text.split("\n")
    for i, line in enumerate(lines):
        if line.startswith(marker) or line.startswith(ERROR_OPEN):
            return _complete("\n".join(lines[i:]))
    return False


def _no_option_keys(unit: xapi.Tree) -> bool:
    """The SystemUnit tree shows Expressway X14.2+ (no option keys); False when its
    product or version cannot be read (then the keys are asked for)."""
    try:
        return option_keys_removed(xapi.role_from_unit(unit), xapi.unit_version(unit))
    except ApplianceError:
        return False  # system_from_cli names the bad leaf


class SshAppliance:
    """``Appliance`` over the admin CLI; certificates and logs come from REST."""

    transport_name = "ssh"

    def __init__(
        self,
        target: ConnectionTarget,
        *,
        shell_factory: Callable[[ConnectionTarget], ShellSession] | None = None,
        rest: object | None = None,
    ):
        self.target = target
        self.host = target.host
        self._factory = shell_factory or ParamikoShell
        self._shell: ShellSession | None = None
        self.rest = rest
        # What the last read_system could not learn: "system.option_keys" -> why.
        self.last_unknown: dict[str, str] = {}

    def _send(self, command: str, *, read: bool = True) -> str:
        """One command; a read is retried once on a fresh session if the old one died
        (never after refused credentials)."""
        for attempt in (0, 1):
            if self._shell is None:
                self._shell = self._factory(self.target)
            try:
                return self._shell.send(command)
            except AuthError:
                self._shell = None
                raise  # never log in again with refused credentials (account lockout)
            except TimeoutError_:
                self._shell = None
                raise  # a slow peer: a second session would only double the wait
            except TransportError:
                self._shell = None
                if not read or attempt == 1:
                    raise
        raise AssertionError("unreachable")  # pragma: no cover

    def _ask(self, command: str) -> str:
        answer = self._send(command)
        return answer

    def _config(self, command: str) -> dict[str, str]:
        try:
            return xapi.parse_config(self._ask(command), command)
        except ApplianceError as exc:
            raise ApplianceError(exc.message, host=self.host, operation=command) from exc

    def _status(self, command: str) -> list[tuple[str, xapi.Tree]]:
        try:
            return xapi.parse_status(self._ask(command), command)
        except ApplianceError as exc:
            raise ApplianceError(exc.message, host=self.host, operation=command) from exc

    def _single(self, command: str) -> xapi.Tree:
        blocks = self._status(command)
        if len(blocks) != 1:
            raise ApplianceError(
                f"expected one block, got {len(blocks)}", host=self.host, operation=command
            )
        return blocks[0][1]

    def read_settings(self) -> ClusterSettings:
        try:
            return xapi.settings_from_config(self._config(CLI.read_alternates))
        except ApplianceError as exc:
            raise ApplianceError(exc.message, host=self.host, operation="read settings") from exc

    def read_status(self) -> ClusterStatus:
        tree = self._single(CLI.status_alternates)
        try:
            return xapi.status_from_tree(tree)
        except ApplianceError as exc:
            raise ApplianceError(exc.message, host=self.host, operation="read status") from exc

    def read_alarms(self) -> tuple[Alarm, ...]:
        """From ``xStatus Warnings`` (the real node); ``xStatus Alarm`` only when the
        appliance refuses that command."""
        try:
            blocks = self._status(CLI.status_warnings)
            convert = xapi.alarms_from_warnings
        except ApplianceError as exc:
            if not isinstance(exc.__cause__, xapi.CommandRefused):
                raise
            blocks = self._status(CLI.status_alarms)
            convert = xapi.alarms_from_blocks
        try:
            return convert(blocks)
        except ApplianceError as exc:
            raise ApplianceError(exc.message, host=self.host, operation="read alarms") from exc

    def read_h323(self) -> bool | None:
        """H.323 mode; None when the answer has no On/Off value (never assumed On)."""
        try:
            return xapi.h323_mode(self._config(CLI.read_h323))
        except ApplianceError as exc:
            raise ApplianceError(exc.message, host=self.host, operation="read h323") from exc

    def read_uptime(self) -> int | None:
        uptime = str(self._single(CLI.status_system).get("Uptime", ""))
        return int(uptime) if uptime.isdecimal() else None

    def _optional(self, command: str, parse: Callable[[str, str], _T]) -> _T | xapi.Unread:
        """A read whose failure makes only its own fact unknown: the parsed answer, or
        why it could not be taken (refused with ERROR, or a shape exops does not read).
        A lost session still raises."""
        try:
            return parse(self._ask(command), command)
        except ApplianceError as exc:
            how = "was refused" if isinstance(exc, xapi.CommandRefused) else "failed"
            return f"'{command}' {how}: {exc.message}"

    def read_system(self) -> SystemInfo:
        """SystemUnit and H.323 are required; the DNS and NTP servers and the option
        keys (``xStatus Options``) are unknown when their answer cannot be taken
        (reasons in ``last_unknown``): a peer on X14.2+ has no option keys at all."""
        unit = self._single(CLI.status_system)
        h323 = self._config(CLI.read_h323)
        dns = self._optional(CLI.read_dns, xapi.parse_config)
        ntp = self._optional(CLI.read_ntp, xapi.parse_config)
        options = (
            None  # Expressway X14.2+: no option keys, nothing to ask (one round less)
            if _no_option_keys(unit)
            else self._optional(CLI.status_options, xapi.parse_status)
        )
        unknown: dict[str, str] = {}
        try:
            system = xapi.system_from_cli(unit, h323, dns, ntp, options, unknown)
        except ApplianceError as exc:
            raise ApplianceError(exc.message, host=self.host, operation="read system") from exc
        self.last_unknown = unknown
        return system

    def read_certificate(self) -> tuple[Certificate | None, tuple[str, ...]]:
        if self.rest is None:
            raise ApplianceError(
                "certificates have no CLI form", host=self.host, operation="read certificate"
            )
        return self.rest.read_certificate()  # type: ignore[attr-defined, no-any-return]

    def read_log(self, lines: int = 500) -> list[str]:
        """The last ``lines`` event-log lines, oldest first: ``eventlog N`` (INFERRED: a
        practitioner's VCS/Expressway notes; the real REST API has no log resource)."""
        command = f"{CLI.eventlog} {int(lines)}"
        answer = self._send(command)
        try:
            body = xapi.log_lines(answer, command)
        except ApplianceError as exc:
            raise ApplianceError(exc.message, host=self.host, operation="read log") from exc
        return body

    def write(self, writes: Sequence[Write]) -> None:
        for w in writes:
            try:
                line = xapi.format_write(w)
            except ApplianceError as exc:
                raise ApplianceError(
                    exc.message, host=self.host, operation=f"write {w.describe()}"
                ) from exc
            answer = self._send(line, read=False)
            if answer.rstrip().endswith("ERROR"):
                raise ApplianceError(
                    f"'{line}' refused: {xapi.error_reason(answer)}",
                    host=self.host,
                    operation=f"write {w.describe()}",
                )

    def restart(self) -> None:
        self._send(CLI.boot, read=False)
        if self._shell is not None:
            self._shell.close()
        self._shell = None

    def command(self, command: Command) -> str:
        line = CLI_COMMANDS[command]
        answer = self._send(line, read=False)
        if answer.rstrip().endswith("ERROR"):
            raise ApplianceError(
                f"'{line}' refused: {xapi.error_reason(answer)}", host=self.host, operation=line
            )
        return answer.strip()

    def accepts_connections(self) -> bool:
        """``PortProbe``: the SSH port accepts a TCP connection (no login)."""
        t = self.target
        return tcp_accepts(t.address or t.hostname, t.ssh_port, t.connect_timeout_s)

    def probe(self) -> float:
        start = time.perf_counter()
        self._config(CLI.read_h323)
        return (time.perf_counter() - start) * 1000.0

    def close(self) -> None:
        if self._shell is not None:
            self._shell.close()
        self._shell = None

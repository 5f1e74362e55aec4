"""Every exchange has a total deadline, over real local sockets (issue 26).

A per-read timeout restarts with every byte: a peer that answers one byte at
a time, or accepts a login and then never opens the shell, held exops for as
long as it liked. Here each server misbehaves for a bounded time only (so the
old code ended too, with a wrong result, instead of hanging the test run), and
the tests check exops gave up at its own deadline with a timeout.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import paramiko
import pytest
from pydantic import SecretStr

from exops.appliance.base import ConnectionTarget
from exops.appliance.rest import DeadlineTransport, RestAppliance
from exops.appliance.ssh import ParamikoShell, SshAppliance
from exops.core.errors import TimeoutError_, TlsError

PASSWORD = "Pa55-deadline"
MISBEHAVE_S = 8.0  # how long a server misbehaves before it gives in (old code: ends then)


def _target(port: int, **extra: object) -> ConnectionTarget:
    return ConnectionTarget(
        host="p1",
        hostname="127.0.0.1",
        port=port,
        ssh_port=port,
        password=SecretStr(PASSWORD),
        connect_timeout_s=0.5,
        read_timeout_s=0.6,
        **extra,  # type: ignore[arg-type]
    )


# -- REST: an answer that trickles, headers first -----------------------------------


class _Trickler:
    """A plain-HTTP server that sends its answer one byte per ``interval`` seconds."""

    ANSWER = b'HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}'

    def __init__(self, interval: float, *, header_bytes: int | None = None):
        self.interval = interval
        self.sock = socket.create_server(("127.0.0.1", 0))
        # Before the thread starts: on a loaded machine the test may close the socket
        # before the thread first runs (it then saw EBADF in settimeout).
        self.sock.settimeout(0.1)
        self.port = self.sock.getsockname()[1]
        self.connections = 0
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while not self.stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:  # a timeout (look again), or the socket closed (stop)
                continue
            self.connections += 1
            threading.Thread(target=self._answer, args=(conn,), daemon=True).start()

    def _answer(self, conn: socket.socket) -> None:
        with conn:
            conn.recv(65536)
            # An endless preamble of header lines, a byte at a time, for MISBEHAVE_S;
            # then a real answer (what an old client finally parsed, far too late).
            end = time.monotonic() + MISBEHAVE_S
            header = b"HTTP/1.1 200 OK\r\n"
            try:
                for i in range(len(header)):
                    conn.sendall(header[i : i + 1])
                    time.sleep(self.interval)
                while time.monotonic() < end and not self.stop.is_set():
                    for b in b"X-Slow: y\r\n":
                        conn.sendall(bytes([b]))
                        time.sleep(self.interval)
                conn.sendall(b"Content-Length: 2\r\n\r\n{}")
            except OSError:
                return  # the client gave up

    def close(self) -> None:
        self.stop.set()
        self.thread.join(timeout=5)  # it sees stop within one accept timeout
        self.sock.close()


@pytest.fixture
def trickler() -> Iterator[_Trickler]:
    server = _Trickler(0.05)
    yield server
    server.close()


def _rest(port: int) -> RestAppliance:
    target = _target(port)
    client = httpx.Client(
        base_url=f"http://127.0.0.1:{port}",
        timeout=httpx.Timeout(target.read_timeout_s, connect=target.connect_timeout_s),
        transport=DeadlineTransport(verify=False),
    )
    return RestAppliance(target, client=client)


def test_a_trickled_rest_answer_ends_at_the_exchange_deadline(trickler: _Trickler) -> None:
    rest = _rest(trickler.port)
    start = time.monotonic()
    with pytest.raises(TimeoutError_, match=r"within the 1 s deadline") as info:
        rest.get_json("/api/provisioning/sysinfo", operation="read sysinfo")
    took = time.monotonic() - start
    assert "p1 read sysinfo" in str(info.value)
    # Connect 0.5 s + read 0.6 s in all, never the trickle's 8 s; and not tried again.
    assert took < MISBEHAVE_S / 2, took
    assert trickler.connections == 1


def test_a_deadline_transport_without_a_deadline_behaves_as_httpx(trickler: _Trickler) -> None:
    """Outside an exchange (no deadline set) only httpx's own timeouts apply."""
    client = httpx.Client(transport=DeadlineTransport(verify=False), timeout=2.0)
    with pytest.raises(httpx.ConnectError):
        client.get("http://127.0.0.1:1/")  # nothing listens on port 1


# -- SSH: a login that never gets its shell ------------------------------------------


class _StallingServer(paramiko.ServerInterface):
    """Accepts the password and the session, then never answers the pty request."""

    def __init__(self, release: threading.Event):
        self.release = release

    def check_auth_password(self, username: str, password: str) -> int:
        return paramiko.AUTH_SUCCESSFUL if password == PASSWORD else paramiko.AUTH_FAILED

    def get_allowed_auths(self, username: str) -> str:
        return "password"

    def check_channel_request(self, kind: str, chanid: int) -> int:
        return paramiko.OPEN_SUCCEEDED

    def check_channel_pty_request(self, *args: object) -> bool:
        self.release.wait(MISBEHAVE_S)  # paramiko's client waits on this with no timeout
        return False


@pytest.fixture
def stalling_ssh(tmp_path: Path) -> Iterator[tuple[int, Path]]:
    key = paramiko.Ed25519Key.generate() if hasattr(paramiko.Ed25519Key, "generate") else None
    host_key = key or paramiko.ECDSAKey.generate()
    sock = socket.create_server(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    known = tmp_path / "known_hosts"
    known.write_text(f"[127.0.0.1]:{port} {host_key.get_name()} {host_key.get_base64()}\n")
    release = threading.Event()
    transports: list[paramiko.Transport] = []

    sock.settimeout(0.1)  # before the thread starts (see _Trickler)

    def serve() -> None:
        while not release.is_set():
            try:
                conn, _ = sock.accept()
            except (TimeoutError, OSError):
                continue
            t = paramiko.Transport(conn)
            t.add_server_key(host_key)
            t.start_server(server=_StallingServer(release))
            transports.append(t)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield port, known
    release.set()
    thread.join(timeout=5)
    sock.close()
    for t in transports:
        t.close()


def test_an_ssh_login_whose_shell_never_opens_ends_at_its_deadline(
    stalling_ssh: tuple[int, Path],
) -> None:
    port, known = stalling_ssh
    shell = ParamikoShell(_target(port, known_hosts=str(known)))
    start = time.monotonic()
    with pytest.raises(TimeoutError_, match=r"SSH login not complete within 1 s") as info:
        shell.send("xConfiguration H323")
    took = time.monotonic() - start
    assert info.value.host == "p1"
    assert took < MISBEHAVE_S / 2, took  # 0.5 + 0.6 s, then a moment to close


def test_a_timed_out_ssh_read_is_not_tried_again(stalling_ssh: tuple[int, Path]) -> None:
    port, known = stalling_ssh
    logins: list[float] = []

    def shell(target: ConnectionTarget) -> ParamikoShell:
        logins.append(time.monotonic())
        return ParamikoShell(target)

    app = SshAppliance(_target(port, known_hosts=str(known)), shell_factory=shell)
    with pytest.raises(TimeoutError_):
        app.read_settings()
    assert len(logins) == 1  # a slow peer costs one deadline, not two


def test_an_unusable_known_hosts_is_a_trust_error_naming_it(tmp_path: Path) -> None:
    """EXOPS_KNOWN_HOSTS pointing at a directory: no host key can be verified (issue 26),
    before any connection is tried."""
    directory = tmp_path / "known_hosts.d"
    directory.mkdir()
    shell = ParamikoShell(_target(1, known_hosts=str(directory)))
    with pytest.raises(TlsError) as info:
        shell.send("xConfiguration H323")
    message = str(info.value)
    assert str(directory) in message and "known_hosts" in message and "\n" not in message
    assert info.value.host == "p1"


def test_an_ssh_login_whose_deadline_passes_before_the_transport_starts_still_ends(
    stalling_ssh: tuple[int, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The watchdog fires while the TCP connect and key exchange have not started the
    transport yet (a loaded client: 1,500 logins at once), so its close finds nothing to
    close; the login then goes on to a shell that never opens. Old code: waited for the
    pty with no timeout (a status of 1,500 peers hung on one peer)."""
    port, known = stalling_ssh
    connect = paramiko.SSHClient.connect

    def late_connect(self: paramiko.SSHClient, *args: object, **kwargs: object) -> None:
        time.sleep(1.3)  # past connect timeout + read timeout (0.5 + 0.6 s)
        connect(self, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(paramiko.SSHClient, "connect", late_connect)
    shell = ParamikoShell(_target(port, known_hosts=str(known)))
    start = time.monotonic()
    with pytest.raises(TimeoutError_, match=r"SSH login not complete within 1 s") as info:
        shell.send("xConfiguration H323")
    took = time.monotonic() - start
    assert info.value.host == "p1"
    assert took < MISBEHAVE_S / 2, took
    assert shell._client is None and shell._chan is None  # nothing left open

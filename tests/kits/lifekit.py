"""The lifecycle matrices' tools (tests/matrices/test_lifecycle_*.py): stop or disturb the
real CLI at a named point of `exops upgrade`, `renew-cert` or `drain`, hold an image
download in the middle, and read what the lab and the journal say afterwards.

`exops upgrade`, `renew-cert` and `drain` emit no event stream (``--events`` is the
runbooks'), so a point is named by what the lab or exops itself shows at that moment,
checked inside the exops process right where it happens, never by a sleep:

- ``{"writes": N}``: the lab accepted N writes (its request log);
- ``{"before": PATH}``: exops is about to send a write whose path contains PATH
  (checked before it leaves: nothing of it reached the lab);
- ``{"down": PEER}``: after any request exops made, the lab says PEER is restarting;
- ``{"upgrade_state": [PEER, STATE]}``: after any request, the lab's upgrade job of PEER
  is in STATE;
- ``{"wait": TEXT, "polls": K}``: a wait whose subject contains TEXT has polled K times.

The action at that point is SIGKILL (no ``finally``, no journal close: a power cut), or,
with ``inject``, one fault spec sent to the lab's control API, after which the run goes
on (a fault placed at a step boundary).
"""

from __future__ import annotations

import contextlib
import json
import select
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from clikit import Cli, last_seq, writes_since

WRAPPER = r"""
import json, os, signal, sys, urllib.request

SPEC = json.loads(os.environ["LK_SPEC"])
SINCE = int(os.environ["LK_SINCE"])
URL = os.environ["LK_CONTROL"]
OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))
DONE = [False]


def _get(path):
    with OPENER.open(URL + path, timeout=30) as resp:
        return json.loads(resp.read() or b"null")


def _act():
    DONE[0] = True
    if "inject" in SPEC:
        req = urllib.request.Request(
            URL + "/faults", data=json.dumps(SPEC["inject"]).encode(), method="POST"
        )
        req.add_header("Content-Type", "application/json")
        OPENER.open(req, timeout=30).read()
        return
    os.kill(os.getpid(), signal.SIGKILL)


def _after_request():
    if DONE[0]:
        return
    if "writes" in SPEC:
        log = _get(f"/requests?since={SINCE}")
        if sum(1 for r in log if r.get("write")) >= SPEC["writes"]:
            _act()
    elif "down" in SPEC:
        if _get(f"/state/{SPEC['down']}")["lifecycle"] == "restarting":
            _act()
    elif "upgrade_state" in SPEC:
        peer, state = SPEC["upgrade_state"]
        job = _get(f"/state/{peer}").get("upgrade") or {}
        if job.get("state") == state:
            _act()


import httpx
from exops.appliance import ssh
from exops.apply import waits

_http_send = httpx.Client.send
_ssh_send = ssh.SshAppliance._send
_until = waits.Waiter.until


def http_send(self, request, *args, **kwargs):
    before = SPEC.get("before")
    if before and not DONE[0] and request.method != "GET" and before in request.url.path:
        _act()
    try:
        return _http_send(self, request, *args, **kwargs)
    finally:
        _after_request()


def ssh_send(self, command, *args, **kwargs):
    try:
        return _ssh_send(self, command, *args, **kwargs)
    finally:
        _after_request()


def until(self, what, check, *args, **kwargs):
    text = SPEC.get("wait")
    if not text or text not in what:
        return _until(self, what, check, *args, **kwargs)
    polls = [0]

    def counted():
        answer = check()
        polls[0] += 1
        if polls[0] >= int(SPEC.get("polls", 1)) and not DONE[0]:
            _act()
        return answer

    return _until(self, what, counted, *args, **kwargs)


httpx.Client.send = http_send
ssh.SshAppliance._send = ssh_send
waits.Waiter.until = until
sys.argv = ["exops", *sys.argv[1:]]
from exops.cli.app import main
main()
"""


@dataclass
class Stopped:
    """What one run left: its exit status, its output and the writes the lab accepted."""

    code: int
    writes: list[dict[str, Any]]
    stdout: str
    stderr: str

    @property
    def killed(self) -> bool:
        return self.code == -signal.SIGKILL

    @property
    def error_lines(self) -> list[str]:
        return [line for line in self.stderr.splitlines() if line.startswith("exops: error:")]


def run_at(
    lab: Any, cli: Cli, home: Path, args: Iterable[str], spec: dict[str, Any], timeout: float = 180
) -> Stopped:
    """Run ``exops ARGS`` (the real CLI) and act at the point ``spec`` names."""
    wrapper = home / "lifekit_exops.py"
    wrapper.write_text(WRAPPER)
    seq = last_seq(lab)
    env = {
        **cli.env,
        "LK_SPEC": json.dumps(spec),
        "LK_SINCE": str(seq),
        "LK_CONTROL": lab.control.url,
    }
    proc = subprocess.run(  # noqa: PLW1510 - the caller checks the code
        [sys.executable, str(wrapper), *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
    )
    return Stopped(proc.returncode, writes_since(lab, seq), proc.stdout, proc.stderr)


def down_together(lab: Any, peers: Iterable[str]) -> list[str]:
    """Pairs of ``peers`` the lab's own record shows down at the same time (its restart
    log: listeners closed .. booted; a restart still under way counts as down now)."""
    members = set(peers)
    spans = sorted(
        (r["down_at"], r["booted"] if r["booted"] is not None else float("inf"), r["peer"])
        for r in lab.control.metrics()["restarts"]
        if r["peer"] in members
    )
    bad = []
    for i, (a0, a1, a) in enumerate(spans):
        for b0, b1, b in spans[i + 1 :]:
            if a != b and b0 < a1 and a0 < b1:
                bad.append(f"{a} [{a0:.2f}, {a1:.2f}] and {b} [{b0:.2f}, {b1:.2f}]")
    return bad


def closed_port() -> int:
    """A port of 127.0.0.1 nothing listens on (an SFTP server that is not there)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def journal(cli: Cli, cluster: str, runbook: str) -> list[dict[str, Any]]:
    """``exops history`` for one runbook, newest first."""
    runs = cli.json("history", "-c", cluster, "--runbook", runbook)["runs"]
    return [r for r in runs if r["runbook"] == runbook]


def steps_of(cli: Cli, run_id: str) -> list[tuple[str, str | None, str]]:
    """``exops show RUN``: (kind, host, status) per journalled step."""
    return [(s["kind"], s["host"], s["status"]) for s in cli.json("show", run_id)["steps"]]


class SftpRelay:
    """A TCP relay in front of the lab's SFTP server that can hold a download midway.

    Peers pull the image from the server exops names in their sftpconfig, so the
    upgrade is pointed at this relay (``url``). With ``hold_after`` set, the relay stops
    passing the server's bytes once that many have gone to a client (past the SSH
    handshake and into the file's data) until ``release()``: the peer's job stays in
    UPGD_FILE_DOWNLOADING as long as the test needs."""

    def __init__(self, sftp_url: str, hold_after: int | None = None):
        parts = urlsplit(sftp_url)
        self.upstream = (parts.hostname or "127.0.0.1", parts.port or 22)
        self.listener = socket.create_server(("127.0.0.1", 0))
        port = self.listener.getsockname()[1]
        self.url = urlunsplit(parts._replace(netloc=f"{parts.username}@127.0.0.1:{port}"))
        self.hold_after = hold_after
        self.released = threading.Event()
        self.closing = threading.Event()
        self.held = threading.Event()  # a transfer is being held now
        self.threads: list[threading.Thread] = []
        self._start(self._accept)

    def _start(self, target: Any, *args: Any) -> None:
        t = threading.Thread(target=target, args=args, daemon=True)
        self.threads.append(t)
        t.start()

    def _accept(self) -> None:
        while not self.closing.is_set():
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            try:
                server = socket.create_connection(self.upstream, timeout=10)
            except OSError:
                client.close()
                continue
            self._start(self._pump, client, server)

    def _pump(self, client: socket.socket, server: socket.socket) -> None:
        sent = 0
        with client, server:
            while not self.closing.is_set():
                ready, _, _ = select.select([client, server], [], [], 0.2)
                for sock in ready:
                    other = server if sock is client else client
                    if sock is server and self._holding(sent):
                        self.held.set()
                        self.released.wait()
                    try:
                        data = sock.recv(65536)
                    except OSError:
                        return
                    if not data:
                        return
                    if sock is server:
                        sent += len(data)
                    other.sendall(data)

    def _holding(self, sent: int) -> bool:
        return (
            self.hold_after is not None and sent >= self.hold_after and not self.released.is_set()
        )

    def release(self) -> None:
        self.released.set()

    def close(self) -> None:
        self.closing.set()
        self.released.set()
        with contextlib.suppress(OSError):  # wakes the accept() of the relay's thread
            self.listener.shutdown(socket.SHUT_RDWR)
        self.listener.close()
        for t in self.threads:
            t.join(timeout=2)


def upgrade_args(
    lab: Any, *extra: str, sha512: str | None = None, sftp: str | None = None
) -> list[str]:
    """``exops upgrade`` of the lab's cluster c1 to the lab's image (lab.env: its name,
    SHA-512 and SFTP server, unless given), then ``extra``."""
    env = lab.env
    return [
        *("upgrade", "-c", "c1", "--image", env["EXOPS_LAB_IMAGE"]),
        *("--sha512", sha512 or env["EXOPS_LAB_IMAGE_SHA512"]),
        *("--sftp", sftp or env["EXOPS_LAB_SFTP"]),
        *extra,
    ]

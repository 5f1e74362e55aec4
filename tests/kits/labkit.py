"""Clients for the mock lab that do not use exops: httpx, curl, OpenSSH, sshpass, sockets.

Every helper talks to the lab over real sockets, the way an operator's tools
would, so these tests check the mock itself (docs/contract.md), not exops.
"""

from __future__ import annotations

import shutil
import socket
import ssl
import subprocess
import time
from collections.abc import Callable
from typing import Any, TypeVar

import httpx
import pytest

T = TypeVar("T")
CSRF = {"X-CSRF-Header": "labkit"}


def require(*tools: str) -> None:
    """Skip the test when a command-line client it drives is not installed."""
    missing = [t for t in tools if shutil.which(t) is None]
    if missing:
        pytest.skip(f"needs {', '.join(missing)} on PATH (not installed)")


def wait_for(probe: Callable[[], T], what: str, timeout: float = 10.0, every: float = 0.05) -> T:
    """Poll until ``probe()`` is truthy; fail with the last value after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while True:
        try:
            last = probe()
        except (httpx.HTTPError, OSError, AssertionError) as exc:
            last = exc
        else:
            if last:
                return last
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}; last: {last!r}")
        time.sleep(every)


def holds(
    probe: Callable[[], Any],
    what: str,
    *,
    until: Callable[[], Any] | None = None,
    seconds: float = 10.0,
    every: float = 0.05,
) -> None:
    """A state that must not change: ``probe()`` must hold at every poll until
    ``until()`` does (the evidence that whatever could change it has happened), or,
    without ``until``, for ``seconds``. Fails at the first poll where it does not
    hold, and when ``until`` does not come within ``seconds``."""
    deadline = time.monotonic() + seconds
    while True:
        value = probe()
        assert value, f"{what}: no longer so ({value!r})"
        if until is not None and until():
            assert probe(), f"{what}: no longer so"
            return
        if time.monotonic() > deadline:
            assert until is None, f"timed out after {seconds} s waiting for the evidence: {what}"
            return
        time.sleep(every)


def port_open(ip: str, port: int, timeout: float = 0.5) -> bool:
    try:
        with socket.create_connection((ip, port), timeout=timeout):
            return True
    except OSError:
        return False


class Rest:
    """An httpx client of every peer of a lab, verifying against the lab CA."""

    def __init__(self, lab: Any, password: str | None = None) -> None:
        self.lab = lab
        ctx = ssl.create_default_context(cafile=str(lab.ca_path))
        self.client = httpx.Client(
            verify=ctx,
            auth=("admin", password if password is not None else lab.password),
            timeout=5.0,
            trust_env=False,
        )

    def url(self, peer: str, path: str) -> str:
        return f"https://{self.lab.peers[peer]}:{self.lab.https_port}{path}"

    def get(self, peer: str, path: str, **kw: Any) -> httpx.Response:
        return self.client.get(self.url(peer, path), **kw)

    def post(self, peer: str, path: str, csrf: bool = True, **kw: Any) -> httpx.Response:
        return self.client.post(self.url(peer, path), headers=CSRF if csrf else {}, **kw)

    def table(self, peer: str, table: str) -> list[dict[str, Any]]:
        """The local records of one CDB table."""
        r = self.get(peer, f"/api/management/{table}?peer=local")
        assert r.status_code == 200, (peer, table, r.status_code, r.text)
        body = r.json()
        assert len(body) == 1 and body[0]["num_recs"] == len(body[0]["records"]), body
        return list(body[0]["records"])

    def record(self, peer: str, table: str) -> dict[str, Any]:
        (rec,) = self.table(peer, table)
        return rec

    def write(self, peer: str, path: str, value: Any) -> None:
        """Write one field: ``path`` is ``<table>[/<keyfield>/<keyvalue>]/<field>``, sent as
        the real CDB form ``POST /api/management/<table>[/<key>/<value>]`` with the
        form body ``<field>=<value>`` (booleans lowercase); asserts the success answer."""
        row, _, field = path.rpartition("/")
        text = str(value).lower() if isinstance(value, bool) else str(value)
        r = self.post(peer, f"/api/management/{row}", data={field: text})
        assert r.status_code == 200, (peer, path, r.status_code, r.text)
        assert r.json() == {"Message": "The operation was successful"}

    def raised(self, peer: str) -> set[str]:
        return {a["id"] for a in self.table(peer, "status/alarm") if a["status"] == "raised"}

    def restart(self, peer: str) -> None:
        r = self.post(peer, "/api/provisioning/restart")
        assert r.status_code == 200, r.text

    def close(self) -> None:
        self.client.close()


def curl(lab: Any, peer: str, path: str, *extra: str, fqdn: bool = True) -> tuple[int, str]:
    """curl --cacert <lab CA> https://<fqdn>:<port><path> (--resolve to the peer's IP).

    Returns (curl exit code, body). Exit 60 means certificate verification failed.
    """
    host = lab.fqdns[peer] if fqdn else lab.peers[peer]
    argv = [
        "curl",
        "-sS",
        "--noproxy",
        "*",
        "--max-time",
        "10",
        "--cacert",
        str(lab.ca_path),
        "-u",
        f"admin:{lab.password}",
        *extra,
        f"https://{host}:{lab.https_port}{path}",
    ]
    if fqdn:
        argv[1:1] = ["--resolve", f"{host}:{lab.https_port}:{lab.peers[peer]}"]
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=20, check=False)
    return proc.returncode, proc.stdout


def ssh(
    lab: Any,
    peer: str,
    *lines: str,
    password: str | None = None,
    timeout: float = 15.0,
) -> subprocess.CompletedProcess[str]:
    """OpenSSH into a peer's admin shell, send ``lines`` then ``exit``.

    Key login (the lab's id_ed25519) unless ``password`` is given (then sshpass).
    Host keys are checked strictly against the lab's known_hosts.
    """
    state = lab.state_dir
    argv = [
        "ssh",
        "-T",
        "-p",
        str(lab.ssh_port),
        "-F",
        "/dev/null",
        "-o",
        f"UserKnownHostsFile={state / 'known_hosts'}",
        "-o",
        "StrictHostKeyChecking=yes",
        "-o",
        "ConnectTimeout=5",
        "-o",
        "LogLevel=ERROR",
    ]
    if password is None:
        argv += [
            "-i",
            str(state / "id_ed25519"),
            "-o",
            "IdentitiesOnly=yes",
            "-o",
            "BatchMode=yes",
            "-o",
            "PasswordAuthentication=no",
        ]
    else:
        argv = [
            "sshpass",
            "-p",
            password,
            *argv,
            "-o",
            "PubkeyAuthentication=no",
            "-o",
            "PreferredAuthentications=password",
            "-o",
            "NumberOfPasswordPrompts=1",
        ]
    argv.append(f"admin@{lab.peers[peer]}")
    stdin = "".join(f"{line}\n" for line in (*lines, "exit"))
    return subprocess.run(
        argv, input=stdin, capture_output=True, text=True, timeout=timeout, check=False
    )


def cli(lab: Any, peer: str, *lines: str) -> str:
    """Run CLI lines over key-based SSH; asserts the login worked; returns stdout."""
    proc = ssh(lab, peer, *lines)
    assert proc.returncode == 0, (proc.returncode, proc.stderr)
    return proc.stdout


def config_values(output: str) -> dict[str, str]:
    """`*c xConfiguration <path>: "<value>"` lines -> {path: value}."""
    values = {}
    for line in output.splitlines():
        if line.startswith("*c xConfiguration "):
            path, _, value = line[len("*c xConfiguration ") :].partition(": ")
            values[path] = value.strip('"')
    return values


def status_values(output: str) -> dict[str, str]:
    """Indented xStatus `Key: "value"` lines -> {"Peer 2 Status": value, ...} (one block)."""
    values: dict[str, str] = {}
    parents: list[str] = []
    for line in output.splitlines():
        if not line.startswith("  "):
            continue
        depth = (len(line) - len(line.lstrip(" "))) // 2 - 1
        key, _, value = line.strip().partition(":")
        del parents[depth:]
        if value.strip() == "":
            parents.append(key)
            continue
        values[" ".join([*parents, key])] = value.strip().strip('"')
    return values


def lock_key(lab: Any, cluster: str) -> str:
    """The name exops locks ``cluster`` of the lab's inventory under (cluster name and a
    digest of its members: exops.inventory.ClusterSpec.lock_key)."""
    from exops.core.settings import Settings
    from exops.inventory import load_inventory

    return load_inventory(lab.inventory_dir, Settings()).cluster(cluster).lock_key

"""Start, stop and drive a mock lab from Python (tests, benchmarks, the demo).

``start_lab`` runs ``python -m exops.lab up`` and returns a ``RunningLab``:
the environment that points exops at the lab, its peers' addresses, and a
client of the control API (stdlib only: no proxy, no retries).
"""

from __future__ import annotations

import json
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml


@dataclass
class Control:
    """A tiny client of the lab's control API (stdlib only: no proxy, no retries)."""

    url: str

    def _call(self, method: str, path: str, body: Any = None) -> Any:
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(self.url + path, data=data, method=method)
        req.add_header("Content-Type", "application/json")
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        try:
            with opener.open(req, timeout=30) as resp:
                return json.loads(resp.read() or b"null")
        except urllib.error.HTTPError as exc:
            raise AssertionError(f"control {method} {path}: {exc.code} {exc.read()!r}") from exc

    def state(self) -> dict[str, Any]:
        return self._call("GET", "/state")

    def peer_state(self, peer: str) -> dict[str, Any]:
        return self._call("GET", f"/state/{peer}")

    def requests(self, since: int = 0) -> list[dict[str, Any]]:
        return self._call("GET", f"/requests?since={since}")

    def inject(self, kind: str, **spec: Any) -> str:
        return str(self._call("POST", "/faults", {"kind": kind, **spec})["id"])

    def clear(self, fault_id: str | None = None) -> Any:
        return self._call("DELETE", f"/faults/{fault_id}" if fault_id else "/faults")

    def faults(self) -> list[dict[str, Any]]:
        return self._call("GET", "/faults")

    def patch_peer(self, peer: str, **changes: Any) -> dict[str, Any]:
        return self._call("PATCH", f"/peers/{peer}", changes)

    def metrics(self) -> dict[str, Any]:
        return self._call("GET", "/metrics")

    def sign(self, csr: str, *, names: list[str] | None = None, days: int = 825) -> str:
        """The lab CA signs ``csr`` (PEM): the certificate then the CA (exops.lab.certs_api)."""
        body: dict[str, Any] = {"csr": csr, "days": days}
        if names is not None:
            body["names"] = names
        return str(self._call("POST", "/ca/sign", body)["certificate"])

    def logs(self, peer: str) -> str:
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        with opener.open(f"{self.url}/logs/{peer}", timeout=30) as resp:
            return resp.read().decode()


@dataclass
class RunningLab:
    state_dir: Path
    env: dict[str, str]
    control: Control
    peers: dict[str, str]  # peer name -> loopback address
    fqdns: dict[str, str]
    subnet: str
    https_port: int
    ssh_port: int
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def inventory_dir(self) -> Path:
        return Path(self.env["EXOPS_INVENTORY"])

    @property
    def ca_path(self) -> Path:
        return Path(self.env["EXOPS_CA_BUNDLE"])

    @property
    def password(self) -> str:
        return self.env["EXOPS_PASSWORD"]

    def stop(self) -> None:
        subprocess.run(
            [sys.executable, "-m", "exops.lab", "down", "--state-dir", str(self.state_dir)],
            check=False,
            capture_output=True,
            timeout=60,
        )


def read_lab_env(path: Path) -> dict[str, str]:
    """The ``KEY=value`` lines of a lab's ``lab.env``."""
    env: dict[str, str] = {}
    for line in path.read_text().splitlines():
        key, sep, value = line.partition("=")
        if sep and not key.lstrip().startswith("#"):
            env[key.strip()] = value.strip()
    return env


def start_lab(
    state_dir: Path,
    *,
    subnet: str,
    clusters: int = 1,
    peers: int = 3,
    time_scale: float = 0.01,
    preset: str = "formed",
    spec: dict[str, Any] | None = None,
    transport: str = "auto",
    cdb_rest: bool = False,
    replay: Path | None = None,
    server_list_form: str = "documented",
    restart_grace: float | None = None,
) -> RunningLab:
    """Start a lab process on ``subnet`` (``127.N``) and wait until every listener is up.

    ``cdb_rest`` switches the cluster database REST interface on for every
    peer (off by default, as on a real X14.2+ box); a spec's per-peer
    ``cdb_rest`` still wins. ``replay``: serve the transcripts recorded in
    that directory (``up --replay``). ``server_list_form``: the shape of the
    DNS/NTP server and option-key answers (``documented``, ``list``,
    ``undocumented``; docs/contract.md 2.1).
    ``restart_grace``: simulated seconds a peer
    goes on answering after it accepts a restart (None: the lab's default; 0: it goes
    down at once).

    Raises:
        RuntimeError: the lab did not start (its log attached).
    """
    state_dir.mkdir(parents=True, exist_ok=True)
    argv = [
        sys.executable,
        "-m",
        "exops.lab",
        "up",
        "--clusters",
        str(clusters),
        "--peers",
        str(peers),
        "--time-scale",
        str(time_scale),
        "--preset",
        preset,
        "--state-dir",
        str(state_dir),
        "--subnet",
        subnet,
        "--transport",
        transport,
        "--cdb-rest",
        "on" if cdb_rest else "off",
        "--server-list-form",
        server_list_form,
    ]
    if restart_grace is not None:
        argv += ["--restart-grace", str(restart_grace)]
    if replay is not None:  # recorded transcripts (exops --record DIR) instead of a model
        argv += ["--replay", str(replay)]
    if spec:
        spec_file = state_dir / "spec.yaml"
        spec_file.write_text(yaml.safe_dump(spec))
        argv += ["--spec", str(spec_file)]
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=120, check=False)
    if proc.returncode != 0:
        log = (state_dir / "server.log").read_text() if (state_dir / "server.log").exists() else ""
        raise RuntimeError(f"mock lab did not start: {proc.stderr}\n{log[-3000:]}")
    env = read_lab_env(state_dir / "lab.env")
    hosts = yaml.safe_load((Path(env["EXOPS_INVENTORY"]) / "hosts.yaml").read_text())
    first = next(iter(hosts.values()))
    return RunningLab(
        state_dir=state_dir,
        env=env,
        control=Control(env["EXOPS_LAB_CONTROL"]),
        peers={name: h["hostname"] for name, h in hosts.items()},
        fqdns={name: h["data"]["fqdn"] for name, h in hosts.items()},
        subnet=subnet,
        https_port=int(first["port"]),
        ssh_port=int(first["data"]["ssh_port"]),
    )


def start_lab_anywhere(state_dir: Path, subnets: Iterator[str], **options: Any) -> RunningLab:
    """``start_lab`` on the first of ``subnets`` whose addresses nobody else uses."""
    for attempt in range(10):
        try:
            return start_lab(
                state_dir / f"try{attempt}" if attempt else state_dir,
                subnet=next(subnets),
                **options,
            )
        except RuntimeError as exc:
            if "address already in use" not in str(exc) or attempt == 9:
                raise
    raise AssertionError("unreachable")  # pragma: no cover
